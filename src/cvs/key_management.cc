#include "cvs/key_management.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "capsule/capsule.h"
#include "capsule/seal.h"
#include "crypto/secret_bytes.h"

namespace astis::cvs {
namespace {

std::string Errno(std::string_view what) { return std::string(what) + ": " + std::strerror(errno); }

// WipeJsonSecrets zeroes every "d" string in a key set's JSON, so the private
// scalars do not linger in freed heap memory.
void WipeJsonSecrets(Json& value) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it.key() == "d" && it->is_string()) {
        auto& s = it->get_ref<std::string&>();
        SecureWipe(s.data(), s.size());
      } else {
        WipeJsonSecrets(*it);
      }
    }
  } else if (value.is_array()) {
    for (Json& v : value) WipeJsonSecrets(v);
  }
}

// WipingString is a std::string that is wiped when it goes out of scope.
struct WipingString {
  std::string s;
  ~WipingString() { SecureWipe(s.data(), s.size()); }
};

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// WriteFileAtomically replaces path with data: temp file (0600) in the same
// directory, fsync, rename, fsync of the directory. Test: RotateKeepsRetired
// (mode and content after the rename).
Status WriteFileAtomically(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return Error(Code::kIo, Errno("key set: create temporary file"));
  auto fail = [&](std::string what) {
    Status s = Error(Code::kIo, Errno(what));
    close(fd);
    unlink(tmp.c_str());
    return s;
  };
  if (fchmod(fd, 0600) != 0) return fail("key set: chmod temporary file");
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("key set: write temporary file");
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("key set: fsync temporary file");
  if (close(fd) != 0) {
    Status s = Error(Code::kIo, Errno("key set: close temporary file"));
    unlink(tmp.c_str());
    return s;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Error(Code::kIo, Errno("key set: rename into place"));
    unlink(tmp.c_str());
    return s;
  }
  int dir = open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    int rc = fsync(dir);
    close(dir);
    if (rc != 0) return Error(Code::kIo, Errno("key set: fsync directory"));
  }
  return OkStatus();
}

}  // namespace

Result<RotationResult> RotateOrgKeys(const std::string& keyset_path, Random& rng) {
  // LoadFile enforces mode 0600 and the key set rules of docs/protocol.md §2.
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet old_set, capsule::OrgKeySet::LoadFile(keyset_path));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes text, capsule::ReadPrivateKeyFile(keyset_path));
  JsonLimits limits;
  limits.max_bytes = 1024 * 1024;
  limits.max_depth = 4;
  auto parsed = ParseJsonObject(text.RevealString(), limits);
  text.Wipe();
  if (!parsed.ok()) return parsed.status().Annotate(keyset_path);
  Json old_root = std::move(*parsed);

  ASTIS_ASSIGN_OR_RETURN(capsule::OrgPrivateKey fresh,
                         capsule::OrgPrivateKey::Generate(rng, SecretBytes::Protection::kLocked));
  RotationResult result;
  result.new_kid = fresh.kid();
  result.previous_kid = old_set.active().kid();
  result.new_public_jwk = fresh.public_key().ToJwk();

  // docs/protocol.md §2: exactly one active key; every earlier key stays as
  // retired (still opened, never used to seal). Test: RotateKeepsRetired.
  Json keys = Json::array();
  Json active = fresh.ToPrivateJwk();
  active["status"] = "active";
  keys.push_back(std::move(active));
  if (old_root.contains("keys")) {
    for (Json& member : old_root["keys"]) {
      member["status"] = "retired";
      keys.push_back(std::move(member));
    }
  } else {
    old_root["status"] = "retired";
    keys.push_back(std::move(old_root));
  }
  result.retired_keys = keys.size() - 1;
  Json root = {{"keys", std::move(keys)}};
  WipingString out{root.dump(2) + "\n"};
  WipeJsonSecrets(root);
  WipeJsonSecrets(old_root);

  // Re-read what is about to be written: it must be a valid set whose
  // active key is the new one.
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet check, capsule::OrgKeySet::ParseText(out.s));
  if (check.active().kid() != result.new_kid || check.size() != result.retired_keys + 1)
    return Error(Code::kInternal, "key set: rotated set does not read back as written");
  ASTIS_RETURN_IF_ERROR(WriteFileAtomically(keyset_path, out.s));
  return result;
}

Result<std::vector<ResealedValue>> Reseal(std::span<const std::string> sealed_values, const capsule::OrgKeySet& keys,
                                          Random& rng, Clock& clock) {
  const capsule::OrgPrivateKey& active = keys.active();
  std::vector<ResealedValue> out;
  out.reserve(sealed_values.size());
  for (size_t i = 0; i < sealed_values.size(); ++i) {
    auto fail = [i](const Status& s) {
      return Error(s.code(), "reseal: value #" + std::to_string(i) + ": " + std::string(WireName(s.code())));
    };
    auto value = capsule::SealedValue::Parse(sealed_values[i]);
    if (!value.ok()) return fail(value.status());
    const capsule::Capsule& cap = value->capsule();
    ResealedValue r;
    r.previous_kid = cap.kid();
    if (cap.kid() == active.kid()) {
      r.value = sealed_values[i];
      out.push_back(std::move(r));
      continue;
    }
    // The DEK and the plaintext exist only in locked SecretBytes, wiped at
    // the end of this iteration. The value's AAD binds CAPSULE_HASH, so the
    // value is re-encrypted under a fresh DEK and IV rather than reusing the
    // old ciphertext. Test: ResealOpensWithNewKey.
    auto dek = capsule::OpenCapsule(keys, cap);
    if (!dek.ok()) return fail(dek.status());
    auto plaintext = capsule::DecryptValue(*dek, *value, SecretBytes::Protection::kLocked);
    dek->Wipe();
    if (!plaintext.ok()) return fail(plaintext.status());
    auto resealed = capsule::Seal(active.public_key(), cap.binding(), plaintext->Reveal(), rng, clock);
    plaintext->Wipe();
    if (!resealed.ok()) return fail(resealed.status());
    r.value = resealed->ToString();
    r.changed = true;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace astis::cvs
