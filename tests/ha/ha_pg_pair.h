// PgPair: a throwaway PostgreSQL primary and a streaming-replication standby
// for the failover test (tests/ha/ha_failover_test.cc; docs/operations.md
// "PostgreSQL failover"). Test support only; never linked by a server.
//
// Start() runs initdb for the primary (TCP on 127.0.0.1 only, trust auth:
// loopback, a throwaway cluster), creates the database, takes the standby
// with `pg_basebackup -R` (standby.signal and primary_conninfo written for
// us) and starts it on its own port. The primary has
// synchronous_standby_names = '*' and synchronous_commit = on, so a commit
// returns only once the standby has it: what the primary acknowledged
// survives the primary. Start returns when the standby streams in sync.
// The standby's own synchronous_standby_names is empty, so once promoted it
// commits alone. As root, the server binaries run as the `postgres` user
// (initdb refuses root), as store/testing/pg_server.h does. A reaper stops
// both servers and removes the directory if the test process dies.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace astis::ha {

class PgPair {
 public:
  // Start builds and starts both servers. kFailedPrecondition when the
  // PostgreSQL server binaries are absent (callers skip); kInternal or kIo
  // (naming a log in dir()) when a step fails.
  static Result<std::unique_ptr<PgPair>> Start();
  ~PgPair();
  PgPair(const PgPair&) = delete;
  PgPair& operator=(const PgPair&) = delete;

  // Dsn is the multi-host conninfo the edges use: the primary first, the
  // standby second, target_session_attrs=read-write so libpq skips a server
  // that is (still) a read-only standby.
  std::string Dsn() const;
  // StopPrimary kills the primary as a crash would (pg_ctl stop -m immediate).
  Status StopPrimary();
  // PromoteStandby turns the standby into a primary (pg_ctl promote -w).
  Status PromoteStandby();

  int primary_port() const { return primary_port_; }
  int standby_port() const { return standby_port_; }
  const std::string& dir() const { return dir_; }

 private:
  PgPair() = default;
  Status Build();
  Status PgCtl(const std::string& data, const std::vector<std::string>& args);
  Status WaitForSyncStandby();
  void StartReaper();

  std::string bindir_, dir_;
  int primary_port_ = 0, standby_port_ = 0;
  bool primary_up_ = false, standby_up_ = false;
  int run_uid_ = -1, run_gid_ = -1;
  int reaper_fd_ = -1, reaper_pid_ = -1;
};

}  // namespace astis::ha
