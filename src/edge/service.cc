#include "edge/service.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "capsule/capsule.h"
#include "capsule/seal.h"
#include "common/encoding.h"
#include "common/json.h"
#include "crypto/x25519.h"
#include "edge/request_body.h"
#include "edge/wire_error.h"
#include "jose/jwk.h"

namespace astis::edge {
namespace {

constexpr std::string_view kSessionsPath = "/v1/sessions";
constexpr std::string_view kUnwrapPath = "/v1/unwrap";
constexpr std::string_view kRotatePath = "/v1/sessions/rotate";
constexpr std::string_view kKeysPrefix = "/v1/keys/";
constexpr size_t kSessionIdBytes = 16;  // 128 bits (docs/protocol.md §4.1)

// StoreFailure maps a store error to the wire: store_unavailable (fail closed).
Status StoreFailure(const Status& s, std::string_view what) {
  return Error(Code::kStoreUnavailable, std::string(what) + ": " + s.message());
}

Status BadRequest(std::string reason) { return Error(Code::kBadRequest, std::move(reason)); }

// RefusalOf is the Refusal a failed Result (no gate) or Decided carries.
template <typename T>
Refusal RefusalOf(const Result<T>& r) {
  return Refusal{Gate::kNone, r.status()};
}
template <typename T>
Refusal RefusalOf(const Decided<T>& d) {
  return d.refusal();
}

}  // namespace

struct EdgeService::Request {
  const net::ServerRequest& http;
  std::string endpoint;  // metrics label
  int64_t now = 0;
  int64_t start_ms = 0;
  std::string code;      // wire code of a refusal (metrics label)
  bool audited = false;  // a /v1 request that must leave an audit line
  // trail is the audit line; its event.gate is the refusing gate, written
  // once, by Refuse, from the Refusal.
  AuditTrail trail;
  Json body;
  // allow_line is a success path's audit line: the answer is held until
  // it is durable (Finish), and refused if it cannot be made so.
  std::optional<audit::AuditEvent> allow_line;
};

// Closing is what accounting a response needs (metrics, access line) once
// it is final, copied out of the Request so it can happen after the
// handler returned (a held response).
struct EdgeService::Closing {
  std::string method;
  std::string endpoint;
  std::string code;  // the refusal's wire code, if any
  int64_t now = 0;
  int64_t start_ms = 0;
  bool audit_mode = false;
  int status = 0;           // the answer's status as the handler made it
  audit::AuditEvent event;  // the request's audit line (identity fields)
};

EdgeService::EdgeService(EdgeConfig config, EdgeDeps deps, NonceIssuer nonce)
    : config_(std::move(config)), deps_(std::move(deps)), nonce_(std::move(nonce)) {
  FreshPodOptions o;
  o.max_staleness_ms = config_.gate4.max_staleness_ms;
  o.api_timeout_ms = config_.gate4.api_timeout_ms;
  o.retry_ms = config_.gate4.retry_ms;
  o.max_waiting_per_cluster = static_cast<size_t>(std::max<int64_t>(1, config_.gate4.max_waiting_per_cluster));
  o.slow_read_ms = config_.gate4.slow_read_ms;
  fresh_ = std::make_unique<FreshPods>(deps_.kube, *deps_.clock, o);
  admission_ = std::make_unique<Admission>(
      config_, AdmissionDeps{deps_.store, deps_.audit, deps_.clock, &nonce_, fresh_.get()});
}

Result<std::unique_ptr<EdgeService>> EdgeService::Create(EdgeConfig config, EdgeDeps deps) {
  if (deps.store == nullptr || !deps.kube || deps.cvs == nullptr || deps.audit == nullptr || deps.clock == nullptr ||
      deps.rng == nullptr) {
    return Error(Code::kInvalidArgument, "edge: a dependency is missing");
  }
  ASTIS_ASSIGN_OR_RETURN(NonceIssuer nonce, NonceIssuerFromStore(*deps.store, *deps.rng,
                                                                config.dpop.nonce_window_seconds,
                                                                deps.clock->NowUnix()));
  auto clusters = deps.store->ListClusters(std::nullopt);
  if (clusters.ok()) {
    for (const auto& c : *clusters) {
      // docs/protocol.md §6.4: audit mode is announced loudly at start-up.
      if (c.mode == "audit") {
        const std::string name = store::QualifiedClusterName(c.org, c.name);
        (deps.log != nullptr ? *deps.log : log::Process())
            .Warn("edge", "cluster " + name + " is in AUDIT MODE: gate 4 refusals are recorded as would_deny and "
                          "NOT enforced", Json{{"cluster", name}});
      }
    }
  }
  auto service = std::unique_ptr<EdgeService>(new EdgeService(std::move(config), std::move(deps), std::move(nonce)));
  return service;
}

EdgeService::~EdgeService() {
  // A held answer's audit callback runs on the audit sink's thread and uses
  // this service: wait for those still out (they end with an fdatasync).
  std::unique_lock<std::mutex> lock(held_mu_);
  held_cv_.wait(lock, [this] { return held_ == 0; });
}

net::ServerResponse EdgeService::Handle(const net::ServerRequest& http) { return net::AwaitHeld(HandleHeld(http)); }

net::ServerResponse EdgeService::HandleHeld(const net::ServerRequest& http) {
  Request r{http};
  r.now = deps_.clock->NowUnix();
  r.start_ms = deps_.clock->NowUnixMillis();
  // A request id ties the access line, the audit line and the client's
  // X-Request-Id together (docs/operations.md "Logs").
  uint8_t id[8];
  if (deps_.rng->Fill(id).ok()) r.trail.event.request_id = HexEncode(id);
  return Finish(r, Dispatch(r));
}

net::ServerResponse EdgeService::Dispatch(Request& r) {
  const std::string& m = r.http.method;
  const std::string& path = r.http.path;
  if (m == "GET" && path == "/healthz") {
    r.endpoint = "healthz";
    return JsonResponse(200, Json{{"status", "ok"}});
  }
  if (m == "GET" && path == "/readyz") {
    r.endpoint = "readyz";
    r.code = "not_ready";
    return Ready();
  }
  if (m == "GET" && path == "/metrics") {
    r.endpoint = "metrics";
    net::ServerResponse resp;
    resp.body = MetricsText();
    resp.headers.emplace_back("Content-Type", "text/plain; version=0.0.4");
    return resp;
  }
  if (m == "GET" && path.size() > kKeysPrefix.size() && path.rfind(kKeysPrefix, 0) == 0) {
    return PublicKey(r, std::string_view(path).substr(kKeysPrefix.size()));
  }
  if (m == "POST" && path == kSessionsPath) return Establish(r);
  if (m == "POST" && path == kUnwrapPath) return Unwrap(r);
  if (m == "POST" && path == kRotatePath) return Rotate(r);
  if (m == "DELETE" && path.size() > kSessionsPath.size() + 1 && path.rfind(std::string(kSessionsPath) + "/", 0) == 0) {
    return End(r, std::string_view(path).substr(kSessionsPath.size() + 1));
  }
  r.endpoint = "other";
  r.code = "not_found";
  net::ServerResponse resp = JsonResponse(404, Json{{"error", {{"code", "not_found"}, {"message", "no such endpoint"}}}});
  return resp;
}

// GET /v1/keys/{kid} (docs/protocol.md "Org public keys"): the public JWK
// of an active org key, by its RFC 7638 thumbprint. No authentication, no
// listing, no organisation name; an unknown, retired or malformed kid is
// the same 404. Tests: EdgeKeysTest.*.
net::ServerResponse EdgeService::PublicKey(Request& r, std::string_view kid) {
  r.endpoint = "keys";
  std::optional<capsule::OrgPublicKey> key;
  if (deps_.public_keys && kid.size() == 43) key = deps_.public_keys(kid);
  if (!key.has_value() || key->kid() != kid) {
    r.code = "not_found";
    return JsonResponse(404, Json{{"error", {{"code", "not_found"}, {"message", "no such key"}}}});
  }
  net::ServerResponse resp = JsonResponse(200, key->ToJwk());
  for (auto& h : resp.headers) {
    if (h.first == "Content-Type") h.second = "application/jwk+json";
  }
  return resp;
}

// ---------------------------------------------------------------- helpers

net::ServerResponse EdgeService::Refuse(Request& r, const Refusal& refusal) {
  const Code code = refusal.status.code();
  r.code = std::string(WireCodeName(code));
  r.trail.event.decision = audit::Decision::kDeny;
  r.trail.event.code = code;
  r.trail.event.gate = static_cast<int>(refusal.gate);
  r.trail.event.reason = refusal.status.message();
  return ErrorResponse(code);
}

net::ServerResponse EdgeService::Refuse(Request& r, const Status& status) {
  return Refuse(r, Refusal{Gate::kNone, status});
}

audit::AuditEvent EdgeService::Stamped(const Request& r) const {
  return r.trail.Stamped(deps_.clock->NowUnixMillis());
}

void EdgeService::Decorate(const Closing& c, net::ServerResponse& resp) {
  // docs/protocol.md §5: every response carries a current DPoP-Nonce.
  resp.headers.emplace_back("DPoP-Nonce", nonce_.Current(c.now));
  resp.headers.emplace_back("Cache-Control", "no-store");
  if (c.audit_mode) resp.headers.emplace_back("Astis-Audit-Mode", "true");  // docs/protocol.md §6.4
  if (!c.event.request_id.empty()) resp.headers.emplace_back("X-Request-Id", c.event.request_id);
}

void EdgeService::Account(const Closing& c, int status) {
  const std::string code = status < 400 ? "ok" : c.code.empty() ? std::to_string(status) : c.code;
  const int64_t duration_ms = deps_.clock->NowUnixMillis() - c.start_ms;
  metrics_.Count(c.endpoint, code, status >= 400 ? c.event.gate : 0, duration_ms);
  if (deps_.log != nullptr) AccessLine(c, status, code, duration_ms);
}

// Finish completes every answer. A request with an audit line (docs/audit-log.md
// "Durability") is held until the line is durable, without holding a server
// thread meanwhile (net::ServerResponse::hold; concurrent lines share one
// fdatasync): a success is sent only then, and refused with the sink's error
// if the line cannot be recorded (test AuditSinkDownRefusesRelease); a
// refusal is sent whether or not its line could be recorded. Tests
// EdgeServiceTest.HeldUntilAuditLineDurable, EdgeServiceTest.AuditFailureAccountedAsRefusal.
net::ServerResponse EdgeService::Finish(Request& r, net::ServerResponse resp) {
  Closing c{r.http.method, r.endpoint, r.code, r.now, r.start_ms, r.trail.audit_mode, resp.status, {}};
  const bool refusal_line = r.audited && r.trail.event.decision != audit::Decision::kAllow;
  std::optional<audit::AuditEvent> line;
  if (refusal_line) {
    line = Stamped(r);
  } else if (r.allow_line.has_value() && resp.status < 400) {
    line = std::move(r.allow_line);
  }
  c.event = line.has_value() ? *line : r.trail.event;
  Decorate(c, resp);
  if (!line.has_value()) {
    Account(c, resp.status);
    return resp;
  }
  resp.hold = [this, c = std::move(c), line = std::move(*line), refusal_line](net::Release release) mutable {
    {
      std::lock_guard<std::mutex> lock(held_mu_);
      ++held_;
    }
    auto durable = [this, c = std::move(c), refusal_line, release = std::move(release)](Status s) mutable {
      std::optional<net::ServerResponse> instead;
      if (!s.ok() && !refusal_line) {
        // The line may not be recorded: no data key leaves (fail closed).
        c.code = std::string(WireCodeName(s.code()));
        instead = ErrorResponse(s.code());
        Decorate(c, *instead);
      }
      Account(c, instead.has_value() ? instead->status : c.status);
      release(std::move(instead));
      std::lock_guard<std::mutex> lock(held_mu_);
      --held_;
      held_cv_.notify_all();  // under the lock: the destructor may return once it sees 0
    };
    deps_.audit->AppendThen(line, std::move(durable));
  };
  return resp;
}

void EdgeService::AccessLine(const Closing& c, int status, const std::string& code, int64_t duration_ms) {
  // One line per request. The route is the endpoint's template, never the
  // raw path or query (a session id in DELETE /v1/sessions/{id}, or anything
  // a client puts in an unknown path, stays out). Identity fields only once
  // a gate verified them. Never a token, API key, proof, capsule or
  // plaintext. Tests: CanaryTest.NoSecretLeaksEmbeddedCvs, CanaryTest.NoSecretLeaksRemoteCvs.
  static const std::map<std::string, std::string, std::less<>> kRoutes = {
      {"healthz", "/healthz"},        {"readyz", "/readyz"},         {"metrics", "/metrics"},
      {"sessions", "/v1/sessions"},   {"unwrap", "/v1/unwrap"},      {"rotate", "/v1/sessions/rotate"},
      {"sessions_delete", "/v1/sessions/{id}"}, {"keys", "/v1/keys/{kid}"}};
  auto route = kRoutes.find(c.endpoint);
  const audit::AuditEvent& e = c.event;
  Json f = {{"method", c.method},
            {"route", route == kRoutes.end() ? std::string("other") : route->second},
            {"status", status},
            {"code", code},
            {"duration_ms", duration_ms}};
  auto put = [&f](const char* k, const std::string& v) {
    if (!v.empty()) f[k] = v;
  };
  put("org", e.org);
  put("cluster", e.cluster);
  put("namespace", e.namespace_);
  put("pod", e.pod);
  put("pod_uid", e.pod_uid);
  put("api_key_id", e.api_key_id);
  put("jkt", e.jkt);
  deps_.log->Log(status >= 500 ? log::Level::kWarn : log::Level::kInfo, "access", "request", f, e.request_id);
}

std::string EdgeService::MetricsText() {
  std::string out = metrics_.Text();
  if (auto n = deps_.store->CountActiveSessions(deps_.clock->NowUnix()); n.ok()) {
    out += MetricFamily("astis_active_sessions", "gauge", "Sessions neither ended nor expired.");
    out += "astis_active_sessions " + std::to_string(*n) + "\n";
  }
  if (std::optional<audit::AuditStats> a = deps_.audit->Stats(); a.has_value()) {
    // lines / syncs: how many lines one fdatasync covered (group commit,
    // docs/performance.md "Held answers"). Test EdgeServiceTest.MetricsCountAuditLinesAndSyncs.
    out += MetricFamily("astis_audit_lines_total", "counter", "Audit lines appended by this process.");
    out += "astis_audit_lines_total " + std::to_string(a->lines) + "\n";
    out += MetricFamily("astis_audit_syncs_total", "counter", "fdatasync calls that made audit lines durable.");
    out += "astis_audit_syncs_total " + std::to_string(a->syncs) + "\n";
  }
  // Gate 2 verifies each token once (VerifiedTokenCache); kept / (kept +
  // full) is the share of requests that skipped the signature check. Test
  // EdgeServiceTest.TokenVerifiedOncePerToken.
  const VerifiedTokenCache::Stats tokens = admission_->token_stats();
  out += MetricFamily("astis_token_verifications_total", "counter",
                      "Gate-2 token checks: in full, or from a kept verification of the same token.");
  out += "astis_token_verifications_total{kind=\"full\"} " + std::to_string(tokens.misses) + "\n";
  out += "astis_token_verifications_total{kind=\"kept\"} " + std::to_string(tokens.hits) + "\n";
  out += fresh_->MetricsText();
  if (deps_.pods != nullptr) out += deps_.pods->MetricsText();
  return out;
}

net::ServerResponse EdgeService::Ready() {
  // docs/protocol.md §4.5: ready when what every request needs is — the store and
  // the CVS. Each cluster's API state is reported from gate 4's own reads
  // (no probe fans out to N API servers) and never makes the edge unready:
  // one customer cluster's outage must not take the edge away from the
  // others (test ReadyzIgnoresClusterOutage).
  Json checks = Json::object();
  auto clusters = deps_.store->ListClusters(std::nullopt);
  checks["store"] = clusters.ok() ? "ok" : "unavailable";
  const bool cvs_ok = deps_.cvs->Ping().ok();
  checks["cvs"] = cvs_ok ? "ok" : "unavailable";
  const bool ok = clusters.ok() && cvs_ok;
  if (clusters.ok()) {
    for (const auto& c : *clusters) {
      const std::string name = store::QualifiedClusterName(c.org, c.name);
      checks["cluster/" + name] = fresh_->State(name).health;
    }
  }
  if (deps_.pods != nullptr) {
    // Reported, not required: the watches only push revocations sooner.
    for (const WatchState& w : deps_.pods->States()) {
      checks["watch/" + w.cluster + "/" + w.ns] = w.stats.healthy ? "healthy" : "unhealthy";
    }
  }
  return JsonResponse(ok ? 200 : 503, Json{{"status", ok ? "ready" : "not_ready"}, {"checks", checks}});
}

// ---------------------------------------------------------------- endpoints

#define EDGE_TRY(r, expr)                                   \
  do {                                                      \
    Status edge_status_ = (expr);                           \
    if (!edge_status_.ok()) return Refuse(r, edge_status_); \
  } while (0)

// EDGE_ASSIGN takes a Result (a refusal outside the gates) or a Decided.
#define EDGE_ASSIGN(r, decl, expr)                                             \
  auto ASTIS_CONCAT_(edge_res_, __LINE__) = (expr);                            \
  if (!ASTIS_CONCAT_(edge_res_, __LINE__).ok())                                \
    return Refuse(r, RefusalOf(ASTIS_CONCAT_(edge_res_, __LINE__)));           \
  decl = std::move(ASTIS_CONCAT_(edge_res_, __LINE__)).value()

net::ServerResponse EdgeService::Establish(Request& r) {
  r.endpoint = "sessions";
  r.audited = true;
  r.trail.event.event = "session.establish";
  EDGE_TRY(r, ParseBody(r.http, config_.limits.max_body_bytes, &r.body));
  EDGE_TRY(r, RequireExactMembers(r.body, {"recipient"}, "body", Code::kBadRequest));
  EDGE_ASSIGN(r, auto recipient, ParseRecipient(r.body["recipient"]));
  EDGE_ASSIGN(r, Admitted a, admission_->Admit(r.http, r.now, std::nullopt, r.trail));

  std::vector<uint8_t> raw(kSessionIdBytes);
  EDGE_TRY(r, deps_.rng->Fill(raw));
  store::Session candidate;
  candidate.id = B64uEncode(raw);
  candidate.org = a.org();
  candidate.cluster = a.identity().cluster();
  candidate.namespace_ = a.identity().namespace_();
  candidate.service_account = a.identity().service_account();
  candidate.pod_name = a.identity().pod_name();
  candidate.pod_uid = a.identity().pod_uid();
  candidate.jkt = a.proof().jkt();
  candidate.recipient_jwk = recipient.jwk_json;
  candidate.created_at = r.now;
  candidate.pod_restarts = a.pod_restarts().value_or(0);
  // docs/protocol.md §4.1: expiresAt = min(now + TTL, token exp).
  candidate.expires_at = std::min(r.now + config_.session_ttl_seconds, a.identity().token_exp());
  if (candidate.expires_at <= r.now) {
    // Gate 2: accepted within the skew, but no time left to open a session.
    return Refuse(r, Refusal{Gate::kToken, Error(Code::kTokenInvalid, "token: expires now")});
  }
  auto enrolled = deps_.store->EnrollSession(candidate, r.now);
  if (!enrolled.ok()) return Refuse(r, StoreFailure(enrolled.status(), "enroll session"));
  std::string released_id;
  if (enrolled->outcome == store::EnrollOutcome::kPinnedConflict && a.pod_restarts().has_value() &&
      *a.pod_restarts() > enrolled->session.pod_restarts) {
    // docs/protocol.md §4.1 "Readings" (pin release on restart): gate 4's fresh
    // read of this pod shows a container restarted since the pin was taken,
    // so the key died with the process; release the pin (a compare-and-swap
    // on the holder) and enroll once more. Of several new keys racing after
    // one restart exactly one is pinned (tests RestartReleasesPinForNewKey,
    // ConcurrentReleaseAfterRestartExactlyOneWins).
    const store::Session holder = enrolled->session;
    auto released = deps_.store->ReleasePinIfRestarted(candidate.org, candidate.cluster, candidate.pod_uid,
                                                       holder.id, *a.pod_restarts(), r.now);
    if (!released.ok()) return Refuse(r, StoreFailure(released.status(), "release pin"));
    if (*released) {
      released_id = holder.id;
      audit::AuditEvent e = r.trail.Stamped(deps_.clock->NowUnixMillis());
      e.event = "session.revoke";
      e.decision = audit::Decision::kDeny;
      e.gate = static_cast<int>(Gate::kProof);
      e.code = Code::kSessionInvalid;
      e.jkt = holder.jkt;
      e.reason = "session " + holder.id + ": container restarted (pod restarts " +
                 std::to_string(*a.pod_restarts()) + ", " + std::to_string(holder.pod_restarts) +
                 " when pinned); pin released for key " + candidate.jkt;
      EDGE_TRY(r, deps_.audit->Append(e));
    }
    enrolled = deps_.store->EnrollSession(candidate, r.now);
    if (!enrolled.ok()) return Refuse(r, StoreFailure(enrolled.status(), "enroll session"));
  }
  if (enrolled->outcome == store::EnrollOutcome::kPinnedConflict) {
    // Gate 3, docs/protocol.md §4.1: one DPoP key per live Pod UID (test SecondEnrollmentPinned).
    return Refuse(r, Refusal{Gate::kProof, Error(Code::kCredentialPinned, "another key is pinned to this pod uid")});
  }
  const store::Session& s = enrolled->session;
  r.trail.event.reason = enrolled->outcome == store::EnrollOutcome::kExtended ? "session extended" : "session created";
  if (!released_id.empty()) {
    r.trail.event.reason += " (pin of session " + released_id + " released: container restarted)";
  }
  r.allow_line = Stamped(r);  // durable before the answer leaves (Finish)
  return JsonResponse(201, Json{{"session", s.id},
                                {"expiresAt", FormatRfc3339(s.expires_at)},
                                {"cluster", s.cluster},
                                {"pod", {{"namespace", s.namespace_}, {"name", s.pod_name}, {"uid", s.pod_uid}}}});
}

net::ServerResponse EdgeService::Unwrap(Request& r) {
  r.endpoint = "unwrap";
  r.audited = true;
  r.trail.event.event = "unwrap";
  EDGE_TRY(r, ParseBody(r.http, config_.limits.max_body_bytes, &r.body));
  EDGE_TRY(r, RequireExactMembers(r.body, {"session", "capsules"}, "body", Code::kBadRequest));
  const Json& jsession = r.body["session"];
  const Json& jcaps = r.body["capsules"];
  if (!jsession.is_string() || !jcaps.is_array()) return Refuse(r, BadRequest("session or capsules of wrong type"));
  // docs/protocol.md §4.2: 1 to 64 capsules (tests OversizeBatch, EmptyBatchBadRequest).
  if (jcaps.size() > static_cast<size_t>(config_.limits.max_capsules_per_request)) {
    return Refuse(r, Error(Code::kTooLarge, "more capsules than allowed"));
  }
  if (jcaps.empty()) return Refuse(r, BadRequest("no capsules"));
  for (const Json& c : jcaps) {
    if (!c.is_string()) return Refuse(r, BadRequest("capsule is not a string"));
  }
  EDGE_ASSIGN(r, Admitted a,
              admission_->Admit(r.http, r.now, SessionUse{jsession.get_ref<const std::string&>()}, r.trail));
  const store::Session& session = *a.session();
  auto recipient_jwk = jose::Jwk::ParseText(session.recipient_jwk);
  if (!recipient_jwk.ok()) return Refuse(r, Error(Code::kInternal, "stored recipient key unreadable"));
  EDGE_ASSIGN(r, X25519PublicKey recipient, recipient_jwk->ToX25519Public());

  // Per capsule: parse (capsule_invalid), scope (capsule_scope); the rest go to the CVS.
  std::vector<Json> results(jcaps.size());
  std::vector<std::vector<uint8_t>> forward;
  std::vector<size_t> forward_index;
  for (size_t i = 0; i < jcaps.size(); ++i) {
    audit::CapsuleRef ref;
    auto bytes = B64uDecode(jcaps[i].get_ref<const std::string&>());
    auto cap = bytes.ok() ? capsule::Capsule::Parse(std::span<const uint8_t>(*bytes))
                          : Result<capsule::Capsule>(BadRequest("capsule not b64u"));
    Code code = Code::kOk;
    if (!cap.ok()) {
      code = Code::kCapsuleInvalid;
    } else {
      ref.kid = cap->kid();
      ref.cluster = cap->binding().ClusterList();
      ref.namespace_ = cap->binding().namespace_;
      ref.service_account = cap->binding().service_account;
      ref.name = cap->binding().name;
      ref.key = cap->binding().key;
      if (!capsule::CheckCapsuleScope(*cap, a.identity().cluster(), a.identity().namespace_(),
                                      a.identity().service_account()).ok()) {
        code = Code::kCapsuleScope;
      }
    }
    ref.code = code;
    r.trail.event.capsules.push_back(ref);
    if (code != Code::kOk) {
      results[i] = ErrorObject(code);
    } else {
      forward.push_back(std::move(*bytes));
      forward_index.push_back(i);
    }
  }
  if (!forward.empty()) {
    auto rewrapped = deps_.cvs->Rewrap(a.scope(), recipient, session.id, forward);
    if (!rewrapped.ok() || rewrapped->size() != forward.size()) {
      const std::string why = rewrapped.ok() ? "result count mismatch" : rewrapped.status().message();
      // The router could not read the organisation's CVS route from the
      // store: that is the store's outage, not the CVS's
      // (test TenancyTest.RouteLookupStoreOutageIsStoreUnavailable).
      if (!rewrapped.ok() && rewrapped.status().code() == Code::kStoreUnavailable) {
        return Refuse(r, Error(Code::kStoreUnavailable, "cvs route: " + why));
      }
      return Refuse(r, Error(Code::kCvsUnavailable, "cvs: " + why));  // test CvsDown
    }
    for (size_t k = 0; k < forward.size(); ++k) {
      const cvs::RewrapResult& res = (*rewrapped)[k];
      const size_t i = forward_index[k];
      if (res.code == Code::kOk) {
        results[i] = Json{{"enc", B64uEncode(res.enc)}, {"ct", B64uEncode(res.ct)}};
      } else {
        const Code c = (res.code == Code::kCapsuleScope || res.code == Code::kUnknownKey) ? res.code
                                                                                          : Code::kCapsuleInvalid;
        results[i] = ErrorObject(c);
        r.trail.event.capsules[i].code = c;
      }
    }
  }
  r.allow_line = Stamped(r);  // durable before the answer leaves (Finish)
  return JsonResponse(200, Json{{"results", results}});
}

net::ServerResponse EdgeService::Rotate(Request& r) {
  r.endpoint = "rotate";
  r.audited = true;
  r.trail.event.event = "session.rotate";
  EDGE_TRY(r, ParseBody(r.http, config_.limits.max_body_bytes, &r.body));
  EDGE_TRY(r, RequireExactMembers(r.body, {"session", "key", "recipient", "pop"}, "body", Code::kBadRequest));
  const Json& jsession = r.body["session"];
  const Json& jpop = r.body["pop"];
  if (!jsession.is_string() || !jpop.is_string()) return Refuse(r, BadRequest("session or pop of wrong type"));
  auto new_key = jose::Jwk::Parse(r.body["key"]);
  if (!new_key.ok() || new_key->kty() != jose::KeyType::kOkp || new_key->crv() != "Ed25519" ||
      !new_key->RequirePublic().ok()) {
    return Refuse(r, BadRequest("key is not a public Ed25519 JWK"));
  }
  EDGE_ASSIGN(r, auto recipient, ParseRecipient(r.body["recipient"]));
  EDGE_ASSIGN(r, Authenticated a,  // the proof is by the current (pinned) key
              admission_->Authenticate(r.http, r.now, SessionUse{jsession.get_ref<const std::string&>()}, r.trail));
  const store::Session& session = *a.session();
  // Gate 3, docs/protocol.md §4.3: pop proves the NEW key (test RotateWithoutNewKeyProofRefused).
  Status pop = VerifyRotationProof(jpop.get_ref<const std::string&>(), *new_key, session.id, a.proof().jkt(), r.now,
                                   config_.dpop.max_skew_seconds);
  if (!pop.ok()) return Refuse(r, Refusal{Gate::kProof, pop});
  const std::string new_jkt = new_key->Thumbprint();
  if (new_jkt == a.proof().jkt()) return Refuse(r, Refusal{Gate::kProof, BadRequest("new key equals the pinned key")});
  auto rotated = deps_.store->RotateSessionKey(session.id, a.proof().jkt(), new_jkt, recipient.jwk_json, r.now);
  if (!rotated.ok()) {
    const Code c = rotated.status().code();
    if (c == Code::kFailedPrecondition || c == Code::kNotFound) {
      return Refuse(r, Refusal{Gate::kProof,
                               Error(Code::kSessionInvalid, "rotate: pin changed concurrently or session ended")});
    }
    return Refuse(r, StoreFailure(rotated.status(), "rotate"));
  }
  r.trail.event.reason = "pin moved to " + new_jkt;
  r.allow_line = Stamped(r);  // durable before the answer leaves (Finish)
  return JsonResponse(200, Json{{"session", session.id}, {"expiresAt", FormatRfc3339(session.expires_at)}});
}

net::ServerResponse EdgeService::End(Request& r, std::string_view session_id) {
  r.endpoint = "sessions_delete";
  r.audited = true;
  r.trail.event.event = "session.end";
  if (r.http.body.size() > static_cast<size_t>(config_.limits.max_body_bytes)) {
    return Refuse(r, Error(Code::kTooLarge, "body over the limit"));
  }
  if (!r.http.query.empty()) return Refuse(r, BadRequest("query string not allowed"));
  // docs/protocol.md §4.4: idempotent, so an already-ended session is accepted (test DeleteEndsSession).
  EDGE_ASSIGN(r, Authenticated a, admission_->Authenticate(r.http, r.now, SessionUse{session_id, true}, r.trail));
  Status ended = deps_.store->EndSession(a.session()->id);
  if (!ended.ok()) return Refuse(r, StoreFailure(ended, "end session"));
  r.allow_line = Stamped(r);  // durable before the answer leaves (Finish)
  net::ServerResponse resp;
  resp.status = 204;
  return resp;
}

}  // namespace astis::edge
