// libFuzzer target for the RFC 7512 "pkcs11:" URI parser (hsm/pkcs11.h
// Pkcs11Uri::Parse): key set members name their token key with one, so the
// parser reads files an operator may not have written.
//
// Invariants (trap on violation): a refusal is kInvalidArgument and nothing
// else; an accepted URI has a token and an object or id, "type" empty or
// "private"; ToString parses back to the same attributes and is a fixed
// point (rendering the re-parsed URI gives the same text).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "hsm/pkcs11.h"

namespace {

bool SameAttributes(const astis::hsm::Pkcs11Uri& a, const astis::hsm::Pkcs11Uri& b) {
  return a.token == b.token && a.object == b.object && a.id == b.id && a.serial == b.serial &&
         a.manufacturer == b.manufacturer && a.model == b.model && a.type == b.type;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto uri = astis::hsm::Pkcs11Uri::Parse(text);
  if (!uri.ok()) {
    if (uri.status().code() != astis::Code::kInvalidArgument) __builtin_trap();
    return 0;
  }
  if (uri->token.empty() || (uri->object.empty() && uri->id.empty())) __builtin_trap();
  if (!uri->type.empty() && uri->type != "private") __builtin_trap();
  const std::string canonical = uri->ToString();
  auto again = astis::hsm::Pkcs11Uri::Parse(canonical);
  if (!again.ok() || !SameAttributes(*uri, *again)) __builtin_trap();
  if (again->ToString() != canonical) __builtin_trap();
  return 0;
}
