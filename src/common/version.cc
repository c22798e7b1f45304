#include "common/version.h"

#include <openssl/crypto.h>
#include <sodium.h>

#include "astis_build_info.h"  // generated at build time: cmake/AstisBuildInfo.cmake

namespace astis {

const BuildVersion& GetBuildVersion() {
  static const BuildVersion kVersion{ASTIS_VERSION_STRING, ASTIS_GIT_COMMIT, ASTIS_GIT_DIRTY != 0, ASTIS_BUILD_TYPE};
  return kVersion;
}

std::string_view OpenSslVersion() { return OpenSSL_version(OPENSSL_VERSION); }

std::string_view SodiumVersion() { return sodium_version_string(); }

std::string VersionText(std::string_view program) {
  const BuildVersion& v = GetBuildVersion();
  std::string out;
  out.append(program).append(" ").append(v.version).append("\n");
  out.append("commit ").append(v.commit).append(v.dirty ? " (dirty)\n" : "\n");
  out.append("build type ").append(v.build_type).append("\n");
  out.append(OpenSslVersion()).append("\n");
  out.append("libsodium ").append(SodiumVersion()).append("\n");
  return out;
}

}  // namespace astis
