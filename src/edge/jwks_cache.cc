#include "edge/jwks_cache.h"

#include <algorithm>
#include <utility>

namespace astis::edge {

JwksCache::JwksCache(size_t max_entries) : max_entries_(std::max<size_t>(1, max_entries)) {}

Result<std::shared_ptr<const jose::JwkSet>> JwksCache::Get(std::string_view jwks_json) {
  const Sha256Digest key = Sha256(jwks_json);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sets_.find(key);
    if (it != sets_.end()) return it->second;
  }
  ASTIS_ASSIGN_OR_RETURN(jose::JwkSet set, jose::JwkSet::Parse(jwks_json));
  auto parsed = std::make_shared<const jose::JwkSet>(std::move(set));
  std::lock_guard<std::mutex> lock(mu_);
  if (sets_.size() >= max_entries_) sets_.clear();
  sets_.emplace(key, parsed);
  return parsed;
}

size_t JwksCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sets_.size();
}

}  // namespace astis::edge
