// Clock: the injected source of "now". Production code takes a Clock&; tests
// pass a FakeClock so no test depends on the wall clock.
#pragma once

#include <atomic>
#include <cstdint>

namespace astis {

// Clock returns the current time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // NowUnix returns seconds since the Unix epoch.
  virtual int64_t NowUnix() const = 0;
  // NowUnixMillis returns milliseconds since the Unix epoch.
  virtual int64_t NowUnixMillis() const { return NowUnix() * 1000; }
};

// SystemClock reads CLOCK_REALTIME.
class SystemClock final : public Clock {
 public:
  int64_t NowUnix() const override;
  int64_t NowUnixMillis() const override;
};

// DefaultClock returns a process-wide SystemClock.
Clock& DefaultClock();

// FakeClock is a settable clock for tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_unix) : now_ms_(now_unix * 1000) {}
  int64_t NowUnix() const override { return now_ms_.load() / 1000; }
  int64_t NowUnixMillis() const override { return now_ms_.load(); }
  void Set(int64_t now_unix) { now_ms_ = now_unix * 1000; }
  void Advance(int64_t seconds) { now_ms_ += seconds * 1000; }
  void AdvanceMillis(int64_t ms) { now_ms_ += ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace astis
