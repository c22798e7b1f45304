// Soak: astis-bench --soak-sessions N establishes N sessions, one per
// distinct pod, with a bounded number of workers, and reports what holding
// them costs the server (RSS, store size). Issue #8 target: 100,000 active
// sessions under 200 MB server RSS. Benchmark tool; docs/performance.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "load/bench_world.h"
#include "load/proc_stats.h"

namespace astis::bench {

// SoakOptions shape a soak.
struct SoakOptions {
  int64_t sessions = 0;       // pods to create and sessions to establish (>= 1)
  int workers = 16;           // threads, each with one keep-alive connection to the API and one to the edge
  int64_t server_pid = 0;     // process whose CPU/RSS is reported; 0: this process
  std::string store_file;     // SQLite file whose size (and -wal) is reported; "": not reported
  double settle_seconds = 2;  // wait after the last session before the "after" sample (watch catch-up)
  uint64_t max_errors = 100;  // stop early after this many failed pods
  std::string pod_prefix = "soak";
};

// FileSizes is a store file's size and its write-ahead log's, in bytes (-1: absent).
struct FileSizes {
  int64_t db_bytes = -1;
  int64_t wal_bytes = -1;
};

// SoakReport is what a soak measured.
struct SoakReport {
  int64_t requested = 0;
  uint64_t established = 0;  // sessions established (201 with a session id)
  uint64_t errors = 0;       // pods that failed at any step
  std::map<std::string, uint64_t> error_kinds;  // "kube:<message>", "http_403:pod_not_live", "transport", ...
  double seconds = 0;                           // wall time of the establishment (settle excluded)
  double kube_seconds = 0;    // summed over workers: creating pods and requesting tokens
  double edge_seconds = 0;    // summed over workers: POST /v1/sessions round trips
  double server_cpu_seconds = 0;  // server CPU during the establishment and settle
  int workers = 0;
  bool in_process = false;    // server_pid was 0: the figures are this process's
  ProcStats before, after;    // server samples (after: once settled)
  bool have_proc = false;     // whether both samples were read
  FileSizes store_before, store_after;
};

// ReadFileSizes stats path and path + "-wal". Cannot fail (-1 when absent).
FileSizes ReadFileSizes(const std::string& path);

// RunSoak creates options.sessions pods through the Kubernetes API (real
// pods in target's namespace, each with a pod-bound token), and for each
// makes a DPoP key and a recipient key, establishes one session
// (POST /v1/sessions) and then drops the pod's keys and token, so client
// memory does not grow with N. Pod and step failures are counted in the
// report, not fatal; it stops early after options.max_errors. Fails with
// kInvalidArgument for bad options and with the error of creating the
// ServiceAccount or the first connections.
Result<SoakReport> RunSoak(const Target& target, const SoakOptions& options);

// SoakMarkdown renders a report as a Markdown section. Cannot fail.
std::string SoakMarkdown(const SoakReport& report);

}  // namespace astis::bench
