#include "admin/internal/line_io.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "crypto/secret_bytes.h"

namespace astis::admin::internal {
namespace {

// Wait polls fd for events (and wake_fd for input) until deadline.
IoOutcome Wait(int fd, short events, int wake_fd, Deadline deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return IoOutcome::kTimeout;
    pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    const int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(std::min<int64_t>(left.count(), 60'000)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoOutcome::kError;
    }
    if (n == 0) continue;  // re-check the deadline
    if (wake_fd >= 0 && (fds[1].revents & POLLIN) != 0) return IoOutcome::kInterrupted;
    if (fds[0].revents != 0) return IoOutcome::kOk;  // readable/writable, or HUP/ERR for the next call to see
  }
}

}  // namespace

IoOutcome ReadLine(int fd, int wake_fd, std::string& buf, std::string& line, size_t max_line, Deadline deadline) {
  size_t scanned = 0;
  while (true) {
    if (size_t nl = buf.find('\n', scanned); nl != std::string::npos) {
      if (nl > max_line) return IoOutcome::kTooLarge;
      line.assign(buf, 0, nl);
      buf.erase(0, nl + 1);
      return IoOutcome::kOk;
    }
    scanned = buf.size();
    if (buf.size() > max_line) return IoOutcome::kTooLarge;
    if (IoOutcome w = Wait(fd, POLLIN, wake_fd, deadline); w != IoOutcome::kOk) return w;
    char chunk[65536];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n == 0) return IoOutcome::kEof;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return IoOutcome::kError;
    }
    buf.append(chunk, static_cast<size_t>(n));
    SecureWipe(chunk, static_cast<size_t>(n));  // a response may carry a new API key
  }
}

IoOutcome WriteAll(int fd, int wake_fd, std::string_view data, Deadline deadline) {
  while (!data.empty()) {
    if (IoOutcome w = Wait(fd, POLLOUT, wake_fd, deadline); w != IoOutcome::kOk) return w;
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return IoOutcome::kError;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return IoOutcome::kOk;
}

}  // namespace astis::admin::internal
