// DPoP server nonces (RFC 9449 §8) valid on every edge replica.
//
// nonce = b64u(be64(bucket) || HMAC-SHA256(secret, "astis dpop nonce v1" ||
// be64(bucket))[:16]), bucket = floor(now / window). The secret is shared by
// all replicas through the store (Store::GetOrCreateNonceSecret), so a nonce
// minted by one replica verifies on another. A nonce is accepted in its own
// bucket and the next one, i.e. for between one and two windows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "store/store.h"

namespace astis::edge {

// NonceIssuer mints and checks DPoP nonces. Thread-safe (immutable after
// construction); owns its copy of the secret.
class NonceIssuer {
 public:
  // Create takes the shared secret (at least 32 bytes; kInvalidArgument
  // otherwise) and the bucket width in seconds (at least 1).
  static Result<NonceIssuer> Create(SecretBytes secret, int64_t window_seconds);

  // Current returns the nonce of the bucket containing now. Cannot fail.
  std::string Current(int64_t now) const;
  // IsValid reports whether nonce is the nonce of now's bucket or of the one
  // before; comparison is constant time. Anything malformed is false.
  bool IsValid(std::string_view nonce, int64_t now) const;

 private:
  NonceIssuer(SecretBytes secret, int64_t window) : secret_(std::move(secret)), window_(window) {}
  std::string ForBucket(uint64_t bucket) const;
  SecretBytes secret_;
  int64_t window_;
};

// NonceIssuerFromStore builds the issuer from the replicas' shared secret:
// a fresh 32-byte candidate from rng is offered to
// Store::GetOrCreateNonceSecret, which keeps the first one ever stored, so
// every replica over one store mints and accepts the same nonces (test
// SharedAcrossReplicas). Errors: kStoreUnavailable (store), kCrypto (rng).
Result<NonceIssuer> NonceIssuerFromStore(store::Store& store, Random& rng, int64_t window_seconds, int64_t now);

}  // namespace astis::edge
