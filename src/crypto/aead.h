// AEAD: AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305 on OpenSSL EVP.
//
// Seal returns ciphertext||tag (16-byte tag). Open verifies the tag before
// releasing anything and returns the plaintext as SecretBytes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace astis {

enum class AeadAlg : uint8_t { kAes128Gcm, kAes256Gcm, kChaCha20Poly1305 };

inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kAeadNonceSize = 12;

// AeadKeySize returns 16 for AES-128-GCM, 32 otherwise.
size_t AeadKeySize(AeadAlg alg);

// AeadSeal encrypts pt. key must be AeadKeySize(alg) bytes and nonce 12
// bytes, else kInvalidArgument.
Result<std::vector<uint8_t>> AeadSeal(AeadAlg alg, std::span<const uint8_t> key, std::span<const uint8_t> nonce,
                                      std::span<const uint8_t> aad, std::span<const uint8_t> pt);

// AeadOpen decrypts ct||tag. A wrong key, nonce, aad or any modified byte
// gives kCrypto ("authentication failed") and no plaintext.
Result<SecretBytes> AeadOpen(AeadAlg alg, std::span<const uint8_t> key, std::span<const uint8_t> nonce,
                             std::span<const uint8_t> aad, std::span<const uint8_t> ct,
                             SecretBytes::Protection protection = SecretBytes::Protection::kPlain);

}  // namespace astis
