// OpenSSL and libsodium plumbing for astis::crypto (internal: nothing outside
// src/crypto may include this). One deleter per OpenSSL type; the OpenSSL
// error queue is drained into a Status at the boundary.
#pragma once

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <memory>
#include <string_view>

#include "common/status.h"

namespace astis::crypto_internal {

// The deleters below free one OpenSSL object type each (null is accepted).
struct EvpCipherCtxFree { void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); } };
struct EvpKdfCtxFree { void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); } };
struct EvpMdCtxFree { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };

// UniqueCipherCtx, UniqueKdfCtx and UniqueMdCtx own one OpenSSL context each
// and free it on destruction; a null pointer means allocation failed.
using UniqueCipherCtx = std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxFree>;
using UniqueKdfCtx = std::unique_ptr<EVP_KDF_CTX, EvpKdfCtxFree>;
using UniqueMdCtx = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;

// OsslError drains the OpenSSL error queue and returns Status(code, what),
// with the first OpenSSL reason string appended (reason strings never carry
// key material). It never returns OK.
Status OsslError(Code code, std::string_view what);

// DrainOsslErrors empties the OpenSSL error queue without reporting it (used
// where the message must stay fixed, e.g. "authentication failed").
void DrainOsslErrors();

// Fetched algorithm handles, fetched once per process (thread-safe statics)
// and never freed. Each aborts if the default provider lacks the algorithm:
// that is a broken installation, not a request outcome.
const EVP_MD* Sha256Md();
EVP_KDF* HkdfKdf();

// EnsureSodium calls sodium_init() exactly once (std::call_once); aborts if
// libsodium cannot initialise. Every entry point into libsodium calls it.
void EnsureSodium();

}  // namespace astis::crypto_internal
