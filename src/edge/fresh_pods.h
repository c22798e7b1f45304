// FreshPods: the pod state gate 4 decides from (docs/protocol.md §6 gate 4,
// "Fresh"; docs/edge.md "Gate 4 from fresh state").
//
// A gate-4 decision must rest on pod state that the cluster's API server
// confirmed no longer ago than max_staleness_ms, whatever any watch stream
// is doing: a stream that stalls without closing proves nothing about the
// present. So the only confirmation this class accepts is the answer to a
// direct GET of the pod, dated by when that request was SENT (the answer
// reflects the pod at some moment after that). Around it:
//
//  - a bounded confirmation cache: a pod read at t serves decisions until
//    t + max_staleness_ms (0: every decision reads);
//  - per-pod coalescing: concurrent requests for one pod share one read
//    when it started within the bound;
//  - per-cluster isolation: once one of a cluster's reads has been in
//    flight longer than slow_read_ms, at most max_waiting_per_cluster
//    request threads may wait on that cluster's API (more are refused at
//    once with kKubeUnavailable, holding no thread); a waiter gives up after
//    api_timeout_ms; and after a failed read the cluster's further reads
//    fail fast for retry_ms. So a frozen API server holds, once, the threads
//    that reached it within slow_read_ms of the freeze (at least its share)
//    for api_timeout_ms, and then at most its share, and only once per
//    retry_ms. A healthy cluster's burst of cold pods (reads of a few ms) is
//    never refused for exceeding the share;
//  - watch events only ever make things stricter: Invalidate drops a
//    confirmation so the next decision reads again.
//
// Per-cluster API health is kept from these reads (no extra probes), for
// /readyz's body and /metrics.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "kube/client.h"
#include "kube/pod.h"

namespace astis::edge {

// KubeClientLookup returns the KubeClient of a registered cluster, or nullptr
// when none is configured (gate 4 then refuses with kube_unavailable). The
// returned client is owned by the lookup's provider and outlives the call.
using KubeClientLookup = std::function<kube::KubeClient*(std::string_view cluster)>;

// FreshPodOptions: see EdgeConfig::Gate4 (edge/config.h) for each knob.
struct FreshPodOptions {
  int64_t max_staleness_ms = 1000;
  int64_t api_timeout_ms = 2000;
  int64_t retry_ms = 1000;
  size_t max_waiting_per_cluster = 1;
  // slow_read_ms: a cluster whose oldest read in flight is older than this
  // is held to max_waiting_per_cluster waiting threads.
  int64_t slow_read_ms = 250;
  // max_cached_pods bounds the confirmation cache; beyond it stale entries,
  // then the oldest, are dropped.
  size_t max_cached_pods = 65536;
};

// ClusterApiState is one cluster's API as gate 4's reads last found it.
struct ClusterApiState {
  std::string cluster;
  // health: "ok" (last read answered), "unavailable" (last read failed),
  // "unknown" (no read yet).
  std::string health = "unknown";
  int64_t last_ok_ms = 0;       // when the last answered read was sent
  int64_t last_failure_ms = 0;  // when the last failed read ended
  uint64_t reads = 0;           // reads sent
  uint64_t failures = 0;        // reads that failed (transport, timeout, non-200/404, bad pod)
  uint64_t shed = 0;            // decisions refused without a read (share exhausted, fail-fast window, waiter timeout)
  size_t waiting = 0;           // request threads waiting on this cluster now
};

// FreshPods is thread-safe. It borrows clock and the clients the lookup
// returns.
class FreshPods {
 public:
  FreshPods(KubeClientLookup kube, const Clock& clock, FreshPodOptions options);
  FreshPods(const FreshPods&) = delete;
  FreshPods& operator=(const FreshPods&) = delete;

  // Read returns the pod as the API server confirmed it within
  // max_staleness_ms of now: from the cache, by joining a read in flight, or
  // by a fresh GET. Errors: kPodNotLive (the API said the pod does not
  // exist), kKubeUnavailable (no client, transport failure, timeout, the
  // cluster's share of threads exhausted, its fail-fast window), and the
  // client's kInvalidArgument for names that are not object names. Never
  // serves a confirmation older than the bound (tests
  // FreshPodsConfirmationExpiresAfterBound, FreshPodsZeroStalenessReadsEveryTime).
  Result<kube::PodView> Read(std::string_view cluster, std::string_view ns, std::string_view name);

  // Invalidate drops the confirmation of one pod (a watch saw it change), so
  // the next Read asks the API (test FreshPodsInvalidateForcesRead).
  void Invalidate(std::string_view cluster, std::string_view ns, std::string_view name);

  // States returns the API state of every cluster read so far, by name.
  std::vector<ClusterApiState> States() const;
  // State returns one cluster's state (health "unknown" when never read).
  ClusterApiState State(std::string_view cluster) const;
  // MetricsText renders astis_cluster_api_up, astis_gate4_api_reads_total,
  // astis_gate4_api_failures_total, astis_gate4_shed_total and
  // astis_gate4_confirmations_reused_total.
  std::string MetricsText() const;
  // cached_pods is the number of confirmation cache entries (for tests).
  size_t cached_pods() const;

 private:
  struct Flight;
  struct Entry {
    std::optional<Result<kube::PodView>> confirmed;  // a PodView or kPodNotLive
    int64_t confirmed_at_ms = 0;                     // when the confirming read was sent
    std::shared_ptr<Flight> flight;                  // the read in flight, if any
  };
  struct ClusterCounters {
    int64_t last_ok_ms = 0;
    int64_t last_failure_ms = 0;
    int64_t fail_fast_until_ms = 0;
    bool known = false;
    bool up = false;
    uint64_t reads = 0, failures = 0, shed = 0;
    size_t waiting = 0;
    std::multiset<int64_t> in_flight_since;  // steady-clock ms at which each read in flight was sent
  };
  using Key = std::tuple<std::string, std::string, std::string>;  // cluster, namespace, name

  Result<kube::PodView> Shed(ClusterCounters& c, std::string why);
  bool OverShare(const ClusterCounters& c) const;
  void EvictLocked(int64_t now_ms);
  ClusterApiState StateLocked(const std::string& name, const ClusterCounters& c) const;

  KubeClientLookup kube_;
  const Clock& clock_;
  const FreshPodOptions options_;

  mutable std::mutex mu_;  // guards everything below
  std::map<Key, Entry> entries_;
  // clusters_ only grows (one node per registered cluster a request named),
  // so a reference to a node stays valid across unlocks.
  std::map<std::string, ClusterCounters, std::less<>> clusters_;
  uint64_t reused_ = 0;
};

}  // namespace astis::edge
