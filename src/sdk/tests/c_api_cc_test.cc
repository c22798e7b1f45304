// The C ABI over a real engine (injected clock and sleeper through the
// test-only WrapEngine hook) against the FakeEdge.
#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#include "astis/astis.h"
#include "sdk/internal/test_hooks.h"
#include "sdk/tests/sdk_test_util.h"

namespace astis::sdkcore::testing {
namespace {

class CApiTest : public SdkFixture {
 protected:
  astis_client* NewClient() { return WrapEngine(MakeEngine()); }
  static std::string Message(const astis_client* c) {
    char buf[256];
    astis_client_last_message(c, buf, sizeof buf);
    return buf;
  }
};

TEST_F(CApiTest, PlaintextWipedAfterFree) {
  const std::string plaintext = "correct horse battery staple";
  PutSecret("pw", plaintext);
  astis_client* client = NewClient();
  SetSecretQuarantine(true);
  astis_secret* secret = nullptr;
  ASSERT_EQ(astis_client_get(client, "pw", &secret), ASTIS_OK) << Message(client);
  ASSERT_EQ(astis_secret_size(secret), plaintext.size());
  const uint8_t* data = astis_secret_data(secret);
  ASSERT_EQ(std::memcmp(data, plaintext.data(), plaintext.size()), 0);
  astis_secret_free(secret);
  // The same memory, read back after free: every byte is zero.
  const std::vector<uint8_t> after = QuarantinedBytes(data);
  ASSERT_EQ(after.size(), plaintext.size());
  EXPECT_EQ(after, std::vector<uint8_t>(plaintext.size(), 0));
  SetSecretQuarantine(false);
  astis_client_free(client);
}

TEST_F(CApiTest, GetManyIsAllOrNothing) {
  PutSecret("a", "alpha");
  PutSecret("b", "beta");
  astis_client* client = NewClient();
  const char* names[] = {"a", "b"};
  astis_secret* out[3] = {};
  ASSERT_EQ(astis_client_get_many(client, names, 2, out), ASTIS_OK) << Message(client);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(astis_secret_data(out[1])), astis_secret_size(out[1])), "beta");
  astis_secret_free(out[0]);
  astis_secret_free(out[1]);
  const char* with_missing[] = {"a", "missing", "b"};
  EXPECT_EQ(astis_client_get_many(client, with_missing, 3, out), ASTIS_NOT_FOUND);
  EXPECT_EQ(out[0], nullptr);
  EXPECT_EQ(out[1], nullptr);
  EXPECT_EQ(out[2], nullptr);
  EXPECT_NE(Message(client).find("missing"), std::string::npos);
  astis_client_free(client);
}

TEST_F(CApiTest, EdgeRefusalMapsToProtocolCode) {
  PutSecret("a", "alpha");
  astis_client* client = NewClient();
  edge_->FailNext("/v1/sessions", 1, 403, "image_not_allowed");
  astis_secret* s = nullptr;
  EXPECT_EQ(astis_client_get(client, "a", &s), ASTIS_IMAGE_NOT_ALLOWED);
  EXPECT_EQ(s, nullptr);
  EXPECT_STREQ(astis_code_name(ASTIS_IMAGE_NOT_ALLOWED), "image_not_allowed");
  // The message names status and code only: no token, key or plaintext.
  const std::string m = Message(client);
  EXPECT_NE(m.find("403"), std::string::npos);
  EXPECT_EQ(m.find("token-one"), std::string::npos);
  EXPECT_EQ(m.find(kTestApiKey), std::string::npos);
  astis_client_free(client);
}

TEST_F(CApiTest, CodeNamesMirrorWireNames) {
  for (int c = ASTIS_BAD_REQUEST; c <= ASTIS_CAPSULE_INVALID; ++c) {
    EXPECT_EQ(std::string_view(astis_code_name(static_cast<astis_code>(c))),
              WireName(static_cast<Code>(c)))
        << c;
  }
  EXPECT_STREQ(astis_code_name(static_cast<astis_code>(999)), "unknown");
}

TEST_F(CApiTest, ClientNewRejectsBadConfig) {
  astis_config* config = nullptr;
  ASSERT_EQ(astis_config_new(&config), ASTIS_OK);
  astis_client* client = reinterpret_cast<astis_client*>(0x1);
  EXPECT_EQ(astis_client_new(config, &client), ASTIS_CONFIG);  // no edge URL
  EXPECT_EQ(client, nullptr);
  EXPECT_EQ(astis_config_set_edge_url(config, "http://edge"), ASTIS_CONFIG);
  EXPECT_EQ(astis_config_set_env_prefix(config, "lower_"), ASTIS_CONFIG);
  EXPECT_EQ(astis_config_set_rotation_seconds(config, -1), ASTIS_CONFIG);
  ASSERT_EQ(astis_config_set_edge_url(config, edge_->url().c_str()), ASTIS_OK);
  ASSERT_EQ(astis_config_set_ca_file(config, (dir_ + "/no-such-ca.pem").c_str()), ASTIS_OK);
  EXPECT_EQ(astis_client_new(config, &client), ASTIS_IO);
  char buf[128];
  EXPECT_GT(astis_config_last_message(config, buf, sizeof buf), 0u);
  astis_config_free(config);
}

// ASTIS_PIN_WAIT_SECONDS is read by astis_config_load_env like the other
// ASTIS_* settings; a value that is not 0..86400 whole seconds is refused
// with the variable's name.
TEST_F(CApiTest, LoadEnvReadsPinWaitSeconds) {
  astis_config* config = nullptr;
  ASSERT_EQ(astis_config_new(&config), ASTIS_OK);
  ASSERT_EQ(setenv("ASTIS_PIN_WAIT_SECONDS", "30s", 1), 0);
  EXPECT_EQ(astis_config_load_env(config), ASTIS_CONFIG);
  char buf[128];
  astis_config_last_message(config, buf, sizeof buf);
  EXPECT_EQ(std::string(buf).rfind("ASTIS_PIN_WAIT_SECONDS: ", 0), 0u) << buf;
  ASSERT_EQ(setenv("ASTIS_PIN_WAIT_SECONDS", "5", 1), 0);
  EXPECT_EQ(astis_config_load_env(config), ASTIS_OK);
  ASSERT_EQ(unsetenv("ASTIS_PIN_WAIT_SECONDS"), 0);
  astis_config_free(config);
}

}  // namespace
}  // namespace astis::sdkcore::testing
