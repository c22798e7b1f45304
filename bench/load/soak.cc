// Soak (soak.h): N pods, N sessions, a bounded number of workers.
#include "load/soak.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "common/json.h"
#include "crypto/ed25519.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "load/load_generator.h"
#include "net/https_client.h"
#include "net/tls.h"

namespace astis::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

double Since(SteadyClock::time_point t0) { return std::chrono::duration<double>(SteadyClock::now() - t0).count(); }

int64_t FileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_size);
}

std::string Fmt(int decimals, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string Mb(int64_t kb) { return Fmt(1, static_cast<double>(kb) / 1024); }

std::string Bytes(int64_t b) { return b < 0 ? "absent" : Fmt(1, static_cast<double>(b) / (1024.0 * 1024.0)) + " MB"; }

// Worker is one soak thread's connections and tallies.
struct Worker {
  std::unique_ptr<net::HttpsClient> kube;
  std::unique_ptr<net::HttpsClient> edge;
  std::string nonce;  // the edge's last DPoP-Nonce (one per edge, shared by this worker's pods)
  double kube_seconds = 0, edge_seconds = 0;
  std::map<std::string, uint64_t> kinds;
};

// EstablishOne creates pod `name`, its token and keys, and establishes its
// session; returns "" on success or the error kind. Nothing of the pod is
// kept afterwards.
std::string EstablishOne(Worker& w, const Target& t, const std::string& name) {
  auto t0 = SteadyClock::now();
  Result<BoundPod> pod = CreateBoundPod(*w.kube, t, name);
  w.kube_seconds += Since(t0);
  if (!pod.ok()) return "kube:" + pod.status().message();
  Random& rng = DefaultRandom();
  auto dpop = Ed25519PrivateKey::Generate(rng);
  auto recipient = X25519PrivateKey::Generate(rng);
  if (!dpop.ok() || !recipient.ok()) return "keygen";
  const std::string body = DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(recipient->public_key()).ToJson()}});
  t0 = SteadyClock::now();
  auto resp = SendWithProof(*w.edge, t, pod->token, jose::DpopHash(pod->token), *dpop, w.nonce, "POST", "/v1/sessions",
                            body, nullptr);
  w.edge_seconds += Since(t0);
  if (!resp.ok()) return "transport";
  if (resp->status != 201) return "http_" + std::to_string(resp->status) + ":" + EdgeErrorCode(resp->body);
  auto j = ParseJson(resp->body);
  if (!j.ok() || !j->is_object() || !j->contains("session") || !(*j)["session"].is_string()) return "bad_session_body";
  return "";
}

}  // namespace

FileSizes ReadFileSizes(const std::string& path) {
  FileSizes s;
  if (path.empty()) return s;
  s.db_bytes = FileSize(path);
  s.wal_bytes = FileSize(path + "-wal");
  return s;
}

Result<SoakReport> RunSoak(const Target& t, const SoakOptions& options) {
  if (options.sessions < 1 || options.workers < 1 || options.workers > 1024) {
    return Error(Code::kInvalidArgument, "soak: sessions must be >= 1 and workers in 1..1024");
  }
  SoakReport rep;
  rep.requested = options.sessions;
  rep.in_process = options.server_pid == 0;
  rep.workers = static_cast<int>(std::min<int64_t>(options.workers, options.sessions));

  std::vector<Worker> workers(static_cast<size_t>(rep.workers));
  {
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> kube, KubeAdminClient(t));
    ASTIS_RETURN_IF_ERROR(EnsureServiceAccount(*kube, t));
  }
  net::TlsClientConfig edge_tls;
  edge_tls.ca_pem = t.edge_ca_pem;
  net::ClientOptions copts;
  copts.max_idle_connections = 1;  // one keep-alive connection per worker
  for (Worker& w : workers) {
    ASTIS_ASSIGN_OR_RETURN(w.kube, KubeAdminClient(t));
    ASTIS_ASSIGN_OR_RETURN(w.edge, net::HttpsClient::Create(t.edge_url, edge_tls, copts));
  }
  // A run-unique infix, so repeated soaks against one stand-in never collide.
  std::vector<uint8_t> id(3);
  ASTIS_RETURN_IF_ERROR(DefaultRandom().Fill(id));
  const std::string prefix = options.pod_prefix + "-" + HexEncode(id) + "-";

  rep.store_before = ReadFileSizes(options.store_file);
  auto before = ReadProcStats(options.server_pid);

  std::atomic<int64_t> next{0};
  std::atomic<uint64_t> established{0}, errors{0};
  std::atomic<bool> stop{false};
  const auto start = SteadyClock::now();
  std::vector<std::thread> threads;
  threads.reserve(workers.size());
  for (Worker& w : workers) {
    threads.emplace_back([&, wp = &w] {
      while (!stop.load()) {
        const int64_t i = next.fetch_add(1);
        if (i >= options.sessions) break;
        const std::string kind = EstablishOne(*wp, t, prefix + std::to_string(i));
        if (kind.empty()) {
          ++established;
        } else {
          ++wp->kinds[kind];
          if (++errors >= options.max_errors) stop.store(true);
        }
      }
    });
  }
  // Progress on stderr about every 5 s (a 100,000-pod soak takes minutes).
  std::thread progress([&] {
    auto last = SteadyClock::now();
    while (established.load() + errors.load() < static_cast<uint64_t>(options.sessions) && !stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (SteadyClock::now() - last < std::chrono::seconds(5)) continue;
      last = SteadyClock::now();
      const double secs = Since(start);
      const uint64_t done = established.load();
      auto s = ReadProcStats(options.server_pid);
      std::cerr << "astis-bench: soak: " << done << "/" << options.sessions << " sessions, " << errors.load()
                << " errors, " << Fmt(0, static_cast<double>(done) / secs) << "/s, server RSS "
                << (s.ok() ? Mb(s->rss_kb) : std::string("?")) << " MB\n";
    }
  });
  for (auto& th : threads) th.join();
  stop.store(true);
  progress.join();
  rep.seconds = Since(start);
  // Let the edge's pod watch catch up with the last pods before sampling.
  std::this_thread::sleep_for(std::chrono::duration<double>(options.settle_seconds));
  auto after = ReadProcStats(options.server_pid);
  rep.store_after = ReadFileSizes(options.store_file);

  rep.established = established.load();
  rep.errors = errors.load();
  for (const Worker& w : workers) {
    rep.kube_seconds += w.kube_seconds;
    rep.edge_seconds += w.edge_seconds;
    for (const auto& [k, v] : w.kinds) rep.error_kinds[k] += v;
  }
  if (before.ok() && after.ok()) {
    rep.have_proc = true;
    rep.before = *before;
    rep.after = *after;
    rep.server_cpu_seconds = after->cpu_seconds - before->cpu_seconds;
  }
  return rep;
}

std::string SoakMarkdown(const SoakReport& r) {
  std::ostringstream o;
  const double per_s = r.seconds > 0 ? static_cast<double>(r.established) / r.seconds : 0;
  const double pods = static_cast<double>(std::max<uint64_t>(1, r.established + r.errors));
  o << "### Soak (" << r.requested << " pods, one session each, " << r.workers << " workers)\n\n"
    << "| sessions established | errors | wall s | sessions/s | API ms/pod (create + token) | edge ms/session | "
       "server CPU µs/session | RSS MB before | RSS MB after | peak RSS MB (VmHWM) after | store before | "
       "store after | WAL after |\n"
    << "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    << "| " << r.established << " | " << r.errors << " | " << Fmt(1, r.seconds) << " | " << Fmt(0, per_s) << " | "
    << Fmt(2, r.kube_seconds * 1000 / pods) << " | " << Fmt(2, r.edge_seconds * 1000 / pods) << " | "
    << (r.have_proc && r.established > 0
            ? Fmt(0, r.server_cpu_seconds * 1e6 / static_cast<double>(r.established))
            : std::string("-"))
    << " | " << (r.have_proc ? Mb(r.before.rss_kb) : "-") << " | " << (r.have_proc ? Mb(r.after.rss_kb) : "-")
    << " | " << (r.have_proc ? Mb(r.after.hwm_kb) : "-") << " | " << Bytes(r.store_before.db_bytes) << " | "
    << Bytes(r.store_after.db_bytes) << " | " << Bytes(r.store_after.wal_bytes) << " |\n\n"
    << "Each pod is a real Pod in the stand-in (so the edge's pod watch caches all of them) with its own "
       "pod-bound token, DPoP key and recipient key, dropped once its session is established. API ms and edge ms "
       "are wall time per pod in one worker (workers run concurrently); server CPU includes the settle time. "
       "Target (issue #8): 100,000 active sessions under 200 MB server RSS.";
  if (r.in_process) o << " In process: the server figures include the stand-in and the soak workers.";
  o << "\n";
  for (const auto& [kind, n] : r.error_kinds) o << "\n- soak error " << kind << ": " << n;
  if (!r.error_kinds.empty()) o << "\n";
  return o.str();
}

}  // namespace astis::bench
