// Project Wycheproof vectors (testdata/vectors/wycheproof/) against the
// project's own crypto wrappers: public_key.h (ES256, ES384, RS256, PS256,
// Ed25519 through an OpenSSL-parsed SPKI key), ed25519.h (Ed25519 through
// libsodium directly), aead.h (AES-GCM), hkdf.h (HKDF-SHA256) and p256.h
// (P-256 ECDH, the DHKEM(P-256) decapsulation path: uncompressed points,
// WycheproofTest.P256EcdhUncompressedPoints). X25519 is
// X25519Test.LowOrderMatchesWycheproof (x25519_test.cc).
//
// Every `valid` case must pass and every `invalid` case must fail. The only
// `acceptable` case in these files is RS256 tcId 8 (DigestInfo without its
// NULL parameter, flag MissingNull): the project refuses it, because RFC 8017
// §8.2.2 step 4 compares against the one DER encoding with NULL and OpenSSL
// does exactly that. Each test also asserts the number of cases it ran, so a
// file that is empty or lost cannot pass.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/aead.h"
#include "crypto/ed25519.h"
#include "crypto/hkdf.h"
#include "crypto/internal/test_util.h"
#include "crypto/p256.h"
#include "crypto/public_key.h"

namespace astis {
namespace {

using crypto_testing::H;
using crypto_testing::LoadVector;
using crypto_testing::Vec;

std::string Id(const Json& t) { return "tcId " + std::to_string(t.at("tcId").get<int>()); }
std::vector<uint8_t> Hex(const Json& t, const char* member) { return H(t.at(member).get<std::string>()); }

// RunSignatureFile verifies every case of a Wycheproof signature file with
// the key from each group's DER SubjectPublicKeyInfo and returns the number
// of cases run. `acceptable` cases must fail (see the file comment).
size_t RunSignatureFile(const std::string& name, SignatureAlg alg) {
  Json file = LoadVector("wycheproof/" + name);
  if (!file.is_object()) return 0;
  size_t n = 0;
  for (const Json& group : file.at("testGroups")) {
    auto key = VerificationKey::FromSpkiDer(Hex(group, "publicKeyDer"));
    EXPECT_TRUE(key.ok()) << name << ": group key refused";
    if (!key.ok()) continue;
    EXPECT_TRUE(key->Supports(alg)) << name;
    for (const Json& t : group.at("tests")) {
      ++n;
      const Status s = key->Verify(alg, Hex(t, "msg"), Hex(t, "sig"));
      const bool want = t.at("result") == "valid";
      EXPECT_EQ(s.ok(), want) << name << " " << Id(t) << " (" << t.at("comment").get<std::string>()
                              << ") expected " << t.at("result").get<std::string>();
    }
  }
  EXPECT_EQ(n, file.at("numberOfTests").get<size_t>()) << name;
  return n;
}

// RFC 7518 §3.4: ES256 signatures are raw R || S, 64 bytes.
TEST(WycheproofTest, Es256P1363) {
  EXPECT_EQ(RunSignatureFile("ecdsa_secp256r1_sha256_p1363_test.json", SignatureAlg::kEs256), 262u);
}

// RFC 7518 §3.4: ES384 signatures are raw R || S, 96 bytes.
TEST(WycheproofTest, Es384P1363) {
  EXPECT_EQ(RunSignatureFile("ecdsa_secp384r1_sha384_p1363_test.json", SignatureAlg::kEs384), 280u);
}

// RFC 7518 §3.3, RSASSA-PKCS1-v1_5 with SHA-256. tcId 8 (acceptable,
// MissingNull) is refused.
TEST(WycheproofTest, Rs256) {
  EXPECT_EQ(RunSignatureFile("rsa_signature_2048_sha256_test.json", SignatureAlg::kRs256), 259u);
}

// RFC 7518 §3.5, RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
TEST(WycheproofTest, Ps256) {
  EXPECT_EQ(RunSignatureFile("rsa_pss_2048_sha256_mgf1_32_test.json", SignatureAlg::kPs256), 108u);
}

// Ed25519 through both entry points: Ed25519Verify (libsodium, the DPoP
// path) with the raw 32-byte key, and VerificationKey::Verify(kEdDsa) with
// the key imported by OpenSSL from its SPKI DER.
TEST(WycheproofTest, Ed25519) {
  Json file = LoadVector("wycheproof/ed25519_test.json");
  ASSERT_TRUE(file.is_object());
  size_t n = 0;
  for (const Json& group : file.at("testGroups")) {
    auto raw = Ed25519PublicKey::FromBytes(H(group.at("publicKey").at("pk").get<std::string>()));
    ASSERT_TRUE(raw.ok());
    auto spki = VerificationKey::FromSpkiDer(Hex(group, "publicKeyDer"));
    ASSERT_TRUE(spki.ok());
    ASSERT_EQ(spki->kind(), PublicKeyKind::kEd25519);
    for (const Json& t : group.at("tests")) {
      ++n;
      const bool want = t.at("result") == "valid";
      const auto msg = Hex(t, "msg");
      const auto sig = Hex(t, "sig");
      EXPECT_EQ(Ed25519Verify(*raw, msg, sig).ok(), want) << "Ed25519Verify " << Id(t);
      EXPECT_EQ(spki->Verify(SignatureAlg::kEdDsa, msg, sig).ok(), want) << "VerificationKey " << Id(t);
    }
  }
  EXPECT_EQ(n, file.at("numberOfTests").get<size_t>());
  EXPECT_EQ(n, 151u);
}

// AES-GCM. The wrapper supports AES-128 and AES-256 with a 96-bit nonce and
// a 128-bit tag (aead.h). For those groups every valid case must open to msg
// and seal to ct||tag, every invalid case must be refused. Every other group
// (AES-192 keys, other nonce sizes) must be refused by both AES algorithms,
// whatever the case's result.
TEST(WycheproofTest, AesGcm) {
  Json file = LoadVector("wycheproof/aes_gcm_test.json");
  ASSERT_TRUE(file.is_object());
  size_t n = 0, supported = 0;
  for (const Json& group : file.at("testGroups")) {
    const int key_bits = group.at("keySize").get<int>();
    const int iv_bits = group.at("ivSize").get<int>();
    ASSERT_EQ(group.at("tagSize").get<int>(), 128);
    const bool ok_size = (key_bits == 128 || key_bits == 256) && iv_bits == 96;
    const AeadAlg alg = key_bits == 128 ? AeadAlg::kAes128Gcm : AeadAlg::kAes256Gcm;
    for (const Json& t : group.at("tests")) {
      ++n;
      const auto key = Hex(t, "key"), iv = Hex(t, "iv"), aad = Hex(t, "aad"), msg = Hex(t, "msg");
      std::vector<uint8_t> ct_tag = Hex(t, "ct");
      const auto tag = Hex(t, "tag");
      ct_tag.insert(ct_tag.end(), tag.begin(), tag.end());
      if (!ok_size) {
        for (AeadAlg a : {AeadAlg::kAes128Gcm, AeadAlg::kAes256Gcm}) {
          EXPECT_FALSE(AeadOpen(a, key, iv, aad, ct_tag).ok()) << "unsupported size accepted, " << Id(t);
          EXPECT_FALSE(AeadSeal(a, key, iv, aad, msg).ok()) << "unsupported size accepted, " << Id(t);
        }
        continue;
      }
      ++supported;
      auto opened = AeadOpen(alg, key, iv, aad, ct_tag);
      if (t.at("result") == "valid") {
        ASSERT_TRUE(opened.ok()) << Id(t);
        EXPECT_EQ(Vec(opened->Reveal()), msg) << Id(t);
        auto sealed = AeadSeal(alg, key, iv, aad, msg);
        ASSERT_TRUE(sealed.ok()) << Id(t);
        EXPECT_EQ(*sealed, ct_tag) << Id(t);
      } else {
        EXPECT_FALSE(opened.ok()) << Id(t) << " (" << t.at("comment").get<std::string>() << ")";
      }
    }
  }
  EXPECT_EQ(n, file.at("numberOfTests").get<size_t>());
  EXPECT_EQ(n, 316u);
  EXPECT_GT(supported, 0u);
}

// HKDF-SHA256 (RFC 5869) as Extract then Expand. The invalid cases ask for
// more than 255 * 32 bytes, which HkdfExpand refuses (RFC 5869 §2.3).
TEST(WycheproofTest, HkdfSha256) {
  Json file = LoadVector("wycheproof/hkdf_sha256_test.json");
  ASSERT_TRUE(file.is_object());
  size_t n = 0;
  for (const Json& group : file.at("testGroups")) {
    for (const Json& t : group.at("tests")) {
      ++n;
      auto prk = HkdfExtract(Hex(t, "salt"), Hex(t, "ikm"));
      ASSERT_TRUE(prk.ok()) << Id(t);
      auto okm = HkdfExpand(prk->Reveal(), Hex(t, "info"), t.at("size").get<size_t>());
      if (t.at("result") == "valid") {
        ASSERT_TRUE(okm.ok()) << Id(t);
        EXPECT_EQ(Vec(okm->Reveal()), Hex(t, "okm")) << Id(t);
      } else {
        EXPECT_FALSE(okm.ok()) << Id(t) << " (" << t.at("comment").get<std::string>() << ")";
      }
    }
  }
  EXPECT_EQ(n, file.at("numberOfTests").get<size_t>());
  EXPECT_EQ(n, 86u);
}

// The DHKEM(P-256) decapsulation path (RFC 9180 §7.1.4): the peer's key
// is an uncompressed point, checked by P256PublicKey::FromBytes, and the
// shared secret is the x-coordinate from P256PrivateKey::Agree. Every
// `valid` case agrees on the file's shared secret; every `invalid` one
// (not on the curve, wrong curve, bad encoding) is refused before or at
// the agreement. The one `acceptable` case is a compressed public key
// (flag CompressedPublic): refused, because RFC 9180's
// DeserializePublicKey for P-256 takes the uncompressed form only.
TEST(WycheproofTest, P256EcdhUncompressedPoints) {
  Json file = LoadVector("wycheproof/ecdh_secp256r1_ecpoint_test.json");
  ASSERT_TRUE(file.is_object());
  size_t n = 0, agreed = 0;
  for (const Json& group : file.at("testGroups")) {
    for (const Json& t : group.at("tests")) {
      ++n;
      std::vector<uint8_t> sk = Hex(t, "private");
      // Wycheproof writes the scalar as a DER integer body: a leading 00
      // when the top bit is set, and sometimes fewer than 32 bytes.
      while (sk.size() > 32 && sk.front() == 0) sk.erase(sk.begin());
      sk.insert(sk.begin(), sk.size() < 32 ? 32 - sk.size() : 0, 0);
      auto priv = P256PrivateKey::FromBytes(sk);
      ASSERT_TRUE(priv.ok()) << Id(t) << ": " << priv.status().ToString();
      auto pub = P256PublicKey::FromBytes(Hex(t, "public"));
      Result<SecretBytes> shared = pub.ok() ? priv->Agree(*pub) : Result<SecretBytes>(pub.status());
      if (t.at("result") == "valid") {
        ASSERT_TRUE(shared.ok()) << Id(t) << " (" << t.at("comment").get<std::string>() << ") refused";
        const std::vector<uint8_t> want = Hex(t, "shared");
        EXPECT_EQ(std::vector<uint8_t>(shared->Reveal().begin(), shared->Reveal().end()), want) << Id(t);
        ++agreed;
      } else {
        EXPECT_FALSE(shared.ok()) << Id(t) << " (" << t.at("comment").get<std::string>() << ") expected "
                                  << t.at("result").get<std::string>();
      }
    }
  }
  EXPECT_EQ(n, file.at("numberOfTests").get<size_t>());
  EXPECT_EQ(agreed, 330u);
}

}  // namespace
}  // namespace astis
