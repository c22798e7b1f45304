#include "edge/gates.h"

#include <cctype>
#include <vector>

#include "common/dns1123.h"
#include "common/encoding.h"
#include "common/json.h"
#include "jose/dpop.h"
#include "jose/jws.h"

namespace astis::edge {
namespace {

constexpr std::string_view kApiKeyPrefix = "astis_";
constexpr size_t kMinIdLen = 8, kMaxIdLen = 32, kMinSecretLen = 32, kMaxSecretLen = 128;

Status KeyInvalid(std::string reason) { return Error(Code::kApiKeyInvalid, std::move(reason)); }
Status TokenInvalid(std::string reason) { return Error(Code::kTokenInvalid, "token: " + std::move(reason)); }

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// StringMember returns obj[key] when it is a non-empty string.
const std::string* StringMember(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  if (it == obj.end() || !it->is_string()) return nullptr;
  const std::string& s = it->get_ref<const std::string&>();
  return s.empty() ? nullptr : &s;
}

// IntClaim reads a NumericDate claim (RFC 7519 §2: integers only here).
std::optional<int64_t> IntClaim(const Json& obj, std::string_view key) {
  auto it = obj.find(std::string(key));
  if (it == obj.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

}  // namespace

// ---------------------------------------------------------------- gate 1

Result<PresentedApiKey> PresentedApiKey::Parse(std::string_view v) {
  if (v.substr(0, kApiKeyPrefix.size()) != kApiKeyPrefix) return KeyInvalid("api key: missing astis_ prefix");
  v.remove_prefix(kApiKeyPrefix.size());
  const size_t sep = v.find('_');
  if (sep == std::string_view::npos) return KeyInvalid("api key: missing id separator");
  const std::string_view id = v.substr(0, sep);
  const std::string_view secret = v.substr(sep + 1);
  if (id.size() < kMinIdLen || id.size() > kMaxIdLen) return KeyInvalid("api key: id length");
  for (char c : id) {
    if (!IsLowerAlnum(c)) return KeyInvalid("api key: id alphabet");
  }
  if (secret.size() < kMinSecretLen || secret.size() > kMaxSecretLen) return KeyInvalid("api key: secret length");
  if (!B64uDecode(secret).ok()) return KeyInvalid("api key: secret is not strict base64url");
  return PresentedApiKey(std::string(id), Sha256(secret));
}

Result<AuthenticApiKey> AuthenticateApiKey(const PresentedApiKey& presented, const std::optional<ApiKeyFacts>& record,
                                           int64_t now) {
  // docs/protocol.md §6.1: exists, hash matches (constant time), not revoked, not expired.
  if (!record.has_value() || record->id != presented.id()) return KeyInvalid("api key: unknown id");
  if (!ConstantTimeEquals(record->hash, presented.hash())) return KeyInvalid("api key: secret does not match");
  if (record->revoked_at != 0 && record->revoked_at <= now) return KeyInvalid("api key: revoked");
  if (record->expires_at != 0 && now >= record->expires_at) return KeyInvalid("api key: expired");
  return AuthenticApiKey(*record);
}

Result<VerifiedApiKey> VerifyApiKeyScope(const AuthenticApiKey& key, const VerifiedIdentity& identity) {
  // docs/protocol.md §6.1: scope equals the addressed cluster and the token's namespace and SA.
  const ApiKeyFacts& record = key.facts();
  if (record.cluster != identity.cluster()) return Error(Code::kScopeMismatch, "api key scoped to another cluster");
  if (record.namespace_ != identity.namespace_()) {
    return Error(Code::kScopeMismatch, "api key scoped to another namespace");
  }
  if (record.service_account != identity.service_account()) {
    return Error(Code::kScopeMismatch, "api key scoped to another service account");
  }
  return VerifiedApiKey(key.id(), key.org());
}

Result<VerifiedApiKey> VerifyApiKey(const PresentedApiKey& presented, const std::optional<ApiKeyFacts>& record,
                                    const VerifiedIdentity& identity, int64_t now) {
  ASTIS_ASSIGN_OR_RETURN(AuthenticApiKey key, AuthenticateApiKey(presented, record, now));
  return VerifyApiKeyScope(key, identity);
}

Result<GeneratedApiKey> GenerateApiKey(Random& rng) {
  constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::vector<uint8_t> raw(16 + 32);
  ASTIS_RETURN_IF_ERROR(rng.Fill(raw));
  GeneratedApiKey out;
  for (size_t i = 0; i < 16; ++i) out.id.push_back(kAlphabet[raw[i] % kAlphabet.size()]);  // 36^16 ids
  const std::string secret = B64uEncode(std::span<const uint8_t>(raw).subspan(16));
  out.hash = Sha256(secret);
  out.header_value = SecretBytes::CopyFrom(std::string(kApiKeyPrefix) + out.id + "_" + secret);
  SecureWipe(raw.data(), raw.size());
  return out;
}

// ---------------------------------------------------------------- gate 2

Result<std::string> ParseDpopAuthorization(std::string_view v) {
  // RFC 9449 §7.1: Authorization: DPoP <token>; the scheme is case-insensitive (RFC 9110 §11.1).
  constexpr std::string_view kScheme = "dpop ";
  if (v.size() <= kScheme.size()) return TokenInvalid("authorization header is not DPoP");
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != kScheme[i]) {
      return TokenInvalid("authorization scheme is not DPoP");
    }
  }
  std::string_view token = v.substr(kScheme.size());
  for (char c : token) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    if (!ok) return TokenInvalid("authorization token has bad characters");
  }
  return std::string(token);
}

Result<VerifiedIdentity> VerifyServiceAccountToken(std::string_view token, std::span<const ClusterTrust> clusters,
                                                  int64_t now, int64_t max_skew) {
  const TrustLookup lookup = [clusters](std::string_view issuer) -> Result<std::vector<ClusterTrust>> {
    std::vector<ClusterTrust> out;
    for (const ClusterTrust& c : clusters) {
      if (c.issuer == issuer) out.push_back(c);
    }
    return out;
  };
  return VerifyServiceAccountToken(token, lookup, now, max_skew);
}

Result<VerifiedIdentity> VerifyServiceAccountToken(std::string_view token, const TrustLookup& lookup, int64_t now,
                                                  int64_t max_skew) {
  ASTIS_ASSIGN_OR_RETURN(VerifiedToken verified, VerifyServiceAccountTokenDetailed(token, lookup, now, max_skew));
  return std::move(verified.identity);
}

Status CheckTokenTimes(const TokenTimes& t, int64_t now, int64_t max_skew) {
  // RFC 7519 §4.1.4-4.1.6 with bounded skew (TokenExpired, TokenNotYetValid).
  if (t.ExpiredAt(now, max_skew)) return TokenInvalid("expired");
  if (t.nbf.has_value() && *t.nbf > now + max_skew) return TokenInvalid("not yet valid (nbf)");
  if (t.iat > now + max_skew) return TokenInvalid("iat missing or in the future");
  return OkStatus();
}

Result<VerifiedToken> VerifyServiceAccountTokenDetailed(std::string_view token, const TrustLookup& lookup, int64_t now,
                                                        int64_t max_skew) {
  auto jws = jose::UnverifiedJws::Parse(token);
  if (!jws.ok()) return TokenInvalid("malformed JWS: " + jws.status().message());
  // The cluster is chosen by the (not yet verified) iss; the signature must
  // then verify under that cluster's pinned JWKS, so a forged iss only selects
  // a key set the forger cannot sign for (test TokenOtherClusterKey).
  auto unverified = ParseJsonObject(jws->unverified_payload());
  if (!unverified.ok()) return TokenInvalid("payload is not a JSON object");
  const std::string* uiss = StringMember(*unverified, "iss");
  if (uiss == nullptr) return TokenInvalid("missing iss");
  ASTIS_ASSIGN_OR_RETURN(const std::vector<ClusterTrust> candidates, lookup(*uiss));
  const ClusterTrust* cluster = nullptr;
  for (const ClusterTrust& c : candidates) {
    if (c.issuer != *uiss) continue;  // a lookup that over-answers never widens trust
    if (cluster != nullptr) return TokenInvalid("issuer registered for more than one cluster");
    cluster = &c;
  }
  if (cluster == nullptr || cluster->jwks == nullptr) return TokenInvalid("issuer of no registered cluster");

  // docs/protocol.md §6.2 / RFC 8725 §3.1: key by kid from the pinned JWKS, alg from the key
  // (tests TokenUnknownKid, TokenAlgNone, TokenHs256WithPublicKey).
  auto verified = jose::VerifyJwsWithJwkSet(*jws, *cluster->jwks);
  if (!verified.ok()) return TokenInvalid("signature: " + verified.status().message());
  auto claims_or = ParseJsonObject(verified->payload());
  if (!claims_or.ok()) return TokenInvalid("payload is not a JSON object");
  const Json& claims = *claims_or;

  const std::string* iss = StringMember(claims, "iss");
  if (iss == nullptr || *iss != cluster->issuer) return TokenInvalid("iss mismatch");  // TokenWrongIssuer

  // RFC 7519 §4.1.3: aud is a string or an array of strings; ours must be in it (TokenWrongAudience).
  bool aud_ok = false;
  auto aud = claims.find("aud");
  if (aud != claims.end() && aud->is_string()) {
    aud_ok = aud->get_ref<const std::string&>() == cluster->audience;
  } else if (aud != claims.end() && aud->is_array()) {
    for (const Json& a : *aud) aud_ok = aud_ok || (a.is_string() && a.get_ref<const std::string&>() == cluster->audience);
  }
  if (!aud_ok) return TokenInvalid("audience not accepted");

  // RFC 7519 §4.1.4-4.1.6 with bounded skew (TokenExpired, TokenNotYetValid).
  TokenTimes times;
  const auto exp = IntClaim(claims, "exp");
  if (!exp.has_value()) return TokenInvalid("missing exp");
  times.exp = *exp;
  // Before nbf and iat are read, so an expired token is refused as expired
  // whatever they hold; CheckTokenTimes below asks again with the rest.
  if (times.ExpiredAt(now, max_skew)) return TokenInvalid("expired");
  if (claims.contains("nbf")) {
    times.nbf = IntClaim(claims, "nbf");
    if (!times.nbf.has_value()) return TokenInvalid("not yet valid (nbf)");
  }
  const auto iat = IntClaim(claims, "iat");
  if (!iat.has_value()) return TokenInvalid("iat missing or in the future");
  times.iat = *iat;
  ASTIS_RETURN_IF_ERROR(CheckTokenTimes(times, now, max_skew));

  // docs/protocol.md §6.2: a pod-bound token (TokenNotPodBound).
  auto k8s = claims.find("kubernetes.io");
  if (k8s == claims.end() || !k8s->is_object()) return TokenInvalid("missing kubernetes.io claims");
  const std::string* ns = StringMember(*k8s, "namespace");
  auto sa_obj = k8s->find("serviceaccount");
  auto pod_obj = k8s->find("pod");
  const std::string* sa = sa_obj != k8s->end() ? StringMember(*sa_obj, "name") : nullptr;
  const std::string* pod_name = pod_obj != k8s->end() ? StringMember(*pod_obj, "name") : nullptr;
  const std::string* pod_uid = pod_obj != k8s->end() ? StringMember(*pod_obj, "uid") : nullptr;
  if (ns == nullptr || sa == nullptr) return TokenInvalid("missing namespace or service account");
  if (pod_name == nullptr || pod_uid == nullptr) return TokenInvalid("token not bound to a pod");
  if (!IsDns1123Label(*ns) || !IsDns1123Subdomain(*sa) || !IsDns1123Subdomain(*pod_name)) {
    return TokenInvalid("namespace, service account or pod name malformed");
  }
  if (pod_uid->size() > 64) return TokenInvalid("pod uid malformed");
  const std::string* sub = StringMember(claims, "sub");
  if (sub == nullptr || *sub != "system:serviceaccount:" + *ns + ":" + *sa) {
    return TokenInvalid("sub does not match namespace and service account");  // TokenSubMismatch
  }

  VerifiedIdentity id;
  id.cluster_ = cluster->name;
  id.namespace__ = *ns;
  id.service_account_ = *sa;
  id.pod_name_ = *pod_name;
  id.pod_uid_ = *pod_uid;
  id.exp_ = times.exp;
  return VerifiedToken{std::move(id), times, *cluster};
}

// ---------------------------------------------------------------- gate 3

Result<ProofCandidate> CheckProof(const ProofRequest& request, int64_t now, int64_t max_skew,
                                  const std::function<bool(std::string_view)>& nonce_valid) {
  // RFC 9449 §4.3 (1): exactly one DPoP header (test DpopMissing, DpopTwoHeaders).
  if (request.dpop_header_count != 1) return Error(Code::kDpopInvalid, "dpop: need exactly one DPoP header");
  jose::DpopExpectations expect;
  expect.htm = request.method;
  expect.htu = request.htu;
  expect.ath = jose::DpopHash(request.access_token);  // RFC 9449 §4.3 (12), tests DpopMissingAth, DpopWrongAth
  if (!request.body.empty()) expect.bh = jose::DpopHash(request.body);  // docs/protocol.md §5 bh, test DpopWrongBh
  expect.now = now;
  expect.max_skew_seconds = max_skew;
  expect.nonce_valid = nonce_valid;  // RFC 9449 §8, tests MissingNonceGetsUseDpopNonce, StaleNonce
  auto proof = jose::VerifyDpopProof(request.dpop_header, expect);
  if (!proof.ok()) {
    const Code code = proof.status().code() == Code::kUseDpopNonce ? Code::kUseDpopNonce : Code::kDpopInvalid;
    return Error(code, "dpop: " + proof.status().message());
  }
  return ProofCandidate(proof->jkt(), proof->jti(), proof->iat(), proof->iat() + max_skew + 1);
}

Result<VerifiedProof> AcceptProof(const ProofCandidate& candidate, bool first_use) {
  // RFC 9449 §11.1: a (jkt, jti) seen within the acceptance window is a replay (test DpopReplayedJti).
  if (!first_use) return Error(Code::kDpopReplay, "dpop: jti replayed");
  return VerifiedProof(candidate.jkt(), candidate.iat());
}

Status VerifyRotationProof(std::string_view pop, const jose::Jwk& new_key, std::string_view session_id,
                           std::string_view pinned_jkt, int64_t now, int64_t max_skew) {
  // docs/protocol.md §4.3: pop is a JWS by the NEW key over {"session","prev","iat"}
  // (test RotateWithoutNewKeyProofRefused).
  auto jws = jose::UnverifiedJws::Parse(pop);
  if (!jws.ok()) return Error(Code::kDpopInvalid, "rotate pop: " + jws.status().message());
  auto verified = jose::VerifyJws(*jws, new_key);
  if (!verified.ok()) return Error(Code::kDpopInvalid, "rotate pop: " + verified.status().message());
  auto payload = ParseJsonObject(verified->payload());
  if (!payload.ok() || !RequireExactMembers(*payload, {"session", "prev", "iat"}, "rotate pop").ok()) {
    return Error(Code::kDpopInvalid, "rotate pop: payload shape");
  }
  const Json& p = *payload;
  // The iat is an integer within [now - skew, now + skew], without overflow
  // for any value a client can send: the DPoP iat rule (jose::PlaceIat; test
  // RotatePopExtremeIatRefused).
  const std::optional<int64_t> iat = jose::IntegerNumericDate(p["iat"]);
  const bool iat_ok = iat.has_value() && jose::PlaceIat(*iat, now, max_skew) == jose::IatPosition::kWithin;
  const bool session_ok = p["session"].is_string() && p["session"].get_ref<const std::string&>() == session_id;
  const bool prev_ok = p["prev"].is_string() && p["prev"].get_ref<const std::string&>() == pinned_jkt;
  if (!session_ok || !prev_ok || !iat_ok) {
    return Error(Code::kDpopInvalid, "rotate pop: session, prev or iat mismatch");
  }
  return OkStatus();
}

}  // namespace astis::edge
