// FakeEdge: a scripted stand-in for the ASTIS edge (test-only), serving
// docs/protocol.md §4 over real HTTPS (net::HttpServer + a run-time test PKI).
//
// It checks what the SDK must get right, with the project's own verifiers:
// the API key, the DPoP proof (jose::VerifyDpopProof: htm, htu, iat, ath
// against the token it received, bh against the exact body, the current
// nonce), jti replay, the session pin (jkt), the rotation `pop` JWS, and it
// rewraps capsules with real HPKE from an org key it holds. Faults are
// scripted: FailNext answers a path with a given status/code, Restart drops
// every session and the nonce secret, RevokeSessions ends them all.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/time_format.h"
#include "crypto/random.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "net/http_server.h"
#include "net/testing/test_pki.h"

namespace astis::sdkcore::testing {

inline constexpr char kTestApiKey[] = "astis_k1_testsecretvalue";

class FakeEdge {
 public:
  struct Session {
    std::string jkt;
    X25519PublicKey recipient;
    int64_t expires_at = 0;
    bool ended = false;
  };

  FakeEdge(Clock& clock, const net::testing::TestPki& pki) : clock_(clock), pki_(pki) {
    org_ = std::make_unique<capsule::OrgKeySet>(
        capsule::OrgKeySet::Create(capsule::OrgPrivateKey::Generate(DefaultRandom()).value()).value());
  }
  ~FakeEdge() { Stop(); }

  // Start listens on 127.0.0.1:port (0 = ephemeral). Restart keeps the port.
  Status Start(uint16_t port = 0) {
    net::ServerConfig config;
    config.port = port;
    config.tls = pki_.ServerTls();
    config.threads = 2;
    auto server = net::HttpServer::Start(config, [this](const net::ServerRequest& r) { return Handle(r); });
    if (!server.ok()) return server.status();
    server_ = std::move(*server);
    port_ = server_->port();
    return OkStatus();
  }
  void Stop() {
    if (server_ != nullptr) server_->Stop(std::chrono::milliseconds(0));
    server_.reset();
  }
  // Restart is an edge process restart with in-memory state: sessions and
  // the nonce secret are gone; the port stays.
  Status Restart() {
    Stop();
    {
      std::lock_guard<std::mutex> lock(mu_);
      sessions_.clear();
      ++nonce_generation_;
      nonce_ = "nonce-" + std::to_string(nonce_generation_);
    }
    return Start(port_);
  }

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }

  // FailNext answers the next count requests to path with status/code.
  void FailNext(const std::string& path, int count, int status, const std::string& code) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < count; ++i) faults_[path].push_back({status, code});
  }
  void RevokeSessions() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, s] : sessions_) s.ended = true;
  }
  // SetRotateNonceEachResponse makes every response carry a fresh nonce and
  // invalidates the previous one.
  void SetRotateNonceEachResponse(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    rotate_nonce_ = on;
  }
  void SetSessionTtl(int64_t ttl) {
    std::lock_guard<std::mutex> lock(mu_);
    ttl_ = ttl;
  }
  // SetExpiresAtFormat renders expiresAt (Unix seconds) another way than
  // "YYYY-MM-DDTHH:MM:SSZ", as another edge implementation might.
  void SetExpiresAtFormat(std::function<std::string(int64_t)> format) {
    std::lock_guard<std::mutex> lock(mu_);
    expires_format_ = std::move(format);
  }
  // SetNonceChallengeHeaderOnly answers use_dpop_nonce with the
  // WWW-Authenticate challenge only (token form, RFC 9110 §11.2), no body.
  void SetNonceChallengeHeaderOnly(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    nonce_header_only_ = on;
  }

  // Seal makes a sealed value for this edge's org key.
  std::string Seal(std::string_view plaintext, const std::string& name = "app") {
    capsule::Binding b{"prod-eu1", "payments", "api", name, "value"};
    auto org_public = org_->active().public_key();
    return capsule::Seal(org_public, b, AsBytes(plaintext), DefaultRandom(), clock_).value().ToString();
  }

  // Observations.
  int Count(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_[key];
  }
  std::vector<size_t> unwrap_batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return unwrap_batches_;
  }
  std::vector<std::string> tokens_seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return tokens_seen_;
  }
  std::map<std::string, Session> sessions() {
    std::lock_guard<std::mutex> lock(mu_);
    return sessions_;
  }

 private:
  struct Fault {
    int status;
    std::string code;
  };

  static std::string Rfc3339(int64_t t) { return FormatRfc3339(t * 1000, TimePrecision::kSeconds); }

  net::ServerResponse Json(int status, const astis::Json& body) {
    net::ServerResponse r;
    r.status = status;
    r.body = DumpJson(body);
    r.headers.emplace_back("Content-Type", "application/json");
    return r;
  }
  net::ServerResponse Err(int status, const std::string& code) {
    if (code == "use_dpop_nonce" && nonce_header_only_) {
      net::ServerResponse r;
      r.status = status;
      r.headers.emplace_back("WWW-Authenticate", "dpop error=use_dpop_nonce");
      return r;
    }
    net::ServerResponse r = net::JsonError(status, code, "refused");
    if (code == "use_dpop_nonce") r.headers.emplace_back("WWW-Authenticate", "DPoP error=\"use_dpop_nonce\"");
    return r;
  }

  net::ServerResponse Handle(const net::ServerRequest& req) {
    std::lock_guard<std::mutex> lock(mu_);
    net::ServerResponse resp = Route(req);
    if (rotate_nonce_) nonce_ = "nonce-" + std::to_string(nonce_generation_) + "-" + std::to_string(++nonce_serial_);
    resp.headers.emplace_back("DPoP-Nonce", nonce_);
    return resp;
  }

  net::ServerResponse Route(const net::ServerRequest& req) {
    const std::string key = req.method == "DELETE" ? "DELETE" : req.path;
    ++counts_[key];
    if (auto it = faults_.find(key); it != faults_.end() && !it->second.empty()) {
      Fault f = it->second.front();
      it->second.pop_front();
      return Err(f.status, f.code);
    }
    if (req.Header("X-Astis-Api-Key").value_or("") != kTestApiKey) return Err(401, "api_key_invalid");
    const std::string authz = req.Header("Authorization").value_or("");
    if (!authz.starts_with("DPoP ") || authz.size() == 5) return Err(401, "token_invalid");
    const std::string token = authz.substr(5);
    tokens_seen_.push_back(token);
    if (req.HeaderCount("DPoP") != 1) return Err(401, "dpop_invalid");
    jose::DpopExpectations expect;
    expect.htm = req.method;
    const std::string htu = url() + req.path;
    expect.htu = htu;
    expect.ath = jose::DpopHash(token);
    if (!req.body.empty()) expect.bh = jose::DpopHash(req.body);
    expect.now = clock_.NowUnix();
    expect.nonce_valid = [this](std::string_view n) { return n == nonce_; };
    auto proof = jose::VerifyDpopProof(*req.Header("DPoP"), expect);
    if (!proof.ok()) {
      if (proof.status().code() == Code::kUseDpopNonce) {
        ++counts_["use_dpop_nonce"];
        return Err(401, "use_dpop_nonce");
      }
      ++counts_["dpop_invalid"];
      return Err(401, "dpop_invalid");
    }
    if (!jtis_.insert(proof->jti()).second) return Err(401, "dpop_replay");

    if (req.method == "POST" && req.path == "/v1/sessions") return Establish(req, *proof);
    if (req.method == "POST" && req.path == "/v1/unwrap") return Unwrap(req, *proof);
    if (req.method == "POST" && req.path == "/v1/sessions/rotate") return Rotate(req, *proof);
    if (req.method == "DELETE" && req.path.starts_with("/v1/sessions/")) {
      auto it = sessions_.find(req.path.substr(std::string("/v1/sessions/").size()));
      if (it == sessions_.end() || it->second.jkt != proof->jkt()) return Err(401, "session_invalid");
      it->second.ended = true;
      net::ServerResponse r;
      r.status = 204;
      return r;
    }
    return Err(404, "not_found");
  }

  bool Active(const Session& s) const { return !s.ended && s.expires_at > clock_.NowUnix(); }

  net::ServerResponse Establish(const net::ServerRequest& req, const jose::VerifiedDpopProof& proof) {
    auto body = ParseJsonObject(req.body);
    if (!body.ok() || !body->contains("recipient")) return Err(400, "bad_request");
    auto jwk = jose::Jwk::Parse((*body)["recipient"]);
    auto recipient = jwk.ok() ? jwk->ToX25519Public() : Result<X25519PublicKey>(jwk.status());
    if (!recipient.ok()) return Err(400, "bad_request");
    std::string id;
    for (auto& [sid, s] : sessions_) {
      if (!Active(s)) continue;
      if (s.jkt != proof.jkt()) return Err(409, "credential_pinned");  // one pod in this fake
      id = sid;
    }
    if (id.empty()) id = "s" + std::to_string(++session_serial_) + "-" + B64uEncode(std::string(8, 'x'));
    Session& s = sessions_[id];
    s.jkt = proof.jkt();
    s.recipient = *recipient;
    s.expires_at = clock_.NowUnix() + ttl_;
    const std::string expires = expires_format_ ? expires_format_(s.expires_at) : Rfc3339(s.expires_at);
    return Json(201, {{"session", id}, {"expiresAt", expires}, {"cluster", "prod-eu1"},
                      {"pod", {{"namespace", "payments"}, {"name", "api-7d9f"}, {"uid", "uid-1"}}}});
  }

  Session* FindSession(const astis::Json& body, const jose::VerifiedDpopProof& proof, std::string* id) {
    if (!body.contains("session") || !body["session"].is_string()) return nullptr;
    *id = body["session"].get<std::string>();
    auto it = sessions_.find(*id);
    if (it == sessions_.end() || !Active(it->second) || it->second.jkt != proof.jkt()) return nullptr;
    return &it->second;
  }

  net::ServerResponse Unwrap(const net::ServerRequest& req, const jose::VerifiedDpopProof& proof) {
    auto body = ParseJsonObject(req.body, JsonLimits{1024 * 1024, 8});
    if (!body.ok()) return Err(400, "bad_request");
    std::string id;
    Session* s = FindSession(*body, proof, &id);
    if (s == nullptr) return Err(401, "session_invalid");
    const astis::Json& caps = (*body)["capsules"];
    if (!caps.is_array() || caps.empty() || caps.size() > 64) return Err(400, "bad_request");
    unwrap_batches_.push_back(caps.size());
    astis::Json results = astis::Json::array();
    for (const auto& c : caps) {
      auto bytes = c.is_string() ? B64uDecode(c.get<std::string>()) : Result<std::vector<uint8_t>>(Status());
      auto cap = bytes.ok() ? capsule::Capsule::Parse(std::span<const uint8_t>(*bytes))
                            : Result<capsule::Capsule>(bytes.status());
      auto dek = cap.ok() ? capsule::OpenCapsule(*org_, *cap) : Result<SecretBytes>(cap.status());
      auto rw = dek.ok() ? capsule::Rewrap(*dek, s->recipient, cap->hash(), id, DefaultRandom())
                         : Result<capsule::RewrappedDek>(dek.status());
      if (!rw.ok()) {
        results.push_back({{"error", {{"code", "capsule_invalid"}, {"message", "refused"}}}});
      } else {
        results.push_back({{"enc", B64uEncode(rw->enc)}, {"ct", B64uEncode(rw->ct)}});
      }
    }
    return Json(200, {{"results", results}});
  }

  net::ServerResponse Rotate(const net::ServerRequest& req, const jose::VerifiedDpopProof& proof) {
    auto body = ParseJsonObject(req.body);
    if (!body.ok()) return Err(400, "bad_request");
    std::string id;
    Session* s = FindSession(*body, proof, &id);  // proof by the CURRENT (pinned) key
    if (s == nullptr) return Err(401, "session_invalid");
    auto key = body->contains("key") ? jose::Jwk::Parse((*body)["key"]) : Result<jose::Jwk>(Status());
    auto rjwk = body->contains("recipient") ? jose::Jwk::Parse((*body)["recipient"]) : Result<jose::Jwk>(Status());
    auto recipient = rjwk.ok() ? rjwk->ToX25519Public() : Result<X25519PublicKey>(rjwk.status());
    if (!key.ok() || key->crv() != "Ed25519" || key->has_private() || !recipient.ok() ||
        !(*body)["pop"].is_string()) {
      return Err(400, "bad_request");
    }
    auto pop = jose::UnverifiedJws::Parse((*body)["pop"].get<std::string>());
    auto verified = pop.ok() ? jose::VerifyJws(*pop, *key) : Result<jose::VerifiedJws>(pop.status());
    auto payload = verified.ok() ? ParseJsonObject(verified->payload()) : Result<astis::Json>(verified.status());
    if (!payload.ok() || (*payload)["session"] != id || (*payload)["prev"] != proof.jkt() ||
        !(*payload)["iat"].is_number_integer() || (*payload)["iat"].get<int64_t>() != clock_.NowUnix()) {
      return Err(401, "dpop_invalid");
    }
    s->jkt = key->Thumbprint();
    s->recipient = *recipient;
    ++counts_["rotated"];
    return Json(200, {{"session", id}, {"expiresAt", Rfc3339(s->expires_at)}});
  }

  Clock& clock_;
  const net::testing::TestPki& pki_;
  std::unique_ptr<capsule::OrgKeySet> org_;
  std::unique_ptr<net::HttpServer> server_;
  uint16_t port_ = 0;

  std::mutex mu_;
  std::map<std::string, Session> sessions_;
  std::map<std::string, std::deque<Fault>> faults_;
  std::map<std::string, int> counts_;
  std::vector<size_t> unwrap_batches_;
  std::vector<std::string> tokens_seen_;
  std::set<std::string> jtis_;
  std::string nonce_ = "nonce-0";
  int nonce_generation_ = 0;
  int nonce_serial_ = 0;
  int session_serial_ = 0;
  int64_t ttl_ = 600;
  bool rotate_nonce_ = false;
  bool nonce_header_only_ = false;
  std::function<std::string(int64_t)> expires_format_;
};

}  // namespace astis::sdkcore::testing
