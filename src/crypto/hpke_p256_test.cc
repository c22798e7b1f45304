// HPKE (RFC 9180) with DHKEM(P-256, HKDF-SHA256): every entry of the RFC's
// mode_base vectors for kem 0x0010 (testdata/vectors/hpke-p256-base.json),
// then the named refusals of a bad recipient-side enc (§7.1.4).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/hpke.h"
#include "crypto/internal/hpke_internal.h"
#include "crypto/internal/test_util.h"
#include "crypto/p256.h"

namespace astis {
namespace {

using crypto_testing::H;
using crypto_testing::Vec;

const Json& P256Vectors() {
  static const auto* v = new Json(crypto_testing::LoadVector("hpke-p256-base.json"));
  return *v;
}

std::vector<uint8_t> Field(const Json& j, const char* key) {
  auto s = GetString(j, key);
  EXPECT_TRUE(s.ok()) << "vector field missing: " << key;
  return s.ok() ? H(*s) : std::vector<uint8_t>{};
}

TEST(HpkeP256VectorFile, HoldsModeBaseP256Entries) {
  ASSERT_TRUE(P256Vectors().is_array());
  ASSERT_GE(P256Vectors().size(), 1u);
  for (const Json& v : P256Vectors()) {
    EXPECT_EQ(v.at("mode").get<int>(), 0);
    EXPECT_EQ(v.at("kem_id").get<int>(), kHpkeKemP256Sha256);
    EXPECT_EQ(v.at("kdf_id").get<int>(), kHpkeKdfHkdfSha256);
    EXPECT_EQ(v.at("encryptions").size(), 257u);
    EXPECT_EQ(v.at("exports").size(), 3u);
  }
}

class HpkeP256VectorTest : public ::testing::TestWithParam<size_t> {
 protected:
  const Json& V() const { return P256Vectors().at(GetParam()); }
  HpkeAeadId Aead() const { return static_cast<HpkeAeadId>(V().at("aead_id").get<uint16_t>()); }
};

TEST_P(HpkeP256VectorTest, DeriveKeyPairMatches) {
  auto skR = HpkeDeriveKeyPairP256(Field(V(), "ikmR"));
  ASSERT_TRUE(skR.ok()) << skR.status().ToString();
  EXPECT_EQ(Vec(skR->secret().Reveal()), Field(V(), "skRm"));
  EXPECT_EQ(Vec(skR->public_key().bytes), Field(V(), "pkRm"));
  auto skE = HpkeDeriveKeyPairP256(Field(V(), "ikmE"), SecretBytes::Protection::kLocked);
  ASSERT_TRUE(skE.ok()) << skE.status().ToString();
  EXPECT_EQ(Vec(skE->secret().Reveal()), Field(V(), "skEm"));
  EXPECT_EQ(Vec(skE->public_key().bytes), Field(V(), "pkEm"));
  EXPECT_EQ(skE->secret().protection(), SecretBytes::Protection::kLocked);
}

TEST_P(HpkeP256VectorTest, EncapDecapGiveSharedSecret) {
  auto skR = HpkeDeriveKeyPairP256(Field(V(), "ikmR"));
  auto skE = HpkeDeriveKeyPairP256(Field(V(), "ikmE"));
  ASSERT_TRUE(skR.ok() && skE.ok());
  auto encap = HpkeInternal::Encap(skR->public_key(), *skE);
  ASSERT_TRUE(encap.ok()) << encap.status().ToString();
  EXPECT_EQ(encap->enc, Field(V(), "enc"));
  EXPECT_EQ(encap->enc.size(), kHpkeP256EncSize);
  EXPECT_EQ(Vec(encap->shared_secret.Reveal()), Field(V(), "shared_secret"));
  auto decap = HpkeInternal::Decap(Field(V(), "enc"), *skR);
  ASSERT_TRUE(decap.ok()) << decap.status().ToString();
  EXPECT_EQ(Vec(decap->Reveal()), Field(V(), "shared_secret"));
}

// Runs one whole vector: key schedule, all 257 encryptions in sequence on
// both sides, and all exports.
TEST_P(HpkeP256VectorTest, SetupSealOpenExportMatchEveryEntry) {
  const std::vector<uint8_t> info = Field(V(), "info");
  auto skR = HpkeDeriveKeyPairP256(Field(V(), "ikmR"));
  auto skE = HpkeDeriveKeyPairP256(Field(V(), "ikmE"));
  ASSERT_TRUE(skR.ok() && skE.ok());

  auto sender = HpkeSetupBaseSWithEphemeral(Aead(), skR->public_key(), info, *skE);
  ASSERT_TRUE(sender.ok()) << sender.status().ToString();
  auto receiver = HpkeSetupBaseR(Aead(), Field(V(), "enc"), *skR, info);
  ASSERT_TRUE(receiver.ok()) << receiver.status().ToString();

  EXPECT_EQ(sender->enc, Field(V(), "enc"));
  for (const HpkeContext* ctx : {&sender->context, &*receiver}) {
    EXPECT_EQ(Vec(ctx->TestOnlyKey().Reveal()), Field(V(), "key"));
    EXPECT_EQ(Vec(ctx->TestOnlyBaseNonce()), Field(V(), "base_nonce"));
    if (V().contains("exporter_secret")) {
      EXPECT_EQ(Vec(ctx->TestOnlyExporterSecret().Reveal()), Field(V(), "exporter_secret"));
    }
  }

  const Json& encryptions = V().at("encryptions");
  ASSERT_EQ(encryptions.size(), 257u);
  uint64_t seq = 0;
  for (const Json& e : encryptions) {
    SCOPED_TRACE("encryption #" + std::to_string(seq));
    const auto aad = Field(e, "aad"), pt = Field(e, "pt"), ct = Field(e, "ct");
    auto sealed = sender->context.Seal(aad, pt);
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    EXPECT_EQ(*sealed, ct);
    auto opened = receiver->Open(aad, ct);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(Vec(opened->Reveal()), pt);
    ++seq;
    EXPECT_EQ(sender->context.sequence(), seq);
    EXPECT_EQ(receiver->sequence(), seq);
  }

  const Json& exports = V().at("exports");
  ASSERT_EQ(exports.size(), 3u);
  for (const Json& x : exports) {
    const auto context = Field(x, "exporter_context");
    const size_t length = x.at("L").get<size_t>();
    for (const HpkeContext* ctx : {&sender->context, &*receiver}) {
      auto exported = ctx->Export(context, length);
      ASSERT_TRUE(exported.ok()) << exported.status().ToString();
      EXPECT_EQ(Vec(exported->Reveal()), Field(x, "exported_value"));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc9180, HpkeP256VectorTest, ::testing::Range<size_t>(0, 1),
                         [](const ::testing::TestParamInfo<size_t>& p) {
                           return P256Vectors().is_array() && p.param < P256Vectors().size()
                                      ? "aead" + std::to_string(P256Vectors()[p.param].value("aead_id", 0))
                                      : "missing" + std::to_string(p.param);
                         });

// ---------------------------------------------------------------------------
// Round trips and the recipient's refusals of a bad enc, over every AEAD.

class HpkeP256Test : public ::testing::TestWithParam<HpkeAeadId> {
 protected:
  void SetUp() override {
    auto k = P256PrivateKey::Generate(DefaultRandom());
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    skR_.emplace(std::move(*k));
    auto s = HpkeSealBase(GetParam(), skR_->public_key(), info_, aad_, dek_, DefaultRandom());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    sealed_ = std::move(*s);
  }
  const P256PrivateKey& SkR() const { return *skR_; }

  // ExpectRefused checks enc is refused with code by SetupBaseR and by the
  // single-shot open, which then releases nothing.
  void ExpectRefused(const std::vector<uint8_t>& enc, Code code) {
    SCOPED_TRACE("enc " + HexEncode(enc));
    auto r = HpkeSetupBaseR(GetParam(), enc, SkR(), info_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code);
    auto o = HpkeOpenBase(GetParam(), enc, SkR(), info_, aad_, sealed_.ct);
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.status().code(), code);
  }

  const std::vector<uint8_t> info_ = {'a', 's', 't', 'i', 's', ' ', 'c', 'a', 'p', 's', 'u', 'l', 'e'};
  const std::vector<uint8_t> aad_ = {'b', 'i', 'n', 'd'};
  const std::vector<uint8_t> dek_ = std::vector<uint8_t>(32, 0x5a);
  HpkeSealed sealed_;

 private:
  std::optional<P256PrivateKey> skR_;
};

TEST_P(HpkeP256Test, SingleShotRoundTripWithRandomKeys) {
  EXPECT_EQ(sealed_.enc.size(), kHpkeP256EncSize);
  EXPECT_EQ(sealed_.enc[0], 0x04);
  EXPECT_EQ(sealed_.ct.size(), dek_.size() + kAeadTagSize);
  auto opened = HpkeOpenBase(GetParam(), sealed_.enc, SkR(), info_, aad_, sealed_.ct, SecretBytes::Protection::kLocked);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(Vec(opened->Reveal()), dek_);
  EXPECT_EQ(opened->protection(), SecretBytes::Protection::kLocked);
}

TEST_P(HpkeP256Test, EachSealUsesAFreshEphemeralKey) {
  auto again = HpkeSealBase(GetParam(), SkR().public_key(), info_, aad_, dek_, DefaultRandom());
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->enc, sealed_.enc);
  EXPECT_NE(again->ct, sealed_.ct);
}

// RFC 9180 §7.1.1: Npk = 65; 64 and 66 (and 0, 32, 97) are refused.
TEST_P(HpkeP256Test, RejectsWrongEncLength) {
  for (size_t n : {size_t{0}, size_t{32}, size_t{64}, size_t{66}, size_t{97}}) {
    std::vector<uint8_t> enc = sealed_.enc;
    enc.resize(n, 0x42);
    ExpectRefused(enc, Code::kInvalidArgument);
  }
}

// The compressed form (SEC1 0x02/0x03 || x, 33 bytes) is not
// SerializePublicKey's output and is refused, at 33 bytes and padded to 65.
TEST_P(HpkeP256Test, RejectsCompressedEnc) {
  for (uint8_t prefix : {uint8_t{0x02}, uint8_t{0x03}}) {
    std::vector<uint8_t> compressed(sealed_.enc.begin(), sealed_.enc.begin() + 33);
    compressed[0] = prefix;
    ExpectRefused(compressed, Code::kInvalidArgument);
    std::vector<uint8_t> padded = sealed_.enc;
    padded[0] = prefix;
    ExpectRefused(padded, Code::kInvalidArgument);
  }
  // The hybrid forms 0x06/0x07 as well.
  for (uint8_t prefix : {uint8_t{0x06}, uint8_t{0x07}}) {
    std::vector<uint8_t> hybrid = sealed_.enc;
    hybrid[0] = prefix;
    ExpectRefused(hybrid, Code::kInvalidArgument);
  }
}

// The point at infinity: SEC1's single 0x00 byte, the same padded to 65, and
// 0x04 || 0 || 0 (what an implementation writing infinity as (0, 0) sends,
// not on the curve since b != 0).
TEST_P(HpkeP256Test, RejectsIdentityEnc) {
  ExpectRefused({0x00}, Code::kInvalidArgument);
  ExpectRefused(std::vector<uint8_t>(65, 0x00), Code::kInvalidArgument);
  std::vector<uint8_t> zero_point(65, 0x00);
  zero_point[0] = 0x04;
  ExpectRefused(zero_point, Code::kCrypto);
}

// RFC 9180 §7.1.4: a point not on the curve MUST be refused (an invalid-curve
// attack would otherwise learn skR bits).
TEST_P(HpkeP256Test, RejectsPointNotOnCurve) {
  for (size_t i : {size_t{1}, size_t{32}, size_t{33}, size_t{64}}) {
    std::vector<uint8_t> enc = sealed_.enc;
    enc[i] ^= 0x01;
    ExpectRefused(enc, Code::kCrypto);
  }
  // The generator with y + 1 is off the curve.
  auto g = H("046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
             "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f6");
  ExpectRefused(g, Code::kCrypto);
}

// SEC1 §3.2.2.1: each coordinate must be in [0, p-1]. x = p (with the y of
// the genuine point x = 0) would be on the curve if reduced mod p; y = p is
// out of range too.
TEST_P(HpkeP256Test, RejectsCoordinateAtLeastP) {
  const std::string p = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
  const std::string y_at_x0 = "66485c780e2f83d72433bd5d84a06bb6541c2af31dae871728bf856a174f93f4";
  // Sanity: (0, y_at_x0) itself is a valid point, so only the range check
  // can refuse x = p.
  ASSERT_TRUE(P256PublicKey::FromBytes(H("04" + std::string(64, '0') + y_at_x0)).ok());
  ExpectRefused(H("04" + p + y_at_x0), Code::kCrypto);
  std::vector<uint8_t> y_is_p = sealed_.enc;
  const auto pb = H(p);
  std::copy(pb.begin(), pb.end(), y_is_p.begin() + 33);
  ExpectRefused(y_is_p, Code::kCrypto);
  ExpectRefused(H("04" + std::string(64, 'f') + std::string(64, 'f')), Code::kCrypto);
}

TEST_P(HpkeP256Test, RejectsWrongRecipientKeyAndTamperedCiphertext) {
  auto other = P256PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(other.ok());
  auto o = HpkeOpenBase(GetParam(), sealed_.enc, *other, info_, aad_, sealed_.ct);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), Code::kCrypto);
  auto ct = sealed_.ct;
  ct[0] ^= 1;
  auto t = HpkeOpenBase(GetParam(), sealed_.enc, SkR(), info_, aad_, ct);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Code::kCrypto);
}

TEST_P(HpkeP256Test, RefusesWhenRandomFails) {
  crypto_testing::FailingRandom rng;
  auto s = HpkeSealBase(GetParam(), SkR().public_key(), info_, aad_, dek_, rng);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kCrypto);
}

INSTANTIATE_TEST_SUITE_P(AllAeads, HpkeP256Test,
                         ::testing::Values(HpkeAeadId::kAes128Gcm, HpkeAeadId::kAes256Gcm,
                                           HpkeAeadId::kChaCha20Poly1305),
                         [](const ::testing::TestParamInfo<HpkeAeadId>& p) {
                           return "aead" + std::to_string(static_cast<int>(p.param));
                         });

TEST(HpkeP256Misc, RejectsShortIkm) {
  auto r = HpkeDeriveKeyPairP256(std::vector<uint8_t>(31, 7));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

// RFC 9180 §7.1.2: a private scalar must be in [1, n-1].
TEST(HpkeP256Misc, PrivateKeyScalarRange) {
  const auto n = H("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
  auto n_minus_1 = n;
  n_minus_1.back() -= 1;
  EXPECT_FALSE(P256PrivateKey::ScalarInRange(std::vector<uint8_t>(32, 0)));
  EXPECT_FALSE(P256PrivateKey::ScalarInRange(n));
  EXPECT_FALSE(P256PrivateKey::ScalarInRange(std::vector<uint8_t>(32, 0xff)));
  EXPECT_FALSE(P256PrivateKey::ScalarInRange(std::vector<uint8_t>(31, 1)));
  EXPECT_TRUE(P256PrivateKey::ScalarInRange(n_minus_1));
  auto one = std::vector<uint8_t>(32, 0);
  one.back() = 1;
  EXPECT_TRUE(P256PrivateKey::ScalarInRange(one));
  auto k1 = P256PrivateKey::FromBytes(one);
  ASSERT_TRUE(k1.ok());
  // 1 * G is the generator.
  EXPECT_EQ(Vec(k1->public_key().bytes),
            H("046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
              "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"));
  auto k0 = P256PrivateKey::FromBytes(std::vector<uint8_t>(32, 0));
  ASSERT_FALSE(k0.ok());
  EXPECT_EQ(k0.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(P256PrivateKey::FromBytes(n).ok());
}

TEST(HpkeP256Misc, SuiteIdsFollowRfc9180) {
  EXPECT_EQ(HpkeInternal::KemSuiteId(kHpkeKemP256Sha256), (std::vector<uint8_t>{'K', 'E', 'M', 0x00, 0x10}));
  auto id = HpkeInternal::HpkeSuiteId(HpkeAeadId::kAes128Gcm, kHpkeKemP256Sha256);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, (std::vector<uint8_t>{'H', 'P', 'K', 'E', 0x00, 0x10, 0x00, 0x01, 0x00, 0x01}));
}

}  // namespace
}  // namespace astis
