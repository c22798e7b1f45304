// FreshPods: gate 4's confirmations are never older than the bound, reads
// are coalesced per pod, and one cluster's API cannot hold more than its
// share of request threads (docs/protocol.md §6 gate 4 "Fresh", docs/edge.md).
#include "edge/fresh_pods.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "kube/testing/fake_kube_client.h"

namespace astis::edge {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr char kCluster[] = "prod-eu1";
constexpr char kOther[] = "prod-us1";
constexpr char kNs[] = "payments";

kube::PodView Pod(std::string name, std::string phase = "Running") {
  kube::PodView p;
  p.name = std::move(name);
  p.ns = kNs;
  p.uid = "uid-" + p.name;
  p.phase = std::move(phase);
  return p;
}

// GatedClient blocks every GetPod until Release (or its own timeout), then
// answers a running pod; it counts calls and how many are blocked now.
class GatedClient final : public kube::KubeClient {
 public:
  Result<kube::PodView> GetPod(std::string_view ns, std::string_view name) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++calls_;
    ++blocked_;
    cv_.notify_all();
    const bool released = cv_.wait_for(lock, std::chrono::seconds(10), [this] { return released_; });
    --blocked_;
    if (!released) return Error(Code::kKubeUnavailable, "gated client timed out (test)");
    kube::PodView p = Pod(std::string(name));
    p.ns = std::string(ns);
    return p;
  }
  Status Ping() override { return OkStatus(); }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool WaitBlocked(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return blocked_ >= n; });
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  int calls_ = 0;
  int blocked_ = 0;
};

class FreshPodsTest : public ::testing::Test {
 protected:
  FreshPodsTest() : clock_(kNow) {
    main_.PutPod(Pod("api-1"));
    other_.PutPod(Pod("api-1"));
  }
  std::unique_ptr<FreshPods> Make(FreshPodOptions o, kube::KubeClient* main = nullptr) {
    kube::KubeClient* m = main != nullptr ? main : &main_;
    return std::make_unique<FreshPods>(
        [this, m](std::string_view c) -> kube::KubeClient* {
          if (c == kCluster) return m;
          if (c == kOther) return &other_;
          return nullptr;
        },
        clock_, o);
  }
  FakeClock clock_;
  kube::testing::FakeKubeClient main_;
  kube::testing::FakeKubeClient other_;
};

TEST_F(FreshPodsTest, FreshPodsReusesConfirmationWithinBound) {
  auto fresh = Make({});
  ASSERT_TRUE(fresh->Read(kCluster, kNs, "api-1").ok());
  clock_.Set(kNow);  // same instant
  ASSERT_TRUE(fresh->Read(kCluster, kNs, "api-1").ok());
  EXPECT_EQ(main_.get_pod_calls(), 1u);
  EXPECT_NE(fresh->MetricsText().find("astis_gate4_confirmations_reused_total 1"), std::string::npos);
}

// The API changes after a confirmation; once the bound has passed the next
// decision must see the change (the core of docs/protocol.md §6 "Fresh").
TEST_F(FreshPodsTest, FreshPodsConfirmationExpiresAfterBound) {
  FreshPodOptions o;
  o.max_staleness_ms = 1000;
  auto fresh = Make(o);
  ASSERT_EQ(fresh->Read(kCluster, kNs, "api-1")->phase, "Running");
  main_.PutPod(Pod("api-1", "Failed"));
  // Within the bound the confirmation stands (allowed by the protocol).
  clock_.AdvanceMillis(1000);
  ASSERT_EQ(fresh->Read(kCluster, kNs, "api-1")->phase, "Running");
  EXPECT_EQ(main_.get_pod_calls(), 1u);
  // 1 ms later it does not: the next decision reads again.
  clock_.AdvanceMillis(1);
  ASSERT_EQ(fresh->Read(kCluster, kNs, "api-1")->phase, "Failed");
  EXPECT_EQ(main_.get_pod_calls(), 2u);
}

TEST_F(FreshPodsTest, FreshPodsZeroStalenessReadsEveryTime) {
  FreshPodOptions o;
  o.max_staleness_ms = 0;
  auto fresh = Make(o);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(fresh->Read(kCluster, kNs, "api-1").ok());
  EXPECT_EQ(main_.get_pod_calls(), 3u);
}

TEST_F(FreshPodsTest, FreshPodsInvalidateForcesRead) {
  auto fresh = Make({});
  ASSERT_TRUE(fresh->Read(kCluster, kNs, "api-1").ok());
  main_.RemovePod(kNs, "api-1");
  fresh->Invalidate(kCluster, kNs, "api-1");
  auto again = fresh->Read(kCluster, kNs, "api-1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kPodNotLive);
  EXPECT_EQ(main_.get_pod_calls(), 2u);
}

// "No such pod" is an answer: cached like a pod, and the cluster is up.
TEST_F(FreshPodsTest, FreshPodsNotFoundIsAnAnswer) {
  auto fresh = Make({});
  EXPECT_EQ(fresh->Read(kCluster, kNs, "missing").status().code(), Code::kPodNotLive);
  EXPECT_EQ(fresh->Read(kCluster, kNs, "missing").status().code(), Code::kPodNotLive);
  EXPECT_EQ(main_.get_pod_calls(), 1u);
  EXPECT_EQ(fresh->State(kCluster).health, "ok");
}

TEST_F(FreshPodsTest, FreshPodsCoalescesConcurrentReads) {
  GatedClient gated;
  FreshPodOptions o;
  o.max_waiting_per_cluster = 4;
  auto fresh = Make(o, &gated);
  std::vector<std::future<Result<kube::PodView>>> readers;
  readers.push_back(std::async(std::launch::async, [&] { return fresh->Read(kCluster, kNs, "api-1"); }));
  ASSERT_TRUE(gated.WaitBlocked(1));
  for (int i = 0; i < 2; ++i) {
    readers.push_back(std::async(std::launch::async, [&] { return fresh->Read(kCluster, kNs, "api-1"); }));
  }
  // The joiners are waiting on the one read (3 waiting threads in all).
  for (int i = 0; i < 1000 && fresh->State(kCluster).waiting < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(fresh->State(kCluster).waiting, 3u);
  gated.Release();
  for (auto& f : readers) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->name, "api-1");
  }
  EXPECT_EQ(gated.calls(), 1);
}

// A frozen cluster may hold at most max_waiting_per_cluster threads; beyond
// that its requests are refused at once, and other clusters are untouched.
TEST_F(FreshPodsTest, FreshPodsShareOfThreadsBounded) {
  GatedClient gated;
  FreshPodOptions o;
  o.max_waiting_per_cluster = 1;
  o.slow_read_ms = 50;
  auto fresh = Make(o, &gated);
  auto stuck = std::async(std::launch::async, [&] { return fresh->Read(kCluster, kNs, "api-1"); });
  ASSERT_TRUE(gated.WaitBlocked(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(80));  // the read is now slow
  const auto t0 = std::chrono::steady_clock::now();
  auto shed = fresh->Read(kCluster, kNs, "api-2");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));  // no wait for the frozen read
  ASSERT_FALSE(shed.ok());
  EXPECT_EQ(shed.status().code(), Code::kKubeUnavailable);
  // Joining the frozen read is also over the share.
  EXPECT_EQ(fresh->Read(kCluster, kNs, "api-1").status().code(), Code::kKubeUnavailable);
  EXPECT_EQ(fresh->State(kCluster).shed, 2u);
  // The other cluster is served meanwhile.
  EXPECT_TRUE(fresh->Read(kOther, kNs, "api-1").ok());
  gated.Release();
  EXPECT_TRUE(stuck.get().ok());
  EXPECT_EQ(gated.calls(), 1);
}

// A healthy cluster's burst of cold pods is never refused for exceeding the
// share: while no read is slow, reads of different pods run side by side.
TEST_F(FreshPodsTest, FreshPodsHealthyBurstNotShed) {
  GatedClient gated;
  FreshPodOptions o;
  o.max_waiting_per_cluster = 1;
  o.slow_read_ms = 60000;
  auto fresh = Make(o, &gated);
  std::vector<std::future<Result<kube::PodView>>> readers;
  for (int i = 0; i < 4; ++i) {
    readers.push_back(std::async(std::launch::async,
                                 [&, i] { return fresh->Read(kCluster, kNs, "api-" + std::to_string(i)); }));
  }
  ASSERT_TRUE(gated.WaitBlocked(4));
  gated.Release();
  for (auto& f : readers) EXPECT_TRUE(f.get().ok());
  EXPECT_EQ(fresh->State(kCluster).shed, 0u);
}

TEST_F(FreshPodsTest, FreshPodsWaiterGivesUpAfterTimeout) {
  GatedClient gated;
  FreshPodOptions o;
  o.max_waiting_per_cluster = 2;
  o.api_timeout_ms = 100;
  auto fresh = Make(o, &gated);
  auto stuck = std::async(std::launch::async, [&] { return fresh->Read(kCluster, kNs, "api-1"); });
  ASSERT_TRUE(gated.WaitBlocked(1));
  const auto t0 = std::chrono::steady_clock::now();
  auto joined = fresh->Read(kCluster, kNs, "api-1");
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.status().code(), Code::kKubeUnavailable);
  EXPECT_GE(waited, std::chrono::milliseconds(90));
  gated.Release();
  EXPECT_TRUE(stuck.get().ok());
}

// After a failed read the cluster's reads fail fast until retry_ms has
// passed; then one read goes through and the cluster recovers by itself.
TEST_F(FreshPodsTest, FreshPodsFailFastAfterFailure) {
  FreshPodOptions o;
  o.retry_ms = 1000;
  auto fresh = Make(o);
  EXPECT_EQ(fresh->State(kCluster).health, "unknown");
  main_.SetUnavailable(true);
  EXPECT_EQ(fresh->Read(kCluster, kNs, "api-1").status().code(), Code::kKubeUnavailable);
  EXPECT_EQ(fresh->State(kCluster).health, "unavailable");
  main_.SetUnavailable(false);
  EXPECT_EQ(fresh->Read(kCluster, kNs, "api-1").status().code(), Code::kKubeUnavailable);
  EXPECT_EQ(main_.get_pod_calls(), 1u);  // refused without a read
  EXPECT_TRUE(fresh->Read(kOther, kNs, "api-1").ok());  // isolation
  clock_.Advance(2);
  EXPECT_TRUE(fresh->Read(kCluster, kNs, "api-1").ok());
  EXPECT_EQ(fresh->State(kCluster).health, "ok");
  const std::string m = fresh->MetricsText();
  EXPECT_NE(m.find("astis_cluster_api_up{cluster=\"prod-eu1\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("astis_gate4_api_failures_total{cluster=\"prod-eu1\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("astis_gate4_shed_total{cluster=\"prod-eu1\"} 1"), std::string::npos) << m;
}

TEST_F(FreshPodsTest, FreshPodsUnknownClusterFailsClosed) {
  auto fresh = Make({});
  EXPECT_EQ(fresh->Read("nowhere", kNs, "api-1").status().code(), Code::kKubeUnavailable);
}

TEST_F(FreshPodsTest, FreshPodsCacheBounded) {
  FreshPodOptions o;
  o.max_cached_pods = 4;
  auto fresh = Make(o);
  for (int i = 0; i < 10; ++i) {
    const std::string name = "api-" + std::to_string(i);
    main_.PutPod(Pod(name));
    ASSERT_TRUE(fresh->Read(kCluster, kNs, name).ok());
  }
  EXPECT_LE(fresh->cached_pods(), 4u);
}

}  // namespace
}  // namespace astis::edge
