// Store microbenchmarks: the store calls one edge request makes (API key
// lookup, two rate-limit counters, the DPoP jti replay insert, the session
// read; EnrollSession on establishment), on SQLite (a file, as the edge
// runs it) and on PostgreSQL when its server binaries are installed (a
// throwaway cluster from src/store/testing/pg_server.h; skipped otherwise).
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "net/testing/test_pki.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "store/testing/pg_server.h"

namespace astis::store {
namespace {

constexpr int64_t kNow = 1'800'000'000;

struct Backend {
  std::unique_ptr<testing::PgServer> pg;  // PostgreSQL only
  std::unique_ptr<Store> store;
  std::string error;  // why the backend is unavailable
  std::string dir;    // SQLite only: the temporary directory, removed at exit
  ~Backend() {
    store.reset();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

Status Seed(Store& s) {
  Cluster c;
  c.name = "bench-c1";
  c.issuer = "https://issuer.example.com";
  // About the size of a real cluster JWKS (an RSA-2048 and a P-256 key).
  c.jwks_json = R"({"keys":[{"kty":"RSA","kid":"rsa-1","alg":"RS256","use":"sig","e":"AQAB","n":")" +
                std::string(342, 'x') + R"("},{"kty":"EC","kid":"ec-1","alg":"ES256","use":"sig","crv":"P-256","x":")" +
                std::string(43, 'y') + R"(","y":")" + std::string(43, 'z') + R"("}]})";
  c.api_url = "https://127.0.0.1:6443";
  c.created_at = kNow;
  ASTIS_RETURN_IF_ERROR(s.PutCluster(c));
  Workload w;
  w.cluster = "bench-c1";
  w.namespace_ = "bench";
  w.service_account = "loadgen";
  w.image_digests = {"sha256:" + std::string(64, 'a'), "sha256:" + std::string(64, 'b')};
  ASTIS_RETURN_IF_ERROR(s.PutWorkload(w));
  ApiKey k;
  k.id = "benchkey0001";
  k.hash.assign(32, 0x42);
  k.cluster = "bench-c1";
  k.namespace_ = "bench";
  k.service_account = "loadgen";
  k.created_at = kNow;
  return s.CreateApiKey(k);
}

// GetBackend opens each backend once per process (0: SQLite, 1: PostgreSQL).
Backend& GetBackend(int which) {
  static Backend backends[2];
  static std::once_flag once[2];
  std::call_once(once[which], [which] {
    Backend& b = backends[which];
    if (which == 0) {
      auto dir = net::testing::MakeTempDir();
      if (dir.ok()) b.dir = *dir;
      auto s = dir.ok() ? OpenSqliteStore(*dir + "/bench.db") : Result<std::unique_ptr<Store>>(dir.status());
      if (!s.ok()) {
        b.error = s.status().ToString();
        return;
      }
      b.store = std::move(s).value();
    } else {
      if (!testing::PgServer::BinariesAvailable()) {
        b.error = "PostgreSQL server binaries not installed";
        return;
      }
      auto pg = testing::PgServer::Start();
      if (!pg.ok()) {
        b.error = pg.status().ToString();
        return;
      }
      b.pg = std::move(pg).value();
      auto s = OpenPostgresStore(SecretBytes::CopyFrom(b.pg->Dsn()));
      if (!s.ok()) {
        b.error = s.status().ToString();
        return;
      }
      b.store = std::move(s).value();
    }
    if (Status st = Seed(*b.store); !st.ok()) {
      b.error = st.ToString();
      b.store.reset();
    }
  });
  return backends[which];
}

Store* StoreOrSkip(benchmark::State& state) {
  Backend& b = GetBackend(static_cast<int>(state.range(0)));
  state.SetLabel(state.range(0) == 0 ? "sqlite" : "postgres");
  if (b.store == nullptr) state.SkipWithError(("backend unavailable: " + b.error).c_str());
  return b.store.get();
}

std::string Unique(const char* prefix) {
  static std::atomic<uint64_t> n{0};
  return std::string(prefix) + std::to_string(n.fetch_add(1));
}

void BM_StoreGetApiKey(benchmark::State& state) {
  Store* s = StoreOrSkip(state);
  if (s == nullptr) return;
  for (auto _ : state) {
    auto k = s->GetApiKey("benchkey0001");
    if (!k.ok()) state.SkipWithError("get failed");
    benchmark::DoNotOptimize(k);
  }
}

void BM_StoreInsertJti(benchmark::State& state) {
  Store* s = StoreOrSkip(state);
  if (s == nullptr) return;
  for (auto _ : state) {
    auto r = s->InsertJti("jkt-bench", Unique("jti-"), kNow + 120, kNow);
    if (!r.ok() || !*r) state.SkipWithError("insert failed");
  }
}

void BM_StoreConsumeRate(benchmark::State& state) {
  Store* s = StoreOrSkip(state);
  if (s == nullptr) return;
  for (auto _ : state) {
    auto r = s->ConsumeRate("key:benchkey0001", kNow, kNow + 60, 1'000'000'000);
    if (!r.ok()) state.SkipWithError("rate failed");
  }
}

// The writes of one /v1 request: both rate counters and the jti, in one
// store call (what the edge does) ...
void BM_StoreAdmitRequest(benchmark::State& state) {
  Store* s = StoreOrSkip(state);
  if (s == nullptr) return;
  const std::array<RateCharge, 2> charges{RateCharge{"key:benchkey0001", kNow, kNow + 60, 1'000'000'000},
                                          RateCharge{"pod:uid-bench", kNow, kNow + 60, 1'000'000'000}};
  for (auto _ : state) {
    const std::string jti = Unique("jti-");
    auto r = s->AdmitRequest(charges, JtiUse{"jkt-bench", jti, kNow + 120}, kNow);
    if (!r.ok() || r->outcome != Admission::Outcome::kAdmitted) state.SkipWithError("admit failed");
  }
}

// ... and the same writes as three calls (what it did before AdmitRequest).
void BM_StoreThreeWrites(benchmark::State& state) {
  Store* s = StoreOrSkip(state);
  if (s == nullptr) return;
  for (auto _ : state) {
    auto a = s->ConsumeRate("key:benchkey0001", kNow, kNow + 60, 1'000'000'000);
    auto b = s->ConsumeRate("pod:uid-bench", kNow, kNow + 60, 1'000'000'000);
    auto c = s->InsertJti("jkt-bench", Unique("jti-"), kNow + 120, kNow);
    if (!a.ok() || !b.ok() || !c.ok()) state.SkipWithError("write failed");
  }
}

// The reads gate 2 and gate 4 make per request.
void BM_StoreListClusters(benchmark::State& state) {
  Store* s = StoreOrSkip(state);
  if (s == nullptr) return;
  for (auto _ : state) {
    auto r = s->ListClusters(std::nullopt);
    if (!r.ok() || r->empty()) state.SkipWithError("list failed");
    benchmark::DoNotOptimize(r);
  }
}

void BM_StoreGetWorkload(benchmark::State& state) {
  Store* s = StoreOrSkip(state);
  if (s == nullptr) return;
  for (auto _ : state) {
    auto r = s->GetWorkload(astis::store::kDefaultOrg, "bench-c1", "bench", "loadgen");
    if (!r.ok()) state.SkipWithError("get workload failed");
    benchmark::DoNotOptimize(r);
  }
}

Session Candidate(const std::string& uid) {
  Session c;
  c.id = Unique("sess-0123456789abcdef-");
  c.cluster = "bench-c1";
  c.namespace_ = "bench";
  c.service_account = "loadgen";
  c.pod_name = "pod-" + uid;
  c.pod_uid = uid;
  c.jkt = "jkt-0123456789abcdef0123456789abcdef012345";
  c.recipient_jwk = R"({"crv":"X25519","kty":"OKP","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"})";
  c.created_at = kNow;
  c.expires_at = kNow + 900;
  return c;
}

// BM_StoreEnrollNew creates a session for a new pod UID each time.
void BM_StoreEnrollNew(benchmark::State& state) {
  Store* s = StoreOrSkip(state);
  if (s == nullptr) return;
  for (auto _ : state) {
    auto r = s->EnrollSession(Candidate(Unique("uid-new-")), kNow);
    if (!r.ok()) state.SkipWithError("enroll failed");
  }
}

// BM_StoreEnrollExtend re-establishes one pod's session (the same jkt).
void BM_StoreEnrollExtend(benchmark::State& state) {
  Store* s = StoreOrSkip(state);
  if (s == nullptr) return;
  const std::string uid = Unique("uid-extend-");
  for (auto _ : state) {
    auto r = s->EnrollSession(Candidate(uid), kNow);
    if (!r.ok()) state.SkipWithError("enroll failed");
  }
}

void BM_StoreGetSession(benchmark::State& state) {
  Store* s = StoreOrSkip(state);
  if (s == nullptr) return;
  auto enrolled = s->EnrollSession(Candidate(Unique("uid-get-")), kNow);
  if (!enrolled.ok()) {
    state.SkipWithError("enroll failed");
    return;
  }
  for (auto _ : state) {
    auto r = s->GetSession(enrolled->session.id);
    if (!r.ok()) state.SkipWithError("get failed");
    benchmark::DoNotOptimize(r);
  }
}

BENCHMARK(BM_StoreGetApiKey)->Arg(0)->Arg(1);
BENCHMARK(BM_StoreInsertJti)->Arg(0)->Arg(1);
BENCHMARK(BM_StoreConsumeRate)->Arg(0)->Arg(1);
BENCHMARK(BM_StoreEnrollNew)->Arg(0)->Arg(1);
BENCHMARK(BM_StoreEnrollExtend)->Arg(0)->Arg(1);
BENCHMARK(BM_StoreGetSession)->Arg(0)->Arg(1);
BENCHMARK(BM_StoreAdmitRequest)->Arg(0)->Arg(1);
BENCHMARK(BM_StoreThreeWrites)->Arg(0)->Arg(1);
BENCHMARK(BM_StoreListClusters)->Arg(0)->Arg(1);
BENCHMARK(BM_StoreGetWorkload)->Arg(0)->Arg(1);

}  // namespace
}  // namespace astis::store
