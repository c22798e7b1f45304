// The C++ face (include/astis/client.hpp) over libastis.so, and the
// examples, against the FakeEdge. The SDK here runs on the real clock, so
// the edge's FakeClock is set to now.
#include "astis/client.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "sdk/tests/sdk_test_util.h"

namespace astis::sdkcore::testing {
namespace {

class ClientHppTest : public SdkFixture {
 protected:
  void SetUp() override {
    clock_.Set(SystemClock().NowUnix());
    SdkFixture::SetUp();
  }
  // Env sets the process environment the C ABI reads (astis_config_load_env).
  void Env() {
    setenv("ASTIS_EDGE_URL", edge_->url().c_str(), 1);
    setenv("ASTIS_CA_FILE", (dir_ + "/ca.pem").c_str(), 1);
    setenv("ASTIS_TOKEN_PATH", (token_dir_ + "/token").c_str(), 1);
    setenv("ASTIS_SECRETS_DIR", secrets_dir_.c_str(), 1);
    setenv("ASTIS_API_KEY", kTestApiKey, 1);
  }
  static std::string Run(const std::string& command) {
    const std::string out = ::testing::TempDir() + "/astis_example_out.txt";
    const int rc = std::system((command + " > " + out + " 2>&1").c_str());
    std::stringstream ss;
    {
      std::ifstream f(out);
      ss << f.rdbuf();
    }
    std::remove(out.c_str());  // the example printed test secrets: leave nothing in /tmp
    return "rc=" + std::to_string(rc) + "\n" + ss.str();
  }
};

TEST_F(ClientHppTest, GetsSecretsThroughCppFace) {
  PutSecret("a", "alpha");
  PutSecret("b", "beta");
  Env();
  auto config = astis::sdk::Config::FromEnv();
  ASSERT_TRUE(config.ok()) << config.error().message();
  auto client = astis::sdk::Client::Create(*config);
  ASSERT_TRUE(client.ok()) << client.error().message();
  auto a = client->Get("a");
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->view(), "alpha");
  auto both = client->GetMany({"a", "b"});
  ASSERT_TRUE(both.ok()) << both.error().message();
  EXPECT_EQ((*both)[1].view(), "beta");
  auto missing = client->Get("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ASTIS_NOT_FOUND);
  EXPECT_EQ(missing.error().name(), "not_found");
  astis::sdk::Secret moved = std::move(*a);
  EXPECT_EQ(moved.view(), "alpha");
}

TEST_F(ClientHppTest, ConfigSettersReportErrors) {
  auto config = astis::sdk::Config::Create();
  ASSERT_TRUE(config.ok());
  auto e = config->SetEdgeUrl("http://insecure");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ASTIS_CONFIG);
  EXPECT_NE(e->message().find("https"), std::string::npos);
  auto client = astis::sdk::Client::Create(*config);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code(), ASTIS_CONFIG);
}

TEST_F(ClientHppTest, ExamplesRunAgainstFakeEdge) {
  PutSecret("db-password", "hunter22");
  Env();
  for (const char* exe : {ASTIS_EXAMPLE_C, ASTIS_EXAMPLE_CPP}) {
    EXPECT_NE(Run(std::string(exe) + " --help").find("usage:"), std::string::npos) << exe;
    const std::string out = Run(std::string(exe) + " db-password");
    EXPECT_NE(out.find("rc=0\ndb-password: 8 bytes"), std::string::npos) << exe << "\n" << out;
    EXPECT_EQ(out.find("hunter22"), std::string::npos) << exe;
    EXPECT_NE(Run(std::string(exe) + " absent").find("not_found"), std::string::npos) << exe;
  }
}

}  // namespace
}  // namespace astis::sdkcore::testing
