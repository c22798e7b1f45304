// JwksCache: parsed pinned JWKS (gate 2, docs/protocol.md §6.2) keyed by the
// SHA-256 of their exact text. A re-registered JWKS is different text, hence
// a new key, so the change takes effect on the next request (test
// EdgeServiceTest.TrustAnchorsFollowReRegistration). Bounded: once it holds
// max_entries sets it is emptied and refilled on demand, so registrations
// that come and go cannot grow it without limit (test JwksCacheTest.Bounded).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>

#include "common/status.h"
#include "crypto/sha256.h"
#include "jose/jwk.h"

namespace astis::edge {

class JwksCache {
 public:
  // kDefaultMaxEntries is one entry per distinct registered JWKS, with room.
  static constexpr size_t kDefaultMaxEntries = 4096;

  explicit JwksCache(size_t max_entries = kDefaultMaxEntries);

  // Get returns the parsed set for jwks_json, parsing and caching it on a
  // miss. An unparsable JWKS is the parser's error and is not cached.
  // Thread-safe; parsing runs outside the lock.
  Result<std::shared_ptr<const jose::JwkSet>> Get(std::string_view jwks_json);

  // size is the number of cached sets.
  size_t size() const;

 private:
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::map<Sha256Digest, std::shared_ptr<const jose::JwkSet>> sets_;
};

}  // namespace astis::edge
