// The tenancy scale arms of astis-bench (docs/performance.md "Organisations
// at scale", issue 19): the same closed-loop load against an in-process
// edge with one organisation and one with N organisations x M clusters,
// the pods in one organisation and then spread over many, in alternating
// rounds; and the duration of an admin apply of many workloads. Benchmark
// tool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "load/bench_world.h"
#include "load/load_generator.h"

namespace astis::bench {

// TenancyOptions shape the organisations arm.
struct TenancyOptions {
  int orgs = 1000;              // organisations in total, the world's own ("default") included
  int clusters_per_org = 10;    // clusters of each added organisation
  int rounds = 3;               // each round: every arm once, back to back
  std::vector<Phase> phases = {Phase::kEstablish, Phase::kUnwrap};
};

// TenancyRow is one measured phase of one arm.
struct TenancyRow {
  int round = 0;      // 1-based
  std::string arm;    // "1 org", "N orgs, pods in 1", "N orgs, pods over K"
  int orgs = 0;       // organisations registered at the time
  int pod_orgs = 0;   // organisations the pods belong to
  PhaseReport report;
};

// MemSample is this process's memory, threads and open descriptors.
struct MemSample {
  int64_t rss_kb = 0;  // VmRSS
  int64_t hwm_kb = 0;  // VmHWM
  int64_t threads = 0;
  int64_t fds = 0;     // entries of /proc/self/fd
};

// TenancyReport is the whole arm.
struct TenancyReport {
  std::vector<TenancyRow> rows;
  int orgs = 0;
  int clusters_per_org = 0;
  int rounds = 0;
  int64_t clusters = 0;            // clusters registered in total
  double register_seconds = 0;     // AddOrganizations
  int touched = 0;                 // organisations whose session + unwrap round trip was checked
  uint64_t touch_errors = 0;
  double touch_seconds = 0;
  // This process (both edges, both stand-ins and the pods):
  MemSample before;       // with the pods set up, before registering
  MemSample registered;   // after registering the organisations
  MemSample touched_mem;  // after one round trip in every organisation
  MemSample end;          // after the spread phases
  uint64_t errors = 0;             // over every phase and the touch
};

// RunTenancy starts two in-process worlds with wo (wo.watch should be
// false: a watch per organisation's workload would be one stand-in
// connection each), registers options.orgs - 1 more organisations in the
// second, gives each one round trip, and runs lo.pods pods per arm for
// options.rounds rounds (lo.rate and lo.server_pid are ignored: closed
// loop, this process minus the pods and stand-ins). Fails with setup or
// registration errors; errors during phases are counted.
Result<TenancyReport> RunTenancy(const WorldOptions& wo, const LoadOptions& lo, const TenancyOptions& options);

// TenancyMarkdown renders the report (CPU per request relative to the
// 1-organisation edge in the same round, the baseline's round-to-round
// spread, memory).
std::string TenancyMarkdown(const TenancyReport& r, const LoadOptions& lo);

// ApplyRow is one timed admin apply.
struct ApplyRow {
  std::string backend;  // "sqlite (file)" | "postgres"
  std::string step;     // "first (all created)" | "again (all unchanged)" | "10% changed"
  double ms = 0;
  int created = 0, updated = 0, unchanged = 0;
  std::string error;  // the apply's error when its change committed but its audit entry was refused
};

// RunApplyBench times admin::LocalOperations::Apply (what `astis apply -f`
// calls after parsing) of one organisation declaring `clusters` clusters
// and `workloads` workloads: first apply, the same again, then with every
// tenth workload's allowlist changed; on a SQLite file and, when its server
// binaries are installed, on a throwaway PostgreSQL (else *pg_note says
// why not). Fails with the first apply error, except "applied but not
// audited" (the change committed), which is recorded in its row.
Result<std::vector<ApplyRow>> RunApplyBench(int workloads, int clusters, std::string* pg_note);

// ApplyMarkdown renders the apply rows.
std::string ApplyMarkdown(const std::vector<ApplyRow>& rows, int workloads, int clusters, const std::string& pg_note);

}  // namespace astis::bench
