// Request bodies of the /v1 endpoints (docs/protocol.md §4): the size, query
// and strict-JSON checks every body passes, and the recipient key that
// establish and rotate carry. Every failure is a refusal outside the gates:
// kTooLarge or kBadRequest, with a message that never echoes the body.
#pragma once

#include <cstdint>
#include <string>

#include "common/json.h"
#include "common/status.h"
#include "crypto/x25519.h"
#include "net/http_server.h"

namespace astis::edge {

// ParseBody checks http's body against max_bytes (kTooLarge), refuses a
// query string, and parses the body as one strict JSON object (depth 8) into
// *out (kBadRequest). Tests EdgeServiceTest.BodyTooLarge, EdgeServiceTest.MalformedJson.
Status ParseBody(const net::ServerRequest& http, int64_t max_bytes, Json* out);

// Recipient is the X25519 key a pod asks its data keys to be sealed to.
struct Recipient {
  X25519PublicKey key;
  std::string jwk_json;  // canonical public JWK, as the store keeps it
};

// ParseRecipient accepts only a public OKP/X25519 JWK with a 32-byte x that
// is not a low-order point (docs/protocol.md §4.1). RFC 7748 §6.1 / RFC 9180
// §7.1.4: a low-order point (or a non-canonical encoding of one) makes every
// X25519 output all zero, so the CVS could never rewrap to it; refusing it
// here keeps a client's mistake a 400 instead of a later 503 cvs_unavailable
// (tests RecipientNotX25519BadRequest, RecipientLowOrderBadRequest).
Result<Recipient> ParseRecipient(const Json& j);

}  // namespace astis::edge
