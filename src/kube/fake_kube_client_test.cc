#include "kube/testing/fake_kube_client.h"

#include <gtest/gtest.h>

namespace astis::kube::testing {
namespace {

PodView Pod(const std::string& ns, const std::string& name) {
  PodView pod;
  pod.ns = ns;
  pod.name = name;
  pod.uid = "uid-" + name;
  pod.phase = "Running";
  return pod;
}

TEST(FakeKubeClientTest, ServesStoredPod) {
  FakeKubeClient fake;
  fake.PutPod(Pod("payments", "api-1"));
  Result<PodView> pod = fake.GetPod("payments", "api-1");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->uid, "uid-api-1");
  EXPECT_EQ(fake.get_pod_calls(), 1u);
  EXPECT_TRUE(fake.Ping().ok());
}

TEST(FakeKubeClientTest, MissingPodIsPodNotLive) {
  FakeKubeClient fake;
  fake.PutPod(Pod("payments", "api-1"));
  EXPECT_EQ(fake.GetPod("payments", "api-2").status().code(), Code::kPodNotLive);
  EXPECT_EQ(fake.GetPod("other", "api-1").status().code(), Code::kPodNotLive);
  fake.RemovePod("payments", "api-1");
  EXPECT_EQ(fake.GetPod("payments", "api-1").status().code(), Code::kPodNotLive);
}

TEST(FakeKubeClientTest, UnavailableIsKubeUnavailable) {
  FakeKubeClient fake;
  fake.PutPod(Pod("payments", "api-1"));
  fake.SetUnavailable(true);
  EXPECT_EQ(fake.GetPod("payments", "api-1").status().code(), Code::kKubeUnavailable);
  EXPECT_EQ(fake.Ping().code(), Code::kKubeUnavailable);
  fake.SetUnavailable(false);
  EXPECT_TRUE(fake.GetPod("payments", "api-1").ok());
}

TEST(FakeKubeClientTest, PutPodJsonRejectsBadJson) {
  FakeKubeClient fake;
  EXPECT_EQ(fake.PutPodJson("{").code(), Code::kInvalidArgument);
  EXPECT_TRUE(fake.PutPodJson(R"({"metadata":{"name":"p","namespace":"n","uid":"u"},"spec":{"containers":[]}})").ok());
  EXPECT_TRUE(fake.GetPod("n", "p").ok());
}

}  // namespace
}  // namespace astis::kube::testing
