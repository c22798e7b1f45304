#include "edge/admission.h"

#include <set>

#include "common/encoding.h"
#include "jose/dpop.h"
#include "kube/pod.h"

namespace astis::edge {
namespace {

constexpr int64_t kRateWindowSeconds = 60;

// StoreFailure maps a store error to the wire: store_unavailable (fail closed).
Status StoreFailure(const Status& s, std::string_view what) {
  return Error(Code::kStoreUnavailable, std::string(what) + ": " + s.message());
}

Refusal At(Gate gate, Status status) { return Refusal{gate, std::move(status)}; }

std::string PodBucket(std::string_view org, std::string_view pod_uid) {
  // The default organisation keeps the single-organisation bucket name.
  if (org == store::kDefaultOrg) return "pod:" + std::string(pod_uid);
  return "pod:" + std::string(org) + "/" + std::string(pod_uid);
}

bool IsSessionId(std::string_view id) {
  if (id.size() < 22 || id.size() > 64) return false;
  return B64uDecode(id).ok();
}

// ADMIT_ASSIGN is ASTIS_ASSIGN_OR_RETURN whose error is a Refusal at gate.
#define ADMIT_ASSIGN(gate, decl, expr)                                      \
  auto ASTIS_CONCAT_(admit_res_, __LINE__) = (expr);                        \
  if (!ASTIS_CONCAT_(admit_res_, __LINE__).ok())                            \
    return At(gate, ASTIS_CONCAT_(admit_res_, __LINE__).status());          \
  decl = std::move(ASTIS_CONCAT_(admit_res_, __LINE__)).value()

}  // namespace

audit::AuditEvent AuditTrail::Stamped(int64_t now_ms) const {
  audit::AuditEvent e = event;
  e.time_unix_ms = now_ms;
  if (!session_id.empty()) e.reason = "session " + session_id + (e.reason.empty() ? "" : ": " + e.reason);
  return e;
}

Admission::Admission(const EdgeConfig& config, AdmissionDeps deps)
    : config_(config), deps_(deps), tokens_(static_cast<size_t>(config.token.verified_cache_entries)) {}

Decided<Admitted> Admission::Admit(const net::ServerRequest& http, int64_t now, std::optional<SessionUse> session,
                                   AuditTrail& trail) {
  Decided<Authenticated> a = Authenticate(http, now, session, trail);
  if (!a.ok()) return a.refusal();
  const VerifiedIdentity& id = a->identity();
  std::optional<int64_t> restarts;
  Decided<Status> decided = DecidePod(a->org(), id, &restarts);
  if (!decided.ok()) return decided.refusal();
  Status pod = std::move(decided).value();
  if (!pod.ok() && trail.audit_mode) {
    // docs/protocol.md §6.4 audit mode: record would_deny, let the request through.
    audit::AuditEvent e = trail.Stamped(deps_.clock->NowUnixMillis());
    e.decision = audit::Decision::kWouldDeny;
    e.gate = static_cast<int>(Gate::kPod);
    e.code = pod.code();
    e.reason = pod.message();
    pod = deps_.audit->Append(e);
  }
  if (!pod.ok()) return At(Gate::kPod, pod);
  cvs::VerifiedScope scope(cvs::VerifiedScope::Key(), a->org(), id.cluster(), id.namespace_(), id.service_account());
  return Admitted(std::move(a).value(), std::move(scope), restarts);
}

Decided<Authenticated> Admission::Authenticate(const net::ServerRequest& http, int64_t now,
                                               std::optional<SessionUse> session, AuditTrail& trail) {
  // Gate 1, format only (docs/protocol.md §6.1): exactly one well-formed key header.
  if (http.HeaderCount(kApiKeyHeader) != 1) {
    return At(Gate::kApiKey, Error(Code::kApiKeyInvalid, "api key: need exactly one header"));
  }
  ADMIT_ASSIGN(Gate::kApiKey, PresentedApiKey key, PresentedApiKey::Parse(*http.Header(kApiKeyHeader)));
  trail.event.api_key_id = key.id();

  // Gate 1, the key record (docs/protocol.md §6.1): it names the
  // organisation, inside which every later lookup happens (docs/tenancy.md
  // "Gate 1"), so it is decided before the token.
  ADMIT_ASSIGN(Gate::kApiKey, std::optional<ApiKeyFacts> facts, KeyRecord(key.id()));
  ADMIT_ASSIGN(Gate::kApiKey, AuthenticApiKey authentic_key, AuthenticateApiKey(key, facts, now));
  const std::string& org = authentic_key.org();
  // The decision goes to the organisation's own audit trail
  // (audit::OrgAuditRouter); "default" keeps the single-organisation lines.
  trail.event.org = org == store::kDefaultOrg ? std::string() : org;

  // Gate 2 (docs/protocol.md §6.2), against the key's organisation's clusters
  // only: another organisation's cluster with the same issuer is not a
  // trust anchor here (test TenancyTest.ApiKeyOfOneOrgWithAnotherOrgsToken).
  if (http.HeaderCount("Authorization") != 1) {
    return At(Gate::kToken, Error(Code::kTokenInvalid, "token: need exactly one header"));
  }
  ADMIT_ASSIGN(Gate::kToken, std::string token, ParseDpopAuthorization(*http.Header("Authorization")));
  std::map<std::string, std::string> modes;
  const TrustLookup trust = [this, &org, &modes](std::string_view issuer) { return TrustFor(org, issuer, &modes); };
  // Verified once per token (VerifiedTokenCache): the anchor is read and
  // compared and the times checked on every request.
  ADMIT_ASSIGN(Gate::kToken, VerifiedIdentity identity,
               tokens_.Verify(org, token, trust, now, config_.token.max_skew_seconds));
  trail.event.cluster = identity.cluster();
  trail.event.namespace_ = identity.namespace_();
  trail.event.service_account = identity.service_account();
  trail.event.pod = identity.pod_name();
  trail.event.pod_uid = identity.pod_uid();
  trail.audit_mode = modes[identity.cluster()] == "audit";

  // Gate 1, scope.
  ADMIT_ASSIGN(Gate::kApiKey, VerifiedApiKey verified_key, VerifyApiKeyScope(authentic_key, identity));

  // Rate limits and gate 3 (docs/protocol.md §5, RFC 9449 §4.3), per API key
  // and per Pod UID in fixed one-minute windows. Key ids are unique across
  // organisations; a Pod UID is only unique within a cluster, and an
  // organisation controls its own clusters' tokens, so the pod bucket is
  // the organisation's (test TenancyTest.RateLimitsArePerOrganization).
  const int64_t window = now - now % kRateWindowSeconds;
  const std::vector<store::RateCharge> charges{
      store::RateCharge{"key:" + verified_key.id(), window, window + kRateWindowSeconds,
                        config_.limits.rate_per_api_key_per_minute},
      store::RateCharge{PodBucket(org, identity.pod_uid()), window, window + kRateWindowSeconds,
                        config_.limits.rate_per_pod_uid_per_minute}};
  Decided<VerifiedProof> proof = CheckProofAndRates(http, now, token, charges);
  if (!proof.ok()) return proof.refusal();
  trail.event.jkt = proof->jkt();
  Authenticated a(org, std::move(identity), std::move(proof).value());

  // Gate 3, the session pin.
  if (session.has_value()) {
    Decided<store::Session> s = CheckSession(a, *session, now);
    if (!s.ok()) return s.refusal();
    trail.session_id = s->id;
    a.session_ = std::move(s).value();
  }
  return a;
}

Result<std::vector<ClusterTrust>> Admission::TrustFor(std::string_view org, std::string_view issuer,
                                                       std::map<std::string, std::string>* modes) {
  // A keyed read (Store::ListClustersByIssuer) and parsed JWKS cached by the
  // hash of their text: a request's cost does not grow with the number of
  // registered clusters, and a re-registered JWKS is a new cache key, so a
  // change takes effect on the next request (test TrustAnchorsFollowReRegistration).
  auto clusters = deps_.store->ListClustersByIssuer(org, issuer);
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

Result<std::optional<ApiKeyFacts>> Admission::KeyRecord(std::string_view id) {
  auto rec = deps_.store->GetApiKey(id);
  if (rec.ok()) {
    return std::optional<ApiKeyFacts>(ApiKeyFacts{rec->id, rec->hash, rec->cluster, rec->namespace_,
                                                  rec->service_account, rec->expires_at, rec->revoked_at, rec->org});
  }
  if (rec.status().code() == Code::kNotFound) return std::optional<ApiKeyFacts>();
  return StoreFailure(rec.status(), "api key lookup");
}

Decided<VerifiedProof> Admission::CheckProofAndRates(const net::ServerRequest& http, int64_t now,
                                                     std::string_view token,
                                                     const std::vector<store::RateCharge>& charges) {
  const std::string htu = config_.external_base_url + http.path;
  const std::optional<std::string> dpop = http.Header("DPoP");
  ProofRequest pr;
  pr.dpop_header_count = http.HeaderCount("DPoP");
  pr.dpop_header = dpop.has_value() ? std::string_view(*dpop) : std::string_view();
  pr.method = http.method;
  pr.htu = htu;
  pr.access_token = token;
  pr.body = http.body;
  auto nonce_ok = [this, now](std::string_view n) { return deps_.nonce->IsValid(n, now); };
  auto candidate = CheckProof(pr, now, config_.dpop.max_skew_seconds, nonce_ok);
  if (!candidate.ok()) {
    // A refused proof still counts against the limits, and an exhausted
    // limit answers 429 first (test RateLimitedBeforeBadProof).
    for (const store::RateCharge& c : charges) {
      auto allowed = deps_.store->ConsumeRate(c.bucket_key, c.window_start, c.window_end, c.limit);
      if (!allowed.ok()) return At(Gate::kNone, StoreFailure(allowed.status(), "rate limit"));
      if (!*allowed) return At(Gate::kNone, Error(Code::kRateLimited, "rate limit exceeded for " + c.bucket_key));
    }
    return At(Gate::kProof, candidate.status());
  }
  // A proof that verifies is counted in the same store write that records
  // its jti (Store::AdmitRequest: one transaction instead of three,
  // docs/performance.md). The jti is stored hashed: fixed length whatever
  // the client sent.
  const std::string jti_hash = jose::DpopHash(candidate->jti());
  auto admitted = deps_.store->AdmitRequest(
      charges, store::JtiUse{candidate->jkt(), jti_hash, candidate->replay_until()}, now);
  if (!admitted.ok()) return At(Gate::kProof, StoreFailure(admitted.status(), "admit request"));
  bool first_use = false;
  switch (admitted->outcome) {
    case store::Admission::Outcome::kRateLimited:
      return At(Gate::kNone,
                Error(Code::kRateLimited, "rate limit exceeded for " + charges[admitted->limited].bucket_key));
    case store::Admission::Outcome::kReplay:
      first_use = false;
      break;
    case store::Admission::Outcome::kAdmitted:
      first_use = true;
      break;
    default:
      return At(Gate::kProof, Error(Code::kInternal, "admit request: unknown outcome"));
  }
  ADMIT_ASSIGN(Gate::kProof, VerifiedProof proof, AcceptProof(*candidate, first_use));
  return proof;
}

Decided<store::Session> Admission::CheckSession(const Authenticated& a, SessionUse use, int64_t now) {
  // docs/protocol.md §4.2-4.4: the proof's key and the token's pod must be the session's pin.
  auto refuse = [](std::string why) { return At(Gate::kProof, Error(Code::kSessionInvalid, std::move(why))); };
  if (!IsSessionId(use.id)) return refuse("session: malformed id");
  auto s = deps_.store->GetSession(use.id);
  if (!s.ok()) {
    if (s.status().code() == Code::kNotFound) return refuse("session: unknown");
    return At(Gate::kProof, StoreFailure(s.status(), "session lookup"));
  }
  if (!use.allow_ended && (s->revoked || s->expires_at <= now)) return refuse("session: ended");
  if (s->jkt != a.proof().jkt()) return refuse("session: proof key is not the pinned key");
  const VerifiedIdentity& id = a.identity();
  if (s->org != a.org() || s->pod_uid != id.pod_uid() || s->cluster != id.cluster() ||
      s->namespace_ != id.namespace_() || s->service_account != id.service_account()) {
    return refuse("session: belongs to another pod");
  }
  return std::move(s).value();
}

Decided<Status> Admission::DecidePod(std::string_view org, const VerifiedIdentity& id,
                                     std::optional<int64_t>* restarts) {
  // Gate 4 (docs/protocol.md §6 gate 4): the pod as the API server confirmed it
  // no longer ago than gate4.max_staleness_ms (FreshPods; the watches never
  // make a decision older: tests StalledWatchCannotServeStaleAllow,
  // FrozenApiFailsClosedAfterBound). kube::EvaluatePod decides; this reads.
  auto workload = deps_.store->GetWorkload(org, id.cluster(), id.namespace_(), id.service_account());
  if (!workload.ok() && workload.status().code() != Code::kNotFound) {
    return At(Gate::kPod, StoreFailure(workload.status(), "workload lookup"));
  }
  Status decision;
  if (!workload.ok()) {
    // No registered workload means no approved image (docs/edge.md).
    decision = Error(Code::kImageNotAllowed, "no workload registered for this service account");
  } else {
    kube::PodExpectation expect{id.namespace_(), id.pod_name(), id.pod_uid(),
                                std::set<std::string>(workload->image_digests.begin(), workload->image_digests.end()),
                                id.service_account()};
    Result<kube::PodView> pod =
        deps_.fresh->Read(store::QualifiedClusterName(org, id.cluster()), id.namespace_(), id.pod_name());
    if (!pod.ok() && pod.status().code() != Code::kPodNotLive) {
      // Fail closed (tests KubeDown, FrozenApiFailsClosedAfterBound).
      return At(Gate::kPod, Error(Code::kKubeUnavailable, "pod read: " + pod.status().message()));
    }
    decision = pod.ok() ? kube::EvaluatePod(*pod, expect) : pod.status();
    // The fingerprint counts only for the token's own pod: a pod replaced
    // under the same name restarts from 0 and is another pin (docs/edge.md
    // "Restarted containers").
    if (pod.ok() && pod->uid == id.pod_uid() && pod->ns == id.namespace_() && pod->name == id.pod_name()) {
      *restarts = kube::PodRestarts(*pod);
    }
  }
  if (decision.ok() || decision.code() == Code::kPodNotLive || decision.code() == Code::kImageNotAllowed) {
    return decision;
  }
  return Error(Code::kKubeUnavailable, decision.message());  // a decision audit mode may waive
}

}  // namespace astis::edge
