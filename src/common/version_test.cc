#include "common/version.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace astis {
namespace {

TEST(VersionTest, SemanticVersionIsTheProjectVersion) {
  // ASTIS_PROJECT_VERSION is CMake's PROJECT_VERSION, passed to this test only.
  EXPECT_EQ(GetBuildVersion().version, ASTIS_PROJECT_VERSION);
  EXPECT_TRUE(std::regex_match(std::string(GetBuildVersion().version), std::regex(R"(\d+\.\d+\.\d+)")));
}

TEST(VersionTest, CommitIsHexOrUnknown) {
  std::string commit(GetBuildVersion().commit);
  EXPECT_TRUE(commit == "unknown" || std::regex_match(commit, std::regex("[0-9a-f]{12}"))) << commit;
  if (commit == "unknown") {
    EXPECT_FALSE(GetBuildVersion().dirty);
  }
}

TEST(VersionTest, BuildTypeIsSet) { EXPECT_FALSE(GetBuildVersion().build_type.empty()); }

TEST(VersionTest, LibraryVersionsAreTheRunTimeOnes) {
  EXPECT_EQ(OpenSslVersion().substr(0, 8), "OpenSSL ");
  EXPECT_TRUE(std::regex_match(std::string(SodiumVersion()), std::regex(R"(\d+\.\d+\.\d+)"))) << SodiumVersion();
}

TEST(VersionTest, TextShape) {
  std::string text = VersionText("astis");
  EXPECT_TRUE(std::regex_match(text, std::regex("astis \\d+\\.\\d+\\.\\d+\n"
                                                "commit ([0-9a-f]{12}( \\(dirty\\))?|unknown)\n"
                                                "build type [A-Za-z]+\n"
                                                "OpenSSL [^\n]+\n"
                                                "libsodium \\d+\\.\\d+\\.\\d+\n")))
      << text;
  EXPECT_EQ(VersionText("astis-run").rfind("astis-run ", 0), 0u);
}

}  // namespace
}  // namespace astis
