// PodWatcher: a LIST + WATCH of the pods of one namespace of one cluster,
// kept in a PodCache, so the edge learns of a deleted, replaced or altered
// pod within a second and can serve gate 4 from memory (docs/kube.md
// "Watching pods", testdata/kubernetes/k8s-watch-events.md).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/pod.h"
#include "kube/pod_cache.h"

namespace astis::net {
class HttpsClient;
class LineStream;
}  // namespace astis::net

namespace astis::kube {

// WatchEventType is a watch event's "type" (apimachinery pkg/watch/watch.go).
enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

// SkippedPod is what can still be read of a pod object ParsePod refused (a
// LIST item, or the object of an ADDED/MODIFIED/DELETED event): each field
// is the metadata member when it is a non-empty string, else "". The values
// are API-supplied and unchecked: quote them only sanitised. error is
// ParsePod's message (names the field, never echoes input).
struct SkippedPod {
  std::string name;
  std::string ns;
  std::string resource_version;
  std::string error;
};

// WatchEvent is one parsed watch line. pod is set for ADDED, MODIFIED and
// DELETED (except with ParseWatchLine, see skipped); resource_version for
// those and BOOKMARK; error_code (the Status "code", 0 when absent) and
// error_reason for ERROR. skipped is set only by ParseWatchLine, for an
// ADDED/MODIFIED/DELETED event whose object is not a usable pod; then pod
// is nullopt and resource_version is "".
struct WatchEvent {
  WatchEventType type = WatchEventType::kError;
  std::optional<PodView> pod;
  std::string resource_version;
  int64_t error_code = 0;
  std::string error_reason;
  std::optional<SkippedPod> skipped;
};

// kMaxWatchLineBytes bounds one watch line: a Pod plus the event envelope.
inline constexpr size_t kMaxWatchLineBytes = kMaxPodJsonBytes + 64 * 1024;

// ParseWatchEvent parses one watch line strictly (common/json.h rules, at
// most kMaxWatchLineBytes): {"type":T,"object":{...}} with T one of ADDED,
// MODIFIED, DELETED (object parsed by ParsePod and must carry a
// resourceVersion), BOOKMARK (object.metadata.resourceVersion required) or
// ERROR (object a Status; "code" must be an integer when present). Any other
// shape is kInvalidArgument, never echoing input (test ParsesEventShapes,
// RejectsMalformedEvents). The result never has skipped set.
Result<WatchEvent> ParseWatchEvent(std::string_view line);

// ParseWatchLine is ParseWatchEvent as the watcher uses it: the envelope
// rules are the same (a line that is not {"type":T,"object":{...}} with a
// known T, or a malformed BOOKMARK or ERROR, is kInvalidArgument), but an
// ADDED, MODIFIED or DELETED event whose object ParsePod refuses, or which
// has no resourceVersion, is returned with pod nullopt and skipped set
// instead of failing, so one unparsable pod cannot break the stream (test
// ParsesUnparsablePodEventAsSkipped).
Result<WatchEvent> ParseWatchLine(std::string_view line);

// PodList is a parsed LIST answer: the pods, the list's resourceVersion, and
// the items ParsePod refused (left out of items; see ParsePodList).
struct PodList {
  std::vector<PodView> items;
  std::string resource_version;
  std::vector<SkippedPod> skipped;
};

// ParsePodList parses a PodList (kind "PodList" when present) of at most
// max_bytes with metadata.resourceVersion. An item that is not an object or
// that ParsePod refuses is left out of items and recorded in skipped (its
// name "" when unreadable), so one broken pod does not make the whole
// namespace unwatchable (test UnparsablePodInListIsSkippedAndCounted). Other
// errors (size, JSON, kind, resourceVersion, items not an array) are
// kInvalidArgument.
Result<PodList> ParsePodList(std::string_view json, size_t max_bytes);

// WatchStats is a watch's state for /readyz and /metrics.
struct WatchStats {
  bool healthy = false;     // see PodWatch::CachedPod
  bool listed = false;      // an initial LIST completed
  bool connected = false;   // a watch stream is open now
  uint64_t restarts = 0;    // watch streams opened after the first
  uint64_t relists = 0;     // LISTs after the first (410 Gone, corrupt state)
  uint64_t failures = 0;    // failed LIST/WATCH attempts and broken streams
  uint64_t events = 0;      // events applied (bookmarks and skipped pods included)
  size_t pods = 0;          // pods cached
  // skipped_pods counts, cumulatively, LIST items and watch events whose
  // pod ParsePod refused (PodList::skipped, WatchEvent::skipped): each such
  // pod is kept out of the cache, so CachedPod answers nullopt for it and
  // gate 4 decides it by a direct API read. A pod that stays unparsable is
  // counted again at every LIST and event: occurrences, not distinct pods.
  uint64_t skipped_pods = 0;
};

// PodWatch is a running watch of one namespace: the edge's view of it (a
// PodWatcher in production, a fake in edge tests). Thread-safe.
class PodWatch {
 public:
  virtual ~PodWatch() = default;
  // CachedPod returns the cached pod named name (nullopt: the watch saw no
  // such pod, or saw it unparsable: see PodWatcher) while the watch is
  // healthy: initial LIST done, stream connected, and an event, bookmark or
  // (re)connect within the staleness bound. Otherwise kKubeUnavailable: the caller must read the API directly.
  virtual Result<std::optional<PodView>> CachedPod(std::string_view name) const = 0;
  // Stats returns a snapshot of the watch's state. Cannot fail.
  virtual WatchStats Stats() const = 0;
};

// WatchOptions tune a PodWatcher. Defaults suit production.
struct WatchOptions {
  int64_t timeout_seconds = 60;     // server-side watch duration (timeoutSeconds)
  int64_t staleness_seconds = 120;  // silence beyond this makes the watch unhealthy
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{30000};
  size_t max_line_bytes = kMaxWatchLineBytes;
  size_t max_list_bytes = 64 * 1024 * 1024;
  KubeClientOptions client;  // connect timeout; request timeout of LIST and the watch header
  // sleeper, when set, replaces the interruptible wait between attempts
  // (tests record the backoff); the watcher checks Stop right after it.
  std::function<void(std::chrono::milliseconds)> sleeper;
  // on_state, when set, is called on the watcher thread after each state
  // change (listed, connected, disconnected, event applied). Tests wait on it.
  std::function<void()> on_state;
};

// PodWatcher owns one thread that LISTs /api/v1/namespaces/{ns}/pods, then
// WATCHes from the list's resourceVersion with bookmarks, resumes from the
// last seen resourceVersion when a stream ends, re-LISTs (diffing into the
// cache, so vanished pods are reported deleted) on 410 Gone or an ERROR event
// with code 410, and waits an exponential backoff with full jitter (from the
// injected Random) after any failure: transport, non-200, a malformed or
// oversize line, an ERROR event. It never crashes on API input.
//
// A pod ParsePod refuses does not stop the watch; it is treated as "this pod
// is unknown" and counted in WatchStats::skipped_pods:
//   - in a LIST it is left out, so the cache drops any earlier version of it
//     (reported to on_change as vanished: before set, after nullopt);
//   - in an ADDED/MODIFIED/DELETED event whose metadata.name is readable,
//     that name is removed from the cache (reported the same way when it was
//     cached), the resourceVersion advances when readable, and the stream
//     goes on (test UnparsablePodEventIsSkippedAndCounted);
//   - in such an event without a readable name the watcher cannot tell which
//     cached pod is stale, so it ends the stream and re-LISTs;
//   - a readable metadata.namespace other than the watched one is still a
//     failure, as for a parsable pod.
// Either way the pod is absent from the cache, so CachedPod answers nullopt
// and the edge's gate 4 decides that pod by a direct API read (which refuses
// it while it stays unparsable).
class PodWatcher final : public PodWatch {
 public:
  // Start builds the API client from conn and starts the thread; no request
  // is made before Start returns. clock and rng must outlive the watcher;
  // on_change is called on the watcher thread for each change. Fails with
  // kInvalidArgument for a namespace that is not a valid object name or an
  // unusable URL / TLS configuration.
  static Result<std::unique_ptr<PodWatcher>> Start(const ClusterConnection& conn, std::string ns, const Clock& clock,
                                                   Random& rng, PodChangeCallback on_change,
                                                   WatchOptions options = {});
  // ~PodWatcher stops the watcher (Stop).
  ~PodWatcher() override;

  // Stop ends the thread promptly: it cancels an open stream and interrupts
  // a backoff wait, then joins (a LIST or stream header already in flight
  // is bounded by options.client.request_timeout). Idempotent; must not be
  // called from on_change or on_state.
  void Stop();

  // CachedPod is PodWatch::CachedPod: kKubeUnavailable unless healthy.
  Result<std::optional<PodView>> CachedPod(std::string_view name) const override;
  // Stats is PodWatch::Stats. Cannot fail.
  WatchStats Stats() const override;

 private:
  PodWatcher(std::unique_ptr<net::HttpsClient> http, std::unique_ptr<TokenSource> token, std::string ns,
             const Clock& clock, Random& rng, PodChangeCallback on_change, WatchOptions options);
  void Run();
  Status List();
  Status WatchOnce();
  Result<std::string> Authorization();
  void Backoff();
  void Notify();
  bool HealthyLocked() const;

  std::unique_ptr<net::HttpsClient> http_;
  std::unique_ptr<TokenSource> token_;
  const std::string ns_;
  const Clock& clock_;
  Random& rng_;
  PodChangeCallback on_change_;
  const WatchOptions options_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stop_ = false;
  net::LineStream* stream_ = nullptr;  // the open stream, for Stop to cancel
  PodCache cache_;
  std::string resource_version_;
  bool need_list_ = true;
  WatchStats stats_;
  int64_t last_activity_ms_ = 0;
  int attempt_ = 0;  // consecutive failures, for the backoff
  bool opened_once_ = false;  // a watch stream was opened before
  std::thread thread_;
};

// NextBackoff returns the wait before retry number attempt (1-based): a
// uniform draw from [0, min(max, initial * 2^(attempt-1))] ("full jitter")
// using rng; when rng fails, the cap itself. Cannot fail.
std::chrono::milliseconds NextBackoff(int attempt, std::chrono::milliseconds initial, std::chrono::milliseconds max,
                                      Random& rng);

}  // namespace astis::kube
