// HPKE (RFC 9180) mode_base with DHKEM(X25519, HKDF-SHA256) or
// DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AEAD AES-128-GCM, AES-256-GCM or
// ChaCha20-Poly1305. The KEM follows the key type: every function has an
// X25519 and a P-256 overload (HpkeDeriveKeyPair / HpkeDeriveKeyPairP256).
//
// Built from this component's X25519, P-256, HKDF and AEAD; proven on every
// RFC 9180 vector in testdata/vectors/hpke-x25519-base.json (hpke_test.cc)
// and testdata/vectors/hpke-p256-base.json (hpke_p256_test.cc).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "crypto/aead.h"
#include "crypto/p256.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "crypto/x25519.h"

namespace astis {

inline constexpr uint16_t kHpkeKemX25519Sha256 = 0x0020;
inline constexpr uint16_t kHpkeKdfHkdfSha256 = 0x0001;
inline constexpr uint16_t kHpkeKemP256Sha256 = 0x0010;
inline constexpr size_t kHpkeEncSize = 32;      // X25519 Nenc
inline constexpr size_t kHpkeP256EncSize = 65;  // P-256 Nenc (uncompressed point)

// HpkeAeadId is the RFC 9180 §7.3 AEAD identifier.
enum class HpkeAeadId : uint16_t { kAes128Gcm = 0x0001, kAes256Gcm = 0x0002, kChaCha20Poly1305 = 0x0003 };

// HpkeContext is an encryption context after SetupBaseS/SetupBaseR. Seal
// and Open advance the sequence number (RFC 9180 §5.2); a context used for
// Seal must not be used for Open. Not thread-safe.
class HpkeContext {
 public:
  HpkeContext(HpkeContext&&) noexcept = default;
  HpkeContext& operator=(HpkeContext&&) noexcept = default;

  // Seal encrypts pt with the next nonce; returns ct||tag.
  Result<std::vector<uint8_t>> Seal(std::span<const uint8_t> aad, std::span<const uint8_t> pt);
  // Open decrypts; on failure the sequence number does not advance.
  Result<SecretBytes> Open(std::span<const uint8_t> aad, std::span<const uint8_t> ct,
                           SecretBytes::Protection p = SecretBytes::Protection::kPlain);
  // Export derives L secret bytes from exporter_context (RFC 9180 §5.3).
  Result<SecretBytes> Export(std::span<const uint8_t> exporter_context, size_t length) const;

  uint64_t sequence() const { return seq_; }

  // Test-only views of the key schedule, for the RFC vectors.
  const SecretBytes& TestOnlyKey() const { return key_; }
  std::span<const uint8_t> TestOnlyBaseNonce() const { return base_nonce_; }
  const SecretBytes& TestOnlyExporterSecret() const { return exporter_secret_; }

 private:
  friend class HpkeInternal;
  HpkeContext() = default;
  std::vector<uint8_t> ComputeNonce() const;

  HpkeAeadId aead_ = HpkeAeadId::kAes256Gcm;
  uint16_t kem_ = kHpkeKemX25519Sha256;
  SecretBytes key_;
  std::vector<uint8_t> base_nonce_;
  SecretBytes exporter_secret_;
  uint64_t seq_ = 0;
};

struct HpkeSenderContext {
  std::vector<uint8_t> enc;  // the encapsulated key, 32 bytes (X25519) or 65 (P-256)
  HpkeContext context;
};

// SetupBaseS generates an ephemeral key from rng and sets up a sender.
Result<HpkeSenderContext> HpkeSetupBaseS(HpkeAeadId aead, const X25519PublicKey& pkR,
                                         std::span<const uint8_t> info, Random& rng);

// HpkeSetupBaseSWithEphemeral is SetupBaseS with a given ephemeral key (for
// the RFC 9180 vectors, whose skEm comes from DeriveKeyPair(ikmE)).
Result<HpkeSenderContext> HpkeSetupBaseSWithEphemeral(HpkeAeadId aead, const X25519PublicKey& pkR,
                                                      std::span<const uint8_t> info,
                                                      const X25519PrivateKey& skE);

// HpkeSetupBaseR sets up a receiver. enc must be 32 bytes (kInvalidArgument
// otherwise); a low-order enc is refused (kCrypto, RFC 9180 §7.1.4).
Result<HpkeContext> HpkeSetupBaseR(HpkeAeadId aead, std::span<const uint8_t> enc, const X25519PrivateKey& skR,
                                   std::span<const uint8_t> info);

// HpkeDeriveKeyPair implements DeriveKeyPair(ikm) for DHKEM(X25519)
// (RFC 9180 §7.1.3).
Result<X25519PrivateKey> HpkeDeriveKeyPair(std::span<const uint8_t> ikm,
                                           SecretBytes::Protection p = SecretBytes::Protection::kPlain);

// DHKEM(P-256, HKDF-SHA256) (kem 0x0010, RFC 9180 §7.1): the same
// functions for P-256 keys. enc is the 65-byte uncompressed point; on
// HpkeSetupBaseR a wrong length or a non-uncompressed form (compressed,
// identity) is kInvalidArgument, a point off the curve or with a coordinate
// >= p is kCrypto (§7.1.4), see P256PublicKey::FromBytes.
Result<HpkeSenderContext> HpkeSetupBaseS(HpkeAeadId aead, const P256PublicKey& pkR, std::span<const uint8_t> info,
                                         Random& rng);
Result<HpkeSenderContext> HpkeSetupBaseSWithEphemeral(HpkeAeadId aead, const P256PublicKey& pkR,
                                                      std::span<const uint8_t> info, const P256PrivateKey& skE);
// The P-256 receiver takes any P256KeyAgreement, so a key held in a
// PKCS#11 token decapsulates through the same key schedule.
Result<HpkeContext> HpkeSetupBaseR(HpkeAeadId aead, std::span<const uint8_t> enc, const P256KeyAgreement& skR,
                                   std::span<const uint8_t> info);
// HpkeDeriveKeyPairP256 implements DeriveKeyPair(ikm) for DHKEM(P-256)
// (RFC 9180 §7.1.3: bitmask 0xFF, rejection loop over counter 0..255).
Result<P256PrivateKey> HpkeDeriveKeyPairP256(std::span<const uint8_t> ikm,
                                             SecretBytes::Protection p = SecretBytes::Protection::kPlain);

struct HpkeSealed {
  std::vector<uint8_t> enc;
  std::vector<uint8_t> ct;
};

// HpkeSealBase is single-shot SetupBaseS + Seal (sequence 0).
Result<HpkeSealed> HpkeSealBase(HpkeAeadId aead, const X25519PublicKey& pkR, std::span<const uint8_t> info,
                                std::span<const uint8_t> aad, std::span<const uint8_t> pt, Random& rng);

// HpkeOpenBase is single-shot SetupBaseR + Open (sequence 0).
Result<SecretBytes> HpkeOpenBase(HpkeAeadId aead, std::span<const uint8_t> enc, const X25519PrivateKey& skR,
                                 std::span<const uint8_t> info, std::span<const uint8_t> aad,
                                 std::span<const uint8_t> ct,
                                 SecretBytes::Protection p = SecretBytes::Protection::kPlain);

// P-256 overloads of the single-shot calls.
Result<HpkeSealed> HpkeSealBase(HpkeAeadId aead, const P256PublicKey& pkR, std::span<const uint8_t> info,
                                std::span<const uint8_t> aad, std::span<const uint8_t> pt, Random& rng);
Result<SecretBytes> HpkeOpenBase(HpkeAeadId aead, std::span<const uint8_t> enc, const P256KeyAgreement& skR,
                                 std::span<const uint8_t> info, std::span<const uint8_t> aad,
                                 std::span<const uint8_t> ct,
                                 SecretBytes::Protection p = SecretBytes::Protection::kPlain);

}  // namespace astis
