// `astis lint` rules for pods that `astis inject` wires at admission
// (docs/inject.md, docs/lint.md "Injected pods"). Kept apart from lint.cc.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"

namespace astis::lint {

// IsInjectLabelled reports whether a pod's metadata carries the label
// astis.io/inject: "true" (the webhook's objectSelector). Cannot fail.
bool IsInjectLabelled(const Json* pod_metadata);

// InjectFinding is one problem the webhook would refuse the pod for.
struct InjectFinding {
  std::string rule;  // "inject-refused" (error) or "inject-nothing" (warning)
  bool error = true;
  std::string message;
  std::string fix;
};

// CheckInjectPod runs the webhook's own decision (inject::Mutate) on the
// pod template (metadata + spec) in namespace ns and reports a refusal with
// the webhook's message, or a labelled pod with no astis.io/env or
// astis.io/files annotation. Tests: LintTest.FlagsMalformedInjectAnnotations,
// LintTest.AcceptsInjectLabelledPodWithoutTokenVolume.
std::vector<InjectFinding> CheckInjectPod(const Json* pod_metadata, const Json& pod_spec, const std::string& ns);

}  // namespace astis::lint
