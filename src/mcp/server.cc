#include "mcp/server.h"

#include <array>
#include <istream>
#include <ostream>

#include "common/version.h"
#include "mcp/tools.h"

namespace astis::mcp {
namespace {

constexpr std::array<std::string_view, 4> kLegacyVersions = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
constexpr std::string_view kMetaVersion = "io.modelcontextprotocol/protocolVersion";
constexpr std::string_view kMetaCaps = "io.modelcontextprotocol/clientCapabilities";
constexpr std::string_view kMetaServerInfo = "io.modelcontextprotocol/serverInfo";

// The version is the build's, from the one source (project(VERSION)).
// Test: McpServerTest.ServerInfoNamesTheBuildVersion.
Json ServerInfo() { return Json{{"name", "astis"}, {"version", std::string(GetBuildVersion().version)}}; }

Json SupportedVersions() {
  Json v = Json::array({std::string(kModernVersion)});
  for (auto l : kLegacyVersions) v.push_back(std::string(l));
  return v;
}

std::string ErrorLine(const Json& id, int code, std::string_view message, const Json& data = nullptr) {
  Json err = {{"code", code}, {"message", message}};
  if (!data.is_null()) err["data"] = data;
  return DumpJson(Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", err}});
}

// ResultLine is the response line for a result already serialised as JSON:
// byte for byte what DumpJson gives for {"jsonrpc", "id", "result"} (Json
// sorts object keys), without copying the result into a wrapper object.
std::string ResultLine(const Json& id, std::string_view result_json) {
  std::string line = "{\"id\":";
  line += DumpJson(id);
  line += ",\"jsonrpc\":\"2.0\",\"result\":";
  line += result_json;
  line += '}';
  return line;
}

// ToolsListResult is tools/list's result: the whole catalogue (no cursor: it
// fits one page). MCP 2026-07-28: list results carry ttlMs and cacheScope,
// and every modern result carries resultType and the server info in _meta.
Json ToolsListResult(bool modern) {
  Json tools = Json::array();
  for (const auto& t : Tools()) {
    tools.push_back({{"name", t.name}, {"title", t.title}, {"description", t.description}, {"inputSchema", t.input_schema}});
  }
  Json r = {{"tools", std::move(tools)}};
  if (modern) {
    r["ttlMs"] = 3600000;
    r["cacheScope"] = "public";
    r["resultType"] = "complete";
    r["_meta"] = Json{{kMetaServerInfo, ServerInfo()}};
  }
  return r;
}

// ToolsListJson is ToolsListResult serialised once per process: the
// catalogue is fixed at build time, and building and printing its schemas
// was most of the cost of a tools/list line (docs/mcp.md).
// Test: McpServerTest.ToolsListAnswersEachRequestFromOneCatalogue.
const std::string& ToolsListJson(bool modern) {
  static const std::string kLegacy = DumpJson(ToolsListResult(false));
  static const std::string kModern = DumpJson(ToolsListResult(true));
  return modern ? kModern : kLegacy;
}

constexpr std::string_view kInstructions =
    "ASTIS Workload Secrets: generate Kubernetes manifests, token configuration, seal commands and SDK code "
    "from one workload contract, and lint manifests against it. Values are never passed to these tools.";

}  // namespace

Json Server::Dispatch(const std::string& method, const Json& params, bool modern, bool& is_error) {
  is_error = false;
  auto fail = [&](int code, std::string message, Json data = nullptr) {
    is_error = true;
    return Json{{"code", code}, {"message", std::move(message)}, {"data", std::move(data)}};
  };
  if (method == "initialize") {
    // MCP 2025-11-25 lifecycle: the server answers the requested version when
    // it supports it, else its latest. Test: McpServerTest.InitializeNegotiatesVersion.
    auto v = params.find("protocolVersion");
    if (v == params.end() || !v->is_string()) return fail(kInvalidParams, "initialize: protocolVersion is required");
    std::string requested = v->get<std::string>();
    legacy_version_ = std::string(kLatestLegacyVersion);
    for (auto l : kLegacyVersions) {
      if (requested == l) legacy_version_ = requested;
    }
    initialized_ = true;
    return Json{{"protocolVersion", legacy_version_},
                {"capabilities", {{"tools", {{"listChanged", false}}}}},
                {"serverInfo", ServerInfo()},
                {"instructions", kInstructions}};
  }
  if (method == "ping" && !modern) return Json::object();
  if (method == "server/discover") {
    if (!modern) return fail(kInvalidParams, "server/discover needs params._meta with the protocol version");
    return Json{{"supportedVersions", SupportedVersions()},
                {"capabilities", {{"tools", Json::object()}}},
                {"instructions", kInstructions},
                {"ttlMs", 3600000},
                {"cacheScope", "public"}};
  }
  if (method == "tools/call") {
    auto name = params.find("name");
    if (name == params.end() || !name->is_string()) return fail(kInvalidParams, "tools/call: name is required");
    Json args = Json::object();
    if (auto a = params.find("arguments"); a != params.end() && !a->is_null()) {
      if (!a->is_object()) return fail(kInvalidParams, "tools/call: arguments must be an object");
      args = *a;
    }
    auto out = CallTool(name->get<std::string>(), args, contract_ ? &*contract_ : nullptr);
    // Unknown tools are protocol errors (-32602). Test: McpServerTest.UnknownToolIsInvalidParams.
    if (!out.ok()) return fail(kInvalidParams, "Unknown tool: " + name->get<std::string>().substr(0, 64));
    Json r = {{"content", Json::array({{{"type", "text"}, {"text", out->text}}})}, {"isError", out->is_error}};
    if (out->structured.is_object()) r["structuredContent"] = out->structured;
    return r;
  }
  return fail(kMethodNotFound, "Method not found");
}

std::optional<std::string> Server::HandleLine(std::string_view line) {
  JsonLimits limits;
  limits.max_bytes = kMaxLineBytes;
  limits.max_depth = 64;
  auto parsed = ParseJson(line, limits);
  // JSON-RPC 2.0 §5.1: -32700 with a null id when the text is not JSON.
  // Test: McpServerTest.ParseErrorHasNullId.
  if (!parsed.ok()) return ErrorLine(nullptr, kParseError, "Parse error");
  const Json& msg = *parsed;
  // MCP stdio carries no batches (transport spec: "no batching"); an array is
  // an invalid request. Test: McpServerTest.RejectsBatch.
  if (msg.is_array()) return ErrorLine(nullptr, kInvalidRequest, "Invalid Request: batches are not supported");
  if (!msg.is_object()) return ErrorLine(nullptr, kInvalidRequest, "Invalid Request");

  auto idit = msg.find("id");
  const bool has_id = idit != msg.end();
  // MCP: a request id is a string or an integer, never null.
  const bool id_ok = has_id && (idit->is_string() || idit->is_number_integer());
  const Json id = id_ok ? *idit : Json(nullptr);
  auto jr = msg.find("jsonrpc");
  if (jr == msg.end() || *jr != "2.0") return ErrorLine(id, kInvalidRequest, "Invalid Request: jsonrpc must be \"2.0\"");
  auto m = msg.find("method");
  if (m == msg.end()) {
    // A response from the client (we send no requests): nothing to answer.
    if (has_id && (msg.contains("result") || msg.contains("error"))) return std::nullopt;
    return ErrorLine(id, kInvalidRequest, "Invalid Request: method is required");
  }
  if (!m->is_string()) return ErrorLine(id, kInvalidRequest, "Invalid Request: method must be a string");
  if (has_id && !id_ok) return ErrorLine(nullptr, kInvalidRequest, "Invalid Request: id must be a string or integer");
  const std::string method = m->get<std::string>();
  Json params = Json::object();
  if (auto p = msg.find("params"); p != msg.end()) {
    // JSON-RPC 2.0 §4.2: params is structured; MCP uses objects only.
    if (!p->is_object() && !p->is_array())
      return ErrorLine(id, kInvalidRequest, "Invalid Request: params must be structured");
    if (p->is_array()) {
      if (!has_id) return std::nullopt;
      return ErrorLine(id, kInvalidParams, "Invalid params: expected an object");
    }
    params = *p;
  }

  // Notifications get no response (JSON-RPC 2.0 §4.1), known or not.
  // Test: McpServerTest.NotificationsGetNoResponse.
  if (!has_id) return std::nullopt;

  // Modern (2026-07-28): the version and client capabilities ride in every
  // request's params._meta. Test: McpServerTest.ModernRequestsNeedMeta.
  bool modern = false;
  if (auto meta = params.find("_meta"); meta != params.end() && meta->is_object() && meta->contains(kMetaVersion)) {
    const Json& v = meta->at(kMetaVersion);
    if (!v.is_string()) return ErrorLine(id, kInvalidParams, "Invalid params: _meta protocolVersion must be a string");
    if (v != kModernVersion) {
      bool legacy = false;
      for (auto l : kLegacyVersions) legacy = legacy || v == l;
      if (!legacy)
        return ErrorLine(id, kUnsupportedProtocolVersion, "Unsupported protocol version",
                         Json{{"supported", SupportedVersions()}, {"requested", v}});
    } else {
      auto caps = meta->find(kMetaCaps);
      if (caps == meta->end() || !caps->is_object())
        return ErrorLine(id, kInvalidParams, "Invalid params: _meta clientCapabilities is required");
      modern = true;
    }
  }
  if (!modern && method == "server/discover")
    return ErrorLine(id, kInvalidParams, "Invalid params: _meta protocolVersion and clientCapabilities are required");
  // Legacy: initialize MUST be the first interaction (2025-11-25 lifecycle).
  // Test: McpServerTest.LegacyRequestsNeedInitialize.
  if (!modern && !initialized_ && method != "initialize" && method != "ping")
    return ErrorLine(id, kInvalidRequest, "Invalid Request: send initialize first (or params._meta for 2026-07-28)");

  if (method == "tools/list") return ResultLine(id, ToolsListJson(modern));
  bool is_error = false;
  Json result = Dispatch(method, params, modern, is_error);
  if (is_error) return ErrorLine(id, result.at("code").get<int>(), result.at("message").get<std::string>(), result.at("data"));
  if (modern) {
    result["resultType"] = "complete";
    result["_meta"] = Json{{kMetaServerInfo, ServerInfo()}};
  }
  return ResultLine(id, DumpJson(result));
}

int Server::Run(std::istream& in, std::ostream& out, std::ostream& err, size_t max_line_bytes) {
  std::string line;
  bool overflow = false;
  auto emit = [&](const std::optional<std::string>& response) {
    if (!response) return true;
    out << *response << '\n';
    out.flush();
    return static_cast<bool>(out);
  };
  char c;
  while (in.get(c)) {
    if (c != '\n') {
      if (line.size() < max_line_bytes) {
        line.push_back(c);
      } else {
        overflow = true;
      }
      continue;
    }
    if (overflow) {
      err << "astis mcp: message over " << max_line_bytes << " bytes discarded\n";
      if (!emit(ErrorLine(nullptr, kParseError, "Parse error: message too long"))) return 4;
    } else {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") != std::string::npos && !emit(HandleLine(line))) return 4;
    }
    line.clear();
    overflow = false;
  }
  if (!line.empty() && !overflow && !emit(HandleLine(line))) return 4;
  return 0;
}

}  // namespace astis::mcp
