#include "store/internal/schema.h"

#include "store/postgres_store.h"

namespace astis::store::internal {
namespace {

// The PostgreSQL schema. Identifier columns use the "C" collation so ORDER BY
// is byte order on every server, as in the SQLite backend (sqlite_schema.cc).
constexpr Migration kMigrations[] = {
    {1, "initial schema", R"sql(
CREATE TABLE clusters (
  name        TEXT COLLATE "C" PRIMARY KEY,
  issuer      TEXT NOT NULL,
  audience    TEXT NOT NULL,
  jwks_json   TEXT NOT NULL,
  api_url     TEXT NOT NULL,
  ca_file     TEXT NOT NULL,
  token_file  TEXT NOT NULL,
  mode        TEXT NOT NULL CHECK (mode IN ('strict', 'audit')),
  created_at  BIGINT NOT NULL
);
CREATE TABLE workloads (
  cluster          TEXT COLLATE "C" NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
  namespace        TEXT COLLATE "C" NOT NULL,
  service_account  TEXT COLLATE "C" NOT NULL,
  image_digests    TEXT NOT NULL,  -- space-separated sha256:<hex>, validated on write and read
  PRIMARY KEY (cluster, namespace, service_account)
);
CREATE TABLE api_keys (
  id               TEXT COLLATE "C" PRIMARY KEY,
  hash             BYTEA NOT NULL CHECK (octet_length(hash) = 32),
  cluster          TEXT NOT NULL,
  namespace        TEXT NOT NULL,
  service_account  TEXT NOT NULL,
  created_at       BIGINT NOT NULL,
  expires_at       BIGINT NOT NULL,  -- 0 = never
  revoked_at       BIGINT NOT NULL   -- 0 = not revoked
);
CREATE TABLE sessions (
  id               TEXT COLLATE "C" PRIMARY KEY,
  cluster          TEXT COLLATE "C" NOT NULL,
  namespace        TEXT COLLATE "C" NOT NULL,
  service_account  TEXT NOT NULL,
  pod_name         TEXT COLLATE "C" NOT NULL,
  pod_uid          TEXT COLLATE "C" NOT NULL,
  jkt              TEXT NOT NULL,
  recipient_jwk    TEXT NOT NULL,
  created_at       BIGINT NOT NULL,
  expires_at       BIGINT NOT NULL,
  revoked          BOOLEAN NOT NULL
);
CREATE INDEX sessions_by_pod_uid ON sessions (cluster, pod_uid);
CREATE INDEX sessions_by_pod_name ON sessions (cluster, namespace, pod_name);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE TABLE dpop_jti (
  jkt         TEXT COLLATE "C" NOT NULL,
  jti         TEXT COLLATE "C" NOT NULL,
  expires_at  BIGINT NOT NULL,
  PRIMARY KEY (jkt, jti)
);
CREATE INDEX dpop_jti_by_expiry ON dpop_jti (expires_at);
CREATE TABLE nonce_secrets (
  slot        TEXT PRIMARY KEY CHECK (slot IN ('current', 'previous')),
  secret      BYTEA NOT NULL,
  created_at  BIGINT NOT NULL
);
CREATE TABLE rate_windows (
  bucket        TEXT COLLATE "C" NOT NULL,
  window_start  BIGINT NOT NULL,
  window_end    BIGINT NOT NULL,
  count         BIGINT NOT NULL,
  PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_windows_by_end ON rate_windows (window_end);
CREATE TABLE config_audit (
  seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           BIGINT NOT NULL,
  actor        TEXT NOT NULL,
  action       TEXT NOT NULL,
  detail_json  TEXT NOT NULL
);
)sql"},
    // ListClustersByIssuer: find the cluster of a token's issuer without
    // reading every cluster (test ListClustersByIssuerUsesIndexOnPostgres).
    // A hash index, not a B-tree: an issuer may be up to kMaxTextLength
    // bytes, and a B-tree entry over ~2.7 kB (after compression) fails the
    // write with SQLSTATE 54000 (test ListClustersByIssuerOddIssuerIsEmpty);
    // a hash index keeps only a 4-byte hash. The few matches are sorted.
    {2, "index clusters by issuer", R"sql(
CREATE INDEX clusters_by_issuer ON clusters USING hash (issuer);
)sql"},
    // The pod's restart fingerprint when the pin was taken (Session::
    // pod_restarts, Store::ReleasePinIfRestarted); older rows read 0. A
    // constant default adds the column without rewriting the table
    // (test UpgradesSchemaV2InPlaceKeepsSessionsOnPostgres).
    {3, "session pod restarts", R"sql(
ALTER TABLE sessions ADD COLUMN pod_restarts BIGINT NOT NULL DEFAULT 0 CHECK (pod_restarts >= 0);
)sql"},
    // Organisations (docs/tenancy.md). Every object gains an org; what a
    // single-organisation database held becomes organisation "default",
    // with no change in behaviour (test
    // UpgradesSchemaV3InPlaceToDefaultOrgOnPostgres). A constant default
    // adds each org column without rewriting its table. clusters and
    // workloads change their keys in place: drop the foreign key, then both
    // primary keys (names as PostgreSQL gave them in step 1), and add them
    // back over the org column under the same names. The sessions indexes
    // lead with org, as every pod lookup names one. clusters_by_issuer stays
    // a hash index on issuer alone (a hash index has one column; its point
    // is to hold long issuers, see step 2): ListClustersByIssuer filters the
    // few matches by org. Organisation existence is checked by the store in
    // each write's transaction, locking the orgs row (RequireOrgOn), as on
    // SQLite (sqlite_schema.cc step 4); sessions and audit rows name an org
    // without referencing it.
    {4, "organisations", R"sql(
CREATE TABLE orgs (
  name             TEXT COLLATE "C" PRIMARY KEY,
  tier             TEXT NOT NULL CHECK (tier IN ('standard', 'hyok')),
  cvs_url          TEXT NOT NULL,
  cvs_ca_pem       TEXT NOT NULL,
  cvs_identity     TEXT NOT NULL,
  cvs_spki_sha256  TEXT NOT NULL,
  created_at       BIGINT NOT NULL
);
INSERT INTO orgs (name, tier, cvs_url, cvs_ca_pem, cvs_identity, cvs_spki_sha256, created_at)
  VALUES ('default', 'standard', '', '', '', '', COALESCE((SELECT MIN(created_at) FROM clusters), 0));
ALTER TABLE workloads DROP CONSTRAINT workloads_cluster_fkey;
ALTER TABLE workloads DROP CONSTRAINT workloads_pkey;
ALTER TABLE clusters DROP CONSTRAINT clusters_pkey;
ALTER TABLE clusters ADD COLUMN org TEXT COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE clusters ADD CONSTRAINT clusters_pkey PRIMARY KEY (org, name);
ALTER TABLE workloads ADD COLUMN org TEXT COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE workloads ADD CONSTRAINT workloads_pkey PRIMARY KEY (org, cluster, namespace, service_account);
ALTER TABLE workloads ADD CONSTRAINT workloads_cluster_fkey FOREIGN KEY (org, cluster)
  REFERENCES clusters (org, name) ON DELETE CASCADE;
ALTER TABLE api_keys ADD COLUMN org TEXT COLLATE "C" NOT NULL DEFAULT 'default';
CREATE INDEX api_keys_by_org ON api_keys (org, id);
ALTER TABLE sessions ADD COLUMN org TEXT COLLATE "C" NOT NULL DEFAULT 'default';
DROP INDEX sessions_by_pod_uid;
DROP INDEX sessions_by_pod_name;
CREATE INDEX sessions_by_pod_uid ON sessions (org, cluster, pod_uid);
CREATE INDEX sessions_by_pod_name ON sessions (org, cluster, namespace, pod_name);
ALTER TABLE config_audit ADD COLUMN org TEXT COLLATE "C" NOT NULL DEFAULT 'default';
CREATE INDEX config_audit_by_org ON config_audit (org, seq);
)sql"},
};

static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kPostgresSchemaVersion,
              "one migration per schema version");

}  // namespace

std::span<const Migration> PostgresMigrations() { return kMigrations; }

}  // namespace astis::store::internal
