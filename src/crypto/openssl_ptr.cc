#include "crypto/openssl_ptr.h"

#include <openssl/err.h>

namespace astis::ossl {

std::string DrainErrors() {
  std::string reason;
  const unsigned long first = ERR_get_error();  // NOLINT(runtime/int): OpenSSL API
  if (first != 0) {
    const char* text = ERR_reason_error_string(first);
    reason = text != nullptr ? text : "unknown reason";
  }
  ERR_clear_error();
  return reason;
}

}  // namespace astis::ossl
