// Strict base64url / base64 / hex tests: RFC 4648 §10 vectors, round trips
// over every length and byte, and the named refusals.
#include "common/encoding.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace astis {
namespace {

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

void ExpectRefused(const Result<std::vector<uint8_t>>& r, std::string_view input) {
  ASSERT_FALSE(r.ok()) << "accepted \"" << input << "\"";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

struct Rfc4648Row {
  const char *plain, *b64, *b64u;
};
// RFC 4648 §10 test vectors; b64u is the same without padding.
const Rfc4648Row kRfc4648[] = {
    {"", "", ""},           {"f", "Zg==", "Zg"},         {"fo", "Zm8=", "Zm8"},         {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"}, {"fooba", "Zm9vYmE=", "Zm9vYmE"}, {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

TEST(EncodingTest, Rfc4648Section10Vectors) {
  for (const auto& row : kRfc4648) {
    EXPECT_EQ(B64Encode(std::string_view(row.plain)), row.b64);
    EXPECT_EQ(B64uEncode(std::string_view(row.plain)), row.b64u);
    auto d = B64Decode(row.b64);
    ASSERT_TRUE(d.ok()) << row.b64;
    EXPECT_EQ(*d, Bytes(row.plain));
    auto du = B64uDecodeToString(row.b64u);
    ASSERT_TRUE(du.ok()) << row.b64u;
    EXPECT_EQ(*du, row.plain);
  }
}

TEST(EncodingTest, UrlAndStandardAlphabetsDiffer) {
  const std::vector<uint8_t> b = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(B64Encode(b), "+/+/");
  EXPECT_EQ(B64uEncode(b), "-_-_");
  EXPECT_EQ(HexEncode(b), "fbffbf");
}

TEST(EncodingTest, RoundTripsEveryLengthAndByte) {
  std::vector<uint8_t> data;
  for (size_t n = 0; n < 300; ++n) {
    auto u = B64uDecode(B64uEncode(data));
    auto s = B64Decode(B64Encode(data));
    auto h = HexDecode(HexEncode(data));
    ASSERT_TRUE(u.ok() && s.ok() && h.ok()) << n;
    EXPECT_EQ(*u, data);
    EXPECT_EQ(*s, data);
    EXPECT_EQ(*h, data);
    data.push_back(static_cast<uint8_t>(n * 167 + 13));
  }
}

TEST(EncodingTest, B64uRejectsPadding) {
  for (const char* in : {"Zg==", "Zm8=", "Zm9vYg==", "=", "Zm9v="}) ExpectRefused(B64uDecode(in), in);
}

TEST(EncodingTest, RejectsWhitespace) {
  for (const char* in : {"Zm9v Yg", "Zm9v\nYmFy", " Zm9v", "Zm9v\t", "Zm9v\r\n"}) {
    ExpectRefused(B64uDecode(in), in);
    ExpectRefused(B64Decode(in), in);
  }
  ExpectRefused(HexDecode(" 0a"), " 0a");
}

TEST(EncodingTest, RejectsNonAlphabet) {
  for (const char* in : {"Zm9v+w", "Zm9v/w", "Zm9v*A", "Zm.v", "Zm9\xc3\xa9"}) ExpectRefused(B64uDecode(in), in);
  for (const char* in : {"Zm9-", "Zm9_", "Zm*v", "Zm=v"}) ExpectRefused(B64Decode(in), in);
  ExpectRefused(B64uDecode(std::string_view("Zm\0v", 4)), "Zm\\0v");
  for (const char* in : {"0g", "zz", "0x12"}) ExpectRefused(HexDecode(in), in);
}

TEST(EncodingTest, RejectsLengthOneMod4) {
  for (const char* in : {"Z", "Zm9vY", "Zm9vYmFyZ"}) ExpectRefused(B64uDecode(in), in);
  ExpectRefused(B64Decode("Zm9vY"), "Zm9vY");
}

TEST(EncodingTest, RejectsNonCanonicalTrailingBits) {
  // "Zg" is canonical for "f"; "Zh".."Zv" set bits that carry no data.
  for (const char* in : {"Zh", "Zm9", "Zm9vYh", "Zm9vYmF"}) ExpectRefused(B64uDecode(in), in);
  for (const char* in : {"Zh==", "Zm9=", "Zm9vYmF="}) ExpectRefused(B64Decode(in), in);
}

TEST(EncodingTest, B64RejectsBadPadding) {
  for (const char* in : {"Zg", "Zg=", "Zg===", "Z===", "====", "Zg=A", "Zm8=Zm8="}) ExpectRefused(B64Decode(in), in);
}

TEST(EncodingTest, HexAcceptsEitherCaseAndRejectsOddLength) {
  auto h = HexDecode("00aAfF");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, (std::vector<uint8_t>{0x00, 0xaa, 0xff}));
  ExpectRefused(HexDecode("abc"), "abc");
}

}  // namespace
}  // namespace astis
