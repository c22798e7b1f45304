// The shared pod-credential helpers must produce what a real pod sends:
// a token whose claims have exactly the shape of the real projected token in
// testdata, that verifies under the signing key; and a request whose DPoP
// proof the edge's verifier accepts for that method, URL, token and body.
#include "edge/testing/pod_credentials.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <set>
#include <string>

#include "common/testing/files.h"
#include "common/testing/must.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "store/sqlite_store.h"

namespace astis::edge::testing {
namespace {

using test::Must;

std::string TestdataDir() {
  const char* env = std::getenv("ASTIS_TESTDATA_DIR");
  return env != nullptr ? env : ASTIS_TESTDATA_DIR;
}

// KeyPaths lists every member path of an object ("a", "a.b", ...).
void KeyPaths(const Json& j, const std::string& prefix, std::set<std::string>& out) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    out.insert(path);
    KeyPaths(it.value(), path, out);
  }
}

TokenSubject Subject() {
  TokenSubject s;
  s.issuer = "https://oidc.example.com";
  s.ns = "billing";
  s.service_account = "ledger";
  s.pod_name = "ledger-5c8d7b9f4-x2k9q";
  s.pod_uid = "3f0a9c1e-7b2d-4e5f-9a8b-6c7d8e9f0a1b";
  s.now = 1'800'000'000;
  return s;
}

TEST(PodCredentialsTest, ClaimsHaveTheRealProjectedTokenShape) {
  Result<Json> doc = ParseJson(test::ReadFile(TestdataDir() + "/kubernetes/k8s-projected-token-claims.json"));
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  std::set<std::string> want, got;
  KeyPaths((*doc)["real_example"], "", want);
  const Json claims = ProjectedTokenClaims(Subject());
  KeyPaths(claims, "", got);
  EXPECT_EQ(got, want);
  EXPECT_EQ(claims["kubernetes.io"]["warnafter"].get<int64_t>() - claims["iat"].get<int64_t>(), 3607);
  EXPECT_EQ(claims["sub"], "system:serviceaccount:billing:ledger");
  EXPECT_EQ(claims["kubernetes.io"]["pod"]["uid"], "3f0a9c1e-7b2d-4e5f-9a8b-6c7d8e9f0a1b");
}

TEST(PodCredentialsTest, TokenVerifiesUnderItsKeyOnly) {
  SigningKey key = Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256));
  SigningKey other = Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256));
  const std::string token = SignToken(ProjectedTokenClaims(Subject()), key, SignatureAlg::kEs256, "ec-1");
  Result<jose::UnverifiedJws> jws = jose::UnverifiedJws::Parse(token);
  ASSERT_TRUE(jws.ok()) << jws.status().ToString();
  EXPECT_EQ(jws->kid().value_or(""), "ec-1");
  EXPECT_TRUE(jose::VerifyJws(*jws, Must(jose::Jwk::FromMembers(key.PublicJwkMembers()))).ok());
  EXPECT_FALSE(jose::VerifyJws(*jws, Must(jose::Jwk::FromMembers(other.PublicJwkMembers()))).ok());
}

TEST(PodCredentialsTest, RequestCarriesAProofTheVerifierAccepts) {
  Random& rng = DefaultRandom();
  Ed25519PrivateKey dpop = Must(Ed25519PrivateKey::Generate(rng));
  const std::string token = "header.payload.signature";
  const std::string body = R"({"capsules":[]})";
  Result<net::HttpRequest> req = PodRequest(PodCredentials{"astis_key_secret", token, &dpop}, "POST",
                                            "https://edge.example.com", "/v1/unwrap", body, 1'800'000'000,
                                            std::string_view("nonce-1"), rng);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->target, "/v1/unwrap");
  EXPECT_EQ(req->body, body);
  auto header = [&](std::string_view name) -> std::string {
    for (const auto& [k, v] : req->headers) {
      if (k == name) return v;
    }
    return "";
  };
  EXPECT_EQ(header("X-Astis-Api-Key"), "astis_key_secret");
  EXPECT_EQ(header("Authorization"), "DPoP " + token);
  EXPECT_EQ(header("Content-Type"), "application/json");
  jose::DpopExpectations expect;
  expect.htm = "POST";
  expect.htu = "https://edge.example.com/v1/unwrap";
  expect.ath = jose::DpopHash(token);
  expect.bh = jose::DpopHash(body);
  expect.now = 1'800'000'000;
  expect.nonce_valid = [](std::string_view n) { return n == "nonce-1"; };
  EXPECT_TRUE(jose::VerifyDpopProof(header("DPoP"), expect).ok());
  // The same proof is refused for another body: bh binds it (docs/protocol.md §5).
  expect.bh = jose::DpopHash(R"({"capsules":[1]})");
  EXPECT_FALSE(jose::VerifyDpopProof(header("DPoP"), expect).ok());
}

TEST(PodCredentialsTest, RegisteredApiKeyIsStoredByHashWithItsScope) {
  std::unique_ptr<store::Store> store = Must(store::OpenSqliteStore(":memory:"));
  Result<GeneratedApiKey> key = RegisterApiKey(*store, ApiKeyScope{"c1", "billing", "ledger", 100, 200}, DefaultRandom());
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  Result<store::ApiKey> rec = store->GetApiKey(key->id);
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  EXPECT_EQ(rec->cluster, "c1");
  EXPECT_EQ(rec->namespace_, "billing");
  EXPECT_EQ(rec->service_account, "ledger");
  EXPECT_EQ(rec->created_at, 100);
  EXPECT_EQ(rec->expires_at, 200);
  EXPECT_EQ(rec->hash, std::vector<uint8_t>(key->hash.begin(), key->hash.end()));
}

}  // namespace
}  // namespace astis::edge::testing
