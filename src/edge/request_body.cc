#include "edge/request_body.h"

#include <utility>

#include "jose/jwk.h"

namespace astis::edge {
namespace {

Status BadRequest(std::string reason) { return Error(Code::kBadRequest, std::move(reason)); }

}  // namespace

Status ParseBody(const net::ServerRequest& http, int64_t max_bytes, Json* out) {
  if (http.body.size() > static_cast<size_t>(max_bytes)) return Error(Code::kTooLarge, "body over the limit");
  if (!http.query.empty()) return BadRequest("query string not allowed");
  auto body = ParseJsonObject(http.body, JsonLimits{static_cast<size_t>(max_bytes), 8});
  if (!body.ok()) return BadRequest("body: " + body.status().message());
  *out = std::move(body).value();
  return OkStatus();
}

Result<Recipient> ParseRecipient(const Json& j) {
  auto jwk = jose::Jwk::Parse(j);
  if (!jwk.ok() || jwk->kty() != jose::KeyType::kOkp || jwk->crv() != "X25519" || !jwk->RequirePublic().ok()) {
    return BadRequest("recipient is not a public X25519 JWK");
  }
  auto pk = jwk->ToX25519Public();
  if (!pk.ok()) return BadRequest("recipient is not a public X25519 JWK");
  if (IsLowOrderX25519(*pk)) return BadRequest("recipient is a low-order X25519 point");
  return Recipient{*pk, DumpJson(jwk->ToJson())};
}

}  // namespace astis::edge
