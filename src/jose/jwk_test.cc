#include "jose/jwk.h"

#include <string>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "crypto/random.h"
#include "crypto/sha256.h"
#include "jose/internal/test_util.h"

namespace astis::jose {
namespace {

using testing::LoadVector;

TEST(JwkTest, Rfc7638Thumbprint) {
  Json v = LoadVector("rfc7638-thumbprint.json");
  auto jwk = Jwk::Parse(v["jwk"]);
  ASSERT_TRUE(jwk.ok()) << jwk.status().ToString();
  EXPECT_EQ(jwk->kty(), KeyType::kRsa);
  EXPECT_EQ(jwk->kid(), "2011-04-29");
  EXPECT_EQ(jwk->alg(), "RS256");
  EXPECT_EQ(jwk->Thumbprint(), v["thumbprint_b64url"].get<std::string>());
}

TEST(JwkTest, Rfc8037A1A2A3) {
  Json v = LoadVector("rfc8037-ed25519.json");
  auto priv = Jwk::Parse(v["A.1_private_key_jwk"]);
  ASSERT_TRUE(priv.ok()) << priv.status().ToString();
  EXPECT_TRUE(priv->has_private());
  EXPECT_EQ(priv->RequirePublic().code(), Code::kInvalidArgument);
  auto pub = Jwk::Parse(v["A.2_public_key_jwk"]);
  ASSERT_TRUE(pub.ok());
  EXPECT_FALSE(pub->has_private());
  EXPECT_TRUE(pub->RequirePublic().ok());
  auto ed = pub->ToEd25519Public();
  ASSERT_TRUE(ed.ok());
  EXPECT_EQ(HexEncode(ed->bytes), v["A.1_public_key_hex"].get<std::string>());
  EXPECT_EQ(pub->Thumbprint(), v["A.3_thumbprint"]["thumbprint_b64url"].get<std::string>());
  EXPECT_EQ(priv->Thumbprint(), pub->Thumbprint());
  EXPECT_EQ(DumpJson(pub->ToJson()), v["A.3_thumbprint"]["canonical_json"].get<std::string>());
  EXPECT_FALSE(pub->ToX25519Public().ok());
}

TEST(JwkTest, Rfc9449EcJwkThumbprintIsJkt) {
  Json v = LoadVector("rfc9449-examples.json");
  const Json& proof = v["proofs"][0];
  auto jwk = Jwk::Parse(proof["decoded_header"]["jwk"]);
  ASSERT_TRUE(jwk.ok()) << jwk.status().ToString();
  EXPECT_EQ(jwk->kty(), KeyType::kEc);
  EXPECT_EQ(jwk->crv(), "P-256");
  EXPECT_EQ(jwk->Thumbprint(), proof["jwk_thumbprint_jkt"].get<std::string>());
}

TEST(JwkTest, X25519RoundTripWithPrivate) {
  auto sk = X25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(sk.ok());
  Jwk priv = Jwk::FromX25519Private(*sk, "k1");
  EXPECT_TRUE(priv.has_private());
  EXPECT_EQ(priv.kid(), "k1");
  Json pub_json = priv.ToJson();
  EXPECT_FALSE(pub_json.contains("d"));
  auto reparsed = Jwk::ParseText(DumpJson(priv.ToJson(/*include_private=*/true)));
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().ToString();
  auto sk2 = reparsed->ToX25519Private();
  ASSERT_TRUE(sk2.ok());
  EXPECT_EQ(sk2->public_key(), sk->public_key());
  auto pk = Jwk::FromX25519Public(sk->public_key()).ToX25519Public();
  ASSERT_TRUE(pk.ok());
  EXPECT_EQ(*pk, sk->public_key());
  EXPECT_FALSE(Jwk::FromX25519Public(sk->public_key()).ToX25519Private().ok());
  EXPECT_FALSE(priv.ToVerificationKey().ok());  // X25519 is not a signature key
}

TEST(JwkTest, PublishedOrgKeyKidIsThumbprint) {
  // docs/protocol.md §2: KID = RFC 7638 thumbprint of {"crv","kty","x"}.
  auto sk = X25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(sk.ok());
  Jwk jwk = Jwk::FromX25519Public(sk->public_key());
  std::string canonical = R"({"crv":"X25519","kty":"OKP","x":")" + B64uEncode(sk->public_key().bytes) + R"("})";
  EXPECT_EQ(jwk.Thumbprint(), B64uEncode(Sha256(canonical)));
}

TEST(JwkTest, RejectsPaddedBase64) {
  auto r = Jwk::ParseText(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(Jwk::ParseText(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo"})").ok());
}

TEST(JwkTest, RejectsWrongSizes) {
  EXPECT_FALSE(Jwk::ParseText(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUQ"})").ok());
  EXPECT_FALSE(Jwk::ParseText(R"({"kty":"OKP","crv":"X25519","x":"AAAA"})").ok());
  Json v = LoadVector("rfc7515-examples.json");
  Json ec = v["A.3"]["public_jwk"];
  ec["crv"] = "P-384";
  EXPECT_FALSE(Jwk::Parse(ec).ok());
  Json d_short = v["A.3"]["private_jwk"];
  d_short["d"] = "AAAA";
  EXPECT_FALSE(Jwk::Parse(d_short).ok());
}

TEST(JwkTest, RejectsUnknownKtyAndCrv) {
  EXPECT_FALSE(Jwk::ParseText(R"({"kty":"oct","k":"AAAA"})").ok());
  EXPECT_FALSE(Jwk::ParseText(R"({"kty":"OKP","crv":"Ed448","x":"AAAA"})").ok());
  EXPECT_FALSE(Jwk::ParseText(R"({"kty":"EC","crv":"P-521","x":"AAAA","y":"AAAA"})").ok());
  EXPECT_FALSE(Jwk::ParseText(R"({"crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})").ok());
  EXPECT_FALSE(Jwk::ParseText(R"({"kty":1})").ok());
  EXPECT_FALSE(Jwk::ParseText(R"(["kty"])").ok());
}

TEST(JwkTest, RejectsDuplicateMembers) {
  auto r = Jwk::ParseText(
      R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})");
  EXPECT_FALSE(r.ok());
}

TEST(JwkTest, RejectsNonStringOptionalMembers) {
  EXPECT_FALSE(
      Jwk::ParseText(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":7})").ok());
  EXPECT_FALSE(
      Jwk::ParseText(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":[]})").ok());
}

TEST(JwkTest, RejectsRsaKeyTooSmall) {
  Json v = LoadVector("rfc7515-examples.json");
  Json rsa = v["A.2"]["public_jwk"];
  auto n = B64uDecode(rsa["n"].get<std::string>());
  ASSERT_TRUE(n.ok());
  n->resize(128);
  rsa["n"] = B64uEncode(*n);
  auto r = Jwk::Parse(rsa);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(JwkTest, RejectsEcPointNotOnCurve) {
  Json v = LoadVector("rfc7515-examples.json");
  Json ec = v["A.3"]["public_jwk"];
  ec["y"] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4";
  EXPECT_FALSE(Jwk::Parse(ec).ok());
}

TEST(JwkTest, PrivateMembersMarkPrivate) {
  Json v = LoadVector("rfc7515-examples.json");
  auto rsa = Jwk::Parse(v["A.2"]["private_jwk"]);
  ASSERT_TRUE(rsa.ok());
  EXPECT_TRUE(rsa->has_private());
  EXPECT_FALSE(rsa->ToJson(true).contains("d"));  // RSA private members are never re-exported
  Json with_k = v["A.2"]["public_jwk"];
  with_k["k"] = "AAAA";
  auto k = Jwk::Parse(with_k);
  ASSERT_TRUE(k.ok());
  EXPECT_FALSE(k->RequirePublic().ok());
}

const char* kSet = R"({"keys":[
  {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed"},
  {"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"ec","alg":"ES256","use":"sig"}
]})";

TEST(JwkSetTest, ParsesAndFindsByKid) {
  auto set = JwkSet::Parse(kSet);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->keys().size(), 2u);
  const Jwk* ec = set->Find("ec");
  ASSERT_NE(ec, nullptr);
  EXPECT_EQ(ec->kty(), KeyType::kEc);
  EXPECT_EQ(ec->use(), "sig");
  EXPECT_EQ(set->Find("nope"), nullptr);
  EXPECT_EQ(set->Find(""), nullptr);
}

TEST(JwkSetTest, RejectsDuplicateKid) {
  std::string dup = kSet;
  dup.replace(dup.find(R"("kid":"ec")"), 10, R"("kid":"ed")");
  EXPECT_FALSE(JwkSet::Parse(dup).ok());
}

TEST(JwkSetTest, RejectsPrivateKeyInSet) {
  EXPECT_FALSE(JwkSet::Parse(
                   R"({"keys":[{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})")
                   .ok());
}

TEST(JwkSetTest, RejectsMalformedSets) {
  EXPECT_FALSE(JwkSet::Parse(R"({})").ok());
  EXPECT_FALSE(JwkSet::Parse(R"({"keys":{}})").ok());
  EXPECT_FALSE(JwkSet::Parse(R"({"keys":[{"kty":"oct","k":"AAAA"}]})").ok());
  EXPECT_FALSE(JwkSet::Parse(R"({"keys":[],"keys":[]})").ok());
  EXPECT_FALSE(JwkSet::Parse("not json").ok());
}

}  // namespace
}  // namespace astis::jose
