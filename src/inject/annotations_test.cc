#include "inject/annotations.h"

#include <gtest/gtest.h>

namespace astis::inject {
namespace {

Result<InjectionRequest> Parse(const Json& a, std::string_view sa = "api") { return ParseInjectAnnotations(a, sa); }

TEST(InjectAnnotationsTest, ParsesEnvFilesContainerAndApiKey) {
  auto r = Parse(Json{{"astis.io/env", " DB_PASSWORD = db-creds/password ,API_TOKEN=api/token"},
                      {"astis.io/files", "/etc/app/key.pem=tls-keys/key"},
                      {"astis.io/container", "app"},
                      {"other", "x"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->env.size(), 2u);
  EXPECT_EQ(r->env[0].var, "DB_PASSWORD");
  EXPECT_EQ(r->env[0].ref.secret, "db-creds");
  EXPECT_EQ(r->env[0].ref.key, "password");
  EXPECT_EQ(r->env[0].ref.SdkName(), "db-creds_password");
  EXPECT_EQ(r->env[1].var, "API_TOKEN");
  ASSERT_EQ(r->files.size(), 1u);
  EXPECT_EQ(r->files[0].path, "/etc/app/key.pem");
  EXPECT_EQ(r->files[0].Dir(), "/etc/app");
  EXPECT_EQ(r->container, "app");
  EXPECT_EQ(r->api_key_secret, "api-astis-key");
}

TEST(InjectAnnotationsTest, ApiKeySecretDefaultAndOverride) {
  auto d = Parse(Json{{"astis.io/env", "A=s/k"}}, "");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->api_key_secret, "default-astis-key");
  auto o = Parse(Json{{"astis.io/env", "A=s/k"}, {"astis.io/api-key-secret", "my-key"}});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->api_key_secret, "my-key");
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "A=s/k"}, {"astis.io/api-key-secret", "My_Key"}}).ok());
}

TEST(InjectAnnotationsTest, NoAnnotationsIsEmpty) {
  auto r = Parse(Json());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  auto o = Parse(Json{{"unrelated", "1"}});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->empty());
}

TEST(InjectAnnotationsTest, RefusesLiteralValueWithoutEchoingIt) {
  auto r = Parse(Json{{"astis.io/env", "DB_PASSWORD=hunter2"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not a literal"), std::string::npos);
  EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos);
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "DB_PASSWORD"}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "DB_PASSWORD=a/b/c"}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", ""}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "A=s/k,"}}).ok());
}

TEST(InjectAnnotationsTest, RefusesBadEnvName) {
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "1A=s/k"}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "A-B=s/k"}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "=s/k"}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "ASTIS_API_KEY=s/k"}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "A=s/k,A=t/k"}}).ok());
}

TEST(InjectAnnotationsTest, RefusesSecretNameNotDns1123) {
  auto r = Parse(Json{{"astis.io/env", "A=Db_Creds/password"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("DNS-1123"), std::string::npos);
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "A=-x/password"}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "A=x/"}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "A=x/.."}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "A=x/a b"}}).ok());
}

TEST(InjectAnnotationsTest, RefusesBadFilePath) {
  for (const char* p : {"key.pem", "/etc/../etc/app/key.pem", "/etc/app/./key.pem", "/etc/key.pem", "/key.pem",
                        "/etc/app/", "/etc//app/key.pem", "/etc/app/$(X)", "/etc/app/a b"}) {
    EXPECT_FALSE(Parse(Json{{"astis.io/files", std::string(p) + "=s/k"}}).ok()) << p;
  }
  EXPECT_FALSE(Parse(Json{{"astis.io/files", "/etc/app/k=s/k,/etc/app/k=s/j"}}).ok());
}

TEST(InjectAnnotationsTest, RefusesNonStringAndOversizeValues) {
  EXPECT_FALSE(Parse(Json{{"astis.io/env", 3}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/container", "Bad_Name"}}).ok());
  EXPECT_FALSE(Parse(Json::array()).ok());
  std::string many;
  for (int i = 0; i < 65; ++i) many += (i ? "," : "") + std::string("V") + std::to_string(i) + "=s/k";
  EXPECT_FALSE(Parse(Json{{"astis.io/env", many}}).ok());
  EXPECT_FALSE(Parse(Json{{"astis.io/env", "A=s/" + std::string(17 * 1024, 'k')}}).ok());
}

}  // namespace
}  // namespace astis::inject
