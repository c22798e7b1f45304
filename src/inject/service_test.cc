#include "inject/service.h"

#include <gtest/gtest.h>

#include "net/https_client.h"
#include "net/testing/test_pki.h"

namespace astis::inject {
namespace {

InjectConfig Config() {
  InjectConfig c;
  c.run_image = "r/astis-run@sha256:4444444444444444444444444444444444444444444444444444444444444444";
  c.edge_url = "https://edge.example.com";
  c.namespace_ = "astis";
  return c;
}

std::string Review(const std::string& uid) {
  Json pod = {{"metadata",
               {{"labels", {{"astis.io/inject", "true"}}}, {"annotations", {{"astis.io/env", "A=db/password"}}}}},
              {"spec",
               {{"securityContext", {{"fsGroup", 1}}},
                {"containers", Json::array({{{"name", "app"}, {"command", {"/app"}}}})}}}};
  return DumpJson({{"apiVersion", "admission.k8s.io/v1"},
                   {"kind", "AdmissionReview"},
                   {"request",
                    {{"uid", uid},
                     {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                     {"namespace", "payments"},
                     {"operation", "CREATE"},
                     {"object", pod}}}});
}

class InjectServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = net::testing::TestPki::Create();
    ASSERT_TRUE(pki.ok());
    pki_ = std::make_unique<net::testing::TestPki>(std::move(*pki));
    net::ServerConfig sc;
    sc.port = 0;
    sc.tls = pki_->ServerTls();
    sc.threads = 2;
    sc.limits.max_body_bytes = kMaxReviewBytes;
    auto server = net::HttpServer::Start(sc, [this](const net::ServerRequest& r) { return service_.Handle(r); });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    auto client = net::HttpsClient::Create("https://127.0.0.1:" + std::to_string(server_->port()), pki_->ClientTls());
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::milliseconds(100));
  }
  net::HttpResponse Send(const std::string& method, const std::string& target, const std::string& body = "",
                         const std::string& type = "application/json") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    if (!type.empty()) r.headers.emplace_back("Content-Type", type);
    auto resp = client_->Send(r);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    return resp.ok() ? *resp : net::HttpResponse{};
  }

  InjectService service_{Config()};
  std::unique_ptr<net::testing::TestPki> pki_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpsClient> client_;
};

TEST_F(InjectServiceTest, MutatesOverHttps) {
  const net::HttpResponse r = Send("POST", "/mutate", Review("uid-1"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type").value_or(""), "application/json");
  const Json j = Json::parse(r.body);
  EXPECT_EQ(j["response"]["uid"], "uid-1");
  EXPECT_EQ(j["response"]["patchType"], "JSONPatch");
  EXPECT_EQ(service_.mutated(), 1u);
}

TEST_F(InjectServiceTest, MalformedReviewIs400AndServerStaysUp) {
  net::HttpResponse r = Send("POST", "/mutate", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("bad_request"), std::string::npos);
  r = Send("POST", "/mutate", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})");
  EXPECT_EQ(r.status, 400);
  r = Send("POST", "/mutate", Review("uid-2"), "text/plain");
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(service_.errors(), 3u);
  r = Send("POST", "/mutate", Review("uid-3"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Send("GET", "/mutate").status, 405);
  EXPECT_EQ(Send("GET", "/nope").status, 404);
}

TEST_F(InjectServiceTest, HealthAndMetrics) {
  EXPECT_EQ(Send("GET", "/healthz", "", "").status, 200);
  EXPECT_EQ(Send("GET", "/readyz", "", "").status, 200);
  Send("POST", "/mutate", Review("a"));
  std::string refused = Review("b");
  const std::string from = "A=db/password";
  refused.replace(refused.find(from), from.size(), "A=literal");
  EXPECT_EQ(Json::parse(Send("POST", "/mutate", refused).body)["response"]["allowed"], false);
  Send("POST", "/mutate", "[]");
  const net::HttpResponse m = Send("GET", "/metrics", "", "");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("astis_inject_mutated_total 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("astis_inject_refused_total 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("astis_inject_errors_total 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("astis_inject_admitted_total 0\n"), std::string::npos);
}

}  // namespace
}  // namespace astis::inject
