// Microbenchmarks for astis::crypto: the per-request crypto floor (see
// docs/architecture.md). Build: -DASTIS_BUILD_BENCH=ON, target
// astis_crypto_bench, in a release build.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "cold_cache.h"
#include "crypto/aead.h"
#include "crypto/ed25519.h"
#include "crypto/hkdf.h"
#include "crypto/hpke.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "crypto/sha256.h"
#include "crypto/x25519.h"

namespace astis {
namespace {

// Must aborts the benchmark on an error: a failed primitive makes the
// numbers meaningless.
template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) std::abort();
  return std::move(r).value();
}

std::vector<uint8_t> RandomBytes(size_t n) {
  std::vector<uint8_t> v(n);
  if (!DefaultRandom().Fill(v).ok()) std::abort();
  return v;
}

void BM_Sha256(benchmark::State& state) {
  const auto data = RandomBytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(data));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(64)->Arg(1024);

void BM_HmacSha256(benchmark::State& state) {
  const std::vector<uint8_t> key(32, 0x42), data(static_cast<size_t>(state.range(0)), 0x17);
  for (auto _ : state) benchmark::DoNotOptimize(HmacSha256(key, data));
}
BENCHMARK(BM_HmacSha256)->Arg(64);

void BM_HkdfExtractExpand32(benchmark::State& state) {
  const auto ikm = RandomBytes(32), salt = RandomBytes(32), info = RandomBytes(16);
  for (auto _ : state) {
    auto prk = Must(HkdfExtract(salt, ikm));
    benchmark::DoNotOptimize(Must(HkdfExpand(prk.Reveal(), info, 32)));
  }
}
BENCHMARK(BM_HkdfExtractExpand32);

void BM_Aes256GcmSeal(benchmark::State& state) {
  const auto key = RandomBytes(32), nonce = RandomBytes(12), aad = RandomBytes(46);
  const auto pt = RandomBytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(Must(AeadSeal(AeadAlg::kAes256Gcm, key, nonce, aad, pt)));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Aes256GcmSeal)->Arg(64)->Arg(4096);

void BM_Aes256GcmOpen(benchmark::State& state) {
  const auto key = RandomBytes(32), nonce = RandomBytes(12), aad = RandomBytes(46);
  const auto pt = RandomBytes(static_cast<size_t>(state.range(0)));
  const auto ct = Must(AeadSeal(AeadAlg::kAes256Gcm, key, nonce, aad, pt));
  for (auto _ : state) benchmark::DoNotOptimize(Must(AeadOpen(AeadAlg::kAes256Gcm, key, nonce, aad, ct)));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Aes256GcmOpen)->Arg(64)->Arg(4096);

void BM_X25519Keygen(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Must(X25519PrivateKey::Generate(DefaultRandom())));
}
BENCHMARK(BM_X25519Keygen);

void BM_X25519Agree(benchmark::State& state) {
  const auto a = Must(X25519PrivateKey::Generate(DefaultRandom()));
  const auto b = Must(X25519PrivateKey::Generate(DefaultRandom()));
  for (auto _ : state) benchmark::DoNotOptimize(Must(a.Agree(b.public_key())));
}
BENCHMARK(BM_X25519Agree);

void BM_Ed25519Sign(benchmark::State& state) {
  const auto sk = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  const auto msg = RandomBytes(256);  // about a DPoP signing input
  for (auto _ : state) benchmark::DoNotOptimize(sk.Sign(msg));
}
BENCHMARK(BM_Ed25519Sign);

void BM_Ed25519Verify(benchmark::State& state) {
  const auto sk = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  const auto msg = RandomBytes(256);
  const auto sig = sk.Sign(msg);
  for (auto _ : state) {
    if (!Ed25519Verify(sk.public_key(), msg, sig).ok()) std::abort();
  }
}
BENCHMARK(BM_Ed25519Verify);

// HPKE with a 32-byte DEK, info and aad sized like a capsule (docs/sealed-value-format.md "The capsule").
void BM_HpkeSealBase(benchmark::State& state) {
  const auto skR = Must(X25519PrivateKey::Generate(DefaultRandom()));
  const auto dek = RandomBytes(32), info = RandomBytes(16), aad = RandomBytes(64);
  for (auto _ : state)
    benchmark::DoNotOptimize(
        Must(HpkeSealBase(HpkeAeadId::kAes256Gcm, skR.public_key(), info, aad, dek, DefaultRandom())));
}
BENCHMARK(BM_HpkeSealBase);

void BM_HpkeOpenBase(benchmark::State& state) {
  const auto skR = Must(X25519PrivateKey::Generate(DefaultRandom()));
  const auto dek = RandomBytes(32), info = RandomBytes(16), aad = RandomBytes(64);
  const auto sealed = Must(HpkeSealBase(HpkeAeadId::kAes256Gcm, skR.public_key(), info, aad, dek, DefaultRandom()));
  for (auto _ : state)
    benchmark::DoNotOptimize(Must(HpkeOpenBase(HpkeAeadId::kAes256Gcm, sealed.enc, skR, info, aad, sealed.ct)));
}
BENCHMARK(BM_HpkeOpenBase);

// BM_UnwrapCryptoCold: the crypto of one unwrap whose token verification is
// kept (gate 3's Ed25519 verify of the DPoP proof, the CVS's HPKE open of the
// capsule and its HPKE seal to the pod), with range(0) KiB of other data read
// (untimed) before each: 0 = warm, 65536 = twice the L3 of the VM of
// docs/performance.md. Cold / warm here is what cold caches cost the floor
// itself; BM_EdgeUnwrapCold (astis_edge_bench) is the same for the whole
// request.
void BM_UnwrapCryptoCold(benchmark::State& state) {
  const auto dpop = Must(Ed25519PrivateKey::Generate(DefaultRandom()));
  const auto msg = RandomBytes(256);
  const auto sig = dpop.Sign(msg);
  const auto org = Must(X25519PrivateKey::Generate(DefaultRandom()));
  const auto pod = Must(X25519PrivateKey::Generate(DefaultRandom()));
  const auto dek = RandomBytes(32), info = RandomBytes(16), aad = RandomBytes(64);
  const auto capsule = Must(HpkeSealBase(HpkeAeadId::kAes256Gcm, org.public_key(), info, aad, dek, DefaultRandom()));
  const bench::ColdCache cold(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    state.PauseTiming();
    cold.Evict();
    state.ResumeTiming();
    if (!Ed25519Verify(dpop.public_key(), msg, sig).ok()) std::abort();
    auto opened = Must(HpkeOpenBase(HpkeAeadId::kAes256Gcm, capsule.enc, org, info, aad, capsule.ct));
    benchmark::DoNotOptimize(
        Must(HpkeSealBase(HpkeAeadId::kAes256Gcm, pod.public_key(), info, aad, opened.Reveal(), DefaultRandom())));
  }
}
BENCHMARK(BM_UnwrapCryptoCold)->Arg(0)->Arg(65536)->Unit(benchmark::kMicrosecond);

void BM_SecretBytesAlloc(benchmark::State& state) {
  const auto protection = state.range(0) == 0 ? SecretBytes::Protection::kPlain : SecretBytes::Protection::kLocked;
  for (auto _ : state) {
    SecretBytes s(32, protection);
    benchmark::DoNotOptimize(s.TestOnlyDataAddress());
  }
  state.SetLabel(state.range(0) == 0 ? "kPlain" : "kLocked");
}
BENCHMARK(BM_SecretBytesAlloc)->Arg(0)->Arg(1);

}  // namespace
}  // namespace astis
