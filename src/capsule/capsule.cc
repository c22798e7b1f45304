#include "capsule/capsule.h"

#include "common/encoding.h"
#include "common/json.h"

namespace astis::capsule {
namespace {

Result<std::vector<uint8_t>> GetB64uOfSize(const Json& obj, std::string_view member, size_t size) {
  ASTIS_ASSIGN_OR_RETURN(std::string text, GetString(obj, member));
  auto bytes = B64uDecode(text);
  if (!bytes.ok() || bytes->size() != size)
    return Error(Code::kInvalidArgument, "capsule: \"" + std::string(member) + "\" is not b64u of " +
                                             std::to_string(size) + " bytes");
  return std::move(*bytes);
}

// JsonString renders one JSON string literal (escaping done by nlohmann).
std::string JsonString(std::string_view s) { return DumpJson(Json(std::string(s))); }

}  // namespace

Result<Capsule> Capsule::Parse(std::string_view bytes) {
  if (bytes.size() > kMaxCapsuleBytes) return Error(Code::kTooLarge, "capsule: exceeds size limit");
  JsonLimits limits;
  limits.max_bytes = kMaxCapsuleBytes;
  limits.max_depth = 3;
  auto parsed = ParseJsonObject(bytes, limits);
  if (!parsed.ok()) return parsed.status().Annotate("capsule");
  const Json& obj = *parsed;
  // docs/protocol.md "Capsule members": unknown members are refused, not
  // ignored, so what CAPSULE_HASH covers is what was checked.
  // Tests: RejectsCapsuleUnknownMember, RejectsCapsuleMissingMember.
  ASTIS_RETURN_IF_ERROR(RequireExactMembers(obj, {"v", "kid", "enc", "ct", "bind", "iat"}, "capsule"));

  const Json& v = obj["v"];
  if (!v.is_number_integer() || (v.get<int64_t>() != kCapsuleVersion && v.get<int64_t>() != kCapsuleVersion2))
    return Error(Code::kInvalidArgument, "capsule: unsupported version");
  const int64_t version = v.get<int64_t>();

  Capsule c;
  ASTIS_ASSIGN_OR_RETURN(c.kid_, GetString(obj, "kid"));
  // docs/protocol.md §2: a KID is an RFC 7638 SHA-256 thumbprint, b64u (32 bytes).
  // Test: RejectsKidNotThumbprint.
  auto kid_bytes = B64uDecode(c.kid_);
  if (!kid_bytes.ok() || kid_bytes->size() != 32)
    return Error(Code::kInvalidArgument, "capsule: \"kid\" is not an RFC 7638 SHA-256 thumbprint");
  // docs/protocol.md §2: enc is 32 bytes (X25519) or the 65-byte
  // uncompressed P-256 point; any other length or form is capsule_invalid.
  // Tests: RejectsCompressedP256Enc, RejectsP256EncNotUncompressed.
  {
    ASTIS_ASSIGN_OR_RETURN(std::string enc_text, GetString(obj, "enc"));
    auto enc = B64uDecode(enc_text);
    const bool size_ok = enc.ok() && (enc->size() == kCapsuleEncSize || enc->size() == kCapsuleP256EncSize);
    if (!size_ok) return Error(Code::kInvalidArgument, "capsule: \"enc\" is not b64u of 32 or 65 bytes");
    if (enc->size() == kCapsuleP256EncSize && (*enc)[0] != 0x04)
      return Error(Code::kInvalidArgument, "capsule: a 65-byte \"enc\" is not an uncompressed point");
    c.enc_ = std::move(*enc);
  }
  ASTIS_ASSIGN_OR_RETURN(c.ct_, GetB64uOfSize(obj, "ct", kCapsuleCtSize));
  ASTIS_ASSIGN_OR_RETURN(c.iat_, GetInt(obj, "iat"));
  if (c.iat_ < 0) return Error(Code::kInvalidArgument, "capsule: \"iat\" is negative");

  ASTIS_ASSIGN_OR_RETURN(const Json* bind, GetObject(obj, "bind"));
  // §3.1: a v1 capsule carries "cluster" and never "clusters"; a v2 capsule
  // the reverse. Tests: RejectsV1WithClusters, RejectsV2WithCluster,
  // RejectsV2RelabelledV1.
  if (version == kCapsuleVersion) {
    ASTIS_RETURN_IF_ERROR(
        RequireExactMembers(*bind, {"cluster", "namespace", "serviceAccount", "name", "key"}, "capsule bind"));
    ASTIS_ASSIGN_OR_RETURN(c.binding_.cluster, GetString(*bind, "cluster"));
  } else {
    ASTIS_RETURN_IF_ERROR(
        RequireExactMembers(*bind, {"clusters", "namespace", "serviceAccount", "name", "key"}, "capsule bind"));
    const Json& clusters = (*bind)["clusters"];
    if (!clusters.is_array()) return Error(Code::kInvalidArgument, "capsule bind: \"clusters\" is not an array");
    // Test: RejectsV2EmptyClusters (an empty list would read as v1).
    if (clusters.empty() || clusters.size() > kMaxBindingClusters)
      return Error(Code::kInvalidArgument, "capsule bind: \"clusters\" must hold 1 to 16 names");
    for (const Json& name : clusters) {
      if (!name.is_string()) return Error(Code::kInvalidArgument, "capsule bind: a cluster is not a string");
      c.binding_.clusters.push_back(name.get<std::string>());
    }
  }
  ASTIS_ASSIGN_OR_RETURN(c.binding_.namespace_, GetString(*bind, "namespace"));
  ASTIS_ASSIGN_OR_RETURN(c.binding_.service_account, GetString(*bind, "serviceAccount"));
  ASTIS_ASSIGN_OR_RETURN(c.binding_.name, GetString(*bind, "name"));
  ASTIS_ASSIGN_OR_RETURN(c.binding_.key, GetString(*bind, "key"));
  ASTIS_RETURN_IF_ERROR(c.binding_.Validate());

  // docs/protocol.md §3.1: CAPSULE_HASH is over the exact bytes, no
  // re-serialisation. Test: HashIsOverExactBytes.
  c.bytes_.assign(bytes.data(), bytes.size());
  c.hash_ = Sha256(c.bytes_);
  return c;
}

Result<Capsule> Capsule::Parse(std::span<const uint8_t> bytes) { return Parse(AsStringView(bytes)); }

Result<Capsule> Capsule::Build(std::string_view kid, std::span<const uint8_t> enc, std::span<const uint8_t> ct,
                               const Binding& binding, int64_t iat) {
  ASTIS_RETURN_IF_ERROR(binding.Validate());
  // Member order of docs/protocol.md §3.1: v, kid, enc, ct, bind, iat.
  std::string clusters;
  if (binding.version() == kCapsuleVersion) {
    clusters = "\"cluster\":" + JsonString(binding.cluster);
  } else {
    clusters = "\"clusters\":[";
    for (size_t i = 0; i < binding.clusters.size(); ++i) {
      if (i > 0) clusters += ',';
      clusters += JsonString(binding.clusters[i]);
    }
    clusters += ']';
  }
  std::string out = "{\"v\":" + std::to_string(binding.version()) + ",\"kid\":" + JsonString(kid) +
                    ",\"enc\":\"" + B64uEncode(enc) + "\",\"ct\":\"" + B64uEncode(ct) + "\",\"bind\":{" + clusters +
                    ",\"namespace\":" + JsonString(binding.namespace_) +
                    ",\"serviceAccount\":" + JsonString(binding.service_account) +
                    ",\"name\":" + JsonString(binding.name) + ",\"key\":" + JsonString(binding.key) +
                    "},\"iat\":" + std::to_string(iat) + "}";
  return Parse(std::string_view(out));
}

Result<SealedValue> SealedValue::Create(Capsule capsule, std::span<const uint8_t> iv,
                                        std::span<const uint8_t> ciphertext) {
  // docs/protocol.md §1: 12-byte IV, 16-byte tag. Tests: RejectsShortIv,
  // RejectsShortCiphertext.
  if (iv.size() != kValueIvSize) return Error(Code::kInvalidArgument, "sealed value: IV is not 12 bytes");
  if (ciphertext.size() < kValueTagSize)
    return Error(Code::kInvalidArgument, "sealed value: ciphertext shorter than the GCM tag");
  SealedValue v(std::move(capsule), std::vector<uint8_t>(iv.begin(), iv.end()),
                std::vector<uint8_t>(ciphertext.begin(), ciphertext.end()));
  if (v.ToString().size() > kMaxSealedValueBytes) return Error(Code::kTooLarge, "sealed value: exceeds size limit");
  return v;
}

Result<SealedValue> SealedValue::Parse(std::string_view text) {
  // Test: RejectsOversizeValue.
  if (text.size() > kMaxSealedValueBytes) return Error(Code::kTooLarge, "sealed value: exceeds size limit");
  // Test: RejectsWrongPrefix, RejectsWrongVersion.
  if (text.substr(0, kSealedValuePrefix.size()) != kSealedValuePrefix)
    return Error(Code::kInvalidArgument, "sealed value: not an astis.v1 value");
  std::string_view rest = text.substr(kSealedValuePrefix.size());
  // Exactly three parts after the prefix. Tests: RejectsTooFewParts,
  // RejectsTooManyParts.
  std::string_view parts[3];
  for (int i = 0; i < 3; ++i) {
    size_t dot = rest.find('.');
    if (i < 2) {
      if (dot == std::string_view::npos)
        return Error(Code::kInvalidArgument, "sealed value: expected 5 dot-separated parts");
      parts[i] = rest.substr(0, dot);
      rest = rest.substr(dot + 1);
    } else {
      if (dot != std::string_view::npos)
        return Error(Code::kInvalidArgument, "sealed value: expected 5 dot-separated parts");
      parts[i] = rest;
    }
  }
  // Strict b64u (docs/protocol.md "Words"). Test: RejectsPaddedB64u.
  auto capsule_bytes = B64uDecode(parts[0]);
  auto iv = B64uDecode(parts[1]);
  auto ct = B64uDecode(parts[2]);
  if (!capsule_bytes.ok() || !iv.ok() || !ct.ok() || capsule_bytes->empty())
    return Error(Code::kInvalidArgument, "sealed value: a part is not strict base64url");
  ASTIS_ASSIGN_OR_RETURN(Capsule capsule, Capsule::Parse(std::span<const uint8_t>(*capsule_bytes)));
  return Create(std::move(capsule), *iv, *ct);
}

std::string SealedValue::ToString() const {
  std::string out(kSealedValuePrefix);
  out += B64uEncode(capsule_.bytes());
  out += '.';
  out += B64uEncode(iv_);
  out += '.';
  out += B64uEncode(ciphertext_);
  return out;
}

}  // namespace astis::capsule
