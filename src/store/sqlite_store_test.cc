// SQLite backend: the conformance suite (in-memory and file-backed) plus
// the SQLite-specific failure and migration tests.
#include "store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/testing/temp_dir.h"
#include "store/open_store.h"
#include "store/store_conformance.h"

namespace astis::store::testing {
namespace {

using test::TempDir;

class SqliteMemoryEnv final : public StoreTestEnv {
 public:
  Result<std::unique_ptr<Store>> Open() override { return OpenSqliteStore(":memory:"); }
  bool SharesState() const override { return false; }
};

class SqliteFileEnv final : public StoreTestEnv {
 public:
  Result<std::unique_ptr<Store>> Open() override {
    if (dir_.path().empty()) return Error(Code::kIo, "test: mkdtemp failed");
    return OpenSqliteStore(dir_.path() + "/state.db");
  }
  bool SharesState() const override { return true; }

 private:
  TempDir dir_;
};

StoreBackend SqliteMemoryBackend() {
  return StoreBackend{"SqliteMemory", [] { return std::unique_ptr<StoreTestEnv>(new SqliteMemoryEnv()); }};
}
StoreBackend SqliteFileBackend() {
  return StoreBackend{"SqliteFile", [] { return std::unique_ptr<StoreTestEnv>(new SqliteFileEnv()); }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest, ::testing::Values(SqliteMemoryBackend(), SqliteFileBackend()),
                         StoreBackendName);

// ---------------------------------------------------------------- SQLite only

TEST(SqliteStoreTest, CorruptFileIsStoreUnavailable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(8192, 'Z');  // not an SQLite header
  }
  auto opened = OpenSqliteStore(path);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kStoreUnavailable);
}

TEST(SqliteStoreTest, CorruptedAfterUseIsStoreUnavailable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  {
    auto opened = OpenSqliteStore(path);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Cluster c;
    c.name = "prod";
    c.issuer = "https://issuer";
    c.jwks_json = "{}";
    ASSERT_TRUE((*opened)->PutCluster(c).ok());
  }
  // Overwrite the header page of a closed, checkpointed database.
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    ASSERT_TRUE(f.good());
    f.seekp(0);
    f << std::string(100, '\xff');
  }
  auto reopened = OpenSqliteStore(path);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Code::kStoreUnavailable);
}

TEST(SqliteStoreTest, UnopenablePathIsStoreUnavailable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // A directory where the database file should be.
  auto is_dir = OpenSqliteStore(dir.path());
  ASSERT_FALSE(is_dir.ok());
  EXPECT_EQ(is_dir.status().code(), Code::kStoreUnavailable);
  // A parent directory that does not exist.
  auto missing = OpenSqliteStore(dir.path() + "/no/such/dir/state.db");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kStoreUnavailable);
}

// A read-only command opens with must_exist: a typo in --store must not
// create a new, empty store.
TEST(SqliteStoreTest, MustExistRefusesAMissingFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/typo.db";
  SqliteOptions options;
  options.must_exist = true;
  auto opened = OpenSqliteStore(path, options);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kNotFound);
  EXPECT_NE(opened.status().message().find("no store at " + path), std::string::npos)
      << opened.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  // Created by a writer, the same store then opens with must_exist.
  ASSERT_TRUE(OpenSqliteStore(path).ok());
  auto again = OpenSqliteStore(path, options);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->ListClusters(std::nullopt).ok());
}

TEST(SqliteStoreTest, MustExistRefusesAForeignDatabase) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  SqliteOptions options;
  options.must_exist = true;
  // An empty file (e.g. `touch`ed) is not an ASTIS store and stays empty.
  const std::string empty = dir.path() + "/empty.db";
  { std::ofstream out(empty); }
  auto e = OpenSqliteStore(empty, options);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(std::filesystem::file_size(empty), 0u);
  // Another application's SQLite database is not migrated into one.
  const std::string other = dir.path() + "/other.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x INTEGER)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto o = OpenSqliteStore(other, options);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(o.status().message().find("not an ASTIS store"), std::string::npos);
}

// OpenStore (the edge's and the CLI's --config path) hands must_exist on.
TEST(SqliteStoreTest, OpenStoreMustExistRefusesAMissingFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  StoreOptions options;
  options.backend = "sqlite";
  options.sqlite_path = dir.path() + "/edge.db";
  options.must_exist = true;
  EXPECT_EQ(OpenStore(options).status().code(), Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(options.sqlite_path));
  options.must_exist = false;
  EXPECT_TRUE(OpenStore(options).ok());
  options.must_exist = true;
  EXPECT_TRUE(OpenStore(options).ok());
}

TEST(SqliteStoreTest, RejectsEmptyPath) {
  EXPECT_EQ(OpenSqliteStore("").status().code(), Code::kInvalidArgument);
}

TEST(SqliteStoreTest, DatabaseFileIsOwnerOnly) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  auto opened = OpenSqliteStore(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Runs raw SQL against a database file with the C API (test setup only).
void RawExec(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

TEST(SqliteStoreTest, RefusesNewerSchema) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  ASSERT_TRUE(OpenSqliteStore(path).ok());
  RawExec(path, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)");
  auto reopened = OpenSqliteStore(path);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Code::kFailedPrecondition);
}

TEST(SqliteStoreTest, MigrationRecordedOnce) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  ASSERT_TRUE(OpenSqliteStore(path).ok());
  ASSERT_TRUE(OpenSqliteStore(path).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(version) FROM schema_migrations", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), kSqliteSchemaVersion);
  EXPECT_EQ(sqlite3_column_int(stmt, 1), kSqliteSchemaVersion);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// RawQuery runs one query against a database file with the C API and
// returns its rows, columns joined by '|' (test checks only).
std::vector<std::string> RawQuery(const std::string& path, const char* sql) {
  std::vector<std::string> rows;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db) << ": " << sql;
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      if (i > 0) row += '|';
      const unsigned char* text = sqlite3_column_text(stmt, i);
      if (text != nullptr) row += reinterpret_cast<const char*>(text);
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

std::string Joined(const std::vector<std::string>& rows) {
  std::string out;
  for (const std::string& r : rows) out += r + "\n";
  return out;
}

// The schema as the released version-1 binary created it (step 1 of
// kMigrations and the schema_migrations table of MigrateLocked), frozen
// here: a database from before step 2 must keep opening.
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
CREATE TABLE clusters (
  name        TEXT PRIMARY KEY,
  issuer      TEXT NOT NULL,
  audience    TEXT NOT NULL,
  jwks_json   TEXT NOT NULL,
  api_url     TEXT NOT NULL,
  ca_file     TEXT NOT NULL,
  token_file  TEXT NOT NULL,
  mode        TEXT NOT NULL CHECK (mode IN ('strict', 'audit')),
  created_at  INTEGER NOT NULL
);
CREATE TABLE workloads (
  cluster          TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
  namespace        TEXT NOT NULL,
  service_account  TEXT NOT NULL,
  image_digests    TEXT NOT NULL,
  PRIMARY KEY (cluster, namespace, service_account)
);
CREATE TABLE api_keys (
  id               TEXT PRIMARY KEY,
  hash             BLOB NOT NULL CHECK (length(hash) = 32),
  cluster          TEXT NOT NULL,
  namespace        TEXT NOT NULL,
  service_account  TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  revoked_at       INTEGER NOT NULL
);
CREATE TABLE sessions (
  id               TEXT PRIMARY KEY,
  cluster          TEXT NOT NULL,
  namespace        TEXT NOT NULL,
  service_account  TEXT NOT NULL,
  pod_name         TEXT NOT NULL,
  pod_uid          TEXT NOT NULL,
  jkt              TEXT NOT NULL,
  recipient_jwk    TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  revoked          INTEGER NOT NULL CHECK (revoked IN (0, 1))
);
CREATE INDEX sessions_by_pod_uid ON sessions (cluster, pod_uid);
CREATE INDEX sessions_by_pod_name ON sessions (cluster, namespace, pod_name);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE TABLE dpop_jti (
  jkt         TEXT NOT NULL,
  jti         TEXT NOT NULL,
  expires_at  INTEGER NOT NULL,
  PRIMARY KEY (jkt, jti)
);
CREATE INDEX dpop_jti_by_expiry ON dpop_jti (expires_at);
CREATE TABLE nonce_secrets (
  slot        TEXT PRIMARY KEY CHECK (slot IN ('current', 'previous')),
  secret      BLOB NOT NULL,
  created_at  INTEGER NOT NULL
);
CREATE TABLE rate_windows (
  bucket        TEXT NOT NULL,
  window_start  INTEGER NOT NULL,
  window_end    INTEGER NOT NULL,
  count         INTEGER NOT NULL,
  PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_windows_by_end ON rate_windows (window_end);
CREATE TABLE config_audit (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  at           INTEGER NOT NULL,
  actor        TEXT NOT NULL,
  action       TEXT NOT NULL,
  detail_json  TEXT NOT NULL
);
INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'initial schema', 1764115200);
INSERT INTO clusters VALUES ('prod', 'https://issuer.example/shared', 'astis', '{"keys":[]}', 'https://api.prod:6443',
                             '/ca', '/token', 'strict', 1764115200);
INSERT INTO clusters VALUES ('east', 'https://issuer.example/shared', 'astis', '{"keys":[]}', 'https://api.east:6443',
                             '/ca', '/token', 'audit', 1764115200);
INSERT INTO clusters VALUES ('stage', 'https://issuer.example/stage', 'astis', '{"keys":[]}', 'https://api.stage:6443',
                             '/ca', '/token', 'strict', 1764115200);
INSERT INTO workloads VALUES ('prod', 'payments', 'api', '');
)sql";

TEST(SqliteStoreTest, UpgradesSchemaV1InPlace) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  RawExec(path, kSchemaV1);
  ASSERT_EQ(RawQuery(path, "SELECT MAX(version) FROM schema_migrations"), std::vector<std::string>{"1"});
  ASSERT_TRUE(RawQuery(path, "SELECT name FROM sqlite_master WHERE name = 'clusters_by_issuer'").empty());

  {
    auto opened = OpenSqliteStore(path);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Store& store = **opened;
    // The rows written by the old binary are found through the new index.
    auto shared = store.ListClustersByIssuer(kDefaultOrg, "https://issuer.example/shared");
    ASSERT_TRUE(shared.ok()) << shared.status().ToString();
    ASSERT_EQ(shared->size(), 2u);
    EXPECT_EQ((*shared)[0].name, "east");
    EXPECT_EQ((*shared)[0].mode, "audit");
    EXPECT_EQ((*shared)[1].name, "prod");
    EXPECT_EQ((*shared)[1].api_url, "https://api.prod:6443");
    auto stage = store.ListClustersByIssuer(kDefaultOrg, "https://issuer.example/stage");
    ASSERT_TRUE(stage.ok());
    ASSERT_EQ(stage->size(), 1u);
    EXPECT_EQ((*stage)[0].name, "stage");
    EXPECT_TRUE(store.GetWorkload(kDefaultOrg, "prod", "payments", "api").ok());
    // Writes after the upgrade keep the index current.
    Cluster moved = (*stage)[0];
    moved.issuer = "https://issuer.example/shared";
    ASSERT_TRUE(store.PutCluster(moved).ok());
    shared = store.ListClustersByIssuer(kDefaultOrg, "https://issuer.example/shared");
    ASSERT_TRUE(shared.ok());
    EXPECT_EQ(shared->size(), 3u);
  }

  // Steps 2 to 4 applied and recorded once, step 1 untouched.
  EXPECT_EQ(RawQuery(path, "SELECT version, name FROM schema_migrations ORDER BY version"),
            (std::vector<std::string>{"1|initial schema", "2|index clusters by issuer", "3|session pod restarts",
                                      "4|organisations"}));
  EXPECT_EQ(RawQuery(path, "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = 'clusters_by_issuer'"),
            std::vector<std::string>{"clusters"});
  ASSERT_TRUE(OpenSqliteStore(path).ok());
  EXPECT_EQ(RawQuery(path, "SELECT COUNT(*), MAX(version) FROM schema_migrations"),
            std::vector<std::string>{"4|" + std::to_string(kSqliteSchemaVersion)});

  // A version beyond this binary's is still refused, and nothing is changed.
  RawExec(path, ("INSERT INTO schema_migrations (version, name, applied_at) VALUES (" +
                 std::to_string(kSqliteSchemaVersion + 1) + ", 'next', 0)")
                    .c_str());
  auto newer = OpenSqliteStore(path);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), Code::kFailedPrecondition);
}

// A database at schema version 2 holding an active session (written by the
// binary before pin release on restart) gains sessions.pod_restarts = 0 in
// place: its pin still holds against a new key, and a restart seen after
// the upgrade releases it (docs/store.md "Migrations").
TEST(SqliteStoreTest, UpgradesSchemaV2InPlaceKeepsSessions) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  RawExec(path, kSchemaV1);
  RawExec(path,
          "CREATE INDEX clusters_by_issuer ON clusters (issuer, name); "
          "INSERT INTO schema_migrations (version, name, applied_at) VALUES (2, 'index clusters by issuer', 0); "
          "INSERT INTO sessions VALUES ('s-old', 'prod', 'payments', 'api', 'api-0', 'uid-0', 'jkt-old', '{}', "
          "1764115200, 1764116100, 0);");
  constexpr int64_t kAt = 1764115300;
  {
    auto opened = OpenSqliteStore(path);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Store& store = **opened;
    ASSERT_NO_FATAL_FAILURE(ExpectUpgradedPinReleasesOnRestart(store, kAt));
  }
  EXPECT_EQ(RawQuery(path, "SELECT version, name FROM schema_migrations WHERE version = 3"),
            std::vector<std::string>{"3|session pod restarts"});
  EXPECT_EQ(RawQuery(path, "SELECT id, pod_restarts, revoked FROM sessions ORDER BY id"),
            (std::vector<std::string>{"s-new|1|0", "s-old|0|1"}));
}

// A store written by the last single-organisation release (schema 3,
// testdata/stores/v3-single-org.sqlite: the demo's store plus an audit-mode
// cluster and API keys; SOURCES.md says how it was made) upgrades in place
// to one organisation "default" with no change in behaviour
// (docs/tenancy.md "Migration").
TEST(SqliteStoreTest, UpgradesSingleOrgReleaseStore) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  std::filesystem::copy_file(std::string(ASTIS_TESTDATA_DIR) + "/stores/v3-single-org.sqlite", path);
  ASSERT_EQ(RawQuery(path, "SELECT MAX(version) FROM schema_migrations"), std::vector<std::string>{"3"});
  const std::vector<std::string> clusters_before =
      RawQuery(path, "SELECT name, issuer, audience, jwks_json, api_url, mode, created_at FROM clusters ORDER BY name");
  const std::vector<std::string> keys_before =
      RawQuery(path, "SELECT id, hex(hash), cluster, namespace, service_account, created_at, expires_at, revoked_at "
                     "FROM api_keys ORDER BY id");
  ASSERT_EQ(clusters_before.size(), 2u);
  ASSERT_EQ(keys_before.size(), 3u);

  auto opened = OpenSqliteStore(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  auto orgs = store.ListOrganizations();
  ASSERT_TRUE(orgs.ok());
  ASSERT_EQ(orgs->size(), 1u);
  EXPECT_EQ((*orgs)[0].name, kDefaultOrg);
  EXPECT_EQ((*orgs)[0].tier, "standard");

  // Every row kept its values and is now in "default".
  EXPECT_EQ(RawQuery(path, "SELECT name, issuer, audience, jwks_json, api_url, mode, created_at FROM clusters "
                           "ORDER BY name"),
            clusters_before);
  EXPECT_EQ(RawQuery(path, "SELECT id, hex(hash), cluster, namespace, service_account, created_at, expires_at, "
                           "revoked_at FROM api_keys ORDER BY id"),
            keys_before);
  for (const char* table : {"clusters", "workloads", "api_keys", "sessions", "config_audit"}) {
    EXPECT_EQ(RawQuery(path, (std::string("SELECT DISTINCT org FROM ") + table).c_str()),
              std::vector<std::string>{"default"})
        << table;
  }

  // Lookups by name in "default" find what the old binary wrote.
  auto demo = store.GetCluster(kDefaultOrg, "demo");
  ASSERT_TRUE(demo.ok()) << demo.status().ToString();
  EXPECT_EQ(demo->mode, "strict");
  auto by_issuer = store.ListClustersByIssuer(kDefaultOrg, demo->issuer);
  ASSERT_TRUE(by_issuer.ok());
  ASSERT_EQ(by_issuer->size(), 1u);
  auto staging = store.GetCluster(kDefaultOrg, "staging");
  ASSERT_TRUE(staging.ok());
  EXPECT_EQ(staging->mode, "audit");
  auto workload = store.GetWorkload(kDefaultOrg, "demo", "payments", "api");
  ASSERT_TRUE(workload.ok());
  EXPECT_EQ(workload->image_digests,
            std::vector<std::string>{"sha256:87557e71cda942038de3d778b5bc690db2a2af67eacbc689fe5871550db58266"});
  auto staging_workload = store.GetWorkload(kDefaultOrg, "staging", "payments", "api");
  ASSERT_TRUE(staging_workload.ok());
  EXPECT_EQ(staging_workload->image_digests.size(), 2u);

  // The key whose secret is kept beside the fixture still matches its hash.
  std::ifstream key_file(std::string(ASTIS_TESTDATA_DIR) + "/stores/v3-single-org.api-key");
  std::string header;
  std::getline(key_file, header);
  ASSERT_EQ(header.rfind("astis_", 0), 0u);
  const std::string id = header.substr(6, 16);
  auto key = store.GetApiKey(id);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->org, kDefaultOrg);
  EXPECT_EQ(key->cluster, "demo");
  EXPECT_EQ(key->revoked_at, 0);
  auto revoked = store.GetApiKey("zg8ixubipch0mtyy");
  ASSERT_TRUE(revoked.ok());
  EXPECT_NE(revoked->revoked_at, 0);
  auto keys = store.ListApiKeys(kDefaultOrg);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->size(), 3u);

  // The old audit trail is the default organisation's, in order.
  auto trail = store.ListConfigAudit(kDefaultOrg, 0, 100);
  ASSERT_TRUE(trail.ok());
  ASSERT_EQ(trail->size(), 8u);
  EXPECT_EQ((*trail)[0].action, "cluster.add");
  EXPECT_EQ((*trail)[6].action, "apikey.revoke");

  // The demo's ended session, nonce secret and replay set are still there.
  auto sessions = store.ListSessions(SessionFilter{});
  ASSERT_TRUE(sessions.ok());
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].org, kDefaultOrg);
  EXPECT_TRUE((*sessions)[0].revoked);
  EXPECT_TRUE(store.GetNonceSecrets().ok());

  // Writes keep working: a new cluster and workload in "default", the
  // foreign key from workloads to clusters still cascades.
  Cluster added = *staging;
  added.name = "added";
  ASSERT_TRUE(store.PutCluster(added).ok());
  ASSERT_TRUE(store.PutWorkload(Workload{"added", "payments", "api", {}}).ok());
  ASSERT_TRUE(store.DeleteCluster(kDefaultOrg, "added").ok());
  EXPECT_EQ(store.GetWorkload(kDefaultOrg, "added", "payments", "api").status().code(), Code::kNotFound);
  EXPECT_EQ(RawQuery(path, "PRAGMA foreign_key_check"), std::vector<std::string>{});
  EXPECT_EQ(RawQuery(path, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
}

TEST(SqliteStoreTest, ListClustersByIssuerUsesIndex) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  ASSERT_TRUE(OpenSqliteStore(path).ok());
  // The statement of SqliteStore::ListClustersByIssuer, planned on a fresh
  // schema and again with 1,000 clusters and statistics: a SEARCH of
  // clusters_by_issuer that also yields name order, never a SCAN of clusters
  // (whose cost would grow with the number of clusters) nor a sort.
  const std::string explain =
      "EXPLAIN QUERY PLAN SELECT name, issuer, audience, jwks_json, api_url, ca_file, token_file, mode, created_at, "
      "org FROM clusters WHERE org = ? AND issuer = ? ORDER BY name";
  for (int round = 0; round < 2; ++round) {
    const std::string plan = Joined(RawQuery(path, explain.c_str()));
    EXPECT_NE(plan.find("SEARCH clusters USING INDEX clusters_by_issuer (org=? AND issuer=?)"), std::string::npos)
        << plan;
    EXPECT_EQ(plan.find("SCAN"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
    if (round > 0) break;
    RawExec(path,
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
            "INSERT INTO clusters SELECT 'default', 'c' || i, 'https://issuer.example/' || i, 'astis', '{}', '', '', "
            "'', 'strict', 0 FROM n; ANALYZE;");
  }
  auto opened = OpenSqliteStore(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto found = (*opened)->ListClustersByIssuer(kDefaultOrg, "https://issuer.example/500");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].name, "c500");
}

// A workload row edited outside the store (a manual UPDATE, a restored
// backup) must not widen gate 4's allowlist: every read of it fails closed
// (internal::DecodeWorkload; StoreRowsTest.DecodeWorkloadRefusesBadStoredDigest).
TEST(SqliteStoreTest, StoredBadDigestIsStoreUnavailable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  {
    auto opened = OpenSqliteStore(path);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Cluster c;
    c.name = "prod";
    c.issuer = "https://issuer.example/prod";
    c.jwks_json = R"({"keys":[]})";
    ASSERT_TRUE((*opened)->PutCluster(c).ok());
    ASSERT_TRUE((*opened)->PutWorkload(Workload{"prod", "payments", "api", {"sha256:" + std::string(64, 'a')}}).ok());
  }
  RawExec(path, ("UPDATE workloads SET image_digests = 'sha256:" + std::string(64, 'A') + "'").c_str());
  auto opened = OpenSqliteStore(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ((*opened)->GetWorkload(kDefaultOrg, "prod", "payments", "api").status().code(), Code::kStoreUnavailable);
  EXPECT_EQ((*opened)->ListWorkloads(std::nullopt, std::nullopt).status().code(), Code::kStoreUnavailable);
  EXPECT_EQ((*opened)->ListWorkloads(kDefaultOrg, "prod").status().code(), Code::kStoreUnavailable);
}

TEST(SqliteStoreTest, BusyBeyondTimeoutIsStoreUnavailable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/state.db";
  auto opened = OpenSqliteStore(path, SqliteOptions{.busy_timeout_ms = 20});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  // Another connection holds the write lock for the whole call.
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = (*opened)->InsertJti("jkt", "jti", 200, 100);
  EXPECT_EQ(r.status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(holder);
  // Recovery once the lock is released.
  auto again = (*opened)->InsertJti("jkt", "jti", 200, 100);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(*again);
}

}  // namespace
}  // namespace astis::store::testing
