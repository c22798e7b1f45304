// The SDK's readers of the edge's answers (sdk/wire.h): each rendering the
// protocol allows is accepted, each it does not is refused.
#include "sdk/wire.h"

#include <gtest/gtest.h>

#include "sdk/config.h"

namespace astis::sdkcore {
namespace {

constexpr int64_t kNoon = 1795694400;  // 2026-11-26T12:00:00Z

TEST(SdkWireTest, ExpiresAtWholeSeconds) {
  EXPECT_EQ(ParseExpiresAt("2026-11-26T12:00:00Z").value(), kNoon);
  EXPECT_EQ(ParseExpiresAt("2028-02-29T00:00:00Z").value(), 1835395200);  // leap year
  EXPECT_EQ(ParseExpiresAt("2000-02-29T23:59:59Z").value(), 951868799);   // 2000 is a leap year
  EXPECT_EQ(ParseExpiresAt("2026-12-31T23:59:60Z").value(), 1798761600);  // RFC 3339 §5.7 leap second
}

// docs/protocol.md §4.1 (1.1): receivers MUST accept a fractional part; the
// SDK truncates it toward the earlier second.
TEST(SdkWireTest, ExpiresAtFractionalSeconds) {
  EXPECT_EQ(ParseExpiresAt("2026-11-26T12:00:00.5Z").value(), kNoon);
  EXPECT_EQ(ParseExpiresAt("2026-11-26T12:00:00.999Z").value(), kNoon);
  EXPECT_EQ(ParseExpiresAt("2026-11-26T12:00:00.000Z").value(), kNoon);
  EXPECT_EQ(ParseExpiresAt("2026-11-26T12:00:01.123456789Z").value(), kNoon + 1);
  EXPECT_EQ(ParseExpiresAt("2026-11-26T12:00:00." + std::string(40, '9') + "Z").value(), kNoon);
}

// RFC 3339 §5.6 NOTE: "T" and "Z" may be lower case.
TEST(SdkWireTest, ExpiresAtLowerCase) {
  EXPECT_EQ(ParseExpiresAt("2026-11-26t12:00:00z").value(), kNoon);
  EXPECT_EQ(ParseExpiresAt("2026-11-26T12:00:00.25z").value(), kNoon);
}

TEST(SdkWireTest, ExpiresAtRefusals) {
  for (const char* bad : {
           "",
           "2026-11-26T12:00:00",        // no zone
           "2026-11-26T12:00:00.5",      // no zone after a fraction
           "2026-11-26T12:00:00+00:00",  // §4.1: UTC written with Z, not an offset
           "2026-11-26T12:00:00-00:00",  // RFC 3339 §4.3: unknown local offset
           "2026-11-26T13:00:00+01:00",  // another offset
           "2026-11-26 12:00:00Z",       // space for T
           "2026-11-26T12:00:00.Z",      // "." needs a digit (RFC 3339 §5.6 time-secfrac)
           "2026-11-26T12:00:00,5Z",     // ISO 8601 comma, not RFC 3339
           "2026-11-26T12:00:00ZZ",      // trailing data
           "2026-11-26T12:00:00Z ",      // trailing space
           "2026-11-26T12:00Z",          // no seconds
           "26-11-26T12:00:00Z",         // two-digit year
           "2026-13-01T00:00:00Z",       // month 13
           "2026-00-01T00:00:00Z",       // month 0
           "2026-04-31T00:00:00Z",       // April has 30 days (RFC 3339 §5.7)
           "2027-02-29T00:00:00Z",       // not a leap year
           "2100-02-29T00:00:00Z",       // century, not a leap year
           "2026-11-26T24:00:00Z",       // hour 24
           "2026-11-26T12:60:00Z",       // minute 60
           "2026-11-26T12:00:61Z",       // second 61
           "2026-11-26T12:00:0aZ",       // not a digit
           "+2026-11-26T12:00:00Z",      // sign
       }) {
    EXPECT_EQ(ParseExpiresAt(bad).status().code(), Code::kInternal) << bad;
  }
}

// RFC 9110 §11.2 / §11.6.1: the challenge in every form a server may write it.
TEST(SdkWireTest, UseDpopNonceChallengeForms) {
  for (const char* ok : {
           "DPoP error=\"use_dpop_nonce\"",
           "DPoP error=use_dpop_nonce",                                  // token form
           "dpop error=\"use_dpop_nonce\"",                              // scheme is case-insensitive
           "DPoP ERROR=\"use_dpop_nonce\"",                              // parameter names too
           "DPoP error = \"use_dpop_nonce\"",                            // BWS around "="
           "DPoP algs=\"EdDSA ES256\", error=\"use_dpop_nonce\"",        // several parameters
           "DPoP error=\"use_dpop_nonce\", error_description=\"fresh\"",  // the RFC 9449 §8 example shape
           "Bearer realm=\"x\", DPoP error=\"use_dpop_nonce\"",          // several challenges
           "DPoP error=\"use_\\dpop_nonce\"",                            // quoted-pair
       }) {
    EXPECT_TRUE(IsUseDpopNonceChallenge(ok)) << ok;
  }
  for (const char* no : {
           "",
           "DPoP error=\"invalid_dpop_proof\"",
           "Bearer error=\"use_dpop_nonce\"",  // another scheme's parameter
           "DPoP error=\"use_dpop_nonce",      // unterminated quoted-string
           "DPoP error=\"USE_DPOP_NONCE\"",    // values are case-sensitive
           "DPoPX error=\"use_dpop_nonce\"",
       }) {
    EXPECT_FALSE(IsUseDpopNonceChallenge(no)) << no;
  }
  EXPECT_TRUE(AsksForDpopNonce({{"Www-Authenticate", "Bearer"}, {"www-authenticate", "DPoP error=use_dpop_nonce"}}));
  EXPECT_FALSE(AsksForDpopNonce({{"X-Other", "DPoP error=use_dpop_nonce"}}));
}

// docs/protocol.md §7: a status the table gives one code maps to that code
// when the body holds none; the others give no code.
TEST(SdkWireTest, BodylessStatusMapsToTheTablesOnlyCode) {
  EXPECT_EQ(CodeForBodylessStatus(400), Code::kBadRequest);
  EXPECT_EQ(CodeForBodylessStatus(409), Code::kCredentialPinned);
  EXPECT_EQ(CodeForBodylessStatus(413), Code::kTooLarge);
  EXPECT_EQ(CodeForBodylessStatus(429), Code::kRateLimited);
  for (int ambiguous : {401, 403, 404, 500, 503}) EXPECT_FALSE(CodeForBodylessStatus(ambiguous).has_value());
}

// docs/protocol.md §4.1: the session id is opaque; in a path it is one segment.
TEST(SdkWireTest, PathSegmentEncodesOpaqueSessionIds) {
  EXPECT_EQ(PathSegment("AbC-09_x.~"), "AbC-09_x.~");  // the edge's b64u ids pass unchanged
  EXPECT_EQ(PathSegment("a/b+c=?#%"), "a%2Fb%2Bc%3D%3F%23%25");
  EXPECT_EQ(PathSegment("\xc3\xa9 "), "%C3%A9%20");
}

// ASTIS_PIN_WAIT_SECONDS: decimal seconds, 0 to a day.
TEST(SdkWireTest, PinWaitSecondsParsing) {
  EXPECT_EQ(ParseSeconds("30").value(), 30);
  EXPECT_EQ(ParseSeconds("0").value(), 0);
  EXPECT_EQ(ParseSeconds("86400").value(), 86400);
  for (const char* bad : {"", "-1", "1.5", "30s", " 30", "86401", "9999999"}) {
    EXPECT_EQ(ParseSeconds(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace astis::sdkcore
