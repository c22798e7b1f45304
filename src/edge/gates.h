// The four gates of docs/protocol.md §6, as functions of injected inputs.
//
// Each gate returns a verified type that only that gate can construct, or a
// Status whose code is the gate-level wire code of docs/protocol.md §7 and whose
// message is the detailed reason for the audit log (never sent to a client).
// The edge's EdgeService does the I/O (store, Kubernetes) and calls these.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "crypto/sha256.h"
#include "jose/jwk.h"
#include "store/store.h"

namespace astis::edge {

// ---------------------------------------------------------------- gate 1

// kApiKeyHeader is the request header carrying the API key (docs/protocol.md §4).
inline constexpr std::string_view kApiKeyHeader = "X-Astis-Api-Key";

// PresentedApiKey is the syntactically valid `astis_<id>_<secret>` a client
// sent; nothing about it is verified. Owns the secret (wiped on release).
class PresentedApiKey {
 public:
  // Parse accepts exactly "astis_" + id ([a-z0-9]{8,32}) + "_" + secret
  // (strict b64u, 32 to 128 characters). Anything else is kApiKeyInvalid
  // (test ApiKeyMalformed); the message never echoes the value.
  static Result<PresentedApiKey> Parse(std::string_view header_value);
  const std::string& id() const { return id_; }
  // hash returns SHA-256 of the ASCII secret part: what the store holds.
  const Sha256Digest& hash() const { return hash_; }

 private:
  PresentedApiKey(std::string id, Sha256Digest hash) : id_(std::move(id)), hash_(hash) {}
  std::string id_;
  Sha256Digest hash_{};
};

// ApiKeyFacts is what the store knows about one API key id.
struct ApiKeyFacts {
  std::string id;
  std::vector<uint8_t> hash;  // SHA-256 of the secret part
  std::string cluster, namespace_, service_account;
  int64_t expires_at = 0;  // 0 = never
  int64_t revoked_at = 0;  // 0 = not revoked
  std::string org = std::string(store::kDefaultOrg);  // the organisation the key belongs to
};

class VerifiedIdentity;

// AuthenticApiKey is an API key that exists, matched its hash and is neither
// revoked nor expired: its organisation is known, its scope not yet compared
// with a token. Only AuthenticateApiKey constructs one. Gate 2 then trusts
// only this organisation's clusters (docs/tenancy.md "Gate 1").
class AuthenticApiKey {
 public:
  const std::string& id() const { return facts_.id; }
  const std::string& org() const { return facts_.org; }
  const ApiKeyFacts& facts() const { return facts_; }

 private:
  friend Result<AuthenticApiKey> AuthenticateApiKey(const PresentedApiKey&, const std::optional<ApiKeyFacts>&,
                                                    int64_t);
  explicit AuthenticApiKey(ApiKeyFacts facts) : facts_(std::move(facts)) {}
  ApiKeyFacts facts_;
};

// VerifiedApiKey is an API key that exists, matched its hash, is neither
// revoked nor expired and is scoped to the verified identity. Only
// VerifyApiKeyScope constructs one.
class VerifiedApiKey {
 public:
  const std::string& id() const { return id_; }
  const std::string& org() const { return org_; }

 private:
  friend Result<VerifiedApiKey> VerifyApiKeyScope(const AuthenticApiKey&, const VerifiedIdentity&);
  VerifiedApiKey(std::string id, std::string org) : id_(std::move(id)), org_(std::move(org)) {}
  std::string id_;
  std::string org_;
};

// AuthenticateApiKey checks a presented key against the store's record
// (nullopt: no such id): kApiKeyInvalid when unknown, hash mismatch
// (constant-time compare), revoked or expired (tests ApiKeyUnknown,
// ApiKeyWrongSecret, ApiKeyRevoked, ApiKeyExpired).
Result<AuthenticApiKey> AuthenticateApiKey(const PresentedApiKey& presented, const std::optional<ApiKeyFacts>& record,
                                           int64_t now);

// VerifyApiKeyScope: kScopeMismatch when the key is scoped to another
// cluster, namespace or ServiceAccount than the verified identity
// (ApiKeyOtherCluster, ApiKeyOtherNamespace, ApiKeyOtherSa).
Result<VerifiedApiKey> VerifyApiKeyScope(const AuthenticApiKey& key, const VerifiedIdentity& identity);

// VerifyApiKey is AuthenticateApiKey then VerifyApiKeyScope: it checks a
// presented key against the store's record (nullopt: no such id) and the
// verified token identity. kApiKeyInvalid when unknown,
// hash mismatch (constant-time compare), revoked or expired (tests
// ApiKeyUnknown, ApiKeyWrongSecret, ApiKeyRevoked, ApiKeyExpired);
// kScopeMismatch when valid but scoped to another cluster, namespace or
// ServiceAccount (ApiKeyOtherCluster, ApiKeyOtherNamespace, ApiKeyOtherSa).
Result<VerifiedApiKey> VerifyApiKey(const PresentedApiKey& presented, const std::optional<ApiKeyFacts>& record,
                                    const VerifiedIdentity& identity, int64_t now);

// GeneratedApiKey is a fresh API key: the full header value (shown to the
// operator once, never stored) and what the store keeps.
struct GeneratedApiKey {
  std::string id;
  SecretBytes header_value;  // "astis_<id>_<secret>"
  Sha256Digest hash{};       // SHA-256 of the secret part
};

// GenerateApiKey draws a 16-character id and a 256-bit secret from rng.
// Fails only when rng fails (kCrypto).
Result<GeneratedApiKey> GenerateApiKey(Random& rng);

// ---------------------------------------------------------------- gate 2

// ClusterTrust is what gate 2 needs of a registered cluster. Owns its JWKS.
struct ClusterTrust {
  std::string name;
  std::string issuer;
  std::string audience = "astis";
  std::shared_ptr<const jose::JwkSet> jwks;  // the pinned JWKS
};

using TrustLookup = std::function<Result<std::vector<ClusterTrust>>(std::string_view issuer)>;

struct VerifiedToken;

// VerifiedIdentity is the identity a ServiceAccount token proved. Only
// VerifyServiceAccountTokenDetailed constructs one (VerifiedTokenCache keeps
// copies of the ones it made).
class VerifiedIdentity {
 public:
  const std::string& cluster() const { return cluster_; }
  const std::string& namespace_() const { return namespace__; }
  const std::string& service_account() const { return service_account_; }
  const std::string& pod_name() const { return pod_name_; }
  const std::string& pod_uid() const { return pod_uid_; }
  int64_t token_exp() const { return exp_; }

 private:
  friend Result<VerifiedToken> VerifyServiceAccountTokenDetailed(std::string_view, const TrustLookup&, int64_t, int64_t);
  VerifiedIdentity() = default;
  std::string cluster_, namespace__, service_account_, pod_name_, pod_uid_;
  int64_t exp_ = 0;
};

// ParseDpopAuthorization extracts the token from exactly one
// "Authorization: DPoP <token>" header value (scheme case-insensitive,
// RFC 9449 §7.1). kTokenInvalid otherwise (test TokenWrongScheme).
Result<std::string> ParseDpopAuthorization(std::string_view header_value);

// VerifyServiceAccountToken implements docs/protocol.md §6.2. The cluster is the
// one whose pinned issuer equals the token's `iss` (exactly one must match).
// Then: signature by the pinned JWKS key named by `kid`, alg from the key
// (none and HMAC refused), aud contains the cluster audience, exp/nbf/iat
// within max_skew, kubernetes.io.{namespace, serviceaccount.name, pod.name,
// pod.uid} present, sub == system:serviceaccount:<ns>:<sa>. Every failure is
// kTokenInvalid with the reason in the message.
Result<VerifiedIdentity> VerifyServiceAccountToken(std::string_view token, std::span<const ClusterTrust> clusters,
                                                  int64_t now, int64_t max_skew);

// TrustLookup returns the registered clusters whose pinned issuer equals
// issuer (normally zero or one), or the store's error. The edge answers it
// with a keyed store read and cached trust anchors, so a request's cost does
// not grow with the number of registered clusters (docs/edge.md).
//
// This overload is the one above with the clusters found by lookup(iss) of
// the token's (not yet verified) iss; a lookup error is returned as is
// (kStoreUnavailable).
Result<VerifiedIdentity> VerifyServiceAccountToken(std::string_view token, const TrustLookup& lookup, int64_t now,
                                                  int64_t max_skew);

// TokenTimes are a verified token's NumericDate claims (RFC 7519 §4.1.4-4.1.6).
struct TokenTimes {
  int64_t exp = 0;
  std::optional<int64_t> nbf;
  int64_t iat = 0;

  // ExpiredAt: exp has passed at now, with max_skew of leeway (RFC 7519
  // §4.1.4). Written as now - max_skew >= exp, not now >= exp + max_skew:
  // exp is the token's, and a signed exp near INT64_MAX must not overflow
  // (test FarFutureExpDoesNotOverflow). Gate 2, CheckTokenTimes and the
  // verified-token cache's eviction all ask this one question.
  bool ExpiredAt(int64_t now, int64_t max_skew) const { return now - max_skew >= exp; }
};

// CheckTokenTimes is gate 2's time check against now with max_skew of
// leeway: kTokenInvalid "expired", "not yet valid (nbf)" or "iat missing or
// in the future" (tests TokenExpired, TokenNotYetValid).
Status CheckTokenTimes(const TokenTimes& times, int64_t now, int64_t max_skew);

// VerifiedToken is what a successful gate 2 learned: the identity, the time
// claims (re-checked by VerifiedTokenCache on every later use) and the
// trust anchor the signature verified under.
struct VerifiedToken {
  VerifiedIdentity identity;
  TokenTimes times;
  ClusterTrust anchor;
};

// VerifyServiceAccountTokenDetailed is VerifyServiceAccountToken returning
// the VerifiedToken; the same checks, errors and tests.
Result<VerifiedToken> VerifyServiceAccountTokenDetailed(std::string_view token, const TrustLookup& lookup, int64_t now,
                                                        int64_t max_skew);

// ---------------------------------------------------------------- gate 3

// ProofRequest is the request a DPoP proof must match (docs/protocol.md §5).
struct ProofRequest {
  size_t dpop_header_count = 0;
  std::string_view dpop_header;  // the proof, when count == 1
  std::string_view method;
  std::string_view htu;          // external_base_url + path
  std::string_view access_token; // the ServiceAccount JWT (for ath)
  std::string_view body;         // exact body bytes (bh when non-empty)
};

// ProofCandidate is a DPoP proof that passed every check of docs/protocol.md
// §5 but the replay check: its (jkt, jti) must still be recorded as first
// use (RFC 9449 §11.1). Only CheckProof constructs one.
class ProofCandidate {
 public:
  const std::string& jkt() const { return jkt_; }
  const std::string& jti() const { return jti_; }
  int64_t iat() const { return iat_; }
  // replay_until is how long (jkt, jti) must be remembered: past the end of
  // the window in which the proof's iat is accepted.
  int64_t replay_until() const { return replay_until_; }

 private:
  friend Result<ProofCandidate> CheckProof(const ProofRequest&, int64_t, int64_t,
                                           const std::function<bool(std::string_view)>&);
  ProofCandidate(std::string jkt, std::string jti, int64_t iat, int64_t replay_until)
      : jkt_(std::move(jkt)), jti_(std::move(jti)), iat_(iat), replay_until_(replay_until) {}
  std::string jkt_, jti_;
  int64_t iat_ = 0;
  int64_t replay_until_ = 0;
};

// CheckProof implements docs/protocol.md §5 / RFC 9449 §4.3 up to the replay
// check: exactly one DPoP header, jose::VerifyDpopProof with htm, htu, ath,
// bh (non-empty body) and nonce_valid. Errors: kDpopInvalid, kUseDpopNonce
// (missing or stale nonce, RFC 9449 §8).
Result<ProofCandidate> CheckProof(const ProofRequest& request, int64_t now, int64_t max_skew,
                                  const std::function<bool(std::string_view)>& nonce_valid);

// VerifiedProof is a DPoP proof that verified and was not a replay. Only
// AcceptProof constructs one.
class VerifiedProof {
 public:
  const std::string& jkt() const { return jkt_; }
  int64_t iat() const { return iat_; }

 private:
  friend Result<VerifiedProof> AcceptProof(const ProofCandidate&, bool);
  VerifiedProof(std::string jkt, int64_t iat) : jkt_(std::move(jkt)), iat_(iat) {}
  std::string jkt_;
  int64_t iat_ = 0;
};

// AcceptProof completes gate 3's proof check with the replay record's
// verdict: first_use is false when (jkt, jti) was already recorded, which is
// kDpopReplay (RFC 9449 §11.1, test DpopReplayedJti).
Result<VerifiedProof> AcceptProof(const ProofCandidate& candidate, bool first_use);

// VerifyRotationProof checks the pop of a key rotation (docs/protocol.md
// §4.3): a JWS by new_key over exactly {"session","prev","iat"} with session
// the session id, prev the pinned key's thumbprint and iat an integer within
// max_skew of now (the DPoP iat rule, jose::PlaceIat). Every failure is
// kDpopInvalid (tests RotateWithoutNewKeyProofRefused, RotatePopExtremeIatRefused).
Status VerifyRotationProof(std::string_view pop, const jose::Jwk& new_key, std::string_view session_id,
                           std::string_view pinned_jkt, int64_t now, int64_t max_skew);

}  // namespace astis::edge
