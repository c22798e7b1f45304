// The RFC 9180 building blocks behind crypto/hpke.h (internal: only hpke.cc
// and hpke_test.cc include this). Exposed so the test can check every
// intermediate value of the RFC vectors (shared_secret, key schedule).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/hpke.h"
#include "crypto/secret_bytes.h"
#include "crypto/x25519.h"

namespace astis {

// HpkeInternal is the friend of HpkeContext that builds it. All functions
// return kInvalidArgument for malformed inputs and kCrypto for a failed
// primitive; secrets are returned in SecretBytes owned by the caller.
class HpkeInternal {
 public:
  // KemSuiteId returns "KEM" || I2OSP(kem_id, 2) (RFC 9180 §4.1).
  static std::vector<uint8_t> KemSuiteId(uint16_t kem = kHpkeKemX25519Sha256);
  // HpkeSuiteId returns "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) ||
  // I2OSP(aead_id, 2) (RFC 9180 §5.1); an unknown aead is kInvalidArgument.
  static Result<std::vector<uint8_t>> HpkeSuiteId(HpkeAeadId aead, uint16_t kem = kHpkeKemX25519Sha256);

  // LabeledExtract is Extract(salt, "HPKE-v1" || suite_id || label || ikm)
  // (RFC 9180 §4).
  static Result<SecretBytes> LabeledExtract(std::span<const uint8_t> suite_id, std::span<const uint8_t> salt,
                                            std::string_view label, std::span<const uint8_t> ikm);
  // LabeledExpand is Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id ||
  // label || info, L) (RFC 9180 §4); L > 255*Nh is kInvalidArgument.
  static Result<SecretBytes> LabeledExpand(std::span<const uint8_t> suite_id, std::span<const uint8_t> prk,
                                           std::string_view label, std::span<const uint8_t> info, size_t length);

  // Encapsulation is Encap's output: the public enc and the KEM shared
  // secret (owned, wiped on release).
  struct Encapsulation {
    std::vector<uint8_t> enc;
    SecretBytes shared_secret;
  };
  // Encap is DHKEM Encap(pkR) with the given ephemeral key (RFC 9180 §4.1).
  static Result<Encapsulation> Encap(const X25519PublicKey& pkR, const X25519PrivateKey& skE);
  // Decap is DHKEM Decap(enc, skR) (RFC 9180 §4.1): enc must be 32 bytes
  // (kInvalidArgument); a low-order enc is kCrypto (§7.1.4).
  static Result<SecretBytes> Decap(std::span<const uint8_t> enc, const X25519PrivateKey& skR);
  // The same for DHKEM(P-256): enc must be 65 bytes, uncompressed, on the
  // curve (see P256PublicKey::FromBytes for the codes).
  static Result<Encapsulation> Encap(const P256PublicKey& pkR, const P256PrivateKey& skE);
  static Result<SecretBytes> Decap(std::span<const uint8_t> enc, const P256KeyAgreement& skR);

  // KeyScheduleBase is KeySchedule(mode_base, shared_secret, info, "", "")
  // (RFC 9180 §5.1).
  static Result<HpkeContext> KeyScheduleBase(HpkeAeadId aead, const SecretBytes& shared_secret,
                                             std::span<const uint8_t> info, uint16_t kem = kHpkeKemX25519Sha256);

  // SetSequenceForTesting positions ctx at seq, to test the message limit.
  static void SetSequenceForTesting(HpkeContext& ctx, uint64_t seq) { ctx.seq_ = seq; }
};

}  // namespace astis
