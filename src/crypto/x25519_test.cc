// X25519 tests: RFC 7748 vectors, the low-order refusal and low-order
// detection (IsLowOrderX25519), checked against every Wycheproof x25519 vector.
#include "crypto/x25519.h"

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/internal/test_util.h"

namespace astis {
namespace {

using crypto_testing::H;
using crypto_testing::LoadVector;
using crypto_testing::Vec;

X25519PublicKey Pk(std::string_view hex) {
  auto pk = X25519PublicKey::FromBytes(H(hex));
  EXPECT_TRUE(pk.ok()) << hex;
  return pk.ok() ? *pk : X25519PublicKey{};
}

// Every 32-byte encoding of a low-order X25519 point, p = 2^255 - 19. X25519
// masks bit 255 and reduces mod p (RFC 7748 §5), so each of u = 0, 1, p-1
// and the two order-8 points has its canonical encoding, the non-canonical
// p (= 0) and p+1 (= 1), and each of those with bit 255 set: 14 encodings.
// Sources: libsodium's small-order list (src/libsodium/crypto_scalarmult/
// curve25519/ref10/x25519_ref10.c, has_small_order(): the first seven, then
// compared with bit 255 masked, which gives the other seven), and the
// Wycheproof x25519 vectors flagged LowOrderPublic (tcId given; all 31 such
// vectors use one of these 14 keys, LowOrderMatchesWycheproof checks them).
constexpr const char* kLowOrderEncodings[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",  // 0, order 2 (tcId 32)
    "0100000000000000000000000000000000000000000000000000000000000000",  // 1, order 4 (tcId 33)
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",  // order 8 (tcId 63)
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",  // order 8 (tcId 64)
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p-1, order 4 on the twist (tcId 65)
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p, non-canonical 0 (tcId 74)
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p+1, non-canonical 1 (tcId 75)
    // The same seven with bit 255 set, which X25519 ignores.
    "0000000000000000000000000000000000000000000000000000000000000080",  // 0 + 2^255 (tcId 76)
    "0100000000000000000000000000000000000000000000000000000000000080",  // 1 + 2^255 (tcId 77)
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",  // order 8 + 2^255 (tcId 66)
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",  // order 8 + 2^255 (tcId 67)
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  // p-1 + 2^255 (tcId 68)
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  // p + 2^255 (tcId 81)
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  // p+1 + 2^255 (tcId 82)
};

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

// RFC 7748 §6.1, RFC 9180 §7.1.4, docs/protocol.md §4.1: every low-order
// encoding is detected, and is indeed one whose agreement is all zero for
// every private key (so Agree refuses it).
TEST(X25519Test, LowOrderPointsDetected) {
  std::vector<X25519PrivateKey> keys;
  for (int i = 0; i < 4; ++i) {
    auto k = X25519PrivateKey::Generate(DefaultRandom());
    ASSERT_TRUE(k.ok());
    keys.push_back(std::move(k).value());
  }
  std::set<std::string> distinct;
  for (const char* hex : kLowOrderEncodings) {
    distinct.insert(hex);
    X25519PublicKey pk = Pk(hex);
    EXPECT_TRUE(IsLowOrderX25519(pk)) << hex;
    for (const auto& k : keys) {
      auto r = k.Agree(pk);
      ASSERT_FALSE(r.ok()) << hex;
      EXPECT_EQ(r.status().code(), Code::kCrypto);
    }
  }
  EXPECT_EQ(distinct.size(), 14u);
}

// Valid public keys — fresh random ones, the RFC 7748 keys, and values next
// to the low-order ones (2, p-2, p+2, 2^255-1, all ones, the order-8 points
// +-1) — are not flagged.
TEST(X25519Test, ValidKeysNotLowOrder) {
  for (int i = 0; i < 64; ++i) {
    auto k = X25519PrivateKey::Generate(DefaultRandom());
    ASSERT_TRUE(k.ok());
    EXPECT_FALSE(IsLowOrderX25519(k->public_key())) << i;
    // A random 32-byte string is a point of the curve or of its twist, of
    // large order with overwhelming probability.
    std::vector<uint8_t> raw(kX25519KeySize);
    ASSERT_TRUE(DefaultRandom().Fill(raw).ok());
    auto pk = X25519PublicKey::FromBytes(raw);
    ASSERT_TRUE(pk.ok());
    EXPECT_FALSE(IsLowOrderX25519(*pk)) << HexEncode(raw);
  }
  for (const char* hex : {
           "0900000000000000000000000000000000000000000000000000000000000000",  // the base point
           "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",  // RFC 7748 §6.1 Alice
           "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",  // RFC 7748 §6.1 Bob
           "0200000000000000000000000000000000000000000000000000000000000000",  // 2
           "ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p-2
           "efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // p+2
           "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // 2^255-1 = p+18
           "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  // all ones
           "e1eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",  // order-8 point + 1
           "5e9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",  // order-8 point - 1
       }) {
    EXPECT_FALSE(IsLowOrderX25519(Pk(hex))) << hex;
  }
}

// Every Wycheproof x25519 vector (testdata/vectors/wycheproof/x25519_test.json,
// 518 cases: twist points, non-canonical encodings, arithmetic edge cases):
// IsLowOrderX25519(public) holds exactly when the expected shared secret is
// all zero, and Agree reproduces every non-zero shared secret.
TEST(X25519Test, LowOrderMatchesWycheproof) {
  Json file = LoadVector("wycheproof/x25519_test.json");
  ASSERT_TRUE(file.is_object());
  const std::vector<uint8_t> zero(kX25519KeySize, 0);
  std::set<std::string> low_order_from_file;
  size_t n = 0;
  for (const Json& group : file.at("testGroups")) {
    ASSERT_EQ(group.at("curve"), "curve25519");
    for (const Json& t : group.at("tests")) {
      ++n;
      const std::string id = "tcId " + std::to_string(t.at("tcId").get<int>());
      const std::string pub_hex = t.at("public").get<std::string>();
      const std::vector<uint8_t> shared = H(t.at("shared").get<std::string>());
      const bool zero_shared = shared == zero;
      if (zero_shared) low_order_from_file.insert(pub_hex);
      EXPECT_EQ(IsLowOrderX25519(Pk(pub_hex)), zero_shared) << id;
      auto sk = X25519PrivateKey::FromBytes(H(t.at("private").get<std::string>()));
      ASSERT_TRUE(sk.ok()) << id;
      auto r = sk->Agree(Pk(pub_hex));
      if (zero_shared) {
        EXPECT_FALSE(r.ok()) << id;
      } else {
        ASSERT_TRUE(r.ok()) << id;
        EXPECT_EQ(Vec(r->Reveal()), shared) << id;
      }
    }
  }
  EXPECT_EQ(n, file.at("numberOfTests").get<size_t>());
  // The file's low-order keys are exactly the 14 encodings listed above.
  EXPECT_EQ(low_order_from_file, std::set<std::string>(std::begin(kLowOrderEncodings), std::end(kLowOrderEncodings)));
}

}  // namespace
}  // namespace astis
