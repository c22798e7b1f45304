// LoadGenerator: astis-bench acting as N pods against a running edge
// (docs/performance.md). Each simulated pod is a real Pod created through
// the Kubernetes API (stand-in, admin token), holds a real bound
// ServiceAccount token from TokenRequest, its own Ed25519 DPoP key and
// X25519 recipient key in RAM, its own keep-alive HTTPS connection, and
// capsules sealed to its workload; every request carries a real DPoP proof
// (jose::MakeDpopProof) with the edge's current nonce. Benchmark tool.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "crypto/ed25519.h"
#include "load/bench_world.h"
#include "net/https_client.h"

namespace astis::bench {

// Phase is one measured workload.
enum class Phase {
  kEstablish,  // POST /v1/sessions again and again (idempotent re-establish: gates 1-4 + enrollment)
  kUnwrap,     // POST /v1/unwrap with one capsule
  kBatch,      // POST /v1/unwrap with LoadOptions::batch capsules
};

// PhaseName is "establish", "unwrap" or "batch".
const char* PhaseName(Phase p);

// LoadOptions shape the load.
struct LoadOptions {
  int pods = 8;                // concurrent pods, one thread and one connection each
  double phase_seconds = 5;    // measured duration of each phase
  int batch = 16;              // capsules per batched unwrap (1..64)
  int64_t server_pid = 0;      // process whose CPU/RSS is reported; 0: this process
  // rate > 0: open loop, `rate` requests/s offered in total, each pod on its
  // own fixed schedule (schedule.h), latency from the scheduled send time.
  // 0: closed loop (each pod sends again as soon as its answer arrives).
  double rate = 0;
  std::string pod_prefix = "bench-pod";
  // exclude_threads: in process (server_pid 0), threads of this process
  // whose CPU is left out of the server's too (the Kubernetes API
  // stand-in's, InProcessWorld::standin_threads), besides the pods' own.
  std::vector<int64_t> exclude_threads;
};

// WireBytes counts HTTP/1.1 message bytes as they cross TLS (request line
// or status line, header fields, body), for the guarantee floor's record
// protection cost.
struct WireBytes {
  uint64_t request = 0;
  uint64_t response = 0;
};

// PhaseReport is what one phase measured.
struct PhaseReport {
  Phase phase = Phase::kUnwrap;
  double seconds = 0;
  double offered_rate = 0;     // open loop: requests/s offered; 0: closed loop
  uint64_t unsent = 0;         // open loop: sends scheduled in the phase but not made (pods behind)
  uint64_t requests = 0;       // completed with the expected status
  uint64_t secrets = 0;        // capsules rewrapped successfully
  uint64_t errors = 0;         // unexpected statuses, per-capsule errors, transport failures
  uint64_t nonce_retries = 0;  // 401 use_dpop_nonce answered by a retry (RFC 9449 §8), not errors
  WireBytes wire;              // HTTP bytes sent and received, every exchange of the phase
  std::map<std::string, uint64_t> error_kinds;  // "http_503:cvs_unavailable", "transport", ...
  double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
  double server_cpu_seconds = 0;  // CPU the server used during the phase
  int64_t server_rss_kb = 0;      // at the end of the phase
  int64_t server_hwm_kb = 0;
};

// SetupReport describes what Setup did.
struct SetupReport {
  int pods = 0;
  double seconds = 0;
  uint64_t values_verified = 0;  // sealed values unwrapped, opened and decrypted to the expected plaintext
  std::string token_alg;         // "alg" of the pods' tokens (JWS header), e.g. "RS256": picks the floor
};

// BoundPod is a pod created through the Kubernetes API and its bound token.
// The token is a credential: never printed.
struct BoundPod {
  std::string name;
  std::string uid;
  std::string token;
};

// EdgeErrorCode returns the docs/protocol.md §7 error code of an edge error body,
// or "" when the body is not one. Cannot fail.
std::string EdgeErrorCode(const std::string& body);

// SendWithProof sends one request to the edge with the API key, `token` as
// the DPoP-bound access token (ath = b64u(SHA-256(token))) and a fresh DPoP
// proof signed by dpop carrying `nonce` (updated from every DPoP-Nonce
// answer); on 401 use_dpop_nonce it retries once with the new nonce
// (RFC 9449 §8), counting the retry in *retries when given, and the bytes of
// every exchange in *wire when given. Fails with the transport error; any
// HTTP answer is returned, never turned into an error.
Result<net::HttpResponse> SendWithProof(net::HttpsClient& edge, const Target& t, const std::string& token,
                                        const std::string& ath, const Ed25519PrivateKey& dpop, std::string& nonce,
                                        const std::string& method, const std::string& path, const std::string& body,
                                        uint64_t* retries, WireBytes* wire = nullptr);

// KubeAdminClient connects to target.kube_url trusting target.kube_ca_pem.
// Fails with kInvalidArgument on a bad URL. The caller owns the client.
Result<std::unique_ptr<net::HttpsClient>> KubeAdminClient(const Target& target);

// EnsureServiceAccount creates target's ServiceAccount (admin token); one
// that exists already is fine. Fails with kUnavailable on another answer.
Status EnsureServiceAccount(net::HttpsClient& kube, const Target& target);

// CreateBoundPod creates pod `name` (one container pinned to target.digest)
// in target.ns running as target.service_account, and requests a token for
// it (TokenRequest, audience "astis", 1 h, boundObjectRef to the pod).
// Fails with kUnavailable naming the step and HTTP status on a refusal.
Result<BoundPod> CreateBoundPod(net::HttpsClient& kube, const Target& target, const std::string& name);

// LoadGenerator owns the simulated pods. Not copyable; Run is not reentrant.
class LoadGenerator {
 public:
  // Setup creates options.pods pods (and the ServiceAccount if missing)
  // through the Kubernetes API, requests a pod-bound token for each, makes
  // their keys, seals options.batch values per pod with target.org_public,
  // establishes one session per pod and checks end to end that every value
  // unwraps and decrypts to its plaintext. Fails with the first error (a
  // non-2xx answer is kUnavailable naming the step and status, never a
  // credential).
  static Result<std::unique_ptr<LoadGenerator>> Setup(const Target& target, const LoadOptions& options,
                                                      SetupReport* report);
  // Setup with several targets (edges' workloads, e.g. one per
  // organisation, sharing one Kubernetes API): pod i acts as a pod of
  // targets[i % targets.size()], with its API key, cluster and org key.
  // targets must be non-empty and outlive the generator.
  static Result<std::unique_ptr<LoadGenerator>> Setup(const std::vector<const Target*>& targets,
                                                      const LoadOptions& options, SetupReport* report);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Run drives every pod concurrently for options.phase_seconds and
  // returns the measurements. Errors are counted, never fatal.
  PhaseReport Run(Phase phase);

  // FirstPodName is the name of the first simulated pod (the guarantee
  // floor reads it from the API as gate 4 does). Setup made at least one.
  const std::string& FirstPodName() const;

  struct Pod;  // defined in load_generator.cc

 private:
  explicit LoadGenerator(const LoadOptions& options);
  LoadOptions options_;
  std::vector<std::unique_ptr<Pod>> pods_;
};

}  // namespace astis::bench
