// Which requests a MutatingWebhookConfiguration selects (k8s.io/apiserver
// webhook/predicates: rules, namespaceSelector, objectSelector) and what
// its validation refuses, without the network.
#include <gtest/gtest.h>

#include "common/json.h"
#include "kube-standin/admission.h"

namespace astis::kubestandin {
namespace {

Json J(const char* text) {
  Result<Json> j = ParseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

bool Sel(const char* selector, const char* labels) {
  Result<bool> r = LabelSelectorMatches(J(selector), J(labels));
  EXPECT_TRUE(r.ok()) << selector;
  return r.ok() && *r;
}

TEST(AdmissionMatchTest, LabelSelectorOperators) {
  EXPECT_TRUE(Sel("{}", "{}"));  // empty selects everything
  EXPECT_TRUE(Sel(R"({"matchLabels":{"a":"1"}})", R"({"a":"1","b":"2"})"));
  EXPECT_FALSE(Sel(R"({"matchLabels":{"a":"1"}})", R"({"a":"2"})"));
  EXPECT_FALSE(Sel(R"({"matchLabels":{"a":"1"}})", "{}"));
  const char* in = R"({"matchExpressions":[{"key":"a","operator":"In","values":["1","2"]}]})";
  EXPECT_TRUE(Sel(in, R"({"a":"2"})"));
  EXPECT_FALSE(Sel(in, R"({"a":"3"})"));
  EXPECT_FALSE(Sel(in, "{}"));
  const char* notin = R"({"matchExpressions":[{"key":"a","operator":"NotIn","values":["1"]}]})";
  EXPECT_TRUE(Sel(notin, "{}"));  // NotIn matches a missing key
  EXPECT_TRUE(Sel(notin, R"({"a":"2"})"));
  EXPECT_FALSE(Sel(notin, R"({"a":"1"})"));
  EXPECT_TRUE(Sel(R"({"matchExpressions":[{"key":"a","operator":"Exists"}]})", R"({"a":""})"));
  EXPECT_FALSE(Sel(R"({"matchExpressions":[{"key":"a","operator":"Exists"}]})", "{}"));
  EXPECT_TRUE(Sel(R"({"matchExpressions":[{"key":"a","operator":"DoesNotExist"}]})", "{}"));
  EXPECT_FALSE(Sel(R"({"matchExpressions":[{"key":"a","operator":"DoesNotExist"}]})", R"({"a":"1"})"));
  // matchLabels AND matchExpressions.
  EXPECT_FALSE(
      Sel(R"({"matchLabels":{"a":"1"},"matchExpressions":[{"key":"b","operator":"Exists"}]})", R"({"a":"1"})"));
}

TEST(AdmissionMatchTest, RefusesBadSelectors) {
  for (const char* bad : {R"({"matchExpressions":[{"key":"a","operator":"Like","values":["1"]}]})",
                          R"({"matchExpressions":[{"key":"a","operator":"In","values":[]}]})",
                          R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["1"]}]})",
                          R"({"matchExpressions":[{"operator":"Exists"}]})", R"({"matchLabels":{"a":1}})", "[]"}) {
    EXPECT_EQ(LabelSelectorMatches(J(bad), J("{}")).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(AdmissionMatchTest, RuleFields) {
  AdmissionAttributes pod;  // CREATE v1 pods in a namespace
  pod.ns = "default";
  EXPECT_TRUE(
      RuleMatches(J(R"({"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"]})"), pod));
  EXPECT_TRUE(RuleMatches(J(R"({"operations":["*"],"apiGroups":["*"],"apiVersions":["*"],"resources":["*"]})"), pod));
  EXPECT_TRUE(RuleMatches(J(R"({"operations":["*"],"apiGroups":["*"],"apiVersions":["*"],"resources":["*/*"]})"), pod));
  EXPECT_FALSE(
      RuleMatches(J(R"({"operations":["UPDATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"]})"), pod));
  EXPECT_FALSE(RuleMatches(
      J(R"({"operations":["CREATE"],"apiGroups":["apps"],"apiVersions":["v1"],"resources":["pods"]})"), pod));
  EXPECT_FALSE(
      RuleMatches(J(R"({"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v2"],"resources":["pods"]})"), pod));
  EXPECT_FALSE(RuleMatches(
      J(R"({"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["secrets"]})"), pod));
  // "pods/*": the sub-part "*" also matches no subresource (predicates/rules
  // resource(): subMatch := sub == "*" || sub == opSub); "pods" alone
  // does not select pods/status.
  EXPECT_TRUE(
      RuleMatches(J(R"({"operations":["*"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods/*"]})"), pod));
  AdmissionAttributes status = pod;
  status.subresource = "status";
  EXPECT_TRUE(
      RuleMatches(J(R"({"operations":["*"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods/*"]})"), status));
  EXPECT_FALSE(
      RuleMatches(J(R"({"operations":["*"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"]})"), status));
  // scope: Namespaced selects namespaced objects, Cluster the others.
  const char* ns =
      R"({"operations":["*"],"apiGroups":["*"],"apiVersions":["*"],"resources":["*"],"scope":"Namespaced"})";
  const char* cl = R"({"operations":["*"],"apiGroups":["*"],"apiVersions":["*"],"resources":["*"],"scope":"Cluster"})";
  EXPECT_TRUE(RuleMatches(J(ns), pod));
  EXPECT_FALSE(RuleMatches(J(cl), pod));
  AdmissionAttributes cluster = pod;
  cluster.ns = "";
  EXPECT_TRUE(RuleMatches(J(cl), cluster));
  EXPECT_FALSE(RuleMatches(J(ns), cluster));
}

TEST(AdmissionMatchTest, WebhookConfigurationValidation) {
  const char* good = R"({"metadata":{"name":"c"},"webhooks":[{"name":"hook.astis.example",
      "clientConfig":{"url":"https://127.0.0.1:1/m"},"sideEffects":"None","admissionReviewVersions":["v1"]}]})";
  Json c = J(good);
  ASSERT_TRUE(ValidateMutatingWebhookConfiguration(c).ok());
  // The v1 defaults.
  EXPECT_EQ(c["webhooks"][0]["failurePolicy"], "Fail");
  EXPECT_EQ(c["webhooks"][0]["timeoutSeconds"], 10);
  EXPECT_EQ(c["webhooks"][0]["reinvocationPolicy"], "Never");
  EXPECT_EQ(c["webhooks"][0]["namespaceSelector"], Json::object());
  const std::vector<std::pair<std::string, Json>> bad = {
      {"/webhooks/0/name", "hook"},
      {"/webhooks/0/sideEffects", "Some"},
      {"/webhooks/0/admissionReviewVersions", Json::array({"v1beta1"})},
      {"/webhooks/0/clientConfig", Json::object()},
      {"/webhooks/0/clientConfig/url", "http://127.0.0.1:1/m"},
      {"/webhooks/0/clientConfig/service", Json{{"name", "s"}}},
      {"/webhooks/0/failurePolicy", "Sometimes"},
      {"/webhooks/0/timeoutSeconds", 31},
      {"/webhooks/0/timeoutSeconds", 0},
      {"/webhooks/0/reinvocationPolicy", "Always"},
      {"/webhooks/0/objectSelector", J(R"({"matchExpressions":[{"key":"a","operator":"Like"}]})")},
  };
  for (const auto& [pointer, value] : bad) {
    Json b = J(good);
    b[Json::json_pointer(pointer)] = value;
    EXPECT_EQ(ValidateMutatingWebhookConfiguration(b).code(), Code::kInvalidArgument) << pointer << " " << value;
  }
  Json dup = J(good);
  dup["webhooks"].push_back(dup["webhooks"][0]);
  EXPECT_EQ(ValidateMutatingWebhookConfiguration(dup).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::kubestandin
