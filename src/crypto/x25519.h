// X25519 (RFC 7748) keys, served by libsodium behind this interface.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "common/status.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"

namespace astis {

inline constexpr size_t kX25519KeySize = 32;

struct X25519PublicKey {
  std::array<uint8_t, kX25519KeySize> bytes{};
  // FromBytes requires exactly 32 bytes (kInvalidArgument otherwise).
  static Result<X25519PublicKey> FromBytes(std::span<const uint8_t> data);
  friend bool operator==(const X25519PublicKey&, const X25519PublicKey&) = default;
};

// IsLowOrderX25519 reports whether pk is a low-order point: a 32-byte x for
// which X25519(k, x) is all zero for every private key k (RFC 7748 §6.1,
// RFC 9180 §7.1.4). That is every encoding, canonical or not and with bit 255
// set or clear, of u = 0, 1, p-1 and the two points of order 8 — 14
// encodings in all (Wycheproof x25519 "LowOrderPublic"). Such a key can never
// be a recipient: the edge refuses it at session establishment (docs/protocol.md
// 1.1 §4.1). pk is public, so the check need not be constant time. It cannot
// fail. Tests: X25519Test.LowOrderPointsDetected, ValidKeysNotLowOrder,
// LowOrderMatchesWycheproof.
bool IsLowOrderX25519(const X25519PublicKey& pk);

class X25519PrivateKey {
 public:
  // Generate draws a fresh private key from rng. Locked memory on request.
  static Result<X25519PrivateKey> Generate(Random& rng,
                                           SecretBytes::Protection p = SecretBytes::Protection::kPlain);
  // FromBytes imports a 32-byte scalar (clamped at use, RFC 7748 §5).
  static Result<X25519PrivateKey> FromBytes(std::span<const uint8_t> sk,
                                            SecretBytes::Protection p = SecretBytes::Protection::kPlain);

  const X25519PublicKey& public_key() const { return public_key_; }
  const SecretBytes& secret() const { return sk_; }

  // Agree computes X25519(sk, peer). RFC 7748 §6.1 / RFC 9180 §7.1.4: an
  // all-zero shared secret (a low-order peer point) is refused with kCrypto.
  Result<SecretBytes> Agree(const X25519PublicKey& peer) const;

 private:
  X25519PrivateKey(SecretBytes sk, X25519PublicKey pk) : sk_(std::move(sk)), public_key_(pk) {}
  SecretBytes sk_;
  X25519PublicKey public_key_;
};

}  // namespace astis
