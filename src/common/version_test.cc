#include "common/version.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace astis {
namespace {

// (No std::regex: GCC 12 -O1 under ASan reports a false maybe-uninitialized
// inside <regex>.)
bool IsSemver(std::string_view s) {
  int dots = 0;
  bool digit = false;
  for (char c : s) {
    if (c == '.') {
      if (!digit) return false;
      ++dots;
      digit = false;
    } else if (c >= '0' && c <= '9') {
      digit = true;
    } else {
      return false;
    }
  }
  return dots == 2 && digit;
}

bool IsCommit(std::string_view s) {
  if (s == "unknown") return true;
  if (s.size() != 12) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text.substr(start, nl - start));
  if (start != text.size()) lines.push_back(text.substr(start) + "<no newline>");
  return lines;
}

TEST(VersionTest, SemanticVersionIsTheProjectVersion) {
  // ASTIS_PROJECT_VERSION is CMake's PROJECT_VERSION, passed to this test only.
  EXPECT_EQ(GetBuildVersion().version, ASTIS_PROJECT_VERSION);
  EXPECT_TRUE(IsSemver(GetBuildVersion().version)) << GetBuildVersion().version;
}

TEST(VersionTest, CommitIsHexOrUnknown) {
  EXPECT_TRUE(IsCommit(GetBuildVersion().commit)) << GetBuildVersion().commit;
  if (GetBuildVersion().commit == "unknown") {
    EXPECT_FALSE(GetBuildVersion().dirty);
  }
}

TEST(VersionTest, BuildTypeIsSet) { EXPECT_FALSE(GetBuildVersion().build_type.empty()); }

TEST(VersionTest, LibraryVersionsAreTheRunTimeOnes) {
  EXPECT_EQ(OpenSslVersion().substr(0, 8), "OpenSSL ");
  EXPECT_TRUE(IsSemver(SodiumVersion())) << SodiumVersion();
}

TEST(VersionTest, TextShape) {
  const BuildVersion& v = GetBuildVersion();
  std::string text = VersionText("astis");
  std::vector<std::string> lines = Lines(text);
  ASSERT_EQ(lines.size(), 5u) << text;
  EXPECT_EQ(lines[0], "astis " + std::string(v.version));
  EXPECT_EQ(lines[1], "commit " + std::string(v.commit) + (v.dirty ? " (dirty)" : ""));
  EXPECT_EQ(lines[2], "build type " + std::string(v.build_type));
  EXPECT_EQ(lines[3], OpenSslVersion());
  EXPECT_EQ(lines[4], "libsodium " + std::string(SodiumVersion()));
  EXPECT_EQ(VersionText("astis-run").rfind("astis-run ", 0), 0u);
}

}  // namespace
}  // namespace astis
