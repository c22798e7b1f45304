// PgServer: a throwaway PostgreSQL cluster for tests (no GoogleTest here).
//
// Start() runs initdb into a fresh temporary directory and starts the server
// with pg_ctl: fsync off, the Unix socket in that directory, TCP only on
// 127.0.0.1 at a free port (password auth with no password set, so nobody
// logs in over TCP), trust auth over the private socket for a generated
// superuser. When running as root (initdb refuses root) the server binaries
// run as the `postgres` system user and the directory is chowned to it.
// Stop()/Restart() keep the directory and port, so a test can cut the
// database off and bring it back. The destructor stops the server and
// removes the directory. Test support only; never linked by a server binary.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace astis::store::testing {

// PgServer owns one running (or stopped) throwaway cluster.
class PgServer {
 public:
  // Start makes and starts a cluster; the caller owns it. A reaper process
  // (its own session, so a kill of the test's process group spares it)
  // waits for the owning process to end: if the test process dies without
  // running ~PgServer (SIGKILL, a ctest timeout), the reaper stops the
  // server and removes its directory (test PostgresStoreTest.PgServerReaperCleansUpAfterOwnerIsKilled).
  // kFailedPrecondition when no /usr/lib/postgresql/<version>/bin/initdb
  // exists (or $ASTIS_PG_BINDIR lacks one) or, as root, there is no
  // `postgres` user (tests skip on it); kIo or kInternal when initdb or the
  // server fails (the message names the log file in the temp dir).
  static Result<std::unique_ptr<PgServer>> Start();

  // BinariesAvailable reports whether Start could find initdb and pg_ctl
  // (cheap: no process is started), so a suite can skip before starting.
  static bool BinariesAvailable();

  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // Stop shuts the server down (pg_ctl stop -m fast), keeping its data.
  // kInternal when pg_ctl fails.
  Status Stop();
  // Restart starts a stopped server again on the same port and directory.
  // kInternal when pg_ctl fails.
  Status Restart();

  // Dsn returns a libpq conninfo for dbname over the Unix socket.
  std::string Dsn(std::string_view dbname = "postgres") const;
  // CreateDatabase creates an empty database; name must match
  // [a-z_][a-z0-9_]* (kInvalidArgument otherwise, as it is spliced into SQL).
  // kUnavailable when the server refuses.
  Status CreateDatabase(std::string_view name);
  // ExecSql runs parameterless SQL in dbname (test setup only, e.g. to fake
  // a newer schema). kUnavailable when it fails.
  Status ExecSql(std::string_view dbname, const std::string& sql);

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  PgServer() = default;
  Status RunPgCtl(const std::string& action);
  void StartReaper();
  void StopReaper();

  std::string bindir_;
  std::string dir_;   // temp dir: data/, the socket, server.log
  std::string user_;  // database superuser
  int port_ = 0;
  bool running_ = false;
  int run_uid_ = -1;  // >= 0: run server binaries as this uid (we are root)
  int run_gid_ = -1;
  int reaper_fd_ = -1;  // write end of the pipe the reaper reads; closes when we die
  int reaper_pid_ = -1;
};

}  // namespace astis::store::testing
