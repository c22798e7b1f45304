// The pod view and gate 4 of docs/protocol.md §6: "live pod + approved images".
//
// ParsePod reads the Pod JSON returned by GET /api/v1/namespaces/{ns}/pods/{name}
// into a PodView (only the fields gate 4 needs). DecidePod / EvaluatePod apply
// the gate, failing closed: anything not positively shown to be the expected,
// running, undeleted pod whose every container runs an allowlisted sha256
// digest is refused. See docs/kube.md.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace astis::kube {

// ContainerSpecView is one entry of spec.containers, spec.initContainers or
// spec.ephemeralContainers.
struct ContainerSpecView {
  std::string name;
  std::string image;  // as written in the spec (a tag or a digest reference)
};

// ContainerStatusView is one entry of status.containerStatuses,
// status.initContainerStatuses or status.ephemeralContainerStatuses.
struct ContainerStatusView {
  std::string name;
  std::string image;
  std::string image_id;  // runtime-resolved image ID; "" before the container starts
  // restart_count is restartCount: how many times the kubelet has replaced
  // this container in this pod (0 when absent). It only grows over a pod's
  // life (docs/edge.md "Restarted containers").
  int64_t restart_count = 0;
  // container_id is containerID ("<runtime>://<id>"), "" before the
  // container starts. Read for operators; not compared (see PodRestarts).
  // Default-initialised so brace initialisers naming the first three
  // members stay complete.
  std::string container_id{};
};

// PodView is the part of a Pod that gate 4 reads. It is plain data exactly as
// the API server sent it: it proves nothing until DecidePod accepts it.
struct PodView {
  std::string name;
  std::string ns;  // metadata.namespace
  std::string uid;
  std::string resource_version;
  std::optional<std::string> deletion_timestamp;  // set once deletion began
  std::string phase;                              // "" when status is absent
  // service_account is spec.serviceAccountName, or the deprecated
  // spec.serviceAccount when serviceAccountName is absent or "" (as
  // kube-apiserver reads them); "" when neither names one.
  std::string service_account;
  std::vector<ContainerSpecView> containers;
  std::vector<ContainerSpecView> init_containers;
  std::vector<ContainerSpecView> ephemeral_containers;
  std::vector<ContainerStatusView> container_statuses;
  std::vector<ContainerStatusView> init_container_statuses;
  std::vector<ContainerStatusView> ephemeral_container_statuses;
};

// kMaxPodJsonBytes bounds the Pod JSON ParsePod accepts (4 MiB).
inline constexpr size_t kMaxPodJsonBytes = 4 * 1024 * 1024;

// ParsePod parses one Pod object strictly (common/json.h: no duplicate keys,
// at most kMaxPodJsonBytes bytes and 64 levels). It requires
// metadata.{name,namespace,uid} and spec.containers; "kind"/"apiVersion", when
// present, must be "Pod"/"v1"; a field gate 4 reads with the wrong JSON type
// (including a null deletionTimestamp, or a spec.serviceAccountName or
// spec.serviceAccount that is not a string, or a restartCount that is not
// an integer in [0, 2^31-1], Kubernetes' int32) is an error. Unknown fields
// are ignored. Errors are kInvalidArgument naming the field, never echoing input.
Result<PodView> ParsePod(std::string_view json);

// PodRestarts is the pod's restart fingerprint: the sum of restartCount
// over status.containerStatuses and status.initContainerStatuses (app,
// init and sidecar containers; ephemeral containers are never restarted).
// The kubelet raises a container's restartCount each time it starts a new
// container in its place, so the sum only grows over one pod's life, and an
// older read never shows a larger one. The edge releases a pin when a fresh
// read shows a larger sum than the one recorded at enrollment
// (docs/edge.md "Restarted containers"; test PodRestartsSumsAppAndInit).
int64_t PodRestarts(const PodView& pod);

// DigestFromImageId extracts the image digest from a container status's
// imageID and returns it as "sha256:<64 lower-case hex>". Accepted forms:
//   docker-pullable://<repo>@sha256:<hex>   (dockershim)
//   docker://sha256:<hex>                   (dockershim, no repo digest)
//   <repo>@sha256:<hex>                     (containerd, CRI-O)
//   sha256:<hex>                            (containerd, CRI-O)
// Everything else is kInvalidArgument: "" (container not started), a tag
// without a digest, another scheme (containerd:// is a container ID, not an
// image ID), another algorithm (sha512:), a digest of the wrong length, or
// upper-case hex (the OCI image spec allows only [a-f0-9]{64} for sha256, so
// it is refused rather than normalised).
Result<std::string> DigestFromImageId(std::string_view image_id);

// PodExpectation is what the verified token says the pod is, plus the
// workload's image allowlist (each entry "sha256:<64 lower-case hex>").
// service_account is the token's ServiceAccount name (its
// kubernetes.io.serviceaccount.name claim, without the
// "system:serviceaccount:<ns>:" prefix); it is last so that positional
// brace initialisers written before it existed still compile, but an empty
// one never matches (DecidePod refuses).
struct PodExpectation {
  std::string ns;
  std::string name;
  std::string uid;
  std::set<std::string> allowed_digests;
  std::string service_account;
};

// GateDecision is gate 4's verdict for the audit log: code kOk (allowed),
// kPodNotLive or kImageNotAllowed; reason is operator text (no secrets), and
// container names the offending container ("" when the pod as a whole fails).
struct GateDecision {
  Code code = Code::kOk;
  std::string reason;
  std::string container;

  // allowed is true exactly when code is kOk.
  bool allowed() const { return code == Code::kOk; }
  // ToStatus returns OkStatus() when allowed, otherwise Status(code, reason).
  Status ToStatus() const;
};

// DecidePod applies gate 4 (docs/protocol.md §6.4) to pod, failing closed:
// kPodNotLive if namespace, name or UID differ from expect, the pod's
// ServiceAccount differs from expect.service_account (or either is empty),
// deletionTimestamp is set, or phase is not "Running"; kImageNotAllowed if
// the pod lists no containers, two containers share a name (across
// spec.containers, spec.initContainers and spec.ephemeralContainers
// together), or any container lacks exactly one status of the same name in
// the matching status list, or that status's imageID has no sha256 digest
// (DigestFromImageId) or a digest not in expect.allowed_digests. The first
// failure found is returned.
GateDecision DecidePod(const PodView& pod, const PodExpectation& expect);

// EvaluatePod is DecidePod(pod, expect).ToStatus().
Status EvaluatePod(const PodView& pod, const PodExpectation& expect);

}  // namespace astis::kube
