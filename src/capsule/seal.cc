#include "capsule/seal.h"

#include "crypto/aead.h"
#include "crypto/hpke.h"

namespace astis::capsule {
namespace {

std::vector<uint8_t> ValueAad(const Sha256Digest& capsule_hash) {
  // docs/protocol.md §3.2: aad = "astis value v1" || CAPSULE_HASH.
  std::vector<uint8_t> aad(kValueAadLabel.begin(), kValueAadLabel.end());
  aad.insert(aad.end(), capsule_hash.begin(), capsule_hash.end());
  return aad;
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::string_view CapsuleInfo(int64_t version) { return version == kCapsuleVersion2 ? kCapsuleInfoV2 : kCapsuleInfo; }

Result<SealedValue> Seal(const OrgPublicKey& org_key, const Binding& binding, std::span<const uint8_t> plaintext,
                         Random& rng, Clock& clock) {
  ASTIS_ASSIGN_OR_RETURN(std::string bind, binding.BindString());
  if (plaintext.size() > kMaxSealedValueBytes) return Error(Code::kTooLarge, "seal: plaintext exceeds size limit");

  // docs/protocol.md §3.2: the DEK is 32 fresh random bytes per value.
  SecretBytes dek(kDekSize, SecretBytes::Protection::kLocked);
  ASTIS_RETURN_IF_ERROR(rng.Fill(dek.RevealMutable()));

  // docs/protocol.md §3.1: ct = HPKE SealBase(pkR = org key, info = "astis
  // capsule v1" or "astis capsule v2", aad = BIND, pt = DEK), AES-256-GCM,
  // with the org key's KEM. Tests: TamperedBindFailsOpen, V2SealOpensInEachCluster,
  // P256SealOpens.
  ASTIS_ASSIGN_OR_RETURN(HpkeSealed sealed,
                         org_key.HpkeSeal(Bytes(CapsuleInfo(binding.version())), Bytes(bind), dek.Reveal(), rng));
  ASTIS_ASSIGN_OR_RETURN(Capsule capsule,
                         Capsule::Build(org_key.kid(), sealed.enc, sealed.ct, binding, clock.NowUnix()));

  std::vector<uint8_t> iv(kValueIvSize);
  ASTIS_RETURN_IF_ERROR(rng.Fill(iv));
  ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> ct, AeadSeal(AeadAlg::kAes256Gcm, dek.Reveal(), iv,
                                                           ValueAad(capsule.hash()), plaintext));
  return SealedValue::Create(std::move(capsule), iv, ct);
}

Result<SecretBytes> OpenCapsule(const OrgKeySet& keys, const Capsule& capsule) {
  // docs/protocol.md §4.2 unknown_key. Test: OpenCapsuleRejectsUnknownKid.
  const OrgPrivateKey* key = keys.Find(capsule.kid());
  if (key == nullptr) return Error(Code::kUnknownKey, "capsule: no org key with this kid");
  ASTIS_ASSIGN_OR_RETURN(std::string bind, capsule.binding().BindString());
  auto dek = key->HpkeOpen(capsule.enc(), Bytes(CapsuleInfo(capsule.version())), Bytes(bind), capsule.ct(),
                           SecretBytes::Protection::kLocked);
  // A token that cannot be used is the CVS's outage, not the capsule's
  // fault: fail closed as cvs_unavailable (test Pkcs11CvsTest.UnusableTokenIsCvsUnavailable).
  if (!dek.ok() && dek.status().code() == Code::kCvsUnavailable) return dek.status();
  // docs/protocol.md §4.2 capsule_invalid. Tests: TamperedBindFailsOpen,
  // TamperedCapsuleCtFailsOpen.
  if (!dek.ok() || dek->size() != kDekSize) return Error(Code::kCapsuleInvalid, "capsule: failed to open");
  return std::move(*dek);
}

Status CheckCapsuleScope(const Capsule& capsule, std::string_view cluster, std::string_view namespace_,
                         std::string_view service_account) {
  // docs/protocol.md §4.2 capsule_scope. Test: CheckCapsuleScopeRejectsOtherNamespace.
  const Binding& b = capsule.binding();
  // §3.1: a v2 capsule is in scope for each of its clusters.
  // Test: CheckCapsuleScopeV2AcceptsEachListedCluster.
  if (!b.InScope(cluster) || b.namespace_ != namespace_ || b.service_account != service_account)
    return Error(Code::kCapsuleScope, "capsule: binding does not match the verified identity");
  return OkStatus();
}

std::vector<uint8_t> RewrapAad(const Sha256Digest& capsule_hash, std::string_view session_id) {
  std::vector<uint8_t> aad(capsule_hash.begin(), capsule_hash.end());
  aad.insert(aad.end(), session_id.begin(), session_id.end());
  return aad;
}

Result<RewrappedDek> Rewrap(const SecretBytes& dek, const X25519PublicKey& recipient,
                            const Sha256Digest& capsule_hash, std::string_view session_id, Random& rng) {
  if (dek.size() != kDekSize) return Error(Code::kInvalidArgument, "rewrap: DEK is not 32 bytes");
  // docs/protocol.md §4.2: info "astis rewrap v1", aad = CAPSULE_HASH || session id.
  // Test: OpenRewrappedRejectsOtherSession.
  ASTIS_ASSIGN_OR_RETURN(HpkeSealed sealed,
                         HpkeSealBase(HpkeAeadId::kAes256Gcm, recipient, Bytes(kRewrapInfo),
                                      RewrapAad(capsule_hash, session_id), dek.Reveal(), rng));
  return RewrappedDek{std::move(sealed.enc), std::move(sealed.ct)};
}

Result<SecretBytes> OpenRewrapped(const X25519PrivateKey& recipient, const Sha256Digest& capsule_hash,
                                  std::string_view session_id, std::span<const uint8_t> enc,
                                  std::span<const uint8_t> ct) {
  auto dek = HpkeOpenBase(HpkeAeadId::kAes256Gcm, enc, recipient, Bytes(kRewrapInfo),
                          RewrapAad(capsule_hash, session_id), ct, SecretBytes::Protection::kLocked);
  if (!dek.ok() || dek->size() != kDekSize) return Error(Code::kCapsuleInvalid, "rewrap: failed to open");
  return std::move(*dek);
}

Result<SecretBytes> DecryptValue(const SecretBytes& dek, const SealedValue& value, SecretBytes::Protection p) {
  if (dek.size() != kDekSize) return Error(Code::kInvalidArgument, "value: DEK is not 32 bytes");
  // Test: TamperedCapsuleBytesFailValueDecrypt.
  auto pt = AeadOpen(AeadAlg::kAes256Gcm, dek.Reveal(), value.iv(), ValueAad(value.capsule().hash()),
                     value.ciphertext(), p);
  if (!pt.ok()) return Error(Code::kCrypto, "value: authentication failed");
  return std::move(*pt);
}

}  // namespace astis::capsule
