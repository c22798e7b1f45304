#include "net/internal/ossl.h"

#include <openssl/pem.h>

#include <climits>

namespace astis::net::internal {

Status OpensslError(Code code, std::string_view what) {
  std::string message(what);
  const std::string reason = ossl::DrainErrors();
  if (!reason.empty()) message += ": " + reason;
  return Status(code, std::move(message));
}

Result<ossl::UniquePtr<X509>> ParseCertPem(std::string_view pem) {
  if (pem.empty() || pem.size() > INT_MAX) return Status(Code::kInvalidArgument, "empty or oversize certificate PEM");
  ossl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpensslError(Code::kCrypto, "BIO_new_mem_buf");
  ossl::UniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return OpensslError(Code::kInvalidArgument, "not a PEM certificate");
  return cert;
}

Result<ossl::UniquePtr<EVP_PKEY>> ParseKeyPem(const SecretBytes& pem) {
  if (pem.empty() || pem.size() > INT_MAX) return Status(Code::kInvalidArgument, "empty or oversize private key PEM");
  std::string_view text = pem.RevealString();
  ossl::UniquePtr<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return OpensslError(Code::kCrypto, "BIO_new_mem_buf");
  // No passphrase callback: an encrypted key is refused rather than prompted.
  ossl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, const_cast<char*>("")));
  if (!key) return OpensslError(Code::kInvalidArgument, "not an unencrypted PEM private key");
  return key;
}

Result<std::string> CertToPem(X509* cert) {
  ossl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return OpensslError(Code::kCrypto, "PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int): OpenSSL API
  return std::string(data, static_cast<size_t>(len));
}

Result<SecretBytes> KeyToPem(EVP_PKEY* key) {
  ossl::UniquePtr<BIO> bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpensslError(Code::kCrypto, "PEM_write_bio_PrivateKey");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int): OpenSSL API
  // BIO_s_secmem clears its buffer on free.
  return SecretBytes::CopyFrom(std::string_view(data, static_cast<size_t>(len)));
}

Result<Sha256Digest> DerSha256(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) return OpensslError(Code::kCrypto, "i2d_X509");
  Sha256Digest digest = Sha256(std::span<const uint8_t>(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  return digest;
}

}  // namespace astis::net::internal
