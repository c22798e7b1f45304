// The admin socket's operation codec (docs/admin.md "Admin socket"): each
// Operations call as an op name plus a JSON args object, and its typed result
// as JSON. Internal to astis::admin: the server dispatches with Dispatch, the
// client wraps a transport with MakeRemoteOperations.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "admin/operations.h"
#include "common/json.h"
#include "common/status.h"

namespace astis::admin::internal {

// kProtocolVersion is the request member "v" this build speaks.
inline constexpr int64_t kProtocolVersion = 1;

// IsKnownOp reports whether op names an operation ("cluster.add", ...).
bool IsKnownOp(std::string_view op);

// AdminRequest is one decoded request line: a known op and its args object.
// org is the organisation the operation acts in ("" when the request has
// no "org" member: the server then applies admin::ResolveOrg's rule, so
// clients older than organisations keep working).
struct AdminRequest {
  std::string op;
  Json args;
  std::string org;
};

// DecodeRequest parses one request line strictly (docs/admin.md "Admin
// socket"): a JSON object of at most max_line bytes and depth 16 with
// exactly the members "v" (kProtocolVersion), "op" (IsKnownOp) and "args"
// (an object), and optionally "org" (a string). kInvalidArgument saying what is wrong ("malformed request:
// ...", "unsupported version", "unknown op"); it never echoes the line.
// Fuzzed by admin_request_fuzz.
Result<AdminRequest> DecodeRequest(std::string_view line, size_t max_line);

// Dispatch decodes args strictly for op (kInvalidArgument for a missing,
// mistyped or unexpected member; kInvalidArgument "unknown op" for an op not
// in the set), calls ops and encodes its result. An operation's own error is
// returned unchanged. The apikey.create result carries the new key: the
// caller sends it once and must not log it.
Result<Json> Dispatch(Operations& ops, std::string_view op, const Json& args);

// Transport sends one request and returns the "result" member of an ok
// response, or the Status carried by an error response. The organisation is
// the transport's business (AdminClient::Call's org).
using Transport = std::function<Result<Json>(std::string_view op, const Json& args)>;

// MakeRemoteOperations returns Operations that encode each call, send it
// through transport and decode the result (kInternal "malformed response"
// when the result does not decode). It owns transport.
std::unique_ptr<Operations> MakeRemoteOperations(Transport transport);

// StatusToJson / StatusFromJson carry a non-OK Status as
// {"code": wire name, "message": text}. StatusFromJson maps an unknown code
// to kInternal; it never returns OK.
Json StatusToJson(const Status& status);
Status StatusFromJson(const Json& error);

}  // namespace astis::admin::internal
