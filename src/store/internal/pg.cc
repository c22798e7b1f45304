#include "store/internal/pg.h"

#include <charconv>
#include <chrono>

namespace astis::store::internal {
namespace {

void IgnoreNotice(void* /*arg*/, const char* /*message*/) {}  // notices may quote values: never printed

}  // namespace

bool IsValidUtf8Text(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

std::string DescribeSqlState(std::string_view state) {
  std::string d = state.empty() ? "connection lost" : "SQLSTATE " + std::string(state);
  if (state == "57014") return d + " (statement timeout or cancelled)";
  if (state == "57P01" || state == "57P02" || state == "57P03") return d + " (server shutting down or starting)";
  if (state.substr(0, 2) == "08") return d + " (connection failure)";
  if (state == "40001" || state == "40P01") return d + " (serialization failure or deadlock)";
  if (state.substr(0, 2) == "53") return d + " (server out of resources)";
  if (state.substr(0, 2) == "23") return d + " (constraint violation)";
  if (state.substr(0, 2) == "42") return d + " (schema or permission error)";
  return d;
}

// ---------------------------------------------------------------- Rows

Rows::~Rows() {
  if (r_ == nullptr) return;
  if (wipe_) {
    for (int i = 0; i < PQntuples(r_); ++i) {
      for (int j = 0; j < PQnfields(r_); ++j) {
        SecureWipe(PQgetvalue(r_, i, j), static_cast<size_t>(PQgetlength(r_, i, j)));
      }
    }
  }
  PQclear(r_);
}

int64_t Rows::Affected() const {
  std::string_view t = PQcmdTuples(r_);
  int64_t n = 0;
  std::from_chars(t.data(), t.data() + t.size(), n);
  return n;
}

Result<int64_t> Rows::Int(int row, int col) const {
  std::string_view t(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end != t.data() + t.size()) {
    return Error(Code::kStoreUnavailable, "store: " + op_ + ": malformed integer column");
  }
  return v;
}

SecretBytes Rows::Secret(int row, int col) const {
  return SecretBytes::CopyFrom(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(PQgetvalue(r_, row, col)),
                                                        static_cast<size_t>(PQgetlength(r_, row, col))));
}

// ---------------------------------------------------------------- Conn

Conn::Conn(PGconn* c) : c_(c) {
  if (c_ != nullptr) PQsetNoticeProcessor(c_, IgnoreNotice, nullptr);
}

Result<Rows> Conn::Exec(std::string_view op, const char* sql, const Params& p, bool binary_result) {
  sqlstate_.clear();
  if (!p.valid()) {
    return Error(Code::kInvalidArgument,
                 "store: invalid text value for " + std::string(op) + " (NUL byte or not UTF-8)");
  }
  PGresult* r = PQexecParams(c_, sql, p.count(), nullptr, p.values(), p.lengths(), p.formats(), binary_result ? 1 : 0);
  Rows rows(r, binary_result, std::string(op));
  ExecStatusType st = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return rows;
  return Fail(op, r);
}

Status Conn::ExecScript(std::string_view op, const char* sql) {
  sqlstate_.clear();
  PGresult* r = PQexec(c_, sql);
  Rows rows(r, false, std::string(op));
  if (r != nullptr && PQresultStatus(r) == PGRES_COMMAND_OK) return OkStatus();
  return Fail(op, r);
}

Status Conn::Fail(std::string_view op, const PGresult* r) {
  const char* state = r == nullptr ? nullptr : PQresultErrorField(r, PG_DIAG_SQLSTATE);
  sqlstate_ = state == nullptr ? "" : state;
  if (sqlstate_.empty() || sqlstate_.starts_with("08") || sqlstate_.starts_with("57P")) broken_ = true;
  return Error(Code::kStoreUnavailable, "store: " + std::string(op) + ": " + DescribeSqlState(sqlstate_));
}

// ---------------------------------------------------------------- Pool

Result<Pool::Lease> Pool::Acquire(std::string_view op) {
  std::unique_lock<std::mutex> lock(mu_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.acquire_timeout_ms);
  while (true) {
    while (!idle_.empty()) {
      std::unique_ptr<Conn> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->StillAlive()) return Lease{std::move(c), true};
      --open_;  // died while idle: discard (its peers are checked as they come up)
    }
    if (open_ < options_.pool_size) break;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.pool_size) {
      return Error(Code::kStoreUnavailable, "store: " + std::string(op) + ": no free database connection");
    }
  }
  ++open_;
  lock.unlock();
  Result<std::unique_ptr<Conn>> made = Connect(op);
  if (!made.ok()) {
    lock.lock();
    --open_;
    cv_.notify_one();
    return made.status();
  }
  return Lease{std::move(made).value(), false};
}

void Pool::Release(std::unique_ptr<Conn> c) {
  std::vector<std::unique_ptr<Conn>> doomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (c->Broken() || !c->Idle()) {
      doomed.push_back(std::move(c));
      --open_;
      if (doomed.back()->Broken()) {
        open_ -= static_cast<int>(idle_.size());
        for (auto& i : idle_) doomed.push_back(std::move(i));
        idle_.clear();
      }
    } else {
      idle_.push_back(std::move(c));
    }
  }
  cv_.notify_all();
  // doomed closes outside the lock.
}

Result<std::unique_ptr<Conn>> Pool::Connect(std::string_view op) {
  // Options first, the caller's conninfo (expanded from "dbname") after, so
  // the conninfo's own connect_timeout/application_name win.
  const std::string timeout = std::to_string(options_.connect_timeout_s);
  const char* keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding", nullptr};
  const char* values[] = {timeout.c_str(), "astis", reinterpret_cast<const char*>(conninfo_z_.Reveal().data()),
                          "UTF8", nullptr};
  auto c = std::make_unique<Conn>(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (c->Broken()) {
    // PQerrorMessage is not copied: it can echo host, user or option text.
    return Error(Code::kStoreUnavailable, "store: " + std::string(op) + ": cannot connect to PostgreSQL");
  }
  Params p;
  p.Text(std::to_string(options_.statement_timeout_ms));
  ASTIS_RETURN_IF_ERROR(c->Exec("set statement timeout", "SELECT set_config('statement_timeout', $1, false)", p));
  return c;
}

}  // namespace astis::store::internal
