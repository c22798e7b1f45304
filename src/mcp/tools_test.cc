#include "mcp/tools.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include "inject/annotations.h"
#include "lint/lint.h"
#include "lint/yaml_documents.h"

namespace astis::mcp {
namespace {

lint::Contract TestContract() {
  auto c = lint::ContractFromJson(Json{{"cluster", "prod-eu1"},
                                       {"namespace", "payments"},
                                       {"serviceAccount", "api"},
                                       {"app", "payments-api"},
                                       {"image", "registry.example.com:5000/payments/api"},
                                       {"imageDigests", {"sha256:" + std::string(64, 'a'), "sha256:" + std::string(64, 'b')}},
                                       {"secrets", {{{"name", "db-creds"}, {"keys", {"password", "user.name"}}},
                                                    {{"name", "stripe"}, {"keys", {"api-token"}}}}},
                                       {"edgeUrl", "https://edge.example.com:8443"},
                                       {"audience", "astis-prod"},
                                       {"tokenExpirationSeconds", 1200}});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

// RunShell runs a command and returns its exit status (tests only).
int RunShell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

std::filesystem::path TestTempDir() {
  return std::filesystem::temp_directory_path() / ("astis-mcp-" + std::to_string(::getpid()));
}

// The files TempFile writes are removed when the test program ends, so a run
// leaves nothing in /tmp.
struct RemoveTestTempDir {
  ~RemoveTestTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(TestTempDir(), ec);
  }
} remove_test_temp_dir_at_exit;

std::filesystem::path TempFile(const std::string& name, const std::string& text) {
  auto dir = TestTempDir();
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::ofstream(p) << text;
  return p;
}

TEST(McpToolsTest, GeneratedManifestsPassLint) {
  lint::Contract c = TestContract();
  std::string y = GenerateManifests(c);
  auto docs = lint::ParseYamlDocuments(y);
  ASSERT_TRUE(docs.ok()) << docs.status().ToString() << "\n" << y;
  ASSERT_EQ(docs->size(), 5u);
  std::vector<lint::LintInput> in{{"generated.yaml", y}};
  lint::LintReport r = lint::Lint(in, &c);
  EXPECT_EQ(r.findings.size(), 0u) << lint::FormatText(r) << y;
  EXPECT_EQ(r.objects, 5u);
  // Without a contract the audience must be the default "astis".
  Json j = c.ToJson();
  j.erase("audience");
  auto default_aud = lint::ContractFromJson(j);
  ASSERT_TRUE(default_aud.ok());
  std::vector<lint::LintInput> in2{{"generated.yaml", GenerateManifests(*default_aud)}};
  r = lint::Lint(in2, nullptr);
  EXPECT_EQ(r.findings.size(), 0u) << lint::FormatText(r);
}

TEST(McpToolsTest, GeneratedDeploymentHasHardeningAndMounts) {
  lint::Contract c = TestContract();
  auto docs = lint::ParseYamlDocuments(GenerateManifests(c));
  ASSERT_TRUE(docs.ok());
  const Json& dep = docs->back();
  ASSERT_EQ(dep.at("kind"), "Deployment");
  const Json& spec = dep.at("spec").at("template").at("spec");
  EXPECT_EQ(spec.at("automountServiceAccountToken"), false);
  EXPECT_EQ(spec.at("securityContext").at("runAsNonRoot"), true);
  EXPECT_EQ(spec.at("securityContext").at("seccompProfile").at("type"), "RuntimeDefault");
  const Json& ctr = spec.at("containers")[0];
  EXPECT_EQ(ctr.at("image"), "registry.example.com:5000/payments/api@sha256:" + std::string(64, 'a'));
  EXPECT_EQ(ctr.at("securityContext").at("allowPrivilegeEscalation"), false);
  EXPECT_EQ(ctr.at("securityContext").at("readOnlyRootFilesystem"), true);
  EXPECT_EQ(ctr.at("securityContext").at("capabilities").at("drop")[0], "ALL");
  const Json& tok = spec.at("volumes")[0].at("projected").at("sources")[0].at("serviceAccountToken");
  EXPECT_EQ(tok.at("audience"), "astis-prod");
  EXPECT_EQ(tok.at("expirationSeconds"), 1200);
  const Json& secrets = spec.at("volumes")[1].at("projected").at("sources");
  ASSERT_EQ(secrets.size(), 2u);
  EXPECT_EQ(secrets[0].at("secret").at("items")[1].at("key"), "user.name");
  bool has_edge = false;
  for (const auto& e : ctr.at("env")) has_edge = has_edge || (e.at("name") == "ASTIS_EDGE_URL" && e.at("value") == "https://edge.example.com:8443");
  EXPECT_TRUE(has_edge);
  // The Role is read-only on pods.
  const Json& role = (*docs)[2];
  ASSERT_EQ(role.at("kind"), "Role");
  EXPECT_EQ(role.at("rules")[0].at("verbs"), Json::parse(R"(["get","list","watch"])"));
}

TEST(McpToolsTest, TokenConfigUsesRealAdminFlags) {
  std::string t = GenerateTokenConfig(TestContract());
  for (const char* want : {"astis cluster add --name prod-eu1 --issuer", "--audience astis-prod", "--jwks-file",
                           "--api-url", "--ca-file", "--token-file", "--mode strict",
                           "astis workload add --cluster prod-eu1 --namespace payments --service-account api --image sha256:",
                           "astis apikey create --cluster prod-eu1 --namespace payments --service-account api",
                           "audience: \"astis-prod\"", "expirationSeconds: 1200"}) {
    EXPECT_NE(t.find(want), std::string::npos) << want << "\n" << t;
  }
  EXPECT_NE(t.find("--image sha256:" + std::string(64, 'b')), std::string::npos);
}

TEST(McpToolsTest, TokenConfigNamesTheContractsOrganization) {
  Json j = TestContract().ToJson();
  EXPECT_FALSE(j.contains("organization"));
  j["organization"] = "acme";
  auto c = lint::ContractFromJson(j);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const std::string t = GenerateTokenConfig(*c);
  for (const char* want : {"astis cluster add --org acme --name prod-eu1",
                           "astis workload add --org acme --cluster prod-eu1",
                           "astis apikey create --org acme --cluster prod-eu1"}) {
    EXPECT_NE(t.find(want), std::string::npos) << want << "\n" << t;
  }
  auto out = CallTool("describe_contract", Json{{"contract", j}}, nullptr);
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->text.find("ASTIS organisation acme."), std::string::npos) << out->text;
  EXPECT_EQ(out->structured["contract"].value("organization", ""), "acme");
  // Without one, no --org: the commands act in the only organisation.
  EXPECT_EQ(GenerateTokenConfig(TestContract()).find("--org"), std::string::npos);
}

TEST(McpToolsTest, SealCommandsNeverPutValuesInArgv) {
  std::string s = GenerateSealCommands(TestContract());
  EXPECT_EQ(s.find("--from-literal"), std::string::npos);
  EXPECT_NE(s.find("astis seal --public-key org-key.pub.jwk --cluster prod-eu1 --namespace payments "
                   "--service-account api --name db-creds --from-file password=./db-creds/password "
                   "--from-file user.name=./db-creds/user.name > db-creds.sealed.yaml"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("--name stripe --from-file api-token=./stripe/api-token"), std::string::npos);
}

TEST(McpToolsTest, SealCommandsNameEveryAdditionalCluster) {
  // docs/protocol.md §3.1: one --cluster per cluster; several seal v2.
  Json j = TestContract().ToJson();
  j["additionalClusters"] = {"prod-us1", "dr-1"};
  auto c = lint::ContractFromJson(j);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::string s = GenerateSealCommands(*c);
  EXPECT_NE(s.find("astis seal --public-key org-key.pub.jwk --cluster dr-1 --cluster prod-eu1 --cluster prod-us1 "
                   "--namespace payments"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("bound to clusters dr-1, prod-eu1, prod-us1"), std::string::npos) << s;
}

TEST(McpToolsTest, GeneratedCCompiles) {
  auto code = GenerateSdkCode(TestContract(), "c");
  ASSERT_TRUE(code.ok());
  auto p = TempFile("app.c", *code);
  EXPECT_EQ(RunShell("cc -std=c11 -Wall -Wextra -Werror -fsyntax-only -I" ASTIS_SOURCE_DIR "/include " + p.string()), 0)
      << *code;
}

TEST(McpToolsTest, GeneratedCppCompiles) {
  auto code = GenerateSdkCode(TestContract(), "cpp");
  ASSERT_TRUE(code.ok());
  auto p = TempFile("app.cc", *code);
  EXPECT_EQ(RunShell("c++ -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I" ASTIS_SOURCE_DIR "/include " + p.string()),
            0)
      << *code;
}

TEST(McpToolsTest, GeneratedPythonCompiles) {
  auto code = GenerateSdkCode(TestContract(), "python");
  ASSERT_TRUE(code.ok());
  EXPECT_NE(code->find("client.get(name)"), std::string::npos);
  auto p = TempFile("app.py", *code);
  EXPECT_EQ(RunShell("python3 -m py_compile " + p.string()), 0) << *code;
}

TEST(McpToolsTest, GeneratedGoIsWellFormed) {
  auto code = GenerateSdkCode(TestContract(), "go");
  ASSERT_TRUE(code.ok());
  EXPECT_NE(code->find("astis.New(astis.Config{FromEnv: true})"), std::string::npos);
  auto p = TempFile("main.go", *code);
  // gofmt -l prints the file when it is not gofmt-clean and fails on syntax errors.
  EXPECT_EQ(RunShell("test -z \"$(gofmt -l " + p.string() + ")\""), 0) << *code;
}

TEST(McpToolsTest, GeneratedAstisRunUsesFiles) {
  auto code = GenerateSdkCode(TestContract(), "astis-run");
  ASSERT_TRUE(code.ok());
  EXPECT_NE(code->find("astis-run --file password=password --file user.name=user.name --file api-token=api-token -- "),
            std::string::npos)
      << *code;
  EXPECT_NE(code->find("--env USER_NAME=user.name"), std::string::npos);
}

// The inject form: annotations the webhook accepts, and the allowlist
// command for its init image.
TEST(McpToolsTest, GeneratedInjectAnnotations) {
  auto code = GenerateSdkCode(TestContract(), "inject");
  ASSERT_TRUE(code.ok());
  EXPECT_NE(code->find("astis.io/inject: \"true\""), std::string::npos) << *code;
  EXPECT_NE(code->find("astis.io/files: \""), std::string::npos) << *code;
  EXPECT_NE(code->find("astis workload images add --cluster "), std::string::npos) << *code;
  const size_t at = code->find("astis.io/files: \"") + 17;
  const std::string files = code->substr(at, code->find('"', at) - at);
  auto parsed = inject::ParseInjectAnnotations(Json{{"astis.io/files", files}}, "api");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << " " << files;
  EXPECT_EQ(parsed->files.size(), 3u);
}

TEST(McpToolsTest, RejectsUnknownLanguage) {
  auto code = GenerateSdkCode(TestContract(), "cobol");
  EXPECT_EQ(code.status().code(), Code::kInvalidArgument);
  lint::Contract c = TestContract();
  auto out = CallTool("generate_sdk_code", Json{{"language", "cobol"}}, &c);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->is_error);
  out = CallTool("generate_sdk_code", Json::object(), &c);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->is_error);
}

TEST(McpToolsTest, RejectsUnknownArgument) {
  lint::Contract c = TestContract();
  auto out = CallTool("describe_contract", Json{{"contrakt", 1}}, &c);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->is_error);
}

TEST(McpToolsTest, UnknownToolIsNotFound) {
  EXPECT_EQ(CallTool("nope", Json::object(), nullptr).status().code(), Code::kNotFound);
}

TEST(McpToolsTest, LintManifestsTool) {
  lint::Contract c = TestContract();
  auto out = CallTool("lint_manifests", Json{{"yaml", "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: nginx}]}\n"}}, &c);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->is_error);
  EXPECT_GT(out->structured.at("errors").get<int>(), 0);
  EXPECT_EQ(out->structured.at("contract"), true);
  EXPECT_NE(out->text.find("image-not-pinned"), std::string::npos);
  out = CallTool("lint_manifests", Json{{"yaml", GenerateManifests(c)}}, &c);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->structured.at("errors"), 0) << out->text;
  out = CallTool("lint_manifests", Json{{"yaml", "kind: Pod\nspec: {serviceAccountName: x}\n"}, {"useContract", false}}, &c);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->structured.at("contract"), false);
  out = CallTool("lint_manifests", Json{{"yaml", 5}}, &c);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->is_error);
}

// lint_manifests runs astis lint, so it surfaces the multiple-astis-clients
// warning (docs/sdk.md "Several ASTIS clients in one pod") as a warning,
// not an error.
TEST(McpToolsTest, LintManifestsWarnsSeveralAstisClients) {
  lint::Contract c = TestContract();
  const std::string digest = "@sha256:" + std::string(64, 'b');
  const std::string pod =
      "kind: Pod\nmetadata: {name: p, namespace: payments}\nspec:\n  serviceAccountName: api\n"
      "  automountServiceAccountToken: false\n  containers:\n"
      "  - {name: a, image: \"r.example.com/a" + digest + "\", volumeMounts: [{name: t, mountPath: /t}]}\n"
      "  - {name: b, image: \"r.example.com/b" + digest + "\", volumeMounts: [{name: t, mountPath: /t}]}\n"
      "  volumes:\n  - {name: t, projected: {sources: [{serviceAccountToken: {audience: astis, "
      "expirationSeconds: 3600, path: token}}]}}\n";
  auto out = CallTool("lint_manifests", Json{{"yaml", pod}, {"useContract", false}}, &c);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->is_error);
  EXPECT_NE(out->text.find("multiple-astis-clients"), std::string::npos) << out->text;
  EXPECT_EQ(out->structured.at("errors"), 0) << out->text;
  EXPECT_EQ(out->structured.at("warnings"), 1) << out->text;
}

TEST(McpToolsTest, EveryToolRunsWithTheContract) {
  lint::Contract c = TestContract();
  for (const auto& t : Tools()) {
    Json args = Json::object();
    if (t.name == "generate_sdk_code") args["language"] = "cpp";
    if (t.name == "lint_manifests") args["yaml"] = GenerateManifests(c);
    auto out = CallTool(t.name, args, &c);
    ASSERT_TRUE(out.ok()) << t.name;
    EXPECT_FALSE(out->is_error) << t.name << ": " << out->text;
    EXPECT_FALSE(out->text.empty());
    EXPECT_TRUE(out->structured.is_object());
  }
}

// docs/protocol.md §3.1: a contract passed as a tool input may name a
// ServiceAccount that is a DNS-1123 subdomain ("my.sa"); the manifests and
// seal commands generated for it lint clean. app is then required, because
// it names the container (a DNS-1123 label).
TEST(McpToolsTest, AcceptsSubdomainServiceAccountInContract) {
  Json contract = TestContract().ToJson();
  contract["serviceAccount"] = "my.sa";
  auto out = CallTool("generate_manifests", Json{{"contract", contract}}, nullptr);
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->is_error) << out->text;
  EXPECT_NE(out->text.find("serviceAccountName: my.sa\n"), std::string::npos) << out->text;
  auto c = lint::ContractFromJson(contract);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<lint::LintInput> in{{"generated.yaml", out->text}};
  lint::LintReport r = lint::Lint(in, &*c);
  EXPECT_EQ(r.findings.size(), 0u) << lint::FormatText(r) << out->text;
  out = CallTool("generate_seal_commands", Json{{"contract", contract}}, nullptr);
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->is_error) << out->text;
  EXPECT_NE(out->text.find("--service-account my.sa "), std::string::npos) << out->text;

  contract.erase("app");
  out = CallTool("generate_manifests", Json{{"contract", contract}}, nullptr);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->is_error);
  EXPECT_NE(out->text.find("app"), std::string::npos) << out->text;
  contract["app"] = "api";
  contract["serviceAccount"] = "My.SA";
  out = CallTool("generate_manifests", Json{{"contract", contract}}, nullptr);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->is_error);
  EXPECT_NE(out->text.find("serviceAccount"), std::string::npos) << out->text;
}

}  // namespace
}  // namespace astis::mcp
