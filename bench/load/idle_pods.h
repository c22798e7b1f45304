// Idle pods: astis-bench --idle-pods N holds N sessions (leases) that renew
// on the SDK's schedule and do nothing else, and measures what the renewals
// cost the edge against a baseline of the same edge with the same sessions
// and no renewals, in the same run (docs/performance.md "Lease renewal per
// 1,000 idle pods"; issue 26). Benchmark tool.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "load/bench_world.h"

namespace astis::bench {

// IdleOptions shape an idle-pods run. The time constants are those of the
// world the pods talk to (IdleWorldOptions scales them together).
struct IdleOptions {
  int pods = 1000;                   // distinct pods, one session (lease) each
  int64_t session_ttl_seconds = 30;  // the edge's session TTL
  int64_t refresh_margin_seconds = 2;  // the SDK's refresh_margin_seconds
  double renewal_seconds = 84;       // measured window with renewals (after one unmeasured period)
  double baseline_seconds = 20;      // measured window without renewals, afterwards
  int workers = 4;                   // threads sending the renewals
  int setup_workers = 8;             // threads creating the pods and tokens
  std::string pod_prefix = "idle";
};

// IdleWorldOptions scales every time constant an idle pod's renewal meets at
// the edge by ttl / 900 (the edge's default TTL): the DPoP nonce window
// (60 s -> at least 1 s) and the keep-alive idle timeout (30 s -> at least
// 100 ms), so that a compressed renewal, like one at the defaults (every
// 840 s), arrives on a connection the edge has closed and with a stale
// nonce. Cannot fail.
WorldOptions IdleWorldOptions(int64_t session_ttl_seconds, WorldOptions base = {});

// DefaultMargin is the SDK's 60 s refresh margin scaled by ttl / 900, at
// least 1 s. Cannot fail.
int64_t DefaultMargin(int64_t session_ttl_seconds);

// Window is what one measured window saw.
struct IdleWindow {
  double seconds = 0;
  double process_cpu_seconds = 0;  // this whole process
  double driver_cpu_seconds = 0;   // the renewal threads (the pods' side)
  double standin_cpu_seconds = 0;  // the Kubernetes API stand-in's server threads
  // edge = process - drivers - stand-in (the edge's threads, its watch, the rest)
  double EdgeCpuSeconds() const { return process_cpu_seconds - driver_cpu_seconds - standin_cpu_seconds; }
};

// IdleReport is what an idle-pods run measured.
struct IdleReport {
  IdleOptions options;
  int64_t nonce_window_seconds = 0;
  int64_t idle_timeout_ms = 0;
  double setup_seconds = 0;
  uint64_t renewals = 0;           // in the renewal window: 2xx, same session id
  uint64_t errors = 0;             // refusals, transport failures, lapsed leases (any window)
  uint64_t lapsed = 0;             // a renewal answered with a different session id (the lease had ended)
  uint64_t nonce_retries = 0;      // 401 use_dpop_nonce answered by a retry, renewal window
  uint64_t connections = 0;        // TLS connections the pods opened, renewal window
  std::map<std::string, uint64_t> error_kinds;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;  // renewal round trip incl. connect and nonce retry
  IdleWindow renewal, baseline;
  SessionRows rows_after_renewal, rows_after_baseline;
  int64_t db_bytes_before = -1, db_bytes_after = -1;    // the SQLite file, renewal window
  int64_t wal_bytes_after = -1;                          // its WAL after the window (reused once checkpointed)
  int64_t audit_bytes_before = -1, audit_bytes_after = -1;  // audit log, renewal window
};

// RunIdlePods creates options.pods pods in world (each a real Pod with its
// own bound token, DPoP key and recipient key), establishes their sessions
// spread evenly over one renewal period (as pods started at random times),
// then renews each lease on the SDK's schedule, reproduced exactly
// (src/sdk/engine.cc EstablishLocked: re-establish with the same key at
// expiresAt - min(margin, lifetime / 2), no jitter), over one unmeasured
// period and the renewal window; then stops renewing and measures the
// baseline window. world_options are those world was started with.
// Establishment and renewal failures are counted, never fatal. Fails with
// kInvalidArgument for bad options and with the error of creating a pod,
// its token, keys or client, or of reading the store's session rows.
Result<IdleReport> RunIdlePods(const InProcessWorld& world, const WorldOptions& world_options,
                               const IdleOptions& options);

// IdleMarkdown renders a report as a Markdown section. Cannot fail.
std::string IdleMarkdown(const IdleReport& report);

}  // namespace astis::bench
