#include "edge/pod_monitor.h"

#include <set>

#include "common/log.h"
#include "edge/metrics.h"
#include "edge/prometheus.h"
#include "kube/config.h"

namespace astis::edge {
namespace {

std::string Fingerprint(const store::Cluster& c) { return c.api_url + '\n' + c.ca_file + '\n' + c.token_file; }

}  // namespace

PodMonitor::PodMonitor(store::Store& store, audit::AuditSink& audit, const Clock& clock, WatchFactory factory)
    : store_(store), audit_(audit), clock_(clock), factory_(std::move(factory)) {}

PodMonitor::~PodMonitor() { Stop(); }

Status PodMonitor::Rescan() {
  std::lock_guard<std::mutex> scan(scan_mu_);
  auto clusters = store_.ListClusters(std::nullopt);
  if (!clusters.ok()) return clusters.status();
  auto workloads = store_.ListWorkloads(std::nullopt, std::nullopt);
  if (!workloads.ok()) return workloads.status();
  // Watches are keyed by the qualified cluster name (store::
  // QualifiedClusterName): every organisation's clusters, kept apart.
  std::map<std::string, const store::Cluster*> by_name;
  std::map<std::string, std::string> modes;
  for (const auto& c : *clusters) {
    const std::string name = store::QualifiedClusterName(c.org, c.name);
    by_name[name] = &c;
    modes[name] = c.mode;
  }
  std::map<Key, const store::Cluster*> desired;
  for (const auto& w : *workloads) {
    const std::string name = store::QualifiedClusterName(w.org, w.cluster);
    auto it = by_name.find(name);
    if (it != by_name.end()) desired[{name, w.namespace_}] = it->second;
  }
  std::vector<std::unique_ptr<kube::PodWatch>> retired;
  std::vector<std::pair<Key, const store::Cluster*>> to_start;
  {
    std::lock_guard<std::mutex> lock(mu_);
    modes_ = std::move(modes);
    for (auto it = entries_.begin(); it != entries_.end();) {
      auto want = desired.find(it->first);
      if (want == desired.end() || want->second == nullptr || Fingerprint(*want->second) != it->second.fingerprint ||
          it->second.watch == nullptr) {
        if (it->second.watch) retired.push_back(std::move(it->second.watch));
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [key, cluster] : desired) {
      if (entries_.find(key) == entries_.end()) to_start.emplace_back(key, cluster);
    }
  }
  retired.clear();  // stops them (outside mu_: a stopping watch may still be in OnChange)
  for (const auto& [key, cluster] : to_start) {
    const std::string cname = key.first, ns = key.second;
    Entry e;
    e.fingerprint = Fingerprint(*cluster);
    auto watch = factory_(*cluster, ns, [this, cname, ns](const kube::PodChange& c) { OnChange(cname, ns, c); });
    if (watch.ok()) {
      e.watch = std::move(watch).value();
    } else {
      e.error = watch.status().message();
      log::Process().Warn("kube", "pod watch of " + cname + "/" + ns + " not started: " + e.error,
                          Json{{"cluster", cname}, {"namespace", ns}});
    }
    std::lock_guard<std::mutex> lock(mu_);
    entries_[key] = std::move(e);
  }
  return OkStatus();
}

void PodMonitor::StartRescanning(std::chrono::milliseconds interval) {
  std::lock_guard<std::mutex> lock(loop_mu_);
  if (loop_.joinable() || stopping_) return;
  loop_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> l(loop_mu_);
    while (!stopping_) {
      l.unlock();
      Status s = Rescan();
      if (!s.ok()) log::Process().Warn("kube", "pod watch rescan failed: " + s.ToString());
      l.lock();
      loop_cv_.wait_for(l, interval, [this] { return stopping_; });
    }
  });
}

void PodMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  std::lock_guard<std::mutex> scan(scan_mu_);
  std::map<Key, Entry> entries;
  {
    std::lock_guard<std::mutex> lock(mu_);
    entries.swap(entries_);
  }
  entries.clear();  // stops every watch outside mu_
}

Result<std::optional<kube::PodView>> PodMonitor::CachedPod(std::string_view cluster, std::string_view ns,
                                                           std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(Key{std::string(cluster), std::string(ns)});
  if (it == entries_.end() || it->second.watch == nullptr) {
    return Error(Code::kKubeUnavailable, "no pod watch for this namespace");
  }
  return it->second.watch->CachedPod(name);
}

void PodMonitor::SetChangeListener(PodChangeListener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

std::vector<WatchState> PodMonitor::States() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<WatchState> out;
  for (const auto& [key, e] : entries_) {
    WatchState s{key.first, key.second, {}, e.error};
    if (e.watch) s.stats = e.watch->Stats();
    out.push_back(std::move(s));
  }
  return out;
}

uint64_t PodMonitor::sessions_revoked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return revoked_;
}

std::string PodMonitor::MetricsText() const {
  const std::vector<WatchState> states = States();
  std::string healthy, restarts, relists, skipped;
  for (const auto& s : states) {
    const std::string labels =
        "{cluster=\"" + PrometheusLabel(s.cluster) + "\",namespace=\"" + PrometheusLabel(s.ns) + "\"} ";
    healthy += "astis_watch_healthy" + labels + (s.stats.healthy ? "1" : "0") + "\n";
    restarts += "astis_watch_restarts_total" + labels + std::to_string(s.stats.restarts) + "\n";
    relists += "astis_watch_relists_total" + labels + std::to_string(s.stats.relists) + "\n";
    skipped += "astis_watch_skipped_pods_total" + labels + std::to_string(s.stats.skipped_pods) + "\n";
  }
  std::string out;
  out += MetricFamily("astis_watch_healthy", "gauge",
                      "1 while the pod watch of a cluster namespace is healthy (it revokes sessions; gate 4 "
                      "never rests on it).") +
         healthy;
  out += MetricFamily("astis_watch_restarts_total", "counter",
                      "Pod watch streams reopened.") + restarts;
  out += MetricFamily("astis_watch_relists_total", "counter",
                      "Pod re-LISTs after 410 Gone.") + relists;
  out += MetricFamily("astis_watch_skipped_pods_total", "counter",
                      "Pods a watch could not parse (decided by direct reads).") + skipped;
  std::lock_guard<std::mutex> lock(mu_);
  out += MetricFamily("astis_watch_sessions_revoked_total", "counter",
                      "Sessions revoked because of pod watch events.") +
         "astis_watch_sessions_revoked_total " + std::to_string(revoked_) + "\n";
  out += MetricFamily("astis_watch_revoke_failures_total", "counter",
                      "Watch revocations that failed (store or audit).") +
         "astis_watch_revoke_failures_total " + std::to_string(revoke_failures_) + "\n";
  return out;
}

void PodMonitor::OnChange(const std::string& cluster, const std::string& ns, const kube::PodChange& change) {
  if (!change.before && !change.after) return;
  const std::string name = change.after ? change.after->name : change.before->name;
  PodChangeListener listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = listener_;
  }
  if (listener) listener(cluster, ns, name);  // e.g. drop gate 4's confirmation of this pod
  const int64_t now = clock_.NowUnix();
  auto fail = [&](const std::string& what) {
    log::Process().Error("kube", "pod watch " + cluster + "/" + ns + "/" + name + ": " + what,
                         Json{{"cluster", cluster}, {"namespace", ns}, {"pod", name}});
    std::lock_guard<std::mutex> lock(mu_);
    ++revoke_failures_;
  };
  const store::ClusterRef ref = store::SplitQualifiedClusterName(cluster);
  store::SessionFilter filter;
  filter.org = ref.org;
  filter.cluster = ref.name;
  filter.namespace_ = ns;
  filter.pod_name = name;  // one pod's sessions, from an index (not every session in the namespace)
  filter.active_at = now;
  auto sessions = store_.ListSessions(filter);
  if (!sessions.ok()) return fail("list sessions: " + sessions.status().message());

  // Decide once per pod UID; every active session of a refused UID goes.
  std::map<std::string, Status> refused;  // pod uid -> why
  std::set<std::string> allowed;
  for (const store::Session& s : *sessions) {
    if (s.pod_name != name || refused.count(s.pod_uid) > 0 || allowed.count(s.pod_uid) > 0) continue;
    Status why = OkStatus();
    if (!change.after) {
      if (s.pod_uid != change.before->uid) continue;  // a newer pod of that name is not affected
      why = Error(Code::kPodNotLive, "watch: pod deleted");  // test WatchDeletionRevokesSessions
    } else if (s.pod_uid != change.after->uid) {
      why = Error(Code::kPodNotLive, "watch: pod replaced under the same name");  // test WatchNewUidRevokes
    } else {
      auto wl = store_.GetWorkload(ref.org, ref.name, ns, s.service_account);
      if (!wl.ok() && wl.status().code() != Code::kNotFound) {
        fail("workload lookup: " + wl.status().message());
        continue;
      }
      if (!wl.ok()) {
        why = Error(Code::kImageNotAllowed, "watch: no workload registered for this service account");
      } else {
        // docs/protocol.md §6.4 re-applied to the new pod state, e.g. an ephemeral
        // container with an unapproved image (test WatchEphemeralContainerRevokes).
        kube::PodExpectation expect{ns, name, s.pod_uid,
                                    std::set<std::string>(wl->image_digests.begin(), wl->image_digests.end()),
                                    s.service_account};
        kube::GateDecision d = kube::DecidePod(*change.after, expect);
        if (!d.allowed()) why = Error(d.code, "watch: " + d.reason);
      }
    }
    if (why.ok()) {
      allowed.insert(s.pod_uid);
    } else {
      refused.emplace(s.pod_uid, why);
    }
  }
  if (refused.empty()) return;
  std::string mode;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = modes_.find(cluster);
    mode = it == modes_.end() ? "strict" : it->second;
  }
  for (const auto& [uid, why] : refused) {
    const bool audit_mode = mode == "audit";
    int64_t n = 0;
    if (!audit_mode) {
      auto revoked = store_.RevokeSessionsForPod(store::PodRef{ref.name, ns, name, uid, ref.org});
      if (!revoked.ok()) {
        fail("revoke: " + revoked.status().message());
        continue;
      }
      n = *revoked;
      std::lock_guard<std::mutex> lock(mu_);
      revoked_ += static_cast<uint64_t>(n);
    }
    for (const store::Session& s : *sessions) {
      if (s.pod_uid != uid || s.pod_name != name) continue;
      audit::AuditEvent e;
      e.time_unix_ms = clock_.NowUnixMillis();
      e.event = "session.revoke";
      e.decision = audit_mode ? audit::Decision::kWouldDeny : audit::Decision::kDeny;
      e.gate = 4;
      e.code = why.code();
      e.reason = "session " + s.id + ": " + why.message();
      // The organisation's own trail (audit::OrgAuditRouter); "default" keeps
      // the single-organisation lines.
      e.org = ref.org == store::kDefaultOrg ? std::string() : ref.org;
      e.cluster = ref.name;
      e.namespace_ = ns;
      e.service_account = s.service_account;
      e.pod = name;
      e.pod_uid = uid;
      e.jkt = s.jkt;
      if (Status a = audit_.Append(e); !a.ok()) fail("audit: " + a.message());
    }
  }
}

WatchFactory MakePodWatcherFactory(const Clock& clock, Random& rng, kube::WatchOptions options) {
  return [&clock, &rng, options](const store::Cluster& c, const std::string& ns,
                                 kube::PodChangeCallback on_change) -> Result<std::unique_ptr<kube::PodWatch>> {
    ASTIS_ASSIGN_OR_RETURN(kube::ClusterConnection conn, kube::Explicit(c.api_url, c.ca_file, c.token_file));
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<kube::PodWatcher> w,
                           kube::PodWatcher::Start(conn, ns, clock, rng, std::move(on_change), options));
    return std::unique_ptr<kube::PodWatch>(std::move(w));
  };
}

}  // namespace astis::edge
