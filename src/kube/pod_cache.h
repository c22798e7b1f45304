// PodCache: the pods of one namespace as a watch last saw them, keyed by name,
// and the changes each update makes (kube/watch.h feeds it). See docs/kube.md.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/pod.h"

namespace astis::kube {

// PodChange is one observed change of a pod: before is nullopt for a pod seen
// for the first time, after is nullopt for a deleted (or vanished) pod. Plain
// data, owned by whoever holds it.
struct PodChange {
  std::optional<PodView> before;
  std::optional<PodView> after;
};

// PodChangeCallback receives every PodChange of one watch, in order, on the
// watch's thread. It must not block for long and must not stop its watch.
using PodChangeCallback = std::function<void(const PodChange&)>;

// PodCache holds pods by name. Not thread-safe: its owner locks. Cannot fail.
class PodCache {
 public:
  // Upsert stores pod under pod.name and returns the change it made.
  PodChange Upsert(PodView pod);
  // Remove deletes the pod named name and returns the change, or nullopt when
  // no such pod was cached.
  std::optional<PodChange> Remove(std::string_view name);
  // Replace makes the cache exactly pods (a fresh LIST) and returns the
  // differences: new pods, pods whose UID or resourceVersion changed, and a
  // deletion for every cached pod absent from pods.
  std::vector<PodChange> Replace(std::vector<PodView> pods);
  // Find returns the cached pod (valid until the next update) or nullptr.
  const PodView* Find(std::string_view name) const;
  // size is the number of cached pods.
  size_t size() const { return pods_.size(); }

 private:
  std::map<std::string, PodView, std::less<>> pods_;
};

}  // namespace astis::kube
