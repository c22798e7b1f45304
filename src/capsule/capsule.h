// The capsule and the sealed value of docs/protocol.md §3.
//
// Both types are the *parsed* form of untrusted bytes: a Capsule or
// SealedValue proves only that its input had the exact shape of §3, not that
// any key opens it (that is seal.h's OpenCapsule / DecryptValue).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "capsule/binding.h"
#include "common/status.h"
#include "crypto/sha256.h"

namespace astis::capsule {

// Capsule versions (docs/protocol.md §3.1): v1 binds one cluster, v2 a list.
inline constexpr int64_t kCapsuleVersion = 1;
inline constexpr int64_t kCapsuleVersion2 = 2;
// kCapsuleEncSize is the HPKE enc size for DHKEM(X25519) (RFC 9180 §7.1);
// kCapsuleP256EncSize the uncompressed P-256 point of DHKEM(P-256)
// (RFC 9180 §7.1.1). The kid selects which one a capsule must carry.
inline constexpr size_t kCapsuleEncSize = 32;
inline constexpr size_t kCapsuleP256EncSize = 65;
// kCapsuleCtSize is a 32-byte DEK plus the 16-byte AES-256-GCM tag.
inline constexpr size_t kCapsuleCtSize = 48;
// kMaxCapsuleBytes bounds the capsule JSON; a real capsule is ~400 bytes.
inline constexpr size_t kMaxCapsuleBytes = 4096;
// kMaxSealedValueBytes bounds the whole ASCII sealed value (Kubernetes caps a
// Secret at 1 MiB, so no legitimate value is larger).
inline constexpr size_t kMaxSealedValueBytes = 1024 * 1024;
inline constexpr size_t kValueIvSize = 12;
inline constexpr size_t kValueTagSize = 16;
inline constexpr std::string_view kSealedValuePrefix = "astis.v1.";

// Capsule is a parsed docs/protocol.md §3.1 capsule. It keeps the exact bytes it
// was parsed from: hash() is SHA256 of those bytes, never of a re-serialised
// form. Instances own copies of everything.
class Capsule {
 public:
  // Parse accepts exactly the JSON object {"v":1,"kid":string,"enc":b64u(32
  // or 65 bytes),"ct":b64u(48 bytes),"bind":{cluster,namespace,
  // serviceAccount,name,key},"iat":integer} (any member order), or the same
  // with "v":2 and "clusters":[...] in place of "cluster", parsed strictly
  // (duplicate keys, invalid UTF-8, size over kMaxCapsuleBytes are refused).
  // A 65-byte enc must have the uncompressed-point form (first byte 0x04);
  // whether its size fits the kid's suite is checked when the key is known
  // (OpenCapsule). Unknown, missing or wrongly typed members, a v1/v2 mix-up
  // and an invalid binding give kInvalidArgument (kTooLarge for size); the
  // message never echoes the input.
  static Result<Capsule> Parse(std::span<const uint8_t> bytes);
  static Result<Capsule> Parse(std::string_view bytes);

  // Build serialises a capsule in the member order of docs/protocol.md §3.1
  // (v1 or v2 as binding.version() says) and parses the result back, so a
  // built capsule always satisfies Parse.
  // Errors are those of Parse (an invalid binding, a wrong-size enc or ct).
  static Result<Capsule> Build(std::string_view kid, std::span<const uint8_t> enc, std::span<const uint8_t> ct,
                               const Binding& binding, int64_t iat);

  int64_t version() const { return binding_.version(); }
  const std::string& kid() const { return kid_; }
  const std::vector<uint8_t>& enc() const { return enc_; }
  const std::vector<uint8_t>& ct() const { return ct_; }
  const Binding& binding() const { return binding_; }
  int64_t iat() const { return iat_; }
  // bytes returns the exact capsule bytes (what b64u decoding produced).
  const std::string& bytes() const { return bytes_; }
  // hash returns CAPSULE_HASH = SHA256(bytes()) (docs/protocol.md §3.1).
  const Sha256Digest& hash() const { return hash_; }

 private:
  Capsule() = default;
  std::string bytes_;
  Sha256Digest hash_{};
  std::string kid_;
  std::vector<uint8_t> enc_;
  std::vector<uint8_t> ct_;
  Binding binding_;
  int64_t iat_ = 0;
};

// SealedValue is a parsed "astis.v1.<b64u(capsule)>.<b64u(iv)>.<b64u(ct||tag)>"
// (docs/protocol.md §3). It owns its parts; the ciphertext is not secret.
class SealedValue {
 public:
  // Parse requires exactly the prefix "astis.v1.", exactly three further
  // dot-separated parts in strict b64u, a capsule that Capsule::Parse
  // accepts, a 12-byte IV, a ciphertext of at least the 16-byte tag, and at
  // most kMaxSealedValueBytes in total. Errors are kInvalidArgument
  // (kTooLarge for size); messages never echo the input.
  static Result<SealedValue> Parse(std::string_view text);

  // Create assembles a value from its parts with the checks of Parse.
  static Result<SealedValue> Create(Capsule capsule, std::span<const uint8_t> iv,
                                    std::span<const uint8_t> ciphertext);

  const Capsule& capsule() const { return capsule_; }
  const std::vector<uint8_t>& iv() const { return iv_; }
  // ciphertext returns ciphertext||tag.
  const std::vector<uint8_t>& ciphertext() const { return ciphertext_; }

  // ToString renders the ASCII sealed value; it cannot fail.
  std::string ToString() const;

 private:
  SealedValue(Capsule capsule, std::vector<uint8_t> iv, std::vector<uint8_t> ciphertext)
      : capsule_(std::move(capsule)), iv_(std::move(iv)), ciphertext_(std::move(ciphertext)) {}
  Capsule capsule_;
  std::vector<uint8_t> iv_;
  std::vector<uint8_t> ciphertext_;
};

}  // namespace astis::capsule
