#include "crypto/x25519.h"

#include <sodium.h>

#include "crypto/internal/ossl.h"

namespace astis {

Result<X25519PublicKey> X25519PublicKey::FromBytes(std::span<const uint8_t> data) {
  if (data.size() != kX25519KeySize) return Error(Code::kInvalidArgument, "x25519: public key must be 32 bytes");
  X25519PublicKey pk;
  std::copy(data.begin(), data.end(), pk.bytes.begin());
  return pk;
}

Result<X25519PrivateKey> X25519PrivateKey::Generate(Random& rng, SecretBytes::Protection p) {
  SecretBytes sk(kX25519KeySize, p);
  ASTIS_RETURN_IF_ERROR(rng.Fill(sk.RevealMutable()));
  return FromBytes(sk.Reveal(), p);
}

Result<X25519PrivateKey> X25519PrivateKey::FromBytes(std::span<const uint8_t> sk, SecretBytes::Protection p) {
  if (sk.size() != kX25519KeySize) return Error(Code::kInvalidArgument, "x25519: private key must be 32 bytes");
  crypto_internal::EnsureSodium();
  SecretBytes owned = SecretBytes::CopyFrom(sk, p);
  X25519PublicKey pk;
  // RFC 7748 §6.1: the public key is X25519(sk, 9); libsodium clamps sk.
  if (crypto_scalarmult_base(pk.bytes.data(), owned.Reveal().data()) != 0)
    return Error(Code::kCrypto, "x25519: public key derivation failed");
  return X25519PrivateKey(std::move(owned), pk);
}

Result<SecretBytes> X25519PrivateKey::Agree(const X25519PublicKey& peer) const {
  crypto_internal::EnsureSodium();
  SecretBytes shared(kX25519KeySize, sk_.protection());
  // RFC 7748 §6.1 / RFC 9180 §7.1.4: the all-zero output of a low-order peer
  // point MUST be refused. libsodium returns -1 for it (and for its list of
  // small-order points); the explicit constant-time check below keeps the
  // rule independent of the library (test X25519Test.RejectsLowOrderPeer).
  if (crypto_scalarmult(shared.RevealMutable().data(), sk_.Reveal().data(), peer.bytes.data()) != 0 ||
      sodium_is_zero(shared.Reveal().data(), shared.size()) == 1)
    return Error(Code::kCrypto, "x25519: low-order peer public key");
  return shared;
}

}  // namespace astis
