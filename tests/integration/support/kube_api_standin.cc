#include "kube_api_standin.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace astis::integration {
namespace {

std::string TestdataDir() {
  const char* env = std::getenv("ASTIS_TESTDATA_DIR");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(ASTIS_TESTDATA_DIR);
}

// RewriteDigest replaces the hex after the last "sha256:" in image_id.
Result<std::string> RewriteDigest(const std::string& image_id, const std::string& digest) {
  const size_t at = image_id.rfind("sha256:");
  if (at == std::string::npos) return Error(Code::kInvalidArgument, "imageID without a sha256 digest");
  return image_id.substr(0, at) + digest;
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
  kubestandin::StandinOptions options;
  options.read_token = std::move(read_token);
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<kubestandin::KubeStandin> impl,
                         kubestandin::KubeStandin::Start(std::move(options)));
  return std::unique_ptr<KubeApiStandin>(new KubeApiStandin(std::move(impl)));
}

}  // namespace astis::integration
