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
                                 std::string actor, std::string org, OrgKeySource org_keys)
    : store_(store),
      clock_(clock),
      rng_(rng),
      generator_(std::move(generator)),
      actor_(std::move(actor)),
      org_(std::move(org)),
      org_keys_(std::move(org_keys)) {}

// Audit records one admin change in org's trail; a failure is reported (the
// change itself is already committed) so the operator knows the trail is
// incomplete.
Status LocalOperations::Audit(std::string_view org, std::string_view action, const std::string& detail_json) {
  auto seq = store_.AppendConfigAudit(org, actor_, action, detail_json, clock_.NowUnix());
  if (!seq.ok()) return Error(seq.status().code(), "change applied but not audited: " + seq.status().message());
  return OkStatus();
}

Result<std::string> ResolveOrg(store::Store& store, std::string_view requested) {
  if (!requested.empty()) {
    auto org = store.GetOrganization(requested);
    if (org.ok()) return std::move(org->name);
    if (org.status().code() == Code::kNotFound) {
      return Error(Code::kNotFound, "organization " + std::string(requested) + " not found");
    }
    return org.status();
  }
  ASTIS_ASSIGN_OR_RETURN(std::vector<store::Organization> orgs, store.ListOrganizations());
  if (orgs.size() == 1) return std::move(orgs[0].name);
  if (orgs.empty()) {
    return Error(Code::kFailedPrecondition, "no organization exists: add one with `astis org add`");
  }
  return Error(Code::kInvalidArgument, "--org: required: " + std::to_string(orgs.size()) +
                                           " organizations exist (see `astis org list`)");
}

Result<std::string> LocalOperations::Org() { return ResolveOrg(store_, org_); }

Status CheckJwksText(std::string_view jwks_json) {
  if (jwks_json.size() > kMaxJwksBytes) return Error(Code::kTooLarge, "larger than 1 MiB");
  // Gate 2 trusts only this pinned JWKS: refuse one the edge could not use
  // (tests ClusterAddRejectsBadJwks, AdminOpsTest.ClusterAddRejectsBadJwks).
  auto jwks = jose::JwkSet::Parse(jwks_json);
  if (!jwks.ok()) return Error(Code::kInvalidArgument, jwks.status().message());
  return OkStatus();
}

bool IsHttpsUrl(std::string_view url) { return url.rfind("https://", 0) == 0 && url.size() > 8; }

// ---------------------------------------------------------------- organisations

namespace {

// IsDnsLabel: RFC 1123 label, lower case (the store's organisation names).
bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// CheckOrgArgs names the flag of the first bad value (test
// AdminOpsTest.OrgAddNamesTheFlag); the store validates again.
Status CheckOrgArgs(const OrgAddArgs& a) {
  auto bad = [](std::string_view flag, std::string_view why) {
    return Error(Code::kInvalidArgument, std::string(flag) + ": " + std::string(why));
  };
  if (!IsDnsLabel(a.name)) return bad("--name", "must be a DNS label (a-z, 0-9, '-', at most 63)");
  if (a.tier == "standard") {
    if (!a.cvs_url.empty()) return bad("--cvs-url", "only for --tier hyok");
    if (!a.cvs_ca_pem.empty()) return bad("--cvs-ca", "only for --tier hyok");
    if (!a.cvs_identity.empty()) return bad("--cvs-identity", "only for --tier hyok");
    if (!a.cvs_spki_sha256.empty()) return bad("--cvs-spki-sha256", "only for --tier hyok");
    return OkStatus();
  }
  if (a.tier != "hyok") return bad("--tier", "must be standard or hyok");
  if (a.cvs_url.empty()) return bad("--cvs-url", "required for --tier hyok");
  if (!IsHttpsUrl(a.cvs_url)) return bad("--cvs-url", "must be an https:// URL");
  if (a.cvs_ca_pem.empty()) return bad("--cvs-ca", "required for --tier hyok");
  if (a.cvs_ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return bad("--cvs-ca", "must be a PEM CA bundle");
  }
  if (a.cvs_identity.empty()) return bad("--cvs-identity", "required for --tier hyok");
  if (!a.cvs_spki_sha256.empty() && !IsLowerHex64(a.cvs_spki_sha256)) {
    return bad("--cvs-spki-sha256", "must be 64 lower-case hex digits");
  }
  return OkStatus();
}

}  // namespace

Result<OrgAdded> LocalOperations::OrgAdd(const OrgAddArgs& a) {
  ASTIS_RETURN_IF_ERROR(CheckOrgArgs(a));
  bool updated = false;
  if (auto existing = store_.GetOrganization(a.name); existing.ok()) {
    // A tier change would strand the organisation's keys on the other side
    // (docs/tenancy.md): remove and add it instead.
    if (existing->tier != a.tier) {
      return Error(Code::kFailedPrecondition, "--tier: organization " + a.name + " exists with tier " +
                                                  existing->tier + "; remove it first to change the tier");
    }
    updated = true;
  } else if (existing.status().code() != Code::kNotFound) {
    return existing.status();
  }
  store::Organization o;
  o.name = a.name;
  o.tier = a.tier;
  o.cvs_url = a.cvs_url;
  o.cvs_ca_pem = a.cvs_ca_pem;
  o.cvs_identity = a.cvs_identity;
  o.cvs_spki_sha256 = a.cvs_spki_sha256;
  o.created_at = clock_.NowUnix();
  ASTIS_RETURN_IF_ERROR(store_.PutOrganization(o));
  ASTIS_RETURN_IF_ERROR(Audit(o.name, "org.add", DumpJson(Json{{"name", o.name},
                                                               {"tier", o.tier},
                                                               {"cvs_url", o.cvs_url},
                                                               {"cvs_identity", o.cvs_identity},
                                                               {"cvs_spki_sha256", o.cvs_spki_sha256},
                                                               {"updated", updated}})));
  return OrgAdded{OrgRow{o.name, o.tier, o.cvs_url}, updated};
}

Result<std::vector<OrgRow>> LocalOperations::OrgList() {
  ASTIS_ASSIGN_OR_RETURN(std::vector<store::Organization> orgs, store_.ListOrganizations());
  std::vector<OrgRow> rows;
  rows.reserve(orgs.size());
  for (auto& o : orgs) rows.push_back(OrgRow{std::move(o.name), std::move(o.tier), std::move(o.cvs_url)});
  return rows;
}

Status LocalOperations::OrgRemove(const std::string& name, bool force) {
  if (Status s = store_.DeleteOrganization(name, force); !s.ok()) {
    if (s.code() == Code::kNotFound) return Error(Code::kNotFound, "organization " + name + " not found");
    if (s.code() == Code::kFailedPrecondition) {
      return Error(Code::kFailedPrecondition,
                   "organization " + name + " still has clusters or API keys (--force removes them too)");
    }
    return s;
  }
  // The organisation's trail outlives it (store::Store::DeleteOrganization).
  return Audit(name, "org.remove", DumpJson(Json{{"name", name}, {"force", force}}));
}

Result<std::vector<OrgKeyRow>> LocalOperations::OrgKeyList() {
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  ASTIS_ASSIGN_OR_RETURN(store::Organization o, store_.GetOrganization(org));
  // Tier 2: the organisation's own CVS holds its keys and the edge knows it
  // only by URL and TLS identity, so there is nothing true to list here
  // (docs/tenancy.md). An empty list would read as "no key yet".
  // Test: AdminOpsTest.OrgKeyListRefusesHyokOrganization.
  if (o.tier == "hyok") {
    return Error(Code::kFailedPrecondition, "organization " + org + " is hyok: its org keys are held by its own CVS (" +
                                                o.cvs_url + "), not by this edge; it publishes its own public key");
  }
  // Test: AdminOpsTest.OrgKeyListWithoutKeySourceIsRefused.
  if (!org_keys_) {
    return Error(Code::kFailedPrecondition, "no org keys are held here: run `astis org key list` with --server "
                                            "against an edge with the embedded ASTIS CVS, or with --keys-dir on "
                                            "the ASTIS CVS host");
  }
  auto rows = org_keys_(org);
  if (!rows.ok() && rows.status().code() == Code::kNotFound) {
    return Error(Code::kNotFound, "organization " + org + " has no org key yet (`astis org key create`)");
  }
  return rows;
}

// ---------------------------------------------------------------- clusters

Result<ClusterAdded> LocalOperations::ClusterAdd(const ClusterAddArgs& a) {
  if (Status s = CheckJwksText(a.jwks_json); !s.ok()) return Error(s.code(), "--jwks-file: " + s.message());
  if (!IsHttpsUrl(a.api_url)) return Error(Code::kInvalidArgument, "--api-url: must be an https:// URL");
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  store::Cluster c;
  c.org = org;
  c.name = a.name;
  c.issuer = a.issuer;
  c.audience = a.audience;
  c.jwks_json = a.jwks_json;
  c.api_url = a.api_url;
  c.ca_file = a.ca_file;
  c.token_file = a.token_file;
  c.mode = a.mode;
  c.created_at = clock_.NowUnix();
  // Without --replace the store checks and inserts in one transaction, so
  // two admins adding the same name cannot both succeed.
  // Test: AdminOpsTest.ClusterAddRefusesToReplaceWithoutReplace.
  if (Status s = a.replace ? store_.PutCluster(c) : store_.InsertCluster(c); !s.ok()) {
    if (s.code() != Code::kAlreadyExists) return s;
    return Error(Code::kAlreadyExists, "cluster " + a.name +
                                           " is already registered; pass --replace to replace its issuer, JWKS, "
                                           "API URL, CA and token");
  }
  ASTIS_RETURN_IF_ERROR(Audit(org, "cluster.add", DumpJson(Json{{"name", c.name},
                                                                {"issuer", c.issuer},
                                                                {"audience", c.audience},
                                                                {"mode", c.mode},
                                                                {"api_url", c.api_url},
                                                                {"replace", a.replace}})));
  return ClusterAdded{c.name, c.mode};
}

Result<std::vector<ClusterRow>> LocalOperations::ClusterList() {
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  ASTIS_ASSIGN_OR_RETURN(std::vector<store::Cluster> clusters, store_.ListClusters(org));
  std::vector<ClusterRow> rows;
  rows.reserve(clusters.size());
  for (auto& c : clusters) {
    rows.push_back(ClusterRow{std::move(c.name), std::move(c.mode), std::move(c.issuer), std::move(c.audience),
                              std::move(c.api_url)});
  }
  return rows;
}

Status LocalOperations::ClusterRemove(const std::string& name) {
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  ASTIS_RETURN_IF_ERROR(store_.DeleteCluster(org, name));
  return Audit(org, "cluster.remove", DumpJson(Json{{"name", name}}));
}

// ---------------------------------------------------------------- workloads

namespace {

// CheckDigests refuses a tag or a malformed digest: gate 4 compares exact
// digests only (docs/protocol.md §6.4). field names the flag or document
// field, i counts from 1.
Status CheckDigests(std::string_view field, const std::vector<std::string>& digests) {
  for (size_t i = 0; i < digests.size(); ++i) {
    if (!store::IsValidImageDigest(digests[i])) {
      return Error(Code::kInvalidArgument, std::string(field) + " #" + std::to_string(i + 1) +
                                               ": must be sha256: followed by 64 lower-case hex digits");
    }
  }
  return OkStatus();
}

}  // namespace

Result<store::Workload> LocalOperations::WorkloadAdd(const store::Workload& w) {
  // Tests WorkloadAddRejectsBadDigest, AdminOpsTest.WorkloadAddRejectsTag.
  ASTIS_RETURN_IF_ERROR(CheckDigests("--image", w.image_digests));
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  store::Workload scoped = w;
  scoped.org = org;
  ASTIS_RETURN_IF_ERROR(store_.PutWorkload(scoped));
  ASTIS_RETURN_IF_ERROR(Audit(org, "workload.add", DumpJson(Json{{"cluster", w.cluster},
                                                                 {"namespace", w.namespace_},
                                                                 {"serviceAccount", w.service_account},
                                                                 {"images", w.image_digests}})));
  return scoped;
}

Result<std::vector<store::Workload>> LocalOperations::WorkloadList(const std::string& cluster) {
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  std::optional<std::string_view> filter;
  if (!cluster.empty()) filter = cluster;
  return store_.ListWorkloads(org, filter);
}

Status LocalOperations::WorkloadRemove(const WorkloadKey& k) {
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  ASTIS_RETURN_IF_ERROR(store_.DeleteWorkload(org, k.cluster, k.namespace_, k.service_account));
  return Audit(org, "workload.remove", DumpJson(Json{{"cluster", k.cluster},
                                                     {"namespace", k.namespace_},
                                                     {"serviceAccount", k.service_account}}));
}

Result<store::Workload> LocalOperations::WorkloadImages(const WorkloadImagesArgs& a) {
  if (a.add.empty() && a.remove.empty()) return Error(Code::kInvalidArgument, "--image: give at least one");
  ASTIS_RETURN_IF_ERROR(CheckDigests("--image", a.add));
  ASTIS_RETURN_IF_ERROR(CheckDigests("--image", a.remove));
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  const WorkloadKey& k = a.key;
  // One store transaction: a concurrent rollout's digests are never lost.
  ASTIS_ASSIGN_OR_RETURN(store::Workload w, store_.ChangeWorkloadImages(org, k.cluster, k.namespace_,
                                                                        k.service_account, a.add, a.remove));
  ASTIS_RETURN_IF_ERROR(Audit(org, "workload.images", DumpJson(Json{{"cluster", k.cluster},
                                                                    {"namespace", k.namespace_},
                                                                    {"serviceAccount", k.service_account},
                                                                    {"added", a.add},
                                                                    {"removed", a.remove},
                                                                    {"images", w.image_digests}})));
  return w;
}

// ---------------------------------------------------------------- apply

Result<std::vector<ApplyChange>> LocalOperations::Apply(const ApplyArgs& a) {
  // An empty declaration with --prune would delete the whole organisation's
  // configuration, most likely by a wrong path (test
  // AdminOpsTest.ApplyPruneRefusesEmptyDeclaration); `org remove --force`
  // is the way to do that on purpose.
  if (a.prune && a.clusters.empty() && a.workloads.empty()) {
    return Error(Code::kInvalidArgument, "--prune: the files declare nothing; refusing to delete everything");
  }
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  const int64_t now = clock_.NowUnix();
  store::OrgConfig desired;
  desired.clusters.reserve(a.clusters.size());
  desired.workloads.reserve(a.workloads.size());
  // Every object is checked before the store is called, so a bad one writes
  // nothing (test AdminOpsTest.ApplyBadObjectWritesNothing).
  std::set<std::string, std::less<>> cluster_names;
  for (const ClusterAddArgs& c : a.clusters) {
    const std::string what = "cluster " + c.name + ": ";
    if (!cluster_names.insert(c.name).second) return Error(Code::kInvalidArgument, what + "declared twice");
    if (Status s = CheckJwksText(c.jwks_json); !s.ok()) return Error(s.code(), what + "jwks: " + s.message());
    if (!IsHttpsUrl(c.api_url)) return Error(Code::kInvalidArgument, what + "apiUrl: must be an https:// URL");
    store::Cluster sc{c.name, c.issuer, c.audience, c.jwks_json, c.api_url, c.ca_file, c.token_file, c.mode, now,
                      org};
    if (Status s = store::ValidateCluster(sc); !s.ok()) return Error(s.code(), what + s.message());
    desired.clusters.push_back(std::move(sc));
  }
  std::set<std::string, std::less<>> workload_names;
  for (const store::Workload& w : a.workloads) {
    const std::string name = w.cluster + "/" + w.namespace_ + "/" + w.service_account;
    const std::string what = "workload " + name + ": ";
    if (!workload_names.insert(name).second) return Error(Code::kInvalidArgument, what + "declared twice");
    if (Status s = CheckDigests("images", w.image_digests); !s.ok()) return Error(s.code(), what + s.message());
    store::Workload sw = w;
    sw.org = org;
    if (Status s = store::ValidateWorkload(sw); !s.ok()) return Error(s.code(), what + s.message());
    desired.workloads.push_back(std::move(sw));
  }
  // The store records the changes (config.apply, in parts for a large
  // apply) in the apply's own transaction, so nothing is committed
  // unrecorded; an apply that changed nothing (a GitOps loop's usual run)
  // records nothing (test AdminOpsTest.ApplyOfThousandsIsOneAuditedTransaction).
  desired.audit_actor = actor_;
  ASTIS_ASSIGN_OR_RETURN(std::vector<store::ApplyChange> changes,
                         store_.ApplyOrgConfig(org, desired, a.prune, a.dry_run, now));
  std::vector<ApplyChange> out;
  out.reserve(changes.size());
  for (auto& c : changes) out.push_back(ApplyChange{std::move(c.kind), std::move(c.name), std::move(c.action)});
  return out;
}

// ---------------------------------------------------------------- API keys

Result<ApiKeyCreated> LocalOperations::ApiKeyCreate(const ApiKeyCreateArgs& a) {
  if (a.ttl_seconds < 0) return Error(Code::kInvalidArgument, "--expires-in: must be positive");
  if (!generator_) return Error(Code::kInternal, "no API key generator configured");
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  ASTIS_RETURN_IF_ERROR(store_.GetCluster(org, a.cluster));
  ASTIS_ASSIGN_OR_RETURN(NewApiKey key, generator_(rng_));
  const int64_t now = clock_.NowUnix();
  store::ApiKey rec;
  rec.id = key.id;
  rec.hash.assign(key.hash.begin(), key.hash.end());  // only the hash is stored (docs/protocol.md §6.1)
  rec.org = org;
  rec.cluster = a.cluster;
  rec.namespace_ = a.namespace_;
  rec.service_account = a.service_account;
  rec.created_at = now;
  rec.expires_at = a.ttl_seconds == 0 ? 0 : now + a.ttl_seconds;
  ASTIS_RETURN_IF_ERROR(store_.CreateApiKey(rec));
  // The audit names the key by id and scope only, never its secret (test
  // AdminServerTest.ApiKeySecretNotStoredOrAudited).
  ASTIS_RETURN_IF_ERROR(Audit(org, "apikey.create", DumpJson(Json{{"id", rec.id},
                                                             {"cluster", rec.cluster},
                                                             {"namespace", rec.namespace_},
                                                             {"serviceAccount", rec.service_account},
                                                             {"expires_at", rec.expires_at}})));
  return ApiKeyCreated{rec.id, rec.cluster, rec.namespace_, rec.service_account, rec.expires_at,
                       std::move(key.header_value)};
}

Result<std::vector<ApiKeyRow>> LocalOperations::ApiKeyList() {
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  ASTIS_ASSIGN_OR_RETURN(std::vector<store::ApiKey> keys, store_.ListApiKeys(org));
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
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  auto key = store_.GetApiKey(id);
  if (!key.ok()) return key.status();
  if (key->org != org) return Error(Code::kNotFound, "store: api key not found");
  ASTIS_RETURN_IF_ERROR(store_.RevokeApiKey(id, clock_.NowUnix()));
  return Audit(org, "apikey.revoke", DumpJson(Json{{"id", id}}));
}

// ---------------------------------------------------------------- sessions

Result<std::vector<SessionRow>> LocalOperations::SessionList(const SessionListArgs& a) {
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  store::SessionFilter f;
  f.org = org;
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
  ASTIS_ASSIGN_OR_RETURN(const std::string org, Org());
  int64_t revoked = 0;
  if (!a.id.empty()) {
    ASTIS_ASSIGN_OR_RETURN(store::Session s, store_.GetSession(a.id));
    if (s.org != org) return Error(Code::kNotFound, "store: session not found");
    if (!s.revoked) {
      ASTIS_RETURN_IF_ERROR(store_.EndSession(a.id));
      revoked = 1;
    }
  } else {
    store::SessionFilter f;
    f.org = org;
    f.pod_uid = a.pod_uid;
    f.cluster = a.cluster;
    ASTIS_ASSIGN_OR_RETURN(std::vector<store::Session> sessions, store_.ListSessions(f));
    std::set<std::pair<std::string, std::string>> scopes;
    for (const auto& s : sessions) scopes.emplace(s.cluster, s.namespace_);
    for (const auto& [cluster, ns] : scopes) {
      ASTIS_ASSIGN_OR_RETURN(int64_t n, store_.RevokeSessionsForPod(store::PodRef{cluster, ns, "", a.pod_uid, org}));
      revoked += n;
    }
  }
  ASTIS_RETURN_IF_ERROR(
      Audit(org, "session.revoke", DumpJson(Json{{"id", a.id}, {"pod_uid", a.pod_uid}, {"revoked", revoked}})));
  return revoked;
}

}  // namespace astis::admin
