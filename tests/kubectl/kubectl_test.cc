// The real kubectl against the kube-apiserver stand-in: get, watch, create
// token, debug, delete, apply/get secret, and the read token's refusals. Each
// test starts the stand-in in-process (one test runs the astis-kube-standin
// executable), writes a kubeconfig and runs kubectl as a child process with a
// hard timeout. Without kubectl the tests skip loudly.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.h"
#include "common/json.h"
#include "child_process.h"
#include "common/testing/must.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "kube-standin/kube_standin.h"
#include "net/testing/test_pki.h"

namespace astis::kubestandin {
namespace {

constexpr char kDebugImage[] =
    "registry.example/dbg@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
constexpr char kAppImage[] =
    "registry.example/app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

using test::Must;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

using testing::Proc;

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kubectl_ = ASTIS_KUBECTL;
    if (kubectl_.empty() || !std::filesystem::exists(kubectl_)) {
      GTEST_SKIP() << "\n*** kubectl NOT FOUND: the kubectl conformance tests of the stand-in did not run ***\n";
    }
    dir_ = Must(net::testing::MakeTempDir());
  }
  void TearDown() override {
    if (s_ != nullptr) s_->Stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  void StartStandin() {
    StandinOptions o;
    o.bookmark_interval = std::chrono::milliseconds(200);
    s_ = Must(KubeStandin::Start(std::move(o)));
    ASSERT_TRUE(s_->WriteKubeconfig(dir_ + "/admin.kubeconfig", s_->AdminToken().RevealString()).ok());
    ASSERT_TRUE(s_->WriteKubeconfig(dir_ + "/read.kubeconfig", s_->ReadToken().RevealString()).ok());
  }

  // Kubectl runs kubectl with args (no shell) under a 20 s limit.
  Proc Kubectl(const std::vector<std::string>& args, const std::string& kubeconfig = "admin") {
    return Exec(kubectl_, args, dir_ + "/" + kubeconfig + ".kubeconfig");
  }

  Proc Exec(const std::string& program, const std::vector<std::string>& args, const std::string& kubeconfig) {
    std::vector<std::string> argv;
    if (!kubeconfig.empty()) argv = {"--kubeconfig", kubeconfig, "--cache-dir", dir_ + "/cache"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunChild(program, argv, dir_);
  }

  void CreateAppPod(const std::string& name) {
    WriteFile(dir_ + "/" + name + ".json",
              DumpJson(Json{{"apiVersion", "v1"},
                            {"kind", "Pod"},
                            {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
                            {"spec", {{"containers", {{{"name", "app"}, {"image", kAppImage}}}}}}}));
    Proc r = Kubectl({"create", "--validate=false", "-f", dir_ + "/" + name + ".json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::string kubectl_, dir_;
  std::unique_ptr<KubeStandin> s_;
};

TEST_F(KubectlTest, GetPodsJson) {
  ASSERT_NO_FATAL_FAILURE(StartStandin());
  ASSERT_NO_FATAL_FAILURE(CreateAppPod("web"));
  Proc r = Kubectl({"get", "pods", "-o", "json"}, "read");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json list = Must(ParseJson(r.out, JsonLimits{1 << 20, 64}));
  ASSERT_EQ(list["items"].size(), 1u);
  const Json stored = Must(s_->GetPod("default", "web"));
  EXPECT_EQ(list["items"][0], stored);  // kubectl re-adds kind/apiVersion: identical
  // The default (Table) output too.
  Proc table = Kubectl({"get", "pods"}, "read");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("web"), std::string::npos);
  EXPECT_NE(table.out.find("Running"), std::string::npos);
  EXPECT_NE(table.out.find("1/1"), std::string::npos);
  Proc all = Kubectl({"get", "pods", "-A", "-o", "name"}, "read");
  EXPECT_EQ(all.out, "pod/web\n") << all.err;
}

TEST_F(KubectlTest, WatchSeesAddedModifiedDeleted) {
  ASSERT_NO_FATAL_FAILURE(StartStandin());
  ASSERT_NO_FATAL_FAILURE(CreateAppPod("web"));
  auto watch = std::async(std::launch::async, [&] {
    return Kubectl({"get", "pods", "--watch", "--output-watch-events", "-o", "json", "--request-timeout=8s"}, "read");
  });
  ASSERT_TRUE(s_->WaitForWatchers(1, std::chrono::seconds(15)));
  ASSERT_TRUE(s_->AddEphemeralContainer("default", "web", "dbg", kDebugImage, std::string("docker-pullable://") + kDebugImage).ok());
  ASSERT_TRUE(s_->DeletePod("default", "web"));
  s_->CloseWatches();  // kubectl's watch ends when the server closes it
  Proc r = watch.get();
  std::vector<std::string> types;
  std::istringstream in(r.out);
  // kubectl prints one JSON object per event and line.
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) types.push_back(Must(ParseJson(line, JsonLimits{1 << 20, 64}))["type"]);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"})) << r.out << r.err;
}

TEST_F(KubectlTest, CreateTokenVerifiesAgainstServedJwks) {
  ASSERT_NO_FATAL_FAILURE(StartStandin());
  ASSERT_NO_FATAL_FAILURE(CreateAppPod("web"));
  Proc r = Kubectl({"create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name", "web",
                   "--audience", "astis", "--duration", "15m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string token = r.out;
  while (!token.empty() && token.back() == '\n') token.pop_back();
  Proc jwks = Kubectl({"get", "--raw", "/openid/v1/jwks"});
  ASSERT_EQ(jwks.exit_code, 0) << jwks.err;
  jose::JwkSet set = Must(jose::JwkSet::Parse(jwks.out));
  jose::VerifiedJws v = Must(jose::VerifyJwsWithJwkSet(Must(jose::UnverifiedJws::Parse(token)), set));
  EXPECT_EQ(SignatureAlgName(v.alg()), "RS256");
  Json c = Must(ParseJson(v.payload()));
  EXPECT_EQ(c["aud"], Json::array({"astis"}));
  EXPECT_EQ(c["iss"], s_->issuer());
  EXPECT_EQ(c["sub"], "system:serviceaccount:default:default");
  EXPECT_EQ(c["exp"].get<int64_t>() - c["iat"].get<int64_t>(), 900);
  EXPECT_EQ(c["kubernetes.io"]["pod"]["name"], "web");
  EXPECT_EQ(c["kubernetes.io"]["pod"]["uid"], Must(s_->GetPod("default", "web"))["metadata"]["uid"]);
  // Bound to a pod that does not exist: the server's 404 reaches the user.
  Proc missing = Kubectl({"create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name", "nope"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("not found"), std::string::npos) << missing.err;
}

TEST_F(KubectlTest, DebugAddsEphemeralContainer) {
  ASSERT_NO_FATAL_FAILURE(StartStandin());
  ASSERT_NO_FATAL_FAILURE(CreateAppPod("web"));
  Proc r = Kubectl({"debug", "pod/web", "--image", kDebugImage, "--target", "app", "--profile", "general"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json pod = Must(s_->GetPod("default", "web"));
  ASSERT_EQ(pod["spec"]["ephemeralContainers"].size(), 1u);
  EXPECT_EQ(pod["spec"]["ephemeralContainers"][0]["image"], kDebugImage);
  EXPECT_EQ(pod["spec"]["ephemeralContainers"][0]["targetContainerName"], "app");
  ASSERT_EQ(pod["status"]["ephemeralContainerStatuses"].size(), 1u);
  EXPECT_EQ(pod["status"]["ephemeralContainerStatuses"][0]["imageID"], std::string("docker-pullable://") + kDebugImage);
  EXPECT_TRUE(pod["status"]["ephemeralContainerStatuses"][0]["state"].contains("running"));
  Proc get = Kubectl({"get", "pod", "web", "-o", "jsonpath={.status.ephemeralContainerStatuses[0].imageID}"}, "read");
  EXPECT_EQ(get.out, std::string("docker-pullable://") + kDebugImage) << get.err;
}

TEST_F(KubectlTest, DeletePod) {
  ASSERT_NO_FATAL_FAILURE(StartStandin());
  ASSERT_NO_FATAL_FAILURE(CreateAppPod("web"));
  Proc r = Kubectl({"delete", "pod", "web"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("deleted"), std::string::npos);
  EXPECT_EQ(s_->GetPod("default", "web").status().code(), Code::kNotFound);
}

TEST_F(KubectlTest, ApplyAndGetSecret) {
  ASSERT_NO_FATAL_FAILURE(StartStandin());
  WriteFile(dir_ + "/secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sealed-db\n  namespace: default\n"
            "type: Opaque\nstringData:\n  password: astis:v1:sealed-example\n");
  Proc r = Kubectl({"apply", "--validate=false", "-f", dir_ + "/secret.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Proc get = Kubectl({"get", "secret", "sealed-db", "-o", "jsonpath={.data.password}"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, B64Encode(std::string("astis:v1:sealed-example")));
  Proc yaml = Kubectl({"get", "secret", "sealed-db", "-o", "yaml"});
  EXPECT_NE(yaml.out.find("kind: Secret"), std::string::npos) << yaml.err;
  // A second apply of a changed value patches it.
  WriteFile(dir_ + "/secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sealed-db\n  namespace: default\n"
            "type: Opaque\nstringData:\n  password: astis:v1:rotated\n");
  r = Kubectl({"apply", "--validate=false", "-f", dir_ + "/secret.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  get = Kubectl({"get", "secret", "sealed-db", "-o", "jsonpath={.data.password}"});
  EXPECT_EQ(get.out, B64Encode(std::string("astis:v1:rotated")));
}

TEST_F(KubectlTest, ReadTokenRefusals) {
  ASSERT_NO_FATAL_FAILURE(StartStandin());
  ASSERT_NO_FATAL_FAILURE(CreateAppPod("web"));
  Proc del = Kubectl({"delete", "pod", "web"}, "read");
  EXPECT_NE(del.exit_code, 0);
  EXPECT_NE(del.err.find("Forbidden"), std::string::npos) << del.err;
  Proc sec = Kubectl({"get", "secrets"}, "read");
  EXPECT_NE(sec.exit_code, 0);
  EXPECT_NE(sec.err.find("Forbidden"), std::string::npos) << sec.err;
  EXPECT_TRUE(s_->GetPod("default", "web").ok());
  EXPECT_GE(s_->forbidden(), 2);
}

TEST_F(KubectlTest, ExecutableWritesItsDirectoryAndServesKubectl) {
  const std::string state = dir_ + "/state";
  std::filesystem::create_directories(state);
  const std::string log_path = dir_ + "/standin.log";
  const pid_t pid = fork();
  if (pid == 0) {
    // Async-signal-safe calls only until exec (see Exec).
    const int e = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (e < 0 || ::dup2(e, 2) < 0) _exit(126);
    execl(ASTIS_STANDIN_BINARY, ASTIS_STANDIN_BINARY, "--dir", state.c_str(), "--issuer", "https://issuer.example",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // DIR/url is written last: once it is there, everything is.
  for (int i = 0; i < 300 && !std::filesystem::exists(state + "/url"); ++i) {
    usleep(50 * 1000);  // polling a file another process writes; not test-internal synchronisation
  }
  ASSERT_TRUE(std::filesystem::exists(state + "/url"));
  EXPECT_EQ(ReadFile(state + "/issuer"), "https://issuer.example\n");
  EXPECT_TRUE(jose::JwkSet::Parse(ReadFile(state + "/jwks.json")).ok());
  EXPECT_EQ(std::filesystem::status(state + "/admin.token").permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  Proc r = Exec(kubectl_, {"get", "namespaces", "-o", "name"}, state + "/kubeconfig");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("namespace/default"), std::string::npos);
  Proc refused = Exec(kubectl_, {"get", "secrets"}, state + "/kubeconfig-read");
  EXPECT_NE(refused.err.find("Forbidden"), std::string::npos) << refused.err;
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string log = ReadFile(dir_ + "/standin.log");
  EXPECT_NE(log.find("GET /api/v1/namespaces 200"), std::string::npos) << log;
  EXPECT_NE(log.find("GET /api/v1/namespaces/default/secrets 403"), std::string::npos) << log;
  const std::string token = ReadFile(state + "/admin.token");
  EXPECT_EQ(log.find(token.substr(0, token.size() - 1)), std::string::npos);  // never a token in the log
}

}  // namespace
}  // namespace astis::kubestandin
