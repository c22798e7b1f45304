// The edge -> ASTIS CVS pin (cvs.mode remote): by leaf, by key (SPKI) or by
// CA plus name, and which certificate renewals each one survives
// (docs/operations.md "Certificate rotation").
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "common/encoding.h"
#include "cvs/remote.h"
#include "edge/config.h"
#include "edge/run.h"
#include "net/testing/test_pki.h"

namespace astis::edge {
namespace {

using net::testing::TestCert;
using net::testing::TestPki;

constexpr char kHead[] = R"(
tls: {cert_file: /etc/astis/tls.crt, key_file: /etc/astis/tls.key}
external_base_url: https://edge.example.com
store: {backend: sqlite, path: /var/lib/astis/edge.db}
audit_log: /var/log/astis/audit.jsonl
)";

std::string Hex(const Sha256Digest& d) { return HexEncode(std::span<const uint8_t>(d.data(), d.size())); }

// A CvsPort that is always up: only the TLS handshake is under test.
class UpPort final : public cvs::CvsPort {
 public:
  Result<std::vector<cvs::RewrapResult>> Rewrap(const cvs::VerifiedScope&, const X25519PublicKey&, std::string_view,
                                                std::span<const std::vector<uint8_t>>) override {
    return Error(Code::kInternal, "not used");
  }
  Status Ping() override { return OkStatus(); }
};

Result<EdgeConfig> Parse(const std::string& cvs) { return ParseEdgeConfig(std::string(kHead) + cvs); }

// Test: EdgeCvsPinConfigTest.ConfigNeedsOnePinAndRefusesBadOnes.
TEST(EdgeCvsPinConfigTest, ConfigNeedsOnePinAndRefusesBadOnes) {
  const std::string base = "cvs: {mode: remote, url: https://cvs, ca_file: a, client_cert_file: b, client_key_file: c";
  const std::string hex(64, 'a');
  auto spki = Parse(base + ", server_spki_sha256: [" + hex + ", " + std::string(64, 'b') + "]}\n");
  ASSERT_TRUE(spki.ok()) << spki.status().ToString();
  EXPECT_EQ(spki->cvs.server_spki_sha256.size(), 2u);
  EXPECT_TRUE(spki->cvs.server_cert_sha256.empty());
  auto one = Parse(base + ", server_spki_sha256: " + hex + "}\n");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->cvs.server_spki_sha256.size(), 1u);
  auto ca = Parse(base + ", server_name: cvs.astis.internal}\n");
  ASSERT_TRUE(ca.ok());
  EXPECT_EQ(ca->cvs.server_name, "cvs.astis.internal");
  EXPECT_TRUE(Parse(base + ", server_cert_sha256: " + hex + "}\n").ok());
  const std::pair<std::string, std::string> bad[] = {
      {base + "}\n", "cvs.server_cert_sha256"},
      {base + ", server_spki_sha256: abc}\n", "cvs.server_spki_sha256"},
      {base + ", server_spki_sha256: []}\n", "cvs.server_spki_sha256"},
      {base + ", server_spki_sha256: [{a: b}]}\n", "cvs.server_spki_sha256"},
      {"cvs: {mode: embedded, org_keys: k, server_spki_sha256: " + hex + "}\n", "cvs.server_spki_sha256"},
      {"cvs: {mode: embedded, org_keys: k, server_name: x}\n", "cvs.server_name"},
  };
  for (const auto& [yaml, field] : bad) {
    auto c = Parse(yaml);
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
    EXPECT_NE(c.status().message().find(field), std::string::npos) << c.status().message();
  }
}

class EdgeCvsPinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = TestPki::Create({"cvs.astis.internal"});
    ASSERT_TRUE(pki.ok());
    pki_ = std::make_unique<TestPki>(std::move(pki).value());
    auto edge = pki_->IssueClientCert("edge");
    ASSERT_TRUE(edge.ok());
    edge_ = std::make_unique<TestCert>(std::move(edge).value());
    auto dir = net::testing::MakeTempDir();
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    std::ofstream(dir_ + "/ca.pem") << pki_->ca_cert_pem();
    std::ofstream(dir_ + "/edge.pem") << edge_->cert_pem;
    std::ofstream(dir_ + "/edge.key") << edge_->key_pem.RevealString();
    cvs::CvsServerConfig sc;
    sc.tls = pki_->ServerTls();
    sc.tls.client_ca_pem = pki_->ca_cert_pem();
    sc.tls.pinned_client_cert_sha256 = {edge_->sha256};
    sc.threads = 1;
    auto server = cvs::StartCvsServer(std::move(sc), port_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::milliseconds(500));
    std::filesystem::remove_all(dir_);
  }

  // Client is the edge's CVS client from a cvs: section with pins. Each
  // check uses a fresh client: a new connection, as after a renewal.
  std::unique_ptr<cvs::RemoteCvsClient> Client(const std::string& pins) {
    auto config = Parse("cvs: {mode: remote, url: https://127.0.0.1:" + std::to_string(server_->port()) +
                        ", ca_file: " + dir_ + "/ca.pem, client_cert_file: " + dir_ +
                        "/edge.pem, client_key_file: " + dir_ + "/edge.key, " + pins + "}\n");
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    if (!config.ok()) return nullptr;
    auto client = MakeRemoteAstisCvsClient(*config);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }
  Status PingWith(const std::string& pins) {
    auto client = Client(pins);
    return client ? client->Ping() : Status(Code::kInternal, "no client");
  }

  // Serve swaps the CVS's certificate as a reload does.
  void Serve(const TestCert& cert) {
    net::TlsServerConfig tls;
    tls.cert_chain_pem = cert.cert_pem;
    tls.key_pem = cert.key_pem.Clone();
    tls.client_ca_pem = pki_->ca_cert_pem();
    tls.pinned_client_cert_sha256 = {edge_->sha256};
    ASSERT_TRUE(server_->ReloadTls(tls).ok());
  }

  std::unique_ptr<TestPki> pki_;
  std::unique_ptr<TestCert> edge_;
  std::string dir_;
  UpPort port_;
  std::unique_ptr<net::HttpServer> server_;
};

// Test: EdgeCvsPinTest.SpkiPinSurvivesRenewalThatKeepsTheKey: a renewed
// certificate for the same key is accepted; one for a new key (same CA) is
// refused with cvs_unavailable.
TEST_F(EdgeCvsPinTest, SpkiPinSurvivesRenewalThatKeepsTheKey) {
  auto spki = net::SpkiSha256(pki_->server().cert_pem);
  ASSERT_TRUE(spki.ok());
  const std::string pin = "server_spki_sha256: [" + Hex(*spki) + "]";
  EXPECT_TRUE(PingWith(pin).ok());
  auto renewed = pki_->RenewServerCert(pki_->server(), {"localhost", "127.0.0.1", "cvs.astis.internal"});
  ASSERT_TRUE(renewed.ok());
  ASSERT_NE(renewed->sha256, pki_->server().sha256);
  Serve(*renewed);
  EXPECT_TRUE(PingWith(pin).ok()) << "a renewal that keeps the key must keep working";
  auto rekeyed = pki_->IssueServerCert({"localhost", "127.0.0.1", "cvs.astis.internal"});
  ASSERT_TRUE(rekeyed.ok());
  Serve(*rekeyed);
  EXPECT_EQ(PingWith(pin).code(), Code::kCvsUnavailable);
  // The leaf pin, kept as an option, refuses even the same key's renewal.
  Serve(pki_->server());
  const std::string leaf = "server_cert_sha256: " + Hex(pki_->server().sha256);
  EXPECT_TRUE(PingWith(leaf).ok());
  Serve(*renewed);
  EXPECT_EQ(PingWith(leaf).code(), Code::kCvsUnavailable);
}

// Test: EdgeCvsPinTest.CaPinSurvivesRenewalAndRefusesAnotherCa: any
// certificate for cvs.server_name from cvs.ca_file is accepted (new key
// included); a certificate from another CA, or for another name, is refused
// with cvs_unavailable.
TEST_F(EdgeCvsPinTest, CaPinSurvivesRenewalAndRefusesAnotherCa) {
  const std::string pin = "server_name: cvs.astis.internal";
  EXPECT_TRUE(PingWith(pin).ok());
  auto rekeyed = pki_->IssueServerCert({"cvs.astis.internal"});
  ASSERT_TRUE(rekeyed.ok());
  Serve(*rekeyed);
  EXPECT_TRUE(PingWith(pin).ok()) << "a renewal by the same CA must keep working";
  auto other_name = pki_->IssueServerCert({"other.astis.internal", "127.0.0.1"});
  ASSERT_TRUE(other_name.ok());
  Serve(*other_name);
  EXPECT_EQ(PingWith(pin).code(), Code::kCvsUnavailable);
  auto other_ca = TestPki::Create({"cvs.astis.internal"});
  ASSERT_TRUE(other_ca.ok());
  Serve(other_ca->server());
  EXPECT_EQ(PingWith(pin).code(), Code::kCvsUnavailable);
}

}  // namespace
}  // namespace astis::edge
