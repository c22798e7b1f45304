#include "edge/gates.h"

#include <string>

#include <gtest/gtest.h>

#include "crypto/random.h"

namespace astis::edge {
namespace {

TEST(Gate1, GeneratedKeyParsesAndHashes) {
  auto key = GenerateApiKey(DefaultRandom());
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->id.size(), 16u);
  auto parsed = PresentedApiKey::Parse(key->header_value.RevealString());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->id(), key->id);
  EXPECT_EQ(parsed->hash(), key->hash);
}

TEST(Gate1, GeneratedKeysDiffer) {
  auto a = GenerateApiKey(DefaultRandom());
  auto b = GenerateApiKey(DefaultRandom());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id, b->id);
  EXPECT_NE(a->hash, b->hash);
}

TEST(Gate1, ApiKeyMalformed) {
  const std::string secret(43, 'A');
  for (const std::string& bad : {
           std::string("astis_abcdefgh"),                      // no secret
           "Astis_abcdefgh_" + secret,                         // prefix case
           "astis_abc_" + secret,                              // id too short
           "astis_ABCDEFGH_" + secret,                         // id alphabet
           "astis_abcdefgh_" + std::string(31, 'A'),           // secret too short
           "astis_abcdefgh_" + std::string(129, 'A'),          // secret too long
           "astis_abcdefgh_" + secret + "=",                   // padding
           "astis_abcdefgh_" + secret.substr(0, 40) + "+/A",   // not url-safe
           "astis_abcdefgh_" + std::string(41, 'A'),           // 1 mod 4 length
           " astis_abcdefgh_" + secret,                        // whitespace
       }) {
    auto p = PresentedApiKey::Parse(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), Code::kApiKeyInvalid);
    EXPECT_EQ(p.status().message().find(secret.substr(0, 10)), std::string::npos);
  }
}

TEST(Gate1, SecretMayContainUnderscore) {
  auto p = PresentedApiKey::Parse("astis_abcdefgh_" + std::string(20, 'A') + "_" + std::string(23, 'B'));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->id(), "abcdefgh");
}

TEST(Gate2, AuthorizationSchemeIsCaseInsensitive) {
  for (const char* h : {"DPoP a.b.c", "dpop a.b.c", "DPOP a.b.c"}) {
    auto t = ParseDpopAuthorization(h);
    ASSERT_TRUE(t.ok()) << h;
    EXPECT_EQ(*t, "a.b.c");
  }
}

TEST(Gate2, TokenWrongScheme) {
  for (const char* h : {"Bearer a.b.c", "DPoP", "DPoP ", "DPoPa.b.c", "DPoP  a.b.c", "DPoP a.b.c ", "DPoP a b"}) {
    auto t = ParseDpopAuthorization(h);
    ASSERT_FALSE(t.ok()) << h;
    EXPECT_EQ(t.status().code(), Code::kTokenInvalid);
  }
}

}  // namespace
}  // namespace astis::edge
