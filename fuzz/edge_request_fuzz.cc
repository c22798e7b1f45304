// libFuzzer target for the edge's request handling, end to end in process:
// EdgeService::Handle over an in-memory SQLite store, a FakeKubeClient, the
// in-process CVS and a FakeClock (no sockets, no wall clock).
//
// Input layout: byte 0 picks the endpoint (POST /v1/sessions, /v1/unwrap,
// /v1/sessions/rotate, DELETE /v1/sessions/<part 0>); byte 1 holds a 2-bit
// mode per credential (X-Astis-Api-Key, Authorization, DPoP): 0 = a valid
// value minted by the harness, 1 = fuzzer bytes, 2 = header omitted, 3 = the
// valid value sent twice. The rest is split on NUL into part 0 (the body, in
// which $SESSION, $RECIPIENT, $CAPSULE, $CAPSULE_OTHER, $NEWKEY, $POP and
// $JKT are replaced by live values so seeds reach deep code), part 1 (api
// key), part 2 (Authorization) and part 3 (DPoP).
//
// Invariants (trap on violation): no 2xx unless all three credentials are the
// valid ones; every response carries DPoP-Nonce; every >= 400 body is exactly
// {"error":{"code","message"}}; no response echoes the API key or the token.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
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

namespace {

using namespace astis;  // NOLINT(google-build-using-namespace): fuzz harness only

constexpr int64_t kNow = 1'800'000'000;
constexpr char kCluster[] = "prod-eu1";
constexpr char kIssuer[] = "https://oidc.prod-eu1.example.com";
constexpr char kNs[] = "payments";
constexpr char kSa[] = "api";
constexpr char kPod[] = "api-7d9f";
constexpr char kUid[] = "16376601-cc54-4b0c-b5b3-16356351e055";
constexpr char kBase[] = "https://edge.example.com";
// The world is rebuilt after this many inputs, which bounds the jti and
// session rows the store accumulates.
constexpr int kInputsPerWorld = 2000;

// NullAuditSink accepts every event (the audit log has its own fuzzer).
class NullAuditSink final : public audit::AuditSink {
 public:
  Status Append(const audit::AuditEvent&) override { return OkStatus(); }
};

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) __builtin_trap();  // harness setup failed: not a finding in the code under test
  return std::move(r).value();
}

void MustOk(const Status& s) {
  if (!s.ok()) __builtin_trap();
}

std::string ReplaceAll(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// World is one hermetic edge with one cluster, workload, live pod, API key
// and established session, as src/edge/testing/edge_harness.h builds (which
// needs GoogleTest, so it is not reused here; the token and the API key come
// from edge::testing, which does not).
struct World {
  World() : clock(kNow) {
    Random& rng = DefaultRandom();
    store = Must(store::OpenSqliteStore(":memory:"));
    ec = std::make_unique<SigningKey>(Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256)));
    Json member = ec->PublicJwkMembers();
    member["kid"] = "ec-1";
    store::Cluster c;
    c.name = kCluster;
    c.issuer = kIssuer;
    c.jwks_json = DumpJson(Json{{"keys", Json::array({member})}});
    c.api_url = "https://k8s.prod-eu1.example.com";
    MustOk(store->PutCluster(c));
    const std::string digest = "sha256:" + std::string(64, 'a');
    MustOk(store->PutWorkload(store::Workload{kCluster, kNs, kSa, {digest}}));
    kube::PodView p;
    p.name = kPod;
    p.ns = kNs;
    p.uid = kUid;
    p.phase = "Running";
    p.service_account = kSa;  // gate 4: the pod runs as the token's ServiceAccount
    p.containers.push_back({"app", "registry.example.com/app:1.0"});
    p.container_statuses.push_back({"app", "registry.example.com/app:1.0", "registry.example.com/app@" + digest});
    kube.PutPod(p);

    api_key = Must(edge::testing::RegisterApiKey(*store, {kCluster, kNs, kSa, kNow - 100}, rng));
    api_key_value = std::string(api_key.header_value.RevealString());

    auto org = Must(capsule::OrgPrivateKey::Generate(rng));
    org_public = std::make_unique<capsule::OrgPublicKey>(org.public_key());
    cvs = std::make_unique<cvs::CvsService>(Must(capsule::OrgKeySet::Create(std::move(org))), rng);
    capsule_good = SealCapsule({kCluster, kNs, kSa, "db", "password"});
    capsule_other = SealCapsule({kCluster, "other-ns", kSa, "db", "password"});

    dpop = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(rng)));
    next_dpop = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(rng)));
    recipient = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(rng)));
    recipient_json = DumpJson(jose::Jwk::FromX25519Public(recipient->public_key()).ToJson());

    token = edge::testing::SignToken(edge::testing::ProjectedTokenClaims({kIssuer, kNs, kSa, kPod, kUid, kNow}), *ec,
                                     SignatureAlg::kEs256, "ec-1");

    edge::EdgeConfig config;
    config.external_base_url = kBase;
    config.tls = {"unused.crt", "unused.key"};
    config.store.path = ":memory:";
    config.cvs.org_keys = "unused.json";
    config.audit_log = "unused.log";
    edge::testing::ReadEveryGate4Decision(config);  // deterministic: every input decides from a fresh read
    // The fixed clock never leaves the rate window: lift the limits so the
    // fuzzer keeps reaching gate 3 and beyond (rate limiting has unit tests).
    config.limits.rate_per_api_key_per_minute = int64_t{1} << 40;
    config.limits.rate_per_pod_uid_per_minute = int64_t{1} << 40;
    edge::EdgeDeps deps;
    deps.store = store.get();
    deps.kube = [this](std::string_view cluster) -> kube::KubeClient* {
      return cluster == kCluster ? &kube : nullptr;
    };
    deps.cvs = cvs.get();
    deps.audit = &audit_sink;
    deps.clock = &clock;
    deps.rng = &rng;
    service = Must(edge::EdgeService::Create(config, deps));

    net::ServerRequest health;
    health.method = "GET";
    health.path = health.target = "/healthz";
    nonce = net::FindHeader(service->Handle(health).headers, "DPoP-Nonce").value_or("");
    Establish();
  }

  std::string SealCapsule(capsule::Binding b) {
    auto v = Must(capsule::Seal(*org_public, b, AsBytes("fuzz"), DefaultRandom(), clock));
    return B64uEncode(v.capsule().bytes());
  }

  std::string Jkt(const Ed25519PrivateKey& k) const {
    return jose::Jwk::FromEd25519Public(k.public_key()).Thumbprint();
  }

  std::string Proof(std::string_view method, std::string_view path, std::string_view body) const {
    const std::string jti = Must(jose::NewDpopJti(DefaultRandom()));
    const std::string ath = jose::DpopHash(token);
    const std::string bh = jose::DpopHash(body);
    return jose::MakeDpopProof(*dpop, method, std::string(kBase) + std::string(path), kNow, jti, ath, nonce,
                               body.empty() ? std::nullopt : std::optional<std::string_view>(bh));
  }

  net::ServerRequest ValidRequest(std::string method, std::string path, std::string body) const {
    net::ServerRequest req;
    req.method = std::move(method);
    req.path = req.target = std::move(path);
    req.body = std::move(body);
    req.headers.emplace_back("X-Astis-Api-Key", api_key_value);
    req.headers.emplace_back("Authorization", "DPoP " + token);
    req.headers.emplace_back("DPoP", Proof(req.method, req.path, req.body));
    return req;
  }

  // Establish (re)opens the session pinned to the current DPoP key.
  void Establish() {
    auto resp = service->Handle(ValidRequest("POST", "/v1/sessions", "{\"recipient\":" + recipient_json + "}"));
    if (resp.status != 201) __builtin_trap();
    session = Must(ParseJson(resp.body))["session"].get<std::string>();
  }

  std::string Substitute(std::string body) const {
    if (body.find('$') == std::string::npos) return body;
    const std::string prev = Jkt(*dpop);
    const std::string pop = jose::SignCompactJws(
        Json{{"alg", "EdDSA"}}, DumpJson(Json{{"session", session}, {"prev", prev}, {"iat", kNow}}), *next_dpop);
    body = ReplaceAll(std::move(body), "$SESSION", session);
    body = ReplaceAll(std::move(body), "$RECIPIENT", recipient_json);
    body = ReplaceAll(std::move(body), "$CAPSULE_OTHER", capsule_other);
    body = ReplaceAll(std::move(body), "$CAPSULE", capsule_good);
    body = ReplaceAll(std::move(body), "$NEWKEY", DumpJson(jose::Jwk::FromEd25519Public(next_dpop->public_key()).ToJson()));
    body = ReplaceAll(std::move(body), "$POP", pop);
    body = ReplaceAll(std::move(body), "$JKT", prev);
    return body;
  }

  FakeClock clock;
  std::unique_ptr<store::Store> store;
  kube::testing::FakeKubeClient kube;
  std::unique_ptr<cvs::CvsService> cvs;
  NullAuditSink audit_sink;
  std::unique_ptr<SigningKey> ec;
  edge::GeneratedApiKey api_key;
  std::string api_key_value;
  std::unique_ptr<capsule::OrgPublicKey> org_public;
  std::string capsule_good, capsule_other;
  std::unique_ptr<Ed25519PrivateKey> dpop, next_dpop;
  std::unique_ptr<X25519PrivateKey> recipient;
  std::string recipient_json;
  std::string token;
  std::string nonce;
  std::string session;
  std::unique_ptr<edge::EdgeService> service;
};

std::unique_ptr<World>& TheWorld() {
  static std::unique_ptr<World> world;
  return world;
}

// CheckErrorShape traps unless body is exactly {"error":{"code","message"}}.
void CheckErrorShape(const std::string& body) {
  auto j = ParseJson(body);
  if (!j.ok() || !j->is_object() || j->size() != 1 || !j->contains("error")) __builtin_trap();
  const Json& e = (*j)["error"];
  if (!e.is_object() || e.size() != 2 || !e.contains("code") || !e["code"].is_string() || !e.contains("message") ||
      !e["message"].is_string()) {
    __builtin_trap();
  }
}

std::vector<std::string_view> SplitNul(std::string_view s, size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t nul = s.find('\0');
    if (nul == std::string_view::npos) break;
    parts.push_back(s.substr(0, nul));
    s.remove_prefix(nul + 1);
  }
  parts.push_back(s);
  parts.resize(max_parts);
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int inputs = 0;
  if (size < 2) return 0;
  std::unique_ptr<World>& world_ptr = TheWorld();
  if (!world_ptr || ++inputs % kInputsPerWorld == 0) {
    world_ptr.reset();
    world_ptr = std::make_unique<World>();
  }
  World& w = *world_ptr;

  const uint8_t endpoint = data[0] % 4;
  const uint8_t modes = data[1];
  const auto parts = SplitNul(std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2), 4);
  std::string body = w.Substitute(std::string(parts[0]));

  std::string method = "POST", path;
  switch (endpoint) {
    case 0: path = "/v1/sessions"; break;
    case 1: path = "/v1/unwrap"; break;
    case 2: path = "/v1/sessions/rotate"; break;
    default:
      method = "DELETE";
      path = "/v1/sessions/" + body;
      body.clear();
      break;
  }

  net::ServerRequest req;
  req.method = method;
  req.path = req.target = path;
  req.body = body;
  const std::string valid[3] = {w.api_key_value, "DPoP " + w.token, w.Proof(method, path, body)};
  const char* names[3] = {"X-Astis-Api-Key", "Authorization", "DPoP"};
  bool all_valid = true;
  for (int i = 0; i < 3; ++i) {
    const int mode = (modes >> (2 * i)) & 3;
    const std::string fuzzed(parts[1 + i]);
    switch (mode) {
      case 0:
        req.headers.emplace_back(names[i], valid[i]);
        break;
      case 1:
        req.headers.emplace_back(names[i], fuzzed);
        all_valid = all_valid && fuzzed == valid[i];
        break;
      case 2:
        all_valid = false;
        break;
      default:
        req.headers.emplace_back(names[i], valid[i]);
        req.headers.emplace_back(names[i], valid[i]);
        all_valid = false;
        break;
    }
  }

  const net::ServerResponse resp = w.service->Handle(req);
  // ASTIS_FUZZ_VERBOSE=1 prints each outcome, to check that seeds reach deep.
  static const bool verbose = std::getenv("ASTIS_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "edge_request_fuzz: %s %s -> %d %s\n", method.c_str(), req.path.c_str(),
                            resp.status, resp.status >= 300 ? resp.body.c_str() : "");
  const bool success = resp.status >= 200 && resp.status < 300;
  // Garbage, missing or duplicated credentials never succeed (docs/protocol.md §6).
  if (success && !all_valid) __builtin_trap();
  // docs/protocol.md §5: every response carries a current DPoP-Nonce.
  if (!net::FindHeader(resp.headers, "DPoP-Nonce").has_value()) __builtin_trap();
  // docs/protocol.md §7: error bodies carry only a code and a generic message.
  if (resp.status >= 400) CheckErrorShape(resp.body);
  if (resp.body.find(w.api_key_value) != std::string::npos || resp.body.find(w.token) != std::string::npos) {
    __builtin_trap();
  }

  // Keep a usable session for the next input.
  if (success && endpoint == 2) {  // the pin moved to next_dpop
    w.dpop = std::move(w.next_dpop);
    w.next_dpop = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(DefaultRandom())));
  }
  if (success && endpoint == 3) w.Establish();
  return 0;
}
