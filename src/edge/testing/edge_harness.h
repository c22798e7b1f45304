// EdgeHarness: a hermetic world for edge tests (test-only). A FakeClock, an
// in-memory SQLite store (behind a FaultInjectingStore), a FakeKubeClient, the
// in-process CVS with a fresh org key, a recording audit sink, one registered
// cluster (RS256 + ES256 keys in its pinned JWKS) and a second cluster, a
// workload with an allowlisted digest, a live pod, an API key, and the pod's
// DPoP and recipient keys. Helpers mint real tokens and real DPoP proofs.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "audit/audit_log.h"
#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/must.h"
#include "crypto/ed25519.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "cvs/cvs.h"
#include "edge/config.h"
#include "edge/gates.h"
#include "edge/service.h"
#include "edge/testing/pod_credentials.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "kube/testing/fake_kube_client.h"
#include "net/http_server.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "store/testing/fault_injecting_store.h"

namespace astis::edge::testing {

// RecordingAuditSink keeps events in memory; it can be made to fail, and
// to keep AppendThen's reports until the test completes them (a line that
// takes its time to become durable).
class RecordingAuditSink final : public audit::AuditSink {
 public:
  Status Append(const audit::AuditEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (failing_) return Error(Code::kIo, "audit sink failing (test)");
    events_.push_back(e);
    return OkStatus();
  }
  void AppendThen(const audit::AuditEvent& e, std::function<void(Status)> durable) override {
    Status s = Append(e);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (holding_) {
        pending_.push_back(std::move(durable));
        return;
      }
    }
    durable(s);
  }
  // SetHolding(true) keeps AppendThen's reports; CompleteHeld reports
  // outcome to every one kept (on this thread) and returns how many.
  void SetHolding(bool h) {
    std::lock_guard<std::mutex> lock(mu_);
    holding_ = h;
  }
  // Stats counts the recorded lines (syncs: none, nothing is on a disk).
  std::optional<audit::AuditStats> Stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return audit::AuditStats{events_.size(), 0};
  }
  size_t CompleteHeld(const Status& outcome) {
    std::vector<std::function<void(Status)>> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending.swap(pending_);
    }
    for (auto& d : pending) d(outcome);
    return pending.size();
  }
  std::vector<audit::AuditEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  void SetFailing(bool f) {
    std::lock_guard<std::mutex> lock(mu_);
    failing_ = f;
  }

 private:
  mutable std::mutex mu_;
  std::vector<audit::AuditEvent> events_;
  bool failing_ = false;
  bool holding_ = false;
  std::vector<std::function<void(Status)>> pending_;
};

// SwitchableCvs forwards to a real CvsPort unless switched off, when every
// call is kCvsUnavailable (a CVS that cannot be reached).
class SwitchableCvs final : public cvs::CvsPort {
 public:
  explicit SwitchableCvs(cvs::CvsPort& inner) : inner_(inner) {}
  Result<std::vector<cvs::RewrapResult>> Rewrap(const cvs::VerifiedScope& scope, const X25519PublicKey& recipient,
                                                std::string_view session_id,
                                                std::span<const std::vector<uint8_t>> capsules) override {
    if (down_) return Error(Code::kCvsUnavailable, "cvs switched off (test)");
    ++calls_;
    return inner_.Rewrap(scope, recipient, session_id, capsules);
  }
  Status Ping() override { return down_ ? Error(Code::kCvsUnavailable, "down") : inner_.Ping(); }
  void SetDown(bool d) { down_ = d; }
  int calls() const { return calls_; }

 private:
  cvs::CvsPort& inner_;
  std::atomic<bool> down_{false};
  std::atomic<int> calls_{0};
};

inline constexpr int64_t kNow = 1'800'000'000;
inline constexpr char kCluster[] = "prod-eu1";
inline constexpr char kIssuer[] = "https://oidc.prod-eu1.example.com";
inline constexpr char kOtherCluster[] = "prod-us1";
inline constexpr char kOtherIssuer[] = "https://oidc.prod-us1.example.com";
inline constexpr char kNs[] = "payments";
inline constexpr char kSa[] = "api";
inline constexpr char kPod[] = "api-7d9f";
inline constexpr char kUid[] = "16376601-cc54-4b0c-b5b3-16356351e055";
inline constexpr char kBase[] = "https://edge.example.com";
inline const std::string kGoodDigest = "sha256:" + std::string(64, 'a');
inline const std::string kBadDigest = "sha256:" + std::string(64, 'b');

inline Json Jwks(const SigningKey& k, const std::string& kid, const SigningKey* k2 = nullptr,
                 const std::string& kid2 = "") {
  Json a = k.PublicJwkMembers();
  a["kid"] = kid;
  Json keys = Json::array({a});
  if (k2 != nullptr) {
    Json b = k2->PublicJwkMembers();
    b["kid"] = kid2;
    keys.push_back(b);
  }
  return Json{{"keys", keys}};
}

using test::Must;

class EdgeHarness {
 public:
  // Call is one request's knobs; unset members get correct defaults.
  struct Call {
    std::string method = "POST";
    std::string path;
    std::string body;
    std::optional<std::string> api_key;  // header value; default: the good key
    bool omit_api_key = false;
    std::optional<std::string> token;    // raw JWT; default: a good token
    bool omit_token = false;
    std::optional<std::string> dpop;     // the proof; default: a good proof
    bool omit_dpop = false;
    const Ed25519PrivateKey* dpop_key = nullptr;  // default: pod_dpop
    std::optional<std::string> htm, htu, jti, nonce, ath;
    std::optional<int64_t> iat;
    bool omit_nonce = false, omit_ath = false, omit_bh = false;
    std::optional<std::string> bh;
  };

  EdgeHarness() : clock(kNow) {
    Random& rng = DefaultRandom();
    sqlite = Must(store::OpenSqliteStore(":memory:"));
    store = std::make_unique<store::FaultInjectingStore>(*sqlite);
    ec = std::make_unique<SigningKey>(Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256)));
    other = std::make_unique<SigningKey>(Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256)));
    store::Cluster c;
    c.name = kCluster;
    c.issuer = kIssuer;
    c.jwks_json = DumpJson(Jwks(*rsa, "rsa-1", ec.get(), "ec-1"));
    c.api_url = "https://k8s.prod-eu1.example.com";
    EXPECT_TRUE(store->PutCluster(c).ok());
    store::Cluster o = c;
    o.name = kOtherCluster;
    o.issuer = kOtherIssuer;
    o.jwks_json = DumpJson(Jwks(*other, "other-1"));
    EXPECT_TRUE(store->PutCluster(o).ok());
    EXPECT_TRUE(store->PutWorkload(store::Workload{kCluster, kNs, kSa, {kGoodDigest}}).ok());
    kube_main.PutPod(GoodPod());
    kube_other.PutPod(GoodPod());

    api_key = Must(RegisterApiKey(*store, ApiKeyScope{kCluster, kNs, kSa, kNow - 100}, rng));

    org = std::make_unique<capsule::OrgPrivateKey>(Must(capsule::OrgPrivateKey::Generate(rng)));
    org_public = std::make_unique<capsule::OrgPublicKey>(org->public_key());
    auto org_copy = Must(capsule::OrgPrivateKey::FromJwk(org->ToPrivateJwk(), SecretBytes::Protection::kPlain));
    cvs_service = std::make_unique<cvs::CvsService>(Must(capsule::OrgKeySet::Create(std::move(org_copy))), rng);
    cvs = std::make_unique<SwitchableCvs>(*cvs_service);

    pod_dpop = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(rng)));
    pod_recipient = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(rng)));

    config.external_base_url = kBase;
    config.tls = {"unused.crt", "unused.key"};
    config.store.path = ":memory:";
    config.cvs.org_keys = "unused.json";
    config.audit_log = "unused.log";
    ReadEveryGate4Decision(config);  // each test sees its pod and API edits at once
    MakeService();
  }

  void MakeService() {
    EdgeDeps deps;
    deps.store = store.get();
    deps.kube = [this](std::string_view cluster) -> kube::KubeClient* {
      if (cluster == kCluster) return &kube_main;
      if (cluster == kOtherCluster) return &kube_other;
      return nullptr;
    };
    deps.cvs = cvs.get();
    deps.audit = &audit_sink;
    deps.clock = &clock;
    deps.rng = &DefaultRandom();
    deps.pods = pods;
    deps.public_keys = [this](std::string_view kid) { return cvs_service->ActivePublicKey(kid); };
    service = Must(EdgeService::Create(config, deps));
  }

  static kube::PodView GoodPod() {
    kube::PodView p;
    p.name = kPod;
    p.ns = kNs;
    p.uid = kUid;
    p.phase = "Running";
    p.service_account = kSa;
    p.containers.push_back({"app", "registry.example.com/app:1.0"});
    p.container_statuses.push_back({"app", "registry.example.com/app:1.0", "registry.example.com/app@" + kGoodDigest});
    return p;
  }

  // Claims returns the real projected-token claim shape (testdata/kubernetes/
  // k8s-projected-token-claims.json) for the harness pod; negative tests
  // mutate it before signing.
  Json Claims() const {
    return ProjectedTokenClaims(TokenSubject{kIssuer, kNs, kSa, kPod, kUid, kNow});
  }

  // Token signs claims with key/kid (default: the cluster's RS256 key).
  std::string Token(const Json& claims, const SigningKey* key = nullptr, std::string_view kid = "rsa-1",
                    SignatureAlg alg = SignatureAlg::kRs256) const {
    return SignToken(claims, key != nullptr ? *key : *rsa, alg, kid);
  }
  std::string Token() const { return Token(Claims()); }

  // CurrentNonce is the nonce any response would carry now.
  std::string CurrentNonce() {
    net::ServerRequest req;
    req.method = "GET";
    req.path = req.target = "/healthz";
    auto resp = service->Handle(req);
    return net::FindHeader(resp.headers, "DPoP-Nonce").value_or("");
  }

  std::string Proof(const Call& c, const std::string& token) {
    const Ed25519PrivateKey& key = c.dpop_key != nullptr ? *c.dpop_key : *pod_dpop;
    const std::string jti = c.jti.value_or(Must(jose::NewDpopJti(DefaultRandom())));
    const std::string nonce = c.nonce.value_or(CurrentNonce());
    const std::string ath = c.ath.value_or(jose::DpopHash(token));
    std::optional<std::string> bh = c.bh;
    if (!bh.has_value() && !c.body.empty() && !c.omit_bh) bh = jose::DpopHash(c.body);
    return jose::MakeDpopProof(key, c.htm.value_or(c.method), c.htu.value_or(config.external_base_url + c.path),
                               c.iat.value_or(clock.NowUnix()), jti,
                               c.omit_ath ? std::nullopt : std::optional<std::string_view>(ath),
                               c.omit_nonce ? std::nullopt : std::optional<std::string_view>(nonce),
                               bh.has_value() ? std::optional<std::string_view>(*bh) : std::nullopt);
  }

  net::ServerRequest Build(const Call& c) {
    net::ServerRequest req;
    req.method = c.method;
    req.path = req.target = c.path;
    req.body = c.body;
    const std::string token = c.token.value_or(Token());
    if (!c.omit_api_key) {
      req.headers.emplace_back("X-Astis-Api-Key", c.api_key.value_or(std::string(api_key.header_value.RevealString())));
    }
    if (!c.omit_token) req.headers.emplace_back("Authorization", "DPoP " + token);
    if (!c.omit_dpop) req.headers.emplace_back("DPoP", c.dpop.value_or(Proof(c, token)));
    if (!c.body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    return req;
  }

  net::ServerResponse Send(const Call& c) { return service->Handle(Build(c)); }

  Json RecipientJwk(const X25519PrivateKey& k) const {
    return jose::Jwk::FromX25519Public(k.public_key()).ToJson();
  }

  Call EstablishCall() const {
    Call c;
    c.path = "/v1/sessions";
    c.body = DumpJson(Json{{"recipient", RecipientJwk(*pod_recipient)}});
    return c;
  }

  // Establish opens a session with the pod's keys and returns its id.
  std::string Establish() {
    auto resp = Send(EstablishCall());
    EXPECT_EQ(resp.status, 201) << resp.body;
    auto j = ParseJson(resp.body);
    return j.ok() && j->contains("session") ? (*j)["session"].get<std::string>() : "";
  }

  capsule::SealedValue Seal(std::string_view plaintext, capsule::Binding b = {kCluster, kNs, kSa, "db", "password"}) {
    return Must(capsule::Seal(*org_public, b, AsBytes(plaintext), DefaultRandom(), clock));
  }

  Call UnwrapCall(const std::string& session, const std::vector<std::string>& capsules_b64u) const {
    Call c;
    c.path = "/v1/unwrap";
    c.body = DumpJson(Json{{"session", session}, {"capsules", capsules_b64u}});
    return c;
  }

  FakeClock clock;
  std::unique_ptr<store::Store> sqlite;
  std::unique_ptr<store::FaultInjectingStore> store;
  kube::testing::FakeKubeClient kube_main, kube_other;
  std::unique_ptr<cvs::CvsService> cvs_service;
  std::unique_ptr<SwitchableCvs> cvs;
  RecordingAuditSink audit_sink;
  const SigningKey* rsa = &SharedClusterRsaKey();  // RSA keygen is slow: one per test process
  std::unique_ptr<SigningKey> ec, other;
  GeneratedApiKey api_key;
  std::unique_ptr<capsule::OrgPrivateKey> org;
  std::unique_ptr<capsule::OrgPublicKey> org_public;
  std::unique_ptr<Ed25519PrivateKey> pod_dpop;
  std::unique_ptr<X25519PrivateKey> pod_recipient;
  EdgeConfig config;
  PodMonitor* pods = nullptr;  // set, then MakeService(), to report watches in /readyz and /metrics
  std::unique_ptr<EdgeService> service;
};

}  // namespace astis::edge::testing
