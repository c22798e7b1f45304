#include "crypto/ed25519.h"

#include <sodium.h>

#include <algorithm>

#include "crypto/internal/ossl.h"

namespace astis {
namespace {

// MsgPtr never hands libsodium a null pointer for an empty message.
const uint8_t* MsgPtr(std::span<const uint8_t> msg) {
  static constexpr uint8_t kEmpty = 0;
  return msg.empty() ? &kEmpty : msg.data();
}

}  // namespace

static_assert(crypto_sign_PUBLICKEYBYTES == kEd25519PublicKeySize);
static_assert(crypto_sign_SEEDBYTES == kEd25519SeedSize);
static_assert(crypto_sign_BYTES == kEd25519SignatureSize);

Result<Ed25519PublicKey> Ed25519PublicKey::FromBytes(std::span<const uint8_t> data) {
  if (data.size() != kEd25519PublicKeySize)
    return Error(Code::kInvalidArgument, "ed25519: public key must be 32 bytes");
  Ed25519PublicKey pk;
  std::copy(data.begin(), data.end(), pk.bytes.begin());
  return pk;
}

Status Ed25519Verify(const Ed25519PublicKey& pk, std::span<const uint8_t> msg, std::span<const uint8_t> sig) {
  // RFC 8032 §5.1.7: a signature is exactly 64 bytes (test
  // Ed25519RefusalTest.RejectsWrongLength).
  if (sig.size() != kEd25519SignatureSize) return Error(Code::kCrypto, "ed25519: signature must be 64 bytes");
  crypto_internal::EnsureSodium();
  // libsodium refuses S >= L (RFC 8032 §5.1.7 step 1), small-order and
  // non-canonical public keys and R values.
  if (crypto_sign_verify_detached(sig.data(), MsgPtr(msg), msg.size(), pk.bytes.data()) != 0)
    return Error(Code::kCrypto, "ed25519: signature verification failed");
  return OkStatus();
}

Result<Ed25519PrivateKey> Ed25519PrivateKey::Generate(Random& rng, SecretBytes::Protection p) {
  SecretBytes seed(kEd25519SeedSize, p);
  ASTIS_RETURN_IF_ERROR(rng.Fill(seed.RevealMutable()));
  return FromSeed(seed.Reveal(), p);
}

Result<Ed25519PrivateKey> Ed25519PrivateKey::FromSeed(std::span<const uint8_t> seed, SecretBytes::Protection p) {
  if (seed.size() != kEd25519SeedSize) return Error(Code::kInvalidArgument, "ed25519: seed must be 32 bytes");
  crypto_internal::EnsureSodium();
  SecretBytes expanded(crypto_sign_SECRETKEYBYTES, p);
  Ed25519PublicKey pk;
  if (crypto_sign_seed_keypair(pk.bytes.data(), expanded.RevealMutable().data(), seed.data()) != 0)
    return Error(Code::kCrypto, "ed25519: key derivation failed");
  return Ed25519PrivateKey(std::move(expanded), pk);
}

Ed25519Signature Ed25519PrivateKey::Sign(std::span<const uint8_t> msg) const {
  Ed25519Signature sig{};
  // Deterministic (RFC 8032 §5.1.6); cannot fail for a well-formed key.
  crypto_sign_detached(sig.data(), nullptr, MsgPtr(msg), msg.size(), sk_.Reveal().data());
  return sig;
}

}  // namespace astis
