// PodMonitor: the edge's watch of every namespace that has a registered
// workload, in every registered cluster (kube::PodWatch per cluster ×
// namespace). It revokes sessions as soon as a watch event shows their pod
// gone, replaced or running an unapproved image, and tells a listener (the
// edge's gate-4 confirmations) that a pod changed. It never decides gate 4:
// a watch may push revocations sooner, it may not make a decision older
// (docs/protocol.md §6 gate 4 "Fresh"; docs/edge.md "Pod watch").
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/status.h"
#include "kube/pod.h"
#include "kube/pod_cache.h"
#include "kube/watch.h"
#include "store/store.h"

namespace astis::edge {

// WatchFactory starts the watch of one namespace of a registered cluster;
// on_change must be called for each change (from any one thread). Errors
// (e.g. an unusable cluster record) leave that namespace unwatched until the
// next rescan. Production: kube::PodWatcher; tests: a fake.
using WatchFactory = std::function<Result<std::unique_ptr<kube::PodWatch>>(
    const store::Cluster& cluster, const std::string& ns, kube::PodChangeCallback on_change)>;

// WatchState is one watched (cluster, namespace) for /readyz and /metrics.
struct WatchState {
  std::string cluster;
  std::string ns;
  kube::WatchStats stats;  // all false/zero when the watch could not start
  std::string error;       // why the watch could not start ("" when running)
};

// PodMonitor keeps one watch per (cluster, namespace) with a registered
// workload and acts on their changes. Thread-safe. It borrows store, audit
// and clock, which must outlive it.
class PodMonitor {
 public:
  // PodMonitor starts nothing until Rescan or StartRescanning. Cannot fail.
  PodMonitor(store::Store& store, audit::AuditSink& audit, const Clock& clock, WatchFactory factory);
  // ~PodMonitor stops rescanning and every watch.
  ~PodMonitor();
  PodMonitor(const PodMonitor&) = delete;
  PodMonitor& operator=(const PodMonitor&) = delete;

  // Rescan starts a watch for each (cluster, namespace) that now has a
  // workload, stops those that no longer have one, and restarts a watch
  // whose cluster record (api_url, ca_file, token_file) changed. Fails with
  // the store's error (kStoreUnavailable), changing nothing.
  Status Rescan();
  // StartRescanning runs Rescan now and then every interval on a thread of
  // its own (so `astis cluster add` / `workload add` need no restart).
  void StartRescanning(std::chrono::milliseconds interval);
  // Stop ends rescanning and stops every watch. Idempotent.
  void Stop();

  // CachedPod is the pod as the (cluster, ns) watch sees it (nullopt: no
  // such pod) while that watch is healthy, otherwise kKubeUnavailable. For
  // tests and diagnostics only: gate 4 never decides from it.
  Result<std::optional<kube::PodView>> CachedPod(std::string_view cluster, std::string_view ns,
                                                 std::string_view name) const;
  // PodChangeListener is told (cluster, namespace, pod name) of every pod
  // change a watch reports, before sessions are revoked.
  using PodChangeListener = std::function<void(const std::string&, const std::string&, const std::string&)>;
  // SetChangeListener installs listener (replacing any); call before the
  // watches start (StartRescanning / Rescan).
  void SetChangeListener(PodChangeListener listener);

  // States returns every watch's state, ordered by cluster and namespace.
  std::vector<WatchState> States() const;
  // MetricsText renders astis_watch_healthy, astis_watch_restarts_total,
  // astis_watch_relists_total, astis_watch_skipped_pods_total and
  // astis_watch_sessions_revoked_total.
  std::string MetricsText() const;
  // sessions_revoked counts sessions revoked by watch events so far.
  uint64_t sessions_revoked() const;

  // OnChange revokes the sessions a pod change invalidates (docs/protocol.md
  // §6.4 applied to the new state): every active session of the pod's name
  // whose UID differs from the new pod (replaced), or of a deleted pod, or
  // whose pod gate 4 would now refuse (deletion started, not Running, a
  // container whose imageID is not an allowlisted digest). Each revocation
  // is audited (event "session.revoke", no secrets). In an audit-mode
  // cluster it records would_deny and revokes nothing. Store and audit
  // errors are reported on stderr and counted; the next unwrap's gate 4
  // still refuses. Called by the watches; public for tests.
  void OnChange(const std::string& cluster, const std::string& ns, const kube::PodChange& change);

 private:
  struct Entry {
    std::string fingerprint;             // api_url, ca_file, token_file, mode
    std::unique_ptr<kube::PodWatch> watch;  // nullptr when it failed to start
    std::string error;
  };
  using Key = std::pair<std::string, std::string>;  // cluster, namespace

  store::Store& store_;
  audit::AuditSink& audit_;
  const Clock& clock_;
  WatchFactory factory_;
  PodChangeListener listener_;

  mutable std::mutex mu_;  // guards entries_, modes_, revoked_, revoke_failures_
  std::map<Key, Entry> entries_;
  std::map<std::string, std::string> modes_;  // cluster -> "strict" | "audit"
  uint64_t revoked_ = 0;
  uint64_t revoke_failures_ = 0;

  std::mutex scan_mu_;  // serialises Rescan
  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stopping_ = false;
  std::thread loop_;
};

// MakePodWatcherFactory returns the production WatchFactory: it connects
// with kube::Explicit(api_url, ca_file, token_file) and starts a
// kube::PodWatcher. clock and rng must outlive every watch it starts.
WatchFactory MakePodWatcherFactory(const Clock& clock, Random& rng, kube::WatchOptions options = {});

}  // namespace astis::edge
