// The tools of `astis mcp` (docs/mcp.md): each generates or checks artefacts
// from one workload contract (lint/contract.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "lint/contract.h"

namespace astis::mcp {

// ToolDef is one entry of tools/list; input_schema is a JSON Schema
// (2020-12) object schema.
struct ToolDef {
  std::string name;
  std::string title;
  std::string description;
  Json input_schema;
};

// Tools returns every tool, in a fixed order; it cannot fail.
const std::vector<ToolDef>& Tools();

// ToolOutput is a tools/call result: text for content[0], structured for
// structuredContent, and is_error for a tool-level failure (a bad contract, a
// bad argument value) that the model can correct.
struct ToolOutput {
  std::string text;
  Json structured;
  bool is_error = false;
};

// CallTool runs tool name with arguments (an object). It returns kNotFound
// for an unknown tool (a JSON-RPC -32602 for the caller); every other failure
// is a ToolOutput with is_error. The contract is arguments.contract when
// present, else server_contract; neither is an is_error result. Tests:
// McpToolsTest.*.
Result<ToolOutput> CallTool(std::string_view name, const Json& arguments, const lint::Contract* server_contract);

// The names deploy/ defines and the generated output must agree with (tests
// McpToolsTest.GeneratedNamespaceIsAdmittedByEdgeNetworkPolicy and
// McpToolsTest.GeneratedRoleBindingUsesClusterRbac read deploy/ to check).
// kWorkloadsLabel=kWorkloadsLabelValue is the label the edge NetworkPolicy
// admits a namespace by (deploy/base/edge/networkpolicy.yaml); the reader
// ServiceAccount, ClusterRole and token Secret are deploy/cluster-rbac's; the
// credentials Secret and its mount are deploy/base/edge's.
inline constexpr std::string_view kWorkloadsLabel = "astis.io/workloads";
inline constexpr std::string_view kWorkloadsLabelValue = "enabled";
inline constexpr std::string_view kReaderNamespace = "astis-reader";
inline constexpr std::string_view kReaderServiceAccount = "astis-edge-reader";
inline constexpr std::string_view kReaderClusterRole = "astis-edge-pod-reader";
inline constexpr std::string_view kReaderTokenSecret = "astis-edge-reader-token";
inline constexpr std::string_view kEdgeNamespace = "astis";
inline constexpr std::string_view kClusterCredentialsSecret = "astis-cluster-credentials";
inline constexpr std::string_view kClusterCredentialsDir = "/etc/astis/clusters";

// ContainerResources are the workload container's requests and limits,
// Kubernetes quantities ("50m", "64Mi"). The defaults are small; the
// generate_manifests argument `resources` overrides each.
struct ContainerResources {
  std::string cpu_request = "50m";
  std::string memory_request = "64Mi";
  std::string cpu_limit = "500m";
  std::string memory_limit = "256Mi";
};

// ManifestOptions are generate_manifests' arguments beside the contract.
// namespace_exists: the namespace is not generated; the output says how to
// label it instead (a `kubectl label` command and a merge patch).
struct ManifestOptions {
  bool namespace_exists = false;
  ContainerResources resources;
};

// ResourcesFromJson reads the `resources` argument ({requests: {cpu, memory},
// limits: {cpu, memory}}, every member optional) over the defaults;
// kInvalidArgument for an unknown member, a value that is not a Kubernetes
// quantity, or a request above its limit (test
// McpToolsTest.ManifestsResourcesRejectBadQuantities).
Result<ContainerResources> ResourcesFromJson(const Json& j);

// GenerateManifests renders the workload's Namespace (labelled for the edge
// NetworkPolicy) unless opts.namespace_exists, its ServiceAccount, the
// RoleBinding that grants deploy/cluster-rbac's reader the ClusterRole in
// this namespace, and the Deployment as multi-document YAML; the output
// passes lint::Lint with the contract with zero findings (test
// McpToolsTest.GeneratedManifestsPassLint). It cannot fail.
std::string GenerateManifests(const lint::Contract& c, const ManifestOptions& opts = {});

// NamespaceLabelPatch is the merge patch that labels an existing namespace
// for the edge NetworkPolicy ({"metadata":{"labels":{...}}}).
Json NamespaceLabelPatch();

// TokenConfigOptions are generate_token_config's arguments beside the
// contract. cluster_registered: the cluster is already registered at the
// edge (another namespace of it was set up before), so only this
// namespace's RoleBinding is emitted, never `astis cluster add`.
struct TokenConfigOptions {
  bool cluster_registered = false;
};

// GenerateTokenConfig renders the projected token volume snippet, the
// reader credential's setup (deploy/cluster-rbac, this namespace's
// RoleBinding, the token Secret copied into the edge's credentials Secret)
// and the edge registration commands with the absolute paths the edge reads;
// it cannot fail.
std::string GenerateTokenConfig(const lint::Contract& c, const TokenConfigOptions& opts = {});

// GenerateSealCommands renders `astis seal` commands that read values from
// files (never argv); it cannot fail.
std::string GenerateSealCommands(const lint::Contract& c);

// kSdkLanguages lists GenerateSdkCode's languages.
// "inject" is no program: the pod template label and annotations of `astis
// inject` (docs/inject.md) and the command that allows its init image.
inline constexpr std::string_view kSdkLanguages[] = {"c", "cpp", "python", "go", "astis-run", "inject"};

// GenerateSdkCode renders a program that reads every contract key through
// the SDK in language (one of kSdkLanguages); kInvalidArgument otherwise.
Result<std::string> GenerateSdkCode(const lint::Contract& c, std::string_view language);

}  // namespace astis::mcp
