#include "net/testing/tcp_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace astis::net::testing {
namespace {

// Pipe is one relayed connection: client <-> upstream, with what has been
// read from one side and not yet written to the other.
struct Pipe {
  int client = -1;
  int upstream = -1;
  std::string to_upstream;
  std::string to_client;
  bool dead = false;
};

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

// Pump reads what from has and writes what it can of buffer to to.
bool ReadInto(int fd, std::string& buffer) {
  char buf[16384];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    buffer.append(buf, static_cast<size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
  return false;  // EOF or error
}

bool WriteFrom(int fd, std::string& buffer) {
  if (buffer.empty()) return true;
  const ssize_t n = ::send(fd, buffer.data(), buffer.size(), MSG_NOSIGNAL);
  if (n > 0) {
    buffer.erase(0, static_cast<size_t>(n));
    return true;
  }
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

void Close(Pipe& p) {
  if (p.client >= 0) ::close(p.client);
  if (p.upstream >= 0) ::close(p.upstream);
  p.client = p.upstream = -1;
  p.dead = true;
}

}  // namespace

Result<std::unique_ptr<TcpRelay>> TcpRelay::Start(std::string upstream_host, uint16_t upstream_port) {
  std::unique_ptr<TcpRelay> r(new TcpRelay());
  r->upstream_host_ = std::move(upstream_host);
  r->upstream_port_ = upstream_port;
  r->listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (r->listen_fd_ < 0) return Error(Code::kUnavailable, "relay: socket");
  int one = 1;
  setsockopt(r->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(r->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(r->listen_fd_, 64) != 0) {
    ::close(r->listen_fd_);
    return Error(Code::kUnavailable, "relay: bind/listen");
  }
  socklen_t len = sizeof addr;
  getsockname(r->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  r->port_ = ntohs(addr.sin_port);
  SetNonBlocking(r->listen_fd_);
  r->thread_ = std::thread([p = r.get()] { p->Run(); });
  return r;
}

void TcpRelay::Freeze() {
  frozen_ = true;
  // A round that began before the freeze may still move bytes; wait for the
  // next one (each round polls for at most 20 ms).
  while (!frozen_seen_ && !stop_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TcpRelay::~TcpRelay() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void TcpRelay::Run() {
  std::vector<Pipe> pipes;
  while (!stop_) {
    if (close_all_.exchange(false)) {
      for (Pipe& p : pipes) Close(p);
    }
    std::erase_if(pipes, [](const Pipe& p) { return p.dead; });
    const bool frozen = frozen_;
    if (frozen) frozen_seen_ = true;
    // fds[1 + 2i], fds[2 + 2i] are pipes[i]'s two ends, for the pipes that
    // exist now; a connection accepted below is polled from the next round.
    const size_t polled = pipes.size();
    std::vector<pollfd> fds;
    fds.push_back({listen_fd_, POLLIN, 0});
    for (Pipe& p : pipes) {
      // Frozen: watch nothing but the listener; the sockets stay open and
      // unread, so both ends see silence (no FIN, no RST).
      short c = 0, u = 0;
      if (!frozen) {
        c = static_cast<short>(POLLIN | (p.to_client.empty() ? 0 : POLLOUT));
        u = static_cast<short>(POLLIN | (p.to_upstream.empty() ? 0 : POLLOUT));
      }
      fds.push_back({p.client, c, 0});
      fds.push_back({p.upstream, u, 0});
    }
    ::poll(fds.data(), fds.size(), 20);
    if (fds[0].revents & POLLIN) {
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client >= 0) {
        const int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in up{};
        up.sin_family = AF_INET;
        up.sin_port = htons(upstream_port_);
        inet_pton(AF_INET, upstream_host_.c_str(), &up.sin_addr);
        if (upstream >= 0 && ::connect(upstream, reinterpret_cast<sockaddr*>(&up), sizeof up) == 0) {
          SetNonBlocking(client);
          SetNonBlocking(upstream);
          int one = 1;
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          Pipe p;
          p.client = client;
          p.upstream = upstream;
          pipes.push_back(std::move(p));
          ++connections_;
        } else {
          ::close(client);
          if (upstream >= 0) ::close(upstream);
        }
      }
    }
    if (!frozen) {
      for (size_t k = 0; k < polled; ++k) {
        Pipe& p = pipes[k];
        const pollfd& c = fds[1 + 2 * k];
        const pollfd& u = fds[2 + 2 * k];
        bool ok = true;
        if (c.revents & (POLLIN | POLLHUP | POLLERR)) ok = ReadInto(p.client, p.to_upstream) && ok;
        if (u.revents & (POLLIN | POLLHUP | POLLERR)) ok = ReadInto(p.upstream, p.to_client) && ok;
        ok = WriteFrom(p.upstream, p.to_upstream) && ok;
        ok = WriteFrom(p.client, p.to_client) && ok;
        if (!ok) {
          // One side closed: deliver what is buffered (best effort), then close both.
          (void)WriteFrom(p.client, p.to_client);
          (void)WriteFrom(p.upstream, p.to_upstream);
          Close(p);
        }
      }
    }
  }
  for (Pipe& p : pipes) Close(p);
}

}  // namespace astis::net::testing
