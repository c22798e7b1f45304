// NIST P-256 (secp256r1) keys for DHKEM(P-256, HKDF-SHA256) (RFC 9180 §7.1),
// served by OpenSSL 3 behind this interface.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "common/status.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"

namespace astis {

inline constexpr size_t kP256ScalarSize = 32;
// SerializePublicKey for P-256 is the uncompressed point 0x04 || x || y
// (RFC 9180 §7.1.1, SEC1 §2.3.3): Npk = 65.
inline constexpr size_t kP256PublicKeySize = 65;

struct P256PublicKey {
  std::array<uint8_t, kP256PublicKeySize> bytes{};
  // FromBytes is DeserializePublicKey with the validation of RFC 9180 §7.1.4
  // (SEC1 §3.2.2.1 full public-key validation): a length other than 65 or a
  // first byte other than 0x04 (compressed 0x02/0x03, the identity 0x00) is
  // kInvalidArgument; a coordinate >= p or a point not on the curve is
  // kCrypto, like the X25519 path's low-order refusal. Tests:
  // HpkeP256Test.RejectsWrongEncLength, RejectsCompressedEnc,
  // RejectsIdentityEnc, RejectsPointNotOnCurve, RejectsCoordinateAtLeastP.
  static Result<P256PublicKey> FromBytes(std::span<const uint8_t> data);
  friend bool operator==(const P256PublicKey&, const P256PublicKey&) = default;
};

// P256KeyAgreement is a P-256 private key that can be used for ECDH but
// need not be readable: the in-memory P256PrivateKey below, or a key that
// never leaves a PKCS#11 token (hsm/pkcs11.h). HPKE's DHKEM(P-256)
// decapsulation takes this interface, so the key schedule is the same code
// whichever holds the scalar.
class P256KeyAgreement {
 public:
  virtual ~P256KeyAgreement() = default;
  virtual const P256PublicKey& public_key() const = 0;
  // Agree computes the ECDH shared secret with peer, a validated point: the
  // 32-byte x-coordinate of sk * peer (RFC 9180 §7.1.1). kCrypto when the
  // computation fails; implementations backed by a device may also return
  // kCvsUnavailable when the device cannot be used (fail closed).
  virtual Result<SecretBytes> Agree(const P256PublicKey& peer) const = 0;
};

class P256PrivateKey final : public P256KeyAgreement {
 public:
  P256PrivateKey(P256PrivateKey&&) noexcept = default;
  P256PrivateKey& operator=(P256PrivateKey&&) noexcept = default;

  // Generate draws a scalar in [1, n-1] from rng by rejection sampling.
  static Result<P256PrivateKey> Generate(Random& rng, SecretBytes::Protection p = SecretBytes::Protection::kPlain);
  // FromBytes imports a 32-byte big-endian scalar; 0 or >= n (the group
  // order) is kInvalidArgument (RFC 9180 §7.1.2 DeserializePrivateKey).
  static Result<P256PrivateKey> FromBytes(std::span<const uint8_t> sk,
                                          SecretBytes::Protection p = SecretBytes::Protection::kPlain);
  // ScalarInRange reports 0 < sk < n for a 32-byte big-endian scalar,
  // without branching on its bytes (RFC 9180 §7.1.3's rejection test).
  static bool ScalarInRange(std::span<const uint8_t> sk);

  const P256PublicKey& public_key() const override { return public_key_; }
  const SecretBytes& secret() const { return sk_; }

  // Agree computes the ECDH shared secret with peer: the x-coordinate of
  // sk * peer, 32 bytes (RFC 9180 §7.1.1 DH for P-256). kCrypto on failure.
  Result<SecretBytes> Agree(const P256PublicKey& peer) const override;

 private:
  P256PrivateKey(SecretBytes sk, P256PublicKey pk) : sk_(std::move(sk)), public_key_(pk) {}
  SecretBytes sk_;
  P256PublicKey public_key_;
};

}  // namespace astis
