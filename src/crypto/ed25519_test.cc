// Ed25519 tests: RFC 8032 §7.1 and RFC 8037 Appendix A, then refusals.
#include "crypto/ed25519.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/internal/test_util.h"

namespace astis {
namespace {

using crypto_testing::H;
using crypto_testing::Vec;

struct Ed25519Kat {
  const char* name;
  const char *seed, *pk, *msg, *sig;
};

// RFC 8032 §7.1 TEST 1, TEST 2 and TEST 3.
const Ed25519Kat kKats[] = {
    {"Rfc8032Test1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe2465"
     "5141438e7a100b"},
    {"Rfc8032Test2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb0"
     "0d291612bb0c00"},
    {"Rfc8032Test3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc0"
     "27beceea1ec40a"},
};

class Ed25519KatTest : public ::testing::TestWithParam<Ed25519Kat> {};

TEST_P(Ed25519KatTest, SignAndVerifyMatch) {
  const Ed25519Kat& k = GetParam();
  auto sk = Ed25519PrivateKey::FromSeed(H(k.seed));
  ASSERT_TRUE(sk.ok());
  EXPECT_EQ(Vec(sk->public_key().bytes), H(k.pk));
  const auto msg = H(k.msg);
  EXPECT_EQ(Vec(sk->Sign(msg)), H(k.sig));
  auto pk = Ed25519PublicKey::FromBytes(H(k.pk));
  ASSERT_TRUE(pk.ok());
  EXPECT_TRUE(Ed25519Verify(*pk, msg, H(k.sig)).ok());
}

INSTANTIATE_TEST_SUITE_P(Published, Ed25519KatTest, ::testing::ValuesIn(kKats),
                         [](const ::testing::TestParamInfo<Ed25519Kat>& p) { return std::string(p.param.name); });

// RFC 8037 Appendix A.1 (key) and A.4/A.5 (signature over the JWS input),
// from testdata/vectors/rfc8037-ed25519.json.
TEST(Ed25519Test, Rfc8037AppendixA) {
  Json v = crypto_testing::LoadVector("rfc8037-ed25519.json");
  ASSERT_TRUE(v.is_object());
  auto d = B64uDecode(v.at("A.1_private_key_jwk").at("d").get<std::string>());
  auto x = B64uDecode(v.at("A.1_private_key_jwk").at("x").get<std::string>());
  ASSERT_TRUE(d.ok() && x.ok());
  EXPECT_EQ(*d, H(v.at("A.1_private_key_hex").get<std::string>()));
  auto sk = Ed25519PrivateKey::FromSeed(*d, SecretBytes::Protection::kLocked);
  ASSERT_TRUE(sk.ok());
  EXPECT_EQ(Vec(sk->public_key().bytes), *x);
  EXPECT_EQ(Vec(sk->public_key().bytes), H(v.at("A.1_public_key_hex").get<std::string>()));

  const std::string input = v.at("A.4_signing").at("signing_input").get<std::string>();
  const auto expected = H(v.at("A.4_signing").at("signature_hex").get<std::string>());
  EXPECT_EQ(Vec(sk->Sign(AsBytes(input))), expected);
  EXPECT_TRUE(Ed25519Verify(sk->public_key(), AsBytes(input), expected).ok());
}

class Ed25519RefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sk = Ed25519PrivateKey::Generate(DefaultRandom());
    ASSERT_TRUE(sk.ok());
    pk_ = sk->public_key();
    sig_ = sk->Sign(msg_);
    ASSERT_TRUE(Ed25519Verify(pk_, msg_, sig_).ok());
  }
  void ExpectRefused(const Ed25519PublicKey& pk, std::span<const uint8_t> msg, std::span<const uint8_t> sig) {
    Status s = Ed25519Verify(pk, msg, sig);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), Code::kCrypto);
  }
  const std::vector<uint8_t> msg_ = {'h', 'e', 'l', 'l', 'o'};
  Ed25519PublicKey pk_;
  Ed25519Signature sig_{};
};

TEST_F(Ed25519RefusalTest, RejectsModifiedMessage) {
  auto msg = msg_;
  msg[0] ^= 1;
  ExpectRefused(pk_, msg, sig_);
  msg = msg_;
  msg.push_back(0);
  ExpectRefused(pk_, msg, sig_);
  ExpectRefused(pk_, {}, sig_);
}

TEST_F(Ed25519RefusalTest, RejectsModifiedSignature) {
  for (size_t i = 0; i < sig_.size(); ++i) {
    auto sig = sig_;
    sig[i] ^= 0x01;
    ExpectRefused(pk_, msg_, sig);
  }
}

TEST_F(Ed25519RefusalTest, RejectsWrongLength) {
  std::vector<uint8_t> sig(sig_.begin(), sig_.end());
  ExpectRefused(pk_, msg_, std::span<const uint8_t>(sig).first(63));
  sig.push_back(0);
  ExpectRefused(pk_, msg_, sig);
  ExpectRefused(pk_, msg_, {});
}

TEST_F(Ed25519RefusalTest, RejectsWrongPublicKey) {
  auto other = Ed25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(other.ok());
  ExpectRefused(other->public_key(), msg_, sig_);
}

// RFC 8032 §5.1.7 step 1: S must be < L; S + L is the classic malleated
// signature and must be refused.
TEST_F(Ed25519RefusalTest, RejectsNonCanonicalS) {
  const auto l = H("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");  // L, little-endian
  auto sig = sig_;
  unsigned carry = 0;
  for (size_t i = 0; i < 32; ++i) {
    unsigned sum = sig[32 + i] + l[i] + carry;
    sig[32 + i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
  }
  ASSERT_EQ(carry, 0u);
  ExpectRefused(pk_, msg_, sig);
}

TEST_F(Ed25519RefusalTest, RejectsSmallOrderPublicKey) {
  auto identity = Ed25519PublicKey::FromBytes(H("0100000000000000000000000000000000000000000000000000000000000000"));
  ASSERT_TRUE(identity.ok());
  // With the identity as key, R = identity and S = 0 "verify" naively.
  std::vector<uint8_t> sig(64, 0);
  sig[0] = 1;
  ExpectRefused(*identity, msg_, sig);
}

TEST(Ed25519Test, RejectsWrongKeyLengths) {
  for (size_t n : {size_t{0}, size_t{31}, size_t{33}, size_t{64}}) {
    std::vector<uint8_t> b(n, 3);
    auto pk = Ed25519PublicKey::FromBytes(b);
    ASSERT_FALSE(pk.ok());
    EXPECT_EQ(pk.status().code(), Code::kInvalidArgument);
    auto sk = Ed25519PrivateKey::FromSeed(b);
    ASSERT_FALSE(sk.ok());
    EXPECT_EQ(sk.status().code(), Code::kInvalidArgument);
  }
}

TEST(Ed25519Test, GenerateRefusesWhenRandomFails) {
  crypto_testing::FailingRandom rng;
  auto k = Ed25519PrivateKey::Generate(rng);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), Code::kCrypto);
}

}  // namespace
}  // namespace astis
