#include "cvs/remote.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/temp_dir.h"
#include "cvs/cvs_test_util.h"
#include "cvs/testing/verified_scope.h"
#include "jose/jwk.h"
#include "net/testing/test_pki.h"

namespace astis::cvs {
namespace {

using testing::BindingFor;
using testing::CapsuleBytes;
using testing::NewOrgKey;
using testing::Pod;
using testing::SealTo;
using testing::SetOf;

constexpr std::string_view kSession = "session-remote-0001";

// CountingPort forwards to a CvsService and counts calls, so a test can show
// that a refused connection never reached the service.
class CountingPort final : public CvsPort {
 public:
  explicit CountingPort(CvsPort& inner) : inner_(inner) {}
  Result<std::vector<RewrapResult>> Rewrap(const VerifiedScope& s, const X25519PublicKey& r, std::string_view id,
                                           std::span<const std::vector<uint8_t>> c) override {
    ++calls;
    return inner_.Rewrap(s, r, id, c);
  }
  Status Ping() override { return inner_.Ping(); }
  std::atomic<int> calls{0};

 private:
  CvsPort& inner_;
};

class RemoteCvsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = net::testing::TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    pki_ = std::make_unique<net::testing::TestPki>(std::move(pki).value());
    auto edge = pki_->IssueClientCert("astis-edge");
    ASSERT_TRUE(edge.ok());
    edge_ = std::make_unique<net::testing::TestCert>(std::move(edge).value());
    capsule::OrgPrivateKey k = NewOrgKey();
    pub_ = std::make_unique<capsule::OrgPublicKey>(k.public_key());
    service_ = std::make_unique<CvsService>(SetOf(std::move(k)), DefaultRandom());
    counting_ = std::make_unique<CountingPort>(*service_);
  }

  // StartServer serves the CVS with mutual TLS pinned to the edge cert.
  void StartServer(uint16_t port = 0) {
    CvsServerConfig config;
    config.port = port;
    config.threads = 2;
    config.tls = pki_->ServerTls();
    config.tls.client_ca_pem = pki_->ca_cert_pem();
    config.tls.pinned_client_cert_sha256 = {edge_->sha256};
    auto server = StartCvsServer(std::move(config), *counting_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  std::string BaseUrl() const { return "https://127.0.0.1:" + std::to_string(server_->port()); }

  // Client is a RemoteCvsClient presenting client and pinning server_pin.
  std::unique_ptr<RemoteCvsClient> Client(const net::testing::TestCert& client, const Sha256Digest& server_pin,
                                          std::string base_url = "") {
    net::TlsClientConfig tls = pki_->ClientTls(&client);
    tls.pinned_server_cert_sha256 = {server_pin};
    net::ClientOptions options;
    options.connect_timeout = std::chrono::milliseconds(2000);
    options.request_timeout = std::chrono::milliseconds(5000);
    auto c = RemoteCvsClient::Create(base_url.empty() ? BaseUrl() : base_url, tls, options);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  capsule::SealedValue Seal(const VerifiedScope& scope, std::string_view pt) {
    return SealTo(*pub_, BindingFor(scope), pt, clock_);
  }

  FakeClock clock_{1764115200};
  VerifiedScope scope_ = testing::TestScope("prod-eu1", "payments", "api");
  Pod pod_;
  std::unique_ptr<net::testing::TestPki> pki_;
  std::unique_ptr<net::testing::TestCert> edge_;
  std::unique_ptr<capsule::OrgPublicKey> pub_;
  std::unique_ptr<CvsService> service_;
  std::unique_ptr<CountingPort> counting_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(RemoteCvsTest, RemoteCvsOverMutualTls) {
  StartServer();
  auto client = Client(*edge_, pki_->server().sha256);
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->Ping().ok());
  capsule::SealedValue good = Seal(scope_, "remote-secret");
  capsule::SealedValue foreign = Seal(testing::TestScope("prod-eu1", "billing", "api"), "not yours");
  std::vector<std::vector<uint8_t>> caps = {CapsuleBytes(good), CapsuleBytes(foreign), {'x'}};
  auto results = client->Rewrap(scope_, pod_.recipient(), kSession, caps);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ(pod_.Decrypt(good, (*results)[0], kSession), "remote-secret");
  EXPECT_EQ((*results)[1].code, Code::kCapsuleScope);
  EXPECT_EQ((*results)[2].code, Code::kCapsuleInvalid);
  EXPECT_EQ(counting_->calls.load(), 1);
}

TEST_F(RemoteCvsTest, RemoteCvsRejectsUnpinnedClient) {
  StartServer();
  // Same CA, valid clientAuth certificate, but not the pinned edge identity.
  auto intruder = pki_->IssueClientCert("astis-edge");
  ASSERT_TRUE(intruder.ok());
  auto client = Client(*intruder, pki_->server().sha256);
  ASSERT_NE(client, nullptr);
  capsule::SealedValue v = Seal(scope_, "x");
  std::vector<std::vector<uint8_t>> caps = {CapsuleBytes(v)};
  auto results = client->Rewrap(scope_, pod_.recipient(), kSession, caps);
  EXPECT_EQ(results.status().code(), Code::kCvsUnavailable);
  EXPECT_EQ(client->Ping().code(), Code::kCvsUnavailable);
  EXPECT_EQ(counting_->calls.load(), 0);
}

TEST_F(RemoteCvsTest, RemoteCvsClientRejectsUnpinnedServer) {
  StartServer();
  // The server's certificate chains to the trusted CA, but the client pins a
  // different certificate: the handshake is refused before any request.
  auto other = pki_->IssueServerCert({"localhost", "127.0.0.1"});
  ASSERT_TRUE(other.ok());
  auto client = Client(*edge_, other->sha256);
  ASSERT_NE(client, nullptr);
  capsule::SealedValue v = Seal(scope_, "x");
  std::vector<std::vector<uint8_t>> caps = {CapsuleBytes(v)};
  auto results = client->Rewrap(scope_, pod_.recipient(), kSession, caps);
  EXPECT_EQ(results.status().code(), Code::kCvsUnavailable);
  EXPECT_EQ(counting_->calls.load(), 0);
}

TEST_F(RemoteCvsTest, RemoteCvsDownIsCvsUnavailable) {
  StartServer();
  const uint16_t port = server_->port();
  auto client = Client(*edge_, pki_->server().sha256);
  ASSERT_NE(client, nullptr);
  capsule::SealedValue v = Seal(scope_, "comes-back");
  std::vector<std::vector<uint8_t>> caps = {CapsuleBytes(v)};
  ASSERT_TRUE(client->Rewrap(scope_, pod_.recipient(), kSession, caps).ok());

  server_->Stop(std::chrono::milliseconds(0));
  server_.reset();
  auto down = client->Rewrap(scope_, pod_.recipient(), kSession, caps);
  EXPECT_EQ(down.status().code(), Code::kCvsUnavailable);
  EXPECT_EQ(client->Ping().code(), Code::kCvsUnavailable);

  StartServer(port);  // the CVS returns on the same address
  auto back = client->Rewrap(scope_, pod_.recipient(), kSession, caps);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(pod_.Decrypt(v, (*back)[0], kSession), "comes-back");
  EXPECT_TRUE(client->Ping().ok());
}

TEST_F(RemoteCvsTest, RemoteClientRejectsMalformedReply) {
  // A server that answers 200 with bodies that break the contract.
  std::vector<std::string> bodies = {
      "not json",
      R"({"results":[]})",                                        // wrong count
      R"({"results":[{"error":{"code":"internal_error"}}]})",      // not a per-capsule code
      R"({"results":[{"enc":"AAAA","ct":"AAAA"}]})",               // wrong sizes
      R"({"results":[{"enc":"x"}],"extra":1})",
  };
  std::atomic<size_t> next{0};
  net::ServerConfig config;
  config.tls = pki_->ServerTls();
  config.tls->client_ca_pem = pki_->ca_cert_pem();
  config.threads = 1;
  auto server = net::HttpServer::Start(config, [&](const net::ServerRequest&) {
    net::ServerResponse r;
    r.body = bodies[next++ % bodies.size()];
    return r;
  });
  ASSERT_TRUE(server.ok());
  auto client = Client(*edge_, pki_->server().sha256, "https://127.0.0.1:" + std::to_string((*server)->port()));
  ASSERT_NE(client, nullptr);
  capsule::SealedValue v = Seal(scope_, "x");
  std::vector<std::vector<uint8_t>> caps = {CapsuleBytes(v)};
  for (size_t i = 0; i < bodies.size(); ++i) {
    auto r = client->Rewrap(scope_, pod_.recipient(), kSession, caps);
    EXPECT_EQ(r.status().code(), Code::kCvsUnavailable) << "body #" << i;
  }
}

TEST_F(RemoteCvsTest, RemoteCvsClientRequiresPinAndClientCert) {
  net::TlsClientConfig no_pin = pki_->ClientTls(edge_.get());
  EXPECT_EQ(RemoteCvsClient::Create("https://127.0.0.1:1", no_pin).status().code(), Code::kInvalidArgument);
  net::TlsClientConfig no_cert = pki_->ClientTls(nullptr);
  no_cert.pinned_server_cert_sha256 = {pki_->server().sha256};
  EXPECT_EQ(RemoteCvsClient::Create("https://127.0.0.1:1", no_cert).status().code(), Code::kInvalidArgument);
}

TEST_F(RemoteCvsTest, StartRefusesServerWithoutMutualTls) {
  CvsServerConfig no_ca;
  no_ca.tls = pki_->ServerTls();
  no_ca.tls.pinned_client_cert_sha256 = {edge_->sha256};
  EXPECT_EQ(StartCvsServer(std::move(no_ca), *service_).status().code(), Code::kInvalidArgument);
  CvsServerConfig no_pin;
  no_pin.tls = pki_->ServerTls();
  no_pin.tls.client_ca_pem = pki_->ca_cert_pem();
  EXPECT_EQ(StartCvsServer(std::move(no_pin), *service_).status().code(), Code::kInvalidArgument);
}

// Direct handler tests: no network, the request as the server hands it over.
class CvsHandlerTest : public RemoteCvsTest {
 protected:
  net::ServerRequest Request(std::string method, std::string path, std::string body = "") {
    net::ServerRequest r;
    r.method = std::move(method);
    r.path = path;
    r.target = path;
    r.body = std::move(body);
    r.peer_cert_sha256 = edge_->sha256;
    return r;
  }
  Json ValidBody() {
    capsule::SealedValue v = Seal(scope_, "x");
    return Json{{"scope", {{"cluster", "prod-eu1"}, {"namespace", "payments"}, {"serviceAccount", "api"}}},
                {"recipient", B64uEncode(pod_.recipient().bytes)},
                {"session", std::string(kSession)},
                {"capsules", Json::array({B64uEncode(CapsuleBytes(v))})}};
  }
  std::string ErrorCode(const net::ServerResponse& r) {
    auto j = ParseJsonObject(r.body);
    if (!j.ok() || !j->contains("error")) return "<none>";
    return (*j)["error"]["code"].get<std::string>();
  }
};

TEST_F(CvsHandlerTest, HandlerServesRewrapAndHealthz) {
  CvsHttpHandler handler(*service_, {edge_->sha256});
  net::ServerResponse health = handler.Handle(Request("GET", "/cvs/v1/healthz"));
  EXPECT_EQ(health.status, 200);
  net::ServerResponse ok = handler.Handle(Request("POST", "/cvs/v1/rewrap", DumpJson(ValidBody())));
  ASSERT_EQ(ok.status, 200) << ok.body;
  auto j = ParseJsonObject(ok.body);
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE((*j)["results"][0].contains("enc"));
  // The recipient as a JWK is accepted too.
  Json body = ValidBody();
  body["recipient"] = jose::Jwk::FromX25519Public(pod_.recipient()).ToJson();
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/rewrap", DumpJson(body))).status, 200);
}

TEST_F(CvsHandlerTest, HandlerRefusesRequestWithoutPinnedCert) {
  CvsHttpHandler handler(*service_, {edge_->sha256});
  net::ServerRequest r = Request("POST", "/cvs/v1/rewrap", DumpJson(ValidBody()));
  r.peer_cert_sha256.reset();
  EXPECT_EQ(handler.Handle(r).status, 403);
  r.peer_cert_sha256 = pki_->server().sha256;
  EXPECT_EQ(handler.Handle(r).status, 403);
  CvsHttpHandler no_pins(*service_, {});
  EXPECT_EQ(no_pins.Handle(Request("GET", "/cvs/v1/healthz")).status, 403);
}

TEST_F(CvsHandlerTest, HandlerRejectsMalformedRequests) {
  CvsHttpHandler handler(*service_, {edge_->sha256});
  std::vector<std::pair<std::string, Json>> cases;
  auto with = [&](const char* name, auto mutate) {
    Json b = ValidBody();
    mutate(b);
    cases.emplace_back(name, std::move(b));
  };
  with("extra member", [](Json& b) { b["extra"] = 1; });
  with("missing session", [](Json& b) { b.erase("session"); });
  with("empty session", [](Json& b) { b["session"] = ""; });
  with("long session", [](Json& b) { b["session"] = std::string(kMaxSessionIdBytes + 1, 'a'); });
  with("scope not a label", [](Json& b) { b["scope"]["namespace"] = "Pay\nments"; });
  with("scope extra member", [](Json& b) { b["scope"]["name"] = "x"; });
  with("recipient short", [](Json& b) { b["recipient"] = "AAAA"; });
  with("recipient private JWK", [&](Json& b) {
    auto sk = X25519PrivateKey::Generate(DefaultRandom());
    b["recipient"] = jose::Jwk::FromX25519Private(*sk).ToJson(/*include_private=*/true);
  });
  with("capsules empty", [](Json& b) { b["capsules"] = Json::array(); });
  with("capsule not b64u", [](Json& b) { b["capsules"] = Json::array({"a=="}); });
  with("capsule not string", [](Json& b) { b["capsules"] = Json::array({1}); });
  with("too many capsules", [](Json& b) { b["capsules"] = Json(std::vector<std::string>(65, "e30")); });
  for (const auto& [name, body] : cases) {
    net::ServerResponse r = handler.Handle(Request("POST", "/cvs/v1/rewrap", DumpJson(body)));
    EXPECT_EQ(r.status, 400) << name;
    EXPECT_EQ(ErrorCode(r), "bad_request") << name;
  }
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/rewrap", "{\"scope\":1,\"scope\":2}")).status, 400);
  EXPECT_EQ(handler.Handle(Request("GET", "/cvs/v1/rewrap")).status, 405);
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/healthz")).status, 405);
  EXPECT_EQ(handler.Handle(Request("GET", "/v1/unwrap")).status, 404);
}

// An edge older than organisations sends no "org": the default
// organisation's scope. With "org", the kid resolves in that org's set only.
TEST_F(CvsHandlerTest, ScopeWithoutOrgIsDefault) {
  CvsHttpHandler handler(*service_, {edge_->sha256});
  auto code_of = [&](const Json& body) {
    net::ServerResponse r = handler.Handle(Request("POST", "/cvs/v1/rewrap", DumpJson(body)));
    EXPECT_EQ(r.status, 200) << r.body;
    auto j = ParseJsonObject(r.body);
    if (!j.ok()) return std::string("<unparsed>");
    const Json& item = (*j)["results"][0];
    return item.contains("enc") ? std::string("ok") : item["error"]["code"].get<std::string>();
  };
  Json body = ValidBody();  // no "org"
  EXPECT_EQ(code_of(body), "ok");
  body["scope"]["org"] = "default";
  EXPECT_EQ(code_of(body), "ok");
  body["scope"]["org"] = "tenant-b";  // same names, another organisation
  EXPECT_EQ(code_of(body), "unknown_key");
  for (Json bad : {Json(1), Json("Tenant_B"), Json(""), Json("a/b")}) {
    Json b = ValidBody();
    b["scope"]["org"] = bad;
    net::ServerResponse r = handler.Handle(Request("POST", "/cvs/v1/rewrap", DumpJson(b)));
    EXPECT_EQ(r.status, 400) << bad.dump();
  }
}

// The client sends the scope's organisation; a CVS holding only tenant-b's
// set (a customer's Tier 2 CVS) serves tenant-b and refuses the default
// organisation's scope with the same names.
TEST_F(RemoteCvsTest, RemoteScopeCarriesOrg) {
  capsule::OrgPrivateKey b = NewOrgKey();
  const VerifiedScope in_b = testing::TestScope("tenant-b", "prod-eu1", "payments", "api");
  capsule::SealedValue v = SealTo(b.public_key(), BindingFor(in_b), "b-secret", clock_);
  OrgKeySets sets;
  sets.emplace("tenant-b", SetOf(std::move(b)));
  service_ = std::make_unique<CvsService>(std::move(sets), DefaultRandom());
  counting_ = std::make_unique<CountingPort>(*service_);
  StartServer();
  auto client = Client(*edge_, pki_->server().sha256);
  ASSERT_NE(client, nullptr);
  std::vector<std::vector<uint8_t>> caps = {CapsuleBytes(v)};
  auto ok = client->Rewrap(in_b, pod_.recipient(), kSession, caps);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(pod_.Decrypt(v, (*ok)[0], kSession), "b-secret");
  auto other = client->Rewrap(scope_, pod_.recipient(), kSession, caps);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)[0].code, Code::kUnknownKey);
}

TEST_F(RemoteCvsTest, CreateTrustingCaNeedsCaAndName) {
  net::TlsClientConfig good = pki_->ClientTls(edge_.get());
  good.server_name = "localhost";
  EXPECT_TRUE(RemoteCvsClient::CreateTrustingCa("https://127.0.0.1:1", good).ok());
  net::TlsClientConfig no_name = pki_->ClientTls(edge_.get());
  EXPECT_EQ(RemoteCvsClient::CreateTrustingCa("https://127.0.0.1:1", no_name).status().code(),
            Code::kInvalidArgument);
  net::TlsClientConfig no_verify = pki_->ClientTls(edge_.get());
  no_verify.server_name = "localhost";
  no_verify.verify_hostname = false;
  EXPECT_EQ(RemoteCvsClient::CreateTrustingCa("https://127.0.0.1:1", no_verify).status().code(),
            Code::kInvalidArgument);
  net::TlsClientConfig system_store = pki_->ClientTls(edge_.get());
  system_store.ca_pem.reset();
  system_store.server_name = "localhost";
  EXPECT_EQ(RemoteCvsClient::CreateTrustingCa("https://127.0.0.1:1", system_store).status().code(),
            Code::kInvalidArgument);
  net::TlsClientConfig no_cert = pki_->ClientTls(nullptr);
  no_cert.server_name = "localhost";
  EXPECT_EQ(RemoteCvsClient::CreateTrustingCa("https://127.0.0.1:1", no_cert).status().code(),
            Code::kInvalidArgument);

  // Over TLS: the CA and the name suffice; a renewed leaf (new certificate,
  // new key, same CA) keeps working; a wrong name is refused.
  StartServer();
  auto by_ca = RemoteCvsClient::CreateTrustingCa(BaseUrl(), good);
  ASSERT_TRUE(by_ca.ok());
  EXPECT_TRUE((*by_ca)->Ping().ok());
  net::TlsClientConfig wrong_name = pki_->ClientTls(edge_.get());
  wrong_name.server_name = "cvs.tenant-b.example";
  auto misnamed = RemoteCvsClient::CreateTrustingCa(BaseUrl(), wrong_name);
  ASSERT_TRUE(misnamed.ok());
  EXPECT_EQ((*misnamed)->Ping().code(), Code::kCvsUnavailable);
}

// Key custody over the handler: 201 with the public JWK only; the private
// scalar written to the directory appears in no answer.
TEST_F(CvsHandlerTest, HandlerServesKeyCustodyPublicOnly) {
  test::TempDir tmp("astis-custody");
  ASSERT_FALSE(tmp.path().empty());
  CvsService service(OrgKeySets{}, DefaultRandom());
  KeyDirectoryCustodian custodian(tmp.path(), service, DefaultRandom());
  CvsHttpHandler handler(service, {edge_->sha256}, &custodian);
  net::ServerResponse created = handler.Handle(Request("POST", "/cvs/v1/orgs/tenant-a/keys"));
  ASSERT_EQ(created.status, 201) << created.body;
  auto info = ParseOrgKeyReply(created.body, "tenant-a", false);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(service.HasOrg("tenant-a"));
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/orgs/tenant-a/keys")).status, 409);
  net::ServerResponse rotated = handler.Handle(Request("POST", "/cvs/v1/orgs/tenant-a/keys/rotate", "{}"));
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  auto rinfo = ParseOrgKeyReply(rotated.body, "tenant-a", true);
  ASSERT_TRUE(rinfo.ok()) << rinfo.status().ToString();
  EXPECT_EQ(rinfo->previous_kid, info->kid);
  EXPECT_EQ(rinfo->retired_keys, 1u);
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/orgs/tenant-z/keys/rotate")).status, 404);

  std::ifstream in(OrgKeySetPath(tmp.path(), "tenant-a"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto root = ParseJsonObject(ss.str());
  ASSERT_TRUE(root.ok());
  ASSERT_EQ((*root)["keys"].size(), 2u);
  for (const Json& k : (*root)["keys"]) {
    const std::string d = k["d"].get<std::string>();
    EXPECT_EQ(created.body.find(d), std::string::npos);
    EXPECT_EQ(rotated.body.find(d), std::string::npos);
  }
}

TEST_F(CvsHandlerTest, HandlerRefusesBadKeyCustodyRequests) {
  test::TempDir tmp("astis-custody");
  ASSERT_FALSE(tmp.path().empty());
  CvsService service(OrgKeySets{}, DefaultRandom());
  KeyDirectoryCustodian custodian(tmp.path(), service, DefaultRandom());
  CvsHttpHandler handler(service, {edge_->sha256}, &custodian);
  // Only the pinned edge.
  net::ServerRequest unpinned = Request("POST", "/cvs/v1/orgs/tenant-a/keys");
  unpinned.peer_cert_sha256.reset();
  EXPECT_EQ(handler.Handle(unpinned).status, 403);
  EXPECT_EQ(handler.Handle(Request("GET", "/cvs/v1/orgs/tenant-a/keys")).status, 405);
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/orgs/tenant-a/keys", "{\"d\":1}")).status, 400);
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/orgs/Tenant_A/keys")).status, 400);
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/orgs/../keys")).status, 400);
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/orgs/tenant-a")).status, 404);
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/orgs/tenant-a/keys/export")).status, 404);
  EXPECT_EQ(handler.Handle(Request("POST", "/cvs/v1/orgs/a/b/keys")).status, 404);
  net::ServerRequest with_query = Request("POST", "/cvs/v1/orgs/tenant-a/keys");
  with_query.query = "x=1";
  EXPECT_EQ(handler.Handle(with_query).status, 400);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(tmp.path())) ++files;
  EXPECT_EQ(files, 0u);
  // A CVS without custody (a customer's) answers 403.
  CvsHttpHandler no_custody(*service_, {edge_->sha256});
  EXPECT_EQ(no_custody.Handle(Request("POST", "/cvs/v1/orgs/tenant-a/keys")).status, 403);
}

TEST(ParseOrgKeyReplyTest, ParseOrgKeyReplyRefusesPrivateOrMismatched) {
  capsule::OrgPrivateKey k = NewOrgKey();
  const Json pub = k.public_key().ToJwk();
  const Json good = {{"org", "tenant-a"}, {"kid", k.kid()}, {"publicJwk", pub}};
  ASSERT_TRUE(ParseOrgKeyReply(DumpJson(good), "tenant-a", false).ok());
  auto expect_bad = [](const Json& body, const char* name, bool rotation = false) {
    auto r = ParseOrgKeyReply(DumpJson(body), "tenant-a", rotation);
    EXPECT_EQ(r.status().code(), Code::kCvsUnavailable) << name;
  };
  Json with_d = good;
  with_d["publicJwk"] = k.ToPrivateJwk();
  expect_bad(with_d, "private JWK");
  Json other_org = good;
  other_org["org"] = "tenant-b";
  expect_bad(other_org, "other org");
  Json other_kid = good;
  other_kid["kid"] = "nope";
  expect_bad(other_kid, "kid mismatch");
  Json extra = good;
  extra["x"] = 1;
  expect_bad(extra, "extra member");
  expect_bad(good, "rotation members missing", true);
  Json rot = good;
  rot["previousKid"] = "old";
  rot["retiredKeys"] = -1;
  expect_bad(rot, "negative retiredKeys", true);
  rot["retiredKeys"] = 1;
  EXPECT_TRUE(ParseOrgKeyReply(DumpJson(rot), "tenant-a", true).ok());
  Json not_x25519 = good;
  not_x25519["publicJwk"]["crv"] = "P-256";
  expect_bad(not_x25519, "not X25519");
  EXPECT_EQ(ParseOrgKeyReply("[]", "tenant-a", false).status().code(), Code::kCvsUnavailable);
}

// End to end over mutual TLS: the ASTIS CVS as the edge's custodian.
TEST_F(RemoteCvsTest, RemoteKeyCustodyOverMutualTls) {
  test::TempDir tmp("astis-custody");
  ASSERT_FALSE(tmp.path().empty());
  service_ = std::make_unique<CvsService>(OrgKeySets{}, DefaultRandom());
  KeyDirectoryCustodian custodian(tmp.path(), *service_, DefaultRandom());
  CvsServerConfig config;
  config.threads = 2;
  config.tls = pki_->ServerTls();
  config.tls.client_ca_pem = pki_->ca_cert_pem();
  config.tls.pinned_client_cert_sha256 = {edge_->sha256};
  config.custodian = &custodian;
  auto server = StartCvsServer(std::move(config), *service_);
  ASSERT_TRUE(server.ok());
  server_ = std::move(server).value();
  auto client = Client(*edge_, pki_->server().sha256);
  ASSERT_NE(client, nullptr);
  auto created = client->CreateOrgKey("tenant-a");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(client->CreateOrgKey("tenant-a").status().code(), Code::kAlreadyExists);
  EXPECT_EQ(client->RotateOrgKey("tenant-z").status().code(), Code::kNotFound);
  EXPECT_EQ(client->CreateOrgKey("../x").status().code(), Code::kInvalidArgument);
  auto rotated = client->RotateOrgKey("tenant-a");
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  // A value sealed to the answered public key opens through the same CVS.
  auto pub = capsule::OrgPublicKey::FromJwk(rotated->public_jwk);
  ASSERT_TRUE(pub.ok());
  const VerifiedScope in_a = testing::TestScope("tenant-a", "prod-eu1", "payments", "api");
  capsule::SealedValue v = SealTo(*pub, BindingFor(in_a), "custody", clock_);
  std::vector<std::vector<uint8_t>> caps = {CapsuleBytes(v)};
  auto results = client->Rewrap(in_a, pod_.recipient(), kSession, caps);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(pod_.Decrypt(v, (*results)[0], kSession), "custody");
  // An unpinned client gets nothing.
  auto intruder = pki_->IssueClientCert("astis-edge");
  ASSERT_TRUE(intruder.ok());
  auto other = Client(*intruder, pki_->server().sha256);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->CreateOrgKey("tenant-b").status().code(), Code::kCvsUnavailable);
  EXPECT_FALSE(service_->HasOrg("tenant-b"));
}

}  // namespace
}  // namespace astis::cvs
