// Tests of the test PKI and the TLS configuration helpers.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "net/testing/test_pki.h"
#include "net/tls.h"

namespace astis::net {
namespace {

using testing::TestPki;

TEST(TestPkiTest, IssuesDistinctCertificatesWithMatchingDigests) {
  Result<TestPki> pki = TestPki::Create({"edge.example", "10.0.0.7"});
  ASSERT_TRUE(pki.ok()) << pki.status().ToString();
  Result<testing::TestCert> client = pki->IssueClientCert("edge");
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Result<Sha256Digest> server_digest = CertSha256(pki->server().cert_pem);
  ASSERT_TRUE(server_digest.ok());
  EXPECT_EQ(*server_digest, pki->server().sha256);
  EXPECT_NE(pki->server().sha256, client->sha256);
  EXPECT_NE(pki->ca_cert_pem(), pki->server().cert_pem);
  EXPECT_FALSE(client->key_pem.empty());
}

TEST(TlsConfigTest, CertSha256RejectsGarbage) {
  Result<Sha256Digest> digest = CertSha256("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n");
  ASSERT_FALSE(digest.ok());
  EXPECT_EQ(digest.status().code(), Code::kInvalidArgument);
}

TEST(TlsConfigTest, WritesAndLoadsServerConfigFromFiles) {
  Result<TestPki> pki = TestPki::Create();
  ASSERT_TRUE(pki.ok());
  Result<std::string> dir = testing::MakeTempDir();
  ASSERT_TRUE(dir.ok());
  Result<testing::TestPkiFiles> files = pki->WriteFiles(*dir);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(std::filesystem::status(files->server_key).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  Result<TlsServerConfig> config = LoadTlsServerConfig(files->server_cert, files->server_key, files->ca_cert);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->cert_chain_pem, pki->server().cert_pem);
  EXPECT_TRUE(config->key_pem == pki->server().key_pem);
  ASSERT_TRUE(config->client_ca_pem.has_value());
  std::filesystem::remove_all(*dir);
}

TEST(TlsConfigTest, RejectsMissingFileWithPath) {
  Result<std::string> pem = ReadPemFile("/nonexistent/astis/cert.pem");
  ASSERT_FALSE(pem.ok());
  EXPECT_EQ(pem.status().code(), Code::kIo);
  EXPECT_NE(pem.status().message().find("/nonexistent/astis/cert.pem"), std::string::npos);
}

TEST(TlsConfigTest, RejectsKeyFileThatIsNotAKeyWithoutQuotingIt) {
  Result<std::string> dir = testing::MakeTempDir();
  ASSERT_TRUE(dir.ok());
  std::string path = *dir + "/key.pem";
  std::ofstream(path) << "not-a-key-SENSITIVE";
  Result<SecretBytes> key = ReadKeyFile(path);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(key.status().message().find("SENSITIVE"), std::string::npos);
  std::filesystem::remove_all(*dir);
}

TEST(TlsConfigTest, RejectsKeyThatDoesNotMatchCertificate) {
  Result<TestPki> pki = TestPki::Create();
  ASSERT_TRUE(pki.ok());
  Result<testing::TestCert> other = pki->IssueClientCert("other");
  ASSERT_TRUE(other.ok());
  TlsServerConfig config = pki->ServerTls();
  config.key_pem = other->key_pem.Clone();
  Status status = ValidateTlsServerConfig(config);
  EXPECT_EQ(status.code(), Code::kInvalidArgument);
}

TEST(TlsConfigTest, RejectsClientPinsWithoutClientCa) {
  Result<TestPki> pki = TestPki::Create();
  ASSERT_TRUE(pki.ok());
  TlsServerConfig config = pki->ServerTls();
  config.pinned_client_cert_sha256.push_back(pki->server().sha256);
  EXPECT_EQ(ValidateTlsServerConfig(config).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::net
