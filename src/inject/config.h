// Configuration of `astis inject`, the mutating admission webhook
// (docs/inject.md "Interface"): what it injects (InjectConfig) and where it
// serves (InjectServerConfig), from a YAML file and/or flags.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace astis::inject {

// InjectConfig is what Mutate needs; validated by ValidateInjectConfig.
struct InjectConfig {
  // run_image is the astis-run image, by digest: "<repository>@sha256:<64 hex>".
  std::string run_image;
  // edge_url is ASTIS_EDGE_URL of injected pods: one or more https URLs,
  // comma-separated.
  std::string edge_url;
  // namespace_ is the webhook's own namespace; pods there are never patched.
  std::string namespace_;
  // edge_ca_configmap, when set, names a ConfigMap (key ca.crt) in the pod's
  // namespace mounted as the edge's CA bundle (ASTIS_CA_FILE).
  std::string edge_ca_configmap;
  // token_expiration_seconds of the projected token (Kubernetes: >= 600).
  int64_t token_expiration_seconds = 600;
};

// ValidateInjectConfig refuses (kInvalidArgument, naming the field) a
// run_image not pinned by digest, an edge_url that is not https, a namespace
// or ConfigMap name that is not DNS-1123, a token lifetime outside
// [600, 86400]. Test: InjectConfigTest.RefusesBadValues.
Status ValidateInjectConfig(const InjectConfig& config);

// InjectServerConfig is the whole process configuration.
struct InjectServerConfig {
  std::string listen_address = "0.0.0.0";
  uint16_t listen_port = 8443;
  std::string cert_file;
  std::string key_file;
  InjectConfig inject;
};

// ParseInjectServerConfig reads the YAML configuration file's text over
// the defaults in out (unknown keys refused, messages name the field); it
// does not check that required fields are present: call
// ValidateInjectServerConfig after applying flags. Test:
// InjectConfigTest.ParsesFileAndRefusesUnknownKeys.
Status ParseInjectServerConfig(std::string_view yaml_text, InjectServerConfig& out);

// ParseListen parses "HOST:PORT" ("[v6]:PORT" too) into the config.
Status ParseListen(std::string_view listen, InjectServerConfig& out);

// ValidateInjectServerConfig requires cert and key files and a valid
// InjectConfig.
Status ValidateInjectServerConfig(const InjectServerConfig& config);

}  // namespace astis::inject
