#include "mcp/tools.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
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

// ReadSource returns a file of the source tree (deploy/, go/, python/).
std::string ReadSource(const std::string& rel) {
  std::ifstream in(std::string(ASTIS_SOURCE_DIR) + "/" + rel);
  EXPECT_TRUE(in.good()) << rel;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// SourceDocs parses a YAML file of the source tree into its documents.
std::vector<Json> SourceDocs(const std::string& rel) {
  auto docs = lint::ParseYamlDocuments(ReadSource(rel));
  EXPECT_TRUE(docs.ok()) << rel << ": " << docs.status().ToString();
  return docs.ok() ? *docs : std::vector<Json>{};
}

const Json* FindKind(const std::vector<Json>& docs, const std::string& kind) {
  for (const Json& d : docs)
    if (d.value("kind", "") == kind) return &d;
  return nullptr;
}

// SelectorMatches evaluates a Kubernetes LabelSelector (matchLabels and
// matchExpressions In/NotIn/Exists/DoesNotExist, ANDed; an empty selector
// selects everything) against an object's labels, as the API server does.
bool SelectorMatches(const Json& selector, const Json& labels) {
  auto label = [&](const std::string& k) -> const Json* {
    auto it = labels.find(k);
    return it == labels.end() ? nullptr : &*it;
  };
  if (auto ml = selector.find("matchLabels"); ml != selector.end()) {
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      const Json* v = label(it.key());
      if (v == nullptr || *v != it.value()) return false;
    }
  }
  if (auto me = selector.find("matchExpressions"); me != selector.end()) {
    for (const Json& e : *me) {
      const Json* v = label(e.at("key").get<std::string>());
      const std::string op = e.at("operator");
      const Json values = e.value("values", Json::array());
      const bool in = v != nullptr && std::find(values.begin(), values.end(), *v) != values.end();
      if (op == "In" && !in) return false;
      if (op == "NotIn" && in) return false;
      if (op == "Exists" && v == nullptr) return false;
      if (op == "DoesNotExist" && v != nullptr) return false;
      if (op != "In" && op != "NotIn" && op != "Exists" && op != "DoesNotExist") {
        ADD_FAILURE() << "unknown operator " << op;
        return false;
      }
    }
  }
  return true;
}

// EdgeIngressNamespaceSelectors returns the namespaceSelectors of the edge
// NetworkPolicy's ingress peers, read from the source tree.
std::vector<Json> EdgeIngressNamespaceSelectors() {
  const std::vector<Json> docs = SourceDocs("deploy/base/edge/networkpolicy.yaml");
  const Json* policy = FindKind(docs, "NetworkPolicy");
  std::vector<Json> out;
  if (policy == nullptr) {
    ADD_FAILURE() << "no NetworkPolicy in deploy/base/edge/networkpolicy.yaml";
    return out;
  }
  for (const Json& rule : policy->at("spec").at("ingress"))
    for (const Json& peer : rule.at("from"))
      if (peer.contains("namespaceSelector")) out.push_back(peer.at("namespaceSelector"));
  EXPECT_FALSE(out.empty()) << "the edge NetworkPolicy admits no namespace";
  return out;
}

// HeredocYaml returns the YAML between "<<'EOF'\n" and "\nEOF" (the first).
std::string HeredocYaml(const std::string& text) {
  const size_t b = text.find("<<'EOF'\n");
  if (b == std::string::npos) return "";
  const size_t e = text.find("\nEOF\n", b);
  return e == std::string::npos ? "" : text.substr(b + 8, e + 1 - (b + 8));
}

// RunCapture runs a shell command and returns its exit status and output.
int RunCapture(const std::string& cmd, std::string& out) {
  out.clear();
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

TEST(McpToolsTest, GeneratedManifestsPassLint) {
  lint::Contract c = TestContract();
  std::string y = GenerateManifests(c);
  auto docs = lint::ParseYamlDocuments(y);
  ASSERT_TRUE(docs.ok()) << docs.status().ToString() << "\n" << y;
  // Namespace, ServiceAccount, RoleBinding (of deploy/cluster-rbac's
  // ClusterRole: no Role of its own any more), Deployment.
  ASSERT_EQ(docs->size(), 4u);
  std::vector<lint::LintInput> in{{"generated.yaml", y}};
  lint::LintReport r = lint::Lint(in, &c);
  EXPECT_EQ(r.findings.size(), 0u) << lint::FormatText(r) << y;
  EXPECT_EQ(r.objects, 4u);
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
  // The edge's pod access is a RoleBinding of deploy/cluster-rbac's
  // read-only ClusterRole (checked against deploy/ in
  // GeneratedRoleBindingUsesClusterRbac); no Role or ClusterRole is generated.
  const Json& binding = (*docs)[2];
  ASSERT_EQ(binding.at("kind"), "RoleBinding");
  EXPECT_EQ(binding.at("roleRef").at("kind"), "ClusterRole");
  for (const Json& d : *docs) EXPECT_NE(d.at("kind"), "Role");
  for (const Json& d : *docs) EXPECT_NE(d.at("kind"), "ClusterRole");
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

TEST(McpToolsTest, ApiKeySecretIsNamedAfterTheServiceAccount) {
  // The key is bound to the ServiceAccount; the manifests, the token config
  // and the webhook's default must name the same Secret.
  const lint::Contract c = TestContract();
  auto injected = inject::ParseInjectAnnotations(Json{{"astis.io/env", "X=db-creds/password"}}, "api");
  ASSERT_TRUE(injected.ok()) << injected.status().ToString();
  EXPECT_EQ(injected->api_key_secret, "api-astis-key");
  const std::string manifests = GenerateManifests(c);
  EXPECT_NE(manifests.find("secretName: api-astis-key\n"), std::string::npos) << manifests;
  const std::string token = GenerateTokenConfig(c);
  EXPECT_NE(token.find("create secret generic api-astis-key "), std::string::npos) << token;
  EXPECT_EQ(manifests.find("payments-api-astis-api-key"), std::string::npos);
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

// A pod deployed as generated must reach the edge: the edge NetworkPolicy
// of deploy/ (read from the source tree) admits ingress only from namespaces
// its namespaceSelector selects, evaluated here as label selectors against
// the generated Namespace. Every generated namespaced object is in it.
TEST(McpToolsTest, GeneratedNamespaceIsAdmittedByEdgeNetworkPolicy) {
  lint::Contract c = TestContract();
  auto docs = lint::ParseYamlDocuments(GenerateManifests(c));
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  const Json* ns = FindKind(*docs, "Namespace");
  ASSERT_NE(ns, nullptr);
  EXPECT_EQ(ns->at("metadata").at("name"), "payments");
  const Json labels = ns->at("metadata").value("labels", Json::object());
  const std::vector<Json> selectors = EdgeIngressNamespaceSelectors();
  for (const Json& sel : selectors) {
    EXPECT_TRUE(SelectorMatches(sel, labels)) << sel.dump() << " does not select " << labels.dump();
    // The evaluation is not vacuous: an unlabelled namespace is not admitted.
    EXPECT_FALSE(SelectorMatches(sel, Json{{"kubernetes.io/metadata.name", "payments"}})) << sel.dump();
  }
  for (const Json& d : *docs) {
    if (d.at("kind") != "Namespace") {
      EXPECT_EQ(d.at("metadata").at("namespace"), "payments") << d.at("kind");
    }
  }
}

// namespaceExists: no Namespace object (applying one would take over an
// existing namespace); the output says how to label it, and the merge patch
// it returns, applied to an unlabelled Namespace, is admitted by the edge
// NetworkPolicy read from deploy/.
TEST(McpToolsTest, ExistingNamespaceGetsTheLabelPatch) {
  lint::Contract c = TestContract();
  auto out = CallTool("generate_manifests", Json{{"namespaceExists", true}}, &c);
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->is_error) << out->text;
  auto docs = lint::ParseYamlDocuments(out->text);
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  EXPECT_EQ(FindKind(*docs, "Namespace"), nullptr);
  EXPECT_EQ(docs->size(), 3u);
  const std::string cmd = out->structured.at("namespaceLabelCommand");
  EXPECT_NE(out->text.find(cmd), std::string::npos) << out->text;
  EXPECT_EQ(cmd.rfind("kubectl label namespace payments ", 0), 0u) << cmd;
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "payments"}}}};
  ns.merge_patch(out->structured.at("namespacePatch"));
  for (const Json& sel : EdgeIngressNamespaceSelectors())
    EXPECT_TRUE(SelectorMatches(sel, ns.at("metadata").at("labels"))) << sel.dump() << ns.dump();
  std::vector<lint::LintInput> in{{"generated.yaml", out->text}};
  lint::LintReport r = lint::Lint(in, &c);
  EXPECT_EQ(r.findings.size(), 0u) << lint::FormatText(r);
  // A non-boolean is refused.
  out = CallTool("generate_manifests", Json{{"namespaceExists", "yes"}}, &c);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->is_error);
}

// One RBAC model: the generated RoleBinding (manifests and token config)
// binds the ClusterRole deploy/cluster-rbac/clusterrole.yaml defines to the
// ServiceAccount deploy/cluster-rbac/serviceaccount.yaml defines, and the
// token Secret the token config reads is deploy/cluster-rbac's.
TEST(McpToolsTest, GeneratedRoleBindingUsesClusterRbac) {
  const std::vector<Json> role_docs = SourceDocs("deploy/cluster-rbac/clusterrole.yaml");
  const std::vector<Json> sa_docs = SourceDocs("deploy/cluster-rbac/serviceaccount.yaml");
  const std::vector<Json> secret_docs = SourceDocs("deploy/cluster-rbac/token-secret.yaml");
  const Json* role = FindKind(role_docs, "ClusterRole");
  const Json* sa = FindKind(sa_docs, "ServiceAccount");
  const Json* secret = FindKind(secret_docs, "Secret");
  ASSERT_TRUE(role != nullptr && sa != nullptr && secret != nullptr);
  lint::Contract c = TestContract();
  auto manifests = lint::ParseYamlDocuments(GenerateManifests(c));
  ASSERT_TRUE(manifests.ok());
  auto registered = lint::ParseYamlDocuments(HeredocYaml(GenerateTokenConfig(c, TokenConfigOptions{true})));
  ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  auto fresh = lint::ParseYamlDocuments(HeredocYaml(GenerateTokenConfig(c)));
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  for (const std::vector<Json>* docs : {&*manifests, &*registered, &*fresh}) {
    const Json* rb = FindKind(*docs, "RoleBinding");
    ASSERT_NE(rb, nullptr);
    EXPECT_EQ(rb->at("metadata").at("namespace"), "payments");
    EXPECT_EQ(rb->at("roleRef").at("apiGroup"), "rbac.authorization.k8s.io");
    EXPECT_EQ(rb->at("roleRef").at("kind"), "ClusterRole");
    EXPECT_EQ(rb->at("roleRef").at("name"), role->at("metadata").at("name"));
    ASSERT_EQ(rb->at("subjects").size(), 1u);
    const Json& subject = rb->at("subjects")[0];
    EXPECT_EQ(subject.at("kind"), "ServiceAccount");
    EXPECT_EQ(subject.at("name"), sa->at("metadata").at("name"));
    EXPECT_EQ(subject.at("namespace"), sa->at("metadata").at("namespace"));
  }
  EXPECT_EQ(secret->at("metadata").at("annotations").at("kubernetes.io/service-account.name"),
            sa->at("metadata").at("name"));
  const std::string t = GenerateTokenConfig(c);
  const std::string get_secret = "-n " + secret->at("metadata").at("namespace").get<std::string>() + " get secret " +
                                 secret->at("metadata").at("name").get<std::string>() + " -o jsonpath=";
  EXPECT_NE(t.find(get_secret + "'{.data.token}' | base64 -d > prod-eu1.token"), std::string::npos) << t;
  EXPECT_NE(t.find(get_secret + "'{.data.ca\\.crt}' | base64 -d > prod-eu1.ca.crt"), std::string::npos) << t;
}

// The registration names the paths the edge reads: absolute, in the
// directory deploy/base/edge mounts the astis-cluster-credentials Secret at
// (read from deploy/), where step 3 copies the token and CA.
TEST(McpToolsTest, TokenConfigNamesTheEdgesAbsolutePaths) {
  const std::vector<Json> docs = SourceDocs("deploy/base/edge/deployment.yaml");
  const Json* dep = FindKind(docs, "Deployment");
  ASSERT_NE(dep, nullptr);
  const Json& pod = dep->at("spec").at("template").at("spec");
  std::string volume, mount_path;
  for (const Json& v : pod.at("volumes"))
    if (v.contains("secret") && v.at("secret").value("secretName", "") == kClusterCredentialsSecret)
      volume = v.at("name");
  ASSERT_FALSE(volume.empty());
  for (const Json& ctr : pod.at("containers"))
    for (const Json& m : ctr.value("volumeMounts", Json::array()))
      if (m.at("name") == volume) mount_path = m.at("mountPath");
  ASSERT_EQ(mount_path, kClusterCredentialsDir);
  const std::string t = GenerateTokenConfig(TestContract());
  EXPECT_NE(t.find("--ca-file " + mount_path + "/prod-eu1.ca.crt --token-file " + mount_path + "/prod-eu1.token"),
            std::string::npos)
      << t;
  for (const char* flag : {"--token-file ", "--ca-file "}) {
    for (size_t at = t.find(flag); at != std::string::npos; at = t.find(flag, at + 1))
      EXPECT_EQ(t[at + std::strlen(flag)], '/') << t.substr(at, 60);
  }
  EXPECT_NE(t.find("--from-file=prod-eu1.token=./prod-eu1.token --from-file=prod-eu1.ca.crt=./prod-eu1.ca.crt"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("patch secret astis-cluster-credentials --type merge"), std::string::npos) << t;
}

// A second namespace of a registered cluster: only its RoleBinding, never
// `astis cluster add` (which would re-register the cluster; the CLI now
// refuses that without --replace).
TEST(McpToolsTest, TokenConfigForRegisteredClusterOnlyBindsTheNamespace) {
  lint::Contract c = TestContract();
  auto out = CallTool("generate_token_config", Json{{"clusterRegistered", true}}, &c);
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->is_error) << out->text;
  const std::string& t = out->text;
  EXPECT_EQ(t.find("astis cluster add"), std::string::npos) << t;
  EXPECT_EQ(t.find("deploy/cluster-rbac/token-secret.yaml"), std::string::npos) << t;
  EXPECT_EQ(t.find("--token-file"), std::string::npos) << t;
  auto docs = lint::ParseYamlDocuments(HeredocYaml(t));
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0].at("kind"), "RoleBinding");
  EXPECT_NE(t.find("astis workload add --cluster prod-eu1 --namespace payments"), std::string::npos) << t;
  EXPECT_NE(t.find("astis apikey create --cluster prod-eu1 --namespace payments"), std::string::npos) << t;
  // Without it, the cluster is registered.
  out = CallTool("generate_token_config", Json{{"clusterRegistered", false}}, &c);
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->text.find("astis cluster add --name prod-eu1"), std::string::npos);
  out = CallTool("generate_token_config", Json{{"clusterRegistered", 1}}, &c);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->is_error);
}

// The workload container has requests and limits (small defaults, the
// `resources` argument overrides each) and a place for probes; the output
// still lints clean.
TEST(McpToolsTest, ManifestsHaveResourcesAndProbeComment) {
  lint::Contract c = TestContract();
  auto docs = lint::ParseYamlDocuments(GenerateManifests(c));
  ASSERT_TRUE(docs.ok());
  const Json& res = FindKind(*docs, "Deployment")->at("spec").at("template").at("spec").at("containers")[0].at(
      "resources");
  const ContainerResources def;
  EXPECT_EQ(res.at("requests").at("cpu"), def.cpu_request);
  EXPECT_EQ(res.at("requests").at("memory"), def.memory_request);
  EXPECT_EQ(res.at("limits").at("cpu"), def.cpu_limit);
  EXPECT_EQ(res.at("limits").at("memory"), def.memory_limit);
  EXPECT_NE(GenerateManifests(c).find("# Probes go here"), std::string::npos);
  auto out = CallTool("generate_manifests",
                      Json{{"resources", {{"requests", {{"memory", "1Gi"}}}, {"limits", {{"memory", "2Gi"},
                                                                                        {"cpu", "2"}}}}}},
                      &c);
  ASSERT_TRUE(out.ok());
  ASSERT_FALSE(out->is_error) << out->text;
  docs = lint::ParseYamlDocuments(out->text);
  ASSERT_TRUE(docs.ok());
  const Json& over = FindKind(*docs, "Deployment")->at("spec").at("template").at("spec").at("containers")[0].at(
      "resources");
  EXPECT_EQ(over.at("requests").at("memory"), "1Gi");
  EXPECT_EQ(over.at("requests").at("cpu"), def.cpu_request);
  EXPECT_EQ(over.at("limits").at("memory"), "2Gi");
  EXPECT_EQ(over.at("limits").at("cpu"), "2");
  std::vector<lint::LintInput> in{{"generated.yaml", out->text}};
  lint::LintReport r = lint::Lint(in, &c);
  EXPECT_EQ(r.findings.size(), 0u) << lint::FormatText(r);
}

// Refusals of the resources argument: not a quantity, a request above its
// limit (the API server would refuse the Deployment), an unknown member.
TEST(McpToolsTest, ManifestsResourcesRejectBadQuantities) {
  lint::Contract c = TestContract();
  for (const Json& bad : {Json{{"limits", {{"memory", "lots"}}}}, Json{{"limits", {{"cpu", "-1"}}}},
                          Json{{"requests", {{"cpu", "1e3"}}}}, Json{{"requests", {{"memory", 256}}}},
                          Json{{"requests", {{"memory", "512Mi"}}}}, Json{{"requests", {{"cpu", "1"}}}},
                          Json{{"requests", {{"gpu", "1"}}}}, Json{{"claims", Json::object()}}, Json("1Gi")}) {
    auto out = CallTool("generate_manifests", Json{{"resources", bad}}, &c);
    ASSERT_TRUE(out.ok());
    EXPECT_TRUE(out->is_error) << bad.dump();
    EXPECT_NE(out->text.find("resources"), std::string::npos) << out->text;
  }
  EXPECT_EQ(ResourcesFromJson(Json{{"requests", {{"memory", "512Mi"}}}}).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(ResourcesFromJson(Json{{"requests", {{"memory", "256Mi"}, {"cpu", "0.5"}}}}).ok());
}

// The generated Go program builds and vets against the module at go/ under
// the module path go/go.mod declares (astis.dev/astis). The replace line is
// the test's own (the consumer module lives in a temp dir; the generated
// text tells the user how to get the module), offline: GOPROXY=off.
#ifdef ASTIS_SANITIZED_BUILD
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

TEST(McpToolsTest, GeneratedGoBuildsAgainstTheModule) {
  if (kSanitized) GTEST_SKIP() << "SKIPPED LOUDLY: sanitized libastis cannot be linked by go (no sanitizer runtime)";
  std::string out;
  if (RunCapture("command -v go", out) != 0) GTEST_SKIP() << "SKIPPED LOUDLY: no `go` on PATH, generated Go not built";
  auto code = GenerateSdkCode(TestContract(), "go");
  ASSERT_TRUE(code.ok());
  const std::string gomod = ReadSource("go/go.mod");
  const std::string module = gomod.substr(7, gomod.find('\n') - 7);
  ASSERT_EQ(gomod.rfind("module ", 0), 0u);
  EXPECT_NE(code->find("\t\"" + module + "\"\n"), std::string::npos) << *code;
  EXPECT_NE(code->find("go get " + module + "@v" ASTIS_PROJECT_VERSION), std::string::npos) << *code;
  auto dir = TestTempDir() / "goapp";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "main.go") << *code;
  std::ofstream(dir / "go.mod") << "module example.com/app\n\ngo 1.19\n\nrequire " << module
                                << " v0.0.0\n\nreplace " << module << " => " ASTIS_SOURCE_DIR "/go\n";
  const std::string lib_dir = std::filesystem::path(ASTIS_SDK_LIBRARY).parent_path().string();
  const std::string env = "cd " + dir.string() +
                          " && env GOENV=off GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=1 GOPROXY=off "
                          "GOFLAGS=-mod=mod GOSUMDB=off GOPATH=" + (TestTempDir() / "gopath").string() +
                          " GOCACHE=" ASTIS_BINARY_DIR "/go/cache CGO_CFLAGS=-I" ASTIS_SOURCE_DIR "/include"
                          " CGO_LDFLAGS=-L" + lib_dir + " ";
  EXPECT_EQ(RunCapture(env + "go vet ./...", out), 0) << out << *code;
  EXPECT_EQ(RunCapture(env + "go build -o app .", out), 0) << out << *code;
  EXPECT_TRUE(std::filesystem::exists(dir / "app"));
  // The module cache is read-only; make it removable at exit.
  RunShell("chmod -R u+w " + (TestTempDir() / "gopath").string() + " 2>/dev/null");
}

// The generated Python program imports the SDK under the wheel's package
// name (python/pyproject.toml) and uses only what it defines: loaded (not
// run) with PYTHONPATH at python/ and the build's libastis.
TEST(McpToolsTest, GeneratedPythonImportsTheSdk) {
  if (kSanitized) GTEST_SKIP() << "SKIPPED LOUDLY: python3 cannot load a sanitized libastis (no sanitizer runtime)";
  const std::string pyproject = ReadSource("python/pyproject.toml");
  ASSERT_NE(pyproject.find("\nname = \"astis\"\n"), std::string::npos);
  ASSERT_NE(pyproject.find("packages = [\"astis\"]"), std::string::npos);
  auto code = GenerateSdkCode(TestContract(), "python");
  ASSERT_TRUE(code.ok());
  EXPECT_NE(code->find("\nimport astis\n"), std::string::npos) << *code;
  EXPECT_NE(code->find("pip install astis-" ASTIS_PROJECT_VERSION "-py3-none-linux_"), std::string::npos) << *code;
  auto p = TempFile("generated_app.py", *code);
  std::string out;
  const std::string check =
      "import importlib.util, sys\n"
      "spec = importlib.util.spec_from_file_location('generated_app', sys.argv[1])\n"
      "m = importlib.util.module_from_spec(spec)\n"
      "spec.loader.exec_module(m)\n"
      "import astis\n"
      "for name in ('harden_process', 'Client', 'wipe', 'AstisError'):\n"
      "    assert hasattr(astis, name), name\n"
      "assert m.NAMES == ['password', 'user.name', 'api-token'], m.NAMES\n"
      "print('ok', astis.__file__)\n";
  auto script = TempFile("check_generated.py", check);
  EXPECT_EQ(RunCapture("env PYTHONPATH=" ASTIS_SOURCE_DIR "/python ASTIS_LIBRARY=" ASTIS_SDK_LIBRARY
                       " python3 " + script.string() + " " + p.string(), out),
            0)
      << out << *code;
  EXPECT_NE(out.find("ok " ASTIS_SOURCE_DIR "/python/astis/__init__.py"), std::string::npos) << out;
}

}  // namespace
}  // namespace astis::mcp
