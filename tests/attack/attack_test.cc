// The end-to-end attack suite (issue #5; docs/attack-suite.md).
//
// Every case runs the real thing over loopback TLS:
//
//   attacker (HttpsClient, every header, proof and body byte built by hand)
//     --TLS--> edge (net::HttpServer + EdgeService, SQLite file store,
//              FileAuditLog) --in-process or mTLS--> CVS
//                            --TLS + bearer--> Kubernetes API stand-in
//                                              (tools/kube-standin)
//
// Tokens are minted by the stand-in's TokenRequest (real claim shape, RS256,
// pinned JWKS taken from the stand-in) and pods are created in it as a
// kubelet would fill them. Only the clocks are simulated (FakeClock): one for
// the edge, one for the stand-in, so a token can be minted "in the past" or
// "in the future". Each case asserts the exact docs/protocol.md §7 status and wire
// code (and the per-capsule code where there is one), that nothing that opens
// was released and no plaintext appears in any response, and, where relevant,
// the detailed audit line. The mapping code -> test is in docs/attack-suite.md.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
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
#include "crypto/sha256.h"
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
#include "kube-standin/kube_standin.h"
#include "kube/client.h"
#include "kube/config.h"
#include "net/http_server.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "store/testing/fault_injecting_store.h"

namespace astis::attack {
namespace {

using kubestandin::KubeStandin;

constexpr int64_t kNow = 1'800'000'000;
constexpr char kCluster[] = "prod-eu1";
constexpr char kIssuer[] = "https://oidc.prod-eu1.example.com";
constexpr char kOtherCluster[] = "prod-us2";
constexpr char kOtherIssuer[] = "https://oidc.prod-us2.example.com";
constexpr char kNs[] = "payments";
constexpr char kSa[] = "api";
constexpr char kPod[] = "api-7d9f8c6b5-q2x7z";
constexpr char kImageRepo[] = "registry.example.com/payments/api";
const std::string kAppDigest = "sha256:cd2438ba5730cd67f3f400a7726f756bce34124d65a60e7509721a70cdb9ea26";
const std::string kEvilDigest = "sha256:2d4c53f188e6cb84bc17c5e6629ab78ec4e1a7513acfa4c364d3018beacd9277";

using test::Must;
using test::ReadFile;
using test::WriteFile;
using test::MustOk;

// Container is one entry of a pod's spec.containers / initContainers.
struct Container {
  std::string name;
  std::string image;
  bool sidecar = false;  // an init container with restartPolicy Always (native sidecar)
};

std::string Pinned(const std::string& digest) { return std::string(kImageRepo) + "@" + digest; }

// PodManifest is what a user applies; the stand-in fills uid and statuses.
Json PodManifest(const std::string& name, const std::vector<Container>& containers,
                 const std::vector<Container>& init = {}) {
  Json spec{{"serviceAccountName", kSa}, {"containers", Json::array()}};
  for (const auto& c : containers) spec["containers"].push_back(Json{{"name", c.name}, {"image", c.image}});
  if (!init.empty()) {
    spec["initContainers"] = Json::array();
    for (const auto& c : init) {
      Json j{{"name", c.name}, {"image", c.image}};
      if (c.sidecar) j["restartPolicy"] = "Always";
      spec["initContainers"].push_back(j);
    }
  }
  return Json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", kNs}, {"labels", {{"app", "api"}}}}},
              {"spec", spec}};
}

std::vector<Container> AppOnly() { return {{"api", Pinned(kAppDigest)}}; }

// RsaPublicKeyForms renders the RSA key of a JWK (n, e) as the byte strings a
// confused verifier might use as an HMAC secret: SPKI PEM, SPKI DER, and the
// JWK text itself.
std::vector<std::string> RsaPublicKeyForms(const Json& jwk) {
  std::vector<uint8_t> n = Must(B64uDecode(jwk.at("n").get<std::string>()));
  std::vector<uint8_t> e = Must(B64uDecode(jwk.at("e").get<std::string>()));
  BIGNUM* bn_n = BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  EVP_PKEY* pkey = nullptr;
  std::vector<std::string> out;
  if (ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (PEM_write_bio_PUBKEY(bio, pkey) == 1) {
      char* data = nullptr;
      const long len = BIO_get_mem_data(bio, &data);
      out.emplace_back(data, static_cast<size_t>(len));
    }
    BIO_free(bio);
    unsigned char* der = nullptr;
    const int der_len = i2d_PUBKEY(pkey, &der);
    if (der_len > 0) out.emplace_back(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
    OPENSSL_free(der);
  }
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  EXPECT_EQ(out.size(), 2u) << "could not render the RSA public key";
  out.push_back(DumpJson(jwk));
  return out;
}

// Creds are the three credential headers of one request; nullopt omits one.
struct Creds {
  std::optional<std::string> api_key;
  std::optional<std::string> authorization;
  std::optional<std::string> dpop;
};

struct WorldOptions {
  bool remote_cvs = false;
  std::string mode = "strict";
  bool second_cluster = false;
  bool register_workload = true;
  std::vector<Container> containers = AppOnly();
  std::vector<Container> init_containers;
  int64_t rate_per_api_key = 600;
};

class AttackTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (edge_server_ != nullptr) edge_server_->Stop(std::chrono::milliseconds(0));
    service_ptr_.store(nullptr);
    if (cvs_server_ != nullptr) cvs_server_->Stop(std::chrono::milliseconds(0));
    if (kube_ != nullptr) kube_->Stop();
    if (kube_b_ != nullptr) kube_b_->Stop();
    // No plaintext, in any encoding, in the audit log or the store.
    if (!dir_.empty()) {
      for (const std::string& f : {AuditPath(), dir_ + "/edge.db", CvsAuditPath()}) {
        if (std::filesystem::exists(f)) ExpectNoCanary(ReadFile(f), f);
      }
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  // ---------------------------------------------------------------- the world

  std::unique_ptr<KubeStandin> StartStandin(const std::string& issuer) {
    kubestandin::StandinOptions so;
    so.issuer = issuer;
    so.clock = &kube_clock_;
    std::unique_ptr<KubeStandin> k = Must(KubeStandin::Start(so));
    // The workload's ServiceAccount, created through the API as kubectl would.
    net::TlsClientConfig tls;
    tls.ca_pem = k->ca_cert_pem();
    std::unique_ptr<net::HttpsClient> admin = Must(net::HttpsClient::Create(k->url(), tls));
    net::HttpRequest req;
    req.method = "POST";
    req.target = std::string("/api/v1/namespaces/") + kNs + "/serviceaccounts";
    req.headers.emplace_back("Authorization", "Bearer " + std::string(k->AdminToken().RevealString()));
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = DumpJson(Json{{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", kSa}}}});
    net::HttpResponse resp = Must(admin->Send(req));
    EXPECT_EQ(resp.status, 201) << resp.body;
    return k;
  }

  store::Cluster RegisterCluster(const KubeStandin& k, const std::string& name, const std::string& mode) {
    const std::string prefix = dir_ + "/" + name;
    WriteFile(prefix + "-ca.pem", k.ca_cert_pem());
    WriteFile(prefix + "-token", std::string(k.ReadToken().RevealString()) + "\n");
    store::Cluster c;
    c.name = name;
    c.issuer = k.issuer();
    c.jwks_json = k.JwksJson();  // pinned from the cluster's own JWKS
    c.api_url = k.url();
    c.ca_file = prefix + "-ca.pem";
    c.token_file = prefix + "-token";
    c.mode = mode;
    c.created_at = kNow - 1000;
    MustOk(store_->PutCluster(c));
    return c;
  }

  std::unique_ptr<kube::HttpKubeClient> KubeClientFor(const store::Cluster& c) {
    kube::ClusterConnection conn = Must(kube::Explicit(c.api_url, c.ca_file, c.token_file));
    kube::KubeClientOptions kopts;
    kopts.connect_timeout = std::chrono::milliseconds(2000);
    kopts.request_timeout = std::chrono::milliseconds(5000);
    return Must(kube::HttpKubeClient::Create(conn, clock_, kopts));
  }

  void StartWorld(const WorldOptions& o = {}) {
    Random& rng = DefaultRandom();
    dir_ = Must(net::testing::MakeTempDir());
    canary_ = "canary-" + HexEncode(Must(RandomBytes(8)));

    // Cluster A: the Kubernetes API stand-in and our pod, created as a user would.
    kube_ = StartStandin(kIssuer);
    Json pod = Must(kube_->CreatePod(PodManifest(kPod, o.containers, o.init_containers)));
    pod_uid_ = pod["metadata"]["uid"].get<std::string>();

    store_ = Must(store::OpenSqliteStore(dir_ + "/edge.db"));
    fault_store_ = std::make_unique<store::FaultInjectingStore>(*store_);
    const store::Cluster a = RegisterCluster(*kube_, kCluster, o.mode);
    if (o.register_workload) MustOk(store_->PutWorkload(store::Workload{kCluster, kNs, kSa, {kAppDigest}}));
    kube_client_ = KubeClientFor(a);
    if (o.second_cluster) {
      kube_b_ = StartStandin(kOtherIssuer);
      Must(kube_b_->CreatePod(PodManifest(kPod, AppOnly())));
      const store::Cluster b = RegisterCluster(*kube_b_, kOtherCluster, "strict");
      MustOk(store_->PutWorkload(store::Workload{kOtherCluster, kNs, kSa, {kAppDigest}}));
      kube_client_b_ = KubeClientFor(b);
    }
    api_key_ = AddApiKey(kCluster, kNs, kSa, 0, &api_key_id_);

    audit::FileAuditOptions aopts;
    aopts.sync_every_lines = 0;  // tests read the file; durability is audit_log_test's concern
    audit_ = Must(audit::FileAuditLog::Open(AuditPath(), clock_, aopts));

    // The CVS with a fresh org key: in-process, or behind pinned mutual TLS.
    capsule::OrgPrivateKey org = Must(capsule::OrgPrivateKey::Generate(rng));
    org_public_ = std::make_unique<capsule::OrgPublicKey>(org.public_key());
    capsule::OrgKeySet keys = Must(capsule::OrgKeySet::Create(std::move(org)));
    cvs::CvsPort* cvs_port = nullptr;
    if (!o.remote_cvs) {
      cvs_service_ = std::make_unique<cvs::CvsService>(std::move(keys), rng, audit_.get());
      cvs_port = cvs_service_.get();
    } else {
      cvs_audit_ = Must(audit::FileAuditLog::Open(CvsAuditPath(), clock_, aopts));
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

    // The edge over HTTPS, wired as RunEdgeProcess wires it.
    edge_pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create()));
    net::testing::TestPkiFiles files = Must(edge_pki_->WriteFiles(dir_));
    config_.limits.rate_per_api_key_per_minute = o.rate_per_api_key;
    net::ServerConfig sc;
    sc.tls = edge_pki_->ServerTls();
    sc.threads = 2;
    sc.limits.max_body_bytes = static_cast<size_t>(config_.limits.max_body_bytes) + 1;  // as run.cc
    edge_server_ = Must(net::HttpServer::Start(sc, [this](const net::ServerRequest& r) {
      edge::EdgeService* s = service_ptr_.load();
      return s != nullptr ? s->HandleHeld(r) : net::JsonError(503, "internal_error", "not ready");
    }));
    edge_url_ = "https://127.0.0.1:" + std::to_string(edge_server_->port());
    config_.external_base_url = edge_url_;
    config_.tls = {files.server_cert, files.server_key};
    config_.store.path = dir_ + "/edge.db";
    config_.cvs.mode = o.remote_cvs ? edge::CvsMode::kRemote : edge::CvsMode::kEmbedded;
    config_.audit_log = AuditPath();
    edge::testing::ReadEveryGate4Decision(config_);  // these tests edit the API between requests at one instant
    edge::EdgeDeps deps;
    deps.store = fault_store_.get();
    deps.kube = [this](std::string_view cluster) -> kube::KubeClient* {
      if (cluster == kCluster) return kube_client_.get();
      if (cluster == kOtherCluster) return kube_client_b_.get();
      return nullptr;
    };
    deps.cvs = cvs_port;
    deps.audit = audit_.get();
    deps.clock = &clock_;
    deps.rng = &rng;
    service_ = Must(edge::EdgeService::Create(config_, deps));
    service_ptr_.store(service_.get());

    // The victim pod's RAM keys, its token, and the attacker's raw client.
    dpop_ = NewDpopKey();
    recipient_ = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(rng)));
    raw_ = Must(net::HttpsClient::Create(edge_url_, edge_pki_->ClientTls()));
    token_ = Mint();
    RefreshNonce();
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

  static Result<std::vector<uint8_t>> RandomBytes(size_t n) {
    std::vector<uint8_t> out(n);
    ASTIS_RETURN_IF_ERROR(DefaultRandom().Fill(out));
    return out;
  }
  static std::unique_ptr<Ed25519PrivateKey> NewDpopKey() {
    return std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(DefaultRandom())));
  }

  std::string CvsUrl() const { return "https://127.0.0.1:" + std::to_string(cvs_port_); }
  std::string AuditPath() const { return dir_ + "/audit.log"; }
  std::string CvsAuditPath() const { return dir_ + "/cvs-audit.log"; }

  // AddApiKey stores a fresh key with the given scope and returns its header value.
  std::string AddApiKey(const std::string& cluster, const std::string& ns, const std::string& sa,
                        int64_t expires_at = 0, std::string* id = nullptr) {
    edge::GeneratedApiKey key =
        Must(edge::testing::RegisterApiKey(*store_, {cluster, ns, sa, kNow - 100, expires_at}, DefaultRandom()));
    if (id != nullptr) *id = key.id;
    return std::string(key.header_value.RevealString());
  }

  // Mint asks the stand-in's TokenRequest for a projected token bound to pod.
  std::string Mint(const std::string& pod = kPod, std::vector<std::string> aud = {"astis"}, int64_t ttl = 3600,
                   KubeStandin* k = nullptr) {
    KubeStandin& standin = k != nullptr ? *k : *kube_;
    return Must(standin.MintToken(kNs, kSa, pod, aud, ttl)).token;
  }

  // ---------------------------------------------------------------- requests

  static Json ProofHeader(const Ed25519PrivateKey& key) {
    return Json{{"typ", "dpop+jwt"},
                {"alg", "EdDSA"},
                {"jwk", {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", B64uEncode(key.public_key().bytes)}}}};
  }

  // ProofClaims are a valid proof's claims for this request and token.
  Json ProofClaims(const std::string& method, const std::string& path, const std::string& body,
                   const std::string& token) {
    Json c{{"jti", Must(jose::NewDpopJti(DefaultRandom()))},
           {"htm", method},
           {"htu", edge_url_ + path},
           {"iat", clock_.NowUnix()},
           {"ath", jose::DpopHash(token)}};
    if (!nonce_.empty()) c["nonce"] = nonce_;
    if (!body.empty()) c["bh"] = jose::DpopHash(body);
    return c;
  }

  static std::string SignJws(const Json& header, const Json& claims, const Ed25519PrivateKey& key) {
    const std::string input = B64uEncode(DumpJson(header)) + "." + B64uEncode(DumpJson(claims));
    const Ed25519Signature sig = key.Sign(AsBytes(input));
    return input + "." + B64uEncode(std::span<const uint8_t>(sig.data(), sig.size()));
  }

  // ValidCreds are the victim's three credentials for one request.
  Creds ValidCreds(const std::string& method, const std::string& path, const std::string& body,
                   const Ed25519PrivateKey* key = nullptr, const std::string* token = nullptr) {
    const Ed25519PrivateKey& k = key != nullptr ? *key : *dpop_;
    const std::string& t = token != nullptr ? *token : token_;
    return Creds{api_key_, "DPoP " + t, SignJws(ProofHeader(k), ProofClaims(method, path, body, t), k)};
  }

  // Proof signs claims (with header) for a request by key (default: the victim's).
  std::string Proof(const Json& header, const Json& claims, const Ed25519PrivateKey* key = nullptr) {
    return SignJws(header, claims, key != nullptr ? *key : *dpop_);
  }

  net::HttpResponse SendRaw(const std::string& method, const std::string& target, const std::string& body,
                            const Creds& c, const net::HeaderList& extra = {}) {
    net::HttpRequest req;
    req.method = method;
    req.target = target;
    req.body = body;
    if (c.api_key) req.headers.emplace_back("X-Astis-Api-Key", *c.api_key);
    if (c.authorization) req.headers.emplace_back("Authorization", *c.authorization);
    if (c.dpop) req.headers.emplace_back("DPoP", *c.dpop);
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    for (const auto& h : extra) req.headers.push_back(h);
    net::HttpResponse resp = Must(raw_->Send(req));
    if (auto n = resp.Header("DPoP-Nonce"); n.has_value()) nonce_ = *n;
    ExpectNoCanary(resp.body, "response body");
    for (const auto& [name, value] : resp.headers) ExpectNoCanary(value, "response header " + name);
    return resp;
  }

  // Send sends with the victim's valid credentials.
  net::HttpResponse Send(const std::string& method, const std::string& path, const std::string& body) {
    return SendRaw(method, path, body, ValidCreds(method, path, body));
  }

  void RefreshNonce() {
    net::HttpResponse h = SendRaw("GET", "/healthz", "", Creds{});
    ASSERT_EQ(h.status, 200);
    ASSERT_FALSE(nonce_.empty());
  }

  Json RecipientJwk(const X25519PrivateKey* r = nullptr) const {
    return jose::Jwk::FromX25519Public((r != nullptr ? *r : *recipient_).public_key()).ToJson();
  }
  std::string EstablishBody(const X25519PrivateKey* r = nullptr) const {
    return DumpJson(Json{{"recipient", RecipientJwk(r)}});
  }
  static std::string UnwrapBody(const std::string& session, const std::vector<std::string>& capsules) {
    return DumpJson(Json{{"session", session}, {"capsules", capsules}});
  }

  // Establish opens a session for the victim (201 asserted) and returns its id.
  std::string Establish() {
    net::HttpResponse resp = Send("POST", "/v1/sessions", EstablishBody());
    EXPECT_EQ(resp.status, 201) << resp.body;
    if (resp.status != 201) return "";
    return Must(ParseJson(resp.body))["session"].get<std::string>();
  }

  capsule::SealedValue Seal(const std::string& name = "db-creds", const std::string& ns = kNs,
                            const std::string& cluster = kCluster, const std::string& sa = kSa,
                            const capsule::OrgPublicKey* org = nullptr) {
    return Must(capsule::Seal(org != nullptr ? *org : *org_public_, capsule::Binding{cluster, ns, sa, name, "password"},
                              AsBytes(canary_ + "/" + name), DefaultRandom(), clock_));
  }
  static std::string CapsuleB64u(const capsule::SealedValue& v) { return B64uEncode(v.capsule().bytes()); }

  // Opens returns the plaintext a 200 unwrap result releases, opened as the pod would.
  std::string Opens(const Json& result, const std::string& session, const capsule::SealedValue& value) {
    if (!result.contains("enc")) return "";
    auto dek = capsule::OpenRewrapped(*recipient_, value.capsule().hash(), session,
                                      Must(B64uDecode(result["enc"].get<std::string>())),
                                      Must(B64uDecode(result["ct"].get<std::string>())));
    if (!dek.ok()) return "";
    auto pt = capsule::DecryptValue(*dek, value);
    return pt.ok() ? std::string(pt->RevealString()) : "";
  }

  // ---------------------------------------------------------------- assertions

  void ExpectNoCanary(const std::string& bytes, const std::string& where) const {
    if (canary_.empty()) return;
    for (const std::string& form : {canary_, B64uEncode(canary_), B64Encode(canary_), HexEncode(AsBytes(canary_))}) {
      EXPECT_EQ(bytes.find(form), std::string::npos) << where << " holds the canary plaintext";
    }
  }

  static std::string ErrorCode(const net::HttpResponse& resp) {
    auto j = ParseJson(resp.body);
    if (!j.ok() || !j->is_object() || !j->contains("error")) return "<no error object: " + resp.body + ">";
    return (*j)["error"].value("code", "");
  }

  // ExpectRefused: the exact status and code, the body is the error object
  // alone (no session, no results, no enc/ct), and a fresh DPoP-Nonce.
  static void ExpectRefused(const net::HttpResponse& resp, int status, const std::string& code) {
    EXPECT_EQ(resp.status, status) << resp.body;
    EXPECT_EQ(ErrorCode(resp), code) << resp.body;
    auto j = ParseJson(resp.body);
    ASSERT_TRUE(j.ok()) << resp.body;
    EXPECT_EQ(j->size(), 1u) << resp.body;
    EXPECT_EQ((*j)["error"].size(), 2u) << resp.body;  // code and a generic message, nothing else
    EXPECT_FALSE(j->contains("results"));
    EXPECT_FALSE(j->contains("session"));
    EXPECT_EQ(resp.body.find("\"enc\""), std::string::npos);
    EXPECT_EQ(resp.body.find("\"ct\""), std::string::npos);
    EXPECT_TRUE(resp.Header("DPoP-Nonce").has_value());
  }

  // ExpectCapsuleRefused: a 200 unwrap whose result i is exactly the error
  // object with code, and which releases nothing for it.
  static void ExpectCapsuleRefused(const net::HttpResponse& resp, size_t i, const std::string& code) {
    ASSERT_EQ(resp.status, 200) << resp.body;
    const Json results = Must(ParseJson(resp.body))["results"];
    ASSERT_GT(results.size(), i) << resp.body;
    EXPECT_FALSE(results[i].contains("enc")) << resp.body;
    EXPECT_FALSE(results[i].contains("ct")) << resp.body;
    ASSERT_TRUE(results[i].contains("error")) << resp.body;
    EXPECT_EQ(results[i]["error"]["code"], code) << resp.body;
  }

  std::vector<Json> AuditLines() const {
    audit::VerifyReport report = Must(audit::VerifyAuditLog(AuditPath()));
    EXPECT_TRUE(report.ok) << "line " << report.first_bad_line << ": " << report.problem;
    std::vector<Json> out;
    std::istringstream in(ReadFile(AuditPath()));
    for (std::string line; std::getline(in, line);) out.push_back(Must(ParseJson(line)));
    return out;
  }

  // ExpectAudit: some line has event, decision, code (and gate, and a reason
  // containing reason_part, when given).
  void ExpectAudit(std::string_view event, std::string_view decision, std::string_view code, int gate = -1,
                   std::string_view reason_part = "") const {
    const std::vector<Json> lines = AuditLines();
    const bool found = std::any_of(lines.begin(), lines.end(), [&](const Json& l) {
      return l.value("event", "") == event && l.value("decision", "") == decision && l.value("code", "") == code &&
             (gate < 0 || l.value("gate", 0) == gate) &&
             (reason_part.empty() || l.value("reason", "").find(reason_part) != std::string::npos);
    });
    std::string all;
    for (const auto& l : lines) all += DumpJson(l) + "\n";
    EXPECT_TRUE(found) << "no audit line " << event << "/" << decision << "/" << code << " gate " << gate
                       << " reason ~ '" << reason_part << "' in:\n" << all;
  }

  // ExpectEstablishRefused sends a valid-looking establish with creds and checks status/code.
  void ExpectEstablishRefused(const Creds& c, int status, const std::string& code) {
    ExpectRefused(SendRaw("POST", "/v1/sessions", EstablishBody(), c), status, code);
  }

  FakeClock clock_{kNow};       // the edge's clock
  FakeClock kube_clock_{kNow};  // the stand-in's clock (token iat/nbf/exp)
  std::string dir_, canary_, pod_uid_;
  std::unique_ptr<KubeStandin> kube_, kube_b_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::FaultInjectingStore> fault_store_;
  std::unique_ptr<kube::HttpKubeClient> kube_client_, kube_client_b_;
  std::string api_key_, api_key_id_;
  std::unique_ptr<audit::FileAuditLog> audit_, cvs_audit_;
  std::unique_ptr<capsule::OrgPublicKey> org_public_;
  std::unique_ptr<cvs::CvsService> cvs_service_;
  std::unique_ptr<net::testing::TestPki> cvs_pki_;
  std::unique_ptr<net::testing::TestCert> edge_client_cert_;
  std::unique_ptr<net::HttpServer> cvs_server_;
  uint16_t cvs_port_ = 0;
  std::unique_ptr<cvs::RemoteCvsClient> remote_cvs_;
  std::unique_ptr<net::testing::TestPki> edge_pki_;
  std::string edge_url_;
  edge::EdgeConfig config_;
  std::unique_ptr<edge::EdgeService> service_;
  std::unique_ptr<net::HttpServer> edge_server_;
  std::atomic<edge::EdgeService*> service_ptr_{nullptr};
  std::unique_ptr<Ed25519PrivateKey> dpop_;
  std::unique_ptr<X25519PrivateKey> recipient_;
  std::unique_ptr<net::HttpsClient> raw_;
  std::string token_, nonce_;
};

// ====================================================================== control

// The baseline every attack departs from: the honest pod gets its secret.
TEST_F(AttackTest, HonestPodRoundTrip) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const capsule::SealedValue v = Seal();
  net::HttpResponse resp = Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(v)}));
  ASSERT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(Opens(Must(ParseJson(resp.body))["results"][0], session, v), canary_ + "/db-creds");
  ExpectAudit("session.establish", "allow", "ok");
  ExpectAudit("unwrap", "allow", "ok");
}

// ====================================================================== gate 1: API key

TEST_F(AttackTest, ApiKeyMissing) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Creds c = ValidCreds("POST", "/v1/sessions", EstablishBody());
  c.api_key.reset();
  ExpectEstablishRefused(c, 401, "api_key_invalid");
  ExpectAudit("session.establish", "deny", "api_key_invalid", 1);
}

TEST_F(AttackTest, ApiKeyMalformed) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Creds c = ValidCreds("POST", "/v1/sessions", EstablishBody());
  c.api_key = "astis_" + api_key_;  // not astis_<id>_<secret>
  ExpectEstablishRefused(c, 401, "api_key_invalid");
}

TEST_F(AttackTest, ApiKeyDuplicateHeader) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string body = EstablishBody();
  ExpectRefused(SendRaw("POST", "/v1/sessions", body, ValidCreds("POST", "/v1/sessions", body),
                        {{"X-Astis-Api-Key", api_key_}}),
                401, "api_key_invalid");
}

TEST_F(AttackTest, ApiKeyUnknownId) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  edge::GeneratedApiKey never_stored = Must(edge::GenerateApiKey(DefaultRandom()));
  Creds c = ValidCreds("POST", "/v1/sessions", EstablishBody());
  c.api_key = std::string(never_stored.header_value.RevealString());
  ExpectEstablishRefused(c, 401, "api_key_invalid");
  ExpectAudit("session.establish", "deny", "api_key_invalid", 1);
}

TEST_F(AttackTest, ApiKeyWrongSecret) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  // The real id with another well-formed secret: the hash must not match.
  Creds c = ValidCreds("POST", "/v1/sessions", EstablishBody());
  c.api_key = "astis_" + api_key_id_ + "_" + B64uEncode(Must(RandomBytes(32)));
  ExpectEstablishRefused(c, 401, "api_key_invalid");
}

TEST_F(AttackTest, ApiKeyOfAnotherNamespace) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Creds c = ValidCreds("POST", "/v1/sessions", EstablishBody());
  c.api_key = AddApiKey(kCluster, "billing", kSa);
  ExpectEstablishRefused(c, 403, "scope_mismatch");
  ExpectAudit("session.establish", "deny", "scope_mismatch", 1);
}

TEST_F(AttackTest, ApiKeyOfAnotherServiceAccount) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Creds c = ValidCreds("POST", "/v1/sessions", EstablishBody());
  c.api_key = AddApiKey(kCluster, kNs, "batch");
  ExpectEstablishRefused(c, 403, "scope_mismatch");
}

// A valid token of cluster B (registered, its own issuer and JWKS) presented
// with an API key bound to cluster A.
TEST_F(AttackTest, ApiKeyOfAnotherCluster) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.second_cluster = true}));
  const std::string token_b = Mint(kPod, {"astis"}, 3600, kube_b_.get());
  Creds c = ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &token_b);
  ExpectEstablishRefused(c, 403, "scope_mismatch");
  ExpectAudit("session.establish", "deny", "scope_mismatch", 1);
  // Control: cluster B's own key is accepted with that token.
  c = ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &token_b);
  c.api_key = AddApiKey(kOtherCluster, kNs, kSa);
  EXPECT_EQ(SendRaw("POST", "/v1/sessions", EstablishBody(), c).status, 201);
}

TEST_F(AttackTest, ApiKeyRevoked) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  MustOk(store_->RevokeApiKey(api_key_id_, kNow));
  const std::string body = UnwrapBody(session, {CapsuleB64u(Seal())});
  ExpectRefused(Send("POST", "/v1/unwrap", body), 401, "api_key_invalid");
  ExpectAudit("unwrap", "deny", "api_key_invalid", 1);
}

TEST_F(AttackTest, ApiKeyExpired) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  api_key_ = AddApiKey(kCluster, kNs, kSa, kNow + 100);
  const std::string session = Establish();  // valid until kNow + 100
  clock_.Advance(200);
  RefreshNonce();
  token_ = Mint();  // the token is still fresh: only the key expired
  ExpectRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(Seal())})), 401, "api_key_invalid");
  ExpectAudit("unwrap", "deny", "api_key_invalid", 1);
}

// ====================================================================== gate 2: token

TEST_F(AttackTest, TokenMissing) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Creds c = ValidCreds("POST", "/v1/sessions", EstablishBody());
  c.authorization.reset();
  ExpectEstablishRefused(c, 401, "token_invalid");
}

TEST_F(AttackTest, TokenBearerScheme) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Creds c = ValidCreds("POST", "/v1/sessions", EstablishBody());
  c.authorization = "Bearer " + token_;  // a DPoP-bound token presented as a bearer token
  ExpectEstablishRefused(c, 401, "token_invalid");
}

TEST_F(AttackTest, TokenWrongIssuer) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  kube_->SetIssuer("https://oidc.attacker.example.com");
  const std::string forged = Mint();
  kube_->SetIssuer(kIssuer);
  ExpectEstablishRefused(ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &forged), 401, "token_invalid");
  ExpectAudit("session.establish", "deny", "token_invalid", 2);
}

TEST_F(AttackTest, TokenWrongAudience) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string t = Mint(kPod, {"https://kubernetes.default.svc", "vault"});
  ExpectEstablishRefused(ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &t), 401, "token_invalid");
  ExpectAudit("session.establish", "deny", "token_invalid", 2);
}

TEST_F(AttackTest, TokenExpired) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  kube_clock_.Set(kNow - 7200);
  const std::string t = Mint(kPod, {"astis"}, 3600);  // exp = kNow - 3600
  ExpectEstablishRefused(ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &t), 401, "token_invalid");
  ExpectAudit("session.establish", "deny", "token_invalid", 2);
}

TEST_F(AttackTest, TokenNotYetValid) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  kube_clock_.Set(kNow + 3600);  // iat = nbf = an hour ahead of the edge
  const std::string t = Mint();
  ExpectEstablishRefused(ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &t), 401, "token_invalid");
}

TEST_F(AttackTest, TokenUnknownKid) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  // The real claims, re-signed by a key the cluster never published.
  const std::string payload = Must(B64uDecodeToString(token_.substr(token_.find('.') + 1,
                                                                   token_.rfind('.') - token_.find('.') - 1)));
  SigningKey attacker = Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256));
  const std::string t =
      jose::SignCompactJws(Json{{"alg", "ES256"}, {"kid", "attacker-key-1"}}, payload, attacker, SignatureAlg::kEs256);
  ExpectEstablishRefused(ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &t), 401, "token_invalid");
}

TEST_F(AttackTest, TokenAlgNone) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const Json header = Must(ParseJson(Must(B64uDecodeToString(token_.substr(0, token_.find('.'))))));
  const std::string payload_b64 = token_.substr(token_.find('.') + 1, token_.rfind('.') - token_.find('.') - 1);
  for (const std::string alg : {"none", "None", "NONE"}) {
    Json h = header;
    h["alg"] = alg;
    const std::string t = B64uEncode(DumpJson(h)) + "." + payload_b64 + ".";
    ExpectEstablishRefused(ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &t), 401, "token_invalid");
  }
  ExpectAudit("session.establish", "deny", "token_invalid", 2);
}

// The classic key-confusion attack: HS256 with the pinned RSA public key
// (as PEM, DER and JWK text) as the HMAC secret, under the real kid.
TEST_F(AttackTest, TokenHs256SignedWithPublicKey) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const Json header = Must(ParseJson(Must(B64uDecodeToString(token_.substr(0, token_.find('.'))))));
  const std::string payload_b64 = token_.substr(token_.find('.') + 1, token_.rfind('.') - token_.find('.') - 1);
  const Json jwks = Must(ParseJson(kube_->JwksJson()));
  const Json* rsa = nullptr;
  for (const Json& k : jwks["keys"]) {
    if (k["kid"] == header["kid"]) rsa = &k;
  }
  ASSERT_NE(rsa, nullptr);
  ASSERT_EQ((*rsa)["kty"], "RSA");
  for (const std::string& secret : RsaPublicKeyForms(*rsa)) {
    const std::string input = B64uEncode(DumpJson(Json{{"alg", "HS256"}, {"kid", header["kid"]}})) + "." + payload_b64;
    const Sha256Digest mac = HmacSha256(AsBytes(secret), AsBytes(input));
    const std::string t = input + "." + B64uEncode(std::span<const uint8_t>(mac.data(), mac.size()));
    ExpectEstablishRefused(ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &t), 401, "token_invalid");
  }
  ExpectAudit("session.establish", "deny", "token_invalid", 2);
}

TEST_F(AttackTest, TokenNotBoundToPod) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string t = Mint("");  // a plain TokenRequest without boundObjectRef
  ASSERT_EQ(Must(ParseJson(Must(B64uDecodeToString(t.substr(t.find('.') + 1, t.rfind('.') - t.find('.') - 1)))))
                ["kubernetes.io"]
                    .contains("pod"),
            false);
  ExpectEstablishRefused(ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &t), 401, "token_invalid");
  ExpectAudit("session.establish", "deny", "token_invalid", 2);
}

// Cluster B's API server signs a token claiming cluster A's issuer: the edge
// selects A by iss and must verify under A's pinned JWKS only.
TEST_F(AttackTest, TokenSignedByAnotherClustersKey) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.second_cluster = true}));
  kube_b_->SetIssuer(kIssuer);
  const std::string t = Mint(kPod, {"astis"}, 3600, kube_b_.get());
  kube_b_->SetIssuer(kOtherIssuer);
  ExpectEstablishRefused(ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &t), 401, "token_invalid");
  ExpectAudit("session.establish", "deny", "token_invalid", 2);
}

TEST_F(AttackTest, TokenPayloadTampered) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const size_t d1 = token_.find('.'), d2 = token_.rfind('.');
  Json claims = Must(ParseJson(Must(B64uDecodeToString(token_.substr(d1 + 1, d2 - d1 - 1)))));
  claims["kubernetes.io"]["pod"]["uid"] = "00000000-0000-4000-8000-000000000000";
  const std::string t = token_.substr(0, d1) + "." + B64uEncode(DumpJson(claims)) + token_.substr(d2);
  ExpectEstablishRefused(ValidCreds("POST", "/v1/sessions", EstablishBody(), nullptr, &t), 401, "token_invalid");
}

// ====================================================================== gate 3: DPoP

TEST_F(AttackTest, DpopMissing) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Creds c = ValidCreds("POST", "/v1/sessions", EstablishBody());
  c.dpop.reset();
  ExpectEstablishRefused(c, 401, "dpop_invalid");
  ExpectAudit("session.establish", "deny", "dpop_invalid", 3);
}

TEST_F(AttackTest, DpopTwoHeaders) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string body = EstablishBody();
  Creds c = ValidCreds("POST", "/v1/sessions", body);
  const std::string second = Proof(ProofHeader(*dpop_), ProofClaims("POST", "/v1/sessions", body, token_));
  ExpectRefused(SendRaw("POST", "/v1/sessions", body, c, {{"DPoP", second}}), 401, "dpop_invalid");
}

// Runs one establish whose proof header/claims were altered by mutate.
#define ATTACK_PROOF_CASE(NAME, CODE, MUTATE)                                               \
  TEST_F(AttackTest, NAME) {                                                                \
    ASSERT_NO_FATAL_FAILURE(StartWorld());                                                  \
    const std::string body = EstablishBody();                                               \
    Json header = ProofHeader(*dpop_);                                                      \
    Json claims = ProofClaims("POST", "/v1/sessions", body, token_);                        \
    MUTATE;                                                                                 \
    Creds c = ValidCreds("POST", "/v1/sessions", body);                                     \
    c.dpop = Proof(header, claims);                                                         \
    net::HttpResponse resp = SendRaw("POST", "/v1/sessions", body, c);                      \
    ExpectRefused(resp, 401, CODE);                                                         \
    EXPECT_TRUE(resp.Header("WWW-Authenticate").has_value());                               \
    ExpectAudit("session.establish", "deny", CODE, 3);                                      \
  }

ATTACK_PROOF_CASE(DpopWrongTyp, "dpop_invalid", header["typ"] = "JWT")
ATTACK_PROOF_CASE(DpopWrongAlgEs256, "dpop_invalid", header["alg"] = "ES256")
ATTACK_PROOF_CASE(DpopWrongAlgNone, "dpop_invalid", header["alg"] = "none")
ATTACK_PROOF_CASE(DpopWrongAlgHs256, "dpop_invalid", header["alg"] = "HS256")
ATTACK_PROOF_CASE(DpopWrongHtm, "dpop_invalid", claims["htm"] = "GET")
ATTACK_PROOF_CASE(DpopWrongHtuHost, "dpop_invalid", claims["htu"] = "https://edge.attacker.example/v1/sessions")
ATTACK_PROOF_CASE(DpopWrongHtuPath, "dpop_invalid", claims["htu"] = edge_url_ + "/v1/unwrap")
ATTACK_PROOF_CASE(DpopStaleIat, "dpop_invalid", claims["iat"] = kNow - 120)
ATTACK_PROOF_CASE(DpopFutureIat, "dpop_invalid", claims["iat"] = kNow + 120)
ATTACK_PROOF_CASE(DpopMissingAth, "dpop_invalid", claims.erase("ath"))
ATTACK_PROOF_CASE(DpopWrongAth, "dpop_invalid", claims["ath"] = jose::DpopHash(token_ + "x"))
ATTACK_PROOF_CASE(DpopMissingBh, "dpop_invalid", claims.erase("bh"))
ATTACK_PROOF_CASE(DpopWrongBh, "dpop_invalid", claims["bh"] = jose::DpopHash(EstablishBody() + " "))
ATTACK_PROOF_CASE(DpopMissingJti, "dpop_invalid", claims.erase("jti"))
ATTACK_PROOF_CASE(DpopRsaJwkInHeader, "dpop_invalid",
                  header["jwk"] = (Json{{"kty", "RSA"}, {"n", B64uEncode(std::string(256, 'A'))}, {"e", "AQAB"}}))
ATTACK_PROOF_CASE(DpopStaleNonce, "use_dpop_nonce", claims["nonce"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
#undef ATTACK_PROOF_CASE

// A proof whose header carries the private key (d) must be refused, even
// though the key and signature are otherwise genuine.
TEST_F(AttackTest, DpopPrivateKeyInHeaderJwk) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::vector<uint8_t> seed = Must(RandomBytes(32));
  Ed25519PrivateKey key = Must(Ed25519PrivateKey::FromSeed(seed));
  const std::string body = EstablishBody();
  Json header = ProofHeader(key);
  header["jwk"]["d"] = B64uEncode(seed);
  Creds c = ValidCreds("POST", "/v1/sessions", body);
  c.dpop = Proof(header, ProofClaims("POST", "/v1/sessions", body, token_), &key);
  ExpectRefused(SendRaw("POST", "/v1/sessions", body, c), 401, "dpop_invalid");
  ExpectAudit("session.establish", "deny", "dpop_invalid", 3);
}

TEST_F(AttackTest, DpopSignedByAnotherKeyThanHeaderJwk) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string body = EstablishBody();
  auto other = NewDpopKey();
  Creds c = ValidCreds("POST", "/v1/sessions", body);
  c.dpop = Proof(ProofHeader(*dpop_), ProofClaims("POST", "/v1/sessions", body, token_), other.get());
  ExpectRefused(SendRaw("POST", "/v1/sessions", body, c), 401, "dpop_invalid");
}

TEST_F(AttackTest, DpopReplayedProof) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string body = EstablishBody();
  const Creds c = ValidCreds("POST", "/v1/sessions", body);
  ASSERT_EQ(SendRaw("POST", "/v1/sessions", body, c).status, 201);
  net::HttpResponse replay = SendRaw("POST", "/v1/sessions", body, c);  // byte-identical
  ExpectRefused(replay, 401, "dpop_replay");
  ExpectAudit("session.establish", "deny", "dpop_replay", 3);
}

TEST_F(AttackTest, DpopReplayedJtiInNewProof) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const std::string body = UnwrapBody(session, {CapsuleB64u(Seal())});
  Json claims = ProofClaims("POST", "/v1/unwrap", body, token_);
  Creds c = ValidCreds("POST", "/v1/unwrap", body);
  c.dpop = Proof(ProofHeader(*dpop_), claims);
  ASSERT_EQ(SendRaw("POST", "/v1/unwrap", body, c).status, 200);
  claims["iat"] = kNow + 1;  // a different proof, the same jti
  c.dpop = Proof(ProofHeader(*dpop_), claims);
  ExpectRefused(SendRaw("POST", "/v1/unwrap", body, c), 401, "dpop_replay");
  ExpectAudit("unwrap", "deny", "dpop_replay", 3);
}

// RFC 9449 §8: no nonce -> 401 use_dpop_nonce with WWW-Authenticate and a
// fresh DPoP-Nonce; the retry with that nonce succeeds.
TEST_F(AttackTest, DpopNonceMissingThenUseDpopNonceFlow) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  nonce_.clear();
  const std::string body = EstablishBody();
  net::HttpResponse first = SendRaw("POST", "/v1/sessions", body, ValidCreds("POST", "/v1/sessions", body));
  ExpectRefused(first, 401, "use_dpop_nonce");
  EXPECT_EQ(first.Header("WWW-Authenticate").value_or(""), "DPoP error=\"use_dpop_nonce\"");
  ASSERT_TRUE(first.Header("DPoP-Nonce").has_value());
  EXPECT_EQ(nonce_, *first.Header("DPoP-Nonce"));
  EXPECT_EQ(SendRaw("POST", "/v1/sessions", body, ValidCreds("POST", "/v1/sessions", body)).status, 201);
  ExpectAudit("session.establish", "deny", "use_dpop_nonce", 3);
}

TEST_F(AttackTest, DpopNonceExpired) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string old_nonce = nonce_;
  clock_.Advance(3 * config_.dpop.nonce_window_seconds);  // past the current and previous bucket
  const std::string body = EstablishBody();
  Json claims = ProofClaims("POST", "/v1/sessions", body, token_);
  claims["nonce"] = old_nonce;
  Creds c = ValidCreds("POST", "/v1/sessions", body);
  c.dpop = Proof(ProofHeader(*dpop_), claims);
  net::HttpResponse resp = SendRaw("POST", "/v1/sessions", body, c);
  ExpectRefused(resp, 401, "use_dpop_nonce");
  EXPECT_NE(resp.Header("DPoP-Nonce").value_or(old_nonce), old_nonce);
}

// ====================================================================== pins, sessions, rotation

TEST_F(AttackTest, SecondEnrollmentOtherKeyIsCredentialPinned) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  ASSERT_FALSE(Establish().empty());
  // Stolen API key + token, but the attacker's own DPoP key.
  auto attacker = NewDpopKey();
  auto attacker_recipient = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(DefaultRandom())));
  const std::string body = EstablishBody(attacker_recipient.get());
  ExpectRefused(SendRaw("POST", "/v1/sessions", body, ValidCreds("POST", "/v1/sessions", body, attacker.get())), 409,
                "credential_pinned");
  ExpectAudit("session.establish", "deny", "credential_pinned", 3);
  // The same key may re-establish (idempotent).
  EXPECT_EQ(Send("POST", "/v1/sessions", EstablishBody()).status, 201);
}

TEST_F(AttackTest, UnwrapWithStolenSessionIdAndOtherKey) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  auto attacker = NewDpopKey();
  const std::string body = UnwrapBody(session, {CapsuleB64u(Seal())});
  ExpectRefused(SendRaw("POST", "/v1/unwrap", body, ValidCreds("POST", "/v1/unwrap", body, attacker.get())), 401,
                "session_invalid");
  ExpectAudit("unwrap", "deny", "session_invalid", 3, "pinned");
}

TEST_F(AttackTest, UnwrapUnknownSession) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  ASSERT_FALSE(Establish().empty());
  const std::string body = UnwrapBody(B64uEncode(Must(RandomBytes(16))), {CapsuleB64u(Seal())});
  ExpectRefused(Send("POST", "/v1/unwrap", body), 401, "session_invalid");
}

TEST_F(AttackTest, UnwrapAfterSessionEnded) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  ASSERT_EQ(Send("DELETE", "/v1/sessions/" + session, "").status, 204);
  ExpectRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(Seal())})), 401, "session_invalid");
  ExpectAudit("unwrap", "deny", "session_invalid", 3);
}

// A second pod of the same workload with the (stolen) DPoP key of the first
// tries to use the first pod's session.
TEST_F(AttackTest, SessionOfAnotherPod) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  Must(kube_->CreatePod(PodManifest("api-7d9f8c6b5-other", AppOnly())));
  const std::string other_token = Mint("api-7d9f8c6b5-other");
  const std::string body = UnwrapBody(session, {CapsuleB64u(Seal())});
  ExpectRefused(SendRaw("POST", "/v1/unwrap", body, ValidCreds("POST", "/v1/unwrap", body, nullptr, &other_token)),
                401, "session_invalid");
  ExpectAudit("unwrap", "deny", "session_invalid", 3, "another pod");
}

// Rotation by an attacker holding only a new key: the DPoP proof is not by
// the pinned key, so the pin does not move and the victim keeps working.
TEST_F(AttackTest, RotateWithoutOldKeyProof) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  auto attacker = NewDpopKey();
  const Json new_jwk = ProofHeader(*attacker)["jwk"];
  const std::string old_jkt = jose::Jwk::FromEd25519Public(dpop_->public_key()).Thumbprint();
  const std::string pop = SignJws(Json{{"alg", "EdDSA"}},
                                  Json{{"session", session}, {"prev", old_jkt}, {"iat", kNow}}, *attacker);
  const std::string body =
      DumpJson(Json{{"session", session}, {"key", new_jwk}, {"recipient", RecipientJwk()}, {"pop", pop}});
  ExpectRefused(SendRaw("POST", "/v1/sessions/rotate", body,
                        ValidCreds("POST", "/v1/sessions/rotate", body, attacker.get())),
                401, "session_invalid");
  ExpectAudit("session.rotate", "deny", "session_invalid", 3);
  const capsule::SealedValue v = Seal();
  net::HttpResponse ok = Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(v)}));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Opens(Must(ParseJson(ok.body))["results"][0], session, v), canary_ + "/db-creds");
}

// The pinned key's proof, but a pop not signed by the new key it names.
TEST_F(AttackTest, RotateWithForgedNewKeyPop) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  auto new_key = NewDpopKey();
  auto impostor = NewDpopKey();
  const std::string old_jkt = jose::Jwk::FromEd25519Public(dpop_->public_key()).Thumbprint();
  const std::string pop = SignJws(Json{{"alg", "EdDSA"}},
                                  Json{{"session", session}, {"prev", old_jkt}, {"iat", kNow}}, *impostor);
  const std::string body = DumpJson(
      Json{{"session", session}, {"key", ProofHeader(*new_key)["jwk"]}, {"recipient", RecipientJwk()}, {"pop", pop}});
  ExpectRefused(Send("POST", "/v1/sessions/rotate", body), 401, "dpop_invalid");
  ExpectAudit("session.rotate", "deny", "dpop_invalid", 3);
}

// ====================================================================== gate 4: live pod, images

TEST_F(AttackTest, PodDeleted) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  ASSERT_TRUE(kube_->DeletePod(kNs, kPod));
  ExpectRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(Seal())})), 403, "pod_not_live");
  ExpectAudit("unwrap", "deny", "pod_not_live", 4);
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 403, "pod_not_live");
}

// Delete + recreate under the same name: a new UID. The old pod's token and
// session are dead; the new pod's token cannot use the old session.
TEST_F(AttackTest, PodUidReusedByName) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  ASSERT_TRUE(kube_->DeletePod(kNs, kPod));
  Json again = Must(kube_->CreatePod(PodManifest(kPod, AppOnly())));
  ASSERT_NE(again["metadata"]["uid"].get<std::string>(), pod_uid_);
  const std::string body = UnwrapBody(session, {CapsuleB64u(Seal())});
  ExpectRefused(Send("POST", "/v1/unwrap", body), 403, "pod_not_live");
  ExpectAudit("unwrap", "deny", "pod_not_live", 4);
  const std::string new_token = Mint();
  ExpectRefused(SendRaw("POST", "/v1/unwrap", body, ValidCreds("POST", "/v1/unwrap", body, nullptr, &new_token)), 401,
                "session_invalid");
}

TEST_F(AttackTest, PodNotRunning) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Json pod = Must(kube_->GetPod(kNs, kPod));
  pod["status"]["phase"] = "Pending";
  MustOk(kube_->PutPod(pod));
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 403, "pod_not_live");
  ExpectAudit("session.establish", "deny", "pod_not_live", 4);
}

// Protocol 1.1 §6 gate 4: the pod must run as the token's ServiceAccount.
TEST_F(AttackTest, PodRunsAsAnotherServiceAccount) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Json pod = Must(kube_->GetPod(kNs, kPod));
  pod["spec"]["serviceAccountName"] = "someone-else";
  MustOk(kube_->PutPod(pod));
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 403, "pod_not_live");
  ExpectAudit("session.establish", "deny", "pod_not_live", 4);
}

// Protocol 1.1 §6 gate 4: a container name repeated across the lists (an
// ephemeral container shadowing the app container) is refused.
TEST_F(AttackTest, DuplicateContainerNames) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Json pod = Must(kube_->GetPod(kNs, kPod));
  Json app = pod["spec"]["containers"][0];
  pod["spec"]["ephemeralContainers"] = Json::array({app});
  Json status = pod["status"]["containerStatuses"][0];
  pod["status"]["ephemeralContainerStatuses"] = Json::array({status});
  MustOk(kube_->PutPod(pod));
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 403, "image_not_allowed");
}

TEST_F(AttackTest, PodTerminating) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  Json pod = Must(kube_->GetPod(kNs, kPod));
  pod["metadata"]["deletionTimestamp"] = "2027-01-15T08:00:00Z";
  MustOk(kube_->PutPod(pod));
  ExpectRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(Seal())})), 403, "pod_not_live");
}

TEST_F(AttackTest, UnapprovedImage) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.containers = {{"api", Pinned(kEvilDigest)}}}));
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 403, "image_not_allowed");
  ExpectAudit("session.establish", "deny", "image_not_allowed", 4);
}

// The container status carries a tag, no digest: fail closed.
TEST_F(AttackTest, TagOnlyImage) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Json pod = Must(kube_->GetPod(kNs, kPod));
  pod["spec"]["containers"][0]["image"] = std::string(kImageRepo) + ":1.4.2";
  pod["status"]["containerStatuses"][0]["image"] = std::string(kImageRepo) + ":1.4.2";
  pod["status"]["containerStatuses"][0]["imageID"] = std::string(kImageRepo) + ":1.4.2";
  MustOk(kube_->PutPod(pod));
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 403, "image_not_allowed");
  ExpectAudit("session.establish", "deny", "image_not_allowed", 4);
}

TEST_F(AttackTest, InitContainerUnapproved) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.init_containers = {{"migrate", Pinned(kEvilDigest)}}}));
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 403, "image_not_allowed");
  ExpectAudit("session.establish", "deny", "image_not_allowed", 4);
}

TEST_F(AttackTest, SidecarUnapproved) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.containers = {{"api", Pinned(kAppDigest)}, {"proxy", "envoyproxy/envoy:v1.30"}}}));
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 403, "image_not_allowed");
}

TEST_F(AttackTest, NativeSidecarUnapproved) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.init_containers = {{"log-shipper", Pinned(kEvilDigest), true}}}));
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 403, "image_not_allowed");
}

TEST_F(AttackTest, EphemeralContainerUnapproved) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const capsule::SealedValue v = Seal();
  ASSERT_EQ(Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(v)})).status, 200);
  // kubectl debug: an ephemeral container whose digest is not allowlisted.
  MustOk(kube_->AddEphemeralContainer(kNs, kPod, "debugger-x1", "busybox:1.36",
                                      "docker-pullable://busybox@" + kEvilDigest));
  ExpectRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(v)})), 403, "image_not_allowed");
  ExpectAudit("unwrap", "deny", "image_not_allowed", 4);
}

TEST_F(AttackTest, NoWorkloadRegistered) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.register_workload = false}));
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 403, "image_not_allowed");
}

TEST_F(AttackTest, KubeApiDownFailsClosedThenRecovers) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const capsule::SealedValue v = Seal();
  kube_->Stop();
  ExpectRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(v)})), 503, "kube_unavailable");
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 503, "kube_unavailable");
  ExpectAudit("unwrap", "deny", "kube_unavailable", 4);
  MustOk(kube_->Restart());
  net::HttpResponse ok = Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(v)}));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Opens(Must(ParseJson(ok.body))["results"][0], session, v), canary_ + "/db-creds");
}

TEST_F(AttackTest, AuditModeLetsThroughWithWouldDeny) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.mode = "audit"}));
  MustOk(kube_->AddEphemeralContainer(kNs, kPod, "debugger-x1", "busybox:1.36",
                                      "docker-pullable://busybox@" + kEvilDigest));
  net::HttpResponse est = Send("POST", "/v1/sessions", EstablishBody());
  ASSERT_EQ(est.status, 201) << est.body;
  EXPECT_EQ(est.Header("Astis-Audit-Mode").value_or(""), "true");
  const std::string session = Must(ParseJson(est.body))["session"].get<std::string>();
  const capsule::SealedValue v = Seal();
  net::HttpResponse resp = Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(v)}));
  ASSERT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(resp.Header("Astis-Audit-Mode").value_or(""), "true");
  EXPECT_EQ(Opens(Must(ParseJson(resp.body))["results"][0], session, v), canary_ + "/db-creds");
  ExpectAudit("session.establish", "would_deny", "image_not_allowed", 4);
  ExpectAudit("unwrap", "would_deny", "image_not_allowed", 4);
}

// An unreachable API is not a finding about the pod: refused even in audit mode.
TEST_F(AttackTest, AuditModeStillFailsClosedWhenKubeDown) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.mode = "audit"}));
  kube_->Stop();
  net::HttpResponse resp = Send("POST", "/v1/sessions", EstablishBody());
  ExpectRefused(resp, 503, "kube_unavailable");
  EXPECT_EQ(resp.Header("Astis-Audit-Mode").value_or(""), "true");
}

// ====================================================================== capsules

TEST_F(AttackTest, CapsuleFromAnotherNamespace) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const capsule::SealedValue stolen = Seal("db-creds", "billing");
  const capsule::SealedValue own = Seal("own");
  net::HttpResponse resp = Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(stolen), CapsuleB64u(own)}));
  ExpectCapsuleRefused(resp, 0, "capsule_scope");
  // The other capsule in the batch is unaffected.
  EXPECT_EQ(Opens(Must(ParseJson(resp.body))["results"][1], session, own), canary_ + "/own");
  ExpectAudit("unwrap", "allow", "ok");
}

TEST_F(AttackTest, CapsuleFromAnotherCluster) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  ExpectCapsuleRefused(
      Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(Seal("db-creds", kNs, kOtherCluster))})), 0,
      "capsule_scope");
}

TEST_F(AttackTest, CapsuleFromAnotherServiceAccount) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  ExpectCapsuleRefused(
      Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(Seal("db-creds", kNs, kCluster, "batch"))})), 0,
      "capsule_scope");
}

// The bind rewritten to our workload: HPKE aad mismatch, nothing opens.
TEST_F(AttackTest, CapsuleBindingTampered) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const capsule::SealedValue stolen = Seal("db-creds", "billing");
  Json cap = Must(ParseJson(stolen.capsule().bytes()));
  cap["bind"]["namespace"] = kNs;
  net::HttpResponse resp = Send("POST", "/v1/unwrap", UnwrapBody(session, {B64uEncode(DumpJson(cap))}));
  ExpectCapsuleRefused(resp, 0, "capsule_invalid");
}

TEST_F(AttackTest, CapsuleCiphertextTampered) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const capsule::SealedValue v = Seal();
  Json cap = Must(ParseJson(v.capsule().bytes()));
  std::vector<uint8_t> ct = Must(B64uDecode(cap["ct"].get<std::string>()));
  ct[0] ^= 0x01;
  cap["ct"] = B64uEncode(ct);
  ExpectCapsuleRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {B64uEncode(DumpJson(cap))})), 0,
                       "capsule_invalid");
}

TEST_F(AttackTest, CapsuleNotACapsule) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  net::HttpResponse resp = Send(
      "POST", "/v1/unwrap", UnwrapBody(session, {"not base64url!", B64uEncode("{\"v\":1}"), B64uEncode("[]")}));
  for (size_t i = 0; i < 3; ++i) ExpectCapsuleRefused(resp, i, "capsule_invalid");
}

TEST_F(AttackTest, CapsuleUnknownKid) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  capsule::OrgPrivateKey other = Must(capsule::OrgPrivateKey::Generate(DefaultRandom()));
  const capsule::SealedValue v = Seal("db-creds", kNs, kCluster, kSa, &other.public_key());
  ExpectCapsuleRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(v)})), 0, "unknown_key");
}

// Remote CVS over mTLS: the per-capsule codes survive the hop.
TEST_F(AttackTest, RemoteCvsPerCapsuleRefusals) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.remote_cvs = true}));
  const std::string session = Establish();
  capsule::OrgPrivateKey other = Must(capsule::OrgPrivateKey::Generate(DefaultRandom()));
  const capsule::SealedValue unknown = Seal("db-creds", kNs, kCluster, kSa, &other.public_key());
  const capsule::SealedValue own = Seal("own");
  net::HttpResponse resp =
      Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(unknown), CapsuleB64u(Seal("x", "billing")),
                                                      CapsuleB64u(own)}));
  ExpectCapsuleRefused(resp, 0, "unknown_key");
  ExpectCapsuleRefused(resp, 1, "capsule_scope");
  EXPECT_EQ(Opens(Must(ParseJson(resp.body))["results"][2], session, own), canary_ + "/own");
}

// ====================================================================== request shape and size

TEST_F(AttackTest, OversizeBatch) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const std::vector<std::string> caps(65, CapsuleB64u(Seal()));
  ExpectRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, caps)), 413, "too_large");
  ExpectAudit("unwrap", "deny", "too_large");
}

TEST_F(AttackTest, EmptyBatch) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  ExpectRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {})), 400, "bad_request");
}

TEST_F(AttackTest, OversizeBodyAtEdgeLimit) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  // One byte over limits.max_body_bytes: the server passes it, the edge refuses.
  const std::string body(static_cast<size_t>(config_.limits.max_body_bytes) + 1, ' ');
  ExpectRefused(Send("POST", "/v1/unwrap", body), 413, "too_large");
  ExpectAudit("unwrap", "deny", "too_large");
}

TEST_F(AttackTest, OversizeBodyAtServerLimit) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string body(static_cast<size_t>(config_.limits.max_body_bytes) * 4, ' ');
  net::HttpResponse resp = SendRaw("POST", "/v1/unwrap", body, Creds{});
  EXPECT_EQ(resp.status, 413);
  EXPECT_EQ(ErrorCode(resp), "too_large");
}

// Malformed bodies: each is 400 bad_request before any credential is used.
TEST_F(AttackTest, MalformedBodies) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  const std::string cap = CapsuleB64u(Seal());
  const std::vector<std::string> unwrap_bodies = {
      "this is not json",
      "{\"session\":\"" + session + "\",\"session\":\"" + session + "\",\"capsules\":[\"" + cap + "\"]}",  // dup key
      "{\"session\":5,\"capsules\":[\"" + cap + "\"]}",                                                    // wrong type
      "{\"session\":\"" + session + "\",\"capsules\":\"" + cap + "\"}",                                  // wrong type
      "{\"session\":\"" + session + "\",\"capsules\":[7]}",                                                // wrong type
      UnwrapBody(session, {cap}) + "{}",                                                                   // trailing
      UnwrapBody(session, {cap}) + "x",                                                                    // trailing
      "[\"" + session + "\"]",                                                                             // not object
      "{\"session\":\"" + session + "\",\"capsules\":[\"" + cap + "\"],\"admin\":true}",                  // unknown
      "{\"capsules\":[\"" + cap + "\"]}",                                                                  // missing
      std::string("{\"session\":\"") + "\xff\xfe" + "\",\"capsules\":[\"" + cap + "\"]}",                 // bad UTF-8
      std::string(20, '[') + std::string(20, ']'),                                                         // too deep
  };
  for (const std::string& body : unwrap_bodies) {
    SCOPED_TRACE(body.substr(0, 60));
    ExpectRefused(Send("POST", "/v1/unwrap", body), 400, "bad_request");
  }
  for (const std::string& body : {std::string("{\"recipient\":\"x\"}"), std::string("{}"), std::string("")}) {
    SCOPED_TRACE(body);
    ExpectRefused(Send("POST", "/v1/sessions", body), 400, "bad_request");
  }
  ExpectAudit("unwrap", "deny", "bad_request");
}

// A recipient carrying a private scalar, or a key of another curve.
TEST_F(AttackTest, RecipientNotAPublicX25519Jwk) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  Json with_d = RecipientJwk();
  with_d["d"] = B64uEncode(Must(RandomBytes(32)));
  const Json ed = ProofHeader(*dpop_)["jwk"];
  for (const Json& r : {with_d, ed}) {
    ExpectRefused(Send("POST", "/v1/sessions", DumpJson(Json{{"recipient", r}})), 400, "bad_request");
  }
}

// Protocol 1.1 §4.1: a low-order recipient (every X25519 output all zero)
// is a client error at establish, not a later cvs_unavailable.
TEST_F(AttackTest, RecipientLowOrderPoint) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  for (const char* hex : {"0000000000000000000000000000000000000000000000000000000000000000",
                          "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
                          "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"}) {
    const Json r{{"kty", "OKP"}, {"crv", "X25519"}, {"x", B64uEncode(Must(HexDecode(hex)))}};
    ExpectRefused(Send("POST", "/v1/sessions", DumpJson(Json{{"recipient", r}})), 400, "bad_request");
  }
}

TEST_F(AttackTest, QueryStringRefused) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string body = EstablishBody();
  ExpectRefused(SendRaw("POST", "/v1/sessions?debug=1", body, ValidCreds("POST", "/v1/sessions", body)), 400,
                "bad_request");
}

// ====================================================================== availability and abuse

TEST_F(AttackTest, RateLimitedPerApiKey) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.rate_per_api_key = 3}));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Send("POST", "/v1/sessions", EstablishBody()).status, 201);
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 429, "rate_limited");
  ExpectAudit("session.establish", "deny", "rate_limited");
  clock_.Advance(60);  // the next window
  RefreshNonce();
  EXPECT_EQ(Send("POST", "/v1/sessions", EstablishBody()).status, 201);
}

TEST_F(AttackTest, CvsDownIsCvsUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartWorld({.remote_cvs = true}));
  const std::string session = Establish();
  const capsule::SealedValue v = Seal();
  cvs_server_->Stop(std::chrono::milliseconds(0));
  cvs_server_.reset();
  ExpectRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(v)})), 503, "cvs_unavailable");
  ExpectAudit("unwrap", "deny", "cvs_unavailable");
  StartCvs(cvs_port_);
  net::HttpResponse ok = Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(v)}));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Opens(Must(ParseJson(ok.body))["results"][0], session, v), canary_ + "/db-creds");
}

TEST_F(AttackTest, StoreDownIsStoreUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string session = Establish();
  fault_store_->SetFailing(true);
  ExpectRefused(Send("POST", "/v1/unwrap", UnwrapBody(session, {CapsuleB64u(Seal())})), 503, "store_unavailable");
  ExpectRefused(Send("POST", "/v1/sessions", EstablishBody()), 503, "store_unavailable");
  EXPECT_GT(fault_store_->failed_calls(), 0);
  ExpectAudit("unwrap", "deny", "store_unavailable");
  fault_store_->SetFailing(false);
  EXPECT_EQ(Send("POST", "/v1/sessions", EstablishBody()).status, 201);
}

}  // namespace
}  // namespace astis::attack
