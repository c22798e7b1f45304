#include "edge/purger.h"

#include <string>

#include "common/log.h"

namespace astis::edge {

Result<store::PurgeCounts> ExpiryPurger::RunOnce() {
  store::PurgeCounts total;
  for (int i = 0; i < options_.max_batches; ++i) {
    ASTIS_ASSIGN_OR_RETURN(store::PurgeCounts batch, store_.PurgeExpired(clock_.NowUnix(), options_.batch_limit));
    total.sessions += batch.sessions;
    total.jtis += batch.jtis;
    total.rate_windows += batch.rate_windows;
    if (batch.sessions < options_.batch_limit && batch.jtis < options_.batch_limit &&
        batch.rate_windows < options_.batch_limit) {
      break;  // every kind drained
    }
    if (i + 1 < options_.max_batches && options_.pause.count() > 0) {
      // Give the store back to requests between batches; Stop ends the pass.
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, options_.pause, [this] { return stopping_; })) break;
    }
  }
  return total;
}

void ExpiryPurger::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      if (cv_.wait_for(lock, options_.interval, [this] { return stopping_; })) break;
      lock.unlock();
      Result<store::PurgeCounts> r = RunOnce();
      if (!r.ok()) {
        log::Process().Warn("store", "purge of expired rows failed (" + r.status().ToString() + "); retrying in " +
                                         std::to_string(options_.interval.count()) + " ms");
      }
      lock.lock();
    }
  });
}

void ExpiryPurger::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace astis::edge
