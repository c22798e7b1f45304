// Small helpers for the Prometheus text exposition format the edge serves
// on /metrics (https://prometheus.io/docs/instrumenting/exposition_formats/).
#pragma once

#include <string>
#include <string_view>

namespace astis::edge {

// PrometheusLabel escapes a label value: backslash, double quote and newline
// (the three characters the text format requires escaping). Cannot fail.
std::string PrometheusLabel(std::string_view value);

}  // namespace astis::edge
