// PostgreSQL backend: the conformance suite against a throwaway server, plus
// PostgreSQL-specific tests (replicas, migrations, outage and recovery,
// timeouts, pool bound) and OpenStore. One PgServer per process, a fresh
// database per test; skipped loudly when PostgreSQL is not installed.
#include "store/postgres_store.h"

#include <libpq-fe.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/testing/temp_dir.h"
#include "store/internal/schema.h"
#include "store/open_store.h"
#include "store/store_conformance.h"
#include "store/testing/pg_server.h"

namespace astis::store::testing {
namespace {

constexpr int64_t kNow = 1'764'115'200;

// ---------------------------------------------------------------- shared server

std::once_flag g_once;
std::unique_ptr<PgServer> g_server;
std::string g_start_error;

// SharedServer starts the process's one server on first use; nullptr (and
// g_start_error) when it cannot.
PgServer* SharedServer() {
  std::call_once(g_once, [] {
    auto started = PgServer::Start();
    if (started.ok()) {
      g_server = std::move(started).value();
    } else {
      g_start_error = started.status().ToString();
    }
  });
  return g_server.get();
}

// Stops and removes the server after the last test.
class ServerCleanup : public ::testing::Environment {
 public:
  void TearDown() override { g_server.reset(); }
};
[[maybe_unused]] ::testing::Environment* const g_cleanup = ::testing::AddGlobalTestEnvironment(new ServerCleanup);

#define ASTIS_REQUIRE_PG(server)                                                             \
  PgServer* server = SharedServer();                                                         \
  if (server == nullptr) GTEST_SKIP() << "SKIPPING PostgreSQL test: " << g_start_error

// FreshDatabase creates an empty database on server and returns its DSN.
std::string FreshDatabase(PgServer& server) {
  static std::atomic<int> next{0};
  const std::string name = "t_" + std::to_string(next.fetch_add(1));
  Status st = server.CreateDatabase(name);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return server.Dsn(name);
}

SecretBytes Secret(const std::string& s) { return SecretBytes::CopyFrom(std::string_view(s)); }

Result<std::unique_ptr<Store>> Open(const std::string& dsn, PostgresOptions options = {}) {
  return OpenPostgresStore(Secret(dsn), options);
}

// OpenConcurrently opens n stores on dsn from n threads released at once, so
// their migrations race; a store that fails to open is nullptr, with its
// error recorded as a test failure.
std::vector<std::unique_ptr<Store>> OpenConcurrently(const std::string& dsn, int n) {
  std::vector<std::unique_ptr<Store>> opened(static_cast<size_t>(n));
  std::vector<Status> errors(static_cast<size_t>(n));
  std::latch start(n);
  std::vector<std::thread> workers;
  for (int t = 0; t < n; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      auto r = Open(dsn);
      if (r.ok()) {
        opened[static_cast<size_t>(t)] = std::move(r).value();
      } else {
        errors[static_cast<size_t>(t)] = r.status();
      }
    });
  }
  for (auto& w : workers) w.join();
  for (const Status& e : errors) EXPECT_TRUE(e.ok()) << e.ToString();
  return opened;
}

// QueryInt runs a one-value query over its own libpq connection (checks
// that the store's own API cannot make).
int64_t QueryInt(const std::string& dsn, const std::string& sql) {
  PGconn* c = PQconnectdb(dsn.c_str());
  int64_t v = -1;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) v = std::atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  PQfinish(c);
  return v;
}

// QueryText runs SQL (several statements allowed; the last one's rows count)
// over its own libpq connection and returns the first column of every row,
// one per line; empty when it fails.
std::string QueryText(const std::string& dsn, const std::string& sql) {
  PGconn* c = PQconnectdb(dsn.c_str());
  std::string out;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
      for (int i = 0; i < PQntuples(r); ++i) out += std::string(PQgetvalue(r, i, 0)) + "\n";
    }
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

// BuildSchemaAt makes the empty database db exactly what the binary of
// schema `version` left: steps 1..version of this binary's migrations (a
// released step is never edited, docs/store.md "Migrations"), recorded in
// schema_migrations as Migrate records them.
Status BuildSchemaAt(PgServer& server, const std::string& db, int version) {
  std::string sql =
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
      "applied_at TIMESTAMPTZ NOT NULL DEFAULT now());";
  for (const internal::Migration& m : internal::PostgresMigrations()) {
    if (m.version > version) break;
    sql += m.sql;
    sql += "INSERT INTO schema_migrations (version, name) VALUES (" + std::to_string(m.version) + ", '" + m.name +
           "');";
  }
  return server.ExecSql(db, sql);
}

// ---------------------------------------------------------------- conformance

class PostgresEnv final : public StoreTestEnv {
 public:
  PostgresEnv() {
    PgServer* server = SharedServer();
    if (server != nullptr) dsn_ = FreshDatabase(*server);
  }
  Result<std::unique_ptr<Store>> Open() override {
    if (dsn_.empty()) return Error(Code::kFailedPrecondition, "no PostgreSQL: " + g_start_error);
    return OpenPostgresStore(Secret(dsn_));
  }
  bool SharesState() const override { return true; }

 private:
  std::string dsn_;
};

std::vector<StoreBackend> PostgresBackends() {
  if (!PgServer::BinariesAvailable()) return {};  // PostgresAvailable.ServerStarts says why
  return {StoreBackend{"Postgres", [] { return std::unique_ptr<StoreTestEnv>(new PostgresEnv()); }}};
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformanceTest);
INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformanceTest, ::testing::ValuesIn(PostgresBackends()), StoreBackendName);

TEST(PostgresAvailable, ServerStarts) {
  ASTIS_REQUIRE_PG(server);
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(QueryInt(server->Dsn(), "SELECT 1"), 1);
}

// ---------------------------------------------------------------- migrations

// A test process killed without running ~PgServer (SIGKILL, a ctest
// timeout) must not leave PostgreSQL running or its directory behind: the
// reaper PgServer::Start leaves behind stops the server and removes it.
TEST(PostgresStoreTest, PgServerReaperCleansUpAfterOwnerIsKilled) {
  if (!PgServer::BinariesAvailable()) GTEST_SKIP() << "PostgreSQL server binaries not installed";
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    ::close(fds[0]);
    auto pg = PgServer::Start();
    const std::string line = (pg.ok() ? (*pg)->dir() : std::string()) + "\n";
    if (::write(fds[1], line.data(), line.size()) < 0) ::_exit(1);
    ::pause();  // until killed: ~PgServer never runs
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string dir;
  char c = 0;
  while (::read(fds[0], &c, 1) == 1 && c != '\n') dir.push_back(c);
  ::close(fds[0]);
  if (dir.empty()) {
    ::kill(owner, SIGKILL);
    ::waitpid(owner, nullptr, 0);
    GTEST_SKIP() << "PgServer::Start failed in the child (see PostgresAvailable.ServerStarts)";
  }
  std::ifstream pidfile(dir + "/data/postmaster.pid");
  pid_t postmaster = 0;
  pidfile >> postmaster;
  ASSERT_GT(postmaster, 0) << "no postmaster.pid in " << dir;
  ASSERT_EQ(::kill(postmaster, 0), 0) << "the server is not running";

  ASSERT_EQ(::kill(owner, SIGKILL), 0);
  ASSERT_EQ(::waitpid(owner, nullptr, 0), owner);
  // Polling with a deadline: the reaper works asynchronously by design.
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    gone = ::kill(postmaster, 0) != 0 && !std::filesystem::exists(dir);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(::kill(postmaster, 0), 0) << "PostgreSQL still running after its owner was killed";
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir << " left behind";
}

TEST(PostgresStoreTest, ConcurrentMigrationFromManyStores) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  constexpr int kThreads = 6;
  std::vector<std::unique_ptr<Store>> opened = OpenConcurrently(dsn, kThreads);
  for (const auto& store : opened) ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryInt(dsn, "SELECT COUNT(*) FROM schema_migrations"), kPostgresSchemaVersion);
  EXPECT_EQ(QueryInt(dsn, "SELECT MAX(version) FROM schema_migrations"), kPostgresSchemaVersion);
  // Reopening applies nothing again.
  ASSERT_TRUE(Open(dsn).ok());
  EXPECT_EQ(QueryInt(dsn, "SELECT COUNT(*) FROM schema_migrations"), kPostgresSchemaVersion);
}

TEST(PostgresStoreTest, RefusesNewerSchema) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  ASSERT_TRUE(Open(dsn).ok());
  const std::string db = dsn.substr(dsn.rfind('=') + 1);
  ASSERT_TRUE(server->ExecSql(db, "INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')").ok());
  auto reopened = Open(dsn);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(reopened.status().message().find("newer"), std::string::npos) << reopened.status().message();
}

// A database at schema version 1 (made by the released binary: step 1 is
// never edited, so this one's step 1 without step 2 is exactly that schema)
// is upgraded in place by replicas opening it at once, and keeps its rows.
TEST(PostgresStoreTest, UpgradesSchemaV1InPlace) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  const std::string db = dsn.substr(dsn.rfind('=') + 1);
  ASSERT_TRUE(BuildSchemaAt(*server, db, 1).ok());
  for (const char* name : {"prod", "east", "stage"}) {
    const std::string issuer =
        std::string(name) == "stage" ? "https://issuer.example/stage" : "https://issuer.example/shared";
    ASSERT_TRUE(server->ExecSql(db, "INSERT INTO clusters VALUES ('" + std::string(name) + "', '" + issuer +
                                        "', 'astis', '{\"keys\":[]}', '', '', '', 'strict', " +
                                        std::to_string(kNow) + ")")
                    .ok());
  }
  ASSERT_EQ(QueryInt(dsn, "SELECT MAX(version) FROM schema_migrations"), 1);
  ASSERT_EQ(QueryInt(dsn, "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'clusters_by_issuer'"), 0);

  constexpr int kReplicas = 4;
  std::vector<std::unique_ptr<Store>> opened = OpenConcurrently(dsn, kReplicas);
  for (const auto& store : opened) ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryText(dsn, "SELECT version || ' ' || name FROM schema_migrations ORDER BY version"),
            "1 initial schema\n2 index clusters by issuer\n3 session pod restarts\n4 organisations\n");
  EXPECT_EQ(QueryInt(dsn, "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'clusters' AND "
                          "indexname = 'clusters_by_issuer' AND indexdef LIKE '%USING hash (issuer)%'"),
            1);
  auto shared = opened[kReplicas - 1]->ListClustersByIssuer(kDefaultOrg, "https://issuer.example/shared");
  ASSERT_TRUE(shared.ok()) << shared.status().ToString();
  ASSERT_EQ(shared->size(), 2u);
  EXPECT_EQ((*shared)[0].name, "east");
  EXPECT_EQ((*shared)[1].name, "prod");
  auto stage = opened[0]->ListClustersByIssuer(kDefaultOrg, "https://issuer.example/stage");
  ASSERT_TRUE(stage.ok());
  ASSERT_EQ(stage->size(), 1u);
  EXPECT_EQ((*stage)[0].name, "stage");

  // A version beyond this binary's is still refused.
  ASSERT_TRUE(server->ExecSql(db, "INSERT INTO schema_migrations (version, name) VALUES (" +
                                      std::to_string(kPostgresSchemaVersion + 1) + ", 'next')")
                  .ok());
  auto newer = Open(dsn);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), Code::kFailedPrecondition);
}

// A database at schema version 2 with an active session gains
// sessions.pod_restarts = 0 in place; the old pin holds against a new key
// until a restart is seen (docs/store.md "Migrations").
TEST(PostgresStoreTest, UpgradesSchemaV2InPlaceKeepsSessionsOnPostgres) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  const std::string db = dsn.substr(dsn.rfind('=') + 1);
  ASSERT_TRUE(BuildSchemaAt(*server, db, 2).ok());
  ASSERT_TRUE(server->ExecSql(db, "INSERT INTO sessions VALUES ('s-old', 'prod', 'payments', 'api', 'api-0', 'uid-0', "
                                  "'jkt-old', '{}', " + std::to_string(kNow) + ", " + std::to_string(kNow + 900) +
                                  ", false)")
                  .ok());
  ASSERT_EQ(QueryInt(dsn, "SELECT MAX(version) FROM schema_migrations"), 2);
  auto opened = Open(dsn);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  ASSERT_NO_FATAL_FAILURE(ExpectUpgradedPinReleasesOnRestart(store, kNow + 1));
  EXPECT_EQ(QueryText(dsn, "SELECT id || ' ' || pod_restarts || ' ' || revoked FROM sessions ORDER BY id"),
            "s-new 1 false\ns-old 0 true\n");
  EXPECT_EQ(QueryInt(dsn, "SELECT MAX(version) FROM schema_migrations"), kPostgresSchemaVersion);
}

// A database at schema version 3, holding what the last single-organisation
// release wrote (the rows of testdata/stores/v3-single-org.sqlite: two
// clusters, one in audit mode, their workloads, a live, a revoked and a
// never-expiring API key, an active session, configuration audit rows), is
// upgraded in place by replicas opening it at once: everything lands in
// organisation "default" and behaves as before (docs/tenancy.md
// "Migration"; the SQLite counterpart is UpgradesSingleOrgReleaseStore).
TEST(PostgresStoreTest, UpgradesSchemaV3InPlaceToDefaultOrgOnPostgres) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  const std::string db = dsn.substr(dsn.rfind('=') + 1);
  ASSERT_TRUE(BuildSchemaAt(*server, db, 3).ok());
  const std::string t = std::to_string(kNow);
  const std::string digest_a = "sha256:" + std::string(64, 'a');
  const std::string digest_b = "sha256:" + std::string(64, 'b');
  const std::string digest_c = "sha256:" + std::string(64, 'c');
  ASSERT_TRUE(server->ExecSql(db,
      "INSERT INTO clusters (name, issuer, audience, jwks_json, api_url, ca_file, token_file, mode, created_at) "
      "VALUES ('demo', 'https://issuer.example/demo', 'astis', '{}', 'https://api.demo', '', '', 'strict', " + t +
      "), ('staging', 'https://oidc.staging.example', 'astis', '{}', '', '', '', 'audit', " + t + " + 9);"
      "INSERT INTO workloads (cluster, namespace, service_account, image_digests) VALUES "
      "('demo', 'payments', 'api', '" + digest_c + "'), "
      "('staging', 'payments', 'api', '" + digest_a + " " + digest_b + "');"
      "INSERT INTO api_keys (id, hash, cluster, namespace, service_account, created_at, expires_at, revoked_at) "
      "VALUES ('key-demo', decode(repeat('ab', 32), 'hex'), 'demo', 'payments', 'api', " + t + ", " + t +
      " + 86400, 0), ('key-staging', decode(repeat('cd', 32), 'hex'), 'staging', 'payments', 'api', " + t +
      " + 9, 0, " + t + " + 12), ('key-demo-2', decode(repeat('ef', 32), 'hex'), 'demo', 'payments', 'api', " +
      t + " + 17, 0, 0);"
      "INSERT INTO sessions (id, cluster, namespace, service_account, pod_name, pod_uid, jkt, recipient_jwk, "
      "created_at, expires_at, revoked, pod_restarts) VALUES ('s-old', 'demo', 'payments', 'api', 'api-0', "
      "'uid-0', 'jkt-old', '{}', " + t + ", " + t + " + 600, false, 1);"
      "INSERT INTO config_audit (at, actor, action, detail_json) VALUES (" + t + ", 'cli:root', 'cluster.add', "
      "'{}'), (" + t + ", 'cli:root', 'workload.add', '{}'), (" + t + ", 'cli:root', 'apikey.create', '{}'), (" +
      t + " + 12, 'cli:root', 'apikey.revoke', '{}')").ok());
  ASSERT_EQ(QueryInt(dsn, "SELECT MAX(version) FROM schema_migrations"), 3);

  constexpr int kReplicas = 3;
  std::vector<std::unique_ptr<Store>> opened = OpenConcurrently(dsn, kReplicas);
  for (const auto& store : opened) ASSERT_NE(store, nullptr);
  Store& store = *opened[0];
  EXPECT_EQ(QueryInt(dsn, "SELECT MAX(version) FROM schema_migrations"), kPostgresSchemaVersion);
  EXPECT_EQ(QueryText(dsn, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname IN "
                           "('clusters_pkey', 'workloads_pkey', 'workloads_cluster_fkey') ORDER BY conname"),
            "PRIMARY KEY (org, name)\n"
            "FOREIGN KEY (org, cluster) REFERENCES clusters(org, name) ON DELETE CASCADE\n"
            "PRIMARY KEY (org, cluster, namespace, service_account)\n");

  auto orgs = store.ListOrganizations();
  ASSERT_TRUE(orgs.ok()) << orgs.status().ToString();
  ASSERT_EQ(orgs->size(), 1u);
  EXPECT_EQ((*orgs)[0].name, kDefaultOrg);
  EXPECT_EQ((*orgs)[0].tier, "standard");
  EXPECT_EQ((*orgs)[0].created_at, kNow);  // the first cluster's
  EXPECT_TRUE((*orgs)[0].cvs_url.empty() && (*orgs)[0].cvs_ca_pem.empty() && (*orgs)[0].cvs_identity.empty());

  auto clusters = opened[1]->ListClusters(std::nullopt);
  ASSERT_TRUE(clusters.ok()) << clusters.status().ToString();
  ASSERT_EQ(clusters->size(), 2u);
  for (const Cluster& c : *clusters) EXPECT_EQ(c.org, kDefaultOrg) << c.name;
  auto staging = store.GetCluster(kDefaultOrg, "staging");
  ASSERT_TRUE(staging.ok()) << staging.status().ToString();
  EXPECT_EQ(staging->mode, "audit");
  EXPECT_EQ(staging->created_at, kNow + 9);
  auto by_issuer = store.ListClustersByIssuer(kDefaultOrg, "https://issuer.example/demo");
  ASSERT_TRUE(by_issuer.ok()) << by_issuer.status().ToString();
  ASSERT_EQ(by_issuer->size(), 1u);
  EXPECT_EQ((*by_issuer)[0].name, "demo");
  EXPECT_EQ((*by_issuer)[0].api_url, "https://api.demo");

  auto workload = store.GetWorkload(kDefaultOrg, "staging", "payments", "api");
  ASSERT_TRUE(workload.ok()) << workload.status().ToString();
  EXPECT_EQ(workload->org, kDefaultOrg);
  EXPECT_EQ(workload->image_digests, (std::vector<std::string>{digest_a, digest_b}));
  auto workloads = store.ListWorkloads(kDefaultOrg, std::nullopt);
  ASSERT_TRUE(workloads.ok()) << workloads.status().ToString();
  EXPECT_EQ(workloads->size(), 2u);

  auto keys = store.ListApiKeys(kDefaultOrg);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(keys->size(), 3u);
  for (const ApiKey& k : *keys) EXPECT_EQ(k.org, kDefaultOrg) << k.id;
  auto revoked = store.GetApiKey("key-staging");
  ASSERT_TRUE(revoked.ok()) << revoked.status().ToString();
  EXPECT_EQ(revoked->org, kDefaultOrg);
  EXPECT_EQ(revoked->revoked_at, kNow + 12);
  EXPECT_EQ(revoked->hash, std::vector<uint8_t>(32, 0xcd));

  SessionFilter one_pod;
  one_pod.org = std::string(kDefaultOrg);
  one_pod.cluster = "demo";
  one_pod.namespace_ = "payments";
  one_pod.pod_name = "api-0";
  auto sessions = store.ListSessions(one_pod);
  ASSERT_TRUE(sessions.ok()) << sessions.status().ToString();
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].id, "s-old");
  EXPECT_EQ((*sessions)[0].org, kDefaultOrg);
  EXPECT_EQ((*sessions)[0].pod_restarts, 1);

  auto audit = store.ListConfigAudit(kDefaultOrg, 0, 100);
  ASSERT_TRUE(audit.ok()) << audit.status().ToString();
  ASSERT_EQ(audit->size(), 4u);
  for (const ConfigAuditEntry& e : *audit) EXPECT_EQ(e.org, kDefaultOrg) << e.seq;
  EXPECT_EQ(audit->back().action, "apikey.revoke");
  auto all_audit = store.ListConfigAudit(std::nullopt, 0, 100);
  ASSERT_TRUE(all_audit.ok());
  EXPECT_EQ(all_audit->size(), 4u);

  // The pin taken before the upgrade still holds against another key.
  Session other;
  other.id = "s-other";
  other.cluster = "demo";
  other.namespace_ = "payments";
  other.service_account = "api";
  other.pod_name = "api-0";
  other.pod_uid = "uid-0";
  other.jkt = "jkt-other";
  other.recipient_jwk = "{}";
  other.expires_at = kNow + 900;
  auto pinned = opened[2]->EnrollSession(other, kNow + 1);
  ASSERT_TRUE(pinned.ok()) << pinned.status().ToString();
  EXPECT_EQ(pinned->outcome, EnrollOutcome::kPinnedConflict);
  EXPECT_EQ(pinned->session.id, "s-old");

  // The same names in a new organisation are new objects; "default" is untouched.
  Organization acme;
  acme.name = "acme";
  acme.created_at = kNow + 100;
  ASSERT_TRUE(store.PutOrganization(acme).ok());
  EXPECT_EQ(store.GetCluster("acme", "demo").status().code(), Code::kNotFound);
  Cluster acme_demo;
  acme_demo.org = "acme";
  acme_demo.name = "demo";
  acme_demo.issuer = "https://issuer.example/demo";
  acme_demo.jwks_json = "{}";
  ASSERT_TRUE(store.PutCluster(acme_demo).ok());
  auto default_demo = store.ListClustersByIssuer(kDefaultOrg, "https://issuer.example/demo");
  ASSERT_TRUE(default_demo.ok());
  ASSERT_EQ(default_demo->size(), 1u);
  EXPECT_EQ((*default_demo)[0].api_url, "https://api.demo");
}

// With 1,000 clusters and fresh statistics the planner answers the lookup
// from clusters_by_issuer, not by reading the table.
TEST(PostgresStoreTest, ListClustersByIssuerUsesIndexOnPostgres) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  const std::string db = dsn.substr(dsn.rfind('=') + 1);
  auto opened = Open(dsn);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ASSERT_TRUE(server->ExecSql(db,
                              "INSERT INTO clusters SELECT 'c' || i, 'https://issuer.example/' || i, 'astis', '{}', "
                              "'', '', '', 'strict', 0 FROM generate_series(1, 1000) AS i; ANALYZE clusters")
                  .ok());
  // The statement of PostgresStore::ListClustersByIssuer, as a generic plan.
  const std::string plan = QueryText(
      dsn,
      "SET plan_cache_mode = force_generic_plan; "
      "PREPARE q(text, text) AS SELECT name, issuer, audience, jwks_json, api_url, ca_file, token_file, mode, "
      "created_at, org FROM clusters WHERE org = $1 AND issuer = $2 ORDER BY name; "
      "EXPLAIN EXECUTE q('default', 'https://issuer.example/500')");
  EXPECT_NE(plan.find("clusters_by_issuer"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << plan;
  auto found = (*opened)->ListClustersByIssuer(kDefaultOrg, "https://issuer.example/500");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].name, "c500");
}

// ---------------------------------------------------------------- replicas

Session MakeSession(const std::string& id, const std::string& pod_uid, const std::string& jkt) {
  Session s;
  s.id = id;
  s.cluster = "prod";
  s.namespace_ = "payments";
  s.service_account = "api";
  s.pod_name = "api-" + pod_uid;
  s.pod_uid = pod_uid;
  s.jkt = jkt;
  s.recipient_jwk = R"({"kty":"OKP","crv":"X25519","x":"r"})";
  s.expires_at = kNow + 900;
  return s;
}

// Replicas opens n stores (separate pools) on one fresh database.
std::vector<std::unique_ptr<Store>> Replicas(PgServer& server, int n, PostgresOptions options = {}) {
  const std::string dsn = FreshDatabase(server);
  std::vector<std::unique_ptr<Store>> out;
  for (int i = 0; i < n; ++i) {
    auto r = Open(dsn, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) out.push_back(std::move(r).value());
  }
  return out;
}

TEST(PostgresStoreTest, EnrollRaceAcrossReplicasExactlyOneWins) {
  ASTIS_REQUIRE_PG(server);
  auto stores = Replicas(*server, 2);
  ASSERT_EQ(stores.size(), 2u);
  constexpr int kThreads = 8;
  for (int round = 0; round < 8; ++round) {
    std::atomic<int> created{0}, conflicts{0}, errors{0};
    std::latch start(kThreads);
    std::vector<std::thread> workers;
    const std::string uid = "uid-" + std::to_string(round);
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        Session s = MakeSession("s" + std::to_string(round) + "-" + std::to_string(t), uid, "jkt-" + std::to_string(t));
        start.arrive_and_wait();
        auto r = stores[static_cast<size_t>(t % 2)]->EnrollSession(s, kNow);
        if (!r.ok()) {
          ++errors;
        } else if (r->outcome == EnrollOutcome::kCreated) {
          ++created;
        } else if (r->outcome == EnrollOutcome::kPinnedConflict) {
          ++conflicts;
        }
      });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(created.load(), 1) << "round " << round;
    EXPECT_EQ(conflicts.load(), kThreads - 1);
  }
}

TEST(PostgresStoreTest, JtiReplayAcrossReplicas) {
  ASTIS_REQUIRE_PG(server);
  auto stores = Replicas(*server, 3);
  ASSERT_EQ(stores.size(), 3u);
  auto first = stores[0]->InsertJti("jkt-A", "jti-1", kNow + 60, kNow);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(*first);
  auto replay = stores[1]->InsertJti("jkt-A", "jti-1", kNow + 60, kNow + 1);
  ASSERT_TRUE(replay.ok());
  EXPECT_FALSE(*replay);
  constexpr int kThreads = 9;
  std::atomic<int> inserted{0}, replays{0}, errors{0};
  std::latch start(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      auto r = stores[static_cast<size_t>(t % 3)]->InsertJti("jkt-B", "jti-race", kNow + 60, kNow);
      if (!r.ok()) {
        ++errors;
      } else if (*r) {
        ++inserted;
      } else {
        ++replays;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(inserted.load(), 1);
  EXPECT_EQ(replays.load(), kThreads - 1);
}

TEST(PostgresStoreTest, RotationCasAcrossReplicas) {
  ASTIS_REQUIRE_PG(server);
  auto stores = Replicas(*server, 2);
  ASSERT_EQ(stores.size(), 2u);
  ASSERT_TRUE(stores[0]->EnrollSession(MakeSession("s1", "uid-1", "jkt-old"), kNow).ok());
  constexpr int kThreads = 6;
  std::atomic<int> won{0}, lost{0}, other{0};
  std::latch start(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      auto r = stores[static_cast<size_t>(t % 2)]->RotateSessionKey("s1", "jkt-old", "jkt-" + std::to_string(t),
                                                                    "{}", kNow + 1);
      if (r.ok()) {
        ++won;
      } else if (r.status().code() == Code::kFailedPrecondition) {
        ++lost;
      } else {
        ++other;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(lost.load(), kThreads - 1);
  EXPECT_EQ(other.load(), 0);
  auto got = stores[1]->GetSession("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_NE(got->jkt, "jkt-old");
}

// DeleteOrganization racing a write into that organisation on another
// replica: either the write lands first and the delete (without force) is
// refused, or the delete lands first and the write finds no organisation;
// never a cluster or key left in a deleted organisation. An enrollment
// races a forced delete (sessions do not hold an organisation back): either
// it finds no organisation, or it lands first and the delete removes its
// session; never a session left in a deleted organisation.
TEST(PostgresStoreTest, DeleteOrganizationRacingWritesLeavesNoOrphans) {
  ASTIS_REQUIRE_PG(server);
  auto stores = Replicas(*server, 2);
  ASSERT_EQ(stores.size(), 2u);
  int enrolls_refused = 0;
  for (int round = 0; round < 30; ++round) {
    Organization org;
    org.name = "org-" + std::to_string(round);
    org.created_at = kNow;
    ASSERT_TRUE(stores[0]->PutOrganization(org).ok());
    const bool enroll = round % 3 == 2;
    Status written, deleted;
    std::latch start(2);
    std::thread writer([&] {
      start.arrive_and_wait();
      if (round % 3 == 0) {
        Cluster c;
        c.org = org.name;
        c.name = "prod";
        c.issuer = "https://issuer.example/prod";
        c.jwks_json = "{}";
        written = stores[0]->PutCluster(c);
      } else if (round % 3 == 1) {
        ApiKey k;
        k.id = "key-" + std::to_string(round);
        k.hash.assign(32, 0x11);
        k.org = org.name;
        k.cluster = "prod";
        k.namespace_ = "payments";
        k.service_account = "api";
        written = stores[0]->CreateApiKey(k);
      } else {
        Session s = MakeSession("s-" + std::to_string(round), "uid-1", "jkt-A");
        s.org = org.name;
        written = stores[0]->EnrollSession(s, kNow).status();
      }
    });
    std::thread deleter([&] {
      start.arrive_and_wait();
      deleted = stores[1]->DeleteOrganization(org.name, /*force=*/enroll);
    });
    writer.join();
    deleter.join();
    if (!written.ok()) {
      EXPECT_EQ(written.code(), Code::kNotFound) << "round " << round << ": " << written.ToString();
      EXPECT_TRUE(deleted.ok()) << "round " << round << ": " << deleted.ToString();
      if (enroll) ++enrolls_refused;
    } else if (enroll) {
      EXPECT_TRUE(deleted.ok()) << "round " << round << ": " << deleted.ToString();
    } else {
      EXPECT_EQ(deleted.code(), Code::kFailedPrecondition) << "round " << round;
      EXPECT_TRUE(stores[1]->GetOrganization(org.name).ok()) << "round " << round;
    }
    auto clusters = stores[1]->ListClusters(org.name);
    auto keys = stores[1]->ListApiKeys(org.name);
    SessionFilter in_org;
    in_org.org = org.name;
    auto sessions = stores[1]->ListSessions(in_org);
    ASSERT_TRUE(clusters.ok() && keys.ok() && sessions.ok());
    EXPECT_EQ(clusters->size() + keys->size(), written.ok() && !enroll ? 1u : 0u) << "round " << round;
    EXPECT_TRUE(sessions->empty()) << "round " << round << ": a session outlived its organisation";
  }
  std::cout << "enrollments refused by a delete that committed first: " << enrolls_refused << " of 10\n";
}

// An enrollment into an organisation that does not exist (never created,
// or deleted) is refused inside the enroll transaction and stores nothing.
TEST(PostgresStoreTest, EnrollIntoMissingOrganizationRefused) {
  ASTIS_REQUIRE_PG(server);
  auto opened = Open(FreshDatabase(*server));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  Session s = MakeSession("s-nobody", "uid-1", "jkt-A");
  s.org = "nobody";
  auto refused = store.EnrollSession(s, kNow);
  EXPECT_EQ(refused.status().code(), Code::kNotFound);
  EXPECT_NE(refused.status().message().find("organization"), std::string::npos) << refused.status().message();

  Organization gone;
  gone.name = "gone";
  gone.created_at = kNow;
  ASSERT_TRUE(store.PutOrganization(gone).ok());
  s.id = "s-gone-1";
  s.org = "gone";
  ASSERT_TRUE(store.EnrollSession(s, kNow).ok());
  ASSERT_TRUE(store.DeleteOrganization("gone", /*force=*/true).ok());
  s.id = "s-gone-2";
  EXPECT_EQ(store.EnrollSession(s, kNow + 1).status().code(), Code::kNotFound);
  auto all = store.ListSessions(SessionFilter{});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty()) << all->size() << " session(s) left";
}

// DesiredState is replica t's declaration for ConcurrentApplyOrgConfigSerialises:
// a cluster "shared" (issuer naming t) with kSharedWorkloads workloads and a
// cluster own-t with one, every allowlist the digest of t. A mixture of two
// declarations shows as two own-* clusters or two digests.
constexpr int kSharedWorkloads = 4;
std::string DigestOf(int t) { return "sha256:" + std::string(64, "0123456789abcdef"[t]); }
std::string OwnCluster(int t) { return "own-" + std::to_string(t); }

OrgConfig DesiredState(int t) {
  OrgConfig d;
  for (const std::string& name : {std::string("shared"), OwnCluster(t)}) {
    Cluster c;
    c.name = name;
    c.issuer = "https://issuer.example/" + std::to_string(t);
    c.jwks_json = "{}";
    d.clusters.push_back(c);
  }
  for (int i = 0; i < kSharedWorkloads; ++i) {
    d.workloads.push_back(Workload{"shared", "ns-" + std::to_string(i), "api", {DigestOf(t)}});
  }
  d.workloads.push_back(Workload{OwnCluster(t), "ns-0", "api", {DigestOf(t)}});
  return d;
}

// ExpectedChanges is what applying DesiredState(t) with prune reports when
// it saw DesiredState(p) applied.
std::vector<std::string> ExpectedChanges(int t, int p) {
  std::vector<std::string> out = {"Cluster " + OwnCluster(p) + " deleted", "Cluster " + OwnCluster(t) + " created",
                                  "Cluster shared updated",
                                  "Workload " + OwnCluster(p) + "/ns-0/api deleted",
                                  "Workload " + OwnCluster(t) + "/ns-0/api created"};
  for (int i = 0; i < kSharedWorkloads; ++i) out.push_back("Workload shared/ns-" + std::to_string(i) + "/api updated");
  std::sort(out.begin(), out.end());
  return out;
}

// Several replicas apply different declarations of one organisation at
// once (with prune). The organisation row lock serialises them: the stored
// result is exactly one declaration, never a mixture, also as seen by a
// reader meanwhile; and each apply reports the changes from the state the
// previous one left, so the reports chain from the seed to the result.
TEST(PostgresStoreTest, ConcurrentApplyOrgConfigSerialises) {
  ASTIS_REQUIRE_PG(server);
  constexpr int kReplicas = 3;
  constexpr int kAppliers = 6;
  constexpr int kSeed = kAppliers;  // DesiredState(kSeed) is applied first
  auto stores = Replicas(*server, kReplicas);
  ASSERT_EQ(stores.size(), static_cast<size_t>(kReplicas));
  for (int round = 0; round < 5; ++round) {
    Organization org;
    org.name = "org-" + std::to_string(round);
    org.created_at = kNow;
    ASSERT_TRUE(stores[0]->PutOrganization(org).ok());
    ASSERT_TRUE(stores[0]->ApplyOrgConfig(org.name, DesiredState(kSeed), true, false, kNow).ok());

    std::vector<Result<std::vector<ApplyChange>>> reports(kAppliers, Error(Code::kInternal, "not run"));
    std::atomic<bool> done{false};
    std::atomic<int> reads{0}, mixtures{0};
    std::latch start(kAppliers + 1);
    std::vector<std::thread> workers;
    for (int t = 0; t < kAppliers; ++t) {
      workers.emplace_back([&, t] {
        const OrgConfig desired = DesiredState(t);
        start.arrive_and_wait();
        reports[static_cast<size_t>(t)] =
            stores[static_cast<size_t>(t % kReplicas)]->ApplyOrgConfig(org.name, desired, true, false, kNow + 1);
      });
    }
    // A reader on the last replica: every committed state it sees (one
    // statement, one snapshot) has a single digest and one own-* cluster.
    std::thread reader([&] {
      start.arrive_and_wait();
      while (!done.load()) {
        auto w = stores[kReplicas - 1]->ListWorkloads(org.name, std::nullopt);
        if (!w.ok()) continue;
        ++reads;
        std::set<std::string> digests, own;
        for (const Workload& x : *w) {
          digests.insert(x.image_digests.begin(), x.image_digests.end());
          if (x.cluster != "shared") own.insert(x.cluster);
        }
        if (digests.size() != 1 || own.size() != 1 || w->size() != kSharedWorkloads + 1) ++mixtures;
      }
    });
    for (auto& w : workers) w.join();
    done = true;
    reader.join();
    EXPECT_EQ(mixtures.load(), 0) << "round " << round << ": a reader saw a mixture (of " << reads.load() << ")";

    // Chain the reports: the apply that saw the seed, then the one that saw
    // its result, and so on; every apply appears once.
    std::map<int, int> next_of;  // predecessor -> the apply that saw its state
    for (int t = 0; t < kAppliers; ++t) {
      const auto& r = reports[static_cast<size_t>(t)];
      ASSERT_TRUE(r.ok()) << "round " << round << " apply " << t << ": " << r.status().ToString();
      std::vector<std::string> got;
      int seen = -1;
      for (const ApplyChange& c : *r) {
        got.push_back(c.kind + " " + c.name + " " + c.action);
        if (c.kind == "Cluster" && c.action == "deleted") seen = std::stoi(c.name.substr(4));
      }
      ASSERT_GE(seen, 0) << "round " << round << " apply " << t << " deleted no own-* cluster";
      EXPECT_EQ(got, ExpectedChanges(t, seen)) << "round " << round << " apply " << t;
      EXPECT_TRUE(next_of.emplace(seen, t).second)
          << "round " << round << ": two applies both saw the state of " << seen;
    }
    int last = kSeed;
    for (int steps = 0; steps < kAppliers; ++steps) {
      auto it = next_of.find(last);
      ASSERT_NE(it, next_of.end()) << "round " << round << ": no apply saw the state of " << last;
      last = it->second;
    }

    // The stored result is exactly the last apply's declaration.
    auto clusters = stores[1]->ListClusters(org.name);
    auto workloads = stores[2]->ListWorkloads(org.name, std::nullopt);
    ASSERT_TRUE(clusters.ok() && workloads.ok());
    std::vector<std::string> cluster_names;
    for (const Cluster& c : *clusters) {
      cluster_names.push_back(c.name);
      EXPECT_EQ(c.issuer, "https://issuer.example/" + std::to_string(last)) << c.name;
    }
    std::vector<std::string> want_clusters = {OwnCluster(last), "shared"};
    EXPECT_EQ(cluster_names, want_clusters) << "round " << round;
    ASSERT_EQ(workloads->size(), static_cast<size_t>(kSharedWorkloads + 1)) << "round " << round;
    for (const Workload& w : *workloads) {
      EXPECT_EQ(w.image_digests, std::vector<std::string>{DigestOf(last)}) << w.cluster << "/" << w.namespace_;
    }
  }
}

// An apply holds its organisation's row kApply from its start to COMMIT:
// while one is in progress (here held up on a workload row another session
// has locked), an enrollment and an API key of that organisation proceed,
// and a cluster write, a second apply and a delete of it wait.
TEST(PostgresStoreTest, EnrollProceedsWhileItsOrganizationIsApplied) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  auto applier = Open(dsn);
  PostgresOptions short_wait;
  short_wait.statement_timeout_ms = 500;
  auto other = Open(dsn, short_wait);
  ASSERT_TRUE(applier.ok() && other.ok());
  Organization org;
  org.name = "tenant-a";
  org.created_at = kNow;
  ASSERT_TRUE((*applier)->PutOrganization(org).ok());
  ASSERT_TRUE((*applier)->ApplyOrgConfig("tenant-a", DesiredState(0), true, false, kNow).ok());

  PGconn* holder = PQconnectdb(dsn.c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK);
  PGresult* r = PQexec(holder, "BEGIN; SELECT 1 FROM workloads WHERE org = 'tenant-a' AND cluster = 'shared' "
                               "AND namespace = 'ns-0' FOR UPDATE");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  Result<std::vector<ApplyChange>> applied = Error(Code::kInternal, "not run");
  std::thread apply([&] { applied = (*applier)->ApplyOrgConfig("tenant-a", DesiredState(1), true, false, kNow); });
  // Wait until the apply is blocked on the workload row, so it holds the
  // organisation's row.
  bool waiting = false;
  for (int i = 0; i < 200 && !waiting; ++i) {
    waiting = QueryInt(dsn, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock'") == 1;
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(waiting) << "the apply never waited on the held workload row";

  Session s = MakeSession("s-during-apply", "uid-1", "jkt-A");
  s.org = "tenant-a";
  auto enrolled = (*other)->EnrollSession(s, kNow);
  EXPECT_TRUE(enrolled.ok()) << enrolled.status().ToString();
  ApiKey k;
  k.id = "key-during-apply";
  k.hash.assign(32, 0x11);
  k.org = "tenant-a";
  k.cluster = "shared";
  k.namespace_ = "ns-0";
  k.service_account = "api";
  EXPECT_TRUE((*other)->CreateApiKey(k).ok());
  // These wait for the apply, past the 500 ms statement timeout (57014).
  Cluster c = DesiredState(0).clusters[0];
  c.org = "tenant-a";
  c.name = "imperative";
  auto is_timeout = [](const Status& st) {
    return st.code() == Code::kStoreUnavailable && st.message().find("57014") != std::string::npos;
  };
  EXPECT_PRED1(is_timeout, (*other)->PutCluster(c));
  EXPECT_PRED1(is_timeout, (*other)->PutWorkload(Workload{"shared", "ns-9", "api", {DigestOf(2)}, "tenant-a"}));
  EXPECT_PRED1(is_timeout, (*other)->ApplyOrgConfig("tenant-a", DesiredState(2), true, true, kNow).status());
  EXPECT_PRED1(is_timeout, (*other)->DeleteOrganization("tenant-a", true));

  PQfinish(holder);  // rolls back and releases the workload row
  apply.join();
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ(QueryInt(dsn, "SELECT COUNT(*) FROM sessions WHERE org = 'tenant-a'"), 1);
  EXPECT_EQ(QueryInt(dsn, "SELECT COUNT(*) FROM clusters WHERE org = 'tenant-a' AND name = 'imperative'"), 0);
}

// ---------------------------------------------------------------- failures

TEST(PostgresStoreTest, ServerRestartRecoversWithoutReopen) {
  if (!PgServer::BinariesAvailable()) GTEST_SKIP() << "SKIPPING: PostgreSQL server binaries not found";
  // A dedicated server: stopping the shared one would disturb other tests.
  auto own = PgServer::Start();
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  PgServer& server = **own;
  ASSERT_TRUE(server.CreateDatabase("restart").ok());
  auto opened = Open(server.Dsn("restart"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  Cluster c;
  c.name = "prod";
  c.issuer = "https://issuer";
  c.jwks_json = "{}";
  ASSERT_TRUE(store.PutCluster(c).ok());

  ASSERT_TRUE(server.Stop().ok());
  const std::string secret_jti = "jti-value-never-in-messages";
  auto get = store.GetCluster(kDefaultOrg, "prod");
  EXPECT_EQ(get.status().code(), Code::kStoreUnavailable);
  EXPECT_NE(get.status().message().find("get cluster"), std::string::npos) << get.status().message();
  auto jti = store.InsertJti("jkt-A", secret_jti, kNow + 60, kNow);
  EXPECT_EQ(jti.status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(jti.status().message().find(secret_jti), std::string::npos);
  EXPECT_EQ(store.EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(store.GetOrCreateNonceSecret(SecretBytes(32), kNow).status().code(), Code::kStoreUnavailable);

  ASSERT_TRUE(server.Restart().ok());
  auto again = store.GetCluster(kDefaultOrg, "prod");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->issuer, "https://issuer");
  auto inserted = store.InsertJti("jkt-A", secret_jti, kNow + 60, kNow);
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  EXPECT_TRUE(*inserted);

  // Restart while connections sit idle in the pool: the next calls still work.
  ASSERT_TRUE(server.Stop().ok());
  ASSERT_TRUE(server.Restart().ok());
  auto after_idle = store.GetCluster(kDefaultOrg, "prod");
  EXPECT_TRUE(after_idle.ok()) << after_idle.status().ToString();
  auto replay = store.InsertJti("jkt-A", secret_jti, kNow + 60, kNow + 1);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_FALSE(*replay);
}

TEST(PostgresStoreTest, UnreachableServerIsStoreUnavailable) {
  // Nothing listens on a port the kernel just handed out and released.
  PostgresOptions options;
  options.connect_timeout_s = 2;
  auto r = Open("host=127.0.0.1 port=1 user=nobody password=hunter2 dbname=x", options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos);
  EXPECT_EQ(OpenPostgresStore(SecretBytes()).status().code(), Code::kInvalidArgument);
  PostgresOptions bad;
  bad.pool_size = 0;
  EXPECT_EQ(Open("dbname=x", bad).status().code(), Code::kInvalidArgument);
}

TEST(PostgresStoreTest, StatementTimeoutIsStoreUnavailable) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  PostgresOptions options;
  options.statement_timeout_ms = 300;
  auto opened = Open(dsn, options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  // Another session holds the pod's enroll lock, so the enroll waits past
  // the statement timeout.
  PGconn* holder = PQconnectdb(dsn.c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK);
  PGresult* r = PQexec(holder, "SELECT pg_advisory_lock(1095980106, hashtext('default/prod/uid-1'))");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  auto enrolled = (*opened)->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow);
  EXPECT_EQ(enrolled.status().code(), Code::kStoreUnavailable);
  EXPECT_NE(enrolled.status().message().find("57014"), std::string::npos) << enrolled.status().message();
  PQfinish(holder);  // releases the lock
  auto retried = (*opened)->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->outcome, EnrollOutcome::kCreated);
}

TEST(PostgresStoreTest, RejectsTextThatCannotBeBound) {
  ASTIS_REQUIRE_PG(server);
  auto opened = Open(FreshDatabase(*server));
  ASSERT_TRUE(opened.ok());
  Store& store = **opened;
  // A NUL would truncate a libpq text parameter ("s1\0x" would read "s1").
  ASSERT_TRUE(store.EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).ok());
  EXPECT_EQ(store.GetSession(std::string("s1\0x", 4)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store.InsertJti("jkt-A", std::string("a\0b", 3), kNow + 1, kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store.InsertJti("jkt-A", "\xff\xfe", kNow + 1, kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store.InsertJti("jkt-A", "\xc0\xaf", kNow + 1, kNow).status().code(), Code::kInvalidArgument);  // overlong
  auto utf8 = store.InsertJti("jkt-A", "j\xc3\xa9t\xe2\x82\xac", kNow + 1, kNow);
  ASSERT_TRUE(utf8.ok()) << utf8.status().ToString();
  EXPECT_TRUE(*utf8);
}

// A workload row edited outside the store (a manual UPDATE, a restored
// backup) must not widen gate 4's allowlist: every read of it fails closed
// (internal::DecodeWorkload; StoreRowsTest.DecodeWorkloadRefusesBadStoredDigest).
TEST(PostgresStoreTest, StoredBadDigestIsStoreUnavailable) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  const std::string db = dsn.substr(dsn.rfind('=') + 1);
  auto opened = Open(dsn);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  Cluster c;
  c.name = "prod";
  c.issuer = "https://issuer.example/prod";
  c.jwks_json = R"({"keys":[]})";
  ASSERT_TRUE(store.PutCluster(c).ok());
  ASSERT_TRUE(store.PutWorkload(Workload{"prod", "payments", "api", {"sha256:" + std::string(64, 'a')}}).ok());
  ASSERT_TRUE(server->ExecSql(db, "UPDATE workloads SET image_digests = 'sha256:" + std::string(64, 'A') + "'").ok());
  EXPECT_EQ(store.GetWorkload(kDefaultOrg, "prod", "payments", "api").status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(store.ListWorkloads(std::nullopt, std::nullopt).status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(store.ListWorkloads(kDefaultOrg, "prod").status().code(), Code::kStoreUnavailable);
}

TEST(PostgresStoreTest, PurgeBatchesBoundedOnPostgres) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  auto opened = Open(dsn);
  ASSERT_TRUE(opened.ok());
  Store& store = **opened;
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(store.InsertJti("jkt", "j" + std::to_string(i), kNow + 5, kNow).ok());
  ASSERT_TRUE(store.InsertJti("jkt", "live", kNow + 100, kNow).ok());
  std::vector<int64_t> batches;
  while (true) {
    auto p = store.PurgeExpired(kNow + 5, 10);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    if (p->total() == 0) break;
    batches.push_back(p->jtis);
    ASSERT_LT(batches.size(), 10u);
  }
  EXPECT_EQ(batches, (std::vector<int64_t>{10, 10, 5}));
  EXPECT_EQ(QueryInt(dsn, "SELECT COUNT(*) FROM dpop_jti"), 1);
}

TEST(PostgresStoreTest, PoolNeverExceedsBound) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  PostgresOptions options;
  options.pool_size = 2;
  auto opened = Open(dsn, options);
  ASSERT_TRUE(opened.ok());
  Store& store = **opened;
  constexpr int kThreads = 8;
  std::atomic<int> errors{0};
  std::latch start(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < 10; ++i) {
        if (!store.InsertJti("jkt", std::to_string(t) + "-" + std::to_string(i), kNow + 60, kNow).ok()) ++errors;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(errors.load(), 0);
  const std::string db = dsn.substr(dsn.rfind('=') + 1);
  EXPECT_LE(QueryInt(dsn, "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'astis' AND datname = '" +
                              db + "'"),
            2);
  EXPECT_EQ(QueryInt(dsn, "SELECT COUNT(*) FROM dpop_jti"), kThreads * 10);
}

TEST(PostgresStoreTest, OpenStoreWithDsnFile) {
  ASTIS_REQUIRE_PG(server);
  const std::string dsn = FreshDatabase(*server);
  const std::string path = server->dir() + "/dsn";
  {
    std::ofstream out(path);
    out << dsn << "\n";
  }
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  StoreOptions options;
  options.backend = "postgres";
  options.postgres_dsn_file = path;
  options.pool_size = 2;
  auto opened = OpenStore(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto r = (*opened)->ConsumeRate("k", kNow, kNow + 60, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
}

// ---------------------------------------------------------------- OpenStore (no server)

using test::TempDir;

std::string WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path);
    out << text;
  }
  EXPECT_EQ(::chmod(path.c_str(), mode), 0);
  return path;
}

TEST(OpenStoreTest, UnknownBackendRefused) {
  StoreOptions options;
  options.backend = "mysql";
  EXPECT_EQ(OpenStore(options).status().code(), Code::kInvalidArgument);
  options.backend = "";
  EXPECT_EQ(OpenStore(options).status().code(), Code::kInvalidArgument);
}

TEST(OpenStoreTest, MissingFieldsRefused) {
  StoreOptions sqlite;
  sqlite.backend = "sqlite";
  EXPECT_EQ(OpenStore(sqlite).status().code(), Code::kInvalidArgument);
  StoreOptions pg;
  pg.backend = "postgres";
  EXPECT_EQ(OpenStore(pg).status().code(), Code::kInvalidArgument);
  TempDir dir;
  pg.postgres_dsn_file = WriteFile(dir.path() + "/dsn", "dbname=x", 0600);
  pg.pool_size = 0;
  EXPECT_EQ(OpenStore(pg).status().code(), Code::kInvalidArgument);
}

TEST(OpenStoreTest, DsnFileWithBadPermissionsRefused) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  StoreOptions options;
  options.backend = "postgres";
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    options.postgres_dsn_file = WriteFile(dir.path() + "/dsn", "password=hunter2 dbname=x", mode);
    // Group read is accepted only on a root-owned file (common/file_mode.h).
    if (::geteuid() == 0) {
      ASSERT_EQ(::chown(options.postgres_dsn_file.c_str(), 65534, 65534), 0);
    }
    auto r = OpenStore(options);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied) << std::oct << mode;
    EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos);
  }
  // A symlink is not followed, even to a 0600 file.
  const std::string target = WriteFile(dir.path() + "/real", "dbname=x", 0600);
  ASSERT_EQ(::symlink(target.c_str(), (dir.path() + "/link").c_str()), 0);
  options.postgres_dsn_file = dir.path() + "/link";
  EXPECT_FALSE(OpenStore(options).ok());
  options.postgres_dsn_file = dir.path() + "/missing";
  EXPECT_EQ(OpenStore(options).status().code(), Code::kIo);
  options.postgres_dsn_file = WriteFile(dir.path() + "/empty", " \n", 0600);
  EXPECT_EQ(OpenStore(options).status().code(), Code::kInvalidArgument);
}

TEST(OpenStoreTest, DsnFileTrimmedAndKeptSecret) {
  TempDir dir;
  auto dsn = ReadDsnFile(WriteFile(dir.path() + "/dsn", "  host=/x dbname=y password=p\n\n", 0600));
  ASSERT_TRUE(dsn.ok()) << dsn.status().ToString();
  EXPECT_TRUE(*dsn == SecretBytes::CopyFrom(std::string_view("host=/x dbname=y password=p")));
}

TEST(OpenStoreTest, OpensSqlite) {
  TempDir dir;
  StoreOptions options;
  options.backend = "sqlite";
  options.sqlite_path = dir.path() + "/state.db";
  auto opened = OpenStore(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto r = (*opened)->InsertJti("jkt", "jti", kNow + 1, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
}

}  // namespace
}  // namespace astis::store::testing
