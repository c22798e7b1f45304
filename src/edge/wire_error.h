// The edge's wire errors (docs/protocol.md §7): which codes a client may see,
// the one generic message per code (error blinding: the detailed reason goes
// to the audit log only), and the HTTP response a refusal becomes.
#pragma once

#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "net/http_server.h"

namespace astis::edge {

// GenericMessage is the only text a client sees for a code (error blinding);
// a code outside docs/protocol.md §7 reads "internal error". Cannot fail.
std::string_view GenericMessage(Code code);

// IsWireCode reports whether code may be sent to a client (docs/protocol.md §7).
bool IsWireCode(Code code);

// WireCodeName is WireName(code) for a wire code, "internal_error" otherwise.
std::string_view WireCodeName(Code code);

// ErrorObject is {"error":{"code","message"}} for code, with a non-wire code
// reported as internal_error. Test: WireErrorTest.NonWireCodeIsInternal.
Json ErrorObject(Code code);

// JsonResponse is an HTTP response with status and a JSON body.
net::ServerResponse JsonResponse(int status, const Json& body);

// ErrorResponse is the whole refusal a client sees for code: the HTTP status
// of docs/protocol.md §7 (500 for a non-wire code), ErrorObject(code) and, for
// DPoP failures, WWW-Authenticate with the DPoP error (RFC 9449 §7.1, §8;
// test WireErrorTest.DpopCodesCarryWwwAuthenticate).
net::ServerResponse ErrorResponse(Code code);

}  // namespace astis::edge
