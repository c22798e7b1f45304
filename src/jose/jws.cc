#include "jose/jws.h"

#include <cstdlib>
#include <utility>

#include "common/encoding.h"

namespace astis::jose {
namespace {

bool IsHmacAlg(std::string_view alg) { return alg == "HS256" || alg == "HS384" || alg == "HS512"; }

// AlgNameMatchesKeyAlg compares the header alg with the key's `alg` member
// exactly (RFC 7517 §4.4: the key is intended for use with that algorithm).
bool AlgNameMatchesKeyAlg(std::string_view header_alg, const Jwk& key) {
  return key.alg().empty() || key.alg() == header_alg;
}

// OptionalHeaderString reads an optional string header member.
Result<std::optional<std::string>> OptionalHeaderString(const Json& header, const char* member) {
  auto it = header.find(member);
  if (it == header.end()) return std::optional<std::string>();
  if (!it->is_string()) return Error(Code::kInvalidArgument, std::string("JWS header ") + member + " not a string");
  return std::optional<std::string>(it->get<std::string>());
}

}  // namespace

Result<UnverifiedJws> UnverifiedJws::Parse(std::string_view compact, size_t max_size) {
  // Oversize input is refused before any decoding (test JwsTest.RejectsOversize).
  if (compact.size() > max_size) return Error(Code::kInvalidArgument, "JWS too large");
  // RFC 7515 §7.2 / §5.2 step 1: exactly three parts separated by '.'
  // (tests JwsTest.RejectsTwoParts, JwsTest.RejectsFourParts).
  const size_t dot1 = compact.find('.');
  if (dot1 == std::string_view::npos) return Error(Code::kInvalidArgument, "JWS must have three parts");
  const size_t dot2 = compact.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return Error(Code::kInvalidArgument, "JWS must have three parts");
  if (compact.find('.', dot2 + 1) != std::string_view::npos) {
    return Error(Code::kInvalidArgument, "JWS must have three parts");
  }
  const std::string_view header_b64 = compact.substr(0, dot1);
  const std::string_view payload_b64 = compact.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view sig_b64 = compact.substr(dot2 + 1);

  UnverifiedJws jws;
  // Strict b64u: padding, whitespace and non-canonical bits are refused
  // (test JwsTest.RejectsPaddedBase64).
  auto header_text = B64uDecodeToString(header_b64);
  if (!header_text.ok()) return Error(Code::kInvalidArgument, "JWS header is not strict base64url");
  auto payload = B64uDecodeToString(payload_b64);
  if (!payload.ok()) return Error(Code::kInvalidArgument, "JWS payload is not strict base64url");
  auto sig = B64uDecode(sig_b64);
  if (!sig.ok()) return Error(Code::kInvalidArgument, "JWS signature is not strict base64url");
  if (sig->empty()) return Error(Code::kInvalidArgument, "JWS signature is empty");

  // RFC 7515 §5.2 step 3-4: the header is a JSON object; duplicate member
  // names are refused (test JwsTest.RejectsDuplicateHeaderKeys).
  JsonLimits limits;
  limits.max_bytes = max_size;
  limits.max_depth = 4;
  auto header = ParseJsonObject(*header_text, limits);
  if (!header.ok()) return Error(Code::kInvalidArgument, "JWS header is not a strict JSON object");
  jws.header_ = std::move(*header);

  auto alg_it = jws.header_.find("alg");
  if (alg_it == jws.header_.end() || !alg_it->is_string()) {
    return Error(Code::kInvalidArgument, "JWS header alg missing or not a string");
  }
  jws.alg_ = alg_it->get<std::string>();
  ASTIS_ASSIGN_OR_RETURN(jws.typ_, OptionalHeaderString(jws.header_, "typ"));
  ASTIS_ASSIGN_OR_RETURN(jws.kid_, OptionalHeaderString(jws.header_, "kid"));
  auto jwk_it = jws.header_.find("jwk");
  if (jwk_it != jws.header_.end() && !jwk_it->is_object()) {
    return Error(Code::kInvalidArgument, "JWS header jwk not an object");
  }
  // RFC 7515 §4.1.11: if any extension listed in crit is not understood the
  // JWS MUST be rejected. This implementation understands none, so crit is
  // refused whatever it holds (test JwsTest.RejectsCritHeader).
  if (jws.header_.contains("crit")) return Error(Code::kInvalidArgument, "JWS crit header not supported");

  jws.payload_ = std::move(*payload);
  jws.signature_ = std::move(*sig);
  jws.signing_input_ = std::string(compact.substr(0, dot2));
  return jws;
}

const Json* UnverifiedJws::jwk() const {
  auto it = header_.find("jwk");
  return it == header_.end() ? nullptr : &*it;
}

Result<VerifiedJws> VerifyJws(const UnverifiedJws& jws, const Jwk& pinned_key) {
  const std::string& name = jws.alg();
  // RFC 8725 §3.1/§3.2 and docs/protocol.md §1: `none` and HMAC algorithms MUST be
  // refused (tests JwsTest.RejectsAlgNone, JwsTest.RejectsHs256WithPublicKey).
  if (name == "none") return Error(Code::kInvalidArgument, "JWS alg none refused");
  if (IsHmacAlg(name)) return Error(Code::kInvalidArgument, "JWS HMAC alg refused");
  std::optional<SignatureAlg> alg = SignatureAlgFromName(name);
  if (!alg.has_value()) return Error(Code::kInvalidArgument, "JWS alg not supported");
  // The algorithm is chosen by the pinned key, never by the header
  // (test JwsTest.RejectsAlgNotMatchingPinnedKey).
  if (!AlgNameMatchesKeyAlg(name, pinned_key)) {
    return Error(Code::kInvalidArgument, "JWS alg does not match the pinned key's alg");
  }
  ASTIS_ASSIGN_OR_RETURN(VerificationKey vk, pinned_key.ToVerificationKey());
  if (!vk.Supports(*alg)) return Error(Code::kInvalidArgument, "JWS alg not allowed for the pinned key type");
  if (jws.kid().has_value() && !pinned_key.kid().empty() && *jws.kid() != pinned_key.kid()) {
    return Error(Code::kInvalidArgument, "JWS kid does not match the pinned key");
  }
  // RFC 7515 §5.2 step 8 (test JwsTest.RejectsTamperedPayload).
  Status s = vk.Verify(*alg, AsBytes(jws.signing_input()), jws.signature());
  if (!s.ok()) return s.code() == Code::kCrypto ? s : Error(Code::kInvalidArgument, s.message());
  return VerifiedJws(jws.header(), jws.unverified_payload(), *alg);
}

Result<VerifiedJws> VerifyJwsWithJwkSet(const UnverifiedJws& jws, const JwkSet& set) {
  if (!jws.kid().has_value() || jws.kid()->empty()) return Error(Code::kInvalidArgument, "JWS has no kid");
  const Jwk* key = set.Find(*jws.kid());
  if (key == nullptr) return Error(Code::kInvalidArgument, "JWS kid not in the pinned key set");
  return VerifyJws(jws, *key);
}

Result<std::string> TrySignCompactJws(const Json& header, std::string_view payload, const SigningKey& key,
                                      SignatureAlg alg) {
  Json h = header.is_object() ? header : Json::object();
  h["alg"] = std::string(SignatureAlgName(alg));
  std::string input = B64uEncode(DumpJson(h)) + "." + B64uEncode(payload);
  ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> sig, key.Sign(alg, AsBytes(input)));
  return input + "." + B64uEncode(sig);
}

std::string SignCompactJws(const Json& header, std::string_view payload, const SigningKey& key, SignatureAlg alg) {
  auto jws = TrySignCompactJws(header, payload, key, alg);
  if (!jws.ok()) std::abort();  // documented precondition: alg fits key
  return std::move(*jws);
}

std::string SignCompactJws(const Json& header, std::string_view payload, const Ed25519PrivateKey& key) {
  Json h = header.is_object() ? header : Json::object();
  auto it = h.find("alg");
  if (it == h.end() || !it->is_string() || (*it != "EdDSA" && *it != "Ed25519")) h["alg"] = "EdDSA";
  std::string input = B64uEncode(DumpJson(h)) + "." + B64uEncode(payload);
  Ed25519Signature sig = key.Sign(AsBytes(input));
  return input + "." + B64uEncode(sig);
}

}  // namespace astis::jose
