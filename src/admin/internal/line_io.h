// Bounded, interruptible line I/O on a non-blocking stream socket, shared by
// the admin server and client. Internal to astis::admin.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace astis::admin::internal {

// IoOutcome is how a ReadLine or WriteAll ended.
enum class IoOutcome {
  kOk,           // a whole line was read / everything was written
  kEof,          // the peer closed before a whole line
  kTimeout,      // the deadline passed
  kInterrupted,  // wake_fd became readable (the server is stopping)
  kTooLarge,     // more than max_line bytes arrived without a newline
  kError,        // a system call failed (e.g. the peer reset the connection)
};

using Deadline = std::chrono::steady_clock::time_point;

// ReadLine reads from fd until buf holds a '\n', then moves the bytes before
// it into line and keeps the rest in buf for the next call. It waits at most
// until deadline and returns early with kInterrupted when wake_fd (-1: none)
// is readable. A line longer than max_line is kTooLarge. It never throws.
IoOutcome ReadLine(int fd, int wake_fd, std::string& buf, std::string& line, size_t max_line, Deadline deadline);

// WriteAll writes data to fd (MSG_NOSIGNAL: a closed peer is kError, never
// SIGPIPE), with the same deadline and wake_fd rules as ReadLine.
IoOutcome WriteAll(int fd, int wake_fd, std::string_view data, Deadline deadline);

}  // namespace astis::admin::internal
