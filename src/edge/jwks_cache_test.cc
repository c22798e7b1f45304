#include "edge/jwks_cache.h"

#include <string>

#include <gtest/gtest.h>

namespace astis::edge {
namespace {

// JwksText is a one-key Ed25519 JWKS (RFC 8037 Appendix A.2 public key)
// whose kid makes the text, hence the cache key, distinct.
std::string JwksText(const std::string& kid) {
  return R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":")" + kid +
         R"("}]})";
}

TEST(JwksCacheTest, SameTextIsOneEntry) {
  JwksCache cache;
  auto a = cache.Get(JwksText("k1"));
  auto b = cache.Get(JwksText("k1"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_NE((*a)->Find("k1"), nullptr);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(JwksCacheTest, ChangedTextIsANewEntry) {
  JwksCache cache;
  auto a = cache.Get(JwksText("k1"));
  auto b = cache.Get(JwksText("k2"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->get(), b->get());
  EXPECT_EQ((*b)->Find("k1"), nullptr);
  EXPECT_NE((*b)->Find("k2"), nullptr);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(JwksCacheTest, UnparsableIsAnErrorAndNotCached) {
  JwksCache cache;
  EXPECT_FALSE(cache.Get(R"({"keys":[{"kty":"none"}]})").ok());
  EXPECT_FALSE(cache.Get("not json").ok());
  EXPECT_EQ(cache.size(), 0u);
}

TEST(JwksCacheTest, Bounded) {
  JwksCache cache(3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache.Get(JwksText("k" + std::to_string(i))).ok());
  EXPECT_EQ(cache.size(), 3u);
  // At the bound the cache is emptied and refilled on demand.
  auto d = cache.Get(JwksText("k3"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.Get(JwksText("k0")).ok());
  EXPECT_EQ(cache.size(), 2u);
}

TEST(JwksCacheTest, DefaultBoundIs4096) { EXPECT_EQ(JwksCache::kDefaultMaxEntries, 4096u); }

}  // namespace
}  // namespace astis::edge
