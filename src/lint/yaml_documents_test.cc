#include "lint/yaml_documents.h"

#include <gtest/gtest.h>

namespace astis::lint {
namespace {

TEST(YamlDocumentsTest, ParsesMultipleDocumentsAndSkipsEmpty) {
  auto docs = ParseYamlDocuments("a: 1\n---\n---\nb: [x, 'true', true, null, 1.5]\n");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].at("a"), 1);
  EXPECT_EQ((*docs)[1].at("b"), Json::parse(R"(["x","true",true,null,1.5])"));
}

TEST(YamlDocumentsTest, RejectsDuplicateKeys) {
  auto docs = ParseYamlDocuments("a: 1\na: 2\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), Code::kInvalidArgument);
}

TEST(YamlDocumentsTest, RejectsSyntaxErrorWithoutEchoingInput) {
  auto docs = ParseYamlDocuments("key: [unterminated SECRETVALUE\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().message().find("SECRETVALUE"), std::string::npos);
}

TEST(YamlDocumentsTest, RejectsAliasBomb) {
  std::string y = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c) {
    y += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) y += std::string(i ? ", *" : "*") + prev;
    y += "]\n";
    prev = c;
  }
  auto docs = ParseYamlDocuments(y);
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("too many nodes"), std::string::npos);
}

TEST(YamlDocumentsTest, RejectsDeepNesting) {
  EXPECT_FALSE(ParseYamlDocuments(std::string(100, '[') + std::string(100, ']')).ok());
  EXPECT_FALSE(ParseYamlDocuments(std::string(5000, '[')).ok());
}

TEST(YamlDocumentsTest, RejectsCustomTags) {
  EXPECT_FALSE(ParseYamlDocuments("a: !!binary aGVsbG8=\n").ok());
}

TEST(YamlDocumentsTest, RejectsOversizeInput) {
  auto docs = ParseYamlDocuments(std::string(kMaxManifestFileBytes + 1, ' '));
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), Code::kTooLarge);
}

}  // namespace
}  // namespace astis::lint
