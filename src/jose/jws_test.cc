#include "jose/jws.h"

#include <string>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "crypto/sha256.h"
#include "jose/internal/test_util.h"

namespace astis::jose {
namespace {

using testing::LoadVector;

// Ed25519 key of RFC 8037 A.1.
Ed25519PrivateKey Rfc8037Key() {
  auto seed = HexDecode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  EXPECT_TRUE(seed.ok());
  auto k = Ed25519PrivateKey::FromSeed(*seed);
  EXPECT_TRUE(k.ok());
  return std::move(k).value();
}

Jwk Rfc8037PublicJwk() { return Jwk::FromEd25519Public(Rfc8037Key().public_key()); }

// SignRawHeader signs an exact header text (so tests can send duplicate keys
// or other bytes a Json object cannot hold).
std::string SignRawHeader(std::string_view header_text, std::string_view payload) {
  std::string input = B64uEncode(header_text) + "." + B64uEncode(payload);
  return input + "." + B64uEncode(Rfc8037Key().Sign(AsBytes(input)));
}

class JwsTest : public ::testing::Test {
 protected:
  Json v7515_ = LoadVector("rfc7515-examples.json");
  Json v8037_ = LoadVector("rfc8037-ed25519.json");
};

TEST_F(JwsTest, Rfc7515A2Rs256Verifies) {
  auto jws = UnverifiedJws::Parse(v7515_["A.2"]["jws_compact"].get<std::string>());
  ASSERT_TRUE(jws.ok()) << jws.status().ToString();
  EXPECT_EQ(jws->alg(), "RS256");
  auto key = Jwk::Parse(v7515_["A.2"]["public_jwk"]);
  ASSERT_TRUE(key.ok());
  auto verified = VerifyJws(*jws, *key);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->payload(), v7515_["payload_json_with_crlf"].get<std::string>());
  EXPECT_EQ(verified->alg(), SignatureAlg::kRs256);
}

TEST_F(JwsTest, Rfc7515A2SigningReproducesCompact) {
  const Json& k = v7515_["A.2"]["private_jwk"];
  auto b = [&](const char* m) { return *B64uDecode(k[m].get<std::string>()); };
  auto n = b("n"), e = b("e"), d = b("d"), p = b("p"), q = b("q"), dp = b("dp"), dq = b("dq"), qi = b("qi");
  auto sk = SigningKey::FromRsaComponents({n, e, d, p, q, dp, dq, qi});
  ASSERT_TRUE(sk.ok());
  std::string compact = SignCompactJws(Json::object(), v7515_["payload_json_with_crlf"].get<std::string>(), *sk,
                                       SignatureAlg::kRs256);
  EXPECT_EQ(compact, v7515_["A.2"]["jws_compact"].get<std::string>());
}

TEST_F(JwsTest, Rfc7515A3Es256Verifies) {
  auto jws = UnverifiedJws::Parse(v7515_["A.3"]["jws_compact"].get<std::string>());
  ASSERT_TRUE(jws.ok());
  auto key = Jwk::Parse(v7515_["A.3"]["public_jwk"]);
  ASSERT_TRUE(key.ok());
  auto verified = VerifyJws(*jws, *key);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->alg(), SignatureAlg::kEs256);
}

TEST_F(JwsTest, Rfc8037A4SigningReproducesSignature) {
  const Json& a4 = v8037_["A.4_signing"];
  std::string compact = SignCompactJws(Json::object(), a4["payload_text"].get<std::string>(), Rfc8037Key());
  EXPECT_EQ(compact, a4["jws_compact"].get<std::string>());
}

TEST_F(JwsTest, Rfc8037A5Verifies) {
  const Json& a5 = v8037_["A.5_validation"];
  auto jws = UnverifiedJws::Parse(a5["jws_compact"].get<std::string>());
  ASSERT_TRUE(jws.ok());
  auto key = Jwk::Parse(a5["public_key_jwk"]);
  ASSERT_TRUE(key.ok());
  auto verified = VerifyJws(*jws, *key);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->payload(), v8037_["A.4_signing"]["payload_text"].get<std::string>());
}

TEST_F(JwsTest, AcceptsEd25519AlgName) {
  std::string compact = SignCompactJws(Json{{"alg", "Ed25519"}}, "p", Rfc8037Key());
  auto jws = UnverifiedJws::Parse(compact);
  ASSERT_TRUE(jws.ok());
  EXPECT_EQ(jws->alg(), "Ed25519");
  EXPECT_TRUE(VerifyJws(*jws, Rfc8037PublicJwk()).ok());
}

TEST_F(JwsTest, RejectsAlgNone) {
  // A `none` token with a non-empty signature part, so the refusal is the alg.
  std::string compact = B64uEncode(R"({"alg":"none"})") + "." + B64uEncode("p") + ".AAAA";
  auto jws = UnverifiedJws::Parse(compact);
  ASSERT_TRUE(jws.ok());
  auto r = VerifyJws(*jws, Rfc8037PublicJwk());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  // The classic form with an empty signature is refused at parse time.
  EXPECT_FALSE(UnverifiedJws::Parse(B64uEncode(R"({"alg":"none"})") + "." + B64uEncode("p") + ".").ok());
}

TEST_F(JwsTest, RejectsHs256WithPublicKey) {
  // The key-confusion attack: HMAC keyed with the public key's bytes.
  const Json& pub = v7515_["A.2"]["public_jwk"];
  std::string secret = DumpJson(pub);
  std::string input = B64uEncode(R"({"alg":"HS256"})") + "." + B64uEncode("p");
  Sha256Digest mac = HmacSha256(AsBytes(secret), AsBytes(input));
  auto jws = UnverifiedJws::Parse(input + "." + B64uEncode(mac));
  ASSERT_TRUE(jws.ok());
  auto key = Jwk::Parse(pub);
  ASSERT_TRUE(key.ok());
  auto r = VerifyJws(*jws, *key);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST_F(JwsTest, RejectsAlgNotMatchingPinnedKey) {
  auto jws = UnverifiedJws::Parse(v7515_["A.2"]["jws_compact"].get<std::string>());
  ASSERT_TRUE(jws.ok());
  Json pinned = v7515_["A.2"]["public_jwk"];
  pinned["alg"] = "PS256";
  auto key = Jwk::Parse(pinned);
  ASSERT_TRUE(key.ok());
  EXPECT_FALSE(VerifyJws(*jws, *key).ok());
  // Without a key alg, the header alg must fit the key type: ES256 over RSA is refused.
  auto es = UnverifiedJws::Parse(v7515_["A.3"]["jws_compact"].get<std::string>());
  ASSERT_TRUE(es.ok());
  auto rsa = Jwk::Parse(v7515_["A.2"]["public_jwk"]);
  ASSERT_TRUE(rsa.ok());
  EXPECT_FALSE(VerifyJws(*es, *rsa).ok());
  // And EdDSA over an EC key.
  auto ed = UnverifiedJws::Parse(v8037_["A.4_signing"]["jws_compact"].get<std::string>());
  ASSERT_TRUE(ed.ok());
  auto ec = Jwk::Parse(v7515_["A.3"]["public_jwk"]);
  ASSERT_TRUE(ec.ok());
  EXPECT_FALSE(VerifyJws(*ed, *ec).ok());
}

TEST_F(JwsTest, RejectsUnknownAlg) {
  auto jws = UnverifiedJws::Parse(SignRawHeader(R"({"alg":"ES512"})", "p"));
  ASSERT_TRUE(jws.ok());
  EXPECT_FALSE(VerifyJws(*jws, Rfc8037PublicJwk()).ok());
}

TEST_F(JwsTest, RejectsKidMismatch) {
  Json pinned = v8037_["A.2_public_key_jwk"];
  pinned["kid"] = "a";
  auto key = Jwk::Parse(pinned);
  ASSERT_TRUE(key.ok());
  auto jws = UnverifiedJws::Parse(SignCompactJws(Json{{"kid", "b"}}, "p", Rfc8037Key()));
  ASSERT_TRUE(jws.ok());
  EXPECT_FALSE(VerifyJws(*jws, *key).ok());
}

TEST_F(JwsTest, VerifyWithJwkSetPicksKeyByKid) {
  Json a = v7515_["A.3"]["public_jwk"];
  a["kid"] = "ec";
  Json b = v8037_["A.2_public_key_jwk"];
  b["kid"] = "ed";
  auto set = JwkSet::ParseJson(Json{{"keys", Json::array({a, b})}});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto jws = UnverifiedJws::Parse(SignCompactJws(Json{{"kid", "ed"}}, "hello", Rfc8037Key()));
  ASSERT_TRUE(jws.ok());
  auto verified = VerifyJwsWithJwkSet(*jws, *set);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->payload(), "hello");
  EXPECT_EQ(verified->header()["kid"], "ed");
  // The wrong key for the kid: the EC key cannot verify an EdDSA signature.
  auto wrong = UnverifiedJws::Parse(SignCompactJws(Json{{"kid", "ec"}}, "hello", Rfc8037Key()));
  ASSERT_TRUE(wrong.ok());
  EXPECT_FALSE(VerifyJwsWithJwkSet(*wrong, *set).ok());
}

TEST_F(JwsTest, RejectsUnknownKid) {
  Json b = v8037_["A.2_public_key_jwk"];
  b["kid"] = "ed";
  auto set = JwkSet::ParseJson(Json{{"keys", Json::array({b})}});
  ASSERT_TRUE(set.ok());
  auto unknown = UnverifiedJws::Parse(SignCompactJws(Json{{"kid", "other"}}, "p", Rfc8037Key()));
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(VerifyJwsWithJwkSet(*unknown, *set).ok());
  auto missing = UnverifiedJws::Parse(SignCompactJws(Json::object(), "p", Rfc8037Key()));
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(VerifyJwsWithJwkSet(*missing, *set).ok());
}

TEST_F(JwsTest, RejectsPaddedBase64) {
  std::string good = v8037_["A.4_signing"]["jws_compact"].get<std::string>();
  ASSERT_TRUE(UnverifiedJws::Parse(good).ok());
  EXPECT_FALSE(UnverifiedJws::Parse(good + "==").ok());
  std::string padded_header = good;
  padded_header.insert(good.find('.'), "=");
  EXPECT_FALSE(UnverifiedJws::Parse(padded_header).ok());
  std::string with_space = good;
  with_space.insert(5, " ");
  EXPECT_FALSE(UnverifiedJws::Parse(with_space).ok());
}

TEST_F(JwsTest, RejectsTwoParts) {
  EXPECT_FALSE(UnverifiedJws::Parse(B64uEncode(R"({"alg":"EdDSA"})") + "." + B64uEncode("p")).ok());
  EXPECT_FALSE(UnverifiedJws::Parse("").ok());
}

TEST_F(JwsTest, RejectsFourParts) {
  std::string good = v8037_["A.4_signing"]["jws_compact"].get<std::string>();
  EXPECT_FALSE(UnverifiedJws::Parse(good + ".AAAA").ok());
  EXPECT_FALSE(UnverifiedJws::Parse(good + ".").ok());
}

TEST_F(JwsTest, RejectsDuplicateHeaderKeys) {
  auto r = UnverifiedJws::Parse(SignRawHeader(R"({"alg":"EdDSA","alg":"EdDSA"})", "p"));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(UnverifiedJws::Parse(SignRawHeader(R"({"alg":"EdDSA"})", "p")).ok());
}

TEST_F(JwsTest, RejectsCritHeader) {
  auto r = UnverifiedJws::Parse(SignRawHeader(R"({"alg":"EdDSA","crit":["exp"],"exp":1})", "p"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(UnverifiedJws::Parse(SignRawHeader(R"({"alg":"EdDSA","b64":false,"crit":["b64"]})", "p")).ok());
}

TEST_F(JwsTest, RejectsMalformedHeaders) {
  EXPECT_FALSE(UnverifiedJws::Parse(SignRawHeader(R"(["alg"])", "p")).ok());
  EXPECT_FALSE(UnverifiedJws::Parse(SignRawHeader(R"({"alg":1})", "p")).ok());
  EXPECT_FALSE(UnverifiedJws::Parse(SignRawHeader(R"({"typ":"JWT"})", "p")).ok());
  EXPECT_FALSE(UnverifiedJws::Parse(SignRawHeader(R"({"alg":"EdDSA","kid":5})", "p")).ok());
  EXPECT_FALSE(UnverifiedJws::Parse(SignRawHeader(R"({"alg":"EdDSA","jwk":"x"})", "p")).ok());
  EXPECT_FALSE(UnverifiedJws::Parse(SignRawHeader(R"({"alg":"EdDSA"} )" "x", "p")).ok());
}

TEST_F(JwsTest, RejectsOversize) {
  std::string big = SignCompactJws(Json::object(), std::string(2000, 'a'), Rfc8037Key());
  EXPECT_TRUE(UnverifiedJws::Parse(big, big.size()).ok());
  auto r = UnverifiedJws::Parse(big, big.size() - 1);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(UnverifiedJws::Parse(std::string(kDefaultMaxJwsSize + 1, 'a')).ok());
}

TEST_F(JwsTest, RejectsTamperedPayload) {
  std::string good = v7515_["A.3"]["jws_compact"].get<std::string>();
  auto key = Jwk::Parse(v7515_["A.3"]["public_jwk"]);
  ASSERT_TRUE(key.ok());
  size_t dot1 = good.find('.');
  size_t dot2 = good.find('.', dot1 + 1);
  std::string tampered =
      good.substr(0, dot1 + 1) + B64uEncode(R"({"iss":"eve"})") + good.substr(dot2);
  auto jws = UnverifiedJws::Parse(tampered);
  ASSERT_TRUE(jws.ok());
  auto r = VerifyJws(*jws, *key);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCrypto);
}

TEST_F(JwsTest, RejectsWrongSignatureLength) {
  std::string good = v7515_["A.3"]["jws_compact"].get<std::string>();
  auto key = Jwk::Parse(v7515_["A.3"]["public_jwk"]);
  ASSERT_TRUE(key.ok());
  auto parsed = UnverifiedJws::Parse(good);
  ASSERT_TRUE(parsed.ok());
  std::vector<uint8_t> sig = parsed->signature();
  sig.pop_back();
  auto jws = UnverifiedJws::Parse(good.substr(0, good.rfind('.') + 1) + B64uEncode(sig));
  ASSERT_TRUE(jws.ok());
  EXPECT_FALSE(VerifyJws(*jws, *key).ok());
}

TEST_F(JwsTest, RejectsEmptySignature) {
  std::string good = v8037_["A.4_signing"]["jws_compact"].get<std::string>();
  EXPECT_FALSE(UnverifiedJws::Parse(good.substr(0, good.rfind('.') + 1)).ok());
}

TEST_F(JwsTest, SigningKeyRoundTripEveryAlgorithm) {
  auto rsa = SigningKey::GenerateRsa(2048);
  ASSERT_TRUE(rsa.ok());
  auto ec = SigningKey::GenerateEc(PublicKeyKind::kEcP256);
  ASSERT_TRUE(ec.ok());
  auto ec384 = SigningKey::GenerateEc(PublicKeyKind::kEcP384);
  ASSERT_TRUE(ec384.ok());
  struct Case {
    const SigningKey* key;
    SignatureAlg alg;
  };
  for (const Case& c : {Case{&*rsa, SignatureAlg::kRs256}, Case{&*rsa, SignatureAlg::kPs256},
                        Case{&*rsa, SignatureAlg::kRs384}, Case{&*rsa, SignatureAlg::kPs512},
                        Case{&*ec, SignatureAlg::kEs256}, Case{&*ec384, SignatureAlg::kEs384}}) {
    auto jwk = Jwk::FromMembers(c.key->PublicJwkMembers());
    ASSERT_TRUE(jwk.ok()) << jwk.status().ToString();
    auto jws = UnverifiedJws::Parse(SignCompactJws(Json{{"typ", "JWT"}}, "{}", *c.key, c.alg));
    ASSERT_TRUE(jws.ok());
    EXPECT_EQ(jws->typ(), "JWT");
    auto verified = VerifyJws(*jws, *jwk);
    ASSERT_TRUE(verified.ok()) << SignatureAlgName(c.alg) << ": " << verified.status().ToString();
    EXPECT_EQ(verified->alg(), c.alg);
  }
  EXPECT_FALSE(TrySignCompactJws(Json::object(), "p", *ec, SignatureAlg::kRs256).ok());
}

}  // namespace
}  // namespace astis::jose
