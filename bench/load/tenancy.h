// The tenancy scale arms of astis-bench (docs/performance.md "Organisations
// at scale", issue 19): the same closed-loop load against one in-process
// edge with one organisation, then with N organisations x M clusters, the
// pods first in one organisation and then spread over many; and the
// duration of an admin apply of many workloads. Benchmark tool.
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
  std::vector<Phase> phases = {Phase::kEstablish, Phase::kUnwrap};
};

// TenancyRow is one measured phase of one arm.
struct TenancyRow {
  std::string arm;    // "1 org", "1 org (again)", "N orgs, pods in 1", "N orgs, pods over K"
  int orgs = 0;       // organisations registered at the time
  int pod_orgs = 0;   // organisations the pods belong to
  PhaseReport report;
};

// TenancyReport is the whole arm.
struct TenancyReport {
  std::vector<TenancyRow> rows;
  int orgs = 0;
  int clusters_per_org = 0;
  int64_t clusters = 0;            // clusters registered in total
  double register_seconds = 0;     // AddOrganizations
  int touched = 0;                 // organisations whose session + unwrap round trip was checked
  uint64_t touch_errors = 0;
  double touch_seconds = 0;
  // This process's VmRSS / VmHWM (edge, stand-in and pods), kB.
  int64_t rss_one_org_kb = 0;      // after the 1-organisation phases
  int64_t rss_registered_kb = 0;   // after registering the organisations
  int64_t rss_touched_kb = 0;      // after one round trip in every organisation
  int64_t rss_end_kb = 0;          // after the spread phases
  int64_t hwm_end_kb = 0;
  uint64_t errors = 0;             // over every phase and the touch
};

// RunTenancy runs the organisations arm against world (started without a
// pod watch: a watch per organisation's workload would be one stand-in
// connection each). lo.pods pods; lo.exclude_threads should hold the
// stand-in's threads. Fails with setup or registration errors; errors
// during phases are counted.
Result<TenancyReport> RunTenancy(InProcessWorld& world, const LoadOptions& lo, const TenancyOptions& options);

// TenancyMarkdown renders the report (CPU per request relative to the
// 1-organisation baseline, the baseline's run-to-run spread, RSS).
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
