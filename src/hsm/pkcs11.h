// Org keys held in a PKCS#11 token (docs/hsm.md): the private half of a
// P-256 org key is generated inside the token as non-extractable and
// sensitive and never enters this process. Decapsulation asks the token for
// the ECDH shared secret (C_DeriveKey, CKM_ECDH1_DERIVE); the HPKE key
// schedule continues in the CVS (crypto/hpke.h takes a P256KeyAgreement).
//
// Keys are named by an RFC 7512 "pkcs11:" URI; the module path and the PIN
// file come from the CVS configuration, never from the URI.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/p256.h"

namespace astis::hsm {

// Pkcs11Uri is the subset of RFC 7512 this project uses to name a key:
// path attributes "token" (the token label), "object" (CKA_LABEL) and "id"
// (CKA_ID, percent-encoded bytes), at least "token" and one of "object" or
// "id"; "manufacturer", "model" and "serial" narrow the token and "type"
// may only be "private". Every other attribute is refused, as is any query
// component (module-path, module-name, pin-source, pin-value): the module and
// the PIN come from configuration (docs/hsm.md says why).
struct Pkcs11Uri {
  std::string token;
  std::string object;
  std::vector<uint8_t> id;
  std::string serial;
  std::string manufacturer;
  std::string model;
  std::string type;  // "private" (or empty)

  // Parse validates the URI (RFC 7512 §2.3 grammar, percent-decoding, no
  // duplicate attributes); kInvalidArgument names the attribute, never echoes
  // the value. Tests: Pkcs11UriTest.RefusesUnknownAttribute,
  // RefusesDuplicateAttribute, RefusesBadPercentEscapes, RefusesEmpty.
  static Result<Pkcs11Uri> Parse(std::string_view uri);
  // ToString renders a canonical URI (model, manufacturer, serial, token,
  // object, id, type; values percent-encoded) that Parse reads back.
  std::string ToString() const;
};

// Pkcs11Config locates the module and the user PIN.
struct Pkcs11Config {
  std::string module_path;  // e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string pin_file;     // the user PIN, mode 0600, trailing newline ignored
  size_t max_sessions = 8;  // sessions kept open for concurrent derives
};

// Pkcs11Module is one loaded PKCS#11 module with a logged-in pool of
// sessions on each token it is asked for. Thread-safe: concurrent derives
// take separate sessions from the pool. When the token fails (removed,
// device error, session handles invalidated), calls answer kCvsUnavailable
// and the pool is dropped; the next call re-opens and logs in again, so the
// CVS recovers by itself once the token is usable.
class Pkcs11Module : public std::enable_shared_from_this<Pkcs11Module> {
 public:
  // Load dlopens module_path, C_Initialize's it (CKF_OS_LOCKING_OK; once
  // per process and path, shared by every Pkcs11Module on it) and reads the
  // PIN file into locked memory. Errors: kNotFound for a missing PIN file or
  // module, kPermissionDenied for a PIN file group or others may read or
  // write, kInvalidArgument for an empty or over-long PIN or a library
  // without C_GetFunctionList, kIo, kCvsUnavailable when the module fails
  // to initialise. Test: Pkcs11Test.RefusesGroupReadablePinFile.
  static Result<std::shared_ptr<Pkcs11Module>> Load(const Pkcs11Config& config);
  virtual ~Pkcs11Module();

  // OpenP256Key finds the private key object the URI names (CKO_PRIVATE_KEY,
  // CKK_EC on P-256) and its public point (CKA_EC_POINT of the matching
  // public key object, or of the private key where the token keeps it).
  // The returned agreement keeps this module alive. Before returning it
  // proves the private and public objects are one pair (an ECDH in the
  // token against a fresh software key). kNotFound when no such object,
  // kInvalidArgument when the URI names several, when it is not a P-256
  // key, lacks CKA_DERIVE, or is extractable or not sensitive (a key that
  // could leave the token is refused; tests Pkcs11Test.OpenRefusesExtractableKey,
  // OpenRefusesNonSensitiveKey), kCvsUnavailable when the token cannot be used.
  // The agreement's Agree answers kCvsUnavailable while the token cannot be
  // used, dropping the session pool, and works again by itself once it can
  // (test Pkcs11Test.RemovedTokenIsUnavailableThenRecovers).
  Result<std::shared_ptr<const P256KeyAgreement>> OpenP256Key(std::string_view uri);

  // GenerateP256Key generates a P-256 key pair inside the token with
  // C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN): the private key token-resident,
  // CKA_SENSITIVE true, CKA_EXTRACTABLE false, CKA_DERIVE true; label and id
  // from the URI (object= is required; a random 16-byte CKA_ID when the URI
  // has no id). kAlreadyExists when an object with that label or id exists
  // (test Pkcs11Test.GenerateRefusesExistingLabel). Returns the public point.
  Result<P256PublicKey> GenerateP256Key(std::string_view uri);

 private:
  struct Impl;
  explicit Pkcs11Module(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace astis::hsm
