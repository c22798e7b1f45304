// RFC 7512 "pkcs11:" URIs: the subset of hsm/pkcs11.h Pkcs11Uri.

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hsm/pkcs11.h"

namespace astis::hsm {
namespace {

constexpr std::string_view kScheme = "pkcs11:";
// kMaxUriBytes bounds the text; a key's URI is well under 200 bytes.
constexpr size_t kMaxUriBytes = 4096;
// The CK_TOKEN_INFO field sizes (PKCS#11 v2.40 §3.2): a longer value can
// never match a token, so it is refused rather than silently never found.
constexpr size_t kMaxTokenLabel = 32;
constexpr size_t kMaxManufacturer = 32;
constexpr size_t kMaxModel = 16;
constexpr size_t kMaxSerial = 16;
constexpr size_t kMaxObjectLabel = 256;
constexpr size_t kMaxId = 256;

Status Bad(std::string_view attribute, std::string_view why) {
  return Error(Code::kInvalidArgument, "pkcs11 uri: " + std::string(attribute) + ": " + std::string(why));
}

bool IsUnreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// RFC 7512 §2.3 pk11-path-res-avail (pk11-res-avail / "&"): the reserved
// characters a path value may hold unescaped (";" separates attributes, "?"
// starts the query; "/" and "%" are not among them).
bool IsPathResAvail(char c) {
  return std::string_view(":[]@!$'()*+,=&").find(c) != std::string_view::npos;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decode percent-decodes a path attribute value (RFC 7512 §2.3 pk11-pchar:
// unreserved / pk11-p-res-avail / pct-encoded; RFC 3986 §2.1 "%" HEXDIG
// HEXDIG). Test: Pkcs11UriTest.RefusesBadPercentEscapes.
Result<std::string> Decode(std::string_view name, std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '%') {
      if (i + 2 >= value.size()) return Bad(name, "truncated percent escape");
      const int hi = HexValue(value[i + 1]);
      const int lo = HexValue(value[i + 2]);
      if (hi < 0 || lo < 0) return Bad(name, "bad percent escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (IsUnreserved(c) || IsPathResAvail(c)) {
      out.push_back(c);
    } else {
      return Bad(name, "character not allowed in a path value (percent-encode it)");
    }
  }
  return out;
}

void Encode(std::string_view raw, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : raw) {
    if (IsUnreserved(c)) {
      out.push_back(c);
    } else {
      const auto b = static_cast<uint8_t>(c);
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xf]);
    }
  }
}

// Names of the RFC 7512 §2.3 query attributes, refused by name.
constexpr std::array<std::string_view, 4> kQueryAttributes = {"pin-source", "pin-value", "module-name", "module-path"};

}  // namespace

Result<Pkcs11Uri> Pkcs11Uri::Parse(std::string_view uri) {
  if (uri.empty()) return Bad("uri", "empty");
  if (uri.size() > kMaxUriBytes) return Bad("uri", "too long");
  // RFC 3986 §3.1: the scheme name is case-insensitive.
  if (uri.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), uri.begin(),
                  [](char a, char b) { return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b); })) {
    return Bad("uri", "must start with \"pkcs11:\"");
  }
  std::string_view rest = uri.substr(kScheme.size());
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    // The module and the PIN come from the CVS configuration only: a URI that
    // names a module or a PIN source is refused, never followed.
    // Tests: Pkcs11UriTest.RefusesPinValue, RefusesPinSource, RefusesModulePath.
    const std::string_view query = rest.substr(q + 1);
    for (std::string_view known : kQueryAttributes) {
      for (size_t at = query.find(known); at != std::string_view::npos; at = query.find(known, at + 1)) {
        if ((at == 0 || query[at - 1] == '&') && query.substr(at + known.size()).starts_with("=")) {
          return Bad(known, "not accepted in a key URI; the module and the PIN come from the configuration");
        }
      }
    }
    return Bad("query", "a key URI has no query component");
  }
  if (rest.empty()) return Bad("token", "required");
  Pkcs11Uri out;
  bool seen_token = false, seen_object = false, seen_id = false, seen_serial = false, seen_manufacturer = false,
       seen_model = false, seen_type = false;
  size_t start = 0;
  while (start <= rest.size()) {
    const size_t end = std::min(rest.find(';', start), rest.size());
    const std::string_view attr = rest.substr(start, end - start);
    start = end + 1;
    if (attr.empty()) return Bad("uri", "empty attribute");
    const size_t eq = attr.find('=');
    if (eq == std::string_view::npos) return Bad("uri", "attribute without '='");
    const std::string_view name = attr.substr(0, eq);
    auto value = Decode(name.empty() ? "uri" : name, attr.substr(eq + 1));
    if (!value.ok()) return value.status();
    struct Field {
      std::string_view name;
      bool* seen;
      std::string* text;
      size_t max;
    };
    const Field fields[] = {
        {"token", &seen_token, &out.token, kMaxTokenLabel},
        {"object", &seen_object, &out.object, kMaxObjectLabel},
        {"serial", &seen_serial, &out.serial, kMaxSerial},
        {"manufacturer", &seen_manufacturer, &out.manufacturer, kMaxManufacturer},
        {"model", &seen_model, &out.model, kMaxModel},
        {"type", &seen_type, &out.type, 16},
        {"id", &seen_id, nullptr, kMaxId},
    };
    const Field* f = nullptr;
    for (const Field& candidate : fields) {
      if (candidate.name == name) f = &candidate;
    }
    // Only the attributes this project matches on; an attribute it would
    // ignore (slot-id, library-*, x-*) could make the URI name another key
    // than the operator meant. Test: Pkcs11UriTest.RefusesUnknownAttribute.
    if (f == nullptr) {
      if (name.empty()) return Bad("uri", "attribute without a name");
      const bool printable = name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
                               return IsUnreserved(c);
                             });
      return Bad(printable ? name : std::string_view("uri"), "unknown attribute");
    }
    // RFC 7512 §2.3: an attribute may appear at most once in the path.
    // Test: Pkcs11UriTest.RefusesDuplicateAttribute.
    if (*f->seen) return Bad(f->name, "duplicate attribute");
    *f->seen = true;
    if (value->empty()) return Bad(f->name, "empty value");
    if (value->size() > f->max) return Bad(f->name, "too long");
    if (f->text == nullptr) {
      out.id.assign(value->begin(), value->end());
    } else {
      if (value->find('\0') != std::string::npos) return Bad(f->name, "NUL byte");
      *f->text = std::move(value).value();
    }
    if (end == rest.size()) break;
  }
  if (!seen_token) return Bad("token", "required");
  if (!seen_object && !seen_id) return Bad("object", "one of object and id is required");
  // The URI names a private key; "type" other than "private" names another object.
  if (seen_type && out.type != "private") return Bad("type", "must be \"private\"");
  return out;
}

std::string Pkcs11Uri::ToString() const {
  std::string out(kScheme);
  bool first = true;
  auto add = [&](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    if (!first) out.push_back(';');
    first = false;
    out.append(name);
    out.push_back('=');
    Encode(value, out);
  };
  add("model", model);
  add("manufacturer", manufacturer);
  add("serial", serial);
  add("token", token);
  add("object", object);
  add("id", std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
  add("type", type);
  return out;
}

}  // namespace astis::hsm
