// RAII wrappers over libpq for the PostgreSQL store backend. Nothing outside
// src/store includes this header.
//
// Params binds statement parameters; Rows owns one PGresult; Conn is one
// libpq connection, used by one thread at a time; Pool is the bounded set of
// connections the threads of one PostgresStore share. Error messages name the
// operation and the SQLSTATE class, never the server's message text (which
// can quote bound values) nor the conninfo.
#pragma once

#include <libpq-fe.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "store/postgres_store.h"

namespace astis::store::internal {

// IsValidUtf8Text reports whether s is well-formed UTF-8 without NUL bytes:
// the only strings a PostgreSQL text parameter can carry unchanged (libpq
// text parameters end at NUL; the server refuses other encodings).
bool IsValidUtf8Text(std::string_view s);

// DescribeSqlState names an error class for operators; never the server's
// message text, which can quote bound values.
std::string DescribeSqlState(std::string_view state);

// Params holds bound parameters ($1, $2, ...). Text values are copied into
// stable storage; bytes are bound in binary format; a secret is bound by
// pointer to its SecretBytes (never copied here), which must outlive Exec.
class Params {
 public:
  Params& Text(std::string_view v) {
    if (!IsValidUtf8Text(v)) valid_ = false;
    owned_.emplace_back(v);
    return Push(owned_.back().c_str(), 0, 0);
  }
  Params& Int(int64_t v) {
    owned_.push_back(std::to_string(v));
    return Push(owned_.back().c_str(), 0, 0);
  }
  Params& Bool(bool v) { return Push(v ? "true" : "false", 0, 0); }
  Params& Bytes(std::span<const uint8_t> v) {
    owned_.emplace_back(reinterpret_cast<const char*>(v.data()), v.size());
    return Push(owned_.back().data(), static_cast<int>(v.size()), 1);
  }
  Params& Secret(const SecretBytes& s) {
    return Push(reinterpret_cast<const char*>(s.Reveal().data()), static_cast<int>(s.size()), 1);
  }

  bool valid() const { return valid_; }
  int count() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  Params& Push(const char* value, int length, int format) {
    values_.push_back(value);
    lengths_.push_back(length);
    formats_.push_back(format);
    return *this;
  }
  std::deque<std::string> owned_;  // deque: element addresses stay stable
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
  bool valid_ = true;
};

// Rows owns one PGresult. Rows made with wipe=true zero every value before
// the result is freed (the nonce secret passes through them).
class Rows {
 public:
  Rows(PGresult* r, bool wipe, std::string op) : r_(r), wipe_(wipe), op_(std::move(op)) {}
  Rows(Rows&& o) noexcept : r_(std::exchange(o.r_, nullptr)), wipe_(o.wipe_), op_(std::move(o.op_)) {}
  Rows& operator=(Rows&&) = delete;
  Rows(const Rows&) = delete;
  ~Rows();

  int size() const { return PQntuples(r_); }
  bool empty() const { return size() == 0; }
  // Affected is the row count of an INSERT/UPDATE/DELETE.
  int64_t Affected() const;
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  }
  // Int parses an integer column; kStoreUnavailable naming op when malformed.
  Result<int64_t> Int(int row, int col) const;
  bool Bool(int row, int col) const { return PQgetvalue(r_, row, col)[0] == 't'; }
  // Secret copies a binary-format column into a SecretBytes.
  SecretBytes Secret(int row, int col) const;

 private:
  PGresult* r_;
  bool wipe_;
  std::string op_;
};

// Conn is one libpq connection, used by one thread at a time.
class Conn {
 public:
  explicit Conn(PGconn* c);
  ~Conn() { PQfinish(c_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Exec runs one statement with bound parameters. Errors are
  // kStoreUnavailable naming op and the SQLSTATE (kept in sqlstate()), or
  // kInvalidArgument when a text parameter cannot be sent unchanged.
  Result<Rows> Exec(std::string_view op, const char* sql, const Params& p = Params(), bool binary_result = false);

  // ExecScript runs parameterless SQL that may hold several statements (a
  // compiled-in migration step only; never caller input). Errors as Exec.
  Status ExecScript(std::string_view op, const char* sql);

  const std::string& sqlstate() const { return sqlstate_; }
  // Broken reports whether the connection must be discarded.
  bool Broken() const { return broken_ || PQstatus(c_) != CONNECTION_OK; }
  // Idle reports whether no transaction is open (safe to pool).
  bool Idle() const { return PQtransactionStatus(c_) == PQTRANS_IDLE; }
  // StillAlive reads whatever the server sent while the connection sat idle
  // (without blocking: libpq sockets are non-blocking) and reports whether it
  // is still usable; a server restart shows up here as end of file.
  bool StillAlive() { return PQconsumeInput(c_) == 1 && PQstatus(c_) == CONNECTION_OK && !broken_; }

 private:
  // Fail records the SQLSTATE of a failed result r (may be null), marks the
  // connection broken when the failure was the connection's, and returns
  // the kStoreUnavailable error for op.
  Status Fail(std::string_view op, const PGresult* r);

  PGconn* c_;
  std::string sqlstate_;
  bool broken_ = false;
};

// Pool is a bounded set of connections shared by the threads of one store.
class Pool {
 public:
  // conninfo_z is the conninfo with a trailing NUL byte.
  Pool(SecretBytes conninfo_z, const PostgresOptions& options)
      : conninfo_z_(std::move(conninfo_z)), options_(options) {}
  ~Pool() = default;  // idle_ closes its connections; leases must be back

  // Lease is one connection lent to one call; reused says whether it came
  // from the idle set (so it may have died while idle).
  struct Lease {
    std::unique_ptr<Conn> conn;
    bool reused = false;
  };

  // Acquire lends an idle live connection or opens a new one when below the
  // bound; kStoreUnavailable after acquire_timeout_ms or when connecting fails.
  Result<Lease> Acquire(std::string_view op);

  // Release returns a connection: pooled when healthy and idle, otherwise
  // closed, and a broken one also closes every idle peer (after a server
  // restart they are all dead; the next call connects afresh).
  void Release(std::unique_ptr<Conn> c);

 private:
  Result<std::unique_ptr<Conn>> Connect(std::string_view op);

  SecretBytes conninfo_z_;
  PostgresOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int open_ = 0;  // lent + idle
};

}  // namespace astis::store::internal
