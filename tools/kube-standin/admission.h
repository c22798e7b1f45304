// Mutating admission as kube-apiserver runs it (admissionregistration.k8s.io/v1
// MutatingWebhookConfiguration; k8s.io/apiserver webhook/mutating
// dispatcher.go and webhook/predicates): the stand-in calls matching webhooks
// with an admission.k8s.io/v1 AdmissionReview over HTTPS and applies their
// JSONPatch. docs/kube-standin.md "Admission".
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace astis::kubestandin {

// AdmissionAttributes describe one request under admission.
struct AdmissionAttributes {
  std::string operation = "CREATE";  // CREATE, UPDATE, DELETE, CONNECT
  std::string group, version = "v1", resource = "pods", subresource, kind = "Pod";
  std::string ns;    // "" : cluster-scoped
  std::string name;  // "" : not yet named (generateName)
  Json object;       // the object as it would be stored
  Json namespace_labels = Json::object();
  std::string username;
  std::vector<std::string> groups;
  bool dry_run = false;
};

// AdmissionRecord is one webhook call, for tests (KubeStandin::AdmissionCalls)
// and the log. It never holds an object body.
struct AdmissionRecord {
  std::string configuration, webhook, uid, operation, resource, ns, name;
  // outcome: "allowed" (no patch), "patched", "denied", "error" (rejected by
  // failurePolicy Fail or a patch that does not apply), "ignored" (a failed
  // call under failurePolicy Ignore).
  std::string outcome;
  std::string detail;  // the deny or error message ("" otherwise)
  bool reinvocation = false;
};

// AdmissionRefusal is the Status the API answers when admission rejects.
struct AdmissionRefusal {
  int code = 500;
  std::string reason;  // "" : none (a webhook's own status without reason)
  std::string message;
};

// AdmissionEnv is what the dispatcher needs from the stand-in.
struct AdmissionEnv {
  // resolve maps clientConfig.service (namespace, name, port) to "host:port";
  // nullopt: the service has no endpoint (the call fails).
  std::function<std::optional<std::string>(const std::string&, const std::string&, int)> resolve;
  std::function<std::string()> new_uid;  // the AdmissionReview request uid
  std::function<void(const AdmissionRecord&)> record;
};

// LabelSelectorMatches evaluates a metav1.LabelSelector (matchLabels AND
// matchExpressions with In, NotIn, Exists, DoesNotExist) against labels. An
// empty or absent selector matches everything. Fails with kInvalidArgument
// for an unknown operator or values that contradict it.
Result<bool> LabelSelectorMatches(const Json& selector, const Json& labels);

// RuleMatches is predicates/rules Matcher: operation, apiGroup, apiVersion,
// resource (with "*", "*/*", "res/*" and "*/sub" forms) and scope ("*",
// "Cluster", "Namespaced").
bool RuleMatches(const Json& rule, const AdmissionAttributes& a);

// ValidateMutatingWebhookConfiguration checks what kube-apiserver's
// validation refuses and the stand-in depends on, and fills the v1 defaults
// (failurePolicy Fail, timeoutSeconds 10, reinvocationPolicy Never,
// matchPolicy Equivalent, empty selectors, service port 443). Fails with
// kInvalidArgument naming the field.
Status ValidateMutatingWebhookConfiguration(Json& configuration);

// RunMutatingAdmission calls the webhooks of configurations (sorted by
// name, webhooks in order) that match a, applies their patches, and
// reinvokes IfNeeded webhooks once when a later webhook changed the object.
// Returns the admitted object, or the refusal.
struct AdmissionOutcome {
  Json object;
  std::optional<AdmissionRefusal> refusal;
};
AdmissionOutcome RunMutatingAdmission(const std::vector<Json>& configurations, const AdmissionAttributes& a,
                                      const AdmissionEnv& env);

}  // namespace astis::kubestandin
