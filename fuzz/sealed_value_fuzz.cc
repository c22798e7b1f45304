// libFuzzer target: untrusted sealed values, capsules and bindings
// (docs/protocol.md §3). Every input must be refused or accepted without a crash,
// leak or UB; accepted inputs must round-trip exactly.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "capsule/binding.h"
#include "capsule/capsule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  auto value = astis::capsule::SealedValue::Parse(text);
  if (value.ok() && value->ToString() != text) std::abort();  // parse is exact

  auto capsule = astis::capsule::Capsule::Parse(text);
  if (capsule.ok()) {
    if (capsule->bytes() != text) std::abort();
    if (!capsule->binding().Validate().ok()) std::abort();  // Parse validated it
  }

  // Split the input on '\n' into binding fields and validate.
  astis::capsule::Binding b;
  std::string* fields[] = {&b.cluster, &b.namespace_, &b.service_account, &b.name, &b.key};
  size_t i = 0;
  for (char c : text) {
    if (c == '\n' && i < 4) {
      ++i;
      continue;
    }
    fields[i]->push_back(c);
  }
  auto bind = b.BindString();
  // A valid binding always serialises to exactly six lines: no field can
  // carry a '\n' into BIND.
  if (bind.ok() && std::count(bind->begin(), bind->end(), '\n') != 5) std::abort();
  return 0;
}
