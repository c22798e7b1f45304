#include "kube_api_standin.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/encoding.h"
#include "crypto/secret_bytes.h"

namespace astis::integration {
namespace {

constexpr std::string_view kPodsPrefix = "/api/v1/namespaces/";

std::string TestdataDir() {
  const char* env = std::getenv("ASTIS_TESTDATA_DIR");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(ASTIS_TESTDATA_DIR);
}

// KubeStatus is a kube-apiserver metav1.Status failure response.
net::ServerResponse KubeStatus(int code, std::string_view reason, std::string_view message,
                               const Json& details = nullptr) {
  Json s{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
         {"status", "Failure"}, {"message", message}, {"reason", reason},
         {"code", code}};
  if (!details.is_null()) s["details"] = details;
  return {code, {{"Content-Type", "application/json"}}, DumpJson(s), {}};
}

// RewriteDigest replaces the hex after the last "sha256:" in image_id.
Result<std::string> RewriteDigest(const std::string& image_id, const std::string& digest) {
  const size_t at = image_id.rfind("sha256:");
  if (at == std::string::npos) return Error(Code::kInvalidArgument, "imageID without a sha256 digest");
  return image_id.substr(0, at) + digest;
}

// SplitPodPath parses /api/v1/namespaces/{ns}/pods/{name} (no further segments).
bool SplitPodPath(std::string_view path, std::string* ns, std::string* name) {
  if (path.substr(0, kPodsPrefix.size()) != kPodsPrefix) return false;
  path.remove_prefix(kPodsPrefix.size());
  const size_t slash = path.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  *ns = std::string(path.substr(0, slash));
  path.remove_prefix(slash);
  constexpr std::string_view kPods = "/pods/";
  if (path.substr(0, kPods.size()) != kPods) return false;
  path.remove_prefix(kPods.size());
  if (path.empty() || path.find('/') != std::string_view::npos) return false;
  *name = std::string(path);
  return true;
}

}  // namespace

Result<Json> MakePod(std::string_view testdata_file, const PodIdentity& id) {
  const std::string path = TestdataDir() + "/" + std::string(testdata_file);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Code::kIo, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  ASTIS_ASSIGN_OR_RETURN(Json pod, ParseJsonObject(ss.str(), JsonLimits{1 << 20, 64}));
  if (id.digest.rfind("sha256:", 0) != 0 || id.digest.size() != 7 + 64) {
    return Error(Code::kInvalidArgument, "digest must be sha256:<64 hex>");
  }
  if (pod.value("kind", "") != "Pod" || !pod.contains("metadata") || !pod.contains("spec") || !pod.contains("status")) {
    return Error(Code::kInvalidArgument, std::string(testdata_file) + " is not a Pod with a status");
  }
  pod["metadata"]["name"] = id.name;
  pod["metadata"]["namespace"] = id.ns;
  pod["metadata"]["uid"] = id.uid;
  pod["spec"]["serviceAccountName"] = id.service_account;
  pod["spec"]["serviceAccount"] = id.service_account;
  for (const char* list : {"containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"}) {
    if (!pod["status"].contains(list)) continue;
    for (Json& st : pod["status"][list]) {
      ASTIS_ASSIGN_OR_RETURN(std::string image_id, RewriteDigest(st.value("imageID", ""), id.digest));
      st["imageID"] = image_id;
    }
  }
  return pod;
}

Result<std::unique_ptr<KubeApiStandin>> KubeApiStandin::Start(std::string read_token) {
  ASTIS_ASSIGN_OR_RETURN(net::testing::TestPki pki, net::testing::TestPki::Create());
  std::unique_ptr<KubeApiStandin> s(new KubeApiStandin(std::move(pki), std::move(read_token)));
  ASTIS_RETURN_IF_ERROR(s->Listen(0));
  return s;
}

KubeApiStandin::~KubeApiStandin() { Stop(); }

Status KubeApiStandin::Listen(uint16_t port) {
  net::ServerConfig config;
  config.bind_address = "127.0.0.1";
  config.port = port;
  config.tls = pki_.ServerTls();
  config.threads = 1;
  ASTIS_ASSIGN_OR_RETURN(server_,
                         net::HttpServer::Start(config, [this](const net::ServerRequest& r) { return Handle(r); }));
  port_ = server_->port();
  return OkStatus();
}

std::string KubeApiStandin::url() const { return "https://127.0.0.1:" + std::to_string(port_); }

void KubeApiStandin::Stop() {
  if (server_ == nullptr) return;
  server_->Stop(std::chrono::milliseconds(0));
  server_.reset();
}

Status KubeApiStandin::Restart() {
  if (server_ != nullptr) return Error(Code::kFailedPrecondition, "stand-in already running");
  return Listen(port_);
}

Status KubeApiStandin::PutPod(Json pod) {
  if (!pod.is_object() || !pod.contains("metadata") || !pod["metadata"].contains("namespace") ||
      !pod["metadata"].contains("name") || !pod["metadata"]["namespace"].is_string() ||
      !pod["metadata"]["name"].is_string()) {
    return Error(Code::kInvalidArgument, "pod without metadata.namespace/name");
  }
  std::lock_guard<std::mutex> lock(mu_);
  pod["metadata"]["resourceVersion"] = std::to_string(++resource_version_);
  auto key =
      std::make_pair(pod["metadata"]["namespace"].get<std::string>(), pod["metadata"]["name"].get<std::string>());
  pods_[std::move(key)] = std::move(pod);
  return OkStatus();
}

bool KubeApiStandin::DeletePod(std::string_view ns, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  return pods_.erase(std::make_pair(std::string(ns), std::string(name))) == 1;
}

Status KubeApiStandin::AddEphemeralContainer(std::string_view ns, std::string_view name, std::string_view container,
                                             std::string_view image, std::string_view image_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pods_.find(std::make_pair(std::string(ns), std::string(name)));
  if (it == pods_.end()) return Error(Code::kNotFound, "no such pod");
  Json& pod = it->second;
  // The shape kubectl debug produces (testdata/kubernetes/pod-derived-terminating-ephemeral.json).
  pod["spec"]["ephemeralContainers"].push_back(Json{{"name", container},
                                                    {"image", image},
                                                    {"imagePullPolicy", "IfNotPresent"},
                                                    {"stdin", true},
                                                    {"tty", true},
                                                    {"terminationMessagePath", "/dev/termination-log"},
                                                    {"terminationMessagePolicy", "File"}});
  pod["status"]["ephemeralContainerStatuses"].push_back(
      Json{{"name", container},
           {"image", image},
           {"imageID", image_id},
           {"containerID", "containerd://" + std::string(64, 'e')},
           {"ready", false},
           {"restartCount", 0},
           {"state", {{"running", {{"startedAt", "2026-11-26T12:00:00Z"}}}}}});
  pod["metadata"]["resourceVersion"] = std::to_string(++resource_version_);
  return OkStatus();
}

net::ServerResponse KubeApiStandin::Handle(const net::ServerRequest& req) {
  ++requests_;
  // Authentication first, as kube-apiserver does: a missing or wrong bearer
  // token is 401 whatever the path.
  const std::string expected = "Bearer " + read_token_;
  const std::string got = req.Header("Authorization").value_or("");
  if (req.HeaderCount("Authorization") != 1 || !ConstantTimeEquals(AsBytes(got), AsBytes(expected))) {
    ++unauthorized_;
    return KubeStatus(401, "Unauthorized", "Unauthorized");
  }
  if (req.method != "GET") {
    return KubeStatus(403, "Forbidden", "the read-only credential may only get pods");
  }
  if (req.path == "/readyz") return {200, {{"Content-Type", "text/plain"}}, "ok", {}};
  std::string ns, name;
  if (!SplitPodPath(req.path, &ns, &name))
    return KubeStatus(404, "NotFound", "the server could not find the requested resource");
  std::string body;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pods_.find(std::make_pair(ns, name));
    if (it != pods_.end()) body = DumpJson(it->second);
  }
  if (body.empty()) {
    return KubeStatus(404, "NotFound", "pods \"" + name + "\" not found", Json{{"name", name}, {"kind", "pods"}});
  }
  return {200, {{"Content-Type", "application/json"}}, std::move(body), {}};
}

}  // namespace astis::integration
