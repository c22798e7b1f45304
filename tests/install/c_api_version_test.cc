// astis_version() of the C ABI (include/astis/astis.h), through libastis.so
// as applications link it.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "astis/astis.h"
#include "astis/client.hpp"

namespace {

TEST(CApiVersionTest, VersionIsStaticText) {
  const char* v = astis_version();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v, astis_version());  // the same static string every call
  std::string text(v);
  EXPECT_TRUE(std::regex_match(text, std::regex("libastis " ASTIS_PROJECT_VERSION "\n"
                                                "commit ([0-9a-f]{12}( \\(dirty\\))?|unknown)\n"
                                                "build type [A-Za-z]+\n"
                                                "OpenSSL [^\n]+\n"
                                                "libsodium \\d+\\.\\d+\\.\\d+\n")))
      << text;
  EXPECT_EQ(astis::sdk::Version(), text);
}

}  // namespace
