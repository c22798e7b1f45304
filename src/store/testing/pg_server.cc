#include "store/testing/pg_server.h"

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
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/testing/temp_dir.h"

namespace astis::store::testing {
namespace {

namespace fs = std::filesystem;

// FindBinDir returns $ASTIS_PG_BINDIR, else the newest
// /usr/lib/postgresql/<major>/bin holding initdb, else "".
std::string FindBinDir() {
  if (const char* env = std::getenv("ASTIS_PG_BINDIR"); env != nullptr && *env != '\0') {
    return fs::exists(fs::path(env) / "initdb") ? std::string(env) : std::string();
  }
  std::error_code ec;
  int best = -1;
  std::string best_dir;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = entry.path().filename().string();
    char* end = nullptr;
    long major = std::strtol(name.c_str(), &end, 10);
    if (end == name.c_str() || *end != '\0') continue;
    if (!fs::exists(entry.path() / "bin" / "initdb", ec) || !fs::exists(entry.path() / "bin" / "pg_ctl", ec)) continue;
    if (major > best) {
      best = static_cast<int>(major);
      best_dir = (entry.path() / "bin").string();
    }
  }
  return best_dir;
}

// FreeLoopbackPort asks the kernel for an unused 127.0.0.1 port.
int FreeLoopbackPort() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(s);
  return port;
}

// Run executes argv (argv[0] an absolute path) with stdout/stderr appended to
// log, in directory cwd, as uid/gid when uid >= 0; returns the exit status.
int Run(const std::vector<std::string>& args, const std::string& log, const std::string& cwd, int uid, int gid) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    if (uid >= 0) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(static_cast<gid_t>(gid)) != 0 ||
          ::setuid(static_cast<uid_t>(uid)) != 0) {
        ::_exit(126);
      }
    }
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool ValidDbName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool PgServer::BinariesAvailable() { return !FindBinDir().empty(); }

Result<std::unique_ptr<PgServer>> PgServer::Start() {
  std::unique_ptr<PgServer> s(new PgServer());
  s->bindir_ = FindBinDir();
  if (s->bindir_.empty()) {
    return Error(Code::kFailedPrecondition,
                 "PostgreSQL server binaries not found (no /usr/lib/postgresql/<version>/bin/initdb; "
                 "install the postgresql package or set ASTIS_PG_BINDIR)");
  }
  if (::geteuid() == 0) {
    // initdb and postgres refuse to run as root.
    struct passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) return Error(Code::kFailedPrecondition, "running as root and no `postgres` system user exists");
    s->run_uid_ = static_cast<int>(pw->pw_uid);
    s->run_gid_ = static_cast<int>(pw->pw_gid);
  }
  ASTIS_ASSIGN_OR_RETURN(s->dir_, test::MakeTempDir("astis-pg"));
  if (s->run_uid_ >= 0 &&
      ::chown(s->dir_.c_str(), static_cast<uid_t>(s->run_uid_), static_cast<gid_t>(s->run_gid_)) != 0) {
    return Error(Code::kIo, "cannot chown " + s->dir_ + " to postgres");
  }
  s->user_ = "astis_test";
  const std::string log = s->dir_ + "/server.log";
  {
    std::ofstream touch(log);
  }
  if (s->run_uid_ >= 0 &&
      ::chown(log.c_str(), static_cast<uid_t>(s->run_uid_), static_cast<gid_t>(s->run_gid_)) != 0) {
    return Error(Code::kIo, "cannot chown " + log + " to postgres");
  }

  int rc = Run({s->bindir_ + "/initdb", "-D", s->dir_ + "/data", "-U", s->user_, "--auth-local=trust",
                "--auth-host=scram-sha-256", "-N", "-E", "UTF8", "--locale=C"},
               log, s->dir_, s->run_uid_, s->run_gid_);
  if (rc != 0) return Error(Code::kInternal, "initdb failed (exit " + std::to_string(rc) + "); see " + log);

  for (int attempt = 0; attempt < 3; ++attempt) {
    s->port_ = FreeLoopbackPort();
    if (s->port_ == 0) return Error(Code::kIo, "no free loopback port");
    // Unix socket paths are limited to 107 bytes.
    if ((s->dir_ + "/.s.PGSQL." + std::to_string(s->port_)).size() > 100) {
      return Error(Code::kFailedPrecondition, "temporary directory path too long for a Unix socket: " + s->dir_);
    }
    {
      // Later settings override earlier ones, so a retry just appends.
      std::ofstream conf(s->dir_ + "/data/postgresql.conf", std::ios::app);
      conf << "\n# astis PgServer (tests only)\n"
           << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
           << "listen_addresses = '127.0.0.1'\nport = " << s->port_ << "\n"
           << "unix_socket_directories = '" << s->dir_ << "'\n"
           << "max_connections = 200\nshared_buffers = 32MB\n";
      if (!conf.good()) return Error(Code::kIo, "cannot write postgresql.conf");
    }
    if (s->RunPgCtl("start").ok()) {
      s->running_ = true;
      s->StartReaper();
      return s;
    }
  }
  return Error(Code::kInternal, "PostgreSQL did not start; see " + log);
}

// StartReaper forks `sh` reading a pipe whose only write end this process
// holds (close-on-exec, so servers the test starts do not keep it open).
// Reading returns end of file when this process is gone; the reaper then
// sends the postmaster SIGQUIT (immediate shutdown), waits for it to exit
// and removes the directory. Best effort: without a reaper the tests work
// as before.
void PgServer::StartReaper() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  static const char kScript[] =
      "while read -r _; do :; done\n"
      "pid=$(head -n 1 \"$1/data/postmaster.pid\" 2>/dev/null)\n"
      "if [ -n \"$pid\" ]; then\n"
      "  kill -QUIT \"$pid\" 2>/dev/null\n"
      "  n=0; while kill -0 \"$pid\" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done\n"
      "fi\n"
      "rm -rf \"$1\"\n";
  std::vector<std::string> args = {"/bin/sh", "-c", kScript, "astis-pg-reaper", dir_};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::setsid();
    ::dup2(fds[0], 0);
    int devnull = ::open("/dev/null", O_WRONLY);
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

// StopReaper ends the reaper without letting it act (the owner cleans up).
void PgServer::StopReaper() {
  if (reaper_pid_ > 0) {
    ::kill(reaper_pid_, SIGKILL);
    while (::waitpid(reaper_pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    reaper_pid_ = -1;
  }
  if (reaper_fd_ >= 0) {
    ::close(reaper_fd_);
    reaper_fd_ = -1;
  }
}

PgServer::~PgServer() {
  StopReaper();
  if (running_) (void)Stop();
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

Status PgServer::RunPgCtl(const std::string& action) {
  std::vector<std::string> args = {bindir_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w",
                                   "-t", "60"};
  if (action == "stop") {
    args.push_back("-m");
    args.push_back("fast");
  }
  args.push_back(action);
  int rc = Run(args, dir_ + "/pg_ctl.log", dir_, run_uid_, run_gid_);
  if (rc != 0) return Error(Code::kInternal, "pg_ctl " + action + " failed (exit " + std::to_string(rc) + "); see " + dir_);
  return OkStatus();
}

Status PgServer::Stop() {
  if (!running_) return OkStatus();
  ASTIS_RETURN_IF_ERROR(RunPgCtl("stop"));
  running_ = false;
  return OkStatus();
}

Status PgServer::Restart() {
  if (running_) return OkStatus();
  ASTIS_RETURN_IF_ERROR(RunPgCtl("start"));
  running_ = true;
  return OkStatus();
}

std::string PgServer::Dsn(std::string_view dbname) const {
  return "host=" + dir_ + " port=" + std::to_string(port_) + " user=" + user_ + " dbname=" + std::string(dbname);
}

Status PgServer::ExecSql(std::string_view dbname, const std::string& sql) {
  PGconn* c = PQconnectdb(Dsn(dbname).c_str());
  Status out = OkStatus();
  if (PQstatus(c) != CONNECTION_OK) {
    out = Error(Code::kUnavailable, "cannot connect to test PostgreSQL");
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      out = Error(Code::kUnavailable, std::string("test SQL failed: ") + PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

Status PgServer::CreateDatabase(std::string_view name) {
  if (!ValidDbName(name)) return Error(Code::kInvalidArgument, "invalid test database name");
  // FILE_COPY: with fsync off, copying template0's files is the fastest way.
  return ExecSql("postgres", "CREATE DATABASE " + std::string(name) + " TEMPLATE template0 STRATEGY FILE_COPY");
}

}  // namespace astis::store::testing
