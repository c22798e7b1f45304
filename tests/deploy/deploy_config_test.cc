// The configuration files shipped in deploy/ (the edge and CVS ConfigMaps)
// are parsed with the binaries' own strict parsers, so a key the edge or CVS
// would refuse at start-up fails here instead of in a cluster.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "cvs/run.h"
#include "edge/config.h"
#include "inject/config.h"

namespace astis {
namespace {

std::string ReadDeployFile(const std::string& relative) {
  std::ifstream in(std::string(ASTIS_DEPLOY_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void ExpectRemoteEdgeConfig(const std::string& relative) {
  std::string text = ReadDeployFile(relative);
  ASSERT_FALSE(text.empty()) << relative;
  auto config = edge::ParseEdgeConfig(text);
  ASSERT_TRUE(config.ok()) << relative << ": " << config.status().ToString();
  // The edge in Kubernetes never holds org keys: it calls a separate CVS.
  EXPECT_EQ(config->cvs.mode, edge::CvsMode::kRemote) << relative;
  EXPECT_TRUE(config->cvs.org_keys.empty()) << relative;
  EXPECT_EQ(config->store.backend, "postgres") << relative;
  EXPECT_EQ(config->listen.port, 8443) << relative;
}

TEST(DeployConfig, Tier1EdgeConfigParses) { ExpectRemoteEdgeConfig("base/edge/edge.yaml"); }

TEST(DeployConfig, Tier2EdgeConfigParses) { ExpectRemoteEdgeConfig("overlays/tier2-edge/edge.yaml"); }

TEST(DeployConfig, CvsConfigParses) {
  std::string text = ReadDeployFile("base/cvs/cvs.yaml");
  ASSERT_FALSE(text.empty());
  auto config = cvs::ParseCvsProcessConfig(text);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->listen_port, 9443);
  EXPECT_FALSE(config->client_ca_file.empty());
  EXPECT_EQ(config->edge_client_cert_sha256.size(), 1u);
  EXPECT_EQ(config->org_keys, "/etc/astis/org-keys/org-keys.json");
}

// The parsers are strict, so this test would notice a typo in deploy/: an
// unknown key in an otherwise valid shipped file is refused.
TEST(DeployConfig, RejectsUnknownKeyInShippedCvsConfig) {
  std::string text = ReadDeployFile("base/cvs/cvs.yaml") + "debug: true\n";
  EXPECT_FALSE(cvs::ParseCvsProcessConfig(text).ok());
}

// The inject component's config, completed with what the Deployment passes
// as flags (--run-image), is valid; the TLS files are on its mount.
TEST(DeployConfig, InjectConfigParses) {
  std::string text = ReadDeployFile("components/inject/inject.yaml");
  ASSERT_FALSE(text.empty());
  inject::InjectServerConfig config;
  ASSERT_TRUE(inject::ParseInjectServerConfig(text, config).ok());
  config.inject.run_image =
      "registry.example.com/astis/astis-run@sha256:16a1c14cdc0407f12b5f6ee1544aa2ef8a4461bfdb4099b00ffdfc343ac8308b";
  EXPECT_TRUE(inject::ValidateInjectServerConfig(config).ok());
  EXPECT_EQ(config.inject.namespace_, "astis");
  EXPECT_EQ(config.listen_port, 8443);
  EXPECT_EQ(config.cert_file, "/etc/astis/tls/tls.crt");
  EXPECT_FALSE(inject::ParseInjectServerConfig(text + "debug: true\n", config).ok());
}

}  // namespace
}  // namespace astis
