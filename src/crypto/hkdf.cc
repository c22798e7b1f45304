#include "crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>

#include "crypto/internal/ossl.h"

namespace astis {
namespace {

constexpr size_t kHashLen = 32;
constexpr uint8_t kEmptyByte = 0;

// Octet views never hand OpenSSL a null pointer: an empty salt or IKM is a
// valid zero-length input (RFC 5869 §2.2), not an absent one.
void* OctetPtr(std::span<const uint8_t> s) {
  return const_cast<uint8_t*>(s.empty() ? &kEmptyByte : s.data());
}

// RunHkdf derives out.size() bytes with the given HKDF mode on OpenSSL.
Status RunHkdf(int mode, std::span<const uint8_t> key, std::span<const uint8_t> salt_or_info, bool is_salt,
               std::span<uint8_t> out) {
  ossl::UniquePtr<EVP_KDF_CTX> ctx(EVP_KDF_CTX_new(crypto_internal::HkdfKdf()));
  if (!ctx) return crypto_internal::OsslError(Code::kCrypto, "hkdf: EVP_KDF_CTX_new failed");
  char digest[] = "SHA256";
  std::array<OSSL_PARAM, 5> params{};
  size_t i = 0;
  params[i++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
  params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, OctetPtr(key), key.size());
  if (!salt_or_info.empty()) {
    params[i++] = OSSL_PARAM_construct_octet_string(is_salt ? OSSL_KDF_PARAM_SALT : OSSL_KDF_PARAM_INFO,
                                                    OctetPtr(salt_or_info), salt_or_info.size());
  }
  params[i] = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1)
    return crypto_internal::OsslError(Code::kCrypto, "hkdf: EVP_KDF_derive failed");
  return OkStatus();
}

}  // namespace

Result<SecretBytes> HkdfExtract(std::span<const uint8_t> salt, std::span<const uint8_t> ikm) {
  // RFC 5869 §2.2: an absent salt is HashLen zeros; HMAC zero-pads its key,
  // so an empty salt gives the same PRK (checked by RFC 5869 test case 3).
  SecretBytes prk(kHashLen);
  ASTIS_RETURN_IF_ERROR(RunHkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, ikm, salt, /*is_salt=*/true, prk.RevealMutable()));
  return prk;
}

Result<SecretBytes> HkdfExpand(std::span<const uint8_t> prk, std::span<const uint8_t> info, size_t length) {
  // RFC 5869 §2.3: L <= 255*HashLen (test HkdfExpandRejectsTooLong).
  if (length > 255 * kHashLen) return Error(Code::kInvalidArgument, "hkdf: output length exceeds 255*HashLen");
  if (prk.size() < kHashLen) return Error(Code::kInvalidArgument, "hkdf: PRK shorter than HashLen");
  if (length == 0) return SecretBytes();
  SecretBytes okm(length);
  ASTIS_RETURN_IF_ERROR(RunHkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, info, /*is_salt=*/false, okm.RevealMutable()));
  return okm;
}

}  // namespace astis
