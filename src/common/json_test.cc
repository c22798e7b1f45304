// Strict JSON tests: duplicate keys, depth, size, trailing data, UTF-8, and
// the typed accessors.
#include "common/json.h"

#include <string>

#include <gtest/gtest.h>

namespace astis {
namespace {

void ExpectRefused(std::string_view text, Code code = Code::kInvalidArgument, const JsonLimits& limits = {}) {
  auto r = ParseJson(text, limits);
  ASSERT_FALSE(r.ok()) << "accepted: " << text;
  EXPECT_EQ(r.status().code(), code) << text;
}

TEST(JsonTest, ParsesValidDocument) {
  auto j = ParseJson(R"( {"a":[1,2,{"b":"\u00e9"}],"c":null,"d":true} )");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ((*j)["a"][2]["b"].get<std::string>(), "\xc3\xa9");
}

TEST(JsonTest, RejectsDuplicateKeys) {
  ExpectRefused(R"({"a":1,"a":2})");
  ExpectRefused(R"({"a":1,"b":2,"a":1})");
  ExpectRefused(R"({"x":{"a":1,"a":2}})");            // nested
  ExpectRefused(R"([{"k":1},{"k":2,"k":3}])");        // inside an array
  ExpectRefused(R"({"x":{"y":{"z":0,"z":0}},"w":1})");  // deeper
  ExpectRefused(R"({"\u0061":1,"a":2})");             // same key after unescaping
}

TEST(JsonTest, SameKeyInDifferentObjectsIsFine) {
  EXPECT_TRUE(ParseJson(R"({"a":{"a":1},"b":{"a":2}})").ok());
  EXPECT_TRUE(ParseJson(R"([{"a":1},{"a":2}])").ok());
  EXPECT_TRUE(ParseJson(R"({"x":{"k":1},"k":2})").ok());
}

std::string Nested(size_t levels) { return std::string(levels, '[') + "1" + std::string(levels, ']'); }

TEST(JsonTest, RejectsTooDeep) {
  JsonLimits limits;
  limits.max_depth = 4;
  EXPECT_TRUE(ParseJson(Nested(4), limits).ok());
  ExpectRefused(Nested(5), Code::kInvalidArgument, limits);
  ExpectRefused(R"({"a":{"b":{"c":{"d":{"e":1}}}}})", Code::kInvalidArgument, limits);
  // Default limit (16), and far deeper input does not crash the parser.
  EXPECT_TRUE(ParseJson(Nested(16)).ok());
  ExpectRefused(Nested(17));
  ExpectRefused(Nested(10000), Code::kInvalidArgument, JsonLimits{1 << 20, 16});
}

TEST(JsonTest, RejectsTooLarge) {
  JsonLimits limits;
  limits.max_bytes = 16;
  EXPECT_TRUE(ParseJson(R"({"a":"01234567"})", limits).ok());  // exactly 16 bytes
  ExpectRefused(R"({"a":"012345678"})", Code::kTooLarge, limits);
  ExpectRefused(std::string(64 * 1024 + 1, ' '), Code::kTooLarge);
}

TEST(JsonTest, RejectsTrailingGarbage) {
  ExpectRefused(R"({"a":1} x)");
  ExpectRefused(R"({"a":1}{})");
  ExpectRefused("1 2");
  EXPECT_TRUE(ParseJson("{}\n\t ").ok());  // trailing whitespace is fine
}

// RFC 8259 §2: a raw NUL is never valid JSON, but nlohmann's lexer treats
// it as end of input, so '{"a":1}\0{"a":2}' would parse as {"a":1}.
TEST(JsonTest, RejectsNulByte) {
  ExpectRefused(std::string_view("{}\0", 3));
  ExpectRefused(std::string_view("{\"a\":1}\0{\"a\":2}", 15));
  ExpectRefused(std::string_view("\"a\0b\"", 5));
}

TEST(JsonTest, RejectsInvalidUtf8) {
  ExpectRefused("\"\xff\"");
  ExpectRefused("\"\xc0\xaf\"");          // overlong '/'
  ExpectRefused("\"\xed\xa0\x80\"");      // encoded surrogate
  ExpectRefused("\"\xe2\x82\"");          // truncated sequence
  ExpectRefused("\"\xf4\x90\x80\x80\"");  // beyond U+10FFFF
  ExpectRefused(R"("\ud800")");           // lone surrogate escape
  ExpectRefused("{\"\xff\":1}");          // in a key
}

TEST(JsonTest, RejectsMalformedInput) {
  for (const char* in : {"", "{", "[1,]", "{\"a\":1,}", "nul", "'a'", "/* c */ {}", "{\"a\" 1}", "01"})
    ExpectRefused(in);
}

TEST(JsonTest, ErrorMessagesDoNotEchoInput) {
  auto r = ParseJson(R"({"password":"s3cr3t-value",})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("s3cr3t"), std::string::npos);
  auto d = ParseJson(R"({"s3cr3t":1,"s3cr3t":2})");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message().find("s3cr3t"), std::string::npos);
}

TEST(JsonTest, ParseJsonObjectRequiresObject) {
  EXPECT_TRUE(ParseJsonObject("{}").ok());
  for (const char* in : {"[]", "1", "\"x\"", "null"}) {
    auto r = ParseJsonObject(in);
    ASSERT_FALSE(r.ok()) << in;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
}

TEST(JsonTest, DumpReplacesInvalidUtf8InsteadOfThrowing) {
  Json j = {{"k", std::string("a\xff")}};
  std::string out = DumpJson(j);
  EXPECT_EQ(out, "{\"k\":\"a\xef\xbf\xbd\"}");
  EXPECT_EQ(DumpJson(Json::parse(R"({"b":1,"a":[true]})")), R"({"a":[true],"b":1})");
}

TEST(JsonAccessors, GetString) {
  auto j = *ParseJson(R"({"s":"x","n":1})");
  auto s = GetString(j, "s");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "x");
  EXPECT_EQ(GetString(j, "n").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(GetString(j, "missing").status().code(), Code::kInvalidArgument);
  EXPECT_NE(GetString(j, "missing").status().message().find("missing"), std::string::npos);
}

TEST(JsonAccessors, GetInt) {
  auto j = *ParseJson(R"({"i":-5,"big":9223372036854775807,"huge":9223372036854775808,"f":1.5,"s":"1"})");
  auto i = GetInt(j, "i");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(*i, -5);
  auto big = GetInt(j, "big");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(*big, INT64_MAX);
  for (const char* k : {"huge", "f", "s", "missing"}) EXPECT_EQ(GetInt(j, k).status().code(), Code::kInvalidArgument) << k;
}

TEST(JsonAccessors, GetObjectAndArray) {
  auto j = *ParseJson(R"({"o":{"a":1},"a":[1,2]})");
  auto o = GetObject(j, "o");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ((**o)["a"].get<int>(), 1);
  auto a = GetArray(j, "a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->size(), 2u);
  EXPECT_FALSE(GetObject(j, "a").ok());
  EXPECT_FALSE(GetArray(j, "o").ok());
  EXPECT_FALSE(GetObject(j, "missing").ok());
  EXPECT_FALSE(GetArray(j, "missing").ok());
}

TEST(JsonAccessors, RequireExactMembersAcceptsExactSet) {
  auto j = *ParseJson(R"({"a":1,"b":"x"})");
  EXPECT_TRUE(RequireExactMembers(j, {"a", "b"}, "thing").ok());
  EXPECT_TRUE(RequireExactMembers(j, {"b", "a"}, "thing").ok());
}

TEST(JsonAccessors, RequireExactMembersRefusesOtherSets) {
  auto j = *ParseJson(R"({"a":1,"b":"x"})");
  const Status missing = RequireExactMembers(j, {"a", "c"}, "thing");
  EXPECT_EQ(missing.code(), Code::kInvalidArgument);
  EXPECT_EQ(missing.message(), "thing: missing member \"c\"");
  const Status unknown = RequireExactMembers(j, {"a"}, "thing", Code::kBadRequest);
  EXPECT_EQ(unknown.code(), Code::kBadRequest);
  EXPECT_EQ(unknown.message(), "thing: unknown member");
  const Status not_object = RequireExactMembers(*ParseJson("[1]"), {"a"}, "thing");
  EXPECT_EQ(not_object.message(), "thing: not a JSON object");
}

}  // namespace
}  // namespace astis
