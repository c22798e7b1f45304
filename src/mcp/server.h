// `astis mcp`: a Model Context Protocol server over stdio (docs/mcp.md).
//
// JSON-RPC 2.0, one message per line (MCP stdio transport: newline-delimited,
// no embedded newlines, no batching). Dual-era: legacy clients (2024-11-05 ..
// 2025-11-25) start with initialize; modern clients (2026-07-28) carry the
// version and capabilities in every request's params._meta.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "lint/contract.h"

namespace astis::mcp {

inline constexpr std::string_view kModernVersion = "2026-07-28";
inline constexpr std::string_view kLatestLegacyVersion = "2025-11-25";
// kMaxLineBytes bounds one incoming message; a longer line is discarded
// unread past the bound and answered with a parse error.
inline constexpr size_t kMaxLineBytes = 4 * 1024 * 1024;

// JSON-RPC 2.0 error codes (§5.1) and MCP 2026-07-28's.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kUnsupportedProtocolVersion = -32022;

// Server holds the session state of one stdio connection. Not thread-safe.
// It owns a copy of the optional server-wide contract.
class Server {
 public:
  explicit Server(std::optional<lint::Contract> contract) : contract_(std::move(contract)) {}

  // HandleLine processes one message (without its newline) and returns the
  // response line (without newline), or nullopt when none is due (a
  // notification, or a response from the client). It never throws and never
  // fails: every error is a JSON-RPC error response. Tests: McpServerTest.*.
  std::optional<std::string> HandleLine(std::string_view line);

  // Run reads messages from in until EOF and writes each response followed
  // by '\n' to out, flushing after each; only protocol messages go to out
  // (logs go to err). Lines over max_line_bytes get a parse error. Returns 0
  // at EOF, 4 when out fails.
  int Run(std::istream& in, std::ostream& out, std::ostream& err, size_t max_line_bytes = kMaxLineBytes);

 private:
  // Dispatch runs one request; on a JSON-RPC error it sets is_error and
  // returns {code, message, data}.
  Json Dispatch(const std::string& method, const Json& params, bool modern, bool& is_error);

  std::optional<lint::Contract> contract_;
  bool initialized_ = false;  // legacy: initialize answered
  std::string legacy_version_;
};

}  // namespace astis::mcp
