// The embedded SQLite backend of astis::store (docs/store.md: one edge).
//
// Concurrency: one SqliteStore owns one SQLite connection guarded by a mutex,
// so calls from many threads are serialised within the process. Several
// SqliteStore objects (or processes) may open the same file: every write runs
// in a BEGIN IMMEDIATE transaction, which takes the database's write lock
// before reading, so each read-decide-write step (enroll, rotate, jti insert,
// rate count) is atomic across all of them. Writers wait up to
// busy_timeout_ms for the lock and then fail with kStoreUnavailable.
// Durability: WAL journal with synchronous=NORMAL (a committed transaction
// survives a process crash; a power loss may drop the last few commits,
// never corrupt the file). See docs/store.md.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace astis::store {

// SqliteOptions tunes the SQLite backend.
struct SqliteOptions {
  // busy_timeout_ms is how long a call waits for another connection's write
  // lock before failing with kStoreUnavailable.
  int busy_timeout_ms = 5000;
  // must_exist opens an existing ASTIS store only, for commands that only
  // read: a missing file is kNotFound and is not created (test
  // MustExistRefusesAMissingFile), a database without the ASTIS schema is
  // kFailedPrecondition and is left unchanged (test MustExistRefusesAForeignDatabase).
  bool must_exist = false;
};

// OpenSqliteStore opens (creating, mode 0600) the database at path, or a
// private in-memory database for ":memory:", enables WAL, foreign keys and
// secure_delete, and applies pending schema migrations in one transaction.
// The caller owns the returned Store. kStoreUnavailable when the file cannot
// be opened or read, is not a database, or is locked beyond the timeout (tests
// CorruptFileIsStoreUnavailable, UnopenablePathIsStoreUnavailable);
// kFailedPrecondition when the schema is newer than this binary knows (test
// RefusesNewerSchema).
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const SqliteOptions& options = {});

// kSqliteSchemaVersion is the schema version this binary migrates to.
inline constexpr int kSqliteSchemaVersion = 4;

}  // namespace astis::store
