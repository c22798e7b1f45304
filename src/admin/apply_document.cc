#include "admin/apply_document.h"

#include <set>
#include <utility>

#include "common/json.h"
#include "lint/yaml_documents.h"
#include "store/store.h"

namespace astis::admin {
namespace {

// PrintableKey is a member name fit for an error message: a short name of
// letters, digits, '_', '-' and '.'; anything else is not echoed.
std::string PrintableKey(const std::string& key) {
  if (key.empty() || key.size() > 64) return "(unprintable)";
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) return "(unprintable)";
  }
  return key;
}

// Fields reads the members of one mapping of a document strictly: each read
// names the member by its path ("spec.apiUrl"), Done refuses members that
// were not read. The first error wins.
class Fields {
 public:
  Fields(const Json* obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  // Str reads a string; an absent optional member leaves out unchanged.
  Fields& Str(const char* key, std::string& out, bool required) {
    if (const Json* v = Find(key, required); v != nullptr) {
      if (!v->is_string()) return Fail(key, "must be a string");
      out = v->get<std::string>();
    }
    return *this;
  }
  // Get returns the member (nullptr when absent) for the caller to decode.
  const Json* Get(const char* key) { return Find(key, false); }
  // Fail records an error on member key (unless one is recorded already).
  Fields& Fail(const std::string& key, std::string_view why) {
    if (error_.ok()) error_ = Error(Code::kInvalidArgument, Path(key) + ": " + std::string(why));
    return *this;
  }
  std::string Path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  Status Done() const {
    if (!error_.ok()) return error_;
    for (auto it = obj_->begin(); it != obj_->end(); ++it) {
      if (read_.count(it.key()) == 0) {
        return Error(Code::kInvalidArgument, Path(PrintableKey(it.key())) + ": unknown field");
      }
    }
    return OkStatus();
  }
  bool ok() const { return error_.ok(); }

 private:
  const Json* Find(const char* key, bool required) {
    read_.insert(key);
    auto it = obj_->find(key);
    if (it == obj_->end()) {
      if (required) Fail(key, "missing");
      return nullptr;
    }
    return &*it;
  }

  const Json* obj_;
  std::string path_;
  std::set<std::string, std::less<>> read_;
  Status error_;
};

// Document is the context every error of one document carries.
struct Document {
  std::string_view file;
  size_t index = 0;  // 1-based
  std::string kind;
  std::string name;

  Status Wrap(const Status& s) const {
    std::string where = std::string(file) + ": document " + std::to_string(index);
    if (!kind.empty()) where += " (" + kind + (name.empty() ? "" : "/" + name) + ")";
    return Error(s.code(), where + ": " + s.message());
  }
};

Status Invalid(std::string_view field, std::string_view why) {
  return Error(Code::kInvalidArgument, std::string(field) + ": " + std::string(why));
}

// ReadMetadata reads metadata: name, org, and labels/annotations (accepted
// for the tools that add them, and ignored).
Status ReadMetadata(const Json* metadata, std::string& name, bool name_required, ApplyDocuments& out) {
  if (metadata == nullptr) {
    return name_required ? Invalid("metadata.name", "missing") : OkStatus();
  }
  if (!metadata->is_object()) return Invalid("metadata", "must be a mapping");
  Fields f(metadata, "metadata");
  std::string org;
  f.Str("name", name, name_required).Str("org", org, false);
  for (const char* key : {"labels", "annotations"}) {
    if (const Json* v = f.Get(key); v != nullptr && !v->is_object()) f.Fail(key, "must be a mapping");
  }
  ASTIS_RETURN_IF_ERROR(f.Done());
  if (!org.empty()) {
    if (!out.org.empty() && out.org != org) {
      return Invalid("metadata.org", "differs from the organization of earlier documents (one apply is one "
                                     "organization)");
    }
    out.org = org;
  }
  return OkStatus();
}

Status ReadCluster(const Json& doc, Document& d, const ReadRelativeFile& read, ApplyDocuments& out) {
  ClusterAddArgs c;
  Fields top(&doc, "");
  std::string api_version, kind;
  top.Str("apiVersion", api_version, true).Str("kind", kind, true);
  const Json* metadata = top.Get("metadata");
  const Json* spec = top.Get("spec");
  ASTIS_RETURN_IF_ERROR(top.Done());
  ASTIS_RETURN_IF_ERROR(ReadMetadata(metadata, c.name, /*name_required=*/true, out));
  d.name = c.name;
  if (spec == nullptr) return Invalid("spec", "missing");
  if (!spec->is_object()) return Invalid("spec", "must be a mapping");
  Fields f(spec, "spec");
  std::string jwks_file;
  f.Str("issuer", c.issuer, true)
      .Str("audience", c.audience, false)
      .Str("jwksFile", jwks_file, false)
      .Str("apiUrl", c.api_url, true)
      .Str("caFile", c.ca_file, true)
      .Str("tokenFile", c.token_file, true)
      .Str("mode", c.mode, false);
  const Json* jwks = f.Get("jwks");
  ASTIS_RETURN_IF_ERROR(f.Done());
  if ((jwks == nullptr) == jwks_file.empty()) return Invalid("spec.jwks", "give exactly one of jwks and jwksFile");
  std::string jwks_field = "spec.jwks";
  if (jwks != nullptr) {
    // Inline JSON: the JWKS as a mapping (YAML or JSON), or as JSON text.
    if (jwks->is_object()) {
      c.jwks_json = DumpJson(*jwks);
    } else if (jwks->is_string()) {
      c.jwks_json = jwks->get<std::string>();
    } else {
      return Invalid(jwks_field, "must be a JWKS mapping or JSON text");
    }
  } else {
    jwks_field = "spec.jwksFile";
    auto text = read(jwks_file);
    if (!text.ok()) return Error(text.status().code(), jwks_field + ": " + text.status().message());
    c.jwks_json = std::move(*text);
  }
  // The checks of `astis cluster add` (LocalOperations::ClusterAdd).
  if (Status s = CheckJwksText(c.jwks_json); !s.ok()) return Error(s.code(), jwks_field + ": " + s.message());
  if (!IsHttpsUrl(c.api_url)) return Invalid("spec.apiUrl", "must be an https:// URL");
  if (c.mode != "strict" && c.mode != "audit") return Invalid("spec.mode", "must be strict or audit");
  store::Cluster sc{c.name, c.issuer, c.audience, c.jwks_json, c.api_url, c.ca_file, c.token_file, c.mode};
  if (Status s = store::ValidateCluster(sc); !s.ok()) {
    // Name the field the store refused where it is one the document names.
    const std::string& m = s.message();
    if (m.find("cluster name") != std::string::npos) return Invalid("metadata.name", "not a valid cluster name");
    if (m.find("audience") != std::string::npos) return Invalid("spec.audience", "not a valid audience");
    if (m.find("issuer") != std::string::npos) return Invalid("spec.issuer", "not a valid issuer");
    return Invalid("spec", m);
  }
  for (const ClusterAddArgs& other : out.clusters) {
    if (other.name == c.name) return Invalid("metadata.name", "cluster declared twice");
  }
  out.clusters.push_back(std::move(c));
  return OkStatus();
}

Status ReadWorkload(const Json& doc, Document& d, ApplyDocuments& out) {
  store::Workload w;
  Fields top(&doc, "");
  std::string api_version, kind, name;
  top.Str("apiVersion", api_version, true).Str("kind", kind, true);
  const Json* metadata = top.Get("metadata");
  const Json* spec = top.Get("spec");
  ASTIS_RETURN_IF_ERROR(top.Done());
  ASTIS_RETURN_IF_ERROR(ReadMetadata(metadata, name, /*name_required=*/false, out));
  if (spec == nullptr) return Invalid("spec", "missing");
  if (!spec->is_object()) return Invalid("spec", "must be a mapping");
  Fields f(spec, "spec");
  f.Str("cluster", w.cluster, true).Str("namespace", w.namespace_, true).Str("serviceAccount", w.service_account,
                                                                              true);
  const Json* images = f.Get("images");
  if (f.ok() && images == nullptr) f.Fail("images", "missing");
  ASTIS_RETURN_IF_ERROR(f.Done());
  const std::string full = w.cluster + "/" + w.namespace_ + "/" + w.service_account;
  d.name = full;
  // A Workload is named by its spec; metadata.name, when given, must agree.
  if (!name.empty() && name != full) return Invalid("metadata.name", "must be <cluster>/<namespace>/<serviceAccount>");
  if (!images->is_array() || images->empty()) return Invalid("spec.images", "must be a non-empty list of digests");
  if (images->size() > store::kMaxImageDigests) return Invalid("spec.images", "too many digests");
  for (size_t i = 0; i < images->size(); ++i) {
    const Json& image = (*images)[i];
    // Gate 4 compares exact digests (docs/protocol.md §6.4): a tag is refused
    // as in `astis workload add` (test ApplyDocumentTest.RejectsTag).
    if (!image.is_string() || !store::IsValidImageDigest(image.get<std::string>())) {
      return Invalid("spec.images[" + std::to_string(i) + "]",
                     "must be sha256: followed by 64 lower-case hex digits");
    }
    w.image_digests.push_back(image.get<std::string>());
  }
  if (Status s = store::ValidateWorkload(w); !s.ok()) return Invalid("spec", "not a valid cluster, namespace or "
                                                                             "serviceAccount name");
  for (const store::Workload& other : out.workloads) {
    if (other.cluster == w.cluster && other.namespace_ == w.namespace_ && other.service_account == w.service_account) {
      return Invalid("spec", "workload declared twice");
    }
  }
  out.workloads.push_back(std::move(w));
  return OkStatus();
}

}  // namespace

Status ParseApplyFile(std::string_view file_name, std::string_view text, const ReadRelativeFile& read,
                      ApplyDocuments& out) {
  auto docs = lint::ParseYamlDocuments(text);
  if (!docs.ok()) return Error(docs.status().code(), std::string(file_name) + ": " + docs.status().message());
  for (size_t i = 0; i < docs->size(); ++i) {
    const Json& doc = (*docs)[i];
    Document d{file_name, i + 1, "", ""};
    if (!doc.is_object()) return d.Wrap(Error(Code::kInvalidArgument, "must be a mapping"));
    auto kind = doc.find("kind");
    if (kind == doc.end()) return d.Wrap(Invalid("kind", "missing"));
    if (!kind->is_string() || (*kind != "Cluster" && *kind != "Workload")) {
      return d.Wrap(Invalid("kind", "must be Cluster or Workload"));
    }
    d.kind = kind->get<std::string>();
    auto version = doc.find("apiVersion");
    if (version == doc.end()) return d.Wrap(Invalid("apiVersion", "missing"));
    if (!version->is_string() || *version != kApplyApiVersion) {
      return d.Wrap(Invalid("apiVersion", "must be " + std::string(kApplyApiVersion)));
    }
    Status s = d.kind == "Cluster" ? ReadCluster(doc, d, read, out) : ReadWorkload(doc, d, out);
    if (!s.ok()) return d.Wrap(s);
  }
  return OkStatus();
}

}  // namespace astis::admin
