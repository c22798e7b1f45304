// FakeKubeClient: an in-memory KubeClient for tests of gate 4 and the edge.
// It serves pods put into it and can be switched to "unavailable" to cut the
// API server off. For tests only.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "kube/client.h"

namespace astis::kube::testing {

// FakeKubeClient holds pods keyed by namespace/name. Thread-safe.
class FakeKubeClient final : public KubeClient {
 public:
  // PutPod stores (or replaces) pod under pod.ns/pod.name.
  void PutPod(PodView pod);
  // PutPodJson parses json with ParsePod and stores it; fails as ParsePod.
  Status PutPodJson(std::string_view json);
  // RemovePod deletes a pod; GetPod then answers kPodNotLive.
  void RemovePod(std::string_view ns, std::string_view name);
  // SetUnavailable makes every call fail with kKubeUnavailable while true.
  void SetUnavailable(bool unavailable);
  // get_pod_calls counts GetPod calls (to prove a read was fresh).
  size_t get_pod_calls() const;

  // GetPod returns a copy of the stored pod; kPodNotLive when absent,
  // kKubeUnavailable when switched off.
  Result<PodView> GetPod(std::string_view ns, std::string_view name) override;
  // Ping is OK unless switched off (kKubeUnavailable).
  Status Ping() override;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, PodView> pods_;
  bool unavailable_ = false;
  size_t get_pod_calls_ = 0;
};

}  // namespace astis::kube::testing
