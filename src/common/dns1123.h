// DNS-1123 names as Kubernetes applies them (RFC 1123 §2.1): the one
// validator for cluster, namespace, ServiceAccount and object names, shared
// by the capsule binding (docs/protocol.md §3.1), the edge's token checks
// (docs/protocol.md §6.2) and the remote CVS request decoder.
#pragma once

#include <cstddef>
#include <string_view>

namespace astis {

// kMaxDns1123Label is the longest DNS-1123 label (RFC 1123 §2.1, Kubernetes).
inline constexpr size_t kMaxDns1123Label = 63;
// kMaxDns1123Subdomain is the longest DNS-1123 subdomain (Kubernetes names).
inline constexpr size_t kMaxDns1123Subdomain = 253;

// IsDns1123Label reports whether s is 1..63 bytes of [a-z0-9-], starting and
// ending with [a-z0-9] (Kubernetes' IsDNS1123Label). It cannot fail.
bool IsDns1123Label(std::string_view s);

// IsDns1123Subdomain reports whether s is a Kubernetes DNS-1123 subdomain:
// 1..253 bytes matching [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*
// (Kubernetes' IsDNS1123Subdomain; a dot-separated part may exceed 63 bytes).
// It cannot fail.
bool IsDns1123Subdomain(std::string_view s);

}  // namespace astis
