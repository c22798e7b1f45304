#include "inject/admission.h"

#include <map>
#include <set>

#include "common/encoding.h"
#include "inject/annotations.h"

namespace astis::inject {
namespace {

constexpr std::string_view kInitContainer = "astis-install";
constexpr std::string_view kBinVolume = "astis-bin";
constexpr std::string_view kTokenVolume = "astis-token";
constexpr std::string_view kApiKeyVolume = "astis-api-key";
constexpr std::string_view kSealedVolume = "astis-sealed";
constexpr std::string_view kCaVolume = "astis-edge-ca";
constexpr std::string_view kFilesVolumePrefix = "astis-files-";
constexpr std::string_view kBinDir = "/astis/bin";
constexpr std::string_view kTokenDir = "/var/run/secrets/astis";
constexpr std::string_view kApiKeyDir = "/etc/astis/api-key";
constexpr std::string_view kSealedDir = "/etc/astis/secrets";
constexpr std::string_view kCaDir = "/etc/astis/edge-ca";
constexpr int kMode0400 = 0400;

Status BadMember(std::string_view member, std::string_view why) {
  return Error(Code::kInvalidArgument, std::string(member) + ": " + std::string(why));
}

bool PrintableUid(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

// OptionalString reads obj[key]: absent or null = "", a string, else error.
Status OptionalString(const Json& obj, std::string_view key, std::string_view member, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return OkStatus();
  if (!it->is_string()) return BadMember(member, "must be a string");
  out = it->get<std::string>();
  return OkStatus();
}

Decision Refuse(int code, std::string message) {
  Decision d;
  d.outcome = Outcome::kRefused;
  d.allowed = false;
  d.code = code;
  d.message = std::move(message);
  return d;
}

Decision Admit(std::string warning = "") {
  Decision d;
  if (!warning.empty()) d.warnings.push_back(std::move(warning));
  return d;
}

// Member returns obj[key] when obj is an object holding it, else nullptr.
const Json* Member(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// ArrayOfObjects checks an optional array member whose items are objects
// with a string member `name_key`; names are collected into names.
Status ArrayOfObjects(const Json& obj, std::string_view key, std::string_view member, std::string_view name_key,
                      std::vector<std::string>* names) {
  const Json* a = Member(obj, key);
  if (a == nullptr) return OkStatus();
  if (!a->is_array()) return BadMember(member, "must be an array");
  for (const Json& item : *a) {
    if (!item.is_object()) return BadMember(member, "items must be objects");
    const Json* n = Member(item, name_key);
    if (n == nullptr || !n->is_string()) return BadMember(member, "items need a string " + std::string(name_key));
    if (names != nullptr) names->push_back(n->get<std::string>());
  }
  return OkStatus();
}

Status StringArray(const Json& obj, std::string_view key, std::string_view member, std::vector<std::string>& out) {
  const Json* a = Member(obj, key);
  if (a == nullptr) return OkStatus();
  if (!a->is_array()) return BadMember(member, "must be an array of strings");
  for (const Json& item : *a) {
    if (!item.is_string()) return BadMember(member, "must be an array of strings");
    out.push_back(item.get<std::string>());
  }
  return OkStatus();
}

Json Op(std::string path, Json value) {
  return Json{{"op", "add"}, {"path", std::move(path)}, {"value", std::move(value)}};
}

// AddItems appends items to the array at path: one "add" of the whole array
// when it is absent, else one "add" at "<path>/-" per item (RFC 6902 §4.1:
// "-" is the end of the array).
void AddItems(Json& patch, const Json& parent, std::string_view key, const std::string& path,
              const std::vector<Json>& items, bool prepend = false) {
  if (Member(parent, key) == nullptr) {
    patch.push_back(Op(path, Json(items)));
    return;
  }
  for (size_t i = 0; i < items.size(); ++i) {
    patch.push_back(Op(prepend ? path + "/" + std::to_string(i) : path + "/-", items[i]));
  }
}

Json ReadOnlySecurityContext() {
  return Json{{"runAsNonRoot", true},
              {"runAsUser", 65532},
              {"runAsGroup", 65532},
              {"allowPrivilegeEscalation", false},
              {"privileged", false},
              {"readOnlyRootFilesystem", true},
              {"capabilities", {{"drop", Json::array({"ALL"})}}},
              {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

}  // namespace

std::string EscapeJsonPointerToken(std::string_view token) {
  // RFC 6901 §3: '~' and '/' are encoded "~0" and "~1"; §4 evaluates "~1"
  // before "~0", so encoding must do '~' first for "~1" in a key to survive.
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

Result<UnverifiedAdmissionReview> ParseAdmissionReview(std::string_view body) {
  ASTIS_ASSIGN_OR_RETURN(Json doc, ParseJsonObject(body, JsonLimits{kMaxReviewBytes, kMaxReviewDepth}));
  return UnverifiedAdmissionReview{std::move(doc)};
}

Result<AdmissionRequest> VerifyAdmissionReview(const UnverifiedAdmissionReview& review) {
  const Json& doc = review.document;
  if (!doc.is_object()) return BadMember("AdmissionReview", "not a JSON object");
  std::string api_version, kind;
  ASTIS_RETURN_IF_ERROR(OptionalString(doc, "apiVersion", "apiVersion", api_version));
  ASTIS_RETURN_IF_ERROR(OptionalString(doc, "kind", "kind", kind));
  if (api_version != "admission.k8s.io/v1") return BadMember("apiVersion", "must be admission.k8s.io/v1");
  if (kind != "AdmissionReview") return BadMember("kind", "must be AdmissionReview");
  const Json* req = Member(doc, "request");
  if (req == nullptr || !req->is_object()) return BadMember("request", "missing or not an object");
  AdmissionRequest out;
  ASTIS_RETURN_IF_ERROR(OptionalString(*req, "uid", "request.uid", out.uid));
  if (!PrintableUid(out.uid)) return BadMember("request.uid", "missing, or not 1..128 printable ASCII characters");
  const Json* k = Member(*req, "kind");
  if (k == nullptr || !k->is_object()) return BadMember("request.kind", "missing or not an object");
  ASTIS_RETURN_IF_ERROR(OptionalString(*k, "group", "request.kind.group", out.group));
  ASTIS_RETURN_IF_ERROR(OptionalString(*k, "version", "request.kind.version", out.version));
  ASTIS_RETURN_IF_ERROR(OptionalString(*k, "kind", "request.kind.kind", out.kind));
  if (out.version.empty() || out.kind.empty()) return BadMember("request.kind", "needs version and kind");
  ASTIS_RETURN_IF_ERROR(OptionalString(*req, "operation", "request.operation", out.operation));
  if (out.operation != "CREATE" && out.operation != "UPDATE" && out.operation != "DELETE" &&
      out.operation != "CONNECT") {
    return BadMember("request.operation", "must be CREATE, UPDATE, DELETE or CONNECT");
  }
  ASTIS_RETURN_IF_ERROR(OptionalString(*req, "namespace", "request.namespace", out.namespace_));
  ASTIS_RETURN_IF_ERROR(OptionalString(*req, "subResource", "request.subResource", out.sub_resource));
  if (const Json* o = Member(*req, "object")) {
    if (!o->is_object()) return BadMember("request.object", "must be an object");
    out.object = *o;
  }
  return out;
}

Decision Mutate(const AdmissionRequest& request, const InjectConfig& config) {
  // Only pod creation is ours; everything else passes untouched.
  if (!request.group.empty() || request.version != "v1" || request.kind != "Pod" || request.operation != "CREATE" ||
      !request.sub_resource.empty()) {
    return Admit();
  }
  const Json& pod = request.object;
  if (!pod.is_object()) return Refuse(400, "request.object: the pod is missing");
  const Json* meta = Member(pod, "metadata");
  if (meta == nullptr || !meta->is_object()) return Refuse(400, "metadata: missing or not an object");
  const Json* labels = Member(*meta, "labels");
  if (labels != nullptr && !labels->is_object()) return Refuse(400, "metadata.labels must be an object");
  const Json* label = labels == nullptr ? nullptr : Member(*labels, kInjectLabel);
  if (label == nullptr || !label->is_string() || label->get<std::string>() != "true") return Admit();
  // The webhook's namespaceSelector excludes its own namespace; this is the
  // second line. Test: InjectMutateTest.NeverPatchesItsOwnNamespace.
  if (request.namespace_ == config.namespace_) {
    return Admit("astis inject does not inject pods in its own namespace " + config.namespace_);
  }
  const Json* annotations = Member(*meta, "annotations");
  if (annotations != nullptr && !annotations->is_object()) return Refuse(400, "metadata.annotations must be an object");
  // Reinvocation (reinvocationPolicy IfNeeded) is a no-op. Test: InjectMutateTest.ReinvocationIsIdempotent.
  if (annotations != nullptr && annotations->contains(kInjectedAnnotation)) return Admit();
  const Json* spec = Member(pod, "spec");
  if (spec == nullptr || !spec->is_object()) return Refuse(400, "spec: missing or not an object");
  std::vector<std::string> init_names;
  if (Status s = ArrayOfObjects(*spec, "initContainers", "spec.initContainers", "name", &init_names); !s.ok()) {
    return Refuse(400, s.message());
  }
  for (const std::string& n : init_names) {
    if (n == kInitContainer) return Admit();  // injected before (reinvocation)
  }
  std::string service_account;
  if (Status s = OptionalString(*spec, "serviceAccountName", "spec.serviceAccountName", service_account); !s.ok()) {
    return Refuse(400, s.message());
  }
  auto parsed = ParseInjectAnnotations(annotations == nullptr ? Json() : *annotations, service_account);
  // Test: InjectMutateTest.RefusesMalformedAnnotation, InjectMutateTest.RefusesSecretNameNotDns1123.
  if (!parsed.ok()) return Refuse(400, parsed.status().message() + " (see docs/inject.md for the annotation forms)");
  const InjectionRequest& want = *parsed;
  if (want.empty()) {
    return Admit("label astis.io/inject is set but neither astis.io/env nor astis.io/files: nothing injected");
  }

  // The container to wire.
  std::vector<std::string> names;
  if (Status s = ArrayOfObjects(*spec, "containers", "spec.containers", "name", &names); !s.ok()) {
    return Refuse(400, s.message());
  }
  if (names.empty()) return Refuse(400, "spec.containers: the pod has no container");
  size_t index = 0;
  if (!want.container.empty()) {
    while (index < names.size() && names[index] != want.container) ++index;
    if (index == names.size()) {  // Test: InjectMutateTest.RefusesUnknownContainer
      return Refuse(400, "astis.io/container names " + want.container +
                             ", which is not a container of this pod: set it to one of spec.containers[].name");
    }
  } else if (names.size() > 1) {  // Test: InjectMutateTest.RefusesSeveralContainersWithoutChoice
    return Refuse(400, "the pod has " + std::to_string(names.size()) +
                           " containers: set the annotation astis.io/container to the one that gets the secrets");
  }
  const Json& c = (*spec)["containers"][index];
  const std::string& cname = names[index];
  std::vector<std::string> command, args;
  if (Status s = StringArray(c, "command", "command", command); !s.ok()) return Refuse(400, s.message());
  if (Status s = StringArray(c, "args", "args", args); !s.ok()) return Refuse(400, s.message());
  if (command.empty()) {  // Test: InjectMutateTest.RefusesContainerWithoutCommand
    return Refuse(403, "container " + cname +
                           " has no command: the image's entrypoint is unknown to the webhook: set `command` in the "
                           "pod spec (the image's ENTRYPOINT, and `args` as before)");
  }
  // Nothing the webhook adds may meet a value already in the spec: an env
  // entry of the same name would be a plaintext (or a conflicting setting).
  // Test: InjectMutateTest.RefusesEnvAlreadyInSpec.
  std::set<std::string> injected_env;
  for (const EnvBinding& b : want.env) injected_env.insert(b.var);
  std::map<std::string, std::string> astis_env = {
      {"ASTIS_EDGE_URL", config.edge_url},
      {"ASTIS_API_KEY_FILE", std::string(kApiKeyDir) + "/" + std::string(kApiKeySecretKey)},
      {"ASTIS_TOKEN_PATH", std::string(kTokenDir) + "/token"},
      {"ASTIS_SECRETS_DIR", std::string(kSealedDir)},
  };
  if (!config.edge_ca_configmap.empty()) astis_env["ASTIS_CA_FILE"] = std::string(kCaDir) + "/ca.crt";
  std::vector<std::string> env_names;
  if (Status s = ArrayOfObjects(c, "env", "env", "name", &env_names); !s.ok()) return Refuse(400, s.message());
  for (const std::string& n : env_names) {
    if (injected_env.count(n) != 0) {
      return Refuse(403, "container " + cname + " already sets env " + n +
                             ", which astis.io/env injects: remove it from the pod spec (a value there would be a "
                             "plaintext in the spec)");
    }
    if (astis_env.count(n) != 0) {
      return Refuse(403, "container " + cname + " already sets " + n +
                             ", which the webhook sets: remove it, or wire the pod by hand without the label");
    }
  }
  // $(VAR) in command/args is expanded by the kubelet from the spec's env,
  // where injected variables are not: it would stay literal.
  // Test: InjectMutateTest.RefusesUnexpandableVarReference.
  for (const auto* list : {&command, &args}) {
    for (const std::string& word : *list) {
      for (const std::string& var : injected_env) {
        if (word.find("$(" + var + ")") != std::string::npos) {
          return Refuse(403, "container " + cname + " refers to $(" + var +
                                 ") in command/args, which Kubernetes cannot expand for an injected variable: read "
                                 "it from the environment, or use astis.io/files");
        }
      }
    }
  }
  // Reserved names and paths. Test: InjectMutateTest.RefusesReservedNamesAndMountConflicts.
  std::map<std::string, std::string> mounts = {  // mountPath -> volume
      {std::string(kBinDir), std::string(kBinVolume)},
      {std::string(kTokenDir), std::string(kTokenVolume)},
      {std::string(kApiKeyDir), std::string(kApiKeyVolume)},
      {std::string(kSealedDir), std::string(kSealedVolume)},
  };
  if (!config.edge_ca_configmap.empty()) mounts[std::string(kCaDir)] = std::string(kCaVolume);
  std::vector<std::string> file_dirs;
  for (const FileBinding& f : want.files) {
    const std::string dir = f.Dir();
    bool known = false;
    for (const std::string& d : file_dirs) known = known || d == dir;
    if (known) continue;
    if (mounts.count(dir) != 0) {
      return Refuse(400, "astis.io/files: directory " + dir + " is reserved for the injector: choose another one");
    }
    file_dirs.push_back(dir);
    mounts[dir] = std::string(kFilesVolumePrefix) + std::to_string(file_dirs.size());
  }
  std::vector<std::string> mount_paths;
  if (Status s = ArrayOfObjects(c, "volumeMounts", "volumeMounts", "mountPath", &mount_paths); !s.ok()) {
    return Refuse(400, s.message());
  }
  for (const std::string& p : mount_paths) {
    std::string norm = p;
    while (norm.size() > 1 && norm.back() == '/') norm.pop_back();
    if (mounts.count(norm) != 0) {
      return Refuse(403, "container " + cname + " already mounts a volume at " + norm +
                             ", where the webhook mounts one: move that mount or the astis.io/files path");
    }
  }
  std::vector<std::string> volume_names;
  if (Status s = ArrayOfObjects(*spec, "volumes", "spec.volumes", "name", &volume_names); !s.ok()) {
    return Refuse(400, s.message());
  }
  for (const std::string& v : volume_names) {
    if (v == kBinVolume || v == kTokenVolume || v == kApiKeyVolume || v == kSealedVolume || v == kCaVolume ||
        v.rfind(kFilesVolumePrefix, 0) == 0) {
      return Refuse(403, "the pod already has a volume named " + v +
                             ": astis-bin, astis-token, astis-api-key, astis-sealed, astis-edge-ca and "
                             "astis-files-* are reserved for the injector, rename it");
    }
  }

  // The patch (RFC 6902), every op an "add".
  Decision d;
  d.outcome = Outcome::kMutated;
  d.patch = Json::array();
  d.patch.push_back(Op("/metadata/annotations/" + EscapeJsonPointerToken(kInjectedAnnotation), "true"));

  std::vector<Json> volumes;
  volumes.push_back({{"name", kBinVolume}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "64Mi"}}}});
  volumes.push_back(
      {{"name", kTokenVolume},
       {"projected",
        {{"defaultMode", kMode0400},
         {"sources",
          Json::array({{{"serviceAccountToken",
                         {{"audience", "astis"},
                          {"expirationSeconds", config.token_expiration_seconds},
                          {"path", "token"}}}}})}}}});
  volumes.push_back({{"name", kApiKeyVolume},
                     {"secret",
                      {{"secretName", want.api_key_secret},
                       {"defaultMode", kMode0400},
                       {"items", Json::array({{{"key", kApiKeySecretKey}, {"path", kApiKeySecretKey}}})}}}});
  // One projected source per sealed Secret, each key as "<secret>_<key>".
  std::vector<std::string> secret_order;
  std::map<std::string, std::vector<std::string>> keys;  // secret -> keys (in order, distinct)
  auto note = [&](const SecretRef& r) {
    auto [it, fresh] = keys.try_emplace(r.secret);
    if (fresh) secret_order.push_back(r.secret);
    for (const std::string& k : it->second) {
      if (k == r.key) return;
    }
    it->second.push_back(r.key);
  };
  for (const EnvBinding& b : want.env) note(b.ref);
  for (const FileBinding& f : want.files) note(f.ref);
  Json sources = Json::array();
  for (const std::string& s : secret_order) {
    Json items = Json::array();
    for (const std::string& k : keys[s]) items.push_back({{"key", k}, {"path", SecretRef{s, k}.SdkName()}});
    sources.push_back({{"secret", {{"name", s}, {"items", std::move(items)}}}});
  }
  volumes.push_back({{"name", kSealedVolume}, {"projected", {{"defaultMode", kMode0400}, {"sources", sources}}}});
  for (size_t i = 0; i < file_dirs.size(); ++i) {
    volumes.push_back({{"name", std::string(kFilesVolumePrefix) + std::to_string(i + 1)},
                       {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "1Mi"}}}});
  }
  if (!config.edge_ca_configmap.empty()) {
    volumes.push_back({{"name", kCaVolume},
                       {"configMap",
                        {{"name", config.edge_ca_configmap},
                         {"items", Json::array({{{"key", "ca.crt"}, {"path", "ca.crt"}}})}}}});
  }
  AddItems(d.patch, *spec, "volumes", "/spec/volumes", volumes);

  Json init = {{"name", kInitContainer},
               {"image", config.run_image},
               {"command", Json::array({"/usr/bin/astis-run", "--install-to", kBinDir})},
               {"volumeMounts", Json::array({{{"name", kBinVolume}, {"mountPath", kBinDir}}})},
               {"resources",
                {{"requests", {{"cpu", "10m"}, {"memory", "32Mi"}}},
                 {"limits", {{"cpu", "200m"}, {"memory", "64Mi"}}}}},
               {"securityContext", ReadOnlySecurityContext()}};
  // First, so that it has run before any other init container too.
  AddItems(d.patch, *spec, "initContainers", "/spec/initContainers", {init}, /*prepend=*/true);

  const std::string cpath = "/spec/containers/" + std::to_string(index);
  std::vector<Json> env;
  for (const char* n : {"ASTIS_EDGE_URL", "ASTIS_API_KEY_FILE", "ASTIS_TOKEN_PATH", "ASTIS_SECRETS_DIR",
                        "ASTIS_CA_FILE"}) {
    if (astis_env.count(n) != 0) env.push_back({{"name", n}, {"value", astis_env[n]}});
  }
  AddItems(d.patch, c, "env", cpath + "/env", env);
  std::vector<Json> vm;
  for (const auto& [path, volume] : mounts) {
    const bool files = volume.rfind(kFilesVolumePrefix, 0) == 0;
    Json m = {{"name", volume}, {"mountPath", path}};
    if (!files) m["readOnly"] = true;
    vm.push_back(std::move(m));
  }
  AddItems(d.patch, c, "volumeMounts", cpath + "/volumeMounts", vm);

  // command + args is what Kubernetes runs; astis-run execs everything after
  // "--", so the original command followed by the untouched args.
  Json new_command = Json::array({std::string(kBinDir) + "/astis-run"});
  for (const EnvBinding& b : want.env) {
    new_command.push_back("--env");
    new_command.push_back(b.var + "=" + b.ref.SdkName());
  }
  for (const FileBinding& f : want.files) {
    new_command.push_back("--file");
    new_command.push_back(f.path + "=" + f.ref.SdkName());
  }
  new_command.push_back("--");
  for (const std::string& w : command) new_command.push_back(w);
  d.patch.push_back(Json{{"op", "replace"}, {"path", cpath + "/command"}, {"value", std::move(new_command)}});

  const Json* psc = Member(*spec, "securityContext");
  if (psc == nullptr || Member(*psc, "fsGroup") == nullptr) {
    d.warnings.push_back("spec.securityContext.fsGroup is not set: a non-root container may not be able to read "
                         "the injected 0400 token and Secret files");
  }
  return d;
}

std::string AdmissionResponseJson(std::string_view uid, const Decision& decision) {
  Json response = {{"uid", std::string(uid)}, {"allowed", decision.allowed}};
  if (!decision.allowed) {
    response["status"] = {{"code", decision.code},
                          {"reason", decision.code == 403 ? "Forbidden" : "BadRequest"},
                          {"message", "astis inject: " + decision.message}};
  } else if (decision.outcome == Outcome::kMutated) {
    response["patchType"] = "JSONPatch";
    response["patch"] = B64Encode(DumpJson(decision.patch));
  }
  if (!decision.warnings.empty()) response["warnings"] = decision.warnings;
  return DumpJson(
      Json{{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"response", std::move(response)}});
}

}  // namespace astis::inject
