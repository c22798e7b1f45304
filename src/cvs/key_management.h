// Org key rotation and re-sealing (`astis key rotate`, `astis reseal`) as
// library functions; the CLI wires them to commands.
//
// Rotation keeps every old key as retired, so values sealed before the
// rotation still open (docs/protocol.md §2) until they are re-sealed. Re-sealing
// never holds plaintext outside SecretBytes: see Reseal and docs/cvs.md.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "capsule/org_key.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "crypto/random.h"

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
Result<std::vector<ResealedValue>> Reseal(std::span<const std::string> sealed_values, const capsule::OrgKeySet& keys,
                                          Random& rng, Clock& clock);

}  // namespace astis::cvs
