#include "inject/admission.h"

#include <gtest/gtest.h>

#include "common/encoding.h"

namespace astis::inject {
namespace {

constexpr const char* kRunImage =
    "registry.example.com/astis/astis-run@sha256:4444444444444444444444444444444444444444444444444444444444444444";

InjectConfig Config() {
  InjectConfig c;
  c.run_image = kRunImage;
  c.edge_url = "https://edge.example.com";
  c.namespace_ = "astis";
  return c;
}

Json Pod() {
  return Json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"generateName": "api-", "labels": {"astis.io/inject": "true", "app": "api"},
                 "annotations": {"astis.io/env": "DB_PASSWORD=db-creds/password",
                                 "astis.io/files": "/etc/app/key.pem=tls-keys/key"}},
    "spec": {"serviceAccountName": "api", "securityContext": {"fsGroup": 65532},
             "containers": [{"name": "app", "image": "registry.example.com/app@sha256:33",
                             "command": ["/app/server"], "args": ["--port", "8080"]}]}})");
}

AdmissionRequest Request(Json pod, std::string ns = "payments") {
  AdmissionRequest r;
  r.uid = "705ab4f5-6393-11e8-b7cc-42010a800002";
  r.version = "v1";
  r.kind = "Pod";
  r.operation = "CREATE";
  r.namespace_ = std::move(ns);
  r.object = std::move(pod);
  return r;
}

// Applied applies a decision's patch to the pod (nlohmann's RFC 6902
// implementation, which resolves RFC 6901 escapes).
Json Applied(const Json& pod, const Decision& d) { return pod.patch(d.patch); }

const Json* Find(const Json& array, std::string_view name) {
  for (const Json& item : array) {
    if (item.value("name", "") == name) return &item;
  }
  return nullptr;
}

TEST(InjectMutateTest, MutatesSingleContainerPod) {
  const Json pod = Pod();
  const Decision d = Mutate(Request(pod), Config());
  ASSERT_EQ(d.outcome, Outcome::kMutated) << d.message;
  ASSERT_TRUE(d.allowed);
  const Json out = Applied(pod, d);
  EXPECT_EQ(out["metadata"]["annotations"]["astis.io/injected"], "true");
  const Json& c = out["spec"]["containers"][0];
  EXPECT_EQ(c["command"], Json::parse(R"(["/astis/bin/astis-run", "--env", "DB_PASSWORD=db-creds_password",
      "--file", "/etc/app/key.pem=tls-keys_key", "--", "/app/server"])"));
  EXPECT_EQ(c["args"], Json::parse(R"(["--port", "8080"])"));  // Kubernetes runs command + args
  EXPECT_EQ((*Find(c["env"], "ASTIS_EDGE_URL"))["value"], "https://edge.example.com");
  EXPECT_EQ((*Find(c["env"], "ASTIS_API_KEY_FILE"))["value"], "/etc/astis/api-key/api-key");
  EXPECT_EQ((*Find(c["env"], "ASTIS_TOKEN_PATH"))["value"], "/var/run/secrets/astis/token");
  EXPECT_EQ((*Find(c["env"], "ASTIS_SECRETS_DIR"))["value"], "/etc/astis/secrets");
  EXPECT_EQ(Find(c["env"], "DB_PASSWORD"), nullptr);  // never a value in the spec
  ASSERT_EQ(out["spec"]["initContainers"].size(), 1u);
  const Json& init = out["spec"]["initContainers"][0];
  EXPECT_EQ(init["name"], "astis-install");
  EXPECT_EQ(init["image"], kRunImage);
  EXPECT_EQ(init["command"], Json::parse(R"(["/usr/bin/astis-run", "--install-to", "/astis/bin"])"));
  const Json& vols = out["spec"]["volumes"];
  EXPECT_EQ((*Find(vols, "astis-bin"))["emptyDir"]["medium"], "Memory");
  const Json& tok = (*Find(vols, "astis-token"))["projected"]["sources"][0]["serviceAccountToken"];
  EXPECT_EQ(tok["audience"], "astis");
  EXPECT_EQ(tok["expirationSeconds"], 600);
  EXPECT_EQ((*Find(vols, "astis-api-key"))["secret"]["secretName"], "api-astis-key");
  const Json& sources = (*Find(vols, "astis-sealed"))["projected"]["sources"];
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0]["secret"]["name"], "db-creds");
  EXPECT_EQ(sources[0]["secret"]["items"][0], Json::parse(R"({"key":"password","path":"db-creds_password"})"));
  EXPECT_EQ(sources[1]["secret"]["items"][0]["path"], "tls-keys_key");
  EXPECT_EQ((*Find(vols, "astis-files-1"))["emptyDir"]["medium"], "Memory");
  bool files_mount = false;
  for (const Json& m : c["volumeMounts"]) {
    if (m["mountPath"] == "/etc/app") files_mount = m["name"] == "astis-files-1";
  }
  EXPECT_TRUE(files_mount);
  EXPECT_TRUE(d.warnings.empty());
}

TEST(InjectMutateTest, AppendsToExistingArraysAndWiresChosenContainer) {
  Json pod = Pod();
  pod["metadata"]["annotations"]["astis.io/container"] = "app";
  pod["metadata"]["annotations"].erase("astis.io/files");
  pod["spec"]["containers"].insert(pod["spec"]["containers"].begin(),
                                   Json{{"name", "proxy"}, {"image", "proxy@sha256:1"}});
  pod["spec"]["containers"][1]["env"] = Json::parse(R"([{"name":"LOG","value":"1"}])");
  pod["spec"]["volumes"] = Json::parse(R"([{"name":"data","emptyDir":{}}])");
  pod["spec"]["initContainers"] = Json::parse(R"([{"name":"migrate","image":"m@sha256:2"}])");
  const Decision d = Mutate(Request(pod), Config());
  ASSERT_EQ(d.outcome, Outcome::kMutated) << d.message;
  const Json out = Applied(pod, d);
  EXPECT_FALSE(out["spec"]["containers"][0].contains("volumeMounts"));  // proxy untouched
  EXPECT_EQ(out["spec"]["containers"][1]["env"][0]["name"], "LOG");
  EXPECT_EQ(out["spec"]["containers"][1]["env"].size(), 5u);
  EXPECT_EQ(out["spec"]["volumes"][0]["name"], "data");
  EXPECT_EQ(out["spec"]["initContainers"][0]["name"], "astis-install");  // first
  EXPECT_EQ(out["spec"]["initContainers"][1]["name"], "migrate");
}

TEST(InjectMutateTest, ReinvocationIsIdempotent) {
  const Json pod = Pod();
  const Decision first = Mutate(Request(pod), Config());
  ASSERT_EQ(first.outcome, Outcome::kMutated);
  const Json once = Applied(pod, first);
  const Decision again = Mutate(Request(once), Config());
  EXPECT_EQ(again.outcome, Outcome::kAdmitted);
  EXPECT_TRUE(again.allowed);
  EXPECT_TRUE(again.patch.is_null());
  // The init container alone (annotation stripped by someone) also counts.
  Json stripped = once;
  stripped["metadata"]["annotations"].erase("astis.io/injected");
  EXPECT_EQ(Mutate(Request(stripped), Config()).outcome, Outcome::kAdmitted);
}

TEST(InjectMutateTest, AdmitsPodsThatDidNotOptIn) {
  Json pod = Pod();
  pod["metadata"]["labels"].erase("astis.io/inject");
  EXPECT_EQ(Mutate(Request(pod), Config()).outcome, Outcome::kAdmitted);
  pod["metadata"]["labels"]["astis.io/inject"] = "false";
  EXPECT_EQ(Mutate(Request(pod), Config()).outcome, Outcome::kAdmitted);
  Json bare = Pod();
  bare["metadata"].erase("annotations");
  const Decision d = Mutate(Request(bare), Config());
  EXPECT_EQ(d.outcome, Outcome::kAdmitted);
  EXPECT_EQ(d.warnings.size(), 1u);
}

TEST(InjectMutateTest, AdmitsOtherKindsAndOperations) {
  AdmissionRequest r = Request(Pod());
  r.operation = "UPDATE";
  EXPECT_EQ(Mutate(r, Config()).outcome, Outcome::kAdmitted);
  r = Request(Pod());
  r.kind = "Deployment";
  r.group = "apps";
  EXPECT_EQ(Mutate(r, Config()).outcome, Outcome::kAdmitted);
  r = Request(Pod());
  r.sub_resource = "ephemeralcontainers";
  EXPECT_EQ(Mutate(r, Config()).outcome, Outcome::kAdmitted);
}

TEST(InjectMutateTest, NeverPatchesItsOwnNamespace) {
  const Decision d = Mutate(Request(Pod(), "astis"), Config());
  EXPECT_EQ(d.outcome, Outcome::kAdmitted);
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.patch.is_null());
  ASSERT_EQ(d.warnings.size(), 1u);
}

TEST(InjectMutateTest, RefusesContainerWithoutCommand) {
  Json pod = Pod();
  pod["spec"]["containers"][0].erase("command");
  const Decision d = Mutate(Request(pod), Config());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, 403);
  EXPECT_NE(d.message.find("the image's entrypoint is unknown to the webhook: set `command`"), std::string::npos);
}

TEST(InjectMutateTest, RefusesMalformedAnnotation) {
  Json pod = Pod();
  pod["metadata"]["annotations"]["astis.io/env"] = "DB_PASSWORD=s3cr3t-literal";
  const Decision d = Mutate(Request(pod), Config());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, 400);
  EXPECT_EQ(d.message.find("s3cr3t"), std::string::npos);
  pod["metadata"]["annotations"]["astis.io/env"] = "BAD-NAME=db/key";
  EXPECT_EQ(Mutate(Request(pod), Config()).code, 400);
  pod["metadata"]["annotations"]["astis.io/env"] = "A=db/key";
  pod["metadata"]["annotations"]["astis.io/files"] = "/etc/app/../x/k=db/key";
  EXPECT_EQ(Mutate(Request(pod), Config()).code, 400);
}

TEST(InjectMutateTest, RefusesSecretNameNotDns1123) {
  Json pod = Pod();
  pod["metadata"]["annotations"]["astis.io/env"] = "A=DB_Creds/password";
  const Decision d = Mutate(Request(pod), Config());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, 400);
  EXPECT_NE(d.message.find("DNS-1123"), std::string::npos);
}

TEST(InjectMutateTest, RefusesEnvAlreadyInSpec) {
  Json pod = Pod();
  pod["spec"]["containers"][0]["env"] = Json::parse(R"([{"name":"DB_PASSWORD","value":"x"}])");
  Decision d = Mutate(Request(pod), Config());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, 403);
  EXPECT_NE(d.message.find("plaintext"), std::string::npos);
  pod["spec"]["containers"][0]["env"] = Json::parse(R"([{"name":"ASTIS_EDGE_URL","value":"https://x"}])");
  d = Mutate(Request(pod), Config());
  EXPECT_EQ(d.code, 403);
}

TEST(InjectMutateTest, RefusesSeveralContainersWithoutChoice) {
  Json pod = Pod();
  pod["spec"]["containers"].push_back(Json{{"name", "proxy"}, {"image", "p@sha256:1"}, {"command", {"/p"}}});
  const Decision d = Mutate(Request(pod), Config());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, 400);
  EXPECT_NE(d.message.find("astis.io/container"), std::string::npos);
}

TEST(InjectMutateTest, RefusesUnknownContainer) {
  Json pod = Pod();
  pod["metadata"]["annotations"]["astis.io/container"] = "web";
  const Decision d = Mutate(Request(pod), Config());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, 400);
  EXPECT_NE(d.message.find("not a container of this pod"), std::string::npos);
}

TEST(InjectMutateTest, RefusesReservedNamesAndMountConflicts) {
  Json pod = Pod();
  pod["spec"]["volumes"] = Json::parse(R"([{"name":"astis-token","emptyDir":{}}])");
  EXPECT_EQ(Mutate(Request(pod), Config()).code, 403);
  pod = Pod();
  pod["spec"]["containers"][0]["volumeMounts"] = Json::parse(R"([{"name":"cfg","mountPath":"/etc/app/"}])");
  EXPECT_EQ(Mutate(Request(pod), Config()).code, 403);
  pod = Pod();
  pod["metadata"]["annotations"]["astis.io/files"] = "/etc/astis/secrets/k=s/k";
  EXPECT_EQ(Mutate(Request(pod), Config()).code, 400);
}

TEST(InjectMutateTest, RefusesUnexpandableVarReference) {
  Json pod = Pod();
  pod["spec"]["containers"][0]["args"] = Json::array({"--password=$(DB_PASSWORD)"});
  const Decision d = Mutate(Request(pod), Config());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.code, 403);
}

TEST(InjectMutateTest, RefusesMistypedPodFields) {
  Json pod = Pod();
  pod["spec"]["containers"][0]["command"] = "/app/server";
  EXPECT_EQ(Mutate(Request(pod), Config()).code, 400);
  pod = Pod();
  pod["spec"]["containers"] = Json::object();
  EXPECT_EQ(Mutate(Request(pod), Config()).code, 400);
  pod = Pod();
  pod["spec"]["containers"][0]["env"] = Json::parse(R"([{"value":"x"}])");
  EXPECT_EQ(Mutate(Request(pod), Config()).code, 400);
}

TEST(InjectMutateTest, WarnsWithoutFsGroupAndMountsEdgeCa) {
  Json pod = Pod();
  pod["spec"].erase("securityContext");
  InjectConfig c = Config();
  c.edge_ca_configmap = "astis-edge-ca";
  const Decision d = Mutate(Request(pod), c);
  ASSERT_EQ(d.outcome, Outcome::kMutated);
  EXPECT_EQ(d.warnings.size(), 1u);
  const Json out = Applied(pod, d);
  EXPECT_EQ((*Find(out["spec"]["containers"][0]["env"], "ASTIS_CA_FILE"))["value"], "/etc/astis/edge-ca/ca.crt");
  EXPECT_EQ((*Find(out["spec"]["volumes"], "astis-edge-ca"))["configMap"]["name"], "astis-edge-ca");
}

// RFC 6901 §3: "~" is "~0" and "/" is "~1"; §4: "~01" must decode to "~1".
TEST(InjectAdmissionTest, EscapesJsonPointerTokens) {
  EXPECT_EQ(EscapeJsonPointerToken("astis.io/injected"), "astis.io~1injected");
  EXPECT_EQ(EscapeJsonPointerToken("a~b"), "a~0b");
  EXPECT_EQ(EscapeJsonPointerToken("~1"), "~01");
  EXPECT_EQ(EscapeJsonPointerToken("/~"), "~1~0");
  EXPECT_EQ(EscapeJsonPointerToken("plain"), "plain");
  // Round trip through a JSON Pointer evaluator.
  const Json doc = {{"a/b", 1}, {"~1", 2}, {"m~n", 3}};
  EXPECT_EQ(doc.at(Json::json_pointer("/" + EscapeJsonPointerToken("a/b"))), 1);
  EXPECT_EQ(doc.at(Json::json_pointer("/" + EscapeJsonPointerToken("~1"))), 2);
  EXPECT_EQ(doc.at(Json::json_pointer("/" + EscapeJsonPointerToken("m~n"))), 3);
}

TEST(InjectAdmissionTest, VerifiesAWellFormedReview) {
  const Json review = {{"apiVersion", "admission.k8s.io/v1"},
                       {"kind", "AdmissionReview"},
                       {"request",
                        {{"uid", "u-1"},
                         {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                         {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
                         {"namespace", "payments"},
                         {"operation", "CREATE"},
                         {"userInfo", {{"username", "x"}}},
                         {"object", Pod()},
                         {"oldObject", nullptr},
                         {"dryRun", false}}}};
  auto parsed = ParseAdmissionReview(DumpJson(review));
  ASSERT_TRUE(parsed.ok());
  auto r = VerifyAdmissionReview(*parsed);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->uid, "u-1");
  EXPECT_EQ(r->namespace_, "payments");
  EXPECT_EQ(r->kind, "Pod");
  EXPECT_EQ(Mutate(*r, Config()).outcome, Outcome::kMutated);
}

TEST(InjectAdmissionTest, RefusesMalformedReviews) {
  const Json good = {{"apiVersion", "admission.k8s.io/v1"},
                     {"kind", "AdmissionReview"},
                     {"request",
                      {{"uid", "u-1"},
                       {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                       {"operation", "CREATE"},
                       {"object", Pod()}}}};
  auto verify = [](const Json& j) {
    auto p = ParseAdmissionReview(DumpJson(j));
    return p.ok() ? VerifyAdmissionReview(*p).status() : p.status();
  };
  ASSERT_TRUE(verify(good).ok());
  Json j = good;
  j["apiVersion"] = "admission.k8s.io/v1beta1";
  EXPECT_FALSE(verify(j).ok());
  j = good;
  j["kind"] = "Pod";
  EXPECT_FALSE(verify(j).ok());
  j = good;
  j.erase("request");
  EXPECT_FALSE(verify(j).ok());
  j = good;
  j["request"]["uid"] = 5;
  EXPECT_FALSE(verify(j).ok());
  j = good;
  j["request"]["uid"] = "has space";
  EXPECT_FALSE(verify(j).ok());
  j = good;
  j["request"]["uid"] = std::string(129, 'u');
  EXPECT_FALSE(verify(j).ok());
  j = good;
  j["request"]["operation"] = "PATCH";
  EXPECT_FALSE(verify(j).ok());
  j = good;
  j["request"]["object"] = "pod";
  EXPECT_FALSE(verify(j).ok());
  j = good;
  j["request"]["kind"] = "Pod";
  EXPECT_FALSE(verify(j).ok());
  j = good;
  j["request"]["namespace"] = 1;
  EXPECT_FALSE(verify(j).ok());
  EXPECT_FALSE(ParseAdmissionReview("[]").ok());
  EXPECT_FALSE(ParseAdmissionReview("{\"a\":1,\"a\":2}").ok());
  EXPECT_EQ(ParseAdmissionReview(std::string(kMaxReviewBytes + 1, ' ')).status().code(), Code::kTooLarge);
}

TEST(InjectAdmissionTest, ResponseEchoesUidAndCarriesBase64Patch) {
  const Decision d = Mutate(Request(Pod()), Config());
  const Json resp = Json::parse(AdmissionResponseJson("u-42", d));
  EXPECT_EQ(resp["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(resp["kind"], "AdmissionReview");
  EXPECT_EQ(resp["response"]["uid"], "u-42");
  EXPECT_EQ(resp["response"]["allowed"], true);
  EXPECT_EQ(resp["response"]["patchType"], "JSONPatch");
  auto raw = B64Decode(resp["response"]["patch"].get<std::string>());
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(Json::parse(std::string(raw->begin(), raw->end())), d.patch);

  Json pod = Pod();
  pod["spec"]["containers"][0].erase("command");
  const Json refused = Json::parse(AdmissionResponseJson("u-43", Mutate(Request(pod), Config())));
  EXPECT_EQ(refused["response"]["uid"], "u-43");
  EXPECT_EQ(refused["response"]["allowed"], false);
  EXPECT_EQ(refused["response"]["status"]["code"], 403);
  EXPECT_FALSE(refused["response"].contains("patch"));

  const Json admitted = Json::parse(AdmissionResponseJson("u-44", Decision{}));
  EXPECT_EQ(admitted["response"]["allowed"], true);
  EXPECT_FALSE(admitted["response"].contains("patch"));
  EXPECT_FALSE(admitted["response"].contains("patchType"));
}

}  // namespace
}  // namespace astis::inject
