// Readers of the edge's answers (internal to the SDK): the renderings of a
// value that docs/protocol.md allows in several forms are all accepted here,
// and what it does not allow is refused. Tests: SdkWireTest.*.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "net/http_types.h"

namespace astis::sdkcore {

// ParseExpiresAt reads a docs/protocol.md §4.1 `expiresAt`: an RFC 3339 §5.6
// date-time in UTC with "Z", as Unix seconds. Accepted: a fractional part
// of any length (truncated toward the earlier second), lower-case "t" and
// "z" (RFC 3339 §5.6 NOTE), a leap second ":60". Refused (kInternal): a
// numeric offset (§4.1 says UTC with Z), a missing zone, a space for "T",
// a day the month does not have (RFC 3339 §5.7), anything else.
Result<int64_t> ParseExpiresAt(std::string_view s);

// IsUseDpopNonceChallenge reports whether a WWW-Authenticate field value
// holds a DPoP challenge with error=use_dpop_nonce (RFC 9449 §8). Per
// RFC 9110 §11.2 the scheme is case-insensitive, the parameter's value may
// be a token or a quoted-string, "=" may have whitespace around it, and one
// field may hold several challenges.
bool IsUseDpopNonceChallenge(std::string_view www_authenticate);

// AsksForDpopNonce reports whether any WWW-Authenticate field of headers (a
// response may carry several, RFC 9110 §11.6.1) is such a challenge.
bool AsksForDpopNonce(const net::HeaderList& headers);

// CodeForBodylessStatus is the docs/protocol.md §7 code of an HTTP status
// that the table gives exactly one code (400, 409, 413, 429), for a refusal
// whose body holds no readable code; nullopt otherwise.
std::optional<Code> CodeForBodylessStatus(int http_status);

// PathSegment percent-encodes an opaque value (a session id, §4.1) for use
// as one path segment: everything but RFC 3986 §2.3 unreserved characters.
std::string PathSegment(std::string_view value);

}  // namespace astis::sdkcore
