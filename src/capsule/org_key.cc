#include "capsule/org_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "common/encoding.h"
#include "common/file_mode.h"
#include "jose/jwk.h"

namespace astis::capsule {
namespace {

inline constexpr size_t kMaxKeyFileBytes = 1024 * 1024;

// ParseOrgJwk parses an org key JWK of either suite. Members this format
// adds ("status", "pkcs11") are not JWK members, so they are removed before
// the strict JWK parser runs.
Result<jose::Jwk> ParseOrgJwk(const Json& obj) {
  if (!obj.is_object()) return Error(Code::kInvalidArgument, "org key: JWK is not an object");
  Json copy = obj;
  copy.erase("status");
  copy.erase("pkcs11");
  ASTIS_ASSIGN_OR_RETURN(jose::Jwk jwk, jose::Jwk::Parse(copy));
  const bool x25519 = jwk.kty() == jose::KeyType::kOkp && jwk.crv() == "X25519";
  const bool p256 = jwk.kty() == jose::KeyType::kEc && jwk.crv() == "P-256";
  // docs/protocol.md §2: an org key is X25519 or P-256. Test:
  // OrgKeyTest.RejectsNonX25519Key.
  if (!x25519 && !p256) return Error(Code::kInvalidArgument, "org key: not an OKP X25519 or EC P-256 key");
  return jwk;
}

// docs/protocol.md §2: KID = RFC 7638 thumbprint. Test: RejectsKidMismatch.
Status CheckKid(const jose::Jwk& jwk, const std::string& thumbprint) {
  if (!jwk.kid().empty() && jwk.kid() != thumbprint)
    return Error(Code::kInvalidArgument, "org key: kid is not the RFC 7638 thumbprint of the key");
  return OkStatus();
}

Result<std::string> ReadFileBounded(int fd, size_t limit) {
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      SecureWipe(out.data(), out.size());
      return Error(Code::kIo, "read failed");
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > limit) {
      SecureWipe(out.data(), out.size());
      SecureWipe(buf, sizeof buf);
      return Error(Code::kTooLarge, "file exceeds size limit");
    }
    // Reserve ahead so the buffer never reallocates and leaves copies behind.
    if (out.capacity() < limit && out.size() + static_cast<size_t>(n) > out.capacity()) out.reserve(limit);
    out.append(buf, static_cast<size_t>(n));
  }
  SecureWipe(buf, sizeof buf);
  return out;
}

// HoldsOnlyPublicKeys reports whether text is a JWK, or a JWK Set, whose
// keys all lack private material ("d", or "pkcs11" naming a token key).
// Text that is not such JSON is left to the real parser (false).
bool HoldsOnlyPublicKeys(std::string_view text) {
  JsonLimits limits;
  limits.max_bytes = kMaxKeyFileBytes;
  limits.max_depth = 4;
  auto parsed = ParseJsonObject(text, limits);
  if (!parsed.ok()) return false;
  auto is_public = [](const Json& k) {
    return k.is_object() && k.contains("kty") && !k.contains("d") && !k.contains("pkcs11");
  };
  bool only_public = false;
  if (parsed->contains("keys")) {
    const Json& keys = (*parsed)["keys"];
    only_public = keys.is_array() && !keys.empty() && std::all_of(keys.begin(), keys.end(), is_public);
  } else {
    only_public = is_public(*parsed);
  }
  *parsed = Json();  // a private key parsed here is dropped at once
  return only_public;
}

Result<std::string> ReadWholeFile(const std::string& path, bool is_private, std::string_view purpose = "") {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Error(errno == ENOENT ? Code::kNotFound : Code::kIo, "cannot open key file " + path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(Code::kIo, "key file is not a regular file: " + path);
  }
  auto text = ReadFileBounded(fd, kMaxKeyFileBytes);
  ::close(fd);
  if (!text.ok()) return text.status().Annotate(path);
  if (!is_private) return text;
  // The kind of key is checked before the mode: a public key file (0644 by
  // design) given where the private key is needed is a wrong file, not a
  // permissions problem, and "chmod 600" would be the wrong advice.
  // Tests: OrgKeyTest.PublicKeyFileWhereThePrivateIsNeeded, CliTest.UnsealNamesAPublicKeyFile.
  if (HoldsOnlyPublicKeys(*text)) {
    SecureWipe(text->data(), text->size());
    const std::string need = purpose.empty() ? std::string("the private org key (org-key.jwk) is needed here")
                                             : std::string(purpose) + " needs the private org key (org-key.jwk)";
    return Error(Code::kInvalidArgument, path + ": this is a public key; " + need);
  }
  // A private key readable by others, or by a group the owner did not grant
  // as root, is refused, not warned about: the file is the org key.
  // Test: RefusesGroupReadablePrivateKey (rule: common/file_mode.h).
  if (Status s = CheckSecretFileMode(st, "private key file", path); !s.ok()) {
    SecureWipe(text->data(), text->size());
    return s;
  }
  return text;
}

}  // namespace

std::string_view OrgKeySuiteName(OrgKeySuite suite) { return suite == OrgKeySuite::kP256 ? "p256" : "x25519"; }

Result<OrgKeySuite> ParseOrgKeySuite(std::string_view name) {
  if (name == "x25519") return OrgKeySuite::kX25519;
  if (name == "p256") return OrgKeySuite::kP256;
  return Error(Code::kInvalidArgument, "org key suite must be x25519 or p256");
}

size_t OrgKeyEncSize(OrgKeySuite suite) {
  return suite == OrgKeySuite::kP256 ? kHpkeP256EncSize : kHpkeEncSize;
}

OrgPublicKey OrgPublicKey::FromX25519(const X25519PublicKey& pk) {
  return OrgPublicKey(OrgKeySuite::kX25519, pk, P256PublicKey{}, jose::Jwk::FromX25519Public(pk).Thumbprint());
}

OrgPublicKey OrgPublicKey::FromP256(const P256PublicKey& pk) {
  // docs/protocol.md §2: KID = RFC 7638 thumbprint of {crv,kty,x,y}.
  // Test: OrgKeyP256Test.KidIsThumbprintOverCrvKtyXY.
  return OrgPublicKey(OrgKeySuite::kP256, X25519PublicKey{}, pk, jose::Jwk::FromP256Public(pk).Thumbprint());
}

Result<OrgPublicKey> OrgPublicKey::FromJwk(const Json& obj) {
  ASTIS_ASSIGN_OR_RETURN(jose::Jwk jwk, ParseOrgJwk(obj));
  std::optional<OrgPublicKey> out;
  if (jwk.kty() == jose::KeyType::kEc) {
    ASTIS_ASSIGN_OR_RETURN(P256PublicKey pk, jwk.ToP256Public());
    out = FromP256(pk);
  } else {
    ASTIS_ASSIGN_OR_RETURN(X25519PublicKey pk, jwk.ToX25519Public());
    out = FromX25519(pk);
  }
  ASTIS_RETURN_IF_ERROR(CheckKid(jwk, out->kid()));
  return std::move(*out);
}

Json OrgPublicKey::ToJwk() const {
  if (suite_ == OrgKeySuite::kP256) return jose::Jwk::FromP256Public(p256_, kid_).ToJson(false);
  return jose::Jwk::FromX25519Public(x25519_, kid_).ToJson(false);
}

Result<HpkeSealed> OrgPublicKey::HpkeSeal(std::span<const uint8_t> info, std::span<const uint8_t> aad,
                                          std::span<const uint8_t> pt, Random& rng) const {
  if (suite_ == OrgKeySuite::kP256) return HpkeSealBase(HpkeAeadId::kAes256Gcm, p256_, info, aad, pt, rng);
  return HpkeSealBase(HpkeAeadId::kAes256Gcm, x25519_, info, aad, pt, rng);
}

Result<OrgPrivateKey> OrgPrivateKey::Generate(Random& rng, SecretBytes::Protection p) {
  return Generate(OrgKeySuite::kX25519, rng, p);
}

Result<OrgPrivateKey> OrgPrivateKey::Generate(OrgKeySuite suite, Random& rng, SecretBytes::Protection p) {
  if (suite == OrgKeySuite::kP256) {
    ASTIS_ASSIGN_OR_RETURN(P256PrivateKey sk, P256PrivateKey::Generate(rng, p));
    OrgPrivateKey out(OrgPublicKey::FromP256(sk.public_key()));
    out.p256_.emplace(std::move(sk));
    return out;
  }
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey sk, X25519PrivateKey::Generate(rng, p));
  OrgPrivateKey out(OrgPublicKey::FromX25519(sk.public_key()));
  out.x25519_.emplace(std::move(sk));
  return out;
}

Result<OrgPrivateKey> OrgPrivateKey::FromJwk(const Json& obj, SecretBytes::Protection p) {
  ASTIS_ASSIGN_OR_RETURN(jose::Jwk jwk, ParseOrgJwk(obj));
  if (!jwk.has_private()) return Error(Code::kInvalidArgument, "org key: JWK has no private member \"d\"");
  if (jwk.kty() == jose::KeyType::kEc) {
    // The public point must be that of "d" (ToP256Private checks), or a key
    // set could name one key and open with another.
    // Test: OrgKeyP256Test.RejectsPrivateJwkWithForeignPoint.
    auto sk = jwk.ToP256Private(p);
    if (!sk.ok()) return Error(Code::kInvalidArgument, "org key: P-256 \"d\" does not match \"x\", \"y\"");
    OrgPrivateKey out(OrgPublicKey::FromP256(sk->public_key()));
    ASTIS_RETURN_IF_ERROR(CheckKid(jwk, out.kid()));
    out.p256_.emplace(std::move(*sk));
    return out;
  }
  // "x" must be the public key of "d" (ToX25519Private checks). Test:
  // RejectsPrivateJwkWithForeignX.
  auto sk = jwk.ToX25519Private(p);
  if (!sk.ok()) return Error(Code::kInvalidArgument, "org key: \"x\" does not match \"d\"");
  OrgPrivateKey out(OrgPublicKey::FromX25519(sk->public_key()));
  ASTIS_RETURN_IF_ERROR(CheckKid(jwk, out.kid()));
  out.x25519_.emplace(std::move(*sk));
  return out;
}

Result<OrgPrivateKey> OrgPrivateKey::FromToken(std::shared_ptr<const P256KeyAgreement> key, std::string uri) {
  if (key == nullptr) return Error(Code::kInvalidArgument, "org key: no token key");
  OrgPrivateKey out(OrgPublicKey::FromP256(key->public_key()));
  out.token_ = std::move(key);
  out.token_uri_ = std::move(uri);
  return out;
}

Result<SecretBytes> OrgPrivateKey::HpkeOpen(std::span<const uint8_t> enc, std::span<const uint8_t> info,
                                            std::span<const uint8_t> aad, std::span<const uint8_t> ct,
                                            SecretBytes::Protection p) const {
  // docs/protocol.md §2: the kid selects the suite, and enc must have that
  // suite's size: 32 bytes (X25519) or 65 (uncompressed P-256 point).
  // Test: SealP256Test.P256KidWithX25519SizedEncIsCapsuleInvalid.
  if (enc.size() != OrgKeyEncSize(suite()))
    return Error(Code::kInvalidArgument, "org key: enc size does not fit the key's suite");
  if (x25519_.has_value()) return HpkeOpenBase(HpkeAeadId::kAes256Gcm, enc, *x25519_, info, aad, ct, p);
  const P256KeyAgreement* key = p256_.has_value() ? static_cast<const P256KeyAgreement*>(&*p256_) : token_.get();
  if (key == nullptr) return Error(Code::kInternal, "org key: no private key");
  return HpkeOpenBase(HpkeAeadId::kAes256Gcm, enc, *key, info, aad, ct, p);
}

Json OrgPrivateKey::ToPrivateJwk() const {
  if (token_ != nullptr) {
    Json j = public_key_.ToJwk();
    j["pkcs11"] = token_uri_;
    return j;
  }
  if (p256_.has_value()) return jose::Jwk::FromP256Private(*p256_, kid()).ToJson(true);
  return jose::Jwk::FromX25519Private(*x25519_, kid()).ToJson(true);
}

Result<OrgKeySet> OrgKeySet::Create(OrgPrivateKey active, std::vector<OrgPrivateKey> retired) {
  std::vector<OrgPrivateKey> keys;
  keys.reserve(retired.size() + 1);
  keys.push_back(std::move(active));
  for (auto& k : retired) keys.push_back(std::move(k));
  std::set<std::string> kids;
  for (const auto& k : keys) {
    if (!kids.insert(k.kid()).second) return Error(Code::kInvalidArgument, "org key set: duplicate kid " + k.kid());
  }
  return OrgKeySet(std::move(keys));
}

namespace {

// ParseMember reads one key set member (or a lone private JWK): in memory
// with "d", or in a token with "pkcs11" (docs/hsm.md "Key set members").
Result<OrgPrivateKey> ParseMember(const Json& member, const TokenKeyResolver& tokens) {
  auto uri = member.is_object() ? member.find("pkcs11") : member.end();
  if (uri == member.end()) return OrgPrivateKey::FromJwk(member);
  if (!uri->is_string() || member.contains("d"))
    return Error(Code::kInvalidArgument, "org key: \"pkcs11\" must be a URI string, without \"d\"");
  // Tests: OrgKeyTokenTest.TokenMemberWithoutResolverRefused,
  // TokenMemberWithOtherPublicKeyRefused.
  if (!tokens) return Error(Code::kInvalidArgument, "org key: a PKCS#11 key but no pkcs11 module is configured");
  ASTIS_ASSIGN_OR_RETURN(OrgPublicKey declared, OrgPublicKey::FromJwk(member));
  if (declared.suite() != OrgKeySuite::kP256)
    return Error(Code::kInvalidArgument, "org key: a PKCS#11 org key must be P-256");
  ASTIS_ASSIGN_OR_RETURN(std::shared_ptr<const P256KeyAgreement> key, tokens(uri->get<std::string>()));
  ASTIS_ASSIGN_OR_RETURN(OrgPrivateKey out, OrgPrivateKey::FromToken(std::move(key), uri->get<std::string>()));
  if (!(out.public_key() == declared))
    return Error(Code::kInvalidArgument, "org key: the token's key is not the key set's public key " +
                                             declared.kid());
  return out;
}

}  // namespace

Result<OrgKeySet> OrgKeySet::ParseText(std::string_view text, const TokenKeyResolver& tokens) {
  JsonLimits limits;
  limits.max_bytes = kMaxKeyFileBytes;
  limits.max_depth = 4;
  auto parsed = ParseJsonObject(text, limits);
  if (!parsed.ok()) return parsed.status().Annotate("org key set");
  Json& obj = *parsed;
  if (!obj.contains("keys")) {
    // A single private JWK: the one active key.
    ASTIS_ASSIGN_OR_RETURN(OrgPrivateKey k, ParseMember(obj, tokens));
    obj = Json();  // drop the parsed copy of "d" early
    return Create(std::move(k));
  }
  if (obj.size() != 1 || !obj["keys"].is_array())
    return Error(Code::kInvalidArgument, "org key set: expected exactly {\"keys\":[...]}");
  std::vector<OrgPrivateKey> active;
  std::vector<OrgPrivateKey> retired;
  for (const Json& member : obj["keys"]) {
    if (!member.is_object()) return Error(Code::kInvalidArgument, "org key set: key is not an object");
    auto status = member.find("status");
    if (status == member.end() || !status->is_string())
      return Error(Code::kInvalidArgument, "org key set: key without \"status\"");
    const std::string s = status->get<std::string>();
    // Test: RejectsUnknownKeyStatus.
    if (s != "active" && s != "retired")
      return Error(Code::kInvalidArgument, "org key set: status must be \"active\" or \"retired\"");
    ASTIS_ASSIGN_OR_RETURN(OrgPrivateKey k, ParseMember(member, tokens));
    (s == "active" ? active : retired).push_back(std::move(k));
  }
  obj = Json();
  // docs/protocol.md §2: exactly one active key. Tests: RejectsTwoActiveKeys,
  // RejectsNoActiveKey.
  if (active.size() != 1) return Error(Code::kInvalidArgument, "org key set: need exactly one active key");
  return Create(std::move(active.front()), std::move(retired));
}

Result<OrgKeySet> OrgKeySet::LoadFile(const std::string& path, const TokenKeyResolver& tokens,
                                      std::string_view purpose) {
  ASTIS_ASSIGN_OR_RETURN(SecretBytes text, ReadPrivateKeyFile(path, purpose));
  auto set = ParseText(text.RevealString(), tokens);
  if (!set.ok()) return set.status().Annotate(path);
  return set;
}

const OrgPrivateKey* OrgKeySet::Find(std::string_view kid) const {
  for (const auto& k : keys_) {
    if (k.kid() == kid) return &k;
  }
  return nullptr;
}

Result<SecretBytes> ReadPrivateKeyFile(const std::string& path, std::string_view purpose) {
  ASTIS_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, /*is_private=*/true, purpose));
  SecretBytes out = SecretBytes::CopyFrom(text, SecretBytes::Protection::kLocked);
  SecureWipe(text.data(), text.size());
  return out;
}

Result<std::vector<OrgKeySummary>> SummarizeKeySetFile(const std::string& path) {
  ASTIS_ASSIGN_OR_RETURN(SecretBytes text, ReadPrivateKeyFile(path));
  JsonLimits limits;
  limits.max_bytes = kMaxKeyFileBytes;
  limits.max_depth = 4;
  auto parsed = ParseJsonObject(text.RevealString(), limits);
  if (!parsed.ok()) return parsed.status().Annotate(path);
  std::vector<Json> members;
  std::vector<bool> active;
  if (!parsed->contains("keys")) {
    members.push_back(std::move(*parsed));
    active.push_back(true);
  } else {
    if (parsed->size() != 1 || !(*parsed)["keys"].is_array())
      return Error(Code::kInvalidArgument, path + ": expected exactly {\"keys\":[...]}");
    for (Json& m : (*parsed)["keys"]) {
      auto st = m.is_object() ? m.find("status") : m.end();
      if (st == m.end() || !st->is_string() || (*st != "active" && *st != "retired"))
        return Error(Code::kInvalidArgument, path + ": a key without status \"active\" or \"retired\"");
      active.push_back(*st == "active");
      members.push_back(std::move(m));
    }
  }
  *parsed = Json();
  std::vector<OrgKeySummary> out;
  for (size_t i = 0; i < members.size(); ++i) {
    Json pub = members[i];
    pub.erase("d");  // only the public members are looked at
    members[i] = Json();
    auto key = OrgPublicKey::FromJwk(pub);
    if (!key.ok()) return key.status().Annotate(path);
    out.push_back(OrgKeySummary{key->kid(), active[i], key->suite(), pub.contains("pkcs11")});
  }
  if (std::count_if(out.begin(), out.end(), [](const OrgKeySummary& k) { return k.active; }) != 1)
    return Error(Code::kInvalidArgument, path + ": need exactly one active key");
  std::stable_partition(out.begin(), out.end(), [](const OrgKeySummary& k) { return k.active; });
  return out;
}

Result<OrgPublicKey> LoadOrgPublicKeyFile(const std::string& path) {
  ASTIS_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, /*is_private=*/false));
  auto parsed = ParseJsonObject(text);
  if (!parsed.ok()) return parsed.status().Annotate(path);
  const Json* jwk = &*parsed;
  if (parsed->contains("keys")) {
    const Json& keys = (*parsed)["keys"];
    if (!keys.is_array()) return Error(Code::kInvalidArgument, path + ": \"keys\" is not an array");
    jwk = nullptr;
    for (const Json& k : keys) {
      auto st = k.is_object() ? k.find("status") : k.end();
      if (st != k.end() && st->is_string() && st->get<std::string>() == "active") {
        if (jwk != nullptr) return Error(Code::kInvalidArgument, path + ": more than one active key");
        jwk = &k;
      }
    }
    if (jwk == nullptr) return Error(Code::kInvalidArgument, path + ": no active key");
  }
  // Test: SealRefusesPrivateKeyFile.
  if (jwk->contains("d"))
    return Error(Code::kInvalidArgument, path + ": is a private key; seal with the public key (org-key.pub.jwk)");
  auto key = OrgPublicKey::FromJwk(*jwk);
  if (!key.ok()) return key.status().Annotate(path);
  return key;
}

}  // namespace astis::capsule
