#include "mcp/server.h"

#include <gtest/gtest.h>

#include <sstream>

#include "common/version.h"

namespace astis::mcp {
namespace {

Json ContractJson() {
  return Json{{"cluster", "prod-eu1"},
              {"namespace", "payments"},
              {"serviceAccount", "api"},
              {"image", "registry.example.com/payments/api"},
              {"imageDigests", {"sha256:" + std::string(64, 'a')}},
              {"secrets", {{{"name", "db-creds"}, {"keys", {"password"}}}}},
              {"edgeUrl", "https://edge.example.com"}};
}

Json Call(Server& s, const Json& msg) {
  auto line = s.HandleLine(msg.dump());
  EXPECT_TRUE(line.has_value());
  if (!line) return nullptr;
  EXPECT_EQ(line->find('\n'), std::string::npos);
  return Json::parse(*line);
}

Server Initialized() {
  Server s(std::nullopt);
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                    {"params", {{"protocolVersion", "2025-11-25"}, {"capabilities", Json::object()},
                                {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}});
  EXPECT_EQ(r.at("result").at("protocolVersion"), "2025-11-25");
  EXPECT_FALSE(s.HandleLine(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").has_value());
  return s;
}

Json ModernMeta() {
  return Json{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
              {"io.modelcontextprotocol/clientCapabilities", Json::object()}};
}

TEST(McpServerTest, InitializeNegotiatesVersion) {
  Server s = Initialized();
  Server old(std::nullopt);
  Json r = Call(old, {{"jsonrpc", "2.0"}, {"id", "a"}, {"method", "initialize"}, {"params", {{"protocolVersion", "2024-11-05"}}}});
  EXPECT_EQ(r.at("id"), "a");
  EXPECT_EQ(r.at("result").at("protocolVersion"), "2024-11-05");
  EXPECT_TRUE(r.at("result").at("capabilities").contains("tools"));
  EXPECT_EQ(r.at("result").at("serverInfo").at("name"), "astis");
  Server future(std::nullopt);
  r = Call(future, {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "initialize"}, {"params", {{"protocolVersion", "1999-01-01"}}}});
  EXPECT_EQ(r.at("result").at("protocolVersion"), "2025-11-25");
}

TEST(McpServerTest, ServerInfoNamesTheBuildVersion) {
  Server s(std::nullopt);
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"}, {"params", {{"protocolVersion", "2025-11-25"}}}});
  EXPECT_EQ(r.at("result").at("serverInfo").at("version"), std::string(GetBuildVersion().version));
  EXPECT_EQ(r.at("result").at("serverInfo").at("version"), ASTIS_PROJECT_VERSION);
}

TEST(McpServerTest, InitializeWithoutVersionIsInvalidParams) {
  Server s(std::nullopt);
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 3}, {"method", "initialize"}, {"params", Json::object()}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidParams);
  EXPECT_EQ(r.at("id"), 3);
}

TEST(McpServerTest, ParseErrorHasNullId) {
  Server s(std::nullopt);
  Json r = Json::parse(*s.HandleLine("{\"jsonrpc\":\"2.0\",\"id\":1,"));
  EXPECT_EQ(r.at("error").at("code"), kParseError);
  EXPECT_TRUE(r.at("id").is_null());
  r = Json::parse(*s.HandleLine(R"({"jsonrpc":"2.0","id":1,"id":2,"method":"ping"})"));  // duplicate key
  EXPECT_EQ(r.at("error").at("code"), kParseError);
}

TEST(McpServerTest, RejectsBatch) {
  Server s = Initialized();
  Json r = Json::parse(*s.HandleLine(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])"));
  EXPECT_EQ(r.at("error").at("code"), kInvalidRequest);
  EXPECT_TRUE(r.at("id").is_null());
  r = Json::parse(*s.HandleLine("[]"));
  EXPECT_EQ(r.at("error").at("code"), kInvalidRequest);
}

TEST(McpServerTest, InvalidRequestsEchoId) {
  Server s = Initialized();
  Json r = Call(s, {{"jsonrpc", "1.0"}, {"id", 7}, {"method", "ping"}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidRequest);
  EXPECT_EQ(r.at("id"), 7);
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", "x"}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidRequest);
  EXPECT_EQ(r.at("id"), "x");
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 8}, {"method", 5}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidRequest);
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", Json::object()}, {"method", "ping"}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidRequest);
  EXPECT_TRUE(r.at("id").is_null());
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", nullptr}, {"method", "ping"}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidRequest);
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 9}, {"method", "ping"}, {"params", "x"}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidRequest);
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 10}, {"method", "tools/list"}, {"params", Json::array()}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidParams);
  EXPECT_EQ(r.at("id"), 10);
  r = Json::parse(*s.HandleLine("42"));
  EXPECT_EQ(r.at("error").at("code"), kInvalidRequest);
}

TEST(McpServerTest, MethodNotFound) {
  Server s = Initialized();
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 11}, {"method", "resources/list"}});
  EXPECT_EQ(r.at("error").at("code"), kMethodNotFound);
  EXPECT_EQ(r.at("id"), 11);
}

TEST(McpServerTest, NotificationsGetNoResponse) {
  Server s = Initialized();
  EXPECT_FALSE(s.HandleLine(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})"));
  EXPECT_FALSE(s.HandleLine(R"({"jsonrpc":"2.0","method":"no/such/method"})"));
  EXPECT_FALSE(s.HandleLine(R"({"jsonrpc":"2.0","method":"tools/list"})"));
  // A response from the client is not answered either.
  EXPECT_FALSE(s.HandleLine(R"({"jsonrpc":"2.0","id":5,"result":{}})"));
}

TEST(McpServerTest, LegacyRequestsNeedInitialize) {
  Server s(std::nullopt);
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidRequest);
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "ping"}});
  EXPECT_TRUE(r.at("result").is_object());
}

TEST(McpServerTest, ToolsListHasSchemas) {
  Server s = Initialized();
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 4}, {"method", "tools/list"}});
  const Json& tools = r.at("result").at("tools");
  ASSERT_EQ(tools.size(), 6u);
  std::vector<std::string> names;
  for (const auto& t : tools) {
    names.push_back(t.at("name"));
    EXPECT_EQ(t.at("inputSchema").at("type"), "object");
    EXPECT_FALSE(t.at("description").get<std::string>().empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"describe_contract", "generate_manifests", "generate_token_config",
                                             "generate_seal_commands", "generate_sdk_code", "lint_manifests"}));
  EXPECT_FALSE(r.at("result").contains("resultType"));  // legacy results have none
}

TEST(McpServerTest, ToolsCallReturnsTextAndStructuredContent) {
  Server s = Initialized();
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 5}, {"method", "tools/call"},
                    {"params", {{"name", "describe_contract"}, {"arguments", {{"contract", ContractJson()}}}}}});
  const Json& res = r.at("result");
  EXPECT_EQ(res.at("isError"), false);
  EXPECT_EQ(res.at("content")[0].at("type"), "text");
  EXPECT_NE(res.at("content")[0].at("text").get<std::string>().find("prod-eu1"), std::string::npos);
  EXPECT_EQ(res.at("structuredContent").at("contract").at("audience"), "astis");
}

TEST(McpServerTest, ToolFailureIsErrorResult) {
  Server s = Initialized();
  Json bad = ContractJson();
  bad["edgeUrl"] = "http://plain";
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 6}, {"method", "tools/call"},
                    {"params", {{"name", "generate_manifests"}, {"arguments", {{"contract", bad}}}}}});
  EXPECT_EQ(r.at("result").at("isError"), true);
  EXPECT_NE(r.at("result").at("content")[0].at("text").get<std::string>().find("edgeUrl"), std::string::npos);
  // No contract at all.
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 7}, {"method", "tools/call"}, {"params", {{"name", "generate_manifests"}}}});
  EXPECT_EQ(r.at("result").at("isError"), true);
}

TEST(McpServerTest, UnknownToolIsInvalidParams) {
  Server s = Initialized();
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 8}, {"method", "tools/call"}, {"params", {{"name", "rm_rf"}}}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidParams);
  EXPECT_EQ(r.at("id"), 8);
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 9}, {"method", "tools/call"}, {"params", Json::object()}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidParams);
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 10}, {"method", "tools/call"},
               {"params", {{"name", "describe_contract"}, {"arguments", "x"}}}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidParams);
}

TEST(McpServerTest, ServerContractIsUsed) {
  auto c = lint::ContractFromJson(ContractJson());
  ASSERT_TRUE(c.ok());
  Server s(*c);
  Call(s, {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"}, {"params", {{"protocolVersion", "2025-11-25"}}}});
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/call"}, {"params", {{"name", "describe_contract"}}}});
  EXPECT_EQ(r.at("result").at("isError"), false);
}

// tools/list is answered from one catalogue serialised once per process:
// each answer still carries its own request's id, the legacy and modern
// shapes differ as before, and every result line is byte for byte what
// DumpJson gives for the parsed message (so no client sees a change).
TEST(McpServerTest, ToolsListAnswersEachRequestFromOneCatalogue) {
  Server legacy = Initialized();
  std::vector<Json> legacy_results;
  for (const Json& id : {Json(7), Json("seven"), Json(7)}) {
    auto line = legacy.HandleLine(DumpJson(Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/list"}}));
    ASSERT_TRUE(line.has_value());
    Json r = Json::parse(*line);
    EXPECT_EQ(r.at("id"), id);
    EXPECT_EQ(*line, DumpJson(r));
    EXPECT_FALSE(r.at("result").contains("resultType"));
    EXPECT_FALSE(r.at("result").contains("ttlMs"));
    legacy_results.push_back(r.at("result"));
  }
  EXPECT_EQ(legacy_results[0], legacy_results[1]);
  EXPECT_EQ(legacy_results[0], legacy_results[2]);

  Server modern(std::nullopt);
  auto line = modern.HandleLine(
      DumpJson(Json{{"jsonrpc", "2.0"}, {"id", 8}, {"method", "tools/list"}, {"params", {{"_meta", ModernMeta()}}}}));
  ASSERT_TRUE(line.has_value());
  Json r = Json::parse(*line);
  EXPECT_EQ(*line, DumpJson(r));
  EXPECT_EQ(r.at("id"), 8);
  EXPECT_EQ(r.at("result").at("tools"), legacy_results[0].at("tools"));
  EXPECT_EQ(r.at("result").at("resultType"), "complete");
  EXPECT_EQ(r.at("result").at("_meta").at("io.modelcontextprotocol/serverInfo").at("name"), "astis");

  // Other results take the same line builder.
  line = legacy.HandleLine(R"({"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"describe_contract"}})");
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, DumpJson(Json::parse(*line)));
}

TEST(McpServerTest, ModernRequestsNeedMeta) {
  Server s(std::nullopt);
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", "d"}, {"method", "server/discover"}, {"params", {{"_meta", ModernMeta()}}}});
  EXPECT_EQ(r.at("result").at("resultType"), "complete");
  EXPECT_EQ(r.at("result").at("supportedVersions")[0], "2026-07-28");
  EXPECT_EQ(r.at("result").at("_meta").at("io.modelcontextprotocol/serverInfo").at("name"), "astis");
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/list"}, {"params", {{"_meta", ModernMeta()}}}});
  EXPECT_EQ(r.at("result").at("cacheScope"), "public");
  EXPECT_TRUE(r.at("result").contains("ttlMs"));
  EXPECT_EQ(r.at("result").at("resultType"), "complete");
  // Missing capabilities: -32602.
  Json meta = ModernMeta();
  meta.erase("io.modelcontextprotocol/clientCapabilities");
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 3}, {"method", "tools/list"}, {"params", {{"_meta", meta}}}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidParams);
  // server/discover without _meta: -32602 (a dual-era client then falls back to initialize).
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 4}, {"method", "server/discover"}});
  EXPECT_EQ(r.at("error").at("code"), kInvalidParams);
  // ping was removed in 2026-07-28.
  r = Call(s, {{"jsonrpc", "2.0"}, {"id", 5}, {"method", "ping"}, {"params", {{"_meta", ModernMeta()}}}});
  EXPECT_EQ(r.at("error").at("code"), kMethodNotFound);
}

TEST(McpServerTest, RejectsUnsupportedModernVersion) {
  Server s(std::nullopt);
  Json meta = ModernMeta();
  meta["io.modelcontextprotocol/protocolVersion"] = "1900-01-01";
  Json r = Call(s, {{"jsonrpc", "2.0"}, {"id", 1}, {"method", "server/discover"}, {"params", {{"_meta", meta}}}});
  EXPECT_EQ(r.at("error").at("code"), kUnsupportedProtocolVersion);
  EXPECT_EQ(r.at("error").at("data").at("requested"), "1900-01-01");
  EXPECT_TRUE(r.at("error").at("data").at("supported").is_array());
}

TEST(McpServerTest, RunFramesLinesAndBoundsLength) {
  Server s(std::nullopt);
  std::istringstream in(
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\"}}\r\n"
      "\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n" +
      std::string(200, 'x') + "\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
  std::ostringstream out, err;
  EXPECT_EQ(s.Run(in, out, err, 100), 0);
  std::istringstream lines(out.str());
  std::string l;
  std::vector<Json> msgs;
  while (std::getline(lines, l)) msgs.push_back(Json::parse(l));
  ASSERT_EQ(msgs.size(), 3u) << out.str();
  EXPECT_EQ(msgs[0].at("id"), 1);
  EXPECT_EQ(msgs[1].at("error").at("code"), kParseError);
  EXPECT_EQ(msgs[2].at("id"), 2);
  EXPECT_NE(err.str().find("discarded"), std::string::npos);
}

}  // namespace
}  // namespace astis::mcp
