// The transport floor (transport_floor.h): an empty-handler HttpServer in a
// child process, driven like a phase's pods.
#include "load/transport_floor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "load/proc_stats.h"
#include "load/schedule.h"
#include "load/wire_size.h"
#include "net/http_server.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"

extern char** environ;

namespace astis::bench {
namespace {

constexpr const char* kPath = "/transport";
constexpr std::string_view kCaEnd = "-----END CERTIFICATE-----";

volatile sig_atomic_t g_terminate = 0;
void OnTerm(int) { g_terminate = 1; }

// JsonPad is a JSON string of exactly n bytes ("" quoted, x's inside); n < 2:
// that many spaces.
std::string JsonPad(size_t n) {
  if (n < 2) return std::string(n, ' ');
  return "\"" + std::string(n - 2, 'x') + "\"";
}

// Child is the spawned transport server: stdin's write end (closing it
// stops the child) and stdout's read end. The destructor stops and reaps it.
class Child {
 public:
  ~Child() { Stop(); }
  static Result<std::unique_ptr<Child>> Spawn(unsigned threads, size_t response_body) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return Error(Code::kIo, "transport floor: pipe");
    if (pipe2(out, O_CLOEXEC) != 0) {
      close(in[0]);
      close(in[1]);
      return Error(Code::kIo, "transport floor: pipe");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);   // dup2 clears O_CLOEXEC on 0 and 1
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    const std::string t = std::to_string(threads), b = std::to_string(response_body);
    std::vector<std::string> args = {"astis-bench", "--transport-server", "--transport-threads", t,
                                     "--transport-response-bytes", b};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
      close(in[1]);
      close(out[0]);
      return Error(Code::kUnavailable, "transport floor: cannot spawn /proc/self/exe");
    }
    std::unique_ptr<Child> c(new Child());
    c->pid_ = pid;
    c->in_ = in[1];
    c->out_ = out[0];
    return c;
  }

  // ReadHello reads the port line and the CA certificate, for up to 20 s.
  Status ReadHello(uint16_t* port, std::string* ca_pem) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (got.find(kCaEnd) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                                 std::chrono::steady_clock::now());
      if (left.count() <= 0) return Error(Code::kUnavailable, "transport floor: the server did not start in 20 s");
      pollfd p{out_, POLLIN, 0};
      const int n = poll(&p, 1, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) continue;
      char buf[4096];
      const ssize_t r = read(out_, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return Error(Code::kUnavailable, "transport floor: the server exited before it served");
      got.append(buf, static_cast<size_t>(r));
    }
    const size_t nl = got.find('\n');
    if (nl == std::string::npos) return Error(Code::kUnavailable, "transport floor: no port line");
    const int p = std::atoi(got.substr(0, nl).c_str());
    if (p <= 0 || p > 65535) return Error(Code::kUnavailable, "transport floor: bad port line");
    *port = static_cast<uint16_t>(p);
    *ca_pem = got.substr(nl + 1);
    return OkStatus();
  }

  pid_t pid() const { return pid_; }

  // Stop closes stdin (the child stops at EOF) and reaps it; SIGKILL when it
  // has not exited after 5 s. Idempotent.
  void Stop() {
    if (in_ >= 0) close(in_);
    in_ = -1;
    if (pid_ > 0) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      int status = 0;
      while (waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
          kill(pid_, SIGKILL);
          waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      pid_ = -1;
    }
    if (out_ >= 0) close(out_);
    out_ = -1;
  }

 private:
  Child() = default;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
};

}  // namespace

int RunTransportServer(unsigned threads, size_t response_body_bytes) {
  // SIGTERM is blocked in every thread but while the main thread waits in
  // ppoll, so that wait is what it interrupts.
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  struct sigaction sa {};
  sa.sa_handler = OnTerm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto pki = net::testing::TestPki::Create();
  if (!pki.ok()) {
    std::cerr << "astis-bench --transport-server: " << pki.status().ToString() << "\n";
    return 1;
  }
  net::ServerConfig cfg;
  cfg.bind_address = "127.0.0.1";
  cfg.port = 0;
  cfg.tls = pki->ServerTls();
  cfg.threads = threads;
  const std::string body = JsonPad(response_body_bytes);
  auto server = net::HttpServer::Start(cfg, [&body](const net::ServerRequest&) {
    net::ServerResponse r;
    r.status = 200;
    r.headers = {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}};
    r.body = body;
    return r;
  });
  if (!server.ok()) {
    std::cerr << "astis-bench --transport-server: " << server.status().ToString() << "\n";
    return 1;
  }
  std::cout << (*server)->port() << "\n" << pki->ca_cert_pem() << std::flush;

  sigset_t wait_mask = old;
  sigdelset(&wait_mask, SIGTERM);
  while (!g_terminate) {
    pollfd p{0, POLLIN, 0};
    const int n = ppoll(&p, 1, nullptr, &wait_mask);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    char buf[256];
    const ssize_t r = read(0, buf, sizeof buf);
    if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) break;  // EOF (or stdin gone)
  }
  (*server)->Stop(std::chrono::milliseconds(1000));
  return 0;
}

Result<TransportCost> MeasureTransport(const TransportLoad& load) {
  if (load.pods < 1 || !(load.seconds > 0)) {
    return Error(Code::kInvalidArgument, "transport floor: pods must be >= 1 and seconds > 0");
  }
  using SteadyClock = std::chrono::steady_clock;
  TransportCost cost;
  cost.response_body = PadBodyBytes(load.response_bytes, TransportResponseFixedBytes());
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<Child> child, Child::Spawn(std::max(1u, load.threads), cost.response_body));
  uint16_t port = 0;
  std::string ca_pem;
  ASTIS_RETURN_IF_ERROR(child->ReadHello(&port, &ca_pem));
  const std::string host = "127.0.0.1:" + std::to_string(port);
  cost.request_body = PadBodyBytes(load.request_bytes, TransportRequestFixedBytes(kPath, host));
  const std::string body = JsonPad(cost.request_body);

  std::vector<PodSchedule> schedules;
  if (load.rate > 0) {
    for (int i = 0; i < load.pods; ++i) {
      ASTIS_ASSIGN_OR_RETURN(PodSchedule s, PodSchedule::Make(load.rate, load.pods, i));
      schedules.push_back(s);
    }
  }
  net::TlsClientConfig tls;
  tls.ca_pem = ca_pem;
  net::ClientOptions copts;
  copts.max_idle_connections = 1;  // one keep-alive connection per pod, as the phase's
  std::vector<std::unique_ptr<net::HttpsClient>> clients;
  for (int i = 0; i < load.pods; ++i) {
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> c,
                           net::HttpsClient::Create("https://" + host, tls, copts));
    clients.push_back(std::move(c));
  }
  net::HttpRequest req;
  req.method = "POST";
  req.target = kPath;
  req.body = body;
  req.headers.emplace_back("Content-Type", "application/json");

  struct PerThread {
    uint64_t requests = 0, errors = 0;
    bool warm = false;
  };
  std::vector<PerThread> per(clients.size());
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  SteadyClock::time_point start, deadline;  // written before go is set, read after
  std::vector<std::thread> threads;
  for (size_t i = 0; i < clients.size(); ++i) {
    threads.emplace_back([&, i] {
      PerThread& out = per[i];
      // The handshake and first exchange before the window.
      auto first = clients[i]->Send(req);
      out.warm = first.ok() && first->status == 200;
      ++ready;
      while (!go.load()) std::this_thread::yield();
      if (!out.warm) return;
      std::chrono::nanoseconds previous{0};  // the previous completion, from start
      for (uint64_t k = 0;; ++k) {
        SteadyClock::time_point send;
        if (!schedules.empty()) {
          send = start + SendTime(schedules[i].At(k), previous);
        } else {
          send = SteadyClock::now();
        }
        if (send >= deadline) break;
        if (!schedules.empty()) std::this_thread::sleep_until(send);
        auto resp = clients[i]->Send(req);
        previous = SteadyClock::now() - start;
        if (resp.ok() && resp->status == 200) {
          ++out.requests;
        } else {
          ++out.errors;
        }
      }
    });
  }
  while (ready.load() < static_cast<int>(threads.size())) std::this_thread::yield();
  // schedstat's nanoseconds, else /proc/<pid>/stat's clock ticks (10 ms:
  // 600 requests in 3 s at 200/s would be counted in steps of 17 µs).
  auto cpu_seconds = [&]() -> Result<double> {
    if (auto run = RunSeconds(child->pid()); run.ok()) return run;
    ASTIS_ASSIGN_OR_RETURN(ProcStats s, ReadProcStats(child->pid()));
    return s.cpu_seconds;
  };
  auto before = cpu_seconds();
  start = SteadyClock::now();
  deadline = start + std::chrono::microseconds(static_cast<int64_t>(load.seconds * 1e6));
  go.store(true);
  for (auto& th : threads) th.join();
  const auto end = SteadyClock::now();
  auto after = cpu_seconds();
  clients.clear();
  child->Stop();
  if (!before.ok()) return before.status();
  if (!after.ok()) return after.status();
  for (const PerThread& p : per) {
    cost.requests += p.requests;
    cost.errors += p.errors + (p.warm ? 0 : 1);
  }
  cost.seconds = std::chrono::duration<double>(end - start).count();
  if (cost.requests == 0) {
    return Error(Code::kUnavailable, "transport floor: no request answered (" + std::to_string(cost.errors) +
                                         " errors)");
  }
  cost.cpu_us_per_request = (*after - *before) * 1e6 / static_cast<double>(cost.requests);
  return cost;
}

}  // namespace astis::bench
