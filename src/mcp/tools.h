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

// GenerateManifests renders the workload's ServiceAccount, the edge reader's
// ServiceAccount, Role and RoleBinding, and the Deployment as multi-document
// YAML; the output passes lint::Lint with the contract with zero findings
// (test McpToolsTest.GeneratedManifestsPassLint). It cannot fail.
std::string GenerateManifests(const lint::Contract& c);

// GenerateTokenConfig renders the projected token volume snippet and the
// edge registration commands; it cannot fail.
std::string GenerateTokenConfig(const lint::Contract& c);

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
