// Org keys (docs/protocol.md §2): X25519 HPKE key pairs named by their RFC 7638
// thumbprint, and the key set a CVS (or `astis unseal`) opens capsules with.
//
// Key set file (docs/sealed-value-format.md "Key files"): a JWK Set whose
// members each carry "status":"active" or "status":"retired"; exactly one is
// active. A single private JWK file (as `astis keygen` writes) is read as a
// set with that one key active.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "crypto/x25519.h"

namespace astis::capsule {

// OrgPublicKey is an org public key and its KID (RFC 7638 thumbprint of
// {crv,kty,x}). Constructible only through its factories, so kid always
// matches key.
class OrgPublicKey {
 public:
  // FromX25519 computes the KID of pk; it cannot fail.
  static OrgPublicKey FromX25519(const X25519PublicKey& pk);
  // FromJwk accepts an OKP/X25519 JWK (public members only are used); a
  // present "kid" must equal the thumbprint (kInvalidArgument otherwise).
  static Result<OrgPublicKey> FromJwk(const Json& jwk);

  const X25519PublicKey& key() const { return key_; }
  const std::string& kid() const { return kid_; }
  // ToJwk renders {"crv","kid","kty","x"}.
  Json ToJwk() const;

 private:
  OrgPublicKey(X25519PublicKey key, std::string kid) : key_(key), kid_(std::move(kid)) {}
  X25519PublicKey key_;
  std::string kid_;
};

// OrgPrivateKey is an org private key (scalar in SecretBytes) with its public
// half. Move-only; the scalar is wiped when the object is destroyed.
class OrgPrivateKey {
 public:
  // Generate draws a fresh key from rng (kCrypto when rng fails).
  static Result<OrgPrivateKey> Generate(Random& rng, SecretBytes::Protection p = SecretBytes::Protection::kPlain);
  // FromJwk accepts an OKP/X25519 JWK with "d"; "x" must be the public key
  // of "d" and a present "kid" the thumbprint (kInvalidArgument otherwise).
  static Result<OrgPrivateKey> FromJwk(const Json& jwk, SecretBytes::Protection p = SecretBytes::Protection::kLocked);

  const X25519PrivateKey& key() const { return key_; }
  const OrgPublicKey& public_key() const { return public_key_; }
  const std::string& kid() const { return public_key_.kid(); }
  // ToPrivateJwk renders the JWK with "d": the returned JSON holds secret
  // material, so callers write it to a 0600 file and nowhere else.
  Json ToPrivateJwk() const;

 private:
  OrgPrivateKey(X25519PrivateKey key, OrgPublicKey pub) : key_(std::move(key)), public_key_(std::move(pub)) {}
  X25519PrivateKey key_;
  OrgPublicKey public_key_;
};

// OrgKeySet is exactly one active key (used to seal) and any number of
// retired keys (still opened, never used to seal), docs/protocol.md §2.
class OrgKeySet {
 public:
  // Create refuses (kInvalidArgument) duplicate kids.
  static Result<OrgKeySet> Create(OrgPrivateKey active, std::vector<OrgPrivateKey> retired = {});
  // ParseText reads a key set file or a single private JWK (see the file
  // comment). Refuses unknown status values, zero or several active keys,
  // duplicate kids and public-only keys (kInvalidArgument).
  static Result<OrgKeySet> ParseText(std::string_view text);
  // LoadFile reads path with ReadPrivateKeyFile and parses it.
  static Result<OrgKeySet> LoadFile(const std::string& path);

  // Find returns the key whose kid equals kid (active or retired), or
  // nullptr. The pointer is owned by the set.
  const OrgPrivateKey* Find(std::string_view kid) const;
  const OrgPrivateKey& active() const { return keys_.front(); }
  size_t size() const { return keys_.size(); }

  OrgKeySet(OrgKeySet&&) noexcept = default;
  OrgKeySet& operator=(OrgKeySet&&) noexcept = default;

 private:
  explicit OrgKeySet(std::vector<OrgPrivateKey> keys) : keys_(std::move(keys)) {}
  std::vector<OrgPrivateKey> keys_;  // keys_[0] is the active key
};

// ReadPrivateKeyFile reads a regular file that holds private key material.
// It refuses (kPermissionDenied) a file readable or writable by group or
// others (mode must be 0600 or stricter; test RefusesGroupReadablePrivateKey)
// and reads at most 1 MiB (kTooLarge). The contents are returned in
// SecretBytes. I/O errors are kIo / kNotFound.
Result<SecretBytes> ReadPrivateKeyFile(const std::string& path);

// LoadOrgPublicKeyFile reads a public JWK file (or a key set, whose active
// key is used) and returns the key to seal to. A JWK carrying "d" is refused
// (kInvalidArgument): sealing needs only the public key, and a private key
// file has no business on a sealing workstation. Errors as FromJwk, kIo.
Result<OrgPublicKey> LoadOrgPublicKeyFile(const std::string& path);

}  // namespace astis::capsule
