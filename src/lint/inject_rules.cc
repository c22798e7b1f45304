#include "lint/inject_rules.h"

#include "inject/admission.h"
#include "inject/annotations.h"

namespace astis::lint {

bool IsInjectLabelled(const Json* meta) {
  if (meta == nullptr || !meta->is_object()) return false;
  auto labels = meta->find("labels");
  if (labels == meta->end() || !labels->is_object()) return false;
  auto v = labels->find(inject::kInjectLabel);
  return v != labels->end() && v->is_string() && v->get<std::string>() == "true";
}

std::vector<InjectFinding> CheckInjectPod(const Json* meta, const Json& spec, const std::string& ns) {
  std::vector<InjectFinding> out;
  inject::AdmissionRequest request;
  request.uid = "lint";
  request.version = "v1";
  request.kind = "Pod";
  request.operation = "CREATE";
  request.namespace_ = ns;
  request.object = Json{{"metadata", meta != nullptr ? *meta : Json::object()}, {"spec", spec}};
  // Only the decision matters here: any valid image and URL will do, and no
  // namespace is the webhook's own.
  inject::InjectConfig config;
  config.run_image = "astis-run@sha256:0000000000000000000000000000000000000000000000000000000000000000";
  config.edge_url = "https://edge";
  config.namespace_ = "(lint)";
  const inject::Decision d = inject::Mutate(request, config);
  if (!d.allowed) {
    out.push_back({"inject-refused", true, "astis inject would refuse this pod: " + d.message,
                   "fix the pod template as the message says (annotation forms: docs/inject.md)"});
  } else if (d.outcome == inject::Outcome::kAdmitted) {
    out.push_back({"inject-nothing", false,
                   "label astis.io/inject is set but there is no astis.io/env or astis.io/files annotation: "
                   "nothing is injected",
                   "add astis.io/env: \"VAR=<secret>/<key>\" or astis.io/files: \"/dir/dir/file=<secret>/<key>\" "
                   "to the pod template's annotations"});
  }
  return out;
}

}  // namespace astis::lint
