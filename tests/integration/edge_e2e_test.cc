// End-to-end: the edge, the CVS (embedded and remote) and a kube-apiserver
// stand-in, every process boundary a real loopback TLS connection:
//
//   pod (HttpsClient / SDK) --TLS--> edge (net::HttpServer + EdgeService,
//   SQLite file store, FileAuditLog) --mTLS, pinned--> CVS (StartCvsServer)
//                                    --TLS + bearer--> KubeApiStandin
//
// wired as RunEdgeProcess (src/edge/run.cc) wires them. ServiceAccount tokens
// are real RS256 / ES256 JWS with the projected-token claim shape of
// testdata/kubernetes/k8s-projected-token-claims.json; pods are the real Pod
// JSON shapes of testdata/kubernetes/. Only the clock is simulated (FakeClock),
// so token and proof times never depend on the wall clock. Every refusal
// checks the exact docs/protocol.md §7 status and code and that no result was sent.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/files.h"
#include "common/testing/must.h"
#include "crypto/ed25519.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "cvs/cvs.h"
#include "cvs/remote.h"
#include "edge/config.h"
#include "edge/gates.h"
#include "edge/service.h"
#include "edge/testing/pod_credentials.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/pod.h"
#include "net/http_server.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "sdk/engine.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "support/kube_api_standin.h"

namespace astis::integration {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr char kCluster[] = "eu-west-e2e";
constexpr char kIssuer[] = "https://oidc.eu-west-e2e.example.com";
constexpr char kNs[] = "billing";
constexpr char kSa[] = "ledger";
constexpr char kPod[] = "ledger-5c8d7b9f4-x2k9q";
constexpr char kUid[] = "3f0a9c1e-7b2d-4e5f-9a8b-6c7d8e9f0a1b";
constexpr char kNewUid[] = "9b8e2d41-0c3a-4f6e-8d2b-1a7c5e3f9d04";
constexpr char kKubeReadToken[] = "e2e-kube-read-only-token";
constexpr char kPodShape[] = "kubernetes/pod-sidecar-containerd-digest.json";
const std::string kAppDigest = "sha256:cd2438ba5730cd67f3f400a7726f756bce34124d65a60e7509721a70cdb9ea26";
const std::string kDebugDigest = "sha256:2d4c53f188e6cb84bc17c5e6629ab78ec4e1a7513acfa4c364d3018beacd9277";

using test::Must;
using test::ReadFile;
using test::WriteFile;

// NoSleep records nothing and returns at once: the SDK never waits in tests.
class NoSleep final : public sdkcore::Sleeper {
 public:
  void Sleep(std::chrono::milliseconds) override {}
};

struct WorldOptions {
  bool remote_cvs = false;
  std::string cluster_mode = "strict";
  bool wrong_kube_token = false;
  // Where the pod runs and who it is (the protocol 1.1 vectors bind
  // payments/api and several clusters), and the CVS's org key set (JSON;
  // empty: a fresh X25519 key).
  std::string cluster = kCluster;
  std::string ns = kNs;
  std::string sa = kSa;
  std::string org_keys_json;
};

class EdgeE2eTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (edge_server_ != nullptr) edge_server_->Stop(std::chrono::milliseconds(0));
    service_ptr_.store(nullptr);
    if (cvs_server_ != nullptr) cvs_server_->Stop(std::chrono::milliseconds(0));
    if (kube_ != nullptr) kube_->Stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // StartWorld builds the full stack as RunEdgeProcess would.
  void StartWorld(const WorldOptions& o = {}) {
    opts_ = o;
    Random& rng = DefaultRandom();
    dir_ = Must(net::testing::MakeTempDir());

    // The cluster's API, serving our pod built from a real Pod JSON shape.
    kube_ = Must(KubeApiStandin::Start(kKubeReadToken));
    ASSERT_TRUE(kube_->PutPod(Must(MakePod(kPodShape, Identity(kUid)))).ok());
    WriteFile(dir_ + "/kube-ca.pem", kube_->ca_cert_pem());
    WriteFile(dir_ + "/kube-token",
              std::string(o.wrong_kube_token ? "a-token-the-api-does-not-know" : kKubeReadToken) + "\n");

    // The edge's store on a file, with the cluster, the workload and an API key.
    store_ = Must(store::OpenSqliteStore(dir_ + "/edge.db"));
    ec_ = std::make_unique<SigningKey>(Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256)));
    Json rsa = edge::testing::SharedClusterRsaKey().PublicJwkMembers();
    rsa["kid"] = "rsa-1";
    Json ec = ec_->PublicJwkMembers();
    ec["kid"] = "ec-1";
    store::Cluster c;
    c.name = o.cluster;
    c.issuer = kIssuer;
    c.jwks_json = DumpJson(Json{{"keys", Json::array({rsa, ec})}});
    c.api_url = kube_->url();
    c.ca_file = dir_ + "/kube-ca.pem";
    c.token_file = dir_ + "/kube-token";
    c.mode = o.cluster_mode;
    c.created_at = kNow - 1000;
    ASSERT_TRUE(store_->PutCluster(c).ok());
    ASSERT_TRUE(store_->PutWorkload(store::Workload{o.cluster, o.ns, o.sa, {kAppDigest}}).ok());
    api_key_ = Must(edge::testing::RegisterApiKey(*store_, {o.cluster, o.ns, o.sa, kNow - 100}, rng)).header_value;

    audit_ = Must(audit::FileAuditLog::Open(AuditPath(), clock_));

    // The CVS with a fresh org key: in-process, or behind pinned mutual TLS.
    capsule::OrgKeySet keys = Must(capsule::OrgKeySet::ParseText(
        o.org_keys_json.empty() ? Must(capsule::OrgPrivateKey::Generate(rng)).ToPrivateJwk().dump() : o.org_keys_json));
    org_public_ = std::make_unique<capsule::OrgPublicKey>(keys.active().public_key());
    cvs::CvsPort* cvs_port = nullptr;
    if (!o.remote_cvs) {
      cvs_service_ = std::make_unique<cvs::CvsService>(std::move(keys), rng, audit_.get());
      cvs_port = cvs_service_.get();
    } else {
      cvs_audit_ = Must(audit::FileAuditLog::Open(CvsAuditPath(), clock_));
      cvs_service_ = std::make_unique<cvs::CvsService>(std::move(keys), rng, cvs_audit_.get());
      cvs_pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create()));
      edge_client_cert_ = std::make_unique<net::testing::TestCert>(Must(cvs_pki_->IssueClientCert("astis-edge")));
      StartCvs(0);
      net::TlsClientConfig tls = cvs_pki_->ClientTls(edge_client_cert_.get());
      tls.pinned_server_cert_sha256 = {cvs_pki_->server().sha256};
      net::ClientOptions copts;
      copts.connect_timeout = std::chrono::milliseconds(2000);
      copts.request_timeout = std::chrono::milliseconds(5000);
      remote_cvs_ = Must(cvs::RemoteCvsClient::Create(CvsUrl(), tls, copts));
      cvs_port = remote_cvs_.get();
    }

    // The edge's read-only Kubernetes client, from files as in production.
    kube::ClusterConnection conn = Must(kube::Explicit(c.api_url, c.ca_file, c.token_file));
    kube::KubeClientOptions kopts;
    kopts.connect_timeout = std::chrono::milliseconds(2000);
    kopts.request_timeout = std::chrono::milliseconds(5000);
    kube_client_ = Must(kube::HttpKubeClient::Create(conn, clock_, kopts));

    // The edge over HTTPS; htu is checked against its real URL.
    edge_pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create()));
    net::testing::TestPkiFiles files = Must(edge_pki_->WriteFiles(dir_));
    edge_ca_file_ = files.ca_cert;
    edge::EdgeConfig config;
    net::ServerConfig sc;
    sc.tls = edge_pki_->ServerTls();
    sc.threads = 2;
    sc.limits.max_body_bytes = static_cast<size_t>(config.limits.max_body_bytes) + 1;  // as run.cc
    edge_server_ = Must(net::HttpServer::Start(sc, [this](const net::ServerRequest& r) {
      edge::EdgeService* s = service_ptr_.load();
      return s != nullptr ? s->HandleHeld(r) : net::JsonError(503, "internal_error", "not ready");
    }));
    edge_url_ = "https://127.0.0.1:" + std::to_string(edge_server_->port());
    config.external_base_url = edge_url_;
    config.tls = {files.server_cert, files.server_key};
    config.store.path = dir_ + "/edge.db";
    config.cvs.mode = o.remote_cvs ? edge::CvsMode::kRemote : edge::CvsMode::kEmbedded;
    config.cvs.url = o.remote_cvs ? CvsUrl() : "";
    config.audit_log = AuditPath();
    edge::testing::ReadEveryGate4Decision(config);  // these tests edit the API between requests at one instant
    edge::EdgeDeps deps;
    deps.store = store_.get();
    deps.kube = [this](std::string_view cluster) -> kube::KubeClient* {
      return cluster == opts_.cluster ? kube_client_.get() : nullptr;
    };
    deps.cvs = cvs_port;
    deps.audit = audit_.get();
    deps.clock = &clock_;
    deps.rng = &rng;
    service_ = Must(edge::EdgeService::Create(config, deps));
    service_ptr_.store(service_.get());

    // The pod: RAM keys and an HTTPS client that trusts the edge's CA.
    pod_dpop_ = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(rng)));
    pod_recipient_ = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(rng)));
    pod_http_ = Must(net::HttpsClient::Create(edge_url_, edge_pki_->ClientTls()));
    token_ = MintToken(SignatureAlg::kRs256);
  }

  void StartCvs(uint16_t port) {
    cvs::CvsServerConfig config;
    config.port = port;
    config.threads = 1;
    config.tls = cvs_pki_->ServerTls();
    config.tls.client_ca_pem = cvs_pki_->ca_cert_pem();
    config.tls.pinned_client_cert_sha256 = {edge_client_cert_->sha256};
    cvs_server_ = Must(cvs::StartCvsServer(std::move(config), *cvs_service_));
    cvs_port_ = cvs_server_->port();
  }
  void StopCvs() {
    cvs_server_->Stop(std::chrono::milliseconds(0));
    cvs_server_.reset();
  }

  std::string CvsUrl() const { return "https://127.0.0.1:" + std::to_string(cvs_port_); }
  std::string AuditPath() const { return dir_ + "/audit.log"; }
  std::string CvsAuditPath() const { return dir_ + "/cvs-audit.log"; }

  PodIdentity Identity(const std::string& uid) const { return PodIdentity{opts_.ns, kPod, uid, opts_.sa, kAppDigest}; }

  // MintToken signs the projected ServiceAccount token kube-apiserver issues
  // for our pod (testdata/kubernetes/k8s-projected-token-claims.json shape).
  std::string MintToken(SignatureAlg alg) const {
    const bool rsa = alg == SignatureAlg::kRs256;
    return edge::testing::SignToken(
        edge::testing::ProjectedTokenClaims({kIssuer, opts_.ns, opts_.sa, kPod, kUid, kNow}),
                                    rsa ? edge::testing::SharedClusterRsaKey() : *ec_, alg, rsa ? "rsa-1" : "ec-1");
  }

  // SendOnce sends one pod request with all three credentials, the DPoP
  // proof carrying the last nonce seen (none yet: no nonce claim), and
  // remembers the nonce the edge answers with.
  net::HttpResponse SendOnce(const std::string& method, const std::string& path, const std::string& body) {
    return Must(edge::testing::SendPodRequest(*pod_http_, {api_key_.RevealString(), token_, pod_dpop_.get()}, method,
                                              edge_url_, path, body, clock_.NowUnix(), nonce_, DefaultRandom()));
  }

  // Send is SendOnce with the RFC 9449 §8 retry on use_dpop_nonce.
  net::HttpResponse Send(const std::string& method, const std::string& path, const std::string& body) {
    net::HttpResponse resp = SendOnce(method, path, body);
    if (edge::testing::AsksForDpopNonce(resp)) resp = SendOnce(method, path, body);
    return resp;
  }

  std::string EstablishBody() const {
    return DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(pod_recipient_->public_key()).ToJson()}});
  }

  // Establish does the nonce dance explicitly (the first proof has no nonce:
  // 401 use_dpop_nonce with a DPoP-Nonce), then opens a session.
  std::string Establish() {
    nonce_.clear();
    net::HttpResponse first = SendOnce("POST", "/v1/sessions", EstablishBody());
    EXPECT_EQ(first.status, 401) << first.body;
    EXPECT_EQ(first.Header("WWW-Authenticate").value_or(""), "DPoP error=\"use_dpop_nonce\"");
    EXPECT_EQ(ErrorCode(first), "use_dpop_nonce");
    EXPECT_FALSE(nonce_.empty());
    net::HttpResponse est = SendOnce("POST", "/v1/sessions", EstablishBody());
    EXPECT_EQ(est.status, 201) << est.body;
    Json j = Must(ParseJson(est.body));
    EXPECT_EQ(j["cluster"], opts_.cluster);
    EXPECT_EQ(j["pod"]["uid"], kUid);
    EXPECT_EQ(j["pod"]["name"], kPod);
    return j.value("session", "");
  }

  net::HttpResponse Unwrap(const std::string& session, const std::vector<capsule::SealedValue>& values) {
    std::vector<std::string> caps;
    for (const auto& v : values) caps.push_back(B64uEncode(v.capsule().bytes()));
    return Send("POST", "/v1/unwrap", DumpJson(Json{{"session", session}, {"capsules", caps}}));
  }

  capsule::SealedValue Seal(std::string_view plaintext, const std::string& name = "ledger-db") {
    return Must(capsule::Seal(*org_public_, capsule::Binding{kCluster, kNs, kSa, name, "password"}, AsBytes(plaintext),
                              DefaultRandom(), clock_));
  }

  // OpenAll opens every result of a 200 unwrap as the pod does and returns
  // the plaintexts; deks receives copies of the DEKs (for the leak check).
  std::vector<std::string> OpenAll(const net::HttpResponse& resp, const std::string& session,
                                   const std::vector<capsule::SealedValue>& values,
                                   std::vector<SecretBytes>* deks = nullptr) {
    std::vector<std::string> out;
    EXPECT_EQ(resp.status, 200) << resp.body;
    if (resp.status != 200) return out;
    const Json results = Must(ParseJson(resp.body))["results"];
    EXPECT_EQ(results.size(), values.size());
    for (size_t i = 0; i < values.size() && i < results.size(); ++i) {
      if (!results[i].contains("enc")) {
        ADD_FAILURE() << "result " << i << ": " << DumpJson(results[i]);
        out.emplace_back();
        continue;
      }
      SecretBytes dek = Must(capsule::OpenRewrapped(*pod_recipient_, values[i].capsule().hash(), session,
                                                    Must(B64uDecode(results[i]["enc"].get<std::string>())),
                                                    Must(B64uDecode(results[i]["ct"].get<std::string>()))));
      out.emplace_back(Must(capsule::DecryptValue(dek, values[i])).RevealString());
      if (deks != nullptr) deks->push_back(std::move(dek));
    }
    return out;
  }

  static std::string ErrorCode(const net::HttpResponse& resp) {
    auto j = ParseJson(resp.body);
    if (!j.ok() || !j->is_object() || !j->contains("error")) return "<no error object: " + resp.body + ">";
    return (*j)["error"].value("code", "");
  }

  // ExpectRefused checks the exact status and code, and that the body is the
  // error object alone: no results, no enc, no ct.
  static void ExpectRefused(const net::HttpResponse& resp, int status, const std::string& code) {
    EXPECT_EQ(resp.status, status) << resp.body;
    EXPECT_EQ(ErrorCode(resp), code);
    auto j = ParseJson(resp.body);
    ASSERT_TRUE(j.ok()) << resp.body;
    EXPECT_EQ(j->size(), 1u) << resp.body;
    EXPECT_FALSE(j->contains("results"));
    EXPECT_EQ(resp.body.find("\"enc\""), std::string::npos);
    EXPECT_EQ(resp.body.find("\"ct\""), std::string::npos);
  }

  // AuditLines parses the (verified) audit log at path.
  static std::vector<Json> AuditLines(const std::string& path) {
    audit::VerifyReport report = Must(audit::VerifyAuditLog(path));
    EXPECT_TRUE(report.ok) << "line " << report.first_bad_line << ": " << report.problem;
    std::vector<Json> out;
    std::istringstream in(ReadFile(path));
    for (std::string line; std::getline(in, line);) out.push_back(Must(ParseJson(line)));
    EXPECT_EQ(out.size(), report.lines);
    return out;
  }

  static bool HasLine(const std::vector<Json>& lines, std::string_view event, std::string_view decision,
                      std::string_view code) {
    return std::any_of(lines.begin(), lines.end(), [&](const Json& l) {
      return l.value("event", "") == event && l.value("decision", "") == decision && l.value("code", "") == code;
    });
  }

  // ExpectNoLeak checks that no plaintext and no DEK, in any encoding,
  // appears in the bytes of file.
  static void ExpectNoLeak(const std::string& path, const std::vector<std::string>& plaintexts,
                           const std::vector<SecretBytes>& deks) {
    const std::string bytes = ReadFile(path);
    ASSERT_FALSE(bytes.empty()) << path;
    for (const auto& p : plaintexts) EXPECT_EQ(bytes.find(p), std::string::npos) << path << " holds a plaintext";
    for (const auto& d : deks) {
      for (const std::string& form :
           {std::string(d.RevealString()), B64uEncode(d.Reveal()), B64Encode(d.Reveal()), HexEncode(d.Reveal())}) {
        EXPECT_EQ(bytes.find(form), std::string::npos) << path << " holds a DEK";
      }
    }
  }

  // RoundTrip is the full establish + batch-of-3 unwrap + decrypt + audit check.
  void RoundTrip(const std::vector<std::string>& audit_files) {
    const std::string session = Establish();
    ASSERT_FALSE(session.empty());
    const std::vector<std::string> plaintexts = {"ledger-db-password-7f3a", "stripe-key-sk-e2e-91c2",
                                                 "smtp-relay-secret-44d0"};
    std::vector<capsule::SealedValue> values;
    for (size_t i = 0; i < plaintexts.size(); ++i) values.push_back(Seal(plaintexts[i], "secret-" + std::to_string(i)));
    std::vector<SecretBytes> deks;
    EXPECT_EQ(OpenAll(Unwrap(session, values), session, values, &deks), plaintexts);
    ASSERT_EQ(deks.size(), 3u);

    const std::vector<Json> lines = AuditLines(AuditPath());
    EXPECT_TRUE(HasLine(lines, "session.establish", "allow", "ok"));
    EXPECT_TRUE(HasLine(lines, "unwrap", "allow", "ok"));
    for (const auto& f : audit_files) ExpectNoLeak(f, plaintexts, deks);
    ExpectNoLeak(dir_ + "/edge.db", plaintexts, deks);
  }

  FakeClock clock_{kNow};
  WorldOptions opts_;
  std::string dir_;
  std::unique_ptr<KubeApiStandin> kube_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<SigningKey> ec_;
  SecretBytes api_key_;
  std::unique_ptr<audit::FileAuditLog> audit_, cvs_audit_;
  std::unique_ptr<capsule::OrgPublicKey> org_public_;
  std::unique_ptr<cvs::CvsService> cvs_service_;
  std::unique_ptr<net::testing::TestPki> cvs_pki_;
  std::unique_ptr<net::testing::TestCert> edge_client_cert_;
  std::unique_ptr<net::HttpServer> cvs_server_;
  uint16_t cvs_port_ = 0;
  std::unique_ptr<cvs::RemoteCvsClient> remote_cvs_;
  std::unique_ptr<kube::HttpKubeClient> kube_client_;
  std::unique_ptr<net::testing::TestPki> edge_pki_;
  std::string edge_ca_file_, edge_url_;
  std::unique_ptr<edge::EdgeService> service_;
  std::unique_ptr<net::HttpServer> edge_server_;  // stopped first in TearDown
  std::atomic<edge::EdgeService*> service_ptr_{nullptr};
  std::unique_ptr<Ed25519PrivateKey> pod_dpop_;
  std::unique_ptr<X25519PrivateKey> pod_recipient_;
  std::unique_ptr<net::HttpsClient> pod_http_;
  std::string token_, nonce_;
};

TEST_F(EdgeE2eTest, KubeApiStandinAnswersLikeKubeApiserver) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  net::TlsClientConfig tls;
  tls.ca_pem = kube_->ca_cert_pem();
  std::unique_ptr<net::HttpsClient> api = Must(net::HttpsClient::Create(kube_->url(), tls));
  const std::string pod_path = std::string("/api/v1/namespaces/") + kNs + "/pods/" + kPod;
  auto get = [&](const std::string& target, const std::string& token, const std::string& method = "GET") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
    return Must(api->Send(r));
  };
  // RejectsMissingAndWrongBearerToken: 401 with the Unauthorized Status object.
  for (const std::string& token : {std::string(), std::string("wrong")}) {
    net::HttpResponse r = get(pod_path, token);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(Must(ParseJson(r.body)), (Json{{"kind", "Status"},
                                             {"apiVersion", "v1"},
                                             {"metadata", Json::object()},
                                             {"status", "Failure"},
                                             {"message", "Unauthorized"},
                                             {"reason", "Unauthorized"},
                                             {"code", 401}}));
  }
  EXPECT_EQ(kube_->unauthorized(), 2);
  // The read-only token may not write.
  EXPECT_EQ(get(pod_path, kKubeReadToken, "DELETE").status, 403);
  // A missing pod is a NotFound Status.
  net::HttpResponse missing = get(std::string("/api/v1/namespaces/") + kNs + "/pods/nope", kKubeReadToken);
  EXPECT_EQ(missing.status, 404);
  Json nf = Must(ParseJson(missing.body));
  EXPECT_EQ(nf["kind"], "Status");
  EXPECT_EQ(nf["reason"], "NotFound");
  EXPECT_EQ(nf["code"], 404);
  EXPECT_EQ(get("/readyz", kKubeReadToken).status, 200);
  // The pod is a real Pod shape that the project's own parser and gate accept.
  net::HttpResponse ok = get(pod_path, kKubeReadToken);
  ASSERT_EQ(ok.status, 200);
  kube::PodView pod = Must(kube::ParsePod(ok.body));
  EXPECT_EQ(pod.uid, kUid);
  EXPECT_EQ(pod.init_containers.size(), 2u);
  EXPECT_TRUE(kube::EvaluatePod(pod, kube::PodExpectation{kNs, kPod, kUid, {kAppDigest}, kSa}).ok());
}

TEST_F(EdgeE2eTest, RoundTripEmbeddedCvsRs256) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  token_ = MintToken(SignatureAlg::kRs256);
  RoundTrip({AuditPath()});
  // The embedded CVS writes its rewrap decision to the edge's audit log.
  EXPECT_TRUE(HasLine(AuditLines(AuditPath()), "cvs.rewrap", "allow", "ok"));
}

TEST_F(EdgeE2eTest, RoundTripRemoteCvsEs256) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.remote_cvs = true}));
  token_ = MintToken(SignatureAlg::kEs256);
  RoundTrip({AuditPath(), CvsAuditPath()});
  EXPECT_TRUE(HasLine(AuditLines(CvsAuditPath()), "cvs.rewrap", "allow", "ok"));
}

TEST_F(EdgeE2eTest, SdkAgainstFullStack) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string pod_dir = dir_ + "/pod";
  std::filesystem::create_directories(pod_dir + "/secrets");
  WriteFile(pod_dir + "/token", token_);
  WriteFile(pod_dir + "/api-key", api_key_.RevealString());
  WriteFile(pod_dir + "/secrets/ledger-db", Seal("sdk-ledger-password", "ledger-db").ToString());
  WriteFile(pod_dir + "/secrets/stripe", Seal("sdk-stripe-key", "stripe").ToString());
  sdkcore::SdkConfig config;
  config.edge_urls = {edge_url_};
  config.ca_file = edge_ca_file_;
  config.token_path = pod_dir + "/token";
  config.api_key_file = pod_dir + "/api-key";
  config.secrets_dir = pod_dir + "/secrets";
  config.rotation_seconds = 0;
  NoSleep no_sleep;
  sdkcore::EngineDeps deps;
  deps.clock = &clock_;
  deps.sleeper = &no_sleep;
  deps.env = [](const std::string&) { return std::nullopt; };
  std::unique_ptr<sdkcore::Engine> engine = Must(sdkcore::Engine::Create(config, deps));
  const std::vector<std::string> names = {"ledger-db", "stripe"};
  std::vector<SecretBytes> values = Must(engine->GetMany(names));
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].RevealString(), "sdk-ledger-password");
  EXPECT_EQ(values[1].RevealString(), "sdk-stripe-key");
  EXPECT_EQ(engine->stats().establishes, 1u);
  EXPECT_TRUE(engine->Close().ok());  // DELETE /v1/sessions/{id} over TLS
  const std::vector<Json> lines = AuditLines(AuditPath());
  EXPECT_TRUE(HasLine(lines, "session.end", "allow", "ok"));
}

TEST_F(EdgeE2eTest, KubeApiDownIsKubeUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const std::vector<capsule::SealedValue> values = {Seal("before-outage")};
  ASSERT_EQ(OpenAll(Unwrap(session, values), session, values), std::vector<std::string>{"before-outage"});

  kube_->Stop();
  ExpectRefused(Unwrap(session, values), 503, "kube_unavailable");  // fail closed
  // docs/protocol.md §4.5 (1.1): one cluster's outage is reported, not a reason
  // to be unready (until 1.1 this asserted 503).
  net::HttpResponse ready = Send("GET", "/readyz", "");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(Must(ParseJson(ready.body))["checks"][std::string("cluster/") + kCluster], "unavailable") << ready.body;

  // The API comes back on the same port; the same edge and session recover.
  ASSERT_TRUE(kube_->Restart().ok());
  EXPECT_EQ(OpenAll(Unwrap(session, values), session, values), std::vector<std::string>{"before-outage"});
  EXPECT_EQ(Send("GET", "/readyz", "").status, 200);
  EXPECT_TRUE(HasLine(AuditLines(AuditPath()), "unwrap", "deny", "kube_unavailable"));
}

TEST_F(EdgeE2eTest, RemoteCvsDownIsCvsUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.remote_cvs = true}));
  const std::string session = Establish();
  const std::vector<capsule::SealedValue> values = {Seal("remote-before"), Seal("remote-other", "other")};
  ASSERT_EQ(OpenAll(Unwrap(session, values), session, values),
            (std::vector<std::string>{"remote-before", "remote-other"}));

  StopCvs();
  ExpectRefused(Unwrap(session, values), 503, "cvs_unavailable");
  EXPECT_EQ(Send("GET", "/readyz", "").status, 503);

  StartCvs(cvs_port_);  // same port: the edge's RemoteCvsClient is unchanged
  EXPECT_EQ(OpenAll(Unwrap(session, values), session, values),
            (std::vector<std::string>{"remote-before", "remote-other"}));
  EXPECT_TRUE(HasLine(AuditLines(AuditPath()), "unwrap", "deny", "cvs_unavailable"));
}

TEST_F(EdgeE2eTest, EphemeralDebugContainerRefused) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const std::vector<capsule::SealedValue> values = {Seal("not-for-debuggers")};
  ASSERT_EQ(OpenAll(Unwrap(session, values), session, values), std::vector<std::string>{"not-for-debuggers"});

  // kubectl debug: an ephemeral container whose digest is not allowlisted.
  ASSERT_TRUE(kube_
                  ->AddEphemeralContainer(kNs, kPod, "debugger-e2e", "busybox:1.36",
                                          "docker-pullable://busybox@" + kDebugDigest)
                  .ok());
  ExpectRefused(Unwrap(session, values), 403, "image_not_allowed");
  EXPECT_TRUE(HasLine(AuditLines(AuditPath()), "unwrap", "deny", "image_not_allowed"));
}

TEST_F(EdgeE2eTest, PodDeletedIsPodNotLive) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const std::vector<capsule::SealedValue> values = {Seal("until-deleted")};
  ASSERT_EQ(OpenAll(Unwrap(session, values), session, values), std::vector<std::string>{"until-deleted"});

  ASSERT_TRUE(kube_->DeletePod(kNs, kPod));
  ExpectRefused(Unwrap(session, values), 403, "pod_not_live");
  EXPECT_TRUE(HasLine(AuditLines(AuditPath()), "unwrap", "deny", "pod_not_live"));
}

TEST_F(EdgeE2eTest, PodReplacedNewUidIsPodNotLive) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const std::vector<capsule::SealedValue> values = {Seal("until-replaced")};
  ASSERT_EQ(OpenAll(Unwrap(session, values), session, values), std::vector<std::string>{"until-replaced"});

  // Same name, new UID: the token (and session) belong to the old pod.
  ASSERT_TRUE(kube_->PutPod(Must(MakePod(kPodShape, Identity(kNewUid)))).ok());
  ExpectRefused(Unwrap(session, values), 403, "pod_not_live");
}

TEST_F(EdgeE2eTest, WrongBearerTokenToKubeIsKubeUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.wrong_kube_token = true}));
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 503, "kube_unavailable");
  EXPECT_GE(kube_->unauthorized(), 1);  // the API refused the edge's credential
  // Reported in the body, not unready (docs/protocol.md §4.5 1.1; until 1.1: 503).
  net::HttpResponse ready = Send("GET", "/readyz", "");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(Must(ParseJson(ready.body))["checks"][std::string("cluster/") + kCluster], "unavailable") << ready.body;
  EXPECT_TRUE(HasLine(AuditLines(AuditPath()), "session.establish", "deny", "kube_unavailable"));
}

TEST_F(EdgeE2eTest, AuditModeClusterLetsThroughWithWouldDeny) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.cluster_mode = "audit"}));
  ASSERT_TRUE(kube_
                  ->AddEphemeralContainer(kNs, kPod, "debugger-e2e", "busybox:1.36",
                                          "docker-pullable://busybox@" + kDebugDigest)
                  .ok());
  const std::string session = Establish();
  ASSERT_FALSE(session.empty());
  const std::vector<capsule::SealedValue> values = {Seal("audit-mode-value")};
  net::HttpResponse resp = Unwrap(session, values);
  EXPECT_EQ(resp.Header("Astis-Audit-Mode").value_or(""), "true");  // docs/protocol.md §6.4: announced on every response
  EXPECT_EQ(OpenAll(resp, session, values), std::vector<std::string>{"audit-mode-value"});

  const std::vector<Json> lines = AuditLines(AuditPath());
  EXPECT_TRUE(HasLine(lines, "session.establish", "would_deny", "image_not_allowed"));
  EXPECT_TRUE(HasLine(lines, "unwrap", "would_deny", "image_not_allowed"));
}

// The protocol 1.1 vectors (testdata/vectors/astis-capsule-vectors.json, made
// by an independent implementation) through the whole stack: a pod in each
// cluster the vectors name, the edge over TLS, the remote CVS over pinned
// mutual TLS holding the vectors' X25519 and P-256 org keys. Each valid value
// is rewrapped to the pod and opens to its plaintext in its opensIn clusters,
// and is refused capsule_scope in its refusedIn clusters; each invalid value
// is refused capsule_invalid and nothing is rewrapped.
class CapsuleVectorsE2eTest : public EdgeE2eTest {
 protected:
  static Json Vectors() {
    return Must(ParseJson(ReadFile(std::string(ASTIS_TESTDATA_DIR) + "/vectors/astis-capsule-vectors.json")));
  }
  static std::string KeySetJson(const Json& vectors) {
    Json x = vectors["orgKeys"]["X25519"];
    Json p = vectors["orgKeys"]["P-256"];
    x["status"] = "retired";
    p["status"] = "active";  // the P-256 key active: the suite follows the kid either way
    return DumpJson(Json{{"keys", Json::array({x, p})}});
  }
  void StartIn(const std::string& cluster) {
    WorldOptions o;
    o.remote_cvs = true;
    o.cluster = cluster;
    o.ns = "payments";
    o.sa = "api";
    o.org_keys_json = KeySetJson(Vectors());
    ASSERT_NO_FATAL_FAILURE(StartWorld(o));
  }
};

TEST_F(CapsuleVectorsE2eTest, ValidVectorsOpenExactlyInTheirClusters) {
  const Json vectors = Vectors();
  std::set<std::string> clusters;
  for (const Json& v : vectors["valid"]) {
    for (const Json& c : v["opensIn"]) clusters.insert(c.get<std::string>());
    for (const Json& c : v["refusedIn"]) clusters.insert(c.get<std::string>());
  }
  size_t opened = 0, scoped = 0;
  for (const std::string& cluster : clusters) {
    SCOPED_TRACE("pod in cluster " + cluster);
    TearDown();
    ASSERT_NO_FATAL_FAILURE(StartIn(cluster));
    const std::string session = Establish();
    ASSERT_FALSE(session.empty());
    std::vector<capsule::SealedValue> values;
    for (const Json& v : vectors["valid"]) values.push_back(Must(capsule::SealedValue::Parse(v["sealed"].get<std::string>())));
    net::HttpResponse resp = Unwrap(session, values);
    ASSERT_EQ(resp.status, 200) << resp.body;
    const Json results = Must(ParseJson(resp.body))["results"];
    ASSERT_EQ(results.size(), values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      const Json& v = vectors["valid"][i];
      SCOPED_TRACE(v["name"].get<std::string>());
      const bool opens = std::count(v["opensIn"].begin(), v["opensIn"].end(), Json(cluster)) > 0;
      const bool refused = std::count(v["refusedIn"].begin(), v["refusedIn"].end(), Json(cluster)) > 0;
      if (opens) {
        ASSERT_TRUE(results[i].contains("enc")) << DumpJson(results[i]);
        SecretBytes dek = Must(capsule::OpenRewrapped(*pod_recipient_, values[i].capsule().hash(), session,
                                                      Must(B64uDecode(results[i]["enc"].get<std::string>())),
                                                      Must(B64uDecode(results[i]["ct"].get<std::string>()))));
        EXPECT_EQ(Must(capsule::DecryptValue(dek, values[i])).RevealString(), v["plaintext"].get<std::string>());
        ++opened;
      } else {
        EXPECT_FALSE(results[i].contains("enc")) << DumpJson(results[i]);
        // docs/protocol.md §4.2: out of scope for this session's cluster.
        EXPECT_EQ(results[i]["error"]["code"], "capsule_scope") << DumpJson(results[i]);
        scoped += refused ? 1 : 0;
      }
    }
  }
  EXPECT_EQ(opened, 12u);  // every opensIn cluster of every valid vector
  EXPECT_EQ(scoped, 8u);   // every refusedIn cluster of every valid vector
}

TEST_F(CapsuleVectorsE2eTest, InvalidVectorsAreRefusedAndNothingIsRewrapped) {
  const Json vectors = Vectors();
  ASSERT_NO_FATAL_FAILURE(StartIn("prod-eu1"));
  const std::string session = Establish();
  ASSERT_FALSE(session.empty());
  std::vector<std::string> caps;
  for (const Json& v : vectors["invalid"]) {
    // The capsule part as it appears in the Secret: b64u, exactly as sealed.
    const std::string sealed = v["sealed"].get<std::string>();
    const size_t start = std::string("astis.v1.").size();
    caps.push_back(sealed.substr(start, sealed.find('.', start) - start));
  }
  net::HttpResponse resp = Send("POST", "/v1/unwrap", DumpJson(Json{{"session", session}, {"capsules", caps}}));
  ASSERT_EQ(resp.status, 200) << resp.body;
  const Json results = Must(ParseJson(resp.body))["results"];
  ASSERT_EQ(results.size(), caps.size());
  for (size_t i = 0; i < caps.size(); ++i) {
    SCOPED_TRACE(vectors["invalid"][i]["name"].get<std::string>());
    EXPECT_FALSE(results[i].contains("enc"));
    EXPECT_EQ(results[i]["error"]["code"], "capsule_invalid") << DumpJson(results[i]);
  }
}

}  // namespace
}  // namespace astis::integration
