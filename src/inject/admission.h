// AdmissionReview (admission.k8s.io/v1) in and out, and the pod mutation of
// `astis inject` (docs/inject.md).
//
// The request body is untrusted: ParseAdmissionReview only parses JSON
// within limits into an UnverifiedAdmissionReview; VerifyAdmissionReview
// checks the members this webhook reads and their types and yields an
// AdmissionRequest; only that type reaches Mutate.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "inject/config.h"

namespace astis::inject {

// kMaxReviewBytes bounds a request body (a pod is far smaller; the API
// server's own object limit is about 1.5 MiB).
inline constexpr size_t kMaxReviewBytes = 2 * 1024 * 1024;
// kMaxReviewDepth bounds JSON nesting (a pod spec's affinity is ~14 deep).
inline constexpr size_t kMaxReviewDepth = 48;

// UnverifiedAdmissionReview is a parsed body nothing has been checked in.
struct UnverifiedAdmissionReview {
  Json document;
};

// ParseAdmissionReview parses body as strict JSON (common/json.h) within
// kMaxReviewBytes / kMaxReviewDepth. kTooLarge or kInvalidArgument.
Result<UnverifiedAdmissionReview> ParseAdmissionReview(std::string_view body);

// AdmissionRequest is a verified AdmissionReview request.
struct AdmissionRequest {
  std::string uid;        // echoed in the response (the API server requires it)
  std::string group;      // request.kind.group ("" for core)
  std::string version;    // request.kind.version
  std::string kind;       // request.kind.kind
  std::string sub_resource;
  std::string namespace_;
  std::string operation;  // CREATE, UPDATE, DELETE or CONNECT
  Json object;            // request.object (null when absent)
};

// VerifyAdmissionReview checks apiVersion admission.k8s.io/v1, kind
// AdmissionReview, request.uid (1..128 bytes of printable ASCII, no quotes
// or backslash), request.kind.{group,version,kind} and request.operation
// strings, optional string namespace/subResource, and an object (or absent
// / null) request.object. Other members are ignored (the API server adds
// some). kInvalidArgument naming the member, never echoing a value. Tests:
// InjectAdmissionTest.RefusesMalformedReviews.
Result<AdmissionRequest> VerifyAdmissionReview(const UnverifiedAdmissionReview& review);

// Outcome is what Mutate decided, for the metrics.
enum class Outcome { kAdmitted, kMutated, kRefused };

// Decision is an AdmissionResponse without its uid.
struct Decision {
  Outcome outcome = Outcome::kAdmitted;
  bool allowed = true;
  int code = 200;          // status.code when refused: 400 or 403
  std::string message;     // status.message when refused: says what to do
  Json patch;              // JSONPatch ops (RFC 6902) when mutated
  std::vector<std::string> warnings;
};

// Mutate decides on one request: allowed without a patch unless it creates
// a v1 Pod outside config.namespace_ carrying the inject label "true" and an
// astis.io/env or astis.io/files annotation and not already injected; then
// the RFC 6902 patch of docs/inject.md "What is added to the pod", or a
// refusal (docs/inject.md "Refusals"). Never throws.
Decision Mutate(const AdmissionRequest& request, const InjectConfig& config);

// AdmissionResponseJson renders the AdmissionReview answering uid: the
// patch as base64 of its JSON with patchType JSONPatch.
std::string AdmissionResponseJson(std::string_view uid, const Decision& decision);

// EscapeJsonPointerToken escapes one reference token of a JSON Pointer
// (RFC 6901 §3, §4): '~' as "~0" first, then '/' as "~1". Test:
// InjectAdmissionTest.EscapesJsonPointerTokens.
std::string EscapeJsonPointerToken(std::string_view token);

}  // namespace astis::inject
