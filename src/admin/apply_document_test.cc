// Tests of the `astis apply` document parser (admin/apply_document.h): what
// it reads, and that every refusal names the file, the document and the
// field.
#include "admin/apply_document.h"

#include <gtest/gtest.h>

#include <string>

#include "common/json.h"
#include "crypto/public_key.h"

namespace astis::admin {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

std::string Jwks() {
  auto key = SigningKey::GenerateEc(PublicKeyKind::kEcP256);
  EXPECT_TRUE(key.ok());
  Json jwk = key->PublicJwkMembers();
  jwk["kid"] = "ec-1";
  return DumpJson(Json{{"keys", Json::array({jwk})}});
}

std::string ClusterDoc(const std::string& name, const std::string& jwks_line, const std::string& api_url) {
  return "apiVersion: astis.dev/v1\nkind: Cluster\nmetadata:\n  name: " + name +
         "\nspec:\n  issuer: https://issuer\n" + jwks_line + "\n  apiUrl: " + api_url +
         "\n  caFile: /etc/astis/ca.pem\n  tokenFile: /etc/astis/token\n  mode: audit\n";
}

std::string WorkloadDoc(const std::string& image) {
  return "apiVersion: astis.dev/v1\nkind: Workload\nspec:\n  cluster: prod\n  namespace: payments\n"
         "  serviceAccount: api\n  images:\n  - " + image + "\n";
}

class ApplyDocumentTest : public ::testing::Test {
 protected:
  Status Parse(const std::string& text, std::string file = "config.yaml") {
    return ParseApplyFile(file, text, [this](const std::string& path) -> Result<std::string> {
      read_paths_.push_back(path);
      if (path == "jwks/prod.json") return jwks_;
      return Error(Code::kNotFound, "no such file");
    }, docs_);
  }
  std::string jwks_ = Jwks();
  ApplyDocuments docs_;
  std::vector<std::string> read_paths_;
};

TEST_F(ApplyDocumentTest, ReadsClustersAndWorkloads) {
  const std::string text = ClusterDoc("prod", "  jwks: '" + jwks_ + "'", "https://10.0.0.1:6443") + "---\n" +
                           ClusterDoc("dev", "  jwksFile: jwks/prod.json", "https://10.0.0.2:6443") + "---\n" +
                           WorkloadDoc(kDigest);
  ASSERT_TRUE(Parse(text).ok()) << Parse(text).ToString();
  ASSERT_EQ(docs_.clusters.size(), 2u);
  EXPECT_EQ(docs_.clusters[0].name, "prod");
  EXPECT_EQ(docs_.clusters[0].jwks_json, jwks_);
  EXPECT_EQ(docs_.clusters[0].mode, "audit");
  EXPECT_EQ(docs_.clusters[0].audience, "astis");
  EXPECT_EQ(docs_.clusters[1].jwks_json, jwks_);
  EXPECT_EQ(read_paths_, std::vector<std::string>{"jwks/prod.json"});
  ASSERT_EQ(docs_.workloads.size(), 1u);
  EXPECT_EQ(docs_.workloads[0].service_account, "api");
  EXPECT_EQ(docs_.workloads[0].image_digests, std::vector<std::string>{kDigest});
  EXPECT_EQ(docs_.org, "");
}

TEST_F(ApplyDocumentTest, JwksAsMapping) {
  Json jwks = ParseJson(jwks_, JsonLimits{1 << 20, 16}).value();
  std::string text = ClusterDoc("prod", "  jwks: " + DumpJson(jwks), "https://10.0.0.1:6443");
  ASSERT_TRUE(Parse(text).ok()) << Parse(text).ToString();
  EXPECT_EQ(docs_.clusters[0].jwks_json, DumpJson(jwks));
}

TEST_F(ApplyDocumentTest, NamesFileDocumentAndField) {
  const std::string text = WorkloadDoc(kDigest) + "---\n" +
                           ClusterDoc("prod", "  jwks: '" + jwks_ + "'", "http://10.0.0.1:6443");
  Status s = Parse(text, "repo/prod.yaml");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("repo/prod.yaml: document 2 (Cluster/prod): spec.apiUrl: must be an https:// URL"),
            std::string::npos)
      << s.message();
}

TEST_F(ApplyDocumentTest, RejectsTag) {
  Status s = Parse(WorkloadDoc("registry.example/api:1.2"));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("config.yaml: document 1 (Workload/prod/payments/api): spec.images[0]: must be sha256:"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(s.message().find("registry.example"), std::string::npos) << "never echoes the value";
}

TEST_F(ApplyDocumentTest, RejectsBadJwks) {
  Status s = Parse(ClusterDoc("prod", "  jwks: '{\"keys\": 3}'", "https://10.0.0.1:6443"));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("document 1 (Cluster/prod): spec.jwks: "), std::string::npos) << s.message();
}

TEST_F(ApplyDocumentTest, RejectsMissingJwksFile) {
  Status s = Parse(ClusterDoc("prod", "  jwksFile: missing.json", "https://10.0.0.1:6443"));
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find("(Cluster/prod): spec.jwksFile: "), std::string::npos) << s.message();
}

TEST_F(ApplyDocumentTest, RejectsBothJwksForms) {
  Status s = Parse(ClusterDoc("prod", "  jwksFile: jwks/prod.json\n  jwks: '" + jwks_ + "'", "https://a:1"));
  EXPECT_NE(s.message().find("spec.jwks: give exactly one of jwks and jwksFile"), std::string::npos) << s.message();
}

TEST_F(ApplyDocumentTest, RejectsUnknownField) {
  std::string text = WorkloadDoc(kDigest) + "  imagez: []\n";
  Status s = Parse(text);
  EXPECT_NE(s.message().find("document 1 (Workload): spec.imagez: unknown field"), std::string::npos)
      << s.message();
}

TEST_F(ApplyDocumentTest, RejectsWrongApiVersionAndKind) {
  Status s = Parse("apiVersion: v1\nkind: Cluster\n");
  EXPECT_NE(s.message().find("document 1 (Cluster): apiVersion: must be astis.dev/v1"), std::string::npos)
      << s.message();
  s = Parse("apiVersion: astis.dev/v1\nkind: Secret\n");
  EXPECT_NE(s.message().find("document 1: kind: must be Cluster or Workload"), std::string::npos) << s.message();
  s = Parse("- a\n- b\n");
  EXPECT_NE(s.message().find("document 1: must be a mapping"), std::string::npos) << s.message();
}

TEST_F(ApplyDocumentTest, RejectsMissingField) {
  Status s = Parse("apiVersion: astis.dev/v1\nkind: Workload\nspec:\n  cluster: prod\n  namespace: payments\n"
                   "  images: []\n");
  EXPECT_NE(s.message().find("spec.serviceAccount: missing"), std::string::npos) << s.message();
}

TEST_F(ApplyDocumentTest, RejectsDeclaredTwiceAcrossFiles) {
  ASSERT_TRUE(Parse(WorkloadDoc(kDigest), "a.yaml").ok());
  Status s = Parse(WorkloadDoc(kDigest), "b.yaml");
  EXPECT_NE(s.message().find("b.yaml: document 1 (Workload/prod/payments/api): spec: workload declared twice"),
            std::string::npos)
      << s.message();
}

TEST_F(ApplyDocumentTest, MetadataOrgMustAgree) {
  std::string a = "apiVersion: astis.dev/v1\nkind: Workload\nmetadata:\n  org: acme\n" +
                  WorkloadDoc(kDigest).substr(WorkloadDoc(kDigest).find("spec:"));
  ASSERT_TRUE(Parse(a).ok()) << Parse(a).ToString();
  EXPECT_EQ(docs_.org, "acme");
  std::string b = ClusterDoc("prod", "  jwks: '" + jwks_ + "'", "https://10.0.0.1:6443");
  b.insert(b.find("  name: prod") + 13, "  org: globex\n");
  Status s = Parse(b, "b.yaml");
  EXPECT_NE(s.message().find("b.yaml: document 1 (Cluster): metadata.org: differs"), std::string::npos)
      << s.message();
}

TEST_F(ApplyDocumentTest, WorkloadMetadataNameMustMatchSpec) {
  std::string text = "apiVersion: astis.dev/v1\nkind: Workload\nmetadata:\n  name: other\n" +
                     WorkloadDoc(kDigest).substr(WorkloadDoc(kDigest).find("spec:"));
  Status s = Parse(text);
  EXPECT_NE(s.message().find("metadata.name: must be <cluster>/<namespace>/<serviceAccount>"), std::string::npos)
      << s.message();
}

TEST_F(ApplyDocumentTest, RejectsYamlSyntaxWithFileName) {
  Status s = Parse("kind: [unclosed\n", "broken.yaml");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("broken.yaml: ", 0), 0u) << s.message();
}

}  // namespace
}  // namespace astis::admin
