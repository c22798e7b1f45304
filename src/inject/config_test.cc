#include "inject/config.h"

#include <gtest/gtest.h>

namespace astis::inject {
namespace {

constexpr const char* kDigest = "sha256:4444444444444444444444444444444444444444444444444444444444444444";

InjectConfig Good() {
  InjectConfig c;
  c.run_image = std::string("registry.example.com/astis/astis-run@") + kDigest;
  c.edge_url = "https://edge.example.com,https://edge2.example.com:8443";
  c.namespace_ = "astis";
  return c;
}

TEST(InjectConfigTest, AcceptsGoodConfig) { EXPECT_TRUE(ValidateInjectConfig(Good()).ok()); }

TEST(InjectConfigTest, RefusesBadValues) {
  InjectConfig c = Good();
  c.run_image = "registry.example.com/astis/astis-run:1.0";
  EXPECT_NE(ValidateInjectConfig(c).message().find("run_image"), std::string::npos);
  c.run_image = std::string("@") + kDigest;
  EXPECT_FALSE(ValidateInjectConfig(c).ok());
  c = Good();
  c.edge_url = "http://edge.example.com";
  EXPECT_NE(ValidateInjectConfig(c).message().find("edge_url"), std::string::npos);
  c.edge_url = "https://edge.example.com,";
  EXPECT_FALSE(ValidateInjectConfig(c).ok());
  c = Good();
  c.namespace_ = "";
  EXPECT_FALSE(ValidateInjectConfig(c).ok());
  c = Good();
  c.edge_ca_configmap = "Bad_Name";
  EXPECT_FALSE(ValidateInjectConfig(c).ok());
  c = Good();
  c.token_expiration_seconds = 599;
  EXPECT_FALSE(ValidateInjectConfig(c).ok());
}

TEST(InjectConfigTest, ParsesFileAndRefusesUnknownKeys) {
  InjectServerConfig c;
  ASSERT_TRUE(ParseInjectServerConfig(std::string("listen: {address: 127.0.0.1, port: 9443}\n"
                                                  "tls: {cert_file: /c, key_file: /k}\n"
                                                  "namespace: astis\n"
                                                  "run_image: r/astis-run@") +
                                          kDigest + "\nedge_url: https://edge\ntoken_expiration_seconds: 900\n",
                                      c)
                  .ok());
  EXPECT_EQ(c.listen_address, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 9443);
  EXPECT_EQ(c.cert_file, "/c");
  EXPECT_EQ(c.inject.token_expiration_seconds, 900);
  EXPECT_TRUE(ValidateInjectServerConfig(c).ok());
  InjectServerConfig d;
  EXPECT_NE(ParseInjectServerConfig("namespace: astis\nedge: x\n", d).message().find("edge"), std::string::npos);
  EXPECT_FALSE(ParseInjectServerConfig("listen: {port: 70000}\n", d).ok());
  EXPECT_FALSE(ParseInjectServerConfig("tls: {cert: x}\n", d).ok());
  EXPECT_FALSE(ParseInjectServerConfig("[1, 2", d).ok());
  EXPECT_FALSE(ValidateInjectServerConfig(InjectServerConfig{}).ok());
}

TEST(InjectConfigTest, ParsesListen) {
  InjectServerConfig c;
  ASSERT_TRUE(ParseListen("127.0.0.1:0", c).ok());
  EXPECT_EQ(c.listen_address, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 0);
  ASSERT_TRUE(ParseListen("[::1]:8443", c).ok());
  EXPECT_EQ(c.listen_address, "::1");
  EXPECT_FALSE(ParseListen("8443", c).ok());
  EXPECT_FALSE(ParseListen("host:port", c).ok());
}

}  // namespace
}  // namespace astis::inject
