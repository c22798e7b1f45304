// HPKE (RFC 9180) tests: every entry of the RFC's DHKEM(X25519, HKDF-SHA256)
// mode_base vectors (testdata/vectors/hpke-x25519-base.json), then named
// refusals.
#include "crypto/hpke.h"

#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/internal/hpke_internal.h"
#include "crypto/internal/test_util.h"

namespace astis {
namespace {

using crypto_testing::H;
using crypto_testing::Vec;

// ---------------------------------------------------------------------------
// RFC 9180 Appendix A vectors, one parameter per suite in the file.

struct HpkeVector {
  std::string name;
  Json json;
};

std::vector<HpkeVector> LoadHpkeVectors() {
  std::vector<HpkeVector> out;
  Json all = crypto_testing::LoadVector("hpke-x25519-base.json");
  if (!all.is_array()) return out;
  for (const Json& v : all) out.push_back({"aead" + std::to_string(v.value("aead_id", 0)), v});
  return out;
}

const std::vector<HpkeVector>& Vectors() {
  static const auto* v = new std::vector<HpkeVector>(LoadHpkeVectors());
  return *v;
}

std::vector<uint8_t> Field(const Json& j, const char* key) {
  auto s = GetString(j, key);
  EXPECT_TRUE(s.ok()) << "vector field missing: " << key;
  return s.ok() ? H(*s) : std::vector<uint8_t>{};
}

TEST(HpkeVectorFile, HoldsBothSuitesWithAllEntries) {
  ASSERT_EQ(Vectors().size(), 2u);
  std::vector<int64_t> aeads;
  for (const auto& v : Vectors()) {
    aeads.push_back(v.json.at("aead_id").get<int64_t>());
    EXPECT_EQ(v.json.at("encryptions").size(), 257u);
    EXPECT_EQ(v.json.at("exports").size(), 3u);
  }
  EXPECT_EQ(aeads, (std::vector<int64_t>{2, 3}));
}

class HpkeVectorTest : public ::testing::TestWithParam<size_t> {
 protected:
  const Json& V() const { return Vectors().at(GetParam()).json; }
  HpkeAeadId Aead() const { return static_cast<HpkeAeadId>(V().at("aead_id").get<uint16_t>()); }
};

TEST_P(HpkeVectorTest, SuiteIsModeBaseX25519HkdfSha256) {
  EXPECT_EQ(V().at("mode").get<int>(), 0);
  EXPECT_EQ(V().at("kem_id").get<int>(), kHpkeKemX25519Sha256);
  EXPECT_EQ(V().at("kdf_id").get<int>(), kHpkeKdfHkdfSha256);
}

TEST_P(HpkeVectorTest, DeriveKeyPairMatches) {
  auto skR = HpkeDeriveKeyPair(Field(V(), "ikmR"));
  ASSERT_TRUE(skR.ok()) << skR.status().ToString();
  EXPECT_EQ(Vec(skR->secret().Reveal()), Field(V(), "skRm"));
  EXPECT_EQ(Vec(skR->public_key().bytes), Field(V(), "pkRm"));
  auto skE = HpkeDeriveKeyPair(Field(V(), "ikmE"), SecretBytes::Protection::kLocked);
  ASSERT_TRUE(skE.ok()) << skE.status().ToString();
  EXPECT_EQ(Vec(skE->secret().Reveal()), Field(V(), "skEm"));
  EXPECT_EQ(Vec(skE->public_key().bytes), Field(V(), "pkEm"));
}

TEST_P(HpkeVectorTest, EncapDecapGiveSharedSecret) {
  auto skR = HpkeDeriveKeyPair(Field(V(), "ikmR"));
  auto skE = HpkeDeriveKeyPair(Field(V(), "ikmE"));
  ASSERT_TRUE(skR.ok() && skE.ok());
  auto encap = HpkeInternal::Encap(skR->public_key(), *skE);
  ASSERT_TRUE(encap.ok()) << encap.status().ToString();
  EXPECT_EQ(encap->enc, Field(V(), "enc"));
  EXPECT_EQ(Vec(encap->shared_secret.Reveal()), Field(V(), "shared_secret"));
  auto decap = HpkeInternal::Decap(Field(V(), "enc"), *skR);
  ASSERT_TRUE(decap.ok()) << decap.status().ToString();
  EXPECT_EQ(Vec(decap->Reveal()), Field(V(), "shared_secret"));
}

// Runs one whole vector: key schedule, all 257 encryptions in sequence on
// both sides, and all exports.
TEST_P(HpkeVectorTest, SetupSealOpenExportMatchEveryEntry) {
  const std::vector<uint8_t> info = Field(V(), "info");
  auto skR = HpkeDeriveKeyPair(Field(V(), "ikmR"));
  auto skE = HpkeDeriveKeyPair(Field(V(), "ikmE"));
  ASSERT_TRUE(skR.ok() && skE.ok());

  auto sender = HpkeSetupBaseSWithEphemeral(Aead(), skR->public_key(), info, *skE);
  ASSERT_TRUE(sender.ok()) << sender.status().ToString();
  auto receiver = HpkeSetupBaseR(Aead(), sender->enc, *skR, info);
  ASSERT_TRUE(receiver.ok()) << receiver.status().ToString();

  EXPECT_EQ(sender->enc, Field(V(), "enc"));
  for (const HpkeContext* ctx : {&sender->context, &*receiver}) {
    EXPECT_EQ(Vec(ctx->TestOnlyKey().Reveal()), Field(V(), "key"));
    EXPECT_EQ(Vec(ctx->TestOnlyBaseNonce()), Field(V(), "base_nonce"));
    EXPECT_EQ(Vec(ctx->TestOnlyExporterSecret().Reveal()), Field(V(), "exporter_secret"));
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

INSTANTIATE_TEST_SUITE_P(Rfc9180, HpkeVectorTest, ::testing::Range<size_t>(0, 2),
                         [](const ::testing::TestParamInfo<size_t>& p) {
                           return p.param < Vectors().size() ? Vectors()[p.param].name
                                                                : "missing" + std::to_string(p.param);
                         });

// ---------------------------------------------------------------------------
// Round trips and refusals, over every AEAD the header offers.

class HpkeTest : public ::testing::TestWithParam<HpkeAeadId> {
 protected:
  void SetUp() override {
    auto k = X25519PrivateKey::Generate(DefaultRandom());
    ASSERT_TRUE(k.ok());
    skR_.emplace(std::move(*k));
  }
  const X25519PrivateKey& SkR() const { return *skR_; }
  HpkeSealed SealOrDie(std::span<const uint8_t> info, std::span<const uint8_t> aad,
                       std::span<const uint8_t> pt) {
    auto s = HpkeSealBase(GetParam(), SkR().public_key(), info, aad, pt, DefaultRandom());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : HpkeSealed{};
  }

  const std::vector<uint8_t> info_ = {'a', 's', 't', 'i', 's', ' ', 'c', 'a', 'p', 's', 'u', 'l', 'e'};
  const std::vector<uint8_t> aad_ = {'b', 'i', 'n', 'd'};
  const std::vector<uint8_t> dek_ = std::vector<uint8_t>(32, 0x5a);

 private:
  std::optional<X25519PrivateKey> skR_;
};

TEST_P(HpkeTest, SingleShotRoundTripWithRandomKeys) {
  auto sealed = SealOrDie(info_, aad_, dek_);
  EXPECT_EQ(sealed.enc.size(), kHpkeEncSize);
  EXPECT_EQ(sealed.ct.size(), dek_.size() + kAeadTagSize);
  auto opened = HpkeOpenBase(GetParam(), sealed.enc, SkR(), info_, aad_, sealed.ct, SecretBytes::Protection::kLocked);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(Vec(opened->Reveal()), dek_);
  EXPECT_EQ(opened->protection(), SecretBytes::Protection::kLocked);
}

TEST_P(HpkeTest, EachSealUsesAFreshEphemeralKey) {
  auto a = SealOrDie(info_, aad_, dek_);
  auto b = SealOrDie(info_, aad_, dek_);
  EXPECT_NE(a.enc, b.enc);
  EXPECT_NE(a.ct, b.ct);
}

TEST_P(HpkeTest, RejectsWrongEncLength) {
  auto sealed = SealOrDie(info_, aad_, dek_);
  for (size_t n : {size_t{0}, size_t{31}, size_t{33}, size_t{65}}) {
    std::vector<uint8_t> enc = sealed.enc;
    enc.resize(n, 0x42);
    auto r = HpkeSetupBaseR(GetParam(), enc, SkR(), info_);
    ASSERT_FALSE(r.ok()) << "enc length " << n;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    auto o = HpkeOpenBase(GetParam(), enc, SkR(), info_, aad_, sealed.ct);
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.status().code(), Code::kInvalidArgument);
  }
}

// RFC 9180 §7.1.4: a DH output of all zeros (low-order pkE) MUST be refused.
TEST_P(HpkeTest, RejectsLowOrderPoint) {
  const std::vector<std::vector<uint8_t>> low_order = {
      std::vector<uint8_t>(32, 0),                                              // 0
      H("0100000000000000000000000000000000000000000000000000000000000000"),  // 1
      H("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),  // order 8
      H("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),  // order 8
      H("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  // p - 1
  };
  for (const auto& enc : low_order) {
    auto r = HpkeSetupBaseR(GetParam(), enc, SkR(), info_);
    ASSERT_FALSE(r.ok()) << HexEncode(enc);
    EXPECT_EQ(r.status().code(), Code::kCrypto);
  }
  // And as a sender: a low-order recipient key is refused too.
  auto pk = X25519PublicKey::FromBytes(low_order[0]);
  ASSERT_TRUE(pk.ok());
  auto s = HpkeSealBase(GetParam(), *pk, info_, aad_, dek_, DefaultRandom());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kCrypto);
}

TEST_P(HpkeTest, RejectsTamperedCiphertext) {
  auto sealed = SealOrDie(info_, aad_, dek_);
  for (size_t i = 0; i < sealed.ct.size(); ++i) {
    auto ct = sealed.ct;
    ct[i] ^= 0x01;
    auto o = HpkeOpenBase(GetParam(), sealed.enc, SkR(), info_, aad_, ct);
    ASSERT_FALSE(o.ok()) << "byte " << i;
    EXPECT_EQ(o.status().code(), Code::kCrypto);
  }
  auto truncated = std::span<const uint8_t>(sealed.ct).first(sealed.ct.size() - 1);
  EXPECT_FALSE(HpkeOpenBase(GetParam(), sealed.enc, SkR(), info_, aad_, truncated).ok());
  auto enc = sealed.enc;
  enc[0] ^= 0x80;
  EXPECT_FALSE(HpkeOpenBase(GetParam(), enc, SkR(), info_, aad_, sealed.ct).ok());
}

TEST_P(HpkeTest, RejectsTamperedAad) {
  auto sealed = SealOrDie(info_, aad_, dek_);
  auto aad = aad_;
  aad.back() ^= 0x01;
  auto o = HpkeOpenBase(GetParam(), sealed.enc, SkR(), info_, aad, sealed.ct);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), Code::kCrypto);
  EXPECT_FALSE(HpkeOpenBase(GetParam(), sealed.enc, SkR(), info_, {}, sealed.ct).ok());
}

TEST_P(HpkeTest, RejectsWrongRecipientKey) {
  auto sealed = SealOrDie(info_, aad_, dek_);
  auto other = X25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(other.ok());
  auto o = HpkeOpenBase(GetParam(), sealed.enc, *other, info_, aad_, sealed.ct);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), Code::kCrypto);
}

TEST_P(HpkeTest, RejectsWrongInfo) {
  auto sealed = SealOrDie(info_, aad_, dek_);
  const std::vector<uint8_t> rewrap = {'a', 's', 't', 'i', 's', ' ', 'r', 'e', 'w', 'r', 'a', 'p'};
  auto o = HpkeOpenBase(GetParam(), sealed.enc, SkR(), rewrap, aad_, sealed.ct);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), Code::kCrypto);
}

TEST_P(HpkeTest, RejectsWrongAeadId) {
  auto sealed = SealOrDie(info_, aad_, dek_);
  const HpkeAeadId other =
      GetParam() == HpkeAeadId::kChaCha20Poly1305 ? HpkeAeadId::kAes256Gcm : HpkeAeadId::kChaCha20Poly1305;
  EXPECT_FALSE(HpkeOpenBase(other, sealed.enc, SkR(), info_, aad_, sealed.ct).ok());
}

TEST_P(HpkeTest, SequenceAdvancesOnlyOnSuccessfulOpen) {
  auto sender = HpkeSetupBaseS(GetParam(), SkR().public_key(), info_, DefaultRandom());
  ASSERT_TRUE(sender.ok());
  auto ct0 = sender->context.Seal(aad_, dek_);
  auto ct1 = sender->context.Seal(aad_, dek_);
  ASSERT_TRUE(ct0.ok() && ct1.ok());
  EXPECT_NE(*ct0, *ct1);  // distinct nonces
  auto receiver = HpkeSetupBaseR(GetParam(), sender->enc, SkR(), info_);
  ASSERT_TRUE(receiver.ok());
  // Out of order: ct1 at sequence 0 fails and the sequence stays at 0.
  EXPECT_FALSE(receiver->Open(aad_, *ct1).ok());
  EXPECT_EQ(receiver->sequence(), 0u);
  auto bad = *ct0;
  bad[0] ^= 1;
  EXPECT_FALSE(receiver->Open(aad_, bad).ok());
  EXPECT_EQ(receiver->sequence(), 0u);
  auto p0 = receiver->Open(aad_, *ct0);
  ASSERT_TRUE(p0.ok());
  EXPECT_EQ(receiver->sequence(), 1u);
  auto p1 = receiver->Open(aad_, *ct1);
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(Vec(p1->Reveal()), dek_);
  EXPECT_EQ(receiver->sequence(), 2u);
}

// RFC 9180 §5.2: the sequence number must not wrap (MessageLimitReached).
TEST_P(HpkeTest, RefusesAtSequenceLimit) {
  auto sender = HpkeSetupBaseS(GetParam(), SkR().public_key(), info_, DefaultRandom());
  ASSERT_TRUE(sender.ok());
  auto receiver = HpkeSetupBaseR(GetParam(), sender->enc, SkR(), info_);
  ASSERT_TRUE(receiver.ok());
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  HpkeInternal::SetSequenceForTesting(sender->context, kMax - 1);
  HpkeInternal::SetSequenceForTesting(*receiver, kMax - 1);
  auto last = sender->context.Seal(aad_, dek_);
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(receiver->Open(aad_, *last).ok());
  auto refused = sender->context.Seal(aad_, dek_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(sender->context.sequence(), kMax);
  auto refused_open = receiver->Open(aad_, *last);
  ASSERT_FALSE(refused_open.ok());
  EXPECT_EQ(refused_open.status().code(), Code::kFailedPrecondition);
}

TEST_P(HpkeTest, ExportAgreesAndRejectsTooLong) {
  auto sender = HpkeSetupBaseS(GetParam(), SkR().public_key(), info_, DefaultRandom());
  ASSERT_TRUE(sender.ok());
  auto receiver = HpkeSetupBaseR(GetParam(), sender->enc, SkR(), info_);
  ASSERT_TRUE(receiver.ok());
  auto a = sender->context.Export(aad_, 255 * 32);
  auto b = receiver->Export(aad_, 255 * 32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(*a == *b);
  auto too_long = sender->context.Export(aad_, 255 * 32 + 1);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), Code::kInvalidArgument);
}

TEST_P(HpkeTest, RefusesWhenRandomFails) {
  crypto_testing::FailingRandom rng;
  auto s = HpkeSealBase(GetParam(), SkR().public_key(), info_, aad_, dek_, rng);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kCrypto);
}

INSTANTIATE_TEST_SUITE_P(AllAeads, HpkeTest,
                         ::testing::Values(HpkeAeadId::kAes128Gcm, HpkeAeadId::kAes256Gcm,
                                           HpkeAeadId::kChaCha20Poly1305),
                         [](const ::testing::TestParamInfo<HpkeAeadId>& p) {
                           return "aead" + std::to_string(static_cast<int>(p.param));
                         });

TEST(HpkeMisc, RejectsShortIkm) {
  auto r = HpkeDeriveKeyPair(std::vector<uint8_t>(31, 7));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(HpkeMisc, RejectsUnknownAeadId) {
  auto k = X25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(k.ok());
  const auto bogus = static_cast<HpkeAeadId>(0xffff);  // export-only id
  auto s = HpkeSetupBaseS(bogus, k->public_key(), {}, DefaultRandom());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
  auto r = HpkeSetupBaseR(bogus, std::vector<uint8_t>(32, 9), *k, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST(HpkeMisc, SuiteIdsFollowRfc9180) {
  EXPECT_EQ(HpkeInternal::KemSuiteId(), (std::vector<uint8_t>{'K', 'E', 'M', 0x00, 0x20}));
  auto id = HpkeInternal::HpkeSuiteId(HpkeAeadId::kAes256Gcm);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, (std::vector<uint8_t>{'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x02}));
}

}  // namespace
}  // namespace astis
