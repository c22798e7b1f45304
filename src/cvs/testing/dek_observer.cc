#include "cvs/testing/dek_observer.h"

#include <cstddef>
#include <mutex>
#include <utility>

namespace astis::cvs::testing {
namespace {

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}

DekObserver& Observer() {
  static DekObserver* observer = new DekObserver();  // never destroyed: safe at exit
  return *observer;
}

}  // namespace

void SetDekObserverForTesting(DekObserver observer) {
  std::lock_guard<std::mutex> lock(Mu());
  Observer() = std::move(observer);
}

}  // namespace astis::cvs::testing

// The strong definition of the weak hook cvs.cc calls (see dek_observer.h).
extern "C" void astis_cvs_testing_observe_dek(const uint8_t* dek, size_t size) {
  using astis::cvs::testing::Mu;
  using astis::cvs::testing::Observer;
  std::lock_guard<std::mutex> lock(Mu());
  if (Observer()) Observer()(std::span<const uint8_t>(dek, size));
}
