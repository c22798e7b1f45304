#include "cvs/key_management.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "capsule/capsule.h"
#include "capsule/seal.h"
#include "common/dns1123.h"
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
// (mode and content after the rename). exclusive: link(2) instead of
// rename(2), so an existing path is never replaced (kAlreadyExists).
Status WriteFileAtomically(const std::string& path, std::string_view data, bool exclusive = false) {
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
  if (exclusive) {
    const int rc = link(tmp.c_str(), path.c_str());
    const int err = errno;
    unlink(tmp.c_str());
    if (rc != 0 && err == EEXIST) return Error(Code::kAlreadyExists, "key set: " + path + " exists");
    if (rc != 0) return Error(Code::kIo, std::string("key set: link into place: ") + std::strerror(err));
  } else if (rename(tmp.c_str(), path.c_str()) != 0) {
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

Status CheckOrgName(std::string_view org) {
  // The name becomes a file name: only a DNS-1123 label (no '/', no '.').
  if (!IsDns1123Label(org)) return Error(Code::kInvalidArgument, "org key set: organisation is not a DNS-1123 label");
  return OkStatus();
}

constexpr std::string_view kKeySetSuffix = ".json";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// FileFingerprint identifies a file's version well enough to notice a
// rewrite: the atomic write gives a new inode.
std::string FileFingerprint(const struct stat& st) {
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

struct DirEntry {
  std::string org;
  std::string path;
  std::string fingerprint;
};

// ListKeyDirectory lists the key set files of dir, refusing unsafe entries
// (see LoadOrgKeyDirectory).
Result<std::vector<DirEntry>> ListKeyDirectory(const std::string& dir) {
  struct stat dst {};
  if (lstat(dir.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode))
    return Error(Code::kIo, "org key directory " + dir + ": not a directory");
  if ((dst.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return Error(Code::kPermissionDenied, "org key directory " + dir + ": writable by group or others");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return Error(Code::kIo, Errno("org key directory " + dir));
  std::vector<DirEntry> out;
  Status bad = OkStatus();
  while (struct dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    if (name.find(".json.tmp.") != std::string::npos) continue;  // an interrupted write's leftover
    const std::string path = dir + "/" + name;
    if (!EndsWith(name, kKeySetSuffix) || !IsDns1123Label(name.substr(0, name.size() - kKeySetSuffix.size()))) {
      bad = Error(Code::kInvalidArgument, "org key directory: " + path + ": not named <organisation>.json");
      break;
    }
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      bad = Error(Code::kInvalidArgument, "org key directory: " + path + ": not a regular file");
      break;
    }
    out.push_back(DirEntry{name.substr(0, name.size() - kKeySetSuffix.size()), path, FileFingerprint(st)});
  }
  closedir(d);
  if (!bad.ok()) return bad;
  std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.org < b.org; });
  return out;
}

// LoadKeySetFile loads one key set, the error naming path and never the
// file's contents (OrgKeySet's messages name members, not values).
Result<capsule::OrgKeySet> LoadKeySetFile(const std::string& path, const capsule::TokenKeyResolver& tokens) {
  auto set = capsule::OrgKeySet::LoadFile(path, tokens);
  if (!set.ok()) {
    // LoadFile's messages already name the path for open/mode errors; parse
    // errors name only the member, so the path is added.
    const std::string& m = set.status().message();
    if (m.find(path) != std::string::npos) return set.status();
    return set.status().Annotate("org key set " + path);
  }
  return set;
}

}  // namespace

std::string OrgKeySetPath(const std::string& dir, std::string_view org) {
  return dir + "/" + std::string(org) + std::string(kKeySetSuffix);
}

Result<OrgPublicKeyInfo> CreateOrgKeySet(const std::string& dir, std::string_view org, Random& rng) {
  ASTIS_RETURN_IF_ERROR(CheckOrgName(org));
  const std::string path = OrgKeySetPath(dir, org);
  if (access(path.c_str(), F_OK) == 0) return Error(Code::kAlreadyExists, "org key set: " + path + " exists");
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgPrivateKey fresh,
                         capsule::OrgPrivateKey::Generate(rng, SecretBytes::Protection::kLocked));
  OrgPublicKeyInfo info;
  info.org = std::string(org);
  info.kid = fresh.kid();
  info.public_jwk = fresh.public_key().ToJwk();
  Json active = fresh.ToPrivateJwk();
  active["status"] = "active";
  Json root = {{"keys", Json::array({std::move(active)})}};
  WipingString out{root.dump(2) + "\n"};
  WipeJsonSecrets(root);
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet check, capsule::OrgKeySet::ParseText(out.s));
  if (check.active().kid() != info.kid || check.size() != 1)
    return Error(Code::kInternal, "key set: new set does not read back as written");
  ASTIS_RETURN_IF_ERROR(WriteFileAtomically(path, out.s, /*exclusive=*/true));
  return info;
}

Result<OrgPublicKeyInfo> RotateOrgKeySet(const std::string& dir, std::string_view org, Random& rng) {
  ASTIS_RETURN_IF_ERROR(CheckOrgName(org));
  const std::string path = OrgKeySetPath(dir, org);
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return Error(Code::kNotFound, "org key set: organisation has no key set");
  if (!S_ISREG(st.st_mode)) return Error(Code::kInvalidArgument, "org key set: " + path + ": not a regular file");
  ASTIS_ASSIGN_OR_RETURN(RotationResult r, RotateOrgKeys(path, rng));
  OrgPublicKeyInfo info;
  info.org = std::string(org);
  info.kid = std::move(r.new_kid);
  info.previous_kid = std::move(r.previous_kid);
  info.retired_keys = r.retired_keys;
  info.public_jwk = std::move(r.new_public_jwk);
  return info;
}

Result<OrgKeySets> LoadOrgKeyDirectory(const std::string& dir, const capsule::TokenKeyResolver& tokens) {
  ASTIS_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, ListKeyDirectory(dir));
  OrgKeySets sets;
  for (const DirEntry& e : entries) {
    ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet set, LoadKeySetFile(e.path, tokens));
    sets.emplace(e.org, std::move(set));
  }
  return sets;
}

KeyDirectoryCustodian::KeyDirectoryCustodian(std::string dir, CvsService& cvs, Random& rng,
                                             capsule::TokenKeyResolver tokens)
    : dir_(std::move(dir)), cvs_(cvs), rng_(rng), tokens_(std::move(tokens)) {}

Status KeyDirectoryCustodian::Reload(std::string_view org) {
  const std::string path = OrgKeySetPath(dir_, org);
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return Error(Code::kIo, Errno("org key set " + path));
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet set, LoadKeySetFile(path, tokens_));
  cvs_.SetOrgKeys(org, std::move(set));
  seen_[std::string(org)] = FileFingerprint(st);
  return OkStatus();
}

Result<OrgPublicKeyInfo> KeyDirectoryCustodian::CreateOrgKey(std::string_view org) {
  std::lock_guard<std::mutex> lock(mu_);
  ASTIS_ASSIGN_OR_RETURN(OrgPublicKeyInfo info, CreateOrgKeySet(dir_, org, rng_));
  ASTIS_RETURN_IF_ERROR(Reload(org));
  return info;
}

Result<OrgPublicKeyInfo> KeyDirectoryCustodian::RotateOrgKey(std::string_view org) {
  std::lock_guard<std::mutex> lock(mu_);
  ASTIS_ASSIGN_OR_RETURN(OrgPublicKeyInfo info, RotateOrgKeySet(dir_, org, rng_));
  ASTIS_RETURN_IF_ERROR(Reload(org));
  return info;
}

Status KeyDirectoryCustodian::Refresh() {
  std::lock_guard<std::mutex> lock(mu_);
  ASTIS_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, ListKeyDirectory(dir_));
  std::vector<std::pair<const DirEntry*, capsule::OrgKeySet>> changed;
  for (const DirEntry& e : entries) {
    auto it = seen_.find(e.org);
    if (it != seen_.end() && it->second == e.fingerprint) continue;
    ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet set, LoadKeySetFile(e.path, tokens_));
    changed.emplace_back(&e, std::move(set));
  }
  for (auto& [e, set] : changed) {
    cvs_.SetOrgKeys(e->org, std::move(set));
    seen_[e->org] = e->fingerprint;
  }
  return OkStatus();
}

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

  // The new key keeps the active key's suite (docs/protocol.md §2: a set may
  // mix suites; sealing uses the active key's). Test: RotateKeepsP256Suite.
  ASTIS_ASSIGN_OR_RETURN(
      capsule::OrgPrivateKey fresh,
      capsule::OrgPrivateKey::Generate(old_set.active().suite(), rng, SecretBytes::Protection::kLocked));
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
                                          Random& rng, Clock& clock, const ClusterChange& clusters) {
  const capsule::OrgPrivateKey& active = keys.active();
  for (const auto& c : clusters.add) {
    if (!IsDns1123Label(c)) return Error(Code::kInvalidArgument, "reseal: --add-cluster is not a DNS-1123 label");
  }
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
    // The new cluster set: the old one, plus add, minus remove. Adding a
    // cluster already there or removing one that is not is a no-op, so a
    // re-run is harmless; removing the last cluster is refused, since a
    // value bound to no cluster could never be opened.
    // Tests: ResealAddsCluster, ResealRemovesClusterBackToV1,
    // ResealRefusesRemovingLastCluster.
    std::vector<std::string> wanted = cap.binding().AllClusters();
    for (const auto& c : clusters.add) {
      if (std::find(wanted.begin(), wanted.end(), c) == wanted.end()) wanted.push_back(c);
    }
    std::erase_if(wanted, [&](const std::string& c) {
      return std::find(clusters.remove.begin(), clusters.remove.end(), c) != clusters.remove.end();
    });
    if (wanted.empty()) {
      return Error(Code::kInvalidArgument,
                   "reseal: value #" + std::to_string(i) + " would be bound to no cluster; keep at least one");
    }
    const capsule::Binding& old = cap.binding();
    auto binding = capsule::Binding::ForClusters(wanted, old.namespace_, old.service_account, old.name, old.key);
    if (!binding.ok()) return fail(binding.status());
    // A v2 value that keeps its clusters stays v2 even with one cluster left
    // (ForClusters would write v1): only a change of the set changes the form.
    // Both lists are sorted already: a parsed v2 list is strictly ascending
    // (Binding::Validate) and ForClusters sorts what it writes.
    const bool same_clusters = old.AllClusters() == binding->AllClusters();
    if (cap.kid() == active.kid() && same_clusters) {
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
    const capsule::Binding& target = same_clusters ? old : *binding;
    auto resealed = capsule::Seal(active.public_key(), target, plaintext->Reveal(), rng, clock);
    plaintext->Wipe();
    if (!resealed.ok()) return fail(resealed.status());
    r.value = resealed->ToString();
    r.changed = true;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace astis::cvs
