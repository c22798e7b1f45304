// The crypto floor (docs/performance.md "The crypto floor"), measured on this
// machine in the same run as the load: the server-side primitive costs of
// one establishment and one unwrap. Benchmark tool; docs/performance.md.
#pragma once

#include <chrono>

#include "common/status.h"

namespace astis::bench {

// CryptoFloor holds mean single-thread CPU costs in microseconds.
struct CryptoFloor {
  double rs256_verify_us = 0;    // ServiceAccount token (RSA-2048), gate 2
  double es256_verify_us = 0;    // ServiceAccount token (P-256), gate 2
  double ed25519_verify_us = 0;  // DPoP proof signature, gate 3
  double x25519_keygen_us = 0;
  double x25519_agree_us = 0;
  double hpke_open_us = 0;  // CVS: open the capsule (1 X25519 + HKDF + AES-GCM)
  double hpke_seal_us = 0;  // CVS: reseal to the pod (keygen + 1 X25519 + HKDF + AES-GCM)

  // TokenUs is the gate 2 verify cost for the token algorithm in use.
  double TokenUs(bool es256) const { return es256 ? es256_verify_us : rs256_verify_us; }
  // EstablishUs is one establishment: token verify + proof verify.
  double EstablishUs(bool es256) const { return TokenUs(es256) + ed25519_verify_us; }
  // UnwrapUs is one single-capsule unwrap: token + proof + HPKE open + seal.
  double UnwrapUs(bool es256) const { return EstablishUs(es256) + hpke_open_us + hpke_seal_us; }
  // PerSecretUs is one secret of a batch of `batch` capsules: the request's
  // verifies shared by the batch plus one HPKE open and seal each.
  double PerSecretUs(bool es256, int batch) const {
    return EstablishUs(es256) / (batch > 0 ? batch : 1) + hpke_open_us + hpke_seal_us;
  }
};

// MeasureCryptoFloor times each primitive on the calling thread for about
// `each` of thread CPU time (after a short warm-up) with fresh keys, so the
// result is a CPU cost even on a busy machine. Fails with the primitive's
// error if one fails (the numbers would be meaningless).
Result<CryptoFloor> MeasureCryptoFloor(std::chrono::milliseconds each);

}  // namespace astis::bench
