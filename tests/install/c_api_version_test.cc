// astis_version() of the C ABI (include/astis/astis.h), through libastis.so
// as applications link it.
#include <gtest/gtest.h>

#include <string>

#include "astis/astis.h"
#include "astis/client.hpp"

namespace {

TEST(CApiVersionTest, VersionIsStaticText) {
  const char* v = astis_version();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v, astis_version());  // the same static string every call
  std::string text(v);
  // Five lines (the order and forms are VersionTest.TextShape's).
  EXPECT_EQ(text.rfind("libastis " ASTIS_PROJECT_VERSION "\ncommit ", 0), 0u) << text;
  EXPECT_NE(text.find("\nbuild type "), std::string::npos) << text;
  EXPECT_NE(text.find("\nOpenSSL "), std::string::npos) << text;
  EXPECT_NE(text.find("\nlibsodium "), std::string::npos) << text;
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, 5u);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(astis::sdk::Version(), text);
}

}  // namespace
