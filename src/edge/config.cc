#include "edge/config.h"

#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "common/encoding.h"
#include "common/log.h"
#include "common/yaml_config.h"

namespace astis::edge {
namespace {

using yaml_config::Bad;
using yaml_config::CheckKeys;
using yaml_config::GetInt;
using yaml_config::GetString;
using yaml_config::Join;

Status CheckHttpsBase(std::string_view field, const std::string& url) {
  constexpr std::string_view kScheme = "https://";
  if (url.rfind(kScheme, 0) != 0) return Bad(field, "must be an https:// URL");
  const std::string_view rest = std::string_view(url).substr(kScheme.size());
  if (rest.empty()) return Bad(field, "missing host");
  for (char c : rest) {
    if (c == '?' || c == '#' || c == '@' || c <= ' ' || c == 0x7f) {
      return Bad(field, "must not contain a query, fragment, userinfo or whitespace");
    }
  }
  if (url.back() == '/') return Bad(field, "must not end with '/'");
  return OkStatus();
}

Status Fill(const YAML::Node& root, EdgeConfig& c) {
  ASTIS_RETURN_IF_ERROR(CheckKeys(root, "", {"listen", "tls", "external_base_url", "store", "cvs", "audit_log",
                                             "session_ttl_seconds", "dpop", "token", "limits", "admin", "gate4",
                                             "watch", "hyok", "log", "audit_sink", "audit_log_max_bytes"}));
  if (const YAML::Node n = root["listen"]) {
    ASTIS_RETURN_IF_ERROR(CheckKeys(n, "listen", {"address", "port", "threads"}));
    ASTIS_RETURN_IF_ERROR(GetString(n, "listen", "address", c.listen.address, false));
    int64_t port = c.listen.port;
    ASTIS_RETURN_IF_ERROR(GetInt(n, "listen", "port", port, 0, 65535));
    c.listen.port = static_cast<uint16_t>(port);
    ASTIS_RETURN_IF_ERROR(GetInt(n, "listen", "threads", c.listen.threads, 0, 256));
  }
  const YAML::Node tls = root["tls"];
  if (!tls) return Bad("tls", "required");
  ASTIS_RETURN_IF_ERROR(CheckKeys(tls, "tls", {"cert_file", "key_file"}));
  ASTIS_RETURN_IF_ERROR(GetString(tls, "tls", "cert_file", c.tls.cert_file, true));
  ASTIS_RETURN_IF_ERROR(GetString(tls, "tls", "key_file", c.tls.key_file, true));

  ASTIS_RETURN_IF_ERROR(GetString(root, "", "external_base_url", c.external_base_url, true));
  ASTIS_RETURN_IF_ERROR(CheckHttpsBase("external_base_url", c.external_base_url));

  const YAML::Node store = root["store"];
  if (!store) return Bad("store", "required");
  ASTIS_RETURN_IF_ERROR(CheckKeys(store, "store", {"backend", "path", "dsn_file", "pool_size"}));
  ASTIS_RETURN_IF_ERROR(GetString(store, "store", "backend", c.store.backend, false));
  if (c.store.backend == "sqlite") {
    if (store["dsn_file"] || store["pool_size"]) return Bad("store", "dsn_file and pool_size are for backend postgres");
    ASTIS_RETURN_IF_ERROR(GetString(store, "store", "path", c.store.path, true));
  } else if (c.store.backend == "postgres") {
    if (store["path"]) return Bad("store.path", "is for backend sqlite; postgres takes dsn_file");
    ASTIS_RETURN_IF_ERROR(GetString(store, "store", "dsn_file", c.store.dsn_file, true));
    ASTIS_RETURN_IF_ERROR(GetInt(store, "store", "pool_size", c.store.pool_size, 1, 256));
  } else {
    return Bad("store.backend", "must be \"sqlite\" or \"postgres\"");
  }

  const YAML::Node cvs = root["cvs"];
  if (!cvs) return Bad("cvs", "required");
  ASTIS_RETURN_IF_ERROR(CheckKeys(cvs, "cvs", {"mode", "org_keys", "org_keys_dir", "url", "ca_file",
                                               "client_cert_file", "client_key_file", "server_cert_sha256",
                                               "server_spki_sha256", "server_name"}));
  std::string mode;
  ASTIS_RETURN_IF_ERROR(GetString(cvs, "cvs", "mode", mode, true));
  if (mode == "embedded") {
    c.cvs.mode = CvsMode::kEmbedded;
    // org_keys (the default organisation's set, as before organisations)
    // and/or org_keys_dir (every organisation's set, Tier 1 custody).
    // Test: EdgeConfig.CvsOrgKeysDirAndHyok.
    ASTIS_RETURN_IF_ERROR(GetString(cvs, "cvs", "org_keys", c.cvs.org_keys, false));
    ASTIS_RETURN_IF_ERROR(GetString(cvs, "cvs", "org_keys_dir", c.cvs.org_keys_dir, false));
    if (c.cvs.org_keys.empty() && c.cvs.org_keys_dir.empty()) return Bad("cvs.org_keys", "required");
    for (const char* k : {"url", "ca_file", "client_cert_file", "client_key_file", "server_cert_sha256",
                          "server_spki_sha256", "server_name"}) {
      if (cvs[k]) return Bad(Join("cvs", k), "only allowed with mode: remote");
    }
  } else if (mode == "remote") {
    c.cvs.mode = CvsMode::kRemote;
    if (cvs["org_keys"]) return Bad("cvs.org_keys", "only allowed with mode: embedded");
    if (cvs["org_keys_dir"]) return Bad("cvs.org_keys_dir", "only allowed with mode: embedded");
    ASTIS_RETURN_IF_ERROR(GetString(cvs, "cvs", "url", c.cvs.url, true));
    ASTIS_RETURN_IF_ERROR(CheckHttpsBase("cvs.url", c.cvs.url));
    ASTIS_RETURN_IF_ERROR(GetString(cvs, "cvs", "ca_file", c.cvs.ca_file, true));
    ASTIS_RETURN_IF_ERROR(GetString(cvs, "cvs", "client_cert_file", c.cvs.client_cert_file, true));
    ASTIS_RETURN_IF_ERROR(GetString(cvs, "cvs", "client_key_file", c.cvs.client_key_file, true));
    // The CVS is pinned by its leaf, its key (SPKI, survives a renewal that
    // keeps the key) and/or its CA plus the name its certificate carries
    // (survives any renewal by that CA); at least one. Test:
    // EdgeCvsPinConfigTest.ConfigNeedsOnePinAndRefusesBadOnes.
    auto is_sha256_hex = [](const std::string& hex) {
      auto bytes = HexDecode(hex);
      return bytes.ok() && bytes->size() == 32;
    };
    ASTIS_RETURN_IF_ERROR(GetString(cvs, "cvs", "server_cert_sha256", c.cvs.server_cert_sha256, false));
    if (!c.cvs.server_cert_sha256.empty() && !is_sha256_hex(c.cvs.server_cert_sha256))
      return Bad("cvs.server_cert_sha256", "must be 64 hex digits");
    if (const YAML::Node spki = cvs["server_spki_sha256"]) {
      std::vector<YAML::Node> items;
      if (spki.IsSequence()) {
        for (const auto& item : spki) items.push_back(item);
      } else {
        items.push_back(spki);
      }
      for (const YAML::Node& item : items) {
        if (!item.IsScalar() || !is_sha256_hex(item.Scalar()))
          return Bad("cvs.server_spki_sha256", "must be 64 hex digits or a list of them");
        c.cvs.server_spki_sha256.push_back(item.Scalar());
      }
      if (items.empty()) return Bad("cvs.server_spki_sha256", "must be 64 hex digits or a list of them");
    }
    ASTIS_RETURN_IF_ERROR(GetString(cvs, "cvs", "server_name", c.cvs.server_name, false));
    if (c.cvs.server_cert_sha256.empty() && c.cvs.server_spki_sha256.empty() && c.cvs.server_name.empty())
      return Bad("cvs.server_cert_sha256", "one of server_cert_sha256, server_spki_sha256, server_name is required");
  } else {
    return Bad("cvs.mode", "must be \"embedded\" or \"remote\"");
  }

  if (const YAML::Node n = root["hyok"]) {
    ASTIS_RETURN_IF_ERROR(CheckKeys(n, "hyok", {"client_cert_file", "client_key_file"}));
    ASTIS_RETURN_IF_ERROR(GetString(n, "hyok", "client_cert_file", c.hyok.client_cert_file, true));
    ASTIS_RETURN_IF_ERROR(GetString(n, "hyok", "client_key_file", c.hyok.client_key_file, true));
  }

  // Test: EdgeConfig.AuditSinkAndRotation.
  ASTIS_RETURN_IF_ERROR(GetString(root, "", "audit_sink", c.audit_sink, false));
  if (c.audit_sink != "file" && c.audit_sink != "stdout" && c.audit_sink != "both")
    return Bad("audit_sink", "must be \"file\", \"stdout\" or \"both\"");
  if (c.audit_sink == "stdout") {
    if (root["audit_log"] || root["audit_log_max_bytes"])
      return Bad("audit_sink", "stdout writes no file: drop audit_log and audit_log_max_bytes, or use \"both\"");
  } else {
    ASTIS_RETURN_IF_ERROR(GetString(root, "", "audit_log", c.audit_log, true));
    ASTIS_RETURN_IF_ERROR(GetInt(root, "", "audit_log_max_bytes", c.audit_log_max_bytes, 0, int64_t{1} << 50));
    if (c.audit_log_max_bytes != 0 && c.audit_log_max_bytes < 65536)
      return Bad("audit_log_max_bytes", "must be 0 (never rotate) or at least 65536");
  }
  if (const YAML::Node n = root["log"]) {
    // Test: EdgeConfig.LogFormatAndLevel.
    ASTIS_RETURN_IF_ERROR(CheckKeys(n, "log", {"format", "level"}));
    ASTIS_RETURN_IF_ERROR(GetString(n, "log", "format", c.log.format, false));
    ASTIS_RETURN_IF_ERROR(GetString(n, "log", "level", c.log.level, false));
    if (!log::ParseFormat(c.log.format).ok()) return Bad("log.format", "must be \"json\" or \"text\"");
    if (!log::ParseLevel(c.log.level).ok()) return Bad("log.level", "must be debug, info, warn or error");
  }
  ASTIS_RETURN_IF_ERROR(GetInt(root, "", "session_ttl_seconds", c.session_ttl_seconds, 60, 86400));
  if (const YAML::Node n = root["dpop"]) {
    ASTIS_RETURN_IF_ERROR(CheckKeys(n, "dpop", {"max_skew_seconds", "nonce_window_seconds"}));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "dpop", "max_skew_seconds", c.dpop.max_skew_seconds, 1, 600));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "dpop", "nonce_window_seconds", c.dpop.nonce_window_seconds, 10, 3600));
  }
  if (const YAML::Node n = root["token"]) {
    ASTIS_RETURN_IF_ERROR(CheckKeys(n, "token", {"max_skew_seconds", "verified_cache_entries"}));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "token", "max_skew_seconds", c.token.max_skew_seconds, 0, 600));
    ASTIS_RETURN_IF_ERROR(
        GetInt(n, "token", "verified_cache_entries", c.token.verified_cache_entries, 0, 1000000));
  }
  if (const YAML::Node n = root["limits"]) {
    ASTIS_RETURN_IF_ERROR(CheckKeys(n, "limits", {"max_body_bytes", "max_capsules_per_request",
                                                  "rate_per_api_key_per_minute", "rate_per_pod_uid_per_minute"}));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "limits", "max_body_bytes", c.limits.max_body_bytes, 1024, 16 << 20));
    // docs/protocol.md §4.2: 1 to 64 capsules; a smaller limit is allowed, a larger one is not.
    ASTIS_RETURN_IF_ERROR(
        GetInt(n, "limits", "max_capsules_per_request", c.limits.max_capsules_per_request, 1, 64));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "limits", "rate_per_api_key_per_minute", c.limits.rate_per_api_key_per_minute,
                                 1, 1000000));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "limits", "rate_per_pod_uid_per_minute", c.limits.rate_per_pod_uid_per_minute,
                                 1, 1000000));
  }
  if (const YAML::Node n = root["gate4"]) {
    ASTIS_RETURN_IF_ERROR(
        CheckKeys(n, "gate4", {"max_staleness_ms", "api_timeout_ms", "retry_ms", "max_waiting_per_cluster",
                               "slow_read_ms"}));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "gate4", "max_staleness_ms", c.gate4.max_staleness_ms, 0, 60000));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "gate4", "api_timeout_ms", c.gate4.api_timeout_ms, 100, 30000));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "gate4", "retry_ms", c.gate4.retry_ms, 0, 60000));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "gate4", "max_waiting_per_cluster", c.gate4.max_waiting_per_cluster, 0, 256));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "gate4", "slow_read_ms", c.gate4.slow_read_ms, 10, 30000));
  }
  if (const YAML::Node n = root["watch"]) {
    ASTIS_RETURN_IF_ERROR(CheckKeys(n, "watch", {"enabled", "rescan_seconds", "timeout_seconds", "staleness_seconds"}));
    if (const YAML::Node e = n["enabled"]) {
      if (!e.IsScalar() || (e.Scalar() != "true" && e.Scalar() != "false")) {
        return Bad("watch.enabled", "must be true or false");
      }
      c.watch.enabled = e.Scalar() == "true";
    }
    ASTIS_RETURN_IF_ERROR(GetInt(n, "watch", "rescan_seconds", c.watch.rescan_seconds, 1, 3600));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "watch", "timeout_seconds", c.watch.timeout_seconds, 10, 1800));
    ASTIS_RETURN_IF_ERROR(GetInt(n, "watch", "staleness_seconds", c.watch.staleness_seconds, 10, 3600));
    // A watch request that lasts longer than the staleness bound would make a
    // quiet namespace flap unhealthy between bookmarks.
    if (c.watch.staleness_seconds <= c.watch.timeout_seconds) {
      return Bad("watch.staleness_seconds", "must exceed watch.timeout_seconds");
    }
  }
  if (const YAML::Node n = root["admin"]) {
    ASTIS_RETURN_IF_ERROR(CheckKeys(n, "admin", {"unix_socket", "https"}));
    ASTIS_RETURN_IF_ERROR(GetString(n, "admin", "unix_socket", c.admin.unix_socket, false));
    if (const YAML::Node h = n["https"]) {
      // Tests EdgeConfig.AdminHttpsParses, EdgeConfig.AdminHttpsNeedsMutualTls.
      ASTIS_RETURN_IF_ERROR(
          CheckKeys(h, "admin.https", {"address", "port", "cert_file", "key_file", "client_ca_file"}));
      ASTIS_RETURN_IF_ERROR(GetString(h, "admin.https", "address", c.admin.https.address, false));
      ASTIS_RETURN_IF_ERROR(GetInt(h, "admin.https", "port", c.admin.https.port, 1, 65535));
      ASTIS_RETURN_IF_ERROR(GetString(h, "admin.https", "cert_file", c.admin.https.cert_file, true));
      ASTIS_RETURN_IF_ERROR(GetString(h, "admin.https", "key_file", c.admin.https.key_file, true));
      ASTIS_RETURN_IF_ERROR(GetString(h, "admin.https", "client_ca_file", c.admin.https.client_ca_file, true));
      if (c.admin.https.port == 0) return Bad("admin.https.port", "required");
    }
  }
  return OkStatus();
}

}  // namespace

unsigned DefaultThreadsPerCore(const EdgeConfig& config) {
  return (config.store.backend == "postgres" || config.cvs.mode == CvsMode::kRemote) ? 4 : 1;
}

Result<EdgeConfig> ParseEdgeConfig(std::string_view yaml_text) {
  EdgeConfig config;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    ASTIS_RETURN_IF_ERROR(Fill(root, config));
  } catch (const YAML::Exception& e) {
    return Error(Code::kInvalidArgument, "config: YAML syntax error at line " + std::to_string(e.mark.line + 1));
  } catch (const std::exception&) {
    return Error(Code::kInvalidArgument, "config: unreadable YAML");
  }
  return config;
}

Result<EdgeConfig> LoadEdgeConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Code::kIo, "cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = ParseEdgeConfig(ss.str());
  if (!parsed.ok()) return parsed.status().Annotate(path);
  return parsed;
}

}  // namespace astis::edge
