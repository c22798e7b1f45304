#include "crypto/random.h"

#include <openssl/rand.h>

#include <algorithm>
#include <climits>

#include "crypto/internal/ossl.h"

namespace astis {

Status SystemRandom::Fill(std::span<uint8_t> out) {
  // RAND_bytes takes an int length: fill in chunks.
  while (!out.empty()) {
    size_t n = std::min<size_t>(out.size(), INT_MAX);
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1)
      return crypto_internal::OsslError(Code::kCrypto, "random: RAND_bytes failed");
    out = out.subspan(n);
  }
  return OkStatus();
}

Random& DefaultRandom() {
  static SystemRandom rng;
  return rng;
}

}  // namespace astis
