#include "common/dns1123.h"

namespace astis {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// IsLabelShaped: non-empty, [a-z0-9-] only, starting and ending with [a-z0-9].
bool IsLabelShaped(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

}  // namespace

bool IsDns1123Label(std::string_view s) { return s.size() <= kMaxDns1123Label && IsLabelShaped(s); }

bool IsDns1123Subdomain(std::string_view s) {
  // Kubernetes' IsDNS1123Subdomain: at most 253 bytes matching
  // [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*, i.e.
  // dot-separated parts that each start and end with [a-z0-9]. A part is NOT
  // limited to 63 bytes (only the whole is). Tests:
  // BindingTest.IsDns1123SubdomainFollowsKubernetesRegex, Dns1123Test.SubdomainPartsMayExceedLabelLength.
  if (s.empty() || s.size() > kMaxDns1123Subdomain) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if (!IsLabelShaped(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace astis
