// libFuzzer target for one Kubernetes watch line (astis::kube): ParseWatchEvent
// and ParseWatchLine on arbitrary bytes, and the same bytes as a PodList. It
// must never crash, leak or trip ASan/UBSan; every outcome is a Result. A
// parsed pod event must carry a pod and a resourceVersion, or (ParseWatchLine
// only) be marked skipped with no pod (the watcher relies on it).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kube/watch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto ev = astis::kube::ParseWatchEvent(input);
  if (ev.ok()) {
    const bool pod_event = ev->type == astis::kube::WatchEventType::kAdded ||
                           ev->type == astis::kube::WatchEventType::kModified ||
                           ev->type == astis::kube::WatchEventType::kDeleted;
    if (pod_event && (!ev->pod.has_value() || ev->resource_version.empty())) __builtin_trap();
    if (ev->type == astis::kube::WatchEventType::kBookmark && ev->resource_version.empty()) __builtin_trap();
  }
  auto line = astis::kube::ParseWatchLine(input);
  if (ev.ok() != (line.ok() && !line->skipped.has_value())) __builtin_trap();
  if (line.ok()) {
    const bool pod_event = line->type == astis::kube::WatchEventType::kAdded ||
                           line->type == astis::kube::WatchEventType::kModified ||
                           line->type == astis::kube::WatchEventType::kDeleted;
    if (line->skipped.has_value()) {
      if (!pod_event || line->pod.has_value() || !line->resource_version.empty()) __builtin_trap();
    } else if (pod_event && (!line->pod.has_value() || line->resource_version.empty())) {
      __builtin_trap();
    }
  }
  (void)astis::kube::ParsePodList(input, 1 << 20);
  return 0;
}
