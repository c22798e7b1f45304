#include "jose/dpop.h"

#include <limits>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "jose/internal/test_util.h"
#include "jose/jwk.h"
#include "jose/jws.h"

namespace astis::jose {
namespace {

using testing::LoadVector;

constexpr int64_t kNow = 1764115200;
constexpr const char* kHtu = "https://edge.example.com/v1/unwrap";
constexpr const char* kJti = "q3a8Zr0XkH1yJmQb2Vt7dA";
constexpr const char* kToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
constexpr const char* kBody = R"({"session":"s","capsules":["x"]})";

class DpopTest : public ::testing::Test {
 protected:
  DpopTest() {
    auto seed = HexDecode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    key_ = std::make_unique<Ed25519PrivateKey>(*Ed25519PrivateKey::FromSeed(*seed));
  }

  DpopExpectations Expect() const {
    DpopExpectations e;
    e.htm = "POST";
    e.htu = kHtu;
    e.ath = DpopHash(kToken);
    e.bh = DpopHash(kBody);
    e.now = kNow;
    e.nonce_valid = [](std::string_view n) { return n == "nonce-1"; };
    return e;
  }

  // Claims of a proof that passes Expect().
  Json GoodClaims() const {
    return Json{{"jti", kJti}, {"htm", "POST"},         {"htu", kHtu},           {"iat", kNow},
                {"ath", DpopHash(kToken)}, {"bh", DpopHash(kBody)}, {"nonce", "nonce-1"}};
  }
  Json GoodHeader() const {
    return Json{{"typ", "dpop+jwt"}, {"alg", "EdDSA"}, {"jwk", Jwk::FromEd25519Public(key_->public_key()).ToJson()}};
  }
  std::string Sign(const Json& header, const Json& claims) const {
    return SignCompactJws(header, DumpJson(claims), *key_);
  }
  std::string Good() const { return Sign(GoodHeader(), GoodClaims()); }

  // ExpectInvalid asserts refusal with kDpopInvalid.
  void ExpectInvalid(const std::string& proof, const DpopExpectations& e) const {
    auto r = VerifyDpopProof(proof, e);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDpopInvalid) << r.status().ToString();
  }
  void ExpectInvalidClaims(const Json& claims) const { ExpectInvalid(Sign(GoodHeader(), claims), Expect()); }

  std::unique_ptr<Ed25519PrivateKey> key_;
};

TEST_F(DpopTest, AcceptsValidProof) {
  auto r = VerifyDpopProof(Good(), Expect());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->jkt(), Jwk::FromEd25519Public(key_->public_key()).Thumbprint());
  EXPECT_EQ(r->jkt(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");  // RFC 8037 A.3 (same key)
  EXPECT_EQ(r->jti(), kJti);
  EXPECT_EQ(r->iat(), kNow);
  EXPECT_EQ(r->nonce(), "nonce-1");
  EXPECT_EQ(r->public_key(), key_->public_key());
}

TEST_F(DpopTest, MakeDpopProofVerifies) {
  std::string proof = MakeDpopProof(*key_, "POST", kHtu, kNow, kJti, DpopHash(kToken), "nonce-1", DpopHash(kBody));
  auto jws = UnverifiedJws::Parse(proof);
  ASSERT_TRUE(jws.ok());
  EXPECT_EQ(jws->typ(), "dpop+jwt");
  EXPECT_EQ(jws->alg(), "EdDSA");
  auto r = VerifyDpopProof(proof, Expect());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto jti = NewDpopJti(DefaultRandom());
  ASSERT_TRUE(jti.ok());
  EXPECT_EQ(jti->size(), 22u);
}

TEST_F(DpopTest, Rfc9449ExamplesVerify) {
  Json v = LoadVector("rfc9449-examples.json");
  ASSERT_EQ(v["proofs"].size(), 3u);
  for (const Json& p : v["proofs"]) {
    DpopExpectations e;
    e.htm = p["decoded_payload"]["htm"].get_ref<const std::string&>();
    e.htu = p["decoded_payload"]["htu"].get_ref<const std::string&>();
    e.now = p["decoded_payload"]["iat"].get<int64_t>() + 30;
    e.allow_es256_for_tests = true;
    if (p["decoded_payload"].contains("ath")) e.ath = v["access_token_ath"].get<std::string>();
    auto r = VerifyDpopProof(p["dpop_proof_jwt"].get<std::string>(), e);
    ASSERT_TRUE(r.ok()) << p["description"] << ": " << r.status().ToString();
    EXPECT_EQ(r->jkt(), p["jwk_thumbprint_jkt"].get<std::string>());
    EXPECT_EQ(r->jti(), p["decoded_payload"]["jti"].get<std::string>());
    // The same proofs are refused under the production policy (EdDSA only).
    e.allow_es256_for_tests = false;
    EXPECT_EQ(VerifyDpopProof(p["dpop_proof_jwt"].get<std::string>(), e).status().code(), Code::kDpopInvalid);
  }
}

TEST_F(DpopTest, Rfc9449AthExample) {
  Json v = LoadVector("rfc9449-examples.json");
  EXPECT_EQ(DpopHash(v["access_token_example"].get<std::string>()), v["access_token_ath"].get<std::string>());
}

TEST_F(DpopTest, AcceptsEd25519AlgName) {
  Json h = GoodHeader();
  h["alg"] = "Ed25519";
  auto r = VerifyDpopProof(Sign(h, GoodClaims()), Expect());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST_F(DpopTest, RejectsWrongTyp) {
  Json h = GoodHeader();
  h["typ"] = "JWT";
  ExpectInvalid(Sign(h, GoodClaims()), Expect());
  h.erase("typ");
  ExpectInvalid(Sign(h, GoodClaims()), Expect());
}

TEST_F(DpopTest, RejectsAlgNone) {
  std::string good = Good();
  Json h = GoodHeader();
  h["alg"] = "none";
  std::string forged = B64uEncode(DumpJson(h)) + good.substr(good.find('.'));
  ExpectInvalid(forged, Expect());
}

TEST_F(DpopTest, RejectsPrivateKeyInHeader) {
  Json h = GoodHeader();
  h["jwk"]["d"] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
  ExpectInvalid(Sign(h, GoodClaims()), Expect());
}

TEST_F(DpopTest, RejectsNonOkpKey) {
  Json v = LoadVector("rfc9449-examples.json");
  Json h = GoodHeader();
  h["jwk"] = v["proofs"][0]["decoded_header"]["jwk"];  // EC P-256
  ExpectInvalid(Sign(h, GoodClaims()), Expect());
  h["jwk"] = Json{{"kty", "OKP"}, {"crv", "X25519"}, {"x", GoodHeader()["jwk"]["x"]}};
  ExpectInvalid(Sign(h, GoodClaims()), Expect());
  h.erase("jwk");
  ExpectInvalid(Sign(h, GoodClaims()), Expect());
}

TEST_F(DpopTest, RejectsTamperedSignature) {
  std::string proof = Good();
  proof[proof.size() - 5] = proof[proof.size() - 5] == 'A' ? 'B' : 'A';
  ExpectInvalid(proof, Expect());
}

TEST_F(DpopTest, RejectsProofSignedByAnotherKey) {
  auto other = Ed25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(other.ok());
  std::string proof = SignCompactJws(GoodHeader(), DumpJson(GoodClaims()), *other);
  ExpectInvalid(proof, Expect());
}

TEST_F(DpopTest, RejectsWrongHtm) {
  Json c = GoodClaims();
  c["htm"] = "GET";
  ExpectInvalidClaims(c);
  c["htm"] = "post";
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, RejectsWrongHtu) {
  Json c = GoodClaims();
  c["htu"] = "https://edge.example.com/v1/sessions";
  ExpectInvalidClaims(c);
  c["htu"] = "https://evil.example.com/v1/unwrap";
  ExpectInvalidClaims(c);
  c["htu"] = "http://edge.example.com/v1/unwrap";
  ExpectInvalidClaims(c);
  c["htu"] = "https://edge.example.com:8443/v1/unwrap";
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, RejectsHtuWithQuery) {
  Json c = GoodClaims();
  c["htu"] = std::string(kHtu) + "?a=b";
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, RejectsHtuWithFragment) {
  Json c = GoodClaims();
  c["htu"] = std::string(kHtu) + "#f";
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, AcceptsNormalisedHtu) {
  Json c = GoodClaims();
  c["htu"] = "HTTPS://Edge.Example.COM:443/v1/./x/../%75nwrap";
  DpopExpectations e = Expect();
  e.htu = "https://edge.example.com/v1/unwrap?ignored=1#also";
  auto r = VerifyDpopProof(Sign(GoodHeader(), c), e);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST_F(DpopTest, NormalizeHtuFollowsRfc3986) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (const Case& c : {Case{"https://a.example", "https://a.example/"},
                        Case{"https://a.example:", "https://a.example/"},
                        Case{"http://A.example:80/x", "http://a.example/x"},
                        Case{"https://a.example:8443/x", "https://a.example:8443/x"},
                        Case{"https://a.example/%7e%2f%2F", "https://a.example/~%2F%2F"},
                        Case{"https://a.example/a/b/../../../c", "https://a.example/c"},
                        Case{"https://a.example/a/./b/.", "https://a.example/a/b/"},
                        Case{"https://[::1]:443/p", "https://[::1]/p"},
                        Case{"https://a.example/p?q#f", "https://a.example/p"}}) {
    auto r = NormalizeHtu(c.in);
    ASSERT_TRUE(r.ok()) << c.in;
    EXPECT_EQ(*r, c.out) << c.in;
  }
  for (const char* bad : {"", "/v1/unwrap", "ftp://a.example/", "https:a.example", "https://user@a.example/",
                          "https://a.example/%zz", "https://a.example/%4", "https://a.example:99999/",
                          "https://a.example:x/", "https://a.example/ x", "https:///p", "https://[::1/p"}) {
    auto r = NormalizeHtu(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kDpopInvalid);
    }
  }
}

TEST_F(DpopTest, RejectsStaleIat) {
  Json c = GoodClaims();
  c["iat"] = kNow - 61;
  ExpectInvalidClaims(c);
  c["iat"] = kNow - 60;  // the window edge is accepted
  EXPECT_TRUE(VerifyDpopProof(Sign(GoodHeader(), c), Expect()).ok());
}

TEST_F(DpopTest, RejectsFutureIat) {
  Json c = GoodClaims();
  c["iat"] = kNow + 61;
  ExpectInvalidClaims(c);
  c["iat"] = kNow + 60;
  EXPECT_TRUE(VerifyDpopProof(Sign(GoodHeader(), c), Expect()).ok());
  c["iat"] = std::numeric_limits<uint64_t>::max();
  ExpectInvalidClaims(c);
  c["iat"] = std::numeric_limits<int64_t>::min();
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, RejectsMissingOrMistypedRequiredClaims) {
  for (const char* claim : {"jti", "htm", "htu", "iat"}) {
    Json c = GoodClaims();
    c.erase(claim);
    ExpectInvalidClaims(c);
  }
  Json c = GoodClaims();
  c["iat"] = std::to_string(kNow);
  ExpectInvalidClaims(c);
  c["iat"] = 1.5;
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, RejectsMissingAth) {
  Json c = GoodClaims();
  c.erase("ath");
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, RejectsWrongAth) {
  Json c = GoodClaims();
  c["ath"] = DpopHash("another token");
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, RejectsWrongBh) {
  Json c = GoodClaims();
  c["bh"] = DpopHash("another body");
  ExpectInvalidClaims(c);
  c.erase("bh");
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, RejectsMissingNonce) {
  Json c = GoodClaims();
  c.erase("nonce");
  auto r = VerifyDpopProof(Sign(GoodHeader(), c), Expect());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUseDpopNonce);
}

TEST_F(DpopTest, RejectsInvalidNonce) {
  Json c = GoodClaims();
  c["nonce"] = "nonce-0";
  auto r = VerifyDpopProof(Sign(GoodHeader(), c), Expect());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUseDpopNonce);
}

TEST_F(DpopTest, OtherDefectsWinOverNonce) {
  Json c = GoodClaims();
  c.erase("nonce");
  c["htm"] = "GET";
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, RejectsShortJti) {
  Json c = GoodClaims();
  c["jti"] = "short";
  ExpectInvalidClaims(c);
  c["jti"] = std::string(257, 'a');
  ExpectInvalidClaims(c);
}

TEST_F(DpopTest, RejectsMalformedProofs) {
  ExpectInvalid("", Expect());
  ExpectInvalid("a.b", Expect());
  ExpectInvalid(Good() + ".x", Expect());
  ExpectInvalid(std::string(kMaxDpopProofSize + 1, 'a'), Expect());
  ExpectInvalid(SignCompactJws(GoodHeader(), "[1]", *key_), Expect());
}

}  // namespace
}  // namespace astis::jose
