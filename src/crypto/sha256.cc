#include "crypto/sha256.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>

#include "crypto/internal/ossl.h"

namespace astis {

namespace {

constexpr size_t kBlock = 64;  // SHA-256's block size B (RFC 2104 §2)

// DigestParts is SHA-256 of head followed by the parts, on the algorithm
// fetched once (crypto_internal::Sha256Md). The context is freed, and with
// it the provider's state, before returning.
void DigestParts(std::span<const uint8_t> head, std::initializer_list<std::span<const uint8_t>> parts,
                 uint8_t* out) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex2(ctx, crypto_internal::Sha256Md(), nullptr) == 1;
  if (ok && !head.empty()) ok = EVP_DigestUpdate(ctx, head.data(), head.size()) == 1;
  for (std::span<const uint8_t> p : parts) {
    if (ok && !p.empty()) ok = EVP_DigestUpdate(ctx, p.data(), p.size()) == 1;
  }
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == 32;
  EVP_MD_CTX_free(ctx);
  if (!ok) std::abort();  // in-memory hashing cannot fail on a working library
}

}  // namespace

Sha256Digest Sha256(std::span<const uint8_t> data) {
  Sha256Digest out{};
  DigestParts(data, {}, out.data());
  return out;
}

Sha256Digest Sha256(std::string_view data) {
  return Sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

void HmacSha256Parts(std::span<const uint8_t> key, std::initializer_list<std::span<const uint8_t>> parts,
                     std::span<uint8_t, 32> out) {
  // RFC 2104 §2: H(K XOR opad, H(K XOR ipad, text)), K zero-padded to B
  // bytes, or first hashed when longer than B (RFC 4231 test cases 6 and 7,
  // HmacSha256Test.*). Built on the SHA-256 fetched once: OpenSSL 3's HMAC()
  // one-shot fetches the HMAC and digest implementations by name, under
  // its property-store locks, on every call (docs/performance.md).
  uint8_t k0[kBlock] = {};
  if (key.size() > kBlock) {
    DigestParts(key, {}, k0);
  } else if (!key.empty()) {
    std::memcpy(k0, key.data(), key.size());
  }
  uint8_t pad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) pad[i] = static_cast<uint8_t>(k0[i] ^ 0x36);
  uint8_t inner[32];
  DigestParts(pad, parts, inner);
  for (size_t i = 0; i < kBlock; ++i) pad[i] = static_cast<uint8_t>(k0[i] ^ 0x5c);
  DigestParts(pad, {std::span<const uint8_t>(inner, 32)}, out.data());
  // The padded key and the inner hash are key material.
  OPENSSL_cleanse(k0, sizeof k0);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(inner, sizeof inner);
}

Sha256Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Sha256Digest out{};
  HmacSha256Parts(key, {data}, out);
  return out;
}

}  // namespace astis
