// HttpKubeClient against a small HTTPS stand-in for kube-apiserver (port 0,
// run-time test PKI), checking the bearer token and the outcome mapping.
#include "kube/client.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "net/http_server.h"
#include "net/testing/test_pki.h"

namespace astis::kube {
namespace {

constexpr char kPodPath[] = "/api/v1/namespaces/default/pods/nginx-7fb78fb6d8-2w75j";
constexpr char kNginxSlim[] = "sha256:8b4501fe0fe221df663c22e16539f399e89594552f400408303c42f3dd8d0e52";

std::string ReadTestdata(const std::string& rel) {
  const char* env = std::getenv("ASTIS_TESTDATA_DIR");
  std::ifstream in(std::string(env != nullptr ? env : ASTIS_TESTDATA_DIR) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

// FakeApiServer answers like kube-apiserver for one pod; its behaviour is
// switched by the test while handler threads read it.
class FakeApiServer {
 public:
  enum class Mode { kNormal, kServerError, kForbidden, kGarbage, kWrongPod };

  void SetToken(const std::string& t) {
    std::lock_guard<std::mutex> lock(mu_);
    token_ = t;
  }
  void SetMode(Mode m) { mode_ = m; }
  int requests() const { return requests_; }

  net::ServerResponse Handle(const net::ServerRequest& req) {
    ++requests_;
    std::string expected;
    {
      std::lock_guard<std::mutex> lock(mu_);
      expected = "Bearer " + token_;
    }
    if (req.method != "GET") return net::JsonError(405, "method", "GET only");
    if (req.Header("Authorization").value_or("") != expected) {
      return {401, {{"Content-Type", "application/json"}}, R"({"kind":"Status","code":401})", {}};
    }
    switch (mode_.load()) {
      case Mode::kServerError:
        return {500, {}, "etcd unavailable", {}};
      case Mode::kForbidden:
        return {403, {}, R"({"kind":"Status","code":403})", {}};
      default:
        break;
    }
    if (req.path == "/readyz") return {200, {}, "ok", {}};
    if (req.path != kPodPath) return {404, {}, R"({"kind":"Status","code":404})", {}};
    if (mode_ == Mode::kGarbage) return {200, {}, "{\"kind\":\"Pod\",", {}};
    std::string pod = pod_json_;
    if (mode_ == Mode::kWrongPod) pod.replace(pod.find("nginx-7fb78fb6d8-2w75j"), 5, "other");
    return {200, {{"Content-Type", "application/json"}}, pod, {}};
  }

 private:
  std::mutex mu_;
  std::string token_;
  std::atomic<Mode> mode_{Mode::kNormal};
  std::atomic<int> requests_{0};
  const std::string pod_json_ = ReadTestdata("kubernetes/pod-docker-pullable-running.json");
};

class HttpKubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<net::testing::TestPki> pki = net::testing::TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    pki_.emplace(std::move(pki).value());
    Result<std::string> dir = net::testing::MakeTempDir();
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    token_file_ = dir_ + "/token";
    WriteFile(token_file_, "token-one\n");
    api_.SetToken("token-one");

    net::ServerConfig config;
    config.port = 0;
    config.tls = pki_->ServerTls();
    config.threads = 2;
    Result<std::unique_ptr<net::HttpServer>> server =
        net::HttpServer::Start(config, [this](const net::ServerRequest& r) { return api_.Handle(r); });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  void TearDown() override {
    if (server_) server_->Stop(std::chrono::milliseconds(0));
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  ClusterConnection Connection() const {
    ClusterConnection conn;
    conn.api_url = "https://127.0.0.1:" + std::to_string(server_->port());
    conn.ca_pem = pki_->ca_cert_pem();
    conn.token_file = token_file_;
    return conn;
  }

  std::unique_ptr<HttpKubeClient> MakeClient(const ClusterConnection& conn) {
    KubeClientOptions options;
    options.connect_timeout = std::chrono::milliseconds(2000);
    options.request_timeout = std::chrono::milliseconds(5000);
    Result<std::unique_ptr<HttpKubeClient>> client = HttpKubeClient::Create(conn, clock_, options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  FakeClock clock_{1'700'000'000};
  std::optional<net::testing::TestPki> pki_;
  std::string dir_;
  std::string token_file_;
  FakeApiServer api_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(HttpKubeClientTest, GetPodOverHttps) {
  auto client = MakeClient(Connection());
  ASSERT_NE(client, nullptr);
  Result<PodView> pod = client->GetPod("default", "nginx-7fb78fb6d8-2w75j");
  ASSERT_TRUE(pod.ok()) << pod.status().ToString();
  EXPECT_EQ(pod->uid, "91bb1cf2-2c03-11ea-883f-42010a800044");
  EXPECT_TRUE(EvaluatePod(*pod, {pod->ns, pod->name, pod->uid, {kNginxSlim}, "default"}).ok());
  EXPECT_TRUE(client->Ping().ok());
}

TEST_F(HttpKubeClientTest, Pod404IsPodNotLive) {
  auto client = MakeClient(Connection());
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetPod("default", "gone-pod").status().code(), Code::kPodNotLive);
}

TEST_F(HttpKubeClientTest, Unauthorized401IsKubeUnavailable) {
  WriteFile(token_file_, "wrong-token-value");
  auto client = MakeClient(Connection());
  ASSERT_NE(client, nullptr);
  Result<PodView> pod = client->GetPod("default", "nginx-7fb78fb6d8-2w75j");
  EXPECT_EQ(pod.status().code(), Code::kKubeUnavailable);
  EXPECT_NE(pod.status().message().find("401"), std::string::npos);
  EXPECT_EQ(pod.status().message().find("wrong-token-value"), std::string::npos);
  EXPECT_EQ(client->Ping().code(), Code::kKubeUnavailable);
}

TEST_F(HttpKubeClientTest, Forbidden403IsKubeUnavailable) {
  api_.SetMode(FakeApiServer::Mode::kForbidden);
  auto client = MakeClient(Connection());
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetPod("default", "nginx-7fb78fb6d8-2w75j").status().code(), Code::kKubeUnavailable);
}

TEST_F(HttpKubeClientTest, ServerError5xxIsKubeUnavailable) {
  api_.SetMode(FakeApiServer::Mode::kServerError);
  auto client = MakeClient(Connection());
  ASSERT_NE(client, nullptr);
  Result<PodView> pod = client->GetPod("default", "nginx-7fb78fb6d8-2w75j");
  EXPECT_EQ(pod.status().code(), Code::kKubeUnavailable);
  EXPECT_EQ(pod.status().message().find("etcd"), std::string::npos);  // body not echoed
}

TEST_F(HttpKubeClientTest, UnparsableBodyIsKubeUnavailable) {
  api_.SetMode(FakeApiServer::Mode::kGarbage);
  auto client = MakeClient(Connection());
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetPod("default", "nginx-7fb78fb6d8-2w75j").status().code(), Code::kKubeUnavailable);
}

TEST_F(HttpKubeClientTest, DifferentPodInAnswerIsKubeUnavailable) {
  api_.SetMode(FakeApiServer::Mode::kWrongPod);
  auto client = MakeClient(Connection());
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetPod("default", "nginx-7fb78fb6d8-2w75j").status().code(), Code::kKubeUnavailable);
}

TEST_F(HttpKubeClientTest, TokenRotationUsedOnNextRequest) {
  auto client = MakeClient(Connection());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->GetPod("default", "nginx-7fb78fb6d8-2w75j").ok());
  // The kubelet rotates: new file (new inode) renamed over the old path.
  WriteFile(token_file_ + ".new", "token-two");
  std::filesystem::rename(token_file_ + ".new", token_file_);
  api_.SetToken("token-two");
  Result<PodView> pod = client->GetPod("default", "nginx-7fb78fb6d8-2w75j");
  EXPECT_TRUE(pod.ok()) << pod.status().ToString();
}

TEST_F(HttpKubeClientTest, RejectsInvalidNameWithoutRequest) {
  auto client = MakeClient(Connection());
  ASSERT_NE(client, nullptr);
  const int before = api_.requests();
  for (const char* bad : {"../secrets", "a/b", "UPPER", "", "x?y=1", "-lead", "a b"}) {
    EXPECT_EQ(client->GetPod("default", bad).status().code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(client->GetPod(bad, "pod").status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(api_.requests(), before);
}

TEST_F(HttpKubeClientTest, UntrustedServerIsKubeUnavailable) {
  Result<net::testing::TestPki> other = net::testing::TestPki::Create();
  ASSERT_TRUE(other.ok());
  ClusterConnection conn = Connection();
  conn.ca_pem = other->ca_cert_pem();
  auto client = MakeClient(conn);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetPod("default", "nginx-7fb78fb6d8-2w75j").status().code(), Code::kKubeUnavailable);
  EXPECT_EQ(api_.requests(), 0);
}

TEST_F(HttpKubeClientTest, MissingTokenFileIsKubeUnavailable) {
  auto client = MakeClient(Connection());
  ASSERT_NE(client, nullptr);
  std::filesystem::remove(token_file_);
  EXPECT_EQ(client->GetPod("default", "nginx-7fb78fb6d8-2w75j").status().code(), Code::kKubeUnavailable);
  EXPECT_EQ(api_.requests(), 0);
}

TEST_F(HttpKubeClientTest, UnreachableIsKubeUnavailable) {
  ClusterConnection conn = Connection();
  server_->Stop(std::chrono::milliseconds(0));  // nothing listens on the port now
  auto client = MakeClient(conn);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetPod("default", "nginx-7fb78fb6d8-2w75j").status().code(), Code::kKubeUnavailable);
  EXPECT_EQ(client->Ping().code(), Code::kKubeUnavailable);
}

TEST(HttpKubeClientCreateTest, RejectsBadUrl) {
  FakeClock clock(0);
  ClusterConnection conn;
  conn.api_url = "not a url";
  EXPECT_EQ(HttpKubeClient::Create(conn, clock).status().code(), Code::kInvalidArgument);
}

TEST(IsValidObjectNameTest, AcceptsDns1123Subdomains) {
  EXPECT_TRUE(IsValidObjectName("nginx-7fb78fb6d8-2w75j"));
  EXPECT_TRUE(IsValidObjectName("a.b-c"));
  EXPECT_TRUE(IsValidObjectName(std::string(253, 'a')));
  EXPECT_FALSE(IsValidObjectName(std::string(254, 'a')));
  EXPECT_FALSE(IsValidObjectName("trailing-"));
  EXPECT_FALSE(IsValidObjectName("%2e%2e"));
}

}  // namespace
}  // namespace astis::kube
