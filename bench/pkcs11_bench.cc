// Rewrap per capsule with the org key in a PKCS#11 token (docs/hsm.md)
// against the same work with in-memory keys, in the same run: the CVS's
// whole per-capsule work (parse, scope check, HPKE open, HPKE seal to the
// pod) through CvsService::Rewrap, batches of 1 and 8 capsules. The token is
// SoftHSM2 in a private directory (hsm/testing/softhsm.h), so its numbers
// are the cost of the PKCS#11 path (a session from the pool, C_DeriveKey, a
// secret object read and destroyed) on this machine, not of a network HSM;
// docs/performance.md "Org key in a PKCS#11 token" has the ratio.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "cvs/cvs.h"
#include "cvs/testing/verified_scope.h"
#include "hsm/pkcs11.h"
#include "hsm/testing/softhsm.h"

namespace astis {
namespace {

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "pkcs11_bench: %s: %s\n", what, r.status().ToString().c_str());
    std::abort();
  }
  return std::move(r).value();
}

// Arm is one CVS with one active org key and capsules sealed to it.
struct Arm {
  Arm(capsule::OrgKeySet keys, const capsule::OrgPublicKey& pub)
      : service(std::make_unique<cvs::CvsService>(std::move(keys), DefaultRandom())) {
    FakeClock clock(1'800'000'000);
    for (int i = 0; i < 8; ++i) {
      capsule::Binding b{"prod-eu1", "payments", "api", "db-creds", "k" + std::to_string(i)};
      auto v = Must(capsule::Seal(pub, b, AsBytes(std::string("postgres://app:s3cr3t@db:5432/app")),
                                  DefaultRandom(), clock),
                    "seal");
      const std::string& bytes = v.capsule().bytes();
      capsules.emplace_back(bytes.begin(), bytes.end());
    }
  }
  std::unique_ptr<cvs::CvsService> service;
  std::vector<std::vector<uint8_t>> capsules;
};

// World holds the token (first, so it is removed last) and the three arms.
struct World {
  World() {
    if (!hsm::testing::SoftHsmAvailable()) {
      std::fprintf(stderr, "pkcs11_bench: SoftHSM2 is not installed (scripts/install-deps.sh)\n");
      std::abort();
    }
    token = Must(hsm::testing::SoftHsmToken::Create(), "softhsm token");
    std::shared_ptr<hsm::Pkcs11Module> module = Must(hsm::Pkcs11Module::Load(token->Config(8)), "load module");
    const std::string uri = token->KeyUri("bench-org-key");
    Must(module->GenerateP256Key(uri), "generate");
    auto in_token = Must(capsule::OrgPrivateKey::FromToken(Must(module->OpenP256Key(uri), "open"), uri), "token key");
    const capsule::OrgPublicKey token_pub = in_token.public_key();
    token_arm = std::make_unique<Arm>(Must(capsule::OrgKeySet::Create(std::move(in_token)), "set"), token_pub);
    auto p256 = Must(capsule::OrgPrivateKey::Generate(capsule::OrgKeySuite::kP256, DefaultRandom()), "p256");
    const capsule::OrgPublicKey p256_pub = p256.public_key();
    p256_arm = std::make_unique<Arm>(Must(capsule::OrgKeySet::Create(std::move(p256)), "set"), p256_pub);
    auto x = Must(capsule::OrgPrivateKey::Generate(capsule::OrgKeySuite::kX25519, DefaultRandom()), "x25519");
    const capsule::OrgPublicKey x_pub = x.public_key();
    x25519_arm = std::make_unique<Arm>(Must(capsule::OrgKeySet::Create(std::move(x)), "set"), x_pub);
  }
  std::unique_ptr<hsm::testing::SoftHsmToken> token;
  std::unique_ptr<Arm> token_arm;
  std::unique_ptr<Arm> p256_arm;
  std::unique_ptr<Arm> x25519_arm;
};

World& TheWorld() {
  static World world;
  return world;
}

void RunArm(benchmark::State& state, Arm& arm) {
  const auto batch = static_cast<size_t>(state.range(0));
  const std::vector<std::vector<uint8_t>> caps(arm.capsules.begin(), arm.capsules.begin() + batch);
  const cvs::VerifiedScope scope = cvs::testing::TestScope("prod-eu1", "payments", "api");
  const auto pod = Must(X25519PrivateKey::Generate(DefaultRandom()), "pod key");
  for (auto _ : state) {
    auto r = arm.service->Rewrap(scope, pod.public_key(), "session-0123456789abcdef0123456789", caps);
    if (!r.ok() || (*r)[0].code != Code::kOk) state.SkipWithError("rewrap failed");
    benchmark::DoNotOptimize(r);
  }
  // items/s is capsules rewrapped per second; time per iteration / batch is
  // the per-capsule cost.
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
}

void BM_RewrapTokenP256(benchmark::State& state) { RunArm(state, *TheWorld().token_arm); }
void BM_RewrapMemoryP256(benchmark::State& state) { RunArm(state, *TheWorld().p256_arm); }
void BM_RewrapMemoryX25519(benchmark::State& state) { RunArm(state, *TheWorld().x25519_arm); }
BENCHMARK(BM_RewrapTokenP256)->Arg(1)->Arg(8);
BENCHMARK(BM_RewrapMemoryP256)->Arg(1)->Arg(8);
BENCHMARK(BM_RewrapMemoryX25519)->Arg(1)->Arg(8);
// Eight threads on one CVS: the token's session pool (8 sessions) under load.
BENCHMARK(BM_RewrapTokenP256)->Arg(8)->Threads(8)->UseRealTime();
BENCHMARK(BM_RewrapMemoryP256)->Arg(8)->Threads(8)->UseRealTime();

}  // namespace
}  // namespace astis
