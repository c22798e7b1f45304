// The PostgreSQL backend of astis::store (docs/store.md: several edge
// replicas share one database). docs/store.md describes the schema and how
// each atomicity guarantee of store.h is achieved.
//
// Concurrency: one PostgresStore owns a bounded pool of libpq connections and
// is safe to share between threads; a call takes one connection for its
// duration (waiting up to PostgresOptions::acquire_timeout_ms for a free one).
// Any number of PostgresStore objects (replicas) may use one database.
// Recovery: a connection that fails is discarded (with the other idle ones,
// which share its fate after a server restart) and a fresh one is made on the
// next use, so a PostgreSQL restart needs no edge restart (test
// ServerRestartRecoversWithoutReopen).
// Errors: every backend failure is kStoreUnavailable naming the operation and
// the SQLSTATE only; the server's message text is never copied, because it
// can quote bound values.
#pragma once

#include <memory>

#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "store/store.h"

namespace astis::store {

// PostgresOptions tunes the PostgreSQL backend.
struct PostgresOptions {
  // pool_size is the most connections one store opens (1..256).
  int pool_size = 8;
  // statement_timeout_ms bounds every statement, including lock waits
  // (PostgreSQL statement_timeout); a statement past it is kStoreUnavailable.
  int statement_timeout_ms = 5000;
  // connect_timeout_s bounds connection establishment (libpq
  // connect_timeout) unless the conninfo sets its own.
  int connect_timeout_s = 5;
  // acquire_timeout_ms is how long a call waits for a free pooled
  // connection before failing with kStoreUnavailable.
  int acquire_timeout_ms = 5000;
};

// kPostgresSchemaVersion is the schema version this binary migrates to.
inline constexpr int kPostgresSchemaVersion = 4;

// OpenPostgresStore connects with `conninfo` (a libpq keyword/value string
// or postgresql:// URI; it may hold a password, so it is a SecretBytes, kept
// only to reconnect and never logged) and applies pending schema migrations
// in one transaction under a database-wide advisory lock, so replicas
// starting at once migrate exactly once (test ConcurrentOpenMigratesOnce).
// The caller owns the returned Store. kInvalidArgument for an empty conninfo
// or out-of-range options; kStoreUnavailable when the server cannot be
// reached or a migration fails (test UnreachableServerIsStoreUnavailable);
// kFailedPrecondition when the database's schema is newer than this binary
// knows (test RefusesNewerSchema).
Result<std::unique_ptr<Store>> OpenPostgresStore(const SecretBytes& conninfo, const PostgresOptions& options = {});

}  // namespace astis::store
