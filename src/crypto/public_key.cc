#include "crypto/public_key.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <climits>
#include <cstring>
#include <utility>

#include "common/encoding.h"
#include "crypto/internal/ossl.h"
#include "crypto/openssl_ptr.h"

namespace astis {
namespace {

using crypto_internal::OsslError;

constexpr int kMaxRsaBits = 8192;  // bounds verification cost of a hostile key

std::shared_ptr<evp_pkey_st> Share(EVP_PKEY* p) { return std::shared_ptr<evp_pkey_st>(p, ossl::Deleter<EVP_PKEY>()); }

const EVP_MD* DigestFor(SignatureAlg alg) {
  switch (alg) {
    case SignatureAlg::kRs256:
    case SignatureAlg::kPs256:
    case SignatureAlg::kEs256:
      return EVP_sha256();
    case SignatureAlg::kRs384:
    case SignatureAlg::kPs384:
    case SignatureAlg::kEs384:
      return EVP_sha384();
    case SignatureAlg::kRs512:
    case SignatureAlg::kPs512:
      return EVP_sha512();
    case SignatureAlg::kEdDsa:
      return nullptr;
  }
  return nullptr;
}

bool IsPss(SignatureAlg alg) {
  return alg == SignatureAlg::kPs256 || alg == SignatureAlg::kPs384 || alg == SignatureAlg::kPs512;
}

bool KindSupports(PublicKeyKind kind, SignatureAlg alg) {
  switch (alg) {
    case SignatureAlg::kRs256:
    case SignatureAlg::kRs384:
    case SignatureAlg::kRs512:
    case SignatureAlg::kPs256:
    case SignatureAlg::kPs384:
    case SignatureAlg::kPs512:
      return kind == PublicKeyKind::kRsa;
    case SignatureAlg::kEs256:
      return kind == PublicKeyKind::kEcP256;
    case SignatureAlg::kEs384:
      return kind == PublicKeyKind::kEcP384;
    case SignatureAlg::kEdDsa:
      return kind == PublicKeyKind::kEd25519;
  }
  return false;
}

size_t EcFieldSize(PublicKeyKind kind) { return kind == PublicKeyKind::kEcP384 ? 48 : 32; }
const char* EcGroupName(PublicKeyKind kind) { return kind == PublicKeyKind::kEcP384 ? "secp384r1" : "prime256v1"; }

// PushBn adds a big-endian unsigned integer parameter.
bool PushBn(OSSL_PARAM_BLD* bld, const char* key, std::span<const uint8_t> be,
            std::vector<ossl::UniquePtr<BIGNUM>>& keep) {
  if (be.size() > INT_MAX) return false;
  ossl::UniquePtr<BIGNUM> bn(BN_bin2bn(be.data(), static_cast<int>(be.size()), nullptr));
  if (!bn) return false;
  bool ok = OSSL_PARAM_BLD_push_BN(bld, key, bn.get()) == 1;
  keep.push_back(std::move(bn));  // the builder references the BIGNUM until to_param
  return ok;
}

// FromData builds an EVP_PKEY of type name from the parameters in bld.
Result<ossl::UniquePtr<EVP_PKEY>> FromData(const char* name, OSSL_PARAM_BLD* bld, int selection) {
  ossl::UniquePtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return OsslError(Code::kCrypto, "building key parameters");
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, name, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return OsslError(Code::kCrypto, "key import context");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) != 1) {
    return OsslError(Code::kInvalidArgument, "key import refused");
  }
  return ossl::UniquePtr<EVP_PKEY>(raw);
}

// CheckPublic runs OpenSSL's public key validation (for EC: point not at
// infinity, on the curve, of the right order).
Status CheckPublic(EVP_PKEY* pkey) {
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx) return OsslError(Code::kCrypto, "key check context");
  if (EVP_PKEY_public_check(ctx.get()) != 1) return OsslError(Code::kInvalidArgument, "public key check failed");
  return OkStatus();
}

Status CheckRsaPublicMembers(std::span<const uint8_t> n, std::span<const uint8_t> e) {
  // RFC 7518 §6.3.1.1 / §6.3.1.2: minimum-length octet sequences, no leading zeros.
  if (n.empty() || n[0] == 0) return Error(Code::kInvalidArgument, "RSA modulus empty or not minimal");
  if (e.empty() || e[0] == 0 || e.size() > 8) return Error(Code::kInvalidArgument, "RSA exponent invalid");
  // RFC 7518 §3.3: a key of size 2048 bits or larger MUST be used
  // (test PublicKeyTest.RejectsRsaKeyTooSmall).
  size_t bits = n.size() * 8;
  for (uint8_t top = n[0]; (top & 0x80) == 0; top = static_cast<uint8_t>(top << 1)) --bits;
  if (bits < static_cast<size_t>(kMinRsaBits)) return Error(Code::kInvalidArgument, "RSA key smaller than 2048 bits");
  if (bits > static_cast<size_t>(kMaxRsaBits)) return Error(Code::kInvalidArgument, "RSA key larger than 8192 bits");
  if ((e.back() & 1) == 0 || (e.size() == 1 && e[0] < 3)) return Error(Code::kInvalidArgument, "RSA exponent invalid");
  return OkStatus();
}

// RawToDer converts a JOSE R || S signature to the DER ECDSA-Sig-Value.
Result<std::vector<uint8_t>> RawToDer(std::span<const uint8_t> sig, size_t field) {
  ossl::UniquePtr<ECDSA_SIG> s(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(sig.data(), static_cast<int>(field), nullptr);
  BIGNUM* ss = BN_bin2bn(sig.data() + field, static_cast<int>(field), nullptr);
  if (!s || r == nullptr || ss == nullptr || ECDSA_SIG_set0(s.get(), r, ss) != 1) {
    BN_free(r);
    BN_free(ss);
    return OsslError(Code::kCrypto, "ECDSA signature conversion");
  }
  int len = i2d_ECDSA_SIG(s.get(), nullptr);
  if (len <= 0) return OsslError(Code::kCrypto, "ECDSA signature encoding");
  std::vector<uint8_t> der(static_cast<size_t>(len));
  uint8_t* p = der.data();
  if (i2d_ECDSA_SIG(s.get(), &p) != len) return OsslError(Code::kCrypto, "ECDSA signature encoding");
  return der;
}

// DerToRaw converts a DER ECDSA signature to JOSE R || S (RFC 7518 §3.4).
Result<std::vector<uint8_t>> DerToRaw(std::span<const uint8_t> der, size_t field) {
  const uint8_t* p = der.data();
  ossl::UniquePtr<ECDSA_SIG> s(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));  // NOLINT(runtime/int)
  if (!s) return OsslError(Code::kCrypto, "ECDSA signature decoding");
  const BIGNUM* r = nullptr;
  const BIGNUM* ss = nullptr;
  ECDSA_SIG_get0(s.get(), &r, &ss);
  std::vector<uint8_t> raw(2 * field);
  if (BN_bn2binpad(r, raw.data(), static_cast<int>(field)) != static_cast<int>(field) ||
      BN_bn2binpad(ss, raw.data() + field, static_cast<int>(field)) != static_cast<int>(field)) {
    return OsslError(Code::kCrypto, "ECDSA signature conversion");
  }
  return raw;
}

// ConfigureRsaPadding selects PKCS#1 v1.5 or PSS. RFC 7518 §3.5: PSS uses
// MGF1 with the same hash and a salt as long as the hash output.
Status ConfigureRsaPadding(EVP_PKEY_CTX* pctx, SignatureAlg alg, const EVP_MD* md) {
  if (!IsPss(alg)) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return OsslError(Code::kCrypto, "RSA padding");
    return OkStatus();
  }
  if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1) {
    return OsslError(Code::kCrypto, "RSA-PSS parameters");
  }
  return OkStatus();
}

std::vector<uint8_t> BnParam(EVP_PKEY* pkey, const char* name, size_t pad_to) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) return {};
  ossl::UniquePtr<BIGNUM> bn(raw);
  size_t len = pad_to != 0 ? pad_to : static_cast<size_t>(BN_num_bytes(bn.get()));
  std::vector<uint8_t> out(len);
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(len)) < 0) return {};
  return out;
}

int RejectPassword(char*, int, int, void*) { return 0; }  // encrypted PEM is refused, never prompted

}  // namespace

std::string_view SignatureAlgName(SignatureAlg alg) {
  switch (alg) {
    case SignatureAlg::kRs256: return "RS256";
    case SignatureAlg::kRs384: return "RS384";
    case SignatureAlg::kRs512: return "RS512";
    case SignatureAlg::kPs256: return "PS256";
    case SignatureAlg::kPs384: return "PS384";
    case SignatureAlg::kPs512: return "PS512";
    case SignatureAlg::kEs256: return "ES256";
    case SignatureAlg::kEs384: return "ES384";
    case SignatureAlg::kEdDsa: return "EdDSA";
  }
  return "";
}

std::optional<SignatureAlg> SignatureAlgFromName(std::string_view name) {
  static constexpr std::pair<std::string_view, SignatureAlg> kNames[] = {
      {"RS256", SignatureAlg::kRs256}, {"RS384", SignatureAlg::kRs384}, {"RS512", SignatureAlg::kRs512},
      {"PS256", SignatureAlg::kPs256}, {"PS384", SignatureAlg::kPs384}, {"PS512", SignatureAlg::kPs512},
      {"ES256", SignatureAlg::kEs256}, {"ES384", SignatureAlg::kEs384}, {"EdDSA", SignatureAlg::kEdDsa},
      {"Ed25519", SignatureAlg::kEdDsa},  // RFC 9864 fully-specified name
  };
  for (const auto& [n, a] : kNames) {
    if (n == name) return a;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// VerificationKey

Result<VerificationKey> VerificationKey::FromRsaComponents(std::span<const uint8_t> n, std::span<const uint8_t> e) {
  ASTIS_RETURN_IF_ERROR(CheckRsaPublicMembers(n, e));
  ossl::UniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  std::vector<ossl::UniquePtr<BIGNUM>> keep;
  if (!bld || !PushBn(bld.get(), OSSL_PKEY_PARAM_RSA_N, n, keep) ||
      !PushBn(bld.get(), OSSL_PKEY_PARAM_RSA_E, e, keep)) {
    return OsslError(Code::kCrypto, "RSA parameters");
  }
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<EVP_PKEY> pkey, FromData("RSA", bld.get(), EVP_PKEY_PUBLIC_KEY));
  return VerificationKey(PublicKeyKind::kRsa, Share(pkey.release()), {});
}

Result<VerificationKey> VerificationKey::FromEcPoint(PublicKeyKind kind, std::span<const uint8_t> x,
                                                     std::span<const uint8_t> y) {
  if (kind != PublicKeyKind::kEcP256 && kind != PublicKeyKind::kEcP384) {
    return Error(Code::kInvalidArgument, "not an EC key kind");
  }
  const size_t field = EcFieldSize(kind);
  if (x.size() != field || y.size() != field) return Error(Code::kInvalidArgument, "EC coordinate has wrong size");
  std::vector<uint8_t> point;
  point.reserve(1 + 2 * field);
  point.push_back(0x04);  // SEC 1 §2.3.3 uncompressed point
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  ossl::UniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, EcGroupName(kind), 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return OsslError(Code::kCrypto, "EC parameters");
  }
  // An off-curve point is refused here or by CheckPublic
  // (test PublicKeyTest.RejectsEcPointNotOnCurve).
  auto pkey = FromData("EC", bld.get(), EVP_PKEY_PUBLIC_KEY);
  if (!pkey.ok()) return Error(Code::kInvalidArgument, "EC point not on curve");
  ASTIS_RETURN_IF_ERROR(CheckPublic(pkey->get()));
  return VerificationKey(kind, Share(pkey->release()), {});
}

VerificationKey VerificationKey::FromEd25519(const Ed25519PublicKey& pk) {
  return VerificationKey(PublicKeyKind::kEd25519, nullptr, pk);
}

Result<VerificationKey> VerificationKey::FromEvp(std::shared_ptr<evp_pkey_st> pkey) {
  EVP_PKEY* p = pkey.get();
  if (EVP_PKEY_is_a(p, "RSA")) {
    int bits = EVP_PKEY_get_bits(p);
    if (bits < kMinRsaBits) return Error(Code::kInvalidArgument, "RSA key smaller than 2048 bits");
    if (bits > kMaxRsaBits) return Error(Code::kInvalidArgument, "RSA key larger than 8192 bits");
    std::vector<uint8_t> n = BnParam(p, OSSL_PKEY_PARAM_RSA_N, 0);
    std::vector<uint8_t> e = BnParam(p, OSSL_PKEY_PARAM_RSA_E, 0);
    ASTIS_RETURN_IF_ERROR(CheckRsaPublicMembers(n, e));
    return VerificationKey(PublicKeyKind::kRsa, std::move(pkey), {});
  }
  if (EVP_PKEY_is_a(p, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) != 1) {
      return OsslError(Code::kInvalidArgument, "EC key without named group");
    }
    std::string_view g(group, len);
    PublicKeyKind kind;
    if (g == "prime256v1" || g == "P-256") {
      kind = PublicKeyKind::kEcP256;
    } else if (g == "secp384r1" || g == "P-384") {
      kind = PublicKeyKind::kEcP384;
    } else {
      return Error(Code::kInvalidArgument, "unsupported EC curve");
    }
    ASTIS_RETURN_IF_ERROR(CheckPublic(p));
    return VerificationKey(kind, std::move(pkey), {});
  }
  if (EVP_PKEY_is_a(p, "ED25519")) {
    uint8_t raw[kEd25519PublicKeySize];
    size_t len = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(p, raw, &len) != 1 || len != sizeof(raw)) {
      return OsslError(Code::kInvalidArgument, "Ed25519 key export");
    }
    ASTIS_ASSIGN_OR_RETURN(Ed25519PublicKey ed, Ed25519PublicKey::FromBytes(std::span<const uint8_t>(raw, len)));
    return FromEd25519(ed);
  }
  return Error(Code::kInvalidArgument, "unsupported public key type");
}

Result<VerificationKey> VerificationKey::FromSpkiDer(std::span<const uint8_t> der) {
  if (der.empty() || der.size() > 16 * 1024) return Error(Code::kInvalidArgument, "SPKI size out of range");
  const uint8_t* p = der.data();
  EVP_PKEY* raw = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));  // NOLINT(runtime/int)
  if (raw == nullptr) return OsslError(Code::kInvalidArgument, "SPKI parse failed");
  auto shared = Share(raw);
  if (p != der.data() + der.size()) return Error(Code::kInvalidArgument, "trailing bytes after SPKI");
  return FromEvp(std::move(shared));
}

Result<VerificationKey> VerificationKey::FromPem(std::string_view pem) {
  if (pem.empty() || pem.size() > 32 * 1024) return Error(Code::kInvalidArgument, "PEM size out of range");
  ossl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OsslError(Code::kCrypto, "BIO");
  EVP_PKEY* raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, RejectPassword, nullptr);
  if (raw == nullptr) return OsslError(Code::kInvalidArgument, "PEM public key parse failed");
  return FromEvp(Share(raw));
}

bool VerificationKey::Supports(SignatureAlg alg) const { return KindSupports(kind_, alg); }

Status VerificationKey::Verify(SignatureAlg alg, std::span<const uint8_t> msg, std::span<const uint8_t> sig) const {
  if (!Supports(alg)) return Error(Code::kInvalidArgument, "algorithm does not fit the key");
  if (kind_ == PublicKeyKind::kEd25519) {
    // RFC 8037 §3.1: the signature is the 64-byte Ed25519 signature.
    if (sig.size() != kEd25519SignatureSize) return Error(Code::kInvalidArgument, "Ed25519 signature length");
    return Ed25519Verify(ed25519_, msg, sig);
  }
  std::vector<uint8_t> der;
  std::span<const uint8_t> to_check = sig;
  if (kind_ == PublicKeyKind::kRsa) {
    // RFC 8017 §8.2.2 step 1 / §8.1.2 step 1: the signature is exactly k octets.
    if (sig.size() != static_cast<size_t>(EVP_PKEY_get_size(pkey_.get()))) {
      return Error(Code::kInvalidArgument, "RSA signature length");
    }
  } else {
    // RFC 7518 §3.4: the JWS signature is R || S, each exactly the field size;
    // any other length MUST be refused (test PublicKeyTest.RejectsWrongSignatureLength).
    const size_t field = EcFieldSize(kind_);
    if (sig.size() != 2 * field) return Error(Code::kInvalidArgument, "ECDSA signature length");
    ASTIS_ASSIGN_OR_RETURN(der, RawToDer(sig, field));
    to_check = der;
  }
  const EVP_MD* md = DigestFor(alg);
  ossl::UniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, pkey_.get()) != 1) {
    return OsslError(Code::kCrypto, "verify init");
  }
  if (kind_ == PublicKeyKind::kRsa) ASTIS_RETURN_IF_ERROR(ConfigureRsaPadding(pctx, alg, md));
  if (EVP_DigestVerify(ctx.get(), to_check.data(), to_check.size(), msg.data(), msg.size()) != 1) {
    ossl::DrainErrors();
    return Error(Code::kCrypto, "signature verification failed");
  }
  return OkStatus();
}

// ---------------------------------------------------------------------------
// SigningKey

SigningKey::SigningKey(PublicKeyKind kind, std::shared_ptr<evp_pkey_st> pkey, std::unique_ptr<Ed25519PrivateKey> ed)
    : kind_(kind), pkey_(std::move(pkey)), ed_(std::move(ed)) {}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

Result<SigningKey> SigningKey::GenerateRsa(int bits) {
  if (bits < kMinRsaBits || bits > kMaxRsaBits) return Error(Code::kInvalidArgument, "RSA size out of range");
  EVP_PKEY* raw = EVP_RSA_gen(static_cast<unsigned int>(bits));
  if (raw == nullptr) return OsslError(Code::kCrypto, "RSA key generation");
  return SigningKey(PublicKeyKind::kRsa, Share(raw), nullptr);
}

Result<SigningKey> SigningKey::GenerateEc(PublicKeyKind kind) {
  if (kind != PublicKeyKind::kEcP256 && kind != PublicKeyKind::kEcP384) {
    return Error(Code::kInvalidArgument, "not an EC key kind");
  }
  EVP_PKEY* raw = EVP_EC_gen(EcGroupName(kind));
  if (raw == nullptr) return OsslError(Code::kCrypto, "EC key generation");
  return SigningKey(kind, Share(raw), nullptr);
}

Result<SigningKey> SigningKey::FromEd25519Seed(std::span<const uint8_t> seed) {
  if (seed.size() != kEd25519SeedSize) return Error(Code::kInvalidArgument, "Ed25519 seed must be 32 bytes");
  ASTIS_ASSIGN_OR_RETURN(Ed25519PrivateKey ed, Ed25519PrivateKey::FromSeed(seed));
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
  if (raw == nullptr) return OsslError(Code::kCrypto, "Ed25519 import");
  return SigningKey(PublicKeyKind::kEd25519, Share(raw), std::make_unique<Ed25519PrivateKey>(std::move(ed)));
}

Result<SigningKey> SigningKey::GenerateEd25519(Random& rng) {
  SecretBytes seed(kEd25519SeedSize);
  ASTIS_RETURN_IF_ERROR(rng.Fill(seed.RevealMutable()));
  return FromEd25519Seed(seed.Reveal());
}

Result<SigningKey> SigningKey::FromRsaComponents(const RsaPrivateComponents& c) {
  ASTIS_RETURN_IF_ERROR(CheckRsaPublicMembers(c.n, c.e));
  ossl::UniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  std::vector<ossl::UniquePtr<BIGNUM>> keep;
  if (!bld || !PushBn(bld.get(), OSSL_PKEY_PARAM_RSA_N, c.n, keep) ||
      !PushBn(bld.get(), OSSL_PKEY_PARAM_RSA_E, c.e, keep) || !PushBn(bld.get(), OSSL_PKEY_PARAM_RSA_D, c.d, keep) ||
      !PushBn(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR1, c.p, keep) ||
      !PushBn(bld.get(), OSSL_PKEY_PARAM_RSA_FACTOR2, c.q, keep) ||
      !PushBn(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT1, c.dp, keep) ||
      !PushBn(bld.get(), OSSL_PKEY_PARAM_RSA_EXPONENT2, c.dq, keep) ||
      !PushBn(bld.get(), OSSL_PKEY_PARAM_RSA_COEFFICIENT1, c.qi, keep)) {
    return OsslError(Code::kCrypto, "RSA private parameters");
  }
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<EVP_PKEY> pkey, FromData("RSA", bld.get(), EVP_PKEY_KEYPAIR));
  return SigningKey(PublicKeyKind::kRsa, Share(pkey.release()), nullptr);
}

Result<SigningKey> SigningKey::FromEcPrivate(PublicKeyKind kind, std::span<const uint8_t> x,
                                             std::span<const uint8_t> y, std::span<const uint8_t> d) {
  ASTIS_ASSIGN_OR_RETURN(VerificationKey pub, VerificationKey::FromEcPoint(kind, x, y));
  (void)pub;  // validates the public point
  const size_t field = EcFieldSize(kind);
  if (d.size() != field) return Error(Code::kInvalidArgument, "EC private scalar has wrong size");
  std::vector<uint8_t> point{0x04};
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  ossl::UniquePtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  std::vector<ossl::UniquePtr<BIGNUM>> keep;
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, EcGroupName(kind), 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1 ||
      !PushBn(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d, keep)) {
    return OsslError(Code::kCrypto, "EC private parameters");
  }
  ASTIS_ASSIGN_OR_RETURN(ossl::UniquePtr<EVP_PKEY> pkey, FromData("EC", bld.get(), EVP_PKEY_KEYPAIR));
  ossl::UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_pairwise_check(ctx.get()) != 1) {
    return OsslError(Code::kInvalidArgument, "EC private key does not match its public point");
  }
  return SigningKey(kind, Share(pkey.release()), nullptr);
}

Result<SigningKey> SigningKey::FromPrivatePem(std::string_view pem) {
  if (pem.empty() || pem.size() > 32 * 1024) return Error(Code::kInvalidArgument, "PEM size out of range");
  ossl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OsslError(Code::kCrypto, "BIO");
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, RejectPassword, nullptr);
  if (raw == nullptr) return OsslError(Code::kInvalidArgument, "PEM private key parse failed");
  auto pkey = Share(raw);
  if (EVP_PKEY_is_a(raw, "ED25519")) {
    SecretBytes seed(kEd25519SeedSize);
    size_t len = seed.size();
    if (EVP_PKEY_get_raw_private_key(raw, seed.RevealMutable().data(), &len) != 1 || len != kEd25519SeedSize) {
      return OsslError(Code::kInvalidArgument, "Ed25519 private key export");
    }
    return FromEd25519Seed(seed.Reveal());
  }
  ASTIS_ASSIGN_OR_RETURN(VerificationKey pub, VerificationKey::FromEvp(pkey));
  return SigningKey(pub.kind(), std::move(pkey), nullptr);
}

Result<std::vector<uint8_t>> SigningKey::Sign(SignatureAlg alg, std::span<const uint8_t> msg) const {
  if (!KindSupports(kind_, alg)) return Error(Code::kInvalidArgument, "algorithm does not fit the key");
  if (kind_ == PublicKeyKind::kEd25519) {
    Ed25519Signature s = ed_->Sign(msg);
    return std::vector<uint8_t>(s.begin(), s.end());
  }
  const EVP_MD* md = DigestFor(alg);
  ossl::UniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, pkey_.get()) != 1) {
    return OsslError(Code::kCrypto, "sign init");
  }
  if (kind_ == PublicKeyKind::kRsa) ASTIS_RETURN_IF_ERROR(ConfigureRsaPadding(pctx, alg, md));
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, msg.data(), msg.size()) != 1) return OsslError(Code::kCrypto, "sign");
  std::vector<uint8_t> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()) != 1) return OsslError(Code::kCrypto, "sign");
  sig.resize(len);
  if (kind_ == PublicKeyKind::kRsa) return sig;
  return DerToRaw(sig, EcFieldSize(kind_));  // RFC 7518 §3.4
}

Result<VerificationKey> SigningKey::PublicKey() const {
  if (kind_ == PublicKeyKind::kEd25519) return VerificationKey::FromEd25519(ed_->public_key());
  Json m = PublicJwkMembers();
  if (kind_ == PublicKeyKind::kRsa) {
    ASTIS_ASSIGN_OR_RETURN(auto n, B64uDecode(m["n"].get<std::string>()));
    ASTIS_ASSIGN_OR_RETURN(auto e, B64uDecode(m["e"].get<std::string>()));
    return VerificationKey::FromRsaComponents(n, e);
  }
  ASTIS_ASSIGN_OR_RETURN(auto x, B64uDecode(m["x"].get<std::string>()));
  ASTIS_ASSIGN_OR_RETURN(auto y, B64uDecode(m["y"].get<std::string>()));
  return VerificationKey::FromEcPoint(kind_, x, y);
}

Json SigningKey::PublicJwkMembers() const {
  Json j = Json::object();  // nlohmann's object is a std::map: keys come out sorted
  switch (kind_) {
    case PublicKeyKind::kRsa:
      j["kty"] = "RSA";
      j["n"] = B64uEncode(BnParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_N, 0));
      j["e"] = B64uEncode(BnParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_E, 0));
      break;
    case PublicKeyKind::kEcP256:
    case PublicKeyKind::kEcP384:
      j["kty"] = "EC";
      j["crv"] = kind_ == PublicKeyKind::kEcP256 ? "P-256" : "P-384";
      j["x"] = B64uEncode(BnParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X, EcFieldSize(kind_)));
      j["y"] = B64uEncode(BnParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, EcFieldSize(kind_)));
      break;
    case PublicKeyKind::kEd25519:
      j["kty"] = "OKP";
      j["crv"] = "Ed25519";
      j["x"] = B64uEncode(ed_->public_key().bytes);
      break;
  }
  return j;
}

Result<std::string> SigningKey::ExportPublicPem() const {
  ossl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) return OsslError(Code::kCrypto, "PEM export");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  if (len <= 0) return OsslError(Code::kCrypto, "PEM export");
  return std::string(data, static_cast<size_t>(len));
}

Result<SecretBytes> SigningKey::ExportPrivatePem() const {
  ossl::UniquePtr<BIO> bio(BIO_new(BIO_s_secmem()));  // wiped on free
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OsslError(Code::kCrypto, "PEM export");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  if (len <= 0) return OsslError(Code::kCrypto, "PEM export");
  return SecretBytes::CopyFrom(std::string_view(data, static_cast<size_t>(len)));
}

}  // namespace astis
