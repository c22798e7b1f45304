// Open-loop schedule and latency arithmetic (schedule.h).
#include "load/schedule.h"

#include <algorithm>
#include <cmath>

namespace astis::bench {

Result<PodSchedule> PodSchedule::Make(double total_rate, int pods, int index) {
  if (!(total_rate > 0) || !std::isfinite(total_rate)) {
    return Error(Code::kInvalidArgument, "open-loop rate must be a positive number of requests per second");
  }
  if (pods < 1 || index < 0 || index >= pods) {
    return Error(Code::kInvalidArgument, "pod index must be in 0..pods-1 with pods >= 1");
  }
  return PodSchedule(total_rate, pods, index);
}

std::chrono::nanoseconds PodSchedule::At(uint64_t k) const {
  // Send k of pod i is global send number i + k x pods of a single stream
  // at total_rate: (i + k x pods) / rate seconds after the start.
  const double seconds = (static_cast<double>(index_) + static_cast<double>(k) * pods_) / rate_;
  return std::chrono::nanoseconds(std::llround(seconds * 1e9));
}

uint64_t PodSchedule::CountBefore(std::chrono::nanoseconds end) const {
  if (end.count() <= 0) return 0;
  // The smallest k with At(k) >= end; estimate, then correct for rounding.
  const double end_s = static_cast<double>(end.count()) / 1e9;
  double estimate = std::ceil((end_s * rate_ - index_) / pods_);
  uint64_t k = estimate > 0 ? static_cast<uint64_t>(estimate) : 0;
  while (k > 0 && At(k - 1) >= end) --k;
  while (At(k) < end) ++k;
  return k;
}

std::chrono::nanoseconds PodSchedule::period() const {
  return std::chrono::nanoseconds(std::llround(static_cast<double>(pods_) / rate_ * 1e9));
}

std::chrono::nanoseconds SendTime(std::chrono::nanoseconds scheduled, std::chrono::nanoseconds previous_completion) {
  return std::max(scheduled, previous_completion);
}

uint64_t OpenLoopLatencyUs(std::chrono::nanoseconds scheduled, std::chrono::nanoseconds completed) {
  if (completed <= scheduled) return 0;
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(completed - scheduled).count());
}

Result<std::vector<uint64_t>> OpenLoopLatenciesUs(const std::vector<std::chrono::nanoseconds>& scheduled,
                                                  const std::vector<std::chrono::nanoseconds>& completed) {
  if (scheduled.size() != completed.size()) {
    return Error(Code::kInvalidArgument, "scheduled and completed times differ in number");
  }
  std::vector<uint64_t> out;
  out.reserve(scheduled.size());
  for (size_t i = 0; i < scheduled.size(); ++i) out.push_back(OpenLoopLatencyUs(scheduled[i], completed[i]));
  return out;
}

LatencySummary Summarize(std::vector<uint64_t>& us) {
  LatencySummary s;
  s.count = us.size();
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  auto pct = [&](double q) -> double {
    const size_t idx = static_cast<size_t>(q * static_cast<double>(us.size() - 1) + 0.5);
    return static_cast<double>(us[std::min(idx, us.size() - 1)]);
  };
  s.p50_us = pct(0.50);
  s.p90_us = pct(0.90);
  s.p99_us = pct(0.99);
  s.max_us = static_cast<double>(us.back());
  return s;
}

}  // namespace astis::bench
