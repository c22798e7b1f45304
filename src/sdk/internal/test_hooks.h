// Test-only hooks into the C ABI (docs/sdk.md "Test hooks"). NOT part of the
// public API and not installed: nothing but tests includes this header, and
// the symbols are not exported from libastis.so (they exist in the static
// library only, which tests link).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "astis/astis.h"
#include "sdk/engine.h"

namespace astis::sdkcore::testing {

// SetSecretQuarantine turns the quarantine on or off. While on,
// astis_secret_free still zeroes the plaintext through the production path
// but keeps the (locked) buffer allocated instead of releasing it, so a test
// can read the released memory back. Turning it off releases the quarantine.
void SetSecretQuarantine(bool on);

// QuarantinedBytes copies the current contents of the buffer that was at
// address data when its secret was freed under quarantine; empty when no
// such buffer is quarantined.
std::vector<uint8_t> QuarantinedBytes(const void* data);

// WrapEngine makes a C handle around an engine built with injected test
// dependencies. The handle owns the engine; free it with astis_client_free.
astis_client* WrapEngine(std::unique_ptr<Engine> engine);

// EngineOf returns the engine behind a handle (borrowed).
Engine* EngineOf(astis_client* client);

}  // namespace astis::sdkcore::testing
