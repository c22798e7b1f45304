#include "lint/lint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unistd.h>

#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/random.h"
#include "lint/yaml_documents.h"

namespace astis::lint {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'b');

Contract TestContract() {
  auto c = ContractFromJson(Json{{"cluster", "prod-eu1"},
                                 {"namespace", "payments"},
                                 {"serviceAccount", "api"},
                                 {"image", "registry.example.com/payments/api"},
                                 {"imageDigests", {kDigest}},
                                 {"secrets", {{{"name", "db-creds"}, {"keys", {"password"}}}}},
                                 {"edgeUrl", "https://edge.example.com"}});
  EXPECT_TRUE(c.ok());
  return *c;
}

Json GoodDeployment() {
  return Json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "payments"},
    "spec": {"template": {"spec": {
      "serviceAccountName": "api",
      "automountServiceAccountToken": false,
      "containers": [{"name": "api",
        "image": "registry.example.com/payments/api@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        "volumeMounts": [{"name": "astis-token", "mountPath": "/var/run/secrets/astis", "readOnly": true}]}],
      "volumes": [{"name": "astis-token", "projected": {"sources": [
        {"serviceAccountToken": {"audience": "astis", "expirationSeconds": 3600, "path": "token"}}]}}]
    }}}})");
}

// SealedSecret seals "pw" for (cluster, ns, sa, name, key) with a fresh org key.
Json SealedSecret(const std::string& cluster, const std::string& ns, const std::string& sa, const std::string& name,
                  const std::string& key) {
  auto org = capsule::OrgPrivateKey::Generate(DefaultRandom());
  EXPECT_TRUE(org.ok());
  FakeClock clock(1764115200);
  auto v = capsule::Seal(org->public_key(), capsule::Binding{cluster, ns, sa, name, key}, AsBytes("pw"),
                         DefaultRandom(), clock);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return Json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"data", {{key, B64Encode(v->ToString())}}}};
}

LintReport LintDocs(const std::vector<Json>& docs, const Contract* contract = nullptr) {
  std::string text;
  for (const auto& d : docs) text += d.dump() + "\n---\n";
  std::vector<LintInput> in{{"test.yaml", text}};
  return Lint(in, contract);
}

size_t Count(const LintReport& r, std::string_view rule) {
  size_t n = 0;
  for (const auto& f : r.findings) n += f.rule == rule ? 1 : 0;
  return n;
}

TEST(LintTest, AcceptsGoodDeploymentWithAndWithoutContract) {
  Contract c = TestContract();
  auto r = LintDocs({GoodDeployment(), SealedSecret("prod-eu1", "payments", "api", "db-creds", "password")}, &c);
  EXPECT_EQ(r.findings.size(), 0u) << FormatText(r);
  EXPECT_EQ(r.objects, 2u);
  r = LintDocs({GoodDeployment()});
  EXPECT_EQ(r.findings.size(), 0u) << FormatText(r);
}

// One container aliased 1,500 times in a few KB of YAML: the report keeps
// the first kMaxReportedFindings findings and counts the rest, so memory and
// output stay bounded while the totals stay true.
TEST(LintTest, CapsFindingsAndCountsTheRest) {
  std::string y =
      "kind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  serviceAccountName: app\n"
      "  automountServiceAccountToken: false\n  containers: [&c {name: c, image: \"busybox:latest\"}";
  for (int i = 1; i < 1500; ++i) y += ", *c";
  y += "]\n";
  std::vector<LintInput> in{{"bomb.yaml", y}};
  LintReport r = Lint(in, nullptr);
  ASSERT_EQ(r.findings.size(), kMaxReportedFindings);
  // 1,500 image-not-pinned + token-volume-missing.
  EXPECT_EQ(r.errors(), 1501u);
  EXPECT_EQ(r.warnings(), 0u);
  EXPECT_EQ(r.omitted(), 501u);
  EXPECT_NE(FormatText(r).find("... 501 more finding(s) not shown"), std::string::npos);
  EXPECT_NE(FormatText(r).find("1501 error(s)"), std::string::npos);
  Json j = ToJson(r);
  EXPECT_EQ(j.at("omitted"), 501);
  EXPECT_EQ(j.at("errors"), 1501);
  EXPECT_EQ(j.at("findings").size(), kMaxReportedFindings);
}

// A name far past Kubernetes' limits is cut in the finding, not copied into
// each of its findings whole.
TEST(LintTest, ClipsLongFieldsInFindings) {
  Json d = GoodDeployment();
  d["metadata"]["name"] = std::string(100000, 'n');
  d["spec"]["template"]["spec"]["containers"][0]["name"] = std::string(100000, 'c');
  d["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:" + std::string(100, 't');
  auto r = LintDocs({d});
  ASSERT_EQ(Count(r, "image-not-pinned"), 1u) << FormatText(r).substr(0, 2000);
  for (const auto& f : r.findings) {
    EXPECT_LE(f.name.size(), kMaxFindingFieldBytes);
    EXPECT_LE(f.message.size(), kMaxFindingFieldBytes);
  }
  EXPECT_EQ(r.findings[0].name.substr(r.findings[0].name.size() - 3), "...");
}

TEST(LintTest, FlagsImageByTag) {
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/payments/api:1.2";
  d["spec"]["template"]["spec"]["initContainers"] = {{{"name", "init"}, {"image", "busybox"}}};
  d["spec"]["template"]["spec"]["ephemeralContainers"] = {{{"name", "dbg"}, {"image", "x@sha256:123"}}};
  auto r = LintDocs({d});
  EXPECT_EQ(Count(r, "image-not-pinned"), 3u) << FormatText(r);
  EXPECT_EQ(r.errors(), 3u);
  EXPECT_EQ(r.findings[0].kind, "Deployment");
  EXPECT_EQ(r.findings[0].namespace_, "payments");
  EXPECT_EQ(r.findings[0].name, "api");
  EXPECT_FALSE(r.findings[0].fix.empty());
}

TEST(LintTest, FlagsImageNotInContract) {
  Contract c = TestContract();
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/payments/api@sha256:" + std::string(64, 'c');
  auto r = LintDocs({d}, &c);
  EXPECT_EQ(Count(r, "image-not-allowed"), 1u) << FormatText(r);
  // Without a contract there is no allowlist.
  EXPECT_EQ(Count(LintDocs({d}), "image-not-allowed"), 0u);
}

TEST(LintTest, FlagsMissingTokenVolume) {
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"].erase("volumes");
  EXPECT_EQ(Count(LintDocs({d}), "token-volume-missing"), 1u);
}

TEST(LintTest, FlagsWrongAudience) {
  Contract c = TestContract();
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"].erase("audience");
  EXPECT_EQ(Count(LintDocs({d}, &c), "token-audience"), 1u);
  d["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["audience"] = "vault";
  EXPECT_EQ(Count(LintDocs({d}), "token-audience"), 1u);
}

TEST(LintTest, FlagsShortTokenExpiration) {
  Json d = GoodDeployment();
  auto& tok = d["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"];
  tok["expirationSeconds"] = 599;
  EXPECT_EQ(Count(LintDocs({d}), "token-expiration"), 1u);
  tok["expirationSeconds"] = 600;
  EXPECT_EQ(Count(LintDocs({d}), "token-expiration"), 0u);
  tok.erase("expirationSeconds");  // the API server default is 3600
  EXPECT_EQ(LintDocs({d}).findings.size(), 0u);
}

TEST(LintTest, FlagsTokenNotMounted) {
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"]["containers"][0].erase("volumeMounts");
  // Mounted only in an init container does not count.
  d["spec"]["template"]["spec"]["initContainers"] = Json::parse(
      R"([{"name":"i","image":"x@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
           "volumeMounts":[{"name":"astis-token","mountPath":"/t"}]}])");
  auto r = LintDocs({d});
  EXPECT_EQ(Count(r, "token-not-mounted"), 1u) << FormatText(r);
}

TEST(LintTest, FlagsAutomountedToken) {
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"]["automountServiceAccountToken"] = true;
  EXPECT_EQ(Count(LintDocs({d}), "automount-token"), 1u);
  d["spec"]["template"]["spec"].erase("automountServiceAccountToken");
  EXPECT_EQ(Count(LintDocs({d}), "automount-token"), 1u);
  // A ServiceAccount that does not turn it off does not help.
  Json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "api"}, {"namespace", "payments"}}}};
  EXPECT_EQ(Count(LintDocs({d, sa}), "automount-token"), 1u);
}

TEST(LintTest, AcceptsAutomountOffOnServiceAccount) {
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"].erase("automountServiceAccountToken");
  Json sa = {{"apiVersion", "v1"},
             {"kind", "ServiceAccount"},
             {"metadata", {{"name", "api"}, {"namespace", "payments"}}},
             {"automountServiceAccountToken", false}};
  EXPECT_EQ(Count(LintDocs({sa, d}), "automount-token"), 0u);
  // The pod spec wins over its ServiceAccount.
  d["spec"]["template"]["spec"]["automountServiceAccountToken"] = true;
  EXPECT_EQ(Count(LintDocs({sa, d}), "automount-token"), 1u);
}

TEST(LintTest, FlagsServiceAccountMismatch) {
  Contract c = TestContract();
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"]["serviceAccountName"] = "other";
  EXPECT_EQ(Count(LintDocs({d}, &c), "service-account"), 1u);
  EXPECT_EQ(Count(LintDocs({d}), "service-account"), 0u);
}

TEST(LintTest, FlagsDefaultServiceAccount) {
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"].erase("serviceAccountName");
  EXPECT_EQ(Count(LintDocs({d}), "service-account"), 1u);
  d["spec"]["template"]["spec"]["serviceAccountName"] = "default";
  EXPECT_EQ(Count(LintDocs({d}), "service-account"), 1u);
}

TEST(LintTest, FlagsNamespaceMismatch) {
  Contract c = TestContract();
  Json d = GoodDeployment();
  d["metadata"]["namespace"] = "billing";
  EXPECT_EQ(Count(LintDocs({d}, &c), "namespace"), 1u);
}

TEST(LintTest, ChecksPodsCronJobsAndLists) {
  Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}}},
              {"spec", GoodDeployment()["spec"]["template"]["spec"]}};
  pod["spec"]["containers"][0]["image"] = "nginx";
  Json cron = {{"apiVersion", "batch/v1"}, {"kind", "CronJob"}, {"metadata", {{"name", "c"}}},
               {"spec", {{"jobTemplate", {{"spec", {{"template", {{"spec", pod["spec"]}}}}}}}}}};
  Json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", {pod, cron}}};
  auto r = LintDocs({list});
  EXPECT_EQ(Count(r, "image-not-pinned"), 2u) << FormatText(r);
  EXPECT_EQ(r.objects, 2u);
}

TEST(LintTest, FlagsPlaintextInSealedSecret) {
  Contract c = TestContract();
  Json plain = {{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", "db-creds"}, {"namespace", "payments"}}},
                {"stringData", {{"password", "hunter2"}}}};
  auto r = LintDocs({plain}, &c);
  EXPECT_EQ(Count(r, "plaintext-secret"), 1u) << FormatText(r);
  EXPECT_EQ(r.findings[0].severity, Severity::kError);
  EXPECT_EQ(FormatText(r).find("hunter2"), std::string::npos);
  EXPECT_EQ(ToJson(r).dump().find("hunter2"), std::string::npos);
  // Without a contract: a Secret mixing sealed and plaintext values is an error.
  Json mixed = SealedSecret("prod-eu1", "payments", "api", "db-creds", "password");
  mixed["data"]["user"] = B64Encode(std::string("admin"));
  r = LintDocs({mixed});
  EXPECT_EQ(Count(r, "plaintext-secret"), 1u) << FormatText(r);
  EXPECT_EQ(r.errors(), 1u);
}

TEST(LintTest, WarnsPlaintextOpaqueSecret) {
  Json plain = {{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", "other"}}},
                {"data", {{"k", B64Encode(std::string("v"))}}}};
  auto r = LintDocs({plain});
  EXPECT_EQ(Count(r, "plaintext-secret"), 1u);
  EXPECT_EQ(r.errors(), 0u);
  EXPECT_EQ(r.warnings(), 1u);
  plain["type"] = "kubernetes.io/tls";
  EXPECT_EQ(LintDocs({plain}).findings.size(), 0u);
}

TEST(LintTest, FlagsMissingContractKey) {
  Contract c = TestContract();
  Json s = SealedSecret("prod-eu1", "payments", "api", "db-creds", "user");
  auto r = LintDocs({s}, &c);
  EXPECT_EQ(Count(r, "secret-key-missing"), 1u) << FormatText(r);
}

TEST(LintTest, FlagsSealedBindingMismatch) {
  Contract c = TestContract();
  // Sealed for another ServiceAccount: the edge would refuse it (capsule_scope).
  auto r = LintDocs({SealedSecret("prod-eu1", "payments", "batch", "db-creds", "password")}, &c);
  EXPECT_EQ(Count(r, "sealed-binding-mismatch"), 1u) << FormatText(r);
  // Sealed for another Secret name, even without a contract.
  Json moved = SealedSecret("prod-eu1", "payments", "api", "db-creds", "password");
  moved["metadata"]["name"] = "copied";
  EXPECT_EQ(Count(LintDocs({moved}), "sealed-binding-mismatch"), 1u);
}

// docs/protocol.md §3.1 v2: a value bound to several clusters is in scope
// for each; lint accepts it when the contract's cluster is one of them.
TEST(LintTest, AcceptsV2ValueListingTheContractCluster) {
  Contract c = TestContract();
  auto sealed_for = [](std::vector<std::string> clusters) {
    auto org = capsule::OrgPrivateKey::Generate(DefaultRandom());
    FakeClock clock(1764115200);
    auto b = capsule::Binding::ForClusters(std::move(clusters), "payments", "api", "db-creds", "password");
    EXPECT_TRUE(b.ok());
    auto v = capsule::Seal(org->public_key(), *b, AsBytes("pw"), DefaultRandom(), clock);
    EXPECT_TRUE(v.ok());
    return Json{{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", "db-creds"}, {"namespace", "payments"}}},
                {"data", {{"password", B64Encode(v->ToString())}}}};
  };
  auto r = LintDocs({sealed_for({"prod-eu1", "dr-1"})}, &c);
  EXPECT_EQ(Count(r, "sealed-binding-mismatch"), 0u) << FormatText(r);
  EXPECT_EQ(Count(r, "sealed-value-invalid"), 0u) << FormatText(r);
  r = LintDocs({sealed_for({"prod-us1", "dr-1"})}, &c);
  EXPECT_EQ(Count(r, "sealed-binding-mismatch"), 1u) << FormatText(r);
}

TEST(LintTest, FlagsValueMissingAnAdditionalCluster) {
  // The contract says the values must also open in dr-1: a v1 value for
  // prod-eu1 alone would be refused there (capsule_scope) after a failover.
  Json cj = TestContract().ToJson();
  cj["additionalClusters"] = {"dr-1"};
  auto c = ContractFromJson(cj);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto r = LintDocs({SealedSecret("prod-eu1", "payments", "api", "db-creds", "password")}, &*c);
  EXPECT_EQ(Count(r, "sealed-binding-mismatch"), 1u) << FormatText(r);
}

// docs/protocol.md §3.1: a workload whose ServiceAccount is "my.sa" lints
// clean against its contract, sealed value included; another SA is flagged.
TEST(LintTest, AcceptsSubdomainServiceAccount) {
  auto c = ContractFromJson(Json{{"cluster", "prod-eu1"},
                                 {"namespace", "payments"},
                                 {"serviceAccount", "my.sa"},
                                 {"app", "api"},
                                 {"image", "registry.example.com/payments/api"},
                                 {"imageDigests", {kDigest}},
                                 {"secrets", {{{"name", "db-creds"}, {"keys", {"password"}}}}},
                                 {"edgeUrl", "https://edge.example.com"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"]["serviceAccountName"] = "my.sa";
  auto r = LintDocs({d, SealedSecret("prod-eu1", "payments", "my.sa", "db-creds", "password")}, &*c);
  EXPECT_EQ(Count(r, "service-account"), 0u) << FormatText(r);
  EXPECT_EQ(Count(r, "sealed-binding-mismatch"), 0u) << FormatText(r);
  EXPECT_EQ(Count(r, "sealed-value-invalid"), 0u) << FormatText(r);
  r = LintDocs({SealedSecret("prod-eu1", "payments", "my", "db-creds", "password")}, &*c);
  EXPECT_EQ(Count(r, "sealed-binding-mismatch"), 1u) << FormatText(r);
}

TEST(LintTest, FlagsMalformedSealedValue) {
  Json s = {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata", {{"name", "db-creds"}}},
            {"stringData", {{"password", "astis.v1.notvalid"}}}};
  auto r = LintDocs({s});
  EXPECT_EQ(Count(r, "sealed-value-invalid"), 1u) << FormatText(r);
}

TEST(LintTest, FlagsRoleGrantingExec) {
  Json role = Json::parse(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role",
    "metadata":{"name":"dev","namespace":"payments"},
    "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list","watch"]},
             {"apiGroups":[""],"resources":["pods/exec"],"verbs":["create"]}]})");
  EXPECT_EQ(Count(LintDocs({role}), "rbac-pod-exec"), 1u);
  Json cr = role;
  cr["kind"] = "ClusterRole";
  cr["rules"][1] = Json::parse(R"({"apiGroups":["*"],"resources":["pods/ephemeralcontainers"],"verbs":["patch"]})");
  EXPECT_EQ(Count(LintDocs({cr}), "rbac-pod-exec"), 1u);
  cr["rules"][1] = Json::parse(R"({"apiGroups":["*"],"resources":["*"],"verbs":["*"]})");
  EXPECT_EQ(Count(LintDocs({cr}), "rbac-pod-exec"), 1u);
  cr["rules"][1] = Json::parse(R"({"apiGroups":[""],"resources":["pods/attach"],"verbs":["get"]})");
  EXPECT_EQ(Count(LintDocs({cr}), "rbac-pod-exec"), 1u);
}

TEST(LintTest, AcceptsReadOnlyRole) {
  Json role = Json::parse(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role",
    "metadata":{"name":"reader"},
    "rules":[{"apiGroups":[""],"resources":["pods","pods/log"],"verbs":["get","list","watch"]},
             {"apiGroups":["apps"],"resources":["*"],"verbs":["*"]},
             {"apiGroups":[""],"resources":["pods/ephemeralcontainers"],"verbs":["get"]}]})");
  EXPECT_EQ(LintDocs({role}).findings.size(), 0u);
}

TEST(LintTest, ReportsInvalidYaml) {
  std::vector<LintInput> in{{"bad.yaml", "a: [\n"}, {"good.yaml", GoodDeployment().dump()}, {"scalar.yaml", "hello\n"}};
  auto r = Lint(in, nullptr);
  ASSERT_EQ(r.findings.size(), 2u) << FormatText(r);
  EXPECT_EQ(r.findings[0].rule, "yaml-invalid");
  EXPECT_EQ(r.findings[0].file, "bad.yaml");
  EXPECT_EQ(r.findings[1].file, "scalar.yaml");
  EXPECT_EQ(r.objects, 1u);
}

TEST(LintTest, ToleratesWrongTypesEverywhere) {
  for (const char* y : {"kind: Deployment\nspec: 5\n", "kind: Deployment\nspec: {template: {spec: {containers: 7}}}\n",
                        "kind: Secret\ndata: [1]\n", "kind: Secret\ndata: {a: 5}\n", "kind: Role\nrules: {a: 1}\n",
                        "kind: Pod\nspec: {volumes: [{projected: {sources: [{serviceAccountToken: 3}]}}]}\n",
                        "kind: List\nitems: [{kind: List, items: [1]}]\n", "- 1\n- 2\n"}) {
    std::vector<LintInput> in{{"x.yaml", y}};
    auto r = Lint(in, nullptr);
    EXPECT_FALSE(FormatText(r).empty());
  }
}

TEST(LintTest, JsonAndTextOutput) {
  Json d = GoodDeployment();
  d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx";
  auto r = LintDocs({d});
  Json j = ToJson(r);
  EXPECT_EQ(j.at("errors"), 1);
  EXPECT_EQ(j.at("findings")[0].at("rule"), "image-not-pinned");
  EXPECT_EQ(j.at("findings")[0].at("severity"), "error");
  EXPECT_NE(FormatText(r).find("test.yaml: error [image-not-pinned] Deployment payments/api"), std::string::npos);
}

TEST(LintTest, ReadsFilesAndDirectories) {
  auto dir = std::filesystem::temp_directory_path() / ("astis-lint-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "b.yaml") << "kind: ConfigMap\n";
  std::ofstream(dir / "a.yml") << "kind: ConfigMap\n";
  std::ofstream(dir / "notes.txt") << "x";
  auto in = ReadLintInputs(dir.string());
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->size(), 2u);
  EXPECT_NE((*in)[0].file.find("a.yml"), std::string::npos);
  auto one = ReadLintInputs((dir / "b.yaml").string());
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->at(0).text, "kind: ConfigMap\n");
  EXPECT_EQ(ReadLintInputs((dir / "missing").string()).status().code(), Code::kNotFound);
  std::filesystem::remove_all(dir);
}

// WithContainers is GoodDeployment with its pod spec's containers and
// initContainers replaced.
Json WithContainers(const Json& containers, const Json& init = Json::array()) {
  Json d = GoodDeployment();
  Json& spec = d["spec"]["template"]["spec"];
  spec["containers"] = containers;
  if (!init.empty()) spec["initContainers"] = init;
  return d;
}

Json Container(const std::string& name, Json extra = Json::object()) {
  Json c{{"name", name},
         {"image", "registry.example.com/payments/api@" + kDigest},
         {"volumeMounts", {{{"name", "astis-token"}, {"mountPath", "/var/run/secrets/astis"}, {"readOnly", true}}}}};
  for (auto it = extra.begin(); it != extra.end(); ++it) c[it.key()] = it.value();
  return c;
}

Json AstisRun(const std::string& name) {
  return Container(name, {{"command", {"/usr/local/bin/astis-run", "--env", "PW=db-password", "--", "/app/job"}}});
}

// docs/protocol.md §4.1: the pin admits one DPoP key per pod; two containers
// linking the SDK cannot both hold it.
TEST(LintTest, WarnsTwoSdkContainers) {
  auto r = LintDocs({WithContainers(Json::array({Container("api"), Container("worker")}))});
  ASSERT_EQ(Count(r, "multiple-astis-clients"), 1u) << FormatText(r);
  EXPECT_EQ(r.errors(), 0u) << FormatText(r);  // a warning, not an error
  EXPECT_NE(FormatText(r).find("api (SDK), worker (SDK)"), std::string::npos) << FormatText(r);
  // Wired by ASTIS_* env alone (no token mount of its own) counts too.
  Json env_only{{"name", "worker"},
                {"image", "registry.example.com/payments/api@" + kDigest},
                {"env", {{{"name", "ASTIS_EDGE_URL"}, {"value", "https://edge.example.com"}}}}};
  r = LintDocs({WithContainers(Json::array({Container("api"), env_only}))});
  EXPECT_EQ(Count(r, "multiple-astis-clients"), 1u) << FormatText(r);
}

// An SDK container beside an astis-run one: the SDK holds the pin while it
// runs, so astis-run is refused. A native sidecar (an init container with
// restartPolicy: Always) runs beside the app, like `containers`.
TEST(LintTest, WarnsSdkBesideAstisRunSidecar) {
  auto r = LintDocs({WithContainers(Json::array({Container("api"), AstisRun("job")}))});
  EXPECT_EQ(Count(r, "multiple-astis-clients"), 1u) << FormatText(r);
  Json sidecar = AstisRun("sidecar");
  sidecar["restartPolicy"] = "Always";
  r = LintDocs({WithContainers(Json::array({Container("api")}), Json::array({sidecar}))});
  EXPECT_EQ(Count(r, "multiple-astis-clients"), 1u) << FormatText(r);
}

// A plain init container ends (and astis-run ends its session) before the
// app containers start: no overlap, no warning.
TEST(LintTest, AcceptsAstisRunInitBeforeSdkApp) {
  auto r = LintDocs({WithContainers(Json::array({Container("api")}), Json::array({AstisRun("migrate")}))});
  EXPECT_EQ(Count(r, "multiple-astis-clients"), 0u) << FormatText(r);
  // A second container that is not wired to ASTIS is no second client.
  Json plain{{"name", "proxy"}, {"image", "registry.example.com/proxy@" + kDigest}};
  r = LintDocs({WithContainers(Json::array({Container("api"), plain}))});
  EXPECT_EQ(Count(r, "multiple-astis-clients"), 0u) << FormatText(r);
}

// astis-run ends its session before its command starts, and the next one
// waits for the pin (pin_wait_seconds): astis-run containers take turns.
TEST(LintTest, AcceptsSeveralAstisRunContainers) {
  Json shell = Container("b", {{"command", {"sh", "-c", "exec astis-run --file k=tls-key -- /app/b"}}});
  auto r = LintDocs({WithContainers(Json::array({AstisRun("a"), shell}))});
  EXPECT_EQ(Count(r, "multiple-astis-clients"), 0u) << FormatText(r);
  // "astis-runner" is not astis-run.
  Json other = Container("c", {{"command", {"/bin/astis-runner"}}});
  r = LintDocs({WithContainers(Json::array({AstisRun("a"), other}))});
  EXPECT_EQ(Count(r, "multiple-astis-clients"), 1u) << FormatText(r);
}

// ---------------------------------------------------------------- exclusions

// WithMetadata returns GoodDeployment() broken (an image by tag, no token
// volume) and carrying labels and annotations.
Json BrokenDeployment(const std::string& name, Json labels, Json annotations = Json::object()) {
  Json d = GoodDeployment();
  d["metadata"]["name"] = name;
  d["metadata"]["labels"] = std::move(labels);
  if (!annotations.empty()) d["metadata"]["annotations"] = std::move(annotations);
  d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:latest";
  d["spec"]["template"]["spec"].erase("volumes");
  return d;
}

TEST(LintTest, SkipAnnotationListsTheObject) {
  std::vector<LintInput> in{
      {"own.yaml", BrokenDeployment("astis-edge", Json::object(), {{"astis.io/lint", "skip"}}).dump()},
      {"app.yaml", GoodDeployment().dump()}};
  auto r = Lint(in, nullptr);
  EXPECT_EQ(r.errors(), 0u) << FormatText(r);
  EXPECT_EQ(r.objects, 1u);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].file, "own.yaml");
  EXPECT_EQ(r.skipped[0].kind, "Deployment");
  EXPECT_EQ(r.skipped[0].name, "astis-edge");
  EXPECT_EQ(r.skipped[0].reason, "annotation astis.io/lint: skip");
  // Never silently: both renderings name it.
  const std::string text = FormatText(r);
  EXPECT_NE(text.find("own.yaml: skipped Deployment payments/astis-edge: annotation astis.io/lint: skip\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("in 1 object(s), 1 skipped\n"), std::string::npos) << text;
  Json j = ToJson(r);
  ASSERT_EQ(j["skipped"].size(), 1u);
  EXPECT_EQ(j["skipped"][0]["name"], "astis-edge");
  EXPECT_EQ(j["skipped"][0]["reason"], "annotation astis.io/lint: skip");
  // Without the annotation the same object is linted and fails.
  in[0].text = BrokenDeployment("astis-edge", Json::object()).dump();
  auto unskipped = Lint(in, nullptr);
  EXPECT_GE(unskipped.errors(), 2u);
  EXPECT_TRUE(unskipped.skipped.empty());
}

TEST(LintTest, CapsSkippedObjects) {
  // One List naming many skipped objects: the report keeps the first ones.
  Json item = BrokenDeployment("own", Json::object(), {{"astis.io/lint", "skip"}});
  item["metadata"]["name"] = std::string(kMaxFindingFieldBytes + 50, 'n');
  Json list{{"apiVersion", "v1"}, {"kind", "List"}, {"items", Json::array()}};
  for (size_t i = 0; i < kMaxReportedFindings + 5; ++i) list["items"].push_back(item);
  std::vector<LintInput> in{{"list.yaml", list.dump()}};
  auto r = Lint(in, nullptr);
  EXPECT_EQ(r.skipped.size(), kMaxReportedFindings);
  EXPECT_EQ(r.omitted_skipped, 5u);
  EXPECT_EQ(r.skipped_total(), kMaxReportedFindings + 5);
  EXPECT_EQ(r.skipped[0].name.size(), kMaxFindingFieldBytes);
  const std::string text = FormatText(r);
  EXPECT_NE(text.find("... 5 more skipped object(s) not listed\n"), std::string::npos);
  EXPECT_NE(text.find(", 1005 skipped\n"), std::string::npos);
  EXPECT_EQ(ToJson(r)["skipped_omitted"], 5u);
}

TEST(LintTest, WarnsUnknownLintAnnotation) {
  Json d = GoodDeployment();
  d["metadata"]["annotations"] = {{"astis.io/lint", "skipp"}};
  std::vector<LintInput> in{{"d.yaml", d.dump()}};
  auto r = Lint(in, nullptr);
  ASSERT_EQ(r.findings.size(), 1u) << FormatText(r);
  EXPECT_EQ(r.findings[0].rule, "lint-annotation");
  EXPECT_EQ(r.findings[0].severity, Severity::kWarning);
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_EQ(r.objects, 1u);
}

TEST(LintTest, SelectorParsesEqualityForms) {
  auto s = ParseLabelSelector("team=payments, tier==web,env!=dev,astis.io/workload,!legacy");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->requirements.size(), 5u);
  using Op = LabelRequirement::Op;
  EXPECT_EQ(s->requirements[0].op, Op::kEquals);
  EXPECT_EQ(s->requirements[0].key, "team");
  EXPECT_EQ(s->requirements[0].value, "payments");
  EXPECT_EQ(s->requirements[1].op, Op::kEquals);
  EXPECT_EQ(s->requirements[1].value, "web");
  EXPECT_EQ(s->requirements[2].op, Op::kNotEquals);
  EXPECT_EQ(s->requirements[3].op, Op::kExists);
  EXPECT_EQ(s->requirements[3].key, "astis.io/workload");
  EXPECT_EQ(s->requirements[4].op, Op::kNotExists);
  EXPECT_EQ(s->requirements[4].key, "legacy");
  Json labels{{"team", "payments"}, {"tier", "web"}, {"astis.io/workload", ""}};
  EXPECT_TRUE(s->Matches(&labels));
  labels["env"] = "dev";  // env!=dev
  EXPECT_FALSE(s->Matches(&labels));
  labels["env"] = "prod";
  labels["legacy"] = "yes";  // !legacy
  EXPECT_FALSE(s->Matches(&labels));
  labels.erase("legacy");
  labels.erase("astis.io/workload");  // astis.io/workload must exist
  EXPECT_FALSE(s->Matches(&labels));
  EXPECT_FALSE(s->Matches(nullptr));
  // k!=v holds when k is absent, as in kubectl.
  auto ne = ParseLabelSelector("env!=dev");
  ASSERT_TRUE(ne.ok());
  EXPECT_TRUE(ne->Matches(nullptr));
}

TEST(LintTest, SelectorRefusesMalformed) {
  for (const char* bad : {"", " ", "a=b,", ",a", "a,,b", "env in (prod)", "(a)", "a!b", "=v", "a=b c",
                          "-bad=x", "a=-x", "Upper.Case/x=y", "a=b=c"}) {
    auto s = ParseLabelSelector(bad);
    EXPECT_FALSE(s.ok()) << "'" << bad << "'";
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), Code::kInvalidArgument) << bad;
    }
  }
  EXPECT_TRUE(ParseLabelSelector("a=").ok());  // an empty value is a value
}

TEST(LintTest, SelectorSkipsObjectsNotMatching) {
  Json astis_app = GoodDeployment();
  astis_app["metadata"]["labels"] = {{"astis.io/workload", "true"}};
  // The pod template's labels do not count: the object's own do.
  Json other = BrokenDeployment("web", {{"app", "web"}});
  other["spec"]["template"]["metadata"]["labels"] = {{"astis.io/workload", "true"}};
  Json secret{
      {"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", "plain"}}}, {"stringData", {{"k", "v"}}}};
  std::vector<LintInput> in{{"a.yaml", astis_app.dump()}, {"b.yaml", other.dump()}, {"c.yaml", secret.dump()}};
  LintOptions options;
  options.selector = *ParseLabelSelector("astis.io/workload=true");
  auto r = Lint(in, nullptr, options);
  EXPECT_EQ(r.errors(), 0u) << FormatText(r);
  EXPECT_EQ(r.warnings(), 0u) << FormatText(r);
  EXPECT_EQ(r.objects, 1u);
  ASSERT_EQ(r.skipped.size(), 2u);
  EXPECT_EQ(r.skipped[0].name, "web");
  EXPECT_EQ(r.skipped[0].reason, "labels do not match --selector");
  EXPECT_EQ(r.skipped[1].kind, "Secret");
  // Without the selector both are linted.
  auto all = Lint(in, nullptr);
  EXPECT_GE(all.errors(), 2u);
  EXPECT_EQ(all.objects, 3u);
}

#ifdef ASTIS_SOURCE_DIR
// ResourcesOf returns the manifest files a kustomization directory renders
// from: its resources and components, directories followed recursively
// (configMapGenerator files are configuration, not objects).
void ResourcesOf(const std::filesystem::path& dir, std::set<std::string>& files, int depth = 0) {
  ASSERT_LT(depth, 8) << dir;
  std::ifstream in(dir / "kustomization.yaml");
  ASSERT_TRUE(in) << dir;
  std::stringstream text;
  text << in.rdbuf();
  auto docs = ParseYamlDocuments(text.str());
  ASSERT_TRUE(docs.ok()) << dir;
  ASSERT_EQ(docs->size(), 1u);
  for (const char* list : {"resources", "components"}) {
    if (!(*docs)[0].contains(list)) continue;
    for (const Json& entry : (*docs)[0][list]) {
      const std::filesystem::path p = dir / entry.get<std::string>();
      if (std::filesystem::is_directory(p)) {
        ResourcesOf(p, files, depth + 1);
      } else {
        ASSERT_TRUE(std::filesystem::is_regular_file(p)) << p;
        files.insert(std::filesystem::weakly_canonical(p).string());
      }
    }
  }
}

// Every kustomization of deploy/ (overlays, bases, components, examples)
// lints clean: ASTIS's own Deployments carry astis.io/lint: skip and are
// listed as skipped, so CI can run `astis lint` over a repository holding them.
TEST(LintTest, DeployKustomizationsLintClean) {
  const std::filesystem::path deploy = std::filesystem::path(ASTIS_SOURCE_DIR) / "deploy";
  size_t kustomizations = 0;
  std::set<std::string> own_skipped;
  for (const auto& e : std::filesystem::recursive_directory_iterator(deploy)) {
    if (e.path().filename() != "kustomization.yaml") continue;
    ++kustomizations;
    std::set<std::string> files;
    ResourcesOf(e.path().parent_path(), files);
    if (HasFatalFailure()) return;
    std::vector<LintInput> in;
    for (const std::string& f : files) {
      std::ifstream fin(f);
      std::stringstream text;
      text << fin.rdbuf();
      in.push_back({f, text.str()});
    }
    auto r = Lint(in, nullptr);
    EXPECT_EQ(r.errors(), 0u) << e.path() << "\n" << FormatText(r);
    EXPECT_GT(r.objects, 0u) << e.path();
    for (const auto& k : r.skipped) {
      EXPECT_EQ(k.reason, "annotation astis.io/lint: skip") << k.name;
      own_skipped.insert(k.name);
    }
  }
  EXPECT_GE(kustomizations, 5u);
  EXPECT_EQ(own_skipped, (std::set<std::string>{"astis-cvs", "astis-edge", "astis-inject"}));
}
#endif

// A Deployment wired by `astis inject` (docs/inject.md): no token volume in
// the manifest, the label and annotations instead.
Json InjectedDeployment() {
  Json d = GoodDeployment();
  auto& t = d["spec"]["template"];
  t["spec"].erase("volumes");
  t["spec"]["containers"][0].erase("volumeMounts");
  t["spec"]["containers"][0]["command"] = Json::array({"/app/server"});
  t["metadata"] = {{"labels", {{"astis.io/inject", "true"}}},
                   {"annotations", {{"astis.io/env", "DB_PASSWORD=db-creds/password"}}}};
  return d;
}

TEST(LintTest, AcceptsInjectLabelledPodWithoutTokenVolume) {
  const LintReport r = LintDocs({InjectedDeployment()});
  EXPECT_EQ(r.findings.size(), 0u) << FormatText(r);
  Json bare = InjectedDeployment();
  bare["spec"]["template"]["metadata"].erase("annotations");
  const LintReport w = LintDocs({bare});
  EXPECT_EQ(Count(w, "inject-nothing"), 1u) << FormatText(w);
  EXPECT_EQ(w.errors(), 0u);
  // Without the label the token rules apply as before.
  Json unlabelled = InjectedDeployment();
  unlabelled["spec"]["template"]["metadata"].erase("labels");
  EXPECT_EQ(Count(LintDocs({unlabelled}), "token-volume-missing"), 1u);
}

TEST(LintTest, FlagsMalformedInjectAnnotations) {
  Json d = InjectedDeployment();
  d["spec"]["template"]["metadata"]["annotations"]["astis.io/env"] = "DB_PASSWORD=hunter2";
  LintReport r = LintDocs({d});
  ASSERT_EQ(Count(r, "inject-refused"), 1u) << FormatText(r);
  EXPECT_EQ(FormatText(r).find("hunter2"), std::string::npos);
  d = InjectedDeployment();
  d["spec"]["template"]["spec"]["containers"][0].erase("command");
  r = LintDocs({d});
  ASSERT_EQ(Count(r, "inject-refused"), 1u) << FormatText(r);
  EXPECT_NE(FormatText(r).find("set `command`"), std::string::npos);
  d = InjectedDeployment();
  d["spec"]["template"]["metadata"]["annotations"]["astis.io/env"] = "A=Not_Dns/key";
  EXPECT_EQ(Count(LintDocs({d}), "inject-refused"), 1u);
}

}  // namespace
}  // namespace astis::lint
