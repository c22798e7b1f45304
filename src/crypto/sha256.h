// SHA-256 (OpenSSL EVP).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

namespace astis {

using Sha256Digest = std::array<uint8_t, 32>;

// Sha256 hashes data. It cannot fail for in-memory input (an OpenSSL failure
// here means a broken library and aborts).
Sha256Digest Sha256(std::span<const uint8_t> data);
Sha256Digest Sha256(std::string_view data);

// HmacSha256 computes HMAC-SHA256(key, data) (RFC 2104), used for nonce
// derivation and API key hashing.
Sha256Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data);

// HmacSha256Parts writes HMAC-SHA256(key, concatenation of parts) to out
// without building the concatenation (HKDF-Expand's T(i-1) | info | i).
// Like Sha256 it cannot fail for in-memory input.
void HmacSha256Parts(std::span<const uint8_t> key, std::initializer_list<std::span<const uint8_t>> parts,
                     std::span<uint8_t, 32> out);

}  // namespace astis
