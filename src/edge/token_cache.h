// VerifiedTokenCache: gate 2 (docs/protocol.md §6.2) once per token, not once
// per request.
//
// A pod presents the same projected ServiceAccount token on every request
// until the kubelet refreshes it (about hourly). Verifying it is a pure
// function of the token's bytes, the trust anchor its issuer selects and the
// clock: the signature and the claims other than the times cannot change.
// So the first successful verification is kept, keyed by SHA-256(org, token)
// (the token itself, a bearer credential, is not kept), and a later use
// re-checks what can change:
//   - the trust anchor, read again from the store on every request as
//     before: exactly one registered cluster for the issuer, with the same
//     name, audience and the very same parsed JWKS object (JwksCache keys
//     those by their text, so a re-registered JWKS is another object) —
//     otherwise the token is verified again from scratch;
//   - exp, nbf and iat against this request's clock (CheckTokenTimes).
// Only successes are kept: a refused token is verified again on each use.
// The answer for any token is therefore the one a full verification would
// give (tests VerifiedTokenCacheTest.*, EdgeServiceTest.TrustAnchorsFollowReRegistration).
//
// Bounded: at max_entries, expired entries are dropped, and if none were,
// the cache is emptied and refills on demand. max_entries 0 verifies every
// request in full (config token.verified_cache_entries).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>

#include "common/status.h"
#include "crypto/sha256.h"
#include "edge/gates.h"

namespace astis::edge {

class VerifiedTokenCache {
 public:
  // kDefaultMaxEntries: one entry per live pod token (≈0.4 KB each).
  static constexpr size_t kDefaultMaxEntries = 16384;

  explicit VerifiedTokenCache(size_t max_entries = kDefaultMaxEntries);

  // Verify is VerifyServiceAccountToken(token, lookup, now, max_skew) for a
  // request of organisation org (lookup answers from org's clusters only).
  // Thread-safe; verification runs outside the lock.
  Result<VerifiedIdentity> Verify(std::string_view org, std::string_view token, const TrustLookup& lookup,
                                  int64_t now, int64_t max_skew);

  // Stats count checks: each Verify that reached a decision is one hit or
  // one miss (a store failure before it is neither).
  struct Stats {
    uint64_t hits = 0;    // decided from a kept verification (times re-checked)
    uint64_t misses = 0;  // verified in full
  };
  Stats stats() const;
  size_t size() const;

 private:
  struct Entry {
    VerifiedIdentity identity;
    TokenTimes times;
    ClusterTrust anchor;
  };

  void Insert(const Sha256Digest& key, std::shared_ptr<const Entry> entry, int64_t now, int64_t max_skew);

  const size_t max_entries_;
  mutable std::mutex mu_;
  std::map<Sha256Digest, std::shared_ptr<const Entry>> entries_;
  Stats stats_;
};

}  // namespace astis::edge
