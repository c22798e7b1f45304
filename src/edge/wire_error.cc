#include "edge/wire_error.h"

#include <string>

namespace astis::edge {

std::string_view GenericMessage(Code code) {
  switch (code) {
    case Code::kBadRequest: return "the request is malformed";
    case Code::kApiKeyInvalid: return "the API key is not valid";
    case Code::kTokenInvalid: return "the ServiceAccount token is not valid";
    case Code::kDpopInvalid: return "the DPoP proof is not valid";
    case Code::kDpopReplay: return "the DPoP proof was already used";
    case Code::kUseDpopNonce: return "a fresh DPoP nonce is required";
    case Code::kSessionInvalid: return "the session is not valid for this key and pod";
    case Code::kScopeMismatch: return "the credentials are not scoped to this workload";
    case Code::kPodNotLive: return "the pod is not live";
    case Code::kImageNotAllowed: return "the pod runs an image that is not approved";
    case Code::kCredentialPinned: return "another key is pinned to this pod";
    case Code::kTooLarge: return "the request is too large";
    case Code::kRateLimited: return "too many requests";
    case Code::kKubeUnavailable: return "the cluster API is unavailable";
    case Code::kCvsUnavailable: return "the conversion service is unavailable";
    case Code::kStoreUnavailable: return "the state store is unavailable";
    case Code::kCapsuleScope: return "the capsule is bound to another workload";
    case Code::kUnknownKey: return "the capsule's key is unknown";
    case Code::kCapsuleInvalid: return "the capsule is not valid";
    default: return "internal error";
  }
}

bool IsWireCode(Code code) { return code >= Code::kBadRequest && code <= Code::kCapsuleInvalid; }

std::string_view WireCodeName(Code code) { return IsWireCode(code) ? WireName(code) : "internal_error"; }

Json ErrorObject(Code code) {
  const Code c = IsWireCode(code) ? code : Code::kInternal;
  return Json{{"error", Json{{"code", std::string(WireCodeName(code))}, {"message", std::string(GenericMessage(c))}}}};
}

net::ServerResponse JsonResponse(int status, const Json& body) {
  net::ServerResponse resp;
  resp.status = status;
  resp.body = DumpJson(body);
  resp.headers.emplace_back("Content-Type", "application/json");
  return resp;
}

net::ServerResponse ErrorResponse(Code code) {
  net::ServerResponse resp = JsonResponse(IsWireCode(code) ? HttpStatus(code) : 500, ErrorObject(code));
  // RFC 9449 §7.1 / §8: WWW-Authenticate with the DPoP error.
  if (code == Code::kUseDpopNonce) {
    resp.headers.emplace_back("WWW-Authenticate", "DPoP error=\"use_dpop_nonce\"");
  } else if (code == Code::kDpopInvalid || code == Code::kDpopReplay) {
    resp.headers.emplace_back("WWW-Authenticate", "DPoP error=\"invalid_dpop_proof\"");
  }
  return resp;
}

}  // namespace astis::edge
