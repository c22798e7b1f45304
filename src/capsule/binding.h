// Binding: the Kubernetes identity and location a sealed value is bound to.
//
// docs/protocol.md §3.1: BIND = "astis/v1\n" + cluster + "\n" + namespace + "\n" +
// serviceAccount + "\n" + name + "\n" + key. Every field is validated before
// use; a field that fails is an error, never escaped (capsule_test.cc
// RejectsNewlineInName shows a '\n' cannot shift the fields of BIND).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace astis::capsule {

// kMaxDns1123Label is the longest DNS-1123 label (RFC 1123 §2.1, Kubernetes).
inline constexpr size_t kMaxDns1123Label = 63;
// kMaxDns1123Subdomain is the longest DNS-1123 subdomain (Kubernetes names).
inline constexpr size_t kMaxDns1123Subdomain = 253;
// kMaxSecretKey is the longest Secret data key Kubernetes accepts.
inline constexpr size_t kMaxSecretKey = 253;

// IsDns1123Label reports whether s is 1..63 bytes of [a-z0-9-], starting and
// ending with [a-z0-9]. It cannot fail.
bool IsDns1123Label(std::string_view s);
// IsDns1123Subdomain reports whether s is a Kubernetes DNS-1123 subdomain:
// 1..253 bytes matching [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*
// (Kubernetes' IsDNS1123Subdomain; a dot-separated part may exceed 63 bytes).
// It cannot fail.
bool IsDns1123Subdomain(std::string_view s);
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
