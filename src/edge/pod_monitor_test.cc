// Tests of edge::PodMonitor (watch-driven revocation, dynamic rescans) and of
// gate 4 beside the watches (it always reads fresh state), with fake watches: hermetic, FakeClock,
// no threads of their own (the fake delivers a change synchronously, as the
// real watcher does on its thread right after updating its cache).
#include "edge/pod_monitor.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <gtest/gtest.h>

#include "edge/config.h"
#include "edge/run.h"
#include "edge/testing/edge_harness.h"

namespace astis::edge {
namespace {

using testing::EdgeHarness;
using testing::kCluster;
using testing::kGoodDigest;
using testing::kBadDigest;
using testing::kNs;
using testing::kOtherCluster;
using testing::kPod;
using testing::kUid;

// FakeWatch is a PodWatch whose cache and health the test sets.
class FakeWatch final : public kube::PodWatch {
 public:
  FakeWatch(kube::PodChangeCallback cb, int* destroyed) : cb_(std::move(cb)), destroyed_(destroyed) {}
  ~FakeWatch() override { ++*destroyed_; }

  Result<std::optional<kube::PodView>> CachedPod(std::string_view name) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!healthy_) return Error(Code::kKubeUnavailable, "fake watch unhealthy");
    const kube::PodView* p = cache_.Find(name);
    return p == nullptr ? std::optional<kube::PodView>() : std::optional<kube::PodView>(*p);
  }
  kube::WatchStats Stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    kube::WatchStats s;
    s.healthy = healthy_;
    s.listed = s.connected = healthy_;
    s.restarts = 2;
    s.relists = 1;
    s.pods = cache_.size();
    return s;
  }
  void SetHealthy(bool h) {
    std::lock_guard<std::mutex> lock(mu_);
    healthy_ = h;
  }
  // Upsert / Remove play one watch event: cache first, then the callback.
  void Upsert(kube::PodView pod) {
    kube::PodChange c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      c = cache_.Upsert(std::move(pod));
    }
    cb_(c);
  }
  void Remove(const std::string& name) {
    std::optional<kube::PodChange> c;
    {
      std::lock_guard<std::mutex> lock(mu_);
      c = cache_.Remove(name);
    }
    if (c) cb_(*c);
  }

 private:
  kube::PodChangeCallback cb_;
  int* destroyed_;
  mutable std::mutex mu_;
  kube::PodCache cache_;
  bool healthy_ = true;
};

class PodMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    monitor = std::make_unique<PodMonitor>(*h.store, h.audit_sink, h.clock,
                                           [this](const store::Cluster& c, const std::string& ns,
                                                  kube::PodChangeCallback cb) -> Result<std::unique_ptr<kube::PodWatch>> {
                                             ++started;
                                             if (fail_factory) return Error(Code::kInvalidArgument, "bad cluster");
                                             auto w = std::make_unique<FakeWatch>(std::move(cb), &destroyed);
                                             watches[{c.name, ns}] = w.get();
                                             return std::unique_ptr<kube::PodWatch>(std::move(w));
                                           });
    ASSERT_TRUE(monitor->Rescan().ok());
    ASSERT_EQ(watches.size(), 1u);
    Main().Upsert(EdgeHarness::GoodPod());  // the initial LIST
    h.pods = monitor.get();
    h.MakeService();
  }
  void TearDown() override {
    h.service.reset();
    monitor.reset();
  }
  FakeWatch& Main() { return *watches.at({kCluster, kNs}); }

  void ExpectCode(const net::ServerResponse& r, int status, std::string_view code) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = ParseJson(r.body);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ((*j)["error"]["code"], std::string(code)) << r.body;
  }
  bool Revoked(const std::string& session) { return testing::Must(h.store->GetSession(session)).revoked; }
  net::ServerResponse Unwrap(const std::string& session) {
    auto v = h.Seal("s3cret");
    return h.Send(h.UnwrapCall(session, {B64uEncode(v.capsule().bytes())}));
  }
  std::vector<audit::AuditEvent> Revocations() {
    std::vector<audit::AuditEvent> out;
    for (auto& e : h.audit_sink.events()) {
      if (e.event == "session.revoke") out.push_back(e);
    }
    return out;
  }

  EdgeHarness h;
  std::unique_ptr<PodMonitor> monitor;
  std::map<std::pair<std::string, std::string>, FakeWatch*> watches;
  int started = 0, destroyed = 0;
  bool fail_factory = false;
};

// ---------------------------------------------------------------- revocation

TEST_F(PodMonitorTest, WatchDeletionRevokesSessions) {
  const std::string session = h.Establish();
  ASSERT_FALSE(Revoked(session));
  h.kube_main.RemovePod(kNs, kPod);
  Main().Remove(kPod);
  // Revoked synchronously with the event (well within the one-second target).
  EXPECT_TRUE(Revoked(session));
  EXPECT_EQ(monitor->sessions_revoked(), 1u);
  auto rev = Revocations();
  ASSERT_EQ(rev.size(), 1u);
  EXPECT_EQ(rev[0].decision, audit::Decision::kDeny);
  EXPECT_EQ(rev[0].code, Code::kPodNotLive);
  EXPECT_EQ(rev[0].pod_uid, kUid);
  EXPECT_NE(rev[0].reason.find(session), std::string::npos);
  // docs/protocol.md §7: a revoked session is session_invalid; the pod's next
  // establish meets gate 4.
  ExpectCode(Unwrap(session), 401, "session_invalid");
  ExpectCode(h.Send(h.EstablishCall()), 403, "pod_not_live");
}

TEST_F(PodMonitorTest, WatchNewUidRevokes) {
  const std::string session = h.Establish();
  kube::PodView replaced = EdgeHarness::GoodPod();
  replaced.uid = "0f0f0f0f-1111-2222-3333-444444444444";
  h.kube_main.PutPod(replaced);
  Main().Upsert(replaced);
  EXPECT_TRUE(Revoked(session));
  ExpectCode(Unwrap(session), 401, "session_invalid");
  ExpectCode(h.Send(h.EstablishCall()), 403, "pod_not_live");  // the token names the old UID
}

TEST_F(PodMonitorTest, WatchEphemeralContainerRevokes) {
  const std::string session = h.Establish();
  kube::PodView pod = EdgeHarness::GoodPod();
  pod.ephemeral_containers.push_back({"debugger", "busybox:1"});
  pod.ephemeral_container_statuses.push_back({"debugger", "busybox:1", "docker.io/library/busybox@" + kBadDigest});
  h.kube_main.PutPod(pod);
  Main().Upsert(pod);
  EXPECT_TRUE(Revoked(session));
  auto rev = Revocations();
  ASSERT_EQ(rev.size(), 1u);
  EXPECT_EQ(rev[0].code, Code::kImageNotAllowed);
  ExpectCode(Unwrap(session), 401, "session_invalid");
  ExpectCode(h.Send(h.EstablishCall()), 403, "image_not_allowed");
}

TEST_F(PodMonitorTest, WatchNonDigestImageRevokes) {
  const std::string session = h.Establish();
  kube::PodView pod = EdgeHarness::GoodPod();
  pod.containers.push_back({"sidecar", "envoy:latest"});
  pod.container_statuses.push_back({"sidecar", "envoy:latest", "docker.io/envoyproxy/envoy:latest"});
  h.kube_main.PutPod(pod);
  Main().Upsert(pod);
  EXPECT_TRUE(Revoked(session));
  ExpectCode(h.Send(h.EstablishCall()), 403, "image_not_allowed");
}

TEST_F(PodMonitorTest, HarmlessChangeKeepsSessions) {
  const std::string session = h.Establish();
  kube::PodView pod = EdgeHarness::GoodPod();
  pod.resource_version = "99";  // e.g. a readiness flip
  Main().Upsert(pod);
  EXPECT_FALSE(Revoked(session));
  EXPECT_TRUE(Revocations().empty());
  EXPECT_EQ(Unwrap(session).status, 200);
}

TEST_F(PodMonitorTest, DeletionOfOtherPodKeepsSessions) {
  const std::string session = h.Establish();
  kube::PodView other = EdgeHarness::GoodPod();
  other.name = "api-other";
  other.uid = "99999999-cc54-4b0c-b5b3-16356351e055";
  Main().Upsert(other);
  Main().Remove("api-other");
  EXPECT_FALSE(Revoked(session));
}

TEST_F(PodMonitorTest, AuditModeRecordsWouldDenyWithoutRevoking) {
  auto c = testing::Must(h.store->GetCluster(astis::store::kDefaultOrg, kCluster));
  c.mode = "audit";
  ASSERT_TRUE(h.store->PutCluster(c).ok());
  ASSERT_TRUE(monitor->Rescan().ok());
  const std::string session = h.Establish();
  Main().Remove(kPod);
  EXPECT_FALSE(Revoked(session));
  auto rev = Revocations();
  ASSERT_EQ(rev.size(), 1u);
  EXPECT_EQ(rev[0].decision, audit::Decision::kWouldDeny);
  EXPECT_EQ(monitor->sessions_revoked(), 0u);
}

TEST_F(PodMonitorTest, RevokeStoreFailureIsCountedNotFatal) {
  const std::string session = h.Establish();
  h.store->SetFailing(true);
  Main().Remove(kPod);
  h.store->SetFailing(false);
  EXPECT_FALSE(Revoked(session));
  EXPECT_NE(monitor->MetricsText().find("astis_watch_revoke_failures_total 1"), std::string::npos);
  // Gate 4 still refuses the pod from the cache, confirmed by the API.
  h.kube_main.RemovePod(kNs, kPod);
  ExpectCode(h.Send(h.EstablishCall()), 403, "pod_not_live");
}

// ---------------------------------------------------------------- gate 4

// docs/protocol.md §6 gate 4 "Fresh": a healthy watch does not make a decision;
// every one rests on a read of the API within the bound (the harness's
// bound is 0, so every decision reads). Until protocol 1.1 this test was
// Gate4FromCacheWhenHealthy and asserted no read at all.
TEST_F(PodMonitorTest, Gate4ReadsApiEvenWhenWatchHealthy) {
  const size_t before = h.kube_main.get_pod_calls();
  const std::string session = h.Establish();
  EXPECT_EQ(Unwrap(session).status, 200);
  EXPECT_EQ(h.kube_main.get_pod_calls(), before + 2);
}

TEST_F(PodMonitorTest, Gate4DirectReadWhenUnhealthy) {
  Main().SetHealthy(false);
  const size_t before = h.kube_main.get_pod_calls();
  h.Establish();
  EXPECT_EQ(h.kube_main.get_pod_calls(), before + 1);
}

TEST_F(PodMonitorTest, Gate4RefusesWhenWatchAndApiDown) {
  Main().SetHealthy(false);
  h.kube_main.SetUnavailable(true);
  ExpectCode(h.Send(h.EstablishCall()), 503, "kube_unavailable");
}

TEST_F(PodMonitorTest, Gate4CacheMissConfirmedByApi) {
  Main().Remove(kPod);  // the watch has not seen the pod (yet)
  const size_t before = h.kube_main.get_pod_calls();
  h.Establish();  // the API shows it live: allowed
  EXPECT_EQ(h.kube_main.get_pod_calls(), before + 1);
}

// The watch shows an unapproved debug container but the API cannot be read:
// still refused (fail closed), now as kube_unavailable because the decision
// cannot rest on confirmed state. Until protocol 1.1 this test was
// Gate4CachedRefusalStandsWhenApiDown and expected 403 image_not_allowed.
TEST_F(PodMonitorTest, Gate4WatchRefusalWithApiDownFailsClosed) {
  kube::PodView pod = EdgeHarness::GoodPod();
  pod.ephemeral_containers.push_back({"debugger", "busybox:1"});
  pod.ephemeral_container_statuses.push_back({"debugger", "busybox:1", "docker.io/library/busybox@" + kBadDigest});
  Main().Upsert(pod);
  h.kube_main.SetUnavailable(true);
  ExpectCode(h.Send(h.EstablishCall()), 503, "kube_unavailable");
}

// A watch event drops gate 4's confirmation of that pod, so with a non-zero
// bound the next decision reads again at once instead of reusing it.
TEST_F(PodMonitorTest, WatchChangeInvalidatesConfirmation) {
  h.config.gate4.max_staleness_ms = 60000;
  h.MakeService();
  FreshPods* fresh = &h.service->fresh_pods();
  monitor->SetChangeListener([fresh](const std::string& c, const std::string& ns, const std::string& name) {
    fresh->Invalidate(c, ns, name);
  });
  const std::string session = h.Establish();
  const size_t after_establish = h.kube_main.get_pod_calls();
  EXPECT_EQ(Unwrap(session).status, 200);
  EXPECT_EQ(h.kube_main.get_pod_calls(), after_establish);  // reused within the bound
  // The API and then the watch see an unapproved debug container.
  kube::PodView pod = EdgeHarness::GoodPod();
  pod.ephemeral_containers.push_back({"debugger", "busybox:1"});
  pod.ephemeral_container_statuses.push_back({"debugger", "busybox:1", "docker.io/library/busybox@" + kBadDigest});
  h.kube_main.PutPod(pod);
  Main().Upsert(pod);
  EXPECT_TRUE(Revoked(session));
  ExpectCode(h.Send(h.EstablishCall()), 403, "image_not_allowed");
  EXPECT_EQ(h.kube_main.get_pod_calls(), after_establish + 1);
}

// ---------------------------------------------------------------- rescans, health

TEST_F(PodMonitorTest, RescanFollowsWorkloadsAndClusters) {
  ASSERT_TRUE(h.store->PutWorkload(store::Workload{kOtherCluster, "billing", "job", {kGoodDigest}}).ok());
  ASSERT_TRUE(h.store->PutWorkload(store::Workload{kCluster, kNs, "worker", {kGoodDigest}}).ok());
  ASSERT_TRUE(monitor->Rescan().ok());
  EXPECT_EQ(started, 2);  // one more namespace; payments already watched
  EXPECT_EQ(monitor->States().size(), 2u);
  // A changed API endpoint restarts that cluster's watch.
  auto c = testing::Must(h.store->GetCluster(astis::store::kDefaultOrg, kOtherCluster));
  c.api_url = "https://k8s-new.prod-us1.example.com";
  ASSERT_TRUE(h.store->PutCluster(c).ok());
  ASSERT_TRUE(monitor->Rescan().ok());
  EXPECT_EQ(started, 3);
  EXPECT_EQ(destroyed, 1);
  // Removing the workload stops its watch.
  ASSERT_TRUE(h.store->DeleteWorkload(astis::store::kDefaultOrg, kOtherCluster, "billing", "job").ok());
  ASSERT_TRUE(monitor->Rescan().ok());
  EXPECT_EQ(destroyed, 2);
  EXPECT_EQ(monitor->States().size(), 1u);
  EXPECT_EQ(monitor->CachedPod(kOtherCluster, "billing", "x").status().code(), Code::kKubeUnavailable);
}

TEST_F(PodMonitorTest, FactoryFailureLeavesNamespaceUnwatchedAndRetries) {
  fail_factory = true;
  ASSERT_TRUE(h.store->PutWorkload(store::Workload{kOtherCluster, "billing", "job", {kGoodDigest}}).ok());
  ASSERT_TRUE(monitor->Rescan().ok());
  auto states = monitor->States();
  ASSERT_EQ(states.size(), 2u);
  EXPECT_FALSE(states[1].error.empty());
  EXPECT_EQ(monitor->CachedPod(kOtherCluster, "billing", "x").status().code(), Code::kKubeUnavailable);
  fail_factory = false;
  ASSERT_TRUE(monitor->Rescan().ok());
  EXPECT_TRUE(monitor->CachedPod(kOtherCluster, "billing", "x").ok());
}

TEST_F(PodMonitorTest, RescanStoreFailureChangesNothing) {
  h.store->SetFailing(true);
  EXPECT_EQ(monitor->Rescan().code(), Code::kStoreUnavailable);
  h.store->SetFailing(false);
  EXPECT_EQ(monitor->States().size(), 1u);
}

TEST_F(PodMonitorTest, ReadyzReportsWatchButStaysReady) {
  Main().SetHealthy(false);
  net::ServerRequest req;
  req.method = "GET";
  req.path = req.target = "/readyz";
  auto resp = h.service->Handle(req);
  EXPECT_EQ(resp.status, 200) << resp.body;
  auto j = testing::Must(ParseJson(resp.body));
  EXPECT_EQ(j["checks"]["watch/prod-eu1/payments"], "unhealthy");
}

TEST_F(PodMonitorTest, MetricsIncludeWatchState) {
  h.Establish();
  Main().Remove(kPod);
  const std::string m = h.service->MetricsText();
  EXPECT_NE(m.find("astis_watch_healthy{cluster=\"prod-eu1\",namespace=\"payments\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("astis_watch_restarts_total{cluster=\"prod-eu1\",namespace=\"payments\"} 2"), std::string::npos);
  EXPECT_NE(m.find("astis_watch_relists_total{cluster=\"prod-eu1\",namespace=\"payments\"} 1"), std::string::npos);
  EXPECT_NE(m.find("astis_watch_sessions_revoked_total 1"), std::string::npos);
}

// ---------------------------------------------------------------- dynamic clusters

TEST(KubeClientCache, BuildsLazilyAndRebuildsOnChange) {
  EdgeHarness h;
  int builds = 0;
  KubeClientCache cache(*h.store, h.clock, [&builds](const store::Cluster&) -> Result<std::unique_ptr<kube::KubeClient>> {
    ++builds;
    return std::unique_ptr<kube::KubeClient>(std::make_unique<kube::testing::FakeKubeClient>());
  }, 5000);
  EXPECT_EQ(builds, 0);  // nothing before first use
  kube::KubeClient* first = cache.Get(kCluster);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(cache.Get(kCluster), first);
  h.clock.Advance(10);
  EXPECT_EQ(cache.Get(kCluster), first);  // record unchanged: same client
  EXPECT_EQ(builds, 1);
  auto c = testing::Must(h.store->GetCluster(astis::store::kDefaultOrg, kCluster));
  c.token_file = "/var/run/new-token";
  ASSERT_TRUE(h.store->PutCluster(c).ok());
  h.clock.Advance(10);
  kube::KubeClient* second = cache.Get(kCluster);
  EXPECT_NE(second, nullptr);
  EXPECT_EQ(builds, 2);
  EXPECT_EQ(cache.Get("no-such-cluster"), nullptr);
  // A cluster added while running is served on first use.
  store::Cluster added = c;
  added.name = "added-later";
  added.issuer = "https://oidc.added.example.com";
  ASSERT_TRUE(h.store->PutCluster(added).ok());
  EXPECT_NE(cache.Get("added-later"), nullptr);
}

TEST(KubeClientCache, BuildFailureYieldsNullAndRetries) {
  EdgeHarness h;
  bool fail = true;
  KubeClientCache cache(*h.store, h.clock, [&fail](const store::Cluster&) -> Result<std::unique_ptr<kube::KubeClient>> {
    if (fail) return Error(Code::kInvalidArgument, "bad CA");
    return std::unique_ptr<kube::KubeClient>(std::make_unique<kube::testing::FakeKubeClient>());
  }, 5000);
  EXPECT_EQ(cache.Get(kCluster), nullptr);
  fail = false;
  EXPECT_EQ(cache.Get(kCluster), nullptr);  // within the re-check interval
  h.clock.Advance(6);
  EXPECT_NE(cache.Get(kCluster), nullptr);
}

// ---------------------------------------------------------------- config

constexpr char kMinimalConfig[] = R"(
tls: {cert_file: a, key_file: b}
external_base_url: https://edge.example.com
store: {path: /tmp/x.db}
cvs: {mode: embedded, org_keys: k.json}
audit_log: a.log
)";

TEST(EdgeWatchConfig, DefaultsAndOverrides) {
  auto d = testing::Must(ParseEdgeConfig(kMinimalConfig));
  EXPECT_TRUE(d.watch.enabled);
  EXPECT_EQ(d.watch.rescan_seconds, 30);
  auto c = testing::Must(ParseEdgeConfig(std::string(kMinimalConfig) +
                                         "watch: {enabled: false, rescan_seconds: 5, timeout_seconds: 30, "
                                         "staleness_seconds: 45}\n"));
  EXPECT_FALSE(c.watch.enabled);
  EXPECT_EQ(c.watch.rescan_seconds, 5);
  EXPECT_EQ(c.watch.timeout_seconds, 30);
  EXPECT_EQ(c.watch.staleness_seconds, 45);
}

TEST(EdgeWatchConfig, RejectsBadWatchSettings) {
  for (const char* bad : {"watch: {enabled: yes}\n", "watch: {rescan_seconds: 0}\n", "watch: {unknown: 1}\n",
                          "watch: {timeout_seconds: 120, staleness_seconds: 120}\n"}) {
    auto c = ParseEdgeConfig(std::string(kMinimalConfig) + bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("watch"), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace astis::edge
