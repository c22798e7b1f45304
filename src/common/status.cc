#include "common/status.h"

namespace astis {

std::string_view WireName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kBadRequest: return "bad_request";
    case Code::kApiKeyInvalid: return "api_key_invalid";
    case Code::kTokenInvalid: return "token_invalid";
    case Code::kDpopInvalid: return "dpop_invalid";
    case Code::kDpopReplay: return "dpop_replay";
    case Code::kUseDpopNonce: return "use_dpop_nonce";
    case Code::kSessionInvalid: return "session_invalid";
    case Code::kScopeMismatch: return "scope_mismatch";
    case Code::kPodNotLive: return "pod_not_live";
    case Code::kImageNotAllowed: return "image_not_allowed";
    case Code::kCredentialPinned: return "credential_pinned";
    case Code::kTooLarge: return "too_large";
    case Code::kRateLimited: return "rate_limited";
    case Code::kKubeUnavailable: return "kube_unavailable";
    case Code::kCvsUnavailable: return "cvs_unavailable";
    case Code::kStoreUnavailable: return "store_unavailable";
    case Code::kCapsuleScope: return "capsule_scope";
    case Code::kUnknownKey: return "unknown_key";
    case Code::kCapsuleInvalid: return "capsule_invalid";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kUnavailable: return "unavailable";
    case Code::kIo: return "io_error";
    case Code::kCrypto: return "crypto_error";
    case Code::kInternal: return "internal_error";
  }
  return "internal_error";
}

int HttpStatus(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kBadRequest: return 400;
    case Code::kApiKeyInvalid:
    case Code::kTokenInvalid:
    case Code::kDpopInvalid:
    case Code::kDpopReplay:
    case Code::kUseDpopNonce:
    case Code::kSessionInvalid: return 401;
    case Code::kScopeMismatch:
    case Code::kPodNotLive:
    case Code::kImageNotAllowed: return 403;
    case Code::kCredentialPinned: return 409;
    case Code::kTooLarge: return 413;
    case Code::kRateLimited: return 429;
    case Code::kKubeUnavailable:
    case Code::kCvsUnavailable:
    case Code::kStoreUnavailable: return 503;
    case Code::kCapsuleScope:
    case Code::kUnknownKey:
    case Code::kCapsuleInvalid: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kNotFound: return 404;
    default: return 500;
  }
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(WireName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

Status Status::Annotate(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, std::move(msg));
}

}  // namespace astis
