#include "kube/testing/fake_kube_client.h"

namespace astis::kube::testing {

void FakeKubeClient::PutPod(PodView pod) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(pod.ns, pod.name);
  pods_.insert_or_assign(std::move(key), std::move(pod));
}

Status FakeKubeClient::PutPodJson(std::string_view json) {
  ASTIS_ASSIGN_OR_RETURN(PodView pod, ParsePod(json));
  PutPod(std::move(pod));
  return OkStatus();
}

void FakeKubeClient::RemovePod(std::string_view ns, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  pods_.erase(std::make_pair(std::string(ns), std::string(name)));
}

void FakeKubeClient::SetUnavailable(bool unavailable) {
  std::lock_guard<std::mutex> lock(mu_);
  unavailable_ = unavailable;
}

size_t FakeKubeClient::get_pod_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return get_pod_calls_;
}

Result<PodView> FakeKubeClient::GetPod(std::string_view ns, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  ++get_pod_calls_;
  if (unavailable_) return Error(Code::kKubeUnavailable, "fake Kubernetes API is switched off");
  auto it = pods_.find(std::make_pair(std::string(ns), std::string(name)));
  if (it == pods_.end()) {
    return Error(Code::kPodNotLive, "pod " + std::string(ns) + "/" + std::string(name) + " does not exist");
  }
  return it->second;
}

Status FakeKubeClient::Ping() {
  std::lock_guard<std::mutex> lock(mu_);
  if (unavailable_) return Error(Code::kKubeUnavailable, "fake Kubernetes API is switched off");
  return OkStatus();
}

}  // namespace astis::kube::testing
