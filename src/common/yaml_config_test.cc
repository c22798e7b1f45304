#include "common/yaml_config.h"

#include <gtest/gtest.h>

namespace astis::yaml_config {
namespace {

TEST(YamlConfigTest, CheckKeysRefusesUnknownAndNonMapping) {
  EXPECT_TRUE(CheckKeys(YAML::Load("{a: 1, b: 2}"), "", {"a", "b", "c"}).ok());
  Status s = CheckKeys(YAML::Load("{a: 1, tls: {cert: x}}"), "", {"a"});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "tls: unknown key");
  s = CheckKeys(YAML::Load("{cert: x}"), "tls", {"cert_file"});
  EXPECT_EQ(s.message(), "tls.cert: unknown key");
  EXPECT_EQ(CheckKeys(YAML::Load("[1, 2]"), "", {"a"}).message(), "(top level): must be a mapping");
  EXPECT_EQ(CheckKeys(YAML::Load("x"), "listen", {"a"}).message(), "listen: must be a mapping");
  EXPECT_EQ(CheckKeys(YAML::Load("{[1]: x}"), "log", {"a"}).message(), "log: keys must be strings");
}

TEST(YamlConfigTest, GetStringRequiredAndEmpty) {
  const YAML::Node n = YAML::Load("{cert_file: /a, empty: '', list: [1]}");
  std::string out = "default";
  ASSERT_TRUE(GetString(n, "tls", "cert_file", out, true).ok());
  EXPECT_EQ(out, "/a");
  out = "default";
  ASSERT_TRUE(GetString(n, "tls", "key_file", out, false).ok());
  EXPECT_EQ(out, "default");
  EXPECT_EQ(GetString(n, "tls", "key_file", out, true).message(), "tls.key_file: required");
  EXPECT_EQ(GetString(n, "", "empty", out, false).message(), "empty: must be a non-empty string");
  EXPECT_EQ(GetString(n, "", "list", out, false).message(), "list: must be a non-empty string");
  EXPECT_EQ(out, "default");
}

TEST(YamlConfigTest, ParseIntRange) {
  EXPECT_EQ(*ParseInt("port", "8443", 0, 65535), 8443);
  EXPECT_EQ(*ParseInt("port", "0", 0, 65535), 0);
  EXPECT_EQ(ParseInt("port", "65536", 0, 65535).status().message(), "port: out of range [0, 65535]");
  EXPECT_EQ(ParseInt("port", "-1", 0, 65535).status().message(), "port: must be a non-negative integer");
  EXPECT_EQ(ParseInt("port", " 1", 0, 65535).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseInt("port", "", 0, 65535).status().message(), "port: must be an integer");
  EXPECT_EQ(ParseInt("n", "1234567890123456789", 0, 1).status().message(), "n: must be an integer");
  const YAML::Node n = YAML::Load("{port: 80, map: {a: 1}}");
  int64_t v = 7;
  ASSERT_TRUE(GetInt(n, "listen", "threads", v, 1, 64).ok());
  EXPECT_EQ(v, 7);
  ASSERT_TRUE(GetInt(n, "listen", "port", v, 0, 65535).ok());
  EXPECT_EQ(v, 80);
  EXPECT_EQ(GetInt(n, "x", "map", v, 0, 1).message(), "x.map: must be an integer");
}

}  // namespace
}  // namespace astis::yaml_config
