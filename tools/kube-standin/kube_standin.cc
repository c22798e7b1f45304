#include "kube-standin/kube_standin.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "common/encoding.h"
#include "common/time_format.h"
#include "crypto/sha256.h"
#include "jose/jws.h"

namespace astis::kubestandin {

using net::ServerRequest;
using net::ServerResponse;

struct KubeStandin::Principal {
  bool admin = false;
  std::string user;
};

// Route is a parsed /api/v1 resource path.
struct KubeStandin::Route {
  std::string resource;  // pods, secrets, serviceaccounts, namespaces, deployments, mutatingwebhookconfigurations
  std::string ns;        // "" : all namespaces (or cluster-scoped)
  std::string name;      // "" : the collection
  std::string sub;       // status, ephemeralcontainers, token
  std::string verb;      // get, list, watch, create, update, patch, delete
  std::string group;     // "" (core), apps, admissionregistration.k8s.io
  std::string user;      // the authenticated user (admission's userInfo)
};

struct KubeStandin::WatchHub {
  std::mutex mu;
  std::condition_variable cv;
  int open = 0;
};

// WatchState is one open watch stream; it counts itself in the hub.
struct KubeStandin::WatchState {
  explicit WatchState(std::shared_ptr<WatchHub> h) : hub(std::move(h)) {
    std::lock_guard<std::mutex> lock(hub->mu);
    ++hub->open;
    hub->cv.notify_all();
  }
  ~WatchState() {
    std::lock_guard<std::mutex> lock(hub->mu);
    --hub->open;
    hub->cv.notify_all();
  }
  WatchState(const WatchState&) = delete;
  WatchState& operator=(const WatchState&) = delete;

  std::shared_ptr<WatchHub> hub;
  Route route;
  std::string label_selector, field_selector;
  bool table = false;
  bool bookmarks = false;
  int64_t last_rv = 0;
  uint64_t generation = 0;
  std::vector<std::string> pending;  // initial events, or the 410 ERROR
  bool done_after_pending = false;
  std::chrono::steady_clock::time_point deadline, next_bookmark;
};

namespace {

constexpr std::string_view kNodeName = "astis-standin-node";
constexpr std::string_view kHostIp = "192.0.2.10";
constexpr JsonLimits kBodyLimits{1 << 20, 64};
constexpr size_t kMaxAdmissionRecords = 10000;  // AdmissionCalls keeps the latest

ServerResponse JsonResponse(int code, const Json& body) {
  return {code, {{"Content-Type", "application/json"}}, DumpJson(body), {}};
}

// KubeStatus is a kube-apiserver metav1.Status failure response.
ServerResponse KubeStatus(int code, std::string_view reason, std::string_view message,
                          const Json& details = nullptr) {
  Json s{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
         {"status", "Failure"}, {"message", message}, {"reason", reason},
         {"code", code}};
  if (reason.empty()) s.erase("reason");  // a webhook's denial may carry none
  if (!details.is_null()) s["details"] = details;
  return JsonResponse(code, s);
}

ServerResponse NotFound(const std::string& resource, const std::string& name) {
  return KubeStatus(404, "NotFound", resource + " \"" + name + "\" not found",
                    Json{{"name", name}, {"kind", resource}});
}

std::string KindOf(std::string_view resource);
std::string GroupOf(std::string_view resource);

// Invalid is a 422 with the cause as kube-apiserver reports it (field and
// message), which kubectl prints as `The Kind "name" is invalid: field: ...`.
ServerResponse Invalid(const std::string& resource, const std::string& name, const std::string& why) {
  const size_t colon = why.find(": ");
  Json cause{{"reason", "FieldValueInvalid"}, {"message", why}};
  if (colon != std::string::npos && why.find(' ') > colon) {
    cause["field"] = why.substr(0, colon);
    cause["message"] = why.substr(colon + 2);
  }
  const std::string kind = KindOf(resource).empty() ? resource : KindOf(resource);
  return KubeStatus(422, "Invalid", resource + " \"" + name + "\" is invalid: " + why,
                    Json{{"name", name}, {"group", GroupOf(resource)}, {"kind", kind}, {"causes", {cause}}});
}

ServerResponse BadRequest(const std::string& message) { return KubeStatus(400, "BadRequest", message); }

std::string KindOf(std::string_view resource) {
  if (resource == "pods") return "Pod";
  if (resource == "secrets") return "Secret";
  if (resource == "serviceaccounts") return "ServiceAccount";
  if (resource == "namespaces") return "Namespace";
  if (resource == "deployments") return "Deployment";
  if (resource == "mutatingwebhookconfigurations") return "MutatingWebhookConfiguration";
  return "";
}

// GroupOf is the API group serving a resource.
std::string GroupOf(std::string_view resource) {
  if (resource == "deployments") return "apps";
  if (resource == "mutatingwebhookconfigurations") return "admissionregistration.k8s.io";
  return "";
}

std::string ApiVersionOf(std::string_view resource) {
  const std::string g = GroupOf(resource);
  return g.empty() ? "v1" : g + "/v1";
}

bool IsNamespacedResource(std::string_view r) {
  return r == "pods" || r == "secrets" || r == "serviceaccounts" || r == "deployments";
}

bool IsClusterScopedResource(std::string_view r) { return r == "mutatingwebhookconfigurations"; }

// The alphabet of k8s.io/apimachinery/pkg/util/rand (no vowels, no 0/1/3),
// used for generateName suffixes and pod-template-hash.
constexpr std::string_view kNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";

std::string SafeEncode(std::span<const uint8_t> bytes, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < bytes.size(); ++i) out += kNameAlphabet[bytes[i] % kNameAlphabet.size()];
  return out;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    out.emplace_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = HexDecode(std::string(s.substr(i + 1, 2)));
      if (hex.ok() && hex->size() == 1) {
        out += static_cast<char>((*hex)[0]);
        i += 2;
      } else {
        out += s[i];
      }
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  if (query.empty()) return out;
  for (const std::string& part : Split(query, '&')) {
    const size_t eq = part.find('=');
    if (eq == std::string::npos) {
      out[PercentDecode(part)] = "";
    } else {
      out[PercentDecode(part.substr(0, eq))] = PercentDecode(part.substr(eq + 1));
    }
  }
  return out;
}

std::string Param(const std::map<std::string, std::string>& q, const std::string& name) {
  auto it = q.find(name);
  return it == q.end() ? "" : it->second;
}

// StringAt returns obj[a][b] when it is a string, else "".
std::string StringAt(const Json& obj, std::string_view a, std::string_view b = {}) {
  if (!obj.is_object()) return "";
  auto it = obj.find(a);
  if (it == obj.end()) return "";
  if (b.empty()) return it->is_string() ? it->get<std::string>() : "";
  if (!it->is_object()) return "";
  auto jt = it->find(b);
  return jt != it->end() && jt->is_string() ? jt->get<std::string>() : "";
}

// FieldValue reads the fields kube-apiserver supports in a pod fieldSelector.
std::optional<std::string> FieldValue(const Json& obj, std::string_view field) {
  if (field == "metadata.name") return StringAt(obj, "metadata", "name");
  if (field == "metadata.namespace") return StringAt(obj, "metadata", "namespace");
  if (field == "spec.nodeName") return StringAt(obj, "spec", "nodeName");
  if (field == "spec.serviceAccountName") return StringAt(obj, "spec", "serviceAccountName");
  if (field == "status.phase") return StringAt(obj, "status", "phase");
  return std::nullopt;  // unsupported field: ignored (documented)
}

// MatchesSelectors applies the equality forms of labelSelector (k=v, k==v,
// k!=v, k, !k) and fieldSelector (k=v, k==v, k!=v); set-based terms and
// unknown fields are ignored (docs/kube-standin.md).
bool MatchesSelectors(const Json& obj, const std::string& labels, const std::string& fields) {
  const Json* label_map = nullptr;
  if (obj.contains("metadata") && obj["metadata"].is_object() && obj["metadata"].contains("labels") &&
      obj["metadata"]["labels"].is_object()) {
    label_map = &obj["metadata"]["labels"];
  }
  auto label = [&](const std::string& k) -> std::optional<std::string> {
    if (label_map == nullptr || !label_map->contains(k) || !(*label_map)[k].is_string()) return std::nullopt;
    return (*label_map)[k].get<std::string>();
  };
  if (!labels.empty()) {
    for (const std::string& term : Split(labels, ',')) {
      if (term.find(' ') != std::string::npos || term.find('(') != std::string::npos) continue;  // set-based
      const size_t ne = term.find("!=");
      const size_t eq = term.find('=');
      if (ne != std::string::npos) {
        if (label(term.substr(0, ne)) == term.substr(ne + 2)) return false;
      } else if (eq != std::string::npos) {
        const size_t vstart = term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
        if (label(term.substr(0, eq)) != term.substr(vstart)) return false;
      } else if (!term.empty() && term[0] == '!') {
        if (label(term.substr(1)).has_value()) return false;
      } else if (!term.empty() && !label(term).has_value()) {
        return false;
      }
    }
  }
  if (!fields.empty()) {
    for (const std::string& term : Split(fields, ',')) {
      const size_t ne = term.find("!=");
      const size_t eq = term.find('=');
      if (eq == std::string::npos) continue;
      const bool negate = ne != std::string::npos;
      const std::string key = term.substr(0, negate ? ne : eq);
      const size_t vstart = negate ? ne + 2 : (term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1);
      std::optional<std::string> v = FieldValue(obj, key);
      if (!v.has_value()) continue;
      if ((*v == term.substr(vstart)) == negate) return false;
    }
  }
  return true;
}

// Rfc3339 renders Unix seconds as Kubernetes does: "YYYY-MM-DDTHH:MM:SSZ".
std::string Rfc3339(int64_t unix) { return FormatRfc3339(unix * 1000, TimePrecision::kSeconds); }

std::optional<int64_t> ParseRfc3339(const std::string& s) {
  std::tm tm{};
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

std::string Age(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m";
  if (seconds < 172800) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

// UuidFromBytes formats 16 bytes as an RFC 9562 version-4 UUID.
std::string UuidFromBytes(std::span<const uint8_t> b16) {
  uint8_t b[16];
  std::copy(b16.begin(), b16.begin() + 16, b);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  const std::string h = HexEncode(std::span<const uint8_t>(b, 16));
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

// StableUuid derives a UUID from a name (namespaces and the node have no
// stored object; their uid must not change between reads).
std::string StableUuid(std::string_view name) {
  const Sha256Digest d = Sha256(name);
  return UuidFromBytes(std::span<const uint8_t>(d.data(), 16));
}

// ImageId is what the stand-in's container runtime reports as imageID: the
// image's own digest in dockershim's docker-pullable:// form when the image
// is pinned by digest, else the digest of "the stand-in's registry", which
// is sha256 of the image string (docs/kube-standin.md).
std::string ImageId(const std::string& image) {
  if (image.find("@sha256:") != std::string::npos) return "docker-pullable://" + image;
  std::string repo = image;
  const size_t slash = repo.rfind('/');
  const size_t colon = repo.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) repo = repo.substr(0, colon);
  return "docker-pullable://" + repo + "@sha256:" + HexEncode(Sha256(image));
}

Json RunningStatus(const Json& container, const std::string& pod_uid, const std::string& now, bool ephemeral) {
  const std::string name = StringAt(container, "name");
  const std::string image = StringAt(container, "image");
  Json st{{"name", name},
          {"image", image},
          {"imageID", ImageId(image)},
          {"containerID", "docker://" + HexEncode(Sha256(pod_uid + "/" + name))},
          {"ready", !ephemeral},
          {"restartCount", 0},
          {"state", {{"running", {{"startedAt", now}}}}},
          {"lastState", Json::object()}};
  if (!ephemeral) st["started"] = true;
  return st;
}

// EnsureStatuses gives every container of list a status in status_list
// (existing statuses are kept).
void EnsureStatuses(Json& pod, const char* list, const char* status_list, const std::string& now, bool ephemeral) {
  if (!pod["spec"].contains(list) || !pod["spec"][list].is_array()) return;
  Json& statuses = pod["status"][status_list];
  if (!statuses.is_array()) statuses = Json::array();
  const std::string uid = StringAt(pod, "metadata", "uid");
  for (const Json& c : pod["spec"][list]) {
    const std::string name = StringAt(c, "name");
    const bool have = std::any_of(statuses.begin(), statuses.end(),
                                  [&](const Json& s) { return StringAt(s, "name") == name; });
    if (!have) statuses.push_back(RunningStatus(c, uid, now, ephemeral));
  }
}

// MergeKey is the strategic-merge-patch key of a list field (the
// patchMergeKey tags of core/v1 types.go), or "" to replace the list.
std::string MergeKey(std::string_view field, const Json& list) {
  if (field == "conditions") return "type";
  if (field == "ports") return "containerPort";
  if (field == "volumeMounts") return "mountPath";
  if (field == "podIPs" || field == "hostIPs") return "ip";
  const bool named = std::all_of(list.begin(), list.end(),
                                 [](const Json& e) { return e.is_object() && e.contains("name"); });
  return named && !list.empty() ? "name" : "";
}

// StrategicMerge applies a strategic merge patch: objects merge
// recursively, null deletes, lists with a merge key merge by it (an element
// with "$patch":"delete" removes its match), other lists are replaced.
Json StrategicMerge(Json target, const Json& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    if (!k.empty() && k[0] == '$') continue;  // $patch, $setElementOrder/..., $retainKeys
    const Json& v = it.value();
    if (v.is_null()) {
      target.erase(k);
    } else if (v.is_object() && target.contains(k) && target[k].is_object()) {
      target[k] = StrategicMerge(target[k], v);
    } else if (v.is_array() && target.contains(k) && target[k].is_array() && !MergeKey(k, v).empty()) {
      const std::string key = MergeKey(k, v);
      Json& list = target[k];
      for (const Json& e : v) {
        auto match = std::find_if(list.begin(), list.end(), [&](const Json& x) {
          return x.is_object() && x.contains(key) && x[key] == e[key];
        });
        const bool del = e.contains("$patch") && e["$patch"] == "delete";
        if (del) {
          if (match != list.end()) list.erase(match);
        } else if (match != list.end()) {
          *match = StrategicMerge(*match, e);
        } else {
          Json clean = StrategicMerge(Json::object(), e);
          list.push_back(std::move(clean));
        }
      }
    } else {
      target[k] = v.is_object() ? StrategicMerge(Json::object(), v) : v;
    }
  }
  return target;
}

std::string MediaType(const ServerRequest& req) {
  std::string ct = req.Header("Content-Type").value_or("");
  const size_t semi = ct.find(';');
  if (semi != std::string::npos) ct.resize(semi);
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  return ct;
}

// ApplyPatch applies the body of a PATCH as its Content-Type says. The
// exceptions nlohmann throws for a bad JSON patch are caught here.
Result<Json> ApplyPatch(const std::string& media_type, const Json& original, const std::string& body) {
  ASTIS_ASSIGN_OR_RETURN(Json patch, ParseJson(body, kBodyLimits));
  try {
    if (media_type == "application/json-patch+json") {
      if (!patch.is_array()) return Error(Code::kInvalidArgument, "a JSON patch is an array");
      return original.patch(patch);
    }
    if (media_type == "application/merge-patch+json") {
      Json out = original;
      out.merge_patch(patch);
      return out;
    }
    if (media_type == "application/strategic-merge-patch+json") return StrategicMerge(original, patch);
  } catch (const std::exception&) {
    return Error(Code::kInvalidArgument, "the patch does not apply");
  }
  return Error(Code::kFailedPrecondition, "unsupported patch type");
}

// PemToDer decodes the base64 body of a single PEM block.
Result<std::vector<uint8_t>> PemToDer(const std::string& pem) {
  std::string b64;
  std::istringstream in(pem);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("-----", 0) == 0) continue;
    b64 += line;
  }
  return B64Decode(b64);
}

// KeyId is how kube-apiserver names a signing key: base64url(SHA-256(DER
// SubjectPublicKeyInfo)) (testdata/kubernetes/k8s-oidc.json, kid_verification).
Result<std::string> KeyId(const SigningKey& key) {
  ASTIS_ASSIGN_OR_RETURN(std::string pem, key.ExportPublicPem());
  ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> der, PemToDer(pem));
  return B64uEncode(Sha256(der));
}

Result<SecretBytes> TokenOrRandom(const std::string& given, Random& rng) {
  if (!given.empty()) return SecretBytes::CopyFrom(given);
  std::vector<uint8_t> raw(32);
  ASTIS_RETURN_IF_ERROR(rng.Fill(raw));
  std::string b64 = B64uEncode(raw);
  SecretBytes out = SecretBytes::CopyFrom(b64);
  SecureWipe(b64.data(), b64.size());
  SecureWipe(raw.data(), raw.size());
  return out;
}

bool AcceptsTable(const ServerRequest& req) {
  return req.Header("Accept").value_or("").find("as=Table") != std::string::npos;
}

Json PartialMetadata(const Json& obj) {
  Json meta = obj.contains("metadata") ? obj["metadata"] : Json::object();
  return Json{{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", meta}};
}

// TableOf renders objects as the meta.k8s.io/v1 Table kubectl asks for
// (Accept: application/json;as=Table;v=v1;g=meta.k8s.io), with the columns
// the real server prints for pods and Name/Age for everything else.
Json TableOf(const std::string& resource, const std::vector<Json>& objects, int64_t rv, int64_t now) {
  auto col = [](const char* name, const char* type, const char* format, int priority) {
    return Json{{"name", name}, {"type", type}, {"format", format}, {"description", ""}, {"priority", priority}};
  };
  Json cols = Json::array();
  cols.push_back(col("Name", "string", "name", 0));
  if (resource == "pods") {
    cols.push_back(col("Ready", "string", "", 0));
    cols.push_back(col("Status", "string", "", 0));
    cols.push_back(col("Restarts", "string", "", 0));
  }
  cols.push_back(col("Age", "string", "", 0));
  if (resource == "pods") {
    cols.push_back(col("IP", "string", "", 1));
    cols.push_back(col("Node", "string", "", 1));
  }
  Json rows = Json::array();
  for (const Json& o : objects) {
    const std::optional<int64_t> created = ParseRfc3339(StringAt(o, "metadata", "creationTimestamp"));
    const std::string age = created ? Age(now - *created) : "<unknown>";
    Json cells = Json::array({StringAt(o, "metadata", "name")});
    if (resource == "pods") {
      int total = 0, ready = 0, restarts = 0;
      if (o.contains("spec") && o["spec"].contains("containers")) total = static_cast<int>(o["spec"]["containers"].size());
      if (o.contains("status") && o["status"].contains("containerStatuses")) {
        for (const Json& s : o["status"]["containerStatuses"]) {
          if (s.value("ready", false)) ++ready;
          if (s.contains("restartCount") && s["restartCount"].is_number_integer()) restarts += s["restartCount"].get<int>();
        }
      }
      std::string phase = StringAt(o, "status", "phase");
      if (o.contains("metadata") && o["metadata"].contains("deletionTimestamp")) phase = "Terminating";
      cells.push_back(std::to_string(ready) + "/" + std::to_string(total));
      cells.push_back(phase);
      cells.push_back(restarts);
      cells.push_back(age);
      cells.push_back(StringAt(o, "status", "podIP"));
      cells.push_back(StringAt(o, "spec", "nodeName"));
    } else {
      cells.push_back(age);
    }
    rows.push_back(Json{{"cells", cells}, {"object", PartialMetadata(o)}});
  }
  return Json{{"kind", "Table"},
              {"apiVersion", "meta.k8s.io/v1"},
              {"metadata", {{"resourceVersion", std::to_string(rv)}}},
              {"columnDefinitions", cols},
              {"rows", rows}};
}

// ProtoReader walks protobuf wire format (varint and length-delimited
// fields only; anything else stops it).
class ProtoReader {
 public:
  explicit ProtoReader(std::string_view data) : d_(data) {}
  // Next reads one field; false at the end or on malformed input.
  bool Next(uint32_t* field, uint64_t* varint, std::string_view* bytes) {
    uint64_t key = 0;
    if (!Varint(&key)) return false;
    *field = static_cast<uint32_t>(key >> 3);
    const uint64_t wire = key & 7;
    if (wire == 0) return Varint(varint);
    if (wire != 2) return false;
    uint64_t len = 0;
    if (!Varint(&len) || len > d_.size() - pos_) return false;
    *bytes = d_.substr(pos_, len);
    pos_ += len;
    return true;
  }

 private:
  bool Varint(uint64_t* out) {
    *out = 0;
    for (int shift = 0; shift < 64 && pos_ < d_.size(); shift += 7) {
      const uint8_t b = static_cast<uint8_t>(d_[pos_++]);
      *out |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  std::string_view d_;
  size_t pos_ = 0;
};

// TokenRequestFromProtobuf decodes the body kubectl sends for `create
// token` (Content-Type application/vnd.kubernetes.protobuf): the "k8s\0"
// magic, runtime.Unknown{raw = 2} holding authentication/v1 TokenRequest
// {spec = 2: audiences = 1, boundObjectRef = 3 {kind 1, apiVersion 2, name 3,
// uid 4}, expirationSeconds = 4}. Returns the JSON form, or kInvalidArgument.
Result<Json> TokenRequestFromProtobuf(std::string_view body) {
  constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic) return Error(Code::kInvalidArgument, "not a Kubernetes protobuf body");
  uint32_t f = 0;
  uint64_t v = 0;
  std::string_view b, raw, spec_bytes;
  ProtoReader unknown(body.substr(4));
  while (unknown.Next(&f, &v, &b)) {
    if (f == 2) raw = b;
  }
  ProtoReader request(raw);
  while (request.Next(&f, &v, &b)) {
    if (f == 2) spec_bytes = b;
  }
  Json spec = Json::object();
  ProtoReader sr(spec_bytes);
  while (sr.Next(&f, &v, &b)) {
    if (f == 1) spec["audiences"].push_back(std::string(b));
    if (f == 4) spec["expirationSeconds"] = static_cast<int64_t>(v);
    if (f == 3) {
      Json ref = Json::object();
      ProtoReader rr(b);
      while (rr.Next(&f, &v, &b)) {
        static constexpr const char* kNames[] = {"", "kind", "apiVersion", "name", "uid"};
        if (f >= 1 && f <= 4) ref[kNames[f]] = std::string(b);
      }
      spec["boundObjectRef"] = ref;
    }
  }
  return Json{{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", spec}};
}

// OpenApiV3 is a minimal OpenAPI v3 document: a PATCH path per kind with
// the fieldValidation query parameter, which is how a server says it
// validates fields itself. kubectl 1.32 reads it but still falls back to
// /openapi/v2 (404 here), so `kubectl apply/create -f` need
// --validate=false (docs/kube-standin.md "Known gaps").
Json OpenApiV3(std::string_view version, std::string_view group = "") {
  Json paths = Json::object();
  auto add = [&](const std::string& path, const char* kind) {
    paths[path] = {{"patch",
                    {{"x-kubernetes-group-version-kind", {{"group", group}, {"version", "v1"}, {"kind", kind}}},
                     {"responses", {{"200", {{"description", "OK"}}}}}}},
                   {"parameters", {{{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}}}}};
  };
  if (group == "apps") {
    add("/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "Deployment");
  } else if (group == "admissionregistration.k8s.io") {
    add("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{name}", "MutatingWebhookConfiguration");
  } else {
    add("/api/v1/namespaces/{namespace}/pods/{name}", "Pod");
    add("/api/v1/namespaces/{namespace}/secrets/{name}", "Secret");
    add("/api/v1/namespaces/{namespace}/serviceaccounts/{name}", "ServiceAccount");
    add("/api/v1/namespaces/{name}", "Namespace");
  }
  return Json{{"openapi", "3.0.0"}, {"info", {{"title", "Kubernetes"}, {"version", version}}}, {"paths", paths}};
}

Json WatchEvent(const std::string& type, Json object) { return Json{{"type", type}, {"object", std::move(object)}}; }

Json WithKind(Json obj, const std::string& resource) {
  obj["kind"] = KindOf(resource);
  obj["apiVersion"] = ApiVersionOf(resource);
  return obj;
}

std::string LabelOf(const Json& obj, const std::string& key) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  const Json& m = obj["metadata"];
  if (!m.contains("labels") || !m["labels"].is_object() || !m["labels"].contains(key)) return "";
  return m["labels"][key].is_string() ? m["labels"][key].get<std::string>() : "";
}

// TemplateHash is the stand-in's pod-template-hash: SHA-256 of the template
// in the alphabet the real controller uses (the value differs from the
// real FNV hash; only its role matters).
std::string TemplateHash(const Json& tmpl) {
  const Sha256Digest d = Sha256(DumpJson(tmpl));
  return SafeEncode(std::span<const uint8_t>(d.data(), d.size()), 10);
}

// ReplicaSetUid names the (not served) ReplicaSet of a Deployment revision.
std::string ReplicaSetUid(const std::string& deployment_uid, const std::string& hash) {
  return StableUuid("replicaset/" + deployment_uid + "/" + hash);
}

// OwnedBy: pod belongs to a ReplicaSet of deployment.
bool OwnedBy(const Json& pod, const Json& deployment) {
  const std::string hash = LabelOf(pod, "pod-template-hash");
  if (hash.empty() || !pod["metadata"].contains("ownerReferences") || !pod["metadata"]["ownerReferences"].is_array()) {
    return false;
  }
  const std::string rs_uid = ReplicaSetUid(StringAt(deployment, "metadata", "uid"), hash);
  const Json& refs = pod["metadata"]["ownerReferences"];
  return std::any_of(refs.begin(), refs.end(), [&](const Json& o) { return StringAt(o, "uid") == rs_uid; });
}

// PodFromTemplate is the pod a Deployment's ReplicaSet creates: template
// metadata and spec, pod-template-hash, generateName
// <deployment>-<hash>-, and a controller ownerReference to the ReplicaSet.
Json PodFromTemplate(const Json& deployment, const std::string& hash) {
  const Json& tmpl = deployment["spec"]["template"];
  const std::string name = StringAt(deployment, "metadata", "name");
  const std::string rs = name + "-" + hash;
  Json meta = tmpl.contains("metadata") && tmpl["metadata"].is_object() ? tmpl["metadata"] : Json::object();
  meta.erase("name");
  meta.erase("creationTimestamp");
  meta["generateName"] = rs + "-";
  meta["namespace"] = StringAt(deployment, "metadata", "namespace");
  meta["labels"]["pod-template-hash"] = hash;
  meta["ownerReferences"] = Json::array({Json{{"apiVersion", "apps/v1"},
                                              {"kind", "ReplicaSet"},
                                              {"name", rs},
                                              {"uid", ReplicaSetUid(StringAt(deployment, "metadata", "uid"), hash)},
                                              {"controller", true},
                                              {"blockOwnerDeletion", true}}});
  return Json{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", meta}, {"spec", tmpl["spec"]}};
}

// ValidateWrite checks and defaults what a create, update or patch stores
// for the resources that need it (old: the stored object, nullptr on
// create). Returns the refusal, if any.
std::optional<ServerResponse> ValidateWrite(const std::string& resource, const std::string& name, Json& obj,
                                            const Json* old) {
  if (resource == "mutatingwebhookconfigurations") {
    // Test AdmissionMatchTest.WebhookConfigurationValidation,
    // AdmissionTest.WebhookConfigurationIsValidatedOnApply.
    Status v = ValidateMutatingWebhookConfiguration(obj);
    if (!v.ok()) return Invalid(resource, name, v.message());
    return std::nullopt;
  }
  if (resource != "deployments") return std::nullopt;
  // apps/v1 validation the controller depends on (test
  // AdmissionTest.DeploymentValidation).
  if (!obj.contains("spec") || !obj["spec"].is_object()) return Invalid(resource, name, "spec: Required value");
  Json& spec = obj["spec"];
  if (!spec.contains("selector") || !spec["selector"].is_object() || spec["selector"].empty()) {
    return Invalid(resource, name, "spec.selector: Required value");
  }
  if (!spec.contains("template") || !spec["template"].is_object()) {
    return Invalid(resource, name, "spec.template: Required value");
  }
  Json& tmpl = spec["template"];
  const bool has_labels =
      tmpl.contains("metadata") && tmpl["metadata"].is_object() && tmpl["metadata"].contains("labels");
  Result<bool> sel = LabelSelectorMatches(spec["selector"], has_labels ? tmpl["metadata"]["labels"] : Json::object());
  if (!sel.ok()) return Invalid(resource, name, "spec.selector: " + sel.status().message());
  if (!*sel) {
    return Invalid(resource, name,
                   "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`");
  }
  if (!tmpl.contains("spec") || !tmpl["spec"].is_object() || !tmpl["spec"].contains("containers") ||
      !tmpl["spec"]["containers"].is_array() || tmpl["spec"]["containers"].empty()) {
    return Invalid(resource, name, "spec.template.spec.containers: Required value");
  }
  if (!spec.contains("replicas")) spec["replicas"] = 1;
  if (!spec["replicas"].is_number_integer() || spec["replicas"].get<int64_t>() < 0 ||
      spec["replicas"].get<int64_t>() > 100) {
    return Invalid(resource, name, "spec.replicas: Invalid value: the stand-in runs 0 to 100 replicas");
  }
  if (!spec.contains("strategy")) {
    spec["strategy"] = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", "25%"}, {"maxUnavailable", "25%"}}}};
  }
  if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
  if (!spec.contains("progressDeadlineSeconds")) spec["progressDeadlineSeconds"] = 600;
  if (old == nullptr) {
    obj["metadata"]["generation"] = 1;
    obj["status"] = Json::object();
  } else {
    // generation counts spec changes; status only changes through the controller.
    const Json& om = (*old)["metadata"];
    int64_t gen = 1;
    if (om.contains("generation") && om["generation"].is_number_integer()) gen = om["generation"].get<int64_t>();
    if (!old->contains("spec") || (*old)["spec"] != spec) ++gen;
    obj["metadata"]["generation"] = gen;
    obj["status"] = old->contains("status") ? (*old)["status"] : Json::object();
  }
  return std::nullopt;
}

// ParseRoute maps /api/v1/... onto a Route; false for any other path.
bool ParseRoute(const ServerRequest& req, KubeStandin::Route* r) {
  std::vector<std::string> s = Split(req.path, '/');
  // s[0] is "" (the leading slash). /apis/{group}/v1/... is read as
  // /api/v1/... and the group checked against the resource's below.
  if (s.size() >= 4 && s[1] == "apis") {
    if (s[3] != "v1") return false;
    r->group = s[2];
    s.erase(s.begin() + 2);
    s[1] = "api";
  }
  if (s.size() < 4 || s[1] != "api" || s[2] != "v1") return false;
  const bool get = req.method == "GET";
  if (s.size() == 4) {  // /api/v1/{resource}: all namespaces, or namespaces
    if (KindOf(s[3]).empty()) return false;
    r->resource = s[3];
  } else if (IsClusterScopedResource(s[3]) && s.size() == 5) {  // cluster-scoped object
    r->resource = s[3];
    r->name = s[4];
  } else if (s[3] == "namespaces" && s.size() == 5) {  // /api/v1/namespaces/{name}
    r->resource = "namespaces";
    r->name = s[4];
  } else if (s[3] == "namespaces" && s.size() >= 6 && s.size() <= 8) {
    if (!IsNamespacedResource(s[5])) return false;
    r->ns = s[4];
    r->resource = s[5];
    if (s.size() >= 7) r->name = s[6];
    if (s.size() == 8) r->sub = s[7];
  } else {
    return false;
  }
  if (s.size() >= 6 && r->ns.empty()) return false;
  if (GroupOf(r->resource) != r->group) return false;
  if (r->name.empty() && s.size() >= 7) return false;
  if (r->name.empty()) {
    if (get) {
      const auto q = ParseQuery(req.query);
      const std::string w = Param(q, "watch");
      r->verb = (w == "1" || w == "true") ? "watch" : "list";
    } else {
      r->verb = req.method == "POST" ? "create" : req.method == "DELETE" ? "deletecollection" : "unsupported";
    }
  } else {
    r->verb = get                     ? "get"
              : req.method == "PUT"   ? "update"
              : req.method == "PATCH" ? "patch"
              : req.method == "DELETE" ? "delete"
              : req.method == "POST"  ? "create"
                                      : "unsupported";
  }
  return true;
}

}  // namespace

KubeStandin::KubeStandin(StandinOptions options, net::testing::TestPki pki, SigningKey rsa, SigningKey ec)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : DefaultClock()),
      rng_(options_.rng != nullptr ? *options_.rng : DefaultRandom()),
      pki_(std::move(pki)),
      rsa_(std::move(rsa)),
      ec_(std::move(ec)),
      hub_(std::make_shared<WatchHub>()) {}

Result<std::unique_ptr<KubeStandin>> KubeStandin::Start(StandinOptions options) {
  ASTIS_ASSIGN_OR_RETURN(net::testing::TestPki pki, net::testing::TestPki::Create());
  ASTIS_ASSIGN_OR_RETURN(SigningKey rsa, SigningKey::GenerateRsa(2048));
  ASTIS_ASSIGN_OR_RETURN(SigningKey ec, SigningKey::GenerateEc(PublicKeyKind::kEcP256));
  std::unique_ptr<KubeStandin> s(new KubeStandin(std::move(options), std::move(pki), std::move(rsa), std::move(ec)));
  ASTIS_ASSIGN_OR_RETURN(s->read_token_, TokenOrRandom(s->options_.read_token, s->rng_));
  ASTIS_ASSIGN_OR_RETURN(s->admin_token_, TokenOrRandom(s->options_.admin_token, s->rng_));
  if (ConstantTimeEquals(s->read_token_.Reveal(), s->admin_token_.Reveal())) {
    return Error(Code::kInvalidArgument, "the read and admin tokens must differ");
  }
  SecureWipe(s->options_.read_token.data(), s->options_.read_token.size());
  SecureWipe(s->options_.admin_token.data(), s->options_.admin_token.size());
  s->options_.read_token.clear();
  s->options_.admin_token.clear();
  ASTIS_ASSIGN_OR_RETURN(s->rsa_kid_, KeyId(s->rsa_));
  ASTIS_ASSIGN_OR_RETURN(s->ec_kid_, KeyId(s->ec_));
  ASTIS_RETURN_IF_ERROR(s->Listen(s->options_.port));
  s->issuer_ = s->options_.issuer.empty() ? s->url() : s->options_.issuer;
  KubeStandin* self = s.get();
  s->controller_ = std::thread([self] { self->ControllerLoop(); });
  return s;
}

KubeStandin::~KubeStandin() {
  StopController();
  Stop();
}

Status KubeStandin::Listen(uint16_t port) {
  net::ServerConfig config;
  config.bind_address = options_.bind_address;
  config.port = port;
  config.tls = pki_.ServerTls();
  config.threads = 2;
  config.limits.max_body_bytes = kBodyLimits.max_bytes;
  ASTIS_ASSIGN_OR_RETURN(server_, net::HttpServer::Start(config, [this](const ServerRequest& r) { return Handle(r); }));
  port_ = server_->port();
  return OkStatus();
}

std::string KubeStandin::url() const {
  const bool v6 = options_.bind_address.find(':') != std::string::npos;
  return "https://" + (v6 ? "[" + options_.bind_address + "]" : options_.bind_address) + ":" + std::to_string(port_);
}

void KubeStandin::Stop() {
  if (server_ == nullptr) return;
  server_->Stop(std::chrono::milliseconds(0));
  server_.reset();
}

Status KubeStandin::Restart() {
  if (server_ != nullptr) return Error(Code::kFailedPrecondition, "stand-in already running");
  return Listen(port_);
}

void KubeStandin::SetIssuer(std::string issuer) {
  std::lock_guard<std::mutex> lock(mu_);
  issuer_ = std::move(issuer);
}

std::string KubeStandin::issuer() const {
  std::lock_guard<std::mutex> lock(mu_);
  return issuer_;
}

std::string KubeStandin::JwksJson() const {
  // Member order as kube-apiserver emits it (k8s-oidc.json jwks_raw).
  using OJson = nlohmann::ordered_json;
  const Json r = rsa_.PublicJwkMembers();
  const Json e = ec_.PublicJwkMembers();
  OJson keys = OJson::array();
  keys.push_back(OJson{{"use", "sig"}, {"kty", "RSA"}, {"kid", rsa_kid_}, {"alg", "RS256"}, {"n", r["n"]}, {"e", r["e"]}});
  keys.push_back(OJson{{"use", "sig"},
                       {"kty", "EC"},
                       {"kid", ec_kid_},
                       {"crv", "P-256"},
                       {"alg", "ES256"},
                       {"x", e["x"]},
                       {"y", e["y"]}});
  return OJson{{"keys", keys}}.dump();
}

std::string KubeStandin::OpenIdConfigurationJson() const {
  using OJson = nlohmann::ordered_json;
  return OJson{{"issuer", issuer()},
               {"jwks_uri", url() + "/openid/v1/jwks"},
               {"response_types_supported", {"id_token"}},
               {"subject_types_supported", {"public"}},
               {"id_token_signing_alg_values_supported", {"ES256", "RS256"}}}
      .dump();
}

Status KubeStandin::WriteKubeconfig(const std::string& path, std::string_view token) const {
  std::ostringstream y;
  y << "apiVersion: v1\nkind: Config\nclusters:\n- name: astis-standin\n  cluster:\n"
    << "    server: " << url() << "\n    certificate-authority-data: " << B64Encode(ca_cert_pem()) << "\n"
    << "users:\n- name: astis-standin-user\n  user:\n    token: " << token << "\n"
    << "contexts:\n- name: astis-standin\n  context:\n    cluster: astis-standin\n"
    << "    user: astis-standin-user\n    namespace: default\n"
    << "current-context: astis-standin\n";
  std::string text = y.str();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Error(Code::kIo, "cannot write " + tmp);
    ::chmod(tmp.c_str(), 0600);
    out << text;
    if (!out.flush()) return Error(Code::kIo, "cannot write " + tmp);
  }
  SecureWipe(text.data(), text.size());
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Error(Code::kIo, "cannot rename to " + path);
  return OkStatus();
}

std::string KubeStandin::NowRfc3339() const { return Rfc3339(clock_.NowUnix()); }

std::string KubeStandin::NewUidLocked() {
  uint8_t b[16];
  if (!rng_.Fill(b).ok()) std::abort();  // an unseeded CSPRNG: nothing sane to do
  return UuidFromBytes(b);
}

int64_t KubeStandin::resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resource_version_;
}

void KubeStandin::EmitLocked(std::string type, const Key& key, const Json& object) {
  history_.push_back(Event{resource_version_, std::move(type), key, object});
  while (history_.size() > std::max<size_t>(options_.history_limit, 1)) {
    compacted_rv_ = history_.front().rv;
    history_.pop_front();
  }
  cv_.notify_all();
}

Json KubeStandin::StoreLocked(const Key& key, Json object, bool created) {
  object["metadata"]["resourceVersion"] = std::to_string(++resource_version_);
  objects_[key] = object;
  EmitLocked(created ? "ADDED" : "MODIFIED", key, object);
  return object;
}

Status KubeStandin::PutPod(Json pod) {
  if (!pod.is_object() || StringAt(pod, "metadata", "namespace").empty() || StringAt(pod, "metadata", "name").empty()) {
    return Error(Code::kInvalidArgument, "pod without metadata.namespace/name");
  }
  Key key{"pods", StringAt(pod, "metadata", "namespace"), StringAt(pod, "metadata", "name")};
  std::lock_guard<std::mutex> lock(mu_);
  const bool created = objects_.count(key) == 0;
  StoreLocked(key, std::move(pod), created);
  return OkStatus();
}

Result<Json> KubeStandin::GetPod(std::string_view ns, std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(Key{"pods", std::string(ns), std::string(name)});
  if (it == objects_.end()) return Error(Code::kNotFound, "no such pod");
  return it->second;
}

bool KubeStandin::DeletePod(std::string_view ns, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  return DeletePodLocked(Key{"pods", std::string(ns), std::string(name)});
}

bool KubeStandin::DeletePodLocked(const Key& key) {
  auto it = objects_.find(key);
  if (it == objects_.end()) return false;
  Json obj = std::move(it->second);
  objects_.erase(it);
  obj["metadata"]["resourceVersion"] = std::to_string(++resource_version_);
  obj["metadata"]["deletionTimestamp"] = NowRfc3339();
  obj["metadata"]["deletionGracePeriodSeconds"] = 0;
  EmitLocked("DELETED", key, obj);
  return true;
}

Status KubeStandin::AddEphemeralContainer(std::string_view ns, std::string_view name, std::string_view container,
                                          std::string_view image, std::string_view image_id) {
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{"pods", std::string(ns), std::string(name)};
  auto it = objects_.find(key);
  if (it == objects_.end()) return Error(Code::kNotFound, "no such pod");
  Json pod = it->second;
  // The shape kubectl debug produces (testdata/kubernetes/pod-derived-terminating-ephemeral.json).
  pod["spec"]["ephemeralContainers"].push_back(Json{{"name", container},
                                                    {"image", image},
                                                    {"imagePullPolicy", "IfNotPresent"},
                                                    {"stdin", true},
                                                    {"tty", true},
                                                    {"terminationMessagePath", "/dev/termination-log"},
                                                    {"terminationMessagePolicy", "File"}});
  Json st = RunningStatus(Json{{"name", container}, {"image", image}}, StringAt(pod, "metadata", "uid"),
                          NowRfc3339(), true);
  st["imageID"] = image_id;
  pod["status"]["ephemeralContainerStatuses"].push_back(std::move(st));
  StoreLocked(key, std::move(pod), false);
  return OkStatus();
}

Status KubeStandin::RestartContainer(std::string_view ns, std::string_view name, std::string_view container,
                                     int exit_code, std::string_view reason) {
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{"pods", std::string(ns), std::string(name)};
  auto it = objects_.find(key);
  if (it == objects_.end()) return Error(Code::kNotFound, "no such pod");
  Json pod = it->second;
  const std::string uid = StringAt(pod, "metadata", "uid");
  const std::string now = NowRfc3339();
  for (const char* list : {"containerStatuses", "initContainerStatuses"}) {
    if (!pod.contains("status") || !pod["status"].contains(list) || !pod["status"][list].is_array()) continue;
    for (Json& st : pod["status"][list]) {
      if (StringAt(st, "name") != container) continue;
      // What the kubelet reports after it started the replacement container
      // (kuberuntime: restartCount = previous + 1; the old one's exit in lastState).
      const int64_t restarts = st.contains("restartCount") && st["restartCount"].is_number_integer()
                                   ? st["restartCount"].get<int64_t>() + 1
                                   : 1;
      const std::string old_id = StringAt(st, "containerID");
      std::string started = now;
      if (st.contains("state") && st["state"].is_object()) {
        const std::string was = StringAt(st["state"], "running", "startedAt");
        if (!was.empty()) started = was;
      }
      st["lastState"] = Json{{"terminated",
                              {{"exitCode", exit_code},
                               {"reason", std::string(reason)},
                               {"startedAt", started},
                               {"finishedAt", now},
                               {"containerID", old_id}}}};
      st["state"] = Json{{"running", {{"startedAt", now}}}};
      st["restartCount"] = restarts;
      st["containerID"] = "docker://" + HexEncode(Sha256(uid + "/" + std::string(container) + "/" +
                                                         std::to_string(restarts)));
      st["ready"] = true;
      StoreLocked(key, std::move(pod), false);
      return OkStatus();
    }
  }
  return Error(Code::kNotFound, "no status for that container");
}

void KubeStandin::KubeletLocked(Json& pod) {
  const std::string now = NowRfc3339();
  Json& spec = pod["spec"];
  if (StringAt(pod, "spec", "nodeName").empty()) spec["nodeName"] = kNodeName;
  // As kube-apiserver: the deprecated serviceAccount stands in for an empty
  // serviceAccountName (pkg/apis/core/v1 Convert_v1_PodSpec_To_core_PodSpec),
  // then ServiceAccount admission defaults it to "default"; the response
  // mirrors it into serviceAccount (test CreatedPodDefaultsServiceAccount).
  if (StringAt(pod, "spec", "serviceAccountName").empty()) {
    const std::string deprecated = StringAt(pod, "spec", "serviceAccount");
    spec["serviceAccountName"] = deprecated.empty() ? "default" : deprecated;
  }
  spec["serviceAccount"] = spec["serviceAccountName"];
  if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
  if (!spec.contains("dnsPolicy")) spec["dnsPolicy"] = "ClusterFirst";
  if (!spec.contains("schedulerName")) spec["schedulerName"] = "default-scheduler";
  if (!spec.contains("terminationGracePeriodSeconds")) spec["terminationGracePeriodSeconds"] = 30;
  for (const char* list : {"initContainers", "containers"}) {
    if (!spec.contains(list)) continue;
    for (Json& c : spec[list]) {
      if (!c.contains("terminationMessagePath")) c["terminationMessagePath"] = "/dev/termination-log";
      if (!c.contains("terminationMessagePolicy")) c["terminationMessagePolicy"] = "File";
      if (!c.contains("imagePullPolicy")) c["imagePullPolicy"] = "IfNotPresent";
    }
  }
  Json& status = pod["status"];
  if (!status.is_object()) status = Json::object();
  status["phase"] = "Running";
  status["hostIP"] = kHostIp;
  status["hostIPs"] = Json::array({Json{{"ip", kHostIp}}});
  const std::string ip = "10.244.0." + std::to_string(next_pod_ip_++ % 250 + 2);
  status["podIP"] = ip;
  status["podIPs"] = Json::array({Json{{"ip", ip}}});
  status["startTime"] = now;
  status["qosClass"] = "BestEffort";
  Json conds = Json::array();
  for (const char* t : {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"}) {
    conds.push_back(Json{{"type", t}, {"status", "True"}, {"lastProbeTime", nullptr}, {"lastTransitionTime", now}});
  }
  status["conditions"] = conds;
  status["containerStatuses"] = Json::array();
  status["initContainerStatuses"] = Json::array();
  EnsureStatuses(pod, "containers", "containerStatuses", now, false);
  EnsureStatuses(pod, "initContainers", "initContainerStatuses", now, false);
  if (status["initContainerStatuses"].empty()) status.erase("initContainerStatuses");
  EnsureStatuses(pod, "ephemeralContainers", "ephemeralContainerStatuses", now, true);
}

Result<Json> KubeStandin::CreatePod(Json pod) { return CreatePodImpl(std::move(pod), false); }

Result<Json> KubeStandin::CreatePodImpl(Json pod, bool dry_run) {
  if (!pod.is_object() || !pod.contains("metadata") || !pod["metadata"].is_object()) {
    return Error(Code::kInvalidArgument, "pod without metadata");
  }
  const std::string ns = StringAt(pod, "metadata", "namespace").empty() ? "default" : StringAt(pod, "metadata", "namespace");
  const std::string name = StringAt(pod, "metadata", "name");
  if (name.empty()) return Error(Code::kInvalidArgument, "pod without metadata.name");
  if (!pod.contains("spec") || !pod["spec"].is_object() || !pod["spec"].contains("containers") ||
      !pod["spec"]["containers"].is_array() || pod["spec"]["containers"].empty()) {
    return Error(Code::kInvalidArgument, "spec.containers: Required value");
  }
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    if (!pod["spec"].contains(list)) continue;
    if (!pod["spec"][list].is_array()) return Error(Code::kInvalidArgument, std::string("spec.") + list);
    for (const Json& c : pod["spec"][list]) {
      if (StringAt(c, "name").empty() || StringAt(c, "image").empty()) {
        return Error(Code::kInvalidArgument, std::string("spec.") + list + ": name and image are required");
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{"pods", ns, name};
  if (objects_.count(key) != 0) return Error(Code::kAlreadyExists, "pods \"" + name + "\" already exists");
  pod["kind"] = "Pod";
  pod["apiVersion"] = "v1";
  pod["metadata"]["namespace"] = ns;
  pod["metadata"]["uid"] = NewUidLocked();
  pod["metadata"]["creationTimestamp"] = NowRfc3339();
  KubeletLocked(pod);
  if (dry_run) return pod;  // ?dryRun=All: everything but the write
  return StoreLocked(key, std::move(pod), true);
}

Json KubeStandin::ServiceAccountLocked(const std::string& ns, const std::string& name) {
  const Key key{"serviceaccounts", ns, name};
  auto it = objects_.find(key);
  if (it != objects_.end()) return it->second;
  if (name != "default") return nullptr;
  // Every namespace has a "default" ServiceAccount (the controller-manager
  // creates it); the stand-in creates it on first use.
  Json sa{{"kind", "ServiceAccount"},
          {"apiVersion", "v1"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"uid", NewUidLocked()}, {"creationTimestamp", NowRfc3339()}}}};
  return StoreLocked(key, std::move(sa), true);
}

bool KubeStandin::NamespaceExistsLocked(const std::string& ns) const {
  if (ns == "default" || ns == "kube-system" || ns == "kube-public") return true;
  if (objects_.count(Key{"namespaces", "", ns}) != 0) return true;
  return std::any_of(objects_.begin(), objects_.end(), [&](const auto& kv) { return kv.first.ns == ns; });
}

Result<MintedToken> KubeStandin::MintToken(std::string_view ns, std::string_view sa, std::string_view pod,
                                          const std::vector<std::string>& audiences, int64_t ttl_seconds,
                                          TokenAlg alg) {
  std::lock_guard<std::mutex> lock(mu_);
  return MintLocked(std::string(ns), std::string(sa), std::string(pod), audiences, ttl_seconds, alg);
}

Result<MintedToken> KubeStandin::MintLocked(const std::string& ns, const std::string& sa, const std::string& pod,
                                            const std::vector<std::string>& audiences, int64_t ttl_seconds,
                                            TokenAlg alg) {
  if (audiences.empty()) return Error(Code::kInvalidArgument, "no audience");
  const Json account = ServiceAccountLocked(ns, sa);
  if (account.is_null()) return Error(Code::kNotFound, "serviceaccounts \"" + sa + "\" not found");
  const int64_t now = clock_.NowUnix();
  Json k8s{{"namespace", ns},
           {"serviceaccount", {{"name", sa}, {"uid", StringAt(account, "metadata", "uid")}}}};
  if (!pod.empty()) {
    auto it = objects_.find(Key{"pods", ns, pod});
    if (it == objects_.end()) return Error(Code::kNotFound, "pods \"" + pod + "\" not found");
    if (StringAt(it->second, "spec", "serviceAccountName") != sa) {
      return Error(Code::kInvalidArgument, "cannot bind token for serviceaccount \"" + sa +
                                               "\" to pod running with different serviceaccount name.");
    }
    k8s["pod"] = {{"name", pod}, {"uid", StringAt(it->second, "metadata", "uid")}};
    const std::string node = StringAt(it->second, "spec", "nodeName");
    // ServiceAccountTokenPodNodeInfo (GA v1.32): the node of a bound pod.
    if (!node.empty()) k8s["node"] = {{"name", node}, {"uid", StableUuid("node/" + node)}};
  }
  // Claim shape of pkg/serviceaccount/claims.go (k8s-projected-token-claims.json).
  const Json claims{{"aud", audiences},
                    {"exp", now + ttl_seconds},
                    {"iat", now},
                    {"iss", issuer_},
                    {"jti", NewUidLocked()},
                    {"kubernetes.io", k8s},
                    {"nbf", now},
                    {"sub", "system:serviceaccount:" + ns + ":" + sa}};
  const bool rs = alg == TokenAlg::kRs256;
  ASTIS_ASSIGN_OR_RETURN(std::string jws,
                         jose::TrySignCompactJws(Json{{"kid", rs ? rsa_kid_ : ec_kid_}}, DumpJson(claims),
                                                 rs ? rsa_ : ec_, rs ? SignatureAlg::kRs256 : SignatureAlg::kEs256));
  return MintedToken{std::move(jws), now + ttl_seconds};
}

bool KubeStandin::WaitForWatchers(int n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(hub_->mu);
  return hub_->cv.wait_for(lock, timeout, [&] { return hub_->open >= n; });
}

void KubeStandin::CloseWatches() {
  std::lock_guard<std::mutex> lock(mu_);
  ++watch_generation_;
  cv_.notify_all();
}

ServerResponse KubeStandin::Handle(const ServerRequest& req) {
  ++requests_;
  ServerResponse resp;
  // Authentication first, as kube-apiserver does: a missing, repeated or
  // unknown bearer token is 401 whatever the path (test
  // StandinTest.RejectsMissingAndWrongToken).
  const std::string got = req.Header("Authorization").value_or("");
  constexpr std::string_view kBearer = "Bearer ";
  const bool bearer = req.HeaderCount("Authorization") == 1 && got.compare(0, kBearer.size(), kBearer) == 0;
  const std::string_view presented = bearer ? std::string_view(got).substr(kBearer.size()) : std::string_view();
  const bool is_admin = bearer && ConstantTimeEquals(AsBytes(presented), admin_token_.Reveal());
  const bool is_read = bearer && ConstantTimeEquals(AsBytes(presented), read_token_.Reveal());
  if (!is_admin && !is_read) {
    ++unauthorized_;
    resp = KubeStatus(401, "Unauthorized", "Unauthorized");
  } else {
    Principal who{is_admin, is_admin ? "astis-standin:admin" : "astis-standin:read"};
    try {
      resp = Dispatch(req, who);
    } catch (const std::exception&) {  // nlohmann on an unexpected shape: the boundary
      resp = KubeStatus(500, "InternalError", "Internal error occurred");
    }
    if (resp.status == 403) ++forbidden_;
  }
  if (options_.log) options_.log(req.method + " " + req.path + " " + std::to_string(resp.status));
  return resp;
}

ServerResponse KubeStandin::Dispatch(const ServerRequest& req, const Principal& who) {
  const std::string& p = req.path;
  if (req.method == "GET") {
    if (p == "/readyz" || p == "/livez" || p == "/healthz") return {200, {{"Content-Type", "text/plain"}}, "ok", {}};
    if (p == "/version") {
      return JsonResponse(200, Json{{"major", "1"},
                                    {"minor", "32"},
                                    {"gitVersion", "v1.32.0-astis-standin"},
                                    {"gitCommit", "0000000000000000000000000000000000000000"},
                                    {"gitTreeState", "clean"},
                                    {"buildDate", "2025-01-01T00:00:00Z"},
                                    {"goVersion", "go1.23.4"},
                                    {"compiler", "gc"},
                                    {"platform", "linux/amd64"}});
    }
    if (p == "/api") {
      return JsonResponse(200, Json{{"kind", "APIVersions"},
                                    {"versions", {"v1"}},
                                    {"serverAddressByClientCIDRs",
                                     {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1:" + std::to_string(port_)}}}}});
    }
    // Two groups: apps (Deployments) and admissionregistration.k8s.io
    // (MutatingWebhookConfigurations), v1 only (test
    // AdmissionTest.KubectlApplyDeploymentCreatesPods).
    auto group = [](const std::string& name) {
      const Json v{{"groupVersion", name + "/v1"}, {"version", "v1"}};
      return Json{{"name", name}, {"versions", Json::array({v})}, {"preferredVersion", v}};
    };
    if (p == "/apis") {
      return JsonResponse(200, Json{{"kind", "APIGroupList"},
                                    {"apiVersion", "v1"},
                                    {"groups", {group("apps"), group("admissionregistration.k8s.io")}}});
    }
    if (p == "/apis/apps" || p == "/apis/admissionregistration.k8s.io") {
      Json g = group(p.substr(6));
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      return JsonResponse(200, g);
    }
    if (p == "/apis/apps/v1" || p == "/apis/admissionregistration.k8s.io/v1") {
      const bool apps = p == "/apis/apps/v1";
      const Json crud = {"create", "delete", "get", "list", "patch", "update", "watch"};
      Json r = apps ? Json{{"name", "deployments"},       {"singularName", "deployment"}, {"namespaced", true},
                           {"kind", "Deployment"},        {"verbs", crud},                {"shortNames", {"deploy"}},
                           {"categories", {"all"}}}
                    : Json{{"name", "mutatingwebhookconfigurations"},
                           {"singularName", "mutatingwebhookconfiguration"},
                           {"namespaced", false},
                           {"kind", "MutatingWebhookConfiguration"},
                           {"verbs", crud},
                           {"categories", {"api-extensions"}}};
      return JsonResponse(200, Json{{"kind", "APIResourceList"},
                                    {"apiVersion", "v1"},
                                    {"groupVersion", apps ? "apps/v1" : "admissionregistration.k8s.io/v1"},
                                    {"resources", Json::array({r})}});
    }
    if (p == "/api/v1") {
      auto res = [](const char* name, const char* singular, bool namespaced, const char* kind, Json verbs,
                    Json short_names = nullptr) {
        Json r{{"name", name}, {"singularName", singular}, {"namespaced", namespaced}, {"kind", kind}, {"verbs", verbs}};
        if (!short_names.is_null()) r["shortNames"] = short_names;
        return r;
      };
      const Json crud = {"create", "delete", "get", "list", "patch", "update", "watch"};
      Json pods = res("pods", "pod", true, "Pod", crud, {"po"});
      pods["categories"] = {"all"};
      Json token = res("serviceaccounts/token", "", true, "TokenRequest", {"create"});
      token["group"] = "authentication.k8s.io";
      token["version"] = "v1";
      return JsonResponse(200, Json{{"kind", "APIResourceList"},
                                    {"groupVersion", "v1"},
                                    {"resources",
                                     {res("namespaces", "namespace", false, "Namespace", {"create", "get", "list"}, {"ns"}),
                                      pods, res("pods/ephemeralcontainers", "", true, "Pod", {"get", "patch", "update"}),
                                      res("pods/status", "", true, "Pod", {"get", "patch", "update"}),
                                      res("secrets", "secret", true, "Secret", crud),
                                      res("serviceaccounts", "serviceaccount", true, "ServiceAccount",
                                          {"create", "get", "list", "watch"}, {"sa"}),
                                      token}}});
    }
    if (p == "/openapi/v3") {
      return JsonResponse(
          200, Json{{"paths",
                     {{"api/v1", {{"serverRelativeURL", "/openapi/v3/api/v1?hash=standin"}}},
                      {"apis/apps/v1", {{"serverRelativeURL", "/openapi/v3/apis/apps/v1?hash=standin"}}},
                      {"apis/admissionregistration.k8s.io/v1",
                       {{"serverRelativeURL", "/openapi/v3/apis/admissionregistration.k8s.io/v1?hash=standin"}}}}}});
    }
    if (p == "/openapi/v3/api/v1") return JsonResponse(200, OpenApiV3("v1.32.0-astis-standin"));
    if (p == "/openapi/v3/apis/apps/v1") return JsonResponse(200, OpenApiV3("v1.32.0-astis-standin", "apps"));
    if (p == "/openapi/v3/apis/admissionregistration.k8s.io/v1") {
      return JsonResponse(200, OpenApiV3("v1.32.0-astis-standin", "admissionregistration.k8s.io"));
    }
    if (p == "/.well-known/openid-configuration" || p == "/openid/v1/jwks") {
      const bool jwks = p == "/openid/v1/jwks";
      return {200,
              {{"Content-Type", jwks ? "application/jwk-set+json" : "application/json"},
               {"Cache-Control", "public, max-age=3600"}},
              jwks ? JwksJson() : OpenIdConfigurationJson(),
              {}};
    }
  }
  Route route;
  if (!ParseRoute(req, &route)) return KubeStatus(404, "NotFound", "the server could not find the requested resource");
  // Authorisation: the read token may get, list and watch pods, nothing else
  // (test StandinTest.ReadTokenIsForbiddenToWriteOrReadSecrets).
  const bool read_ok = route.resource == "pods" && route.sub.empty() &&
                       (route.verb == "get" || route.verb == "list" || route.verb == "watch");
  if (!who.admin && !read_ok) {
    const std::string res = route.sub.empty() ? route.resource : route.resource + "/" + route.sub;
    std::string msg = (route.name.empty() ? res : res + " \"" + route.name + "\"") + " is forbidden: User \"" + who.user +
                      "\" cannot " + route.verb + " resource \"" + res + "\" in API group \"" + route.group + "\"";
    msg += route.ns.empty() ? " at the cluster scope" : " in the namespace \"" + route.ns + "\"";
    return KubeStatus(403, "Forbidden", msg, Json{{"name", route.name}, {"kind", route.resource}});
  }
  route.user = who.user;
  return HandleResource(req, route);
}

ServerResponse KubeStandin::HandleResource(const ServerRequest& req, const Route& route) {
  if (route.resource == "namespaces") {
    if (route.verb == "get") return GetNamespace(route);
    if (route.verb == "list") return List(req, route);
    if (route.verb == "create") return Create(req, route);
    return KubeStatus(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
  }
  if (!route.sub.empty()) {
    const bool ok_sub = (route.resource == "pods" && (route.sub == "status" || route.sub == "ephemeralcontainers")) ||
                        (route.resource == "serviceaccounts" && route.sub == "token");
    if (!ok_sub) return KubeStatus(404, "NotFound", "the server could not find the requested resource");
    if (route.sub == "token") {
      if (route.verb != "create") return KubeStatus(405, "MethodNotAllowed", "only create is allowed");
      return TokenRequest(req, route);
    }
  }
  if (route.verb == "list") return List(req, route);
  if (route.verb == "watch") return Watch(req, route);
  if (route.verb == "create" && route.name.empty()) return Create(req, route);
  if (route.verb == "get") {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(Key{route.resource, route.ns, route.name});
    if (it == objects_.end()) {
      if (route.resource == "serviceaccounts") {
        Json sa = ServiceAccountLocked(route.ns, route.name);
        if (!sa.is_null()) return JsonResponse(200, sa);
      }
      return NotFound(route.resource, route.name);
    }
    if (AcceptsTable(req)) {
      return JsonResponse(200, TableOf(route.resource, {it->second}, resource_version_, clock_.NowUnix()));
    }
    return JsonResponse(200, it->second);
  }
  if (route.verb == "update") return Update(req, route);
  if (route.verb == "patch") return Patch(req, route);
  if (route.verb == "delete" && route.sub.empty()) return Delete(route);
  return KubeStatus(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
}

ServerResponse KubeStandin::GetNamespace(const Route& route) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!NamespaceExistsLocked(route.name)) return NotFound("namespaces", route.name);
  auto it = objects_.find(Key{"namespaces", "", route.name});
  if (it != objects_.end()) return JsonResponse(200, it->second);
  return JsonResponse(200, Json{{"kind", "Namespace"},
                                {"apiVersion", "v1"},
                                {"metadata",
                                 {{"name", route.name},
                                  {"uid", StableUuid("namespace/" + route.name)},
                                  {"resourceVersion", "1"},
                                  {"creationTimestamp", Rfc3339(0)},
                                  {"labels", {{"kubernetes.io/metadata.name", route.name}}}}},
                                {"spec", {{"finalizers", {"kubernetes"}}}},
                                {"status", {{"phase", "Active"}}}});
}

ServerResponse KubeStandin::List(const ServerRequest& req, const Route& route) {
  const auto q = ParseQuery(req.query);
  const std::string labels = Param(q, "labelSelector"), fields = Param(q, "fieldSelector");
  std::vector<Json> items;
  int64_t rv = 0;
  std::set<std::string> namespaces = {"default", "kube-public", "kube-system"};
  {
    std::lock_guard<std::mutex> lock(mu_);
    rv = resource_version_;
    if (route.resource == "namespaces") {
      for (const auto& [key, obj] : objects_) namespaces.insert(key.resource == "namespaces" ? key.name : key.ns);
    } else {
      for (const auto& [key, obj] : objects_) {
        if (key.resource != route.resource || (!route.ns.empty() && key.ns != route.ns)) continue;
        if (MatchesSelectors(obj, labels, fields)) items.push_back(obj);
      }
    }
  }
  if (route.resource == "namespaces") {
    for (const std::string& n : namespaces) {
      ServerResponse r = GetNamespace(Route{"namespaces", "", n, "", "get"});
      Result<Json> ns = ParseJson(r.body, kBodyLimits);
      if (r.status == 200 && ns.ok()) items.push_back(std::move(*ns));
    }
  }
  if (AcceptsTable(req)) return JsonResponse(200, TableOf(route.resource, items, rv, clock_.NowUnix()));
  Json list{{"kind", KindOf(route.resource) + "List"},
            {"apiVersion", ApiVersionOf(route.resource)},
            {"metadata", {{"resourceVersion", std::to_string(rv)}}},
            {"items", Json::array()}};
  for (Json& item : items) {
    // The real server leaves kind and apiVersion off list items.
    item.erase("kind");
    item.erase("apiVersion");
    list["items"].push_back(std::move(item));
  }
  return JsonResponse(200, list);
}

ServerResponse KubeStandin::Watch(const ServerRequest& req, const Route& route) {
  const auto q = ParseQuery(req.query);
  auto state = std::make_shared<WatchState>(hub_);
  state->route = route;
  state->label_selector = Param(q, "labelSelector");
  state->field_selector = Param(q, "fieldSelector");
  state->table = AcceptsTable(req);
  state->bookmarks = Param(q, "allowWatchBookmarks") == "true" || Param(q, "allowWatchBookmarks") == "1";
  int64_t timeout = 1800;  // kube-apiserver --min-request-timeout
  if (const std::string t = Param(q, "timeoutSeconds"); !t.empty()) {
    char* end = nullptr;
    timeout = std::strtoll(t.c_str(), &end, 10);
    if (end == t.c_str() || *end != '\0' || timeout < 0) return BadRequest("invalid timeoutSeconds");
  }
  const auto start = std::chrono::steady_clock::now();
  state->deadline = start + std::chrono::seconds(timeout);
  state->next_bookmark = start + options_.bookmark_interval;
  const std::string rv_param = Param(q, "resourceVersion");
  std::lock_guard<std::mutex> lock(mu_);
  state->generation = watch_generation_;
  auto line = [&](const std::string& type, const Json& obj) {
    Json o = state->table ? TableOf(route.resource, {obj}, resource_version_, clock_.NowUnix()) : obj;
    return DumpJson(WatchEvent(type, std::move(o)));
  };
  if (rv_param.empty() || rv_param == "0") {
    // Unset or "0": synthetic ADDED events for the current state, then changes.
    for (const auto& [key, obj] : objects_) {
      if (key.resource != route.resource || (!route.ns.empty() && key.ns != route.ns)) continue;
      if (MatchesSelectors(obj, state->label_selector, state->field_selector)) state->pending.push_back(line("ADDED", obj));
    }
    state->last_rv = resource_version_;
  } else {
    char* end = nullptr;
    const long long rv = std::strtoll(rv_param.c_str(), &end, 10);
    if (end == rv_param.c_str() || *end != '\0' || rv < 0) return BadRequest("invalid resourceVersion");
    state->last_rv = rv;
  }
  return ServerResponse{200,
                        {{"Content-Type", "application/json"}},
                        "",
                        [this, state](net::StreamWriter& w) { return WatchStep(*state, w); }};
}

bool KubeStandin::WatchStep(WatchState& st, net::StreamWriter& writer) {
  if (writer.stopping()) return false;
  for (const std::string& l : st.pending) {
    if (!writer.WriteLine(l)) return false;
  }
  st.pending.clear();
  if (st.done_after_pending) return false;
  std::vector<std::string> lines;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(100),
                 [&] { return resource_version_ > st.last_rv || watch_generation_ != st.generation; });
    // CloseWatches ends the stream after the events already recorded.
    if (watch_generation_ != st.generation) st.done_after_pending = true;
    if (st.last_rv < compacted_rv_) {
      // The events after last_rv are gone: 200 and one ERROR event with a 410
      // Expired Status, as kube-apiserver does (k8s-watch-events.md; test
      // WatchFromCompactedVersionIs410Expired). The stream then ends.
      const int64_t oldest = history_.empty() ? resource_version_ : history_.front().rv;
      Json status{{"kind", "Status"},
                  {"apiVersion", "v1"},
                  {"metadata", Json::object()},
                  {"status", "Failure"},
                  {"message", "too old resource version: " + std::to_string(st.last_rv) + " (" +
                                  std::to_string(oldest) + ")"},
                  {"reason", "Expired"},
                  {"code", 410}};
      lines.push_back(DumpJson(WatchEvent("ERROR", status)));
      st.done_after_pending = true;
    } else {
      for (const Event& e : history_) {
        if (e.rv <= st.last_rv || e.key.resource != st.route.resource) continue;
        if (!st.route.ns.empty() && e.key.ns != st.route.ns) continue;
        if (!MatchesSelectors(e.object, st.label_selector, st.field_selector)) continue;
        Json o = st.table ? TableOf(st.route.resource, {e.object}, e.rv, clock_.NowUnix()) : e.object;
        lines.push_back(DumpJson(WatchEvent(e.type, std::move(o))));
      }
      st.last_rv = resource_version_;
    }
  }
  for (const std::string& l : lines) {
    if (!writer.WriteLine(l)) return false;
  }
  if (st.done_after_pending) return false;
  const auto now = std::chrono::steady_clock::now();
  if (st.bookmarks && now >= st.next_bookmark) {
    // BOOKMARK: an object of the watched kind carrying only
    // metadata.resourceVersion (test WatchSendsBookmarks).
    Json obj = st.table ? Json{{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}}
                        : Json{{"kind", KindOf(st.route.resource)}, {"apiVersion", ApiVersionOf(st.route.resource)}};
    obj["metadata"] = {{"resourceVersion", std::to_string(st.last_rv)}};
    if (!writer.WriteLine(DumpJson(WatchEvent("BOOKMARK", obj)))) return false;
    st.next_bookmark = now + options_.bookmark_interval;
  }
  return now < st.deadline;
}

ServerResponse KubeStandin::Create(const ServerRequest& req, const Route& route) {
  Result<Json> parsed = ParseJsonObject(req.body, kBodyLimits);
  if (!parsed.ok()) return BadRequest("the request body is not a JSON object");
  Json obj = std::move(*parsed);
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  const std::string body_kind = StringAt(obj, "kind");
  if (!body_kind.empty() && body_kind != KindOf(route.resource)) {
    return BadRequest("the kind of the provided object does not match the resource");
  }
  const std::string body_ns = StringAt(obj, "metadata", "namespace");
  if (!body_ns.empty() && body_ns != route.ns) {
    return BadRequest("the namespace of the provided object does not match the namespace sent on the request");
  }
  if (!route.ns.empty()) obj["metadata"]["namespace"] = route.ns;
  // A pod goes through mutating admission before its generateName is
  // resolved, as on kube-apiserver (webhooks see no name).
  // ?dryRun=All: admitted (webhooks see dryRun: true) but not stored.
  const bool dry_run = Param(ParseQuery(req.query), "dryRun") == "All";
  if (route.resource == "pods") return AdmitPod(std::move(obj), route.user, {"system:authenticated"}, dry_run);
  std::string name = StringAt(obj, "metadata", "name");
  if (name.empty() && !StringAt(obj, "metadata", "generateName").empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    name = StringAt(obj, "metadata", "generateName") + NameSuffixLocked();
    obj["metadata"]["name"] = name;
  }
  if (name.empty()) return Invalid(route.resource, "", "metadata.name: Required value: name or generateName is required");
  if (std::optional<ServerResponse> bad = ValidateWrite(route.resource, name, obj, nullptr)) return *bad;
  if (dry_run) return JsonResponse(201, WithKind(std::move(obj), route.resource));
  if (route.resource == "secrets") {
    // stringData is write-only: merged into data, base64-encoded.
    if (obj.contains("stringData")) {
      if (!obj["stringData"].is_object()) return Invalid("secrets", name, "stringData must be a map");
      for (auto it = obj["stringData"].begin(); it != obj["stringData"].end(); ++it) {
        if (!it.value().is_string()) return Invalid("secrets", name, "stringData values must be strings");
        obj["data"][it.key()] = B64Encode(it.value().get<std::string>());
      }
      obj.erase("stringData");
    }
    if (obj.contains("data")) {
      if (!obj["data"].is_object()) return Invalid("secrets", name, "data must be a map");
      for (const Json& v : obj["data"]) {
        if (!v.is_string() || !B64Decode(v.get<std::string>()).ok()) {
          return Invalid("secrets", name, "data values must be base64");
        }
      }
    }
    if (StringAt(obj, "type").empty()) obj["type"] = "Opaque";
  }
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{route.resource, route.ns, name};
  if (objects_.count(key) != 0) {
    return KubeStatus(409, "AlreadyExists", route.resource + " \"" + name + "\" already exists",
                      Json{{"name", name}, {"kind", route.resource}});
  }
  obj = WithKind(std::move(obj), route.resource);
  obj["metadata"]["uid"] = NewUidLocked();
  obj["metadata"]["creationTimestamp"] = NowRfc3339();
  if (route.resource == "namespaces") {
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    obj["status"] = {{"phase", "Active"}};
  }
  if (route.resource == "deployments") ReconcileNow();
  return JsonResponse(201, StoreLocked(key, std::move(obj), true));
}

ServerResponse KubeStandin::Update(const ServerRequest& req, const Route& route) {
  Result<Json> parsed = ParseJsonObject(req.body, kBodyLimits);
  if (!parsed.ok()) return BadRequest("the request body is not a JSON object");
  Json body = std::move(*parsed);
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{route.resource, route.ns, route.name};
  auto it = objects_.find(key);
  if (it == objects_.end()) return NotFound(route.resource, route.name);
  const std::string body_rv = StringAt(body, "metadata", "resourceVersion");
  if (!body_rv.empty() && body_rv != StringAt(it->second, "metadata", "resourceVersion")) {
    return KubeStatus(409, "Conflict",
                      "Operation cannot be fulfilled on " + route.resource + " \"" + route.name +
                          "\": the object has been modified; please apply your changes to the latest version and try again",
                      Json{{"name", route.name}, {"kind", route.resource}});
  }
  Json obj = it->second;
  if (route.sub == "status") {
    if (!body.contains("status") || !body["status"].is_object()) return Invalid("pods", route.name, "status: Required value");
    obj["status"] = body["status"];
  } else if (route.sub == "ephemeralcontainers") {
    if (!body.contains("spec") || !body["spec"].contains("ephemeralContainers")) {
      return Invalid("pods", route.name, "spec.ephemeralContainers: Required value");
    }
    obj["spec"]["ephemeralContainers"] = body["spec"]["ephemeralContainers"];
  } else {
    if (StringAt(body, "metadata", "name") != route.name) return BadRequest("the name of the object does not match the request");
    const Json keep_meta = obj["metadata"];
    const Json keep_status = obj.contains("status") ? obj["status"] : Json();
    obj = WithKind(std::move(body), route.resource);
    for (const char* m : {"uid", "creationTimestamp", "namespace"}) obj["metadata"][m] = keep_meta[m];
    if (route.resource == "pods") obj["status"] = keep_status;  // status changes go through pods/status
    if (std::optional<ServerResponse> bad = ValidateWrite(route.resource, route.name, obj, &it->second)) return *bad;
    if (route.resource == "deployments") ReconcileNow();
  }
  if (route.resource == "pods") EnsureStatuses(obj, "ephemeralContainers", "ephemeralContainerStatuses", NowRfc3339(), true);
  return JsonResponse(200, StoreLocked(key, std::move(obj), false));
}

ServerResponse KubeStandin::Patch(const ServerRequest& req, const Route& route) {
  const std::string media = MediaType(req);
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{route.resource, route.ns, route.name};
  auto it = objects_.find(key);
  if (it == objects_.end()) return NotFound(route.resource, route.name);
  Result<Json> patched = ApplyPatch(media, it->second, req.body);
  if (!patched.ok()) {
    if (patched.status().code() == Code::kFailedPrecondition) {
      return KubeStatus(415, "UnsupportedMediaType", "the body of the request was in an unknown format");
    }
    return Invalid(route.resource, route.name, patched.status().message());
  }
  if (!patched->is_object()) return Invalid(route.resource, route.name, "the patch result is not an object");
  Json obj = it->second;
  if (route.sub == "status") {
    obj["status"] = (*patched)["status"];
  } else if (route.sub == "ephemeralcontainers") {
    // Only spec.ephemeralContainers may change through this subresource; each
    // needs a name and an image (test DebugAddsEphemeralContainer).
    const Json& eph = (*patched)["spec"]["ephemeralContainers"];
    if (!eph.is_array()) return Invalid("pods", route.name, "spec.ephemeralContainers must be a list");
    for (const Json& c : eph) {
      if (StringAt(c, "name").empty() || StringAt(c, "image").empty()) {
        return Invalid("pods", route.name, "spec.ephemeralContainers: name and image are required");
      }
    }
    obj["spec"]["ephemeralContainers"] = eph;
  } else {
    Json keep_meta = obj["metadata"];
    obj = std::move(*patched);
    for (const char* m : {"uid", "creationTimestamp", "namespace", "name"}) obj["metadata"][m] = keep_meta[m];
    if (std::optional<ServerResponse> bad = ValidateWrite(route.resource, route.name, obj, &it->second)) return *bad;
    if (route.resource == "deployments") ReconcileNow();
    if (route.resource == "secrets" && obj.contains("stringData") && obj["stringData"].is_object()) {
      for (auto s = obj["stringData"].begin(); s != obj["stringData"].end(); ++s) {
        if (s.value().is_string()) obj["data"][s.key()] = B64Encode(s.value().get<std::string>());
      }
      obj.erase("stringData");
    }
  }
  if (route.resource == "pods") EnsureStatuses(obj, "ephemeralContainers", "ephemeralContainerStatuses", NowRfc3339(), true);
  return JsonResponse(200, StoreLocked(key, std::move(obj), false));
}

ServerResponse KubeStandin::Delete(const Route& route) {
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{route.resource, route.ns, route.name};
  auto it = objects_.find(key);
  if (it == objects_.end()) return NotFound(route.resource, route.name);
  Json obj = std::move(it->second);
  objects_.erase(it);
  obj["metadata"]["resourceVersion"] = std::to_string(++resource_version_);
  if (route.resource == "pods") {
    // Graceful deletion as seen once the kubelet has finished: the last state,
    // with deletionTimestamp, then gone (DELETED event).
    obj["metadata"]["deletionTimestamp"] = NowRfc3339();
    obj["metadata"]["deletionGracePeriodSeconds"] = 0;
  }
  EmitLocked("DELETED", key, obj);
  if (route.resource == "deployments") {
    // The garbage collector deletes what the Deployment owned (at once here).
    std::vector<Key> owned;
    for (const auto& [k, pod] : objects_) {
      if (k.resource == "pods" && k.ns == route.ns && OwnedBy(pod, obj)) owned.push_back(k);
    }
    for (const Key& k : owned) DeletePodLocked(k);
  }
  if (route.resource == "pods") {
    ReconcileNow();  // a Deployment replaces a deleted pod
    return JsonResponse(200, obj);
  }
  return JsonResponse(200, Json{{"kind", "Status"},
                                {"apiVersion", "v1"},
                                {"metadata", Json::object()},
                                {"status", "Success"},
                                {"details", {{"name", route.name}, {"kind", route.resource},
                                             {"uid", StringAt(obj, "metadata", "uid")}}}});
}

ServerResponse KubeStandin::TokenRequest(const ServerRequest& req, const Route& route) {
  Result<Json> parsed = MediaType(req) == "application/vnd.kubernetes.protobuf" ? TokenRequestFromProtobuf(req.body)
                                                                                 : ParseJsonObject(req.body, kBodyLimits);
  if (!parsed.ok()) return BadRequest("the request body is not a JSON object");
  const Json& body = *parsed;
  const Json spec = body.contains("spec") && body["spec"].is_object() ? body["spec"] : Json::object();
  std::vector<std::string> audiences;
  if (spec.contains("audiences")) {
    if (!spec["audiences"].is_array()) return BadRequest("spec.audiences must be a list");
    for (const Json& a : spec["audiences"]) {
      if (!a.is_string() || a.get<std::string>().empty()) return BadRequest("spec.audiences must be strings");
      audiences.push_back(a.get<std::string>());
    }
  }
  int64_t ttl = 3600;  // TokenRequestSpec default
  if (spec.contains("expirationSeconds") && !spec["expirationSeconds"].is_null()) {
    if (!spec["expirationSeconds"].is_number_integer()) return BadRequest("spec.expirationSeconds must be an integer");
    ttl = spec["expirationSeconds"].get<int64_t>();
    // pkg/apis/authentication/validation: at least 10 minutes, at most 2^32 s
    // (test StandinTest.TokenRequestRefusals).
    if (ttl < 600) {
      return Invalid("serviceaccounts", route.name,
                     "spec.expirationSeconds: Invalid value: " + std::to_string(ttl) +
                         ": may not specify a duration less than 10 minutes");
    }
    if (ttl > (int64_t{1} << 32)) {
      return Invalid("serviceaccounts", route.name,
                     "spec.expirationSeconds: Invalid value: " + std::to_string(ttl) +
                         ": may not specify a duration larger than 2^32 seconds");
    }
  }
  std::string pod;
  std::string pod_uid;
  if (spec.contains("boundObjectRef") && spec["boundObjectRef"].is_object()) {
    const Json& ref = spec["boundObjectRef"];
    if (StringAt(ref, "kind") != "Pod") {
      return BadRequest("cannot bind token to object of type " + StringAt(ref, "kind") + " in the stand-in");
    }
    pod = StringAt(ref, "name");
    pod_uid = StringAt(ref, "uid");
    if (pod.empty()) return BadRequest("boundObjectRef.name is required");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (audiences.empty()) audiences.push_back(issuer_);  // the apiserver's --api-audiences
  if (ServiceAccountLocked(route.ns, route.name).is_null()) return NotFound("serviceaccounts", route.name);
  if (!pod.empty()) {
    auto it = objects_.find(Key{"pods", route.ns, pod});
    if (it == objects_.end()) return NotFound("pods", pod);  // test StandinTest.TokenRequestRefusals
    if (!pod_uid.empty() && pod_uid != StringAt(it->second, "metadata", "uid")) {
      return KubeStatus(409, "Conflict",
                        "Operation cannot be fulfilled on Pod.\"" + pod +
                            "\": the UID in the bound object reference (" + pod_uid +
                            ") does not match the UID in record. The object might have been deleted and then recreated",
                        Json{{"name", pod}, {"kind", "Pod"}});
    }
  }
  Result<MintedToken> minted = MintLocked(route.ns, route.name, pod, audiences, ttl, options_.token_alg);
  if (!minted.ok()) {
    if (minted.status().code() == Code::kInvalidArgument) return BadRequest(minted.status().message());
    return KubeStatus(500, "InternalError", "Internal error occurred");
  }
  Json out{{"kind", "TokenRequest"},
           {"apiVersion", "authentication.k8s.io/v1"},
           {"metadata", {{"name", route.name}, {"namespace", route.ns}, {"creationTimestamp", nullptr}}},
           {"spec", spec},
           {"status", {{"token", minted->token}, {"expirationTimestamp", Rfc3339(minted->expiration_unix)}}}};
  out["spec"]["audiences"] = audiences;
  out["spec"]["expirationSeconds"] = ttl;
  return JsonResponse(201, out);
}

std::string KubeStandin::NameSuffixLocked() {
  uint8_t b[5];
  if (!rng_.Fill(b).ok()) std::abort();  // as NewUidLocked
  return SafeEncode(b, 5);
}

Json KubeStandin::NamespaceLabelsLocked(const std::string& ns) const {
  auto it = objects_.find(Key{"namespaces", "", ns});
  if (it != objects_.end() && it->second.contains("metadata") && it->second["metadata"].contains("labels") &&
      it->second["metadata"]["labels"].is_object()) {
    return it->second["metadata"]["labels"];
  }
  return Json{{"kubernetes.io/metadata.name", ns}};
}

std::vector<Json> KubeStandin::Pods(std::string_view ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Json> out;
  for (const auto& [key, obj] : objects_) {
    if (key.resource == "pods" && (ns.empty() || key.ns == ns)) out.push_back(obj);
  }
  return out;
}

void KubeStandin::SetServiceEndpoint(std::string_view ns, std::string_view name, int port, std::string host_port) {
  std::lock_guard<std::mutex> lock(mu_);
  service_endpoints_[std::string(ns) + "/" + std::string(name) + ":" + std::to_string(port)] = std::move(host_port);
}

std::vector<AdmissionRecord> KubeStandin::AdmissionCalls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return admission_calls_;
}

ServerResponse KubeStandin::AdmitPod(Json pod, const std::string& user, const std::vector<std::string>& groups,
                                     bool dry_run) {
  if (!pod.is_object() || !pod.contains("metadata") || !pod["metadata"].is_object()) {
    return BadRequest("the request body is not a pod");
  }
  pod["kind"] = "Pod";
  pod["apiVersion"] = "v1";
  if (StringAt(pod, "metadata", "namespace").empty()) pod["metadata"]["namespace"] = "default";
  AdmissionAttributes a;
  a.ns = StringAt(pod, "metadata", "namespace");
  a.name = StringAt(pod, "metadata", "name");
  a.username = user;
  a.groups = groups;
  a.dry_run = dry_run;
  std::vector<Json> configurations;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, obj] : objects_) {
      if (key.resource == "mutatingwebhookconfigurations") configurations.push_back(obj);
    }
    a.namespace_labels = NamespaceLabelsLocked(a.ns);
  }
  if (!configurations.empty()) {
    // Webhooks are called without the lock: they may take timeoutSeconds.
    a.object = pod;
    AdmissionEnv env;
    env.resolve = [this](const std::string& ns, const std::string& name, int port) -> std::optional<std::string> {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = service_endpoints_.find(ns + "/" + name + ":" + std::to_string(port));
      if (it == service_endpoints_.end()) return std::nullopt;
      return it->second;
    };
    env.new_uid = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      return NewUidLocked();
    };
    env.record = [this](const AdmissionRecord& r) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        // Bounded: a Deployment retried against a down webhook adds a call a pass.
        if (admission_calls_.size() >= kMaxAdmissionRecords) {
          admission_calls_.erase(admission_calls_.begin(), admission_calls_.begin() + kMaxAdmissionRecords / 2);
        }
        admission_calls_.push_back(r);
      }
      // Names and the outcome only: never the object or the webhook's message.
      if (options_.log) {
        options_.log("ADMIT " + r.webhook + " " + r.operation + " " + r.resource + " " + r.ns + "/" + r.name + " " +
                     r.outcome + (r.reinvocation ? " (reinvocation)" : ""));
      }
    };
    AdmissionOutcome out = RunMutatingAdmission(configurations, a, env);
    if (out.refusal.has_value()) return KubeStatus(out.refusal->code, out.refusal->reason, out.refusal->message);
    pod = std::move(out.object);
  }
  std::string name = StringAt(pod, "metadata", "name");
  if (name.empty()) {
    const std::string gen = StringAt(pod, "metadata", "generateName");
    if (gen.empty()) return Invalid("pods", "", "metadata.name: Required value: name or generateName is required");
    std::lock_guard<std::mutex> lock(mu_);
    name = gen + NameSuffixLocked();
    pod["metadata"]["name"] = name;
  }
  Result<Json> created = CreatePodImpl(std::move(pod), dry_run);
  if (created.ok()) return JsonResponse(201, *created);
  if (created.status().code() == Code::kAlreadyExists) {
    return KubeStatus(409, "AlreadyExists", created.status().message(), Json{{"name", name}, {"kind", "pods"}});
  }
  return Invalid("pods", name, created.status().message());
}

void KubeStandin::ReconcileNow() {
  std::lock_guard<std::mutex> lock(ctl_mu_);
  ctl_dirty_ = true;
  ctl_cv_.notify_all();
}

void KubeStandin::StopController() {
  {
    std::lock_guard<std::mutex> lock(ctl_mu_);
    ctl_stop_ = true;
    ctl_cv_.notify_all();
  }
  if (controller_.joinable()) controller_.join();
}

void KubeStandin::ControllerLoop() {
  std::unique_lock<std::mutex> lock(ctl_mu_);
  while (!ctl_stop_) {
    ctl_cv_.wait_for(lock, options_.controller_interval, [&] { return ctl_stop_ || ctl_dirty_; });
    if (ctl_stop_) break;
    ctl_dirty_ = false;
    lock.unlock();
    ReconcileDeployments();
    lock.lock();
  }
}

void KubeStandin::ReconcileDeployments() {
  // The Deployment and ReplicaSet controllers folded into one: pods of an
  // older template are deleted (no rolling update), surplus pods deleted,
  // missing pods created through admission (AdmitPod) as the
  // replicaset-controller. A refused create is retried on the next pass and
  // shown as a ReplicaFailure condition.
  struct Work {
    Key key;
    Json deployment;
    std::string hash;
    int64_t missing = 0;
  };
  std::vector<Work> work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, d] : objects_) {
      if (key.resource != "deployments") continue;
      const std::string hash = TemplateHash(d["spec"]["template"]);
      const int64_t replicas = d["spec"].value("replicas", int64_t{1});
      int64_t current = 0;
      std::vector<Key> remove;
      for (const auto& [pk, pod] : objects_) {
        if (pk.resource != "pods" || pk.ns != key.ns || !OwnedBy(pod, d)) continue;
        if (LabelOf(pod, "pod-template-hash") == hash && current < replicas) {
          ++current;
        } else {
          remove.push_back(pk);
        }
      }
      work.push_back(Work{key, d, hash, replicas - current});
      for (const Key& k : remove) DeletePodLocked(k);
    }
  }
  static const std::vector<std::string> kGroups = {"system:serviceaccounts", "system:serviceaccounts:kube-system",
                                                   "system:authenticated"};
  for (Work& w : work) {
    std::string failure;
    for (int64_t i = 0; i < w.missing; ++i) {
      ServerResponse r = AdmitPod(PodFromTemplate(w.deployment, w.hash),
                                  "system:serviceaccount:kube-system:replicaset-controller", kGroups);
      if (r.status != 201) {
        Result<Json> st = ParseJson(r.body, kBodyLimits);
        failure = st.ok() ? StringAt(*st, "message") : "pod creation failed";
        break;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(w.key);
    if (it == objects_.end() || StringAt(it->second, "metadata", "uid") != StringAt(w.deployment, "metadata", "uid")) {
      continue;  // deleted or replaced meanwhile
    }
    int64_t owned = 0, updated = 0;
    for (const auto& [pk, pod] : objects_) {
      if (pk.resource != "pods" || pk.ns != w.key.ns || !OwnedBy(pod, it->second)) continue;
      ++owned;
      if (LabelOf(pod, "pod-template-hash") == w.hash) ++updated;
    }
    const int64_t replicas = it->second["spec"].value("replicas", int64_t{1});
    auto cond = [](const char* type, bool ok, const char* reason, const std::string& message) {
      return Json{{"type", type}, {"status", ok ? "True" : "False"}, {"reason", reason}, {"message", message}};
    };
    Json status{{"observedGeneration", it->second["metadata"].value("generation", int64_t{1})},
                {"replicas", owned},
                {"updatedReplicas", updated},
                {"readyReplicas", updated},
                {"availableReplicas", updated}};
    if (owned > updated) status["unavailableReplicas"] = owned - updated;
    Json conds = Json::array();
    conds.push_back(cond("Available", updated >= replicas, updated >= replicas ? "MinimumReplicasAvailable"
                                                                               : "MinimumReplicasUnavailable",
                         updated >= replicas ? "Deployment has minimum availability."
                                             : "Deployment does not have minimum availability."));
    conds.push_back(cond("Progressing", true, updated >= replicas ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                         "ReplicaSet \"" + StringAt(it->second, "metadata", "name") + "-" + w.hash + "\" " +
                             (updated >= replicas ? "has successfully progressed." : "is progressing.")));
    if (!failure.empty()) conds.push_back(cond("ReplicaFailure", true, "FailedCreate", failure));
    // Timestamps are kept while a condition is unchanged, so an idle pass
    // writes nothing (no MODIFIED event, no new resourceVersion).
    Json old = it->second.contains("status") ? it->second["status"] : Json::object();
    Json old_conds = old.contains("conditions") ? old["conditions"] : Json::array();
    for (Json& c : old_conds) {
      c.erase("lastUpdateTime");
      c.erase("lastTransitionTime");
    }
    old.erase("conditions");
    if (old == status && old_conds == conds) continue;
    const std::string now = NowRfc3339();
    for (Json& c : conds) {
      c["lastUpdateTime"] = now;
      c["lastTransitionTime"] = now;
    }
    status["conditions"] = conds;
    Json d = it->second;
    d["status"] = std::move(status);
    StoreLocked(w.key, std::move(d), false);
  }
}

}  // namespace astis::kubestandin
