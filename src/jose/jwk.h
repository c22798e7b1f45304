// JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037 §2) and key sets.
//
// Parsing is strict: unknown `kty` / `crv`, wrong member sizes, padded or
// non-canonical base64url, non-string members and duplicate members (through
// common/json.h) are refused with kInvalidArgument. Private members (`d`,
// `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) are recognised; the private scalar
// `d` of an OKP or EC key is held in SecretBytes and never printed. Contexts
// that expect a public key call RequirePublic().
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "crypto/public_key.h"
#include "crypto/p256.h"
#include "crypto/secret_bytes.h"
#include "crypto/x25519.h"

namespace astis::jose {

// KeyType is the JWK `kty` (RFC 7518 §6.1, RFC 8037 §2): RSA, EC or OKP.
enum class KeyType { kRsa, kEc, kOkp };

// Jwk is a parsed JSON Web Key (RFC 7517), public or private. Instances own
// copies of all their members; private bytes live in SecretBytes.
class Jwk {
 public:
  // Parse validates a JWK JSON object strictly: kty RSA (n, e; n at least
  // 2048 bits), EC (crv P-256 / P-384 with x, y of exactly 32 / 48 bytes),
  // OKP (crv Ed25519 / X25519 with x of exactly 32 bytes). Errors are
  // kInvalidArgument naming the member (never echoing key bytes).
  static Result<Jwk> Parse(const Json& obj);
  // ParseText is Parse over JSON text (strict ParseJsonObject first).
  static Result<Jwk> ParseText(std::string_view json_text);

  // FromX25519Public builds {"kty":"OKP","crv":"X25519","x":...}; kid is
  // included when non-empty.
  static Jwk FromX25519Public(const X25519PublicKey& pk, std::string kid = "");
  // FromX25519Private is FromX25519Public plus `d` (copied into SecretBytes).
  static Jwk FromX25519Private(const X25519PrivateKey& sk, std::string kid = "");
  // FromP256Public builds {"kty":"EC","crv":"P-256","x":...,"y":...} from
  // the uncompressed point (32-byte coordinates, RFC 7518 §6.2.1).
  static Jwk FromP256Public(const P256PublicKey& pk, std::string kid = "");
  // FromP256Private is FromP256Public plus `d` (copied into SecretBytes).
  static Jwk FromP256Private(const P256PrivateKey& sk, std::string kid = "");
  // FromEd25519Public builds {"kty":"OKP","crv":"Ed25519","x":...}.
  static Jwk FromEd25519Public(const Ed25519PublicKey& pk);
  // FromMembers builds a public JWK from already-b64u members (as produced
  // by SigningKey::PublicJwkMembers) and validates it through Parse.
  static Result<Jwk> FromMembers(const Json& members);

  Jwk(Jwk&&) noexcept = default;
  Jwk& operator=(Jwk&&) noexcept = default;
  // Clone makes an explicit deep copy (including private bytes).
  Jwk Clone() const;

  // kty returns the key type.
  KeyType kty() const { return kty_; }
  // crv returns "P-256", "P-384", "Ed25519" or "X25519"; empty for RSA.
  const std::string& crv() const { return crv_; }
  // kid returns the `kid` member, empty when absent.
  const std::string& kid() const { return kid_; }
  // alg returns the `alg` member, empty when absent.
  const std::string& alg() const { return alg_; }
  // use returns the `use` member, empty when absent.
  const std::string& use() const { return use_; }

  // has_private reports whether any of d, p, q, dp, dq, qi, oth, k was present.
  bool has_private() const { return has_private_; }
  // RequirePublic returns kInvalidArgument when the key carries private
  // members (RFC 9449 §4.3 (7) and public-key contexts).
  Status RequirePublic() const;

  // Thumbprint returns the RFC 7638 SHA-256 thumbprint, b64u, over the
  // required members only in lexicographic order (RFC 7638 §3.2). Cannot fail.
  std::string Thumbprint() const;

  // ToX25519Public returns the key for OKP/X25519; kInvalidArgument otherwise.
  Result<X25519PublicKey> ToX25519Public() const;
  // ToX25519Private returns the private key for OKP/X25519 with `d`;
  // kInvalidArgument when not X25519 or `d` is absent.
  Result<X25519PrivateKey> ToX25519Private(SecretBytes::Protection p = SecretBytes::Protection::kPlain) const;
  // ToP256Public returns the uncompressed point for EC/P-256 (validated on
  // the curve at Parse); kInvalidArgument otherwise.
  Result<P256PublicKey> ToP256Public() const;
  // ToP256Private returns the private key for EC/P-256 with `d`;
  // kInvalidArgument when not P-256, `d` is absent, out of range, or its
  // public point is not (x, y).
  Result<P256PrivateKey> ToP256Private(SecretBytes::Protection p = SecretBytes::Protection::kPlain) const;
  // ToEd25519Public returns the key for OKP/Ed25519; kInvalidArgument otherwise.
  Result<Ed25519PublicKey> ToEd25519Public() const;
  // ToVerificationKey imports an RSA, EC or OKP/Ed25519 public key into
  // OpenSSL/libsodium form for signature verification. Errors: kInvalidArgument
  // for X25519 (not a signature key), kCrypto when the import fails (for
  // example an EC point not on the curve).
  Result<VerificationKey> ToVerificationKey() const;

  // ToJson renders the members in canonical (lexicographic) order; kid, alg
  // and use are included when set; private members only when
  // include_private is true (only `d` of OKP/EC keys is kept).
  Json ToJson(bool include_private = false) const;

 private:
  Jwk() = default;

  KeyType kty_ = KeyType::kOkp;
  std::string crv_;
  std::string kid_;
  std::string alg_;
  std::string use_;
  // Raw (decoded) public members.
  std::vector<uint8_t> n_, e_;  // RSA
  std::vector<uint8_t> x_, y_;  // EC (x, y), OKP (x)
  SecretBytes d_;               // OKP/EC private scalar, when present
  std::optional<VerificationKey> vkey_;  // imported at Parse for RSA, EC, Ed25519
  bool has_private_ = false;
};

// JwkSet is a parsed JWK Set (RFC 7517 §5): {"keys":[...]}. It owns its keys.
class JwkSet {
 public:
  // Parse validates {"keys":[...]} strictly; every key must parse (a bad key
  // fails the whole set), must be public, and kids must be unique. Errors are
  // kInvalidArgument.
  static Result<JwkSet> Parse(std::string_view json_text);
  // ParseJson is Parse over an already-parsed JSON value.
  static Result<JwkSet> ParseJson(const Json& obj);

  // Find returns the key whose kid equals kid, or nullptr. The pointer is
  // owned by the set and valid while the set lives unmodified.
  const Jwk* Find(std::string_view kid) const;
  // keys returns all keys in document order; owned by the set.
  const std::vector<Jwk>& keys() const { return keys_; }

 private:
  std::vector<Jwk> keys_;
};

}  // namespace astis::jose
