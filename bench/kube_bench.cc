// Gate 4 microbenchmarks: the pod view (kube::ParsePod of a real Pod JSON
// from testdata/kubernetes) and the decision (kube::EvaluatePod). A direct
// API read pays ParsePod per request; a healthy watch pays only EvaluatePod.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "kube/pod.h"

namespace astis::kube {
namespace {

std::string TestdataFile(const std::string& rel) {
  const char* env = std::getenv("ASTIS_TESTDATA_DIR");
  const std::string dir = env != nullptr ? env : ASTIS_TESTDATA_DIR;
  std::ifstream in(dir + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* const kShapes[] = {"kubernetes/pod-sidecar-containerd-digest.json",
                               "kubernetes/pod-docker-pullable-running.json",
                               "kubernetes/pod-all-fields-roundtrip.json"};

void BM_ParsePod(benchmark::State& state) {
  const std::string json = TestdataFile(kShapes[state.range(0)]);
  for (auto _ : state) {
    auto pod = ParsePod(json);
    if (!pod.ok()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(pod);
  }
  state.SetLabel(std::string(kShapes[state.range(0)]) + " " + std::to_string(json.size()) + " bytes");
}
BENCHMARK(BM_ParsePod)->DenseRange(0, 2);

// Expectation allows every digest the pod runs, so the decision walks
// every container (the accepting path, the common one).
PodExpectation ExpectAll(const PodView& pod) {
  PodExpectation e{pod.ns, pod.name, pod.uid, {}, pod.service_account};
  for (const auto* list : {&pod.container_statuses, &pod.init_container_statuses, &pod.ephemeral_container_statuses}) {
    for (const ContainerStatusView& s : *list) {
      auto d = DigestFromImageId(s.image_id);
      if (d.ok()) e.allowed_digests.insert(*d);
    }
  }
  return e;
}

void BM_EvaluatePod(benchmark::State& state) {
  auto pod = ParsePod(TestdataFile(kShapes[0]));
  if (!pod.ok()) {
    state.SkipWithError("parse failed");
    return;
  }
  const PodExpectation e = ExpectAll(*pod);
  for (auto _ : state) {
    Status s = EvaluatePod(*pod, e);
    benchmark::DoNotOptimize(s);
  }
  state.SetLabel(EvaluatePod(*pod, e).ok() ? "allowed" : "refused");
}
BENCHMARK(BM_EvaluatePod);

void BM_ParseAndEvaluatePod(benchmark::State& state) {
  const std::string json = TestdataFile(kShapes[0]);
  auto first = ParsePod(json);
  if (!first.ok()) {
    state.SkipWithError("parse failed");
    return;
  }
  const PodExpectation e = ExpectAll(*first);
  for (auto _ : state) {
    auto pod = ParsePod(json);
    if (!pod.ok()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(EvaluatePod(*pod, e));
  }
}
BENCHMARK(BM_ParseAndEvaluatePod);

}  // namespace
}  // namespace astis::kube
