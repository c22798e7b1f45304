#include "admin/server.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <utility>

#include "admin/internal/line_io.h"
#include "admin/internal/protocol.h"
#include "common/json.h"

namespace astis::admin {
namespace {

using internal::IoOutcome;

Status Errno(std::string_view what) {
  return Error(Code::kIo, std::string(what) + ": " + std::strerror(errno));
}

Result<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Error(Code::kInvalidArgument, "admin socket path is empty or longer than " +
                                             std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// CheckDirectory refuses a socket directory another user could write into:
// they could replace the socket with their own and collect admin requests
// (test AdminServerTest.RefusesWorldWritableDir).
Status CheckDirectory(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return Errno("admin socket directory " + dir);
  if (!S_ISDIR(st.st_mode)) return Error(Code::kFailedPrecondition, "admin socket directory " + dir + " is not a directory");
  if ((st.st_mode & S_IWOTH) != 0) {
    return Error(Code::kFailedPrecondition, "admin socket directory " + dir + " is world-writable");
  }
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return Error(Code::kFailedPrecondition, "admin socket directory " + dir + " is owned by another user");
  }
  return OkStatus();
}

// ClearStale removes a socket file nobody listens on (a crashed edge's) and
// refuses to touch a live one or anything that is not a socket (tests
// AdminServerTest.ReplacesStaleSocket, AdminServerTest.DoesNotStealLiveSocket).
Status ClearStale(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return OkStatus();
    return Errno("admin socket " + path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Error(Code::kFailedPrecondition, "admin socket " + path + " exists and is not a socket");
  }
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return Errno("socket");
  const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(probe);
  if (rc == 0) {
    return Error(Code::kFailedPrecondition, "admin socket " + path + " is in use by a running server");
  }
  if (err != ECONNREFUSED) {
    errno = err;
    return Errno("probing admin socket " + path);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("removing stale admin socket " + path);
  return OkStatus();
}

std::string ErrorLine(const Status& status) {
  return DumpJson(Json{{"ok", false}, {"error", internal::StatusToJson(status)}});
}

// WipeJsonStrings zeroes every string inside value (a response that carried
// a new API key) before it is freed.
void WipeJsonStrings(Json& value) {
  if (value.is_string()) {
    auto& s = value.get_ref<std::string&>();
    SecureWipe(s.data(), s.size());
  } else if (value.is_structured()) {
    for (auto& child : value) WipeJsonStrings(child);
  }
}

}  // namespace

Result<std::unique_ptr<AdminServer>> AdminServer::Start(std::string socket_path, store::Store& store, Clock& clock,
                                                        Random& rng, AdminServerOptions options) {
  if (!options.api_key_generator) return Error(Code::kInvalidArgument, "admin server: api_key_generator is required");
  if (options.max_line_bytes == 0 || options.io_timeout_ms <= 0) {
    return Error(Code::kInvalidArgument, "admin server: max_line_bytes and io_timeout_ms must be positive");
  }
  ASTIS_ASSIGN_OR_RETURN(sockaddr_un addr, UnixAddress(socket_path));
  ASTIS_RETURN_IF_ERROR(CheckDirectory(socket_path));
  ASTIS_RETURN_IF_ERROR(ClearStale(socket_path, addr));

  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Errno("socket");
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    Status s = Errno("binding admin socket " + socket_path);
    ::close(fd);
    return s;
  }
  // bind created the file with the umask's mode; nobody can connect before
  // listen(), so tightening it to 0600 first leaves no window.
  struct stat st {};
  if (::chmod(socket_path.c_str(), 0600) != 0 || ::stat(socket_path.c_str(), &st) != 0 || ::listen(fd, 16) != 0) {
    Status s = Errno("preparing admin socket " + socket_path);
    ::close(fd);
    ::unlink(socket_path.c_str());
    return s;
  }
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    Status s = Errno("eventfd");
    ::close(fd);
    ::unlink(socket_path.c_str());
    return s;
  }
  std::unique_ptr<AdminServer> server(
      new AdminServer(std::move(socket_path), fd, wake, st.st_dev, st.st_ino, store, clock, rng, std::move(options)));
  server->thread_ = std::thread([s = server.get()] { s->Loop(); });
  return server;
}

AdminServer::AdminServer(std::string path, int listen_fd, int wake_fd, dev_t dev, ino_t ino, store::Store& store,
                         Clock& clock, Random& rng, AdminServerOptions options)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      dev_(dev),
      ino_(ino),
      store_(store),
      clock_(clock),
      rng_(rng),
      options_(std::move(options)) {}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  const uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_, &one, sizeof one);  // cannot fail short of a bad fd
  (void)ignored;
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  // Remove the file only if it is still ours (an operator may have started
  // another server on the path meanwhile).
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) ::unlink(path_.c_str());
  ::close(wake_fd_);
}

void AdminServer::Loop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) continue;  // EAGAIN, ECONNABORTED, EMFILE: try again on the next event
    ServeConnection(conn);
    ::close(conn);
  }
}

bool AdminServer::PeerAllowed(uid_t uid) const {
  if (options_.allow_root_and_self && (uid == 0 || uid == ::geteuid())) return true;
  return std::find(options_.allowed_uids.begin(), options_.allowed_uids.end(), uid) != options_.allowed_uids.end();
}

void AdminServer::Record(std::string event, audit::Decision decision, Code code, std::string reason) {
  if (options_.audit == nullptr) return;
  audit::AuditEvent e;
  e.event = std::move(event);
  e.decision = decision;
  e.code = code;
  e.reason = std::move(reason);
  // The store's configuration audit is the authoritative record of changes;
  // a failing audit log cannot undo a change already made, so it is ignored.
  (void)options_.audit->Append(e);
}

void AdminServer::ServeConnection(int fd) {
  const auto deadline = [this] {
    return std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.io_timeout_ms);
  };
  // unix(7) SO_PEERCRED: the credentials the kernel recorded at connect().
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    Record("admin.connect", audit::Decision::kDeny, Code::kPermissionDenied, "peer credentials unavailable");
    return;
  }
  if (!PeerAllowed(cred.uid)) {
    // Test AdminServerTest.RefusesPeerUidNotAllowed.
    Record("admin.connect", audit::Decision::kDeny, Code::kPermissionDenied,
               "peer uid " + std::to_string(cred.uid) + " pid " + std::to_string(cred.pid) + " not allowed");
    (void)internal::WriteAll(fd, wake_fd_, ErrorLine(Error(Code::kPermissionDenied, "peer not allowed")) + "\n",
                             deadline());
    return;
  }
  const std::string actor = ActorForUid(cred.uid);
  std::string buf, line;
  while (true) {
    const IoOutcome r = internal::ReadLine(fd, wake_fd_, buf, line, options_.max_line_bytes, deadline());
    if (r == IoOutcome::kTooLarge) {
      // Test AdminServerTest.RejectsOversizeLine.
      Record("admin.request", audit::Decision::kDeny, Code::kTooLarge, "request line too large from " + actor);
      (void)internal::WriteAll(fd, wake_fd_, ErrorLine(Error(Code::kTooLarge, "request line too large")) + "\n",
                               deadline());
      return;
    }
    if (r != IoOutcome::kOk) return;  // EOF, timeout, stop or reset: close
    bool close_after = false;
    std::string response = HandleLine(line, actor, close_after);
    response += '\n';
    const IoOutcome w = internal::WriteAll(fd, wake_fd_, response, deadline());
    SecureWipe(response.data(), response.size());
    if (w != IoOutcome::kOk || close_after) return;
  }
}

std::string AdminServer::HandleLine(const std::string& line, const std::string& actor, bool& close_after) {
  // A malformed request ends the connection: the client is confused or hostile
  // (tests AdminServerTest.RejectsMalformedJson, AdminServerTest.RejectsUnknownOp).
  auto refuse = [&](const Status& s) {
    close_after = true;
    Record("admin.request", audit::Decision::kDeny, s.code(), s.message() + " from " + actor);
    return ErrorLine(s);
  };
  auto request = internal::DecodeRequest(line, options_.max_line_bytes);
  if (!request.ok()) return refuse(request.status());
  const std::string& op = request->op;
  // Each request acts in the organisation it names, or in the only one
  // (test AdminServerTest.RequestOrgSelectsTheOrganization).
  LocalOperations ops(store_, clock_, rng_, options_.api_key_generator, actor, request->org, options_.org_keys);
  Result<Json> result = internal::Dispatch(ops, op, request->args);
  const Status& status = result.status();
  Record("admin." + op, result.ok() ? audit::Decision::kAllow : audit::Decision::kDeny,
             result.ok() ? Code::kOk : status.code(), result.ok() ? "by " + actor : status.message() + " by " + actor);
  if (!result.ok()) return ErrorLine(status);
  Json response{{"ok", true}, {"result", std::move(*result)}};
  std::string text = DumpJson(response);
  WipeJsonStrings(response);  // apikey.create carries the new key; text is wiped after sending
  return text;
}

}  // namespace astis::admin
