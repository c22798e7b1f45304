// Lifecycle tests of the SDK engine against the scripted FakeEdge over HTTPS.
#include "sdk/engine.h"

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "common/time_format.h"
#include "sdk/internal/test_hooks.h"
#include "sdk/tests/sdk_test_util.h"

namespace astis::sdkcore::testing {
namespace {

class EngineTest : public SdkFixture {};

TEST_F(EngineTest, EstablishesAndUnwrapsBatch) {
  std::vector<std::string> names;
  for (int i = 0; i < 70; ++i) {
    names.push_back("key-" + std::to_string(i));
    PutSecret(names.back(), "value " + std::to_string(i));
  }
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  auto values = engine->GetMany(names);
  ASSERT_TRUE(values.ok()) << values.status().ToString();
  ASSERT_EQ(values->size(), 70u);
  for (int i = 0; i < 70; ++i) EXPECT_EQ((*values)[i].RevealString(), "value " + std::to_string(i));
  // docs/protocol.md §4.2: at most 64 capsules per unwrap request.
  EXPECT_EQ(edge_->unwrap_batches(), (std::vector<size_t>{64, 6}));
  EXPECT_EQ(edge_->Count("/v1/sessions"), 2);  // nonce dance + establish
  EXPECT_EQ(engine->stats().establishes, 1u);
  EXPECT_TRUE((*values)[0].IsLocked());
  // The session is ended at the edge on Close.
  const std::string session = engine->TestOnlySessionId();
  EXPECT_TRUE(engine->Close().ok());
  EXPECT_TRUE(edge_->sessions().at(session).ended);
  EXPECT_EQ(engine->Get("key-1").status().code(), Code::kFailedPrecondition);
}

TEST_F(EngineTest, ReadsSealedValueFromEnvWhenNoFile) {
  env_["ASTIS_SECRET_DB_PASSWORD"] = edge_->Seal("from-env", "db-password");
  auto engine = MakeEngine();
  EXPECT_EQ(Plain(engine->Get("db-password")), "from-env");
}

TEST_F(EngineTest, MissingSecretIsNotFound) {
  auto engine = MakeEngine();
  EXPECT_EQ(engine->Get("absent").status().code(), Code::kNotFound);
  EXPECT_EQ(edge_->Count("/v1/sessions"), 0);  // nothing sent for a local failure
}

TEST_F(EngineTest, RejectsPathTraversalName) {
  auto engine = MakeEngine();
  for (const char* bad : {"../etc/passwd", "..", ".", "..data", "a/b", ""}) {
    EXPECT_EQ(engine->Get(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST_F(EngineTest, RejectsMalformedSealedValue) {
  WriteFile(secrets_dir_ + "/broken", "astis.v1.not-a-capsule");
  auto engine = MakeEngine();
  EXPECT_EQ(engine->Get("broken").status().code(), Code::kCapsuleInvalid);
}

TEST_F(EngineTest, RejectsNonHttpsEdgeUrl) {
  EXPECT_FALSE(ParseEdgeUrls("http://edge:8080").ok());
  EXPECT_FALSE(ParseEdgeUrls("https://user@edge").ok());
  EXPECT_FALSE(ParseEdgeUrls("https://edge?x=1").ok());
  auto two = ParseEdgeUrls("https://a:1, https://b:2/");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, (std::vector<std::string>{"https://a:1", "https://b:2"}));
}

TEST_F(EngineTest, NonceDanceOnFirstRequest) {
  PutSecret("a", "alpha");
  PutSecret("b", "beta");
  auto engine = MakeEngine();
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  // RFC 9449 §8: the first request has no nonce, is refused once with
  // use_dpop_nonce, and is retried with the DPoP-Nonce received.
  EXPECT_EQ(edge_->Count("use_dpop_nonce"), 1);
  EXPECT_EQ(edge_->Count("/v1/sessions"), 2);
  // Every response's nonce is taken: with a nonce that changes on every
  // response, later requests still pass first time.
  edge_->SetRotateNonceEachResponse(true);
  EXPECT_EQ(Plain(engine->Get("b")), "beta");
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(edge_->Count("use_dpop_nonce"), 1);
  EXPECT_EQ(edge_->Count("dpop_invalid"), 0);
}

TEST_F(EngineTest, UseDpopNonceIsRetriedOnlyOnce) {
  PutSecret("a", "alpha");
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  edge_->FailNext("/v1/unwrap", 5, 401, "use_dpop_nonce");
  EXPECT_EQ(engine->Get("a").status().code(), Code::kUseDpopNonce);
  EXPECT_EQ(edge_->Count("/v1/unwrap"), 1 + 2);
}

TEST_F(EngineTest, TokenFileRotationPickedUp) {
  PutSecret("a", "alpha");
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(edge_->tokens_seen().back(), "token-one");
  SwapToken("token-two\n");  // the kubelet swaps the ..data symlink
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  // The edge verified ath against the token it received, so the proof was
  // bound to the new token too.
  EXPECT_EQ(edge_->tokens_seen().back(), "token-two");
}

TEST_F(EngineTest, MissingTokenFileFailsWithIo) {
  PutSecret("a", "alpha");
  config_.token_path = dir_ + "/no-such-token";
  auto engine = MakeEngine();
  EXPECT_EQ(engine->Get("a").status().code(), Code::kIo);
}

TEST_F(EngineTest, RotatesDpopKey) {
  PutSecret("a", "alpha");
  config_.rotation_seconds = 300;
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  const std::string jkt1 = engine->TestOnlyDpopJkt();
  const std::string session = engine->TestOnlySessionId();
  clock_.Advance(299);
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(edge_->Count("rotated"), 0);
  clock_.Advance(2);
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  // docs/protocol.md §4.3: the edge checked the proof by the old key and the pop
  // by the new one; the pin moved and the unwrap after it used the new key
  // and the new recipient key.
  EXPECT_EQ(edge_->Count("rotated"), 1);
  const std::string jkt2 = engine->TestOnlyDpopJkt();
  EXPECT_NE(jkt1, jkt2);
  EXPECT_EQ(edge_->sessions().at(session).jkt, jkt2);
  EXPECT_EQ(engine->TestOnlySessionId(), session);
  EXPECT_EQ(engine->stats().establishes, 1u);
}

TEST_F(EngineTest, FailedRotationKeepsWorking) {
  PutSecret("a", "alpha");
  config_.rotation_seconds = 300;
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  const std::string jkt1 = engine->TestOnlyDpopJkt();
  edge_->FailNext("/v1/sessions/rotate", 1, 400, "bad_request");
  clock_.Advance(301);
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(engine->TestOnlyDpopJkt(), jkt1);
  clock_.Advance(61);  // retried after rotation_retry_seconds
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_NE(engine->TestOnlyDpopJkt(), jkt1);
}

TEST_F(EngineTest, RefreshesBeforeExpiry) {
  PutSecret("a", "alpha");
  edge_->SetSessionTtl(600);
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  const std::string session = engine->TestOnlySessionId();
  const int64_t expires1 = edge_->sessions().at(session).expires_at;
  clock_.Advance(600 - 61);
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(engine->stats().establishes, 1u);
  clock_.Advance(2);  // now within the 60 s margin before expiresAt
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(engine->stats().establishes, 2u);
  // Same key re-establishes: the edge extended the same session.
  EXPECT_EQ(engine->TestOnlySessionId(), session);
  EXPECT_GT(edge_->sessions().at(session).expires_at, expires1);
}

TEST_F(EngineTest, ReestablishesAfterSessionInvalid) {
  PutSecret("a", "alpha");
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  edge_->RevokeSessions();
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(engine->stats().establishes, 2u);
}

TEST_F(EngineTest, PersistentSessionInvalidIsNotLooped) {
  PutSecret("a", "alpha");
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  const int before = edge_->Count("/v1/unwrap");
  edge_->FailNext("/v1/unwrap", 10, 401, "session_invalid");
  EXPECT_EQ(engine->Get("a").status().code(), Code::kSessionInvalid);
  EXPECT_EQ(edge_->Count("/v1/unwrap") - before, 2);  // once, then once after re-establishing
}

TEST_F(EngineTest, EdgeRestartRecovers) {
  PutSecret("a", "alpha");
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  ASSERT_TRUE(edge_->Restart().ok());  // same port, no sessions, new nonce secret
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(engine->stats().establishes, 2u);
}

TEST_F(EngineTest, Retries503WithBackoff) {
  PutSecret("a", "alpha");
  config_.backoff_base = std::chrono::milliseconds(100);
  config_.max_attempts = 4;
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  const int before = edge_->Count("/v1/unwrap");
  edge_->FailNext("/v1/unwrap", 2, 503, "cvs_unavailable");
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(edge_->Count("/v1/unwrap") - before, 3);
  auto waits = sleeper_.waits();
  ASSERT_EQ(waits.size(), 2u);
  // Jittered exponential: attempt k waits in [d/2, d], d = 100 ms * 2^(k-1).
  EXPECT_GE(waits[0].count(), 50);
  EXPECT_LE(waits[0].count(), 100);
  EXPECT_GE(waits[1].count(), 100);
  EXPECT_LE(waits[1].count(), 200);
  // Bounded: still 503 after max_attempts is returned as the edge's code.
  edge_->FailNext("/v1/unwrap", 10, 503, "cvs_unavailable");
  const int before2 = edge_->Count("/v1/unwrap");
  EXPECT_EQ(engine->Get("a").status().code(), Code::kCvsUnavailable);
  EXPECT_EQ(edge_->Count("/v1/unwrap") - before2, 4);
  EXPECT_EQ(sleeper_.waits().size(), 2u + 3u);
}

TEST_F(EngineTest, DoesNotRetry4xx) {
  PutSecret("a", "alpha");
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  const struct {
    int status;
    const char* code;
    Code expect;
  } cases[] = {{403, "pod_not_live", Code::kPodNotLive},     {403, "image_not_allowed", Code::kImageNotAllowed},
               {401, "token_invalid", Code::kTokenInvalid},  {401, "api_key_invalid", Code::kApiKeyInvalid},
               {429, "rate_limited", Code::kRateLimited},    {400, "bad_request", Code::kBadRequest},
               {409, "credential_pinned", Code::kCredentialPinned}};
  for (const auto& c : cases) {
    const int before = edge_->Count("/v1/unwrap");
    edge_->FailNext("/v1/unwrap", 1, c.status, c.code);
    EXPECT_EQ(engine->Get("a").status().code(), c.expect) << c.code;
    EXPECT_EQ(edge_->Count("/v1/unwrap") - before, 1) << c.code;
  }
  EXPECT_TRUE(sleeper_.waits().empty());
}

TEST_F(EngineTest, RefusesWrongApiKey) {
  PutSecret("a", "alpha");
  env_["ASTIS_API_KEY"] = "astis_k1_wrong";
  auto engine = MakeEngine();
  EXPECT_EQ(engine->Get("a").status().code(), Code::kApiKeyInvalid);
  EXPECT_EQ(edge_->Count("/v1/sessions"), 1);
}

TEST_F(EngineTest, FailsOverToNextEndpoint) {
  PutSecret("a", "alpha");
  // A port with nothing listening: start and stop a second edge.
  FakeEdge dead(clock_, *pki_);
  ASSERT_TRUE(dead.Start().ok());
  const std::string dead_url = dead.url();
  dead.Stop();
  config_.edge_urls = {dead_url, edge_->url()};
  auto engine = MakeEngine();
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  // All endpoints down: kUnavailable, not a hang or a loop.
  edge_->Stop();
  EXPECT_EQ(engine->Get("a").status().code(), Code::kUnavailable);
}

TEST_F(EngineTest, KeysAreLocked) {
  auto engine = MakeEngine();
  const void* recipient = engine->TestOnlyRecipientKeyAddress();
  ASSERT_NE(recipient, nullptr);
  EXPECT_TRUE(engine->TestOnlyRecipientKeyLocked());
  const std::string flags = SmapsField(recipient, "VmFlags:");
  EXPECT_NE(flags.find(" dd"), std::string::npos) << flags;  // MADV_DONTDUMP
  EXPECT_NE(flags.find(" lo"), std::string::npos) << flags;  // mlock
  const void* dpop = engine->TestOnlyDpopKeyAddress();
  ASSERT_NE(dpop, nullptr);
  EXPECT_TRUE(engine->TestOnlyDpopKeyLocked());
  const std::string dpop_flags = SmapsField(dpop, "VmFlags:");
  EXPECT_NE(dpop_flags.find(" dd"), std::string::npos) << dpop_flags;
  EXPECT_NE(dpop_flags.find(" lo"), std::string::npos) << dpop_flags;
  ASSERT_TRUE(engine->Close().ok());
  EXPECT_EQ(engine->TestOnlyRecipientKeyAddress(), nullptr);  // wiped and released
}

TEST_F(EngineTest, ConcurrentGets) {
  constexpr int kThreads = 6, kPerThread = 8;
  for (int t = 0; t < kThreads; ++t) PutSecret("k" + std::to_string(t), "v" + std::to_string(t));
  // The clock jump that triggers rotation stays inside the edge's 60 s iat
  // window, so proofs in flight across the jump remain valid.
  config_.rotation_seconds = 30;
  auto engine = MakeEngine();
  std::atomic<int> ok{0};
  std::mutex errors_mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (t == 0 && i == kPerThread / 2) clock_.Advance(31);  // a rotation in the middle
        const std::string got = Plain(engine->Get("k" + std::to_string(t)));
        if (got == "v" + std::to_string(t)) {
          ++ok;
        } else {
          std::lock_guard<std::mutex> lock(errors_mu);
          errors.push_back(got);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread) << (errors.empty() ? "" : errors.front());
  EXPECT_EQ(engine->stats().establishes, 1u);
  EXPECT_EQ(edge_->Count("rotated"), 1);
}

// docs/protocol.md §4.1 (1.1): receivers accept a fractional part (and RFC
// 3339 §5.6's lower-case "t"/"z"); the lease is still renewed before it ends.
TEST_F(EngineTest, AcceptsFractionalExpiresAt) {
  PutSecret("a", "alpha");
  edge_->SetSessionTtl(600);
  edge_->SetExpiresAtFormat([](int64_t t) {
    std::string s = FormatRfc3339(t * 1000, TimePrecision::kSeconds);
    s[10] = 't';
    s.pop_back();
    return s + ".987654321z";
  });
  auto engine = MakeEngine();
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  clock_.Advance(600 - 61);
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(engine->stats().establishes, 1u);
  clock_.Advance(2);  // within the 60 s margin: renewed
  ASSERT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(engine->stats().establishes, 2u);
}

// §4.1 says UTC with Z: an offset (even +00:00) or no zone is refused, and
// the session the SDK cannot use is ended rather than left pinned.
TEST_F(EngineTest, RefusesExpiresAtWithOffsetOrNoZone) {
  PutSecret("a", "alpha");
  int deletes = 0;
  for (std::string suffix : {"+00:00", ""}) {
    edge_->SetExpiresAtFormat([suffix](int64_t t) {
      std::string s = FormatRfc3339(t * 1000, TimePrecision::kSeconds);
      s.pop_back();
      return s + suffix;
    });
    auto engine = MakeEngine();
    EXPECT_EQ(engine->Get("a").status().code(), Code::kInternal) << suffix;
    EXPECT_EQ(edge_->Count("DELETE"), ++deletes) << suffix;
  }
  EXPECT_TRUE(sleeper_.waits().empty());  // the second engine was not pinned out
}

// RFC 9449 §8 signals the nonce in WWW-Authenticate; an edge that sends no
// §7 body with it is still understood (once).
TEST_F(EngineTest, NonceChallengeInHeaderOnlyIsRetried) {
  PutSecret("a", "alpha");
  edge_->SetNonceChallengeHeaderOnly(true);
  auto engine = MakeEngine();
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(edge_->Count("use_dpop_nonce"), 1);
  EXPECT_EQ(edge_->Count("/v1/sessions"), 2);
}

// docs/protocol.md §4.1: another key holds the pin (the dead process of a
// restarted container); establishment waits with the 503 backoff until the
// pin is released.
TEST_F(EngineTest, PinnedThenAcceptedAfterBackoff) {
  PutSecret("a", "alpha");
  auto holder = MakeEngine();
  ASSERT_EQ(Plain(holder->Get("a")), "alpha");
  sleeper_.OnSleep([&](size_t n) {
    if (n == 3) {
      EXPECT_TRUE(holder->Close().ok());  // the pin goes while the newcomer waits
    }
  });
  auto engine = MakeEngine();
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  const auto waits = sleeper_.waits();
  ASSERT_EQ(waits.size(), 3u);
  // Each wait is uniform in [d/2, d], d = 200 ms doubled per attempt.
  EXPECT_GE(waits[0].count(), 100);
  EXPECT_LE(waits[0].count(), 200);
  EXPECT_GE(waits[1].count(), 200);
  EXPECT_LE(waits[1].count(), 400);
  EXPECT_GE(waits[2].count(), 400);
  EXPECT_LE(waits[2].count(), 800);
  // holder: nonce + establish; newcomer: nonce, three refusals, the establishment.
  EXPECT_EQ(edge_->Count("/v1/sessions"), 2 + 1 + 3 + 1);
}

TEST_F(EngineTest, PinnedLongerThanTheBoundFails) {
  PutSecret("a", "alpha");
  auto holder = MakeEngine();
  ASSERT_EQ(Plain(holder->Get("a")), "alpha");
  auto engine = MakeEngine();
  EXPECT_EQ(engine->Get("a").status().code(), Code::kCredentialPinned);
  const auto waits = sleeper_.waits();
  int64_t total = 0;
  for (auto w : waits) total += w.count();
  EXPECT_EQ(total, 30'000);  // pin_wait_seconds' default, then one last try
  EXPECT_EQ(edge_->Count("/v1/sessions"), 2 + 1 + static_cast<int>(waits.size()) + 1);
  EXPECT_EQ(Plain(holder->Get("a")), "alpha");  // the pin still holds for its holder
  // pin_wait_seconds 0: refused at once.
  config_.pin_wait_seconds = 0;
  auto impatient = MakeEngine();
  EXPECT_EQ(impatient->Get("a").status().code(), Code::kCredentialPinned);
  EXPECT_EQ(sleeper_.waits().size(), waits.size());
}

// Only establishment waits, and only on the pin: no other refusal of it is
// retried. (An unwrap's 409 is not retried either: DoesNotRetry4xx.)
TEST_F(EngineTest, OtherEstablishRefusalsNotRetried) {
  PutSecret("a", "alpha");
  auto engine = MakeEngine();
  const struct {
    int status;
    const char* code;
    Code expect;
  } cases[] = {{403, "pod_not_live", Code::kPodNotLive},
               {403, "image_not_allowed", Code::kImageNotAllowed},
               {401, "token_invalid", Code::kTokenInvalid},
               {400, "bad_request", Code::kBadRequest},
               {429, "rate_limited", Code::kRateLimited}};
  for (const auto& c : cases) {
    const int before = edge_->Count("/v1/sessions");
    edge_->FailNext("/v1/sessions", 1, c.status, c.code);
    EXPECT_EQ(engine->Get("a").status().code(), c.expect) << c.code;
    EXPECT_EQ(edge_->Count("/v1/sessions") - before, 1) << c.code;
  }
  EXPECT_TRUE(sleeper_.waits().empty());
  // A 409 without a readable code is the pin as well (§7 gives 409 no other code).
  edge_->FailNext("/v1/sessions", 2, 409, "");
  EXPECT_EQ(Plain(engine->Get("a")), "alpha");
  EXPECT_EQ(sleeper_.waits().size(), 2u);
}

// A process that fails after establishing must not leave its pod's pin
// behind: the get that established the session ends it before returning
// the error, so the next process in the pod (a new key) is not pinned out.
TEST_F(EngineTest, FailedFirstGetEndsTheSession) {
  PutSecret("a", "alpha");
  FakeEdge other(clock_, *pki_);  // another org key: the capsule does not open here
  WriteFile(secrets_dir_ + "/foreign", other.Seal("not for this edge", "foreign"));
  auto engine = MakeEngine();
  EXPECT_EQ(engine->Get("foreign").status().code(), Code::kCapsuleInvalid);
  EXPECT_EQ(edge_->Count("DELETE"), 1);
  EXPECT_TRUE(engine->TestOnlySessionId().empty());
  auto next = MakeEngine();
  EXPECT_EQ(Plain(next->Get("a")), "alpha");
  EXPECT_TRUE(sleeper_.waits().empty());
  // A failure on a session established by an earlier get leaves the session
  // to the gets that still use it.
  EXPECT_EQ(next->Get("foreign").status().code(), Code::kCapsuleInvalid);
  EXPECT_EQ(edge_->Count("DELETE"), 1);
  EXPECT_FALSE(next->TestOnlySessionId().empty());
}

}  // namespace
}  // namespace astis::sdkcore::testing
