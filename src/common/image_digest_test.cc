#include "common/image_digest.h"

#include <gtest/gtest.h>

#include <string>

namespace astis {
namespace {

TEST(ImageDigestTest, AcceptsSha256LowerHex) {
  EXPECT_TRUE(IsValidImageDigest("sha256:" + std::string(64, '0')));
  EXPECT_TRUE(IsValidImageDigest("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
}

TEST(ImageDigestTest, RefusesEverythingElse) {
  const std::string bad[] = {
      "sha256:" + std::string(63, 'a'),        // short
      "sha256:" + std::string(65, 'a'),        // long
      "sha256:" + std::string(64, 'A'),        // upper-case hex
      "sha256:" + std::string(63, 'a') + "g",  // non-hex
      "SHA256:" + std::string(64, 'a'),        // upper-case algorithm
      "sha512:" + std::string(64, 'a'),        // other algorithm
      std::string(64, 'a'),                    // no prefix
      " sha256:" + std::string(64, 'a'),       // leading space
      "sha256:" + std::string(64, 'a') + "\n",  // trailing newline
      "sha256:" + std::string(32, 'a') + std::string(1, '\0') + std::string(31, 'a'),  // NUL
      "containerd://" + std::string(64, 'a'),  // a container ID
      "nginx:latest",                          // a tag
      "",                                      // empty
  };
  for (const std::string& d : bad) EXPECT_FALSE(IsValidImageDigest(d)) << d;
}

}  // namespace
}  // namespace astis
