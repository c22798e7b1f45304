// Test-only helpers for the jose tests: the vector loader is the crypto
// tests' one (src/crypto/internal/test_util.h), re-exported here so the jose
// tests keep their names without a second copy of the code.
#pragma once

#include "crypto/internal/test_util.h"

namespace astis::jose::testing {

using ::astis::crypto_testing::LoadVector;
using ::astis::crypto_testing::TestdataPath;

}  // namespace astis::jose::testing
