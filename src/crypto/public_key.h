// Public-key signatures for JOSE: RSA (PKCS#1 v1.5 and PSS), ECDSA P-256 /
// P-384 (OpenSSL 3 EVP) and Ed25519 (libsodium through crypto/ed25519.h).
//
// Signatures are in JOSE form: RSA as the modulus-length octet string,
// ECDSA as raw R || S (RFC 7518 §3.4), Ed25519 as 64 bytes (RFC 8037 §3.1).
// OpenSSL errors are drained into a Status at this boundary; the messages
// never carry key material.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header.

namespace astis {

// SignatureAlg names the JWS signature algorithms the project implements
// (RFC 7518 §3.1, RFC 8037 §3.1). There is deliberately no `none` and no HMAC.
enum class SignatureAlg { kRs256, kRs384, kRs512, kPs256, kPs384, kPs512, kEs256, kEs384, kEdDsa };

// SignatureAlgName returns the JWS `alg` name ("RS256", ..., "EdDSA").
std::string_view SignatureAlgName(SignatureAlg alg);

// SignatureAlgFromName maps a JWS `alg` name to SignatureAlg; "Ed25519"
// (RFC 9864 fully-specified name) maps to kEdDsa. Unknown names, "none" and
// every HS* name give std::nullopt.
std::optional<SignatureAlg> SignatureAlgFromName(std::string_view name);

// PublicKeyKind is the key family and, for EC, the curve.
enum class PublicKeyKind { kRsa, kEcP256, kEcP384, kEd25519 };

// kMinRsaBits is the smallest RSA modulus accepted anywhere (RFC 7518 §3.3:
// "A key of size 2048 bits or larger MUST be used").
inline constexpr int kMinRsaBits = 2048;

// VerificationKey is an immutable public key usable for Verify. Copies share
// the underlying OpenSSL key (thread-safe for concurrent Verify calls).
class VerificationKey {
 public:
  // FromRsaComponents imports n and e (big-endian, unsigned). Refuses
  // (kInvalidArgument) a modulus below kMinRsaBits (test
  // RejectsRsaKeyTooSmall), an even or tiny exponent, and leading zero bytes.
  static Result<VerificationKey> FromRsaComponents(std::span<const uint8_t> n, std::span<const uint8_t> e);
  // FromEcPoint imports an affine point (x, y each exactly the field size:
  // 32 bytes for P-256, 48 for P-384). Refuses (kInvalidArgument) a point not
  // on the curve (test RejectsEcPointNotOnCurve). kind must be kEcP256/kEcP384.
  static Result<VerificationKey> FromEcPoint(PublicKeyKind kind, std::span<const uint8_t> x,
                                             std::span<const uint8_t> y);
  // FromEd25519 wraps an Ed25519 public key; it cannot fail.
  static VerificationKey FromEd25519(const Ed25519PublicKey& pk);
  // FromSpkiDer imports a DER SubjectPublicKeyInfo (RSA, EC P-256/P-384,
  // Ed25519) with the same checks as above; anything else is kInvalidArgument.
  static Result<VerificationKey> FromSpkiDer(std::span<const uint8_t> der);
  // FromPem imports a PEM "PUBLIC KEY" block (SPKI), as FromSpkiDer.
  static Result<VerificationKey> FromPem(std::string_view pem);

  // kind returns the key family.
  PublicKeyKind kind() const { return kind_; }
  // Supports reports whether alg can be used with this key (RS*/PS* with
  // RSA, ES256 with P-256, ES384 with P-384, EdDSA with Ed25519).
  bool Supports(SignatureAlg alg) const;

  // Verify checks a JOSE-form signature over msg. Returns kCrypto when the
  // signature is invalid, kInvalidArgument when alg does not fit the key or
  // the signature has the wrong length (ECDSA: exactly 2 * field size,
  // RFC 7518 §3.4, test RejectsWrongSignatureLength).
  Status Verify(SignatureAlg alg, std::span<const uint8_t> msg, std::span<const uint8_t> sig) const;

 private:
  VerificationKey(PublicKeyKind kind, std::shared_ptr<evp_pkey_st> pkey, Ed25519PublicKey ed)
      : kind_(kind), pkey_(std::move(pkey)), ed25519_(ed) {}
  static Result<VerificationKey> FromEvp(std::shared_ptr<evp_pkey_st> pkey);
  friend class SigningKey;

  PublicKeyKind kind_;
  std::shared_ptr<evp_pkey_st> pkey_;  // RSA / EC; null for Ed25519
  Ed25519PublicKey ed25519_;           // Ed25519 only
};

// RsaPrivateComponents are the big-endian members of an RSA private key
// (RFC 7518 §6.3.2). The caller owns the bytes; they are copied.
struct RsaPrivateComponents {
  std::span<const uint8_t> n, e, d, p, q, dp, dq, qi;
};

// SigningKey is a private key that produces JOSE-form signatures. Used by
// tests, the Kubernetes stand-in (token minting) and the SDK. Move-only; the
// private key is freed (and wiped by OpenSSL / SecretBytes) on destruction.
class SigningKey {
 public:
  // GenerateRsa makes a fresh RSA key (e = 65537). bits < kMinRsaBits is
  // kInvalidArgument; an OpenSSL failure is kCrypto.
  static Result<SigningKey> GenerateRsa(int bits);
  // GenerateEc makes a fresh ECDSA key; kind must be kEcP256 or kEcP384.
  static Result<SigningKey> GenerateEc(PublicKeyKind kind = PublicKeyKind::kEcP256);
  // GenerateEd25519 makes a fresh Ed25519 key from rng.
  static Result<SigningKey> GenerateEd25519(Random& rng);
  // FromEd25519Seed imports a 32-byte Ed25519 seed (the JWK `d`).
  static Result<SigningKey> FromEd25519Seed(std::span<const uint8_t> seed);
  // FromRsaComponents imports an RSA private key (e.g. RFC 7515 A.2).
  static Result<SigningKey> FromRsaComponents(const RsaPrivateComponents& c);
  // FromEcPrivate imports an EC private scalar d with its public point.
  static Result<SigningKey> FromEcPrivate(PublicKeyKind kind, std::span<const uint8_t> x,
                                          std::span<const uint8_t> y, std::span<const uint8_t> d);
  // FromPrivatePem imports a PKCS#8 "PRIVATE KEY" PEM (RSA, EC, Ed25519).
  static Result<SigningKey> FromPrivatePem(std::string_view pem);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  // kind returns the key family.
  PublicKeyKind kind() const { return kind_; }

  // Sign returns the JOSE-form signature of msg. kInvalidArgument when alg
  // does not fit the key; kCrypto on an OpenSSL failure.
  Result<std::vector<uint8_t>> Sign(SignatureAlg alg, std::span<const uint8_t> msg) const;

  // PublicKey returns the matching verification key.
  Result<VerificationKey> PublicKey() const;
  // PublicJwkMembers returns the public JWK members in lexicographic order:
  // {"e","kty","n"} / {"crv","kty","x","y"} / {"crv","kty","x"}.
  Json PublicJwkMembers() const;
  // ExportPublicPem returns the SPKI "PUBLIC KEY" PEM.
  Result<std::string> ExportPublicPem() const;
  // ExportPrivatePem returns the PKCS#8 "PRIVATE KEY" PEM in SecretBytes.
  Result<SecretBytes> ExportPrivatePem() const;

 private:
  SigningKey(PublicKeyKind kind, std::shared_ptr<evp_pkey_st> pkey, std::unique_ptr<Ed25519PrivateKey> ed);

  PublicKeyKind kind_;
  std::shared_ptr<evp_pkey_st> pkey_;       // RSA / EC, and Ed25519 for PEM export
  std::unique_ptr<Ed25519PrivateKey> ed_;   // Ed25519 signing through libsodium
};

}  // namespace astis
