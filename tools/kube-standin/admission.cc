#include "kube-standin/admission.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "common/encoding.h"
#include "kube-standin/json_patch.h"
#include "net/https_client.h"

namespace astis::kubestandin {
namespace {

constexpr JsonLimits kReviewLimits{4 << 20, 64};

bool ListHas(const Json& list, std::string_view value) {
  if (!list.is_array()) return false;
  return std::any_of(list.begin(), list.end(),
                     [&](const Json& v) { return v.is_string() && (v == "*" || v.get<std::string>() == value); });
}

std::pair<std::string, std::string> SplitResource(const std::string& r) {
  const size_t slash = r.find('/');
  if (slash == std::string::npos) return {r, ""};
  return {r.substr(0, slash), r.substr(slash + 1)};
}

const Json& Labels(const Json& object) {
  static const Json kEmpty = Json::object();
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) return kEmpty;
  const Json& m = object["metadata"];
  return m.contains("labels") && m["labels"].is_object() ? m["labels"] : kEmpty;
}

// Webhook is one entry of a configuration, with its identity.
struct Webhook {
  std::string configuration, name, id;
  const Json* spec = nullptr;
  bool if_needed = false;
  bool fail = true;
};

// CallError is webhookutil.ErrCallingWebhook: subject to failurePolicy.
struct CallResult {
  bool call_failed = false;                 // ErrCallingWebhook
  std::string reason;                       // why the call failed
  std::optional<AdmissionRefusal> refusal;  // denied, or a patch that does not apply
  bool changed = false;
};

std::string Str(const Json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return "";
  return obj[key].get<std::string>();
}

Json ReviewRequest(const AdmissionAttributes& a, const Json& object, const std::string& uid) {
  const Json kind{{"group", a.group}, {"version", a.version}, {"kind", a.kind}};
  const Json resource{{"group", a.group}, {"version", a.version}, {"resource", a.resource}};
  Json req{{"uid", uid},
           {"kind", kind},
           {"resource", resource},
           {"requestKind", kind},
           {"requestResource", resource},
           {"operation", a.operation},
           {"userInfo", {{"username", a.username}, {"groups", a.groups}}},
           {"object", object},
           {"oldObject", nullptr},
           {"dryRun", a.dry_run},
           {"options", {{"kind", "CreateOptions"}, {"apiVersion", "meta.k8s.io/v1"}}}};
  if (!a.subresource.empty()) req["subResource"] = a.subresource;
  if (!a.name.empty()) req["name"] = a.name;
  if (!a.ns.empty()) req["namespace"] = a.ns;
  return Json{{"kind", "AdmissionReview"}, {"apiVersion", "admission.k8s.io/v1"}, {"request", std::move(req)}};
}

// Call sends one AdmissionReview and applies the answer to *object.
CallResult Call(const Webhook& w, const AdmissionAttributes& a, Json* object, const AdmissionEnv& env,
                AdmissionRecord* rec) {
  CallResult r;
  const Json& spec = *w.spec;
  const Json& cc = spec["clientConfig"];
  std::string base, target, server_name;
  if (cc.contains("url")) {
    const std::string url = Str(cc, "url");
    const size_t slash = url.find('/', 8);  // after "https://"
    base = url.substr(0, slash);
    target = slash == std::string::npos ? "/" : url.substr(slash);
  } else {
    const Json& svc = cc["service"];
    const int port = svc.value("port", 443);
    std::optional<std::string> addr =
        env.resolve ? env.resolve(Str(svc, "namespace"), Str(svc, "name"), port) : std::nullopt;
    target = Str(svc, "path").empty() ? "/" : Str(svc, "path");
    // kube-apiserver verifies the serving certificate for <name>.<namespace>.svc.
    server_name = Str(svc, "name") + "." + Str(svc, "namespace") + ".svc";
    if (!addr.has_value()) {
      r.call_failed = true;
      r.reason =
          "failed to call webhook: service \"" + Str(svc, "namespace") + "/" + Str(svc, "name") + "\" has no endpoint";
      return r;
    }
    base = "https://" + *addr;
  }
  const int64_t timeout = spec.value("timeoutSeconds", int64_t{10});
  target +=
      (target.find('?') == std::string::npos ? "?" : "&") + std::string("timeout=") + std::to_string(timeout) + "s";
  net::TlsClientConfig tls;
  tls.server_name = server_name;
  if (cc.contains("caBundle")) {
    Result<std::vector<uint8_t>> pem = B64Decode(Str(cc, "caBundle"));
    if (pem.ok()) tls.ca_pem = std::string(AsStringView(*pem));
  }
  net::ClientOptions opts;
  // timeoutSeconds bounds the whole call, connection included.
  opts.request_timeout = std::chrono::seconds(timeout);
  opts.connect_timeout = std::min<std::chrono::milliseconds>(opts.connect_timeout, opts.request_timeout);
  const std::string where = "Post \"" + base + target + "\": ";
  Result<std::unique_ptr<net::HttpsClient>> client = net::HttpsClient::Create(base, tls, opts);
  if (!client.ok()) {
    r.call_failed = true;
    r.reason = "failed to call webhook: " + where + client.status().message();
    return r;
  }
  const std::string uid = env.new_uid ? env.new_uid() : "00000000-0000-4000-8000-000000000000";
  rec->uid = uid;
  net::HttpRequest req;
  req.method = "POST";
  req.target = target;
  req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json, */*"}};
  req.body = DumpJson(ReviewRequest(a, *object, uid));
  Result<net::HttpResponse> resp = (*client)->Send(req);
  if (!resp.ok()) {
    r.call_failed = true;
    r.reason = "failed to call webhook: " + where + resp.status().message();
    return r;
  }
  if (resp->status < 200 || resp->status > 299) {
    r.call_failed = true;
    r.reason = "failed to call webhook: the server responded with status " + std::to_string(resp->status);
    return r;
  }
  // request.VerifyAdmissionResponse: an admission.k8s.io/v1 AdmissionReview
  // whose response.uid is the request's uid (test
  // AdmissionTest.UidMismatchIsACallFailure).
  Result<Json> review = ParseJsonObject(resp->body, kReviewLimits);
  auto invalid = [&](const std::string& why) {
    r.call_failed = true;
    r.reason = "received invalid webhook response: " + why;
    return r;
  };
  if (!review.ok()) return invalid("the body is not a JSON object");
  if (Str(*review, "apiVersion") != "admission.k8s.io/v1" || Str(*review, "kind") != "AdmissionReview") {
    return invalid("expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview");
  }
  if (!review->contains("response") || !(*review)["response"].is_object()) {
    return invalid("webhook response was absent");
  }
  const Json& response = (*review)["response"];
  if (Str(response, "uid") != uid) {
    return invalid("expected response.uid=\"" + uid + "\", got \"" + Str(response, "uid") + "\"");
  }
  if (!response.contains("allowed") || !response["allowed"].is_boolean()) return invalid("response.allowed is missing");
  const std::string patch_b64 = Str(response, "patch");
  if (!patch_b64.empty()) {
    if (!response.contains("patchType")) return invalid("webhook returned response.patch but not response.patchType");
    if (Str(response, "patchType") != "JSONPatch") {
      return invalid("webhook returned invalid response.patchType of \"" + Str(response, "patchType") + "\"");
    }
  }
  if (!response["allowed"].get<bool>()) {
    // webhookerrors.ToStatusErr: the webhook's code if ≥ 400 (else 400), and
    // the message prefixed with who denied it (test
    // AdmissionTest.DenyMessageReachesKubectl).
    const Json st = response.contains("status") && response["status"].is_object() ? response["status"] : Json::object();
    AdmissionRefusal ref;
    ref.code = st.contains("code") && st["code"].is_number_integer() ? st["code"].get<int>() : 0;
    if (ref.code < 400) ref.code = 400;
    ref.reason = Str(st, "reason");
    const std::string denied = "admission webhook \"" + w.name + "\" denied the request";
    if (!Str(st, "message").empty()) {
      ref.message = denied + ": " + Str(st, "message");
    } else if (!ref.reason.empty()) {
      ref.message = denied + ": " + ref.reason;
    } else {
      ref.message = denied + " without explanation";
    }
    r.refusal = ref;
    return r;
  }
  if (patch_b64.empty()) return r;
  // A patch that does not decode or apply is an internal error whatever the
  // failurePolicy (mutating dispatcher: apierrors.NewInternalError; test
  // AdmissionTest.FailingTestOpRejectsEvenUnderIgnore).
  auto internal = [&](const std::string& why) {
    r.refusal = AdmissionRefusal{500, "InternalError", "Internal error occurred: " + why};
    return r;
  };
  Result<std::vector<uint8_t>> raw = B64Decode(patch_b64);
  if (!raw.ok()) return internal("the patch is not base64");
  Result<Json> patch = ParseJson(AsStringView(*raw), kReviewLimits);
  if (!patch.ok()) return internal("the patch is not JSON");
  Result<Json> patched = ApplyJsonPatch(*object, *patch);
  if (!patched.ok()) return internal(patched.status().message());
  if (!patched->is_object()) return internal("the patched object is not an object");
  r.changed = *patched != *object;
  *object = std::move(*patched);
  return r;
}

}  // namespace

Result<bool> LabelSelectorMatches(const Json& selector, const Json& labels) {
  if (selector.is_null()) return true;
  if (!selector.is_object()) return Error(Code::kInvalidArgument, "a label selector is an object");
  auto label = [&](const std::string& k) -> std::optional<std::string> {
    if (!labels.is_object() || !labels.contains(k) || !labels[k].is_string()) return std::nullopt;
    return labels[k].get<std::string>();
  };
  if (selector.contains("matchLabels") && !selector["matchLabels"].is_null()) {
    const Json& ml = selector["matchLabels"];
    if (!ml.is_object()) return Error(Code::kInvalidArgument, "matchLabels is a map");
    for (auto it = ml.begin(); it != ml.end(); ++it) {
      if (!it.value().is_string()) return Error(Code::kInvalidArgument, "matchLabels values are strings");
      if (label(it.key()) != it.value().get<std::string>()) return false;
    }
  }
  if (selector.contains("matchExpressions") && !selector["matchExpressions"].is_null()) {
    const Json& me = selector["matchExpressions"];
    if (!me.is_array()) return Error(Code::kInvalidArgument, "matchExpressions is a list");
    for (const Json& e : me) {
      const std::string key = Str(e, "key"), op = Str(e, "operator");
      const Json values = e.contains("values") && e["values"].is_array() ? e["values"] : Json::array();
      if (key.empty()) return Error(Code::kInvalidArgument, "matchExpressions[].key: Required value");
      const std::optional<std::string> v = label(key);
      // metav1 LabelSelectorAsSelector: In/NotIn need values, Exists and
      // DoesNotExist take none (test AdmissionMatchTest.RefusesBadSelectors).
      if (op == "In" || op == "NotIn") {
        if (values.empty()) return Error(Code::kInvalidArgument, "matchExpressions[].values: Required value for " + op);
        const bool in = v.has_value() && std::any_of(values.begin(), values.end(), [&](const Json& x) {
                          return x.is_string() && x.get<std::string>() == *v;
                        });
        if (op == "In" && !in) return false;
        if (op == "NotIn" && in) return false;
      } else if (op == "Exists" || op == "DoesNotExist") {
        if (!values.empty()) return Error(Code::kInvalidArgument, "matchExpressions[].values: must be empty for " + op);
        if (v.has_value() != (op == "Exists")) return false;
      } else {
        return Error(Code::kInvalidArgument, "matchExpressions[].operator: Unsupported value: \"" + op + "\"");
      }
    }
  }
  return true;
}

bool RuleMatches(const Json& rule, const AdmissionAttributes& a) {
  if (!rule.is_object()) return false;
  if (!ListHas(rule.value("operations", Json::array()), a.operation)) return false;
  if (!ListHas(rule.value("apiGroups", Json::array()), a.group)) return false;
  if (!ListHas(rule.value("apiVersions", Json::array()), a.version)) return false;
  bool resource = false;
  for (const Json& r : rule.value("resources", Json::array())) {
    if (!r.is_string()) continue;
    const auto [res, sub] = SplitResource(r.get<std::string>());
    if ((res == "*" || res == a.resource) && (sub == "*" || sub == a.subresource)) resource = true;
  }
  if (!resource) return false;
  const std::string scope = rule.value("scope", std::string("*"));
  if (scope == "Cluster") return a.ns.empty();
  if (scope == "Namespaced") return !a.ns.empty();
  return true;
}

Status ValidateMutatingWebhookConfiguration(Json& c) {
  auto bad = [](const std::string& why) { return Error(Code::kInvalidArgument, why); };
  if (!c.contains("webhooks") || c["webhooks"].is_null()) c["webhooks"] = Json::array();
  if (!c["webhooks"].is_array()) return bad("webhooks: must be a list");
  std::set<std::string> names;
  for (size_t i = 0; i < c["webhooks"].size(); ++i) {
    Json& w = c["webhooks"][i];
    const std::string at = "webhooks[" + std::to_string(i) + "].";
    if (!w.is_object()) return bad(at.substr(0, at.size() - 1) + ": must be an object");
    const std::string name = Str(w, "name");
    // ValidateMutatingWebhookConfiguration: a qualified name with at least
    // three segments, unique within the configuration. The refusals here:
    // test AdmissionMatchTest.WebhookConfigurationValidation.
    if (name.empty() || std::count(name.begin(), name.end(), '.') < 2) {
      return bad(at + "name: Invalid value: \"" + name + "\": should be a domain with at least three segments");
    }
    if (!names.insert(name).second) return bad(at + "name: Duplicate value: \"" + name + "\"");
    if (!w.contains("admissionReviewVersions") || !ListHas(w["admissionReviewVersions"], "v1")) {
      return bad(at + "admissionReviewVersions: Required value: must include v1 (the stand-in speaks v1 only)");
    }
    const std::string side = Str(w, "sideEffects");
    if (side != "None" && side != "NoneOnDryRun") {
      return bad(at + "sideEffects: Unsupported value: \"" + side + "\": supported values: \"None\", \"NoneOnDryRun\"");
    }
    if (!w.contains("clientConfig") || !w["clientConfig"].is_object()) return bad(at + "clientConfig: Required value");
    Json& cc = w["clientConfig"];
    const bool url = cc.contains("url"), svc = cc.contains("service");
    if (url == svc) return bad(at + "clientConfig: Required value: exactly one of url or service is required");
    if (url && Str(cc, "url").rfind("https://", 0) != 0) {
      return bad(at + "clientConfig.url: Invalid value: 'https' is the only allowed URL scheme");
    }
    if (svc) {
      Json& s = cc["service"];
      if (Str(s, "namespace").empty() || Str(s, "name").empty()) {
        return bad(at + "clientConfig.service: Required value: namespace and name");
      }
      if (!s.contains("port")) s["port"] = 443;
    }
    if (!w.contains("failurePolicy")) w["failurePolicy"] = "Fail";
    if (Str(w, "failurePolicy") != "Fail" && Str(w, "failurePolicy") != "Ignore") {
      return bad(at + "failurePolicy: Unsupported value: supported values: \"Fail\", \"Ignore\"");
    }
    if (!w.contains("timeoutSeconds")) w["timeoutSeconds"] = 10;
    if (!w["timeoutSeconds"].is_number_integer() || w["timeoutSeconds"].get<int64_t>() < 1 ||
        w["timeoutSeconds"].get<int64_t>() > 30) {
      return bad(at + "timeoutSeconds: Invalid value: the timeout value must be between 1 and 30 seconds");
    }
    if (!w.contains("reinvocationPolicy")) w["reinvocationPolicy"] = "Never";
    if (Str(w, "reinvocationPolicy") != "Never" && Str(w, "reinvocationPolicy") != "IfNeeded") {
      return bad(at + "reinvocationPolicy: Unsupported value: supported values: \"Never\", \"IfNeeded\"");
    }
    if (!w.contains("matchPolicy")) w["matchPolicy"] = "Equivalent";
    for (const char* sel : {"namespaceSelector", "objectSelector"}) {
      if (!w.contains(sel) || w[sel].is_null()) w[sel] = Json::object();
      Result<bool> ok = LabelSelectorMatches(w[sel], Json::object());
      if (!ok.ok()) return bad(at + sel + "." + ok.status().message());
    }
    if (!w.contains("rules")) w["rules"] = Json::array();
    if (!w["rules"].is_array()) return bad(at + "rules: must be a list");
    for (Json& rule : w["rules"]) {
      if (!rule.is_object()) return bad(at + "rules: must be objects");
      if (!rule.contains("scope")) rule["scope"] = "*";
    }
  }
  return OkStatus();
}

AdmissionOutcome RunMutatingAdmission(const std::vector<Json>& configurations, const AdmissionAttributes& a,
                                      const AdmissionEnv& env) {
  std::vector<const Json*> sorted;
  for (const Json& c : configurations) sorted.push_back(&c);
  // generic.Webhook sorts configurations by name; webhooks keep their order.
  std::sort(sorted.begin(), sorted.end(),
            [](const Json* x, const Json* y) { return Str((*x)["metadata"], "name") < Str((*y)["metadata"], "name"); });
  std::vector<Webhook> hooks;
  for (const Json* c : sorted) {
    if (!c->contains("webhooks") || !(*c)["webhooks"].is_array()) continue;
    const std::string cname = Str((*c)["metadata"], "name");
    size_t i = 0;
    for (const Json& w : (*c)["webhooks"]) {
      hooks.push_back(Webhook{cname, Str(w, "name"), cname + "/" + std::to_string(i++), &w,
                              Str(w, "reinvocationPolicy") == "IfNeeded", Str(w, "failurePolicy") != "Ignore"});
    }
  }
  AdmissionOutcome out;
  out.object = a.object;
  std::set<std::string> previously_invoked, reinvoke;
  bool any_change = false;
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1 && (!any_change || reinvoke.empty())) break;
    for (const Webhook& w : hooks) {
      if (pass == 1 && reinvoke.count(w.id) == 0) continue;
      const Json& spec = *w.spec;
      // ShouldCallHook: a matching rule, then namespaceSelector (skipped for
      // cluster-scoped objects other than namespaces), then objectSelector.
      bool rule = false;
      for (const Json& r : spec.value("rules", Json::array())) rule = rule || RuleMatches(r, a);
      if (!rule) continue;
      if (!a.ns.empty() || a.resource == "namespaces") {
        Result<bool> ns_ok = LabelSelectorMatches(spec.value("namespaceSelector", Json::object()), a.namespace_labels);
        if (!ns_ok.ok() || !*ns_ok) continue;
      }
      Result<bool> obj_ok = LabelSelectorMatches(spec.value("objectSelector", Json::object()), Labels(out.object));
      if (!obj_ok.ok() || !*obj_ok) continue;

      AdmissionRecord rec{w.configuration,
                          w.name,
                          "",
                          a.operation,
                          a.resource,
                          a.ns,
                          a.name.empty() ? Str(out.object["metadata"], "generateName") : a.name,
                          "",
                          "",
                          pass == 1};
      CallResult r = Call(w, a, &out.object, env, &rec);
      if (r.call_failed) {
        const std::string msg = "failed calling webhook \"" + w.name + "\": " + r.reason;
        rec.detail = msg;
        if (!w.fail) {
          // failurePolicy Ignore: fail open, the object as it was (test
          // AdmissionTest.DownWebhookIgnoreAdmitsUnmutated).
          rec.outcome = "ignored";
          if (env.record) env.record(rec);
          continue;
        }
        // failurePolicy Fail: apierrors.NewInternalError (test
        // AdmissionTest.DownWebhookFailBlocksMatchingPods).
        rec.outcome = "error";
        if (env.record) env.record(rec);
        out.refusal = AdmissionRefusal{500, "InternalError", "Internal error occurred: " + msg};
        return out;
      }
      if (r.refusal.has_value()) {
        rec.outcome = r.refusal->code == 500 && r.refusal->reason == "InternalError" ? "error" : "denied";
        rec.detail = r.refusal->message;
        if (env.record) env.record(rec);
        out.refusal = std::move(r.refusal);
        return out;
      }
      rec.outcome = r.changed ? "patched" : "allowed";
      if (env.record) env.record(rec);
      if (r.changed) {
        // reinvocation context: every IfNeeded webhook invoked before this
        // change is called once more after the pass (test
        // AdmissionTest.IfNeededWebhookIsReinvokedOnce).
        any_change = true;
        reinvoke.insert(previously_invoked.begin(), previously_invoked.end());
        previously_invoked.clear();
      }
      if (w.if_needed && pass == 0) previously_invoked.insert(w.id);
    }
  }
  return out;
}

}  // namespace astis::kubestandin
