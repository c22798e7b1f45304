// The edge's own /metrics families in the Prometheus text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/): requests by
// endpoint and code, refusals by gate, and the request duration histogram.
// FreshPods and PodMonitor render their own families; EdgeService joins them.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace astis::edge {

// MetricFamily returns the "# HELP" and "# TYPE" lines that open a family.
// help must be one line. Cannot fail.
std::string MetricFamily(std::string_view name, std::string_view type, std::string_view help);

// RequestMetrics counts finished requests. Thread-safe.
class RequestMetrics {
 public:
  RequestMetrics();

  // Count records one response: its endpoint and result code labels, the
  // refusing gate (0 when none; docs/edge.md "Metrics") and how long it took.
  void Count(const std::string& endpoint, std::string_view code, int gate, int64_t millis);

  // Text renders astis_requests_total, astis_gate_refusals_total and
  // astis_request_duration_seconds (test EdgeServiceTest.HealthzReadyzMetrics).
  std::string Text() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> requests_total_;
  std::map<int, uint64_t> gate_refusals_;
  std::vector<uint64_t> duration_buckets_;
  uint64_t duration_count_ = 0;
  double duration_sum_ = 0;
};

}  // namespace astis::edge
