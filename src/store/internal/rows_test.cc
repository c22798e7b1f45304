// The stored-row decoding both backends share (store/internal/rows.h).
#include "store/internal/rows.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace astis::store::internal {
namespace {

std::string Digest(char c) { return "sha256:" + std::string(64, c); }

TEST(StoreRowsTest, JoinAndDecodeRoundTrip) {
  const std::vector<std::vector<std::string>> cases = {{}, {Digest('a')}, {Digest('a'), Digest('b'), Digest('0')}};
  for (const std::vector<std::string>& digests : cases) {
    auto w = DecodeWorkload("default", "prod", "payments", "api", JoinImageDigests(digests));
    ASSERT_TRUE(w.ok()) << w.status().message();
    EXPECT_EQ(w->cluster, "prod");
    EXPECT_EQ(w->namespace_, "payments");
    EXPECT_EQ(w->service_account, "api");
    EXPECT_EQ(w->image_digests, digests);
  }
}

// A row edited outside the store (a manual UPDATE, a restored backup) must
// not widen the allowlist gate 4 checks: any malformed digest in the stored
// column fails the read, and the error names no stored value.
TEST(StoreRowsTest, DecodeWorkloadRefusesBadStoredDigest) {
  const std::vector<std::string> bad = {
      "sha256:" + std::string(64, 'A'),            // upper-case hex
      "sha256:" + std::string(63, 'a'),            // short
      "sha512:" + std::string(64, 'a'),            // other algorithm
      "nginx:latest",                              // a tag
      Digest('a') + " nginx:latest",               // one good, one bad
      "nginx:latest " + Digest('a'),               // bad first
      Digest('a') + "  " + Digest('b'),            // empty item between two spaces
      " " + Digest('a'),                           // empty first item
      Digest('a') + "\t" + Digest('b'),            // not space-separated
      Digest('a') + "," + Digest('b'),             // not space-separated
  };
  for (const std::string& stored : bad) {
    auto w = DecodeWorkload("default", "prod", "payments", "api", stored);
    ASSERT_FALSE(w.ok()) << stored;
    EXPECT_EQ(w.status().code(), Code::kStoreUnavailable) << stored;
    EXPECT_EQ(w.status().message().find("nginx"), std::string::npos);
    EXPECT_EQ(w.status().message().find("sha"), std::string::npos);
  }
}

}  // namespace
}  // namespace astis::store::internal
