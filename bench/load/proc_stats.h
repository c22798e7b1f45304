// Server resource use for astis-bench: CPU time and memory of a process read
// from /proc/<pid>/stat and /proc/<pid>/status (Linux). Benchmark tool.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace astis::bench {

// ProcStats is one sample of a process.
struct ProcStats {
  double cpu_seconds = 0;  // utime + stime of every thread so far
  int64_t rss_kb = 0;      // VmRSS
  int64_t hwm_kb = 0;      // VmHWM (peak RSS)
  int64_t threads = 0;
};

// ReadProcStats samples pid (0: this process). Fails with kIo when the
// process is gone or /proc cannot be read, kInvalidArgument when a file
// does not have the expected shape.
Result<ProcStats> ReadProcStats(int64_t pid);

// ThreadCpuSeconds returns the calling thread's CPU time so far
// (CLOCK_THREAD_CPUTIME_ID). Cannot fail (0 if the clock is unavailable).
double ThreadCpuSeconds();

// ListThreadIds returns the ids of this process's threads now (the entries
// of /proc/self/task). Cannot fail (empty if /proc cannot be read).
std::vector<int64_t> ListThreadIds();

// ThreadsCpuSeconds sums utime + stime of this process's threads `tids`
// (/proc/self/task/<tid>/stat, clock-tick resolution); a thread that has
// exited counts 0. Cannot fail.
double ThreadsCpuSeconds(const std::vector<int64_t>& tids);

// RunSeconds is the time the threads of process pid (0: this process) alive
// now have run on a CPU: the sum of the first field of
// /proc/<pid>/task/*/schedstat (ns, user + system; no clock-tick rounding,
// but threads that exited are not counted). Fails with kIo when the process
// is gone or has no schedstat (kernel without it).
Result<double> RunSeconds(int64_t pid);

}  // namespace astis::bench
