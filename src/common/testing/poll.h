// PollUntil for tests that wait on real threads (test-only): bounded
// polling with a deadline instead of a fixed sleep.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace astis::test {

// PollUntil calls done until it is true or deadline passes; returns whether
// it became true. The 1 ms pause only yields the CPU between checks.
inline bool PollUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds deadline = std::chrono::milliseconds(10000)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

}  // namespace astis::test
