#include "cvs/remote.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "capsule/seal.h"
#include "common/dns1123.h"
#include "common/encoding.h"
#include "common/json.h"
#include "crypto/aead.h"
#include "crypto/secret_bytes.h"
#include "jose/jwk.h"

namespace astis::cvs {

// RemoteScopeDecoder is the remote CVS's only way to a VerifiedScope: the
// scope member of a rewrap request the edge sent over mutually authenticated
// TLS (cvs/cvs.h VerifiedScope says who else may make one).
class RemoteScopeDecoder {
 public:
  // Decode checks {"org","cluster","namespace","serviceAccount"} strictly
  // ("org" may be missing: an older edge, meaning kDefaultOrg); kBadRequest
  // naming the member otherwise.
  static Result<VerifiedScope> Decode(const Json& scope);
};

namespace {

net::ServerResponse ErrorResponse(Code code, std::string_view message) {
  return net::JsonError(HttpStatus(code), WireName(code), message);
}

net::ServerResponse JsonOk(const Json& body) {
  net::ServerResponse r;
  r.status = 200;
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Cache-Control", "no-store");
  r.body = DumpJson(body);
  return r;
}

// HasExactly reports whether obj is an object whose member names are exactly
// names (common/json.h RequireExactMembers).
bool HasExactly(const Json& obj, std::initializer_list<std::string_view> names) {
  return RequireExactMembers(obj, names, "").ok();
}

struct RewrapRequest {
  std::optional<VerifiedScope> scope;  // set by ParseRewrapRequest
  X25519PublicKey recipient;
  std::string session;
  std::vector<std::vector<uint8_t>> capsules;
};

Status Bad(std::string message) { return Error(Code::kBadRequest, std::move(message)); }

Result<X25519PublicKey> ParseRecipient(const Json& value) {
  if (value.is_string()) {
    auto raw = B64uDecode(value.get<std::string>());
    if (!raw.ok()) return Bad("recipient: not b64u");
    auto pk = X25519PublicKey::FromBytes(*raw);
    if (!pk.ok()) return Bad("recipient: not 32 bytes");
    return *pk;
  }
  auto jwk = jose::Jwk::Parse(value);
  if (!jwk.ok() || !jwk->RequirePublic().ok()) return Bad("recipient: not a public JWK");
  auto pk = jwk->ToX25519Public();
  if (!pk.ok()) return Bad("recipient: not an X25519 key");
  return *pk;
}

// ParseRewrapRequest checks the whole envelope strictly. Messages name
// members, never values.
Result<RewrapRequest> ParseRewrapRequest(std::string_view body) {
  JsonLimits limits;
  limits.max_bytes = kMaxRewrapRequestBytes;
  limits.max_depth = 4;
  auto root = ParseJsonObject(body, limits);
  if (!root.ok()) return Bad("body is not a JSON object");
  if (!HasExactly(*root, {"scope", "recipient", "session", "capsules"}))
    return Bad("body must hold exactly scope, recipient, session, capsules");
  RewrapRequest req;
  ASTIS_ASSIGN_OR_RETURN(req.scope, RemoteScopeDecoder::Decode((*root)["scope"]));
  ASTIS_ASSIGN_OR_RETURN(req.recipient, ParseRecipient((*root)["recipient"]));
  auto session = GetString(*root, "session");
  if (!session.ok() || session->empty() || session->size() > kMaxSessionIdBytes) return Bad("session: invalid");
  req.session = *session;
  const Json& caps = (*root)["capsules"];
  if (!caps.is_array() || caps.empty() || caps.size() > kMaxCapsulesPerCall)
    return Bad("capsules: need an array of 1 to 64");
  for (const Json& c : caps) {
    if (!c.is_string()) return Bad("capsules: entries must be strings");
    auto bytes = B64uDecode(c.get<std::string>());
    if (!bytes.ok()) return Bad("capsules: entry is not b64u");
    req.capsules.push_back(std::move(*bytes));
  }
  return req;
}

bool IsPerCapsuleCode(Code c) {
  return c == Code::kCapsuleScope || c == Code::kUnknownKey || c == Code::kCapsuleInvalid;
}

Status Unavailable(std::string message) { return Error(Code::kCvsUnavailable, "remote cvs: " + std::move(message)); }

// ParseRewrapResponse checks a 200 body strictly; anything unexpected means
// the CVS is not working as specified, which the edge treats as unavailable.
Result<std::vector<RewrapResult>> ParseRewrapResponse(std::string_view body, size_t expected) {
  JsonLimits limits;
  limits.max_bytes = 64 * 1024;
  limits.max_depth = 4;
  auto root = ParseJsonObject(body, limits);
  if (!root.ok() || !HasExactly(*root, {"results"})) return Unavailable("reply is not {\"results\":[...]}");
  const Json& results = (*root)["results"];
  if (!results.is_array() || results.size() != expected) return Unavailable("reply has the wrong number of results");
  std::vector<RewrapResult> out;
  out.reserve(expected);
  for (const Json& item : results) {
    RewrapResult r;
    if (HasExactly(item, {"enc", "ct"})) {
      auto enc = GetString(item, "enc");
      auto ct = GetString(item, "ct");
      auto enc_bytes = enc.ok() ? B64uDecode(*enc) : Result<std::vector<uint8_t>>(enc.status());
      auto ct_bytes = ct.ok() ? B64uDecode(*ct) : Result<std::vector<uint8_t>>(ct.status());
      if (!enc_bytes.ok() || !ct_bytes.ok() || enc_bytes->size() != capsule::kCapsuleEncSize ||
          ct_bytes->size() != capsule::kDekSize + kAeadTagSize)
        return Unavailable("reply holds a malformed result");
      r.code = Code::kOk;
      r.enc = std::move(*enc_bytes);
      r.ct = std::move(*ct_bytes);
    } else if (HasExactly(item, {"error"}) && HasExactly(item["error"], {"code"}) && item["error"]["code"].is_string()) {
      const std::string code = item["error"]["code"].get<std::string>();
      Code parsed = Code::kOk;
      for (Code c : {Code::kCapsuleScope, Code::kUnknownKey, Code::kCapsuleInvalid}) {
        if (WireName(c) == code) parsed = c;
      }
      if (!IsPerCapsuleCode(parsed)) return Unavailable("reply holds an unknown per-capsule code");
      r.code = parsed;
    } else {
      return Unavailable("reply holds a malformed result");
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

Result<VerifiedScope> RemoteScopeDecoder::Decode(const Json& scope) {
  // An edge older than organisations sends no "org": its scope is the
  // default organisation's (docs/cvs.md "Upgrading"). Test: ScopeWithoutOrgIsDefault.
  const bool has_org = scope.is_object() && scope.contains("org");
  if (has_org ? !HasExactly(scope, {"org", "cluster", "namespace", "serviceAccount"})
              : !HasExactly(scope, {"cluster", "namespace", "serviceAccount"}))
    return Bad("scope: wrong members");
  auto org = has_org ? GetString(scope, "org") : Result<std::string>(std::string(kDefaultOrg));
  auto cluster = GetString(scope, "cluster");
  auto ns = GetString(scope, "namespace");
  auto sa = GetString(scope, "serviceAccount");
  if (!org.ok() || !cluster.ok() || !ns.ok() || !sa.ok()) return Bad("scope: members must be strings");
  // Organisation names are DNS-1123 labels (store::ValidateOrganization).
  if (!IsDns1123Label(*org)) return Bad("scope: org not a DNS-1123 label");
  // docs/protocol.md §3.1 (1.1): cluster and namespace are DNS-1123 labels,
  // serviceAccount a DNS-1123 subdomain. Test: HandlerRejectsMalformedRequests.
  if (!IsDns1123Label(*cluster) || !IsDns1123Label(*ns) || !IsDns1123Subdomain(*sa))
    return Bad("scope: cluster/namespace not DNS-1123 labels or serviceAccount not a subdomain");
  return VerifiedScope(VerifiedScope::Key(), *std::move(org), *std::move(cluster), *std::move(ns),
                       *std::move(sa));
}

CvsHttpHandler::CvsHttpHandler(CvsPort& cvs, std::vector<Sha256Digest> pinned_edge_certs,
                               OrgKeyCustodian* custodian)
    : cvs_(cvs), pinned_edge_certs_(std::move(pinned_edge_certs)), custodian_(custodian) {}

net::ServerResponse CvsHttpHandler::Handle(const net::ServerRequest& request) const {
  // Defence in depth on top of the TLS layer: only a verified, pinned edge
  // certificate is served. Test: RemoteCvsRejectsUnpinnedClient,
  // HandlerRefusesRequestWithoutPinnedCert.
  const bool pinned = request.peer_cert_sha256.has_value() &&
                      std::find(pinned_edge_certs_.begin(), pinned_edge_certs_.end(), *request.peer_cert_sha256) !=
                          pinned_edge_certs_.end();
  if (!pinned) return net::JsonError(403, WireName(Code::kPermissionDenied), "client certificate not allowed");
  if (request.path == kHealthzPath) {
    if (request.method != "GET") return net::JsonError(405, WireName(Code::kBadRequest), "method not allowed");
    if (!cvs_.Ping().ok()) return ErrorResponse(Code::kCvsUnavailable, "cvs not ready");
    return JsonOk(Json{{"status", "ok"}});
  }
  if (request.path == kRewrapPath) {
    if (request.method != "POST") return net::JsonError(405, WireName(Code::kBadRequest), "method not allowed");
    if (!request.query.empty()) return ErrorResponse(Code::kBadRequest, "no query allowed");
    return HandleRewrap(request);
  }
  if (request.path.starts_with(kOrgsPathPrefix)) return HandleOrgKeys(request);
  return ErrorResponse(Code::kNotFound, "not found");
}

net::ServerResponse CvsHttpHandler::HandleOrgKeys(const net::ServerRequest& request) const {
  // POST /cvs/v1/orgs/{org}/keys[/rotate], only to the pinned edge (checked
  // in Handle). The reply holds the public JWK only: the private key never
  // leaves the CVS. Tests: HandlerServesKeyCustodyPublicOnly, HandlerRefusesBadKeyCustodyRequests.
  std::string_view rest = std::string_view(request.path).substr(kOrgsPathPrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return ErrorResponse(Code::kNotFound, "not found");
  const std::string_view org = rest.substr(0, slash);
  const std::string_view action = rest.substr(slash);
  const bool rotation = action == "/keys/rotate";
  if (!rotation && action != "/keys") return ErrorResponse(Code::kNotFound, "not found");
  if (request.method != "POST") return net::JsonError(405, WireName(Code::kBadRequest), "method not allowed");
  if (!request.query.empty()) return ErrorResponse(Code::kBadRequest, "no query allowed");
  if (!request.body.empty() && request.body != "{}") return ErrorResponse(Code::kBadRequest, "body must be empty");
  if (!IsDns1123Label(org)) return ErrorResponse(Code::kBadRequest, "organisation is not a DNS-1123 label");
  if (custodian_ == nullptr) {
    return net::JsonError(403, WireName(Code::kPermissionDenied), "this cvs does not hold organisations' keys");
  }
  auto info = rotation ? custodian_->RotateOrgKey(org) : custodian_->CreateOrgKey(org);
  if (!info.ok()) {
    switch (info.status().code()) {
      case Code::kAlreadyExists: return net::JsonError(409, WireName(Code::kAlreadyExists), "key set exists");
      case Code::kNotFound: return ErrorResponse(Code::kNotFound, "organisation has no key set");
      case Code::kInvalidArgument: return ErrorResponse(Code::kBadRequest, "invalid organisation");
      default: return ErrorResponse(Code::kInternal, "internal error");
    }
  }
  Json body = {{"org", info->org}, {"kid", info->kid}, {"publicJwk", info->public_jwk}};
  if (rotation) {
    body["previousKid"] = info->previous_kid;
    body["retiredKeys"] = info->retired_keys;
  }
  net::ServerResponse r = JsonOk(body);
  if (!rotation) r.status = 201;
  return r;
}

net::ServerResponse CvsHttpHandler::HandleRewrap(const net::ServerRequest& request) const {
  auto req = ParseRewrapRequest(request.body);
  if (!req.ok()) return ErrorResponse(Code::kBadRequest, "malformed rewrap request");
  auto results = cvs_.Rewrap(*req->scope, req->recipient, req->session, req->capsules);
  if (!results.ok()) {
    Code code = results.status().code();
    if (code == Code::kBadRequest) return ErrorResponse(code, "malformed rewrap request");
    if (code == Code::kCvsUnavailable) return ErrorResponse(code, "cvs not ready");
    return ErrorResponse(Code::kInternal, "internal error");
  }
  Json items = Json::array();
  for (const RewrapResult& r : *results) {
    if (r.code == Code::kOk) {
      items.push_back(Json{{"enc", B64uEncode(r.enc)}, {"ct", B64uEncode(r.ct)}});
    } else {
      items.push_back(Json{{"error", {{"code", std::string(WireName(r.code))}}}});
    }
  }
  return JsonOk(Json{{"results", std::move(items)}});
}

Result<std::unique_ptr<net::HttpServer>> StartCvsServer(CvsServerConfig config, CvsPort& cvs) {
  // The CVS accepts only the edge: mutual TLS with a pinned client
  // certificate is mandatory. Test: StartRefusesServerWithoutMutualTls.
  if (!config.tls.client_ca_pem.has_value() || config.tls.pinned_client_cert_sha256.empty())
    return Error(Code::kInvalidArgument, "cvs server: mutual TLS with a pinned edge certificate is required");
  auto handler = std::make_shared<CvsHttpHandler>(cvs, config.tls.pinned_client_cert_sha256, config.custodian);
  net::ServerConfig server;
  server.bind_address = config.bind_address;
  server.port = config.port;
  server.threads = config.threads;
  server.limits.max_body_bytes = kMaxRewrapRequestBytes;
  server.tls = std::move(config.tls);
  return net::HttpServer::Start(server, [handler](const net::ServerRequest& r) { return handler->Handle(r); });
}

Result<std::unique_ptr<RemoteCvsClient>> RemoteCvsClient::Create(std::string_view base_url,
                                                                 const net::TlsClientConfig& tls,
                                                                 net::ClientOptions options) {
  // The edge presents its certificate and trusts only the pinned CVS
  // certificate. Test: RemoteCvsClientRequiresPinAndClientCert.
  if (!tls.client_cert_pem.has_value() || tls.client_key_pem.empty())
    return Error(Code::kInvalidArgument, "remote cvs: a client certificate and key are required");
  if (tls.pinned_server_cert_sha256.empty() && tls.pinned_server_spki_sha256.empty())
    return Error(Code::kInvalidArgument, "remote cvs: a pinned server certificate is required");
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> client, net::HttpsClient::Create(base_url, tls, options));
  return std::unique_ptr<RemoteCvsClient>(new RemoteCvsClient(std::move(client)));
}

Result<std::unique_ptr<RemoteCvsClient>> RemoteCvsClient::CreateTrustingCa(std::string_view base_url,
                                                                           const net::TlsClientConfig& tls,
                                                                           net::ClientOptions options) {
  // An organisation's CVS is trusted by its CA bundle and the name its
  // certificate carries (RFC 6125), optionally narrowed to one key by SPKI;
  // never by the system store. Test: CreateTrustingCaNeedsCaAndName.
  if (!tls.client_cert_pem.has_value() || tls.client_key_pem.empty())
    return Error(Code::kInvalidArgument, "remote cvs: a client certificate and key are required");
  if (!tls.ca_pem.has_value() || tls.ca_pem->empty())
    return Error(Code::kInvalidArgument, "remote cvs: the organisation's CA bundle is required");
  if (tls.server_name.empty() || !tls.verify_hostname)
    return Error(Code::kInvalidArgument, "remote cvs: the CVS identity (server name) is required");
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> client, net::HttpsClient::Create(base_url, tls, options));
  return std::unique_ptr<RemoteCvsClient>(new RemoteCvsClient(std::move(client)));
}

Result<std::vector<RewrapResult>> RemoteCvsClient::Rewrap(const VerifiedScope& scope,
                                                          const X25519PublicKey& recipient,
                                                          std::string_view session_id,
                                                          std::span<const std::vector<uint8_t>> capsules) {
  if (capsules.empty() || capsules.size() > kMaxCapsulesPerCall)
    return Error(Code::kBadRequest, "cvs: a batch holds 1 to 64 capsules");
  if (session_id.empty() || session_id.size() > kMaxSessionIdBytes)
    return Error(Code::kBadRequest, "cvs: invalid session id");
  Json caps = Json::array();
  for (const auto& c : capsules) caps.push_back(B64uEncode(c));
  Json body = {{"scope",
                {{"org", scope.org()},
                 {"cluster", scope.cluster()},
                 {"namespace", scope.namespace_()},
                 {"serviceAccount", scope.service_account()}}},
               {"recipient", jose::Jwk::FromX25519Public(recipient).ToJson()},
               {"session", std::string(session_id)},
               {"capsules", std::move(caps)}};
  net::HttpRequest request;
  request.method = "POST";
  request.target = std::string(kRewrapPath);
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = DumpJson(body);
  auto response = client_->Send(request);
  // Any transport, TLS or timeout failure. Test: RemoteCvsDownIsCvsUnavailable.
  if (!response.ok()) return Unavailable("request failed");
  if (response->status != 200) return Unavailable("status " + std::to_string(response->status));
  return ParseRewrapResponse(response->body, capsules.size());
}

Result<OrgPublicKeyInfo> ParseOrgKeyReply(std::string_view body, std::string_view org, bool rotation) {
  JsonLimits limits;
  limits.max_bytes = 16 * 1024;
  limits.max_depth = 3;
  auto root = ParseJsonObject(body, limits);
  if (!root.ok()) return Unavailable("key reply is not a JSON object");
  const bool exact = rotation ? HasExactly(*root, {"org", "kid", "previousKid", "retiredKeys", "publicJwk"})
                              : HasExactly(*root, {"org", "kid", "publicJwk"});
  if (!exact) return Unavailable("key reply has the wrong members");
  auto got_org = GetString(*root, "org");
  auto kid = GetString(*root, "kid");
  if (!got_org.ok() || *got_org != org) return Unavailable("key reply names another organisation");
  if (!kid.ok() || kid->empty()) return Unavailable("key reply: kid");
  const Json& jwk_json = (*root)["publicJwk"];
  // A reply carrying private key material is refused outright, never used.
  if (!jwk_json.is_object() || jwk_json.contains("d")) return Unavailable("key reply: publicJwk is not public");
  auto jwk = jose::Jwk::Parse(jwk_json);
  if (!jwk.ok() || !jwk->RequirePublic().ok() || !jwk->ToX25519Public().ok())
    return Unavailable("key reply: publicJwk is not a public X25519 JWK");
  if (!jwk_json.contains("kid") || !jwk_json["kid"].is_string() || jwk_json["kid"].get<std::string>() != *kid)
    return Unavailable("key reply: publicJwk kid differs");
  OrgPublicKeyInfo info;
  info.org = std::string(org);
  info.kid = *std::move(kid);
  info.public_jwk = jwk_json;
  if (rotation) {
    auto prev = GetString(*root, "previousKid");
    const Json& retired = (*root)["retiredKeys"];
    if (!prev.ok() || !retired.is_number_unsigned()) return Unavailable("key reply: previousKid/retiredKeys");
    info.previous_kid = *std::move(prev);
    info.retired_keys = retired.get<size_t>();
  }
  return info;
}

Result<OrgPublicKeyInfo> RemoteCvsClient::OrgKeyCall(std::string_view org, bool rotation) {
  // The name goes into the path: only a DNS-1123 label.
  if (!IsDns1123Label(org)) return Error(Code::kInvalidArgument, "remote cvs: organisation is not a DNS-1123 label");
  net::HttpRequest request;
  request.method = "POST";
  request.target = std::string(kOrgsPathPrefix) + std::string(org) + (rotation ? "/keys/rotate" : "/keys");
  auto response = client_->Send(request);
  if (!response.ok()) return Unavailable("request failed");
  switch (response->status) {
    case 200:
    case 201: return ParseOrgKeyReply(response->body, org, rotation);
    case 400: return Error(Code::kInvalidArgument, "remote cvs: organisation refused");
    case 403: return Error(Code::kFailedPrecondition, "remote cvs: does not hold organisations' keys");
    case 404: return Error(Code::kNotFound, "remote cvs: organisation has no key set");
    case 409: return Error(Code::kAlreadyExists, "remote cvs: organisation already has a key set");
    default: return Unavailable("status " + std::to_string(response->status));
  }
}

Result<OrgPublicKeyInfo> RemoteCvsClient::CreateOrgKey(std::string_view org) { return OrgKeyCall(org, false); }

Result<OrgPublicKeyInfo> RemoteCvsClient::RotateOrgKey(std::string_view org) { return OrgKeyCall(org, true); }

Status RemoteCvsClient::Ping() {
  net::HttpRequest request;
  request.method = "GET";
  request.target = std::string(kHealthzPath);
  auto response = client_->Send(request);
  if (!response.ok()) return Unavailable("request failed");
  if (response->status != 200) return Unavailable("status " + std::to_string(response->status));
  return OkStatus();
}

}  // namespace astis::cvs
