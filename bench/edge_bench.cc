// Edge microbenchmarks: EdgeService::Handle for one establishment and one
// unwrap (1 and 16 capsules) through all four gates, the store (SQLite, in
// memory), the embedded CVS and a fake Kubernetes client, with no sockets.
// The gap between these and the crypto floor (bench/load/crypto_floor.h) is
// the edge's own overhead: JSON, store, audit, allocation (docs/performance.md).
// Client work (DPoP signing) is excluded with PauseTiming.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "cold_cache.h"
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
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "kube/testing/fake_kube_client.h"
#include "net/http_server.h"
#include "store/sqlite_store.h"

namespace astis::edge {
namespace {

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) std::abort();
  return std::move(r).value();
}

// DiscardAudit accepts every event (the file log's cost is measured by the
// load generator, which uses the real one).
class DiscardAudit final : public audit::AuditSink {
 public:
  Status Append(const audit::AuditEvent&) override { return OkStatus(); }
};

constexpr char kCluster[] = "bench-c1";
constexpr char kIssuer[] = "https://oidc.bench.example.com";
constexpr char kNs[] = "bench";
constexpr char kSa[] = "loadgen";
constexpr char kPod[] = "bench-pod-0";
constexpr char kUid[] = "0b7c4c1e-1f7e-4d8a-9a51-0a3c2e9d7f10";
constexpr char kBase[] = "https://edge.bench.example.com";
const std::string kDigest = "sha256:" + std::string(64, 'c');

struct World {
  World() {
    Random& rng = DefaultRandom();
    Clock& clock = DefaultClock();
    store = Must(store::OpenSqliteStore(":memory:"));
    rsa = std::make_unique<SigningKey>(Must(SigningKey::GenerateRsa(2048)));
    Json jwk = rsa->PublicJwkMembers();
    jwk["kid"] = "rsa-1";
    store::Cluster c;
    c.name = kCluster;
    c.issuer = kIssuer;
    c.jwks_json = DumpJson(Json{{"keys", Json::array({jwk})}});
    c.api_url = "https://k8s.bench.example.com";
    if (!store->PutCluster(c).ok()) std::abort();
    if (!store->PutWorkload(store::Workload{kCluster, kNs, kSa, {kDigest}}).ok()) std::abort();
    GeneratedApiKey key = Must(GenerateApiKey(rng));
    store::ApiKey rec;
    rec.id = key.id;
    rec.hash.assign(key.hash.begin(), key.hash.end());
    rec.cluster = kCluster;
    rec.namespace_ = kNs;
    rec.service_account = kSa;
    rec.created_at = clock.NowUnix() - 10;
    if (!store->CreateApiKey(rec).ok()) std::abort();
    api_key = std::string(key.header_value.RevealString());

    kube::PodView p;
    p.name = kPod;
    p.ns = kNs;
    p.uid = kUid;
    p.phase = "Running";
    p.service_account = kSa;  // gate 4: the pod runs as the token's ServiceAccount
    p.containers.push_back({"app", "registry.example.com/app@" + kDigest});
    p.container_statuses.push_back({"app", "registry.example.com/app@" + kDigest, "registry.example.com/app@" + kDigest});
    kube.PutPod(p);

    auto org = Must(capsule::OrgPrivateKey::Generate(rng));
    org_public = std::make_unique<capsule::OrgPublicKey>(org.public_key());
    cvs = std::make_unique<cvs::CvsService>(Must(capsule::OrgKeySet::Create(std::move(org))), rng, &audit);

    EdgeConfig config;
    config.external_base_url = kBase;
    config.tls = {"unused.crt", "unused.key"};
    config.store.path = ":memory:";
    config.cvs.org_keys = "unused.json";
    config.audit_log = "unused.log";
    config.limits.rate_per_api_key_per_minute = 1000000;
    config.limits.rate_per_pod_uid_per_minute = 1000000;
    EdgeDeps deps;
    deps.store = store.get();
    deps.kube = [this](std::string_view) -> kube::KubeClient* { return &kube; };
    deps.cvs = cvs.get();
    deps.audit = &audit;
    deps.clock = &clock;
    deps.rng = &rng;
    service = Must(EdgeService::Create(config, deps));

    dpop = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(rng)));
    recipient = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(rng)));
    const int64_t now = clock.NowUnix();
    Json claims{{"aud", Json::array({"astis"})},
                {"exp", now + 3600},
                {"iat", now - 10},
                {"iss", kIssuer},
                {"jti", "b3b0b7c1-3f0e-4c1b-9d3e-2f6a1c0e9d88"},
                {"kubernetes.io",
                 {{"namespace", kNs},
                  {"pod", {{"name", kPod}, {"uid", kUid}}},
                  {"serviceaccount", {{"name", kSa}, {"uid", "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}}}}},
                {"nbf", now - 10},
                {"sub", std::string("system:serviceaccount:") + kNs + ":" + kSa}};
    token = jose::SignCompactJws(Json{{"alg", "RS256"}, {"kid", "rsa-1"}}, DumpJson(claims), *rsa,
                                 SignatureAlg::kRs256);
    establish_body = DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(recipient->public_key()).ToJson()}});
  }

  std::string Nonce() {
    net::ServerRequest req;
    req.method = "GET";
    req.path = req.target = "/healthz";
    return net::FindHeader(service->Handle(req).headers, "DPoP-Nonce").value_or("");
  }

  net::ServerRequest Build(const std::string& path, const std::string& body, const std::string& nonce) {
    net::ServerRequest req;
    req.method = "POST";
    req.path = req.target = path;
    req.body = body;
    req.headers.emplace_back("X-Astis-Api-Key", api_key);
    req.headers.emplace_back("Authorization", "DPoP " + token);
    const std::string jti = Must(jose::NewDpopJti(DefaultRandom()));
    const std::string bh = jose::DpopHash(body);
    req.headers.emplace_back("DPoP", jose::MakeDpopProof(*dpop, "POST", std::string(kBase) + path,
                                                         DefaultClock().NowUnix(), jti, jose::DpopHash(token),
                                                         nonce, bh));
    req.headers.emplace_back("Content-Type", "application/json");
    return req;
  }

  std::unique_ptr<store::Store> store;
  std::unique_ptr<SigningKey> rsa;
  std::string api_key;
  kube::testing::FakeKubeClient kube;
  DiscardAudit audit;
  std::unique_ptr<capsule::OrgPublicKey> org_public;
  std::unique_ptr<cvs::CvsService> cvs;
  std::unique_ptr<EdgeService> service;
  std::unique_ptr<Ed25519PrivateKey> dpop;
  std::unique_ptr<X25519PrivateKey> recipient;
  std::string token;
  std::string establish_body;
};

World& GetWorld() {
  static World* w = new World();
  return *w;
}

void BM_EdgeEstablish(benchmark::State& state) {
  World& w = GetWorld();
  for (auto _ : state) {
    state.PauseTiming();
    net::ServerRequest req = w.Build("/v1/sessions", w.establish_body, w.Nonce());
    state.ResumeTiming();
    net::ServerResponse resp = w.service->Handle(req);
    if (resp.status != 201) state.SkipWithError(("establish: HTTP " + std::to_string(resp.status)).c_str());
  }
}
BENCHMARK(BM_EdgeEstablish)->Unit(benchmark::kMicrosecond);

// RunUnwrap establishes a session, then times one unwrap of `capsules`
// capsules per iteration; with `cold`, its data is read (untimed) before
// each request.
void RunUnwrap(benchmark::State& state, int64_t capsules, const bench::ColdCache* cold) {
  World& w = GetWorld();
  const std::string nonce = w.Nonce();
  auto est = w.service->Handle(w.Build("/v1/sessions", w.establish_body, nonce));
  auto j = ParseJson(est.body);
  if (est.status != 201 || !j.ok()) {
    state.SkipWithError("establish failed");
    return;
  }
  const std::string session = (*j)["session"].get<std::string>();
  FakeClock seal_clock(DefaultClock().NowUnix());
  Json caps = Json::array();
  for (int64_t i = 0; i < capsules; ++i) {
    const std::string pt = "value " + std::to_string(i);
    auto v = Must(capsule::Seal(*w.org_public, capsule::Binding{kCluster, kNs, kSa, "db", "k" + std::to_string(i)},
                                AsBytes(pt), DefaultRandom(), seal_clock));
    caps.push_back(B64uEncode(v.capsule().bytes()));
  }
  const std::string body = DumpJson(Json{{"session", session}, {"capsules", caps}});
  for (auto _ : state) {
    state.PauseTiming();
    net::ServerRequest req = w.Build("/v1/unwrap", body, w.Nonce());
    if (cold != nullptr) cold->Evict();
    state.ResumeTiming();
    net::ServerResponse resp = w.service->Handle(req);
    if (resp.status != 200) state.SkipWithError(("unwrap: HTTP " + std::to_string(resp.status)).c_str());
  }
}

void BM_EdgeUnwrap(benchmark::State& state) {
  RunUnwrap(state, state.range(0), nullptr);
  state.counters["secrets/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EdgeUnwrap)->Arg(1)->Arg(16)->Arg(64)->Unit(benchmark::kMicrosecond);

// BM_EdgeUnwrapCold: BM_EdgeUnwrap/1 with range(0) KiB of other data read
// (untimed) before every request: 0 = the warm figure; on the 2-core VM of
// docs/performance.md, 2048 = both cores' L2 together and 65536 = twice
// the L3. Cold / warm is how much more the same request costs when it
// finds the caches cold, as every request does at low load
// (docs/performance.md "Cold caches"; compare astis_crypto_bench's
// BM_UnwrapCryptoCold).
void BM_EdgeUnwrapCold(benchmark::State& state) {
  const bench::ColdCache cold(static_cast<size_t>(state.range(0)));
  RunUnwrap(state, 1, &cold);
}
BENCHMARK(BM_EdgeUnwrapCold)->Arg(0)->Arg(2048)->Arg(8192)->Arg(32768)->Arg(65536)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace astis::edge
