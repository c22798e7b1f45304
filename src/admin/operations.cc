#include "admin/operations.h"

#include <pwd.h>

#include <set>
#include <utility>

#include "common/json.h"
#include "jose/jwk.h"

namespace astis::admin {

std::string ActorForUid(uid_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr && found->pw_name != nullptr) {
    return std::string("cli:") + found->pw_name;
  }
  return "cli:uid" + std::to_string(uid);
}

LocalOperations::LocalOperations(store::Store& store, Clock& clock, Random& rng, ApiKeyGenerator generator,
                                 std::string actor, std::string org)
    : store_(store),
      clock_(clock),
      rng_(rng),
      generator_(std::move(generator)),
      actor_(std::move(actor)),
      org_(std::move(org)) {}

// Audit records one admin change; a failure is reported (the change itself
// is already committed) so the operator knows the trail is incomplete.
Status LocalOperations::Audit(std::string_view action, const std::string& detail_json) {
  auto seq = store_.AppendConfigAudit(org_, actor_, action, detail_json, clock_.NowUnix());
  if (!seq.ok()) return Error(seq.status().code(), "change applied but not audited: " + seq.status().message());
  return OkStatus();
}

// ---------------------------------------------------------------- clusters

Result<ClusterAdded> LocalOperations::ClusterAdd(const ClusterAddArgs& a) {
  if (a.jwks_json.size() > kMaxJwksBytes) return Error(Code::kTooLarge, "--jwks-file: larger than 1 MiB");
  // Gate 2 trusts only this pinned JWKS: refuse one the edge could not use
  // (tests ClusterAddRejectsBadJwks, AdminOpsTest.ClusterAddRejectsBadJwks).
  auto jwks = jose::JwkSet::Parse(a.jwks_json);
  if (!jwks.ok()) return Error(Code::kInvalidArgument, "--jwks-file: " + jwks.status().message());
  if (a.api_url.rfind("https://", 0) != 0) {
    return Error(Code::kInvalidArgument, "--api-url: must be an https:// URL");
  }
  store::Cluster c;
  c.org = org_;
  c.name = a.name;
  c.issuer = a.issuer;
  c.audience = a.audience;
  c.jwks_json = a.jwks_json;
  c.api_url = a.api_url;
  c.ca_file = a.ca_file;
  c.token_file = a.token_file;
  c.mode = a.mode;
  c.created_at = clock_.NowUnix();
  ASTIS_RETURN_IF_ERROR(store_.PutCluster(c));
  ASTIS_RETURN_IF_ERROR(Audit("cluster.add", DumpJson(Json{{"name", c.name},
                                                           {"issuer", c.issuer},
                                                           {"audience", c.audience},
                                                           {"mode", c.mode},
                                                           {"api_url", c.api_url}})));
  return ClusterAdded{c.name, c.mode};
}

Result<std::vector<ClusterRow>> LocalOperations::ClusterList() {
  ASTIS_ASSIGN_OR_RETURN(std::vector<store::Cluster> clusters, store_.ListClusters(org_));
  std::vector<ClusterRow> rows;
  rows.reserve(clusters.size());
  for (auto& c : clusters) {
    rows.push_back(ClusterRow{std::move(c.name), std::move(c.mode), std::move(c.issuer), std::move(c.audience),
                              std::move(c.api_url)});
  }
  return rows;
}

Status LocalOperations::ClusterRemove(const std::string& name) {
  ASTIS_RETURN_IF_ERROR(store_.DeleteCluster(org_, name));
  return Audit("cluster.remove", DumpJson(Json{{"name", name}}));
}

// ---------------------------------------------------------------- workloads

Result<store::Workload> LocalOperations::WorkloadAdd(const store::Workload& w) {
  // Gate 4 compares exact digests only (docs/protocol.md §6.4), so a tag or a
  // malformed digest is refused here (tests WorkloadAddRejectsBadDigest,
  // AdminOpsTest.WorkloadAddRejectsTag).
  for (size_t i = 0; i < w.image_digests.size(); ++i) {
    if (!store::IsValidImageDigest(w.image_digests[i])) {
      return Error(Code::kInvalidArgument,
                   "--image #" + std::to_string(i + 1) + ": must be sha256: followed by 64 lower-case hex digits");
    }
  }
  store::Workload scoped = w;
  scoped.org = org_;
  ASTIS_RETURN_IF_ERROR(store_.PutWorkload(scoped));
  ASTIS_RETURN_IF_ERROR(Audit("workload.add", DumpJson(Json{{"cluster", w.cluster},
                                                            {"namespace", w.namespace_},
                                                            {"serviceAccount", w.service_account},
                                                            {"images", w.image_digests}})));
  return scoped;
}

Result<std::vector<store::Workload>> LocalOperations::WorkloadList(const std::string& cluster) {
  std::optional<std::string_view> filter;
  if (!cluster.empty()) filter = cluster;
  return store_.ListWorkloads(org_, filter);
}

Status LocalOperations::WorkloadRemove(const WorkloadKey& k) {
  ASTIS_RETURN_IF_ERROR(store_.DeleteWorkload(org_, k.cluster, k.namespace_, k.service_account));
  return Audit("workload.remove", DumpJson(Json{{"cluster", k.cluster},
                                                {"namespace", k.namespace_},
                                                {"serviceAccount", k.service_account}}));
}

// ---------------------------------------------------------------- API keys

Result<ApiKeyCreated> LocalOperations::ApiKeyCreate(const ApiKeyCreateArgs& a) {
  if (a.ttl_seconds < 0) return Error(Code::kInvalidArgument, "--expires-in: must be positive");
  if (!generator_) return Error(Code::kInternal, "no API key generator configured");
  ASTIS_RETURN_IF_ERROR(store_.GetCluster(org_, a.cluster));
  ASTIS_ASSIGN_OR_RETURN(NewApiKey key, generator_(rng_));
  const int64_t now = clock_.NowUnix();
  store::ApiKey rec;
  rec.id = key.id;
  rec.hash.assign(key.hash.begin(), key.hash.end());  // only the hash is stored (docs/protocol.md §6.1)
  rec.org = org_;
  rec.cluster = a.cluster;
  rec.namespace_ = a.namespace_;
  rec.service_account = a.service_account;
  rec.created_at = now;
  rec.expires_at = a.ttl_seconds == 0 ? 0 : now + a.ttl_seconds;
  ASTIS_RETURN_IF_ERROR(store_.CreateApiKey(rec));
  // The audit names the key by id and scope only, never its secret (test
  // AdminServerTest.ApiKeySecretNotStoredOrAudited).
  ASTIS_RETURN_IF_ERROR(Audit("apikey.create", DumpJson(Json{{"id", rec.id},
                                                             {"cluster", rec.cluster},
                                                             {"namespace", rec.namespace_},
                                                             {"serviceAccount", rec.service_account},
                                                             {"expires_at", rec.expires_at}})));
  return ApiKeyCreated{rec.id, rec.cluster, rec.namespace_, rec.service_account, rec.expires_at,
                       std::move(key.header_value)};
}

Result<std::vector<ApiKeyRow>> LocalOperations::ApiKeyList() {
  ASTIS_ASSIGN_OR_RETURN(std::vector<store::ApiKey> keys, store_.ListApiKeys(org_));
  std::vector<ApiKeyRow> rows;
  rows.reserve(keys.size());
  for (auto& k : keys) {  // never the hash
    rows.push_back(ApiKeyRow{std::move(k.id), std::move(k.cluster), std::move(k.namespace_),
                             std::move(k.service_account), k.created_at, k.expires_at, k.revoked_at});
  }
  return rows;
}

Status LocalOperations::ApiKeyRevoke(const std::string& id) {
  // Another organisation's key is "not found", exactly like a missing one.
  auto key = store_.GetApiKey(id);
  if (!key.ok()) return key.status();
  if (key->org != org_) return Error(Code::kNotFound, "store: api key not found");
  ASTIS_RETURN_IF_ERROR(store_.RevokeApiKey(id, clock_.NowUnix()));
  return Audit("apikey.revoke", DumpJson(Json{{"id", id}}));
}

// ---------------------------------------------------------------- sessions

Result<std::vector<SessionRow>> LocalOperations::SessionList(const SessionListArgs& a) {
  store::SessionFilter f;
  f.org = org_;
  f.cluster = a.cluster;
  f.namespace_ = a.namespace_;
  ASTIS_ASSIGN_OR_RETURN(std::vector<store::Session> sessions, store_.ListSessions(f));
  const int64_t now = clock_.NowUnix();
  std::vector<SessionRow> rows;
  rows.reserve(sessions.size());
  for (auto& s : sessions) {
    const char* state = s.revoked ? "revoked" : (s.IsActive(now) ? "active" : "expired");
    rows.push_back(SessionRow{std::move(s.id), std::move(s.cluster), std::move(s.namespace_),
                              std::move(s.service_account), std::move(s.pod_name), std::move(s.pod_uid),
                              s.expires_at, state});
  }
  return rows;
}

Result<int64_t> LocalOperations::SessionRevoke(const SessionRevokeArgs& a) {
  if (a.id.empty() == a.pod_uid.empty()) {
    return Error(Code::kInvalidArgument, "give exactly one of --id or --pod-uid");
  }
  int64_t revoked = 0;
  if (!a.id.empty()) {
    ASTIS_ASSIGN_OR_RETURN(store::Session s, store_.GetSession(a.id));
    if (s.org != org_) return Error(Code::kNotFound, "store: session not found");
    if (!s.revoked) {
      ASTIS_RETURN_IF_ERROR(store_.EndSession(a.id));
      revoked = 1;
    }
  } else {
    store::SessionFilter f;
    f.org = org_;
    f.pod_uid = a.pod_uid;
    f.cluster = a.cluster;
    ASTIS_ASSIGN_OR_RETURN(std::vector<store::Session> sessions, store_.ListSessions(f));
    std::set<std::pair<std::string, std::string>> scopes;
    for (const auto& s : sessions) scopes.emplace(s.cluster, s.namespace_);
    for (const auto& [cluster, ns] : scopes) {
      ASTIS_ASSIGN_OR_RETURN(int64_t n, store_.RevokeSessionsForPod(store::PodRef{cluster, ns, "", a.pod_uid, org_}));
      revoked += n;
    }
  }
  ASTIS_RETURN_IF_ERROR(
      Audit("session.revoke", DumpJson(Json{{"id", a.id}, {"pod_uid", a.pod_uid}, {"revoked", revoked}})));
  return revoked;
}

}  // namespace astis::admin
