// DPoP proof verification (RFC 9449 §4.3) in the docs/protocol.md §5 profile.
//
// VerifyDpopProof runs every check of RFC 9449 §4.3 that needs only the
// proof and the request, except replay: the (jkt, jti) replay check is the
// edge's job (its shared store), not this function's, because it needs state
// shared across replicas. Callers MUST check VerifiedDpopProof::jti() for
// replay within the acceptance window before acting on the request.
//
// Errors: Code::kUseDpopNonce when the only problem is a missing or invalid
// nonce (the edge answers 401 use_dpop_nonce with a fresh DPoP-Nonce,
// RFC 9449 §8); Code::kDpopInvalid for every other refusal. Messages never
// echo the proof.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "crypto/random.h"

namespace astis::jose {

// kMaxDpopProofSize bounds the proof header value.
inline constexpr size_t kMaxDpopProofSize = 8 * 1024;

// DpopExpectations describes the request a proof must match. The views must
// outlive the call.
struct DpopExpectations {
  std::string_view htm;             // the request method, e.g. "POST"
  std::string_view htu;             // external base URL + request path (query/fragment ignored)
  std::optional<std::string> ath;   // b64u SHA256 of the access token; required when set
  std::optional<std::string> bh;    // b64u SHA256 of the body; required when the request has a body
  int64_t now = 0;                  // the edge clock (Unix seconds)
  int64_t max_skew_seconds = 60;    // iat acceptance window, both directions
  // nonce_valid decides whether a nonce is current. When set, a proof without
  // a valid nonce is refused with kUseDpopNonce. When empty, nonces are not
  // required (the edge always sets it; RFC vectors have none).
  std::function<bool(std::string_view nonce)> nonce_valid;
  // allow_es256_for_tests also accepts ES256 proofs with an EC P-256 jwk (the
  // RFC 9449 examples). Production keeps the docs/protocol.md §1 default: EdDSA /
  // Ed25519 only.
  bool allow_es256_for_tests = false;
};

// VerifiedDpopProof is a proof that passed VerifyDpopProof. Only the verifier
// constructs one; it owns copies of its fields.
class VerifiedDpopProof {
 public:
  // jkt returns the RFC 7638 thumbprint of the header jwk (b64u).
  const std::string& jkt() const { return jkt_; }
  // jti returns the proof's unique id; the caller checks it for replay.
  const std::string& jti() const { return jti_; }
  // iat returns the proof's issue time (Unix seconds).
  int64_t iat() const { return iat_; }
  // nonce returns the nonce claim, when present.
  const std::optional<std::string>& nonce() const { return nonce_; }
  // public_key returns the Ed25519 key of the proof. For an ES256 proof
  // (allow_es256_for_tests only) it is all zero; use jkt() instead.
  const Ed25519PublicKey& public_key() const { return public_key_; }

 private:
  friend class DpopVerifierAccess;
  VerifiedDpopProof() = default;
  std::string jkt_;
  std::string jti_;
  int64_t iat_ = 0;
  std::optional<std::string> nonce_;
  Ed25519PublicKey public_key_;
};

// VerifyDpopProof verifies proof_jwt against expect (see the file comment for
// the error codes and the replay caveat). Checks, each with a named test in
// dpop_test.cc: typ, alg, header jwk (public OKP Ed25519), signature, claims
// jti/htm/htu/iat, htm, htu (normalised), iat window, ath, bh, nonce.
Result<VerifiedDpopProof> VerifyDpopProof(std::string_view proof_jwt, const DpopExpectations& expect);

// NormalizeHtu applies RFC 3986 §6.2.2 (case, percent-encoding, dot
// segments) and §6.2.3 (default port, empty path) normalisation to an
// absolute http(s) URI and drops query and fragment. kDpopInvalid when the
// URI is not an absolute http(s) URI, has userinfo, or bad escapes.
Result<std::string> NormalizeHtu(std::string_view uri);

// IntegerNumericDate returns value when it is a JSON integer within the
// int64 range (RFC 7519 §2 NumericDate; only integers are accepted here),
// otherwise nullopt. Cannot fail.
std::optional<int64_t> IntegerNumericDate(const Json& value);

// IatPosition says where a time t lies against [now - skew, now + skew]
// (a negative skew counts as 0), compared as unsigned differences so that
// no t overflows (RFC 9449 §4.3 (11) for DPoP iat; the rotation pop's iat).
enum class IatPosition { kWithin, kTooOld, kInFuture };
IatPosition PlaceIat(int64_t t, int64_t now, int64_t skew);

// DpopHash returns b64u(SHA256(data)): the `ath` of a token or the `bh` of a body.
std::string DpopHash(std::string_view data);

// NewDpopJti returns a fresh jti of 128 random bits (22 b64u characters).
// Fails only if rng fails.
Result<std::string> NewDpopJti(Random& rng);

// MakeDpopProof builds a proof (alg EdDSA, the key's public jwk in the header)
// for the SDK and tests. Optional claims are omitted when nullopt. Cannot fail.
std::string MakeDpopProof(const Ed25519PrivateKey& key, std::string_view htm, std::string_view htu, int64_t iat,
                          std::string_view jti, std::optional<std::string_view> ath,
                          std::optional<std::string_view> nonce, std::optional<std::string_view> bh = std::nullopt);

}  // namespace astis::jose
