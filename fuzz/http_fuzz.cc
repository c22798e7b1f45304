// libFuzzer target for the pure header helpers that see raw request header
// fields: net::ValidateHeaderField, net::FindHeader / CountHeader, and the
// edge's parsers of the credential headers, edge::PresentedApiKey::Parse and
// edge::ParseDpopAuthorization. (The HTTP/1.1 parser itself is Boost.Beast
// behind a socket in net::HttpServer, with no pure entry point.)
//
// Input: "name\0value"; without a NUL the whole input is the value and the
// name is "X-Fuzz". Invariants (trap on violation): ValidateHeaderField
// accepts only an RFC 9110 §5.6.2 token name and a value free of CR, LF, NUL
// and other controls but HTAB (checked independently here); FindHeader and
// CountHeader ignore case and agree with each other; an accepted API key
// has the documented shape; an accepted DPoP token is non-empty and
// contains no space.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "edge/gates.h"
#include "net/http_types.h"

namespace {

bool IsTchar(unsigned char c) {
  return std::isalnum(c) != 0 || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool ValidName(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

bool ValueHasForbiddenControl(std::string_view value) {
  for (unsigned char c : value) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view name = nul == std::string_view::npos ? std::string_view("X-Fuzz") : input.substr(0, nul);
  const std::string_view value = nul == std::string_view::npos ? input : input.substr(nul + 1);

  // RFC 9110 §5.6.2 / §5.5: no header injection or message splitting.
  const bool ok = astis::net::ValidateHeaderField(name, value).ok();
  if (ok && (!ValidName(name) || ValueHasForbiddenControl(value))) __builtin_trap();
  if (!ok && ValidName(name) && !ValueHasForbiddenControl(value) && value.find('\0') == std::string_view::npos) {
    // A valid field refused: only acceptable if the helper documents a
    // stricter rule, so flag it for a human.
    __builtin_trap();
  }

  // RFC 9110 §5.1: field names are case-insensitive.
  astis::net::HeaderList headers{{std::string(name), std::string(value)}, {Upper(name), "second"}, {"Other", "x"}};
  const auto found = astis::net::FindHeader(headers, Upper(name));
  if (!found.has_value() || *found != value) __builtin_trap();
  const size_t count = astis::net::CountHeader(headers, name);
  const size_t expected = Upper(name) == "OTHER" ? 3 : 2;
  if (count != expected) __builtin_trap();

  auto key = astis::edge::PresentedApiKey::Parse(value);
  if (key.ok()) {
    if (value.substr(0, 6) != "astis_" || key->id().size() < 8 || key->id().size() > 32 ||
        value.find(key->id()) != 6) {
      __builtin_trap();
    }
  }
  auto token = astis::edge::ParseDpopAuthorization(value);
  if (token.ok() && (token->empty() || token->find(' ') != std::string::npos)) __builtin_trap();
  return 0;
}
