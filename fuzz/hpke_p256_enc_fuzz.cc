// libFuzzer target for the DHKEM(P-256) enc decoder (RFC 9180 §7.1.1,
// §7.1.4): the input is a recipient-side enc, handed to
// P256PublicKey::FromBytes and to HpkeSetupBaseR with a fixed recipient key.
//
// Invariants (trap on violation): an accepted enc is 65 bytes starting 0x04
// and round-trips byte for byte; FromBytes and SetupBaseR agree on whether
// it is accepted; a refusal is kInvalidArgument or kCrypto, never anything
// else; an accepted enc gives a context whose exporter works and is
// deterministic.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "crypto/hpke.h"
#include "crypto/p256.h"

namespace {

const astis::P256PrivateKey& RecipientKey() {
  static const auto* key = [] {
    const std::vector<uint8_t> ikm(32, 0x23);
    auto k = astis::HpkeDeriveKeyPairP256(ikm);
    if (!k.ok()) __builtin_trap();
    return new astis::P256PrivateKey(std::move(*k));
  }();
  return *key;
}

bool RefusalCode(const astis::Status& s) {
  return s.code() == astis::Code::kInvalidArgument || s.code() == astis::Code::kCrypto;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> enc(data, size);
  auto pk = astis::P256PublicKey::FromBytes(enc);
  auto ctx = astis::HpkeSetupBaseR(astis::HpkeAeadId::kAes256Gcm, enc, RecipientKey(), {});
  if (pk.ok() != ctx.ok()) __builtin_trap();
  if (!pk.ok()) {
    if (!RefusalCode(pk.status()) || !RefusalCode(ctx.status())) __builtin_trap();
    return 0;
  }
  if (size != astis::kP256PublicKeySize || data[0] != 0x04) __builtin_trap();
  if (!std::equal(pk->bytes.begin(), pk->bytes.end(), data)) __builtin_trap();
  // The context's exporter works and is deterministic.
  auto a = ctx->Export({}, 32);
  auto b = ctx->Export({}, 32);
  if (!a.ok() || !b.ok() || !(*a == *b)) __builtin_trap();
  return 0;
}
