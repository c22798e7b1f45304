// TempDir and MakeTempDir for tests and test fixtures (test-only): a fresh
// private directory under $TMPDIR (or /tmp when TMPDIR is unset or empty),
// made with mkdtemp, so it is mode 0700 and its name is unpredictable.
// Header-only and free of GoogleTest, so test libraries (net_testing,
// store_testing) can use it too. fuzz/temp_file.h stays apart: a fuzz
// target wants one file for the whole process, on tmpfs first.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "common/status.h"

namespace astis::test {

// MakeTempDir makes $TMPDIR/<prefix>-XXXXXX and returns its path; the caller
// removes it. kIo names the template when mkdtemp fails.
inline Result<std::string> MakeTempDir(std::string_view prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/";
  templ.append(prefix);
  templ += "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return Status(Code::kIo, "mkdtemp failed for " + templ);
  return templ;
}

// TempDir owns a MakeTempDir directory and removes it, with everything in
// it, on destruction. path() is "" when the directory could not be made;
// a fixture checks that in SetUp.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "astis-test") {
    Result<std::string> made = MakeTempDir(prefix);
    if (made.ok()) path_ = std::move(made).value();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // File is path()/name (nothing is created).
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

}  // namespace astis::test
