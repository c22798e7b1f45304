// Gate 4 from fresh state, whatever the watch does, and one cluster's API
// outage kept to that cluster (docs/protocol.md §6 gate 4 "Fresh", §4.5;
// docs/edge.md "Gate 4 from fresh state"). Over real loopback TLS:
//
//   pod (HttpsClient + DPoP) --TLS--> edge (net::HttpServer, 2 threads, +
//   EdgeService, SQLite file store, FileAuditLog, embedded CVS)
//      gate-4 reads --TLS--> [TcpRelay] --> kube stand-in
//      PodMonitor + the real PodWatcher --TLS--> [TcpRelay] --> stand-in
//
// The relay freezes without closing: every socket stays open and no byte
// moves, as behind a middlebox that drops packets. Tokens, proofs and gate
// 4's staleness bound run on a FakeClock the test advances; the watcher and
// every timeout run on the wall clock. Latencies are printed; the only timed
// assertions are the ones the issue asks for (fail within bound + timeout;
// the other cluster's p99 within 2x), with the unfrozen figure measured in
// the same run under the same load.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/files.h"
#include "common/testing/must.h"
#include "common/testing/poll.h"
#include "crypto/ed25519.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "cvs/cvs.h"
#include "edge/config.h"
#include "edge/pod_monitor.h"
#include "edge/run.h"
#include "edge/service.h"
#include "edge/testing/pod_credentials.h"
#include "jose/jwk.h"
#include "kube-standin/kube_standin.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/watch.h"
#include "net/http_server.h"
#include "net/https_client.h"
#include "net/testing/tcp_relay.h"
#include "net/testing/test_pki.h"
#include "store/sqlite_store.h"
#include "support/kube_api_standin.h"

namespace astis::integration {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
using test::Must;
using test::PollUntil;
using test::WriteFile;

constexpr int64_t kNow = 1'800'000'000;
constexpr char kNs[] = "billing";
constexpr char kSa[] = "ledger";
constexpr char kPod[] = "ledger-5c8d7b9f4-w7r2m";
constexpr char kUid[] = "5a1c9e3f-2b4d-4c6e-8f0a-1b2c3d4e5f60";
constexpr char kReadToken[] = "freshness-kube-read-only-token";
constexpr char kPodShape[] = "kubernetes/pod-sidecar-containerd-digest.json";
const std::string kAppDigest = "sha256:cd2438ba5730cd67f3f400a7726f756bce34124d65a60e7509721a70cdb9ea26";
const std::string kDebugDigest = "sha256:2d4c53f188e6cb84bc17c5e6629ab78ec4e1a7513acfa4c364d3018beacd9277";
constexpr int64_t kApiTimeoutMs = 1000;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

// Cluster is one registered cluster with its own stand-in, relays and pod.
struct Cluster {
  std::string name;
  std::string issuer;
  std::unique_ptr<kubestandin::KubeStandin> api;
  std::unique_ptr<net::testing::TcpRelay> read_relay;   // in front of gate 4's reads
  std::unique_ptr<net::testing::TcpRelay> watch_relay;  // in front of the watch
  SecretBytes api_key;
  std::string token;
  std::unique_ptr<Ed25519PrivateKey> dpop;
  std::unique_ptr<X25519PrivateKey> recipient;
  std::unique_ptr<net::HttpsClient> http;
  std::string nonce;
  std::string session;
};

class Gate4FreshnessTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (edge_server_ != nullptr) edge_server_->Stop(milliseconds(0));
    if (monitor_ != nullptr) monitor_->Stop();
    for (auto& c : clusters_) {
      c->read_relay.reset();
      c->watch_relay.reset();
      if (c->api) c->api->Stop();
    }
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  static std::string RelayUrl(const net::testing::TcpRelay& r) {
    return "https://127.0.0.1:" + std::to_string(r.port());
  }
  static std::string EstablishBody(const Cluster& c) {
    return DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(c.recipient->public_key()).ToJson()}});
  }

  // StartWorld registers one cluster per name, each behind its own relays,
  // and starts the edge as RunEdgeProcess wires it (2 request threads, the
  // per-cluster share resolved to 1).
  void StartWorld(const std::vector<std::string>& names, int64_t max_staleness_ms, bool with_watch) {
    Random& rng = DefaultRandom();
    dir_ = Must(net::testing::MakeTempDir());
    store_ = Must(store::OpenSqliteStore(dir_ + "/edge.db"));
    audit_ = Must(audit::FileAuditLog::Open(dir_ + "/audit.log", clock_));
    capsule::OrgPrivateKey org = Must(capsule::OrgPrivateKey::Generate(rng));
    org_public_ = std::make_unique<capsule::OrgPublicKey>(org.public_key());
    cvs_ = std::make_unique<cvs::CvsService>(Must(capsule::OrgKeySet::Create(std::move(org))), rng, audit_.get());
    Json rsa = edge::testing::SharedClusterRsaKey().PublicJwkMembers();
    rsa["kid"] = "rsa-1";
    WriteFile(dir_ + "/kube-token", std::string(kReadToken) + "\n");
    for (const std::string& name : names) {
      auto c = std::make_unique<Cluster>();
      c->name = name;
      c->issuer = "https://oidc." + name + ".example.com";
      kubestandin::StandinOptions so;
      so.read_token = kReadToken;
      so.bookmark_interval = milliseconds(500);
      c->api = Must(kubestandin::KubeStandin::Start(std::move(so)));
      ASSERT_TRUE(c->api->PutPod(Must(MakePod(kPodShape, PodIdentity{kNs, kPod, kUid, kSa, kAppDigest}))).ok());
      WriteFile(dir_ + "/" + name + "-ca.pem", c->api->ca_cert_pem());
      c->read_relay = Must(net::testing::TcpRelay::Start("127.0.0.1", c->api->port()));
      c->watch_relay = Must(net::testing::TcpRelay::Start("127.0.0.1", c->api->port()));
      store::Cluster rec;
      rec.name = name;
      rec.issuer = c->issuer;
      rec.jwks_json = DumpJson(Json{{"keys", Json::array({rsa})}});
      rec.api_url = RelayUrl(*c->read_relay);
      rec.ca_file = dir_ + "/" + name + "-ca.pem";
      rec.token_file = dir_ + "/kube-token";
      rec.created_at = kNow - 1000;
      ASSERT_TRUE(store_->PutCluster(rec).ok());
      ASSERT_TRUE(store_->PutWorkload(store::Workload{name, kNs, kSa, {kAppDigest}}).ok());
      c->api_key = Must(edge::testing::RegisterApiKey(*store_, {name, kNs, kSa, kNow - 100}, rng)).header_value;
      c->token = edge::testing::SignToken(edge::testing::ProjectedTokenClaims({c->issuer, kNs, kSa, kPod, kUid, kNow}),
                                          edge::testing::SharedClusterRsaKey(), SignatureAlg::kRs256, "rsa-1");
      c->dpop = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(rng)));
      c->recipient = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(rng)));
      clusters_.push_back(std::move(c));
    }

    // Gate 4's reads as run.cc builds them: the API timeout is the request timeout.
    kube::KubeClientOptions ko;
    ko.connect_timeout = milliseconds(kApiTimeoutMs);
    ko.request_timeout = milliseconds(kApiTimeoutMs);
    kube_clients_ = std::make_unique<edge::KubeClientCache>(
        *store_, clock_, [this, ko](const store::Cluster& cl) -> Result<std::unique_ptr<kube::KubeClient>> {
          ASTIS_ASSIGN_OR_RETURN(kube::ClusterConnection conn, kube::Explicit(cl.api_url, cl.ca_file, cl.token_file));
          ASTIS_ASSIGN_OR_RETURN(auto client, kube::HttpKubeClient::Create(conn, clock_, ko));
          return std::unique_ptr<kube::KubeClient>(std::move(client));
        });

    if (with_watch) {
      // The watch goes through its own relay, so it can stall while direct
      // reads still work (the attack of issue 17).
      kube::WatchOptions wo;
      wo.timeout_seconds = 30;
      wo.staleness_seconds = 120;  // the production default: a stall is not noticed for minutes
      wo.initial_backoff = milliseconds(100);
      wo.max_backoff = milliseconds(400);
      auto real = edge::MakePodWatcherFactory(DefaultClock(), rng, wo);
      monitor_ = std::make_unique<edge::PodMonitor>(
          *store_, *audit_, clock_,
          [this, real](const store::Cluster& cl, const std::string& ns, kube::PodChangeCallback cb) {
            store::Cluster via = cl;
            for (auto& c : clusters_) {
              if (c->name == cl.name) via.api_url = RelayUrl(*c->watch_relay);
            }
            return real(via, ns, std::move(cb));
          });
    }

    edge_pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create()));
    net::testing::TestPkiFiles files = Must(edge_pki_->WriteFiles(dir_));
    edge::EdgeConfig config;
    net::ServerConfig sc;
    sc.tls = edge_pki_->ServerTls();
    sc.threads = 2;  // DefaultThreadsPerCore on SQLite with 2 cores
    sc.limits.max_body_bytes = static_cast<size_t>(config.limits.max_body_bytes) + 1;
    edge_server_ = Must(net::HttpServer::Start(sc, [this](const net::ServerRequest& r) {
      edge::EdgeService* s = service_ptr_.load();
      return s != nullptr ? s->HandleHeld(r) : net::JsonError(503, "internal_error", "not ready");
    }));
    edge_url_ = "https://127.0.0.1:" + std::to_string(edge_server_->port());
    config.external_base_url = edge_url_;
    config.tls = {files.server_cert, files.server_key};
    config.store.path = dir_ + "/edge.db";
    config.audit_log = dir_ + "/audit.log";
    config.gate4.max_staleness_ms = max_staleness_ms;
    config.gate4.api_timeout_ms = kApiTimeoutMs;
    config.gate4.retry_ms = 1000;
    config.gate4.max_waiting_per_cluster = 1;  // run.cc: half of 2 threads
    config.limits.rate_per_api_key_per_minute = 1000000;
    config.limits.rate_per_pod_uid_per_minute = 1000000;
    edge::EdgeDeps deps;
    deps.store = store_.get();
    deps.kube = [this](std::string_view name) -> kube::KubeClient* { return kube_clients_->Get(name); };
    deps.pods = monitor_.get();
    deps.cvs = cvs_.get();
    deps.audit = audit_.get();
    deps.clock = &clock_;
    deps.rng = &rng;
    service_ = Must(edge::EdgeService::Create(config, deps));
    if (monitor_ != nullptr) {
      edge::FreshPods* fresh = &service_->fresh_pods();
      monitor_->SetChangeListener([fresh](const std::string& c, const std::string& ns, const std::string& n) {
        fresh->Invalidate(c, ns, n);
      });
    }
    service_ptr_.store(service_.get());
    for (auto& c : clusters_) c->http = Must(net::HttpsClient::Create(edge_url_, edge_pki_->ClientTls()));
    if (monitor_ != nullptr) {
      ASSERT_TRUE(monitor_->Rescan().ok());
      ASSERT_TRUE(PollUntil([this] {
        auto states = monitor_->States();
        return states.size() == clusters_.size() &&
               std::all_of(states.begin(), states.end(), [](const edge::WatchState& s) { return s.stats.healthy; });
      }));
    }
  }

  net::HttpResponse SendOnce(Cluster& c, const std::string& path, const std::string& body) {
    return Must(edge::testing::SendPodRequest(*c.http, {c.api_key.RevealString(), c.token, c.dpop.get()}, "POST",
                                              edge_url_, path, body, clock_.NowUnix(), c.nonce, DefaultRandom()));
  }
  net::HttpResponse Send(Cluster& c, const std::string& path, const std::string& body) {
    net::HttpResponse resp = SendOnce(c, path, body);
    if (edge::testing::AsksForDpopNonce(resp)) resp = SendOnce(c, path, body);
    return resp;
  }
  void Establish(Cluster& c) {
    net::HttpResponse r = Send(c, "/v1/sessions", EstablishBody(c));
    ASSERT_EQ(r.status, 201) << r.body;
    c.session = Must(ParseJson(r.body))["session"].get<std::string>();
  }
  net::HttpResponse Unwrap(Cluster& c) {
    const capsule::SealedValue v =
        Must(capsule::Seal(*org_public_, capsule::Binding{c.name, kNs, kSa, "db", "password"},
                           AsBytes(std::string_view("fresh")), DefaultRandom(), clock_));
    const std::vector<std::string> caps = {B64uEncode(v.capsule().bytes())};
    return Send(c, "/v1/unwrap", DumpJson(Json{{"session", c.session}, {"capsules", caps}}));
  }
  static std::string ErrCode(const net::HttpResponse& r) {
    auto j = ParseJson(r.body);
    if (!j.ok() || !j->contains("error")) return r.status == 200 ? "ok" : "<" + r.body + ">";
    return (*j)["error"].value("code", "");
  }

  FakeClock clock_{kNow};
  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<audit::FileAuditLog> audit_;
  std::unique_ptr<capsule::OrgPublicKey> org_public_;
  std::unique_ptr<cvs::CvsService> cvs_;
  std::vector<std::unique_ptr<Cluster>> clusters_;
  std::unique_ptr<edge::KubeClientCache> kube_clients_;
  std::unique_ptr<edge::PodMonitor> monitor_;
  std::unique_ptr<net::testing::TestPki> edge_pki_;
  std::unique_ptr<net::HttpServer> edge_server_;
  std::string edge_url_;
  std::unique_ptr<edge::EdgeService> service_;
  std::atomic<edge::EdgeService*> service_ptr_{nullptr};
};

// The attack of issue 17: the watch connection stalls (open, silent), then an
// unapproved debug container joins the pod. A direct read shows it; the
// watch does not. Once the bound has passed, the next unwrap is refused —
// before protocol 1.1 the edge served it from the stalled watch's cache and
// released the plaintext.
TEST_F(Gate4FreshnessTest, StalledWatchCannotServeStaleAllow) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({"eu-west-fresh"}, /*max_staleness_ms=*/1000, /*with_watch=*/true));
  Cluster& c = *clusters_[0];
  ASSERT_NO_FATAL_FAILURE(Establish(c));
  ASSERT_EQ(Unwrap(c).status, 200);

  c.watch_relay->Freeze();
  ASSERT_TRUE(c.api->AddEphemeralContainer(kNs, kPod, "debugger", "busybox:1.36",
                                           "docker.io/library/busybox@" + kDebugDigest).ok());
  // The watch still counts as healthy (its staleness is minutes), and its
  // cache still holds the pod without the debug container.
  auto cached = monitor_->CachedPod(c.name, kNs, kPod);
  ASSERT_TRUE(cached.ok() && cached->has_value()) << "the watch should look healthy while stalled";
  EXPECT_TRUE((*cached)->ephemeral_containers.empty());

  clock_.AdvanceMillis(1001);  // past gate4.max_staleness_ms
  const net::HttpResponse r = Unwrap(c);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(ErrCode(r), "image_not_allowed");
  // And a new session for the pod is refused as well.
  const net::HttpResponse est = Send(c, "/v1/sessions", EstablishBody(c));
  EXPECT_EQ(est.status, 403) << est.body;
  c.watch_relay->Thaw();
}

// The API itself is frozen (reads and watch): once the bound has passed,
// requests fail closed with kube_unavailable within the API timeout — never
// allowed from a cache — and the edge recovers by itself after a thaw.
TEST_F(Gate4FreshnessTest, FrozenApiFailsClosedAfterBound) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({"eu-central-fresh"}, /*max_staleness_ms=*/1000, /*with_watch=*/true));
  Cluster& c = *clusters_[0];
  ASSERT_NO_FATAL_FAILURE(Establish(c));
  ASSERT_EQ(Unwrap(c).status, 200);

  c.read_relay->Freeze();
  c.watch_relay->Freeze();
  clock_.AdvanceMillis(1001);
  auto t0 = SteadyClock::now();
  net::HttpResponse r = Unwrap(c);
  const auto first = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - t0);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(ErrCode(r), "kube_unavailable");
  // Within the bound plus the stated timeout (the bound has already passed
  // here, so: the API timeout, plus scheduling slack on 2 shared cores).
  EXPECT_LT(first.count(), kApiTimeoutMs + 1500) << "fail-closed took " << first.count() << " ms";
  // The next requests fail fast (the fail-fast window), still closed.
  t0 = SteadyClock::now();
  r = Unwrap(c);
  const auto second = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - t0);
  EXPECT_EQ(ErrCode(r), "kube_unavailable");
  std::printf("[gate4-freshness] frozen API: first refusal after %lld ms, next after %lld ms\n",
              static_cast<long long>(first.count()), static_cast<long long>(second.count()));

  // /readyz stays 200 and reports the cluster unavailable (docs/protocol.md §4.5).
  net::ServerRequest ready;
  ready.method = "GET";
  ready.path = ready.target = "/readyz";
  net::ServerResponse rr = service_->Handle(ready);
  EXPECT_EQ(rr.status, 200) << rr.body;
  EXPECT_EQ(Must(ParseJson(rr.body))["checks"]["cluster/" + c.name], "unavailable") << rr.body;

  // Thaw: the next request after the fail-fast window reads again and passes.
  c.read_relay->Thaw();
  c.watch_relay->Thaw();
  c.read_relay->CloseAll();  // the connection that timed out is gone on the client side anyway
  // Each try is a new instant past the fail-fast window of the one before.
  ASSERT_TRUE(PollUntil([&] {
    clock_.AdvanceMillis(1001);
    return Unwrap(c).status == 200;
  }, milliseconds(15000)));
  EXPECT_EQ(Must(ParseJson(service_->Handle(ready).body))["checks"]["cluster/" + c.name], "ok");
}

// Two clusters; one's API freezes while its pods keep calling. The other
// cluster's p99 stays within 2x of its figure with the same load and an
// unfrozen API (measured first, in the same run), and the frozen cluster's
// requests fail closed within the API timeout (plus slack).
TEST_F(Gate4FreshnessTest, FrozenClusterDoesNotStallAnother) {
  // Staleness 0: every decision reads its API, the worst case for isolation.
  ASSERT_NO_FATAL_FAILURE(StartWorld({"frozen-a", "healthy-b"}, /*max_staleness_ms=*/0, /*with_watch=*/false));
  Cluster& a = *clusters_[0];
  Cluster& b = *clusters_[1];
  ASSERT_NO_FATAL_FAILURE(Establish(a));
  ASSERT_NO_FATAL_FAILURE(Establish(b));

  std::atomic<bool> stop{false};
  // The fake clock follows the wall clock here, so the fail-fast window
  // expires and the frozen cluster is retried as in production (one waiting
  // thread per window).
  std::thread ticker([&] {
    auto last = SteadyClock::now();
    while (!stop) {
      std::this_thread::sleep_for(milliseconds(5));
      const auto now = SteadyClock::now();
      clock_.AdvanceMillis(std::chrono::duration_cast<milliseconds>(now - last).count());
      last = now;
    }
  });
  std::mutex a_mu;
  std::vector<double> a_ms;
  std::vector<std::string> a_codes;
  // A's pods keep calling in both phases (one client, a short pause).
  // Only A's requests that start once the freeze is in force are recorded.
  std::atomic<bool> a_frozen{false};
  std::thread a_load([&] {
    while (!stop) {
      const bool frozen_at_start = a_frozen;
      const auto t0 = SteadyClock::now();
      net::HttpResponse r = Unwrap(a);
      const double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
      if (frozen_at_start) {
        std::lock_guard<std::mutex> lock(a_mu);
        a_ms.push_back(ms);
        a_codes.push_back(ErrCode(r));
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  });
  auto measure_b = [&](int n) {
    std::vector<double> ms;
    for (int i = 0; i < n; ++i) {
      const auto t0 = SteadyClock::now();
      net::HttpResponse r = Unwrap(b);
      ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
      EXPECT_EQ(r.status, 200) << r.body;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return ms;
  };
  constexpr int kN = 400;  // about 2.5 s per phase: several fail-fast windows
  const std::vector<double> unfrozen = measure_b(kN);
  a.read_relay->Freeze();
  a_frozen = true;
  const std::vector<double> frozen = measure_b(kN);
  stop = true;
  a_load.join();
  ticker.join();
  a.read_relay->Thaw();

  const double p50_u = Percentile(unfrozen, 0.5), p99_u = Percentile(unfrozen, 0.99);
  const double p50_f = Percentile(frozen, 0.5), p99_f = Percentile(frozen, 0.99);
  double a_max = 0;
  int a_refused = 0;
  for (size_t i = 0; i < a_ms.size(); ++i) {
    a_max = std::max(a_max, a_ms[i]);
    EXPECT_EQ(a_codes[i], "kube_unavailable");
    a_refused += a_codes[i] == "kube_unavailable";
  }
  std::printf("[gate4-freshness] cluster B unwrap: unfrozen p50 %.2f ms p99 %.2f ms; A frozen: p50 %.2f ms "
              "p99 %.2f ms (%.2fx); A: %zu requests, %d refused kube_unavailable, slowest %.0f ms\n",
              p50_u, p99_u, p50_f, p99_f, p99_f / p99_u, a_ms.size(), a_refused, a_max);
  EXPECT_GT(a_refused, 0);
  EXPECT_LT(a_max, static_cast<double>(kApiTimeoutMs) + 1500.0);
  // The p99 comparison: sanitizer builds run 5-20x slower with far more
  // scheduling noise on 2 shared cores, so there it is printed only.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  std::printf("[gate4-freshness] sanitizer build: p99 ratio printed, not asserted\n");
#else
  // 2x, plus 3 ms of slack for scheduler noise when ctest runs other suites
  // on the same 2 cores (a thread held by the frozen cluster costs ~1 s, so
  // a real regression is far above this).
  EXPECT_LE(p99_f, 2.0 * p99_u + 3.0) << "cluster B's p99 more than doubled while cluster A was frozen";
#endif
}

}  // namespace
}  // namespace astis::integration
