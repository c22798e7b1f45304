// The workload contract: the one description of a workload that `astis lint
// --contract` checks manifests against and that every `astis mcp` tool
// generates from (docs/lint.md "Contract").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace astis::lint {

// kMinTokenExpirationSeconds is the kubelet's lower bound for a projected
// ServiceAccount token's expirationSeconds (Kubernetes API: "must be at least
// 10 minutes").
inline constexpr int64_t kMinTokenExpirationSeconds = 600;
// kMaxTokenExpirationSeconds bounds the contract's token lifetime (the
// kubelet caps tokens at 48 h by default; longer ones defeat rotation).
inline constexpr int64_t kMaxTokenExpirationSeconds = 48 * 3600;
inline constexpr std::string_view kDefaultAudience = "astis";

// ContractSecret is one Kubernetes Secret of the workload and the data keys
// it must hold as sealed values (docs/protocol.md §3).
struct ContractSecret {
  std::string name;
  std::vector<std::string> keys;
};

// Contract is a validated workload contract. Only ParseContract and
// ContractFromJson make one, so a Contract in hand always satisfies the
// rules documented on ParseContract.
class Contract {
 public:
  const std::string& cluster() const { return cluster_; }
  // additional_clusters are the other clusters the workload's sealed values
  // must also open in (disaster recovery, multi-region: docs/protocol.md
  // §3.1 v2 capsules); empty for a single-cluster workload.
  const std::vector<std::string>& additional_clusters() const { return additional_clusters_; }
  // seal_clusters is cluster plus additional_clusters, sorted: the
  // `astis seal --cluster` list (one cluster seals v1, several v2).
  std::vector<std::string> seal_clusters() const;
  // organization is the ASTIS organisation the workload is registered in
  // (docs/tenancy.md); empty when the contract does not name one (a
  // single-organisation service, where the admin commands need no --org).
  const std::string& organization() const { return organization_; }
  const std::string& namespace_name() const { return namespace_; }
  const std::string& service_account() const { return service_account_; }
  // app is the Deployment / container name (default: the ServiceAccount
  // when that is a DNS-1123 label).
  const std::string& app() const { return app_; }
  // image is the repository without tag or digest ("registry/team/api").
  const std::string& image() const { return image_; }
  // image_digests are the approved "sha256:<64 hex>" digests; the first is
  // the one generated manifests pin.
  const std::vector<std::string>& image_digests() const { return image_digests_; }
  const std::vector<ContractSecret>& secrets() const { return secrets_; }
  const std::string& edge_url() const { return edge_url_; }
  const std::string& audience() const { return audience_; }
  int64_t token_expiration_seconds() const { return token_expiration_seconds_; }

  // ToJson returns the normalised contract (defaults filled in); it cannot fail.
  Json ToJson() const;

 private:
  friend Result<Contract> ContractFromJson(const Json& j);
  Contract() = default;
  std::string cluster_, organization_, namespace_, service_account_, app_, image_;
  std::vector<std::string> additional_clusters_;
  std::vector<std::string> image_digests_;
  std::vector<ContractSecret> secrets_;
  std::string edge_url_;
  std::string audience_{kDefaultAudience};
  int64_t token_expiration_seconds_ = 3600;
};

// ContractFromJson validates a contract object. Members: cluster, namespace
// (DNS-1123 labels, required), serviceAccount (DNS-1123 subdomain, required;
// docs/protocol.md §3.1), app (DNS-1123 label, default serviceAccount, and
// required when serviceAccount is not itself a label), image (repository
// without tag or digest, required), imageDigests (1..64 "sha256:<64
// lower-case hex>", required), secrets (1..64 of {name: DNS-1123 subdomain,
// keys: 1..64 Secret data keys}; a key may appear in only one secret because
// all are mounted in one directory),
// edgeUrl (https URL, required), audience (default "astis"),
// tokenExpirationSeconds (600..172800, default 3600). Unknown members,
// duplicates and wrong types are kInvalidArgument naming the member, never
// echoing its value. Test: ContractTest.*.
Result<Contract> ContractFromJson(const Json& j);

// ParseContract parses a contract from JSON or YAML text (one document) and
// validates it as ContractFromJson does. Test: ContractTest.ParsesYaml.
Result<Contract> ParseContract(std::string_view text);

}  // namespace astis::lint
