// Sealing and opening values (docs/protocol.md §3) and rewrapping a DEK to a pod's
// recipient key (docs/protocol.md §4.2).
//
// Seal runs offline with the org *public* key (the CLI). OpenCapsule and
// Rewrap run in the CVS, OpenRewrapped and DecryptValue in the pod's SDK.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "capsule/binding.h"
#include "capsule/capsule.h"
#include "capsule/org_key.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "crypto/sha256.h"
#include "crypto/x25519.h"

namespace astis::capsule {

inline constexpr size_t kDekSize = 32;
// HPKE info strings and the value AAD label (docs/protocol.md §3.1, §3.2, §4.2).
inline constexpr std::string_view kCapsuleInfo = "astis capsule v1";
inline constexpr std::string_view kCapsuleInfoV2 = "astis capsule v2";
// CapsuleInfo returns the HPKE info of a capsule version (§3.1).
std::string_view CapsuleInfo(int64_t version);
inline constexpr std::string_view kRewrapInfo = "astis rewrap v1";
inline constexpr std::string_view kValueAadLabel = "astis value v1";

// Seal encrypts plaintext into a sealed value bound to binding (a v1 or v2
// capsule as binding.version() says): a fresh 32-byte DEK from rng, the
// capsule HPKE-sealed to org_key with its suite's KEM, info "astis capsule
// v1" or "astis capsule v2" and aad = BIND,
// iat = clock.NowUnix(), and the value AES-256-GCM-encrypted under the DEK
// with a fresh 12-byte IV and aad = "astis value v1" || CAPSULE_HASH.
// Errors: kInvalidArgument for an invalid binding, kCrypto when rng or a
// primitive fails, kTooLarge when the result would exceed
// kMaxSealedValueBytes. The DEK is wiped before returning.
Result<SealedValue> Seal(const OrgPublicKey& org_key, const Binding& binding, std::span<const uint8_t> plaintext,
                         Random& rng, Clock& clock);

// OpenCapsule recovers the DEK of capsule with the key named by its kid.
// Errors: kUnknownKey when no key in keys has that kid; kCapsuleInvalid
// when HPKE open fails (wrong key, altered enc/ct/bind, an enc of the other
// suite's size, a P-256 enc off the curve) or the DEK is not 32 bytes;
// kCvsUnavailable when the key is in a token that cannot be used now. It does NOT check the binding against an identity: callers that
// serve an identity call CheckCapsuleScope first. The DEK is returned in
// locked SecretBytes owned by the caller.
Result<SecretBytes> OpenCapsule(const OrgKeySet& keys, const Capsule& capsule);

// CheckCapsuleScope returns kCapsuleScope unless the capsule is in scope for
// the verified identity (docs/protocol.md §4.2 capsule_scope): its cluster
// is the capsule's (v1) or one of its clusters (v2), and bind.namespace and
// bind.serviceAccount are equal. It cannot otherwise fail.
Status CheckCapsuleScope(const Capsule& capsule, std::string_view cluster, std::string_view namespace_,
                         std::string_view service_account);

// RewrappedDek is the docs/protocol.md §4.2 per-capsule result {enc, ct}.
struct RewrappedDek {
  std::vector<uint8_t> enc;
  std::vector<uint8_t> ct;
};

// RewrapAad returns CAPSULE_HASH || UTF-8(session id), the §4.2 aad.
std::vector<uint8_t> RewrapAad(const Sha256Digest& capsule_hash, std::string_view session_id);

// Rewrap HPKE-seals the DEK to the pod's recipient key with info
// "astis rewrap v1" and aad = CAPSULE_HASH || UTF-8(session id). Errors:
// kInvalidArgument for a DEK that is not 32 bytes, kCrypto when rng or HPKE
// fails.
Result<RewrappedDek> Rewrap(const SecretBytes& dek, const X25519PublicKey& recipient,
                            const Sha256Digest& capsule_hash, std::string_view session_id, Random& rng);

// OpenRewrapped is the pod-side inverse of Rewrap. Errors: kCapsuleInvalid
// when HPKE open fails (wrong recipient key, session or capsule hash) or the
// result is not a 32-byte DEK. The DEK is returned in locked SecretBytes.
Result<SecretBytes> OpenRewrapped(const X25519PrivateKey& recipient, const Sha256Digest& capsule_hash,
                                  std::string_view session_id, std::span<const uint8_t> enc,
                                  std::span<const uint8_t> ct);

// DecryptValue decrypts a sealed value's ciphertext with its DEK (aad =
// "astis value v1" || CAPSULE_HASH, so a capsule altered by even one byte
// fails). Errors: kInvalidArgument for a DEK that is not 32 bytes, kCrypto
// when authentication fails. The plaintext is returned in SecretBytes with
// the requested protection.
Result<SecretBytes> DecryptValue(const SecretBytes& dek, const SealedValue& value,
                                 SecretBytes::Protection p = SecretBytes::Protection::kPlain);

}  // namespace astis::capsule
