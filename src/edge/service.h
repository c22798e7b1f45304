// EdgeService: the pod-facing HTTP API of docs/protocol.md §4-7.
//
// Handle() is a pure function of the request and the injected world (store,
// Kubernetes clients, CVS, audit sink, clock, randomness): no sockets, no
// wall clock, so every refusal is tested hermetically (service_test.cc). It
// never throws and fails closed: a dependency that cannot answer refuses the
// request with its *_unavailable code.
//
// Each endpoint checks size and body, then asks Admission (admission.h) to
// run the gates in docs/edge.md's order: gate 1 format, gate 2 (token),
// gate 1 (key record and scope), rate limits, gate 3 (DPoP, replay, session
// pin), gate 4 (live pod, images); then it does the operation.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.h"
#include "capsule/org_key.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/time_format.h"
#include "crypto/random.h"
#include "cvs/cvs.h"
#include "edge/admission.h"
#include "common/log.h"
#include "edge/config.h"
#include "edge/fresh_pods.h"
#include "edge/gates.h"
#include "edge/metrics.h"
#include "edge/nonce.h"
#include "edge/pod_monitor.h"
#include "kube/client.h"
#include "net/http_server.h"
#include "store/store.h"

namespace astis::edge {

// PublicKeyLookup answers GET /v1/keys/{kid}: the org public key whose
// active kid is kid, or nullopt (unknown or retired kid). It must not block
// on the network. docs/protocol.md "Org public keys".
using PublicKeyLookup = std::function<std::optional<capsule::OrgPublicKey>(std::string_view kid)>;

// EdgeDeps are the injected collaborators; EdgeService borrows them all, so
// they must outlive it.
struct EdgeDeps {
  store::Store* store = nullptr;
  KubeClientLookup kube;
  cvs::CvsPort* cvs = nullptr;
  audit::AuditSink* audit = nullptr;
  Clock* clock = nullptr;
  Random* rng = nullptr;
  // pods, when set, adds the pod watches' state to /readyz and /metrics.
  // The watches revoke sessions and invalidate gate-4 confirmations (wired
  // by RunEdgeProcess through PodMonitor::SetChangeListener); they never
  // decide gate 4 (docs/protocol.md §6 gate 4 "Fresh"). Optional.
  PodMonitor* pods = nullptr;
  // log, when set, receives one access line per request (docs/operations.md
  // "Logs": method, route, status, wire code, duration, the verified
  // identity and the DPoP jkt; never a credential, capsule or plaintext).
  // Optional.
  log::Logger* log = nullptr;
  // public_keys, when set, serves the org public keys the edge holds
  // (the embedded ASTIS CVS's active keys). Optional: without it every
  // GET /v1/keys/{kid} is 404.
  PublicKeyLookup public_keys;
};

class EdgeService {
 public:
  // Create validates deps (kInvalidArgument if one is missing), obtains the
  // replicas' shared nonce secret from the store (kStoreUnavailable), and
  // logs every cluster in audit mode to stderr. The service borrows deps.
  static Result<std::unique_ptr<EdgeService>> Create(EdgeConfig config, EdgeDeps deps);

  // Handle answers one request. It cannot fail: every outcome, including a
  // dependency failure, is an HTTP response; error bodies are exactly
  // {"error":{"code","message"}} with a generic message, and every response
  // carries a fresh DPoP-Nonce. Thread-safe.
  net::ServerResponse Handle(const net::ServerRequest& request);
  // HandleHeld is Handle for HttpServer: an answer that needs its audit
  // line durable first comes back held (net::ServerResponse::hold) instead
  // of keeping this thread until the fdatasync (docs/performance.md
  // "Held answers"). Handle is AwaitHeld(HandleHeld(request)).
  net::ServerResponse HandleHeld(const net::ServerRequest& request);
  // ~EdgeService waits for the held answers still waiting for their audit
  // line (the sink must outlive the service, as deps say).
  ~EdgeService();
  EdgeService(const EdgeService&) = delete;
  EdgeService& operator=(const EdgeService&) = delete;

  // MetricsText renders the Prometheus text exposition of /metrics.
  std::string MetricsText();

  // fresh_pods is gate 4's source of pod state (docs/edge.md "Gate 4 from
  // fresh state"); RunEdgeProcess lets the pod watches invalidate it.
  FreshPods& fresh_pods() { return *fresh_; }

 private:
  struct Request;   // per-request state (defined in service.cc)
  struct Closing;   // what accounting a final answer needs (service.cc)
  void AccessLine(const Closing& c, int status, const std::string& code, int64_t duration_ms);
  // Decorate adds the headers every answer carries; Account counts the
  // final answer in the metrics and writes its access line.
  void Decorate(const Closing& c, net::ServerResponse& response);
  void Account(const Closing& c, int status);
  EdgeService(EdgeConfig config, EdgeDeps deps, NonceIssuer nonce);

  net::ServerResponse Dispatch(Request& r);
  net::ServerResponse Establish(Request& r);
  net::ServerResponse Unwrap(Request& r);
  net::ServerResponse Rotate(Request& r);
  net::ServerResponse End(Request& r, std::string_view session_id);
  net::ServerResponse Ready();
  net::ServerResponse PublicKey(Request& r, std::string_view kid);
  // Refuse records the refusal in r's audit line and metrics labels and
  // returns the blinded error response (wire_error.h); a bare Status is a
  // refusal outside the gates.
  net::ServerResponse Refuse(Request& r, const Refusal& refusal);
  net::ServerResponse Refuse(Request& r, const Status& status);
  net::ServerResponse Finish(Request& r, net::ServerResponse response);
  audit::AuditEvent Stamped(const Request& r) const;

  EdgeConfig config_;
  EdgeDeps deps_;
  NonceIssuer nonce_;
  std::unique_ptr<FreshPods> fresh_;
  std::unique_ptr<Admission> admission_;  // gates 1-4 (edge/admission.h)
  RequestMetrics metrics_;                // /metrics request families (edge/metrics.h)
  // held_ counts answers whose audit callback has not yet run.
  std::mutex held_mu_;
  std::condition_variable held_cv_;
  size_t held_ = 0;
};

// FormatRfc3339 renders Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" (UTC), the
// expiresAt of docs/protocol.md §4.1 (common/time_format.h). Cannot fail.
inline std::string FormatRfc3339(int64_t unix_seconds) {
  return ::astis::FormatRfc3339(unix_seconds * 1000, TimePrecision::kSeconds);
}

}  // namespace astis::edge
