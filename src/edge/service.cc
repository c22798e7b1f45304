#include "edge/service.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <set>

#include "capsule/capsule.h"
#include "capsule/seal.h"
#include "common/encoding.h"
#include "common/json.h"
#include "edge/metrics.h"
#include "edge/wire_error.h"
#include "crypto/x25519.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "kube/pod.h"

namespace astis::edge {
namespace {

constexpr std::string_view kSessionsPath = "/v1/sessions";
constexpr std::string_view kUnwrapPath = "/v1/unwrap";
constexpr std::string_view kRotatePath = "/v1/sessions/rotate";
constexpr size_t kSessionIdBytes = 16;  // 128 bits (docs/protocol.md §4.1)
constexpr int64_t kRateWindowSeconds = 60;

// StoreFailure maps a store error to the wire: everything but "not found"
// is store_unavailable (fail closed).
Status StoreFailure(const Status& s, std::string_view what) {
  return Error(Code::kStoreUnavailable, std::string(what) + ": " + s.message());
}

Status BadRequest(std::string reason) { return Error(Code::kBadRequest, std::move(reason)); }

bool IsSessionId(std::string_view id) {
  if (id.size() < 22 || id.size() > 64) return false;
  return B64uDecode(id).ok();
}

// ParseRecipient accepts only a public OKP/X25519 JWK with a 32-byte x that
// is not a low-order point (docs/protocol.md §4.1). RFC 7748 §6.1 / RFC 9180
// §7.1.4: a low-order point (or a non-canonical encoding of one) makes every
// X25519 output all zero, so the CVS could never rewrap to it; refusing it
// here keeps a client's mistake a 400 instead of a later 503 cvs_unavailable
// (tests RecipientNotX25519BadRequest, RecipientLowOrderBadRequest).
Result<std::pair<X25519PublicKey, std::string>> ParseRecipient(const Json& j) {
  auto jwk = jose::Jwk::Parse(j);
  if (!jwk.ok() || jwk->kty() != jose::KeyType::kOkp || jwk->crv() != "X25519" || !jwk->RequirePublic().ok()) {
    return BadRequest("recipient is not a public X25519 JWK");
  }
  auto pk = jwk->ToX25519Public();
  if (!pk.ok()) return BadRequest("recipient is not a public X25519 JWK");
  if (IsLowOrderX25519(*pk)) return BadRequest("recipient is a low-order X25519 point");
  return std::make_pair(*pk, DumpJson(jwk->ToJson()));
}

// IatWithin reports whether a JSON NumericDate is an integer within
// [now - skew, now + skew], without overflow for any value a client can
// send: the same rule as the DPoP iat (jose::PlaceIat; test
// RotatePopExtremeIatRefused).
bool IatWithin(const Json& iat, int64_t now, int64_t skew) {
  const std::optional<int64_t> t = jose::IntegerNumericDate(iat);
  return t.has_value() && jose::PlaceIat(*t, now, skew) == jose::IatPosition::kWithin;
}

}  // namespace

std::string FormatRfc3339(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct EdgeService::Request {
  const net::ServerRequest& http;
  std::string endpoint;  // metrics label
  int64_t now = 0;
  int64_t start_ms = 0;
  int gate = 0;           // gate that refused (for metrics and audit)
  std::string code;       // wire code of a refusal (metrics label)
  bool audit_mode = false;
  bool audited = false;   // a /v1 request that must leave an audit line
  audit::AuditEvent event;
  std::string session_id;  // recorded in the audit reason (AuditEvent has no session member)
  Json body;
};

struct EdgeService::Authed {
  VerifiedIdentity identity;
  VerifiedProof proof;
  std::string api_key_id;
  std::string token;
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
}

Result<std::unique_ptr<EdgeService>> EdgeService::Create(EdgeConfig config, EdgeDeps deps) {
  if (deps.store == nullptr || !deps.kube || deps.cvs == nullptr || deps.audit == nullptr || deps.clock == nullptr ||
      deps.rng == nullptr) {
    return Error(Code::kInvalidArgument, "edge: a dependency is missing");
  }
  ASTIS_ASSIGN_OR_RETURN(NonceIssuer nonce, NonceIssuerFromStore(*deps.store, *deps.rng,
                                                                config.dpop.nonce_window_seconds,
                                                                deps.clock->NowUnix()));
  auto clusters = deps.store->ListClusters();
  if (clusters.ok()) {
    for (const auto& c : *clusters) {
      // docs/protocol.md §6.4: audit mode is announced loudly at start-up.
      if (c.mode == "audit") {
        std::fprintf(stderr, "WARNING: cluster %s is in AUDIT MODE: gate 4 refusals are recorded as would_deny "
                     "and NOT enforced\n", c.name.c_str());
      }
    }
  }
  auto service = std::unique_ptr<EdgeService>(new EdgeService(std::move(config), std::move(deps), std::move(nonce)));
  return service;
}

net::ServerResponse EdgeService::Handle(const net::ServerRequest& http) {
  Request r{http};
  r.now = deps_.clock->NowUnix();
  r.start_ms = deps_.clock->NowUnixMillis();
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

// ---------------------------------------------------------------- helpers

net::ServerResponse EdgeService::Refuse(Request& r, const Status& status) {
  const Code code = status.code();
  r.code = std::string(WireCodeName(code));
  r.event.decision = audit::Decision::kDeny;
  r.event.code = code;
  r.event.gate = r.gate;
  r.event.reason = status.message();
  return ErrorResponse(code);
}

audit::AuditEvent EdgeService::Stamped(const Request& r) const {
  audit::AuditEvent e = r.event;
  e.time_unix_ms = deps_.clock->NowUnixMillis();
  if (!r.session_id.empty()) e.reason = "session " + r.session_id + (e.reason.empty() ? "" : ": " + e.reason);
  return e;
}

void EdgeService::Audit(Request& r) {
  if (!r.audited) return;
  // A refusal is returned even if its audit line cannot be written; success
  // paths check Append themselves and fail closed.
  (void)deps_.audit->Append(Stamped(r));
}

net::ServerResponse EdgeService::Finish(Request& r, net::ServerResponse resp) {
  // docs/protocol.md §5: every response carries a current DPoP-Nonce.
  resp.headers.emplace_back("DPoP-Nonce", nonce_.Current(r.now));
  resp.headers.emplace_back("Cache-Control", "no-store");
  if (r.audit_mode) resp.headers.emplace_back("Astis-Audit-Mode", "true");  // docs/protocol.md §6.4
  if (r.audited && r.event.decision != audit::Decision::kAllow) Audit(r);
  const std::string code = resp.status < 400 ? "ok" : r.code.empty() ? std::to_string(resp.status) : r.code;
  metrics_.Count(r.endpoint, code, resp.status >= 400 ? r.gate : 0, deps_.clock->NowUnixMillis() - r.start_ms);
  return resp;
}

std::string EdgeService::MetricsText() {
  std::string out = metrics_.Text();
  if (auto n = deps_.store->CountActiveSessions(deps_.clock->NowUnix()); n.ok()) {
    out += MetricFamily("astis_active_sessions", "gauge", "Sessions neither ended nor expired.");
    out += "astis_active_sessions " + std::to_string(*n) + "\n";
  }
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
  auto clusters = deps_.store->ListClusters();
  checks["store"] = clusters.ok() ? "ok" : "unavailable";
  const bool cvs_ok = deps_.cvs->Ping().ok();
  checks["cvs"] = cvs_ok ? "ok" : "unavailable";
  const bool ok = clusters.ok() && cvs_ok;
  if (clusters.ok()) {
    for (const auto& c : *clusters) checks["cluster/" + c.name] = fresh_->State(c.name).health;
  }
  if (deps_.pods != nullptr) {
    // Reported, not required: the watches only push revocations sooner.
    for (const WatchState& w : deps_.pods->States()) {
      checks["watch/" + w.cluster + "/" + w.ns] = w.stats.healthy ? "healthy" : "unhealthy";
    }
  }
  return JsonResponse(ok ? 200 : 503, Json{{"status", ok ? "ready" : "not_ready"}, {"checks", checks}});
}

// ---------------------------------------------------------------- gates 1-4

Result<std::vector<ClusterTrust>> EdgeService::TrustFor(std::string_view issuer,
                                                         std::map<std::string, std::string>* modes) {
  // A keyed read (Store::ListClustersByIssuer) and parsed JWKS cached by the
  // hash of their text: a request's cost does not grow with the number of
  // registered clusters, and a re-registered JWKS is a new cache key, so a
  // change takes effect on the next request (test TrustAnchorsFollowReRegistration).
  auto clusters = deps_.store->ListClustersByIssuer(issuer);
  if (!clusters.ok()) return StoreFailure(clusters.status(), "clusters by issuer");
  std::vector<ClusterTrust> out;
  out.reserve(clusters->size());
  for (const auto& c : *clusters) {
    auto jwks = jwks_.Get(c.jwks_json);
    if (!jwks.ok()) continue;  // a cluster with an unusable JWKS authenticates nobody
    out.push_back(ClusterTrust{c.name, c.issuer, c.audience.empty() ? "astis" : c.audience, *std::move(jwks)});
    (*modes)[c.name] = c.mode;
  }
  return out;
}

Result<EdgeService::Authed> EdgeService::Authenticate(Request& r) {
  // Gate 1, format only (docs/protocol.md §6.1): exactly one well-formed key header.
  r.gate = 1;
  if (r.http.HeaderCount(kApiKeyHeader) != 1) return Error(Code::kApiKeyInvalid, "api key: need exactly one header");
  ASTIS_ASSIGN_OR_RETURN(PresentedApiKey key, PresentedApiKey::Parse(*r.http.Header(kApiKeyHeader)));
  r.event.api_key_id = key.id();

  // Gate 2 (docs/protocol.md §6.2).
  r.gate = 2;
  if (r.http.HeaderCount("Authorization") != 1) return Error(Code::kTokenInvalid, "token: need exactly one header");
  ASTIS_ASSIGN_OR_RETURN(std::string token, ParseDpopAuthorization(*r.http.Header("Authorization")));
  std::map<std::string, std::string> modes;
  const TrustLookup trust = [this, &modes](std::string_view issuer) { return TrustFor(issuer, &modes); };
  ASTIS_ASSIGN_OR_RETURN(VerifiedIdentity identity,
                         VerifyServiceAccountToken(token, trust, r.now, config_.token.max_skew_seconds));
  r.event.cluster = identity.cluster();
  r.event.namespace_ = identity.namespace_();
  r.event.service_account = identity.service_account();
  r.event.pod = identity.pod_name();
  r.event.pod_uid = identity.pod_uid();
  r.audit_mode = modes[identity.cluster()] == "audit";

  // Gate 1, record and scope.
  r.gate = 1;
  std::optional<ApiKeyFacts> facts;
  auto rec = deps_.store->GetApiKey(key.id());
  if (rec.ok()) {
    facts = ApiKeyFacts{rec->id, rec->hash, rec->cluster,
                        rec->namespace_, rec->service_account, rec->expires_at, rec->revoked_at};
  } else if (rec.status().code() != Code::kNotFound) {
    return StoreFailure(rec.status(), "api key lookup");
  }
  ASTIS_ASSIGN_OR_RETURN(VerifiedApiKey verified_key, VerifyApiKey(key, facts, identity, r.now));

  // Gate 3 (docs/protocol.md §5, RFC 9449 §4.3).
  r.gate = 3;
  const std::string htu = config_.external_base_url + r.http.path;
  ProofRequest pr;
  pr.dpop_header_count = r.http.HeaderCount("DPoP");
  const std::optional<std::string> dpop = r.http.Header("DPoP");
  pr.dpop_header = dpop.has_value() ? std::string_view(*dpop) : std::string_view();
  pr.method = r.http.method;
  pr.htu = htu;
  pr.access_token = token;
  pr.body = r.http.body;
  const int64_t now = r.now;
  // Rate limits count every authenticated request (API key and token
  // verified), so nobody can spend another's quota. A request whose proof
  // verifies is counted in the same store write that records its jti
  // (Store::AdmitRequest: one transaction instead of three,
  // docs/performance.md); a refused proof is counted afterwards, and an
  // exhausted limit answers 429 before any gate-3 refusal (tests
  // RateLimitPerApiKey, RateLimitPerPodUid, RateLimitedBeforeBadProof).
  const int64_t window = now - now % kRateWindowSeconds;
  const std::array<store::RateCharge, 2> charges{
      store::RateCharge{"key:" + verified_key.id(), window, window + kRateWindowSeconds,
                        config_.limits.rate_per_api_key_per_minute},
      store::RateCharge{"pod:" + identity.pod_uid(), window, window + kRateWindowSeconds,
                        config_.limits.rate_per_pod_uid_per_minute}};
  bool charged = false;
  auto nonce_ok = [this, now](std::string_view n) { return nonce_.IsValid(n, now); };
  auto replay = [this, &r, &charges, &charged, now](std::string_view jkt, std::string_view jti,
                                                   int64_t expires_at) -> Result<bool> {
    charged = true;
    // The jti is stored hashed: fixed length whatever the client sent.
    const std::string jti_hash = jose::DpopHash(jti);
    auto admitted = deps_.store->AdmitRequest(charges, store::JtiUse{jkt, jti_hash, expires_at}, now);
    if (!admitted.ok()) return StoreFailure(admitted.status(), "admit request");
    switch (admitted->outcome) {
      case store::Admission::Outcome::kRateLimited:
        r.gate = 0;
        return Error(Code::kRateLimited, "rate limit exceeded for " + charges[admitted->limited].bucket_key);
      case store::Admission::Outcome::kReplay:
        return false;
      case store::Admission::Outcome::kAdmitted:
        return true;
    }
    return Error(Code::kInternal, "admit request: unknown outcome");
  };
  auto proof = VerifyProof(pr, r.now, config_.dpop.max_skew_seconds, nonce_ok, replay);
  if (!proof.ok()) {
    if (!charged) {
      const int gate = r.gate;
      r.gate = 0;
      for (const store::RateCharge& c : charges) {
        auto allowed = deps_.store->ConsumeRate(c.bucket_key, c.window_start, c.window_end, c.limit);
        if (!allowed.ok()) return StoreFailure(allowed.status(), "rate limit");
        if (!*allowed) return Error(Code::kRateLimited, "rate limit exceeded for " + c.bucket_key);
      }
      r.gate = gate;
    }
    return proof.status();
  }
  r.event.jkt = proof->jkt();
  r.gate = 0;
  return Authed{std::move(identity), *std::move(proof), verified_key.id(), std::move(token)};
}

Result<store::Session> EdgeService::CheckSession(Request& r, const Authed& a, std::string_view session_id,
                                                 bool allow_ended) {
  // docs/protocol.md §4.2-4.4: the proof's key and the token's pod must be the session's pin.
  r.gate = 3;
  if (!IsSessionId(session_id)) return Error(Code::kSessionInvalid, "session: malformed id");
  auto s = deps_.store->GetSession(session_id);
  if (!s.ok()) {
    if (s.status().code() == Code::kNotFound) return Error(Code::kSessionInvalid, "session: unknown");
    return StoreFailure(s.status(), "session lookup");
  }
  if (!allow_ended && (s->revoked || s->expires_at <= r.now)) return Error(Code::kSessionInvalid, "session: ended");
  if (s->jkt != a.proof.jkt()) return Error(Code::kSessionInvalid, "session: proof key is not the pinned key");
  if (s->pod_uid != a.identity.pod_uid() || s->cluster != a.identity.cluster() ||
      s->namespace_ != a.identity.namespace_() || s->service_account != a.identity.service_account()) {
    return Error(Code::kSessionInvalid, "session: belongs to another pod");
  }
  r.gate = 0;
  return s;
}

Status EdgeService::CheckPod(Request& r, const Authed& a) {
  // Gate 4 (docs/protocol.md §6 gate 4): the pod as the API server confirmed it
  // no longer ago than gate4.max_staleness_ms (FreshPods; the watches never
  // make a decision older: tests StalledWatchCannotServeStaleAllow,
  // FrozenApiFailsClosedAfterBound).
  r.gate = 4;
  const VerifiedIdentity& id = a.identity;
  Status decision;
  auto workload = deps_.store->GetWorkload(id.cluster(), id.namespace_(), id.service_account());
  if (!workload.ok() && workload.status().code() != Code::kNotFound) {
    return StoreFailure(workload.status(), "workload lookup");
  }
  if (!workload.ok()) {
    // No registered workload means no approved image (docs/edge.md).
    decision = Error(Code::kImageNotAllowed, "no workload registered for this service account");
  } else {
    kube::PodExpectation expect{id.namespace_(), id.pod_name(), id.pod_uid(),
                                std::set<std::string>(workload->image_digests.begin(), workload->image_digests.end()),
                                id.service_account()};
    Result<kube::PodView> pod = fresh_->Read(id.cluster(), id.namespace_(), id.pod_name());
    if (!pod.ok() && pod.status().code() != Code::kPodNotLive) {
      // Fail closed (tests KubeDown, FrozenApiFailsClosedAfterBound).
      return Error(Code::kKubeUnavailable, "pod read: " + pod.status().message());
    }
    decision = pod.ok() ? kube::EvaluatePod(*pod, expect) : pod.status();
  }
  if (decision.ok()) {
    r.gate = 0;
    return decision;
  }
  if (decision.code() != Code::kPodNotLive && decision.code() != Code::kImageNotAllowed) {
    decision = Error(Code::kKubeUnavailable, decision.message());
  }
  if (r.audit_mode) {
    // docs/protocol.md §6.4 audit mode: record would_deny, let the request through.
    audit::AuditEvent e = Stamped(r);
    e.decision = audit::Decision::kWouldDeny;
    e.gate = 4;
    e.code = decision.code();
    e.reason = decision.message();
    ASTIS_RETURN_IF_ERROR(deps_.audit->Append(e));
    r.gate = 0;
    return OkStatus();
  }
  return decision;
}

// ---------------------------------------------------------------- endpoints

#define EDGE_TRY(r, expr)                         \
  do {                                            \
    Status edge_status_ = (expr);                 \
    if (!edge_status_.ok()) return Refuse(r, edge_status_); \
  } while (0)

#define EDGE_ASSIGN(r, decl, expr)                                            \
  auto ASTIS_CONCAT_(edge_res_, __LINE__) = (expr);                            \
  if (!ASTIS_CONCAT_(edge_res_, __LINE__).ok())                                \
    return Refuse(r, ASTIS_CONCAT_(edge_res_, __LINE__).status());             \
  decl = std::move(ASTIS_CONCAT_(edge_res_, __LINE__)).value()

namespace {
Status ParseBody(const net::ServerRequest& http, int64_t max_bytes, Json* out) {
  if (http.body.size() > static_cast<size_t>(max_bytes)) return Error(Code::kTooLarge, "body over the limit");
  if (!http.query.empty()) return BadRequest("query string not allowed");
  auto body = ParseJsonObject(http.body, JsonLimits{static_cast<size_t>(max_bytes), 8});
  if (!body.ok()) return BadRequest("body: " + body.status().message());
  *out = std::move(body).value();
  return OkStatus();
}
}  // namespace

net::ServerResponse EdgeService::Establish(Request& r) {
  r.endpoint = "sessions";
  r.audited = true;
  r.event.event = "session.establish";
  EDGE_TRY(r, ParseBody(r.http, config_.limits.max_body_bytes, &r.body));
  EDGE_TRY(r, RequireExactMembers(r.body, {"recipient"}, "body", Code::kBadRequest));
  EDGE_ASSIGN(r, auto recipient, ParseRecipient(r.body["recipient"]));
  EDGE_ASSIGN(r, Authed a, Authenticate(r));
  EDGE_TRY(r, CheckPod(r, a));

  std::vector<uint8_t> raw(kSessionIdBytes);
  EDGE_TRY(r, deps_.rng->Fill(raw));
  store::Session candidate;
  candidate.id = B64uEncode(raw);
  candidate.cluster = a.identity.cluster();
  candidate.namespace_ = a.identity.namespace_();
  candidate.service_account = a.identity.service_account();
  candidate.pod_name = a.identity.pod_name();
  candidate.pod_uid = a.identity.pod_uid();
  candidate.jkt = a.proof.jkt();
  candidate.recipient_jwk = recipient.second;
  candidate.created_at = r.now;
  // docs/protocol.md §4.1: expiresAt = min(now + TTL, token exp).
  candidate.expires_at = std::min(r.now + config_.session_ttl_seconds, a.identity.token_exp());
  if (candidate.expires_at <= r.now) {
    r.gate = 2;  // accepted within the skew, but no time left to open a session
    return Refuse(r, Error(Code::kTokenInvalid, "token: expires now"));
  }
  auto enrolled = deps_.store->EnrollSession(candidate, r.now);
  if (!enrolled.ok()) return Refuse(r, StoreFailure(enrolled.status(), "enroll session"));
  if (enrolled->outcome == store::EnrollOutcome::kPinnedConflict) {
    r.gate = 3;  // docs/protocol.md §4.1: one DPoP key per live Pod UID (test SecondEnrollmentPinned)
    return Refuse(r, Error(Code::kCredentialPinned, "another key is pinned to this pod uid"));
  }
  const store::Session& s = enrolled->session;
  r.event.reason = enrolled->outcome == store::EnrollOutcome::kExtended ? "session extended" : "session created";
  EDGE_TRY(r, deps_.audit->Append(Stamped(r)));
  return JsonResponse(201, Json{{"session", s.id},
                                {"expiresAt", FormatRfc3339(s.expires_at)},
                                {"cluster", s.cluster},
                                {"pod", {{"namespace", s.namespace_}, {"name", s.pod_name}, {"uid", s.pod_uid}}}});
}

net::ServerResponse EdgeService::Unwrap(Request& r) {
  r.endpoint = "unwrap";
  r.audited = true;
  r.event.event = "unwrap";
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
  EDGE_ASSIGN(r, Authed a, Authenticate(r));
  EDGE_ASSIGN(r, store::Session session, CheckSession(r, a, jsession.get_ref<const std::string&>(), false));
  r.session_id = session.id;
  auto recipient_jwk = jose::Jwk::ParseText(session.recipient_jwk);
  if (!recipient_jwk.ok()) return Refuse(r, Error(Code::kInternal, "stored recipient key unreadable"));
  EDGE_ASSIGN(r, X25519PublicKey recipient, recipient_jwk->ToX25519Public());
  EDGE_TRY(r, CheckPod(r, a));

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
      ref.cluster = cap->binding().cluster;
      ref.namespace_ = cap->binding().namespace_;
      ref.service_account = cap->binding().service_account;
      ref.name = cap->binding().name;
      ref.key = cap->binding().key;
      if (!capsule::CheckCapsuleScope(*cap, a.identity.cluster(), a.identity.namespace_(),
                                      a.identity.service_account()).ok()) {
        code = Code::kCapsuleScope;
      }
    }
    ref.code = code;
    r.event.capsules.push_back(ref);
    if (code != Code::kOk) {
      results[i] = ErrorObject(code);
    } else {
      forward.push_back(std::move(*bytes));
      forward_index.push_back(i);
    }
  }
  if (!forward.empty()) {
    cvs::VerifiedScope scope{a.identity.cluster(), a.identity.namespace_(), a.identity.service_account()};
    auto rewrapped = deps_.cvs->Rewrap(scope, recipient, session.id, forward);
    if (!rewrapped.ok() || rewrapped->size() != forward.size()) {
      const std::string why = rewrapped.ok() ? "result count mismatch" : rewrapped.status().message();
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
        r.event.capsules[i].code = c;
      }
    }
  }
  EDGE_TRY(r, deps_.audit->Append(Stamped(r)));
  return JsonResponse(200, Json{{"results", results}});
}

net::ServerResponse EdgeService::Rotate(Request& r) {
  r.endpoint = "rotate";
  r.audited = true;
  r.event.event = "session.rotate";
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
  EDGE_ASSIGN(r, Authed a, Authenticate(r));  // the proof is by the current (pinned) key
  EDGE_ASSIGN(r, store::Session session, CheckSession(r, a, jsession.get_ref<const std::string&>(), false));
  r.session_id = session.id;

  // docs/protocol.md §4.3: pop is a JWS by the NEW key over {"session","prev","iat"}
  // (test RotateWithoutNewKeyProofRefused).
  r.gate = 3;
  auto pop = jose::UnverifiedJws::Parse(jpop.get_ref<const std::string&>());
  if (!pop.ok()) return Refuse(r, Error(Code::kDpopInvalid, "rotate pop: " + pop.status().message()));
  auto verified = jose::VerifyJws(*pop, *new_key);
  if (!verified.ok()) return Refuse(r, Error(Code::kDpopInvalid, "rotate pop: " + verified.status().message()));
  auto payload = ParseJsonObject(verified->payload());
  if (!payload.ok() || !RequireExactMembers(*payload, {"session", "prev", "iat"}, "rotate pop").ok()) {
    return Refuse(r, Error(Code::kDpopInvalid, "rotate pop: payload shape"));
  }
  const Json& p = *payload;
  if (!p["session"].is_string() || p["session"] != session.id || !p["prev"].is_string() ||
      p["prev"] != a.proof.jkt() || !IatWithin(p["iat"], r.now, config_.dpop.max_skew_seconds)) {
    return Refuse(r, Error(Code::kDpopInvalid, "rotate pop: session, prev or iat mismatch"));
  }
  const std::string new_jkt = new_key->Thumbprint();
  if (new_jkt == a.proof.jkt()) return Refuse(r, BadRequest("new key equals the pinned key"));
  r.gate = 0;
  auto rotated = deps_.store->RotateSessionKey(session.id, a.proof.jkt(), new_jkt, recipient.second, r.now);
  if (!rotated.ok()) {
    const Code c = rotated.status().code();
    if (c == Code::kFailedPrecondition || c == Code::kNotFound) {
      r.gate = 3;
      return Refuse(r, Error(Code::kSessionInvalid, "rotate: pin changed concurrently or session ended"));
    }
    return Refuse(r, StoreFailure(rotated.status(), "rotate"));
  }
  r.event.reason = "pin moved to " + new_jkt;
  EDGE_TRY(r, deps_.audit->Append(Stamped(r)));
  return JsonResponse(200, Json{{"session", session.id}, {"expiresAt", FormatRfc3339(session.expires_at)}});
}

net::ServerResponse EdgeService::End(Request& r, std::string_view session_id) {
  r.endpoint = "sessions_delete";
  r.audited = true;
  r.event.event = "session.end";
  if (r.http.body.size() > static_cast<size_t>(config_.limits.max_body_bytes)) {
    return Refuse(r, Error(Code::kTooLarge, "body over the limit"));
  }
  if (!r.http.query.empty()) return Refuse(r, BadRequest("query string not allowed"));
  EDGE_ASSIGN(r, Authed a, Authenticate(r));
  // docs/protocol.md §4.4: idempotent, so an already-ended session is accepted (test DeleteEndsSession).
  EDGE_ASSIGN(r, store::Session session, CheckSession(r, a, session_id, true));
  r.session_id = session.id;
  Status ended = deps_.store->EndSession(session.id);
  if (!ended.ok()) return Refuse(r, StoreFailure(ended, "end session"));
  EDGE_TRY(r, deps_.audit->Append(Stamped(r)));
  net::ServerResponse resp;
  resp.status = 204;
  return resp;
}

}  // namespace astis::edge
