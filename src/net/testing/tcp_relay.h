// TcpRelay: a loopback TCP relay that can freeze without closing (test-only).
//
// It listens on 127.0.0.1, port 0, and pipes every accepted connection to an
// upstream host:port. Freeze() stops moving bytes in both directions while
// keeping every socket open — what a middlebox that drops packets or a hung
// proxy looks like to both ends: no FIN, no RST, just silence. Thaw() moves
// bytes again (what was queued is delivered). CloseAll() drops every open
// connection. Used to prove that gate 4 never rests on a stalled stream and
// that a frozen API server of one cluster cannot stall another
// (tests/integration/gate4_freshness_test.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace astis::net::testing {

class TcpRelay {
 public:
  // Start listens on 127.0.0.1:0 and relays to upstream_host:upstream_port
  // (an IPv4 literal). Fails with kUnavailable when the socket cannot be made.
  static Result<std::unique_ptr<TcpRelay>> Start(std::string upstream_host, uint16_t upstream_port);
  // ~TcpRelay stops the thread and closes every socket.
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  uint16_t port() const { return port_; }
  // Freeze stops moving bytes and returns once the relay thread has begun a
  // round with the freeze in force, so nothing the upstream sends after
  // Freeze returns reaches the client (new connections are still accepted
  // while frozen, and then hang like the others). Thaw resumes.
  void Freeze();
  void Thaw() {
    frozen_ = false;
    frozen_seen_ = false;
  }
  bool frozen() const { return frozen_; }
  // CloseAll closes every relayed connection (both ends).
  void CloseAll() { close_all_ = true; }
  // connections counts connections accepted so far.
  int connections() const { return connections_; }

 private:
  TcpRelay() = default;
  void Run();

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::string upstream_host_;
  uint16_t upstream_port_ = 0;
  std::atomic<bool> frozen_{false};
  std::atomic<bool> frozen_seen_{false};  // a round began with frozen_ set
  std::atomic<bool> close_all_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

}  // namespace astis::net::testing
