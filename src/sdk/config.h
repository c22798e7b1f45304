// SdkConfig: what the pod SDK needs to know (docs/sdk.md "Configuration").
// Internal: applications configure through include/astis/astis.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace astis::sdkcore {

inline constexpr std::string_view kDefaultTokenPath = "/var/run/secrets/astis/token";
inline constexpr std::string_view kDefaultSecretsDir = "/etc/astis/secrets";
inline constexpr std::string_view kDefaultEnvPrefix = "ASTIS_SECRET_";
inline constexpr std::string_view kDefaultApiKeyEnv = "ASTIS_API_KEY";
// kMaxCapsulesPerUnwrap is the docs/protocol.md §4.2 batch limit.
inline constexpr size_t kMaxCapsulesPerUnwrap = 64;

// SdkConfig holds every setting; it owns copies of its strings.
struct SdkConfig {
  std::vector<std::string> edge_urls;  // https base URLs, tried in order on transport failure
  std::string ca_file;                 // empty: system trust store
  std::string api_key_file;            // when set, wins over api_key_env
  std::string api_key_env = std::string(kDefaultApiKeyEnv);
  std::string token_path = std::string(kDefaultTokenPath);
  std::string secrets_dir = std::string(kDefaultSecretsDir);
  std::string env_prefix = std::string(kDefaultEnvPrefix);
  int64_t rotation_seconds = 3600;        // 0: never rotate the DPoP key
  int64_t refresh_margin_seconds = 60;    // re-establish this long before expiresAt
  int64_t rotation_retry_seconds = 60;    // after a failed rotation, try again this much later
  int64_t pin_wait_seconds = 30;          // establish retries credential_pinned this long (0: never)
  int max_attempts = 4;                   // per request, counting 503 retries (>= 1)
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{15000};
};

// ParseEdgeUrls splits a comma-separated list of edge base URLs, trimming
// spaces. Each must start with "https://", have a host, and carry no query,
// fragment or userinfo; a trailing "/" is dropped. Fails with
// kInvalidArgument (naming the position, never echoing a credential).
Result<std::vector<std::string>> ParseEdgeUrls(std::string_view urls);

// ValidateConfig checks a config before use: at least one edge URL, non-empty
// paths, a valid env prefix ([A-Z0-9_]*), rotation >= 0, pin wait >= 0,
// attempts >= 1.
// Fails with kInvalidArgument naming the setting.
Status ValidateConfig(const SdkConfig& config);

// ParseSeconds reads a non-negative whole number of seconds written in
// decimal digits only (an env var such as ASTIS_PIN_WAIT_SECONDS), at most
// one day. kInvalidArgument otherwise.
Result<int64_t> ParseSeconds(std::string_view text);

// ValidateSecretName accepts a Secret data key ([-._a-zA-Z0-9]+, at most 253
// bytes) that is safe as a file name: not "." or "..", and not starting with
// ".." (the kubelet's own entries in a mounted volume). kInvalidArgument
// otherwise.
Status ValidateSecretName(std::string_view name);

// EnvVarName returns prefix + name upper-cased with '-' and '.' mapped to '_'.
std::string EnvVarName(std::string_view prefix, std::string_view name);

}  // namespace astis::sdkcore
