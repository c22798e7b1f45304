// Test hook for SecretBytes (internal: only secret_bytes.cc and
// secret_bytes_test.cc include this).
#pragma once

#include <cstddef>
#include <cstdint>

namespace astis::crypto_internal {

// ReleaseHook is called with a SecretBytes buffer after it has been wiped and
// just before its memory is freed, so a test can read the bytes back legally.
using ReleaseHook = void (*)(const uint8_t* data, size_t size);

// SetReleaseHookForTesting installs hook (nullptr removes it). Tests only;
// production never installs one. The hook must not retain the pointer.
void SetReleaseHookForTesting(ReleaseHook hook);

}  // namespace astis::crypto_internal
