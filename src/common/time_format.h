// RFC 3339 timestamps (UTC, "Z" suffix) for wire fields, audit lines and
// CLI output. One formatter; the precision is the caller's.
#pragma once

#include <cstdint>
#include <string>

namespace astis {

// TimePrecision is how much of the fraction of a second FormatRfc3339 writes.
enum class TimePrecision {
  kSeconds,  // "2025-11-26T00:00:00Z" (edge expiresAt, Kubernetes timestamps)
  kMillis,   // "2025-11-26T00:00:00.123Z" (audit lines, docs/audit-log.md)
};

// FormatRfc3339 renders unix_ms (milliseconds since the Unix epoch) as an
// RFC 3339 §5.6 date-time in UTC: "YYYY-MM-DDTHH:MM:SS[.mmm]Z". Negative
// times round down to the earlier second; kSeconds drops the milliseconds
// (it truncates, never rounds up). The year is at least four digits.
// Cannot fail. Test: TimeFormatTest.Rfc3339Seconds, TimeFormatTest.Rfc3339Millis.
std::string FormatRfc3339(int64_t unix_ms, TimePrecision precision);

}  // namespace astis
