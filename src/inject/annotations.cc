#include "inject/annotations.h"

#include <functional>
#include <set>

#include "common/dns1123.h"

namespace astis::inject {
namespace {

Status Bad(std::string_view annotation, size_t entry, std::string_view why) {
  return Error(Code::kInvalidArgument,
               std::string(annotation) + ": entry " + std::to_string(entry) + ": " + std::string(why));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsValidKey(std::string_view s) {
  if (s.empty() || s.size() > kMaxDns1123Subdomain || s == "." || s == "..") return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
          c == '_')) {
      return false;
    }
  }
  return true;
}

// ParseRef parses "<secret>/<key>". The SDK name "<secret>_<key>" must be a
// valid SDK secret name (at most 253 bytes, docs/sdk.md "Configuration").
Result<SecretRef> ParseRef(std::string_view annotation, size_t entry, std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || text.find('/', slash + 1) != std::string_view::npos) {
    return Bad(annotation, entry, "the value must be a reference <secret>/<key> to a sealed Secret, not a literal");
  }
  SecretRef ref{std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
  if (!IsDns1123Subdomain(ref.secret)) {
    return Bad(annotation, entry, "the secret name is not a DNS-1123 subdomain (lower-case [a-z0-9.-])");
  }
  if (!IsValidKey(ref.key)) return Bad(annotation, entry, "the key is not a Secret data key ([-._a-zA-Z0-9]+)");
  if (ref.SdkName().size() > kMaxDns1123Subdomain) {
    return Bad(annotation, entry, "secret name and key together exceed 252 bytes");
  }
  return ref;
}

// ValidPath: absolute, [-._a-zA-Z0-9/], no empty, "." or ".." component, at
// least /dir/dir/file (the directory gets an in-memory volume, so it must not
// be a top-level one such as /etc).
bool ValidPath(std::string_view p) {
  if (p.size() < 2 || p.size() > 1024 || p[0] != '/' || p.back() == '/') return false;
  size_t components = 0;
  size_t start = 1;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    const std::string_view part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
    for (char c : part) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_')) {
        return false;
      }
    }
    ++components;
    start = end + 1;
  }
  return components >= 3;
}

// Entries splits "A=B, C=D" into trimmed (target, reference) pairs.
Status ForEachEntry(std::string_view annotation, std::string_view value,
                    const std::function<Status(size_t, std::string_view, std::string_view)>& fn) {
  if (value.size() > kMaxAnnotationBytes) {
    return Error(Code::kInvalidArgument, std::string(annotation) + ": longer than 16 KiB");
  }
  size_t entry = 0;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    const std::string_view item = Trim(value.substr(start, comma - start));
    ++entry;
    if (entry > kMaxBindings) return Bad(annotation, entry, "more than 64 entries");
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Bad(annotation, entry, "not TARGET=<secret>/<key>");
    ASTIS_RETURN_IF_ERROR(fn(entry, Trim(item.substr(0, eq)), Trim(item.substr(eq + 1))));
    start = comma + 1;
  }
  return OkStatus();
}

Result<std::string> StringMember(const Json& annotations, std::string_view name) {
  auto it = annotations.find(name);
  if (it == annotations.end()) return std::string();
  if (!it->is_string()) return Error(Code::kInvalidArgument, std::string(name) + ": annotation value must be a string");
  return it->get<std::string>();
}

}  // namespace

bool IsValidEnvName(std::string_view s) {
  if (s.empty() || s.size() > 256 || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

Result<InjectionRequest> ParseInjectAnnotations(const Json& annotations, std::string_view service_account) {
  InjectionRequest out;
  const std::string sa = service_account.empty() ? "default" : std::string(service_account);
  out.api_key_secret = sa + "-astis-key";
  if (annotations.is_null()) return out;
  if (!annotations.is_object()) return Error(Code::kInvalidArgument, "metadata.annotations must be an object");
  ASTIS_ASSIGN_OR_RETURN(std::string env, StringMember(annotations, kEnvAnnotation));
  ASTIS_ASSIGN_OR_RETURN(std::string files, StringMember(annotations, kFilesAnnotation));
  ASTIS_ASSIGN_OR_RETURN(out.container, StringMember(annotations, kContainerAnnotation));
  ASTIS_ASSIGN_OR_RETURN(std::string api_key, StringMember(annotations, kApiKeySecretAnnotation));
  if (annotations.contains(kContainerAnnotation) && !IsDns1123Label(out.container)) {
    return Error(Code::kInvalidArgument, std::string(kContainerAnnotation) + ": not a container name (DNS-1123 label)");
  }
  if (annotations.contains(kApiKeySecretAnnotation)) {
    if (!IsDns1123Subdomain(api_key)) {
      return Error(Code::kInvalidArgument,
                   std::string(kApiKeySecretAnnotation) + ": the Secret name is not a DNS-1123 subdomain");
    }
    out.api_key_secret = api_key;
  }
  if (!IsDns1123Subdomain(out.api_key_secret)) {
    return Error(Code::kInvalidArgument, "the default API-key Secret name <serviceAccountName>-astis-key is too long: "
                                         "set " + std::string(kApiKeySecretAnnotation));
  }
  std::set<std::string> seen;
  if (annotations.contains(kEnvAnnotation)) {
    ASTIS_RETURN_IF_ERROR(ForEachEntry(kEnvAnnotation, env, [&](size_t i, std::string_view var, std::string_view ref) {
      if (!IsValidEnvName(var)) return Bad(kEnvAnnotation, i, "not a valid environment variable name");
      if (var.substr(0, 6) == "ASTIS_") return Bad(kEnvAnnotation, i, "ASTIS_* variables are the SDK's settings");
      ASTIS_ASSIGN_OR_RETURN(SecretRef r, ParseRef(kEnvAnnotation, i, ref));
      if (!seen.insert("env:" + std::string(var)).second) {
        return Bad(kEnvAnnotation, i, "variable " + std::string(var) + " is given twice");
      }
      out.env.push_back({std::string(var), std::move(r)});
      return OkStatus();
    }));
  }
  if (annotations.contains(kFilesAnnotation)) {
    ASTIS_RETURN_IF_ERROR(ForEachEntry(kFilesAnnotation, files, [&](size_t i, std::string_view path,
                                                                     std::string_view ref) {
      if (!ValidPath(path)) {
        return Bad(kFilesAnnotation, i,
                   "the path must be absolute, of [-._a-zA-Z0-9/], without '.' or '..' components, and in a "
                   "directory at least two levels deep (e.g. /etc/app/key.pem)");
      }
      ASTIS_ASSIGN_OR_RETURN(SecretRef r, ParseRef(kFilesAnnotation, i, ref));
      if (!seen.insert("file:" + std::string(path)).second) {
        return Bad(kFilesAnnotation, i, "path " + std::string(path) + " is given twice");
      }
      out.files.push_back({std::string(path), std::move(r)});
      return OkStatus();
    }));
  }
  return out;
}

}  // namespace astis::inject
