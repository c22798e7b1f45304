// The SDK against the real edge: EdgeService (all four gates, SQLite store
// in memory, FakeKubeClient, in-process CVS; edge/testing/edge_harness.h)
// served over HTTPS by net::HttpServer. Only the Kubernetes API and the
// clock are simulated.
//
// Issue #4's lifecycle on the real edge: establish + batch, token file
// rotation through the kubelet's ..data symlink, DPoP key rotation, session
// expiry and refresh, edge restart on the same port, 503 retry with jittered
// backoff, 4xx not retried (requests counted on the server), keys in locked
// memory and plaintext wiped after release.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>

#include <gtest/gtest.h>

#include "astis/astis.h"
#include "edge/testing/edge_harness.h"
#include "net/testing/test_pki.h"
#include "sdk/engine.h"
#include "sdk/internal/test_hooks.h"
#include "sdk/tests/sdk_test_util.h"

namespace astis::sdkcore::testing {
namespace {

namespace eh = astis::edge::testing;

// Seen is one request as the server saw it, with the edge's answer.
struct Seen {
  std::string method, path;
  int status = 0;
  std::string authorization;
};

class RealEdgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = std::make_unique<net::testing::TestPki>(eh::Must(net::testing::TestPki::Create()));
    dir_ = eh::Must(net::testing::MakeTempDir());
    ASSERT_TRUE(pki_->WriteFiles(dir_).ok());
    StartServer(0);
    url_ = "https://127.0.0.1:" + std::to_string(server_->port());
    h_.config.external_base_url = url_;  // htu is checked against this
    h_.MakeService();
    WriteFile(dir_ + "/token", h_.Token());
    WriteFile(dir_ + "/api-key", std::string(h_.api_key.header_value.RevealString()));
    std::filesystem::create_directories(dir_ + "/secrets");
    config_.edge_urls = {url_};
    config_.ca_file = dir_ + "/ca.pem";
    config_.token_path = dir_ + "/token";
    config_.api_key_file = dir_ + "/api-key";
    config_.secrets_dir = dir_ + "/secrets";
    config_.rotation_seconds = 0;
  }
  // StartServer serves the edge over HTTPS on port (0: ephemeral), logging
  // every request and its status.
  void StartServer(uint16_t port) {
    net::ServerConfig sc;
    sc.tls = pki_->ServerTls();
    sc.threads = 2;
    sc.port = port;
    server_ = eh::Must(net::HttpServer::Start(sc, [this](const net::ServerRequest& r) {
      net::ServerResponse resp = h_.service->Handle(r);
      std::lock_guard<std::mutex> lock(seen_mu_);
      seen_.push_back(Seen{r.method, r.path, resp.status, r.Header("Authorization").value_or("")});
      return resp;
    }));
  }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(seen_mu_);
    return seen_;
  }
  // Count counts the requests to path (optionally only those answered status).
  int Count(const std::string& path, int status = 0) {
    int n = 0;
    for (const Seen& s : seen()) n += (s.path == path && (status == 0 || s.status == status)) ? 1 : 0;
    return n;
  }
  // SwapToken writes token as the kubelet does: a new timestamped dir, then
  // an atomic rename of the ..data symlink (token -> ..data/token).
  void SwapToken(const std::string& token) {
    const std::string td = dir_ + "/projected";
    const std::string ts = "..ts" + std::to_string(++token_serial_);
    std::filesystem::create_directories(td + "/" + ts);
    WriteFile(td + "/" + ts + "/token", token);
    std::filesystem::create_symlink(ts, td + "/..data_tmp");
    std::filesystem::rename(td + "/..data_tmp", td + "/..data");
    if (!std::filesystem::is_symlink(td + "/token")) std::filesystem::create_symlink("..data/token", td + "/token");
    config_.token_path = td + "/token";
  }
  std::unique_ptr<Engine> NewEngine() {
    EngineDeps deps;
    deps.clock = &h_.clock;
    deps.sleeper = &sleeper_;
    deps.env = [](const std::string&) { return std::nullopt; };
    return eh::Must(Engine::Create(config_, deps));
  }

  void TearDown() override {
    engine_.reset();
    if (server_ != nullptr) server_->Stop(std::chrono::milliseconds(0));
    std::filesystem::remove_all(dir_);
  }
  void Put(const std::string& name, const std::string& plaintext, const std::string& ns = eh::kNs) {
    WriteFile(dir_ + "/secrets/" + name,
              h_.Seal(plaintext, capsule::Binding{eh::kCluster, ns, eh::kSa, name, "value"}).ToString());
  }
  Engine& MakeEngine() {
    engine_ = NewEngine();
    return *engine_;
  }

  eh::EdgeHarness h_;
  RecordingSleeper sleeper_;
  std::mutex seen_mu_;
  std::vector<Seen> seen_;
  int token_serial_ = 0;
  std::unique_ptr<net::testing::TestPki> pki_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<Engine> engine_;
  std::string dir_, url_;
  SdkConfig config_;
};

TEST_F(RealEdgeTest, EstablishesAndUnwrapsBatchOnRealEdge) {
  std::vector<std::string> names;
  for (int i = 0; i < 66; ++i) {
    names.push_back("s" + std::to_string(i));
    Put(names.back(), "plain-" + std::to_string(i));
  }
  Engine& e = MakeEngine();
  auto values = e.GetMany(names);
  ASSERT_TRUE(values.ok()) << values.status().ToString();
  for (int i = 0; i < 66; ++i) EXPECT_EQ((*values)[i].RevealString(), "plain-" + std::to_string(i));
  EXPECT_EQ(e.stats().unwrap_requests, 2u);
  EXPECT_EQ(h_.cvs->calls(), 2);
  EXPECT_TRUE(e.Close().ok());  // DELETE /v1/sessions/{id} accepted (204)
}

TEST_F(RealEdgeTest, RotatesDpopKeyOnRealEdge) {
  Put("a", "alpha");
  config_.rotation_seconds = 120;
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  const std::string jkt = e.TestOnlyDpopJkt();
  h_.clock.Advance(121);
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  EXPECT_NE(e.TestOnlyDpopJkt(), jkt);
  EXPECT_EQ(e.stats().rotations, 1u);
  EXPECT_EQ(e.stats().establishes, 1u);
}

TEST_F(RealEdgeTest, RefreshesAndReestablishesOnRealEdge) {
  Put("a", "alpha");
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  ASSERT_TRUE(h_.store->EndSession(e.TestOnlySessionId()).ok());  // revoked by the edge
  EXPECT_EQ(PlainText(e.Get("a")), "alpha");
  EXPECT_EQ(e.stats().establishes, 2u);
}

TEST_F(RealEdgeTest, CapsuleForAnotherNamespaceRefused) {
  Put("theirs", "not yours", "other-ns");
  Engine& e = MakeEngine();
  EXPECT_EQ(e.Get("theirs").status().code(), Code::kCapsuleScope);
}

TEST_F(RealEdgeTest, DeletedPodRefusedNotRetried) {
  Put("a", "alpha");
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  h_.kube_main.RemovePod(eh::kNs, eh::kPod);
  EXPECT_EQ(e.Get("a").status().code(), Code::kPodNotLive);
  EXPECT_TRUE(sleeper_.waits().empty());
}

TEST_F(RealEdgeTest, TokenFileRotationPickedUpOnRealEdge) {
  Put("a", "alpha");
  const std::string first = h_.Token();
  SwapToken(first);
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  EXPECT_EQ(seen().back().authorization, "DPoP " + first);
  // The kubelet rotates the projected token: same pod, new iat/exp/jti.
  Json claims = h_.Claims();
  claims["iat"] = eh::kNow + 5;
  claims["exp"] = eh::kNow + 7200;
  claims["jti"] = "2c4f8a7e-9d8b-4b53-9d7e-5a1b2c3d4e5f";
  const std::string second = h_.Token(claims);
  ASSERT_NE(first, second);
  SwapToken(second);
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  EXPECT_EQ(seen().back().authorization, "DPoP " + second);
  EXPECT_EQ(e.stats().establishes, 1u);
}

TEST_F(RealEdgeTest, SessionExpiryRefreshesOnRealEdge) {
  Put("a", "alpha");
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  const std::string first = e.TestOnlySessionId();
  ASSERT_EQ(Count("/v1/sessions", 201), 1);
  // The edge's session lifetime is 900 s; the SDK re-establishes 60 s
  // before expiresAt, without an unwrap being refused first.
  h_.clock.Advance(h_.config.session_ttl_seconds - 50);
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  EXPECT_EQ(e.stats().establishes, 2u);
  EXPECT_EQ(Count("/v1/unwrap", 403) + Count("/v1/unwrap", 401), 0);
  // Long past the new expiry: refreshed again, value still served.
  h_.clock.Advance(h_.config.session_ttl_seconds + 10);
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  EXPECT_EQ(e.stats().establishes, 3u);
  EXPECT_NE(e.TestOnlySessionId(), first);
}

TEST_F(RealEdgeTest, EdgeRestartOnSamePortRecovers) {
  Put("a", "alpha");
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  const uint16_t port = server_->port();
  server_->Stop(std::chrono::milliseconds(0));
  server_.reset();
  EXPECT_EQ(e.Get("a").status().code(), Code::kUnavailable);  // edge down: refused, not hung
  // The edge comes back on the same port as a new process would: a new
  // EdgeService over the same store, and the session it knew is gone.
  ASSERT_TRUE(h_.store->EndSession(e.TestOnlySessionId()).ok());
  h_.MakeService();
  StartServer(port);
  ASSERT_EQ(server_->port(), port);
  EXPECT_EQ(PlainText(e.Get("a")), "alpha");
  EXPECT_EQ(e.stats().establishes, 2u);
}

TEST_F(RealEdgeTest, Retries503WithJitteredBackoffOnRealEdge) {
  Put("a", "alpha");
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  // The CVS goes down (the edge answers 503 cvs_unavailable) and comes back
  // while the SDK waits before its third attempt.
  h_.cvs->SetDown(true);
  sleeper_.OnSleep([this](size_t n) {
    if (n == 2) h_.cvs->SetDown(false);
  });
  const int before = Count("/v1/unwrap");
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  EXPECT_EQ(Count("/v1/unwrap") - before, 3);
  EXPECT_EQ(Count("/v1/unwrap", 503), 2);
  const auto waits = sleeper_.waits();
  ASSERT_EQ(waits.size(), 2u);
  // Each wait is uniform in [d/2, d], d = 200 ms doubled per attempt.
  EXPECT_GE(waits[0].count(), 100);
  EXPECT_LE(waits[0].count(), 200);
  EXPECT_GE(waits[1].count(), 200);
  EXPECT_LE(waits[1].count(), 400);
}

TEST_F(RealEdgeTest, Persistent503GivesUpAfterMaxAttemptsOnRealEdge) {
  Put("a", "alpha");
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  h_.cvs->SetDown(true);
  const int before = Count("/v1/unwrap");
  EXPECT_EQ(e.Get("a").status().code(), Code::kCvsUnavailable);
  EXPECT_EQ(Count("/v1/unwrap") - before, config_.max_attempts);
  EXPECT_EQ(sleeper_.waits().size(), static_cast<size_t>(config_.max_attempts - 1));
}

TEST_F(RealEdgeTest, Refused4xxNotRetriedCountedOnServer) {
  Put("a", "alpha");
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  h_.kube_main.RemovePod(eh::kNs, eh::kPod);
  const int before = Count("/v1/unwrap");
  EXPECT_EQ(e.Get("a").status().code(), Code::kPodNotLive);
  EXPECT_EQ(Count("/v1/unwrap") - before, 1);  // one request, no retry
  EXPECT_EQ(Count("/v1/unwrap", 403), 1);
  EXPECT_TRUE(sleeper_.waits().empty());
}

TEST_F(RealEdgeTest, BadApiKeyNotRetriedCountedOnServer) {
  Put("a", "alpha");
  WriteFile(dir_ + "/api-key", "astis_bogus_bogus");
  Engine& e = MakeEngine();
  const Code code = e.Get("a").status().code();
  EXPECT_EQ(code, Code::kApiKeyInvalid);
  // At most the one nonce retry; never a loop, never a backoff.
  EXPECT_LE(static_cast<int>(seen().size()), 2);
  EXPECT_TRUE(sleeper_.waits().empty());
}

TEST_F(RealEdgeTest, KeysInLockedMemoryOnRealEdge) {
  Put("a", "alpha");
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  for (const void* key : {e.TestOnlyRecipientKeyAddress(), e.TestOnlyDpopKeyAddress()}) {
    ASSERT_NE(key, nullptr);
    const std::string flags = SmapsField(key, "VmFlags:");
    EXPECT_NE(flags.find(" lo"), std::string::npos) << flags;  // mlock
    EXPECT_NE(flags.find(" dd"), std::string::npos) << flags;  // MADV_DONTDUMP
    const std::string locked = SmapsField(key, "Locked:");    // "   4 kB"
    EXPECT_GT(std::atoi(locked.c_str()), 0) << locked;
  }
  EXPECT_TRUE(e.TestOnlyRecipientKeyLocked());
  EXPECT_TRUE(e.TestOnlyDpopKeyLocked());
  auto plain = e.Get("a");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->IsLocked());
}

TEST_F(RealEdgeTest, PlaintextWipedAfterReleaseOnRealEdge) {
  const std::string plaintext = "correct horse battery staple";
  Put("pw", plaintext);
  astis_client* client = WrapEngine(NewEngine());
  SetSecretQuarantine(true);
  astis_secret* secret = nullptr;
  ASSERT_EQ(astis_client_get(client, "pw", &secret), ASTIS_OK);
  const uint8_t* data = astis_secret_data(secret);
  ASSERT_EQ(astis_secret_size(secret), plaintext.size());
  ASSERT_EQ(std::memcmp(data, plaintext.data(), plaintext.size()), 0);
  EXPECT_NE(SmapsField(data, "VmFlags:").find(" lo"), std::string::npos);
  astis_secret_free(secret);
  // The released buffer, read back through the quarantine hook: all zero.
  EXPECT_EQ(QuarantinedBytes(data), std::vector<uint8_t>(plaintext.size(), 0));
  SetSecretQuarantine(false);
  astis_client_free(client);
}

// docs/protocol.md §4.1: a session is a lease, renewed by establishing again
// with the same DPoP key. Four periods of a 60 s lease with an edge restart
// between the second and the third: each renewal extends the same session
// and pin; none is contested, none waits.
TEST_F(RealEdgeTest, RenewsLeaseAcrossPeriodsAndEdgeRestartOnRealEdge) {
  Put("a", "alpha");
  h_.config.session_ttl_seconds = 60;
  h_.MakeService();
  Engine& e = MakeEngine();
  ASSERT_EQ(PlainText(e.Get("a")), "alpha");
  const std::string session = e.TestOnlySessionId();
  const std::string jkt = e.TestOnlyDpopJkt();
  int64_t expires = eh::Must(h_.store->GetSession(session)).expires_at;
  for (int period = 1; period <= 4; ++period) {
    if (period == 3) {  // the edge restarts on the same port, over the same store
      const uint16_t port = server_->port();
      server_->Stop(std::chrono::milliseconds(0));
      server_.reset();
      h_.MakeService();
      StartServer(port);
    }
    h_.clock.Advance(45);  // past the renewal point (expiresAt - 30 s), before expiresAt
    ASSERT_EQ(PlainText(e.Get("a")), "alpha") << "period " << period;
    EXPECT_EQ(e.stats().establishes, static_cast<uint64_t>(period + 1));
    EXPECT_EQ(e.TestOnlySessionId(), session);
    EXPECT_EQ(e.TestOnlyDpopJkt(), jkt);
    const auto stored = eh::Must(h_.store->GetSession(session));
    EXPECT_EQ(stored.jkt, jkt);  // the pin was extended, not moved or contested
    EXPECT_GT(stored.expires_at, expires);
    expires = stored.expires_at;
  }
  EXPECT_EQ(Count("/v1/sessions", 409), 0);
  EXPECT_EQ(Count("/v1/unwrap", 401), 0);
  EXPECT_TRUE(sleeper_.waits().empty());
}

// A get that failed after establishing ended its session at the real edge:
// the next process of the pod (a new key, no pin wait) is not refused
// credential_pinned.
TEST_F(RealEdgeTest, FailedGetEndsSessionSoNextKeyIsNotPinnedOnRealEdge) {
  Put("a", "alpha");
  Put("theirs", "not yours", "other-ns");
  config_.pin_wait_seconds = 0;
  Engine& e = MakeEngine();
  EXPECT_EQ(e.Get("theirs").status().code(), Code::kCapsuleScope);
  int ended = 0;
  for (const Seen& s : seen()) ended += (s.method == "DELETE" && s.status == 204) ? 1 : 0;
  EXPECT_EQ(ended, 1);
  auto next = NewEngine();
  EXPECT_EQ(PlainText(next->Get("a")), "alpha");
  EXPECT_EQ(Count("/v1/sessions", 409), 0);
}

}  // namespace
}  // namespace astis::sdkcore::testing
