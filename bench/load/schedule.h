// Open-loop scheduling and latency arithmetic for astis-bench (--rate): pure
// functions, unit-tested in schedule_test.cc. Benchmark tool; see
// docs/performance.md.
//
// Open loop: every pod sends on its own fixed schedule whatever the server
// does, and a request's latency is measured from its *scheduled* send time,
// so a request delayed because the previous one was slow counts that delay
// (no coordinated omission).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "common/status.h"

namespace astis::bench {

// PodSchedule is one pod's share of an open-loop rate: pod `index` of `pods`
// sending `total_rate / pods` requests per second, the pods' start times
// staggered evenly (pod i first sends at i / total_rate seconds). Plain value.
class PodSchedule {
 public:
  // Make builds the schedule of pod `index` of `pods` sharing `total_rate`
  // requests/s. Fails with kInvalidArgument unless total_rate > 0,
  // pods >= 1 and 0 <= index < pods.
  static Result<PodSchedule> Make(double total_rate, int pods, int index);

  // At is the k-th (0-based) scheduled send, relative to the phase start.
  // Computed from k directly, so rounding never accumulates.
  std::chrono::nanoseconds At(uint64_t k) const;
  // CountBefore is how many sends are scheduled strictly before `end`
  // (relative to the phase start); 0 for a non-positive end.
  uint64_t CountBefore(std::chrono::nanoseconds end) const;
  // period is the time between two sends of this pod (pods / total_rate s).
  std::chrono::nanoseconds period() const;

 private:
  PodSchedule(double total_rate, int pods, int index) : rate_(total_rate), pods_(pods), index_(index) {}
  double rate_;
  int pods_;
  int index_;
};

// SendTime is when a pod on a keep-alive connection actually sends a
// request scheduled at `scheduled`: then, or as soon as the previous one
// completed if that was later. Cannot fail.
std::chrono::nanoseconds SendTime(std::chrono::nanoseconds scheduled, std::chrono::nanoseconds previous_completion);

// OpenLoopLatencyUs is a request's latency in µs measured from its scheduled
// send time (not the actual one) to its completion; 0 if completion is
// before the schedule (impossible unless the clocks disagree). Cannot fail.
uint64_t OpenLoopLatencyUs(std::chrono::nanoseconds scheduled, std::chrono::nanoseconds completed);

// OpenLoopLatenciesUs applies OpenLoopLatencyUs pairwise. Fails with
// kInvalidArgument when the two vectors differ in length.
Result<std::vector<uint64_t>> OpenLoopLatenciesUs(const std::vector<std::chrono::nanoseconds>& scheduled,
                                                  const std::vector<std::chrono::nanoseconds>& completed);

// LatencySummary is the distribution of one phase's latencies in µs.
struct LatencySummary {
  uint64_t count = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

// Summarize sorts `us` in place and returns its nearest-rank percentiles
// (index round(q x (n-1))); all zero for an empty vector. Cannot fail.
LatencySummary Summarize(std::vector<uint64_t>& us);

}  // namespace astis::bench
