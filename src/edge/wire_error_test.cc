#include "edge/wire_error.h"

#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace astis::edge {
namespace {

std::optional<std::string> HeaderOf(const net::ServerResponse& resp, std::string_view name) {
  for (const auto& [k, v] : resp.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

TEST(WireErrorTest, WireCodesAreTheProtocolRange) {
  EXPECT_TRUE(IsWireCode(Code::kBadRequest));
  EXPECT_TRUE(IsWireCode(Code::kStoreUnavailable));
  EXPECT_TRUE(IsWireCode(Code::kCapsuleInvalid));
  EXPECT_FALSE(IsWireCode(Code::kOk));
  EXPECT_FALSE(IsWireCode(Code::kInvalidArgument));
  EXPECT_FALSE(IsWireCode(Code::kNotFound));
  EXPECT_FALSE(IsWireCode(Code::kInternal));
}

TEST(WireErrorTest, ErrorObjectIsCodeAndGenericMessage) {
  const Json e = ErrorObject(Code::kPodNotLive);
  EXPECT_EQ(e, (Json{{"error", {{"code", "pod_not_live"}, {"message", "the pod is not live"}}}}));
}

TEST(WireErrorTest, NonWireCodeIsInternal) {
  for (Code c : {Code::kInvalidArgument, Code::kIo, Code::kCrypto, Code::kFailedPrecondition}) {
    EXPECT_EQ(ErrorObject(c), (Json{{"error", {{"code", "internal_error"}, {"message", "internal error"}}}}));
    EXPECT_EQ(WireCodeName(c), "internal_error");
    EXPECT_EQ(ErrorResponse(c).status, 500);
  }
}

TEST(WireErrorTest, ErrorResponseHasProtocolStatusAndJsonBody) {
  const net::ServerResponse resp = ErrorResponse(Code::kRateLimited);
  EXPECT_EQ(resp.status, 429);
  EXPECT_EQ(HeaderOf(resp, "Content-Type"), "application/json");
  EXPECT_EQ(resp.body, DumpJson(ErrorObject(Code::kRateLimited)));
  EXPECT_FALSE(HeaderOf(resp, "WWW-Authenticate").has_value());
}

TEST(WireErrorTest, DpopCodesCarryWwwAuthenticate) {
  EXPECT_EQ(HeaderOf(ErrorResponse(Code::kUseDpopNonce), "WWW-Authenticate"), "DPoP error=\"use_dpop_nonce\"");
  EXPECT_EQ(HeaderOf(ErrorResponse(Code::kDpopInvalid), "WWW-Authenticate"), "DPoP error=\"invalid_dpop_proof\"");
  EXPECT_EQ(HeaderOf(ErrorResponse(Code::kDpopReplay), "WWW-Authenticate"), "DPoP error=\"invalid_dpop_proof\"");
  EXPECT_FALSE(HeaderOf(ErrorResponse(Code::kTokenInvalid), "WWW-Authenticate").has_value());
}

}  // namespace
}  // namespace astis::edge
