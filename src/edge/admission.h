// Admission: the edge's four gates (docs/protocol.md §6) in one order, with
// the I/O they need (store, trust anchors, pod state, audit). The endpoints
// in service.cc ask it for one of two values and do nothing gate-related
// themselves:
//
//   Authenticate  gate 1 format and key record (-> organisation) -> gate 2
//                 token against that organisation's clusters -> gate 1
//                 scope -> rate limits -> gate 3 DPoP proof and replay
//                 [-> gate 3 session pin]          => Authenticated
//   Admit         Authenticate -> gate 4 live pod and images  => Admitted
//
// The order is docs/edge.md "Order of checks". Rate limits count every
// authenticated request (API key and token verified), so nobody can spend
// another's quota, and an exhausted limit answers 429 before any gate-3
// refusal (tests RateLimitPerApiKey, RateLimitedBeforeBadProof).
//
// A refusal is a Refusal value carrying the gate that refused (0 when the
// refusal is not a gate's, e.g. rate limits); the audit line's "gate" and
// astis_gate_refusals_total report it. Admitted is the only way an edge
// handler obtains the cvs::VerifiedScope the CVS accepts (cvs/cvs.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/status.h"
#include "cvs/cvs.h"
#include "edge/config.h"
#include "edge/fresh_pods.h"
#include "edge/gates.h"
#include "edge/jwks_cache.h"
#include "edge/nonce.h"
#include "edge/token_cache.h"
#include "net/http_server.h"
#include "store/store.h"

namespace astis::edge {

// Gate numbers docs/protocol.md §6 and the audit log use; kNone is a refusal
// outside the gates (malformed body, rate limit, a failure after admission).
enum class Gate : int { kNone = 0, kApiKey = 1, kToken = 2, kProof = 3, kPod = 4 };

// Refusal is why a request is refused: the gate and the Status whose code is
// the wire code (docs/protocol.md §7) and whose message is the audit reason.
struct Refusal {
  Gate gate = Gate::kNone;
  Status status;
};

// Decided<T> is T, or the Refusal that stopped the request.
template <typename T>
class [[nodiscard]] Decided {
 public:
  Decided(T value) : v_(std::move(value)) {}
  Decided(Refusal refusal) : v_(std::move(refusal)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Refusal& refusal() const { return std::get<Refusal>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }

 private:
  std::variant<T, Refusal> v_;
};

// AuditTrail is what one request has established so far, for its audit
// line(s): the gates fill in the key id, the token identity and the proof's
// jkt as they pass, so a refusal's line names everything verified before it.
struct AuditTrail {
  audit::AuditEvent event;
  std::string session_id;   // recorded in the audit reason (AuditEvent has no session member)
  bool audit_mode = false;  // the token's cluster is in audit mode (docs/protocol.md §6.4)

  // Stamped is event at now_ms, its reason prefixed with the session id.
  audit::AuditEvent Stamped(int64_t now_ms) const;
};

// SessionUse names the session a request acts on (unwrap, rotate, end):
// gate 3 then requires the proof's key and the token's pod to be its pin.
struct SessionUse {
  std::string_view id;
  bool allow_ended = false;  // docs/protocol.md §4.4: ending is idempotent
};

// Authenticated is a request that passed gates 1-3 (and the session pin,
// when one was asked for). Only Admission constructs one.
class Authenticated {
 public:
  // org is the organisation of the API key; the identity's cluster and
  // every store object the request touches are that organisation's.
  const std::string& org() const { return org_; }
  const VerifiedIdentity& identity() const { return identity_; }
  const VerifiedProof& proof() const { return proof_; }
  // session is the pinned session (SessionUse given), else nullopt.
  const std::optional<store::Session>& session() const { return session_; }

 private:
  friend class Admission;
  Authenticated(std::string org, VerifiedIdentity identity, VerifiedProof proof)
      : org_(std::move(org)), identity_(std::move(identity)), proof_(std::move(proof)) {}
  std::string org_;
  VerifiedIdentity identity_;
  VerifiedProof proof_;
  std::optional<store::Session> session_;
};

// Admitted is a request that passed gates 1-4 (gate 4 possibly as an audit
// mode would_deny). Only Admission constructs one, and it is the only source
// of the cvs::VerifiedScope an edge handler may pass to the CVS.
class Admitted {
 public:
  const Authenticated& authenticated() const { return auth_; }
  const std::string& org() const { return auth_.org(); }
  const VerifiedIdentity& identity() const { return auth_.identity(); }
  const VerifiedProof& proof() const { return auth_.proof(); }
  const std::optional<store::Session>& session() const { return auth_.session(); }
  const cvs::VerifiedScope& scope() const { return scope_; }
  // pod_restarts is the restart fingerprint (kube::PodRestarts) of the pod
  // gate 4 just decided from: the API server's answer about the token's pod
  // (same namespace, name and UID), confirmed within gate4.max_staleness_ms.
  // nullopt when gate 4 had no such pod (none registered, not found,
  // replaced). Never anything the client sent (docs/edge.md "Restarted
  // containers").
  const std::optional<int64_t>& pod_restarts() const { return pod_restarts_; }

 private:
  friend class Admission;
  Admitted(Authenticated auth, cvs::VerifiedScope scope, std::optional<int64_t> pod_restarts)
      : auth_(std::move(auth)), scope_(std::move(scope)), pod_restarts_(pod_restarts) {}
  Authenticated auth_;
  cvs::VerifiedScope scope_;
  std::optional<int64_t> pod_restarts_;
};

// AdmissionDeps are borrowed; they must outlive the Admission.
struct AdmissionDeps {
  store::Store* store = nullptr;
  audit::AuditSink* audit = nullptr;  // gate 4's audit-mode would_deny lines
  Clock* clock = nullptr;
  const NonceIssuer* nonce = nullptr;
  FreshPods* fresh = nullptr;         // gate 4's pod state (docs/edge.md "Gate 4 from fresh state")
};

// Admission runs the gates. Thread-safe; it owns the JWKS and verified-token caches.
class Admission {
 public:
  Admission(const EdgeConfig& config, AdmissionDeps deps);

  // Authenticate runs gates 1-3 on http at time now, then, if session is
  // given, the session pin. It fills trail as the gates pass.
  Decided<Authenticated> Authenticate(const net::ServerRequest& http, int64_t now, std::optional<SessionUse> session,
                                      AuditTrail& trail);

  // Admit is Authenticate then gate 4. In audit mode a gate-4 refusal is
  // appended as would_deny and the request admitted (docs/protocol.md §6.4,
  // test AuditModeLetsThroughWithWouldDeny); failing to append refuses it.
  Decided<Admitted> Admit(const net::ServerRequest& http, int64_t now, std::optional<SessionUse> session,
                          AuditTrail& trail);

  // token_stats counts gate 2's verifications: kept (hits) and in full.
  VerifiedTokenCache::Stats token_stats() const { return tokens_.stats(); }

 private:
  Result<std::vector<ClusterTrust>> TrustFor(std::string_view org, std::string_view issuer,
                                             std::map<std::string, std::string>* modes);
  Result<std::optional<ApiKeyFacts>> KeyRecord(std::string_view id);
  Decided<VerifiedProof> CheckProofAndRates(const net::ServerRequest& http, int64_t now, std::string_view token,
                                            const std::vector<store::RateCharge>& charges);
  Decided<store::Session> CheckSession(const Authenticated& a, SessionUse use, int64_t now);
  // DecidePod is gate 4's decision (OK, pod_not_live, image_not_allowed or
  // kube_unavailable), which audit mode may waive; a Refusal is a failure to
  // decide (store or API server unreachable), a refusal in every mode (test
  // AttackTest.AuditModeStillFailsClosedWhenKubeDown). It sets *restarts to
  // the pod's restart fingerprint when it read the token's pod.
  Decided<Status> DecidePod(std::string_view org, const VerifiedIdentity& id, std::optional<int64_t>* restarts);

  const EdgeConfig& config_;
  AdmissionDeps deps_;
  JwksCache jwks_;
  VerifiedTokenCache tokens_;
};

}  // namespace astis::edge
