// Tests of the open-loop schedule and latency arithmetic (schedule.h). No
// timing: every time here is a number, no clock is read.
#include "load/schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace astis::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(PodScheduleTest, RejectsNonPositiveRate) {
  EXPECT_EQ(PodSchedule::Make(0, 4, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PodSchedule::Make(-5, 4, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PodSchedule::Make(std::numeric_limits<double>::infinity(), 4, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PodSchedule::Make(std::numeric_limits<double>::quiet_NaN(), 4, 0).status().code(),
            Code::kInvalidArgument);
}

TEST(PodScheduleTest, RejectsPodIndexOutOfRange) {
  EXPECT_EQ(PodSchedule::Make(100, 0, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PodSchedule::Make(100, 4, 4).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PodSchedule::Make(100, 4, -1).status().code(), Code::kInvalidArgument);
}

TEST(PodScheduleTest, EachPodSendsAtItsShareOfTheRateStaggeredEvenly) {
  // 100 requests/s across 4 pods: each pod every 40 ms, pod i first at i x 10 ms.
  for (int i = 0; i < 4; ++i) {
    auto s = PodSchedule::Make(100, 4, i);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->period(), milliseconds(40));
    EXPECT_EQ(s->At(0), milliseconds(10 * i));
    EXPECT_EQ(s->At(1), milliseconds(10 * i + 40));
    EXPECT_EQ(s->At(25), milliseconds(10 * i + 1000));
  }
}

TEST(PodScheduleTest, AllPodsTogetherAreOneEvenStreamAtTheTotalRate) {
  // 7 pods at 300/s: the union of their sends is exactly k / 300 s, each
  // instant once (no two pods collide, no drift after many periods).
  const int pods = 7;
  const double rate = 300;
  std::vector<int64_t> all;
  for (int i = 0; i < pods; ++i) {
    auto s = PodSchedule::Make(rate, pods, i);
    ASSERT_TRUE(s.ok());
    for (uint64_t k = 0; k < 1000; ++k) all.push_back(s->At(k).count());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), 7000u);
  for (size_t n = 0; n < all.size(); ++n) {
    EXPECT_NEAR(static_cast<double>(all[n]), static_cast<double>(n) / rate * 1e9, 1.0) << n;
  }
}

TEST(PodScheduleTest, CountBeforeAgreesWithAt) {
  auto s = PodSchedule::Make(1000, 3, 2);  // every 3 ms from 2 ms
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->CountBefore(nanoseconds(0)), 0u);
  EXPECT_EQ(s->CountBefore(milliseconds(2)), 0u);  // the first send is at 2 ms, not before it
  EXPECT_EQ(s->CountBefore(milliseconds(2) + nanoseconds(1)), 1u);
  EXPECT_EQ(s->CountBefore(milliseconds(1000)), 333u);  // 2, 5, ..., 998 ms
  for (int64_t end_us = 0; end_us < 20000; end_us += 137) {
    const nanoseconds end = std::chrono::microseconds(end_us);
    const uint64_t n = s->CountBefore(end);
    if (n > 0) {
      EXPECT_LT(s->At(n - 1), end);
    }
    EXPECT_GE(s->At(n), end);
  }
}

TEST(OpenLoopLatencyTest, LatencyIsFromTheScheduledSendTime) {
  EXPECT_EQ(OpenLoopLatencyUs(milliseconds(10), milliseconds(13)), 3000u);
  EXPECT_EQ(OpenLoopLatencyUs(milliseconds(10), milliseconds(10)), 0u);
  EXPECT_EQ(OpenLoopLatencyUs(milliseconds(10), milliseconds(9)), 0u);  // never negative
}

TEST(OpenLoopLatencyTest, LatenessBehindASlowRequestCounts) {
  // One pod every 10 ms; service times 1, 35, 1, 1, 1 ms. The slow second
  // request delays the next two (sent late on the keep-alive connection);
  // their latency counts that wait, which a closed loop would omit.
  auto s = PodSchedule::Make(100, 1, 0);
  ASSERT_TRUE(s.ok());
  const std::vector<milliseconds> service = {milliseconds(1), milliseconds(35), milliseconds(1), milliseconds(1),
                                             milliseconds(1)};
  std::vector<nanoseconds> scheduled, completed;
  nanoseconds previous{0};
  for (uint64_t k = 0; k < service.size(); ++k) {
    const nanoseconds at = s->At(k);
    const nanoseconds sent = SendTime(at, previous);
    previous = sent + service[k];
    scheduled.push_back(at);
    completed.push_back(previous);
  }
  // Sends: 0, 10, 45 (scheduled 20), 46 (scheduled 30), 47 (scheduled 40) ms.
  EXPECT_EQ(completed[2], milliseconds(46));
  EXPECT_EQ(completed[3], milliseconds(47));
  EXPECT_EQ(completed[4], milliseconds(48));
  auto lat = OpenLoopLatenciesUs(scheduled, completed);
  ASSERT_TRUE(lat.ok());
  EXPECT_EQ(*lat, (std::vector<uint64_t>{1000, 35000, 26000, 17000, 8000}));
  // Measured from the actual send instead, the last three would be 1 ms each.
}

TEST(OpenLoopLatencyTest, RejectsMismatchedLengths) {
  EXPECT_EQ(OpenLoopLatenciesUs({milliseconds(1)}, {}).status().code(), Code::kInvalidArgument);
}

TEST(SummarizeTest, NearestRankPercentilesAndMax) {
  std::vector<uint64_t> us;
  for (uint64_t v = 100; v >= 1; --v) us.push_back(v * 10);  // 10..1000, unsorted
  LatencySummary s = Summarize(us);
  EXPECT_EQ(s.count, 100u);
  EXPECT_DOUBLE_EQ(s.p50_us, 510);  // index round(0.5 x 99) = 50
  EXPECT_DOUBLE_EQ(s.p90_us, 900);  // index round(0.9 x 99) = 89
  EXPECT_DOUBLE_EQ(s.p99_us, 990);  // index round(0.99 x 99) = 98
  EXPECT_DOUBLE_EQ(s.max_us, 1000);
  EXPECT_TRUE(std::is_sorted(us.begin(), us.end()));
}

TEST(SummarizeTest, EmptyIsAllZero) {
  std::vector<uint64_t> none;
  LatencySummary s = Summarize(none);
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.p50_us, 0);
  EXPECT_EQ(s.max_us, 0);
}

}  // namespace
}  // namespace astis::bench
