// JWS compact serialisation (RFC 7515 §7.1) with pinned-key verification.
//
// UnverifiedJws is what came off the wire; VerifiedJws can only be made by
// VerifyJws, and the algorithm is chosen by the pinned key, never by the
// header (RFC 8725 §3.1). `none` and every HMAC algorithm are refused. The
// header members `jwk`, `jku`, `x5u` and `x5c` never select a key here; only
// the DPoP verifier uses `jwk`, by its own rules (dpop.h).
//
// Error codes: malformed input and policy refusals are kInvalidArgument, a
// bad signature is kCrypto. Callers map them to their gate's wire code
// (token_invalid, dpop_invalid). Messages never echo the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "crypto/public_key.h"
#include "jose/jwk.h"

namespace astis::jose {

// kDefaultMaxJwsSize bounds a compact JWS (ServiceAccount tokens are ~1 KiB).
inline constexpr size_t kDefaultMaxJwsSize = 16 * 1024;

// UnverifiedJws is a syntactically valid compact JWS whose signature has not
// been checked. Nothing in it may be trusted; it owns copies of all parts.
class UnverifiedJws {
 public:
  // Parse splits and decodes compact: exactly three parts, strict b64u in
  // each, a protected header that is a strict JSON object (no duplicate
  // members) with a string `alg`, optional string `typ` and `kid`, optional
  // object `jwk`; `crit` is refused (RFC 7515 §4.1.11, we understand no
  // extensions); input longer than max_size and an empty signature are
  // refused. Errors are kInvalidArgument.
  static Result<UnverifiedJws> Parse(std::string_view compact, size_t max_size = kDefaultMaxJwsSize);

  // header returns the decoded protected header (unverified).
  const Json& header() const { return header_; }
  // alg returns the header `alg` (unverified; never used to pick the key).
  const std::string& alg() const { return alg_; }
  // typ / kid return the header members, or nullopt when absent.
  const std::optional<std::string>& typ() const { return typ_; }
  const std::optional<std::string>& kid() const { return kid_; }
  // jwk returns the header `jwk` member, or nullptr when absent.
  const Json* jwk() const;
  // unverified_payload returns the decoded payload; do not act on it.
  const std::string& unverified_payload() const { return payload_; }
  // signing_input returns ASCII(b64u(header) || "." || b64u(payload)).
  const std::string& signing_input() const { return signing_input_; }
  // signature returns the decoded signature bytes.
  const std::vector<uint8_t>& signature() const { return signature_; }

 private:
  UnverifiedJws() = default;
  Json header_;
  std::string alg_;
  std::optional<std::string> typ_, kid_;
  std::string payload_;
  std::string signing_input_;
  std::vector<uint8_t> signature_;
};

class VerifiedJws;

// VerifyJws checks jws against pinned_key. The algorithm comes from the key:
// if the key has `alg`, the header alg must equal it (test
// RejectsAlgNotMatchingPinnedKey); otherwise the header alg must be one the
// key type allows (RSA: RS256/384/512, PS256/384/512; EC P-256: ES256;
// P-384: ES384; OKP Ed25519: EdDSA or Ed25519). `none` (RejectsAlgNone) and
// HS256/384/512 (RejectsHs256WithPublicKey) are always refused. When both the
// header and the key carry a kid they must be equal. Errors:
// kInvalidArgument (policy), kCrypto (signature does not verify).
Result<VerifiedJws> VerifyJws(const UnverifiedJws& jws, const Jwk& pinned_key);

// VerifyJwsWithJwkSet picks the key by the header `kid` (missing or unknown
// kid is kInvalidArgument, test RejectsUnknownKid) and calls VerifyJws.
Result<VerifiedJws> VerifyJwsWithJwkSet(const UnverifiedJws& jws, const JwkSet& set);

// VerifiedJws is a JWS whose signature verified under a pinned key. Only
// VerifyJws constructs one. It owns copies of the header and payload.
class VerifiedJws {
 public:
  // payload returns the verified payload bytes.
  const std::string& payload() const { return payload_; }
  // header returns the protected header (integrity-protected by the signature).
  const Json& header() const { return header_; }
  // alg returns the algorithm that verified.
  SignatureAlg alg() const { return alg_; }

 private:
  friend Result<VerifiedJws> VerifyJws(const UnverifiedJws&, const Jwk&);
  VerifiedJws(Json header, std::string payload, SignatureAlg alg)
      : header_(std::move(header)), payload_(std::move(payload)), alg_(alg) {}
  Json header_;
  std::string payload_;
  SignatureAlg alg_;
};

// TrySignCompactJws signs payload with key under alg and returns the compact
// JWS. header's `alg` is set to SignatureAlgName(alg). Errors: alg does not
// fit the key (kInvalidArgument), OpenSSL failure (kCrypto).
Result<std::string> TrySignCompactJws(const Json& header, std::string_view payload, const SigningKey& key,
                                      SignatureAlg alg);

// SignCompactJws is TrySignCompactJws for callers that have already matched
// alg to the key (tests, token minting, the SDK); a mismatch is a programming
// error and aborts.
std::string SignCompactJws(const Json& header, std::string_view payload, const SigningKey& key, SignatureAlg alg);

// SignCompactJws signs with an Ed25519 key (libsodium). header's `alg` is kept
// when it is "EdDSA" or "Ed25519" and set to "EdDSA" otherwise. Cannot fail.
std::string SignCompactJws(const Json& header, std::string_view payload, const Ed25519PrivateKey& key);

}  // namespace astis::jose
