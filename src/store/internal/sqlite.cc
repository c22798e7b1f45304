#include "store/internal/sqlite.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace astis::store::internal {

Status SqliteError(int rc, std::string_view op) {
  // Every SQLite failure is a backend failure to the caller: busy beyond the
  // timeout, I/O error, full disk, cannot open, corrupt or not a database.
  // sqlite3_errstr is SQLite's fixed text for the code, so no data leaks.
  return Error(Code::kStoreUnavailable,
               "store: " + std::string(op) + ": " + sqlite3_errstr(rc) + " (" + std::to_string(rc) + ")");
}

bool IsConstraint(int rc) { return (rc & 0xff) == SQLITE_CONSTRAINT; }

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement& Statement::Bind(std::string_view text) {
  int rc = sqlite3_bind_text64(stmt_, next_++, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::Bind(int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, next_++, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindBlob(std::span<const uint8_t> bytes) {
  // A zero-length blob must still be a blob, not NULL: pass a valid pointer.
  static const uint8_t kEmpty = 0;
  const void* data = bytes.empty() ? &kEmpty : bytes.data();
  int rc = sqlite3_bind_blob64(stmt_, next_++, data, bytes.size(), SQLITE_TRANSIENT);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindSecret(const SecretBytes& secret) {
  // SQLITE_STATIC: SQLite reads the caller's buffer in place, so no extra
  // unwiped copy is made here; the SecretBytes outlives this Statement.
  static const uint8_t kEmpty = 0;
  const void* data = secret.empty() ? &kEmpty : secret.Reveal().data();
  int rc = sqlite3_bind_blob64(stmt_, next_++, data, secret.size(), SQLITE_STATIC);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) return SqliteError(bind_rc_, op_);
  last_rc_ = sqlite3_step(stmt_);
  if (last_rc_ == SQLITE_ROW) return true;
  if (last_rc_ == SQLITE_DONE) return false;
  // The extended code tells constraint kinds apart; sqlite3_step returns it
  // because Connection::Open enables extended result codes.
  return SqliteError(last_rc_, op_);
}

Status Statement::Run() {
  while (true) {
    ASTIS_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return OkStatus();
  }
}

int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
}

std::vector<uint8_t> Statement::Blob(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::vector<uint8_t>() : std::vector<uint8_t>(p, p + n);
}

SecretBytes Statement::Secret(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr) return SecretBytes();
  return SecretBytes::CopyFrom(std::span<const uint8_t>(p, static_cast<size_t>(n)));
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, int busy_timeout_ms, bool create) {
  if (path != ":memory:") {
    // Create the file owner-only before SQLite does (it would use 0644): the
    // database holds the nonce secret and API key hashes. SQLite gives the
    // -wal and -shm files the same permissions as the database file.
    int fd = ::open(path.c_str(), O_RDWR | (create ? O_CREAT : 0) | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && !create && errno == ENOENT) {
      // Test: SqliteStoreTest.MustExistRefusesAMissingFile.
      return Error(Code::kNotFound, "store: no store at " + path +
                                        "; create it with `astis serve` or an `add` command");
    }
    if (fd < 0) return Error(Code::kStoreUnavailable, "store: open database file: " + std::string(std::strerror(errno)));
    ::close(fd);
  }
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);  // sqlite3_open_v2 may return a handle even on failure
  if (rc != SQLITE_OK) return SqliteError(rc, "open database");
  sqlite3_extended_result_codes(db.get(), 1);
  rc = sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  if (rc != SQLITE_OK) return SqliteError(rc, "set busy timeout");
  return std::unique_ptr<Connection>(new Connection(std::move(db)));
}

Status Connection::Exec(const char* sql, std::string_view op) {
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(rc, op);
  return OkStatus();
}

Result<Statement> Connection::Prepare(const char* sql, std::string_view op) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) return SqliteError(rc, op);
    it = cache_.emplace(sql, std::move(stmt)).first;
  }
  return Statement(it->second.get(), op);
}

Result<std::string> Connection::QueryText(const char* sql, std::string_view op) {
  ASTIS_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql, op));
  ASTIS_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Error(Code::kStoreUnavailable, "store: " + std::string(op) + ": no result");
  return stmt.Text(0);
}

}  // namespace astis::store::internal
