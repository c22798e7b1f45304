// libFuzzer target for `astis mcp`'s input: one JSON-RPC line through the
// whole server (framing, dispatch, every tool including the YAML linter).
// The first byte picks whether the session is initialized first, so the
// tools are reached as well as the pre-initialize refusals.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "mcp/server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  astis::mcp::Server server(std::nullopt);
  if (data[0] & 1) {
    (void)server.HandleLine(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})");
  }
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::istringstream in{std::string(rest)};
  std::ostringstream out, err;
  (void)server.Run(in, out, err, 1 << 20);
  return 0;
}
