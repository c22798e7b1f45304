#include "kube/pod_cache.h"

#include <utility>

namespace astis::kube {

PodChange PodCache::Upsert(PodView pod) {
  PodChange change;
  auto it = pods_.find(pod.name);
  if (it != pods_.end()) change.before = it->second;
  change.after = pod;
  std::string name = pod.name;
  pods_.insert_or_assign(std::move(name), std::move(pod));
  return change;
}

std::optional<PodChange> PodCache::Remove(std::string_view name) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return std::nullopt;
  PodChange change;
  change.before = std::move(it->second);
  pods_.erase(it);
  return change;
}

std::vector<PodChange> PodCache::Replace(std::vector<PodView> pods) {
  std::vector<PodChange> changes;
  std::map<std::string, PodView, std::less<>> next;
  for (PodView& p : pods) {
    auto it = pods_.find(p.name);
    if (it == pods_.end() || it->second.uid != p.uid || it->second.resource_version != p.resource_version) {
      PodChange c;
      if (it != pods_.end()) c.before = it->second;
      c.after = p;
      changes.push_back(std::move(c));
    }
    std::string name = p.name;
    next.insert_or_assign(std::move(name), std::move(p));
  }
  // Pods that vanished while the watch could not see them (e.g. during a
  // 410 Gone gap) are reported as deletions (test PodWatcher.ErrorGoneRelistsWithDiff).
  for (auto& [name, pod] : pods_) {
    if (next.find(name) == next.end()) changes.push_back(PodChange{std::move(pod), std::nullopt});
  }
  pods_ = std::move(next);
  return changes;
}

const PodView* PodCache::Find(std::string_view name) const {
  auto it = pods_.find(name);
  return it == pods_.end() ? nullptr : &it->second;
}

}  // namespace astis::kube
