// ExpiryPurger: the edge's periodic clean-up of expired store rows
// (docs/store.md "What is purged when"): sessions, DPoP jti entries and rate
// windows past their expiry are deleted in bounded batches, so the store
// grows with live state only, never with history.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

namespace astis::edge {

// PurgeOptions bound one purge pass: at most max_batches batches of
// batch_limit rows of each kind, so a backlog is drained over several
// passes without holding the store for long.
struct PurgeOptions {
  int64_t batch_limit = 1000;
  int max_batches = 10;
  std::chrono::milliseconds interval{60000};
};

// ExpiryPurger borrows store and clock (both must outlive it). Every replica
// may run one: PurgeExpired is idempotent and each batch is its own statement.
class ExpiryPurger {
 public:
  ExpiryPurger(store::Store& store, const Clock& clock, PurgeOptions options = {})
      : store_(store), clock_(clock), options_(options) {}
  ~ExpiryPurger() { Stop(); }
  ExpiryPurger(const ExpiryPurger&) = delete;
  ExpiryPurger& operator=(const ExpiryPurger&) = delete;

  // RunOnce runs one pass and returns the rows deleted; stops early when a
  // batch comes back short. Errors are the store's (kStoreUnavailable); the
  // rows deleted before the error stay deleted. Tests: PurgerDrainsExpiredRows,
  // PurgerPassIsBounded.
  Result<store::PurgeCounts> RunOnce();
  // Start runs a pass every interval on a thread until Stop. A failed pass is
  // reported on stderr and retried at the next interval. Call at most once.
  void Start();
  // Stop wakes and joins the thread; idempotent and prompt.
  void Stop();

 private:
  store::Store& store_;
  const Clock& clock_;
  const PurgeOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace astis::edge
