// Remote CVS (Tier 2 / HYOK): the CVS runs on the customer's side and the
// edge reaches it over mutual TLS. This is an internal edge<->CVS contract,
// documented in docs/cvs.md (not part of the pod-facing contract in docs/protocol.md):
//
//   POST /cvs/v1/rewrap
//     {"scope":{"cluster":..,"namespace":..,"serviceAccount":..},
//      "recipient":<X25519 public JWK> | "<b64u 32 bytes>",
//      "session":"<session id>", "capsules":["<b64u capsule bytes>", ...]}
//   200 {"results":[{"enc":"<b64u>","ct":"<b64u>"} | {"error":{"code":"capsule_scope"|
//        "unknown_key"|"capsule_invalid"}}, ...]}
//   GET /cvs/v1/healthz -> 200 {"status":"ok"}
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
#include "cvs/cvs.h"
#include "net/http_server.h"
#include "net/https_client.h"
#include "net/tls.h"

namespace astis::cvs {

inline constexpr std::string_view kRewrapPath = "/cvs/v1/rewrap";
inline constexpr std::string_view kHealthzPath = "/cvs/v1/healthz";
// kMaxRewrapRequestBytes bounds a rewrap body: 64 capsules of the largest
// size Capsule::Parse accepts, in b64u, plus the envelope.
inline constexpr size_t kMaxRewrapRequestBytes = 512 * 1024;
// kMaxSessionIdBytes bounds the session id the CVS accepts.
inline constexpr size_t kMaxSessionIdBytes = 256;

// CvsHttpHandler serves the remote contract above over a CvsPort it borrows
// (which must outlive it). Every refusal is a JSON error with a wire code
// only: 400 bad_request, 403 permission_denied (no pinned client
// certificate), 404 not_found, 405 bad_request, 500 internal, 503
// cvs_unavailable. Thread-safe if the port is.
class CvsHttpHandler {
 public:
  // pinned_edge_certs lists the SHA-256 of the edge client certificates
  // allowed to call; an empty list refuses every request.
  CvsHttpHandler(CvsPort& cvs, std::vector<Sha256Digest> pinned_edge_certs);

  // Handle answers one request. It cannot fail: every error is a response.
  net::ServerResponse Handle(const net::ServerRequest& request) const;

 private:
  net::ServerResponse HandleRewrap(const net::ServerRequest& request) const;

  CvsPort& cvs_;
  std::vector<Sha256Digest> pinned_edge_certs_;
};

// CvsServerConfig configures StartCvsServer.
struct CvsServerConfig {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;
  // tls must carry client_ca_pem and at least one pinned client certificate
  // (the edge's): the CVS never serves without mutual TLS.
  net::TlsServerConfig tls;
  unsigned threads = 0;
};

// StartCvsServer serves CvsHttpHandler(cvs, config.tls pins) on a
// net::HttpServer. cvs must outlive the server. Errors: kInvalidArgument
// when mutual TLS or the client pin is missing, else those of
// net::HttpServer::Start.
Result<std::unique_ptr<net::HttpServer>> StartCvsServer(CvsServerConfig config, CvsPort& cvs);

// RemoteCvsClient is the edge's CvsPort for a remote CVS. Any transport or
// TLS failure, timeout, non-200 status or malformed reply is
// kCvsUnavailable (the message names only the status or the failing member).
// Thread-safe.
class RemoteCvsClient final : public CvsPort {
 public:
  // Create requires a client certificate and key and at least one pinned
  // server certificate in tls (kInvalidArgument otherwise), then builds the
  // HTTPS client (errors of net::HttpsClient::Create). No connection yet.
  static Result<std::unique_ptr<RemoteCvsClient>> Create(std::string_view base_url, const net::TlsClientConfig& tls,
                                                         net::ClientOptions options = {});

  // Rewrap sends one POST /cvs/v1/rewrap (see CvsPort::Rewrap). It refuses
  // an empty or over-long batch locally (kBadRequest).
  Result<std::vector<RewrapResult>> Rewrap(const VerifiedScope& scope, const X25519PublicKey& recipient,
                                           std::string_view session_id,
                                           std::span<const std::vector<uint8_t>> capsules) override;
  // Ping sends GET /cvs/v1/healthz; OK only on 200.
  Status Ping() override;

 private:
  explicit RemoteCvsClient(std::unique_ptr<net::HttpsClient> client) : client_(std::move(client)) {}
  std::unique_ptr<net::HttpsClient> client_;
};

}  // namespace astis::cvs
