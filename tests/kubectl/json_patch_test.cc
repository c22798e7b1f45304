// The stand-in's JSON Patch applier (RFC 6902) and JSON Pointer parser
// (RFC 6901): every operation, the RFC's own examples, and the refusals.
#include "kube-standin/json_patch.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace astis::kubestandin {
namespace {

Json J(const char* text) {
  Result<Json> j = ParseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

Result<Json> Apply(const char* doc, const char* patch) { return ApplyJsonPatch(J(doc), J(patch)); }

TEST(JsonPointerTest, DecodesEscapesInOrder) {
  // RFC 6901 §4: ~1 becomes "/" first, then ~0 becomes "~": "~01" is "~1".
  auto t = ParsePointer("/a~1b/m~0n/~01/");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (std::vector<std::string>{"a/b", "m~n", "~1", ""}));
  EXPECT_TRUE(ParsePointer("")->empty());  // the whole document
}

TEST(JsonPointerTest, RefusesMalformedPointers) {
  EXPECT_EQ(ParsePointer("a/b").status().code(), Code::kInvalidArgument);  // no leading "/"
  EXPECT_EQ(ParsePointer("/a~2").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParsePointer("/a~").status().code(), Code::kInvalidArgument);
}

TEST(JsonPatchTest, AddReplaceRemove) {
  auto r = Apply(R"({"a":{"b":1},"l":[1,2]})",
                 R"([{"op":"add","path":"/a/c","value":2},{"op":"replace","path":"/a/b","value":"x"},
                     {"op":"remove","path":"/l/0"},{"op":"add","path":"/l/-","value":9},
                     {"op":"add","path":"/l/0","value":0}])");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, J(R"({"a":{"b":"x","c":2},"l":[0,2,9]})"));
  // add on an existing member replaces it (§4.1); "" replaces the document.
  EXPECT_EQ(*Apply(R"({"a":1})", R"([{"op":"add","path":"/a","value":2}])"), J(R"({"a":2})"));
  EXPECT_EQ(*Apply(R"({"a":1})", R"([{"op":"add","path":"","value":[1]}])"), J("[1]"));
}

TEST(JsonPatchTest, EscapedMemberNames) {
  // What a webhook sends to add an annotation with a "/" in its key.
  auto r = Apply(R"({"metadata":{"annotations":{}}})",
                 R"([{"op":"add","path":"/metadata/annotations/astis.io~1inject","value":"true"},
                     {"op":"add","path":"/metadata/annotations/a~0b","value":"1"}])");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, J(R"({"metadata":{"annotations":{"astis.io/inject":"true","a~b":"1"}}})"));
}

TEST(JsonPatchTest, MoveAndCopy) {
  // RFC 6902 A.6 (move a value) and A.7 (move an array element).
  EXPECT_EQ(*Apply(R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
                   R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])"),
            J(R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})"));
  EXPECT_EQ(*Apply(R"({"foo":["all","grass","cows","eat"]})", R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])"),
            J(R"({"foo":["all","cows","eat","grass"]})"));
  EXPECT_EQ(*Apply(R"({"a":{"x":1}})", R"([{"op":"copy","from":"/a","path":"/b"}])"),
            J(R"({"a":{"x":1},"b":{"x":1}})"));
}

TEST(JsonPatchTest, TestOperation) {
  // A.8: a passing test changes nothing.
  EXPECT_EQ(*Apply(R"({"baz":"qux","foo":["a",2,"c"]})",
                   R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])"),
            J(R"({"baz":"qux","foo":["a",2,"c"]})"));
  // §4.6: numbers compare by value, objects regardless of member order.
  EXPECT_TRUE(Apply(R"({"a":{"x":1,"y":2}})", R"([{"op":"test","path":"/a","value":{"y":2,"x":1.0}}])").ok());
}

TEST(JsonPatchTest, FailingTestAbandonsThePatch) {
  // A.9 and §5: a failed test is an error and nothing of the patch applies.
  const Json doc = J(R"({"baz":"qux"})");
  auto r = ApplyJsonPatch(doc, J(R"([{"op":"add","path":"/x","value":1},{"op":"test","path":"/baz","value":"bar"}])"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message().find("qux"), std::string::npos);  // never a value
  EXPECT_EQ(doc, J(R"({"baz":"qux"})"));
  EXPECT_EQ(Apply(R"({})", R"([{"op":"test","path":"/missing","value":1}])").status().code(), Code::kInvalidArgument);
}

TEST(JsonPatchTest, RefusesTargetsThatDoNotResolve) {
  // A.12: adding to a nonexistent target's child; remove/replace of a
  // missing member; array indices past the end, with leading zeros, or "-"
  // where an existing element is required.
  for (const char* patch :
       {R"([{"op":"add","path":"/baz/bat","value":"qux"}])", R"([{"op":"remove","path":"/nope"}])",
        R"([{"op":"replace","path":"/nope","value":1}])", R"([{"op":"add","path":"/l/3","value":1}])",
        R"([{"op":"add","path":"/l/01","value":1}])", R"([{"op":"remove","path":"/l/-"}])",
        R"([{"op":"replace","path":"/l/2","value":1}])", R"([{"op":"add","path":"/s/x","value":1}])",
        R"([{"op":"copy","from":"/nope","path":"/x"}])", R"([{"op":"add","path":"/a~2","value":1}])",
        R"([{"op":"add","path":"a","value":1}])"}) {
    auto r = Apply(R"({"foo":"bar","l":[1,2],"s":"str"})", patch);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << patch;
  }
}

TEST(JsonPatchTest, RefusesMalformedOperations) {
  for (const char* patch : {R"({"op":"add","path":"/a","value":1})",  // not an array
                            R"([1])", R"([{"path":"/a","value":1}])", R"([{"op":"add","value":1}])",
                            R"([{"op":"add","path":"/a"}])",         // A.10-style missing value
                            R"([{"op":"move","path":"/a"}])",        // no from
                            R"([{"op":"frobnicate","path":"/a"}])",  // §4: unknown op
                            R"([{"op":"remove","path":""}])",
                            R"([{"op":"move","from":"/a","path":"/a/b"}])"}) {  // §4.4: into its own child
    auto r = Apply(R"({"a":{"x":1}})", patch);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << patch;
  }
}

}  // namespace
}  // namespace astis::kubestandin
