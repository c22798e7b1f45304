#include "crypto/sha256.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <climits>
#include <cstdlib>

#include "crypto/internal/ossl.h"

namespace astis {

Sha256Digest Sha256(std::span<const uint8_t> data) {
  Sha256Digest out{};
  unsigned int len = 0;
  static constexpr uint8_t kEmpty = 0;
  const uint8_t* p = data.empty() ? &kEmpty : data.data();
  if (EVP_Digest(p, data.size(), out.data(), &len, crypto_internal::Sha256Md(), nullptr) != 1 ||
      len != out.size())
    std::abort();  // in-memory hashing cannot fail on a working library
  return out;
}

Sha256Digest Sha256(std::string_view data) {
  return Sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Sha256Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Sha256Digest out{};
  unsigned int len = 0;
  // HMAC() treats a null key as "no key"; an empty key is a valid HMAC key
  // (RFC 2104 §2: zero-padded to the block size), so pass a real pointer.
  static constexpr uint8_t kEmpty = 0;
  const uint8_t* k = key.empty() ? &kEmpty : key.data();
  const uint8_t* d = data.empty() ? &kEmpty : data.data();
  if (key.size() > static_cast<size_t>(INT_MAX) ||
      HMAC(crypto_internal::Sha256Md(), k, static_cast<int>(key.size()), d, data.size(), out.data(), &len) ==
          nullptr ||
      len != out.size())
    std::abort();
  return out;
}

}  // namespace astis
