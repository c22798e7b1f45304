// The edge behind the real HTTPS server (net::HttpServer on port 0 with the
// test PKI), driven by net::HttpsClient: the docs/protocol.md §4 round trip over
// TLS, including the RFC 9449 §8 nonce dance.
#include <atomic>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "edge/testing/edge_harness.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"

namespace astis::edge {
namespace {

using testing::EdgeHarness;
using testing::Must;

class EdgeHttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create()));
    net::ServerConfig sc;
    sc.bind_address = "127.0.0.1";
    sc.port = 0;
    sc.tls = pki_->ServerTls();
    sc.threads = 2;
    server_ = Must(net::HttpServer::Start(sc, [this](const net::ServerRequest& req) {
      EdgeService* s = service_.load();
      if (s == nullptr) return net::JsonError(503, "internal_error", "not ready");
      return s->HandleHeld(req);
    }));
    const std::string base = "https://127.0.0.1:" + std::to_string(server_->port());
    h_.config.external_base_url = base;
    h_.MakeService();
    service_.store(h_.service.get());
    client_ = Must(net::HttpsClient::Create(base, pki_->ClientTls()));
  }
  void TearDown() override {
    server_->Stop(std::chrono::milliseconds(1000));
    service_.store(nullptr);
  }

  net::HttpResponse Send(const EdgeHarness::Call& c) {
    net::ServerRequest built = h_.Build(c);
    net::HttpRequest req;
    req.method = built.method;
    req.target = built.target;
    req.headers = built.headers;
    req.body = built.body;
    return Must(client_->Send(req));
  }

  EdgeHarness h_;
  std::unique_ptr<net::testing::TestPki> pki_;
  std::unique_ptr<net::HttpServer> server_;
  std::atomic<EdgeService*> service_{nullptr};
  std::unique_ptr<net::HttpsClient> client_;
};

TEST_F(EdgeHttpsTest, EstablishUnwrapDecryptOverTls) {
  // First attempt without a nonce: 401 use_dpop_nonce and a nonce to retry with.
  EdgeHarness::Call c = h_.EstablishCall();
  c.omit_nonce = true;
  net::HttpResponse first = Send(c);
  ASSERT_EQ(first.status, 401) << first.body;
  EXPECT_EQ(first.Header("WWW-Authenticate").value_or(""), "DPoP error=\"use_dpop_nonce\"");
  const std::string nonce = first.Header("DPoP-Nonce").value_or("");
  ASSERT_FALSE(nonce.empty());

  c.omit_nonce = false;
  c.nonce = nonce;
  net::HttpResponse est = Send(c);
  ASSERT_EQ(est.status, 201) << est.body;
  const std::string session = Must(ParseJson(est.body))["session"];

  capsule::SealedValue v = h_.Seal("over the wire");
  EdgeHarness::Call u = h_.UnwrapCall(session, {B64uEncode(v.capsule().bytes())});
  u.nonce = est.Header("DPoP-Nonce").value_or("");
  net::HttpResponse unwrapped = Send(u);
  ASSERT_EQ(unwrapped.status, 200) << unwrapped.body;
  Json res = Must(ParseJson(unwrapped.body))["results"][0];
  SecretBytes dek = Must(capsule::OpenRewrapped(*h_.pod_recipient, v.capsule().hash(), session,
                                                Must(B64uDecode(res["enc"].get<std::string>())),
                                                Must(B64uDecode(res["ct"].get<std::string>()))));
  EXPECT_EQ(Must(capsule::DecryptValue(dek, v)).RevealString(), "over the wire");

  EdgeHarness::Call del;
  del.method = "DELETE";
  del.path = "/v1/sessions/" + session;
  EXPECT_EQ(Send(del).status, 204);
}

TEST_F(EdgeHttpsTest, RefusalOverTlsIsBlinded) {
  EdgeHarness::Call c = h_.EstablishCall();
  c.omit_api_key = true;
  net::HttpResponse r = Send(c);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Must(ParseJson(r.body))["error"]["code"], "api_key_invalid");
  EXPECT_TRUE(r.Header("DPoP-Nonce").has_value());
}

}  // namespace
}  // namespace astis::edge
