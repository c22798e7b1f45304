// Random: the injected source of randomness. Production uses the OpenSSL
// CSPRNG (RAND_bytes, seeded from getrandom); tests may pass a deterministic
// source to reproduce vectors.
#pragma once

#include <cstdint>
#include <span>

#include "common/status.h"

namespace astis {

class Random {
 public:
  virtual ~Random() = default;
  // Fill writes out.size() random bytes. Fails (kCrypto) only if the CSPRNG
  // is not seeded; callers must refuse rather than continue.
  virtual Status Fill(std::span<uint8_t> out) = 0;
};

// SystemRandom draws from OpenSSL's RAND_bytes (the DRBG seeded by the OS).
class SystemRandom final : public Random {
 public:
  Status Fill(std::span<uint8_t> out) override;
};

// DefaultRandom returns a process-wide SystemRandom. Thread-safe.
Random& DefaultRandom();

}  // namespace astis
