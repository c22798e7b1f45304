// Binding: the Kubernetes identity and location a sealed value is bound to.
//
// docs/protocol.md §3.1: BIND = "astis/v1\n" + cluster + "\n" + namespace + "\n" +
// serviceAccount + "\n" + name + "\n" + key for a v1 capsule (one cluster),
// and "astis/v2\n" + join(clusters, ",") + "\n" + ... for a v2 capsule (a
// strictly ascending list of 1 to 16 clusters). Every field is validated
// before use; a field that fails is an error, never escaped (capsule_test.cc
// RejectsNewlineInName shows a '\n' cannot shift the fields of BIND).
#pragma once

#include <string>
#include <string_view>
#include <vector>

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
// kMaxBindingClusters is the most clusters a v2 capsule may name (§3.1).
inline constexpr size_t kMaxBindingClusters = 16;

// IsSecretDataKey reports whether s is 1..253 bytes of [-._a-zA-Z0-9] and is
// neither "." nor "..". It cannot fail.
bool IsSecretDataKey(std::string_view s);

// Binding is what a value is sealed to (docs/protocol.md §3.1). Two forms:
//  - v1: `cluster` holds the one cluster and `clusters` is empty;
//  - v2: `clusters` holds 1 to 16 DNS-1123 labels in strictly ascending byte
//    order (so no duplicates, one canonical form) and `cluster` is empty.
// namespace is a DNS-1123 label, serviceAccount and name DNS-1123
// subdomains, key a Secret data key. A default-constructed or caller-filled
// Binding is unvalidated: every consumer calls Validate() (Capsule::Parse
// and Seal do). `clusters` is the last member so that the v1 aggregate
// Binding{cluster, namespace, serviceAccount, name, key} keeps its meaning.
struct Binding {
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  std::string name;
  std::string key;
  std::vector<std::string> clusters;

  // ForClusters builds the binding a sealer writes for `clusters` (any
  // order): v1 for exactly one cluster (so 1.0 openers keep working), v2
  // with the list sorted for two or more. kInvalidArgument for none, more
  // than 16, a duplicate, or any invalid field.
  static Result<Binding> ForClusters(std::vector<std::string> clusters, std::string namespace_,
                                     std::string service_account, std::string name, std::string key);

  // version is 2 when `clusters` is used, else 1.
  int version() const { return clusters.empty() ? 1 : 2; }

  // InScope reports whether a session in cluster c may open the value:
  // c == cluster (v1), or c is one of clusters (v2). It cannot fail.
  bool InScope(std::string_view c) const;

  // ClusterList returns the v1 cluster, or the v2 clusters joined with ","
  // (the form of BIND, the audit log and the astis.io/cluster annotation).
  std::string ClusterList() const;

  // AllClusters returns the clusters as a list, for either version.
  std::vector<std::string> AllClusters() const;

  // Validate returns kInvalidArgument naming the first field that is not of
  // its docs/protocol.md §3.1 form; the message never echoes the field's value.
  Status Validate() const;

  // BindString returns the docs/protocol.md §3.1 BIND string of the
  // binding's version, or the Validate() error: an invalid field is never
  // serialised.
  Result<std::string> BindString() const;

  friend bool operator==(const Binding&, const Binding&) = default;
};

}  // namespace astis::capsule
