// Org keys (docs/protocol.md §2): X25519 or P-256 HPKE key pairs named by
// their RFC 7638 thumbprint, and the key set a CVS (or `astis unseal`) opens
// capsules with. A P-256 private key may live in a PKCS#11 token instead of
// memory (docs/hsm.md).
//
// Key set file (docs/sealed-value-format.md "Key files"): a JWK Set whose
// members each carry "status":"active" or "status":"retired"; exactly one is
// active. A single private JWK file (as `astis keygen` writes) is read as a
// set with that one key active.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "crypto/hpke.h"
#include "crypto/p256.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "crypto/x25519.h"

namespace astis::capsule {

// OrgKeySuite is the HPKE KEM of an org key (docs/protocol.md §1): DHKEM
// X25519 (0x0020, the default) or DHKEM P-256 (0x0010, for keys held in
// hardware). The capsule's kid selects the key and so the suite.
enum class OrgKeySuite { kX25519, kP256 };

// OrgKeySuiteName returns "x25519" or "p256" (the CLI's --suite values).
std::string_view OrgKeySuiteName(OrgKeySuite suite);
// ParseOrgKeySuite reads "x25519" or "p256" (kInvalidArgument otherwise).
Result<OrgKeySuite> ParseOrgKeySuite(std::string_view name);
// OrgKeyEncSize is the HPKE enc size a capsule sealed to this suite carries:
// 32 (X25519) or 65 (the uncompressed P-256 point).
size_t OrgKeyEncSize(OrgKeySuite suite);

// TokenKeyResolver opens a P-256 org key held in a hardware token by its
// RFC 7512 "pkcs11:" URI (hsm/pkcs11.h provides one). Key set members that
// carry "pkcs11" instead of "d" are opened through it.
using TokenKeyResolver =
    std::function<Result<std::shared_ptr<const P256KeyAgreement>>(std::string_view pkcs11_uri)>;

// OrgPublicKey is an org public key of either suite and its KID (RFC 7638
// thumbprint of {crv,kty,x} for X25519, {crv,kty,x,y} for P-256).
// Constructible only through its factories, so kid always matches key.
class OrgPublicKey {
 public:
  // FromX25519 / FromP256 compute the KID; they cannot fail.
  static OrgPublicKey FromX25519(const X25519PublicKey& pk);
  static OrgPublicKey FromP256(const P256PublicKey& pk);
  // FromJwk accepts an OKP/X25519 or EC/P-256 JWK (public members only are
  // used); a present "kid" must equal the thumbprint (kInvalidArgument
  // otherwise). Tests: OrgKeyTest.RejectsKidMismatch,
  // OrgKeyP256Test.KidIsThumbprintOverCrvKtyXY.
  static Result<OrgPublicKey> FromJwk(const Json& jwk);

  OrgKeySuite suite() const { return suite_; }
  const std::string& kid() const { return kid_; }
  // x25519 / p256 return the key of that suite, or nullptr for the other.
  const X25519PublicKey* x25519() const { return suite_ == OrgKeySuite::kX25519 ? &x25519_ : nullptr; }
  const P256PublicKey* p256() const { return suite_ == OrgKeySuite::kP256 ? &p256_ : nullptr; }
  // ToJwk renders {"crv","kid","kty","x"} (X25519) or
  // {"crv","kid","kty","x","y"} (P-256).
  Json ToJwk() const;

  // HpkeSeal is HPKE SealBase (mode_base, HKDF-SHA256, AES-256-GCM) to this
  // key with the suite's KEM (docs/protocol.md §1).
  Result<HpkeSealed> HpkeSeal(std::span<const uint8_t> info, std::span<const uint8_t> aad,
                              std::span<const uint8_t> pt, Random& rng) const;

  friend bool operator==(const OrgPublicKey& a, const OrgPublicKey& b) { return a.kid_ == b.kid_; }

 private:
  OrgPublicKey(OrgKeySuite suite, X25519PublicKey x, P256PublicKey p, std::string kid)
      : suite_(suite), x25519_(x), p256_(p), kid_(std::move(kid)) {}
  OrgKeySuite suite_;
  X25519PublicKey x25519_{};
  P256PublicKey p256_{};
  std::string kid_;
};

// OrgPrivateKey is an org private key with its public half: an X25519 or
// P-256 scalar in SecretBytes, or a P-256 key that stays in a PKCS#11 token
// (only a handle is held here). Move-only; scalars are wiped on destruction.
class OrgPrivateKey {
 public:
  // Generate draws a fresh X25519 key from rng (kCrypto when rng fails).
  static Result<OrgPrivateKey> Generate(Random& rng, SecretBytes::Protection p = SecretBytes::Protection::kPlain);
  // Generate draws a fresh key of the given suite.
  static Result<OrgPrivateKey> Generate(OrgKeySuite suite, Random& rng,
                                        SecretBytes::Protection p = SecretBytes::Protection::kPlain);
  // FromJwk accepts an OKP/X25519 or EC/P-256 JWK with "d"; the public
  // members must be those of "d" and a present "kid" the thumbprint
  // (kInvalidArgument otherwise).
  static Result<OrgPrivateKey> FromJwk(const Json& jwk, SecretBytes::Protection p = SecretBytes::Protection::kLocked);
  // FromToken wraps a P-256 key held in a token (key must be non-null; its
  // public point gives the kid); uri is kept for the key set file.
  static Result<OrgPrivateKey> FromToken(std::shared_ptr<const P256KeyAgreement> key, std::string uri);

  OrgKeySuite suite() const { return public_key_.suite(); }
  const OrgPublicKey& public_key() const { return public_key_; }
  const std::string& kid() const { return public_key_.kid(); }
  // in_token reports whether the private half is held by a PKCS#11 token.
  bool in_token() const { return token_ != nullptr; }
  // x25519 / p256 return the in-memory private key of that suite, or nullptr
  // (the other suite, or a key held in a token).
  const X25519PrivateKey* x25519() const { return x25519_.has_value() ? &*x25519_ : nullptr; }
  const P256PrivateKey* p256() const { return p256_.has_value() ? &*p256_ : nullptr; }
  const std::string& token_uri() const { return token_uri_; }

  // HpkeOpen is HPKE OpenBase with this key. An enc whose size is not the
  // suite's (32 or 65 bytes) is kInvalidArgument; a failed open kCrypto; a
  // token that cannot be used kCvsUnavailable (fail closed).
  Result<SecretBytes> HpkeOpen(std::span<const uint8_t> enc, std::span<const uint8_t> info,
                               std::span<const uint8_t> aad, std::span<const uint8_t> ct,
                               SecretBytes::Protection p = SecretBytes::Protection::kLocked) const;

  // ToPrivateJwk renders the key set member: the JWK with "d" for a key in
  // memory (secret material: callers write it to a 0600 file and nowhere
  // else), or the public JWK with "pkcs11":URI for a token key.
  Json ToPrivateJwk() const;

 private:
  explicit OrgPrivateKey(OrgPublicKey pub) : public_key_(std::move(pub)) {}
  OrgPublicKey public_key_;
  std::optional<X25519PrivateKey> x25519_;
  std::optional<P256PrivateKey> p256_;
  std::shared_ptr<const P256KeyAgreement> token_;
  std::string token_uri_;
};

// OrgKeySet is exactly one active key (used to seal) and any number of
// retired keys (still opened, never used to seal), docs/protocol.md §2.
class OrgKeySet {
 public:
  // Create refuses (kInvalidArgument) duplicate kids.
  static Result<OrgKeySet> Create(OrgPrivateKey active, std::vector<OrgPrivateKey> retired = {});
  // ParseText reads a key set file or a single private JWK (see the file
  // comment). Members may mix suites. A member with "pkcs11":URI and no "d"
  // is opened through tokens (kInvalidArgument when tokens is empty, or when
  // the token's key is not the member's public key). Refuses unknown status
  // values, zero or several active keys, duplicate kids and public-only
  // keys (kInvalidArgument).
  static Result<OrgKeySet> ParseText(std::string_view text, const TokenKeyResolver& tokens = {});
  // LoadFile reads path with ReadPrivateKeyFile (purpose as there) and
  // parses it.
  static Result<OrgKeySet> LoadFile(const std::string& path, const TokenKeyResolver& tokens = {},
                                    std::string_view purpose = "");

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
// It first refuses (kInvalidArgument, "PATH: this is a public key; PURPOSE
// needs the private org key (org-key.jwk)") a file that holds only public
// keys (a JWK or JWK Set without "d" or "pkcs11"; test
// PublicKeyFileWhereThePrivateIsNeeded), then (kPermissionDenied) a file
// readable or writable by group or others (mode must be 0600 or stricter;
// test RefusesGroupReadablePrivateKey), and reads at most 1 MiB
// (kTooLarge). purpose names the command for that message ("unseal"); empty
// gives a generic one. The contents are returned in SecretBytes. I/O errors
// are kIo / kNotFound.
Result<SecretBytes> ReadPrivateKeyFile(const std::string& path, std::string_view purpose = "");

// OrgKeySummary is what an administrator may see of one key set member:
// its kid, whether it is the active key (the one to seal to) or retired,
// its suite and whether a PKCS#11 token holds it. No key material.
struct OrgKeySummary {
  std::string kid;
  bool active = false;
  OrgKeySuite suite = OrgKeySuite::kX25519;
  bool in_token = false;
};

// SummarizeKeySetFile reads a key set file (or a single private JWK) as
// ReadPrivateKeyFile does (kind, then mode 0600) and returns its members,
// the active one first, without opening any private key or token. Refuses
// what ParseText refuses about the set's shape (kInvalidArgument).
// Test: CliTest.OrgKeyListShowsActiveAndRetiredKids.
Result<std::vector<OrgKeySummary>> SummarizeKeySetFile(const std::string& path);

// LoadOrgPublicKeyFile reads a public JWK file (or a key set, whose active
// key is used) and returns the key to seal to. A JWK carrying "d" is refused
// (kInvalidArgument): sealing needs only the public key, and a private key
// file has no business on a sealing workstation. Errors as FromJwk, kIo.
Result<OrgPublicKey> LoadOrgPublicKeyFile(const std::string& path);

}  // namespace astis::capsule
