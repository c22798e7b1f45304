#include "edge/purger.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "store/sqlite_store.h"

namespace astis::edge {
namespace {

class PurgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenSqliteStore(":memory:");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    clock_.Set(1'700'000'000);
  }
  // AddJtis records n jti entries that expire in 10 s.
  void AddJtis(int n) {
    for (int i = 0; i < n; ++i) {
      auto r = store_->InsertJti("jkt", "jti-" + std::to_string(i), clock_.NowUnix() + 10, clock_.NowUnix());
      ASSERT_TRUE(r.ok() && *r);
    }
  }
  std::unique_ptr<store::Store> store_;
  FakeClock clock_{1'700'000'000};
};

TEST_F(PurgerTest, PurgerDrainsExpiredRows) {
  AddJtis(25);
  ExpiryPurger purger(*store_, clock_, PurgeOptions{.batch_limit = 10, .max_batches = 10});
  auto before = purger.RunOnce();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->jtis, 0);  // nothing has expired yet
  clock_.Advance(11);
  auto after = purger.RunOnce();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->jtis, 25);  // three batches: 10 + 10 + 5
  // The replay set no longer holds them: the same pair inserts again.
  auto again = store_->InsertJti("jkt", "jti-0", clock_.NowUnix() + 10, clock_.NowUnix());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(*again);
}

TEST_F(PurgerTest, PurgerPassIsBounded) {
  AddJtis(25);
  clock_.Advance(11);
  ExpiryPurger purger(*store_, clock_, PurgeOptions{.batch_limit = 10, .max_batches = 2});
  auto first = purger.RunOnce();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->jtis, 20);  // two batches of 10, then the pass stops
  auto second = purger.RunOnce();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->jtis, 5);
}

TEST_F(PurgerTest, StopInterruptsAPass) {
  AddJtis(25);
  clock_.Advance(11);
  // Batches of 1 with an hour's pause: the pass sits in its first pause
  // until Stop, which ends it at once, leaving the rest for later.
  ExpiryPurger purger(*store_, clock_,
                      PurgeOptions{.batch_limit = 1, .max_batches = 25, .interval = std::chrono::hours(1),
                                   .pause = std::chrono::hours(1)});
  std::thread pass([&] {
    auto r = purger.RunOnce();
    ASSERT_TRUE(r.ok());
    // Whenever Stop lands (before the pause or during it), the first batch
    // ran and the pass ended in its first pause: exactly one row.
    EXPECT_EQ(r->jtis, 1);
  });
  const auto t0 = std::chrono::steady_clock::now();
  purger.Stop();
  pass.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::minutes(1));
}

TEST_F(PurgerTest, StartStopIsPrompt) {
  ExpiryPurger purger(*store_, clock_, PurgeOptions{.interval = std::chrono::hours(1)});
  purger.Start();
  const auto t0 = std::chrono::steady_clock::now();
  purger.Stop();  // must not wait for the hour
  purger.Stop();  // idempotent
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::minutes(1));
}

}  // namespace
}  // namespace astis::edge
