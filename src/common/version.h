// What this build is: the semantic version (the top-level CMakeLists.txt
// project(VERSION), the one source), the git commit and whether the tree was
// dirty, the build type, and the OpenSSL and libsodium versions in use at run
// time. Printed by `astis --version` / `astis version`, and by the C ABI's
// astis_version() (include/astis/astis.h). Needs no store, network or config.
#pragma once

#include <string>
#include <string_view>

namespace astis {

struct BuildVersion {
  std::string_view version;     // "0.1.0"
  std::string_view commit;      // 12 hex digits, or "unknown" (built with no .git)
  bool dirty;                   // tracked files differed from the commit at build time
  std::string_view build_type;  // CMAKE_BUILD_TYPE ("Release", "Debug"; "none" if unset)
};

// GetBuildVersion returns the values fixed at build time. It cannot fail.
const BuildVersion& GetBuildVersion();

// OpenSslVersion returns OpenSSL_version(OPENSSL_VERSION) of the libcrypto
// loaded at run time ("OpenSSL 3.0.11 19 Sep 2023").
std::string_view OpenSslVersion();

// SodiumVersion returns sodium_version_string() of the libsodium loaded at
// run time ("1.0.18").
std::string_view SodiumVersion();

// VersionText renders the version block, five lines, each ending in "\n":
//   <program> 0.1.0
//   commit 0123456789ab (dirty)      -- "(dirty)" only when dirty; "commit unknown" without git
//   build type Release
//   OpenSSL 3.0.11 19 Sep 2023
//   libsodium 1.0.18
// The first line is what help2man and scripts parse. Test: VersionTest.TextShape.
std::string VersionText(std::string_view program);

}  // namespace astis
