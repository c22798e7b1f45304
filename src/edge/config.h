// Edge configuration (docs/configuration.md): a YAML file read once at start.
//
// Validation is strict and happens before the edge serves anything: an
// unknown key, a missing required field, a wrong type or an out-of-range value
// is an error whose message names the field ("dpop.max_skew_seconds: ...").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace astis::edge {

// CvsMode selects the in-process CVS (org keys on this host) or a remote one.
enum class CvsMode { kEmbedded, kRemote };

// EdgeConfig is the validated configuration. A plain value; copyable.
struct EdgeConfig {
  struct Listen {
    std::string address = "0.0.0.0";
    uint16_t port = 8443;
    // threads serving requests; 0 = DefaultThreadsPerCore(config) per core.
    int64_t threads = 0;
  } listen;
  struct Tls {
    std::string cert_file;
    std::string key_file;
  } tls;
  // external_base_url is the https origin pods address ("https://edge.example"),
  // without a trailing slash; DPoP htu = external_base_url + request path.
  std::string external_base_url;
  // store selects the state store: "sqlite" (path: the database file, one
  // edge) or "postgres" (dsn_file: a 0600 file holding a libpq conninfo,
  // shared by every replica; pool_size connections per process).
  struct Store {
    std::string backend = "sqlite";
    std::string path;
    std::string dsn_file;
    int64_t pool_size = 8;
  } store;
  struct Cvs {
    CvsMode mode = CvsMode::kEmbedded;
    std::string org_keys;          // embedded: the default organisation's key set file (0600)
    std::string org_keys_dir;      // embedded: Tier 1 key sets, <dir>/<org>.json (docs/cvs.md)
    std::string url;               // remote: https URL of the CVS
    std::string ca_file;           // remote
    std::string client_cert_file;  // remote
    std::string client_key_file;   // remote
    std::string server_cert_sha256;  // remote: hex SHA-256 of the CVS leaf cert DER
    // remote: hex SHA-256s of the CVS leaf's SubjectPublicKeyInfo (a renewal
    // that keeps the key still matches) and the name the CVS certificate
    // must carry (with ca_file: the CA pin). At least one of the three pins.
    std::vector<std::string> server_spki_sha256;
    std::string server_name;
  } cvs;
  // hyok: the edge's client identity towards organisations' own CVSs
  // (Tier 2; docs/cvs.md "Routing"). Optional: without it a hyok
  // organisation's unwraps are refused with cvs_unavailable.
  struct Hyok {
    std::string client_cert_file;
    std::string client_key_file;
  } hyok;
  // audit_sink: where the audit lines go (docs/audit-log.md "Sinks"): "file"
  // (default, audit_log), "stdout" (no file; audit_log must be absent) or
  // "both". audit_log_max_bytes rotates the file by size (0: never).
  std::string audit_sink = "file";
  int64_t audit_log_max_bytes = 0;
  std::string audit_log;
  // log: operational log lines on stderr (docs/operations.md "Logs"):
  // format "json" (the shipped manifests) or "text" (the default here, for a
  // terminal), and the minimum level.
  struct Log {
    std::string format = "text";
    std::string level = "info";
  } log;
  int64_t session_ttl_seconds = 900;
  struct Dpop {
    int64_t max_skew_seconds = 60;
    int64_t nonce_window_seconds = 60;
  } dpop;
  struct Token {
    int64_t max_skew_seconds = 60;
    // verified_cache_entries bounds VerifiedTokenCache (gate 2 once per
    // token, docs/edge.md); 0 verifies every request's token in full.
    int64_t verified_cache_entries = 16384;
  } token;
  struct Limits {
    int64_t max_body_bytes = 256 * 1024;
    int64_t max_capsules_per_request = 64;
    int64_t rate_per_api_key_per_minute = 600;
    int64_t rate_per_pod_uid_per_minute = 300;
  } limits;
  struct Admin {
    std::string unix_socket;
    // https: the remote admin API (docs/tenancy.md "Administration over the
    // network"), off unless port is set. Mutual TLS is required: client
    // certificates must chain to client_ca_file and carry an admin role.
    struct Https {
      std::string address = "127.0.0.1";
      int64_t port = 0;  // 0: no remote admin API
      std::string cert_file;
      std::string key_file;
      std::string client_ca_file;
    } https;
  } admin;
  // watch: the pod watches behind session revocation and cached gate 4
  // (docs/edge.md "Pod watch").
  // gate4: how fresh the pod state behind a gate-4 decision must be and how
  // long a request may wait for the cluster's API (docs/protocol.md §6 gate 4
  // "Fresh"; docs/edge.md "Gate 4 from fresh state").
  struct Gate4 {
    // max_staleness_ms: a decision rests on pod state the API server
    // confirmed no longer ago than this; 0 = a direct read for every decision.
    int64_t max_staleness_ms = 1000;
    // api_timeout_ms: the longest a request waits for a pod read; past it the
    // request fails closed with kube_unavailable.
    int64_t api_timeout_ms = 2000;
    // retry_ms: after a failed read, the cluster's further reads fail fast
    // for this long (one request then tries again); 0 = no fail-fast window.
    int64_t retry_ms = 1000;
    // max_waiting_per_cluster: request threads one cluster may hold waiting
    // on its API at once; more are refused with kube_unavailable. 0 = half
    // the request threads, at least one (resolved by RunEdgeProcess).
    int64_t max_waiting_per_cluster = 0;
    // slow_read_ms: the share above applies once one of the cluster's reads
    // has been in flight this long (a healthy burst of cold pods is served).
    int64_t slow_read_ms = 250;
  } gate4;
  struct Watch {
    bool enabled = true;
    int64_t rescan_seconds = 30;     // how often clusters/workloads are re-read
    int64_t timeout_seconds = 60;    // server-side duration of one watch request
    int64_t staleness_seconds = 120; // silence after which a watch is unhealthy
  } watch;
};

// DefaultThreadsPerCore sizes the edge's request threads when listen.threads
// is 0: one per core when a request waits only on this host (embedded CVS,
// SQLite: its fdatasync is short), four per core when it also waits on the
// network (PostgreSQL, a remote CVS), so cores are not left idle during
// those round trips. Measured on 2 cores (docs/performance.md "Request
// threads"): 8 threads raised closed-loop throughput 15-30 % on SQLite but
// put the open-loop batch p99 above 5 ms; 2 kept it at 4.5-4.8 ms. It cannot
// fail.
unsigned DefaultThreadsPerCore(const EdgeConfig& config);

// ParseEdgeConfig parses and validates YAML text. Errors are
// kInvalidArgument with a message naming the offending field; yaml-cpp
// exceptions never escape.
Result<EdgeConfig> ParseEdgeConfig(std::string_view yaml_text);

// LoadEdgeConfig reads path (kIo when unreadable) and calls ParseEdgeConfig.
Result<EdgeConfig> LoadEdgeConfig(const std::string& path);

}  // namespace astis::edge
