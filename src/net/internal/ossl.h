// OpenSSL PEM and error helpers for astis::net (internal: nothing outside
// src/net may include this). The error queue is drained into a Status at the
// boundary; ownership is crypto/openssl_ptr.h's ossl::UniquePtr.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/openssl_ptr.h"
#include "crypto/secret_bytes.h"
#include "crypto/sha256.h"

namespace astis::net::internal {

// OpensslError drains the OpenSSL error queue (ossl::DrainErrors) and
// returns a Status with code and `what`; the first OpenSSL reason string is
// appended (it never contains key material).
Status OpensslError(Code code, std::string_view what);

// ParseCertPem reads the first certificate of a PEM string. Errors are
// kInvalidArgument; the caller owns the result.
Result<ossl::UniquePtr<X509>> ParseCertPem(std::string_view pem);

// ParseKeyPem reads a PEM private key. Errors are kInvalidArgument and never
// quote the key.
Result<ossl::UniquePtr<EVP_PKEY>> ParseKeyPem(const SecretBytes& pem);

// CertToPem renders a certificate as PEM. Errors are kCrypto.
Result<std::string> CertToPem(X509* cert);

// KeyToPem renders a private key as PKCS#8 PEM inside SecretBytes (the
// intermediate BIO memory is wiped). Errors are kCrypto.
Result<SecretBytes> KeyToPem(EVP_PKEY* key);

// DerSha256 is the SHA-256 of the DER encoding of cert. Errors are kCrypto.
Result<Sha256Digest> DerSha256(X509* cert);

}  // namespace astis::net::internal
