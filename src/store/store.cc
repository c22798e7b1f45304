#include "store/store.h"

#include <string>

#include "common/dns1123.h"
#include "store/internal/rows.h"

namespace astis::store {
namespace {

using internal::IdOk;
using internal::Invalid;

bool TextOk(std::string_view s) { return s.size() <= kMaxTextLength; }

bool LowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// OrgOk: organisation names are DNS-1123 labels, so they can appear in
// URLs, file names, metric labels and certificate names unescaped.
bool OrgOk(std::string_view org) { return IsDns1123Label(org); }

}  // namespace

Status ValidateOrganization(const Organization& o) {
  if (!OrgOk(o.name)) return Invalid("organization name (want a DNS-1123 label)");
  if (o.tier == "standard") {
    if (!o.cvs_url.empty() || !o.cvs_ca_pem.empty() || !o.cvs_identity.empty() || !o.cvs_spki_sha256.empty()) {
      return Invalid("organization CVS fields (a standard organization uses the ASTIS CVS)");
    }
    return OkStatus();
  }
  if (o.tier != "hyok") return Invalid("organization tier (want standard or hyok)");
  if (o.cvs_url.rfind("https://", 0) != 0 || o.cvs_url.size() <= 8 || !TextOk(o.cvs_url)) {
    return Invalid("organization cvs_url (want https://host[:port])");
  }
  if (o.cvs_ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos || !TextOk(o.cvs_ca_pem)) {
    return Invalid("organization cvs_ca_pem (want a PEM CA bundle)");
  }
  if (!IdOk(o.cvs_identity)) return Invalid("organization cvs_identity");
  if (!o.cvs_spki_sha256.empty() && !LowerHex64(o.cvs_spki_sha256)) {
    return Invalid("organization cvs_spki_sha256 (want 64 lower-case hex digits)");
  }
  return OkStatus();
}

Status ValidateCluster(const Cluster& c) {
  if (!OrgOk(c.org)) return Invalid("cluster organization");
  if (!IdOk(c.name) || c.name.find('/') != std::string::npos) return Invalid("cluster name");
  if (c.issuer.empty() || !TextOk(c.issuer)) return Invalid("cluster issuer");
  if (!IdOk(c.audience)) return Invalid("cluster audience");
  if (c.jwks_json.empty() || !TextOk(c.jwks_json)) return Invalid("cluster jwks_json");
  if (!TextOk(c.api_url) || !TextOk(c.ca_file) || !TextOk(c.token_file)) return Invalid("cluster connection field");
  if (c.mode != "strict" && c.mode != "audit") return Invalid("cluster mode (want strict or audit)");
  return OkStatus();
}

Status ValidateWorkload(const Workload& w) {
  if (!OrgOk(w.org)) return Invalid("workload organization");
  if (!IdOk(w.cluster) || !IdOk(w.namespace_) || !IdOk(w.service_account)) return Invalid("workload name field");
  if (w.image_digests.size() > kMaxImageDigests) return Invalid("workload image_digests (too many)");
  for (const std::string& d : w.image_digests) {
    if (!IsValidImageDigest(d)) return Invalid("workload image digest (want sha256:<64 lower-case hex>)");
  }
  return OkStatus();
}

Status ValidateApiKey(const ApiKey& k) {
  if (!IdOk(k.id)) return Invalid("api key id");
  if (k.hash.size() != 32) return Invalid("api key hash (want 32 bytes)");
  if (!OrgOk(k.org)) return Invalid("api key organization");
  if (!IdOk(k.cluster) || !IdOk(k.namespace_) || !IdOk(k.service_account)) return Invalid("api key scope");
  if (k.expires_at < 0 || k.revoked_at < 0) return Invalid("api key times");
  return OkStatus();
}

Status ValidateSessionCandidate(const Session& s, int64_t now) {
  if (!IdOk(s.id)) return Invalid("session id");
  if (!OrgOk(s.org)) return Invalid("session organization");
  if (!IdOk(s.cluster) || !IdOk(s.namespace_) || !IdOk(s.service_account)) return Invalid("session scope");
  if (!IdOk(s.pod_name) || !IdOk(s.pod_uid)) return Invalid("session pod");
  if (!IdOk(s.jkt)) return Invalid("session jkt");
  if (s.recipient_jwk.empty() || !TextOk(s.recipient_jwk)) return Invalid("session recipient_jwk");
  if (s.revoked) return Invalid("session candidate (revoked)");
  if (s.expires_at <= now) return Invalid("session expires_at (not after now)");
  if (s.pod_restarts < 0) return Invalid("session pod_restarts (negative)");
  return OkStatus();
}

Status ValidatePinRelease(std::string_view org, std::string_view cluster, std::string_view pod_uid,
                          std::string_view session_id, int64_t observed_restarts) {
  if (!OrgOk(org)) return Invalid("pin release organization");
  if (!IdOk(cluster) || !IdOk(pod_uid)) return Invalid("pin release pod");
  if (!IdOk(session_id)) return Invalid("pin release session id");
  if (observed_restarts < 0) return Invalid("pin release restarts (negative)");
  return OkStatus();
}

Status ValidateNonceSecret(const SecretBytes& secret) {
  if (secret.size() < kNonceSecretMinBytes || secret.size() > kNonceSecretMaxBytes) {
    return Invalid("nonce secret length");
  }
  return OkStatus();
}

Status ValidateAdmission(std::span<const RateCharge> charges, const JtiUse& jti, int64_t now) {
  if (charges.size() > kMaxRateCharges) return Invalid("rate charges (too many)");
  for (size_t i = 0; i < charges.size(); ++i) {
    const RateCharge& c = charges[i];
    if (!IdOk(c.bucket_key)) return Invalid("rate bucket key");
    if (c.limit < 1) return Invalid("rate limit");
    if (c.window_end <= c.window_start) return Invalid("rate window");
    for (size_t j = 0; j < i; ++j) {
      if (charges[j].bucket_key == c.bucket_key) return Invalid("rate charges (one bucket twice)");
    }
  }
  if (!IdOk(jti.jkt)) return Invalid("jkt");
  if (jti.jti.empty() || jti.jti.size() > kMaxJtiLength) return Invalid("jti");
  if (jti.expires_at <= now) return Invalid("jti expires_at (not after now)");
  return OkStatus();
}

std::string QualifiedClusterName(std::string_view org, std::string_view cluster) {
  if (org == kDefaultOrg) return std::string(cluster);
  std::string out;
  out.reserve(org.size() + 1 + cluster.size());
  out.append(org).append("/").append(cluster);
  return out;
}

ClusterRef SplitQualifiedClusterName(std::string_view qualified) {
  const size_t slash = qualified.find('/');
  if (slash == std::string_view::npos) return ClusterRef{std::string(kDefaultOrg), std::string(qualified)};
  return ClusterRef{std::string(qualified.substr(0, slash)), std::string(qualified.substr(slash + 1))};
}

}  // namespace astis::store
