#include "store/postgres_store.h"

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/encoding.h"
#include "common/json.h"
#include "store/internal/pg.h"
#include "store/internal/rows.h"
#include "store/internal/schema.h"

namespace astis::store {
namespace {

using internal::Conn;
using internal::IsValidUtf8Text;
using internal::Migration;
using internal::Params;
using internal::Pool;
using internal::Rows;

// Advisory lock keys (two-int4 form, so they never collide with one-bigint
// keys an operator may use). kLockClass spells "ASTI".
constexpr int kLockClass = 0x41535449;
constexpr int kLockMigrate = 1;      // (kLockClass, 1): schema migrations
constexpr int kLockNonce = 2;        // (kLockClass, 2): nonce secret rotation
constexpr int kLockPinClass = kLockClass + 1;  // (kLockPinClass, hashtext(org/cluster/pod_uid)): enroll

#define ASTIS_PG_SESSION_COLS                                                                              \
  "id, cluster, namespace, service_account, pod_name, pod_uid, jkt, recipient_jwk, created_at, expires_at, revoked, " \
  "pod_restarts, org"
#define ASTIS_PG_CLUSTER_COLS "name, issuer, audience, jwks_json, api_url, ca_file, token_file, mode, created_at, org"
#define ASTIS_PG_APIKEY_SELECT \
  "id, encode(hash, 'hex'), cluster, namespace, service_account, created_at, expires_at, revoked_at, org"
#define ASTIS_PG_WORKLOAD_COLS "org, cluster, namespace, service_account, image_digests"
#define ASTIS_PG_ORG_COLS "name, tier, cvs_url, cvs_ca_pem, cvs_identity, cvs_spki_sha256, created_at"

using internal::IdOk;
using internal::Invalid;
using internal::NotFound;

// ---------------------------------------------------------------- row readers

Result<Organization> ReadOrganization(const Rows& r, int i) {
  Organization o;
  o.name = r.Text(i, 0);
  o.tier = r.Text(i, 1);
  o.cvs_url = r.Text(i, 2);
  o.cvs_ca_pem = r.Text(i, 3);
  o.cvs_identity = r.Text(i, 4);
  o.cvs_spki_sha256 = r.Text(i, 5);
  ASTIS_ASSIGN_OR_RETURN(o.created_at, r.Int(i, 6));
  return o;
}

Result<Cluster> ReadCluster(const Rows& r, int i) {
  Cluster c;
  c.name = r.Text(i, 0);
  c.issuer = r.Text(i, 1);
  c.audience = r.Text(i, 2);
  c.jwks_json = r.Text(i, 3);
  c.api_url = r.Text(i, 4);
  c.ca_file = r.Text(i, 5);
  c.token_file = r.Text(i, 6);
  c.mode = r.Text(i, 7);
  ASTIS_ASSIGN_OR_RETURN(c.created_at, r.Int(i, 8));
  c.org = r.Text(i, 9);
  return c;
}

// ReadWorkload re-validates every stored digest (internal::DecodeWorkload).
Result<Workload> ReadWorkload(const Rows& r, int i) {
  return internal::DecodeWorkload(r.Text(i, 0), r.Text(i, 1), r.Text(i, 2), r.Text(i, 3), r.Text(i, 4));
}

Result<ApiKey> ReadApiKey(const Rows& r, int i) {
  ApiKey k;
  k.id = r.Text(i, 0);
  auto hash = HexDecode(r.Text(i, 1));
  if (!hash.ok()) return Error(Code::kStoreUnavailable, "store: read api key: malformed hash");
  k.hash = std::move(hash).value();
  k.cluster = r.Text(i, 2);
  k.namespace_ = r.Text(i, 3);
  k.service_account = r.Text(i, 4);
  ASTIS_ASSIGN_OR_RETURN(k.created_at, r.Int(i, 5));
  ASTIS_ASSIGN_OR_RETURN(k.expires_at, r.Int(i, 6));
  ASTIS_ASSIGN_OR_RETURN(k.revoked_at, r.Int(i, 7));
  k.org = r.Text(i, 8);
  return k;
}

Result<Session> ReadSession(const Rows& r, int i) {
  Session s;
  s.id = r.Text(i, 0);
  s.cluster = r.Text(i, 1);
  s.namespace_ = r.Text(i, 2);
  s.service_account = r.Text(i, 3);
  s.pod_name = r.Text(i, 4);
  s.pod_uid = r.Text(i, 5);
  s.jkt = r.Text(i, 6);
  s.recipient_jwk = r.Text(i, 7);
  ASTIS_ASSIGN_OR_RETURN(s.created_at, r.Int(i, 8));
  ASTIS_ASSIGN_OR_RETURN(s.expires_at, r.Int(i, 9));
  s.revoked = r.Bool(i, 10);
  ASTIS_ASSIGN_OR_RETURN(s.pod_restarts, r.Int(i, 11));
  s.org = r.Text(i, 12);
  return s;
}

template <typename T, typename F>
Result<std::vector<T>> ReadAll(const Rows& r, F read) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    ASTIS_ASSIGN_OR_RETURN(T v, read(r, i));
    out.push_back(std::move(v));
  }
  return out;
}

// ---------------------------------------------------------------- store

// Mode says how Run wraps a call: kRead (one statement, repeatable on a fresh
// connection if the pooled one was dead), kWrite (one autocommit statement,
// never repeated: it may have applied) or kTxn (BEGIN ... COMMIT; repeated
// only when BEGIN itself failed on a dead pooled connection).
enum class Mode : uint8_t { kRead, kWrite, kTxn };

// InsertClusterRow writes one clusters row and returns its name. On an
// existing (org, name), replace updates everything but created_at (which
// keeps its first value); otherwise the row is left as it was and no row
// comes back.
Result<Rows> InsertClusterRow(Conn& c, const Cluster& cl, bool replace) {
  Params p;
  p.Text(cl.name).Text(cl.issuer).Text(cl.audience).Text(cl.jwks_json).Text(cl.api_url).Text(cl.ca_file);
  p.Text(cl.token_file).Text(cl.mode).Int(cl.created_at).Text(cl.org);
  return c.Exec(replace ? "put cluster" : "insert cluster",
                replace ? "INSERT INTO clusters (" ASTIS_PG_CLUSTER_COLS ") "
                          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                          "ON CONFLICT (org, name) DO UPDATE SET issuer = EXCLUDED.issuer, "
                          "audience = EXCLUDED.audience, jwks_json = EXCLUDED.jwks_json, api_url = EXCLUDED.api_url, "
                          "ca_file = EXCLUDED.ca_file, token_file = EXCLUDED.token_file, mode = EXCLUDED.mode "
                          "RETURNING name"
                        : "INSERT INTO clusters (" ASTIS_PG_CLUSTER_COLS ") "
                          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                          "ON CONFLICT (org, name) DO NOTHING RETURNING name",
                p);
}

class PostgresStore final : public Store {
 public:
  PostgresStore(SecretBytes conninfo_z, const PostgresOptions& options) : pool_(std::move(conninfo_z), options) {}

  Status Migrate() {
    return Run("migrate schema", Mode::kTxn, [&](Conn& c) -> Status {
      // Replicas starting at once serialise here; the lock is released at
      // COMMIT/ROLLBACK (test ConcurrentMigrationFromManyStores).
      Params lock;
      lock.Int(kLockClass).Int(kLockMigrate);
      ASTIS_RETURN_IF_ERROR(c.Exec("migrate schema", "SELECT pg_advisory_xact_lock($1::int4, $2::int4)", lock));
      ASTIS_RETURN_IF_ERROR(c.Exec("create schema_migrations",
                                   "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                                   "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"));
      ASTIS_ASSIGN_OR_RETURN(Rows v, c.Exec("read schema version",
                                            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
      ASTIS_ASSIGN_OR_RETURN(int64_t current, v.Int(0, 0));
      if (current > kPostgresSchemaVersion) {
        return Error(Code::kFailedPrecondition, "store: database schema version " + std::to_string(current) +
                                                    " is newer than this binary's " +
                                                    std::to_string(kPostgresSchemaVersion) +
                                                    "; upgrade the binary (test RefusesNewerSchema)");
      }
      for (const Migration& m : internal::PostgresMigrations()) {
        if (m.version <= current) continue;
        const std::string op = "apply migration " + std::to_string(m.version);
        ASTIS_RETURN_IF_ERROR(c.ExecScript(op, m.sql));
        Params p;
        p.Int(m.version).Text(m.name);
        // applied_at (server now()) is informational, the only wall-clock value.
        ASTIS_RETURN_IF_ERROR(c.Exec("record migration",
                                     "INSERT INTO schema_migrations (version, name) VALUES ($1::int4, $2)", p));
      }
      return OkStatus();
    });
  }

  // ---- organisations
  Status PutOrganization(const Organization& o) override {
    ASTIS_RETURN_IF_ERROR(ValidateOrganization(o));
    return Run("put organization", Mode::kWrite, [&](Conn& c) -> Status {
      Params p;
      p.Text(o.name).Text(o.tier).Text(o.cvs_url).Text(o.cvs_ca_pem).Text(o.cvs_identity).Text(o.cvs_spki_sha256);
      p.Int(o.created_at);
      // Upsert; created_at keeps its first value.
      return c.Exec("put organization",
                    "INSERT INTO orgs (" ASTIS_PG_ORG_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7) "
                    "ON CONFLICT (name) DO UPDATE SET tier = EXCLUDED.tier, cvs_url = EXCLUDED.cvs_url, "
                    "cvs_ca_pem = EXCLUDED.cvs_ca_pem, cvs_identity = EXCLUDED.cvs_identity, "
                    "cvs_spki_sha256 = EXCLUDED.cvs_spki_sha256",
                    p)
          .status();
    });
  }

  Result<Organization> GetOrganization(std::string_view name) override {
    return Run("get organization", Mode::kRead, [&](Conn& c) -> Result<Organization> {
      Params p;
      p.Text(name);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("get organization",
                                            "SELECT " ASTIS_PG_ORG_COLS " FROM orgs WHERE name = $1", p));
      if (r.empty()) return NotFound("organization");
      return ReadOrganization(r, 0);
    });
  }

  Result<std::vector<Organization>> ListOrganizations() override {
    return Run("list organizations", Mode::kRead, [&](Conn& c) -> Result<std::vector<Organization>> {
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("list organizations",
                                            "SELECT " ASTIS_PG_ORG_COLS " FROM orgs ORDER BY name"));
      return ReadAll<Organization>(r, ReadOrganization);
    });
  }

  Status DeleteOrganization(std::string_view name, bool force) override {
    return Run("delete organization", Mode::kTxn, [&](Conn& c) -> Status {
      // Lock the orgs row first (FOR UPDATE conflicts with every OrgLock): a
      // concurrent write into the organisation holds the row (LockOrgOn)
      // until it commits, so the count below (a fresh snapshot under READ
      // COMMITTED) sees its row, and one that starts after this waits and
      // then finds no organisation (test
      // PostgresStoreTest.DeleteOrganizationRacingWritesLeavesNoOrphans).
      Params p;
      p.Text(name);
      ASTIS_ASSIGN_OR_RETURN(Rows org, c.Exec("find organization",
                                              "SELECT 1 FROM orgs WHERE name = $1 FOR UPDATE", p));
      if (org.empty()) return NotFound("organization");
      ASTIS_ASSIGN_OR_RETURN(Rows in_use, c.Exec("count organization objects",
                                                 "SELECT (SELECT COUNT(*) FROM clusters WHERE org = $1) + "
                                                 "(SELECT COUNT(*) FROM api_keys WHERE org = $1)",
                                                 p));
      ASTIS_ASSIGN_OR_RETURN(int64_t objects, in_use.Int(0, 0));
      if (objects > 0 && !force) {
        return Error(Code::kFailedPrecondition, "store: organization still has clusters or API keys");
      }
      // Workloads go with their clusters (ON DELETE CASCADE); audit rows stay.
      for (const char* sql : {"DELETE FROM sessions WHERE org = $1", "DELETE FROM api_keys WHERE org = $1",
                              "DELETE FROM clusters WHERE org = $1", "DELETE FROM orgs WHERE name = $1"}) {
        ASTIS_RETURN_IF_ERROR(c.Exec("delete organization", sql, p));
      }
      return OkStatus();
    });
  }

  // ---- clusters
  Status PutCluster(const Cluster& cl) override {
    ASTIS_RETURN_IF_ERROR(ValidateCluster(cl));
    return Run("put cluster", Mode::kTxn, [&](Conn& c) -> Status {
      ASTIS_RETURN_IF_ERROR(RequireOrgOn(c, cl.org, OrgLock::kConfig));
      return InsertClusterRow(c, cl, /*replace=*/true).status();
    });
  }

  Status InsertCluster(const Cluster& cl) override {
    ASTIS_RETURN_IF_ERROR(ValidateCluster(cl));
    return Run("insert cluster", Mode::kTxn, [&](Conn& c) -> Status {
      ASTIS_RETURN_IF_ERROR(RequireOrgOn(c, cl.org, OrgLock::kConfig));
      ASTIS_ASSIGN_OR_RETURN(Rows r, InsertClusterRow(c, cl, /*replace=*/false));
      // No row back: the name was taken, and DO NOTHING left it as it was.
      if (r.empty()) return Error(Code::kAlreadyExists, "store: cluster already exists");
      return OkStatus();
    });
  }

  Result<Cluster> GetCluster(std::string_view org, std::string_view name) override {
    return Run("get cluster", Mode::kRead, [&](Conn& c) -> Result<Cluster> {
      Params p;
      p.Text(org).Text(name);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("get cluster",
                                            "SELECT " ASTIS_PG_CLUSTER_COLS " FROM clusters "
                                            "WHERE org = $1 AND name = $2",
                                            p));
      if (r.empty()) return NotFound("cluster");
      return ReadCluster(r, 0);
    });
  }

  Result<std::vector<Cluster>> ListClusters(std::optional<std::string_view> org) override {
    return Run("list clusters", Mode::kRead, [&](Conn& c) -> Result<std::vector<Cluster>> {
      Params p;
      p.Bool(org.has_value()).Text(org.value_or(""));
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("list clusters",
                                            "SELECT " ASTIS_PG_CLUSTER_COLS " FROM clusters "
                                            "WHERE (NOT $1::boolean OR org = $2) ORDER BY org, name",
                                            p));
      return ReadAll<Cluster>(r, ReadCluster);
    });
  }

  Result<std::vector<Cluster>> ListClustersByIssuer(std::string_view org, std::string_view issuer) override {
    // PutCluster refuses such an issuer (the last two cannot be bound), so no
    // cluster has it: an empty list, not kInvalidArgument, for a token's iss.
    if (issuer.empty() || issuer.size() > kMaxTextLength || !IsValidUtf8Text(issuer)) return std::vector<Cluster>();
    // Likewise an org that cannot be bound names no organisation.
    if (!IsValidUtf8Text(org)) return std::vector<Cluster>();
    return Run("list clusters by issuer", Mode::kRead, [&](Conn& c) -> Result<std::vector<Cluster>> {
      Params p;
      p.Text(org).Text(issuer);
      // Answered from the hash index clusters_by_issuer (issuer only; the
      // few matches are filtered by org and sorted).
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("list clusters by issuer",
                                            "SELECT " ASTIS_PG_CLUSTER_COLS " FROM clusters WHERE org = $1 "
                                            "AND issuer = $2 ORDER BY name",
                                            p));
      return ReadAll<Cluster>(r, ReadCluster);
    });
  }

  Status DeleteCluster(std::string_view org, std::string_view name) override {
    return Run("delete cluster", Mode::kTxn, [&](Conn& c) -> Status {
      ASTIS_RETURN_IF_ERROR(LockOrgOn(c, org, OrgLock::kConfig));
      Params p;
      p.Text(org).Text(name);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("delete cluster", "DELETE FROM clusters WHERE org = $1 AND name = $2", p));
      if (r.Affected() == 0) return NotFound("cluster");
      return OkStatus();
    });
  }

  // ---- workloads
  Status PutWorkload(const Workload& w) override {
    ASTIS_RETURN_IF_ERROR(ValidateWorkload(w));
    return Run("put workload", Mode::kTxn, [&](Conn& c) -> Status {
      // The foreign key (org, cluster) -> clusters also proves the org exists.
      ASTIS_RETURN_IF_ERROR(LockOrgOn(c, w.org, OrgLock::kConfig));
      Params p;
      p.Text(w.org).Text(w.cluster).Text(w.namespace_).Text(w.service_account);
      p.Text(internal::JoinImageDigests(w.image_digests));
      auto r = c.Exec("put workload",
                      "INSERT INTO workloads (" ASTIS_PG_WORKLOAD_COLS ") VALUES ($1, $2, $3, $4, $5) "
                      "ON CONFLICT (org, cluster, namespace, service_account) "
                      "DO UPDATE SET image_digests = EXCLUDED.image_digests",
                      p);
      if (!r.ok() && c.sqlstate() == "23503") return NotFound("cluster of workload");  // foreign_key_violation
      return r.status();
    });
  }

  Result<Workload> GetWorkload(std::string_view org, std::string_view cluster, std::string_view ns,
                               std::string_view sa) override {
    return Run("get workload", Mode::kRead, [&](Conn& c) -> Result<Workload> {
      return GetWorkloadOn(c, org, cluster, ns, sa, /*for_update=*/false);
    });
  }

  Result<std::vector<Workload>> ListWorkloads(std::optional<std::string_view> org,
                                              std::optional<std::string_view> cluster) override {
    return Run("list workloads", Mode::kRead, [&](Conn& c) -> Result<std::vector<Workload>> {
      Params p;
      p.Bool(org.has_value()).Text(org.value_or("")).Bool(cluster.has_value()).Text(cluster.value_or(""));
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("list workloads",
                                            "SELECT " ASTIS_PG_WORKLOAD_COLS " FROM workloads "
                                            "WHERE (NOT $1::boolean OR "
                                            "(org = $2 AND (NOT $3::boolean OR cluster = $4))) "
                                            "ORDER BY org, cluster, namespace, service_account",
                                            p));
      return ReadAll<Workload>(r, ReadWorkload);
    });
  }

  Status DeleteWorkload(std::string_view org, std::string_view cluster, std::string_view ns,
                        std::string_view sa) override {
    return Run("delete workload", Mode::kTxn, [&](Conn& c) -> Status {
      ASTIS_RETURN_IF_ERROR(LockOrgOn(c, org, OrgLock::kConfig));
      Params p;
      p.Text(org).Text(cluster).Text(ns).Text(sa);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("delete workload",
                                            "DELETE FROM workloads WHERE org = $1 AND cluster = $2 AND namespace = $3 "
                                            "AND service_account = $4",
                                            p));
      if (r.Affected() == 0) return NotFound("workload");
      return OkStatus();
    });
  }

  Result<Workload> ChangeWorkloadImages(std::string_view org, std::string_view cluster, std::string_view ns,
                                        std::string_view sa, std::span<const std::string> add,
                                        std::span<const std::string> remove) override {
    return Run("change workload images", Mode::kTxn, [&](Conn& c) -> Result<Workload> {
      // Read with FOR UPDATE and write in one transaction: a concurrent
      // change waits for the row lock, then reads this one's committed list,
      // so both land (test ConcurrentWorkloadImageChangesBothLand).
      ASTIS_RETURN_IF_ERROR(LockOrgOn(c, org, OrgLock::kConfig));
      ASTIS_ASSIGN_OR_RETURN(Workload w, GetWorkloadOn(c, org, cluster, ns, sa, /*for_update=*/true));
      ASTIS_ASSIGN_OR_RETURN(w.image_digests, internal::ChangeImageDigests(std::move(w.image_digests), add, remove));
      Params p;
      p.Text(internal::JoinImageDigests(w.image_digests)).Text(org).Text(cluster).Text(ns).Text(sa);
      ASTIS_RETURN_IF_ERROR(c.Exec("change workload images",
                                   "UPDATE workloads SET image_digests = $1 WHERE org = $2 AND cluster = $3 "
                                   "AND namespace = $4 AND service_account = $5",
                                   p));
      return w;
    });
  }

  Result<std::vector<ApplyChange>> ApplyOrgConfig(std::string_view org, const OrgConfig& desired, bool prune,
                                                  bool dry_run, int64_t now) override {
    return Run("apply organization config", Mode::kTxn, [&](Conn& c) -> Result<std::vector<ApplyChange>> {
      // The organisation row locked kApply first: two applies of one
      // organisation serialise (the second plans from the first's committed
      // result; test PostgresStoreTest.ConcurrentApplyOrgConfigSerialises),
      // and no DeleteOrganization or cluster/workload write of it
      // interleaves, while its enrollments go on (test
      // PostgresStoreTest.EnrollProceedsWhileItsOrganizationIsApplied). Then
      // one plan from the stored state (internal::PlanApply) and its writes
      // in this transaction: all of it lands or none (test
      // ApplyOrgConfigAllOrNothing).
      ASTIS_RETURN_IF_ERROR(RequireOrgOn(c, org, OrgLock::kApply));
      Params po;
      po.Text(org);
      ASTIS_ASSIGN_OR_RETURN(Rows rc, c.Exec("list organization clusters",
                                             "SELECT " ASTIS_PG_CLUSTER_COLS " FROM clusters WHERE org = $1 "
                                             "ORDER BY name",
                                             po));
      ASTIS_ASSIGN_OR_RETURN(std::vector<Cluster> clusters, ReadAll<Cluster>(rc, ReadCluster));
      ASTIS_ASSIGN_OR_RETURN(Rows rw, c.Exec("list organization workloads",
                                             "SELECT " ASTIS_PG_WORKLOAD_COLS " FROM workloads WHERE org = $1 "
                                             "ORDER BY cluster, namespace, service_account",
                                             po));
      ASTIS_ASSIGN_OR_RETURN(std::vector<Workload> workloads, ReadAll<Workload>(rw, ReadWorkload));
      ASTIS_ASSIGN_OR_RETURN(internal::ApplyPlan plan,
                             internal::PlanApply(org, clusters, workloads, desired, prune, now));
      if (dry_run) return plan.changes;
      for (const Workload& w : plan.delete_workloads) {
        Params p;
        p.Text(org).Text(w.cluster).Text(w.namespace_).Text(w.service_account);
        ASTIS_RETURN_IF_ERROR(c.Exec("apply: delete workload",
                                     "DELETE FROM workloads WHERE org = $1 AND cluster = $2 AND namespace = $3 "
                                     "AND service_account = $4",
                                     p));
      }
      for (const std::string& name : plan.delete_clusters) {
        Params p;
        p.Text(org).Text(name);
        ASTIS_RETURN_IF_ERROR(c.Exec("apply: delete cluster", "DELETE FROM clusters WHERE org = $1 AND name = $2", p));
      }
      for (const Cluster& cl : plan.put_clusters) {
        Params p;
        p.Text(cl.name).Text(cl.issuer).Text(cl.audience).Text(cl.jwks_json).Text(cl.api_url).Text(cl.ca_file);
        p.Text(cl.token_file).Text(cl.mode).Int(cl.created_at).Text(cl.org);
        ASTIS_RETURN_IF_ERROR(c.Exec("apply: put cluster",
                                     "INSERT INTO clusters (" ASTIS_PG_CLUSTER_COLS ") "
                                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                                     "ON CONFLICT (org, name) DO UPDATE SET issuer = EXCLUDED.issuer, "
                                     "audience = EXCLUDED.audience, jwks_json = EXCLUDED.jwks_json, "
                                     "api_url = EXCLUDED.api_url, ca_file = EXCLUDED.ca_file, "
                                     "token_file = EXCLUDED.token_file, mode = EXCLUDED.mode",
                                     p));
      }
      for (const Workload& w : plan.put_workloads) {
        Params p;
        p.Text(w.org).Text(w.cluster).Text(w.namespace_).Text(w.service_account);
        p.Text(internal::JoinImageDigests(w.image_digests));
        auto r = c.Exec("apply: put workload",
                        "INSERT INTO workloads (" ASTIS_PG_WORKLOAD_COLS ") VALUES ($1, $2, $3, $4, $5) "
                        "ON CONFLICT (org, cluster, namespace, service_account) "
                        "DO UPDATE SET image_digests = EXCLUDED.image_digests",
                        p);
        if (!r.ok() && c.sqlstate() == "23503") return NotFound("cluster of workload");  // foreign_key_violation
        ASTIS_RETURN_IF_ERROR(r);
      }
      if (!desired.audit_actor.empty()) {
        // In this transaction: the changes commit with their record or not at all.
        for (const std::string& detail : internal::ApplyAuditDetails(plan.changes, prune)) {
          ASTIS_RETURN_IF_ERROR(internal::CheckConfigAudit(org, desired.audit_actor, "config.apply", detail));
          Params p;
          p.Int(now).Text(desired.audit_actor).Text(detail).Text(org);
          ASTIS_RETURN_IF_ERROR(c.Exec("apply: audit",
                                       "INSERT INTO config_audit (at, actor, action, detail_json, org) "
                                       "VALUES ($1, $2, 'config.apply', $3, $4)",
                                       p));
        }
      }
      return plan.changes;
    });
  }

  // ---- API keys
  Status CreateApiKey(const ApiKey& k) override {
    ASTIS_RETURN_IF_ERROR(ValidateApiKey(k));
    return Run("create api key", Mode::kTxn, [&](Conn& c) -> Status {
      ASTIS_RETURN_IF_ERROR(RequireOrgOn(c, k.org, OrgLock::kUse));
      Params p;
      p.Text(k.id).Bytes(k.hash).Text(k.cluster).Text(k.namespace_).Text(k.service_account);
      p.Int(k.created_at).Int(k.expires_at).Int(k.revoked_at).Text(k.org);
      auto r = c.Exec("create api key",
                      "INSERT INTO api_keys (id, hash, cluster, namespace, service_account, created_at, expires_at, "
                      "revoked_at, org) VALUES ($1, $2::bytea, $3, $4, $5, $6, $7, $8, $9)",
                      p);
      if (!r.ok() && c.sqlstate() == "23505") return Error(Code::kAlreadyExists, "store: api key id already exists");
      return r.status();
    });
  }

  Result<ApiKey> GetApiKey(std::string_view id) override {
    return Run("get api key", Mode::kRead, [&](Conn& c) -> Result<ApiKey> {
      Params p;
      p.Text(id);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("get api key", "SELECT " ASTIS_PG_APIKEY_SELECT " FROM api_keys WHERE id = $1", p));
      if (r.empty()) return NotFound("api key");
      return ReadApiKey(r, 0);
    });
  }

  Result<std::vector<ApiKey>> ListApiKeys(std::optional<std::string_view> org) override {
    return Run("list api keys", Mode::kRead, [&](Conn& c) -> Result<std::vector<ApiKey>> {
      Params p;
      p.Bool(org.has_value()).Text(org.value_or(""));
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("list api keys",
                                            "SELECT " ASTIS_PG_APIKEY_SELECT " FROM api_keys "
                                            "WHERE (NOT $1::boolean OR org = $2) ORDER BY id",
                                            p));
      return ReadAll<ApiKey>(r, ReadApiKey);
    });
  }

  Status RevokeApiKey(std::string_view id, int64_t now) override {
    if (now <= 0) return Invalid("revocation time");
    return Run("revoke api key", Mode::kWrite, [&](Conn& c) -> Status {
      Params p;
      p.Int(now).Text(id);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("revoke api key",
                                            "UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 "
                                            "ELSE revoked_at END WHERE id = $2",
                                            p));
      if (r.Affected() == 0) return NotFound("api key");
      return OkStatus();
    });
  }

  // ---- sessions
  Result<EnrollResult> EnrollSession(const Session& s, int64_t now) override {
    ASTIS_RETURN_IF_ERROR(ValidateSessionCandidate(s, now));
    return Run("enroll session", Mode::kTxn, [&](Conn& c) -> Result<EnrollResult> {
      // docs/protocol.md §4.1: one active pin per (org, cluster, Pod UID). READ
      // COMMITTED alone would let two callers both see "no active session"
      // and both insert, so the transaction first takes an advisory lock on
      // the pod (held to COMMIT); the read below then sees whatever the
      // previous holder committed (tests ConcurrentEnrollExactlyOneWins,
      // EnrollRaceAcrossReplicasExactlyOneWins). Organisation and cluster
      // names are DNS labels, so "org/cluster/pod_uid" is unambiguous.
      // Before that, the organisation must exist, its row held kUse to
      // COMMIT: a DeleteOrganization (even forced) either committed first and
      // this refuses, or waits for this and then deletes the session with the
      // rest (tests PostgresStoreTest.EnrollIntoMissingOrganizationRefused,
      // DeleteOrganizationRacingWritesLeavesNoOrphans). Lock order everywhere:
      // the orgs row, then the pod's advisory lock, then rows.
      ASTIS_RETURN_IF_ERROR(RequireOrgOn(c, s.org, OrgLock::kUse));
      Params lock;
      lock.Int(kLockPinClass).Text(s.org + "/" + s.cluster + "/" + s.pod_uid);
      ASTIS_RETURN_IF_ERROR(c.Exec("enroll session", "SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))", lock));
      Params q;
      q.Text(s.org).Text(s.cluster).Text(s.pod_uid).Int(now);
      ASTIS_ASSIGN_OR_RETURN(Rows active,
                             c.Exec("find active session",
                                    "SELECT " ASTIS_PG_SESSION_COLS " FROM sessions WHERE org = $1 AND cluster = $2 "
                                    "AND pod_uid = $3 AND NOT revoked AND expires_at > $4 "
                                    "ORDER BY created_at DESC, id LIMIT 1",
                                    q));
      if (!active.empty()) {
        ASTIS_ASSIGN_OR_RETURN(Session existing, ReadSession(active, 0));
        bool same_key = existing.jkt == s.jkt && existing.namespace_ == s.namespace_ &&
                        existing.service_account == s.service_account;
        if (!same_key) return EnrollResult{EnrollOutcome::kPinnedConflict, std::move(existing)};
        // The renewing holder is alive: it records the restarts it has
        // outlived (a sidecar's), so they cannot release its pin later.
        const int64_t restarts = std::max(existing.pod_restarts, s.pod_restarts);
        Params u;
        u.Int(s.expires_at).Text(s.recipient_jwk).Text(s.pod_name).Text(existing.id).Int(restarts);
        ASTIS_RETURN_IF_ERROR(c.Exec("extend session",
                                     "UPDATE sessions SET expires_at = $1, recipient_jwk = $2, pod_name = $3, "
                                     "pod_restarts = $5 WHERE id = $4",
                                     u));
        existing.expires_at = s.expires_at;
        existing.recipient_jwk = s.recipient_jwk;
        existing.pod_name = s.pod_name;
        existing.pod_restarts = restarts;
        return EnrollResult{EnrollOutcome::kExtended, std::move(existing)};
      }
      Params ins;
      ins.Text(s.id).Text(s.cluster).Text(s.namespace_).Text(s.service_account).Text(s.pod_name).Text(s.pod_uid);
      ins.Text(s.jkt).Text(s.recipient_jwk).Int(now).Int(s.expires_at).Int(s.pod_restarts).Text(s.org);
      auto r = c.Exec("create session",
                      "INSERT INTO sessions (" ASTIS_PG_SESSION_COLS ") "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false, $11, $12)",
                      ins);
      if (!r.ok() && c.sqlstate() == "23505") return Error(Code::kAlreadyExists, "store: session id already exists");
      ASTIS_RETURN_IF_ERROR(r);
      Session stored = s;
      stored.created_at = now;
      stored.revoked = false;
      return EnrollResult{EnrollOutcome::kCreated, std::move(stored)};
    });
  }

  Result<bool> ReleasePinIfRestarted(std::string_view org, std::string_view cluster, std::string_view pod_uid,
                                     std::string_view expected_session_id, int64_t observed_restarts,
                                     int64_t now) override {
    ASTIS_RETURN_IF_ERROR(ValidatePinRelease(org, cluster, pod_uid, expected_session_id, observed_restarts));
    return Run("release pin", Mode::kWrite, [&](Conn& c) -> Result<bool> {
      // docs/protocol.md §4.1 (pin release on restart): compare-and-swap in one
      // UPDATE; concurrent callers queue on the row lock and re-check the
      // WHERE on the winner's version (revoked), so at most one matches
      // (tests ConcurrentReleaseAfterRestartExactlyOneWins). The enrollment
      // that follows takes the pod's advisory lock as usual.
      Params p;
      p.Text(expected_session_id).Text(org).Text(cluster).Text(pod_uid).Int(now).Int(observed_restarts);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("release pin",
                                            "UPDATE sessions SET revoked = true WHERE id = $1 AND org = $2 "
                                            "AND cluster = $3 AND pod_uid = $4 AND NOT revoked AND expires_at > $5 "
                                            "AND pod_restarts < $6",
                                            p));
      return r.Affected() == 1;
    });
  }

  Result<Session> GetSession(std::string_view id) override {
    return Run("get session", Mode::kRead, [&](Conn& c) { return GetSessionOn(c, id); });
  }

  Result<Session> RotateSessionKey(std::string_view id, std::string_view expected_old_jkt, std::string_view new_jkt,
                                   std::string_view new_recipient_jwk, int64_t now) override {
    if (!IdOk(new_jkt)) return Invalid("new jkt");
    if (new_recipient_jwk.empty() || new_recipient_jwk.size() > kMaxTextLength) return Invalid("new recipient_jwk");
    return Run("rotate session key", Mode::kTxn, [&](Conn& c) -> Result<Session> {
      // docs/protocol.md §4.3: compare-and-swap on the pinned jkt in one UPDATE;
      // concurrent rotations queue on the row lock and re-check the WHERE on
      // the winner's version, so exactly one matches (tests
      // ConcurrentRotateExactlyOneWins, RotationCasAcrossReplicas).
      Params p;
      p.Text(new_jkt).Text(new_recipient_jwk).Text(id).Text(expected_old_jkt).Int(now);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("rotate session key",
                                            "UPDATE sessions SET jkt = $1, recipient_jwk = $2 WHERE id = $3 AND jkt = $4 "
                                            "AND NOT revoked AND expires_at > $5 RETURNING " ASTIS_PG_SESSION_COLS,
                                            p));
      if (!r.empty()) return ReadSession(r, 0);
      ASTIS_ASSIGN_OR_RETURN(Session session, GetSessionOn(c, id));
      if (!session.IsActive(now)) return NotFound("active session");
      return Error(Code::kFailedPrecondition, "store: session pin is not the expected key");
    });
  }

  Status EndSession(std::string_view id) override {
    return Run("end session", Mode::kWrite, [&](Conn& c) -> Status {
      Params p;
      p.Text(id);
      return c.Exec("end session", "UPDATE sessions SET revoked = true WHERE id = $1", p).status();
    });
  }

  Result<int64_t> RevokeSessionsForPod(const PodRef& pod) override {
    if (pod.pod_uid.empty() && pod.pod_name.empty()) return Invalid("pod reference (no name or uid)");
    return Run("revoke pod sessions", Mode::kWrite, [&](Conn& c) -> Result<int64_t> {
      Params p;
      p.Text(pod.cluster).Text(pod.namespace_).Text(pod.pod_uid).Text(pod.pod_name).Text(pod.org);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("revoke pod sessions",
                                            "UPDATE sessions SET revoked = true WHERE NOT revoked AND org = $5 "
                                            "AND cluster = $1 AND namespace = $2 "
                                            "AND (($3::text <> '' AND pod_uid = $3) OR ($3 = '' AND pod_name = $4))",
                                            p));
      return r.Affected();
    });
  }

  Result<std::vector<Session>> ListSessions(const SessionFilter& f) override {
    return Run("list sessions", Mode::kRead, [&](Conn& c) -> Result<std::vector<Session>> {
      Params p;
      // Unnamed statements are planned with their parameter values, so the
      // empty-filter terms fold away and sessions_by_pod_name (org,
      // cluster, namespace, pod_name) serves the pod watch's one-pod query
      // (test ListSessionsByPodName).
      p.Text(f.cluster).Text(f.namespace_).Text(f.pod_uid).Bool(f.active_at.has_value()).Int(f.active_at.value_or(0));
      p.Text(f.pod_name).Text(f.org);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("list sessions",
                                            "SELECT " ASTIS_PG_SESSION_COLS " FROM sessions "
                                            "WHERE ($7::text = '' OR org = $7) "
                                            "AND ($1::text = '' OR cluster = $1) "
                                            "AND ($2::text = '' OR namespace = $2) AND ($3::text = '' OR pod_uid = $3) "
                                            "AND ($6::text = '' OR pod_name = $6) "
                                            "AND (NOT $4::boolean OR (NOT revoked AND expires_at > $5)) ORDER BY id",
                                            p));
      return ReadAll<Session>(r, ReadSession);
    });
  }

  Result<int64_t> CountActiveSessions(int64_t now) override {
    return Run("count sessions", Mode::kRead, [&](Conn& c) -> Result<int64_t> {
      Params p;
      p.Int(now);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("count sessions",
                                            "SELECT COUNT(*) FROM sessions WHERE NOT revoked AND expires_at > $1", p));
      return r.Int(0, 0);
    });
  }

  // ---- DPoP replay set
  Result<bool> InsertJti(std::string_view jkt, std::string_view jti, int64_t expires_at, int64_t now) override {
    if (!IdOk(jkt)) return Invalid("jkt");
    if (jti.empty() || jti.size() > kMaxJtiLength) return Invalid("jti");
    if (expires_at <= now) return Invalid("jti expires_at (not after now)");
    return Run("insert jti", Mode::kWrite, [&](Conn& c) -> Result<bool> {
      // docs/protocol.md §5 / RFC 9449 §11.1: a (jkt, jti) pair seen within its
      // window is a replay. One statement on the primary key: a concurrent
      // inserter waits for the first to commit, then its ON CONFLICT branch
      // sees the unexpired row and changes nothing (tests JtiReplayRefused,
      // ConcurrentJtiExactlyOneInserted, JtiReplayAcrossReplicas). A row past
      // its expiry but not yet purged is re-armed (JtiAfterExpiryAccepted).
      Params p;
      p.Text(jkt).Text(jti).Int(expires_at).Int(now);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("insert jti",
                                            "INSERT INTO dpop_jti (jkt, jti, expires_at) VALUES ($1, $2, $3) "
                                            "ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at "
                                            "WHERE dpop_jti.expires_at <= $4",
                                            p));
      return r.Affected() == 1;
    });
  }

  // ---- nonce secret
  Result<SecretBytes> GetOrCreateNonceSecret(SecretBytes candidate, int64_t now) override {
    ASTIS_RETURN_IF_ERROR(ValidateNonceSecret(candidate));
    return Run("get or create nonce secret", Mode::kTxn, [&](Conn& c) -> Result<SecretBytes> {
      // First writer wins: a concurrent INSERT waits for the first to commit
      // and then does nothing; the SELECT (a fresh snapshot under READ
      // COMMITTED) reads the winner (test NonceSecretSharedAcrossStores).
      Params p;
      p.Secret(candidate).Int(now);
      ASTIS_RETURN_IF_ERROR(c.Exec("create nonce secret",
                                   "INSERT INTO nonce_secrets (slot, secret, created_at) VALUES ('current', $1::bytea, $2) "
                                   "ON CONFLICT (slot) DO NOTHING",
                                   p));
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("read nonce secret", "SELECT secret FROM nonce_secrets WHERE slot = 'current'",
                                            Params(), /*binary_result=*/true));
      if (r.empty()) return Error(Code::kStoreUnavailable, "store: read nonce secret: missing after insert");
      return r.Secret(0, 0);
    });
  }

  Result<NonceSecrets> GetNonceSecrets() override {
    return Run("read nonce secrets", Mode::kRead, [&](Conn& c) -> Result<NonceSecrets> {
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("read nonce secrets", "SELECT slot, secret FROM nonce_secrets", Params(),
                                            /*binary_result=*/true));
      std::optional<SecretBytes> current;
      NonceSecrets out;
      for (int i = 0; i < r.size(); ++i) {
        if (r.Text(i, 0) == "current") {
          current = r.Secret(i, 1);
        } else {
          out.previous = r.Secret(i, 1);
        }
      }
      if (!current.has_value()) return NotFound("nonce secret");
      out.current = std::move(*current);
      return out;
    });
  }

  Status RotateNonceSecret(SecretBytes next, int64_t now) override {
    ASTIS_RETURN_IF_ERROR(ValidateNonceSecret(next));
    return Run("rotate nonce secret", Mode::kTxn, [&](Conn& c) -> Status {
      // Serialise rotations: two interleaved ones would both try to move a
      // row into the 'previous' slot.
      Params lock;
      lock.Int(kLockClass).Int(kLockNonce);
      ASTIS_RETURN_IF_ERROR(c.Exec("rotate nonce secret", "SELECT pg_advisory_xact_lock($1::int4, $2::int4)", lock));
      ASTIS_RETURN_IF_ERROR(c.Exec("drop previous nonce secret", "DELETE FROM nonce_secrets WHERE slot = 'previous'"));
      ASTIS_RETURN_IF_ERROR(c.Exec("retire nonce secret",
                                   "UPDATE nonce_secrets SET slot = 'previous' WHERE slot = 'current'"));
      Params p;
      p.Secret(next).Int(now);
      return c.Exec("insert nonce secret",
                    "INSERT INTO nonce_secrets (slot, secret, created_at) VALUES ('current', $1::bytea, $2)", p)
          .status();
    });
  }

  // ---- rate limits
  Result<bool> ConsumeRate(std::string_view bucket_key, int64_t window_start, int64_t window_end,
                           int64_t limit) override {
    if (!IdOk(bucket_key)) return Invalid("rate bucket key");
    if (limit < 1) return Invalid("rate limit");
    if (window_end <= window_start) return Invalid("rate window");
    return Run("consume rate", Mode::kWrite, [&](Conn& c) -> Result<bool> {
      // One upsert: create the window's counter at 1, or increment it only
      // while below the limit; a row changed means allowed (tests
      // RateLimitWindow, ConcurrentRateLimitNeverExceeds).
      Params p;
      p.Text(bucket_key).Int(window_start).Int(window_end).Int(limit);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("consume rate",
                                            "INSERT INTO rate_windows (bucket, window_start, window_end, count) "
                                            "VALUES ($1, $2, $3, 1) ON CONFLICT (bucket, window_start) DO UPDATE "
                                            "SET count = rate_windows.count + 1 WHERE rate_windows.count < $4",
                                            p));
      return r.Affected() == 1;
    });
  }

  // ---- one request's writes
  Result<Admission> AdmitRequest(std::span<const RateCharge> charges, const JtiUse& jti, int64_t now) override {
    ASTIS_RETURN_IF_ERROR(ValidateAdmission(charges, jti, now));
    // One statement, so one round trip and one commit: each data-modifying
    // CTE is the upsert of ConsumeRate or InsertJti, and all of them run
    // (PostgreSQL executes every data-modifying WITH clause exactly once).
    // Charges name distinct buckets (ValidateAdmission), so no row is
    // touched twice in the statement. Tests AdmitRequest*,
    // ConcurrentAdmitNeverExceeds (on real PostgreSQL).
    std::string sql = "WITH ";
    Params p;
    int n = 0;
    auto arg = [&n]() { return "$" + std::to_string(++n); };
    for (size_t i = 0; i < charges.size(); ++i) {
      p.Text(charges[i].bucket_key).Int(charges[i].window_start).Int(charges[i].window_end).Int(charges[i].limit);
      const std::string b = arg(), ws = arg(), we = arg(), lim = arg();
      sql += "r" + std::to_string(i) + " AS (INSERT INTO rate_windows (bucket, window_start, window_end, count) VALUES (" +
             b + ", " + ws + ", " + we + ", 1) ON CONFLICT (bucket, window_start) DO UPDATE SET count = "
             "rate_windows.count + 1 WHERE rate_windows.count < " + lim + " RETURNING 1), ";
    }
    p.Text(jti.jkt).Text(jti.jti).Int(jti.expires_at).Int(now);
    {
      const std::string k = arg(), j = arg(), e = arg(), t = arg();
      sql += "j AS (INSERT INTO dpop_jti (jkt, jti, expires_at) VALUES (" + k + ", " + j + ", " + e +
             ") ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE dpop_jti.expires_at <= " +
             t + " RETURNING 1) SELECT ";
    }
    for (size_t i = 0; i < charges.size(); ++i) sql += "(SELECT COUNT(*) FROM r" + std::to_string(i) + "), ";
    sql += "(SELECT COUNT(*) FROM j)";
    return Run("admit request", Mode::kWrite, [&](Conn& c) -> Result<Admission> {
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("admit request", sql.c_str(), p));
      Admission out;
      for (size_t i = 0; i < charges.size(); ++i) {
        ASTIS_ASSIGN_OR_RETURN(int64_t counted, r.Int(0, static_cast<int>(i)));
        if (counted != 1) {
          out.outcome = Admission::Outcome::kRateLimited;
          out.limited = i;
          return out;
        }
      }
      ASTIS_ASSIGN_OR_RETURN(int64_t recorded, r.Int(0, static_cast<int>(charges.size())));
      if (recorded != 1) out.outcome = Admission::Outcome::kReplay;
      return out;
    });
  }

  // ---- config audit
  Result<int64_t> AppendConfigAudit(std::string_view org, std::string_view actor, std::string_view action,
                                    std::string_view detail_json, int64_t now) override {
    ASTIS_RETURN_IF_ERROR(internal::CheckConfigAudit(org, actor, action, detail_json));
    return Run("append config audit", Mode::kWrite, [&](Conn& c) -> Result<int64_t> {
      Params p;
      p.Int(now).Text(actor).Text(action).Text(detail_json).Text(org);
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("append config audit",
                                            "INSERT INTO config_audit (at, actor, action, detail_json, org) "
                                            "VALUES ($1, $2, $3, $4, $5) RETURNING seq",
                                            p));
      if (r.empty()) return Error(Code::kStoreUnavailable, "store: append config audit: no sequence number");
      return r.Int(0, 0);
    });
  }

  Result<std::vector<ConfigAuditEntry>> ListConfigAudit(std::optional<std::string_view> org, int64_t after_seq,
                                                        int64_t limit) override {
    if (limit < 1) return Invalid("audit list limit");
    return Run("list config audit", Mode::kRead, [&](Conn& c) -> Result<std::vector<ConfigAuditEntry>> {
      Params p;
      p.Int(after_seq).Int(limit).Bool(org.has_value()).Text(org.value_or(""));
      // With an org, answered from config_audit_by_org (org, seq).
      ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("list config audit",
                                            "SELECT seq, org, at, actor, action, detail_json FROM config_audit "
                                            "WHERE (NOT $3::boolean OR org = $4) AND seq > $1 ORDER BY seq LIMIT $2",
                                            p));
      std::vector<ConfigAuditEntry> out;
      for (int i = 0; i < r.size(); ++i) {
        ConfigAuditEntry e;
        ASTIS_ASSIGN_OR_RETURN(e.seq, r.Int(i, 0));
        e.org = r.Text(i, 1);
        ASTIS_ASSIGN_OR_RETURN(e.at, r.Int(i, 2));
        e.actor = r.Text(i, 3);
        e.action = r.Text(i, 4);
        e.detail_json = r.Text(i, 5);
        out.push_back(std::move(e));
      }
      return out;
    });
  }

  // ---- expiry
  Result<PurgeCounts> PurgeExpired(int64_t now, int64_t batch_limit) override {
    if (batch_limit < 1) return Invalid("purge batch limit");
    return Run("purge expired", Mode::kTxn, [&](Conn& c) -> Result<PurgeCounts> {
      // At most batch_limit rows per kind (test PurgeExpiredBounded,
      // PurgeBatchesBoundedOnPostgres). Rows are picked by ctid, and the
      // outer condition is re-checked on the row version DELETE finally
      // sees, so a session extended concurrently is not deleted.
      PurgeCounts counts;
      ASTIS_ASSIGN_OR_RETURN(counts.sessions,
                             DeleteBatch(c, "purge sessions",
                                         "DELETE FROM sessions WHERE ctid IN (SELECT ctid FROM sessions "
                                         "WHERE expires_at <= $1 LIMIT $2) AND expires_at <= $1",
                                         now, batch_limit));
      ASTIS_ASSIGN_OR_RETURN(counts.jtis,
                             DeleteBatch(c, "purge jti",
                                         "DELETE FROM dpop_jti WHERE ctid IN (SELECT ctid FROM dpop_jti "
                                         "WHERE expires_at <= $1 LIMIT $2) AND expires_at <= $1",
                                         now, batch_limit));
      ASTIS_ASSIGN_OR_RETURN(counts.rate_windows,
                             DeleteBatch(c, "purge rate windows",
                                         "DELETE FROM rate_windows WHERE ctid IN (SELECT ctid FROM rate_windows "
                                         "WHERE window_end <= $1 LIMIT $2) AND window_end <= $1",
                                         now, batch_limit));
      return counts;
    });
  }

 private:
  // Run executes fn on a pooled connection according to mode (see Mode),
  // rolling back a failed transaction, and returns the connection.
  template <typename F>
  auto Run(std::string_view op, Mode mode, F&& fn) -> decltype(fn(std::declval<Conn&>())) {
    for (int attempt = 0;; ++attempt) {
      ASTIS_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire(op));
      Conn& c = *lease.conn;
      // Repeating is safe only when nothing that could have applied was sent:
      // a read, or a BEGIN that failed (dead pooled connection, e.g. after a
      // server restart between the liveness check and the send).
      const bool may_repeat = lease.reused && attempt == 0;
      if (mode == Mode::kTxn) {
        auto begun = c.Exec(op, "BEGIN");
        if (!begun.ok()) {
          const bool broken = c.Broken();
          pool_.Release(std::move(lease.conn));
          if (broken && may_repeat) continue;
          return begun.status();
        }
      }
      auto result = fn(c);
      const bool ok = internal_status::IsOk(result);
      if (mode == Mode::kTxn) {
        if (!ok) {
          (void)c.Exec(op, "ROLLBACK");
        } else {
          auto committed = c.Exec(op, "COMMIT");
          if (!committed.ok()) {
            pool_.Release(std::move(lease.conn));
            return committed.status();
          }
        }
      }
      const bool broken = c.Broken();
      pool_.Release(std::move(lease.conn));
      if (!ok && broken && mode == Mode::kRead && may_repeat) continue;
      return result;
    }
  }

  // OrgLock is how a transaction holds its organisation's orgs row until
  // COMMIT; the PostgreSQL row-lock modes conflict as follows.
  //  - kUse (FOR KEY SHARE): enroll and API key creation, which only need
  //    the organisation to exist. Conflicts only with DeleteOrganization's
  //    FOR UPDATE, so an apply in progress does not stall the data path.
  //  - kConfig (FOR SHARE): an imperative cluster or workload write. Also
  //    conflicts with kApply, so none lands between an apply's plan and its
  //    writes; kConfig writes do not block one another (row locks order them).
  //  - kApply (FOR NO KEY UPDATE): ApplyOrgConfig. Conflicts with kConfig,
  //    kApply and FOR UPDATE, not with kUse.
  // DeleteOrganization's FOR UPDATE conflicts with all three, so whichever
  // commits first, the other sees its result (READ COMMITTED re-checks the
  // locked row: a deleted organisation is then no row).
  enum class OrgLock : uint8_t { kUse, kConfig, kApply };

  // LockOrgOn locks org's row in mode, inside the caller's transaction, and
  // says whether the organisation exists.
  static Result<bool> LockOrgOn(Conn& c, std::string_view org, OrgLock mode) {
    Params p;
    p.Text(org);
    const char* sql = mode == OrgLock::kUse      ? "SELECT 1 FROM orgs WHERE name = $1 FOR KEY SHARE"
                      : mode == OrgLock::kConfig ? "SELECT 1 FROM orgs WHERE name = $1 FOR SHARE"
                                                 : "SELECT 1 FROM orgs WHERE name = $1 FOR NO KEY UPDATE";
    ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("lock organization", sql, p));
    return !r.empty();
  }

  // RequireOrgOn is LockOrgOn, and kNotFound when org does not exist.
  static Status RequireOrgOn(Conn& c, std::string_view org, OrgLock mode) {
    ASTIS_ASSIGN_OR_RETURN(bool exists, LockOrgOn(c, org, mode));
    if (!exists) return NotFound("organization");
    return OkStatus();
  }

  static Result<Workload> GetWorkloadOn(Conn& c, std::string_view org, std::string_view cluster, std::string_view ns,
                                        std::string_view sa, bool for_update) {
    Params p;
    p.Text(org).Text(cluster).Text(ns).Text(sa);
    ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("get workload",
                                          for_update ? "SELECT " ASTIS_PG_WORKLOAD_COLS " FROM workloads WHERE org = $1 "
                                                       "AND cluster = $2 AND namespace = $3 AND service_account = $4 "
                                                       "FOR UPDATE"
                                                     : "SELECT " ASTIS_PG_WORKLOAD_COLS " FROM workloads WHERE org = $1 "
                                                       "AND cluster = $2 AND namespace = $3 AND service_account = $4",
                                          p));
    if (r.empty()) return NotFound("workload");
    return ReadWorkload(r, 0);
  }

  Result<Session> GetSessionOn(Conn& c, std::string_view id) {
    Params p;
    p.Text(id);
    ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec("get session", "SELECT " ASTIS_PG_SESSION_COLS " FROM sessions WHERE id = $1", p));
    if (r.empty()) return NotFound("session");
    return ReadSession(r, 0);
  }

  static Result<int64_t> DeleteBatch(Conn& c, std::string_view op, const char* sql, int64_t now, int64_t limit) {
    Params p;
    p.Int(now).Int(limit);
    ASTIS_ASSIGN_OR_RETURN(Rows r, c.Exec(op, sql, p));
    return r.Affected();
  }

  Pool pool_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const SecretBytes& conninfo, const PostgresOptions& options) {
  if (conninfo.empty()) return Error(Code::kInvalidArgument, "store: empty PostgreSQL conninfo");
  for (uint8_t b : conninfo.Reveal()) {
    if (b == 0) return Error(Code::kInvalidArgument, "store: PostgreSQL conninfo contains a NUL byte");
  }
  if (options.pool_size < 1 || options.pool_size > 256) return Error(Code::kInvalidArgument, "store: pool_size out of range");
  if (options.statement_timeout_ms < 1) return Error(Code::kInvalidArgument, "store: statement_timeout_ms must be positive");
  if (options.connect_timeout_s < 1) return Error(Code::kInvalidArgument, "store: connect_timeout_s must be positive");
  if (options.acquire_timeout_ms < 0) return Error(Code::kInvalidArgument, "store: negative acquire_timeout_ms");
  // Keep a NUL-terminated copy for PQconnectdbParams, inside SecretBytes.
  SecretBytes z(conninfo.size() + 1);
  std::copy(conninfo.Reveal().begin(), conninfo.Reveal().end(), z.RevealMutable().begin());
  auto store = std::make_unique<PostgresStore>(std::move(z), options);
  ASTIS_RETURN_IF_ERROR(store->Migrate());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace astis::store
