// OpenSSL ownership helpers for astis::net (internal: nothing outside src/net
// may include this). One deleter per OpenSSL type, and the error queue is
// drained into a Status at the boundary.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "crypto/sha256.h"

namespace astis::net::internal {

struct BioFree { void operator()(BIO* p) const { BIO_free_all(p); } };
struct X509Free { void operator()(X509* p) const { X509_free(p); } };
struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct X509ExtFree { void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); } };
struct X509NameFree { void operator()(X509_NAME* p) const { X509_NAME_free(p); } };

using UniqueBio = std::unique_ptr<BIO, BioFree>;
using UniqueX509 = std::unique_ptr<X509, X509Free>;
using UniquePkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using UniqueX509Ext = std::unique_ptr<X509_EXTENSION, X509ExtFree>;

// OpensslError drains the OpenSSL error queue and returns a Status with code
// and `what`; the OpenSSL reason string is appended (it never contains key
// material).
Status OpensslError(Code code, std::string_view what);

// ParseCertPem reads the first certificate of a PEM string. Errors are
// kInvalidArgument; the caller owns the result.
Result<UniqueX509> ParseCertPem(std::string_view pem);

// ParseKeyPem reads a PEM private key. Errors are kInvalidArgument and never
// quote the key.
Result<UniquePkey> ParseKeyPem(const SecretBytes& pem);

// CertToPem renders a certificate as PEM. Errors are kCrypto.
Result<std::string> CertToPem(X509* cert);

// KeyToPem renders a private key as PKCS#8 PEM inside SecretBytes (the
// intermediate BIO memory is wiped). Errors are kCrypto.
Result<SecretBytes> KeyToPem(EVP_PKEY* key);

// DerSha256 is the SHA-256 of the DER encoding of cert. Errors are kCrypto.
Result<Sha256Digest> DerSha256(X509* cert);

}  // namespace astis::net::internal
