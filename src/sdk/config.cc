#include "sdk/config.h"

#include <cctype>

namespace astis::sdkcore {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::vector<std::string>> ParseEdgeUrls(std::string_view urls) {
  std::vector<std::string> out;
  size_t index = 0;
  while (true) {
    const size_t comma = urls.find(',');
    std::string_view url = Trim(urls.substr(0, comma));
    ++index;
    const std::string where = "edge URL #" + std::to_string(index);
    constexpr std::string_view kScheme = "https://";
    if (!url.starts_with(kScheme)) return Error(Code::kInvalidArgument, where + " must start with https://");
    std::string_view rest = url.substr(kScheme.size());
    while (rest.ends_with('/')) rest.remove_suffix(1);
    if (rest.empty()) return Error(Code::kInvalidArgument, where + " has no host");
    for (char c : rest) {
      if (c == '?' || c == '#' || c == '@' || c == ' ' || static_cast<unsigned char>(c) < 0x21 ||
          static_cast<unsigned char>(c) > 0x7e) {
        return Error(Code::kInvalidArgument, where + " must be scheme://host[:port][/path] only");
      }
    }
    out.push_back(std::string(kScheme) + std::string(rest));
    if (comma == std::string_view::npos) break;
    urls.remove_prefix(comma + 1);
  }
  return out;
}

Status ValidateConfig(const SdkConfig& config) {
  if (config.edge_urls.empty()) return Error(Code::kInvalidArgument, "config: no edge URL set");
  if (config.token_path.empty()) return Error(Code::kInvalidArgument, "config: token path is empty");
  if (config.secrets_dir.empty()) return Error(Code::kInvalidArgument, "config: secrets directory is empty");
  if (config.api_key_file.empty() && config.api_key_env.empty()) {
    return Error(Code::kInvalidArgument, "config: no API key source");
  }
  for (char c : config.env_prefix) {
    if (!(std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return Error(Code::kInvalidArgument, "config: env prefix must match [A-Z0-9_]*");
    }
  }
  if (config.rotation_seconds < 0) return Error(Code::kInvalidArgument, "config: rotation interval is negative");
  if (config.refresh_margin_seconds < 0 || config.rotation_retry_seconds <= 0) {
    return Error(Code::kInvalidArgument, "config: refresh margin or rotation retry out of range");
  }
  if (config.pin_wait_seconds < 0) return Error(Code::kInvalidArgument, "config: pin wait is negative");
  if (config.max_attempts < 1) return Error(Code::kInvalidArgument, "config: max attempts must be >= 1");
  return OkStatus();
}

Result<int64_t> ParseSeconds(std::string_view text) {
  constexpr int64_t kMax = 86400;
  if (text.empty() || text.size() > 6) return Error(Code::kInvalidArgument, "must be 0 to 86400 seconds");
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Error(Code::kInvalidArgument, "must be 0 to 86400 seconds");
    v = v * 10 + (c - '0');
  }
  if (v > kMax) return Error(Code::kInvalidArgument, "must be 0 to 86400 seconds");
  return v;
}

Status ValidateSecretName(std::string_view name) {
  if (name.empty() || name.size() > 253) return Error(Code::kInvalidArgument, "secret name: length must be 1..253");
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) {
      return Error(Code::kInvalidArgument, "secret name: only [-._a-zA-Z0-9] allowed");
    }
  }
  if (name == "." || name.starts_with("..")) {
    return Error(Code::kInvalidArgument, "secret name: '.', '..' and '..*' are not secret keys");
  }
  return OkStatus();
}

std::string EnvVarName(std::string_view prefix, std::string_view name) {
  std::string out(prefix);
  for (char c : name) {
    out.push_back(c == '-' || c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

}  // namespace astis::sdkcore
