// Tests of the transport floor's message sizes (wire_size.h). No I/O.
#include "load/wire_size.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace astis::bench {
namespace {

TEST(WireSizeTest, ContentLengthFieldCountsTheDigits) {
  EXPECT_EQ(ContentLengthFieldBytes(0), std::string("Content-Length: 0\r\n").size());
  EXPECT_EQ(ContentLengthFieldBytes(9), std::string("Content-Length: 9\r\n").size());
  EXPECT_EQ(ContentLengthFieldBytes(10), std::string("Content-Length: 10\r\n").size());
  EXPECT_EQ(ContentLengthFieldBytes(2340), std::string("Content-Length: 2340\r\n").size());
}

TEST(WireSizeTest, PaddedMessageHasTheWireSize) {
  const size_t fixed = TransportRequestFixedBytes("/transport", "127.0.0.1:40000");
  for (double want : {150.0, 200.0, 310.0, 2340.0, 9999.0, 10050.0, 100000.0}) {
    const size_t body = PadBodyBytes(want, fixed);
    const double total = static_cast<double>(fixed + ContentLengthFieldBytes(body) + body);
    // Exact unless a digit boundary makes it impossible: then one byte off.
    EXPECT_LE(std::fabs(total - want), 1.0) << want;
  }
}

TEST(WireSizeTest, DigitBoundaryPicksTheClosestBody) {
  // fixed 0: 9 + 19 bytes = 28 with a body of 9; a body of 10 makes 30.
  // 29 cannot be reached, and either neighbour is one byte off.
  EXPECT_EQ(PadBodyBytes(28, 0), 9u);
  EXPECT_EQ(PadBodyBytes(30, 0), 10u);
  const size_t b = PadBodyBytes(29, 0);
  EXPECT_TRUE(b == 9 || b == 10) << b;
}

TEST(WireSizeTest, TooSmallOrNotANumberIsAnEmptyBody) {
  EXPECT_EQ(PadBodyBytes(10, 100), 0u);
  EXPECT_EQ(PadBodyBytes(119, 100), 0u);  // 100 + "Content-Length: 0\r\n" = 119
  EXPECT_EQ(PadBodyBytes(0, 0), 0u);
  EXPECT_EQ(PadBodyBytes(-5, 0), 0u);
  EXPECT_EQ(PadBodyBytes(std::numeric_limits<double>::quiet_NaN(), 0), 0u);
  EXPECT_EQ(PadBodyBytes(std::numeric_limits<double>::infinity(), 0), 0u);
}

TEST(WireSizeTest, FixedPartsAreTheFieldsSent) {
  EXPECT_EQ(TransportRequestFixedBytes("/t", "h:1"),
            std::string("POST /t HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\n\r\n").size());
  EXPECT_EQ(TransportResponseFixedBytes(),
            std::string("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n\r\n").size());
}

}  // namespace
}  // namespace astis::bench
