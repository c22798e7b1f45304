// Idle pods (idle_pods.h): N leases renewed on the SDK's schedule, and the
// same edge without renewals as the baseline.
#include "load/idle_pods.h"

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <queue>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "crypto/ed25519.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "load/load_generator.h"
#include "load/proc_stats.h"
#include "load/schedule.h"
#include "net/https_client.h"
#include "net/tls.h"

namespace astis::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

double Since(SteadyClock::time_point t0, SteadyClock::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

std::string Fmt(int decimals, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

int64_t FileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_size);
}

double ProcessCpuSeconds() {
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// ParseExpiresAt reads docs/protocol.md §4.1's expiresAt, an RFC 3339
// date-time in UTC ("YYYY-MM-DDTHH:MM:SS[.frac]Z"), as Unix seconds (the
// fraction dropped, as the SDK does). Fails with kInvalidArgument otherwise.
Result<int64_t> ParseExpiresAt(const std::string& s) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      s.empty() || (s.back() != 'Z' && s.back() != 'z')) {
    return Error(Code::kInvalidArgument, "expiresAt is not an RFC 3339 UTC date-time");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

// IdlePod is one pod: its credentials, its own client (one keep-alive
// connection, as the SDK's engine has) and its lease.
struct IdlePod {
  std::string token;
  std::string ath;
  std::unique_ptr<Ed25519PrivateKey> dpop;
  std::string body;  // {"recipient": ...}, the same on every renewal
  std::unique_ptr<net::HttpsClient> http;
  std::string nonce;    // the edge's last DPoP-Nonce, kept between renewals like the SDK's
  std::string session;  // "" until the first establishment
};

// Renewal is one establishment or renewal as a driver saw it.
struct Renewal {
  SteadyClock::time_point sent;
  double ms = 0;
  bool ok = false;
  bool lapsed = false;  // answered with a new session id
  uint64_t retries = 0;
  size_t connections = 0;
  std::string kind;  // error kind when !ok
};

// Due is a pod's next renewal time in the drivers' queue.
struct Due {
  SteadyClock::time_point at;
  size_t pod;
  bool operator>(const Due& o) const { return at > o.at; }
};

// Establish sends one POST /v1/sessions for pod p (with the nonce dance)
// and returns what happened and, on success, the SDK's next renewal time.
Renewal Establish(const Target& t, IdlePod& p, int64_t margin, SteadyClock::time_point* next) {
  Renewal r;
  r.sent = SteadyClock::now();
  const size_t opened = p.http->connections_opened();
  auto resp = SendWithProof(*p.http, t, p.token, p.ath, *p.dpop, p.nonce, "POST", "/v1/sessions", p.body, &r.retries);
  const auto done = SteadyClock::now();
  r.ms = Since(r.sent, done) * 1000;
  r.connections = p.http->connections_opened() - opened;
  if (!resp.ok()) {
    r.kind = "transport";
    return r;
  }
  if (resp->status != 201 && resp->status != 200) {
    r.kind = "http_" + std::to_string(resp->status) + ":" + EdgeErrorCode(resp->body);
    return r;
  }
  auto j = ParseJson(resp->body);
  if (!j.ok() || !j->is_object() || !j->contains("session") || !(*j)["session"].is_string() ||
      !j->contains("expiresAt") || !(*j)["expiresAt"].is_string()) {
    r.kind = "bad_session_body";
    return r;
  }
  auto expires = ParseExpiresAt((*j)["expiresAt"].get<std::string>());
  if (!expires.ok()) {
    r.kind = "bad_expires_at";
    return r;
  }
  const std::string id = (*j)["session"].get<std::string>();
  r.lapsed = !p.session.empty() && id != p.session;
  if (r.lapsed) r.kind = "lapsed:new_session_id";
  r.ok = !r.lapsed;
  p.session = id;
  // src/sdk/engine.cc EstablishLocked: refresh_at = expiresAt -
  // min(refresh_margin_seconds, lifetime / 2), lifetime from the SDK's
  // whole-second clock after the answer; no jitter. The SDK renews at its
  // first get at or after refresh_at; an idle pod renewing "on schedule" is
  // one that renews exactly then.
  const int64_t now = DefaultClock().NowUnix();
  const int64_t lifetime = std::max<int64_t>(*expires - now, 0);
  const int64_t refresh_at = *expires - std::min(margin, lifetime / 2);
  const double unix_now = static_cast<double>(DefaultClock().NowUnixMillis()) / 1000.0;
  *next = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(refresh_at) - unix_now));
  return r;
}

// CpuSample is one reading of the CPU figures a window is the difference of.
struct CpuSample {
  double process = 0, drivers = 0, standin = 0;
};

double ThreadCpu(std::thread& th) {
  clockid_t cid{};
  if (pthread_getcpuclockid(th.native_handle(), &cid) != 0) return 0;
  timespec ts{};
  if (clock_gettime(cid, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

CpuSample Sample(std::vector<std::thread>& drivers, const std::vector<int64_t>& standin) {
  CpuSample s;
  for (std::thread& th : drivers) s.drivers += ThreadCpu(th);
  s.standin = ThreadsCpuSeconds(standin);
  s.process = ProcessCpuSeconds();
  return s;
}

IdleWindow Window(const CpuSample& a, const CpuSample& b, double seconds) {
  IdleWindow w;
  w.seconds = seconds;
  w.process_cpu_seconds = b.process - a.process;
  w.driver_cpu_seconds = b.drivers - a.drivers;
  w.standin_cpu_seconds = b.standin - a.standin;
  return w;
}

}  // namespace

int64_t DefaultMargin(int64_t ttl) { return std::max<int64_t>(1, (60 * ttl + 450) / 900); }

WorldOptions IdleWorldOptions(int64_t ttl, WorldOptions base) {
  base.session_ttl_seconds = ttl;
  base.nonce_window_seconds = std::max<int64_t>(1, (60 * ttl + 450) / 900);
  base.idle_timeout = std::chrono::milliseconds(std::max<int64_t>(100, 30000 * ttl / 900));
  return base;
}

Result<IdleReport> RunIdlePods(const InProcessWorld& world, const WorldOptions& wo, const IdleOptions& o) {
  if (o.pods < 1 || o.workers < 1 || o.setup_workers < 1 || o.session_ttl_seconds < 2 ||
      o.refresh_margin_seconds < 1 || o.refresh_margin_seconds >= o.session_ttl_seconds || o.renewal_seconds <= 0 ||
      o.baseline_seconds < 0) {
    return Error(Code::kInvalidArgument,
                 "idle pods: pods, workers >= 1, ttl >= 2, 1 <= margin < ttl, renewal seconds > 0");
  }
  const Target& t = world.target();
  IdleReport rep;
  rep.options = o;
  rep.nonce_window_seconds = wo.nonce_window_seconds;
  rep.idle_timeout_ms = wo.idle_timeout.count();
  const auto setup_start = SteadyClock::now();

  // Pods, tokens and keys, by setup_workers threads (the API side of setup).
  {
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> kube, KubeAdminClient(t));
    ASTIS_RETURN_IF_ERROR(EnsureServiceAccount(*kube, t));
  }
  std::vector<uint8_t> id(3);
  ASTIS_RETURN_IF_ERROR(DefaultRandom().Fill(id));
  const std::string prefix = o.pod_prefix + "-" + HexEncode(id) + "-";
  std::vector<IdlePod> pods(static_cast<size_t>(o.pods));
  net::TlsClientConfig tls;
  tls.ca_pem = t.edge_ca_pem;
  net::ClientOptions copts;
  copts.max_idle_connections = 1;  // the SDK's client keeps its connection between requests
  std::atomic<size_t> next_pod{0};
  std::mutex fail_mu;
  Status first_failure;
  {
    std::vector<std::thread> setup;
    for (int w = 0; w < std::min(o.setup_workers, o.pods); ++w) {
      setup.emplace_back([&] {
        auto kube = KubeAdminClient(t);
        for (size_t i = next_pod.fetch_add(1); i < pods.size(); i = next_pod.fetch_add(1)) {
          Status s = [&]() -> Status {
            if (!kube.ok()) return kube.status();
            ASTIS_ASSIGN_OR_RETURN(BoundPod b, CreateBoundPod(**kube, t, prefix + std::to_string(i)));
            IdlePod& p = pods[i];
            p.token = std::move(b.token);
            p.ath = jose::DpopHash(p.token);
            ASTIS_ASSIGN_OR_RETURN(Ed25519PrivateKey dpop, Ed25519PrivateKey::Generate(DefaultRandom()));
            p.dpop = std::make_unique<Ed25519PrivateKey>(std::move(dpop));
            ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey recipient, X25519PrivateKey::Generate(DefaultRandom()));
            p.body = DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(recipient.public_key()).ToJson()}});
            ASTIS_ASSIGN_OR_RETURN(p.http, net::HttpsClient::Create(t.edge_url, tls, copts));
            return OkStatus();
          }();
          if (!s.ok()) {
            std::lock_guard<std::mutex> lock(fail_mu);
            if (first_failure.ok()) first_failure = s;
            return;
          }
        }
      });
    }
    for (auto& th : setup) th.join();
  }
  ASTIS_RETURN_IF_ERROR(first_failure);
  rep.setup_seconds = Since(setup_start, SteadyClock::now());

  // The drivers: pod i first establishes at start + i * period / N (pods
  // started at random times renew evenly spread), then every renewal is at
  // the SDK's refresh time computed from the answer.
  const int64_t period = o.session_ttl_seconds - o.refresh_margin_seconds;
  const auto start = SteadyClock::now() + std::chrono::milliseconds(200);
  std::priority_queue<Due, std::vector<Due>, std::greater<>> queue;
  for (size_t i = 0; i < pods.size(); ++i) {
    queue.push(Due{start + std::chrono::duration_cast<SteadyClock::duration>(
                               std::chrono::duration<double>(static_cast<double>(period) * static_cast<double>(i) /
                                                             static_cast<double>(pods.size()))),
                   i});
  }
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::vector<std::vector<Renewal>> seen(static_cast<size_t>(o.workers));
  std::vector<std::thread> drivers;
  for (int w = 0; w < o.workers; ++w) {
    drivers.emplace_back([&, mine = &seen[static_cast<size_t>(w)]] {
      std::unique_lock<std::mutex> lock(mu);
      while (true) {
        if (stop) return;
        if (queue.empty()) {
          cv.wait(lock);
          continue;
        }
        if (queue.top().at > SteadyClock::now()) {
          cv.wait_until(lock, queue.top().at);
          continue;
        }
        const size_t i = queue.top().pod;
        queue.pop();
        lock.unlock();
        SteadyClock::time_point next;
        Renewal r = Establish(t, pods[i], o.refresh_margin_seconds, &next);
        // A failed renewal is tried again in 1 s (the SDK would at its next get).
        if (!r.ok && !r.lapsed) next = SteadyClock::now() + std::chrono::seconds(1);
        mine->push_back(std::move(r));
        lock.lock();
        queue.push(Due{next, i});
        cv.notify_one();
      }
    });
  }

  // One unmeasured period (every pod establishes once), then the renewal
  // window, in steady state.
  const auto w0 = start + std::chrono::seconds(period) + std::chrono::seconds(1);
  const auto w1 = w0 + std::chrono::duration_cast<SteadyClock::duration>(
                           std::chrono::duration<double>(o.renewal_seconds));
  std::this_thread::sleep_until(w0);
  rep.db_bytes_before = FileSize(world.store_path());
  rep.audit_bytes_before = FileSize(world.audit_path());
  const CpuSample r0 = Sample(drivers, world.standin_threads());
  std::this_thread::sleep_until(w1);
  const CpuSample r1 = Sample(drivers, world.standin_threads());
  rep.db_bytes_after = FileSize(world.store_path());
  rep.wal_bytes_after = FileSize(world.store_path() + "-wal");
  rep.audit_bytes_after = FileSize(world.audit_path());
  rep.renewal = Window(r0, r1, Since(w0, w1));
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_all();
  for (auto& th : drivers) th.join();
  const int64_t now_after = DefaultClock().NowUnix();
  ASTIS_ASSIGN_OR_RETURN(rep.rows_after_renewal, world.CountSessions(now_after));

  // Baseline: the same edge, the same session rows, no renewals. The
  // drivers have exited, so the edge's threads and the stand-in's are all
  // that run (nothing acts on a lease's end in this world: no purger).
  std::vector<std::thread> none;  // the drivers have been joined: no pod thread runs
  const auto b0 = SteadyClock::now();
  const CpuSample s0 = Sample(none, world.standin_threads());
  std::this_thread::sleep_for(std::chrono::duration<double>(o.baseline_seconds));
  const CpuSample s1 = Sample(none, world.standin_threads());
  rep.baseline = Window(s0, s1, Since(b0, SteadyClock::now()));
  ASTIS_ASSIGN_OR_RETURN(rep.rows_after_baseline, world.CountSessions(DefaultClock().NowUnix()));

  std::vector<uint64_t> latencies_us;
  for (const auto& list : seen) {
    for (const Renewal& r : list) {
      if (!r.ok) {
        ++rep.errors;
        if (r.lapsed) ++rep.lapsed;
        ++rep.error_kinds[r.kind];
      }
      if (r.sent < w0 || r.sent >= w1) continue;
      rep.nonce_retries += r.retries;
      rep.connections += r.connections;
      if (!r.ok) continue;
      ++rep.renewals;
      latencies_us.push_back(static_cast<uint64_t>(r.ms * 1000));
    }
  }
  LatencySummary lat = Summarize(latencies_us);
  rep.p50_ms = lat.p50_us / 1000;
  rep.p99_ms = lat.p99_us / 1000;
  rep.max_ms = lat.max_us / 1000;
  return rep;
}

std::string IdleMarkdown(const IdleReport& r) {
  const IdleOptions& o = r.options;
  const int64_t period = o.session_ttl_seconds - o.refresh_margin_seconds;
  const double rps = r.renewal.seconds > 0 ? static_cast<double>(r.renewals) / r.renewal.seconds : 0;
  const double edge_ms_s = r.renewal.seconds > 0 ? r.renewal.EdgeCpuSeconds() * 1000 / r.renewal.seconds : 0;
  const double base_ms_s = r.baseline.seconds > 0 ? r.baseline.EdgeCpuSeconds() * 1000 / r.baseline.seconds : 0;
  const double api_ms_s = r.renewal.seconds > 0 ? r.renewal.standin_cpu_seconds * 1000 / r.renewal.seconds : 0;
  const double api_base_ms_s =
      r.baseline.seconds > 0 ? r.baseline.standin_cpu_seconds * 1000 / r.baseline.seconds : 0;
  const double extra_ms_s = edge_ms_s - base_ms_s;
  const double us_per_renewal = rps > 0 ? extra_ms_s * 1000 / rps : 0;
  const double api_us_per_renewal = rps > 0 ? (api_ms_s - api_base_ms_s) * 1000 / rps : 0;
  const double per1000 = o.pods > 0 ? 1000.0 / o.pods : 0;
  // The defaults: TTL 900 s, margin 60 s: one renewal per pod every 840 s.
  const double default_rps = 1000.0 / 840.0;
  std::ostringstream out;
  out << "### Lease renewal (" << o.pods << " idle pods, TTL " << o.session_ttl_seconds << " s, margin "
      << o.refresh_margin_seconds << " s: one renewal per pod every " << period << " s)\n\n"
      << "Compressed time: the edge's DPoP nonce window is " << r.nonce_window_seconds
      << " s and its keep-alive idle timeout " << r.idle_timeout_ms << " ms (defaults 60 s and 30 s"
      << (r.nonce_window_seconds == 60 && r.idle_timeout_ms == 30000
              ? ", kept: the warm path, where a renewal reuses its connection and nonce). "
              : ", scaled by TTL / 900), so each renewal, as at the defaults, opens a new TLS connection and is "
                "first answered use_dpop_nonce. ")
      << "Setup (pods, tokens, keys) " << Fmt(1, r.setup_seconds) << " s; then every pod established once, spread over one period (unmeasured).\n\n"
      << "| window | s | renewals | renewals/s | edge CPU ms/s | API stand-in CPU ms/s | edge CPU vs baseline | "
         "TLS connections per renewal | nonce retries per renewal | p50 ms | p99 ms | max ms |\n"
      << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
      << "| renewals on the SDK schedule | " << Fmt(1, r.renewal.seconds) << " | " << r.renewals << " | "
      << Fmt(2, rps) << " | " << Fmt(2, edge_ms_s) << " | " << Fmt(2, api_ms_s) << " | "
      << (base_ms_s > 0 ? Fmt(2, edge_ms_s / base_ms_s) : std::string("-")) << " | "
      << (r.renewals > 0 ? Fmt(2, static_cast<double>(r.connections) / static_cast<double>(r.renewals)) : "-")
      << " | "
      << (r.renewals > 0 ? Fmt(2, static_cast<double>(r.nonce_retries) / static_cast<double>(r.renewals)) : "-")
      << " | " << Fmt(2, r.p50_ms) << " | " << Fmt(2, r.p99_ms) << " | " << Fmt(2, r.max_ms) << " |\n"
      << "| baseline: same sessions, no renewals | " << Fmt(1, r.baseline.seconds) << " | 0 | 0 | "
      << Fmt(2, base_ms_s) << " | " << Fmt(2, api_base_ms_s) << " | 1.00 | - | - | - | - | - |\n\n"
      << "| figure | at TTL " << o.session_ttl_seconds << " s (measured) | at the defaults (TTL 900 s, margin 60 s) "
      << "|\n| --- | ---: | ---: |\n"
      << "| renewals/s per 1,000 idle pods | " << Fmt(2, rps * per1000) << " (nominal " << Fmt(2, 1000.0 / period)
      << ") | " << Fmt(2, default_rps) << " |\n"
      << "| edge CPU per renewal (renewal window - baseline), µs | " << Fmt(0, us_per_renewal) << " | same |\n"
      << "| edge CPU for renewals per 1,000 idle pods, ms/s | " << Fmt(2, extra_ms_s * per1000) << " | "
      << Fmt(3, us_per_renewal * default_rps / 1000) << " |\n"
      << "| API server (stand-in) CPU per renewal, µs | " << Fmt(0, api_us_per_renewal) << " | same |\n"
      << "| session rows after the renewals / after the baseline | " << r.rows_after_renewal.total << " ("
      << r.rows_after_renewal.active << " active) / " << r.rows_after_baseline.total << " ("
      << r.rows_after_baseline.active << " active) | one per pod |\n"
      << "| SQLite file growth over the renewal window, bytes (WAL after it) | "
      << (r.db_bytes_before >= 0 && r.db_bytes_after >= 0 ? std::to_string(r.db_bytes_after - r.db_bytes_before)
                                                          : std::string("-"))
      << " (" << r.wal_bytes_after << ") | - |\n"
      << "| audit log bytes per renewal | "
      << (r.renewals > 0 && r.audit_bytes_before >= 0
              ? Fmt(0, static_cast<double>(r.audit_bytes_after - r.audit_bytes_before) /
                           static_cast<double>(r.renewals))
              : std::string("-"))
      << " | same |\n\n"
      << "Edge CPU = this process's CPU minus the renewal threads' (the pods' side) minus the API stand-in's server "
         "threads (its gate-4 pod reads; shown separately). Per renewal = (edge CPU/s in the renewal window - in "
         "the baseline) / renewals/s; the defaults' figures are that cost times 1,000 / 840 renewals/s. Every "
         "renewal falls due on a whole second (expiresAt is whole seconds), so at this compressed rate about "
         "renewals/s of them start together each second: the latency includes that queueing.\n";
  if (r.errors > 0) {
    out << "\n";
    for (const auto& [kind, n] : r.error_kinds) out << "- renewal error " << kind << ": " << n << "\n";
  }
  return out.str();
}

}  // namespace astis::bench
