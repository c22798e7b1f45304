// The crypto floor (docs/performance.md "The crypto floor"), measured on this
// machine in the same run as the load: the server-side primitive costs of
// one establishment and one unwrap. Benchmark tool; docs/performance.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

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

// The guarantee floor (docs/performance.md "The guarantee floor"): the
// crypto floor plus what every request must pay for the edge's guarantees,
// measured with the same system calls on the same file systems:
//   - the audit line durable before the answer: one write() of the
//     request's audit bytes and one fdatasync on the audit log's file system;
//   - TLS record protection of the request and the response (AES-256-GCM,
//     the TLS 1.3 suite OpenSSL prefers; 16 KiB records);
//   - the request's replay and rate write (Store::AdmitRequest: two rate
//     charges and the jti, one transaction) on a SQLite store in the edge
//     store's directory, with the edge's pragmas.
//   - gate 4's fresh confirmation: one pod read from the API (GET of the
//     pod, parse) serves a pod's decisions for gate4.max_staleness_ms
//     (default 1 s), so a request's share is min(1, pods / staleness /
//     requests per second): a large share at low load, a small one at
//     saturation.

// OpCost is the mean cost of one operation: CPU time of the calling thread
// (user + system) and wall time.
struct OpCost {
  double cpu_us = 0;
  double wall_us = 0;  // mean
  double wall_p50_us = 0, wall_p99_us = 0, wall_max_us = 0;  // of each call (TimeWall only)
  uint64_t samples = 0;
};

// MeasureAuditSync appends `line_bytes` bytes ending in a newline to a
// fresh file in `dir` (O_APPEND, as the audit log) and fdatasyncs it, again
// and again for about `budget` of wall time (at least 10 times), then
// removes the file. Fails with kIo naming the call when one fails.
Result<OpCost> MeasureAuditSync(const std::string& dir, size_t line_bytes, std::chrono::milliseconds budget);

// MeasureStoreAdmit opens a fresh SQLite store in `dir` (OpenSqliteStore:
// WAL, synchronous=NORMAL, secure_delete) and times Store::AdmitRequest with
// the edge's two rate charges and a new jti each time, for about `budget`
// of wall time, then removes the files. Fails with the store's error.
Result<OpCost> MeasureStoreAdmit(const std::string& dir, std::chrono::milliseconds budget);

// MeasurePodRead times `read` (one GET of a pod from the Kubernetes API and
// its parse, as gate 4 makes it) for about `budget` of wall time; its CPU is
// the reading side's. Fails with read's first error.
Result<OpCost> MeasurePodRead(const std::function<Status()>& read, std::chrono::milliseconds budget);

// MeasureTlsRecords times the server's TLS record protection of one
// exchange: AES-256-GCM open of `request_bytes` and seal of `response_bytes`
// in records of at most 16 KiB (plus the inner content type byte and the
// 5-byte record header as AAD), for about `each` of thread CPU time.
Result<OpCost> MeasureTlsRecords(size_t request_bytes, size_t response_bytes, std::chrono::milliseconds each);

}  // namespace astis::bench
