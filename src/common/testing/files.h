// WriteFile and ReadFile for GoogleTest code (test-only): whole-file writes
// and reads of test fixtures and outputs. WriteFile records a failure when
// the write does not complete; ReadFile returns "" for a missing file, which
// the caller's expectation then reports.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace astis::test {

inline void WriteFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.flush();
  EXPECT_TRUE(out.good()) << "could not write " << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace astis::test
