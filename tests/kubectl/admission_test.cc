// Deployments and mutating admission webhooks on the stand-in, driven by
// the real kubectl: `kubectl apply` of a Deployment creates its pods through
// the same path as `kubectl create` of a pod, and a MutatingWebhookConfiguration
// sends each matching pod to an in-test HTTPS webhook (its own test PKI)
// whose JSONPatch, denial, failure or slowness the stand-in handles as
// kube-apiserver does. Without kubectl the tests skip loudly.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "common/json.h"
#include "child_process.h"
#include "common/testing/must.h"
#include "kube-standin/kube_standin.h"
#include "net/http_server.h"
#include "net/testing/test_pki.h"

namespace astis::kubestandin {
namespace {

using test::Must;
using Clock = std::chrono::steady_clock;

constexpr char kHook[] = "inject.astis.example";
constexpr char kInjectLabel[] = "astis.io/inject";

using testing::Proc;

// TestWebhook is an HTTPS admission webhook: it records each AdmissionReview
// request and answers with answer(path, request) (the response object; its
// uid defaults to the request's) after delay.
class TestWebhook {
 public:
  using Answer = std::function<Json(const std::string& path, const Json& request)>;

  static std::unique_ptr<TestWebhook> Start(Answer answer, const std::vector<std::string>& names = {}) {
    std::unique_ptr<TestWebhook> w(new TestWebhook(Must(net::testing::TestPki::Create(names)), std::move(answer)));
    net::ServerConfig config;
    config.tls = w->pki_.ServerTls();
    config.threads = 4;
    config.limits.max_body_bytes = 1 << 20;
    TestWebhook* self = w.get();
    w->server_ = Must(net::HttpServer::Start(config, [self](const net::ServerRequest& r) { return self->Handle(r); }));
    w->port_ = w->server_->port();
    return w;
  }
  ~TestWebhook() { Stop(); }

  void Stop() {
    if (server_ != nullptr) server_->Stop(std::chrono::milliseconds(0));
    server_.reset();
  }
  std::string Url(const std::string& path = "/mutate") const {
    return "https://127.0.0.1:" + std::to_string(port_) + path;
  }
  uint16_t port() const { return port_; }
  std::string CaBundle() const { return B64Encode(pki_.ca_cert_pem()); }
  void SetDelay(std::chrono::milliseconds d) { delay_ms_ = d.count(); }
  std::vector<Json> Requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  TestWebhook(net::testing::TestPki pki, Answer answer) : pki_(std::move(pki)), answer_(std::move(answer)) {}

  net::ServerResponse Handle(const net::ServerRequest& r) {
    Result<Json> review = ParseJsonObject(r.body, JsonLimits{1 << 20, 64});
    if (!review.ok() || !review->contains("request")) return {400, {}, "bad review", {}};
    const Json request = (*review)["request"];
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(request);
    }
    if (delay_ms_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
    Json response = answer_(r.path, request);
    if (!response.contains("uid")) response["uid"] = request["uid"];
    const Json out{{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"response", response}};
    return {200, {{"Content-Type", "application/json"}}, DumpJson(out), {}};
  }

  net::testing::TestPki pki_;
  Answer answer_;
  std::unique_ptr<net::HttpServer> server_;
  uint16_t port_ = 0;
  std::atomic<int64_t> delay_ms_{0};  // read by the server's threads
  std::mutex mu_;
  std::vector<Json> requests_;
};

std::unique_ptr<TestWebhook> StartWebhook(TestWebhook::Answer answer, const std::vector<std::string>& names = {}) {
  return TestWebhook::Start(std::move(answer), names);
}

// PatchResponse allows with a JSONPatch.
Json PatchResponse(const Json& ops) {
  return Json{{"allowed", true}, {"patchType", "JSONPatch"}, {"patch", B64Encode(DumpJson(ops))}};
}

// InjectPatch is what the tests' webhook does to a pod: an annotation and
// an environment variable on the first container.
Json InjectPatch() {
  return PatchResponse(Json::array(
      {Json{{"op", "add"}, {"path", "/metadata/annotations"}, {"value", {{"astis.io/injected", "inj3cted-value"}}}},
       Json{{"op", "add"},
            {"path", "/spec/containers/0/env"},
            {"value", Json::array({Json{{"name", "INJECTED"}, {"value", "inj3cted-value"}}})}}}));
}

// Hook is one webhook of a MutatingWebhookConfiguration.
Json Hook(const std::string& name, const Json& client_config, const std::string& failure_policy = "Fail",
          int timeout = 5) {
  return Json{
      {"name", name},
      {"clientConfig", client_config},
      {"rules",
       Json::array(
           {Json{{"operations", {"CREATE"}}, {"apiGroups", {""}}, {"apiVersions", {"v1"}}, {"resources", {"pods"}}}})},
      {"objectSelector", {{"matchLabels", {{kInjectLabel, "enabled"}}}}},
      {"failurePolicy", failure_policy},
      {"timeoutSeconds", timeout},
      {"sideEffects", "None"},
      {"admissionReviewVersions", {"v1"}}};
}

Json UrlConfig(const TestWebhook& w, const std::string& path = "/mutate") {
  return Json{{"url", w.Url(path)}, {"caBundle", w.CaBundle()}};
}

Json Configuration(const std::string& name, Json hooks) {
  return Json{{"apiVersion", "admissionregistration.k8s.io/v1"},
              {"kind", "MutatingWebhookConfiguration"},
              {"metadata", {{"name", name}}},
              {"webhooks", std::move(hooks)}};
}

Json Deployment(const std::string& name, int replicas, bool inject) {
  Json labels{{"app", name}};
  if (inject) labels[kInjectLabel] = "enabled";
  return Json{
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", name}}},
      {"spec",
       {{"replicas", replicas},
        {"selector", {{"matchLabels", {{"app", name}}}}},
        {"template",
         {{"metadata", {{"labels", labels}}},
          {"spec",
           {{"containers",
             Json::array({Json{{"name", "app"},
                               {"image", "registry.example/app:1"},
                               {"env", Json::array({Json{{"name", "DB_HOST"}, {"value", "s3cr3t-in-env"}}})}}})}}}}}}}};
}

Json Pod(const std::string& name, bool inject) {
  Json labels{{"app", name}};
  if (inject) labels[kInjectLabel] = "enabled";
  return Json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"labels", labels}}},
              {"spec", {{"containers", Json::array({Json{{"name", "app"}, {"image", "registry.example/app:1"}}})}}}};
}

bool Injected(const Json& pod) {
  return pod.contains("metadata") && pod["metadata"].contains("annotations") &&
         pod["metadata"]["annotations"].value("astis.io/injected", "") == "inj3cted-value";
}

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kubectl_ = ASTIS_KUBECTL;
    if (kubectl_.empty() || !std::filesystem::exists(kubectl_)) {
      GTEST_SKIP() << "\n*** kubectl NOT FOUND: the admission tests of the stand-in did not run ***\n";
    }
    dir_ = Must(net::testing::MakeTempDir());
    StandinOptions o;
    o.controller_interval = std::chrono::milliseconds(200);
    o.log = [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.emplace_back(line);
    };
    s_ = Must(KubeStandin::Start(std::move(o)));
    ASSERT_TRUE(s_->WriteKubeconfig(dir_ + "/admin.kubeconfig", s_->AdminToken().RevealString()).ok());
  }
  void TearDown() override {
    s_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // Kubectl runs kubectl with args (no shell) under a 20 s limit.
  Proc Kubectl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"--kubeconfig", dir_ + "/admin.kubeconfig", "--cache-dir", dir_ + "/cache"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunChild(kubectl_, argv, dir_);
  }

  // Apply writes obj to a file and runs `kubectl apply` (or create) on it.
  Proc Apply(const Json& obj, const std::string& verb = "apply", const std::string& ns = "") {
    static int n = 0;
    const std::string path = dir_ + "/obj" + std::to_string(++n) + ".json";
    std::ofstream(path) << DumpJson(obj);
    std::vector<std::string> args = {verb, "--validate=false", "-f", path};
    if (!ns.empty()) args.insert(args.end(), {"-n", ns});
    return Kubectl(args);
  }

  // PodsOf lists the pods whose name starts with prefix.
  std::vector<Json> PodsOf(const std::string& prefix, const std::string& ns = "default") {
    std::vector<Json> out;
    for (Json& p : s_->Pods(ns)) {
      if (p["metadata"]["name"].get<std::string>().rfind(prefix, 0) == 0) out.push_back(std::move(p));
    }
    return out;
  }

  // WaitForPods polls (the controller runs on its own thread) until prefix
  // has n pods, for up to 5 s.
  std::vector<Json> WaitForPods(const std::string& prefix, size_t n) {
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    std::vector<Json> pods = PodsOf(prefix);
    while (pods.size() != n && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      pods = PodsOf(prefix);
    }
    return pods;
  }

  std::vector<std::string> Log() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return log_;
  }

  std::string kubectl_, dir_;
  std::unique_ptr<KubeStandin> s_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

// IsReplicaSetPodName: <deploy>-<10 chars>-<5 chars> in the alphabet
// Kubernetes draws generated names from (rand.SafeEncodeString: no vowels, no
// 0/1/3, so no words and no look-alikes).
bool IsReplicaSetPodName(std::string_view name, std::string_view deploy) {
  constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  auto run = [&](std::string_view s) { return s.find_first_not_of(kAlphabet) == std::string_view::npos; };
  if (name.size() != deploy.size() + 1 + 10 + 1 + 5 || name.substr(0, deploy.size()) != deploy) return false;
  std::string_view rest = name.substr(deploy.size());
  return rest[0] == '-' && rest[11] == '-' && run(rest.substr(1, 10)) && run(rest.substr(12, 5));
}

TEST(AdmissionNamesTest, ReplicaSetPodNameShape) {
  EXPECT_TRUE(IsReplicaSetPodName("web-5d8f7b9c4x-x7k2p", "web"));
  EXPECT_FALSE(IsReplicaSetPodName("web-5d8f7b9c4a-x7k2p", "web"));  // a vowel
  EXPECT_FALSE(IsReplicaSetPodName("web-5d8f7b9c4x-x7k2", "web"));   // short
  EXPECT_FALSE(IsReplicaSetPodName("api-5d8f7b9c4x-x7k2p", "web"));
  EXPECT_FALSE(IsReplicaSetPodName("web_5d8f7b9c4x-x7k2p", "web"));
}

TEST_F(AdmissionTest, KubectlApplyDeploymentCreatesPods) {
  Proc r = Apply(Deployment("web", 2, false));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("deployment.apps/web created"), std::string::npos) << r.out;
  std::vector<Json> pods = WaitForPods("web-", 2);
  ASSERT_EQ(pods.size(), 2u);
  for (const Json& p : pods) {
    const std::string n = p["metadata"]["name"];
    EXPECT_TRUE(IsReplicaSetPodName(n, "web")) << n;
    EXPECT_EQ(p["metadata"]["labels"]["app"], "web");
    const std::string hash = p["metadata"]["labels"]["pod-template-hash"];
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["name"], "web-" + hash);
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["controller"], true);
    EXPECT_EQ(p["status"]["phase"], "Running");
  }
  // A second apply patches the Deployment (strategic merge): one more pod.
  r = Apply(Deployment("web", 3, false));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("deployment.apps/web configured"), std::string::npos) << r.out;
  EXPECT_EQ(WaitForPods("web-", 3).size(), 3u);
  r = Kubectl({"rollout", "status", "deployment/web", "--timeout=5s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("successfully rolled out"), std::string::npos) << r.out;
  r = Kubectl({"get", "pods", "-l", "app=web", "-o", "name"});
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3) << r.out;
  // A deleted pod is replaced; deleting the Deployment deletes its pods.
  r = Kubectl({"delete", "pod", pods[0]["metadata"]["name"]});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(WaitForPods("web-", 3).size(), 3u);
  r = Kubectl({"delete", "deployment", "web"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(PodsOf("web-").empty());
}

TEST_F(AdmissionTest, DeploymentValidation) {
  Json mismatch = Deployment("bad", 1, false);
  mismatch["spec"]["selector"]["matchLabels"]["app"] = "other";
  Proc r = Apply(mismatch, "create");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("`selector` does not match template `labels`"), std::string::npos) << r.err;
  Json too_many = Deployment("bad", 101, false);
  r = Apply(too_many, "create");
  EXPECT_NE(r.err.find("spec.replicas"), std::string::npos) << r.err;
  Json no_containers = Deployment("bad", 1, false);
  no_containers["spec"]["template"]["spec"]["containers"] = Json::array();
  r = Apply(no_containers, "create");
  EXPECT_NE(r.err.find("spec.template.spec.containers: Required value"), std::string::npos) << r.err;
  Json no_selector = Deployment("bad", 1, false);
  no_selector["spec"].erase("selector");
  r = Apply(no_selector, "create");
  EXPECT_NE(r.err.find("spec.selector: Required value"), std::string::npos) << r.err;
  EXPECT_TRUE(PodsOf("bad").empty());
}

TEST_F(AdmissionTest, WebhookMutatesOnlySelectedPods) {
  auto hook = StartWebhook([](const std::string&, const Json&) { return InjectPatch(); });
  Proc r = Apply(Configuration("astis-inject", Json::array({Hook(kHook, UrlConfig(*hook))})));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mutatingwebhookconfiguration.admissionregistration.k8s.io/astis-inject created"),
            std::string::npos)
      << r.out;
  ASSERT_EQ(Apply(Deployment("inj", 2, true)).exit_code, 0);
  ASSERT_EQ(Apply(Deployment("plain", 1, false)).exit_code, 0);
  std::vector<Json> injected = WaitForPods("inj-", 2);
  std::vector<Json> plain = WaitForPods("plain-", 1);
  ASSERT_EQ(injected.size(), 2u);
  ASSERT_EQ(plain.size(), 1u);
  for (const Json& p : injected) {
    EXPECT_TRUE(Injected(p)) << DumpJson(p["metadata"]);
    EXPECT_EQ(p["spec"]["containers"][0]["env"][0]["name"], "INJECTED");
  }
  EXPECT_FALSE(Injected(plain[0]));
  EXPECT_EQ(plain[0]["spec"]["containers"][0]["env"][0]["name"], "DB_HOST");

  // The AdmissionReview as kube-apiserver sends it for a ReplicaSet's pod:
  // no name yet (generateName), the controller's identity, the object.
  std::vector<Json> reqs = hook->Requests();
  ASSERT_EQ(reqs.size(), 2u);  // only the selected pods
  const Json& q = reqs[0];
  EXPECT_EQ(q["uid"].get<std::string>().size(), 36u);
  EXPECT_NE(reqs[0]["uid"], reqs[1]["uid"]);
  EXPECT_EQ(q["kind"], (Json{{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}));
  EXPECT_EQ(q["resource"], (Json{{"group", ""}, {"version", "v1"}, {"resource", "pods"}}));
  EXPECT_EQ(q["namespace"], "default");
  EXPECT_EQ(q["operation"], "CREATE");
  EXPECT_FALSE(q.contains("name"));
  EXPECT_EQ(q["dryRun"], false);
  EXPECT_EQ(q["userInfo"]["username"], "system:serviceaccount:kube-system:replicaset-controller");
  EXPECT_EQ(q["object"]["kind"], "Pod");
  EXPECT_TRUE(q["object"]["metadata"]["generateName"].get<std::string>().rfind("inj-", 0) == 0);
  EXPECT_EQ(q["object"]["metadata"]["labels"][kInjectLabel], "enabled");

  // Pods created directly by kubectl go through the same admission.
  ASSERT_EQ(Apply(Pod("direct", true), "create").exit_code, 0);
  EXPECT_TRUE(Injected(Must(s_->GetPod("default", "direct"))));
  reqs = hook->Requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[2]["name"], "direct");
  EXPECT_EQ(reqs[2]["userInfo"]["username"], "astis-standin:admin");
  // kubectl sees the mutated pod.
  r = Kubectl({"get", "pod", "direct", "-o", "jsonpath={.metadata.annotations.astis\\.io/injected}"});
  EXPECT_EQ(r.out, "inj3cted-value") << r.err;

  const std::vector<AdmissionRecord> calls = s_->AdmissionCalls();
  ASSERT_EQ(calls.size(), 3u);
  for (const AdmissionRecord& c : calls) {
    EXPECT_EQ(c.configuration, "astis-inject");
    EXPECT_EQ(c.webhook, kHook);
    EXPECT_EQ(c.outcome, "patched");
  }
  // The API log names requests and admission outcomes, never object bodies.
  bool admit_logged = false;
  for (const std::string& line : Log()) {
    EXPECT_EQ(line.find("s3cr3t-in-env"), std::string::npos) << line;
    EXPECT_EQ(line.find("inj3cted-value"), std::string::npos) << line;
    if (line.rfind("ADMIT inject.astis.example CREATE pods default/direct patched", 0) == 0) admit_logged = true;
  }
  EXPECT_TRUE(admit_logged);
}

TEST_F(AdmissionTest, DownWebhookFailBlocksMatchingPods) {
  auto hook = StartWebhook([](const std::string&, const Json&) { return InjectPatch(); });
  const Json config = UrlConfig(*hook);
  hook->Stop();  // nothing listens on its port any more
  ASSERT_EQ(Apply(Configuration("astis-inject", Json::array({Hook(kHook, config, "Fail")}))).exit_code, 0);
  Proc r = Apply(Pod("blocked", true), "create");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Internal error occurred: failed calling webhook \"inject.astis.example\": failed to call "
                       "webhook: Post \"" +
                       config["url"].get<std::string>() + "?timeout=5s\""),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(s_->GetPod("default", "blocked").ok());
  // Pods the objectSelector leaves out are admitted while the webhook is down.
  r = Apply(Pod("unlabelled", false), "create");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(Injected(Must(s_->GetPod("default", "unlabelled"))));
  // A Deployment's selected pods are not created; the refusal shows as a
  // ReplicaFailure condition and is retried.
  ASSERT_EQ(Apply(Deployment("inj", 1, true)).exit_code, 0);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  std::string failure;
  while (failure.empty() && Clock::now() < deadline) {
    r = Kubectl(
        {"get", "deployment", "inj", "-o", "jsonpath={.status.conditions[?(@.type==\"ReplicaFailure\")].message}"});
    failure = r.out;
  }
  EXPECT_NE(failure.find("failed calling webhook \"inject.astis.example\""), std::string::npos) << failure;
  EXPECT_TRUE(PodsOf("inj-").empty());
  const std::vector<AdmissionRecord> calls = s_->AdmissionCalls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[0].outcome, "error");
}

TEST_F(AdmissionTest, DownWebhookIgnoreAdmitsUnmutated) {
  auto hook = StartWebhook([](const std::string&, const Json&) { return InjectPatch(); });
  const Json config = UrlConfig(*hook);
  hook->Stop();
  ASSERT_EQ(Apply(Configuration("astis-inject", Json::array({Hook(kHook, config, "Ignore")}))).exit_code, 0);
  Proc r = Apply(Pod("open", true), "create");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(Injected(Must(s_->GetPod("default", "open"))));
  ASSERT_EQ(Apply(Deployment("inj", 1, true)).exit_code, 0);
  std::vector<Json> pods = WaitForPods("inj-", 1);
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_FALSE(Injected(pods[0]));
  const std::vector<AdmissionRecord> calls = s_->AdmissionCalls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].outcome, "ignored");
  EXPECT_NE(calls[0].detail.find("failed calling webhook"), std::string::npos);
}

TEST_F(AdmissionTest, WebhookTimeoutHonoursFailurePolicy) {
  auto hook = StartWebhook([](const std::string&, const Json&) { return InjectPatch(); });
  hook->SetDelay(std::chrono::milliseconds(2500));
  Json fail = Hook(kHook, UrlConfig(*hook), "Fail", 1);
  Json ignore = Hook("ignore.astis.example", UrlConfig(*hook), "Ignore", 1);
  ignore["objectSelector"] = {{"matchLabels", {{"policy", "ignore"}}}};
  fail["objectSelector"] = {{"matchLabels", {{"policy", "fail"}}}};
  ASSERT_EQ(Apply(Configuration("slow", Json::array({fail, ignore}))).exit_code, 0);
  Json pod = Pod("slow-fail", false);
  pod["metadata"]["labels"]["policy"] = "fail";
  auto start = Clock::now();
  Proc r = Apply(pod, "create");
  // timeoutSeconds 1 bounds the call (the webhook answers after 2.5 s).
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2400));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("failed calling webhook \"inject.astis.example\""), std::string::npos) << r.err;
  EXPECT_FALSE(s_->GetPod("default", "slow-fail").ok());
  pod = Pod("slow-ignore", false);
  pod["metadata"]["labels"]["policy"] = "ignore";
  start = Clock::now();
  r = Apply(pod, "create");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2400));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(Injected(Must(s_->GetPod("default", "slow-ignore"))));
  EXPECT_EQ(hook->Requests().size(), 2u);
}

TEST_F(AdmissionTest, DenyMessageReachesKubectl) {
  auto hook = StartWebhook([](const std::string&, const Json&) {
    return Json{{"allowed", false},
                {"status", {{"code", 403}, {"reason", "Forbidden"}, {"message", "pods must carry an ASTIS workload"}}}};
  });
  ASSERT_EQ(Apply(Configuration("deny", Json::array({Hook("deny.astis.example", UrlConfig(*hook))}))).exit_code, 0);
  Proc r = Apply(Pod("denied", true), "create");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Error from server (Forbidden)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("admission webhook \"deny.astis.example\" denied the request: pods must carry an ASTIS "
                       "workload"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(s_->GetPod("default", "denied").ok());
  const std::vector<AdmissionRecord> calls = s_->AdmissionCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].outcome, "denied");
}

TEST_F(AdmissionTest, UidMismatchIsACallFailure) {
  auto hook = StartWebhook([](const std::string&, const Json&) {
    Json r = InjectPatch();
    r["uid"] = "00000000-0000-4000-8000-000000000000";
    return r;
  });
  ASSERT_EQ(Apply(Configuration("c", Json::array({Hook(kHook, UrlConfig(*hook))}))).exit_code, 0);
  Proc r = Apply(Pod("p", true), "create");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("received invalid webhook response: expected response.uid="), std::string::npos) << r.err;
  EXPECT_FALSE(s_->GetPod("default", "p").ok());
}

TEST_F(AdmissionTest, FailingTestOpRejectsEvenUnderIgnore) {
  auto hook = StartWebhook([](const std::string&, const Json&) {
    return PatchResponse(Json::array({Json{{"op", "test"}, {"path", "/metadata/labels/app"}, {"value", "other"}},
                                      Json{{"op", "add"}, {"path", "/metadata/labels/x"}, {"value", "1"}}}));
  });
  ASSERT_EQ(Apply(Configuration("c", Json::array({Hook(kHook, UrlConfig(*hook), "Ignore")}))).exit_code, 0);
  Proc r = Apply(Pod("p", true), "create");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Internal error occurred: json patch operation 0 (path \"/metadata/labels/app\"): test failed"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(s_->GetPod("default", "p").ok());
}

TEST_F(AdmissionTest, IfNeededWebhookIsReinvokedOnce) {
  // a.astis.example (configuration "a-first", IfNeeded) labels the pod;
  // b.astis.example ("b-second") labels it only when asked to. A change by
  // b makes the stand-in call a once more; no change, no second call.
  auto hook = StartWebhook([](const std::string& path, const Json& req) {
    const Json& labels = req["object"]["metadata"]["labels"];
    if (path == "/a")
      return PatchResponse(Json::array({Json{{"op", "add"}, {"path", "/metadata/labels/a"}, {"value", "1"}}}));
    if (!labels.contains("mutate-b")) return Json{{"allowed", true}};
    return PatchResponse(Json::array({Json{{"op", "add"}, {"path", "/metadata/labels/b"}, {"value", "1"}}}));
  });
  Json a = Hook("a.astis.example", UrlConfig(*hook, "/a"));
  a["reinvocationPolicy"] = "IfNeeded";
  ASSERT_EQ(Apply(Configuration("b-second", Json::array({Hook("b.astis.example", UrlConfig(*hook, "/b"))}))).exit_code,
            0);
  ASSERT_EQ(Apply(Configuration("a-first", Json::array({a}))).exit_code, 0);
  Json pod = Pod("twice", true);
  pod["metadata"]["labels"]["mutate-b"] = "yes";
  ASSERT_EQ(Apply(pod, "create").exit_code, 0);
  std::vector<AdmissionRecord> calls = s_->AdmissionCalls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].webhook, "a.astis.example");
  EXPECT_EQ(calls[1].webhook, "b.astis.example");
  EXPECT_EQ(calls[2].webhook, "a.astis.example");
  EXPECT_FALSE(calls[0].reinvocation);
  EXPECT_TRUE(calls[2].reinvocation);
  const Json stored = Must(s_->GetPod("default", "twice"));
  EXPECT_EQ(stored["metadata"]["labels"]["a"], "1");
  EXPECT_EQ(stored["metadata"]["labels"]["b"], "1");
  // The reinvocation saw b's change.
  EXPECT_EQ(hook->Requests()[2]["object"]["metadata"]["labels"]["b"], "1");

  ASSERT_EQ(Apply(Pod("once", true), "create").exit_code, 0);
  EXPECT_EQ(s_->AdmissionCalls().size(), 5u);  // a, b: b changed nothing
}

TEST_F(AdmissionTest, ServiceReferenceIsResolvedAndVerified) {
  // kube-apiserver verifies a service webhook's certificate for
  // <name>.<namespace>.svc; the stand-in resolves the Service to the test's
  // address (SetServiceEndpoint).
  auto hook = StartWebhook([](const std::string&, const Json&) { return InjectPatch(); }, {"inject.astis-system.svc"});
  auto svc = [&](const std::string& name) {
    return Json{{"service", {{"namespace", "astis-system"}, {"name", name}, {"path", "/mutate"}, {"port", 8443}}},
                {"caBundle", hook->CaBundle()}};
  };
  s_->SetServiceEndpoint("astis-system", "inject", 8443, "127.0.0.1:" + std::to_string(hook->port()));
  s_->SetServiceEndpoint("astis-system", "impostor", 8443, "127.0.0.1:" + std::to_string(hook->port()));
  Json good = Hook(kHook, svc("inject"));
  Json wrong_name = Hook("impostor.astis.example", svc("impostor"));
  wrong_name["objectSelector"] = {{"matchLabels", {{"hook", "impostor"}}}};
  Json no_endpoint = Hook("missing.astis.example", svc("missing"));
  no_endpoint["objectSelector"] = {{"matchLabels", {{"hook", "missing"}}}};
  ASSERT_EQ(Apply(Configuration("svc", Json::array({good, wrong_name, no_endpoint}))).exit_code, 0);
  ASSERT_EQ(Apply(Pod("via-service", true), "create").exit_code, 0);
  EXPECT_TRUE(Injected(Must(s_->GetPod("default", "via-service"))));
  EXPECT_EQ(hook->Requests().size(), 1u);

  Json pod = Pod("impostor", false);
  pod["metadata"]["labels"]["hook"] = "impostor";
  Proc r = Apply(pod, "create");
  EXPECT_NE(r.exit_code, 0);  // the certificate is not for impostor.astis-system.svc
  EXPECT_NE(r.err.find("failed calling webhook \"impostor.astis.example\""), std::string::npos) << r.err;
  EXPECT_EQ(hook->Requests().size(), 1u);
  pod = Pod("missing", false);
  pod["metadata"]["labels"]["hook"] = "missing";
  r = Apply(pod, "create");
  EXPECT_NE(r.err.find("service \"astis-system/missing\" has no endpoint"), std::string::npos) << r.err;
}

TEST_F(AdmissionTest, NamespaceSelectorChoosesNamespaces) {
  auto hook = StartWebhook([](const std::string&, const Json&) { return InjectPatch(); });
  Json h = Hook(kHook, UrlConfig(*hook));
  h["objectSelector"] = Json::object();
  h["namespaceSelector"] = {
      {"matchExpressions",
       Json::array({Json{{"key", "kubernetes.io/metadata.name"}, {"operator", "In"}, {"values", {"team-a"}}}})}};
  ASSERT_EQ(Apply(Configuration("ns", Json::array({h}))).exit_code, 0);
  // (kubectl create namespace would send protobuf, which the stand-in does not read.)
  Proc r = Apply(Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team-a"}}}}, "create");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Apply(Pod("in-default", false), "create").exit_code, 0);
  ASSERT_EQ(Apply(Pod("in-team-a", false), "create", "team-a").exit_code, 0);
  EXPECT_FALSE(Injected(Must(s_->GetPod("default", "in-default"))));
  EXPECT_TRUE(Injected(Must(s_->GetPod("team-a", "in-team-a"))));
  ASSERT_EQ(hook->Requests().size(), 1u);
  EXPECT_EQ(hook->Requests()[0]["namespace"], "team-a");
}

TEST_F(AdmissionTest, ServerDryRunAdmitsWithoutStoring) {
  auto hook = StartWebhook([](const std::string&, const Json&) { return InjectPatch(); });
  ASSERT_EQ(Apply(Configuration("c", Json::array({Hook(kHook, UrlConfig(*hook))}))).exit_code, 0);
  static int n = 0;
  const std::string path = dir_ + "/dry" + std::to_string(++n) + ".json";
  std::ofstream(path) << DumpJson(Pod("dry", true));
  Proc r = Kubectl({"create", "--validate=false", "--dry-run=server", "-o", "json", "-f", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The answer is the pod as it would be stored, mutated; nothing is stored.
  Result<Json> shown = ParseJson(r.out, JsonLimits{1 << 20, 64});
  ASSERT_TRUE(shown.ok()) << r.out;
  EXPECT_TRUE(Injected(*shown));
  EXPECT_FALSE(s_->GetPod("default", "dry").ok());
  ASSERT_EQ(hook->Requests().size(), 1u);
  EXPECT_EQ(hook->Requests()[0]["dryRun"], true);
  const std::string dpath = dir_ + "/dry-deployment.json";
  std::ofstream(dpath) << DumpJson(Deployment("drydep", 1, false));
  r = Kubectl({"apply", "--validate=false", "--dry-run=server", "-f", dpath});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(server dry run)"), std::string::npos) << r.out;
  r = Kubectl({"get", "deployment", "drydep"});
  EXPECT_NE(r.exit_code, 0);
}

TEST_F(AdmissionTest, WebhookConfigurationIsValidatedOnApply) {
  auto hook = StartWebhook([](const std::string&, const Json&) { return InjectPatch(); });
  Proc r = Apply(Configuration("bad", Json::array({Hook(kHook, UrlConfig(*hook), "Fail", 31)})));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("timeoutSeconds: Invalid value"), std::string::npos) << r.err;
  r = Kubectl({"get", "mutatingwebhookconfigurations", "-o", "name"});
  EXPECT_EQ(r.out, "") << r.out;
  // A good one can be listed and deleted.
  ASSERT_EQ(Apply(Configuration("good", Json::array({Hook(kHook, UrlConfig(*hook))}))).exit_code, 0);
  r = Kubectl({"get", "mutatingwebhookconfigurations", "-o", "name"});
  EXPECT_EQ(r.out, "mutatingwebhookconfiguration.admissionregistration.k8s.io/good\n") << r.err;
  r = Kubectl({"delete", "mutatingwebhookconfiguration", "good"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Apply(Pod("after", true), "create").exit_code, 0);
  EXPECT_TRUE(hook->Requests().empty());
}

}  // namespace
}  // namespace astis::kubestandin
