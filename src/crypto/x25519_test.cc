// X25519 tests: RFC 7748 vectors and the low-order refusal.
#include "crypto/x25519.h"

#include <vector>

#include <gtest/gtest.h>

#include "crypto/internal/test_util.h"

namespace astis {
namespace {

using crypto_testing::H;
using crypto_testing::Vec;

// RFC 7748 §6.1 (Diffie-Hellman test vector).
TEST(X25519Test, Rfc7748Section6_1AliceAndBob) {
  auto alice = X25519PrivateKey::FromBytes(H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  auto bob = X25519PrivateKey::FromBytes(H("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
                                         SecretBytes::Protection::kLocked);
  ASSERT_TRUE(alice.ok() && bob.ok());
  EXPECT_EQ(Vec(alice->public_key().bytes), H("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
  EXPECT_EQ(Vec(bob->public_key().bytes), H("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
  auto k1 = alice->Agree(bob->public_key());
  auto k2 = bob->Agree(alice->public_key());
  ASSERT_TRUE(k1.ok() && k2.ok());
  const auto shared = H("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(Vec(k1->Reveal()), shared);
  EXPECT_EQ(Vec(k2->Reveal()), shared);
  EXPECT_EQ(k2->protection(), SecretBytes::Protection::kLocked);
}

// RFC 7748 §5.2, first single-multiplication vector (exercises clamping).
TEST(X25519Test, Rfc7748Section5_2ScalarMult) {
  auto k = X25519PrivateKey::FromBytes(H("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"));
  auto u = X25519PublicKey::FromBytes(H("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"));
  ASSERT_TRUE(k.ok() && u.ok());
  auto out = k->Agree(*u);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Vec(out->Reveal()), H("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"));
}

// RFC 7748 §6.1 / RFC 9180 §7.1.4: an all-zero shared secret is refused.
TEST(X25519Test, RejectsLowOrderPeer) {
  auto sk = X25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(sk.ok());
  for (const char* hex : {
           "0000000000000000000000000000000000000000000000000000000000000000",  // 0
           "0100000000000000000000000000000000000000000000000000000000000000",  // 1
           "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",  // order 8
           "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",  // order 8
           "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p - 1
           "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p (= 0)
           "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p + 1 (= 1)
       }) {
    auto peer = X25519PublicKey::FromBytes(H(hex));
    ASSERT_TRUE(peer.ok());
    auto r = sk->Agree(*peer);
    ASSERT_FALSE(r.ok()) << hex;
    EXPECT_EQ(r.status().code(), Code::kCrypto);
  }
}

TEST(X25519Test, RejectsWrongKeyLengths) {
  for (size_t n : {size_t{0}, size_t{31}, size_t{33}}) {
    std::vector<uint8_t> b(n, 9);
    auto pk = X25519PublicKey::FromBytes(b);
    ASSERT_FALSE(pk.ok());
    EXPECT_EQ(pk.status().code(), Code::kInvalidArgument);
    auto sk = X25519PrivateKey::FromBytes(b);
    ASSERT_FALSE(sk.ok());
    EXPECT_EQ(sk.status().code(), Code::kInvalidArgument);
  }
}

TEST(X25519Test, GenerateGivesDistinctAgreeingKeys) {
  auto a = X25519PrivateKey::Generate(DefaultRandom());
  auto b = X25519PrivateKey::Generate(DefaultRandom(), SecretBytes::Protection::kLocked);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->public_key(), b->public_key());
  EXPECT_EQ(b->secret().protection(), SecretBytes::Protection::kLocked);
  auto ab = a->Agree(b->public_key());
  auto ba = b->Agree(a->public_key());
  ASSERT_TRUE(ab.ok() && ba.ok());
  EXPECT_TRUE(*ab == *ba);
}

TEST(X25519Test, GenerateRefusesWhenRandomFails) {
  crypto_testing::FailingRandom rng;
  auto k = X25519PrivateKey::Generate(rng);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), Code::kCrypto);
}

}  // namespace
}  // namespace astis
