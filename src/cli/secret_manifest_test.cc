#include "cli/secret_manifest.h"

#include <string>

#include <gtest/gtest.h>

namespace astis::cli {
namespace {

TEST(SecretManifestTest, ParsesYamlSecret) {
  auto j = ParseManifest(
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-creds\n  labels: {app: api}\n"
      "type: Opaque\ndata:\n  password: cGFzcw==\nstringData:\n  user: \"123\"\n  port: 5432\n");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ((*j)["metadata"]["name"], "db-creds");
  EXPECT_EQ((*j)["metadata"]["labels"]["app"], "api");
  EXPECT_EQ((*j)["data"]["password"], "cGFzcw==");
  EXPECT_TRUE((*j)["stringData"]["user"].is_string());    // quoted: a string
  EXPECT_TRUE((*j)["stringData"]["port"].is_number());    // plain: an int (core schema)
}

TEST(SecretManifestTest, ParsesJsonSecret) {
  auto j = ParseManifest(R"( {"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"},"data":{}})");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["kind"], "Secret");
}

TEST(SecretManifestTest, RejectsMultiDocument) {
  EXPECT_EQ(ParseManifest("kind: Secret\n---\nkind: Secret\n").status().code(), Code::kInvalidArgument);
}

TEST(SecretManifestTest, AcceptsLeadingAndTrailingSeparators) {
  EXPECT_TRUE(ParseManifest("---\nkind: Secret\n---\n").ok());
}

TEST(SecretManifestTest, RejectsDuplicateYamlKeys) {
  EXPECT_EQ(ParseManifest("kind: Secret\nkind: ConfigMap\n").status().code(), Code::kInvalidArgument);
}

TEST(SecretManifestTest, RejectsDuplicateJsonKeys) {
  EXPECT_EQ(ParseManifest(R"({"kind":"Secret","kind":"Secret"})").status().code(), Code::kInvalidArgument);
}

TEST(SecretManifestTest, RejectsMalformedYamlAndNonMapping) {
  EXPECT_FALSE(ParseManifest("kind: [unclosed\n").ok());
  EXPECT_FALSE(ParseManifest("- a\n- b\n").ok());
  EXPECT_FALSE(ParseManifest("   \n").ok());
}

TEST(SecretManifestTest, RejectsAliasBomb) {
  std::string yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (int i = 0; i < 8; ++i) {
    std::string cur = "l" + std::to_string(i);
    yaml += cur + ": &" + cur + " [";
    for (int k = 0; k < 10; ++k) yaml += (k ? ", *" : "*") + prev;
    yaml += "]\n";
    prev = cur;
  }
  EXPECT_EQ(ParseManifest(yaml).status().code(), Code::kInvalidArgument);
}

TEST(SecretManifestTest, EmitsStableOrderAndQuotesAmbiguousStrings) {
  auto j = ParseManifest(
      R"({"data":{"k":"MTIz"},"type":"Opaque","metadata":{"namespace":"ns","name":"n","annotations":{"a":"true"}},"kind":"Secret","apiVersion":"v1"})");
  ASSERT_TRUE(j.ok());
  std::string y = EmitYaml(*j);
  size_t api = y.find("apiVersion:"), kind = y.find("\nkind:"), meta = y.find("\nmetadata:"),
         type = y.find("\ntype:"), data = y.find("\ndata:");
  EXPECT_EQ(api, 0u);
  EXPECT_NE(data, std::string::npos);
  EXPECT_LT(api, kind);
  EXPECT_LT(kind, meta);
  EXPECT_LT(meta, type);
  EXPECT_LT(type, data);
  EXPECT_LT(y.find("name:"), y.find("namespace:"));
  EXPECT_NE(y.find("\"true\""), std::string::npos);
  // What we emit parses back to the same value (types preserved).
  auto back = ParseManifest(y);
  ASSERT_TRUE(back.ok()) << y;
  EXPECT_EQ(*back, *j);
  auto back_json = ParseManifest(EmitJson(*j));
  ASSERT_TRUE(back_json.ok());
  EXPECT_EQ(*back_json, *j);
  EXPECT_LT(EmitJson(*j).find("apiVersion"), EmitJson(*j).find("kind"));
}

TEST(SecretManifestTest, YamlRoundTripOfAwkwardStrings) {
  Json j = {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata", {{"name", "n"}, {"annotations", {{"x", "line1\nline2"}, {"y", "123"}, {"z", ""},
                                                         {"w", "null"}, {"v", "a: b"}, {"u", "#c"}}}}},
            {"data", {{"k", "YQ=="}}}};
  auto back = ParseManifest(EmitYaml(j));
  ASSERT_TRUE(back.ok()) << EmitYaml(j);
  EXPECT_EQ(*back, j);
}

TEST(SecretManifestTest, PlainScalarsFollowCoreSchema) {
  auto j = ParseManifest("a: 12\nb: -3.5e2\nc: .5\nd: 1.\ne: 1e\nf: 1.2.3\ng: ~\nh: True\ni: '12'\nj: 0x1f\n");
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE((*j)["a"].is_number_integer());
  EXPECT_TRUE((*j)["b"].is_number_float());
  EXPECT_TRUE((*j)["c"].is_number_float());
  EXPECT_TRUE((*j)["d"].is_number_float());
  EXPECT_TRUE((*j)["e"].is_string());
  EXPECT_TRUE((*j)["f"].is_string());
  EXPECT_TRUE((*j)["g"].is_null());
  EXPECT_TRUE((*j)["h"].is_boolean());
  EXPECT_TRUE((*j)["i"].is_string());
  EXPECT_TRUE((*j)["j"].is_string());
}

TEST(SecretManifestTest, ParsesMultiDocumentStream) {
  auto docs = ParseManifests("---\nkind: Secret\nn: 1\n---\n---\nkind: Secret\nn: 2\n");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0]["n"], 1);
  EXPECT_EQ((*docs)[1]["n"], 2);
  // JSON stays one object; a scalar document and empty input are refused.
  EXPECT_EQ(ParseManifests("{\"kind\":\"Secret\"}")->size(), 1u);
  EXPECT_EQ(ParseManifests("kind: Secret\n---\njust a string\n").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseManifests("---\n").status().code(), Code::kInvalidArgument);
  // The output stream keeps the order, separated by "---".
  std::string yaml = EmitYamlStream(*docs);
  auto back = ParseManifests(yaml);
  ASSERT_TRUE(back.ok()) << yaml;
  EXPECT_EQ(*back, *docs);
  auto list = ParseJsonObject(EmitJsonStream(*docs));
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)["kind"], "List");
  EXPECT_EQ((*list)["items"][1]["n"], 2);
}

}  // namespace
}  // namespace astis::cli
