// Org key rotation and re-sealing (`astis key rotate`, `astis reseal`) as
// library functions; the CLI wires them to commands.
//
// Rotation keeps every old key as retired, so values sealed before the
// rotation still open (docs/protocol.md §2) until they are re-sealed. Re-sealing
// never holds plaintext outside SecretBytes: see Reseal and docs/cvs.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "capsule/org_key.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "crypto/random.h"
#include "cvs/cvs.h"

namespace astis::cvs {

// RotationResult describes a completed rotation. Nothing in it is secret.
struct RotationResult {
  std::string new_kid;
  std::string previous_kid;
  size_t retired_keys = 0;  // retired keys in the file after the rotation
  Json new_public_jwk;      // {"crv","kid","kty","x"} to publish for sealing
};

// RotateOrgKeys generates a new X25519 org key from rng, makes it the active
// key of the key set file at keyset_path and keeps every previous key as
// retired. The file (a key set or a single private JWK, which becomes a key
// set) must be mode 0600 or stricter. It is replaced atomically: a 0600
// temporary file in the same directory, fsync, rename, fsync of the
// directory, so a crash leaves either the old or the new set. Errors: those
// of capsule::OrgKeySet::LoadFile (kPermissionDenied, kInvalidArgument,
// kIo), kCrypto when rng fails, kIo when writing fails (the old file is then
// untouched).
Result<RotationResult> RotateOrgKeys(const std::string& keyset_path, Random& rng);

// ResealedValue is one output of Reseal: the sealed value (a new one, or the
// input when it was already sealed to the active key) and the kid it was
// sealed to before.
struct ResealedValue {
  std::string value;
  std::string previous_kid;
  bool changed = false;
};

// Reseal re-seals each "astis.v1..." value to keys.active(), keeping its
// binding: open the capsule (any key of the set) to get the DEK, decrypt the
// value into locked SecretBytes, and Seal it afresh (new DEK, IV and
// capsule, iat from clock). A new capsule is needed because the value's AAD
// includes CAPSULE_HASH, so the old ciphertext cannot be kept under a new
// capsule. Values already sealed to the active key are returned unchanged.
// All or nothing: the first failure fails the call with the value's index
// and a code (kInvalidArgument for a malformed value, kUnknownKey,
// kCapsuleInvalid, kCrypto), never its content. DEKs and plaintexts are
// wiped before returning.
//
// clusters re-binds the values (docs/protocol.md §3.1 v2): each value's
// clusters plus add, minus remove, written as v1 for one cluster and as a
// sorted v2 list for several. Adding a cluster already present or removing
// an absent one changes nothing; a value left with no cluster is refused
// (kInvalidArgument), as is an --add-cluster that is not a DNS-1123 label.
struct ClusterChange {
  std::vector<std::string> add;
  std::vector<std::string> remove;
};
Result<std::vector<ResealedValue>> Reseal(std::span<const std::string> sealed_values, const capsule::OrgKeySet& keys,
                                          Random& rng, Clock& clock, const ClusterChange& clusters = {});

// ---- Tier 1 key custody: one key set file per organisation
//
// The ASTIS CVS keeps organisation ORG's key set in <dir>/ORG.json (the
// capsule::OrgKeySet file format, mode 0600), written atomically as
// RotateOrgKeys writes. ORG must be a DNS-1123 label, so the name is a
// safe file name (docs/cvs.md "Key custody per organisation").

// OrgPublicKeyInfo is what creating or rotating an organisation's key
// answers: nothing in it is secret (the private key never leaves the CVS).
struct OrgPublicKeyInfo {
  std::string org;
  std::string kid;           // the new active key's kid
  std::string previous_kid;  // rotation only: the key that became retired
  size_t retired_keys = 0;   // retired keys in the set after the call
  Json public_jwk;           // {"crv","kid","kty","x"} to publish for sealing
};

// OrgKeySetPath is <dir>/<org>.json (org unchecked).
std::string OrgKeySetPath(const std::string& dir, std::string_view org);

// CreateOrgKeySet generates org's first key from rng and writes a key set
// holding only it to OrgKeySetPath(dir, org) (0600, atomic, never replacing
// an existing file). Errors: kInvalidArgument when org is not a DNS-1123
// label, kAlreadyExists when org already has a key set, kCrypto when rng
// fails, kIo when writing fails. Test: CreateOrgKeySetAnswersOnlyThePublicKey.
Result<OrgPublicKeyInfo> CreateOrgKeySet(const std::string& dir, std::string_view org, Random& rng);

// RotateOrgKeySet is RotateOrgKeys on org's file: a new active key, every
// previous one retired. Errors: kInvalidArgument for a bad org name,
// kNotFound when org has no key set, else those of RotateOrgKeys.
// Test: RotateOrgKeySetKeepsRetired.
Result<OrgPublicKeyInfo> RotateOrgKeySet(const std::string& dir, std::string_view org, Random& rng);

// OrgKeySets maps an organisation to its key set.
using OrgKeySets = std::map<std::string, capsule::OrgKeySet, std::less<>>;

// LoadOrgKeyDirectory reads every <org>.json in dir. Leftover temporary
// files of an interrupted write ("*.json.tmp.*") and dot files are skipped.
// Anything else is refused with an error naming the file and never its
// contents: a name that is not "<DNS-1123 label>.json" or not a regular file
// (a symlink included), a file readable or writable by group or others, a
// file that is not a valid key set (kInvalidArgument, kPermissionDenied,
// kIo). dir itself must be a directory not writable by group or others.
// Test: LoadOrgKeyDirectoryRefusesUnsafeFiles.
// tokens opens members held in a PKCS#11 token (capsule::OrgKeySet::ParseText).
Result<OrgKeySets> LoadOrgKeyDirectory(const std::string& dir, const capsule::TokenKeyResolver& tokens = {});

// OrgKeyCustodian creates and rotates an organisation's Tier 1 org key where
// it is held (the ASTIS CVS) and answers only the public key. Implemented in
// process by KeyDirectoryCustodian and remotely by RemoteCvsClient
// (cvs/remote.h). Thread-safe.
class OrgKeyCustodian {
 public:
  virtual ~OrgKeyCustodian() = default;
  // CreateOrgKey errors as CreateOrgKeySet (kCvsUnavailable when remote and
  // unreachable).
  virtual Result<OrgPublicKeyInfo> CreateOrgKey(std::string_view org) = 0;
  // RotateOrgKey errors as RotateOrgKeySet (kCvsUnavailable likewise).
  virtual Result<OrgPublicKeyInfo> RotateOrgKey(std::string_view org) = 0;
};

// KeyDirectoryCustodian is the in-process CVS's custodian: it writes dir
// (CreateOrgKeySet / RotateOrgKeySet), then swaps the new set into cvs, so
// the next rewrap uses it. Refresh picks up files another process (the
// CLI, or a second edge on the same directory) wrote. Borrows cvs and rng,
// which must outlive it. Thread-safe.
class KeyDirectoryCustodian final : public OrgKeyCustodian {
 public:
  KeyDirectoryCustodian(std::string dir, CvsService& cvs, Random& rng, capsule::TokenKeyResolver tokens = {});

  Result<OrgPublicKeyInfo> CreateOrgKey(std::string_view org) override;
  Result<OrgPublicKeyInfo> RotateOrgKey(std::string_view org) override;

  // Refresh re-reads every key set file whose size, mtime or inode changed
  // since it was last read (all of them the first time) and swaps it into
  // the CVS. All or nothing: on an error nothing changes. Errors as
  // LoadOrgKeyDirectory. Test: KeyDirectoryCustodianRefreshSeesNewFiles.
  Status Refresh();

 private:
  Status Reload(std::string_view org);

  const std::string dir_;
  CvsService& cvs_;
  Random& rng_;
  const capsule::TokenKeyResolver tokens_;
  std::mutex mu_;
  std::map<std::string, std::string, std::less<>> seen_;  // org -> file fingerprint
};

}  // namespace astis::cvs
