// Test-only helpers for the crypto tests (internal: only *_test.cc and
// crypto_bench.cc include this): vector files and hex literals.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "common/json.h"
#include "crypto/random.h"

namespace astis::crypto_testing {

// TestdataPath returns ASTIS_TESTDATA_DIR (env var first, then the compile
// definition) joined with rel.
inline std::string TestdataPath(const std::string& rel) {
  const char* env = std::getenv("ASTIS_TESTDATA_DIR");
  std::string dir = env != nullptr ? env : ASTIS_TESTDATA_DIR;
  return dir + "/" + rel;
}

// LoadVector parses testdata/vectors/<name>; a missing or malformed file
// fails the test (never silently passes) and yields null.
inline Json LoadVector(const std::string& name) {
  std::ifstream in(TestdataPath("vectors/" + name));
  EXPECT_TRUE(in.good()) << "missing vector file " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = ParseJson(ss.str(), JsonLimits{4 << 20, 32});
  EXPECT_TRUE(j.ok()) << "malformed vector file " << name;
  return j.ok() ? *j : Json();
}

// H decodes a hex literal; malformed hex fails the test and yields {}.
inline std::vector<uint8_t> H(std::string_view hex) {
  auto r = HexDecode(hex);
  EXPECT_TRUE(r.ok()) << "bad hex literal";
  return r.ok() ? *r : std::vector<uint8_t>{};
}

// Vec copies a span into a vector, for EXPECT_EQ against H(...).
inline std::vector<uint8_t> Vec(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

// FailingRandom is a Random whose Fill always fails, to show callers refuse.
class FailingRandom final : public Random {
 public:
  Status Fill(std::span<uint8_t>) override { return Error(Code::kCrypto, "test: random source failed"); }
};

}  // namespace astis::crypto_testing
