// Tests of certificate rotation without a restart: HttpServer::ReloadTls and
// TlsReloader watching a kubelet-style Secret volume.
#include "net/tls_reloader.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "net/http_server.h"
#include "net/https_client.h"
#include "net/signals.h"
#include "net/testing/test_pki.h"

namespace astis::net {
namespace {

using testing::TestCert;
using testing::TestPki;
namespace fs = std::filesystem;

// SecretVolume lays a certificate out as the kubelet mounts a Secret:
// dir/tls.crt -> ..data/tls.crt, dir/..data -> ..<generation>/, and swaps
// generations by renaming a fresh "..data" link over the old one.
class SecretVolume {
 public:
  explicit SecretVolume(std::string dir) : dir_(std::move(dir)) {}
  std::string cert() const { return dir_ + "/tls.crt"; }
  std::string key() const { return dir_ + "/tls.key"; }

  void Write(const std::string& cert_pem, const SecretBytes& key_pem) {
    const std::string gen = "..2026_12_06_00_00_0" + std::to_string(++generation_);
    fs::create_directory(dir_ + "/" + gen);
    std::ofstream(dir_ + "/" + gen + "/tls.crt") << cert_pem;
    std::ofstream(dir_ + "/" + gen + "/tls.key") << key_pem.RevealString();
    fs::create_directory_symlink(gen, dir_ + "/..data_tmp");
    fs::rename(dir_ + "/..data_tmp", dir_ + "/..data");  // the atomic step
    if (!fs::exists(cert())) fs::create_symlink("..data/tls.crt", cert());
    if (!fs::exists(key())) fs::create_symlink("..data/tls.key", key());
    if (!previous_.empty()) fs::remove_all(dir_ + "/" + previous_);
    previous_ = gen;
  }

 private:
  std::string dir_;
  int generation_ = 0;
  std::string previous_;
};

ServerResponse Ok(const ServerRequest&) {
  ServerResponse r;
  r.body = "ok";
  return r;
}

// Served asks the server at port for "/" over a fresh connection that
// accepts only the leaf whose DER SHA-256 is pin.
bool Served(const TestPki& pki, uint16_t port, const Sha256Digest& pin) {
  TlsClientConfig tls = pki.ClientTls();
  tls.pinned_server_cert_sha256 = {pin};
  ClientOptions options;
  options.max_idle_connections = 0;
  auto client = HttpsClient::Create("https://127.0.0.1:" + std::to_string(port), tls, options);
  if (!client.ok()) return false;
  auto response = (*client)->Send(HttpRequest{});
  return response.ok() && response->status == 200;
}

// Test: TlsReloadTest.SwapUnderLoadFailsNoRequest (docs/operations.md
// "Certificate rotation"): four client threads (two on keep-alive
// connections opened before the swap, two opening a connection per request)
// see no failure while the volume is swapped, and a new connection is served
// the new leaf within 10 s.
TEST(TlsReloadTest, SwapUnderLoadFailsNoRequest) {
  Result<TestPki> pki = TestPki::Create();
  ASSERT_TRUE(pki.ok());
  Result<TestCert> renewed = pki->IssueServerCert({"localhost", "127.0.0.1"});
  ASSERT_TRUE(renewed.ok());
  Result<std::string> dir = testing::MakeTempDir();
  ASSERT_TRUE(dir.ok());
  SecretVolume volume(*dir);
  volume.Write(pki->server().cert_pem, pki->server().key_pem);
  TlsFiles files{volume.cert(), volume.key(), "", {}};
  Result<TlsServerConfig> tls = LoadTlsFiles(files);
  ASSERT_TRUE(tls.ok()) << tls.status().ToString();
  ServerConfig sc;
  sc.tls = std::move(tls).value();
  sc.threads = 2;
  auto server = HttpServer::Start(sc, Ok);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const uint16_t port = (*server)->port();
  TlsReloaderOptions options;
  options.interval = std::chrono::milliseconds(200);
  std::vector<Status> results;
  std::mutex results_mu;
  options.on_result = [&](const Status& s) {
    std::lock_guard<std::mutex> lock(results_mu);
    results.push_back(s);
  };
  HttpServer* raw = server->get();
  TlsReloader reloader(files, [raw](const TlsServerConfig& c) { return raw->ReloadTls(c); }, options);
  reloader.Start();

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&, i] {
      ClientOptions co;
      co.max_idle_connections = i % 2 == 0 ? 8 : 0;
      auto client = HttpsClient::Create("https://127.0.0.1:" + std::to_string(port), pki->ClientTls(), co);
      if (!client.ok()) {
        ++failed;
        return;
      }
      while (!stop.load()) {
        auto r = (*client)->Send(HttpRequest{});
        (r.ok() && r->status == 200 ? ok : failed)++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(Served(*pki, port, pki->server().sha256));
  const auto swapped = std::chrono::steady_clock::now();
  volume.Write(renewed->cert_pem, renewed->key_pem);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() - swapped < std::chrono::seconds(10)) {
    seen = Served(*pki, port, renewed->sha256);
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - swapped);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_TRUE(seen) << "the new certificate was not served within 10 s";
  EXPECT_FALSE(Served(*pki, port, pki->server().sha256)) << "a new connection still got the old leaf";
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 20);
  EXPECT_EQ(reloader.reloads(), 1u);
  std::printf("[ info ] new leaf served %lld ms after the swap; %d requests, %d failed\n",
              static_cast<long long>(took.count()), ok.load(), failed.load());
  reloader.Stop();
  (*server)->Stop(std::chrono::milliseconds(1000));
  fs::remove_all(*dir);
}

// Test: TlsReloadTest.BadCertificateKeepsTheOldOne: a key that does not
// match, then an unparsable certificate, are refused and reported; the old
// leaf is still served; the fixed pair is applied by ReloadNow (SIGHUP).
TEST(TlsReloadTest, BadCertificateKeepsTheOldOne) {
  Result<TestPki> pki = TestPki::Create();
  ASSERT_TRUE(pki.ok());
  Result<TestCert> renewed = pki->IssueServerCert({"localhost", "127.0.0.1"});
  ASSERT_TRUE(renewed.ok());
  Result<std::string> dir = testing::MakeTempDir();
  ASSERT_TRUE(dir.ok());
  SecretVolume volume(*dir);
  volume.Write(pki->server().cert_pem, pki->server().key_pem);
  TlsFiles files{volume.cert(), volume.key(), "", {}};
  ServerConfig sc;
  sc.tls = LoadTlsFiles(files).value();
  auto server = HttpServer::Start(sc, Ok);
  ASSERT_TRUE(server.ok());
  HttpServer* raw = server->get();
  std::vector<Status> results;
  TlsReloaderOptions options;
  options.on_result = [&](const Status& s) { results.push_back(s); };
  TlsReloader reloader(files, [raw](const TlsServerConfig& c) { return raw->ReloadTls(c); }, options);

  EXPECT_TRUE(reloader.PollOnce().ok());  // nothing changed
  EXPECT_TRUE(results.empty());
  volume.Write(renewed->cert_pem, pki->server().key_pem);  // key mismatch
  Status mismatch = reloader.PollOnce();
  EXPECT_EQ(mismatch.code(), Code::kInvalidArgument);
  EXPECT_EQ(mismatch.message().find("PRIVATE"), std::string::npos);
  volume.Write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n", renewed->key_pem);
  EXPECT_EQ(reloader.PollOnce().code(), Code::kInvalidArgument);
  EXPECT_TRUE(reloader.PollOnce().ok());  // the same bad files are not retried
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(reloader.reloads(), 0u);
  EXPECT_TRUE(Served(*pki, raw->port(), pki->server().sha256));

  volume.Write(renewed->cert_pem, renewed->key_pem);
  EXPECT_TRUE(reloader.ReloadNow().ok());
  EXPECT_TRUE(reloader.ReloadNow().ok());  // forced: applied again though unchanged
  EXPECT_EQ(reloader.reloads(), 2u);
  EXPECT_TRUE(Served(*pki, raw->port(), renewed->sha256));
  (*server)->Stop(std::chrono::milliseconds(1000));
  fs::remove_all(*dir);
}

// Test: TlsReloadTest.ReloadTlsRefusesBadConfigAndDroppingMtls.
TEST(TlsReloadTest, ReloadTlsRefusesBadConfigAndDroppingMtls) {
  Result<TestPki> pki = TestPki::Create();
  ASSERT_TRUE(pki.ok());
  Result<TestCert> edge = pki->IssueClientCert("edge");
  ASSERT_TRUE(edge.ok());
  ServerConfig plain;
  auto http = HttpServer::Start(plain, Ok);
  ASSERT_TRUE(http.ok());
  EXPECT_EQ((*http)->ReloadTls(pki->ServerTls()).code(), Code::kFailedPrecondition);

  ServerConfig mtls;
  mtls.tls = pki->ServerTls();
  mtls.tls->client_ca_pem = pki->ca_cert_pem();
  mtls.tls->pinned_client_cert_sha256 = {edge->sha256};
  auto server = HttpServer::Start(mtls, Ok);
  ASSERT_TRUE(server.ok());
  EXPECT_EQ((*server)->ReloadTls(pki->ServerTls()).code(), Code::kInvalidArgument);  // no client CA
  TlsServerConfig unpinned = pki->ServerTls();
  unpinned.client_ca_pem = pki->ca_cert_pem();
  EXPECT_EQ((*server)->ReloadTls(unpinned).code(), Code::kInvalidArgument);  // pins dropped
  TlsServerConfig mismatched = pki->ServerTls();
  mismatched.client_ca_pem = pki->ca_cert_pem();
  mismatched.pinned_client_cert_sha256 = {edge->sha256};
  mismatched.key_pem = edge->key_pem.Clone();
  EXPECT_EQ((*server)->ReloadTls(mismatched).code(), Code::kInvalidArgument);
  mismatched.key_pem = pki->server().key_pem.Clone();
  EXPECT_TRUE((*server)->ReloadTls(mismatched).ok());
}

// Test: TlsReloadTest.SighupIsAReloadRequest.
TEST(TlsReloadTest, SighupIsAReloadRequest) {
  BlockReloadSignal();
  ASSERT_EQ(raise(SIGHUP), 0);
  EXPECT_EQ(WaitForTerminationOrReloadSignal(), SIGHUP);
}

}  // namespace
}  // namespace astis::net
