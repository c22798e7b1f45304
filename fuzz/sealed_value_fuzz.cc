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
    const astis::capsule::Binding& pb = capsule->binding();
    if (!pb.Validate().ok()) std::abort();  // Parse validated it
    // v1 carries one cluster, v2 a list (docs/protocol.md §3.1), and the
    // capsule is in scope for exactly the clusters it names.
    if ((capsule->version() == 1) != pb.clusters.empty()) std::abort();
    for (const auto& c : pb.AllClusters()) {
      if (!pb.InScope(c)) std::abort();
    }
    if (pb.InScope(pb.ClusterList() + "x")) std::abort();
    // enc is the X25519 size or the uncompressed P-256 point.
    const auto& enc = capsule->enc();
    if (enc.size() != astis::capsule::kCapsuleEncSize &&
        !(enc.size() == astis::capsule::kCapsuleP256EncSize && enc[0] == 0x04))
      std::abort();
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

  // The same fields as a v2 binding, the first split on ',' into clusters:
  // valid only when sorted and unique, and then still six lines.
  astis::capsule::Binding v2 = b;
  v2.cluster.clear();
  std::string part;
  for (char c : b.cluster + ",") {
    if (c == ',') {
      v2.clusters.push_back(part);
      part.clear();
    } else {
      part.push_back(c);
    }
  }
  auto bind2 = v2.BindString();
  if (bind2.ok()) {
    if (std::count(bind2->begin(), bind2->end(), '\n') != 5) std::abort();
    if (!std::is_sorted(v2.clusters.begin(), v2.clusters.end())) std::abort();
    if (std::adjacent_find(v2.clusters.begin(), v2.clusters.end()) != v2.clusters.end()) std::abort();
  }
  return 0;
}
