#include "common/image_digest.h"

namespace astis {

bool IsValidImageDigest(std::string_view s) {
  // docs/protocol.md "Image IDs": sha256: + 64 lower-case hex, nothing else.
  constexpr std::string_view kPrefix = "sha256:";
  if (s.size() != kPrefix.size() + 64 || s.substr(0, kPrefix.size()) != kPrefix) return false;
  for (char c : s.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace astis
