#include "sdk/wire.h"

#include <cctype>

namespace astis::sdkcore {
namespace {

bool Digits(std::string_view s, size_t pos, size_t len, int64_t& out) {
  if (pos + len > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

bool LeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// DaysInMonth is RFC 3339 §5.7's table.
int64_t DaysInMonth(int64_t y, int64_t m) {
  static constexpr int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && LeapYear(y) ? 29 : kDays[m - 1];
}

// RFC 9110 §5.6.2 tchar.
bool IsTchar(char c) {
  constexpr std::string_view kMarks = "!#$%&'*+-.^_`|~";
  return std::isalnum(static_cast<unsigned char>(c)) || kMarks.find(c) != std::string_view::npos;
}

bool EqualsLower(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != lower[i]) return false;
  }
  return true;
}

}  // namespace

Result<int64_t> ParseExpiresAt(std::string_view s) {
  // docs/protocol.md §4.1: "an RFC 3339 date-time in UTC with Z"; senders
  // SHOULD write whole seconds, receivers MUST accept a fractional part.
  // Tests: SdkWireTest.ExpiresAtWholeSeconds, ExpiresAtFractionalSeconds,
  // ExpiresAtLowerCase, ExpiresAtRefusals.
  const Status bad = Error(Code::kInternal, "edge sent an expiresAt that is not an RFC 3339 UTC date-time");
  int64_t y, m, d, hh, mm, ss;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':' || !Digits(s, 0, 4, y) || !Digits(s, 5, 2, m) || !Digits(s, 8, 2, d) || !Digits(s, 11, 2, hh) ||
      !Digits(s, 14, 2, mm) || !Digits(s, 17, 2, ss)) {
    return bad;
  }
  size_t pos = 19;
  if (s[pos] == '.') {  // RFC 3339 §5.6: time-secfrac = "." 1*DIGIT
    const size_t first = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == first) return bad;
  }
  // The zone: "Z" (or "z") and nothing after it. A numeric offset, even
  // +00:00, is not what §4.1 allows.
  if (pos + 1 != s.size() || (s[pos] != 'Z' && s[pos] != 'z')) return bad;
  if (m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, m) || hh > 23 || mm > 59 || ss > 60) return bad;
  // Days from civil (H. Hinnant's algorithm). A leap second (:60) counts as
  // the first second of the next minute.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = era * 146097 + doe - 719468;
  return days * 86400 + hh * 3600 + mm * 60 + ss;
}

bool IsUseDpopNonceChallenge(std::string_view v) {
  // RFC 9110 §11.6.1: WWW-Authenticate = #challenge; challenge = auth-scheme
  // [ 1*SP ( token68 / #auth-param ) ]; auth-param = token BWS "=" BWS
  // ( token / quoted-string ). Test: SdkWireTest.UseDpopNonceChallengeForms.
  std::string_view scheme;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
  };
  auto skip_element = [&] {
    while (i < v.size() && v[i] != ',') ++i;
  };
  while (i < v.size()) {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) ++i;
    const size_t start = i;
    while (i < v.size() && IsTchar(v[i])) ++i;
    const std::string_view token = v.substr(start, i - start);
    if (token.empty()) {
      ++i;
      skip_element();
      continue;
    }
    skip_ws();
    if (i >= v.size() || v[i] != '=') {
      scheme = token;  // a new challenge; its parameters follow
      continue;
    }
    ++i;  // an auth-param of the current challenge
    skip_ws();
    std::string value;
    if (i < v.size() && v[i] == '"') {
      bool closed = false;
      for (++i; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) {
          value.push_back(v[++i]);
        } else if (v[i] == '"') {
          closed = true;
          ++i;
          break;
        } else {
          value.push_back(v[i]);
        }
      }
      if (!closed) return false;
    } else {
      const size_t vs = i;
      while (i < v.size() && IsTchar(v[i])) ++i;
      value = std::string(v.substr(vs, i - vs));
    }
    if (EqualsLower(scheme, "dpop") && EqualsLower(token, "error") && value == "use_dpop_nonce") return true;
    skip_element();
  }
  return false;
}

bool AsksForDpopNonce(const net::HeaderList& headers) {
  for (const auto& [name, value] : headers) {
    if (EqualsLower(name, "www-authenticate") && IsUseDpopNonceChallenge(value)) return true;
  }
  return false;
}

std::optional<Code> CodeForBodylessStatus(int http_status) {
  // docs/protocol.md §7: the statuses with a single code. Test:
  // SdkWireTest.BodylessStatusMapsToTheTablesOnlyCode.
  switch (http_status) {
    case 400: return Code::kBadRequest;
    case 409: return Code::kCredentialPinned;
    case 413: return Code::kTooLarge;
    case 429: return Code::kRateLimited;
    default: return std::nullopt;
  }
}

std::string PathSegment(std::string_view value) {
  // RFC 3986 §2.1/§2.3: unreserved characters as they are, all else %XX.
  // Test: SdkWireTest.PathSegmentEncodesOpaqueSessionIds.
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

}  // namespace astis::sdkcore
