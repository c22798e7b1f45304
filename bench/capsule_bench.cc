// Capsule microbenchmarks: what the CVS parses per capsule
// (docs/sealed-value-format.md "The capsule") and the SDK per sealed value
// ("Shape"), plus the CVS's whole per-capsule
// work: parse, open with the org key, rewrap to the pod.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "capsule/capsule.h"
#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/random.h"
#include "crypto/x25519.h"

namespace astis::capsule {
namespace {

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) std::abort();
  return std::move(r).value();
}

struct Fixture {
  Fixture() : clock(1'800'000'000) {
    org = std::make_unique<OrgPrivateKey>(Must(OrgPrivateKey::Generate(DefaultRandom())));
    const std::string plaintext = "postgres://app:s3cr3t@db:5432/app";
    value = std::make_unique<SealedValue>(Must(Seal(org->public_key(),
                                                    Binding{"prod-eu1", "payments", "api", "db-creds", "password"},
                                                    AsBytes(plaintext), DefaultRandom(), clock)));
    text = value->ToString();
  }
  FakeClock clock;
  std::unique_ptr<OrgPrivateKey> org;
  std::unique_ptr<SealedValue> value;
  std::string text;
};

void BM_CapsuleParse(benchmark::State& state) {
  Fixture f;
  const std::string& bytes = f.value->capsule().bytes();
  for (auto _ : state) {
    auto c = Capsule::Parse(std::string_view(bytes));
    if (!c.ok()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(c);
  }
  state.SetLabel(std::to_string(bytes.size()) + " bytes");
}
BENCHMARK(BM_CapsuleParse);

void BM_SealedValueParse(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) {
    auto v = SealedValue::Parse(f.text);
    if (!v.ok()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_SealedValueParse);

// BM_CvsPerCapsule is the CVS's work for one capsule of an unwrap: parse,
// scope check, HPKE open with the org key, HPKE seal to the pod.
void BM_CvsPerCapsule(benchmark::State& state) {
  Fixture f;
  auto keys = Must(OrgKeySet::Create(Must(OrgPrivateKey::FromJwk(f.org->ToPrivateJwk(), SecretBytes::Protection::kPlain))));
  const auto pod = Must(X25519PrivateKey::Generate(DefaultRandom()));
  const std::string& bytes = f.value->capsule().bytes();
  for (auto _ : state) {
    auto c = Capsule::Parse(std::string_view(bytes));
    if (!c.ok() || !CheckCapsuleScope(*c, "prod-eu1", "payments", "api").ok()) state.SkipWithError("parse failed");
    auto dek = OpenCapsule(keys, *c);
    if (!dek.ok()) state.SkipWithError("open failed");
    auto r = Rewrap(*dek, pod.public_key(), c->hash(), "session-0123456789abcdef0123456789", DefaultRandom());
    if (!r.ok()) state.SkipWithError("rewrap failed");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_CvsPerCapsule);

// BM_SdkOpenAndDecrypt is the pod's work per secret: open the rewrapped DEK
// and decrypt the value.
void BM_SdkOpenAndDecrypt(benchmark::State& state) {
  Fixture f;
  auto keys = Must(OrgKeySet::Create(Must(OrgPrivateKey::FromJwk(f.org->ToPrivateJwk(), SecretBytes::Protection::kPlain))));
  const auto pod = Must(X25519PrivateKey::Generate(DefaultRandom()));
  const Capsule& c = f.value->capsule();
  const std::string session = "session-0123456789abcdef0123456789";
  auto dek = Must(OpenCapsule(keys, c));
  auto r = Must(Rewrap(dek, pod.public_key(), c.hash(), session, DefaultRandom()));
  for (auto _ : state) {
    auto d = OpenRewrapped(pod, c.hash(), session, r.enc, r.ct);
    if (!d.ok()) state.SkipWithError("open failed");
    auto p = DecryptValue(*d, *f.value);
    if (!p.ok()) state.SkipWithError("decrypt failed");
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_SdkOpenAndDecrypt);

}  // namespace
}  // namespace astis::capsule
