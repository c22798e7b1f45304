#include "lint/contract.h"

#include <gtest/gtest.h>

namespace astis::lint {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

Json Valid() {
  return Json{{"cluster", "prod-eu1"},
              {"namespace", "payments"},
              {"serviceAccount", "api"},
              {"image", "registry.example.com/payments/api"},
              {"imageDigests", {kDigest}},
              {"secrets", {{{"name", "db-creds"}, {"keys", {"password"}}}}},
              {"edgeUrl", "https://edge.example.com"}};
}

TEST(ContractTest, AcceptsValidAndFillsDefaults) {
  auto c = ContractFromJson(Valid());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->app(), "api");
  EXPECT_EQ(c->audience(), "astis");
  EXPECT_EQ(c->token_expiration_seconds(), 3600);
  EXPECT_EQ(c->image_digests().at(0), kDigest);
  EXPECT_EQ(c->ToJson().at("audience"), "astis");
  auto again = ContractFromJson(c->ToJson());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ToJson(), c->ToJson());
}

TEST(ContractTest, ParsesYaml) {
  auto c = ParseContract(
      "cluster: prod-eu1\nnamespace: payments\nserviceAccount: api\nimage: registry.example.com/api\n"
      "imageDigests: [\"" + kDigest + "\"]\nsecrets:\n- name: db-creds\n  keys: [password, user]\n"
      "edgeUrl: https://edge.example.com\naudience: astis-prod\ntokenExpirationSeconds: 600\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->audience(), "astis-prod");
  EXPECT_EQ(c->token_expiration_seconds(), 600);
  EXPECT_EQ(c->secrets().at(0).keys.size(), 2u);
}

TEST(ContractTest, ParsesJson) {
  auto c = ParseContract(Valid().dump());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->cluster(), "prod-eu1");
}

void ExpectRejected(const Json& j, std::string_view member) {
  auto c = ContractFromJson(j);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find(member), std::string::npos) << c.status().message();
}

TEST(ContractTest, RejectsMissingRequired) {
  for (const char* m : {"cluster", "namespace", "serviceAccount", "image", "imageDigests", "secrets", "edgeUrl"}) {
    Json j = Valid();
    j.erase(m);
    ExpectRejected(j, m);
  }
}

TEST(ContractTest, AdditionalClustersAreDistinctLabels) {
  Json j = Valid();
  j["additionalClusters"] = {"prod-us1", "dr-1"};
  auto c = ContractFromJson(j);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->seal_clusters(), (std::vector<std::string>{"dr-1", "prod-eu1", "prod-us1"}));
  EXPECT_EQ(c->ToJson()["additionalClusters"], Json({"prod-us1", "dr-1"}));
  EXPECT_EQ(ContractFromJson(Valid())->seal_clusters(), std::vector<std::string>{"prod-eu1"});
  for (Json bad : {Json{"Prod"}, Json{"prod-eu1"}, Json{"a", "a"}, Json{"a,b"}, Json("prod-us1"), Json{1}}) {
    j["additionalClusters"] = bad;
    EXPECT_FALSE(ContractFromJson(j).ok()) << bad;
  }
  Json sixteen = Json::array();
  for (int i = 0; i < 16; ++i) sixteen.push_back("c" + std::to_string(i));
  j["additionalClusters"] = sixteen;  // 17 with cluster
  EXPECT_FALSE(ContractFromJson(j).ok());
  sixteen.erase(sixteen.begin());
  j["additionalClusters"] = sixteen;  // 16 with cluster
  EXPECT_TRUE(ContractFromJson(j).ok());
}

TEST(ContractTest, OrganizationIsALabel) {
  Json j = Valid();
  j["organization"] = "acme-eu";
  auto c = ContractFromJson(j);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->organization(), "acme-eu");
  EXPECT_EQ(c->ToJson().value("organization", ""), "acme-eu");
  auto none = ContractFromJson(Valid());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->organization().empty());
  EXPECT_FALSE(none->ToJson().contains("organization"));
  for (const char* bad : {"Acme", "acme/eu", "", "-acme"}) {
    j["organization"] = bad;
    ExpectRejected(j, "organization");
  }
  j["organization"] = 7;
  ExpectRejected(j, "organization");
}

TEST(ContractTest, RejectsUnknownMember) {
  Json j = Valid();
  j["extra"] = 1;
  ExpectRejected(j, "unknown member");
}

TEST(ContractTest, RejectsBadLabels) {
  Json j = Valid();
  j["namespace"] = "Payments";
  ExpectRejected(j, "namespace");
  j = Valid();
  j["serviceAccount"] = "api\nx";
  ExpectRejected(j, "serviceAccount");
}

// docs/protocol.md §3.1: serviceAccount is a DNS-1123 subdomain.
TEST(ContractTest, AcceptsSubdomainServiceAccount) {
  Json j = Valid();
  j["serviceAccount"] = "my.sa";
  j["app"] = "api";
  auto c = ContractFromJson(j);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->service_account(), "my.sa");
  EXPECT_EQ(c->app(), "api");
  auto again = ContractFromJson(c->ToJson());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->service_account(), "my.sa");
  for (const char* bad : {"My.SA", "-sa", "sa.", "a..b", "my_sa"}) {
    j["serviceAccount"] = bad;
    ExpectRejected(j, "serviceAccount");
  }
  j["serviceAccount"] = std::string(254, 's');
  ExpectRejected(j, "serviceAccount");
}

// app (the container name) must be a DNS-1123 label, so it no longer
// defaults to a ServiceAccount name that is not one.
TEST(ContractTest, RequiresAppForNonLabelServiceAccount) {
  Json j = Valid();
  j["serviceAccount"] = "my.sa";
  ExpectRejected(j, "app");
  j["serviceAccount"] = std::string(64, 's');
  ExpectRejected(j, "app");
  j["app"] = "my.sa";
  ExpectRejected(j, "app");
}

TEST(ContractTest, RejectsBadDigest) {
  for (const std::string& bad : {"sha256:" + std::string(63, 'a'), "sha256:" + std::string(64, 'A'),
                                std::string("latest"), "sha512:" + std::string(64, 'a')}) {
    Json j = Valid();
    j["imageDigests"] = {bad};
    ExpectRejected(j, "imageDigests");
  }
}

TEST(ContractTest, RejectsImageWithTagOrDigest) {
  for (const char* bad : {"registry.example.com/api:latest", "api@sha256:00", "API", ""}) {
    Json j = Valid();
    j["image"] = bad;
    ExpectRejected(j, "image");
  }
  Json j = Valid();
  j["image"] = "registry.example.com:5000/team/api";
  EXPECT_TRUE(ContractFromJson(j).ok());
}

TEST(ContractTest, RejectsHttpEdgeUrl) {
  Json j = Valid();
  j["edgeUrl"] = "http://edge.example.com";
  ExpectRejected(j, "edgeUrl");
  j["edgeUrl"] = "https://edge.example.com $(id)";
  ExpectRejected(j, "edgeUrl");
}

TEST(ContractTest, RejectsShortTokenExpiration) {
  Json j = Valid();
  j["tokenExpirationSeconds"] = 599;
  ExpectRejected(j, "tokenExpirationSeconds");
  j["tokenExpirationSeconds"] = "3600";
  ExpectRejected(j, "tokenExpirationSeconds");
  j["tokenExpirationSeconds"] = 600;
  EXPECT_TRUE(ContractFromJson(j).ok());
}

TEST(ContractTest, RejectsDuplicateKeyAcrossSecrets) {
  Json j = Valid();
  j["secrets"] = {{{"name", "a"}, {"keys", {"password"}}}, {{"name", "b"}, {"keys", {"password"}}}};
  ExpectRejected(j, "secrets[].keys");
}

TEST(ContractTest, RejectsBadSecretKeys) {
  for (const char* bad : {"..data", "a/b", ""}) {
    Json j = Valid();
    j["secrets"] = {{{"name", "a"}, {"keys", {bad}}}};
    ExpectRejected(j, "secrets[].keys");
  }
  Json j = Valid();
  j["secrets"] = Json::array();
  ExpectRejected(j, "secrets");
}

TEST(ContractTest, RejectsMultipleDocumentsAndDuplicateKeys) {
  EXPECT_FALSE(ParseContract(Valid().dump() + "\n---\n" + Valid().dump()).ok());
  EXPECT_FALSE(ParseContract("cluster: a\ncluster: b\n").ok());
  EXPECT_FALSE(ParseContract("").ok());
}

}  // namespace
}  // namespace astis::lint
