#include "store/internal/schema.h"

#include "store/sqlite_store.h"

namespace astis::store::internal {
namespace {

// The SQLite schema; the PostgreSQL one (pg_schema.cc) has the same tables.
constexpr Migration kMigrations[] = {
    {1, "initial schema", R"sql(
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
  image_digests    TEXT NOT NULL,  -- space-separated sha256:<hex>, validated
  PRIMARY KEY (cluster, namespace, service_account)
);
CREATE TABLE api_keys (
  id               TEXT PRIMARY KEY,
  hash             BLOB NOT NULL CHECK (length(hash) = 32),
  cluster          TEXT NOT NULL,
  namespace        TEXT NOT NULL,
  service_account  TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,  -- 0 = never
  revoked_at       INTEGER NOT NULL   -- 0 = not revoked
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
)sql"},
    // ListClustersByIssuer: find the cluster of a token's issuer without
    // reading every cluster. name is in the key so the index also gives the
    // ORDER BY (no temporary B-tree; test ListClustersByIssuerUsesIndex).
    {2, "index clusters by issuer", R"sql(
CREATE INDEX clusters_by_issuer ON clusters (issuer, name);
)sql"},
    // The pod's restart fingerprint when the pin was taken (Session::
    // pod_restarts, Store::ReleasePinIfRestarted). Rows of older binaries
    // read 0: any restart seen afterwards releases their pin, as it should
    // (test UpgradesSchemaV2InPlaceKeepsSessions).
    {3, "session pod restarts", R"sql(
ALTER TABLE sessions ADD COLUMN pod_restarts INTEGER NOT NULL DEFAULT 0 CHECK (pod_restarts >= 0);
)sql"},
    // Organisations (docs/tenancy.md). Every object gains an org; what a
    // single-organisation store held becomes organisation "default", with no
    // change in behaviour (test UpgradesSingleOrgReleaseStore, on a store
    // the previous release wrote: testdata/stores/v3-single-org.sqlite).
    // clusters and workloads change their primary keys, which SQLite can
    // only do by rebuilding the tables: new tables, copy, drop the old
    // child table before its parent (so the old ON DELETE CASCADE has
    // nothing left to delete), rename. The other tables gain a column.
    // Organisation existence is checked by the store in each write's
    // transaction (SQLite cannot add a REFERENCES column with a non-NULL
    // default).
    {4, "organisations", R"sql(
CREATE TABLE orgs (
  name             TEXT PRIMARY KEY,
  tier             TEXT NOT NULL CHECK (tier IN ('standard', 'hyok')),
  cvs_url          TEXT NOT NULL,
  cvs_ca_pem       TEXT NOT NULL,
  cvs_identity     TEXT NOT NULL,
  cvs_spki_sha256  TEXT NOT NULL,
  created_at       INTEGER NOT NULL
);
INSERT INTO orgs (name, tier, cvs_url, cvs_ca_pem, cvs_identity, cvs_spki_sha256, created_at)
  VALUES ('default', 'standard', '', '', '', '', COALESCE((SELECT MIN(created_at) FROM clusters), 0));
CREATE TABLE clusters_v4 (
  org         TEXT NOT NULL,
  name        TEXT NOT NULL,
  issuer      TEXT NOT NULL,
  audience    TEXT NOT NULL,
  jwks_json   TEXT NOT NULL,
  api_url     TEXT NOT NULL,
  ca_file     TEXT NOT NULL,
  token_file  TEXT NOT NULL,
  mode        TEXT NOT NULL CHECK (mode IN ('strict', 'audit')),
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (org, name)
);
INSERT INTO clusters_v4 SELECT 'default', name, issuer, audience, jwks_json, api_url, ca_file, token_file, mode,
  created_at FROM clusters;
CREATE TABLE workloads_v4 (
  org              TEXT NOT NULL,
  cluster          TEXT NOT NULL,
  namespace        TEXT NOT NULL,
  service_account  TEXT NOT NULL,
  image_digests    TEXT NOT NULL,  -- space-separated sha256:<hex>, validated
  PRIMARY KEY (org, cluster, namespace, service_account),
  FOREIGN KEY (org, cluster) REFERENCES clusters_v4 (org, name) ON DELETE CASCADE
);
INSERT INTO workloads_v4 SELECT 'default', cluster, namespace, service_account, image_digests FROM workloads;
DROP TABLE workloads;
DROP TABLE clusters;
ALTER TABLE clusters_v4 RENAME TO clusters;
ALTER TABLE workloads_v4 RENAME TO workloads;
CREATE INDEX clusters_by_issuer ON clusters (org, issuer, name);
ALTER TABLE api_keys ADD COLUMN org TEXT NOT NULL DEFAULT 'default';
CREATE INDEX api_keys_by_org ON api_keys (org, id);
ALTER TABLE sessions ADD COLUMN org TEXT NOT NULL DEFAULT 'default';
DROP INDEX sessions_by_pod_uid;
DROP INDEX sessions_by_pod_name;
CREATE INDEX sessions_by_pod_uid ON sessions (org, cluster, pod_uid);
CREATE INDEX sessions_by_pod_name ON sessions (org, cluster, namespace, pod_name);
ALTER TABLE config_audit ADD COLUMN org TEXT NOT NULL DEFAULT 'default';
CREATE INDEX config_audit_by_org ON config_audit (org, seq);
)sql"},
};

static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSqliteSchemaVersion,
              "one migration per schema version");

}  // namespace

std::span<const Migration> SqliteMigrations() { return kMigrations; }

}  // namespace astis::store::internal
