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

// Each document is under the budget on its own (about 11,000 nodes); twenty
// of them are not. The budget once applied per document, which let one text
// expand to any number of 100,000-node documents.
TEST(YamlDocumentsTest, NodeBudgetSpansDocuments) {
  const std::string doc =
      "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
      "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
  ASSERT_TRUE(ParseYamlDocuments(doc).ok());
  std::string text;
  for (int i = 0; i < 20; ++i) text += doc + "---\n";
  auto docs = ParseYamlDocuments(text);
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("too many nodes"), std::string::npos) << docs.status().message();
}

// Few nodes, but each alias copies a 4,000-byte scalar: 400 copies are 1.6 MB
// from a 6 KB text.
TEST(YamlDocumentsTest, RejectsLongScalarAliasBomb) {
  std::string text = "a: &a " + std::string(4000, 'x') + "\nb: [";
  for (int i = 0; i < 400; ++i) text += i ? ", *a" : "*a";
  text += "]\n";
  auto docs = ParseYamlDocuments(text);
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("too much scalar data"), std::string::npos) << docs.status().message();
}

// The budgets grow with the text: a large manifest without aliases is
// never refused by them.
TEST(YamlDocumentsTest, AcceptsLargeAliasFreeInput) {
  std::string seq = "[1";
  for (int i = 1; i < 150000; ++i) seq += ",1";
  seq += "]\n";
  auto docs = ParseYamlDocuments(seq);
  ASSERT_TRUE(docs.ok()) << docs.status().message();
  EXPECT_EQ(docs->at(0).size(), 150000u);
  auto big = ParseYamlDocuments("a: \"" + std::string(3 << 20, 'y') + "\"\n");
  ASSERT_TRUE(big.ok()) << big.status().message();
  EXPECT_EQ(big->at(0).at("a").get<std::string>().size(), size_t{3} << 20);
}

// yaml-cpp 0.7 never consumes a ',' at document level and reports empty
// documents forever; LoadAll ran out of memory on these (mcp_message_fuzz,
// jbeder/yaml-cpp#1040). Each must be a prompt syntax error.
TEST(YamlDocumentsTest, RejectsStrayCommaWithoutLooping) {
  for (const char* y : {",", ", a", "[a],", "{a: b},", "- a\n,", "x\n---\n,", "\"a\",", "...\n,", "# c\n,",
                        ",kind: Pod\nspec: {containers: [{name: a}]}\n"}) {
    auto docs = ParseYamlDocuments(y);
    ASSERT_FALSE(docs.ok()) << y;
    EXPECT_NE(docs.status().message().find("syntax error"), std::string::npos) << y << ": " << docs.status().message();
  }
}

TEST(YamlDocumentsTest, ExpandsAliasesLikeCopies) {
  auto docs = ParseYamlDocuments("base: &b {image: x, ports: [80, 443]}\nk: &k name\none: *b\ntwo: *b\nthree: *k\n");
  ASSERT_TRUE(docs.ok()) << docs.status().message();
  const Json& d = docs->at(0);
  EXPECT_EQ(d.at("one"), d.at("base"));
  EXPECT_EQ(d.at("two").at("ports"), Json::array({80, 443}));
  EXPECT_EQ(d.at("three"), "name");
  EXPECT_EQ(d.at("k"), "name");
}

// 60 anchors nested around one 5,000-element sequence: each anchor keeps a
// copy for its aliases, 300,000 nodes held for a 10 KB text, though no
// alias is ever used. The copies are charged to the budget.
TEST(YamlDocumentsTest, ChargesNestedAnchorCopies) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "&a" + std::to_string(i) + " [";
  text += "1";
  for (int i = 1; i < 5000; ++i) text += ",1";
  text += std::string(60, ']') + "\n";
  auto docs = ParseYamlDocuments(text);
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("too many nodes"), std::string::npos) << docs.status().message();
  // One anchored copy of a large sequence is within budget.
  std::string one = "&a [1";
  for (int i = 1; i < 5000; ++i) one += ",1";
  EXPECT_TRUE(ParseYamlDocuments(one + "]\n").ok());
}

TEST(YamlDocumentsTest, RejectsAliasInsideItsOwnAnchor) {
  auto docs = ParseYamlDocuments("a: &a [x, *a]\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("not complete"), std::string::npos) << docs.status().message();
}

TEST(YamlDocumentsTest, AnchorsDoNotCrossDocuments) {
  EXPECT_FALSE(ParseYamlDocuments("a: &a {kind: Pod}\n---\nb: *a\n").ok());
}

TEST(YamlDocumentsTest, RejectsNonScalarKeys) {
  for (const char* y : {"? [a]\n: 1\n", "? {a: b}\n: 1\n", "x: &k a\n*k : 1\n", "? \n: 1\n"}) {
    auto docs = ParseYamlDocuments(y);
    EXPECT_FALSE(docs.ok()) << y;
  }
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
