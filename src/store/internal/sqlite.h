// RAII wrappers over the SQLite C API for the SQLite store backend. Nothing
// outside src/store includes this header.
//
// Connection owns one sqlite3* and a cache of prepared statements; it is NOT
// thread-safe (SqliteStore serialises access with a mutex). Statement is a
// scoped use of one cached sqlite3_stmt: it binds parameters, steps, reads
// columns, and resets and clears bindings when it goes out of scope.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace astis::store::internal {

// DbPtr and StmtPtr own a sqlite3* / sqlite3_stmt* (closed / finalized on release).
struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// SqliteError maps a SQLite result code to a Status: every code is
// kStoreUnavailable (busy beyond the timeout, I/O error, full disk, cannot
// open, corrupt, not a database, ...). The message is the operation name and
// SQLite's generic text for the code (sqlite3_errstr), never bound values.
Status SqliteError(int rc, std::string_view op);

// IsConstraint reports whether a SQLite result code is a constraint
// violation (primary key, unique, foreign key, check).
bool IsConstraint(int rc);

// Statement is a scoped use of one prepared statement. Bind* calls number
// parameters from 1 in call order; the first bind failure is reported by
// Step/Run. Text is copied into SQLite (SQLITE_TRANSIENT); secret blobs are
// bound without a copy and must outlive the Statement.
class Statement {
 public:
  Statement(sqlite3_stmt* stmt, std::string_view op) : stmt_(stmt), op_(op) {}
  Statement(Statement&& other) noexcept
      : stmt_(other.stmt_), op_(std::move(other.op_)), next_(other.next_), bind_rc_(other.bind_rc_),
        last_rc_(other.last_rc_) {
    other.stmt_ = nullptr;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Bind, BindBlob and BindSecret bind the next parameter.
  Statement& Bind(std::string_view text);
  Statement& Bind(int64_t value);
  Statement& BindBlob(std::span<const uint8_t> bytes);
  Statement& BindSecret(const SecretBytes& secret);

  // Step runs one step: true when a row is available, false when done.
  Result<bool> Step();
  // Run steps to completion, ignoring any rows.
  Status Run();

  // last_rc is the SQLite result code of the last Step (SQLITE_CONSTRAINT_*
  // lets a caller turn a key clash into kAlreadyExists).
  int last_rc() const { return last_rc_; }

  // Int, Text, Blob and Secret read column col of the current row.
  int64_t Int(int col) const;
  std::string Text(int col) const;
  std::vector<uint8_t> Blob(int col) const;
  SecretBytes Secret(int col) const;

 private:
  sqlite3_stmt* stmt_;
  std::string op_;  // operation name for error messages
  int next_ = 1;
  int bind_rc_ = SQLITE_OK;
  int last_rc_ = SQLITE_OK;
};

// Connection owns one database handle and its statement cache. Not
// thread-safe; callers serialise.
class Connection {
 public:
  // Open opens (creating with mode 0600 if absent) the database at path, or
  // a private in-memory database for ":memory:", and sets busy_timeout.
  // kStoreUnavailable when it cannot be opened. With create false a missing
  // file is kNotFound and nothing is created (no SQLITE_OPEN_CREATE).
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, int busy_timeout_ms, bool create = true);

  // Exec runs SQL text without parameters (pragmas, DDL, BEGIN/COMMIT).
  Status Exec(const char* sql, std::string_view op);
  // Prepare returns a Statement for sql (prepared once, then cached; sql
  // must be a string literal so its address is stable).
  Result<Statement> Prepare(const char* sql, std::string_view op);
  // Changes returns the rows changed by the last statement.
  int64_t Changes() const { return sqlite3_changes64(db_.get()); }
  // QueryText runs a one-row, one-column query (PRAGMA results).
  Result<std::string> QueryText(const char* sql, std::string_view op);

 private:
  explicit Connection(DbPtr db) : db_(std::move(db)) {}
  DbPtr db_;
  // Declared after db_ so the statements are finalized before the handle closes.
  std::unordered_map<const char*, StmtPtr> cache_;
};

}  // namespace astis::store::internal
