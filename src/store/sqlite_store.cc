#include "store/sqlite_store.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "common/json.h"
#include "store/internal/rows.h"
#include "store/internal/schema.h"
#include "store/internal/sqlite.h"

namespace astis::store {
namespace {

using internal::Connection;
using internal::IsConstraint;
using internal::Migration;
using internal::Statement;

#define ASTIS_SESSION_COLS                                                                                 \
  "id, cluster, namespace, service_account, pod_name, pod_uid, jkt, recipient_jwk, created_at, expires_at, revoked, " \
  "pod_restarts, org"
#define ASTIS_CLUSTER_COLS "name, issuer, audience, jwks_json, api_url, ca_file, token_file, mode, created_at, org"
#define ASTIS_APIKEY_COLS "id, hash, cluster, namespace, service_account, created_at, expires_at, revoked_at, org"
#define ASTIS_WORKLOAD_COLS "org, cluster, namespace, service_account, image_digests"
#define ASTIS_ORG_COLS "name, tier, cvs_url, cvs_ca_pem, cvs_identity, cvs_spki_sha256, created_at"

Organization ReadOrganization(const Statement& s) {
  Organization o;
  o.name = s.Text(0);
  o.tier = s.Text(1);
  o.cvs_url = s.Text(2);
  o.cvs_ca_pem = s.Text(3);
  o.cvs_identity = s.Text(4);
  o.cvs_spki_sha256 = s.Text(5);
  o.created_at = s.Int(6);
  return o;
}

Cluster ReadCluster(const Statement& s) {
  Cluster c;
  c.name = s.Text(0);
  c.issuer = s.Text(1);
  c.audience = s.Text(2);
  c.jwks_json = s.Text(3);
  c.api_url = s.Text(4);
  c.ca_file = s.Text(5);
  c.token_file = s.Text(6);
  c.mode = s.Text(7);
  c.created_at = s.Int(8);
  c.org = s.Text(9);
  return c;
}

// ReadWorkload re-validates every stored digest (internal::DecodeWorkload).
Result<Workload> ReadWorkload(const Statement& s) {
  return internal::DecodeWorkload(s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4));
}

ApiKey ReadApiKey(const Statement& s) {
  ApiKey k;
  k.id = s.Text(0);
  k.hash = s.Blob(1);
  k.cluster = s.Text(2);
  k.namespace_ = s.Text(3);
  k.service_account = s.Text(4);
  k.created_at = s.Int(5);
  k.expires_at = s.Int(6);
  k.revoked_at = s.Int(7);
  k.org = s.Text(8);
  return k;
}

Session ReadSession(const Statement& s) {
  Session x;
  x.id = s.Text(0);
  x.cluster = s.Text(1);
  x.namespace_ = s.Text(2);
  x.service_account = s.Text(3);
  x.pod_name = s.Text(4);
  x.pod_uid = s.Text(5);
  x.jkt = s.Text(6);
  x.recipient_jwk = s.Text(7);
  x.created_at = s.Int(8);
  x.expires_at = s.Int(9);
  x.revoked = s.Int(10) != 0;
  x.pod_restarts = s.Int(11);
  x.org = s.Text(12);
  return x;
}

using internal::IdOk;
using internal::Invalid;
using internal::NotFound;

// ---------------------------------------------------------------- store

// The upserts of InsertJti and ConsumeRate (SqliteStore::UpsertJti,
// UpsertRate), which AdmitRequest runs in one transaction. Statements are
// cached by address, so one definition is also one prepared statement.
constexpr char kInsertJtiSql[] =
    "INSERT INTO dpop_jti (jkt, jti, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_jti.expires_at <= ?";
constexpr char kConsumeRateSql[] =
    "INSERT INTO rate_windows (bucket, window_start, window_end, count) VALUES (?, ?, ?, 1) "
    "ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_windows.count + 1 "
    "WHERE rate_windows.count < ?";

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {}

  Status Init(bool must_exist, const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    if (must_exist) {
      // Checked before any pragma or migration writes to the file.
      ASTIS_ASSIGN_OR_RETURN(std::string tables, conn_->QueryText(
          "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
          "look for the ASTIS schema"));
      if (tables != "1") {
        return Error(Code::kFailedPrecondition, "store: " + path + " is not an ASTIS store (no schema_migrations)");
      }
    }
    // WAL lets readers proceed during a write; ":memory:" answers "memory".
    ASTIS_ASSIGN_OR_RETURN(std::string mode, conn_->QueryText("PRAGMA journal_mode=WAL", "set journal mode"));
    if (mode != "wal" && mode != "memory") return Error(Code::kStoreUnavailable, "store: WAL mode unavailable");
    ASTIS_RETURN_IF_ERROR(conn_->Exec("PRAGMA synchronous=NORMAL", "set synchronous"));
    ASTIS_RETURN_IF_ERROR(conn_->Exec("PRAGMA foreign_keys=ON", "enable foreign keys"));
    // Overwrite deleted rows (nonce secrets, sessions) instead of leaving them in free pages.
    ASTIS_RETURN_IF_ERROR(conn_->Exec("PRAGMA secure_delete=ON", "enable secure_delete"));
    return Txn("migrate schema", [&]() -> Status { return MigrateLocked(); });
  }

  // ---- organisations
  Status PutOrganization(const Organization& o) override {
    ASTIS_RETURN_IF_ERROR(ValidateOrganization(o));
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("put organization", [&]() -> Status {
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "INSERT INTO orgs (" ASTIS_ORG_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (name) DO UPDATE SET tier = excluded.tier, cvs_url = excluded.cvs_url, "
          "cvs_ca_pem = excluded.cvs_ca_pem, cvs_identity = excluded.cvs_identity, "
          "cvs_spki_sha256 = excluded.cvs_spki_sha256",
          "put organization"));
      s.Bind(o.name).Bind(o.tier).Bind(o.cvs_url).Bind(o.cvs_ca_pem).Bind(o.cvs_identity).Bind(o.cvs_spki_sha256);
      s.Bind(o.created_at);
      return s.Run();
    });
  }

  Result<Organization> GetOrganization(std::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_ORG_COLS " FROM orgs WHERE name = ?", "get organization"));
    s.Bind(name);
    ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return NotFound("organization");
    return ReadOrganization(s);
  }

  Result<std::vector<Organization>> ListOrganizations() override {
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_ORG_COLS " FROM orgs ORDER BY name", "list organizations"));
    std::vector<Organization> out;
    while (true) {
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      out.push_back(ReadOrganization(s));
    }
  }

  Status DeleteOrganization(std::string_view name, bool force) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("delete organization", [&]() -> Status {
      ASTIS_RETURN_IF_ERROR(RequireOrgLocked(name));
      ASTIS_ASSIGN_OR_RETURN(Statement in_use, conn_->Prepare(
          "SELECT (SELECT COUNT(*) FROM clusters WHERE org = ?) + (SELECT COUNT(*) FROM api_keys WHERE org = ?)",
          "count organization objects"));
      in_use.Bind(name).Bind(name);
      ASTIS_ASSIGN_OR_RETURN(bool row, in_use.Step());
      const int64_t objects = row ? in_use.Int(0) : 0;
      ASTIS_RETURN_IF_ERROR(in_use.Run());
      if (objects > 0 && !force) {
        return Error(Code::kFailedPrecondition, "store: organization still has clusters or API keys");
      }
      for (const char* sql : {"DELETE FROM sessions WHERE org = ?", "DELETE FROM api_keys WHERE org = ?",
                              "DELETE FROM clusters WHERE org = ?", "DELETE FROM orgs WHERE name = ?"}) {
        ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(sql, "delete organization"));
        s.Bind(name);
        ASTIS_RETURN_IF_ERROR(s.Run());
      }
      return OkStatus();
    });
  }

  // ---- clusters
  Status PutCluster(const Cluster& c) override {
    ASTIS_RETURN_IF_ERROR(ValidateCluster(c));
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("put cluster", [&]() -> Status {
      ASTIS_RETURN_IF_ERROR(RequireOrgLocked(c.org));
      return PutClusterLocked(c);
    });
  }

  Status InsertCluster(const Cluster& c) override {
    ASTIS_RETURN_IF_ERROR(ValidateCluster(c));
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("insert cluster", [&]() -> Status {
      ASTIS_RETURN_IF_ERROR(RequireOrgLocked(c.org));
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "SELECT 1 FROM clusters WHERE org = ? AND name = ?", "insert cluster"));
      s.Bind(c.org).Bind(c.name);
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) return Error(Code::kAlreadyExists, "store: cluster already exists");
      return PutClusterLocked(c);
    });
  }

  Result<Cluster> GetCluster(std::string_view org, std::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_CLUSTER_COLS " FROM clusters WHERE org = ? AND name = ?", "get cluster"));
    s.Bind(org).Bind(name);
    ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return NotFound("cluster");
    return ReadCluster(s);
  }

  Result<std::vector<Cluster>> ListClusters(std::optional<std::string_view> org) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_CLUSTER_COLS " FROM clusters WHERE (? = 0 OR org = ?) ORDER BY org, name", "list clusters"));
    s.Bind(int64_t{org.has_value() ? 1 : 0}).Bind(org.value_or(""));
    std::vector<Cluster> out;
    while (true) {
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      out.push_back(ReadCluster(s));
    }
  }

  Result<std::vector<Cluster>> ListClustersByIssuer(std::string_view org, std::string_view issuer) override {
    // PutCluster refuses such an issuer, so no cluster has it.
    if (issuer.empty() || issuer.size() > kMaxTextLength) return std::vector<Cluster>();
    std::lock_guard<std::mutex> lock(mu_);
    // Answered from the index clusters_by_issuer (org, issuer, name), rows
    // already in name order (test ListClustersByIssuerUsesIndex).
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_CLUSTER_COLS " FROM clusters WHERE org = ? AND issuer = ? ORDER BY name",
        "list clusters by issuer"));
    s.Bind(org).Bind(issuer);
    std::vector<Cluster> out;
    while (true) {
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      out.push_back(ReadCluster(s));
    }
  }

  Status DeleteCluster(std::string_view org, std::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("delete cluster", [&]() -> Status {
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "DELETE FROM clusters WHERE org = ? AND name = ?", "delete cluster"));
      s.Bind(org).Bind(name);
      ASTIS_RETURN_IF_ERROR(s.Run());
      if (conn_->Changes() == 0) return NotFound("cluster");
      return OkStatus();
    });
  }

  // ---- workloads
  Status PutWorkload(const Workload& w) override {
    ASTIS_RETURN_IF_ERROR(ValidateWorkload(w));
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("put workload", [&]() -> Status { return PutWorkloadLocked(w); });
  }

  Result<Workload> GetWorkload(std::string_view org, std::string_view cluster, std::string_view ns,
                               std::string_view sa) override {
    std::lock_guard<std::mutex> lock(mu_);
    return GetWorkloadLocked(org, cluster, ns, sa);
  }

  Result<std::vector<Workload>> ListWorkloads(std::optional<std::string_view> org,
                                              std::optional<std::string_view> cluster) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_WORKLOAD_COLS " FROM workloads "
        "WHERE (? = 0 OR (org = ? AND (? = 0 OR cluster = ?))) ORDER BY org, cluster, namespace, service_account",
        "list workloads"));
    s.Bind(int64_t{org.has_value() ? 1 : 0}).Bind(org.value_or(""));
    s.Bind(int64_t{cluster.has_value() ? 1 : 0}).Bind(cluster.value_or(""));
    std::vector<Workload> out;
    while (true) {
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      ASTIS_ASSIGN_OR_RETURN(Workload w, ReadWorkload(s));
      out.push_back(std::move(w));
    }
  }

  Status DeleteWorkload(std::string_view org, std::string_view cluster, std::string_view ns,
                        std::string_view sa) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("delete workload", [&]() -> Status {
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "DELETE FROM workloads WHERE org = ? AND cluster = ? AND namespace = ? AND service_account = ?",
          "delete workload"));
      s.Bind(org).Bind(cluster).Bind(ns).Bind(sa);
      ASTIS_RETURN_IF_ERROR(s.Run());
      if (conn_->Changes() == 0) return NotFound("workload");
      return OkStatus();
    });
  }

  Result<Workload> ChangeWorkloadImages(std::string_view org, std::string_view cluster, std::string_view ns,
                                        std::string_view sa, std::span<const std::string> add,
                                        std::span<const std::string> remove) override {
    std::lock_guard<std::mutex> lock(mu_);
    // Read and write under one write transaction (BEGIN IMMEDIATE), so two
    // concurrent changes of one allowlist both land (test
    // ConcurrentWorkloadImageChangesBothLand).
    return Txn("change workload images", [&]() -> Result<Workload> {
      ASTIS_ASSIGN_OR_RETURN(Workload w, GetWorkloadLocked(org, cluster, ns, sa));
      ASTIS_ASSIGN_OR_RETURN(w.image_digests, internal::ChangeImageDigests(std::move(w.image_digests), add, remove));
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "UPDATE workloads SET image_digests = ? WHERE org = ? AND cluster = ? AND namespace = ? "
          "AND service_account = ?",
          "change workload images"));
      s.Bind(internal::JoinImageDigests(w.image_digests)).Bind(org).Bind(cluster).Bind(ns).Bind(sa);
      ASTIS_RETURN_IF_ERROR(s.Run());
      return w;
    });
  }

  Result<std::vector<ApplyChange>> ApplyOrgConfig(std::string_view org, const OrgConfig& desired, bool prune,
                                                  bool dry_run, int64_t now) override {
    std::lock_guard<std::mutex> lock(mu_);
    // One BEGIN IMMEDIATE transaction: the plan is made from what is stored
    // under the write lock, and every write of it lands or none does (test
    // ApplyOrgConfigAllOrNothing). A dry run rolls back (nothing to undo).
    return Txn("apply organization config", [&]() -> Result<std::vector<ApplyChange>> {
      ASTIS_RETURN_IF_ERROR(RequireOrgLocked(org));
      ASTIS_ASSIGN_OR_RETURN(std::vector<Cluster> clusters, ListClustersLocked(org));
      ASTIS_ASSIGN_OR_RETURN(std::vector<Workload> workloads, ListWorkloadsLocked(org));
      ASTIS_ASSIGN_OR_RETURN(internal::ApplyPlan plan,
                             internal::PlanApply(org, clusters, workloads, desired, prune, now));
      if (dry_run) return plan.changes;
      for (const Workload& w : plan.delete_workloads) {
        ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
            "DELETE FROM workloads WHERE org = ? AND cluster = ? AND namespace = ? AND service_account = ?",
            "apply: delete workload"));
        s.Bind(org).Bind(w.cluster).Bind(w.namespace_).Bind(w.service_account);
        ASTIS_RETURN_IF_ERROR(s.Run());
      }
      for (const std::string& name : plan.delete_clusters) {
        ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
            "DELETE FROM clusters WHERE org = ? AND name = ?", "apply: delete cluster"));
        s.Bind(org).Bind(name);
        ASTIS_RETURN_IF_ERROR(s.Run());
      }
      for (const Cluster& c : plan.put_clusters) ASTIS_RETURN_IF_ERROR(PutClusterLocked(c));
      for (const Workload& w : plan.put_workloads) ASTIS_RETURN_IF_ERROR(PutWorkloadLocked(w));
      if (!desired.audit_actor.empty()) {
        for (const std::string& detail : internal::ApplyAuditDetails(plan.changes, prune)) {
          ASTIS_RETURN_IF_ERROR(internal::CheckConfigAudit(org, desired.audit_actor, "config.apply", detail));
          ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
              "INSERT INTO config_audit (at, actor, action, detail_json, org) VALUES (?, ?, 'config.apply', ?, ?)",
              "apply: audit"));
          s.Bind(now).Bind(desired.audit_actor).Bind(detail).Bind(org);
          ASTIS_RETURN_IF_ERROR(s.Run());
        }
      }
      return plan.changes;
    });
  }

  // ---- API keys
  Status CreateApiKey(const ApiKey& k) override {
    ASTIS_RETURN_IF_ERROR(ValidateApiKey(k));
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("create api key", [&]() -> Status {
      ASTIS_RETURN_IF_ERROR(RequireOrgLocked(k.org));
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "INSERT INTO api_keys (" ASTIS_APIKEY_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", "create api key"));
      s.Bind(k.id).BindBlob(k.hash).Bind(k.cluster).Bind(k.namespace_).Bind(k.service_account);
      s.Bind(k.created_at).Bind(k.expires_at).Bind(k.revoked_at).Bind(k.org);
      Status st = s.Run();
      if (!st.ok() && IsConstraint(s.last_rc())) return Error(Code::kAlreadyExists, "store: api key id already exists");
      return st;
    });
  }

  Result<ApiKey> GetApiKey(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_APIKEY_COLS " FROM api_keys WHERE id = ?", "get api key"));
    s.Bind(id);
    ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return NotFound("api key");
    return ReadApiKey(s);
  }

  Result<std::vector<ApiKey>> ListApiKeys(std::optional<std::string_view> org) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_APIKEY_COLS " FROM api_keys WHERE (? = 0 OR org = ?) ORDER BY id", "list api keys"));
    s.Bind(int64_t{org.has_value() ? 1 : 0}).Bind(org.value_or(""));
    std::vector<ApiKey> out;
    while (true) {
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      out.push_back(ReadApiKey(s));
    }
  }

  Status RevokeApiKey(std::string_view id, int64_t now) override {
    if (now <= 0) return Invalid("revocation time");
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("revoke api key", [&]() -> Status {
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?",
          "revoke api key"));
      s.Bind(now).Bind(id);
      ASTIS_RETURN_IF_ERROR(s.Run());
      if (conn_->Changes() == 0) return NotFound("api key");
      return OkStatus();
    });
  }

  // ---- sessions
  Result<EnrollResult> EnrollSession(const Session& candidate, int64_t now) override {
    ASTIS_RETURN_IF_ERROR(ValidateSessionCandidate(candidate, now));
    std::lock_guard<std::mutex> lock(mu_);
    // docs/protocol.md §4.1: one active pin per Pod UID. BEGIN IMMEDIATE takes the
    // write lock before the read below, so no other connection or process can
    // create a competing session between our check and our write (test
    // ConcurrentEnrollExactlyOneWins).
    return Txn("enroll session", [&]() -> Result<EnrollResult> {
      // A pin of an organisation removed meanwhile must not be created.
      ASTIS_RETURN_IF_ERROR(RequireOrgLocked(candidate.org));
      ASTIS_ASSIGN_OR_RETURN(std::optional<Session> active,
                             ActivePinLocked(candidate.org, candidate.cluster, candidate.pod_uid, now));
      if (active.has_value()) {
        bool same_key = active->jkt == candidate.jkt && active->namespace_ == candidate.namespace_ &&
                        active->service_account == candidate.service_account;
        if (!same_key) return EnrollResult{EnrollOutcome::kPinnedConflict, std::move(*active)};
        // The renewing holder is alive: it records the restarts it has
        // outlived (a sidecar's), so they cannot release its pin later.
        const int64_t restarts = std::max(active->pod_restarts, candidate.pod_restarts);
        ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
            "UPDATE sessions SET expires_at = ?, recipient_jwk = ?, pod_name = ?, pod_restarts = ? WHERE id = ?",
            "extend session"));
        s.Bind(candidate.expires_at).Bind(candidate.recipient_jwk).Bind(candidate.pod_name).Bind(restarts);
        s.Bind(active->id);
        ASTIS_RETURN_IF_ERROR(s.Run());
        active->expires_at = candidate.expires_at;
        active->recipient_jwk = candidate.recipient_jwk;
        active->pod_name = candidate.pod_name;
        active->pod_restarts = restarts;
        return EnrollResult{EnrollOutcome::kExtended, std::move(*active)};
      }
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "INSERT INTO sessions (" ASTIS_SESSION_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
          "create session"));
      s.Bind(candidate.id).Bind(candidate.cluster).Bind(candidate.namespace_).Bind(candidate.service_account);
      s.Bind(candidate.pod_name).Bind(candidate.pod_uid).Bind(candidate.jkt).Bind(candidate.recipient_jwk);
      s.Bind(now).Bind(candidate.expires_at).Bind(candidate.pod_restarts).Bind(candidate.org);
      Status st = s.Run();
      if (!st.ok() && IsConstraint(s.last_rc())) return Error(Code::kAlreadyExists, "store: session id already exists");
      ASTIS_RETURN_IF_ERROR(st);
      Session stored = candidate;
      stored.created_at = now;
      stored.revoked = false;
      return EnrollResult{EnrollOutcome::kCreated, std::move(stored)};
    });
  }

  Result<bool> ReleasePinIfRestarted(std::string_view org, std::string_view cluster, std::string_view pod_uid,
                                     std::string_view expected_session_id, int64_t observed_restarts,
                                     int64_t now) override {
    ASTIS_RETURN_IF_ERROR(ValidatePinRelease(org, cluster, pod_uid, expected_session_id, observed_restarts));
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("release pin", [&]() -> Result<bool> {
      // docs/protocol.md §4.1 (pin release on restart): compare-and-swap in one
      // UPDATE under the write lock, so of several callers that saw one
      // restart at most one revokes the holder (test
      // ConcurrentReleaseAfterRestartExactlyOneWins).
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "UPDATE sessions SET revoked = 1 WHERE id = ? AND org = ? AND cluster = ? AND pod_uid = ? "
          "AND revoked = 0 AND expires_at > ? AND pod_restarts < ?",
          "release pin"));
      s.Bind(expected_session_id).Bind(org).Bind(cluster).Bind(pod_uid).Bind(now).Bind(observed_restarts);
      ASTIS_RETURN_IF_ERROR(s.Run());
      return conn_->Changes() == 1;
    });
  }

  Result<Session> GetSession(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return GetSessionLocked(id);
  }

  Result<Session> RotateSessionKey(std::string_view id, std::string_view expected_old_jkt, std::string_view new_jkt,
                                   std::string_view new_recipient_jwk, int64_t now) override {
    if (!IdOk(new_jkt)) return Invalid("new jkt");
    if (new_recipient_jwk.empty() || new_recipient_jwk.size() > kMaxTextLength) return Invalid("new recipient_jwk");
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("rotate session key", [&]() -> Result<Session> {
      // docs/protocol.md §4.3: compare-and-swap on the pinned jkt in one UPDATE,
      // so of two rotations from the same old key only one matches (test
      // ConcurrentRotateExactlyOneWins).
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "UPDATE sessions SET jkt = ?, recipient_jwk = ? "
          "WHERE id = ? AND jkt = ? AND revoked = 0 AND expires_at > ?",
          "rotate session key"));
      s.Bind(new_jkt).Bind(new_recipient_jwk).Bind(id).Bind(expected_old_jkt).Bind(now);
      ASTIS_RETURN_IF_ERROR(s.Run());
      bool swapped = conn_->Changes() == 1;
      ASTIS_ASSIGN_OR_RETURN(Session session, GetSessionLocked(id));
      if (swapped) return session;
      if (!session.IsActive(now)) return NotFound("active session");
      return Error(Code::kFailedPrecondition, "store: session pin is not the expected key");
    });
  }

  Status EndSession(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("end session", [&]() -> Status {
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare("UPDATE sessions SET revoked = 1 WHERE id = ?", "end session"));
      s.Bind(id);
      return s.Run();
    });
  }

  Result<int64_t> RevokeSessionsForPod(const PodRef& pod) override {
    if (pod.pod_uid.empty() && pod.pod_name.empty()) return Invalid("pod reference (no name or uid)");
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("revoke pod sessions", [&]() -> Result<int64_t> {
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "UPDATE sessions SET revoked = 1 WHERE revoked = 0 AND org = ? AND cluster = ? AND namespace = ? "
          "AND ((? <> '' AND pod_uid = ?) OR (? = '' AND pod_name = ?))",
          "revoke pod sessions"));
      s.Bind(pod.org).Bind(pod.cluster).Bind(pod.namespace_);
      s.Bind(pod.pod_uid).Bind(pod.pod_uid).Bind(pod.pod_uid).Bind(pod.pod_name);
      ASTIS_RETURN_IF_ERROR(s.Run());
      return conn_->Changes();
    });
  }

  Result<std::vector<Session>> ListSessions(const SessionFilter& f) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t only_active = f.active_at.has_value() ? 1 : 0;
    // The pod watch asks for one pod's sessions on every event (PodMonitor);
    // that form gets its own statement, which SQLite answers from the index
    // sessions_by_pod_name. The general form's "(? = '' OR col = ?)" terms
    // cannot use an index: with 10,000 sessions each watch event read them
    // all (test ListSessionsByPodName; docs/performance.md "Soak").
    const bool one_pod = !f.org.empty() && !f.cluster.empty() && !f.namespace_.empty() && !f.pod_name.empty() &&
                         f.pod_uid.empty();
    ASTIS_ASSIGN_OR_RETURN(
        Statement s,
        one_pod ? conn_->Prepare("SELECT " ASTIS_SESSION_COLS " FROM sessions WHERE org = ? AND cluster = ? "
                                 "AND namespace = ? AND pod_name = ? AND (? = 0 OR (revoked = 0 AND expires_at > ?)) "
                                 "ORDER BY id",
                                 "list sessions")
                : conn_->Prepare("SELECT " ASTIS_SESSION_COLS " FROM sessions WHERE (? = '' OR org = ?) "
                                 "AND (? = '' OR cluster = ?) "
                                 "AND (? = '' OR namespace = ?) AND (? = '' OR pod_uid = ?) "
                                 "AND (? = '' OR pod_name = ?) AND (? = 0 OR (revoked = 0 AND expires_at > ?)) "
                                 "ORDER BY id",
                                 "list sessions"));
    if (one_pod) {
      s.Bind(f.org).Bind(f.cluster).Bind(f.namespace_).Bind(f.pod_name);
    } else {
      s.Bind(f.org).Bind(f.org).Bind(f.cluster).Bind(f.cluster).Bind(f.namespace_).Bind(f.namespace_);
      s.Bind(f.pod_uid).Bind(f.pod_uid);
      s.Bind(f.pod_name).Bind(f.pod_name);
    }
    s.Bind(only_active).Bind(f.active_at.value_or(0));
    std::vector<Session> out;
    while (true) {
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      out.push_back(ReadSession(s));
    }
  }

  Result<int64_t> CountActiveSessions(int64_t now) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT COUNT(*) FROM sessions WHERE revoked = 0 AND expires_at > ?", "count sessions"));
    s.Bind(now);
    ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Error(Code::kStoreUnavailable, "store: count sessions: no result");
    return s.Int(0);
  }

  // ---- DPoP replay set
  Result<bool> InsertJti(std::string_view jkt, std::string_view jti, int64_t expires_at, int64_t now) override {
    if (!IdOk(jkt)) return Invalid("jkt");
    if (jti.empty() || jti.size() > kMaxJtiLength) return Invalid("jti");
    if (expires_at <= now) return Invalid("jti expires_at (not after now)");
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("insert jti", [&]() -> Result<bool> {
      // docs/protocol.md §5 / RFC 9449 §11.1: a (jkt, jti) pair seen within its
      // window is a replay. The primary key makes insert-if-absent one atomic
      // statement; an entry already past its expiry (not yet purged) is
      // re-armed instead (tests JtiReplayRefused, JtiAfterExpiryAccepted,
      // ConcurrentJtiExactlyOneInserted).
      return UpsertJti(jkt, jti, expires_at, now);
    });
  }

  // ---- nonce secret
  Result<SecretBytes> GetOrCreateNonceSecret(SecretBytes candidate, int64_t now) override {
    ASTIS_RETURN_IF_ERROR(ValidateNonceSecret(candidate));
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("get or create nonce secret", [&]() -> Result<SecretBytes> {
      // Insert-if-absent, then read back: whichever replica commits first
      // decides the secret every replica uses (test NonceSecretSharedAcrossStores).
      {
        ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
            "INSERT INTO nonce_secrets (slot, secret, created_at) VALUES ('current', ?, ?) "
            "ON CONFLICT (slot) DO NOTHING",
            "create nonce secret"));
        s.BindSecret(candidate).Bind(now);
        ASTIS_RETURN_IF_ERROR(s.Run());
      }
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "SELECT secret FROM nonce_secrets WHERE slot = 'current'", "read nonce secret"));
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return Error(Code::kStoreUnavailable, "store: read nonce secret: missing after insert");
      return s.Secret(0);
    });
  }

  Result<NonceSecrets> GetNonceSecrets() override {
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT slot, secret FROM nonce_secrets", "read nonce secrets"));
    std::optional<SecretBytes> current;
    NonceSecrets out;
    while (true) {
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      if (s.Text(0) == "current") {
        current = s.Secret(1);
      } else {
        out.previous = s.Secret(1);
      }
    }
    if (!current.has_value()) return NotFound("nonce secret");
    out.current = std::move(*current);
    return out;
  }

  Status RotateNonceSecret(SecretBytes next, int64_t now) override {
    ASTIS_RETURN_IF_ERROR(ValidateNonceSecret(next));
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("rotate nonce secret", [&]() -> Status {
      ASTIS_RETURN_IF_ERROR(conn_->Exec("DELETE FROM nonce_secrets WHERE slot = 'previous'", "drop previous nonce secret"));
      ASTIS_RETURN_IF_ERROR(conn_->Exec("UPDATE nonce_secrets SET slot = 'previous' WHERE slot = 'current'",
                                        "retire nonce secret"));
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "INSERT INTO nonce_secrets (slot, secret, created_at) VALUES ('current', ?, ?)", "insert nonce secret"));
      s.BindSecret(next).Bind(now);
      return s.Run();
    });
  }

  // ---- rate limits
  Result<bool> ConsumeRate(std::string_view bucket_key, int64_t window_start, int64_t window_end,
                           int64_t limit) override {
    if (!IdOk(bucket_key)) return Invalid("rate bucket key");
    if (limit < 1) return Invalid("rate limit");
    if (window_end <= window_start) return Invalid("rate window");
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("consume rate", [&]() -> Result<bool> {
      // One statement: create the window's counter at 1, or increment it only
      // while below the limit. A row changed means the request is allowed.
      return UpsertRate(bucket_key, window_start, window_end, limit);
    });
  }

  // ---- one request's writes
  Result<Admission> AdmitRequest(std::span<const RateCharge> charges, const JtiUse& jti, int64_t now) override {
    ASTIS_RETURN_IF_ERROR(ValidateAdmission(charges, jti, now));
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("admit request", [&]() -> Result<Admission> {
      // The statements of ConsumeRate and InsertJti, in one transaction: one
      // commit instead of one per write (docs/performance.md).
      Admission out;
      bool limited = false;
      for (size_t i = 0; i < charges.size(); ++i) {
        const RateCharge& c = charges[i];
        ASTIS_ASSIGN_OR_RETURN(bool allowed, UpsertRate(c.bucket_key, c.window_start, c.window_end, c.limit));
        if (!allowed && !limited) {
          limited = true;
          out.outcome = Admission::Outcome::kRateLimited;
          out.limited = i;
        }
      }
      ASTIS_ASSIGN_OR_RETURN(bool fresh, UpsertJti(jti.jkt, jti.jti, jti.expires_at, now));
      if (!fresh && !limited) out.outcome = Admission::Outcome::kReplay;
      return out;
    });
  }

  // ---- config audit
  Result<int64_t> AppendConfigAudit(std::string_view org, std::string_view actor, std::string_view action,
                                    std::string_view detail_json, int64_t now) override {
    ASTIS_RETURN_IF_ERROR(internal::CheckConfigAudit(org, actor, action, detail_json));
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("append config audit", [&]() -> Result<int64_t> {
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "INSERT INTO config_audit (at, actor, action, detail_json, org) VALUES (?, ?, ?, ?, ?) RETURNING seq",
          "append config audit"));
      s.Bind(now).Bind(actor).Bind(action).Bind(detail_json).Bind(org);
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return Error(Code::kStoreUnavailable, "store: append config audit: no sequence number");
      int64_t seq = s.Int(0);
      ASTIS_RETURN_IF_ERROR(s.Run());  // finish the statement before COMMIT
      return seq;
    });
  }

  Result<std::vector<ConfigAuditEntry>> ListConfigAudit(std::optional<std::string_view> org, int64_t after_seq,
                                                        int64_t limit) override {
    if (limit < 1) return Invalid("audit list limit");
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT seq, org, at, actor, action, detail_json FROM config_audit WHERE (? = 0 OR org = ?) AND seq > ? "
        "ORDER BY seq LIMIT ?",
        "list config audit"));
    s.Bind(int64_t{org.has_value() ? 1 : 0}).Bind(org.value_or("")).Bind(after_seq).Bind(limit);
    std::vector<ConfigAuditEntry> out;
    while (true) {
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      out.push_back(ConfigAuditEntry{s.Int(0), s.Int(2), s.Text(3), s.Text(4), s.Text(5), s.Text(1)});
    }
  }

  // ---- expiry
  Result<PurgeCounts> PurgeExpired(int64_t now, int64_t batch_limit) override {
    if (batch_limit < 1) return Invalid("purge batch limit");
    std::lock_guard<std::mutex> lock(mu_);
    return Txn("purge expired", [&]() -> Result<PurgeCounts> {
      PurgeCounts counts;
      ASTIS_ASSIGN_OR_RETURN(counts.sessions, DeleteBatchLocked(
          "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= ? LIMIT ?)",
          "purge sessions", now, batch_limit));
      ASTIS_ASSIGN_OR_RETURN(counts.jtis, DeleteBatchLocked(
          "DELETE FROM dpop_jti WHERE rowid IN (SELECT rowid FROM dpop_jti WHERE expires_at <= ? LIMIT ?)",
          "purge jti", now, batch_limit));
      ASTIS_ASSIGN_OR_RETURN(counts.rate_windows, DeleteBatchLocked(
          "DELETE FROM rate_windows WHERE rowid IN (SELECT rowid FROM rate_windows WHERE window_end <= ? LIMIT ?)",
          "purge rate windows", now, batch_limit));
      return counts;
    });
  }

 private:
  // UpsertJti and UpsertRate run the one statement of InsertJti and
  // ConsumeRate inside the caller's transaction (mu_ held), for those and
  // for AdmitRequest. True: the jti was fresh / the request is within the
  // limit (a row changed).
  Result<bool> UpsertJti(std::string_view jkt, std::string_view jti, int64_t expires_at, int64_t now) {
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(kInsertJtiSql, "insert jti"));
    s.Bind(jkt).Bind(jti).Bind(expires_at).Bind(now);
    ASTIS_RETURN_IF_ERROR(s.Run());
    return conn_->Changes() == 1;
  }
  Result<bool> UpsertRate(std::string_view bucket_key, int64_t window_start, int64_t window_end, int64_t limit) {
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(kConsumeRateSql, "consume rate"));
    s.Bind(bucket_key).Bind(window_start).Bind(window_end).Bind(limit);
    ASTIS_RETURN_IF_ERROR(s.Run());
    return conn_->Changes() == 1;
  }

  // Txn runs body inside BEGIN IMMEDIATE ... COMMIT, rolling back when body
  // or COMMIT fails. mu_ must be held.
  template <typename F>
  auto Txn(std::string_view op, F&& body) -> decltype(body()) {
    ASTIS_RETURN_IF_ERROR(conn_->Exec("BEGIN IMMEDIATE", op));
    auto result = body();
    if (!internal_status::IsOk(result)) {
      (void)conn_->Exec("ROLLBACK", op);
      return result;
    }
    Status committed = conn_->Exec("COMMIT", op);
    if (!committed.ok()) {
      (void)conn_->Exec("ROLLBACK", op);
      return committed;
    }
    return result;
  }

  Status MigrateLocked() {
    ASTIS_RETURN_IF_ERROR(conn_->Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at INTEGER NOT NULL)",
        "create schema_migrations"));
    ASTIS_ASSIGN_OR_RETURN(Statement v, conn_->Prepare(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", "read schema version"));
    ASTIS_ASSIGN_OR_RETURN(bool row, v.Step());
    int64_t current = row ? v.Int(0) : 0;
    ASTIS_RETURN_IF_ERROR(v.Run());
    if (current > kSqliteSchemaVersion) {
      return Error(Code::kFailedPrecondition, "store: database schema version " + std::to_string(current) +
                                                  " is newer than this binary's " +
                                                  std::to_string(kSqliteSchemaVersion));
    }
    for (const Migration& m : internal::SqliteMigrations()) {
      if (m.version <= current) continue;
      ASTIS_RETURN_IF_ERROR(conn_->Exec(m.sql, "apply migration " + std::to_string(m.version)));
      // applied_at is informational (operators), the only wall-clock read.
      ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
          "INSERT INTO schema_migrations (version, name, applied_at) "
          "VALUES (?, ?, CAST(strftime('%s', 'now') AS INTEGER))",
          "record migration"));
      s.Bind(int64_t{m.version}).Bind(m.name);
      ASTIS_RETURN_IF_ERROR(s.Run());
    }
    return OkStatus();
  }

  // PutClusterLocked and PutWorkloadLocked are the upserts of PutCluster
  // and PutWorkload inside the caller's transaction (mu_ held).
  Status PutClusterLocked(const Cluster& c) {
    // Upsert, not REPLACE: REPLACE deletes the row first, which would
    // cascade to the cluster's workloads. created_at keeps its first value.
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "INSERT INTO clusters (" ASTIS_CLUSTER_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (org, name) DO UPDATE SET issuer = excluded.issuer, audience = excluded.audience, "
        "jwks_json = excluded.jwks_json, api_url = excluded.api_url, ca_file = excluded.ca_file, "
        "token_file = excluded.token_file, mode = excluded.mode",
        "put cluster"));
    s.Bind(c.name).Bind(c.issuer).Bind(c.audience).Bind(c.jwks_json).Bind(c.api_url).Bind(c.ca_file);
    s.Bind(c.token_file).Bind(c.mode).Bind(c.created_at).Bind(c.org);
    return s.Run();
  }

  Status PutWorkloadLocked(const Workload& w) {
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "INSERT INTO workloads (" ASTIS_WORKLOAD_COLS ") VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (org, cluster, namespace, service_account) DO UPDATE SET image_digests = excluded.image_digests",
        "put workload"));
    s.Bind(w.org).Bind(w.cluster).Bind(w.namespace_).Bind(w.service_account);
    s.Bind(internal::JoinImageDigests(w.image_digests));
    Status st = s.Run();
    if (!st.ok() && IsConstraint(s.last_rc())) return NotFound("cluster of workload");
    return st;
  }

  Result<std::vector<Cluster>> ListClustersLocked(std::string_view org) {
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_CLUSTER_COLS " FROM clusters WHERE org = ? ORDER BY name", "list organization clusters"));
    s.Bind(org);
    std::vector<Cluster> out;
    while (true) {
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      out.push_back(ReadCluster(s));
    }
  }

  Result<std::vector<Workload>> ListWorkloadsLocked(std::string_view org) {
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_WORKLOAD_COLS " FROM workloads WHERE org = ? ORDER BY cluster, namespace, service_account",
        "list organization workloads"));
    s.Bind(org);
    std::vector<Workload> out;
    while (true) {
      ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      ASTIS_ASSIGN_OR_RETURN(Workload w, ReadWorkload(s));
      out.push_back(std::move(w));
    }
  }

  // RequireOrgLocked: kNotFound unless organisation org exists (inside the
  // caller's write transaction, so it cannot vanish before the write).
  Status RequireOrgLocked(std::string_view org) {
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare("SELECT 1 FROM orgs WHERE name = ?", "find organization"));
    s.Bind(org);
    ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return NotFound("organization");
    return s.Run();
  }

  Result<Workload> GetWorkloadLocked(std::string_view org, std::string_view cluster, std::string_view ns,
                                     std::string_view sa) {
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_WORKLOAD_COLS " FROM workloads "
        "WHERE org = ? AND cluster = ? AND namespace = ? AND service_account = ?",
        "get workload"));
    s.Bind(org).Bind(cluster).Bind(ns).Bind(sa);
    ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return NotFound("workload");
    return ReadWorkload(s);
  }

  Result<std::optional<Session>> ActivePinLocked(std::string_view org, std::string_view cluster,
                                                 std::string_view pod_uid, int64_t now) {
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_SESSION_COLS " FROM sessions WHERE org = ? AND cluster = ? AND pod_uid = ? AND revoked = 0 "
        "AND expires_at > ? ORDER BY created_at DESC, id LIMIT 1",
        "find active session"));
    s.Bind(org).Bind(cluster).Bind(pod_uid).Bind(now);
    ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return std::optional<Session>();
    return std::optional<Session>(ReadSession(s));
  }

  Result<Session> GetSessionLocked(std::string_view id) {
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(
        "SELECT " ASTIS_SESSION_COLS " FROM sessions WHERE id = ?", "get session"));
    s.Bind(id);
    ASTIS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return NotFound("session");
    return ReadSession(s);
  }

  Result<int64_t> DeleteBatchLocked(const char* sql, std::string_view op, int64_t now, int64_t limit) {
    ASTIS_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(sql, op));
    s.Bind(now).Bind(limit);
    ASTIS_RETURN_IF_ERROR(s.Run());
    return conn_->Changes();
  }

  std::mutex mu_;  // serialises all use of conn_ (one connection per store)
  std::unique_ptr<Connection> conn_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const SqliteOptions& options) {
  if (path.empty()) return Error(Code::kInvalidArgument, "store: empty database path");
  if (options.busy_timeout_ms < 0) return Error(Code::kInvalidArgument, "store: negative busy timeout");
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                         internal::Connection::Open(path, options.busy_timeout_ms, !options.must_exist));
  auto store = std::make_unique<SqliteStore>(std::move(conn));
  ASTIS_RETURN_IF_ERROR(store->Init(options.must_exist, path));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace astis::store
