// Unit tests of the kube-apiserver stand-in over real loopback TLS: bearer
// auth (401/403), watch history and 410 Expired, bookmarks, the kubelet's
// pod, TokenRequest claims and signatures against the served JWKS, OIDC, the
// edge's HttpKubeClient from a written kubeconfig, and the integration tests'
// compatibility layer.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/must.h"
#include "crypto/sha256.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "kube-standin/kube_standin.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/pod.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "support/kube_api_standin.h"

namespace astis::kubestandin {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr char kDigest[] = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

using test::Must;

Json PodSpec(const std::string& name, const std::string& image) {
  return Json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
              {"spec", {{"serviceAccountName", "app-sa"}, {"containers", {{{"name", "app"}, {"image", image}}}}}}};
}

class StandinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StandinOptions o;
    o.clock = &clock_;
    o.history_limit = 4;
    o.bookmark_interval = std::chrono::milliseconds(50);
    o.issuer = "https://issuer.standin.example";
    s_ = Must(KubeStandin::Start(std::move(o)));
    net::TlsClientConfig tls;
    tls.ca_pem = s_->ca_cert_pem();
    http_ = Must(net::HttpsClient::Create(s_->url(), tls));
  }

  net::HttpResponse Send(const std::string& method, const std::string& target, const SecretBytes* token,
                         const std::string& body = "", const std::string& content_type = "application/json") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    if (token != nullptr) r.headers.emplace_back("Authorization", "Bearer " + std::string(token->RevealString()));
    if (!body.empty()) r.headers.emplace_back("Content-Type", content_type);
    r.body = body;
    return Must(http_->Send(r));
  }
  net::HttpResponse Admin(const std::string& method, const std::string& target, const std::string& body = "",
                          const std::string& ct = "application/json") {
    return Send(method, target, &s_->AdminToken(), body, ct);
  }

  // WatchLines opens a watch and reads n lines (fails the test on timeout).
  std::vector<Json> WatchLines(const std::string& target, size_t n) {
    net::HttpRequest r;
    r.target = target;
    r.headers.emplace_back("Authorization", "Bearer " + std::string(s_->ReadToken().RevealString()));
    std::unique_ptr<net::LineStream> stream = Must(http_->OpenLineStream(r));
    EXPECT_EQ(stream->status(), 200);
    std::vector<Json> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (out.size() < n) {
      Result<std::optional<std::string>> line = stream->NextLine(deadline);
      if (!line.ok() || !line->has_value()) break;
      out.push_back(Must(ParseJson(**line, JsonLimits{1 << 20, 64})));
    }
    return out;
  }

  FakeClock clock_{kNow};
  std::unique_ptr<KubeStandin> s_;
  std::unique_ptr<net::HttpsClient> http_;
};

TEST_F(StandinTest, RejectsMissingAndWrongToken) {
  SecretBytes wrong = SecretBytes::CopyFrom("not-a-token");
  for (const SecretBytes* t : std::vector<const SecretBytes*>{nullptr, &wrong}) {
    net::HttpResponse r = Send("GET", "/api/v1/pods", t);
    EXPECT_EQ(r.status, 401);
    Json st = Must(ParseJson(r.body));
    EXPECT_EQ(st["kind"], "Status");
    EXPECT_EQ(st["reason"], "Unauthorized");
    EXPECT_EQ(st["code"], 401);
  }
  EXPECT_EQ(s_->unauthorized(), 2);
}

TEST_F(StandinTest, ReadTokenIsForbiddenToWriteOrReadSecrets) {
  ASSERT_TRUE(s_->CreatePod(PodSpec("p", "registry.example/app:1")).ok());
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"DELETE", "/api/v1/namespaces/default/pods/p"},
           {"GET", "/api/v1/namespaces/default/secrets"},
           {"GET", "/api/v1/namespaces/default/secrets/x"},
           {"POST", "/api/v1/namespaces/default/serviceaccounts/default/token"},
           {"PATCH", "/api/v1/namespaces/default/pods/p/ephemeralcontainers"}}) {
    net::HttpResponse r = Send(method, target, &s_->ReadToken(), method == "GET" ? "" : "{}");
    EXPECT_EQ(r.status, 403) << method << " " << target;
    Json st = Must(ParseJson(r.body));
    EXPECT_EQ(st["reason"], "Forbidden");
    EXPECT_NE(st["message"].get<std::string>().find("is forbidden"), std::string::npos);
  }
  EXPECT_EQ(Send("GET", "/api/v1/namespaces/default/pods/p", &s_->ReadToken()).status, 200);
  EXPECT_TRUE(s_->GetPod("default", "p").ok());  // the refused delete did nothing
}

TEST_F(StandinTest, CreatedPodLooksRunByAKubelet) {
  const std::string pinned = std::string("registry.example/app@") + kDigest;
  net::HttpResponse r = Admin("POST", "/api/v1/namespaces/team/pods", DumpJson(PodSpec("web", pinned)));
  ASSERT_EQ(r.status, 201) << r.body;
  Json pod = Must(ParseJson(r.body, JsonLimits{1 << 20, 64}));
  EXPECT_EQ(pod["metadata"]["namespace"], "team");
  EXPECT_EQ(pod["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_EQ(pod["metadata"]["creationTimestamp"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(pod["status"]["phase"], "Running");
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["imageID"], "docker-pullable://" + pinned);
  // The product's own parser and gate accept it.
  kube::PodView view = Must(kube::ParsePod(r.body));
  EXPECT_EQ(view.service_account, "app-sa");
  EXPECT_TRUE(kube::EvaluatePod(view, kube::PodExpectation{"team", "web", view.uid, {kDigest}, "app-sa"}).ok());
  // An image by tag runs the stand-in registry's digest: sha256 of the name.
  Json tagged = Must(s_->CreatePod(PodSpec("tagged", "registry.example/app:1.2")));
  EXPECT_EQ(tagged["metadata"]["namespace"], "default");
  EXPECT_EQ(tagged["status"]["containerStatuses"][0]["imageID"],
            "docker-pullable://registry.example/app@sha256:" + HexEncode(Sha256(std::string("registry.example/app:1.2"))));
  // Creating it twice is 409 AlreadyExists.
  EXPECT_EQ(Admin("POST", "/api/v1/namespaces/team/pods", DumpJson(PodSpec("web", pinned))).status, 409);
}

TEST_F(StandinTest, CreatedPodDefaultsServiceAccount) {
  const std::string pinned = std::string("registry.example/app@") + kDigest;
  // No ServiceAccount named: "default", in both fields, as kube-apiserver.
  Json plain = PodSpec("plain", pinned);
  plain["spec"].erase("serviceAccountName");
  Json created = Must(s_->CreatePod(plain));
  EXPECT_EQ(created["spec"]["serviceAccountName"], "default");
  EXPECT_EQ(created["spec"]["serviceAccount"], "default");
  kube::PodView view = Must(kube::ParsePod(DumpJson(created)));
  EXPECT_EQ(view.service_account, "default");
  EXPECT_TRUE(kube::EvaluatePod(view, kube::PodExpectation{"default", "plain", view.uid, {kDigest}, "default"}).ok());
  // Only the deprecated serviceAccount: it becomes serviceAccountName.
  Json legacy = PodSpec("legacy", pinned);
  legacy["spec"].erase("serviceAccountName");
  legacy["spec"]["serviceAccount"] = "legacy-sa";
  Json made = Must(s_->CreatePod(legacy));
  EXPECT_EQ(made["spec"]["serviceAccountName"], "legacy-sa");
  EXPECT_EQ(made["spec"]["serviceAccount"], "legacy-sa");
  // A named one is kept.
  Json named = Must(s_->CreatePod(PodSpec("named", pinned)));
  EXPECT_EQ(named["spec"]["serviceAccountName"], "app-sa");
  EXPECT_EQ(named["spec"]["serviceAccount"], "app-sa");
}

TEST_F(StandinTest, WatchResumesFromResourceVersion) {
  ASSERT_TRUE(s_->CreatePod(PodSpec("a", "img:1")).ok());
  const int64_t rv = s_->resource_version();
  ASSERT_TRUE(s_->CreatePod(PodSpec("b", "img:1")).ok());
  ASSERT_TRUE(s_->DeletePod("default", "a"));
  std::vector<Json> ev =
      WatchLines("/api/v1/namespaces/default/pods?watch=1&resourceVersion=" + std::to_string(rv), 2);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0]["type"], "ADDED");
  EXPECT_EQ(ev[0]["object"]["metadata"]["name"], "b");
  EXPECT_EQ(ev[1]["type"], "DELETED");
  EXPECT_EQ(ev[1]["object"]["metadata"]["name"], "a");
  EXPECT_TRUE(ev[1]["object"]["metadata"].contains("deletionTimestamp"));
  // fieldSelector metadata.name narrows the stream.
  std::vector<Json> only_b = WatchLines(
      "/api/v1/pods?watch=true&fieldSelector=metadata.name%3Db&resourceVersion=" + std::to_string(rv), 1);
  ASSERT_EQ(only_b.size(), 1u);
  EXPECT_EQ(only_b[0]["object"]["metadata"]["name"], "b");
}

TEST_F(StandinTest, WatchFromCompactedVersionIs410Expired) {
  const int64_t old = s_->resource_version();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(s_->CreatePod(PodSpec("p" + std::to_string(i), "img:1")).ok());
  std::vector<Json> ev = WatchLines("/api/v1/pods?watch=1&resourceVersion=" + std::to_string(old), 2);
  ASSERT_EQ(ev.size(), 1u);  // one ERROR event, then the stream ends
  EXPECT_EQ(ev[0]["type"], "ERROR");
  EXPECT_EQ(ev[0]["object"]["kind"], "Status");
  EXPECT_EQ(ev[0]["object"]["code"], 410);
  EXPECT_EQ(ev[0]["object"]["reason"], "Expired");
}

TEST_F(StandinTest, WatchSendsBookmarks) {
  ASSERT_TRUE(s_->CreatePod(PodSpec("a", "img:1")).ok());
  const std::string rv = std::to_string(s_->resource_version());
  std::vector<Json> ev = WatchLines("/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=" + rv, 1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["type"], "BOOKMARK");
  EXPECT_EQ(ev[0]["object"], (Json{{"kind", "Pod"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}}));
}

TEST_F(StandinTest, WatchWithoutVersionStartsWithCurrentState) {
  ASSERT_TRUE(s_->CreatePod(PodSpec("a", "img:1")).ok());
  std::vector<Json> ev = WatchLines("/api/v1/pods?watch=1&timeoutSeconds=1", 5);
  ASSERT_EQ(ev.size(), 1u);  // timeoutSeconds ends the stream
  EXPECT_EQ(ev[0]["type"], "ADDED");
}

TEST_F(StandinTest, TokenRequestMintsAVerifiableBoundToken) {
  ASSERT_TRUE(s_->CreatePod(PodSpec("web", "img:1")).ok());
  const Json pod = Must(s_->GetPod("default", "web"));
  net::HttpResponse r = Admin("POST", "/api/v1/namespaces/default/serviceaccounts/app-sa/token",
                              DumpJson(Json{{"spec",
                                             {{"audiences", {"astis"}},
                                              {"expirationSeconds", 600},
                                              {"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "web"}}}}}}));
  EXPECT_EQ(r.status, 404);  // the ServiceAccount does not exist yet
  ASSERT_EQ(Admin("POST", "/api/v1/namespaces/default/serviceaccounts",
                  DumpJson(Json{{"metadata", {{"name", "app-sa"}}}}))
                .status,
            201);
  r = Admin("POST", "/api/v1/namespaces/default/serviceaccounts/app-sa/token",
            DumpJson(Json{{"spec",
                           {{"audiences", {"astis"}},
                            {"expirationSeconds", 600},
                            {"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "web"}}}}}}));
  ASSERT_EQ(r.status, 201) << r.body;
  Json tr = Must(ParseJson(r.body));
  EXPECT_EQ(tr["kind"], "TokenRequest");
  EXPECT_EQ(tr["status"]["expirationTimestamp"], "2027-01-15T08:10:00Z");
  jose::JwkSet jwks = Must(jose::JwkSet::Parse(Send("GET", "/openid/v1/jwks", &s_->ReadToken()).body));
  jose::UnverifiedJws jws = Must(jose::UnverifiedJws::Parse(tr["status"]["token"].get<std::string>()));
  EXPECT_EQ(jws.alg(), "RS256");
  jose::VerifiedJws v = Must(jose::VerifyJwsWithJwkSet(jws, jwks));
  Json c = Must(ParseJson(v.payload()));
  EXPECT_EQ(c["iss"], "https://issuer.standin.example");
  EXPECT_EQ(c["aud"], Json::array({"astis"}));
  EXPECT_EQ(c["sub"], "system:serviceaccount:default:app-sa");
  EXPECT_EQ(c["iat"], kNow);
  EXPECT_EQ(c["nbf"], kNow);
  EXPECT_EQ(c["exp"], kNow + 600);
  EXPECT_EQ(c["jti"].get<std::string>().size(), 36u);
  EXPECT_EQ(c["kubernetes.io"]["namespace"], "default");
  EXPECT_EQ(c["kubernetes.io"]["pod"], (Json{{"name", "web"}, {"uid", pod["metadata"]["uid"]}}));
  EXPECT_EQ(c["kubernetes.io"]["serviceaccount"]["name"], "app-sa");
  EXPECT_EQ(c["kubernetes.io"]["node"]["name"], "astis-standin-node");
}

TEST_F(StandinTest, TokenRequestRefusals) {
  ASSERT_TRUE(s_->CreatePod(PodSpec("web", "img:1")).ok());
  auto token = [&](const Json& spec, const std::string& sa = "default") {
    return Admin("POST", "/api/v1/namespaces/default/serviceaccounts/" + sa + "/token", DumpJson(Json{{"spec", spec}}));
  };
  // TokenRequestForMissingPodIs404
  EXPECT_EQ(token({{"boundObjectRef", {{"kind", "Pod"}, {"name", "nope"}}}}).status, 404);
  // TokenRequestRejectsShortExpiration: at least 10 minutes.
  EXPECT_EQ(token({{"expirationSeconds", 599}}).status, 422);
  // A pod running as another ServiceAccount (web runs as app-sa).
  EXPECT_EQ(token({{"boundObjectRef", {{"kind", "Pod"}, {"name", "web"}}}}).status, 400);
  // A stale pod uid is 409 Conflict.
  ASSERT_EQ(Admin("POST", "/api/v1/namespaces/default/serviceaccounts", DumpJson(Json{{"metadata", {{"name", "app-sa"}}}})).status, 201);
  EXPECT_EQ(token({{"boundObjectRef", {{"kind", "Pod"}, {"name", "web"}, {"uid", "0000"}}}}, "app-sa").status, 409);
  EXPECT_FALSE(s_->MintToken("default", "default", "nope", {"a"}, 600).ok());
  EXPECT_FALSE(s_->MintToken("default", "default", "", {}, 600).ok());
}

TEST_F(StandinTest, MintTokenEs256AndOidcDocuments) {
  MintedToken t = Must(s_->MintToken("default", "default", "", {"astis"}, 3600, TokenAlg::kEs256));
  EXPECT_EQ(t.expiration_unix, kNow + 3600);
  jose::JwkSet jwks = Must(jose::JwkSet::Parse(s_->JwksJson()));
  ASSERT_EQ(jwks.keys().size(), 2u);
  for (const jose::Jwk& k : jwks.keys()) EXPECT_EQ(k.use(), "sig");
  jose::UnverifiedJws jws = Must(jose::UnverifiedJws::Parse(t.token));
  EXPECT_EQ(jws.alg(), "ES256");
  EXPECT_TRUE(jose::VerifyJwsWithJwkSet(jws, jwks).ok());
  net::HttpResponse oidc = Send("GET", "/.well-known/openid-configuration", &s_->ReadToken());
  ASSERT_EQ(oidc.status, 200);
  Json d = Must(ParseJson(oidc.body));
  EXPECT_EQ(d["issuer"], "https://issuer.standin.example");
  EXPECT_EQ(d["jwks_uri"], s_->url() + "/openid/v1/jwks");
  EXPECT_EQ(d["id_token_signing_alg_values_supported"], Json::array({"ES256", "RS256"}));
  EXPECT_EQ(Send("GET", "/openid/v1/jwks", &s_->ReadToken()).Header("Content-Type"), "application/jwk-set+json");
  s_->SetIssuer("https://other.example");
  EXPECT_EQ(Must(ParseJson(s_->OpenIdConfigurationJson()))["issuer"], "https://other.example");
}

TEST_F(StandinTest, EdgeKubeClientReadsPodsThroughKubeconfig) {
  ASSERT_TRUE(s_->CreatePod(PodSpec("web", std::string("registry.example/app@") + kDigest)).ok());
  const std::string dir = Must(net::testing::MakeTempDir());
  ASSERT_TRUE(s_->WriteKubeconfig(dir + "/kubeconfig", s_->ReadToken().RevealString()).ok());
  kube::ClusterConnection conn = Must(kube::FromKubeconfig(dir + "/kubeconfig"));
  EXPECT_EQ(conn.api_url, s_->url());
  std::unique_ptr<kube::HttpKubeClient> client = Must(kube::HttpKubeClient::Create(conn, clock_));
  EXPECT_TRUE(client->Ping().ok());
  kube::PodView pod = Must(client->GetPod("default", "web"));
  EXPECT_TRUE(kube::EvaluatePod(pod, kube::PodExpectation{"default", "web", pod.uid, {kDigest}, "app-sa"}).ok());
  EXPECT_EQ(client->GetPod("default", "gone").status().code(), Code::kPodNotLive);
  std::filesystem::remove_all(dir);
}

TEST(CompatLayerTest, KubeApiStandinKeepsItsContract) {
  auto s = Must(integration::KubeApiStandin::Start("read-token-for-compat"));
  Json pod = Must(integration::MakePod("kubernetes/pod-init-containers-docker-pullable.json",
                                       integration::PodIdentity{"ns1", "p1", "uid-1", "sa1", kDigest}));
  ASSERT_TRUE(s->PutPod(pod).ok());
  ASSERT_TRUE(s->AddEphemeralContainer("ns1", "p1", "dbg", "busybox", std::string("docker-pullable://busybox@") + kDigest).ok());
  Json got = Must(s->standin().GetPod("ns1", "p1"));
  EXPECT_EQ(got["spec"]["ephemeralContainers"][0]["name"], "dbg");
  s->Stop();
  ASSERT_TRUE(s->Restart().ok());
  net::TlsClientConfig tls;
  tls.ca_pem = s->ca_cert_pem();
  auto http = Must(net::HttpsClient::Create(s->url(), tls));
  net::HttpRequest r;
  r.target = "/api/v1/namespaces/ns1/pods/p1";
  r.headers.emplace_back("Authorization", "Bearer read-token-for-compat");
  EXPECT_EQ(Must(http->Send(r)).status, 200);
  r.method = "DELETE";
  EXPECT_EQ(Must(http->Send(r)).status, 403);
  EXPECT_TRUE(s->DeletePod("ns1", "p1"));
  EXPECT_FALSE(s->DeletePod("ns1", "p1"));
  EXPECT_EQ(s->requests(), 2);
}

}  // namespace
}  // namespace astis::kubestandin
