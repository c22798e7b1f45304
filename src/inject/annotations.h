// The pod label and annotations `astis inject` reads (docs/inject.md
// "Label and annotations"), and their parser, shared by the webhook, `astis
// lint` and the MCP tools so that all three accept exactly the same values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace astis::inject {

// kInjectLabel = "true" opts a pod in (the webhook's objectSelector).
inline constexpr std::string_view kInjectLabel = "astis.io/inject";
// kEnvAnnotation: "VAR=<secret>/<key>[,...]".
inline constexpr std::string_view kEnvAnnotation = "astis.io/env";
// kFilesAnnotation: "/abs/path=<secret>/<key>[,...]".
inline constexpr std::string_view kFilesAnnotation = "astis.io/files";
// kContainerAnnotation names the container to wire (several containers).
inline constexpr std::string_view kContainerAnnotation = "astis.io/container";
// kApiKeySecretAnnotation names the API-key Secret (key kApiKeySecretKey);
// default "<serviceAccountName>-astis-key".
inline constexpr std::string_view kApiKeySecretAnnotation = "astis.io/api-key-secret";
inline constexpr std::string_view kApiKeySecretKey = "api-key";
// kInjectedAnnotation = "true" is set by the webhook on the pods it patched.
inline constexpr std::string_view kInjectedAnnotation = "astis.io/injected";

// Limits on one annotation (untrusted input).
inline constexpr size_t kMaxAnnotationBytes = 16 * 1024;
inline constexpr size_t kMaxBindings = 64;

// SecretRef is key `key` of the sealed Secret `secret` in the pod's namespace.
struct SecretRef {
  std::string secret;  // DNS-1123 subdomain
  std::string key;     // [-._a-zA-Z0-9]+, not "." or ".."
  // SdkName is the file the key is projected as in the sealed volume and
  // the name astis-run asks the SDK for: "<secret>_<key>". A DNS-1123 name
  // has no '_', so the first '_' separates the two and no two references
  // share a name.
  std::string SdkName() const { return secret + "_" + key; }
};

struct EnvBinding {
  std::string var;
  SecretRef ref;
};

struct FileBinding {
  std::string path;  // absolute, normalised, at least /dir/dir/file
  SecretRef ref;
  // Dir is the file's directory (where an in-memory volume is mounted).
  std::string Dir() const { return path.substr(0, path.rfind('/')); }
};

// InjectionRequest is what a pod's annotations ask for.
struct InjectionRequest {
  std::vector<EnvBinding> env;
  std::vector<FileBinding> files;
  std::string container;       // "" = the pod's only container
  std::string api_key_secret;  // resolved (default applied)
  bool empty() const { return env.empty() && files.empty(); }
};

// ParseInjectAnnotations reads the annotations object (metadata.annotations;
// null or absent = none) of a pod running as service_account ("" =
// "default"). Errors are kInvalidArgument naming the annotation and the
// entry's position, never quoting a value (it may be a plaintext someone
// pasted): a value that is not a JSON string, not `TARGET=<secret>/<key>`
// entries, a bad variable name, a path that is not absolute or has a `.`/`..`
// component, a secret name that is not a DNS-1123 subdomain, a bad key, a
// duplicate target, too many entries. Tests: InjectAnnotationsTest.*.
Result<InjectionRequest> ParseInjectAnnotations(const Json& annotations, std::string_view service_account);

// IsValidEnvName: [A-Za-z_][A-Za-z0-9_]*, at most 256 bytes.
bool IsValidEnvName(std::string_view s);

}  // namespace astis::inject
