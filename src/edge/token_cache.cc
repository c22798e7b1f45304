#include "edge/token_cache.h"

#include <string>
#include <utility>
#include <vector>

namespace astis::edge {
namespace {

// KeyOf is SHA-256(org || 0x00 || token): the same token presented under
// another organisation's API key is another entry (its trust anchors are
// that organisation's).
Sha256Digest KeyOf(std::string_view org, std::string_view token) {
  std::string input;
  input.reserve(org.size() + 1 + token.size());
  input.append(org);
  input.push_back('\0');
  input.append(token);
  return Sha256(input);
}

// StillTrusted: the issuer still selects exactly one cluster, and it is the
// anchor the signature verified under (same name, audience and JWKS object).
bool StillTrusted(const ClusterTrust& anchor, const std::vector<ClusterTrust>& current) {
  const ClusterTrust* match = nullptr;
  for (const ClusterTrust& c : current) {
    if (c.issuer != anchor.issuer) continue;
    if (match != nullptr) return false;  // two clusters claim the issuer: verify in full (and refuse)
    match = &c;
  }
  return match != nullptr && match->jwks != nullptr && match->jwks.get() == anchor.jwks.get() &&
         match->name == anchor.name && match->audience == anchor.audience;
}

}  // namespace

VerifiedTokenCache::VerifiedTokenCache(size_t max_entries) : max_entries_(max_entries) {}

Result<VerifiedIdentity> VerifiedTokenCache::Verify(std::string_view org, std::string_view token,
                                                    const TrustLookup& lookup, int64_t now, int64_t max_skew) {
  if (max_entries_ == 0) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.misses;
    }
    return VerifyServiceAccountToken(token, lookup, now, max_skew);
  }
  const Sha256Digest key = KeyOf(org, token);
  std::shared_ptr<const Entry> kept;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) kept = it->second;
  }
  if (kept != nullptr) {
    // The anchor is read from the store on every use, as a full
    // verification would; a store failure is returned as is.
    ASTIS_ASSIGN_OR_RETURN(const std::vector<ClusterTrust> current, lookup(kept->anchor.issuer));
    if (StillTrusted(kept->anchor, current)) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.hits;
      }
      // The signature, iss, aud, sub and the kubernetes.io claims verified
      // under this very anchor; only the time checks depend on the request
      // (RFC 7519 §4.1.4-4.1.6; tests ExpiresWhileKept, ClockBackBeforeIat).
      ASTIS_RETURN_IF_ERROR(CheckTokenTimes(kept->times, now, max_skew));
      return kept->identity;
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second == kept) entries_.erase(it);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.misses;
  }
  ASTIS_ASSIGN_OR_RETURN(VerifiedToken verified, VerifyServiceAccountTokenDetailed(token, lookup, now, max_skew));
  auto entry = std::make_shared<const Entry>(Entry{verified.identity, verified.times, std::move(verified.anchor)});
  Insert(key, std::move(entry), now, max_skew);
  return std::move(verified.identity);
}

void VerifiedTokenCache::Insert(const Sha256Digest& key, std::shared_ptr<const Entry> entry, int64_t now,
                                int64_t max_skew) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= max_entries_ && entries_.find(key) == entries_.end()) {
    std::erase_if(entries_, [&](const auto& kv) { return kv.second->times.ExpiredAt(now, max_skew); });
    if (entries_.size() >= max_entries_) entries_.clear();  // test Bounded
  }
  entries_[key] = std::move(entry);
}

VerifiedTokenCache::Stats VerifiedTokenCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t VerifiedTokenCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace astis::edge
