#include "edge/fresh_pods.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "edge/metrics.h"
#include "edge/prometheus.h"

namespace astis::edge {

// Flight is one pod read in progress; waiters block on cv under mu_.
struct FreshPods::Flight {
  int64_t started_ms = 0;
  bool done = false;
  Result<kube::PodView> result = Error(Code::kKubeUnavailable, "pod read in progress");
  std::condition_variable cv;
};

namespace {

// IsAnswer reports whether a read outcome is the API server's answer about
// the pod (the pod, or "no such pod"), as opposed to a failure to get one.
bool IsAnswer(const Result<kube::PodView>& r) { return r.ok() || r.status().code() == Code::kPodNotLive; }

}  // namespace

FreshPods::FreshPods(KubeClientLookup kube, const Clock& clock, FreshPodOptions options)
    : kube_(std::move(kube)), clock_(clock), options_(options) {}

Result<kube::PodView> FreshPods::Shed(ClusterCounters& c, std::string why) {
  ++c.shed;
  return Error(Code::kKubeUnavailable, std::move(why));
}

// SteadyMillis is the monotonic clock that bounds how long threads wait; it
// is wall time by nature (a thread is held in real time), unlike the
// injected Clock that dates confirmations.
int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool FreshPods::OverShare(const ClusterCounters& c) const {
  const size_t cap = std::max<size_t>(1, options_.max_waiting_per_cluster);
  if (c.waiting < cap) return false;
  // Over the share only matters while the cluster is slow: a read in flight
  // for longer than slow_read_ms (test FreshPodsShareOfThreadsBounded); a
  // healthy cluster's burst is served (FreshPodsHealthyBurstNotShed).
  return !c.in_flight_since.empty() && SteadyMillis() - *c.in_flight_since.begin() >= options_.slow_read_ms;
}

Result<kube::PodView> FreshPods::Read(std::string_view cluster, std::string_view ns, std::string_view name) {
  const int64_t now = clock_.NowUnixMillis();
  // A confirmation is usable when the read behind it was sent at or after
  // this instant (docs/protocol.md §6 gate 4: confirmed no longer ago than the
  // maximum staleness).
  const int64_t oldest_usable = now - options_.max_staleness_ms;
  const Key key{std::string(cluster), std::string(ns), std::string(name)};
  // max_staleness_ms 0 means a direct read for every decision: nothing is
  // reused and nothing joined.
  const bool reuse = options_.max_staleness_ms > 0;
  std::unique_lock<std::mutex> lock(mu_);
  ClusterCounters& c = clusters_.try_emplace(std::get<0>(key)).first->second;
  if (entries_.size() >= options_.max_cached_pods) EvictLocked(now);
  Entry& e = entries_[key];
  if (reuse && e.confirmed.has_value() && e.confirmed_at_ms >= oldest_usable) {
    ++reused_;
    return *e.confirmed;  // test FreshPodsReusesConfirmationWithinBound
  }

  // Join a read already in flight for this pod if it was sent recently
  // enough (test FreshPodsCoalescesConcurrentReads).
  if (reuse && e.flight != nullptr && !e.flight->done && e.flight->started_ms >= oldest_usable) {
    if (OverShare(c)) return Shed(c, "the cluster's API is slow and its share of request threads is in use");
    std::shared_ptr<Flight> flight = e.flight;
    ++c.waiting;
    const bool finished = flight->cv.wait_for(lock, std::chrono::milliseconds(options_.api_timeout_ms),
                                              [&flight] { return flight->done; });
    --c.waiting;
    if (!finished) return Shed(c, "timed out waiting for the cluster's API");
    return flight->result;
  }

  // Lead a new read, unless the cluster just failed or is at its share
  // (tests FreshPodsFailFastAfterFailure, FreshPodsShareOfThreadsBounded).
  if (now < c.fail_fast_until_ms) return Shed(c, "the cluster's API failed moments ago");
  if (OverShare(c)) return Shed(c, "the cluster's API is slow and its share of request threads is in use");
  auto flight = std::make_shared<Flight>();
  flight->started_ms = now;
  e.flight = flight;
  ++c.waiting;
  ++c.reads;
  const int64_t sent_steady = SteadyMillis();
  c.in_flight_since.insert(sent_steady);
  lock.unlock();

  kube::KubeClient* client = kube_ ? kube_(cluster) : nullptr;
  Result<kube::PodView> result =
      client == nullptr ? Result<kube::PodView>(Error(Code::kKubeUnavailable, "no Kubernetes client for cluster " +
                                                                                 std::string(cluster)))
                        : client->GetPod(ns, name);
  if (!result.ok() && result.status().code() != Code::kPodNotLive &&
      result.status().code() != Code::kInvalidArgument) {
    result = Error(Code::kKubeUnavailable, result.status().message());
  }

  lock.lock();
  // c is still valid: clusters_ never erases a node.
  --c.waiting;
  c.in_flight_since.erase(c.in_flight_since.find(sent_steady));
  const int64_t end = clock_.NowUnixMillis();
  if (IsAnswer(result)) {
    c.known = true;
    c.up = true;
    c.last_ok_ms = std::max(c.last_ok_ms, flight->started_ms);
    c.fail_fast_until_ms = 0;
  } else if (result.status().code() == Code::kKubeUnavailable && client != nullptr) {
    c.known = true;
    c.up = false;
    ++c.failures;
    c.last_failure_ms = end;
    if (options_.retry_ms > 0) c.fail_fast_until_ms = end + options_.retry_ms;
  }
  // The entry may have been invalidated (a watch saw a change while the
  // read was in flight) or evicted: only a still-current flight is cached.
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.flight == flight) {
    it->second.flight = nullptr;
    if (IsAnswer(result) &&
        (!it->second.confirmed.has_value() || it->second.confirmed_at_ms <= flight->started_ms)) {
      it->second.confirmed = result;
      it->second.confirmed_at_ms = flight->started_ms;
    }
  }
  flight->result = result;
  flight->done = true;
  flight->cv.notify_all();
  return result;
}

void FreshPods::EvictLocked(int64_t now_ms) {
  const int64_t oldest_usable = now_ms - options_.max_staleness_ms;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const bool idle = it->second.flight == nullptr;
    const bool stale = !it->second.confirmed.has_value() || it->second.confirmed_at_ms < oldest_usable;
    it = idle && stale ? entries_.erase(it) : std::next(it);
  }
  // Still too many fresh ones (more pods than the bound, each read within
  // the last max_staleness_ms): drop the oldest confirmations.
  while (!entries_.empty() && entries_.size() >= options_.max_cached_pods) {
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.flight != nullptr) continue;
      if (oldest == entries_.end() || it->second.confirmed_at_ms < oldest->second.confirmed_at_ms) oldest = it;
    }
    if (oldest == entries_.end()) break;  // every entry has a read in flight
    entries_.erase(oldest);
  }
}

void FreshPods::Invalidate(std::string_view cluster, std::string_view ns, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(Key{std::string(cluster), std::string(ns), std::string(name)});
  if (it == entries_.end()) return;
  it->second.confirmed.reset();
  // A read in flight was sent before the change was seen: it may still
  // answer its waiters (it is within the bound), but it is not cached.
  it->second.flight = nullptr;
}

ClusterApiState FreshPods::StateLocked(const std::string& name, const ClusterCounters& c) const {
  ClusterApiState s;
  s.cluster = name;
  s.health = !c.known ? "unknown" : c.up ? "ok" : "unavailable";
  s.last_ok_ms = c.last_ok_ms;
  s.last_failure_ms = c.last_failure_ms;
  s.reads = c.reads;
  s.failures = c.failures;
  s.shed = c.shed;
  s.waiting = c.waiting;
  return s;
}

std::vector<ClusterApiState> FreshPods::States() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ClusterApiState> out;
  out.reserve(clusters_.size());
  for (const auto& [name, c] : clusters_) out.push_back(StateLocked(name, c));
  return out;
}

ClusterApiState FreshPods::State(std::string_view cluster) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = clusters_.find(cluster);
  if (it == clusters_.end()) {
    ClusterApiState s;
    s.cluster = std::string(cluster);
    return s;
  }
  return StateLocked(it->first, it->second);
}

size_t FreshPods::cached_pods() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

std::string FreshPods::MetricsText() const {
  const std::vector<ClusterApiState> states = States();
  std::string up, reads, failures, shed;
  for (const ClusterApiState& s : states) {
    const std::string labels = "{cluster=\"" + PrometheusLabel(s.cluster) + "\"} ";
    if (s.health != "unknown") up += "astis_cluster_api_up" + labels + (s.health == "ok" ? "1" : "0") + "\n";
    reads += "astis_gate4_api_reads_total" + labels + std::to_string(s.reads) + "\n";
    failures += "astis_gate4_api_failures_total" + labels + std::to_string(s.failures) + "\n";
    shed += "astis_gate4_shed_total" + labels + std::to_string(s.shed) + "\n";
  }
  uint64_t reused = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reused = reused_;
  }
  std::string out;
  out += MetricFamily("astis_cluster_api_up", "gauge",
                      "1 when the last gate-4 read of the cluster's API was answered.") + up;
  out += MetricFamily("astis_gate4_api_reads_total", "counter",
                      "Pod reads gate 4 sent to the cluster's API.") + reads;
  out += MetricFamily("astis_gate4_api_failures_total", "counter",
                      "Gate-4 pod reads that got no answer.") + failures;
  out += MetricFamily("astis_gate4_shed_total", "counter",
                      "Gate-4 decisions refused without a read (share, fail-fast, wait timeout).") + shed;
  out += MetricFamily("astis_gate4_confirmations_reused_total", "counter",
                      "Gate-4 decisions served by a confirmation within the bound.") +
         "astis_gate4_confirmations_reused_total " + std::to_string(reused) + "\n";
  return out;
}

}  // namespace astis::edge
