#include "crypto/p256.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include "crypto/internal/ossl.h"

namespace astis {
namespace {

using crypto_internal::OsslError;

// The group order n of P-256 (SEC 2 §2.4.2), big-endian.
constexpr std::array<uint8_t, kP256ScalarSize> kOrder = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

struct GroupDeleter {
  void operator()(EC_GROUP* g) const { EC_GROUP_free(g); }
};
struct PointDeleter {
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
};

// PublicFromScalar computes sk * G as an uncompressed point.
Result<P256PublicKey> PublicFromScalar(std::span<const uint8_t> sk) {
  std::unique_ptr<EC_GROUP, GroupDeleter> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  if (!group) return OsslError(Code::kCrypto, "p256: group");
  ossl::UniquePtr<BIGNUM> k(BN_secure_new());
  if (!k || BN_bin2bn(sk.data(), static_cast<int>(sk.size()), k.get()) == nullptr) {
    return OsslError(Code::kCrypto, "p256: scalar");
  }
  BN_set_flags(k.get(), BN_FLG_CONSTTIME);
  std::unique_ptr<EC_POINT, PointDeleter> point(EC_POINT_new(group.get()));
  P256PublicKey pk;
  if (!point || EC_POINT_mul(group.get(), point.get(), k.get(), nullptr, nullptr, nullptr) != 1 ||
      EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED, pk.bytes.data(), pk.bytes.size(),
                         nullptr) != pk.bytes.size()) {
    return OsslError(Code::kCrypto, "p256: public key from scalar");
  }
  return pk;
}

// ImportKey builds an EVP_PKEY for P-256 from the uncompressed public point
// and, when sk is not empty, the private scalar.
Result<ossl::UniquePtr<EVP_PKEY>> ImportKey(const P256PublicKey& pk, std::span<const uint8_t> sk) {
  ossl::UniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (!bld) return OsslError(Code::kCrypto, "p256: param builder");
  ossl::UniquePtr<BIGNUM> priv;
  bool ok = OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pk.bytes.data(),
                                             pk.bytes.size()) == 1;
  if (ok && !sk.empty()) {
    priv.reset(BN_secure_new());
    ok = priv && BN_bin2bn(sk.data(), static_cast<int>(sk.size()), priv.get()) != nullptr &&
         OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) == 1;
  }
  if (!ok) return OsslError(Code::kCrypto, "p256: key parameters");
  ossl::UniquePtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return OsslError(Code::kCrypto, "p256: import");
  EVP_PKEY* raw = nullptr;
  const int selection = sk.empty() ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEYPAIR;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1) {
    return OsslError(Code::kCrypto, "p256: key rejected");
  }
  return ossl::UniquePtr<EVP_PKEY>(raw);
}

}  // namespace

Result<P256PublicKey> P256PublicKey::FromBytes(std::span<const uint8_t> data) {
  // RFC 9180 §7.1.1: Npk = 65, the uncompressed form only (test
  // HpkeP256Test.RejectsWrongEncLength, RejectsCompressedEnc, RejectsIdentityEnc).
  if (data.size() != kP256PublicKeySize) return Error(Code::kInvalidArgument, "p256: public key must be 65 bytes");
  if (data[0] != 0x04) return Error(Code::kInvalidArgument, "p256: public key must be an uncompressed point");
  P256PublicKey pk;
  std::copy(data.begin(), data.end(), pk.bytes.begin());
  // RFC 9180 §7.1.4: the recipient MUST validate the peer's public key
  // (SEC1 §3.2.2.1): each coordinate in [0, p-1], the point on the curve;
  // P-256 has cofactor 1, so an on-curve point other than the identity has
  // order n. OpenSSL's import decodes the point with exactly these checks
  // and the public check repeats them (tests HpkeP256Test.RejectsPointNotOnCurve,
  // RejectsCoordinateAtLeastP).
  auto key = ImportKey(pk, {});
  if (!key.ok()) return Error(Code::kCrypto, "p256: public key is not a point on the curve");
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) {
    ossl::DrainErrors();
    return Error(Code::kCrypto, "p256: public key is not a point on the curve");
  }
  return pk;
}

bool P256PrivateKey::ScalarInRange(std::span<const uint8_t> sk) {
  if (sk.size() != kP256ScalarSize) return false;
  // Big-endian sk < n, and sk != 0, with no branch on sk's bytes.
  uint32_t borrow = 0;
  uint8_t any = 0;
  for (size_t i = kP256ScalarSize; i-- > 0;) {
    const uint32_t d = static_cast<uint32_t>(sk[i]) - kOrder[i] - borrow;
    borrow = (d >> 8) & 1;
    any |= sk[i];
  }
  return (borrow & static_cast<uint32_t>(any != 0)) != 0;
}

Result<P256PrivateKey> P256PrivateKey::Generate(Random& rng, SecretBytes::Protection p) {
  SecretBytes sk(kP256ScalarSize, p);
  // A draw falls outside [1, n-1] with probability about 2^-32; 64 draws
  // cannot all fail unless rng is broken.
  for (int i = 0; i < 64; ++i) {
    ASTIS_RETURN_IF_ERROR(rng.Fill(sk.RevealMutable()));
    if (ScalarInRange(sk.Reveal())) return FromBytes(sk.Reveal(), p);
  }
  return Error(Code::kCrypto, "p256: random scalar out of range");
}

Result<P256PrivateKey> P256PrivateKey::FromBytes(std::span<const uint8_t> sk, SecretBytes::Protection p) {
  if (!ScalarInRange(sk)) return Error(Code::kInvalidArgument, "p256: private key must be 32 bytes in [1, n-1]");
  ASTIS_ASSIGN_OR_RETURN(P256PublicKey pk, PublicFromScalar(sk));
  return P256PrivateKey(SecretBytes::CopyFrom(sk, p), pk);
}

Result<SecretBytes> P256PrivateKey::Agree(const P256PublicKey& peer) const {
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<EVP_PKEY> self, ImportKey(public_key_, sk_.Reveal()));
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<EVP_PKEY> other, ImportKey(peer, {}));
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, self.get(), nullptr));
  // EVP_PKEY_derive_set_peer_ex(..., 1) validates the peer key again.
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer_ex(ctx.get(), other.get(), 1) != 1) {
    return OsslError(Code::kCrypto, "p256: ECDH setup");
  }
  // RFC 9180 §7.1.1: DH output is the x-coordinate, Ndh = 32 bytes.
  SecretBytes dh(kP256ScalarSize, sk_.protection());
  size_t len = dh.size();
  if (EVP_PKEY_derive(ctx.get(), dh.RevealMutable().data(), &len) != 1 || len != kP256ScalarSize) {
    return OsslError(Code::kCrypto, "p256: ECDH");
  }
  return dh;
}

}  // namespace astis
