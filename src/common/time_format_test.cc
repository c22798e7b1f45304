// FormatRfc3339: both precisions, the epoch, negative times and the truncation
// of milliseconds at kSeconds.
#include "common/time_format.h"

#include <gtest/gtest.h>

namespace astis {
namespace {

TEST(TimeFormatTest, Rfc3339Seconds) {
  EXPECT_EQ(FormatRfc3339(0, TimePrecision::kSeconds), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(int64_t{1764115200} * 1000, TimePrecision::kSeconds), "2025-11-26T00:00:00Z");
  // Milliseconds are dropped, never rounded up into the next second.
  EXPECT_EQ(FormatRfc3339(int64_t{1764115200} * 1000 + 999, TimePrecision::kSeconds), "2025-11-26T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(int64_t{4102444799} * 1000, TimePrecision::kSeconds), "2099-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(-1000, TimePrecision::kSeconds), "1969-12-31T23:59:59Z");
}

TEST(TimeFormatTest, Rfc3339Millis) {
  EXPECT_EQ(FormatRfc3339(0, TimePrecision::kMillis), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(1764115200123, TimePrecision::kMillis), "2025-11-26T00:00:00.123Z");
  EXPECT_EQ(FormatRfc3339(1764115200007, TimePrecision::kMillis), "2025-11-26T00:00:00.007Z");
  // A negative time rounds down to the earlier second: -1 ms is 23:59:59.999.
  EXPECT_EQ(FormatRfc3339(-1, TimePrecision::kMillis), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace astis
