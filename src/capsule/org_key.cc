#include "capsule/org_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "common/encoding.h"
#include "common/file_mode.h"
#include "jose/jwk.h"

namespace astis::capsule {
namespace {

inline constexpr size_t kMaxKeyFileBytes = 1024 * 1024;

// ParseX25519Jwk parses an org key JWK. Members this format adds ("status")
// are not JWK members, so they are removed before the strict JWK parser runs.
Result<jose::Jwk> ParseX25519Jwk(const Json& obj) {
  if (!obj.is_object()) return Error(Code::kInvalidArgument, "org key: JWK is not an object");
  Json copy = obj;
  copy.erase("status");
  ASTIS_ASSIGN_OR_RETURN(jose::Jwk jwk, jose::Jwk::Parse(copy));
  if (jwk.kty() != jose::KeyType::kOkp || jwk.crv() != "X25519")
    return Error(Code::kInvalidArgument, "org key: not an OKP X25519 key");
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

Result<std::string> ReadWholeFile(const std::string& path, bool is_private) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Error(errno == ENOENT ? Code::kNotFound : Code::kIo, "cannot open key file " + path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(Code::kIo, "key file is not a regular file: " + path);
  }
  // A private key readable by others, or by a group the owner did not grant
  // as root, is refused, not warned about: the file is the org key.
  // Test: RefusesGroupReadablePrivateKey (rule: common/file_mode.h).
  if (is_private) {
    if (Status s = CheckSecretFileMode(st, "private key file", path); !s.ok()) {
      ::close(fd);
      return s;
    }
  }
  auto text = ReadFileBounded(fd, kMaxKeyFileBytes);
  ::close(fd);
  if (!text.ok()) return text.status().Annotate(path);
  return text;
}

}  // namespace

OrgPublicKey OrgPublicKey::FromX25519(const X25519PublicKey& pk) {
  return OrgPublicKey(pk, jose::Jwk::FromX25519Public(pk).Thumbprint());
}

Result<OrgPublicKey> OrgPublicKey::FromJwk(const Json& obj) {
  ASTIS_ASSIGN_OR_RETURN(jose::Jwk jwk, ParseX25519Jwk(obj));
  ASTIS_ASSIGN_OR_RETURN(X25519PublicKey pk, jwk.ToX25519Public());
  OrgPublicKey out = FromX25519(pk);
  ASTIS_RETURN_IF_ERROR(CheckKid(jwk, out.kid()));
  return out;
}

Json OrgPublicKey::ToJwk() const { return jose::Jwk::FromX25519Public(key_, kid_).ToJson(false); }

Result<OrgPrivateKey> OrgPrivateKey::Generate(Random& rng, SecretBytes::Protection p) {
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey sk, X25519PrivateKey::Generate(rng, p));
  OrgPublicKey pub = OrgPublicKey::FromX25519(sk.public_key());
  return OrgPrivateKey(std::move(sk), std::move(pub));
}

Result<OrgPrivateKey> OrgPrivateKey::FromJwk(const Json& obj, SecretBytes::Protection p) {
  ASTIS_ASSIGN_OR_RETURN(jose::Jwk jwk, ParseX25519Jwk(obj));
  if (!jwk.has_private()) return Error(Code::kInvalidArgument, "org key: JWK has no private member \"d\"");
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey sk, jwk.ToX25519Private(p));
  ASTIS_ASSIGN_OR_RETURN(X25519PublicKey x, jwk.ToX25519Public());
  // "x" must be the public key of "d", or a key set could name one key and
  // open with another. Test: RejectsPrivateJwkWithForeignX.
  if (!(x == sk.public_key())) return Error(Code::kInvalidArgument, "org key: \"x\" does not match \"d\"");
  OrgPublicKey pub = OrgPublicKey::FromX25519(sk.public_key());
  ASTIS_RETURN_IF_ERROR(CheckKid(jwk, pub.kid()));
  return OrgPrivateKey(std::move(sk), std::move(pub));
}

Json OrgPrivateKey::ToPrivateJwk() const { return jose::Jwk::FromX25519Private(key_, kid()).ToJson(true); }

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

Result<OrgKeySet> OrgKeySet::ParseText(std::string_view text) {
  JsonLimits limits;
  limits.max_bytes = kMaxKeyFileBytes;
  limits.max_depth = 4;
  auto parsed = ParseJsonObject(text, limits);
  if (!parsed.ok()) return parsed.status().Annotate("org key set");
  Json& obj = *parsed;
  if (!obj.contains("keys")) {
    // A single private JWK: the one active key.
    ASTIS_ASSIGN_OR_RETURN(OrgPrivateKey k, OrgPrivateKey::FromJwk(obj));
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
    ASTIS_ASSIGN_OR_RETURN(OrgPrivateKey k, OrgPrivateKey::FromJwk(member));
    (s == "active" ? active : retired).push_back(std::move(k));
  }
  obj = Json();
  // docs/protocol.md §2: exactly one active key. Tests: RejectsTwoActiveKeys,
  // RejectsNoActiveKey.
  if (active.size() != 1) return Error(Code::kInvalidArgument, "org key set: need exactly one active key");
  return Create(std::move(active.front()), std::move(retired));
}

Result<OrgKeySet> OrgKeySet::LoadFile(const std::string& path) {
  ASTIS_ASSIGN_OR_RETURN(SecretBytes text, ReadPrivateKeyFile(path));
  auto set = ParseText(text.RevealString());
  if (!set.ok()) return set.status().Annotate(path);
  return set;
}

const OrgPrivateKey* OrgKeySet::Find(std::string_view kid) const {
  for (const auto& k : keys_) {
    if (k.kid() == kid) return &k;
  }
  return nullptr;
}

Result<SecretBytes> ReadPrivateKeyFile(const std::string& path) {
  ASTIS_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, /*is_private=*/true));
  SecretBytes out = SecretBytes::CopyFrom(text, SecretBytes::Protection::kLocked);
  SecureWipe(text.data(), text.size());
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
