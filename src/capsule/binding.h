// Binding: the Kubernetes identity and location a sealed value is bound to.
//
// docs/protocol.md §3.1: BIND = "astis/v1\n" + cluster + "\n" + namespace + "\n" +
// serviceAccount + "\n" + name + "\n" + key. Every field is validated before
// use; a field that fails is an error, never escaped (capsule_test.cc
// RejectsNewlineInName shows a '\n' cannot shift the fields of BIND).
#pragma once

#include <string>
#include <string_view>

#include "common/dns1123.h"
#include "common/status.h"

namespace astis::capsule {

// The DNS-1123 validators live in common/dns1123.h (one for the whole tree);
// they are re-exported here for the binding's callers.
using ::astis::IsDns1123Label;
using ::astis::IsDns1123Subdomain;
using ::astis::kMaxDns1123Label;
using ::astis::kMaxDns1123Subdomain;
// kMaxSecretKey is the longest Secret data key Kubernetes accepts.
inline constexpr size_t kMaxSecretKey = 253;

// IsSecretDataKey reports whether s is 1..253 bytes of [-._a-zA-Z0-9] and is
// neither "." nor "..". It cannot fail.
bool IsSecretDataKey(std::string_view s);

// Binding is the (cluster, namespace, serviceAccount, name, key) a value is
// sealed to. docs/protocol.md §3.1: cluster and namespace are DNS-1123
// labels, serviceAccount and name DNS-1123 subdomains, key a Secret data key.
// A default-constructed or caller-filled Binding is unvalidated: every
// consumer calls Validate() (Capsule::Parse and Seal do).
struct Binding {
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  std::string name;
  std::string key;

  // Validate returns kInvalidArgument naming the first field that is not of
  // its docs/protocol.md §3.1 form; the message never echoes the field's value.
  Status Validate() const;

  // BindString returns the docs/protocol.md §3.1 BIND string, or the Validate()
  // error: an invalid field is never serialised.
  Result<std::string> BindString() const;

  friend bool operator==(const Binding&, const Binding&) = default;
};

}  // namespace astis::capsule
