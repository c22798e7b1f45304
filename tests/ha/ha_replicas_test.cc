// Several `astis edge` replicas on one PostgreSQL (issue #6): a session, a
// jti, an enrollment pin and a rotation are shared state, so whatever one
// replica decided every other replica sees at once. Also kill -9 of one
// replica under a bounded loopback load (docs/operations.md "Faults").
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/testing/must.h"
#include "ha_world.h"

namespace astis::ha {
namespace {

using test::Must;

class HaReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto w = HaWorld::Start(HaOptions{});
    if (!w.ok() && w.status().code() == Code::kFailedPrecondition) {
      GTEST_SKIP() << "SKIPPED LOUDLY: no PostgreSQL server binaries: " << w.status().ToString();
    }
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    world_ = std::move(w).value();
  }
  void TearDown() override {
    if (HasFailure() && world_ != nullptr) std::cerr << world_->Logs();
    world_.reset();  // kills and reaps every child even on failure
  }

  std::unique_ptr<HaPodClient> NewPod(const std::string& name) {
    auto token = world_->NewPod(name);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    if (!token.ok()) return nullptr;
    auto pod = HaPodClient::Create(*world_, *token);
    EXPECT_TRUE(pod.ok()) << pod.status().ToString();
    return pod.ok() ? std::move(pod).value() : nullptr;
  }
  capsule::SealedValue Seal(std::string_view plaintext, const std::string& name) {
    auto v = world_->SealValue(plaintext, name);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return std::move(v).value();
  }
  static void ExpectEstablished(HaPodClient& pod, size_t replica) {
    auto r = pod.Establish(replica);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->status, 201) << r->body;
    ASSERT_FALSE(pod.session().empty());
  }

  std::unique_ptr<HaWorld> world_;
};

TEST_F(HaReplicasTest, SessionOnAUnwrapOnB) {
  auto pod = NewPod("api-session-a-b");
  ASSERT_NE(pod, nullptr);
  ASSERT_NO_FATAL_FAILURE(ExpectEstablished(*pod, 0));
  const std::vector<capsule::SealedValue> values = {Seal("ha-db-password-1", "db"), Seal("ha-api-token-2", "api")};
  for (size_t replica : {1u, 2u}) {
    auto resp = pod->Send(replica, "POST", "/v1/unwrap", pod->UnwrapBody(values));
    ASSERT_TRUE(resp.ok()) << resp.status().ToString();
    auto plain = pod->OpenValues(*resp, values);
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    EXPECT_EQ(*plain, (std::vector<std::string>{"ha-db-password-1", "ha-api-token-2"})) << "replica " << replica;
  }
}

TEST_F(HaReplicasTest, JtiReplayedToOtherReplicaRefused) {
  auto pod = NewPod("api-replay");
  ASSERT_NE(pod, nullptr);
  ASSERT_NO_FATAL_FAILURE(ExpectEstablished(*pod, 0));
  const std::vector<capsule::SealedValue> values = {Seal("replayed-value", "db")};
  // One proof (one jti), sent first to A, then byte for byte to B.
  const net::HttpRequest req = Must(pod->BuildRequest("POST", "/v1/unwrap", pod->UnwrapBody(values)));
  auto first = pod->SendRaw(0, req);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->status, 200) << first->body;
  for (size_t replica : {1u, 2u}) {
    auto again = pod->SendRaw(replica, req);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->status, 401) << again->body;  // RFC 9449 §11.1, docs/protocol.md §5 jti
    EXPECT_EQ(ErrorCode(*again), "dpop_replay");
    EXPECT_EQ(again->body.find("\"enc\""), std::string::npos);
  }
}

TEST_F(HaReplicasTest, EnrollmentRaceExactlyOneWins) {
  // Several rounds, each a fresh pod with two different DPoP keys (same
  // token, so the same Pod UID) racing on A and B (docs/protocol.md §4.1).
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    auto token = world_->NewPod("api-race-" + std::to_string(round));
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    auto a = HaPodClient::Create(*world_, *token);
    auto b = HaPodClient::Create(*world_, *token);
    ASSERT_TRUE(a.ok() && b.ok());
    // Fetch a nonce first so both establishes are single requests.
    for (auto* p : {a->get(), b->get()}) {
      auto r = p->SendRaw(0, Must(p->BuildRequest("POST", "/v1/sessions", p->EstablishBody())));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(ErrorCode(*r), "use_dpop_nonce") << r->body;
    }
    const net::HttpRequest ra = Must((*a)->BuildRequest("POST", "/v1/sessions", (*a)->EstablishBody()));
    const net::HttpRequest rb = Must((*b)->BuildRequest("POST", "/v1/sessions", (*b)->EstablishBody()));
    std::atomic<int> ready{0};
    Result<net::HttpResponse> resp_a = Error(Code::kInternal, "not run"), resp_b = Error(Code::kInternal, "not run");
    auto race = [&ready](HaPodClient& pod, size_t replica, const net::HttpRequest& req,
                         Result<net::HttpResponse>& out) {
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();  // start together
      out = pod.SendRaw(replica, req);
    };
    std::thread ta(race, std::ref(**a), 0, std::cref(ra), std::ref(resp_a));
    std::thread tb(race, std::ref(**b), 1, std::cref(rb), std::ref(resp_b));
    ta.join();
    tb.join();
    ASSERT_TRUE(resp_a.ok()) << resp_a.status().ToString();
    ASSERT_TRUE(resp_b.ok()) << resp_b.status().ToString();
    const int wins = (resp_a->status == 201) + (resp_b->status == 201);
    EXPECT_EQ(wins, 1) << "round " << round << ": " << resp_a->body << " / " << resp_b->body;
    const net::HttpResponse& loser = resp_a->status == 201 ? *resp_b : *resp_a;
    EXPECT_EQ(loser.status, 409) << loser.body;  // docs/protocol.md §7
    EXPECT_EQ(ErrorCode(loser), "credential_pinned");
  }
}

TEST_F(HaReplicasTest, RotationSeenByAllReplicas) {
  auto pod = NewPod("api-rotate");
  ASSERT_NE(pod, nullptr);
  ASSERT_NO_FATAL_FAILURE(ExpectEstablished(*pod, 0));
  const std::vector<capsule::SealedValue> values = {Seal("rotated-value", "db")};
  // A proof by the old key, prepared before the rotation, used after it.
  const net::HttpRequest old_key_req = Must(pod->BuildRequest("POST", "/v1/unwrap", pod->UnwrapBody(values)));

  const std::string body = pod->PrepareRotation(NowUnix());
  ASSERT_FALSE(body.empty());
  auto rotated = pod->Send(0, "POST", "/v1/sessions/rotate", body);  // proof by the current key
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  ASSERT_EQ(rotated->status, 200) << rotated->body;

  // At once on B: the old key is refused (docs/protocol.md §4.3)...
  auto old = pod->SendRaw(1, old_key_req);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->status, 401) << old->body;
  EXPECT_EQ(ErrorCode(*old), "session_invalid");
  // ...and the new key (with the new recipient key) works on B and C.
  pod->CommitRotation();
  for (size_t replica : {1u, 2u}) {
    auto resp = pod->Send(replica, "POST", "/v1/unwrap", pod->UnwrapBody(values));
    ASSERT_TRUE(resp.ok()) << resp.status().ToString();
    auto plain = pod->OpenValues(*resp, values);
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    EXPECT_EQ(*plain, std::vector<std::string>{"rotated-value"});
  }
}

TEST_F(HaReplicasTest, KillReplicaUnderLoad) {
  constexpr int kThreads = 8;
  constexpr auto kDuration = std::chrono::seconds(2);
  constexpr size_t kVictim = 2;
  const size_t replicas = world_->replica_urls().size();

  struct Worker {
    std::unique_ptr<HaPodClient> pod;
    std::vector<capsule::SealedValue> values;
    std::vector<std::string> plaintexts;
    int ok = 0, ok_after_kill = 0, wrong = 0, http_errors = 0, transport_on_victim = 0, transport_on_survivor = 0;
    std::string first_problem;
  };
  std::vector<Worker> workers(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    Worker& w = workers[t];
    w.pod = NewPod("api-load-" + std::to_string(t));
    ASSERT_NE(w.pod, nullptr);
    ASSERT_NO_FATAL_FAILURE(ExpectEstablished(*w.pod, static_cast<size_t>(t) % replicas));
    w.plaintexts = {"load-secret-" + std::to_string(t) + "-a", "load-secret-" + std::to_string(t) + "-b"};
    w.values = {Seal(w.plaintexts[0], "a"), Seal(w.plaintexts[1], "b")};
  }

  std::atomic<bool> killed{false};
  std::atomic<int> total_ok{0};
  auto work = [&](Worker& w, size_t start) {
    const auto end = std::chrono::steady_clock::now() + kDuration;
    size_t next = start;
    while (std::chrono::steady_clock::now() < end) {
      const size_t replica = next % replicas;
      ++next;  // spread over the replicas; on failure the next try goes elsewhere
      const bool after_kill = killed.load();
      auto resp = w.pod->Send(replica, "POST", "/v1/unwrap", w.pod->UnwrapBody(w.values));
      if (!resp.ok()) {
        // A transport error: the client fails over to the next replica.
        if (replica == kVictim && (after_kill || killed.load())) {
          ++w.transport_on_victim;
        } else {
          ++w.transport_on_survivor;
          if (w.first_problem.empty()) w.first_problem = "transport: " + resp.status().ToString();
        }
        continue;
      }
      auto plain = w.pod->OpenValues(*resp, w.values);
      if (!plain.ok()) {
        ++w.http_errors;
        if (w.first_problem.empty()) w.first_problem = plain.status().ToString();
      } else if (*plain != w.plaintexts) {
        ++w.wrong;
      } else {
        ++w.ok;
        total_ok.fetch_add(1);
        if (after_kill) ++w.ok_after_kill;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(work, std::ref(workers[t]), static_cast<size_t>(t));
  // Kill -9 the victim once the load is running (bounded wait on progress).
  const auto deadline = std::chrono::steady_clock::now() + kDuration;
  while (total_ok.load() < 3 * kThreads && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  killed.store(true);
  world_->KillEdge(kVictim);
  for (auto& th : threads) th.join();

  int ok = 0, victim_errors = 0;
  for (int t = 0; t < kThreads; ++t) {
    const Worker& w = workers[t];
    SCOPED_TRACE("thread " + std::to_string(t) + " " + w.first_problem);
    EXPECT_EQ(w.wrong, 0);                  // never a wrong plaintext
    EXPECT_EQ(w.http_errors, 0);            // never an HTTP refusal
    EXPECT_EQ(w.transport_on_survivor, 0);  // transport errors only on the dead replica
    EXPECT_GT(w.ok_after_kill, 0);          // the session lives on the survivors
    ok += w.ok;
    victim_errors += w.transport_on_victim;
  }
  EXPECT_GT(victim_errors, 0) << "the killed replica was never tried after the kill";
  std::cerr << "KillReplicaUnderLoad: " << ok << " unwraps OK, " << victim_errors
            << " transport errors on the killed replica\n";
}

}  // namespace
}  // namespace astis::ha
