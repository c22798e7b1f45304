// AdminClient: the `astis` CLI's side of the admin socket (admin/server.h,
// docs/admin.md "Admin socket").
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "admin/operations.h"
#include "common/json.h"
#include "common/status.h"

namespace astis::admin {

// AdminClientOptions bounds the client's waits and the response size.
struct AdminClientOptions {
  int io_timeout_ms = 30'000;
  size_t max_response_bytes = 64 * 1024 * 1024;
};

// AdminClient is one connection to an AdminServer. Not thread-safe; not
// copyable. Closes the connection on destruction.
class AdminClient {
 public:
  // Connect opens the socket at path. kIo (naming the path and the system
  // error) when it cannot connect; kInvalidArgument for a path too long for
  // sockaddr_un.
  static Result<std::unique_ptr<AdminClient>> Connect(const std::string& path, AdminClientOptions options = {});
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // Call sends {"v":1,"op":op,"args":args} (with "org":org when org is not
  // empty) and returns the response's
  // result object, or the Status its error carries (the server's code and
  // message). kIo when the connection fails, times out or closes early;
  // kInternal for a response that is not the protocol's.
  Result<Json> Call(std::string_view op, const Json& args, std::string_view org = "");

 private:
  AdminClient(int fd, AdminClientOptions options) : fd_(fd), options_(options) {}
  int fd_;
  AdminClientOptions options_;
  std::string buf_;
};

// RemoteOperations returns Operations executed by the server at the other
// end of client (which it takes over), in organisation org ("" lets the
// server apply ResolveOrg's rule): the same typed results and Status as
// LocalOperations on the edge's store.
std::unique_ptr<Operations> RemoteOperations(std::unique_ptr<AdminClient> client, std::string org = "");

}  // namespace astis::admin
