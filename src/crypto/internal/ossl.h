// OpenSSL and libsodium plumbing for astis::crypto (internal: nothing outside
// src/crypto may include this). The OpenSSL error queue is drained into a
// Status at the boundary; the deleters are crypto/openssl_ptr.h's.
#pragma once

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <string_view>

#include "common/status.h"
#include "crypto/openssl_ptr.h"

namespace astis::crypto_internal {

// OsslError drains the OpenSSL error queue and returns Status(code, what),
// with the first OpenSSL reason string appended (reason strings never carry
// key material). It never returns OK.
Status OsslError(Code code, std::string_view what);

// Fetched algorithm handles, fetched once per process (thread-safe statics)
// and never freed. Each aborts if the default provider lacks the algorithm:
// that is a broken installation, not a request outcome.
const EVP_MD* Sha256Md();
EVP_KDF* HkdfKdf();

// EnsureSodium calls sodium_init() exactly once (std::call_once); aborts if
// libsodium cannot initialise. Every entry point into libsodium calls it.
void EnsureSodium();

}  // namespace astis::crypto_internal
