// JOSE microbenchmarks: the per-request verification cost on the edge
// (docs/performance.md "The crypto floor"): one RS256 or ES256 ServiceAccount token
// verify plus one EdDSA DPoP proof verify, and pinned-JWKS parsing.
#include <string>

#include <benchmark/benchmark.h>

#include "common/json.h"
#include "crypto/random.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"

namespace astis::jose {
namespace {

constexpr const char* kClaims =
    R"({"aud":["astis"],"exp":1764118800,"iat":1764115200,"iss":"https://kubernetes.default.svc",)"
    R"("kubernetes.io":{"namespace":"payments","pod":{"name":"api-7d9f","uid":"6f1c"},"serviceaccount":{"name":"api"}},)"
    R"("nbf":1764115200,"sub":"system:serviceaccount:payments:api"})";

void VerifyTokenBench(benchmark::State& state, Result<SigningKey> key, SignatureAlg alg) {
  if (!key.ok()) {
    state.SkipWithError("key generation failed");
    return;
  }
  Json members = key->PublicJwkMembers();
  members["kid"] = "k1";
  auto jwk = Jwk::Parse(members);
  std::string token = SignCompactJws(Json{{"kid", "k1"}, {"typ", "JWT"}}, kClaims, *key, alg);
  if (!jwk.ok()) {
    state.SkipWithError("jwk import failed");
    return;
  }
  for (auto _ : state) {
    auto jws = UnverifiedJws::Parse(token);
    auto verified = VerifyJws(*jws, *jwk);
    benchmark::DoNotOptimize(verified);
    if (!verified.ok()) state.SkipWithError("verify failed");
  }
}

void BM_Rs256Verify(benchmark::State& state) { VerifyTokenBench(state, SigningKey::GenerateRsa(2048), SignatureAlg::kRs256); }
void BM_Es256Verify(benchmark::State& state) {
  VerifyTokenBench(state, SigningKey::GenerateEc(PublicKeyKind::kEcP256), SignatureAlg::kEs256);
}
void BM_EdDsaVerify(benchmark::State& state) {
  VerifyTokenBench(state, SigningKey::GenerateEd25519(DefaultRandom()), SignatureAlg::kEdDsa);
}

void BM_DpopProofVerify(benchmark::State& state) {
  auto key = Ed25519PrivateKey::Generate(DefaultRandom());
  if (!key.ok()) {
    state.SkipWithError("key generation failed");
    return;
  }
  const std::string ath = DpopHash("token");
  const std::string proof = MakeDpopProof(*key, "POST", "https://edge.example.com/v1/unwrap", 1764115200,
                                          "q3a8Zr0XkH1yJmQb2Vt7dA", ath, "nonce-1");
  DpopExpectations e;
  e.htm = "POST";
  e.htu = "https://edge.example.com/v1/unwrap";
  e.ath = ath;
  e.now = 1764115200;
  e.nonce_valid = [](std::string_view n) { return n == "nonce-1"; };
  for (auto _ : state) {
    auto r = VerifyDpopProof(proof, e);
    benchmark::DoNotOptimize(r);
    if (!r.ok()) state.SkipWithError("verify failed");
  }
}

void BM_JwksParse(benchmark::State& state) {
  Json keys = Json::array();
  for (int i = 0; i < 2; ++i) {
    auto rsa = SigningKey::GenerateRsa(2048);
    auto ec = SigningKey::GenerateEc();
    if (!rsa.ok() || !ec.ok()) {
      state.SkipWithError("key generation failed");
      return;
    }
    Json a = rsa->PublicJwkMembers();
    a["kid"] = "rsa" + std::to_string(i);
    Json b = ec->PublicJwkMembers();
    b["kid"] = "ec" + std::to_string(i);
    keys.push_back(a);
    keys.push_back(b);
  }
  const std::string text = DumpJson(Json{{"keys", keys}});
  for (auto _ : state) {
    auto set = JwkSet::Parse(text);
    benchmark::DoNotOptimize(set);
    if (!set.ok()) state.SkipWithError("parse failed");
  }
}

BENCHMARK(BM_Rs256Verify);
BENCHMARK(BM_Es256Verify);
BENCHMARK(BM_EdDsaVerify);
BENCHMARK(BM_DpopProofVerify);
BENCHMARK(BM_JwksParse);

}  // namespace
}  // namespace astis::jose
