// libFuzzer target for `astis inject` (astis::inject): ParseAdmissionReview
// and VerifyAdmissionReview on arbitrary bytes, then Mutate and the
// AdmissionReview response. It must never crash, leak or trip ASan/UBSan.
// It traps if a response does not parse or does not echo the uid, if a
// mutation's patch does not apply to the pod (RFC 6902), if the patched pod
// is patched again (reinvocation must be a no-op), or if the patched pod
// holds an env entry for a variable injected through astis.io/env in the
// wired container, or not exactly one container runs astis-run.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/encoding.h"
#include "inject/admission.h"
#include "inject/annotations.h"

namespace {

astis::inject::InjectConfig Config() {
  astis::inject::InjectConfig c;
  c.run_image = "r/astis-run@sha256:4444444444444444444444444444444444444444444444444444444444444444";
  c.edge_url = "https://edge.example.com";
  c.namespace_ = "astis";
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using astis::Json;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = astis::inject::ParseAdmissionReview(input);
  if (!parsed.ok()) return 0;
  auto request = astis::inject::VerifyAdmissionReview(*parsed);
  if (!request.ok()) return 0;
  static const astis::inject::InjectConfig config = Config();
  const astis::inject::Decision d = astis::inject::Mutate(*request, config);
  const std::string text = astis::inject::AdmissionResponseJson(request->uid, d);
  auto response = astis::ParseJsonObject(text, {1 << 24, 64});
  if (!response.ok() || (*response)["response"]["uid"] != request->uid) __builtin_trap();
  if (d.outcome != astis::inject::Outcome::kMutated) return 0;
  Json pod;
  try {
    pod = request->object.patch(d.patch);
  } catch (const std::exception&) {
    __builtin_trap();  // the patch must apply to the pod it was made for
  }
  astis::inject::AdmissionRequest again = *request;
  again.object = pod;
  if (astis::inject::Mutate(again, config).outcome == astis::inject::Outcome::kMutated) __builtin_trap();
  auto want = astis::inject::ParseInjectAnnotations(request->object["metadata"]["annotations"], "");
  if (!want.ok()) __builtin_trap();  // Mutate only patches after these parsed
  // The wired container: the one whose command the patch replaced.
  const Json* target = nullptr;
  for (const Json& op : d.patch) {
    const std::string path = op.value("path", "");
    constexpr std::string_view kPrefix = "/spec/containers/";
    if (op.value("op", "") != "replace" || path.rfind(kPrefix, 0) != 0) continue;
    if (target != nullptr) __builtin_trap();  // one container is rewired
    constexpr size_t kSuffix = std::string_view("/command").size();
    const std::string index = path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix);
    target = &pod.at(Json::json_pointer("/spec/containers/" + index));
  }
  if (target == nullptr) __builtin_trap();
  const Json& command = target->at("command");
  if (!command.is_array() || command.empty() || command[0] != "/astis/bin/astis-run") __builtin_trap();
  for (const Json& e : target->at("env")) {
    for (const auto& b : want->env) {
      if (e.at("name") == b.var) __builtin_trap();
    }
  }
  return 0;
}