// Dependency faults under several replicas (docs/operations.md "Faults"):
// PostgreSQL, the CVS or the kube API goes away and comes back. The edges
// must fail closed with the exact 503 code (never 200, never a 4xx that
// would make the SDK give up) and recover without being restarted.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "ha_world.h"

namespace astis::ha {
namespace {

using std::chrono::steady_clock;

class HaFaultsTest : public ::testing::Test {
 protected:
  void Start(const HaOptions& options) {
    auto w = HaWorld::Start(options);
    if (!w.ok() && w.status().code() == Code::kFailedPrecondition) {
      GTEST_SKIP() << "SKIPPED LOUDLY: no PostgreSQL server binaries: " << w.status().ToString();
    }
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    world_ = std::move(w).value();
  }
  void TearDown() override {
    if (HasFailure() && world_ != nullptr) std::cerr << world_->Logs();
    world_.reset();
  }

  std::unique_ptr<HaPodClient> NewPod(const std::string& name) {
    auto token = world_->NewPod(name);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    if (!token.ok()) return nullptr;
    auto pod = HaPodClient::Create(*world_, *token);
    EXPECT_TRUE(pod.ok()) << pod.status().ToString();
    return pod.ok() ? std::move(pod).value() : nullptr;
  }

  // Unwrap sends one unwrap of values to replica; a transport error is a
  // test failure here (the edges stay up in these tests).
  net::HttpResponse Unwrap(HaPodClient& pod, size_t replica, const std::vector<capsule::SealedValue>& values) {
    auto resp = pod.Send(replica, "POST", "/v1/unwrap", pod.UnwrapBody(values));
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    return resp.ok() ? *resp : net::HttpResponse{};
  }

  // ExpectOutage checks that every replica answers 503 with exactly code.
  void ExpectOutage(const std::function<net::HttpResponse(size_t)>& request, const std::string& code) {
    for (size_t i = 0; i < world_->replica_urls().size(); ++i) {
      const net::HttpResponse r = request(i);
      EXPECT_EQ(r.status, 503) << "replica " << i << ": " << r.body;
      EXPECT_EQ(ErrorCode(r), code) << "replica " << i;
    }
  }

  // AwaitRecovery polls request on every replica (deadline 30 s) until each
  // succeeds; every answer before that must be a 503 with outage_code.
  void AwaitRecovery(const std::function<net::HttpResponse(size_t)>& request, int ok_status,
                     const std::string& outage_code) {
    for (size_t i = 0; i < world_->replica_urls().size(); ++i) {
      const auto deadline = steady_clock::now() + std::chrono::seconds(30);
      bool recovered = false;
      while (!recovered && steady_clock::now() < deadline) {
        const net::HttpResponse r = request(i);
        if (r.status == ok_status) {
          recovered = true;
          break;
        }
        ASSERT_EQ(r.status, 503) << "replica " << i << " during recovery: " << r.body;
        ASSERT_EQ(ErrorCode(r), outage_code) << "replica " << i;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // poll step, bounded by the deadline
      }
      EXPECT_TRUE(recovered) << "replica " << i << " did not recover within 30 s";
    }
  }

  std::unique_ptr<HaWorld> world_;
};

TEST_F(HaFaultsTest, PostgresStoppedThenRestarted) {
  ASSERT_NO_FATAL_FAILURE(Start(HaOptions{}));
  if (world_ == nullptr) return;
  auto pod = NewPod("api-pg-outage");
  ASSERT_NE(pod, nullptr);
  auto est = pod->Establish(0);
  ASSERT_TRUE(est.ok() && est->status == 201) << (est.ok() ? est->body : est.status().ToString());
  auto sealed = world_->SealValue("survives-pg-outage", "db");
  ASSERT_TRUE(sealed.ok());
  const std::vector<capsule::SealedValue> values = {*sealed};
  auto unwrap = [&](size_t i) { return Unwrap(*pod, i, values); };
  ASSERT_EQ(Unwrap(*pod, 1, values).status, 200);

  ASSERT_TRUE(world_->pg().Stop().ok());
  // Never 200, never a 4xx: exactly 503 store_unavailable on every replica.
  ExpectOutage(unwrap, "store_unavailable");
  ExpectOutage(unwrap, "store_unavailable");  // twice: pooled connections were all broken

  ASSERT_TRUE(world_->pg().Restart().ok());
  ASSERT_NO_FATAL_FAILURE(AwaitRecovery(unwrap, 200, "store_unavailable"));
  // The same session, from the store, opens correctly on every replica.
  for (size_t i = 0; i < world_->replica_urls().size(); ++i) {
    auto plain = pod->OpenValues(Unwrap(*pod, i, values), values);
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    EXPECT_EQ(*plain, std::vector<std::string>{"survives-pg-outage"});
  }
}

TEST_F(HaFaultsTest, CvsStoppedThenRestarted) {
  ASSERT_NO_FATAL_FAILURE(Start(HaOptions{}));
  if (world_ == nullptr) return;
  auto pod = NewPod("api-cvs-outage");
  ASSERT_NE(pod, nullptr);
  auto est = pod->Establish(0);
  ASSERT_TRUE(est.ok() && est->status == 201) << (est.ok() ? est->body : est.status().ToString());
  auto sealed = world_->SealValue("survives-cvs-outage", "db");
  ASSERT_TRUE(sealed.ok());
  const std::vector<capsule::SealedValue> values = {*sealed};
  auto unwrap = [&](size_t i) { return Unwrap(*pod, i, values); };
  ASSERT_EQ(Unwrap(*pod, 2, values).status, 200);

  world_->KillCvs();  // kill -9
  ExpectOutage(unwrap, "cvs_unavailable");

  ASSERT_TRUE(world_->StartCvs().ok()) << world_->Logs();  // same port, same config
  ASSERT_NO_FATAL_FAILURE(AwaitRecovery(unwrap, 200, "cvs_unavailable"));
  auto plain = pod->OpenValues(Unwrap(*pod, 1, values), values);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(*plain, std::vector<std::string>{"survives-cvs-outage"});
}

// With the pod watch disabled every establishment reads the pod from the API
// (gate 4 from fresh state), so the outage shows at once; with the watch on,
// gate 4 may be served from a healthy watch cache until the watch turns
// unhealthy (watch.staleness_seconds), which this test does not wait for.
TEST_F(HaFaultsTest, KubeApiStoppedFailsClosed) {
  ASSERT_NO_FATAL_FAILURE(Start(HaOptions{.replicas = 2, .watch_enabled = false}));
  if (world_ == nullptr) return;
  // Tokens are minted while the API is up: one live pod per replica, so a
  // successful establishment on one replica pins nothing another one tries.
  std::vector<std::string> tokens;
  for (size_t i = 0; i < world_->replica_urls().size(); ++i) {
    auto token = world_->NewPod("api-kube-outage-" + std::to_string(i));
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    tokens.push_back(*token);
  }
  // Each attempt is a new pod client (a new DPoP key); a refused attempt
  // leaves no session, so no pin.
  auto establish = [&](size_t i) {
    auto pod = HaPodClient::Create(*world_, tokens[i]);
    EXPECT_TRUE(pod.ok());
    if (!pod.ok()) return net::HttpResponse{};
    auto resp = (*pod)->Establish(i);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    return resp.ok() ? *resp : net::HttpResponse{};
  };

  world_->kube().Stop();
  ExpectOutage(establish, "kube_unavailable");  // fail closed (docs/protocol.md §6.4)

  const Status restarted = world_->kube().Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  ASSERT_NO_FATAL_FAILURE(AwaitRecovery(establish, 201, "kube_unavailable"));
}

}  // namespace
}  // namespace astis::ha
