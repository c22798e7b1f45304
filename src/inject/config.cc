#include "inject/config.h"

#include <initializer_list>

#include <yaml-cpp/yaml.h>

#include "common/dns1123.h"
#include "common/image_digest.h"
#include "common/yaml_config.h"

namespace astis::inject {
namespace {

using yaml_config::Bad;
using yaml_config::CheckKeys;
using yaml_config::GetInt;
using yaml_config::GetString;
using yaml_config::ParseInt;

Status CheckHttpsUrl(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme || url.size() == kScheme.size()) {
    return Bad("edge_url", "each URL must be https://HOST[:PORT]");
  }
  for (char c : url) {
    if (c <= ' ' || c == 0x7f || c == '?' || c == '#' || c == '@' || c == '"' || c == '\\') {
      return Bad("edge_url", "must not contain a query, fragment, userinfo, quote or whitespace");
    }
  }
  return OkStatus();
}

}  // namespace

Status ValidateInjectConfig(const InjectConfig& c) {
  // The image is by digest so that gate 4 (which compares digests) can allow
  // it and nobody can swap it behind a tag.
  const size_t at = c.run_image.rfind('@');
  if (c.run_image.empty()) return Bad("run_image", "required");
  if (at == std::string::npos || at == 0 || !IsValidImageDigest(std::string_view(c.run_image).substr(at + 1))) {
    return Bad("run_image", "must be pinned by digest: REPOSITORY@sha256:<64 hex>");
  }
  for (char ch : c.run_image) {
    if (ch <= ' ' || ch == 0x7f || ch == '"') return Bad("run_image", "must not contain whitespace or quotes");
  }
  if (c.edge_url.empty()) return Bad("edge_url", "required");
  size_t start = 0;
  for (;;) {
    const size_t comma = c.edge_url.find(',', start);
    const std::string_view one = std::string_view(c.edge_url).substr(start, comma - start);
    ASTIS_RETURN_IF_ERROR(CheckHttpsUrl(one));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!IsDns1123Label(c.namespace_)) return Bad("namespace", "required, a DNS-1123 label");
  if (!c.edge_ca_configmap.empty() && !IsDns1123Subdomain(c.edge_ca_configmap)) {
    return Bad("edge_ca_configmap", "must be a DNS-1123 subdomain");
  }
  if (c.token_expiration_seconds < 600 || c.token_expiration_seconds > 86400) {
    return Bad("token_expiration_seconds", "out of range [600, 86400]");
  }
  return OkStatus();
}

Status ParseInjectServerConfig(std::string_view yaml_text, InjectServerConfig& out) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception&) {
    return Error(Code::kInvalidArgument, "configuration is not valid YAML");
  }
  try {
    if (root.IsNull()) return OkStatus();
    ASTIS_RETURN_IF_ERROR(CheckKeys(root, "",
                                    {"listen", "tls", "namespace", "run_image", "edge_url", "edge_ca_configmap",
                                     "token_expiration_seconds"}));
    if (const YAML::Node n = root["listen"]) {
      ASTIS_RETURN_IF_ERROR(CheckKeys(n, "listen", {"address", "port"}));
      ASTIS_RETURN_IF_ERROR(GetString(n, "listen", "address", out.listen_address, false));
      int64_t port = out.listen_port;
      ASTIS_RETURN_IF_ERROR(GetInt(n, "listen", "port", port, 0, 65535));
      out.listen_port = static_cast<uint16_t>(port);
    }
    if (const YAML::Node n = root["tls"]) {
      ASTIS_RETURN_IF_ERROR(CheckKeys(n, "tls", {"cert_file", "key_file"}));
      ASTIS_RETURN_IF_ERROR(GetString(n, "tls", "cert_file", out.cert_file, false));
      ASTIS_RETURN_IF_ERROR(GetString(n, "tls", "key_file", out.key_file, false));
    }
    ASTIS_RETURN_IF_ERROR(GetString(root, "", "namespace", out.inject.namespace_, false));
    ASTIS_RETURN_IF_ERROR(GetString(root, "", "run_image", out.inject.run_image, false));
    ASTIS_RETURN_IF_ERROR(GetString(root, "", "edge_url", out.inject.edge_url, false));
    ASTIS_RETURN_IF_ERROR(GetString(root, "", "edge_ca_configmap", out.inject.edge_ca_configmap, false));
    ASTIS_RETURN_IF_ERROR(GetInt(root, "", "token_expiration_seconds",
                                 out.inject.token_expiration_seconds, 600, 86400));
  } catch (const YAML::Exception&) {
    return Error(Code::kInvalidArgument, "configuration: unexpected structure");
  }
  return OkStatus();
}

Status ParseListen(std::string_view listen, InjectServerConfig& out) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return Bad("--listen", "must be HOST:PORT");
  std::string_view host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  ASTIS_ASSIGN_OR_RETURN(int64_t port, ParseInt("--listen", listen.substr(colon + 1), 0, 65535));
  out.listen_address = std::string(host);
  out.listen_port = static_cast<uint16_t>(port);
  return OkStatus();
}

Status ValidateInjectServerConfig(const InjectServerConfig& c) {
  if (c.cert_file.empty()) return Bad("tls.cert_file (--cert)", "required");
  if (c.key_file.empty()) return Bad("tls.key_file (--key)", "required");
  return ValidateInjectConfig(c.inject);
}

}  // namespace astis::inject
