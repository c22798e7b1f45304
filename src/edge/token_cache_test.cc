#include "edge/token_cache.h"

#include <atomic>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/json.h"
#include "common/testing/must.h"
#include "crypto/public_key.h"
#include "edge/testing/pod_credentials.h"
#include "jose/jwk.h"

namespace astis::edge {
namespace {

using test::Must;

constexpr int64_t kNow = 1'760'000'000;
constexpr int64_t kSkew = 60;
constexpr char kIssuer[] = "https://issuer.c1.example.com";
constexpr int64_t kLife = 3610;  // testing::ProjectedTokenClaims: exp = iat + 3610

std::shared_ptr<const jose::JwkSet> JwksOf(const SigningKey& key, const std::string& kid) {
  Json jwk = key.PublicJwkMembers();
  jwk["kid"] = kid;
  return std::make_shared<const jose::JwkSet>(Must(jose::JwkSet::ParseJson(Json{{"keys", Json::array({jwk})}})));
}

// Anchors is the store's answer to the trust lookup; tests change it between
// uses and count how often it is asked.
struct Anchors {
  std::vector<ClusterTrust> clusters;
  Status failure;  // non-ok: the lookup fails with it
  std::atomic<int> calls{0};
  TrustLookup Lookup() {
    return [this](std::string_view issuer) -> Result<std::vector<ClusterTrust>> {
      ++calls;
      if (!failure.ok()) return failure;
      std::vector<ClusterTrust> out;
      for (const ClusterTrust& c : clusters) {
        if (c.issuer == issuer) out.push_back(c);
      }
      return out;
    };
  }
};

class VerifiedTokenCacheTest : public ::testing::Test {
 protected:
  VerifiedTokenCacheTest()
      : key(Must(SigningKey::GenerateEc())), other(Must(SigningKey::GenerateEc())), jwks(JwksOf(key, "k1")) {
    anchors.clusters.push_back(ClusterTrust{"c1", kIssuer, "astis", jwks});
  }

  std::string Token(const std::string& pod_uid = "uid-1", int64_t iat = kNow, bool with_nbf = true) {
    testing::TokenSubject subject{kIssuer, "payments", "api", "api-7d9f", pod_uid, iat + 10};
    Json claims = testing::ProjectedTokenClaims(subject);
    if (!with_nbf) claims.erase("nbf");
    return testing::SignToken(claims, key, SignatureAlg::kEs256, "k1");
  }

  Result<VerifiedIdentity> Verify(VerifiedTokenCache& cache, const std::string& token, int64_t now = kNow,
                                  std::string_view org = "default") {
    return cache.Verify(org, token, anchors.Lookup(), now, kSkew);
  }

  SigningKey key;
  SigningKey other;
  std::shared_ptr<const jose::JwkSet> jwks;
  Anchors anchors;
};

TEST_F(VerifiedTokenCacheTest, SecondUseIsAnsweredFromTheKeptVerification) {
  VerifiedTokenCache cache;
  const std::string token = Token();
  auto first = Verify(cache, token);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = Verify(cache, token, kNow + 5);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->pod_uid(), "uid-1");
  EXPECT_EQ(second->cluster(), "c1");
  EXPECT_EQ(second->namespace_(), "payments");
  EXPECT_EQ(second->service_account(), "api");
  EXPECT_EQ(second->token_exp(), first->token_exp());
  EXPECT_EQ(cache.stats().misses, 1u);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.size(), 1u);
  // The anchor was read from the store on both uses.
  EXPECT_EQ(anchors.calls.load(), 2);
}

TEST_F(VerifiedTokenCacheTest, ExpiresWhileKept) {
  VerifiedTokenCache cache;
  const std::string token = Token();
  ASSERT_TRUE(Verify(cache, token).ok());
  ASSERT_TRUE(Verify(cache, token, kNow + kLife + kSkew - 1).ok());
  auto late = Verify(cache, token, kNow + kLife + kSkew);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), Code::kTokenInvalid);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
  EXPECT_EQ(cache.stats().hits, 2u);  // the refusal too was decided from the kept verification
  EXPECT_EQ(cache.stats().misses, 1u);
}

// A signed exp of INT64_MAX is far in the future, not an overflow (UBSan
// would abort the ASan build here if exp + skew were computed).
TEST_F(VerifiedTokenCacheTest, FarFutureExpDoesNotOverflow) {
  VerifiedTokenCache cache;
  testing::TokenSubject subject{kIssuer, "payments", "api", "api-7d9f", "uid-1", kNow + 10};
  Json claims = testing::ProjectedTokenClaims(subject);
  claims["exp"] = std::numeric_limits<int64_t>::max();
  const std::string token = testing::SignToken(claims, key, SignatureAlg::kEs256, "k1");
  EXPECT_TRUE(Verify(cache, token).ok());
  EXPECT_TRUE(Verify(cache, token).ok());
  EXPECT_EQ(cache.stats().hits, 1u);
}

TEST_F(VerifiedTokenCacheTest, ClockBackBeforeIat) {
  VerifiedTokenCache cache;
  const std::string token = Token("uid-1", kNow, /*with_nbf=*/false);
  ASSERT_TRUE(Verify(cache, token).ok());
  // The host clock stepped back: the kept token's iat is now in the future,
  // as a full verification would find.
  auto back = Verify(cache, token, kNow - 10 * kSkew);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), Code::kTokenInvalid);
  EXPECT_NE(back.status().message().find("iat"), std::string::npos);
}

TEST_F(VerifiedTokenCacheTest, ReRegisteredJwksVerifiesAgain) {
  VerifiedTokenCache cache;
  const std::string token = Token();
  ASSERT_TRUE(Verify(cache, token).ok());
  // The cluster's JWKS is replaced by one without the signing key.
  anchors.clusters[0].jwks = JwksOf(other, "k1");
  auto after = Verify(cache, token);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), Code::kTokenInvalid);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.stats().hits, 0u);
}

TEST_F(VerifiedTokenCacheTest, EqualJwksTextParsedAgainIsAnotherAnchor) {
  VerifiedTokenCache cache;
  const std::string token = Token();
  ASSERT_TRUE(Verify(cache, token).ok());
  anchors.clusters[0].jwks = JwksOf(key, "k1");  // same keys, another object
  ASSERT_TRUE(Verify(cache, token).ok());
  EXPECT_EQ(cache.stats().misses, 2u);
  EXPECT_EQ(cache.stats().hits, 0u);
}

TEST_F(VerifiedTokenCacheTest, RemovedClusterRefuses) {
  VerifiedTokenCache cache;
  const std::string token = Token();
  ASSERT_TRUE(Verify(cache, token).ok());
  anchors.clusters.clear();
  auto after = Verify(cache, token);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), Code::kTokenInvalid);
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(VerifiedTokenCacheTest, SecondClusterWithTheIssuerRefuses) {
  VerifiedTokenCache cache;
  const std::string token = Token();
  ASSERT_TRUE(Verify(cache, token).ok());
  anchors.clusters.push_back(ClusterTrust{"c2", kIssuer, "astis", jwks});
  auto after = Verify(cache, token);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), Code::kTokenInvalid);
  EXPECT_NE(after.status().message().find("more than one cluster"), std::string::npos);
}

TEST_F(VerifiedTokenCacheTest, ChangedAudienceRefuses) {
  VerifiedTokenCache cache;
  const std::string token = Token();
  ASSERT_TRUE(Verify(cache, token).ok());
  anchors.clusters[0].audience = "vault";
  auto after = Verify(cache, token);
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.status().message().find("audience"), std::string::npos);
}

TEST_F(VerifiedTokenCacheTest, StoreFailureOnAKeptTokenFailsClosed) {
  VerifiedTokenCache cache;
  const std::string token = Token();
  ASSERT_TRUE(Verify(cache, token).ok());
  anchors.failure = Error(Code::kStoreUnavailable, "store down");
  auto after = Verify(cache, token);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), Code::kStoreUnavailable);
  anchors.failure = OkStatus();
  EXPECT_TRUE(Verify(cache, token).ok());  // recovers by itself
}

TEST_F(VerifiedTokenCacheTest, OrganisationsDoNotShareEntries) {
  VerifiedTokenCache cache;
  const std::string token = Token();
  ASSERT_TRUE(Verify(cache, token, kNow, "acme").ok());
  ASSERT_TRUE(Verify(cache, token, kNow, "globex").ok());
  EXPECT_EQ(cache.stats().misses, 2u);
  EXPECT_EQ(cache.size(), 2u);
}

TEST_F(VerifiedTokenCacheTest, RefusalsAreNotKept) {
  VerifiedTokenCache cache;
  std::string token = Token();
  token[token.size() - 5] = token[token.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(Verify(cache, token).ok());
  EXPECT_FALSE(Verify(cache, token).ok());
  EXPECT_EQ(cache.stats().misses, 2u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(VerifiedTokenCacheTest, TamperedCopyOfAKeptTokenIsVerifiedInFull) {
  VerifiedTokenCache cache;
  const std::string token = Token();
  ASSERT_TRUE(Verify(cache, token).ok());
  std::string tampered = token;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  auto r = Verify(cache, tampered);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kTokenInvalid);
}

TEST_F(VerifiedTokenCacheTest, Bounded) {
  VerifiedTokenCache cache(2);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Verify(cache, Token("uid-" + std::to_string(i))).ok());
    EXPECT_LE(cache.size(), 2u);
  }
}

TEST_F(VerifiedTokenCacheTest, BoundDropsExpiredEntriesFirst) {
  VerifiedTokenCache cache(2);
  ASSERT_TRUE(Verify(cache, Token("old", kNow - 3000)).ok());  // exp = kNow + 610
  const std::string live = Token("live");
  ASSERT_TRUE(Verify(cache, live).ok());
  // Later, "old" has expired: a third token evicts it, not "live".
  const int64_t later = kNow - 3000 + kLife + kSkew;
  ASSERT_TRUE(Verify(cache, Token("new", later), later).ok());
  EXPECT_EQ(cache.size(), 2u);
  ASSERT_TRUE(Verify(cache, live, later).ok());
  EXPECT_EQ(cache.stats().hits, 1u);
}

// Run under TSan by scripts/test.sh: threads verifying, evicting (bound 2)
// and refilling the same entries agree with a full verification.
TEST_F(VerifiedTokenCacheTest, ConcurrentUsesAgree) {
  VerifiedTokenCache cache(2);
  const std::vector<std::string> tokens{Token("uid-a"), Token("uid-b"), Token("uid-c")};
  const TrustLookup lookup = anchors.Lookup();  // only read below: no anchor changes
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        const size_t k = static_cast<size_t>(i + t) % tokens.size();
        auto id = cache.Verify("default", tokens[k], lookup, kNow, kSkew);
        if (!id.ok() || id->pod_uid() != std::string("uid-") + static_cast<char>('a' + k)) ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int w : wrong) EXPECT_EQ(w, 0);
  EXPECT_LE(cache.size(), 2u);
  EXPECT_EQ(cache.stats().hits + cache.stats().misses, 600u);
}

TEST_F(VerifiedTokenCacheTest, ZeroEntriesVerifiesEveryUse) {
  VerifiedTokenCache cache(0);
  const std::string token = Token();
  ASSERT_TRUE(Verify(cache, token).ok());
  ASSERT_TRUE(Verify(cache, token).ok());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.stats().hits, 0u);
  EXPECT_EQ(cache.stats().misses, 2u);
}

}  // namespace
}  // namespace astis::edge
