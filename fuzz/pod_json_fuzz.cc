// libFuzzer target for the Kubernetes Pod JSON parser and gate 4 (astis::kube):
// ParsePod on arbitrary bytes, then DigestFromImageId on every imageID and
// DecidePod against an expectation derived from the pod itself (so both the
// allow and the refuse paths run). It must never crash, leak or trip
// ASan/UBSan; every outcome is a Result. It traps if a pod is allowed with an
// empty allowlist, a different UID, a different or empty ServiceAccount, or
// two containers of the same name.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "kube/pod.h"

namespace {

void CollectDigests(const std::vector<astis::kube::ContainerStatusView>& statuses,
                    astis::kube::PodExpectation& expect) {
  for (const auto& st : statuses) {
    auto digest = astis::kube::DigestFromImageId(st.image_id);
    if (digest.ok()) expect.allowed_digests.insert(*digest);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  (void)astis::kube::DigestFromImageId(input);

  auto pod = astis::kube::ParsePod(input);
  if (!pod.ok()) return 0;

  astis::kube::PodExpectation expect{pod->ns, pod->name, pod->uid, {}, pod->service_account};
  // Empty allowlist: every container must be refused.
  auto refused = astis::kube::DecidePod(*pod, expect);
  if (refused.allowed() && !pod->containers.empty()) __builtin_trap();

  CollectDigests(pod->container_statuses, expect);
  CollectDigests(pod->init_container_statuses, expect);
  CollectDigests(pod->ephemeral_container_statuses, expect);
  const bool allowed = astis::kube::EvaluatePod(*pod, expect).ok();
  if (allowed) {
    // An empty ServiceAccount never matches, and container names are unique.
    if (pod->service_account.empty()) __builtin_trap();
    std::set<std::string> names;
    for (const auto* list : {&pod->containers, &pod->init_containers, &pod->ephemeral_containers}) {
      for (const auto& c : *list) {
        if (!names.insert(c.name).second) __builtin_trap();
      }
    }
  }

  astis::kube::PodExpectation other_sa = expect;
  other_sa.service_account += "x";  // a different ServiceAccount is never the token's pod
  if (astis::kube::DecidePod(*pod, other_sa).allowed()) __builtin_trap();

  expect.uid += "x";  // a different UID is never live
  if (astis::kube::DecidePod(*pod, expect).allowed()) __builtin_trap();
  return 0;
}
