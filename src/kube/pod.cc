#include "kube/pod.h"

#include <set>
#include <string>
#include <utility>

#include "common/json.h"

namespace astis::kube {
namespace {

constexpr size_t kMaxPodJsonDepth = 64;
// kMaxShown bounds how much of an API-supplied string an error message quotes.
constexpr size_t kMaxShown = 200;

// Shown renders an API-supplied value for an operator message: printable
// ASCII only (other bytes become '?'), truncated, so a hostile or broken
// runtime cannot forge audit-log lines.
std::string Shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxShown)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  if (s.size() > kMaxShown) out += "...";
  return out;
}

Result<std::string> OptionalString(const Json& obj, std::string_view key, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::string();
  if (!it->is_string()) {
    return Error(Code::kInvalidArgument, std::string(where) + "." + std::string(key) + " is not a string");
  }
  return it->get<std::string>();
}

Result<std::string> RequiredString(const Json& obj, std::string_view key, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    return Error(Code::kInvalidArgument,
                 std::string(where) + "." + std::string(key) + " is missing or not a string");
  }
  return it->get<std::string>();
}

// OptionalRestartCount reads a status's restartCount: absent is 0; anything
// but an integer in [0, 2^31-1] (Kubernetes' int32; null, a string, a
// fraction, a negative number) is an error, as for the other fields gate 4
// reads (tests RejectsBadRestartCount, ParsesRestartCountAndContainerId).
Result<int64_t> OptionalRestartCount(const Json& obj, std::string_view where) {
  auto it = obj.find("restartCount");
  if (it == obj.end()) return int64_t{0};
  constexpr int64_t kMaxInt32 = 2147483647;
  if (it->is_number_unsigned() && it->get<uint64_t>() <= static_cast<uint64_t>(kMaxInt32)) {
    return static_cast<int64_t>(it->get<uint64_t>());
  }
  if (it->is_number_integer() && !it->is_number_unsigned() && it->get<int64_t>() >= 0 &&
      it->get<int64_t>() <= kMaxInt32) {
    return it->get<int64_t>();
  }
  return Error(Code::kInvalidArgument, std::string(where) + ".restartCount is not an integer in [0, 2^31-1]");
}

// ArrayOfObjects returns the array at key (nullptr when absent or null; the
// API server omits empty lists) and refuses any other type.
Result<const Json*> OptionalArray(const Json& obj, std::string_view key, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return static_cast<const Json*>(nullptr);
  if (!it->is_array()) {
    return Error(Code::kInvalidArgument, std::string(where) + "." + std::string(key) + " is not an array");
  }
  return &*it;
}

Result<std::vector<ContainerSpecView>> ParseSpecList(const Json& spec, std::string_view key) {
  std::vector<ContainerSpecView> out;
  const std::string where = "spec." + std::string(key);
  ASTIS_ASSIGN_OR_RETURN(const Json* arr, OptionalArray(spec, key, "spec"));
  if (arr == nullptr) return out;
  for (const Json& c : *arr) {
    if (!c.is_object()) return Error(Code::kInvalidArgument, where + " has a non-object entry");
    ContainerSpecView v;
    ASTIS_ASSIGN_OR_RETURN(v.name, RequiredString(c, "name", where));
    ASTIS_ASSIGN_OR_RETURN(v.image, OptionalString(c, "image", where));
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<ContainerStatusView>> ParseStatusList(const Json& status, std::string_view key) {
  std::vector<ContainerStatusView> out;
  const std::string where = "status." + std::string(key);
  ASTIS_ASSIGN_OR_RETURN(const Json* arr, OptionalArray(status, key, "status"));
  if (arr == nullptr) return out;
  for (const Json& c : *arr) {
    if (!c.is_object()) return Error(Code::kInvalidArgument, where + " has a non-object entry");
    ContainerStatusView v;
    ASTIS_ASSIGN_OR_RETURN(v.name, RequiredString(c, "name", where));
    ASTIS_ASSIGN_OR_RETURN(v.image, OptionalString(c, "image", where));
    ASTIS_ASSIGN_OR_RETURN(v.image_id, OptionalString(c, "imageID", where));
    ASTIS_ASSIGN_OR_RETURN(v.restart_count, OptionalRestartCount(c, where));
    ASTIS_ASSIGN_OR_RETURN(v.container_id, OptionalString(c, "containerID", where));
    out.push_back(std::move(v));
  }
  return out;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// CheckContainers checks one spec list against its status list.
GateDecision CheckContainers(std::string_view kind, const std::vector<ContainerSpecView>& specs,
                             const std::vector<ContainerStatusView>& statuses, const PodExpectation& expect) {
  for (const ContainerSpecView& spec : specs) {
    const ContainerStatusView* found = nullptr;
    int matches = 0;
    for (const ContainerStatusView& st : statuses) {
      if (st.name == spec.name) {
        found = &st;
        ++matches;
      }
    }
    const std::string label = std::string(kind) + " container \"" + Shown(spec.name) + "\"";
    if (matches == 0) {
      return {Code::kImageNotAllowed, label + " has no status, so its image cannot be verified", spec.name};
    }
    if (matches > 1) {
      return {Code::kImageNotAllowed, label + " has more than one status (ambiguous)", spec.name};
    }
    Result<std::string> digest = DigestFromImageId(found->image_id);
    if (!digest.ok()) {
      return {Code::kImageNotAllowed,
              label + " has no usable sha256 digest in imageID \"" + Shown(found->image_id) +
                  "\": " + digest.status().message(),
              spec.name};
    }
    if (expect.allowed_digests.count(*digest) == 0) {
      return {Code::kImageNotAllowed, label + " runs image digest " + *digest + " which is not on the allowlist",
              spec.name};
    }
  }
  return {};
}

}  // namespace

Result<PodView> ParsePod(std::string_view json) {
  ASTIS_ASSIGN_OR_RETURN(Json doc, ParseJsonObject(json, JsonLimits{kMaxPodJsonBytes, kMaxPodJsonDepth}));
  PodView pod;
  ASTIS_ASSIGN_OR_RETURN(std::string kind, OptionalString(doc, "kind", "pod"));
  if (!kind.empty() && kind != "Pod") return Error(Code::kInvalidArgument, "pod: kind is not \"Pod\"");
  ASTIS_ASSIGN_OR_RETURN(std::string api_version, OptionalString(doc, "apiVersion", "pod"));
  if (!api_version.empty() && api_version != "v1") {
    return Error(Code::kInvalidArgument, "pod: apiVersion is not \"v1\"");
  }

  ASTIS_ASSIGN_OR_RETURN(const Json* metadata, GetObject(doc, "metadata"));
  ASTIS_ASSIGN_OR_RETURN(pod.name, RequiredString(*metadata, "name", "metadata"));
  ASTIS_ASSIGN_OR_RETURN(pod.ns, RequiredString(*metadata, "namespace", "metadata"));
  ASTIS_ASSIGN_OR_RETURN(pod.uid, RequiredString(*metadata, "uid", "metadata"));
  if (pod.uid.empty()) return Error(Code::kInvalidArgument, "metadata.uid is empty");
  ASTIS_ASSIGN_OR_RETURN(pod.resource_version, OptionalString(*metadata, "resourceVersion", "metadata"));
  // Fail closed: a deletionTimestamp of any form other than absent counts;
  // one that is not a string (even null) makes the pod unparsable.
  if (auto it = metadata->find("deletionTimestamp"); it != metadata->end()) {
    if (!it->is_string()) return Error(Code::kInvalidArgument, "metadata.deletionTimestamp is not a string");
    pod.deletion_timestamp = it->get<std::string>();
  }

  ASTIS_ASSIGN_OR_RETURN(const Json* spec, GetObject(doc, "spec"));
  // The deprecated spec.serviceAccount is an alias used only when
  // serviceAccountName is empty; "if both are specified, ServiceAccountName
  // (the new field) wins" (kubernetes pkg/apis/core/v1/conversion.go,
  // Convert_v1_PodSpec_To_core_PodSpec). Both must be strings when present
  // (tests ParsesServiceAccountName, RejectsNonStringServiceAccountName).
  ASTIS_ASSIGN_OR_RETURN(pod.service_account, OptionalString(*spec, "serviceAccountName", "spec"));
  ASTIS_ASSIGN_OR_RETURN(std::string deprecated_sa, OptionalString(*spec, "serviceAccount", "spec"));
  if (pod.service_account.empty()) pod.service_account = std::move(deprecated_sa);
  ASTIS_RETURN_IF_ERROR(GetArray(*spec, "containers"));  // required; entries parsed below
  ASTIS_ASSIGN_OR_RETURN(pod.containers, ParseSpecList(*spec, "containers"));
  ASTIS_ASSIGN_OR_RETURN(pod.init_containers, ParseSpecList(*spec, "initContainers"));
  ASTIS_ASSIGN_OR_RETURN(pod.ephemeral_containers, ParseSpecList(*spec, "ephemeralContainers"));

  // status may be absent on a just-created pod: phase stays "".
  if (auto it = doc.find("status"); it != doc.end()) {
    if (!it->is_object()) return Error(Code::kInvalidArgument, "status is not an object");
    ASTIS_ASSIGN_OR_RETURN(pod.phase, OptionalString(*it, "phase", "status"));
    ASTIS_ASSIGN_OR_RETURN(pod.container_statuses, ParseStatusList(*it, "containerStatuses"));
    ASTIS_ASSIGN_OR_RETURN(pod.init_container_statuses, ParseStatusList(*it, "initContainerStatuses"));
    ASTIS_ASSIGN_OR_RETURN(pod.ephemeral_container_statuses, ParseStatusList(*it, "ephemeralContainerStatuses"));
  }
  return pod;
}

int64_t PodRestarts(const PodView& pod) {
  // Each count is at most 2^31-1 (ParsePod) and a 4 MiB pod holds far fewer
  // than 2^32 statuses, so the sum cannot overflow.
  int64_t sum = 0;
  for (const auto* list : {&pod.container_statuses, &pod.init_container_statuses}) {
    for (const ContainerStatusView& st : *list) sum += st.restart_count;
  }
  return sum;
}

Result<std::string> DigestFromImageId(std::string_view image_id) {
  if (image_id.empty()) {
    return Error(Code::kInvalidArgument, "imageID is empty (container not started or runtime gave none)");
  }
  std::string_view rest = image_id;
  if (size_t scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
    std::string_view scheme = rest.substr(0, scheme_end);
    if (scheme != "docker-pullable" && scheme != "docker") {
      return Error(Code::kInvalidArgument, "imageID has an unsupported scheme");
    }
    rest.remove_prefix(scheme_end + 3);
  }
  for (char c : rest) {
    if (c <= 0x20 || c >= 0x7f) return Error(Code::kInvalidArgument, "imageID holds a space or control byte");
  }
  std::string_view digest = rest;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    if (at == 0) return Error(Code::kInvalidArgument, "imageID has an empty repository before '@'");
    digest = rest.substr(at + 1);
    if (digest.find('@') != std::string_view::npos) {
      return Error(Code::kInvalidArgument, "imageID has more than one '@'");
    }
  }
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.substr(0, kPrefix.size()) != kPrefix) {
    return Error(Code::kInvalidArgument, "imageID carries no sha256 digest (a tag is not a digest)");
  }
  std::string_view hex = digest.substr(kPrefix.size());
  // OCI image-spec descriptor.md, "sha256": the encoded portion MUST match
  // /[a-f0-9]{64}/. Tests: RejectsShortDigest, RejectsUppercaseHex.
  if (hex.size() != 64) return Error(Code::kInvalidArgument, "sha256 digest is not 64 hex digits");
  if (!IsLowerHex(hex)) return Error(Code::kInvalidArgument, "sha256 digest is not lower-case hex");
  return std::string(digest);
}

Status GateDecision::ToStatus() const {
  if (allowed()) return OkStatus();
  return Status(code, reason);
}

GateDecision DecidePod(const PodView& pod, const PodExpectation& expect) {
  // docs/protocol.md §6.4: same pod (namespace, name, UID). Test: RefusesUidMismatch.
  if (pod.ns != expect.ns || pod.name != expect.name) {
    return {Code::kPodNotLive, "the API returned a different pod than the one requested", ""};
  }
  if (pod.uid != expect.uid) {
    return {Code::kPodNotLive,
            "pod " + Shown(pod.ns) + "/" + Shown(pod.name) + " has UID " + Shown(pod.uid) +
                ", not the token's UID " + Shown(expect.uid) + " (pod replaced)",
            ""};
  }
  // docs/protocol.md §6 gate 4: spec.serviceAccountName equals the token's
  // ServiceAccount, and an empty one on either side never matches (tests
  // RefusesServiceAccountMismatch, RefusesMissingServiceAccountName).
  if (expect.service_account.empty()) {
    return {Code::kPodNotLive, "the token names no ServiceAccount to compare the pod's with", ""};
  }
  if (pod.service_account.empty()) {
    return {Code::kPodNotLive,
            "pod spec names no ServiceAccount, not the token's " + Shown(expect.service_account), ""};
  }
  if (pod.service_account != expect.service_account) {
    return {Code::kPodNotLive,
            "pod runs as ServiceAccount " + Shown(pod.service_account) + ", not the token's " +
                Shown(expect.service_account),
            ""};
  }
  // docs/protocol.md §6.4: no deletionTimestamp. Test: RefusesDeletionTimestamp.
  if (pod.deletion_timestamp.has_value()) {
    return {Code::kPodNotLive, "pod is terminating (deletionTimestamp " + Shown(*pod.deletion_timestamp) + ")", ""};
  }
  // docs/protocol.md §6.4: phase Running. Test: RefusesPending.
  if (pod.phase != "Running") {
    return {Code::kPodNotLive, "pod phase is \"" + Shown(pod.phase) + "\", not \"Running\"", ""};
  }
  if (pod.containers.empty()) {
    return {Code::kImageNotAllowed, "pod spec lists no containers", ""};
  }
  // docs/protocol.md §6 gate 4: container names are unique across the three spec
  // lists together, as Kubernetes validation requires; a duplicate is a
  // forged or broken pod and would make the name-based status match
  // ambiguous (test RefusesDuplicateContainerNames).
  {
    std::set<std::string_view> seen;
    for (const auto* list : {&pod.containers, &pod.init_containers, &pod.ephemeral_containers}) {
      for (const ContainerSpecView& c : *list) {
        if (!seen.insert(c.name).second) {
          return {Code::kImageNotAllowed,
                  "pod spec names container \"" + Shown(c.name) + "\" more than once (ambiguous)", c.name};
        }
      }
    }
  }
  // docs/protocol.md §6.4: every container in all three lists has an allowlisted
  // sha256 digest. Tests: RefusesUnapprovedImage, RefusesUnapprovedInitContainer,
  // RefusesUnapprovedSidecar, RefusesUnapprovedEphemeralContainer,
  // RefusesContainerWithoutStatus, RefusesTagOnlyImageId.
  GateDecision d = CheckContainers("app", pod.containers, pod.container_statuses, expect);
  if (!d.allowed()) return d;
  d = CheckContainers("init", pod.init_containers, pod.init_container_statuses, expect);
  if (!d.allowed()) return d;
  return CheckContainers("ephemeral", pod.ephemeral_containers, pod.ephemeral_container_statuses, expect);
}

Status EvaluatePod(const PodView& pod, const PodExpectation& expect) { return DecidePod(pod, expect).ToStatus(); }

}  // namespace astis::kube
