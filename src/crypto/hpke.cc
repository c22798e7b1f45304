#include "crypto/hpke.h"

#include <algorithm>
#include <limits>

#include "crypto/hkdf.h"
#include "crypto/internal/hpke_internal.h"

namespace astis {
namespace {

constexpr size_t kNh = 32;      // HKDF-SHA256 output size
constexpr size_t kNn = 12;      // nonce size of all three AEADs
constexpr size_t kNsk = 32;     // X25519 and P-256 private key size
constexpr size_t kNsecret = 32; // DHKEM(X25519) and DHKEM(P-256) shared secret size
constexpr uint8_t kModeBase = 0x00;
constexpr std::string_view kVersionLabel = "HPKE-v1";

void AppendU16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v & 0xff));
}

void Append(std::vector<uint8_t>& out, std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }
void Append(std::vector<uint8_t>& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }

Result<AeadAlg> AeadFor(HpkeAeadId id) {
  switch (id) {
    case HpkeAeadId::kAes128Gcm: return AeadAlg::kAes128Gcm;
    case HpkeAeadId::kAes256Gcm: return AeadAlg::kAes256Gcm;
    case HpkeAeadId::kChaCha20Poly1305: return AeadAlg::kChaCha20Poly1305;
  }
  return Error(Code::kInvalidArgument, "hpke: unknown AEAD id");
}

}  // namespace

std::vector<uint8_t> HpkeInternal::KemSuiteId(uint16_t kem) {
  std::vector<uint8_t> id;
  Append(id, std::string_view("KEM"));
  AppendU16(id, kem);
  return id;
}

Result<std::vector<uint8_t>> HpkeInternal::HpkeSuiteId(HpkeAeadId aead, uint16_t kem) {
  ASTIS_RETURN_IF_ERROR(AeadFor(aead));
  std::vector<uint8_t> id;
  Append(id, std::string_view("HPKE"));
  AppendU16(id, kem);
  AppendU16(id, kHpkeKdfHkdfSha256);
  AppendU16(id, static_cast<uint16_t>(aead));
  return id;
}

Result<SecretBytes> HpkeInternal::LabeledExtract(std::span<const uint8_t> suite_id, std::span<const uint8_t> salt,
                                                 std::string_view label, std::span<const uint8_t> ikm) {
  // labeled_ikm may hold a DH output or PSK: build it in SecretBytes.
  const size_t n = kVersionLabel.size() + suite_id.size() + label.size() + ikm.size();
  SecretBytes labeled_ikm(n);
  auto out = labeled_ikm.RevealMutable().begin();
  out = std::copy(kVersionLabel.begin(), kVersionLabel.end(), out);
  out = std::copy(suite_id.begin(), suite_id.end(), out);
  out = std::copy(label.begin(), label.end(), out);
  std::copy(ikm.begin(), ikm.end(), out);
  return HkdfExtract(salt, labeled_ikm.Reveal());
}

Result<SecretBytes> HpkeInternal::LabeledExpand(std::span<const uint8_t> suite_id, std::span<const uint8_t> prk,
                                                std::string_view label, std::span<const uint8_t> info,
                                                size_t length) {
  // RFC 9180 §4: L is encoded in two bytes and bounded by 255*Nh (RFC 5869
  // §2.3); test HpkeTest.ExportAgreesAndRejectsTooLong.
  if (length > 255 * kNh) return Error(Code::kInvalidArgument, "hpke: expand length exceeds 255*Nh");
  std::vector<uint8_t> labeled_info;
  labeled_info.reserve(2 + kVersionLabel.size() + suite_id.size() + label.size() + info.size());
  AppendU16(labeled_info, static_cast<uint16_t>(length));
  Append(labeled_info, kVersionLabel);
  Append(labeled_info, suite_id);
  Append(labeled_info, label);
  Append(labeled_info, info);
  return HkdfExpand(prk, labeled_info, length);
}

namespace {

// ExtractAndExpand derives the KEM shared secret (RFC 9180 §4.1).
Result<SecretBytes> ExtractAndExpand(const SecretBytes& dh, std::span<const uint8_t> kem_context,
                                     uint16_t kem = kHpkeKemX25519Sha256) {
  const auto suite = HpkeInternal::KemSuiteId(kem);
  ASTIS_ASSIGN_OR_RETURN(SecretBytes eae_prk, HpkeInternal::LabeledExtract(suite, {}, "eae_prk", dh.Reveal()));
  return HpkeInternal::LabeledExpand(suite, eae_prk.Reveal(), "shared_secret", kem_context, kNsecret);
}

}  // namespace

Result<HpkeInternal::Encapsulation> HpkeInternal::Encap(const X25519PublicKey& pkR, const X25519PrivateKey& skE) {
  // RFC 9180 §4.1 Encap: dh = DH(skE, pkR) (an all-zero dh is refused by
  // Agree, §7.1.4), enc = SerializePublicKey(pkE), kem_context = enc || pkRm.
  ASTIS_ASSIGN_OR_RETURN(SecretBytes dh, skE.Agree(pkR));
  std::vector<uint8_t> enc(skE.public_key().bytes.begin(), skE.public_key().bytes.end());
  std::vector<uint8_t> kem_context = enc;
  Append(kem_context, pkR.bytes);
  ASTIS_ASSIGN_OR_RETURN(SecretBytes shared_secret, ExtractAndExpand(dh, kem_context));
  return Encapsulation{std::move(enc), std::move(shared_secret)};
}

Result<SecretBytes> HpkeInternal::Decap(std::span<const uint8_t> enc, const X25519PrivateKey& skR) {
  // RFC 9180 §4.1 Decap: pkE = DeserializePublicKey(enc); Npk = 32 for
  // X25519 (§7.1), test HpkeTest.RejectsWrongEncLength.
  if (enc.size() != kHpkeEncSize) return Error(Code::kInvalidArgument, "hpke: enc must be 32 bytes");
  ASTIS_ASSIGN_OR_RETURN(X25519PublicKey pkE, X25519PublicKey::FromBytes(enc));
  // §7.1.4: DH with a low-order pkE gives all zeros and MUST be refused
  // (Agree returns kCrypto; test HpkeTest.RejectsLowOrderPoint).
  ASTIS_ASSIGN_OR_RETURN(SecretBytes dh, skR.Agree(pkE));
  std::vector<uint8_t> kem_context(enc.begin(), enc.end());
  Append(kem_context, skR.public_key().bytes);
  return ExtractAndExpand(dh, kem_context);
}

Result<HpkeInternal::Encapsulation> HpkeInternal::Encap(const P256PublicKey& pkR, const P256PrivateKey& skE) {
  // RFC 9180 §4.1 Encap for DHKEM(P-256): dh = DH(skE, pkR), the 32-byte
  // x-coordinate (§7.1.1); enc = SerializePublicKey(pkE), the 65-byte
  // uncompressed point; kem_context = enc || pkRm.
  ASTIS_ASSIGN_OR_RETURN(SecretBytes dh, skE.Agree(pkR));
  std::vector<uint8_t> enc(skE.public_key().bytes.begin(), skE.public_key().bytes.end());
  std::vector<uint8_t> kem_context = enc;
  Append(kem_context, pkR.bytes);
  ASTIS_ASSIGN_OR_RETURN(SecretBytes shared_secret, ExtractAndExpand(dh, kem_context, kHpkeKemP256Sha256));
  return Encapsulation{std::move(enc), std::move(shared_secret)};
}

Result<SecretBytes> HpkeInternal::Decap(std::span<const uint8_t> enc, const P256KeyAgreement& skR) {
  // RFC 9180 §4.1 Decap: pkE = DeserializePublicKey(enc), with the §7.1.4
  // validation of the point (P256PublicKey::FromBytes: 65 bytes, 0x04,
  // coordinates < p, on the curve). Tests HpkeP256Test.RejectsWrongEncLength,
  // RejectsCompressedEnc, RejectsIdentityEnc, RejectsPointNotOnCurve,
  // RejectsCoordinateAtLeastP.
  ASTIS_ASSIGN_OR_RETURN(P256PublicKey pkE, P256PublicKey::FromBytes(enc));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes dh, skR.Agree(pkE));
  std::vector<uint8_t> kem_context(enc.begin(), enc.end());
  Append(kem_context, skR.public_key().bytes);
  return ExtractAndExpand(dh, kem_context, kHpkeKemP256Sha256);
}

Result<HpkeContext> HpkeInternal::KeyScheduleBase(HpkeAeadId aead, const SecretBytes& shared_secret,
                                                  std::span<const uint8_t> info, uint16_t kem) {
  ASTIS_ASSIGN_OR_RETURN(AeadAlg alg, AeadFor(aead));
  ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> suite, HpkeSuiteId(aead, kem));
  // RFC 9180 §5.1, mode_base: psk = psk_id = "" (default_psk, default_psk_id).
  ASTIS_ASSIGN_OR_RETURN(SecretBytes psk_id_hash, LabeledExtract(suite, {}, "psk_id_hash", {}));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes info_hash, LabeledExtract(suite, {}, "info_hash", info));
  std::vector<uint8_t> key_schedule_context;
  key_schedule_context.push_back(kModeBase);
  Append(key_schedule_context, psk_id_hash.Reveal());
  Append(key_schedule_context, info_hash.Reveal());
  ASTIS_ASSIGN_OR_RETURN(SecretBytes secret, LabeledExtract(suite, shared_secret.Reveal(), "secret", {}));

  HpkeContext ctx;
  ctx.aead_ = aead;
  ctx.kem_ = kem;
  ASTIS_ASSIGN_OR_RETURN(ctx.key_, LabeledExpand(suite, secret.Reveal(), "key", key_schedule_context,
                                                 AeadKeySize(alg)));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes base_nonce,
                         LabeledExpand(suite, secret.Reveal(), "base_nonce", key_schedule_context, kNn));
  ctx.base_nonce_.assign(base_nonce.Reveal().begin(), base_nonce.Reveal().end());
  ASTIS_ASSIGN_OR_RETURN(ctx.exporter_secret_,
                         LabeledExpand(suite, secret.Reveal(), "exp", key_schedule_context, kNh));
  ctx.seq_ = 0;
  return ctx;
}

std::vector<uint8_t> HpkeContext::ComputeNonce() const {
  // RFC 9180 §5.2: nonce = base_nonce XOR I2OSP(seq, Nn).
  std::vector<uint8_t> nonce = base_nonce_;
  for (size_t i = 0; i < sizeof(seq_); ++i) nonce[nonce.size() - 1 - i] ^= static_cast<uint8_t>(seq_ >> (8 * i));
  return nonce;
}

Result<std::vector<uint8_t>> HpkeContext::Seal(std::span<const uint8_t> aad, std::span<const uint8_t> pt) {
  // RFC 9180 §5.2: a sequence number that cannot be incremented is a
  // MessageLimitReachedError; a nonce is never reused (test
  // HpkeTest.RefusesAtSequenceLimit). seq_ is 64-bit, a stricter limit than
  // 2^96 - 1.
  if (seq_ == std::numeric_limits<uint64_t>::max())
    return Error(Code::kFailedPrecondition, "hpke: message limit reached");
  ASTIS_ASSIGN_OR_RETURN(AeadAlg alg, AeadFor(aead_));
  ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> ct, AeadSeal(alg, key_.Reveal(), ComputeNonce(), aad, pt));
  ++seq_;
  return ct;
}

Result<SecretBytes> HpkeContext::Open(std::span<const uint8_t> aad, std::span<const uint8_t> ct,
                                      SecretBytes::Protection p) {
  if (seq_ == std::numeric_limits<uint64_t>::max())
    return Error(Code::kFailedPrecondition, "hpke: message limit reached");
  ASTIS_ASSIGN_OR_RETURN(AeadAlg alg, AeadFor(aead_));
  // The sequence number advances only after a successful Open (test
  // HpkeTest.SequenceAdvancesOnlyOnSuccessfulOpen).
  ASTIS_ASSIGN_OR_RETURN(SecretBytes pt, AeadOpen(alg, key_.Reveal(), ComputeNonce(), aad, ct, p));
  ++seq_;
  return pt;
}

Result<SecretBytes> HpkeContext::Export(std::span<const uint8_t> exporter_context, size_t length) const {
  // RFC 9180 §5.3: Export = LabeledExpand(exporter_secret, "sec",
  // exporter_context, L).
  ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> suite, HpkeInternal::HpkeSuiteId(aead_, kem_));
  return HpkeInternal::LabeledExpand(suite, exporter_secret_.Reveal(), "sec", exporter_context, length);
}

Result<HpkeSenderContext> HpkeSetupBaseS(HpkeAeadId aead, const X25519PublicKey& pkR, std::span<const uint8_t> info,
                                         Random& rng) {
  // RFC 9180 §4.1 Encap: GenerateKeyPair() draws a fresh ephemeral key.
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey skE, X25519PrivateKey::Generate(rng));
  return HpkeSetupBaseSWithEphemeral(aead, pkR, info, skE);
}

Result<HpkeSenderContext> HpkeSetupBaseSWithEphemeral(HpkeAeadId aead, const X25519PublicKey& pkR,
                                                      std::span<const uint8_t> info, const X25519PrivateKey& skE) {
  ASTIS_RETURN_IF_ERROR(AeadFor(aead));
  ASTIS_ASSIGN_OR_RETURN(HpkeInternal::Encapsulation encap, HpkeInternal::Encap(pkR, skE));
  ASTIS_ASSIGN_OR_RETURN(HpkeContext ctx, HpkeInternal::KeyScheduleBase(aead, encap.shared_secret, info));
  return HpkeSenderContext{std::move(encap.enc), std::move(ctx)};
}

Result<HpkeContext> HpkeSetupBaseR(HpkeAeadId aead, std::span<const uint8_t> enc, const X25519PrivateKey& skR,
                                   std::span<const uint8_t> info) {
  ASTIS_RETURN_IF_ERROR(AeadFor(aead));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes shared_secret, HpkeInternal::Decap(enc, skR));
  return HpkeInternal::KeyScheduleBase(aead, shared_secret, info);
}

Result<X25519PrivateKey> HpkeDeriveKeyPair(std::span<const uint8_t> ikm, SecretBytes::Protection p) {
  // RFC 9180 §7.1.3 requires ikm to carry at least Nsk bytes of entropy; a
  // shorter ikm cannot, so it is refused (test HpkeMisc.RejectsShortIkm).
  if (ikm.size() < kNsk) return Error(Code::kInvalidArgument, "hpke: DeriveKeyPair ikm shorter than Nsk");
  const auto suite = HpkeInternal::KemSuiteId();
  // §7.1.3 (X25519): dkp_prk = LabeledExtract("", "dkp_prk", ikm);
  // sk = LabeledExpand(dkp_prk, "sk", "", Nsk).
  ASTIS_ASSIGN_OR_RETURN(SecretBytes dkp_prk, HpkeInternal::LabeledExtract(suite, {}, "dkp_prk", ikm));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes sk, HpkeInternal::LabeledExpand(suite, dkp_prk.Reveal(), "sk", {}, kNsk));
  return X25519PrivateKey::FromBytes(sk.Reveal(), p);
}

Result<HpkeSealed> HpkeSealBase(HpkeAeadId aead, const X25519PublicKey& pkR, std::span<const uint8_t> info,
                                std::span<const uint8_t> aad, std::span<const uint8_t> pt, Random& rng) {
  ASTIS_ASSIGN_OR_RETURN(HpkeSenderContext sender, HpkeSetupBaseS(aead, pkR, info, rng));
  ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> ct, sender.context.Seal(aad, pt));
  return HpkeSealed{std::move(sender.enc), std::move(ct)};
}

Result<SecretBytes> HpkeOpenBase(HpkeAeadId aead, std::span<const uint8_t> enc, const X25519PrivateKey& skR,
                                 std::span<const uint8_t> info, std::span<const uint8_t> aad,
                                 std::span<const uint8_t> ct, SecretBytes::Protection p) {
  ASTIS_ASSIGN_OR_RETURN(HpkeContext ctx, HpkeSetupBaseR(aead, enc, skR, info));
  return ctx.Open(aad, ct, p);
}

// --- DHKEM(P-256, HKDF-SHA256), kem 0x0010 (RFC 9180 §7.1) ---

Result<HpkeSenderContext> HpkeSetupBaseS(HpkeAeadId aead, const P256PublicKey& pkR, std::span<const uint8_t> info,
                                         Random& rng) {
  // RFC 9180 §4.1 Encap: GenerateKeyPair() draws a fresh ephemeral key.
  ASTIS_ASSIGN_OR_RETURN(P256PrivateKey skE, P256PrivateKey::Generate(rng));
  return HpkeSetupBaseSWithEphemeral(aead, pkR, info, skE);
}

Result<HpkeSenderContext> HpkeSetupBaseSWithEphemeral(HpkeAeadId aead, const P256PublicKey& pkR,
                                                      std::span<const uint8_t> info, const P256PrivateKey& skE) {
  ASTIS_RETURN_IF_ERROR(AeadFor(aead));
  ASTIS_ASSIGN_OR_RETURN(HpkeInternal::Encapsulation encap, HpkeInternal::Encap(pkR, skE));
  ASTIS_ASSIGN_OR_RETURN(HpkeContext ctx,
                         HpkeInternal::KeyScheduleBase(aead, encap.shared_secret, info, kHpkeKemP256Sha256));
  return HpkeSenderContext{std::move(encap.enc), std::move(ctx)};
}

Result<HpkeContext> HpkeSetupBaseR(HpkeAeadId aead, std::span<const uint8_t> enc, const P256KeyAgreement& skR,
                                   std::span<const uint8_t> info) {
  ASTIS_RETURN_IF_ERROR(AeadFor(aead));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes shared_secret, HpkeInternal::Decap(enc, skR));
  return HpkeInternal::KeyScheduleBase(aead, shared_secret, info, kHpkeKemP256Sha256);
}

Result<P256PrivateKey> HpkeDeriveKeyPairP256(std::span<const uint8_t> ikm, SecretBytes::Protection p) {
  // RFC 9180 §7.1.3: ikm of fewer than Nsk bytes is refused, as for X25519
  // (test HpkeP256Misc.RejectsShortIkm).
  if (ikm.size() < kNsk) return Error(Code::kInvalidArgument, "hpke: DeriveKeyPair ikm shorter than Nsk");
  const auto suite = HpkeInternal::KemSuiteId(kHpkeKemP256Sha256);
  // §7.1.3 (P-256): dkp_prk = LabeledExtract("", "dkp_prk", ikm); then
  // bytes = LabeledExpand(dkp_prk, "candidate", I2OSP(counter, 1), Nsk),
  // bytes[0] &= 0xFF, until 0 < sk < order; DeriveKeyPairError after
  // counter 255 (test HpkeP256VectorTest.DeriveKeyPairMatches).
  ASTIS_ASSIGN_OR_RETURN(SecretBytes dkp_prk, HpkeInternal::LabeledExtract(suite, {}, "dkp_prk", ikm));
  constexpr uint8_t kBitmask = 0xFF;
  for (unsigned counter = 0; counter <= 255; ++counter) {
    const uint8_t c = static_cast<uint8_t>(counter);
    ASTIS_ASSIGN_OR_RETURN(SecretBytes candidate,
                           HpkeInternal::LabeledExpand(suite, dkp_prk.Reveal(), "candidate", {&c, 1}, kNsk));
    candidate.RevealMutable()[0] &= kBitmask;
    if (P256PrivateKey::ScalarInRange(candidate.Reveal())) return P256PrivateKey::FromBytes(candidate.Reveal(), p);
  }
  return Error(Code::kCrypto, "hpke: DeriveKeyPairError");
}

Result<HpkeSealed> HpkeSealBase(HpkeAeadId aead, const P256PublicKey& pkR, std::span<const uint8_t> info,
                                std::span<const uint8_t> aad, std::span<const uint8_t> pt, Random& rng) {
  ASTIS_ASSIGN_OR_RETURN(HpkeSenderContext sender, HpkeSetupBaseS(aead, pkR, info, rng));
  ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> ct, sender.context.Seal(aad, pt));
  return HpkeSealed{std::move(sender.enc), std::move(ct)};
}

Result<SecretBytes> HpkeOpenBase(HpkeAeadId aead, std::span<const uint8_t> enc, const P256KeyAgreement& skR,
                                 std::span<const uint8_t> info, std::span<const uint8_t> aad,
                                 std::span<const uint8_t> ct, SecretBytes::Protection p) {
  ASTIS_ASSIGN_OR_RETURN(HpkeContext ctx, HpkeSetupBaseR(aead, enc, skR, info));
  return ctx.Open(aad, ct, p);
}

}  // namespace astis
