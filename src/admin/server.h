// AdminServer: the edge's authenticated admin endpoint on a Unix domain
// socket (issue #3; docs/admin.md "Admin socket").
//
// Each connection is authenticated by the kernel's peer credentials
// (SO_PEERCRED, unix(7)): only allowed uids may speak. The protocol is one
// JSON request per line, {"v":1,"op":"cluster.add","args":{...}}, answered by
// one JSON line, {"ok":true,"result":...} or
// {"ok":false,"error":{"code":"...","message":"..."}}. A request may name
// its organisation, {"v":1,"op":...,"org":"acme","args":{...}}; without one
// it acts in the only organisation (admin::ResolveOrg). Requests execute
// against the edge's store through LocalOperations, with the same validation
// and configuration audit as `astis ... --store`. One thread accepts and
// serves connections one at a time (admin traffic is tiny), so a request
// never runs concurrently with another admin request.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/operations.h"
#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"
#include "store/store.h"

namespace astis::admin {

// AdminServerOptions configures an AdminServer.
struct AdminServerOptions {
  // allow_root_and_self admits peers with uid 0 or the server's own euid.
  bool allow_root_and_self = true;
  // allowed_uids admits these uids as well.
  std::vector<uid_t> allowed_uids;
  // max_line_bytes bounds one request line; a longer one is answered
  // too_large and the connection closed (test AdminServerTest.RejectsOversizeLine).
  size_t max_line_bytes = 4 * 1024 * 1024;
  // io_timeout_ms bounds the wait for each request line and each response
  // write; an idle or slow connection is closed after it.
  int io_timeout_ms = 10'000;
  // audit, when set (borrowed; must outlive the server), receives one
  // "admin.*" event per refused connection and per request, never a secret.
  audit::AuditSink* audit = nullptr;
  // api_key_generator makes the keys of apikey.create (edge::GenerateApiKey);
  // required.
  ApiKeyGenerator api_key_generator;
  // org_keys answers org.key.list (the embedded ASTIS CVS's key sets);
  // optional: without it org.key.list is refused (test
  // AdminServerTest.OrgKeyListThroughSocket).
  OrgKeySource org_keys;
};

// AdminServer serves the admin socket until Stop. Not copyable.
class AdminServer {
 public:
  // Start binds socket_path (created 0600) and starts the serving thread.
  // store, clock, rng and options.audit are borrowed and must outlive the
  // server. Refusals, before anything is created:
  // - kFailedPrecondition when the socket's directory is world-writable or
  //   not owned by root or the euid (test AdminServerTest.RefusesWorldWritableDir),
  //   or when another process listens on socket_path (test
  //   AdminServerTest.DoesNotStealLiveSocket), or socket_path exists and is not a
  //   socket; a stale socket nobody listens on is replaced (test
  //   AdminServerTest.ReplacesStaleSocket).
  // - kInvalidArgument for a path too long for sockaddr_un or without
  //   api_key_generator; kIo when a system call fails.
  static Result<std::unique_ptr<AdminServer>> Start(std::string socket_path, store::Store& store, Clock& clock,
                                                    Random& rng, AdminServerOptions options);

  // ~AdminServer calls Stop.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Stop closes the socket, interrupts a connection being served (its
  // request, if executing, completes first), joins the thread and removes the
  // socket file if it is still the one this server bound. Idempotent; it
  // cannot fail.
  void Stop();

  // socket_path returns the path the server listens on.
  const std::string& socket_path() const { return path_; }

 private:
  AdminServer(std::string path, int listen_fd, int wake_fd, dev_t dev, ino_t ino, store::Store& store,
              Clock& clock, Random& rng, AdminServerOptions options);
  void Loop();
  void ServeConnection(int fd);
  bool PeerAllowed(uid_t uid) const;
  std::string HandleLine(const std::string& line, const std::string& actor, bool& close_after);
  void Record(std::string event, audit::Decision decision, Code code, std::string reason);

  std::string path_;
  int listen_fd_;
  int wake_fd_;  // eventfd: Stop writes it, every wait polls it
  dev_t dev_;
  ino_t ino_;
  store::Store& store_;
  Clock& clock_;
  Random& rng_;
  AdminServerOptions options_;
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace astis::admin
