// OpenSSL and libsodium plumbing for astis::crypto (internal: nothing outside
// src/crypto may include this). The OpenSSL error queue is drained into a
// Status at the boundary; the deleters are crypto/openssl_ptr.h's.
#pragma once

#include <openssl/evp.h>

#include <string_view>

#include "common/status.h"
#include "crypto/openssl_ptr.h"

namespace astis::crypto_internal {

// OsslError drains the OpenSSL error queue and returns Status(code, what),
// with the first OpenSSL reason string appended (reason strings never carry
// key material). It never returns OK.
Status OsslError(Code code, std::string_view what);

// Sha256Md is SHA-256 fetched once per process (a thread-safe static, never
// freed); SHA-256, HMAC-SHA256 and HKDF are built on it. Aborts if the
// default provider lacks it: a broken installation, not a request outcome.
const EVP_MD* Sha256Md();

// EnsureSodium calls sodium_init() exactly once (std::call_once); aborts if
// libsodium cannot initialise. Every entry point into libsodium calls it.
void EnsureSodium();

}  // namespace astis::crypto_internal
