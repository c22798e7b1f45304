// AEAD tests: published known answers and named refusals.
#include "crypto/aead.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/internal/test_util.h"

namespace astis {
namespace {

using crypto_testing::H;
using crypto_testing::Vec;

struct AeadKat {
  const char* name;
  AeadAlg alg;
  const char *key, *nonce, *aad, *pt, *ct, *tag;
};

// McGrew & Viega, "The Galois/Counter Mode of Operation" (GCM spec, 2005),
// test cases 2, 13, 14 and 16; RFC 8439 §2.8.2 for ChaCha20-Poly1305.
const AeadKat kKats[] = {
    {"GcmTestCase2Aes128", AeadAlg::kAes128Gcm, "00000000000000000000000000000000", "000000000000000000000000", "",
     "00000000000000000000000000000000", "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
    {"GcmTestCase13Aes256", AeadAlg::kAes256Gcm,
     "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "530f8afbc74536b9a963b4f1c4cb738b"},
    {"GcmTestCase14Aes256", AeadAlg::kAes256Gcm,
     "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "",
     "00000000000000000000000000000000", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"GcmTestCase16Aes256", AeadAlg::kAes256Gcm,
     "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657"
     "ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
     "bcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    {"Rfc8439Section2_8_2ChaCha20Poly1305", AeadAlg::kChaCha20Poly1305,
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", "070000004041424344454647",
     "50515253c0c1c2c3c4c5c6c7",
     "4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a204966204920636f756c64206f66"
     "66657220796f75206f6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73637265656e20776f756c642062652069"
     "742e",
     "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b29"
     "05d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b"
     "6116",
     "1ae10b594f09e26a7e902ecbd0600691"},
};

class AeadKatTest : public ::testing::TestWithParam<AeadKat> {};

TEST_P(AeadKatTest, SealMatchesPublishedCiphertextAndTag) {
  const AeadKat& k = GetParam();
  auto sealed = AeadSeal(k.alg, H(k.key), H(k.nonce), H(k.aad), H(k.pt));
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  std::vector<uint8_t> expected = H(k.ct);
  auto tag = H(k.tag);
  expected.insert(expected.end(), tag.begin(), tag.end());
  EXPECT_EQ(*sealed, expected);
}

TEST_P(AeadKatTest, OpenRecoversPublishedPlaintext) {
  const AeadKat& k = GetParam();
  std::vector<uint8_t> ct = H(k.ct);
  auto tag = H(k.tag);
  ct.insert(ct.end(), tag.begin(), tag.end());
  auto opened = AeadOpen(k.alg, H(k.key), H(k.nonce), H(k.aad), ct);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(Vec(opened->Reveal()), H(k.pt));
}

INSTANTIATE_TEST_SUITE_P(Published, AeadKatTest, ::testing::ValuesIn(kKats),
                         [](const ::testing::TestParamInfo<AeadKat>& p) { return std::string(p.param.name); });

// Refusals, over every algorithm.
class AeadTest : public ::testing::TestWithParam<AeadAlg> {
 protected:
  void SetUp() override {
    key_.resize(AeadKeySize(GetParam()));
    ASSERT_TRUE(DefaultRandom().Fill(key_).ok());
    auto s = AeadSeal(GetParam(), key_, nonce_, aad_, pt_);
    ASSERT_TRUE(s.ok());
    ct_ = *s;
  }
  void ExpectAuthFailure(std::span<const uint8_t> key, std::span<const uint8_t> nonce,
                         std::span<const uint8_t> aad, std::span<const uint8_t> ct) {
    auto r = AeadOpen(GetParam(), key, nonce, aad, ct);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCrypto);
    EXPECT_EQ(r.status().message(), "aead: authentication failed");
  }
  std::vector<uint8_t> key_;
  const std::vector<uint8_t> nonce_ = std::vector<uint8_t>(12, 0x24);
  const std::vector<uint8_t> aad_ = {'a', 'a', 'd'};
  const std::vector<uint8_t> pt_ = std::vector<uint8_t>(100, 0x61);
  std::vector<uint8_t> ct_;
};

TEST_P(AeadTest, RoundTripIncludingEmptyPlaintext) {
  auto opened = AeadOpen(GetParam(), key_, nonce_, aad_, ct_, SecretBytes::Protection::kLocked);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(Vec(opened->Reveal()), pt_);
  auto empty = AeadSeal(GetParam(), key_, nonce_, {}, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), kAeadTagSize);
  auto opened_empty = AeadOpen(GetParam(), key_, nonce_, {}, *empty);
  ASSERT_TRUE(opened_empty.ok());
  EXPECT_TRUE(opened_empty->empty());
}

TEST_P(AeadTest, RejectsTamperedCiphertext) {
  for (size_t i = 0; i < ct_.size(); ++i) {
    auto ct = ct_;
    ct[i] ^= 0x80;
    ExpectAuthFailure(key_, nonce_, aad_, ct);
  }
}

TEST_P(AeadTest, RejectsTruncatedCiphertext) {
  ExpectAuthFailure(key_, nonce_, aad_, std::span<const uint8_t>(ct_).first(ct_.size() - 1));
  ExpectAuthFailure(key_, nonce_, aad_, std::span<const uint8_t>(ct_).first(kAeadTagSize - 1));
  ExpectAuthFailure(key_, nonce_, aad_, {});
}

TEST_P(AeadTest, RejectsTamperedAad) {
  auto aad = aad_;
  aad[0] ^= 1;
  ExpectAuthFailure(key_, nonce_, aad, ct_);
  ExpectAuthFailure(key_, nonce_, {}, ct_);
}

TEST_P(AeadTest, RejectsWrongKey) {
  auto key = key_;
  key.back() ^= 1;
  ExpectAuthFailure(key, nonce_, aad_, ct_);
}

TEST_P(AeadTest, RejectsWrongNonce) {
  auto nonce = nonce_;
  nonce[11] ^= 1;
  ExpectAuthFailure(key_, nonce, aad_, ct_);
}

TEST_P(AeadTest, RejectsWrongNonceLength) {
  for (size_t n : {size_t{0}, size_t{8}, size_t{11}, size_t{13}, size_t{16}}) {
    std::vector<uint8_t> nonce(n, 0x24);
    auto s = AeadSeal(GetParam(), key_, nonce, aad_, pt_);
    ASSERT_FALSE(s.ok()) << n;
    EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
    auto o = AeadOpen(GetParam(), key_, nonce, aad_, ct_);
    ASSERT_FALSE(o.ok()) << n;
    EXPECT_EQ(o.status().code(), Code::kInvalidArgument);
  }
}

TEST_P(AeadTest, RejectsWrongKeyLength) {
  for (size_t n : {size_t{0}, size_t{15}, size_t{24}, size_t{33}}) {
    if (n == AeadKeySize(GetParam())) continue;
    std::vector<uint8_t> key(n, 1);
    auto s = AeadSeal(GetParam(), key, nonce_, aad_, pt_);
    ASSERT_FALSE(s.ok()) << n;
    EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
    auto o = AeadOpen(GetParam(), key, nonce_, aad_, ct_);
    ASSERT_FALSE(o.ok()) << n;
    EXPECT_EQ(o.status().code(), Code::kInvalidArgument);
  }
}

INSTANTIATE_TEST_SUITE_P(AllAlgs, AeadTest,
                         ::testing::Values(AeadAlg::kAes128Gcm, AeadAlg::kAes256Gcm, AeadAlg::kChaCha20Poly1305),
                         [](const ::testing::TestParamInfo<AeadAlg>& p) {
                           switch (p.param) {
                             case AeadAlg::kAes128Gcm: return std::string("Aes128Gcm");
                             case AeadAlg::kAes256Gcm: return std::string("Aes256Gcm");
                             case AeadAlg::kChaCha20Poly1305: return std::string("ChaCha20Poly1305");
                           }
                           return std::string("unknown");
                         });

TEST(AeadKeySize, MatchesAlgorithms) {
  EXPECT_EQ(AeadKeySize(AeadAlg::kAes128Gcm), 16u);
  EXPECT_EQ(AeadKeySize(AeadAlg::kAes256Gcm), 32u);
  EXPECT_EQ(AeadKeySize(AeadAlg::kChaCha20Poly1305), 32u);
}

}  // namespace
}  // namespace astis
