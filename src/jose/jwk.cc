#include "jose/jwk.h"

#include <algorithm>
#include <set>
#include <utility>

#include "common/encoding.h"
#include "crypto/sha256.h"

namespace astis::jose {
namespace {

constexpr size_t kMaxJwkSetKeys = 64;
constexpr std::string_view kPrivateMembers[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

// OptionalString reads an optional string member; a present non-string is an error.
Status OptionalString(const Json& obj, std::string_view key, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return OkStatus();
  if (!it->is_string()) return Error(Code::kInvalidArgument, "JWK member " + std::string(key) + " is not a string");
  out = it->get<std::string>();
  return OkStatus();
}

// RequiredB64u decodes a required b64u member (strict: no padding, canonical).
Result<std::vector<uint8_t>> RequiredB64u(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    return Error(Code::kInvalidArgument, "JWK member " + std::string(key) + " missing or not a string");
  }
  auto bytes = B64uDecode(it->get_ref<const std::string&>());
  if (!bytes.ok()) return Error(Code::kInvalidArgument, "JWK member " + std::string(key) + " is not strict base64url");
  return bytes;
}

Result<std::vector<uint8_t>> RequiredB64uSized(const Json& obj, std::string_view key, size_t size) {
  ASTIS_ASSIGN_OR_RETURN(auto bytes, RequiredB64u(obj, key));
  if (bytes.size() != size) return Error(Code::kInvalidArgument, "JWK member " + std::string(key) + " has wrong size");
  return bytes;
}

}  // namespace

Result<Jwk> Jwk::Parse(const Json& obj) {
  if (!obj.is_object()) return Error(Code::kInvalidArgument, "JWK is not an object");
  Jwk jwk;
  std::string kty;
  auto kty_it = obj.find("kty");
  if (kty_it == obj.end() || !kty_it->is_string()) return Error(Code::kInvalidArgument, "JWK kty missing");
  kty = kty_it->get<std::string>();
  ASTIS_RETURN_IF_ERROR(OptionalString(obj, "kid", jwk.kid_));
  ASTIS_RETURN_IF_ERROR(OptionalString(obj, "alg", jwk.alg_));
  ASTIS_RETURN_IF_ERROR(OptionalString(obj, "use", jwk.use_));
  for (std::string_view m : kPrivateMembers) {
    if (obj.contains(m)) jwk.has_private_ = true;
  }
  // crv is read only for kty values that define it (RFC 7518 §6.2.1.1, RFC 8037 §2).
  if (kty == "RSA") {
    jwk.kty_ = KeyType::kRsa;
    ASTIS_ASSIGN_OR_RETURN(jwk.n_, RequiredB64u(obj, "n"));
    ASTIS_ASSIGN_OR_RETURN(jwk.e_, RequiredB64u(obj, "e"));
    // Minimal encoding and >= 2048 bits (RFC 7518 §6.3.1.1, §3.3) are
    // checked by the import (test JwkTest.RejectsRsaKeyTooSmall).
    ASTIS_ASSIGN_OR_RETURN(VerificationKey vk, VerificationKey::FromRsaComponents(jwk.n_, jwk.e_));
    jwk.vkey_ = std::move(vk);
    for (std::string_view m : {"d", "p", "q", "dp", "dq", "qi"}) {
      if (obj.contains(m)) ASTIS_RETURN_IF_ERROR(RequiredB64u(obj, m));
    }
  } else if (kty == "EC") {
    jwk.kty_ = KeyType::kEc;
    auto crv = GetString(obj, "crv");
    if (!crv.ok()) return Error(Code::kInvalidArgument, "JWK crv missing");
    jwk.crv_ = *crv;
    PublicKeyKind kind;
    size_t field;
    if (jwk.crv_ == "P-256") {
      kind = PublicKeyKind::kEcP256;
      field = 32;
    } else if (jwk.crv_ == "P-384") {
      kind = PublicKeyKind::kEcP384;
      field = 48;
    } else {
      return Error(Code::kInvalidArgument, "JWK EC curve not supported");
    }
    // RFC 7518 §6.2.1.2/§6.2.1.3: x and y MUST be the full field size.
    ASTIS_ASSIGN_OR_RETURN(jwk.x_, RequiredB64uSized(obj, "x", field));
    ASTIS_ASSIGN_OR_RETURN(jwk.y_, RequiredB64uSized(obj, "y", field));
    // On-curve validation (test JwkTest.RejectsEcPointNotOnCurve).
    ASTIS_ASSIGN_OR_RETURN(VerificationKey vk, VerificationKey::FromEcPoint(kind, jwk.x_, jwk.y_));
    jwk.vkey_ = std::move(vk);
    if (obj.contains("d")) {
      // RFC 7518 §6.2.2.1: d MUST be the full field size.
      ASTIS_ASSIGN_OR_RETURN(auto d, RequiredB64uSized(obj, "d", field));
      jwk.d_ = SecretBytes::CopyFrom(d);
      SecureWipe(d.data(), d.size());
    }
  } else if (kty == "OKP") {
    jwk.kty_ = KeyType::kOkp;
    auto crv = GetString(obj, "crv");
    if (!crv.ok()) return Error(Code::kInvalidArgument, "JWK crv missing");
    jwk.crv_ = *crv;
    if (jwk.crv_ != "Ed25519" && jwk.crv_ != "X25519") {
      return Error(Code::kInvalidArgument, "JWK OKP curve not supported");
    }
    // RFC 8037 §2: x is the 32-byte public key.
    ASTIS_ASSIGN_OR_RETURN(jwk.x_, RequiredB64uSized(obj, "x", 32));
    if (jwk.crv_ == "Ed25519") {
      ASTIS_ASSIGN_OR_RETURN(Ed25519PublicKey pk, Ed25519PublicKey::FromBytes(jwk.x_));
      jwk.vkey_ = VerificationKey::FromEd25519(pk);
    }
    if (obj.contains("d")) {
      ASTIS_ASSIGN_OR_RETURN(auto d, RequiredB64uSized(obj, "d", 32));
      jwk.d_ = SecretBytes::CopyFrom(d);
      SecureWipe(d.data(), d.size());
    }
  } else {
    // "oct" (symmetric) and anything unknown are refused: no HMAC keys here.
    return Error(Code::kInvalidArgument, "JWK kty not supported");
  }
  return jwk;
}

Result<Jwk> Jwk::ParseText(std::string_view json_text) {
  JsonLimits limits;
  limits.max_bytes = 16 * 1024;
  limits.max_depth = 4;
  ASTIS_ASSIGN_OR_RETURN(Json obj, ParseJsonObject(json_text, limits));
  return Parse(obj);
}

Jwk Jwk::FromX25519Public(const X25519PublicKey& pk, std::string kid) {
  Jwk jwk;
  jwk.kty_ = KeyType::kOkp;
  jwk.crv_ = "X25519";
  jwk.x_.assign(pk.bytes.begin(), pk.bytes.end());
  jwk.kid_ = std::move(kid);
  return jwk;
}

Jwk Jwk::FromX25519Private(const X25519PrivateKey& sk, std::string kid) {
  Jwk jwk = FromX25519Public(sk.public_key(), std::move(kid));
  jwk.d_ = sk.secret().Clone();
  jwk.has_private_ = true;
  return jwk;
}

Jwk Jwk::FromP256Public(const P256PublicKey& pk, std::string kid) {
  Jwk jwk;
  jwk.kty_ = KeyType::kEc;
  jwk.crv_ = "P-256";
  // SEC1 §2.3.3: 0x04 || x || y, each coordinate 32 bytes.
  jwk.x_.assign(pk.bytes.begin() + 1, pk.bytes.begin() + 33);
  jwk.y_.assign(pk.bytes.begin() + 33, pk.bytes.end());
  jwk.kid_ = std::move(kid);
  return jwk;
}

Jwk Jwk::FromP256Private(const P256PrivateKey& sk, std::string kid) {
  Jwk jwk = FromP256Public(sk.public_key(), std::move(kid));
  jwk.d_ = sk.secret().Clone();
  jwk.has_private_ = true;
  return jwk;
}

Jwk Jwk::FromEd25519Public(const Ed25519PublicKey& pk) {
  Jwk jwk;
  jwk.kty_ = KeyType::kOkp;
  jwk.crv_ = "Ed25519";
  jwk.x_.assign(pk.bytes.begin(), pk.bytes.end());
  jwk.vkey_ = VerificationKey::FromEd25519(pk);
  return jwk;
}

Result<Jwk> Jwk::FromMembers(const Json& members) { return Parse(members); }

Jwk Jwk::Clone() const {
  Jwk c;
  c.kty_ = kty_;
  c.crv_ = crv_;
  c.kid_ = kid_;
  c.alg_ = alg_;
  c.use_ = use_;
  c.n_ = n_;
  c.e_ = e_;
  c.x_ = x_;
  c.y_ = y_;
  c.d_ = d_.Clone();
  c.vkey_ = vkey_;
  c.has_private_ = has_private_;
  return c;
}

Status Jwk::RequirePublic() const {
  if (has_private_) return Error(Code::kInvalidArgument, "JWK contains private key members");
  return OkStatus();
}

std::string Jwk::Thumbprint() const {
  // RFC 7638 §3.2: the required members only, lexicographic order, no
  // whitespace. All values are ASCII without characters needing escapes,
  // so the JSON is written directly (tests JwkTest.Rfc7638Thumbprint,
  // JwkTest.Rfc8037A1A2A3).
  std::string canonical;
  switch (kty_) {
    case KeyType::kRsa:
      canonical = R"({"e":")" + B64uEncode(e_) + R"(","kty":"RSA","n":")" + B64uEncode(n_) + R"("})";
      break;
    case KeyType::kEc:
      canonical = R"({"crv":")" + crv_ + R"(","kty":"EC","x":")" + B64uEncode(x_) + R"(","y":")" +
                  B64uEncode(y_) + R"("})";
      break;
    case KeyType::kOkp:
      canonical = R"({"crv":")" + crv_ + R"(","kty":"OKP","x":")" + B64uEncode(x_) + R"("})";
      break;
  }
  return B64uEncode(Sha256(canonical));
}

Result<X25519PublicKey> Jwk::ToX25519Public() const {
  if (kty_ != KeyType::kOkp || crv_ != "X25519") return Error(Code::kInvalidArgument, "JWK is not an X25519 key");
  return X25519PublicKey::FromBytes(x_);
}

Result<X25519PrivateKey> Jwk::ToX25519Private(SecretBytes::Protection p) const {
  if (kty_ != KeyType::kOkp || crv_ != "X25519") return Error(Code::kInvalidArgument, "JWK is not an X25519 key");
  if (d_.empty()) return Error(Code::kInvalidArgument, "JWK has no private key");
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey sk, X25519PrivateKey::FromBytes(d_.Reveal(), p));
  if (!std::equal(x_.begin(), x_.end(), sk.public_key().bytes.begin(), sk.public_key().bytes.end())) {
    return Error(Code::kInvalidArgument, "JWK d does not match x");
  }
  return sk;
}

Result<P256PublicKey> Jwk::ToP256Public() const {
  if (kty_ != KeyType::kEc || crv_ != "P-256") return Error(Code::kInvalidArgument, "JWK is not a P-256 key");
  std::vector<uint8_t> point;
  point.reserve(kP256PublicKeySize);
  point.push_back(0x04);
  point.insert(point.end(), x_.begin(), x_.end());
  point.insert(point.end(), y_.begin(), y_.end());
  return P256PublicKey::FromBytes(point);
}

Result<P256PrivateKey> Jwk::ToP256Private(SecretBytes::Protection p) const {
  if (kty_ != KeyType::kEc || crv_ != "P-256") return Error(Code::kInvalidArgument, "JWK is not a P-256 key");
  if (d_.empty()) return Error(Code::kInvalidArgument, "JWK has no private key");
  ASTIS_ASSIGN_OR_RETURN(P256PrivateKey sk, P256PrivateKey::FromBytes(d_.Reveal(), p));
  ASTIS_ASSIGN_OR_RETURN(P256PublicKey pk, ToP256Public());
  if (!(pk == sk.public_key())) return Error(Code::kInvalidArgument, "JWK d does not match x, y");
  return sk;
}

Result<Ed25519PublicKey> Jwk::ToEd25519Public() const {
  if (kty_ != KeyType::kOkp || crv_ != "Ed25519") return Error(Code::kInvalidArgument, "JWK is not an Ed25519 key");
  return Ed25519PublicKey::FromBytes(x_);
}

Result<VerificationKey> Jwk::ToVerificationKey() const {
  if (!vkey_.has_value()) return Error(Code::kInvalidArgument, "JWK is not a signature key");
  return *vkey_;
}

Json Jwk::ToJson(bool include_private) const {
  Json j = Json::object();  // std::map-backed: members serialise in lexicographic order
  switch (kty_) {
    case KeyType::kRsa:
      j["kty"] = "RSA";
      j["n"] = B64uEncode(n_);
      j["e"] = B64uEncode(e_);
      break;
    case KeyType::kEc:
      j["kty"] = "EC";
      j["crv"] = crv_;
      j["x"] = B64uEncode(x_);
      j["y"] = B64uEncode(y_);
      break;
    case KeyType::kOkp:
      j["kty"] = "OKP";
      j["crv"] = crv_;
      j["x"] = B64uEncode(x_);
      break;
  }
  if (!kid_.empty()) j["kid"] = kid_;
  if (!alg_.empty()) j["alg"] = alg_;
  if (!use_.empty()) j["use"] = use_;
  if (include_private && !d_.empty()) j["d"] = B64uEncode(d_.Reveal());
  return j;
}

Result<JwkSet> JwkSet::ParseJson(const Json& obj) {
  if (!obj.is_object()) return Error(Code::kInvalidArgument, "JWK set is not an object");
  auto keys = GetArray(obj, "keys");
  if (!keys.ok()) return Error(Code::kInvalidArgument, "JWK set has no keys array");
  if ((*keys)->size() > kMaxJwkSetKeys) return Error(Code::kInvalidArgument, "JWK set has too many keys");
  JwkSet set;
  std::set<std::string> kids;
  for (const Json& k : **keys) {
    ASTIS_ASSIGN_OR_RETURN(Jwk jwk, Jwk::Parse(k));
    ASTIS_RETURN_IF_ERROR(jwk.RequirePublic());
    if (!jwk.kid().empty() && !kids.insert(jwk.kid()).second) {
      return Error(Code::kInvalidArgument, "JWK set has duplicate kid");
    }
    set.keys_.push_back(std::move(jwk));
  }
  return set;
}

Result<JwkSet> JwkSet::Parse(std::string_view json_text) {
  JsonLimits limits;
  limits.max_bytes = 256 * 1024;
  limits.max_depth = 6;
  ASTIS_ASSIGN_OR_RETURN(Json obj, ParseJsonObject(json_text, limits));
  return ParseJson(obj);
}

const Jwk* JwkSet::Find(std::string_view kid) const {
  if (kid.empty()) return nullptr;
  for (const Jwk& k : keys_) {
    if (k.kid() == kid) return &k;
  }
  return nullptr;
}

}  // namespace astis::jose
