// Status / Result tests: wire names and HTTP statuses of docs/protocol.md §7, the
// error-propagation macros, and Result's abort on misuse.
#include "common/status.h"

#include <memory>
#include <set>
#include <string>
#include <utility>

#include <gtest/gtest.h>

namespace astis {
namespace {

struct CodeRow {
  Code code;
  const char* wire;
  int http;
};

// docs/protocol.md §7: every protocol code, its wire name and status.
const CodeRow kProtocolCodes[] = {
    {Code::kBadRequest, "bad_request", 400},
    {Code::kApiKeyInvalid, "api_key_invalid", 401},
    {Code::kTokenInvalid, "token_invalid", 401},
    {Code::kDpopInvalid, "dpop_invalid", 401},
    {Code::kDpopReplay, "dpop_replay", 401},
    {Code::kUseDpopNonce, "use_dpop_nonce", 401},
    {Code::kSessionInvalid, "session_invalid", 401},
    {Code::kScopeMismatch, "scope_mismatch", 403},
    {Code::kPodNotLive, "pod_not_live", 403},
    {Code::kImageNotAllowed, "image_not_allowed", 403},
    {Code::kCredentialPinned, "credential_pinned", 409},
    {Code::kTooLarge, "too_large", 413},
    {Code::kRateLimited, "rate_limited", 429},
    {Code::kKubeUnavailable, "kube_unavailable", 503},
    {Code::kCvsUnavailable, "cvs_unavailable", 503},
    {Code::kStoreUnavailable, "store_unavailable", 503},
    // Per-capsule codes travel inside a 200 unwrap response.
    {Code::kCapsuleScope, "capsule_scope", 200},
    {Code::kUnknownKey, "unknown_key", 200},
    {Code::kCapsuleInvalid, "capsule_invalid", 200},
};

class ProtocolCodeTest : public ::testing::TestWithParam<CodeRow> {};

TEST_P(ProtocolCodeTest, WireNameAndHttpStatusFollowProtocol) {
  EXPECT_EQ(WireName(GetParam().code), GetParam().wire);
  EXPECT_EQ(HttpStatus(GetParam().code), GetParam().http);
}

INSTANTIATE_TEST_SUITE_P(Section7, ProtocolCodeTest, ::testing::ValuesIn(kProtocolCodes),
                         [](const ::testing::TestParamInfo<CodeRow>& p) { return std::string(p.param.wire); });

TEST(StatusCodes, LocalCodesMapTo500Except400And404) {
  EXPECT_EQ(HttpStatus(Code::kOk), 200);
  EXPECT_EQ(HttpStatus(Code::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatus(Code::kNotFound), 404);
  for (Code c : {Code::kAlreadyExists, Code::kFailedPrecondition, Code::kPermissionDenied, Code::kUnavailable,
                 Code::kIo, Code::kCrypto, Code::kInternal})
    EXPECT_EQ(HttpStatus(c), 500) << WireName(c);
}

TEST(StatusCodes, WireNamesAreUniqueSnakeCase) {
  std::set<std::string> seen;
  for (int i = 0; i <= static_cast<int>(Code::kInternal); ++i) {
    std::string name(WireName(static_cast<Code>(i)));
    EXPECT_TRUE(seen.insert(name).second) << "duplicate wire name " << name;
    EXPECT_FALSE(name.empty());
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
  }
  EXPECT_EQ(WireName(Code::kOk), "ok");
  EXPECT_EQ(WireName(Code::kCrypto), "crypto_error");
}

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.ToString(), "ok");
  EXPECT_EQ(s, OkStatus());
  EXPECT_EQ(Status::Ok(), OkStatus());
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  Status s = Error(Code::kTokenInvalid, "bad signature");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kTokenInvalid);
  EXPECT_EQ(s.message(), "bad signature");
  EXPECT_EQ(s.ToString(), "token_invalid: bad signature");
  EXPECT_EQ(Error(Code::kIo, "").ToString(), "io_error");
  EXPECT_FALSE(s == Error(Code::kTokenInvalid, "other"));
}

TEST(StatusTest, AnnotatePrefixesContextAndKeepsCode) {
  Status s = Error(Code::kIo, "disk full").Annotate("writing org key");
  EXPECT_EQ(s.code(), Code::kIo);
  EXPECT_EQ(s.message(), "writing org key: disk full");
  EXPECT_TRUE(OkStatus().Annotate("ctx").ok());
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> v = 7;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 7);
  EXPECT_TRUE(v.status().ok());
  Result<int> e = Error(Code::kNotFound, "no such key");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kNotFound);
}

TEST(ResultTest, ConstructedFromOkStatusBecomesInternal) {
  Result<int> r = OkStatus();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(3);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 3);
}

TEST(ResultDeathTest, ValueOnErrorAborts) {
  Result<int> r = Error(Code::kInternal, "x");
  EXPECT_DEATH({ (void)r.value(); }, "");
}

// Helpers for the macro tests.
Status FailWith(Code c) { return Error(c, "inner"); }
Result<int> Half(int x) {
  if (x % 2 != 0) return Error(Code::kInvalidArgument, "odd");
  return x / 2;
}

Status ReturnIfErrorStatus(Code c, bool* reached_end) {
  ASTIS_RETURN_IF_ERROR(FailWith(c));
  *reached_end = true;
  return OkStatus();
}

Status ReturnIfErrorResult(int x, bool* reached_end) {
  ASTIS_RETURN_IF_ERROR(Half(x));
  *reached_end = true;
  return OkStatus();
}

Result<int> Quarter(int x, int* evaluations) {
  ++*evaluations;
  ASTIS_ASSIGN_OR_RETURN(int h, Half(x));
  ASTIS_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusMacros, ReturnIfErrorPropagatesStatus) {
  bool reached = false;
  Status s = ReturnIfErrorStatus(Code::kDpopReplay, &reached);
  EXPECT_EQ(s.code(), Code::kDpopReplay);
  EXPECT_FALSE(reached);
}

TEST(StatusMacros, ReturnIfErrorAcceptsResult) {
  bool reached = false;
  EXPECT_EQ(ReturnIfErrorResult(3, &reached).code(), Code::kInvalidArgument);
  EXPECT_FALSE(reached);
  EXPECT_TRUE(ReturnIfErrorResult(4, &reached).ok());
  EXPECT_TRUE(reached);
}

TEST(StatusMacros, AssignOrReturnAssignsOrPropagates) {
  int evaluations = 0;
  auto ok = Quarter(12, &evaluations);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  auto first_fails = Quarter(3, &evaluations);
  ASSERT_FALSE(first_fails.ok());
  EXPECT_EQ(first_fails.status().message(), "odd");
  auto second_fails = Quarter(6, &evaluations);
  ASSERT_FALSE(second_fails.ok());
  EXPECT_EQ(second_fails.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(evaluations, 3);
}

}  // namespace
}  // namespace astis
