#include "lint/lint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "capsule/capsule.h"
#include "common/encoding.h"
#include "common/image_digest.h"
#include "lint/inject_rules.h"
#include "lint/yaml_documents.h"

namespace astis::lint {
namespace {

// Field access on untrusted JSON: every step checks the type.
const Json* Member(const Json* obj, std::string_view key) {
  if (obj == nullptr || !obj->is_object()) return nullptr;
  auto it = obj->find(key);
  return it == obj->end() ? nullptr : &*it;
}

std::string StringOr(const Json* v, std::string fallback = "") {
  return (v != nullptr && v->is_string()) ? v->get<std::string>() : fallback;
}

// Items returns the object elements of an array member (others are skipped:
// the API server would refuse them, which is not this linter's job).
std::vector<const Json*> Items(const Json* obj, std::string_view key) {
  std::vector<const Json*> out;
  const Json* arr = Member(obj, key);
  if (arr == nullptr || !arr->is_array()) return out;
  for (const auto& v : *arr) {
    if (v.is_object()) out.push_back(&v);
  }
  return out;
}

std::vector<std::string> Strings(const Json* obj, std::string_view key) {
  std::vector<std::string> out;
  const Json* arr = Member(obj, key);
  if (arr == nullptr || !arr->is_array()) return out;
  for (const auto& v : *arr) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

struct Object {
  const Json* json;
  const std::string* file;
  std::string kind, namespace_, name;
};

class Linter {
 public:
  Linter(const Contract* contract, LintReport& report) : contract_(contract), report_(report) {}

  void Collect(const Json& doc, const std::string& file, size_t depth = 0) {
    if (!doc.is_object()) {
      AddFileFinding(file, "yaml-invalid", "a document is not a mapping",
                     "each YAML document must be one Kubernetes object (apiVersion, kind, metadata)");
      return;
    }
    std::string kind = StringOr(Member(&doc, "kind"));
    // A List's items are objects in their own right (kubectl get -o yaml).
    if (kind == "List" && depth == 0) {
      for (const Json* item : Items(&doc, "items")) Collect(*item, file, depth + 1);
      return;
    }
    const Json* meta = Member(&doc, "metadata");
    Object o{&doc, &file, kind, StringOr(Member(meta, "namespace")), StringOr(Member(meta, "name"))};
    if (kind == "ServiceAccount") {
      const Json* am = Member(&doc, "automountServiceAccountToken");
      service_accounts_[{o.namespace_, o.name}] = (am != nullptr && am->is_boolean()) ? std::optional<bool>(am->get<bool>())
                                                                                       : std::nullopt;
    }
    objects_.push_back(std::move(o));
  }

  void Run() {
    report_.objects = objects_.size();
    for (const Object& o : objects_) {
      if (const Json* spec = PodSpecOf(o)) CheckPodSpec(o, *spec);
      if (o.kind == "Secret") CheckSecret(o);
      if (o.kind == "Role" || o.kind == "ClusterRole") CheckRole(o);
    }
  }

  void AddFileFinding(const std::string& file, std::string rule, std::string message, std::string fix) {
    report_.Add(Finding{Severity::kError, std::move(rule), file, "", "", "", std::move(message), std::move(fix)});
  }

 private:
  void Add(Severity sev, const Object& o, std::string rule, std::string message, std::string fix) {
    report_.Add(Finding{sev, std::move(rule), *o.file, o.kind, o.namespace_, o.name, std::move(message),
                        std::move(fix)});
  }

  std::string Audience() const { return contract_ ? contract_->audience() : std::string(kDefaultAudience); }

  static const Json* PodSpecOf(const Object& o) {
    const Json* spec = Member(o.json, "spec");
    if (o.kind == "Pod") return spec;
    static const std::set<std::string, std::less<>> kTemplated = {
        "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"};
    if (kTemplated.count(o.kind)) return Member(Member(spec, "template"), "spec");
    if (o.kind == "CronJob") return Member(Member(Member(Member(spec, "jobTemplate"), "spec"), "template"), "spec");
    return nullptr;
  }

  void CheckImages(const Object& o, const Json& spec) {
    for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
      for (const Json* c : Items(&spec, list)) {
        const std::string cname = StringOr(Member(c, "name"), "(unnamed)");
        const std::string image = StringOr(Member(c, "image"));
        size_t at = image.rfind('@');
        std::string digest = at == std::string::npos ? "" : image.substr(at + 1);
        if (!IsValidImageDigest(digest)) {
          // A tag can be moved to other bytes; the edge's allowlist is of
          // digests (docs/protocol.md §6, gate 4). Test: LintTest.FlagsImageByTag.
          Add(Severity::kError, o, "image-not-pinned",
              std::string(list) + " " + cname + ": image is not pinned by a sha256 digest",
              "use image: <repository>@sha256:<64 hex> (find the digest with `docker buildx imagetools inspect "
              "<image>` or `crane digest <image>`)");
          continue;
        }
        if (contract_ != nullptr && !Contains(contract_->image_digests(), digest)) {
          // Test: LintTest.FlagsImageNotInContract.
          Add(Severity::kError, o, "image-not-allowed",
              std::string(list) + " " + cname + ": digest " + digest + " is not in the contract's imageDigests",
              "use an approved digest, or approve this one: add it to imageDigests and run `astis workload add "
              "--cluster " + contract_->cluster() + " --namespace " + contract_->namespace_name() +
                  " --service-account " + contract_->service_account() + " --image " + digest + " ...`");
        }
      }
    }
  }

  void CheckToken(const Object& o, const Json& spec) {
    const std::string aud = Audience();
    std::set<std::string> good_volumes;
    bool any_token = false;
    for (const Json* vol : Items(&spec, "volumes")) {
      for (const Json* src : Items(Member(vol, "projected"), "sources")) {
        const Json* tok = Member(src, "serviceAccountToken");
        if (tok == nullptr || !tok->is_object()) continue;
        any_token = true;
        const std::string vname = StringOr(Member(vol, "name"));
        bool ok = true;
        if (StringOr(Member(tok, "audience")) != aud) {
          // Gate 2 verifies aud (docs/protocol.md §4); a token for the API server
          // audience is refused. Test: LintTest.FlagsWrongAudience.
          ok = false;
          Add(Severity::kError, o, "token-audience",
              "projected token in volume " + vname + " does not have audience " + aud,
              "set volumes[].projected.sources[].serviceAccountToken.audience: " + aud);
        }
        const Json* exp = Member(tok, "expirationSeconds");
        if (exp != nullptr && (!exp->is_number_integer() || exp->get<int64_t>() < kMinTokenExpirationSeconds)) {
          // Kubernetes API: expirationSeconds must be at least 600. Test:
          // LintTest.FlagsShortTokenExpiration.
          ok = false;
          Add(Severity::kError, o, "token-expiration",
              "projected token in volume " + vname + " has expirationSeconds below 600",
              "set expirationSeconds to at least 600 (e.g. " +
                  std::to_string(contract_ ? contract_->token_expiration_seconds() : 3600) + ")");
        }
        if (ok) good_volumes.insert(vname);
      }
    }
    if (!any_token) {
      // Test: LintTest.FlagsMissingTokenVolume.
      Add(Severity::kError, o, "token-volume-missing", "no projected serviceAccountToken volume",
          "add a volume {name: astis-token, projected: {sources: [{serviceAccountToken: {audience: " + aud +
              ", expirationSeconds: 3600, path: token}}]}} and mount it read-only at /var/run/secrets/astis");
      return;
    }
    if (good_volumes.empty()) return;
    for (const Json* c : Items(&spec, "containers")) {
      for (const Json* m : Items(c, "volumeMounts")) {
        if (good_volumes.count(StringOr(Member(m, "name")))) return;
      }
    }
    // Test: LintTest.FlagsTokenNotMounted.
    Add(Severity::kError, o, "token-not-mounted", "the projected token volume is not mounted into any app container",
        "add volumeMounts: [{name: " + *good_volumes.begin() +
            ", mountPath: /var/run/secrets/astis, readOnly: true}] to the container that uses the SDK");
  }

  void CheckServiceAccount(const Object& o, const Json& spec) {
    std::string sa = StringOr(Member(&spec, "serviceAccountName"), StringOr(Member(&spec, "serviceAccount")));
    if (contract_ != nullptr) {
      if (sa != contract_->service_account()) {
        // Sealed values are bound to one ServiceAccount (docs/protocol.md §3.1).
        // Test: LintTest.FlagsServiceAccountMismatch.
        Add(Severity::kError, o, "service-account",
            "serviceAccountName is not the contract's ServiceAccount " + contract_->service_account(),
            "set serviceAccountName: " + contract_->service_account());
      }
      if (!o.namespace_.empty() && o.namespace_ != contract_->namespace_name()) {
        // Test: LintTest.FlagsNamespaceMismatch.
        Add(Severity::kError, o, "namespace", "metadata.namespace is not the contract's namespace",
            "set metadata.namespace: " + contract_->namespace_name());
      }
    } else if (sa.empty() || sa == "default") {
      // Test: LintTest.FlagsDefaultServiceAccount.
      Add(Severity::kError, o, "service-account", "the pod runs as the namespace's default ServiceAccount",
          "create a dedicated ServiceAccount and set serviceAccountName");
    }
    const Json* am = Member(&spec, "automountServiceAccountToken");
    if (am != nullptr && am->is_boolean()) {
      if (!am->get<bool>()) return;
    } else {
      auto it = service_accounts_.find({o.namespace_, sa.empty() ? "default" : sa});
      if (it != service_accounts_.end() && it->second == false) return;
    }
    // The API-audience token would be a second credential in the pod. Test:
    // LintTest.FlagsAutomountedToken, LintTest.AcceptsAutomountOffOnServiceAccount.
    Add(Severity::kError, o, "automount-token", "the default API token is automounted into the pod",
        "set automountServiceAccountToken: false in the pod spec (or on its ServiceAccount)");
  }

  // Wiring is how a container uses ASTIS: not at all; through astis-run,
  // which ends its session before its command starts; or (anything else
  // wired) by linking the SDK, which holds the pod's pin while it lives.
  enum class Wiring { kNone, kAstisRun, kSdk };

  // RunsAstisRun: "astis-run" (or ".../astis-run") is a word of the
  // container's command or args, also inside a `sh -c` string.
  static bool RunsAstisRun(const Json* c) {
    constexpr std::string_view kName = "astis-run";
    for (const char* field : {"command", "args"}) {
      for (const std::string& word : Strings(c, field)) {
        for (size_t at = word.find(kName); at != std::string::npos; at = word.find(kName, at + 1)) {
          const size_t end = at + kName.size();
          const bool starts = at == 0 || word[at - 1] == '/' || word[at - 1] == ' ' || word[at - 1] == '\t';
          const bool ends = end == word.size() || word[end] == ' ' || word[end] == '\t' || word[end] == ';';
          if (starts && ends) return true;
        }
      }
    }
    return false;
  }

  Wiring WiringOf(const Json* c, const std::set<std::string>& token_volumes) const {
    const bool astis_run = RunsAstisRun(c);
    bool wired = astis_run;
    for (const Json* e : Items(c, "env")) wired = wired || StringOr(Member(e, "name")).starts_with("ASTIS_");
    for (const Json* m : Items(c, "volumeMounts")) {
      wired = wired || token_volumes.count(StringOr(Member(m, "name"))) > 0;
    }
    if (!wired) return Wiring::kNone;
    return astis_run ? Wiring::kAstisRun : Wiring::kSdk;
  }

  void CheckAstisClients(const Object& o, const Json& spec) {
    // docs/protocol.md §4.1: one DPoP key per live Pod UID while its session
    // is active. A container that links the SDK holds that pin for its whole
    // life, so no other container of the pod can establish a session beside
    // it. Containers that run concurrently: `containers` and native sidecars
    // (initContainers with restartPolicy: Always). A plain init container
    // ends before the app containers start. Several astis-run containers
    // take turns (each ends its session, the next waits for the pin).
    // Tests: LintTest.WarnsTwoSdkContainers, LintTest.WarnsSdkBesideAstisRunSidecar,
    // LintTest.AcceptsAstisRunInitBeforeSdkApp, LintTest.AcceptsSeveralAstisRunContainers.
    std::set<std::string> token_volumes;
    for (const Json* vol : Items(&spec, "volumes")) {
      for (const Json* src : Items(Member(vol, "projected"), "sources")) {
        const Json* tok = Member(src, "serviceAccountToken");
        if (StringOr(Member(tok, "audience")) == Audience()) token_volumes.insert(StringOr(Member(vol, "name")));
      }
    }
    std::vector<std::pair<std::string, Wiring>> wired;
    auto consider = [&](const Json* c) {
      const Wiring w = WiringOf(c, token_volumes);
      if (w != Wiring::kNone) wired.emplace_back(StringOr(Member(c, "name"), "(unnamed)"), w);
    };
    for (const Json* c : Items(&spec, "initContainers")) {
      if (StringOr(Member(c, "restartPolicy")) == "Always") consider(c);
    }
    for (const Json* c : Items(&spec, "containers")) consider(c);
    const bool any_sdk =
        std::any_of(wired.begin(), wired.end(), [](const auto& w) { return w.second == Wiring::kSdk; });
    if (wired.size() < 2 || !any_sdk) return;
    std::string names;
    for (const auto& [name, w] : wired) {
      names += (names.empty() ? "" : ", ") + name + (w == Wiring::kSdk ? " (SDK)" : " (astis-run)");
    }
    Add(Severity::kWarning, o, "multiple-astis-clients",
        "containers " + names + " run at the same time and are all wired to ASTIS; the pod's pin admits one DPoP "
            "key at a time, and a container that links the SDK holds it while it runs, so the others are refused "
            "credential_pinned",
        "keep one ASTIS client per pod: one container links the SDK and no other is wired to ASTIS, or every "
        "wired container starts its command through astis-run (docs/sdk.md \"Several ASTIS clients in one pod\")");
  }

  // PodMetaOf is the pod metadata matching PodSpecOf (the template's).
  static const Json* PodMetaOf(const Object& o) {
    if (o.kind == "Pod") return Member(o.json, "metadata");
    const Json* spec = Member(o.json, "spec");
    if (o.kind == "CronJob") spec = Member(Member(spec, "jobTemplate"), "spec");
    return Member(Member(spec, "template"), "metadata");
  }

  void CheckPodSpec(const Object& o, const Json& spec) {
    CheckImages(o, spec);
    // A pod labelled astis.io/inject gets its token volume from the webhook
    // at admission (docs/inject.md): check what the webhook would decide
    // instead. Tests: LintTest.AcceptsInjectLabelledPodWithoutTokenVolume,
    // LintTest.FlagsMalformedInjectAnnotations.
    if (const Json* meta = PodMetaOf(o); IsInjectLabelled(meta)) {
      for (const InjectFinding& f : CheckInjectPod(meta, spec, o.namespace_)) {
        Add(f.error ? Severity::kError : Severity::kWarning, o, f.rule, f.message, f.fix);
      }
    } else {
      CheckToken(o, spec);
    }
    CheckServiceAccount(o, spec);
    CheckAstisClients(o, spec);
  }

  void CheckSealed(const Object& o, const std::string& key, const capsule::SealedValue& v) {
    const capsule::Binding& b = v.capsule().binding();
    bool ok = b.name == o.name && b.key == key && (o.namespace_.empty() || b.namespace_ == o.namespace_);
    if (contract_ != nullptr) {
      // A v2 value is in scope for each of its clusters (docs/protocol.md
      // §3.1); a contract with additionalClusters needs every one of them.
      // Tests: LintTest.AcceptsV2ValueListingTheContractCluster,
      // FlagsValueMissingAnAdditionalCluster.
      for (const auto& cluster : contract_->seal_clusters()) ok = ok && b.InScope(cluster);
      ok = ok && b.namespace_ == contract_->namespace_name() &&
           b.service_account == contract_->service_account();
    }
    if (!ok) {
      // The edge refuses a capsule bound elsewhere (capsule_scope, docs/protocol.md
      // §4.2). Test: LintTest.FlagsSealedBindingMismatch.
      Add(Severity::kError, o, "sealed-binding-mismatch",
          "key " + key + ": the sealed value is bound to another cluster, namespace, ServiceAccount, Secret or key",
          "re-seal the value for this Secret with `astis seal --cluster ... --namespace ... --service-account ...`");
    }
  }

  void CheckSecret(const Object& o) {
    struct Value {
      std::string key;
      bool sealed;
    };
    std::vector<Value> values;
    auto classify = [&](const std::string& key, const std::string& text) {
      if (text.rfind(capsule::kSealedValuePrefix, 0) != 0) return values.push_back({key, false});
      auto parsed = capsule::SealedValue::Parse(text);
      if (!parsed.ok()) {
        // Test: LintTest.FlagsMalformedSealedValue.
        Add(Severity::kError, o, "sealed-value-invalid", "key " + key + ": not a well-formed astis.v1 sealed value",
            "re-seal the value with `astis seal`");
        return values.push_back({key, true});
      }
      CheckSealed(o, key, *parsed);
      values.push_back({key, true});
    };
    const Json* data = Member(o.json, "data");
    if (data != nullptr && data->is_object()) {
      for (auto it = data->begin(); it != data->end(); ++it) {
        auto raw = it->is_string() ? B64Decode(it->get<std::string>()) : Result<std::vector<uint8_t>>(Error(Code::kInvalidArgument, ""));
        classify(it.key(), raw.ok() ? std::string(AsStringView(*raw)) : std::string());
      }
    }
    const Json* sdata = Member(o.json, "stringData");
    if (sdata != nullptr && sdata->is_object()) {
      for (auto it = sdata->begin(); it != sdata->end(); ++it) classify(it.key(), StringOr(&*it));
    }
    const ContractSecret* cs = nullptr;
    if (contract_ != nullptr) {
      for (const auto& s : contract_->secrets()) {
        if (s.name == o.name) cs = &s;
      }
    }
    bool any_sealed = std::any_of(values.begin(), values.end(), [](const Value& v) { return v.sealed; });
    const std::string fix = "seal it: `astis seal --public-key org-key.pub.jwk --cluster C --namespace N "
                            "--service-account SA -f plain-secret.yaml > sealed-secret.yaml`, then delete the plain file";
    if (cs != nullptr || any_sealed) {
      for (const Value& v : values) {
        // Test: LintTest.FlagsPlaintextInSealedSecret.
        if (!v.sealed)
          Add(Severity::kError, o, "plaintext-secret", "key " + v.key + " holds plaintext, not an ASTIS sealed value",
              fix);
      }
    } else if (!values.empty()) {
      std::string type = StringOr(Member(o.json, "type"), "Opaque");
      // Test: LintTest.WarnsPlaintextOpaqueSecret.
      if (type == "Opaque")
        Add(Severity::kWarning, o, "plaintext-secret", "the Secret's values are plaintext in the manifest", fix);
    }
    if (cs != nullptr) {
      for (const auto& k : cs->keys) {
        bool present = std::any_of(values.begin(), values.end(), [&](const Value& v) { return v.key == k; });
        // Test: LintTest.FlagsMissingContractKey.
        if (!present)
          Add(Severity::kError, o, "secret-key-missing", "the contract's key " + k + " is missing",
              "seal a value for key " + k + " into this Secret");
      }
    }
  }

  void CheckRole(const Object& o) {
    static const std::vector<std::string> kResources = {"pods/exec", "pods/attach", "pods/ephemeralcontainers",
                                                        "pods/*", "*"};
    for (const Json* rule : Items(o.json, "rules")) {
      auto groups = Strings(rule, "apiGroups");
      if (!Contains(groups, "") && !Contains(groups, "*")) continue;
      auto resources = Strings(rule, "resources");
      auto verbs = Strings(rule, "verbs");
      for (const auto& r : kResources) {
        if (!Contains(resources, r)) continue;
        bool write = Contains(verbs, "create") || Contains(verbs, "patch") || Contains(verbs, "update") ||
                     Contains(verbs, "*");
        // exec and attach were authorised as "get" over WebSocket before
        // Kubernetes 1.31 (KEP-4006), so get counts for them.
        bool get_exec = Contains(verbs, "get") && r != "pods/ephemeralcontainers";
        if (!write && !get_exec) continue;
        // docs/threat-model.md "What ASTIS does not claim": exec/attach/debug reach the plaintext
        // in the pod's memory. Test: LintTest.FlagsRoleGrantingExec.
        Add(Severity::kError, o, "rbac-pod-exec",
            "grants " + r + " (exec, attach or ephemeral debug containers reach the pod's plaintext)",
            "remove " + r + " from this rule, or restrict the role to break-glass operators outside the workload");
        break;
      }
    }
  }

  const Contract* contract_;
  LintReport& report_;
  std::vector<Object> objects_;
  std::map<std::pair<std::string, std::string>, std::optional<bool>> service_accounts_;
};

}  // namespace

std::string_view SeverityName(Severity s) { return s == Severity::kError ? "error" : "warning"; }

size_t LintReport::errors() const {
  return omitted_errors +
         std::count_if(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == Severity::kError; });
}
size_t LintReport::warnings() const { return findings.size() + omitted() - errors(); }

void LintReport::Add(Finding f) {
  if (findings.size() >= kMaxReportedFindings) {
    ++(f.severity == Severity::kError ? omitted_errors : omitted_warnings);
    return;
  }
  // A field is cut on a UTF-8 boundary so the JSON rendering stays valid.
  auto clip = [](std::string& s) {
    if (s.size() <= kMaxFindingFieldBytes) return;
    size_t n = kMaxFindingFieldBytes - 3;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s.resize(n);
    s += "...";
  };
  for (std::string* s : {&f.rule, &f.file, &f.kind, &f.namespace_, &f.name, &f.message, &f.fix}) clip(*s);
  findings.push_back(std::move(f));
}

LintReport Lint(std::span<const LintInput> inputs, const Contract* contract) {
  LintReport report;
  Linter linter(contract, report);
  std::vector<std::vector<Json>> parsed(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto docs = ParseYamlDocuments(inputs[i].text);
    if (!docs.ok()) {
      // Test: LintTest.ReportsInvalidYaml.
      linter.AddFileFinding(inputs[i].file, "yaml-invalid", docs.status().message(), "fix the YAML syntax");
      continue;
    }
    parsed[i] = std::move(*docs);
    for (const Json& d : parsed[i]) linter.Collect(d, inputs[i].file);
  }
  linter.Run();
  return report;
}

Result<std::vector<LintInput>> ReadLintInputs(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return Error(Code::kNotFound, "lint: no such file or directory");
  std::vector<std::string> files;
  if (fs::is_directory(st)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      const std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(e.path().string());
    }
    if (ec) return Error(Code::kIo, "lint: cannot list the directory");
    std::sort(files.begin(), files.end());
    if (files.empty()) return Error(Code::kInvalidArgument, "lint: the directory has no .yaml, .yml or .json file");
  } else {
    files.push_back(path);
  }
  std::vector<LintInput> out;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return Error(Code::kIo, "lint: cannot open " + f);
    std::string text;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      text.append(buf, static_cast<size_t>(in.gcount()));
      if (text.size() > kMaxManifestFileBytes) return Error(Code::kTooLarge, "lint: " + f + " exceeds the size limit");
    }
    if (in.bad()) return Error(Code::kIo, "lint: cannot read " + f);
    out.push_back({f, std::move(text)});
  }
  return out;
}

std::string FormatText(const LintReport& report) {
  std::ostringstream s;
  for (const auto& f : report.findings) {
    s << f.file << ": " << SeverityName(f.severity) << " [" << f.rule << "]";
    if (!f.kind.empty()) {
      s << " " << f.kind << " ";
      if (!f.namespace_.empty()) s << f.namespace_ << "/";
      s << f.name;
    }
    s << ": " << f.message << "\n    fix: " << f.fix << "\n";
  }
  if (report.omitted() > 0)
    s << "... " << report.omitted() << " more finding(s) not shown (a report keeps the first " << kMaxReportedFindings
      << ")\n";
  s << report.errors() << " error(s), " << report.warnings() << " warning(s) in " << report.objects << " object(s)\n";
  return s.str();
}

Json ToJson(const LintReport& report) {
  Json findings = Json::array();
  for (const auto& f : report.findings) {
    findings.push_back({{"severity", SeverityName(f.severity)},
                        {"rule", f.rule},
                        {"file", f.file},
                        {"kind", f.kind},
                        {"namespace", f.namespace_},
                        {"name", f.name},
                        {"message", f.message},
                        {"fix", f.fix}});
  }
  return Json{{"errors", report.errors()},
              {"warnings", report.warnings()},
              {"objects", report.objects},
              {"omitted", report.omitted()},
              {"findings", findings}};
}

}  // namespace astis::lint
