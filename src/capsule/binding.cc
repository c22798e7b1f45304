#include "capsule/binding.h"

#include <algorithm>

namespace astis::capsule {

bool IsSecretDataKey(std::string_view s) {
  if (s.empty() || s.size() > kMaxSecretKey || s == "." || s == "..") return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_';
    if (!ok) return false;
  }
  return true;
}

Result<Binding> Binding::ForClusters(std::vector<std::string> clusters, std::string namespace_,
                                     std::string service_account, std::string name, std::string key) {
  Binding b;
  b.namespace_ = std::move(namespace_);
  b.service_account = std::move(service_account);
  b.name = std::move(name);
  b.key = std::move(key);
  if (clusters.empty()) return Error(Code::kInvalidArgument, "binding: at least one cluster is required");
  if (clusters.size() == 1) {
    // docs/protocol.md §3.1: "A sealer emits v1 for one cluster unless asked
    // for v2". Test: BindingForOneClusterIsV1.
    b.cluster = std::move(clusters.front());
  } else {
    std::sort(clusters.begin(), clusters.end());
    // Test: BindingForClustersRefusesDuplicate.
    if (std::adjacent_find(clusters.begin(), clusters.end()) != clusters.end())
      return Error(Code::kInvalidArgument, "binding: a cluster is named twice");
    b.clusters = std::move(clusters);
  }
  ASTIS_RETURN_IF_ERROR(b.Validate());
  return b;
}

bool Binding::InScope(std::string_view c) const {
  if (clusters.empty()) return cluster == c;
  return std::binary_search(clusters.begin(), clusters.end(), c);
}

std::string Binding::ClusterList() const {
  if (clusters.empty()) return cluster;
  std::string out;
  for (const auto& c : clusters) {
    if (!out.empty()) out += ',';
    out += c;
  }
  return out;
}

std::vector<std::string> Binding::AllClusters() const {
  if (clusters.empty()) return {cluster};
  return clusters;
}

Status Binding::Validate() const {
  // docs/protocol.md §3.1: every field is validated before use, never escaped.
  // Tests: RejectsUppercaseNamespace, RejectsNewlineInName, RejectsEmptyKey,
  // RejectsDotDotKey. serviceAccount is a DNS-1123 subdomain, as Kubernetes
  // names ServiceAccounts (1.1; 1.0 said label, which refused "my.sa").
  // Tests: BindingAcceptsSubdomainServiceAccount,
  // BindingRefusesInvalidServiceAccount.
  if (clusters.empty()) {
    if (!IsDns1123Label(cluster)) return Error(Code::kInvalidArgument, "binding: cluster is not a DNS-1123 label");
  } else {
    // §3.1 v2: 1 to 16 labels, strictly ascending (no duplicates, one
    // canonical form), and no v1 `cluster`. Tests: V2RefusesUnsortedClusters,
    // V2RefusesDuplicateCluster, V2RefusesSeventeenClusters,
    // V2RefusesClusterAndClusters.
    if (!cluster.empty()) return Error(Code::kInvalidArgument, "binding: both cluster and clusters are set");
    if (clusters.size() > kMaxBindingClusters)
      return Error(Code::kInvalidArgument, "binding: more than 16 clusters");
    for (size_t i = 0; i < clusters.size(); ++i) {
      if (!IsDns1123Label(clusters[i]))
        return Error(Code::kInvalidArgument, "binding: a cluster is not a DNS-1123 label");
      if (i > 0 && !(clusters[i - 1] < clusters[i]))
        return Error(Code::kInvalidArgument, "binding: clusters are not in strictly ascending order");
    }
  }
  if (!IsDns1123Label(namespace_))
    return Error(Code::kInvalidArgument, "binding: namespace is not a DNS-1123 label");
  if (!IsDns1123Subdomain(service_account))
    return Error(Code::kInvalidArgument, "binding: serviceAccount is not a DNS-1123 subdomain");
  if (!IsDns1123Subdomain(name)) return Error(Code::kInvalidArgument, "binding: name is not a DNS-1123 subdomain");
  if (!IsSecretDataKey(key)) return Error(Code::kInvalidArgument, "binding: key is not a valid Secret data key");
  return OkStatus();
}

Result<std::string> Binding::BindString() const {
  ASTIS_RETURN_IF_ERROR(Validate());
  // §3.1: "astis/v1\n" + cluster or "astis/v2\n" + join(clusters, ","), then
  // namespace, serviceAccount, name, key, each after a "\n".
  std::string out = clusters.empty() ? "astis/v1\n" : "astis/v2\n";
  out += ClusterList();
  out += '\n';
  out += namespace_;
  out += '\n';
  out += service_account;
  out += '\n';
  out += name;
  out += '\n';
  out += key;
  return out;
}

}  // namespace astis::capsule
