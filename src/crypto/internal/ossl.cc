#include "crypto/internal/ossl.h"

#include <sodium.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "crypto/openssl_ptr.h"

namespace astis::crypto_internal {

Status OsslError(Code code, std::string_view what) {
  std::string msg(what);
  const std::string reason = ossl::DrainErrors();
  if (!reason.empty()) msg += " (openssl: " + reason + ")";
  if (code == Code::kOk) code = Code::kInternal;
  return Status(code, std::move(msg));
}

const EVP_MD* Sha256Md() {
  static EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) std::abort();
    return m;
  }();
  return md;
}

void EnsureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();
  });
}

}  // namespace astis::crypto_internal
