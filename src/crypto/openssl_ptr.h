// OpenSSL ownership and error-queue plumbing shared by astis::crypto and
// astis::net (net links crypto; nothing here depends on net). One deleter
// per OpenSSL type, BoringSSL bssl::UniquePtr style:
//
//   ossl::UniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
//
// and one drainer that empties the error queue into a reason string.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace astis::ossl {

// Deleter<T> frees one T with OpenSSL's own free function (null accepted).
// A type without a specialisation does not compile as a UniquePtr.
template <class T>
struct Deleter;

// A BIO owns the chain pushed below it.
template <> struct Deleter<BIO> { void operator()(BIO* p) const { BIO_free_all(p); } };
// Big numbers here may hold private key material: cleared before freeing.
template <> struct Deleter<BIGNUM> { void operator()(BIGNUM* p) const { BN_clear_free(p); } };
template <> struct Deleter<ECDSA_SIG> { void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); } };
template <> struct Deleter<EVP_CIPHER_CTX> { void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); } };
template <> struct Deleter<EVP_KDF_CTX> { void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); } };
template <> struct Deleter<EVP_MD_CTX> { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };
template <> struct Deleter<EVP_PKEY> { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
template <> struct Deleter<EVP_PKEY_CTX> { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
template <> struct Deleter<OSSL_PARAM> { void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); } };
template <> struct Deleter<OSSL_PARAM_BLD> { void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); } };
template <> struct Deleter<X509> { void operator()(X509* p) const { X509_free(p); } };
template <> struct Deleter<X509_EXTENSION> { void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); } };

// UniquePtr<T> owns one OpenSSL object and frees it on destruction; a null
// pointer means the allocating call failed.
template <class T>
using UniquePtr = std::unique_ptr<T, Deleter<T>>;

// DrainErrors empties the calling thread's OpenSSL error queue and returns
// the reason string of its first (oldest) entry: "" when the queue was
// empty, "unknown reason" when that entry has no reason string. Reason
// strings never carry key material.
std::string DrainErrors();

}  // namespace astis::ossl
