// Ed25519 (RFC 8032) signatures, served by libsodium behind this interface.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "common/status.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"

namespace astis {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SeedSize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

using Ed25519Signature = std::array<uint8_t, kEd25519SignatureSize>;

struct Ed25519PublicKey {
  std::array<uint8_t, kEd25519PublicKeySize> bytes{};
  // FromBytes requires exactly 32 bytes.
  static Result<Ed25519PublicKey> FromBytes(std::span<const uint8_t> data);
  friend bool operator==(const Ed25519PublicKey&, const Ed25519PublicKey&) = default;
};

// Ed25519Verify checks sig over msg (strict: libsodium rejects non-canonical
// encodings and small-order public keys). Failure is kCrypto.
Status Ed25519Verify(const Ed25519PublicKey& pk, std::span<const uint8_t> msg, std::span<const uint8_t> sig);

class Ed25519PrivateKey {
 public:
  static Result<Ed25519PrivateKey> Generate(Random& rng,
                                            SecretBytes::Protection p = SecretBytes::Protection::kPlain);
  // FromSeed imports the 32-byte RFC 8032 private key (the JWK `d`).
  static Result<Ed25519PrivateKey> FromSeed(std::span<const uint8_t> seed,
                                            SecretBytes::Protection p = SecretBytes::Protection::kPlain);

  const Ed25519PublicKey& public_key() const { return public_key_; }
  // Sign signs msg deterministically (RFC 8032 §5.1.6).
  Ed25519Signature Sign(std::span<const uint8_t> msg) const;

  // IsLocked reports whether the private key's memory is mlock'd.
  bool IsLocked() const { return sk_.IsLocked(); }
  // TestOnlyDataAddress exposes the key buffer's address (no read access) so
  // a test can check /proc/self/smaps for the lock and don't-dump flags.
  const void* TestOnlyDataAddress() const { return sk_.TestOnlyDataAddress(); }

 private:
  Ed25519PrivateKey(SecretBytes expanded, Ed25519PublicKey pk) : sk_(std::move(expanded)), public_key_(pk) {}
  SecretBytes sk_;  // libsodium's 64-byte secret key (seed || pk)
  Ed25519PublicKey public_key_;
};

}  // namespace astis
