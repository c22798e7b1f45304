#include "edge/metrics.h"

#include <cstdio>
#include <iterator>

namespace astis::edge {
namespace {

constexpr double kBucketsSeconds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

}  // namespace

std::string MetricFamily(std::string_view name, std::string_view type, std::string_view help) {
  std::string out = "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  return out;
}

RequestMetrics::RequestMetrics() : duration_buckets_(std::size(kBucketsSeconds), 0) {}

void RequestMetrics::Count(const std::string& endpoint, std::string_view code, int gate, int64_t millis) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_total_[{endpoint, std::string(code)}];
  if (gate > 0) ++gate_refusals_[gate];
  const double seconds = static_cast<double>(millis) / 1000.0;
  for (size_t i = 0; i < std::size(kBucketsSeconds); ++i) {
    if (seconds <= kBucketsSeconds[i]) ++duration_buckets_[i];
  }
  ++duration_count_;
  duration_sum_ += seconds;
}

std::string RequestMetrics::Text() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = MetricFamily("astis_requests_total", "counter", "Requests by endpoint and result code.");
  for (const auto& [k, v] : requests_total_) {
    out += "astis_requests_total{endpoint=\"" + k.first + "\",code=\"" + k.second + "\"} " + std::to_string(v) + "\n";
  }
  out += MetricFamily("astis_gate_refusals_total", "counter", "Refusals by gate.");
  for (const auto& [g, v] : gate_refusals_) {
    out += "astis_gate_refusals_total{gate=\"" + std::to_string(g) + "\"} " + std::to_string(v) + "\n";
  }
  out += MetricFamily("astis_request_duration_seconds", "histogram", "Request handling time.");
  for (size_t i = 0; i < std::size(kBucketsSeconds); ++i) {
    char le[32];
    std::snprintf(le, sizeof le, "%g", kBucketsSeconds[i]);
    out += "astis_request_duration_seconds_bucket{le=\"" + std::string(le) + "\"} " +
           std::to_string(duration_buckets_[i]) + "\n";
  }
  out += "astis_request_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(duration_count_) + "\n";
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.6f", duration_sum_);
  out += "astis_request_duration_seconds_sum " + std::string(sum) + "\n";
  out += "astis_request_duration_seconds_count " + std::to_string(duration_count_) + "\n";
  return out;
}

}  // namespace astis::edge
