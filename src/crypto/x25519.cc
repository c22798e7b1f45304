#include "crypto/x25519.h"

#include <sodium.h>

#include "crypto/internal/ossl.h"

namespace astis {

Result<X25519PublicKey> X25519PublicKey::FromBytes(std::span<const uint8_t> data) {
  if (data.size() != kX25519KeySize) return Error(Code::kInvalidArgument, "x25519: public key must be 32 bytes");
  X25519PublicKey pk;
  std::copy(data.begin(), data.end(), pk.bytes.begin());
  return pk;
}

bool IsLowOrderX25519(const X25519PublicKey& pk) {
  // The definition, computed rather than listed: one X25519 with a fixed
  // scalar clamped as RFC 7748 §5 does (k = 8·k', 2^251 <= k' < 2^252). k is a
  // multiple of the cofactor 8 (curve) and 4 (twist), and no multiple of 8
  // below 2^255 is a multiple of the large prime order of either subgroup,
  // so X25519(k, x) is all zero exactly when x is a point of order dividing
  // 8 — the same x for every clamped k, i.e. every private key. x is decoded
  // as X25519 decodes it (bit 255 masked, reduced mod p), so non-canonical
  // encodings of a low-order point are caught with no list to keep complete.
  // libsodium returns -1 for an all-zero output (and for its own list of
  // these encodings); the output is also checked here so the rule does not
  // depend on the library. Cross-checked against the explicit list and every
  // Wycheproof x25519 vector in x25519_test.cc.
  static constexpr std::array<uint8_t, kX25519KeySize> kProbe = {
      0x41, 0x53, 0x54, 0x49, 0x53, 0x20, 0x6c, 0x6f, 0x77, 0x2d, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x20,
      0x70, 0x72, 0x6f, 0x62, 0x65, 0x20, 0x73, 0x63, 0x61, 0x6c, 0x61, 0x72, 0x20, 0x76, 0x31, 0x2e};
  std::array<uint8_t, kX25519KeySize> k = kProbe;
  k[0] &= 248;  // RFC 7748 §5 clamping, spelled out: a multiple of 8 ...
  k[31] &= 127;
  k[31] |= 64;  // ... with bit 254 set.
  crypto_internal::EnsureSodium();
  std::array<uint8_t, kX25519KeySize> out{};
  const int rc = crypto_scalarmult(out.data(), k.data(), pk.bytes.data());
  return rc != 0 || sodium_is_zero(out.data(), out.size()) == 1;
}

Result<X25519PrivateKey> X25519PrivateKey::Generate(Random& rng, SecretBytes::Protection p) {
  SecretBytes sk(kX25519KeySize, p);
  ASTIS_RETURN_IF_ERROR(rng.Fill(sk.RevealMutable()));
  return FromBytes(sk.Reveal(), p);
}

Result<X25519PrivateKey> X25519PrivateKey::FromBytes(std::span<const uint8_t> sk, SecretBytes::Protection p) {
  if (sk.size() != kX25519KeySize) return Error(Code::kInvalidArgument, "x25519: private key must be 32 bytes");
  crypto_internal::EnsureSodium();
  SecretBytes owned = SecretBytes::CopyFrom(sk, p);
  X25519PublicKey pk;
  // RFC 7748 §6.1: the public key is X25519(sk, 9); libsodium clamps sk.
  if (crypto_scalarmult_base(pk.bytes.data(), owned.Reveal().data()) != 0)
    return Error(Code::kCrypto, "x25519: public key derivation failed");
  return X25519PrivateKey(std::move(owned), pk);
}

Result<SecretBytes> X25519PrivateKey::Agree(const X25519PublicKey& peer) const {
  crypto_internal::EnsureSodium();
  SecretBytes shared(kX25519KeySize, sk_.protection());
  // RFC 7748 §6.1 / RFC 9180 §7.1.4: the all-zero output of a low-order peer
  // point MUST be refused. libsodium returns -1 for it (and for its list of
  // small-order points); the explicit constant-time check below keeps the
  // rule independent of the library (test X25519Test.RejectsLowOrderPeer).
  if (crypto_scalarmult(shared.RevealMutable().data(), sk_.Reveal().data(), peer.bytes.data()) != 0 ||
      sodium_is_zero(shared.Reveal().data(), shared.size()) == 1)
    return Error(Code::kCrypto, "x25519: low-order peer public key");
  return shared;
}

}  // namespace astis
