// Remote CVS (Tier 2 / HYOK): the CVS runs on the customer's side and the
// edge reaches it over mutual TLS. This is an internal edge<->CVS contract,
// documented in docs/cvs.md (not part of the pod-facing contract in docs/protocol.md):
//
//   POST /cvs/v1/rewrap
//     {"scope":{"org":..,"cluster":..,"namespace":..,"serviceAccount":..},
//      "recipient":<X25519 public JWK> | "<b64u 32 bytes>",
//      "session":"<session id>", "capsules":["<b64u capsule bytes>", ...]}
//   200 {"results":[{"enc":"<b64u>","ct":"<b64u>"} | {"error":{"code":"capsule_scope"|
//        "unknown_key"|"capsule_invalid"}}, ...]}
//   GET /cvs/v1/healthz -> 200 {"status":"ok"}
//   POST /cvs/v1/orgs/{org}/keys         (empty body) -> 201 {"org","kid","publicJwk"}
//   POST /cvs/v1/orgs/{org}/keys/rotate  (empty body) -> 200 {"org","kid","previousKid",
//        "retiredKeys","publicJwk"}
//
// "org" in scope may be missing (an edge older than organisations): it is
// then the default organisation; upgrade the CVS before the edges
// (docs/cvs.md "Upgrading"). The key endpoints (Tier 1 key custody) answer
// only the public JWK: the private key never leaves the CVS.
//
// Only the edge's pinned client certificate is served (checked by TLS and
// again by the handler); the client in turn accepts only the pinned CVS
// server certificate.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/sha256.h"
#include "common/json.h"
#include "cvs/cvs.h"
#include "cvs/key_management.h"
#include "net/http_server.h"
#include "net/https_client.h"
#include "net/tls.h"

namespace astis::cvs {

inline constexpr std::string_view kRewrapPath = "/cvs/v1/rewrap";
inline constexpr std::string_view kHealthzPath = "/cvs/v1/healthz";
// kOrgsPathPrefix starts the key custody paths: kOrgsPathPrefix + ORG +
// "/keys" (create) or + "/keys/rotate".
inline constexpr std::string_view kOrgsPathPrefix = "/cvs/v1/orgs/";
// kMaxRewrapRequestBytes bounds a rewrap body: 64 capsules of the largest
// size Capsule::Parse accepts, in b64u, plus the envelope.
inline constexpr size_t kMaxRewrapRequestBytes = 512 * 1024;
// kMaxSessionIdBytes bounds the session id the CVS accepts.
inline constexpr size_t kMaxSessionIdBytes = 256;

// CvsHttpHandler serves the remote contract above over a CvsPort it borrows
// (which must outlive it). Every refusal is a JSON error with a wire code
// only: 400 bad_request, 403 permission_denied (no pinned client
// certificate, or key custody not served), 404 not_found, 405 bad_request,
// 409 already_exists, 500 internal, 503 cvs_unavailable. Thread-safe if the
// port and the custodian are.
class CvsHttpHandler {
 public:
  // pinned_edge_certs lists the SHA-256 of the edge client certificates
  // allowed to call; an empty list refuses every request. custodian, when
  // set (borrowed), serves the key custody endpoints; without it they
  // answer 403.
  CvsHttpHandler(CvsPort& cvs, std::vector<Sha256Digest> pinned_edge_certs, OrgKeyCustodian* custodian = nullptr);

  // Handle answers one request. It cannot fail: every error is a response.
  net::ServerResponse Handle(const net::ServerRequest& request) const;

 private:
  net::ServerResponse HandleRewrap(const net::ServerRequest& request) const;
  net::ServerResponse HandleOrgKeys(const net::ServerRequest& request) const;

  CvsPort& cvs_;
  std::vector<Sha256Digest> pinned_edge_certs_;
  OrgKeyCustodian* custodian_;
};

// CvsServerConfig configures StartCvsServer.
struct CvsServerConfig {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;
  // tls must carry client_ca_pem and at least one pinned client certificate
  // (the edge's): the CVS never serves without mutual TLS.
  net::TlsServerConfig tls;
  unsigned threads = 0;
  // custodian, when set, serves the key custody endpoints (borrowed; must
  // outlive the server).
  OrgKeyCustodian* custodian = nullptr;
};

// StartCvsServer serves CvsHttpHandler(cvs, config.tls pins) on a
// net::HttpServer. cvs must outlive the server. Errors: kInvalidArgument
// when mutual TLS or the client pin is missing, else those of
// net::HttpServer::Start.
Result<std::unique_ptr<net::HttpServer>> StartCvsServer(CvsServerConfig config, CvsPort& cvs);

// ParseOrgKeyReply checks a key custody reply body strictly: exactly the
// members named above (previousKid and retiredKeys only when rotation), org
// equal to the one asked for, publicJwk a public X25519 JWK (a "d" member
// is refused) whose kid equals kid. kCvsUnavailable otherwise (a CVS not
// working as specified). Test: ParseOrgKeyReplyRefusesPrivateOrMismatched.
Result<OrgPublicKeyInfo> ParseOrgKeyReply(std::string_view body, std::string_view org, bool rotation);

// RemoteCvsClient is the edge's CvsPort for a remote CVS, and the
// OrgKeyCustodian of the ASTIS CVS when that is remote. Any transport or
// TLS failure, timeout, non-200 status or malformed reply is
// kCvsUnavailable (the message names only the status or the failing member).
// Thread-safe.
class RemoteCvsClient final : public CvsPort, public OrgKeyCustodian {
 public:
  // Create requires a client certificate and key and at least one pinned
  // server certificate or SPKI in tls (kInvalidArgument otherwise), then
  // builds the HTTPS client (errors of net::HttpsClient::Create). No
  // connection yet.
  static Result<std::unique_ptr<RemoteCvsClient>> Create(std::string_view base_url, const net::TlsClientConfig& tls,
                                                         net::ClientOptions options = {});
  // CreateTrustingCa is Create for an organisation's own CVS (Tier 2),
  // pinned by CA rather than by leaf, so a renewed certificate is no
  // outage: tls must carry a client certificate and key, an explicit CA
  // bundle (ca_pem, never the system store), the name the certificate must
  // carry (server_name) with verify_hostname on, and may carry an SPKI pin.
  // kInvalidArgument otherwise. Test: CreateTrustingCaNeedsCaAndName.
  static Result<std::unique_ptr<RemoteCvsClient>> CreateTrustingCa(std::string_view base_url,
                                                                   const net::TlsClientConfig& tls,
                                                                   net::ClientOptions options = {});

  // Rewrap sends one POST /cvs/v1/rewrap (see CvsPort::Rewrap). It refuses
  // an empty or over-long batch locally (kBadRequest).
  Result<std::vector<RewrapResult>> Rewrap(const VerifiedScope& scope, const X25519PublicKey& recipient,
                                           std::string_view session_id,
                                           std::span<const std::vector<uint8_t>> capsules) override;
  // Ping sends GET /cvs/v1/healthz; OK only on 200.
  Status Ping() override;

  // CreateOrgKey / RotateOrgKey call the key custody endpoints. Errors:
  // kInvalidArgument (bad organisation name, checked locally too),
  // kAlreadyExists (create: 409), kNotFound (rotate: 404),
  // kFailedPrecondition (the CVS does not serve key custody: 403), else
  // kCvsUnavailable.
  Result<OrgPublicKeyInfo> CreateOrgKey(std::string_view org) override;
  Result<OrgPublicKeyInfo> RotateOrgKey(std::string_view org) override;

 private:
  explicit RemoteCvsClient(std::unique_ptr<net::HttpsClient> client) : client_(std::move(client)) {}
  Result<OrgPublicKeyInfo> OrgKeyCall(std::string_view org, bool rotation);
  std::unique_ptr<net::HttpsClient> client_;
};

}  // namespace astis::cvs
