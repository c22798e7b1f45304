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
};

static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kPostgresSchemaVersion,
              "one migration per schema version");

}  // namespace

std::span<const Migration> PostgresMigrations() { return kMigrations; }

}  // namespace astis::store::internal
