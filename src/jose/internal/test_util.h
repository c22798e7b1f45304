// Test-only helpers for the jose tests: loading vector files from testdata/.
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/json.h"

namespace astis::jose::testing {

// TestdataPath returns ASTIS_TESTDATA_DIR (env var first, then the compile
// definition) joined with rel.
inline std::string TestdataPath(const std::string& rel) {
  const char* env = std::getenv("ASTIS_TESTDATA_DIR");
  std::string dir = env != nullptr ? env : ASTIS_TESTDATA_DIR;
  return dir + "/" + rel;
}

// LoadVector parses testdata/vectors/<name> as JSON; a missing or malformed
// file fails the test (never silently passes).
inline Json LoadVector(const std::string& name) {
  std::ifstream in(TestdataPath("vectors/" + name));
  EXPECT_TRUE(in.good()) << "missing vector file " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = ParseJson(ss.str(), JsonLimits{1 << 20, 32});
  EXPECT_TRUE(j.ok()) << "malformed vector file " << name;
  return j.ok() ? *j : Json::object();
}

}  // namespace astis::jose::testing
