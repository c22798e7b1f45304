// `astis cvs` (RunCvsProcess) rotates without a restart: its certificate
// when the kubelet swaps the Secret volume, its org keys on SIGHUP.
#include <pthread.h>
#include <sys/prctl.h>
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/temp_dir.h"
#include "cvs/cvs_test_util.h"
#include "cvs/remote.h"
#include "cvs/run.h"
#include "cvs/testing/verified_scope.h"
#include "net/testing/test_pki.h"

namespace astis::cvs {
namespace {

namespace fs = std::filesystem;
using net::testing::TestCert;

// Swap points dir/..data at a new directory holding files, as the kubelet
// updates a Secret volume (the links dir/NAME -> ..data/NAME stay).
void Swap(const std::string& dir, int generation, const std::vector<std::pair<std::string, std::string>>& files) {
  const std::string gen = "..gen_" + std::to_string(generation);
  fs::create_directory(dir + "/" + gen);
  for (const auto& [name, text] : files) {
    std::ofstream(dir + "/" + gen + "/" + name) << text;
    fs::permissions(dir + "/" + gen + "/" + name, fs::perms::owner_read | fs::perms::owner_write);
    if (!fs::is_symlink(dir + "/" + name)) fs::create_symlink("..data/" + name, dir + "/" + name);
  }
  fs::create_directory_symlink(gen, dir + "/..data_tmp");
  fs::rename(dir + "/..data_tmp", dir + "/..data");
}

std::string KeySet(const capsule::OrgPrivateKey& active, const capsule::OrgPrivateKey* retired) {
  Json keys = Json::array();
  Json a = active.ToPrivateJwk();
  a["status"] = "active";
  keys.push_back(a);
  if (retired != nullptr) {
    Json r = retired->ToPrivateJwk();
    r["status"] = "retired";
    keys.push_back(r);
  }
  return Json{{"keys", keys}}.dump();
}

// Test: CvsProcessReloadTest.CertificateAndOrgKeysRotateWithoutRestart: the
// process serves the renewed certificate within 10 s of a kubelet-style
// swap, and after a rotation of org_keys and SIGHUP a value sealed to the
// new key opens while one sealed to the retired key still does.
TEST(CvsProcessReloadTest, CertificateAndOrgKeysRotateWithoutRestart) {
  test::TempDir tmp("astis-cvs-reload");
  const std::string dir = tmp.path();
  auto pki = net::testing::TestPki::Create();
  ASSERT_TRUE(pki.ok());
  auto edge = pki->IssueClientCert("edge");
  ASSERT_TRUE(edge.ok());
  auto renewed = pki->IssueServerCert({"localhost", "127.0.0.1"});
  ASSERT_TRUE(renewed.ok());
  fs::create_directory(dir + "/tls");
  Swap(dir + "/tls", 1,
       {{"tls.crt", pki->server().cert_pem}, {"tls.key", std::string(pki->server().key_pem.RevealString())}});
  std::ofstream(dir + "/ca.pem") << pki->ca_cert_pem();
  capsule::OrgPrivateKey a = testing::NewOrgKey();
  capsule::OrgPrivateKey b = testing::NewOrgKey();
  const std::string keys = dir + "/org-keys.json";
  std::ofstream(keys) << KeySet(a, nullptr);
  fs::permissions(keys, fs::perms::owner_read | fs::perms::owner_write);
  auto config = ParseCvsProcessConfig("listen: {address: 127.0.0.1, port: 0}\n"
                                      "tls: {cert_file: " + dir + "/tls/tls.crt, key_file: " + dir +
                                      "/tls/tls.key, client_ca_file: " + dir + "/ca.pem, edge_client_cert_sha256: " +
                                      HexEncode(std::span<const uint8_t>(edge->sha256.data(), 32)) + "}\n" +
                                      "org_keys: " + keys + "\naudit_log: " + dir + "/audit.jsonl\n");
  ASSERT_TRUE(config.ok()) << config.status().ToString();

  std::atomic<uint16_t> port{0};
  std::atomic<bool> returned{false};
  Status result = OkStatus();
  FakeClock clock(1764115200);
  std::thread process([&] {
    result = RunCvsProcess(*config, clock, DefaultRandom(), [&](uint16_t p) { port = p; });
    returned = true;
  });
  const pthread_t handle = process.native_handle();
  for (int i = 0; i < 500 && port.load() == 0 && !returned.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (port.load() == 0) {
    if (!returned.load()) pthread_kill(handle, SIGTERM);
    process.join();
    FAIL() << "astis cvs did not start: " << result.ToString();
  }
  const std::string url = "https://127.0.0.1:" + std::to_string(port.load());
  auto client_for = [&](const Sha256Digest& pin) {
    net::TlsClientConfig tls = pki->ClientTls(&*edge);
    tls.pinned_server_cert_sha256 = {pin};
    net::ClientOptions o;
    o.max_idle_connections = 0;
    o.request_timeout = std::chrono::milliseconds(3000);
    return RemoteCvsClient::Create(url, tls, o);
  };
  auto old_client = client_for(pki->server().sha256);
  ASSERT_TRUE(old_client.ok());
  EXPECT_TRUE((*old_client)->Ping().ok());

  // The certificate: a kubelet swap, seen by the 2 s poll.
  Swap(dir + "/tls", 2, {{"tls.crt", renewed->cert_pem}, {"tls.key", std::string(renewed->key_pem.RevealString())}});
  auto new_client = client_for(renewed->sha256);
  ASSERT_TRUE(new_client.ok());
  const auto swapped = std::chrono::steady_clock::now();
  bool served = false;
  while (!served && std::chrono::steady_clock::now() - swapped < std::chrono::seconds(10)) {
    served = (*new_client)->Ping().ok();
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(served) << "the renewed certificate was not served within 10 s";
  EXPECT_EQ((*old_client)->Ping().code(), Code::kCvsUnavailable);

  // The org keys: rotate (b active, a retired), then SIGHUP.
  const VerifiedScope scope = testing::TestScope("prod-eu1", "payments", "api");
  const capsule::SealedValue va = testing::SealTo(a.public_key(), testing::BindingFor(scope), "to a", clock);
  const capsule::SealedValue vb = testing::SealTo(b.public_key(), testing::BindingFor(scope), "to b", clock);
  testing::Pod pod;
  auto open = [&](const capsule::SealedValue& v) -> std::string {
    std::vector<std::vector<uint8_t>> caps = {testing::CapsuleBytes(v)};
    auto r = (*new_client)->Rewrap(scope, pod.recipient(), "s-1", caps);
    if (!r.ok()) return "<" + r.status().ToString() + ">";
    return pod.Decrypt(v, (*r)[0], "s-1");
  };
  EXPECT_EQ(open(va), "to a");
  EXPECT_EQ(open(vb), "<code unknown_key>");
  std::ofstream(keys + ".tmp") << KeySet(b, &a);
  fs::permissions(keys + ".tmp", fs::perms::owner_read | fs::perms::owner_write);
  fs::rename(keys + ".tmp", keys);
  ASSERT_EQ(pthread_kill(handle, SIGHUP), 0);
  std::string opened;
  for (int i = 0; i < 50 && (opened = open(vb)) != "to b"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(opened, "to b");
  EXPECT_EQ(open(va), "to a");

  ASSERT_EQ(pthread_kill(handle, SIGTERM), 0);
  process.join();
  EXPECT_TRUE(result.ok()) << result.ToString();
  // RunCvsProcess made this test process non-dumpable (DisableCoreDumps);
  // LeakSanitizer needs to ptrace it at exit.
  prctl(PR_SET_DUMPABLE, 1);
}

}  // namespace
}  // namespace astis::cvs
