// The remote admin API (docs/tenancy.md "Administration over the network",
// docs/admin.md "Remote admin API"): the admin operations over HTTPS with
// mutual TLS, each request authorised by the caller's role.
//
//   POST /admin/v1
//     body: one admin request, exactly as on the admin socket:
//           {"v":1,"op":"cluster.list","args":{},"org":"acme"}
//   200 {"ok":true,"result":...}
//   4xx/5xx {"ok":false,"error":{"code":"<wire code>","message":"..."}}
//
// The caller is the Principal of its client certificate (verified against
// the admin CA by TLS; admin::PrincipalFromCertificate). The organisation a
// request acts in is its "org" member, else the caller's own (org-admin,
// auditor), else the only one (operator; admin::ResolveOrg). Then
// admin::Authorize decides; `apply` with "dry_run" is authorised as `diff`
// (a read). org.list answers an org-admin or auditor with its own
// organisation only. Every request, allowed or not, is one "admin.<op>"
// audit event naming the caller ("admin:<CN>/<role>"), and allowed changes
// are recorded in the store's configuration audit with that actor.
#pragma once

#include <memory>
#include <string>

#include "admin/authz.h"
#include "admin/operations.h"
#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "crypto/random.h"
#include "net/http_server.h"
#include "net/https_client.h"
#include "store/store.h"

namespace astis::admin {

inline constexpr std::string_view kAdminApiPath = "/admin/v1";

// AdminHttpsOptions configures the handler. audit is borrowed (may be null).
struct AdminHttpsOptions {
  ApiKeyGenerator api_key_generator;  // required for apikey.create
  OrgKeySource org_keys;              // answers org.key.list; optional (refused without it)
  audit::AuditSink* audit = nullptr;
  size_t max_body_bytes = 4 * 1024 * 1024;
};

// AdminHttpsHandler answers the remote admin API. store, clock and rng are
// borrowed and must outlive it. Thread-safe when the store is.
class AdminHttpsHandler {
 public:
  AdminHttpsHandler(store::Store& store, Clock& clock, Random& rng, AdminHttpsOptions options);
  // Handle answers one request; it cannot fail (every error is a response).
  net::ServerResponse Handle(const net::ServerRequest& request);

 private:
  Result<Json> Serve(const Principal& principal, const std::string& body, std::string* op_out);
  void Record(const std::string& op, const std::string& actor, const Status& status);

  store::Store& store_;
  Clock& clock_;
  Random& rng_;
  AdminHttpsOptions options_;
};

// AdminHttpsConfig configures StartAdminHttpsServer: the listener and its
// TLS (server certificate, and the admin CA that client certificates must
// chain to; required: the admin API never serves without mutual TLS).
struct AdminHttpsConfig {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;
  net::TlsServerConfig tls;
  unsigned threads = 1;
};

// StartAdminHttpsServer serves handler (borrowed; must outlive the server).
// kInvalidArgument without tls.client_ca_pem; else net::HttpServer::Start's
// errors.
Result<std::unique_ptr<net::HttpServer>> StartAdminHttpsServer(AdminHttpsConfig config, AdminHttpsHandler& handler);

// ConnectAdminHttps returns Operations executed by the remote admin API at
// base_url ("https://host:port"), as the principal of tls's client
// certificate, in organisation org ("" lets the server choose: the
// caller's own, or the only one). Each call is one POST; a refusal is the
// server's Status (code and message), a transport failure kIo. Errors of
// net::HttpsClient::Create; kInvalidArgument without a client certificate.
// Test: AdminHttpsTest.CliTransportSpeaksTheApi.
Result<std::unique_ptr<Operations>> ConnectAdminHttps(std::string_view base_url, const net::TlsClientConfig& tls,
                                                      std::string org);

}  // namespace astis::admin
