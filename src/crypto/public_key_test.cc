#include "crypto/public_key.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "common/json.h"
#include "crypto/openssl_ptr.h"

namespace astis {
namespace {

Json LoadVector(const std::string& name) {
  const char* env = std::getenv("ASTIS_TESTDATA_DIR");
  std::string dir = env != nullptr ? env : ASTIS_TESTDATA_DIR;
  std::ifstream in(dir + "/vectors/" + name);
  EXPECT_TRUE(in.good()) << "missing vector " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = ParseJson(ss.str(), JsonLimits{1 << 20, 32});
  EXPECT_TRUE(j.ok());
  return j.ok() ? *j : Json::object();
}

std::vector<uint8_t> B64u(const Json& v) {
  auto r = B64uDecode(v.get<std::string>());
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : std::vector<uint8_t>{};
}

class PublicKeyTest : public ::testing::Test {
 protected:
  Json v_ = LoadVector("rfc7515-examples.json");
};

TEST(SignatureAlgTest, NamesRoundTrip) {
  for (SignatureAlg a : {SignatureAlg::kRs256, SignatureAlg::kRs384, SignatureAlg::kRs512, SignatureAlg::kPs256,
                         SignatureAlg::kPs384, SignatureAlg::kPs512, SignatureAlg::kEs256, SignatureAlg::kEs384,
                         SignatureAlg::kEdDsa}) {
    auto back = SignatureAlgFromName(SignatureAlgName(a));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, a);
  }
  EXPECT_EQ(SignatureAlgFromName("Ed25519"), SignatureAlg::kEdDsa);
}

TEST(SignatureAlgTest, RefusesNoneAndHmacNames) {
  for (const char* n : {"none", "HS256", "HS384", "HS512", "rs256", "", "ES512"}) {
    EXPECT_FALSE(SignatureAlgFromName(n).has_value()) << n;
  }
}

TEST_F(PublicKeyTest, Rfc7515A2Rs256Verifies) {
  const Json& a2 = v_["A.2"];
  auto key = VerificationKey::FromRsaComponents(B64u(a2["public_jwk"]["n"]), B64u(a2["public_jwk"]["e"]));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->kind(), PublicKeyKind::kRsa);
  std::string input = a2["signing_input"];
  EXPECT_TRUE(key->Verify(SignatureAlg::kRs256, AsBytes(input), B64u(a2["signature_b64url"])).ok());
}

TEST_F(PublicKeyTest, Rfc7515A2SigningReproducesSignature) {
  const Json& k = v_["A.2"]["private_jwk"];
  auto n = B64u(k["n"]), e = B64u(k["e"]), d = B64u(k["d"]), p = B64u(k["p"]), q = B64u(k["q"]),
       dp = B64u(k["dp"]), dq = B64u(k["dq"]), qi = B64u(k["qi"]);
  auto sk = SigningKey::FromRsaComponents({n, e, d, p, q, dp, dq, qi});
  ASSERT_TRUE(sk.ok()) << sk.status().ToString();
  std::string input = v_["A.2"]["signing_input"];
  auto sig = sk->Sign(SignatureAlg::kRs256, AsBytes(input));
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(B64uEncode(*sig), v_["A.2"]["signature_b64url"].get<std::string>());
}

TEST_F(PublicKeyTest, Rfc7515A3Es256Verifies) {
  const Json& a3 = v_["A.3"];
  auto key = VerificationKey::FromEcPoint(PublicKeyKind::kEcP256, B64u(a3["public_jwk"]["x"]),
                                          B64u(a3["public_jwk"]["y"]));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  std::string input = a3["signing_input"];
  auto sig = B64u(a3["signature_b64url"]);
  EXPECT_EQ(HexEncode(std::span<const uint8_t>(sig).first(32)), a3["signature_R_hex"].get<std::string>());
  EXPECT_TRUE(key->Verify(SignatureAlg::kEs256, AsBytes(input), sig).ok());
}

TEST_F(PublicKeyTest, Rfc7515A3PrivateKeySignsVerifiably) {
  const Json& k = v_["A.3"]["private_jwk"];
  auto sk = SigningKey::FromEcPrivate(PublicKeyKind::kEcP256, B64u(k["x"]), B64u(k["y"]), B64u(k["d"]));
  ASSERT_TRUE(sk.ok()) << sk.status().ToString();
  EXPECT_EQ(sk->PublicJwkMembers(), v_["A.3"]["public_jwk"]);
  auto sig = sk->Sign(SignatureAlg::kEs256, AsBytes("hello"));
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 64u);
  auto vk = sk->PublicKey();
  ASSERT_TRUE(vk.ok());
  EXPECT_TRUE(vk->Verify(SignatureAlg::kEs256, AsBytes("hello"), *sig).ok());
}

TEST_F(PublicKeyTest, RejectsEcPrivateKeyNotMatchingPoint) {
  const Json& k = v_["A.3"]["private_jwk"];
  auto d = B64u(k["d"]);
  d[31] ^= 1;
  EXPECT_FALSE(SigningKey::FromEcPrivate(PublicKeyKind::kEcP256, B64u(k["x"]), B64u(k["y"]), d).ok());
}

TEST_F(PublicKeyTest, RejectsRsaKeyTooSmall) {
  auto n = B64u(v_["A.2"]["public_jwk"]["n"]);
  n.resize(128);  // top bit set: exactly 1024 bits
  auto key = VerificationKey::FromRsaComponents(n, std::vector<uint8_t>{1, 0, 1});
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(SigningKey::GenerateRsa(1024).ok());
}

TEST_F(PublicKeyTest, RejectsRsaNonMinimalOrEvenExponent) {
  auto n = B64u(v_["A.2"]["public_jwk"]["n"]);
  std::vector<uint8_t> padded_n{0};
  padded_n.insert(padded_n.end(), n.begin(), n.end());
  EXPECT_FALSE(VerificationKey::FromRsaComponents(padded_n, std::vector<uint8_t>{1, 0, 1}).ok());
  EXPECT_FALSE(VerificationKey::FromRsaComponents(n, std::vector<uint8_t>{0, 1, 0, 1}).ok());
  EXPECT_FALSE(VerificationKey::FromRsaComponents(n, std::vector<uint8_t>{1, 0, 0}).ok());
  EXPECT_FALSE(VerificationKey::FromRsaComponents(n, std::vector<uint8_t>{1}).ok());
}

TEST_F(PublicKeyTest, RejectsEcPointNotOnCurve) {
  auto x = B64u(v_["A.3"]["public_jwk"]["x"]);
  auto y = B64u(v_["A.3"]["public_jwk"]["y"]);
  y[31] ^= 1;
  auto key = VerificationKey::FromEcPoint(PublicKeyKind::kEcP256, x, y);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Code::kInvalidArgument);
}

TEST_F(PublicKeyTest, RejectsEcCoordinateOfWrongSize) {
  auto x = B64u(v_["A.3"]["public_jwk"]["x"]);
  auto y = B64u(v_["A.3"]["public_jwk"]["y"]);
  EXPECT_FALSE(VerificationKey::FromEcPoint(PublicKeyKind::kEcP384, x, y).ok());
  x.insert(x.begin(), 0);
  EXPECT_FALSE(VerificationKey::FromEcPoint(PublicKeyKind::kEcP256, x, y).ok());
}

TEST_F(PublicKeyTest, RejectsWrongSignatureLength) {
  const Json& a3 = v_["A.3"];
  auto key = VerificationKey::FromEcPoint(PublicKeyKind::kEcP256, B64u(a3["public_jwk"]["x"]),
                                          B64u(a3["public_jwk"]["y"]));
  ASSERT_TRUE(key.ok());
  std::string input = a3["signing_input"];
  auto sig = B64u(a3["signature_b64url"]);
  ASSERT_EQ(sig.size(), 64u);
  // Built by range rather than pop_back(): GCC 12 -O2 reports a false
  // -Warray-bounds on pop_back of a copied vector.
  std::vector<uint8_t> shorter(sig.begin(), sig.end() - 1);
  auto longer = sig;
  longer.insert(longer.begin(), 0);
  EXPECT_EQ(key->Verify(SignatureAlg::kEs256, AsBytes(input), shorter).code(), Code::kInvalidArgument);
  EXPECT_EQ(key->Verify(SignatureAlg::kEs256, AsBytes(input), longer).code(), Code::kInvalidArgument);

  const Json& a2 = v_["A.2"];
  auto rsa = VerificationKey::FromRsaComponents(B64u(a2["public_jwk"]["n"]), B64u(a2["public_jwk"]["e"]));
  ASSERT_TRUE(rsa.ok());
  auto rsig = B64u(a2["signature_b64url"]);
  rsig.insert(rsig.begin(), 0);  // a leading zero is not the k-octet form
  std::string rinput = a2["signing_input"];
  EXPECT_FALSE(rsa->Verify(SignatureAlg::kRs256, AsBytes(rinput), rsig).ok());
}

TEST_F(PublicKeyTest, RejectsTamperedMessageAndAlgNotFittingKey) {
  const Json& a3 = v_["A.3"];
  auto key = VerificationKey::FromEcPoint(PublicKeyKind::kEcP256, B64u(a3["public_jwk"]["x"]),
                                          B64u(a3["public_jwk"]["y"]));
  ASSERT_TRUE(key.ok());
  std::string input = a3["signing_input"];
  input.back() ^= 1;
  EXPECT_EQ(key->Verify(SignatureAlg::kEs256, AsBytes(input), B64u(a3["signature_b64url"])).code(), Code::kCrypto);
  EXPECT_EQ(key->Verify(SignatureAlg::kRs256, AsBytes(input), B64u(a3["signature_b64url"])).code(),
            Code::kInvalidArgument);
  EXPECT_FALSE(key->Supports(SignatureAlg::kEs384));
}

TEST(SigningKeyTest, RsaAllAlgorithmsRoundTripAndPemExport) {
  auto sk = SigningKey::GenerateRsa(2048);
  ASSERT_TRUE(sk.ok());
  auto vk = sk->PublicKey();
  ASSERT_TRUE(vk.ok());
  for (SignatureAlg a : {SignatureAlg::kRs256, SignatureAlg::kRs384, SignatureAlg::kRs512, SignatureAlg::kPs256,
                         SignatureAlg::kPs384, SignatureAlg::kPs512}) {
    auto sig = sk->Sign(a, AsBytes("msg"));
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(sig->size(), 256u);
    EXPECT_TRUE(vk->Verify(a, AsBytes("msg"), *sig).ok()) << SignatureAlgName(a);
    EXPECT_FALSE(vk->Verify(a, AsBytes("msh"), *sig).ok()) << SignatureAlgName(a);
  }
  // PKCS#1 v1.5 and PSS signatures are not interchangeable.
  auto pss = sk->Sign(SignatureAlg::kPs256, AsBytes("msg"));
  ASSERT_TRUE(pss.ok());
  EXPECT_FALSE(vk->Verify(SignatureAlg::kRs256, AsBytes("msg"), *pss).ok());

  auto pub_pem = sk->ExportPublicPem();
  ASSERT_TRUE(pub_pem.ok());
  auto from_pem = VerificationKey::FromPem(*pub_pem);
  ASSERT_TRUE(from_pem.ok());
  auto priv_pem = sk->ExportPrivatePem();
  ASSERT_TRUE(priv_pem.ok());
  auto sk2 = SigningKey::FromPrivatePem(priv_pem->RevealString());
  ASSERT_TRUE(sk2.ok());
  auto sig2 = sk2->Sign(SignatureAlg::kRs256, AsBytes("x"));
  ASSERT_TRUE(sig2.ok());
  EXPECT_TRUE(from_pem->Verify(SignatureAlg::kRs256, AsBytes("x"), *sig2).ok());
  EXPECT_EQ(sk->PublicJwkMembers(), sk2->PublicJwkMembers());
}

// RFC 7518 §3.5: the PSS salt is as long as the hash; other salt lengths are refused.
TEST(SigningKeyTest, RejectsPssWithWrongSaltLength) {
  ossl::UniquePtr<EVP_PKEY> pkey(EVP_RSA_gen(2048));
  ASSERT_NE(pkey, nullptr);
  ossl::UniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  ASSERT_EQ(EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, pkey.get()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 0), 1);
  std::vector<uint8_t> sig(256);
  size_t len = sig.size();
  ASSERT_EQ(EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const uint8_t*>("m"), 1), 1);
  ossl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), pkey.get()), 1);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  auto vk = VerificationKey::FromPem(std::string_view(data, static_cast<size_t>(n)));
  ASSERT_TRUE(vk.ok());
  EXPECT_FALSE(vk->Verify(SignatureAlg::kPs256, AsBytes("m"), sig).ok());
}

TEST(SigningKeyTest, EcP384RoundTripAndSpki) {
  auto sk = SigningKey::GenerateEc(PublicKeyKind::kEcP384);
  ASSERT_TRUE(sk.ok());
  auto sig = sk->Sign(SignatureAlg::kEs384, AsBytes("m"));
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 96u);
  EXPECT_FALSE(sk->Sign(SignatureAlg::kEs256, AsBytes("m")).ok());
  auto pem = sk->ExportPublicPem();
  ASSERT_TRUE(pem.ok());
  auto vk = VerificationKey::FromPem(*pem);
  ASSERT_TRUE(vk.ok());
  EXPECT_EQ(vk->kind(), PublicKeyKind::kEcP384);
  EXPECT_TRUE(vk->Verify(SignatureAlg::kEs384, AsBytes("m"), *sig).ok());
}

TEST(SigningKeyTest, Ed25519RoundTripAndPem) {
  auto sk = SigningKey::GenerateEd25519(DefaultRandom());
  ASSERT_TRUE(sk.ok());
  auto sig = sk->Sign(SignatureAlg::kEdDsa, AsBytes("m"));
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 64u);
  auto pem = sk->ExportPublicPem();
  ASSERT_TRUE(pem.ok());
  auto vk = VerificationKey::FromPem(*pem);
  ASSERT_TRUE(vk.ok());
  EXPECT_EQ(vk->kind(), PublicKeyKind::kEd25519);
  EXPECT_TRUE(vk->Verify(SignatureAlg::kEdDsa, AsBytes("m"), *sig).ok());
  EXPECT_FALSE(vk->Verify(SignatureAlg::kEdDsa, AsBytes("n"), *sig).ok());
  auto priv = sk->ExportPrivatePem();
  ASSERT_TRUE(priv.ok());
  auto sk2 = SigningKey::FromPrivatePem(priv->RevealString());
  ASSERT_TRUE(sk2.ok());
  EXPECT_EQ(sk2->PublicJwkMembers(), sk->PublicJwkMembers());
}

TEST(VerificationKeyTest, RejectsMalformedSpkiAndPem) {
  auto sk = SigningKey::GenerateEc();
  ASSERT_TRUE(sk.ok());
  EXPECT_FALSE(VerificationKey::FromPem("not a pem").ok());
  EXPECT_FALSE(VerificationKey::FromSpkiDer(std::vector<uint8_t>{0x30, 0x03, 0x02, 0x01, 0x00}).ok());
  EXPECT_FALSE(VerificationKey::FromSpkiDer({}).ok());
  EXPECT_FALSE(SigningKey::FromPrivatePem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").ok());
}

}  // namespace
}  // namespace astis
