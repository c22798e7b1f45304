// PgPair (ha_pg_pair.h).
#include "ha_pg_pair.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/testing/temp_dir.h"

namespace astis::ha {
namespace {

namespace fs = std::filesystem;

constexpr char kUser[] = "astis_test";

// FindBinDir: $ASTIS_PG_BINDIR, else the newest /usr/lib/postgresql/<major>/bin
// with initdb, pg_ctl and pg_basebackup; "" when there is none.
std::string FindBinDir() {
  auto complete = [](const fs::path& bin) {
    std::error_code ec;
    return fs::exists(bin / "initdb", ec) && fs::exists(bin / "pg_ctl", ec) && fs::exists(bin / "pg_basebackup", ec);
  };
  if (const char* env = std::getenv("ASTIS_PG_BINDIR"); env != nullptr && *env != '\0') {
    return complete(env) ? std::string(env) : std::string();
  }
  std::error_code ec;
  long best = -1;
  std::string best_dir;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = entry.path().filename().string();
    char* end = nullptr;
    const long major = std::strtol(name.c_str(), &end, 10);
    if (end == name.c_str() || *end != '\0' || !complete(entry.path() / "bin")) continue;
    if (major > best) {
      best = major;
      best_dir = (entry.path() / "bin").string();
    }
  }
  return best_dir;
}

int FreeLoopbackPort() {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(s);
  return port;
}

// Run executes args (args[0] absolute) with output appended to log, as
// uid/gid when uid >= 0; returns the exit status (-1 when it did not exit).
int Run(const std::vector<std::string>& args, const std::string& log, int uid, int gid) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::close_range(3, ~0U, 0);
    if (uid >= 0 && (::setgroups(0, nullptr) != 0 || ::setgid(static_cast<gid_t>(gid)) != 0 ||
                     ::setuid(static_cast<uid_t>(uid)) != 0)) {
      ::_exit(126);
    }
    if (::chdir("/") != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string TcpDsn(int port, const std::string& dbname) {
  return "host=127.0.0.1 port=" + std::to_string(port) + " user=" + kUser + " dbname=" + dbname + " connect_timeout=5";
}

// Query runs one parameterless statement; returns the first cell ("" when
// there is no row) or kUnavailable.
Result<std::string> Query(int port, const std::string& sql) {
  PGconn* c = PQconnectdb(TcpDsn(port, "postgres").c_str());
  Result<std::string> out = Error(Code::kUnavailable, "cannot connect to test PostgreSQL on " + std::to_string(port));
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult* r = PQexec(c, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK) {
      out = PQntuples(r) > 0 ? std::string(PQgetvalue(r, 0, 0)) : std::string();
    } else if (st == PGRES_COMMAND_OK) {
      out = std::string();
    } else {
      out = Error(Code::kUnavailable, std::string("test SQL failed: ") + PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

Status Append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
  return out.good() ? OkStatus() : Error(Code::kIo, "cannot write " + path);
}

}  // namespace

Result<std::unique_ptr<PgPair>> PgPair::Start() {
  std::unique_ptr<PgPair> p(new PgPair());
  p->bindir_ = FindBinDir();
  if (p->bindir_.empty()) {
    return Error(Code::kFailedPrecondition, "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found");
  }
  if (::geteuid() == 0) {
    const struct passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) return Error(Code::kFailedPrecondition, "running as root and no `postgres` system user exists");
    p->run_uid_ = static_cast<int>(pw->pw_uid);
    p->run_gid_ = static_cast<int>(pw->pw_gid);
  }
  ASTIS_RETURN_IF_ERROR(p->Build());
  return p;
}

Status PgPair::Build() {
  ASTIS_ASSIGN_OR_RETURN(dir_, test::MakeTempDir("astis-pgpair"));
  if (run_uid_ >= 0 && ::chown(dir_.c_str(), static_cast<uid_t>(run_uid_), static_cast<gid_t>(run_gid_)) != 0) {
    return Error(Code::kIo, "cannot chown " + dir_);
  }
  StartReaper();
  const std::string log = dir_ + "/setup.log";
  const std::string primary = dir_ + "/primary", standby = dir_ + "/standby";
  int rc = Run({bindir_ + "/initdb", "-D", primary, "-U", kUser, "--auth-local=trust", "--auth-host=trust", "-N",
                "-E", "UTF8", "--locale=C"},
               log, run_uid_, run_gid_);
  if (rc != 0) return Error(Code::kInternal, "initdb failed (exit " + std::to_string(rc) + "); see " + log);
  primary_port_ = FreeLoopbackPort();
  standby_port_ = FreeLoopbackPort();
  if (primary_port_ == 0 || standby_port_ == 0 || primary_port_ == standby_port_) {
    return Error(Code::kIo, "no free loopback ports");
  }
  // fsync off: the tests kill processes, never the machine, so the page
  // cache outlives every crash here. Replication is what is under test.
  ASTIS_RETURN_IF_ERROR(Append(primary + "/postgresql.conf",
                               "\n# astis PgPair (tests only)\n"
                               "fsync = off\nfull_page_writes = off\n"
                               "listen_addresses = '127.0.0.1'\nport = " + std::to_string(primary_port_) + "\n"
                               "unix_socket_directories = '" + dir_ + "'\n"
                               "max_connections = 100\nshared_buffers = 32MB\n"
                               "wal_level = replica\nmax_wal_senders = 4\nwal_keep_size = 64MB\n"
                               "synchronous_commit = on\n"));
  ASTIS_RETURN_IF_ERROR(PgCtl(primary, {"start"}));
  primary_up_ = true;
  ASTIS_ASSIGN_OR_RETURN(std::string created,
                         Query(primary_port_, "CREATE DATABASE astis TEMPLATE template0 STRATEGY FILE_COPY"));
  (void)created;

  rc = Run({bindir_ + "/pg_basebackup", "-h", "127.0.0.1", "-p", std::to_string(primary_port_), "-U", kUser, "-D",
            standby, "-R", "-X", "stream", "-c", "fast"},
           log, run_uid_, run_gid_);
  if (rc != 0) return Error(Code::kInternal, "pg_basebackup failed (exit " + std::to_string(rc) + "); see " + log);
  // Later settings win: the standby's own port, and no synchronous standby
  // of its own once promoted (otherwise every commit would wait forever).
  ASTIS_RETURN_IF_ERROR(Append(standby + "/postgresql.conf",
                               "\n# astis PgPair standby\nport = " + std::to_string(standby_port_) + "\n"
                               "synchronous_standby_names = ''\nhot_standby = on\n"));
  ASTIS_RETURN_IF_ERROR(PgCtl(standby, {"start"}));
  standby_up_ = true;
  // Synchronous from now on (not before: with no standby yet, CREATE
  // DATABASE would wait for one forever). ALTER SYSTEM after the base
  // backup, so the standby does not inherit it.
  ASTIS_ASSIGN_OR_RETURN(std::string set, Query(primary_port_, "ALTER SYSTEM SET synchronous_standby_names = '*'"));
  ASTIS_ASSIGN_OR_RETURN(std::string reloaded, Query(primary_port_, "SELECT pg_reload_conf()"));
  (void)set;
  (void)reloaded;
  return WaitForSyncStandby();
}

// WaitForSyncStandby polls pg_stat_replication on the primary (deadline
// 30 s) until the standby streams as the synchronous one.
Status PgPair::WaitForSyncStandby() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto state = Query(primary_port_, "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'");
    if (state.ok() && *state == "sync") return OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // poll step, bounded by the deadline
  }
  return Error(Code::kInternal, "the standby did not become a synchronous standby within 30 s; see " + dir_);
}

Status PgPair::PgCtl(const std::string& data, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {bindir_ + "/pg_ctl", "-D", data, "-l", data + ".log", "-w", "-t", "60"};
  argv.insert(argv.end(), args.begin(), args.end());
  const int rc = Run(argv, dir_ + "/pg_ctl.log", run_uid_, run_gid_);
  if (rc != 0) {
    return Error(Code::kInternal, "pg_ctl " + args.back() + " failed (exit " + std::to_string(rc) + "); see " + dir_);
  }
  return OkStatus();
}

Status PgPair::StopPrimary() {
  if (!primary_up_) return OkStatus();
  ASTIS_RETURN_IF_ERROR(PgCtl(dir_ + "/primary", {"-m", "immediate", "stop"}));
  primary_up_ = false;
  return OkStatus();
}

Status PgPair::PromoteStandby() { return PgCtl(dir_ + "/standby", {"promote"}); }

std::string PgPair::Dsn() const {
  return "host=127.0.0.1,127.0.0.1 port=" + std::to_string(primary_port_) + "," + std::to_string(standby_port_) +
         " user=" + std::string(kUser) + " dbname=astis target_session_attrs=read-write";
}

// StartReaper: as store/testing/pg_server.cc's reaper, for two data
// directories. Best effort.
void PgPair::StartReaper() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  static const char kScript[] =
      "while read -r _; do :; done\n"
      "for d in \"$1/primary\" \"$1/standby\"; do\n"
      "  pid=$(head -n 1 \"$d/postmaster.pid\" 2>/dev/null)\n"
      "  [ -n \"$pid\" ] && kill -QUIT \"$pid\" 2>/dev/null\n"
      "done\n"
      "sleep 2\n"
      "rm -rf \"$1\"\n";
  std::vector<std::string> args = {"/bin/sh", "-c", kScript, "astis-pgpair-reaper", dir_};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return;
  }
  if (pid == 0) {
    ::setsid();
    ::dup2(fds[0], 0);
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[0]);
  reaper_fd_ = fds[1];
  reaper_pid_ = pid;
}

PgPair::~PgPair() {
  if (reaper_pid_ > 0) {
    ::kill(reaper_pid_, SIGKILL);
    while (::waitpid(reaper_pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (reaper_fd_ >= 0) ::close(reaper_fd_);
  if (standby_up_) (void)PgCtl(dir_ + "/standby", {"-m", "immediate", "stop"});
  if (primary_up_) (void)PgCtl(dir_ + "/primary", {"-m", "immediate", "stop"});
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

}  // namespace astis::ha
