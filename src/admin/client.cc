#include "admin/client.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <utility>

#include "admin/internal/json_reader.h"
#include "admin/internal/line_io.h"
#include "admin/internal/protocol.h"
#include "crypto/secret_bytes.h"

namespace astis::admin {

using internal::IoOutcome;

Result<std::unique_ptr<AdminClient>> AdminClient::Connect(const std::string& path, AdminClientOptions options) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Error(Code::kInvalidArgument, "admin socket path is empty or too long");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error(Code::kIo, std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    Status s = Error(Code::kIo, "cannot connect to admin socket " + path + ": " + std::strerror(errno));
    ::close(fd);
    return s;
  }
  // Non-blocking from here on, so every wait is a poll bounded by the deadline.
  if (const int flags = ::fcntl(fd, F_GETFL); flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    Status s = Error(Code::kIo, std::string("fcntl: ") + std::strerror(errno));
    ::close(fd);
    return s;
  }
  return std::unique_ptr<AdminClient>(new AdminClient(fd, options));
}

AdminClient::~AdminClient() { ::close(fd_); }

Result<Json> AdminClient::Call(std::string_view op, const Json& args, std::string_view org) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.io_timeout_ms);
  Json envelope{{"v", internal::kProtocolVersion}, {"op", std::string(op)}, {"args", args}};
  // No "org" member when none was given, so a server older than
  // organisations still understands the request.
  if (!org.empty()) envelope["org"] = std::string(org);
  const std::string request = DumpJson(envelope) + "\n";
  // A server that refuses the peer answers at once and closes, so a failed
  // send is reported only when no response can be read either.
  const IoOutcome sent = internal::WriteAll(fd_, -1, request, deadline);
  std::string line;
  const IoOutcome r = internal::ReadLine(fd_, -1, buf_, line, options_.max_response_bytes, deadline);
  if (r != IoOutcome::kOk) {
    if (sent != IoOutcome::kOk) return Error(Code::kIo, "admin socket: sending the request failed");
    return Error(Code::kIo, r == IoOutcome::kTimeout ? "admin socket: no response in time"
                                                     : "admin socket: connection closed without a response");
  }
  auto parsed = ParseJsonObject(line, JsonLimits{options_.max_response_bytes, 16});
  SecureWipe(line.data(), line.size());  // an apikey.create response carries the new key
  if (!parsed.ok()) return Error(Code::kInternal, "malformed admin response: " + parsed.status().message());
  Json response = std::move(*parsed);
  bool ok = false;
  const Json* body = nullptr;
  internal::JsonReader reader(response, "response");
  reader.Bool("ok", ok);
  if (Status s = reader.Object(ok ? "result" : "error", body).Done(); !s.ok()) {
    return Error(Code::kInternal, "malformed admin response: " + s.message());
  }
  if (!ok) return internal::StatusFromJson(*body);
  return Json(std::move(response["result"]));
}

std::unique_ptr<Operations> RemoteOperations(std::unique_ptr<AdminClient> client, std::string org) {
  std::shared_ptr<AdminClient> shared(std::move(client));
  return internal::MakeRemoteOperations(
      [shared, org = std::move(org)](std::string_view op, const Json& args) { return shared->Call(op, args, org); });
}

}  // namespace astis::admin
