// The SDK against the real edge: EdgeService (all four gates, SQLite store
// in memory, FakeKubeClient, in-process CVS; edge/testing/edge_harness.h)
// served over HTTPS by net::HttpServer. Only the Kubernetes API and the
// clock are simulated.
#include <filesystem>

#include <gtest/gtest.h>

#include "edge/testing/edge_harness.h"
#include "net/testing/test_pki.h"
#include "sdk/engine.h"
#include "sdk/tests/sdk_test_util.h"

namespace astis::sdkcore::testing {
namespace {

namespace eh = astis::edge::testing;

class RealEdgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = std::make_unique<net::testing::TestPki>(eh::Must(net::testing::TestPki::Create()));
    dir_ = eh::Must(net::testing::MakeTempDir());
    ASSERT_TRUE(pki_->WriteFiles(dir_).ok());
    net::ServerConfig sc;
    sc.tls = pki_->ServerTls();
    sc.threads = 2;
    server_ = eh::Must(net::HttpServer::Start(sc, [this](const net::ServerRequest& r) {
      return h_.service->Handle(r);
    }));
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
    EngineDeps deps;
    deps.clock = &h_.clock;
    deps.sleeper = &sleeper_;
    deps.env = [](const std::string&) { return std::nullopt; };
    engine_ = eh::Must(Engine::Create(config_, deps));
    return *engine_;
  }

  eh::EdgeHarness h_;
  RecordingSleeper sleeper_;
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

}  // namespace
}  // namespace astis::sdkcore::testing
