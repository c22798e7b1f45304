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
// batch_limit rows of each kind, with a pause between batches, so a backlog
// is drained without holding the store for long. Each batch holds the
// store's write lock (SQLite: the whole store) for a few milliseconds; the
// pause lets waiting requests in (std::mutex is not fair: back-to-back
// batches once kept requests out for a whole pass, ≈120 ms at a p99,
// docs/performance.md). The defaults purge up to 50,000 rows of each kind
// every 10 s: more than the jti rows an edge at full load (≈2,500
// requests/s on 2 cores) creates in that time, so the tables stay bounded.
struct PurgeOptions {
  int64_t batch_limit = 500;
  int max_batches = 100;
  std::chrono::milliseconds interval{10000};
  std::chrono::milliseconds pause{5};  // between two batches of one pass
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
  // batch comes back short or Stop is called (it waits options.pause between
  // batches). Errors are the store's (kStoreUnavailable); the rows deleted
  // before the error stay deleted. Tests: PurgerDrainsExpiredRows,
  // PurgerPassIsBounded, StopInterruptsAPass.
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
