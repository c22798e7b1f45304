#include "kube/pod.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/json.h"

namespace astis::kube {
namespace {

std::string TestdataDir() {
  const char* env = std::getenv("ASTIS_TESTDATA_DIR");
  return env != nullptr ? env : ASTIS_TESTDATA_DIR;
}

std::string ReadPodFile(const std::string& name) {
  std::ifstream in(TestdataDir() + "/kubernetes/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

PodView LoadPod(const std::string& name) {
  Result<PodView> pod = ParsePod(ReadPodFile(name));
  EXPECT_TRUE(pod.ok()) << name << ": " << pod.status().ToString();
  return pod.ok() ? *pod : PodView{};
}

// The digests the testdata pods run (read from the files, not invented).
constexpr char kNginxSlim[] = "sha256:8b4501fe0fe221df663c22e16539f399e89594552f400408303c42f3dd8d0e52";
constexpr char kNginxAlpine[] = "sha256:482ead44b2203fa32b3390abdaf97cbdc8ad15c07fb03a3e68d7c35a19ad7595";
constexpr char kBusybox[] = "sha256:08d47903601328b0ea5a81c6ce59656e0177caa271dd60023a793cf2f0046f51";
constexpr char kIstioBase[] = "sha256:61673929bc39a86dca7d978b27fc632d3e590bc59cd8b2f386408751d007c91e";
constexpr char kOther[] = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

// ExpectFor is the expectation a token for pod would give. service_account
// is what the testdata pods' spec.serviceAccountName holds ("default"),
// written out rather than copied from pod so a parser that lost it fails.
PodExpectation ExpectFor(const PodView& pod, std::set<std::string> digests,
                         std::string service_account = "default") {
  return PodExpectation{pod.ns, pod.name, pod.uid, std::move(digests), std::move(service_account)};
}

// MinimalPod is a running one-container pod in JSON; spec_extra is spliced
// into spec (e.g. R"("serviceAccountName":"api",)").
std::string MinimalPod(const std::string& spec_extra) {
  return R"({"metadata":{"name":"a","namespace":"b","uid":"u"},"spec":{)" + spec_extra +
         R"("containers":[{"name":"c","image":"i"}]},"status":{"phase":"Running"}})";
}

// --- ParsePod -------------------------------------------------------------

TEST(ParsePodTest, ParsesDockerPullableRunning) {
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  EXPECT_EQ(pod.name, "nginx-7fb78fb6d8-2w75j");
  EXPECT_EQ(pod.ns, "default");
  EXPECT_EQ(pod.uid, "91bb1cf2-2c03-11ea-883f-42010a800044");
  EXPECT_EQ(pod.resource_version, "87290191");
  EXPECT_FALSE(pod.deletion_timestamp.has_value());
  EXPECT_EQ(pod.phase, "Running");
  ASSERT_EQ(pod.containers.size(), 1u);
  EXPECT_EQ(pod.containers[0].name, "nginx");
  EXPECT_EQ(pod.containers[0].image, "k8s.gcr.io/nginx-slim:0.8");
  ASSERT_EQ(pod.container_statuses.size(), 1u);
  EXPECT_EQ(pod.container_statuses[0].image_id, std::string("docker-pullable://k8s.gcr.io/nginx-slim@") + kNginxSlim);
  EXPECT_TRUE(pod.init_containers.empty());
  EXPECT_TRUE(pod.ephemeral_containers.empty());
}

TEST(ParsePodTest, ParsesInitContainers) {
  PodView pod = LoadPod("pod-init-containers-docker-pullable.json");
  ASSERT_EQ(pod.init_containers.size(), 1u);
  EXPECT_EQ(pod.init_containers[0].name, "ic1");
  ASSERT_EQ(pod.init_container_statuses.size(), 1u);
  EXPECT_EQ(pod.init_container_statuses[0].name, "ic1");
}

TEST(ParsePodTest, ParsesTerminatingEphemeral) {
  PodView pod = LoadPod("pod-derived-terminating-ephemeral.json");
  ASSERT_TRUE(pod.deletion_timestamp.has_value());
  EXPECT_EQ(*pod.deletion_timestamp, "2019-08-09T06:00:00Z");
  ASSERT_EQ(pod.ephemeral_containers.size(), 1u);
  EXPECT_EQ(pod.ephemeral_containers[0].name, "debugger-7x2kq");
  EXPECT_EQ(pod.ephemeral_containers[0].image, "busybox:1.36");
  ASSERT_EQ(pod.ephemeral_container_statuses.size(), 1u);
}

TEST(ParsePodTest, ParsesSidecarContainerd) {
  PodView pod = LoadPod("pod-sidecar-containerd-digest.json");
  ASSERT_EQ(pod.init_containers.size(), 2u);
  EXPECT_EQ(pod.init_containers[1].name, "sidecar");
  ASSERT_EQ(pod.init_container_statuses.size(), 2u);
  EXPECT_EQ(pod.container_statuses[0].image_id, std::string("docker.io/istio/base@") + kIstioBase);
}

TEST(ParsePodTest, ParsesAllFieldsRoundtrip) {
  PodView pod = LoadPod("pod-all-fields-roundtrip.json");
  EXPECT_EQ(pod.name, "nameValue");
  EXPECT_EQ(pod.uid, "uidValue");
  EXPECT_EQ(pod.phase, "phaseValue");
  EXPECT_EQ(pod.containers.size(), 1u);
  EXPECT_EQ(pod.init_containers.size(), 1u);
  EXPECT_EQ(pod.ephemeral_containers.size(), 1u);
  EXPECT_EQ(pod.ephemeral_container_statuses.size(), 1u);
  EXPECT_EQ(pod.ephemeral_container_statuses[0].image_id, "imageIDValue");
}

TEST(ParsePodTest, ParsesServiceAccountName) {
  EXPECT_EQ(LoadPod("pod-docker-pullable-running.json").service_account, "default");
  // serviceAccountName wins over the deprecated serviceAccount.
  EXPECT_EQ(LoadPod("pod-all-fields-roundtrip.json").service_account, "serviceAccountNameValue");
  Result<PodView> both = ParsePod(MinimalPod(R"("serviceAccountName":"api","serviceAccount":"old",)"));
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_EQ(both->service_account, "api");
  // Only the deprecated field, or an empty serviceAccountName: the alias is used.
  Result<PodView> deprecated = ParsePod(MinimalPod(R"("serviceAccount":"old",)"));
  ASSERT_TRUE(deprecated.ok()) << deprecated.status().ToString();
  EXPECT_EQ(deprecated->service_account, "old");
  Result<PodView> empty_name = ParsePod(MinimalPod(R"("serviceAccountName":"","serviceAccount":"old",)"));
  ASSERT_TRUE(empty_name.ok()) << empty_name.status().ToString();
  EXPECT_EQ(empty_name->service_account, "old");
  // Neither: empty (DecidePod then refuses).
  Result<PodView> none = ParsePod(MinimalPod(""));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->service_account, "");
}

TEST(ParsePodTest, RejectsNonStringServiceAccountName) {
  for (const char* extra : {R"("serviceAccountName":5,)", R"("serviceAccountName":null,)",
                            R"("serviceAccountName":["api"],)", R"("serviceAccount":{},)",
                            R"("serviceAccountName":"api","serviceAccount":true,)"}) {
    Result<PodView> pod = ParsePod(MinimalPod(extra));
    EXPECT_EQ(pod.status().code(), Code::kInvalidArgument) << extra;
  }
}

TEST(ParsePodTest, RejectsNotJson) {
  EXPECT_EQ(ParsePod("not json").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParsePod("[]").status().code(), Code::kInvalidArgument);
}

TEST(ParsePodTest, RejectsDuplicateKey) {
  Result<PodView> pod = ParsePod(
      R"({"metadata":{"name":"a","namespace":"b","uid":"u","uid":"v"},"spec":{"containers":[]}})");
  EXPECT_EQ(pod.status().code(), Code::kInvalidArgument);
}

TEST(ParsePodTest, RejectsWrongKind) {
  Result<PodView> pod =
      ParsePod(R"({"kind":"Status","metadata":{"name":"a","namespace":"b","uid":"u"},"spec":{"containers":[]}})");
  EXPECT_EQ(pod.status().code(), Code::kInvalidArgument);
}

TEST(ParsePodTest, RejectsMissingUid) {
  Result<PodView> pod = ParsePod(R"({"metadata":{"name":"a","namespace":"b"},"spec":{"containers":[]}})");
  EXPECT_EQ(pod.status().code(), Code::kInvalidArgument);
}

TEST(ParsePodTest, RejectsMissingContainers) {
  Result<PodView> pod = ParsePod(R"({"metadata":{"name":"a","namespace":"b","uid":"u"},"spec":{}})");
  EXPECT_EQ(pod.status().code(), Code::kInvalidArgument);
}

TEST(ParsePodTest, RejectsNullDeletionTimestamp) {
  Result<PodView> pod = ParsePod(
      R"({"metadata":{"name":"a","namespace":"b","uid":"u","deletionTimestamp":null},"spec":{"containers":[]}})");
  EXPECT_EQ(pod.status().code(), Code::kInvalidArgument);
}

TEST(ParsePodTest, RejectsNonStringImageId) {
  Result<PodView> pod = ParsePod(
      R"({"metadata":{"name":"a","namespace":"b","uid":"u"},"spec":{"containers":[{"name":"c","image":"i"}]},)"
      R"("status":{"phase":"Running","containerStatuses":[{"name":"c","imageID":5}]}})");
  EXPECT_EQ(pod.status().code(), Code::kInvalidArgument);
}

// StatusPod is a running pod whose one container status carries status_extra
// (e.g. R"("restartCount":2,)").
std::string StatusPod(const std::string& status_extra) {
  return R"({"metadata":{"name":"a","namespace":"b","uid":"u"},"spec":{"containers":[{"name":"c","image":"i"}]},)"
         R"("status":{"phase":"Running","containerStatuses":[{)" + status_extra + R"("name":"c","imageID":"x"}]}})";
}

TEST(ParsePodTest, ParsesRestartCountAndContainerId) {
  PodView pod = LoadPod("pod-sidecar-containerd-digest.json");
  ASSERT_EQ(pod.container_statuses.size(), 1u);
  EXPECT_EQ(pod.container_statuses[0].restart_count, 0);
  EXPECT_EQ(pod.container_statuses[0].container_id,
            "containerd://a1848056a183e40afe3189fc4920bd565930180ebdf2f9e2daf778ea8105f93e");
  PodView all = LoadPod("pod-all-fields-roundtrip.json");
  ASSERT_EQ(all.container_statuses.size(), 1u);
  EXPECT_EQ(all.container_statuses[0].restart_count, 5);
  EXPECT_EQ(all.container_statuses[0].container_id, "containerIDValue");
  Result<PodView> absent = ParsePod(StatusPod(""));
  ASSERT_TRUE(absent.ok()) << absent.status().ToString();
  EXPECT_EQ(absent->container_statuses[0].restart_count, 0);
  EXPECT_EQ(absent->container_statuses[0].container_id, "");
  Result<PodView> max = ParsePod(StatusPod(R"("restartCount":2147483647,"containerID":"docker://x",)"));
  ASSERT_TRUE(max.ok()) << max.status().ToString();
  EXPECT_EQ(max->container_statuses[0].restart_count, 2147483647);
  EXPECT_EQ(max->container_statuses[0].container_id, "docker://x");
}

// A restartCount of the wrong type or out of int32 range makes the pod
// unparsable, as for the other fields gate 4 reads: the pin release compares
// it, so it is never guessed.
TEST(ParsePodTest, RejectsBadRestartCount) {
  for (const char* extra : {R"("restartCount":-1,)", R"("restartCount":"1",)", R"("restartCount":null,)",
                            R"("restartCount":1.5,)", R"("restartCount":2147483648,)", R"("restartCount":[1],)",
                            R"("restartCount":true,)", R"("restartCount":1e3,)"}) {
    Result<PodView> pod = ParsePod(StatusPod(extra));
    EXPECT_EQ(pod.status().code(), Code::kInvalidArgument) << extra;
  }
}

TEST(ParsePodTest, RejectsNonStringContainerId) {
  for (const char* extra : {R"("containerID":5,)", R"("containerID":null,)", R"("containerID":{},)"}) {
    Result<PodView> pod = ParsePod(StatusPod(extra));
    EXPECT_EQ(pod.status().code(), Code::kInvalidArgument) << extra;
  }
}

TEST(PodRestartsTest, PodRestartsSumsAppAndInit) {
  EXPECT_EQ(PodRestarts(LoadPod("pod-docker-pullable-running.json")), 0);
  // app 5 + init 5; the ephemeral status's count is not a restart.
  EXPECT_EQ(PodRestarts(LoadPod("pod-all-fields-roundtrip.json")), 10);
  PodView pod;
  pod.container_statuses.push_back({"app", "i", "x", 2});
  pod.container_statuses.push_back({"other", "i", "x", 1});
  pod.init_container_statuses.push_back({"sidecar", "i", "x", 4});
  pod.ephemeral_container_statuses.push_back({"debug", "i", "x", 9});
  EXPECT_EQ(PodRestarts(pod), 7);
  pod.init_container_statuses[0].restart_count = 2147483647;
  pod.container_statuses[0].restart_count = 2147483647;
  EXPECT_EQ(PodRestarts(pod), int64_t{2147483647} * 2 + 1);
}

TEST(ParsePodTest, RejectsTooDeep) {
  std::string deep = R"({"metadata":{"name":"a","namespace":"b","uid":"u","x":)";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += R"(},"spec":{"containers":[]}})";
  EXPECT_EQ(ParsePod(deep).status().code(), Code::kInvalidArgument);
}

// --- DigestFromImageId ----------------------------------------------------

TEST(DigestFromImageIdTest, AcceptsDockerPullable) {
  Result<std::string> d = DigestFromImageId(std::string("docker-pullable://k8s.gcr.io/nginx-slim@") + kNginxSlim);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, kNginxSlim);
}

TEST(DigestFromImageIdTest, AcceptsRegistryRepoDigest) {
  Result<std::string> d = DigestFromImageId(std::string("docker.io/istio/base@") + kIstioBase);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, kIstioBase);
  Result<std::string> lib = DigestFromImageId(std::string("docker.io/library/busybox@") + kBusybox);
  ASSERT_TRUE(lib.ok());
  EXPECT_EQ(*lib, kBusybox);
  Result<std::string> port = DigestFromImageId(std::string("registry.local:5000/team/app@") + kOther);
  ASSERT_TRUE(port.ok());
  EXPECT_EQ(*port, kOther);
}

TEST(DigestFromImageIdTest, AcceptsBareSha256) {
  Result<std::string> d = DigestFromImageId(kBusybox);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, kBusybox);
}

TEST(DigestFromImageIdTest, AcceptsDockerSchemeBareDigest) {
  Result<std::string> d = DigestFromImageId(std::string("docker://") + kBusybox);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, kBusybox);
}

TEST(DigestFromImageIdTest, RejectsTagOnly) {
  EXPECT_EQ(DigestFromImageId("nginx:alpine").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromImageId("docker-pullable://nginx:1.25").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromImageId("docker.io/library/nginx:latest").status().code(), Code::kInvalidArgument);
}

TEST(DigestFromImageIdTest, RejectsEmpty) {
  EXPECT_EQ(DigestFromImageId("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromImageId("docker-pullable://").status().code(), Code::kInvalidArgument);
}

TEST(DigestFromImageIdTest, RejectsShortDigest) {
  std::string shorter(kBusybox);
  shorter.pop_back();
  EXPECT_EQ(DigestFromImageId(shorter).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromImageId(std::string(kBusybox) + "0").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromImageId("nginx@sha256:").status().code(), Code::kInvalidArgument);
}

TEST(DigestFromImageIdTest, RejectsUppercaseHex) {
  std::string upper = std::string("nginx@") + kBusybox;
  for (size_t i = upper.find("sha256:") + 7; i < upper.size(); ++i) {
    if (upper[i] >= 'a' && upper[i] <= 'f') upper[i] = static_cast<char>(upper[i] - 'a' + 'A');
  }
  EXPECT_EQ(DigestFromImageId(upper).status().code(), Code::kInvalidArgument);
}

TEST(DigestFromImageIdTest, RejectsSha512) {
  std::string sha512 = "nginx@sha512:" + std::string(128, 'a');
  EXPECT_EQ(DigestFromImageId(sha512).status().code(), Code::kInvalidArgument);
}

TEST(DigestFromImageIdTest, RejectsContainerdScheme) {
  // containerd:// prefixes container IDs, never image IDs.
  EXPECT_EQ(DigestFromImageId(std::string("containerd://") + kBusybox).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromImageId(std::string("cri-o://") + kBusybox).status().code(), Code::kInvalidArgument);
}

TEST(DigestFromImageIdTest, RejectsMalformedReferences) {
  EXPECT_EQ(DigestFromImageId(std::string("@") + kBusybox).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromImageId(std::string("a@b@") + kBusybox).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromImageId(std::string("nginx @") + kBusybox).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromImageId(std::string(kBusybox) + "\n").status().code(), Code::kInvalidArgument);
  std::string nonhex = kBusybox;
  nonhex.back() = 'g';
  EXPECT_EQ(DigestFromImageId(nonhex).status().code(), Code::kInvalidArgument);
}

// --- EvaluatePod ----------------------------------------------------------

TEST(EvaluatePodTest, AllowsRunningPodWithAllowedDigests) {
  PodView single = LoadPod("pod-docker-pullable-running.json");
  EXPECT_TRUE(EvaluatePod(single, ExpectFor(single, {kNginxSlim})).ok());
  PodView init = LoadPod("pod-init-containers-docker-pullable.json");
  EXPECT_TRUE(EvaluatePod(init, ExpectFor(init, {kNginxAlpine})).ok());
  PodView sidecar = LoadPod("pod-sidecar-containerd-digest.json");
  GateDecision d = DecidePod(sidecar, ExpectFor(sidecar, {kIstioBase, kOther}));
  EXPECT_TRUE(d.allowed()) << d.reason;
  EXPECT_EQ(d.code, Code::kOk);
}

TEST(EvaluatePodTest, RefusesUidMismatch) {
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  PodExpectation expect = ExpectFor(pod, {kNginxSlim});
  expect.uid = "00000000-0000-0000-0000-000000000000";
  Status s = EvaluatePod(pod, expect);
  EXPECT_EQ(s.code(), Code::kPodNotLive);
  EXPECT_NE(s.message().find("UID"), std::string::npos);
}

TEST(EvaluatePodTest, RefusesOtherPodName) {
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  PodExpectation expect = ExpectFor(pod, {kNginxSlim});
  expect.name = "another";
  EXPECT_EQ(EvaluatePod(pod, expect).code(), Code::kPodNotLive);
  expect = ExpectFor(pod, {kNginxSlim});
  expect.ns = "kube-system";
  EXPECT_EQ(EvaluatePod(pod, expect).code(), Code::kPodNotLive);
}

TEST(EvaluatePodTest, RefusesServiceAccountMismatch) {
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  ASSERT_EQ(pod.service_account, "default");
  GateDecision d = DecidePod(pod, ExpectFor(pod, {kNginxSlim}, "payments-api"));
  EXPECT_EQ(d.code, Code::kPodNotLive);
  EXPECT_NE(d.reason.find("runs as ServiceAccount default, not the token's payments-api"), std::string::npos)
      << d.reason;
  EXPECT_EQ(d.container, "");
  // The comparison is exact: no case folding, no prefix match.
  EXPECT_EQ(EvaluatePod(pod, ExpectFor(pod, {kNginxSlim}, "Default")).code(), Code::kPodNotLive);
  EXPECT_EQ(EvaluatePod(pod, ExpectFor(pod, {kNginxSlim}, "default2")).code(), Code::kPodNotLive);
  EXPECT_EQ(EvaluatePod(pod, ExpectFor(pod, {kNginxSlim}, "system:serviceaccount:default:default")).code(),
            Code::kPodNotLive);
  // The same pod running as the token's ServiceAccount is allowed.
  pod.service_account = "payments-api";
  EXPECT_TRUE(EvaluatePod(pod, ExpectFor(pod, {kNginxSlim}, "payments-api")).ok());
}

TEST(EvaluatePodTest, RefusesMissingServiceAccountName) {
  // A pod whose spec names no ServiceAccount (neither field) never matches.
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  pod.service_account.clear();
  GateDecision d = DecidePod(pod, ExpectFor(pod, {kNginxSlim}));
  EXPECT_EQ(d.code, Code::kPodNotLive);
  EXPECT_NE(d.reason.find("names no ServiceAccount"), std::string::npos) << d.reason;
  // Nor does an expectation without one, even against a pod without one.
  PodView named = LoadPod("pod-docker-pullable-running.json");
  EXPECT_EQ(EvaluatePod(named, ExpectFor(named, {kNginxSlim}, "")).code(), Code::kPodNotLive);
  EXPECT_EQ(EvaluatePod(pod, ExpectFor(pod, {kNginxSlim}, "")).code(), Code::kPodNotLive);
  // A positional initialiser that predates service_account leaves it empty.
  EXPECT_EQ(EvaluatePod(named, PodExpectation{named.ns, named.name, named.uid, {kNginxSlim}}).code(),
            Code::kPodNotLive);
  // Parsed from JSON with neither field: refused.
  Result<PodView> parsed = ParsePod(MinimalPod(""));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(DecidePod(*parsed, PodExpectation{"b", "a", "u", {kNginxSlim}, "default"}).code, Code::kPodNotLive);
}

TEST(EvaluatePodTest, RefusesDeletionTimestamp) {
  PodView pod = LoadPod("pod-derived-terminating-ephemeral.json");
  ASSERT_EQ(pod.phase, "Running");  // only the deletionTimestamp makes it not live
  GateDecision d = DecidePod(pod, ExpectFor(pod, {kNginxAlpine, kBusybox}));
  EXPECT_EQ(d.code, Code::kPodNotLive);
  EXPECT_NE(d.reason.find("terminating"), std::string::npos);
}

TEST(EvaluatePodTest, RefusesPending) {
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  for (const char* phase : {"Pending", "Succeeded", "Failed", "Unknown", ""}) {
    pod.phase = phase;
    EXPECT_EQ(EvaluatePod(pod, ExpectFor(pod, {kNginxSlim})).code(), Code::kPodNotLive) << phase;
  }
}

TEST(EvaluatePodTest, RefusesUnapprovedImage) {
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  GateDecision d = DecidePod(pod, ExpectFor(pod, {kOther}));
  EXPECT_EQ(d.code, Code::kImageNotAllowed);
  EXPECT_EQ(d.container, "nginx");
  EXPECT_NE(d.reason.find(kNginxSlim), std::string::npos);
  EXPECT_EQ(DecidePod(pod, ExpectFor(pod, {})).code, Code::kImageNotAllowed);
}

TEST(EvaluatePodTest, RefusesUnapprovedInitContainer) {
  PodView pod = LoadPod("pod-init-containers-docker-pullable.json");
  pod.init_container_statuses[0].image_id = std::string("docker-pullable://evil@") + kOther;
  GateDecision d = DecidePod(pod, ExpectFor(pod, {kNginxAlpine}));
  EXPECT_EQ(d.code, Code::kImageNotAllowed);
  EXPECT_EQ(d.container, "ic1");
}

TEST(EvaluatePodTest, RefusesUnapprovedSidecar) {
  PodView pod = LoadPod("pod-sidecar-containerd-digest.json");
  ASSERT_EQ(pod.init_container_statuses[1].name, "sidecar");
  pod.init_container_statuses[1].image_id = std::string("docker.io/evil/proxy@") + kOther;
  GateDecision d = DecidePod(pod, ExpectFor(pod, {kIstioBase}));
  EXPECT_EQ(d.code, Code::kImageNotAllowed);
  EXPECT_EQ(d.container, "sidecar");
}

TEST(EvaluatePodTest, RefusesUnapprovedEphemeralContainer) {
  PodView pod = LoadPod("pod-derived-terminating-ephemeral.json");
  pod.deletion_timestamp.reset();  // a live pod with a debug container attached
  // Allowed without the busybox debugger...
  EXPECT_TRUE(EvaluatePod(pod, ExpectFor(pod, {kNginxAlpine, kBusybox})).ok());
  // ...refused with it.
  GateDecision d = DecidePod(pod, ExpectFor(pod, {kNginxAlpine}));
  EXPECT_EQ(d.code, Code::kImageNotAllowed);
  EXPECT_EQ(d.container, "debugger-7x2kq");
  EXPECT_NE(d.reason.find("ephemeral"), std::string::npos);
}

TEST(EvaluatePodTest, RefusesContainerWithoutStatus) {
  PodView pod = LoadPod("pod-init-containers-docker-pullable.json");
  pod.container_statuses.clear();
  GateDecision d = DecidePod(pod, ExpectFor(pod, {kNginxAlpine}));
  EXPECT_EQ(d.code, Code::kImageNotAllowed);
  EXPECT_EQ(d.container, "nginx");

  // An ephemeral container added to the spec but not yet reported.
  PodView eph = LoadPod("pod-derived-terminating-ephemeral.json");
  eph.deletion_timestamp.reset();
  eph.ephemeral_container_statuses.clear();
  EXPECT_EQ(DecidePod(eph, ExpectFor(eph, {kNginxAlpine, kBusybox})).code, Code::kImageNotAllowed);
}

TEST(EvaluatePodTest, RefusesDuplicateStatus) {
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  pod.container_statuses.push_back(pod.container_statuses[0]);
  EXPECT_EQ(EvaluatePod(pod, ExpectFor(pod, {kNginxSlim})).code(), Code::kImageNotAllowed);
}

TEST(EvaluatePodTest, RefusesStatusOfAnotherList) {
  // A status in containerStatuses does not vouch for an init container.
  PodView pod = LoadPod("pod-init-containers-docker-pullable.json");
  pod.init_container_statuses[0].name = "other";
  pod.container_statuses.push_back({"ic1", "nginx:alpine", std::string("docker-pullable://nginx@") + kNginxAlpine});
  EXPECT_EQ(EvaluatePod(pod, ExpectFor(pod, {kNginxAlpine})).code(), Code::kImageNotAllowed);
}

TEST(EvaluatePodTest, RefusesDuplicateContainerNames) {
  const std::string image_id = std::string("docker-pullable://nginx@") + kNginxAlpine;
  // Same list: two app containers named "nginx", each with "its" status.
  PodView same = LoadPod("pod-init-containers-docker-pullable.json");
  ASSERT_TRUE(EvaluatePod(same, ExpectFor(same, {kNginxAlpine})).ok());
  same.containers.push_back({"nginx", "nginx:alpine"});
  GateDecision d = DecidePod(same, ExpectFor(same, {kNginxAlpine}));
  EXPECT_EQ(d.code, Code::kImageNotAllowed);
  EXPECT_EQ(d.container, "nginx");
  EXPECT_NE(d.reason.find("more than once"), std::string::npos) << d.reason;

  // Across lists: an init container named like an app container, each with
  // an allowlisted status in its own list (so only the duplicate refuses).
  PodView init = LoadPod("pod-init-containers-docker-pullable.json");
  init.init_containers[0].name = "nginx";
  init.init_container_statuses[0].name = "nginx";
  init.init_container_statuses[0].image_id = image_id;
  d = DecidePod(init, ExpectFor(init, {kNginxAlpine}));
  EXPECT_EQ(d.code, Code::kImageNotAllowed);
  EXPECT_EQ(d.container, "nginx");

  // An ephemeral container named like the app container, its status in the
  // ephemeral list running an allowlisted digest.
  PodView eph = LoadPod("pod-derived-terminating-ephemeral.json");
  eph.deletion_timestamp.reset();
  ASSERT_TRUE(EvaluatePod(eph, ExpectFor(eph, {kNginxAlpine, kBusybox})).ok());
  eph.ephemeral_containers[0].name = "nginx";
  eph.ephemeral_container_statuses[0].name = "nginx";
  d = DecidePod(eph, ExpectFor(eph, {kNginxAlpine, kBusybox}));
  EXPECT_EQ(d.code, Code::kImageNotAllowed);
  EXPECT_EQ(d.container, "nginx");
  EXPECT_NE(d.reason.find("more than once"), std::string::npos) << d.reason;

  // An ephemeral container named like an init container.
  PodView eph_init = LoadPod("pod-derived-terminating-ephemeral.json");
  eph_init.deletion_timestamp.reset();
  eph_init.ephemeral_containers[0].name = "ic1";
  eph_init.ephemeral_container_statuses[0].name = "ic1";
  EXPECT_EQ(DecidePod(eph_init, ExpectFor(eph_init, {kNginxAlpine, kBusybox})).code, Code::kImageNotAllowed);
}

TEST(EvaluatePodTest, RefusesTagOnlyImageId) {
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  pod.container_statuses[0].image_id = "k8s.gcr.io/nginx-slim:0.8";
  GateDecision d = DecidePod(pod, ExpectFor(pod, {kNginxSlim}));
  EXPECT_EQ(d.code, Code::kImageNotAllowed);
  EXPECT_NE(d.reason.find("no usable sha256 digest"), std::string::npos);
  pod.container_statuses[0].image_id = "";
  EXPECT_EQ(EvaluatePod(pod, ExpectFor(pod, {kNginxSlim})).code(), Code::kImageNotAllowed);
}

TEST(EvaluatePodTest, RefusesPodWithoutContainers) {
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  pod.containers.clear();
  EXPECT_EQ(EvaluatePod(pod, ExpectFor(pod, {kNginxSlim})).code(), Code::kImageNotAllowed);
}

TEST(EvaluatePodTest, ReasonHasNoControlBytes) {
  PodView pod = LoadPod("pod-docker-pullable-running.json");
  pod.container_statuses[0].image_id = "evil\nFORGED audit line";
  GateDecision d = DecidePod(pod, ExpectFor(pod, {kNginxSlim}));
  EXPECT_EQ(d.code, Code::kImageNotAllowed);
  EXPECT_EQ(d.reason.find('\n'), std::string::npos);
}

TEST(EvaluatePodTest, AllFieldsRoundtripIsRefused) {
  PodView pod = LoadPod("pod-all-fields-roundtrip.json");
  EXPECT_EQ(EvaluatePod(pod, ExpectFor(pod, {kNginxSlim}, "serviceAccountNameValue")).code(), Code::kPodNotLive);
}

}  // namespace
}  // namespace astis::kube
