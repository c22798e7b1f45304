// Must and MustOk for GoogleTest code (test-only): unwrap a Result or check a
// Status where a failure means the test's own set-up broke, so carrying on
// would only report confusing follow-on failures. The failure is recorded
// with the error's text, then the test process aborts.
#pragma once

#include <cstdlib>
#include <utility>

#include <gtest/gtest.h>

#include "common/status.h"

namespace astis::test {

template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) {
    ADD_FAILURE() << r.status().ToString();
    std::abort();
  }
  return std::move(r).value();
}

inline void MustOk(const Status& s) {
  if (!s.ok()) {
    ADD_FAILURE() << s.ToString();
    std::abort();
  }
}

}  // namespace astis::test
