// Project Wycheproof signature vectors through the JOSE key path: each
// group's public JWK is parsed with Jwk::Parse, imported with
// Jwk::ToVerificationKey (what VerifyJws and the DPoP verifier do) and every
// case is verified under the JWS algorithm. A compact JWS cannot carry
// Wycheproof's arbitrary message bytes as its signing input, so the cases are
// verified on the key VerifyJws would use, not through VerifyJws itself.
// src/crypto/wycheproof_test.cc runs the same files on keys from SPKI DER.
//
// Every `valid` case must pass and every `invalid` case must fail. The one
// `acceptable` case (RS256 tcId 8, DigestInfo without NULL) must fail: RFC
// 8017 §8.2.2 step 4 compares against the single DER encoding with NULL.
// Each test asserts the number of cases run.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "crypto/ed25519.h"
#include "crypto/public_key.h"
#include "jose/internal/test_util.h"
#include "jose/jwk.h"

namespace astis::jose {
namespace {

using testing::LoadVector;

std::vector<uint8_t> Hex(const Json& t, const char* member) {
  auto r = HexDecode(t.at(member).get<std::string>());
  EXPECT_TRUE(r.ok()) << member;
  return r.ok() ? *r : std::vector<uint8_t>{};
}

// EcJwk builds the P-256 / P-384 JWK from a group's `publicKey` (wx, wy in
// hex, which may lack or carry extra leading zero bytes); some ECDSA groups
// have no `publicKeyJwk`, so every EC group is imported this way.
Json EcJwk(const Json& group, const char* crv, size_t field_size) {
  Json jwk = {{"kty", "EC"}, {"crv", crv}};
  for (const char* c : {"wx", "wy"}) {
    std::vector<uint8_t> v = Hex(group.at("publicKey"), c);
    while (v.size() > field_size && v.front() == 0) v.erase(v.begin());
    v.insert(v.begin(), field_size - std::min(field_size, v.size()), 0);
    jwk[c[1] == 'x' ? "x" : "y"] = B64uEncode(v);
  }
  return jwk;
}

// GroupJwk returns the JWK for a group: built from `publicKey` for EC,
// the file's own JWK member otherwise.
Json GroupJwk(const Json& group, const char* jwk_member) {
  const std::string curve = group.at("publicKey").is_object() && group.at("publicKey").contains("curve")
                                ? group.at("publicKey").at("curve").get<std::string>()
                                : "";
  if (curve == "secp256r1") return EcJwk(group, "P-256", 32);
  if (curve == "secp384r1") return EcJwk(group, "P-384", 48);
  return group.at(jwk_member);
}

std::string Id(const Json& t) { return "tcId " + std::to_string(t.at("tcId").get<int>()); }

// RunFile verifies every case of a Wycheproof signature file with the key
// from each group's JWK (GroupJwk) and returns the cases run.
size_t RunFile(const std::string& name, const char* jwk_member, std::string_view alg_name) {
  Json file = LoadVector("wycheproof/" + name);
  if (!file.is_object()) return 0;
  const auto alg = SignatureAlgFromName(alg_name);
  EXPECT_TRUE(alg.has_value()) << alg_name;
  if (!alg.has_value()) return 0;
  size_t n = 0;
  for (const Json& group : file.at("testGroups")) {
    auto jwk = Jwk::Parse(GroupJwk(group, jwk_member));
    EXPECT_TRUE(jwk.ok()) << name << ": group JWK refused";
    if (!jwk.ok()) continue;
    auto key = jwk->ToVerificationKey();
    EXPECT_TRUE(key.ok()) << name << ": group key refused";
    if (!key.ok()) continue;
    for (const Json& t : group.at("tests")) {
      ++n;
      const bool want = t.at("result") == "valid";
      EXPECT_EQ(key->Verify(*alg, Hex(t, "msg"), Hex(t, "sig")).ok(), want)
          << name << " " << Id(t) << " (" << t.at("comment").get<std::string>() << ") expected "
          << t.at("result").get<std::string>();
    }
  }
  EXPECT_EQ(n, file.at("numberOfTests").get<size_t>()) << name;
  return n;
}

TEST(WycheproofJoseTest, Es256P1363) {
  EXPECT_EQ(RunFile("ecdsa_secp256r1_sha256_p1363_test.json", "publicKeyJwk", "ES256"), 262u);
}

TEST(WycheproofJoseTest, Es384P1363) {
  EXPECT_EQ(RunFile("ecdsa_secp384r1_sha384_p1363_test.json", "publicKeyJwk", "ES384"), 280u);
}

TEST(WycheproofJoseTest, Rs256) {
  EXPECT_EQ(RunFile("rsa_signature_2048_sha256_test.json", "keyJwk", "RS256"), 259u);
}

TEST(WycheproofJoseTest, Ps256) {
  EXPECT_EQ(RunFile("rsa_pss_2048_sha256_mgf1_32_test.json", "publicKeyJwk", "PS256"), 108u);
}

// Ed25519 under both JWS names (RFC 8037 "EdDSA", RFC 9864 "Ed25519"), and
// the DPoP verifier's key path: Jwk::ToEd25519Public then Ed25519Verify.
TEST(WycheproofJoseTest, Ed25519) {
  EXPECT_EQ(RunFile("ed25519_test.json", "publicKeyJwk", "EdDSA"), 151u);
  EXPECT_EQ(RunFile("ed25519_test.json", "publicKeyJwk", "Ed25519"), 151u);
  Json file = LoadVector("wycheproof/ed25519_test.json");
  ASSERT_TRUE(file.is_object());
  size_t n = 0;
  for (const Json& group : file.at("testGroups")) {
    auto jwk = Jwk::Parse(group.at("publicKeyJwk"));
    ASSERT_TRUE(jwk.ok());
    auto pk = jwk->ToEd25519Public();
    ASSERT_TRUE(pk.ok());
    for (const Json& t : group.at("tests")) {
      ++n;
      EXPECT_EQ(Ed25519Verify(*pk, Hex(t, "msg"), Hex(t, "sig")).ok(), t.at("result") == "valid") << Id(t);
    }
  }
  EXPECT_EQ(n, 151u);
}

}  // namespace
}  // namespace astis::jose
