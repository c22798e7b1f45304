#include "admin/https_api.h"

#include <utility>

#include "admin/internal/protocol.h"
#include "common/json.h"
#include "crypto/secret_bytes.h"

namespace astis::admin {
namespace {

// AdminHttpStatus is the HTTP status of an admin error: the pod-facing
// mapping (HttpStatus) plus the codes only admin operations answer.
int AdminHttpStatus(Code code) {
  switch (code) {
    case Code::kPermissionDenied:
      return 403;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
      return 409;
    default:
      return HttpStatus(code);
  }
}

net::ServerResponse ErrorResponse(const Status& status) {
  net::ServerResponse r;
  r.status = AdminHttpStatus(status.code());
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Cache-Control", "no-store");
  r.body = DumpJson(Json{{"ok", false}, {"error", internal::StatusToJson(status)}});
  return r;
}

// WipeStrings overwrites every string of j in place (apikey.create's answer
// carries the new key).
void WipeStrings(Json& j) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    SecureWipe(s.data(), s.size());
  } else if (j.is_structured()) {
    for (auto& v : j) WipeStrings(v);
  }
}

bool IsOrgScopedKind(OpKind k) { return k == OpKind::kOrgRead || k == OpKind::kOrgWrite || k == OpKind::kOrgSecret; }

}  // namespace

AdminHttpsHandler::AdminHttpsHandler(store::Store& store, Clock& clock, Random& rng, AdminHttpsOptions options)
    : store_(store), clock_(clock), rng_(rng), options_(std::move(options)) {}

void AdminHttpsHandler::Record(const std::string& op, const std::string& actor, const Status& status) {
  if (options_.audit == nullptr) return;
  audit::AuditEvent e;
  e.event = "admin." + op;
  e.decision = status.ok() ? audit::Decision::kAllow : audit::Decision::kDeny;
  e.code = status.ok() ? Code::kOk : status.code();
  e.reason = status.ok() ? "by " + actor : status.message() + " by " + actor;
  (void)options_.audit->Append(e);  // the store's configuration audit is the authoritative record
}

net::ServerResponse AdminHttpsHandler::Handle(const net::ServerRequest& request) {
  if (request.path != kAdminApiPath) return ErrorResponse(Error(Code::kNotFound, "no such admin endpoint"));
  if (request.method != "POST") return ErrorResponse(Error(Code::kBadRequest, "method not allowed"));
  // Test AdminHttpsTest.RefusesCallerWithoutRole.
  if (request.peer_cert_der == nullptr) {
    Record("request", "unauthenticated", Error(Code::kPermissionDenied, "no client certificate"));
    return ErrorResponse(Error(Code::kPermissionDenied, "a client certificate is required"));
  }
  Result<Principal> principal = PrincipalFromCertificate(*request.peer_cert_der);
  if (!principal.ok()) {
    Record("request", "unauthenticated", principal.status());
    return ErrorResponse(Error(Code::kPermissionDenied, "client certificate carries no valid admin role"));
  }
  if (request.body.size() > options_.max_body_bytes) return ErrorResponse(Error(Code::kTooLarge, "body too large"));
  std::string op = "request";
  Result<Json> result = Serve(*principal, request.body, &op);
  const std::string actor = "admin:" + principal->name + "/" + std::string(RoleName(principal->role));
  Record(op, actor, result.status());
  if (!result.ok()) return ErrorResponse(result.status());
  Json body{{"ok", true}, {"result", std::move(*result)}};
  net::ServerResponse r;
  r.status = 200;
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Cache-Control", "no-store");
  r.body = DumpJson(body);
  WipeStrings(body);
  return r;
}

Result<Json> AdminHttpsHandler::Serve(const Principal& principal, const std::string& body, std::string* op_out) {
  ASTIS_ASSIGN_OR_RETURN(internal::AdminRequest req, internal::DecodeRequest(body, options_.max_body_bytes));
  *op_out = req.op;
  // `apply` with dry_run changes nothing: it is `diff`, a read.
  const bool dry_run = req.op == "apply" && req.args.is_object() && req.args.value("dry_run", false);
  const std::string authz_op = dry_run ? "diff" : req.op;
  ASTIS_ASSIGN_OR_RETURN(OpKind kind, KindOf(authz_op));
  std::string org;
  if (IsOrgScopedKind(kind)) {
    if (!req.org.empty()) {
      org = req.org;
    } else if (principal.role != Role::kOperator) {
      org = principal.org;
    } else {
      ASTIS_ASSIGN_OR_RETURN(org, ResolveOrg(store_, ""));
    }
  }
  ASTIS_RETURN_IF_ERROR(Authorize(principal, authz_op, org));
  const std::string actor = "admin:" + principal.name + "/" + std::string(RoleName(principal.role));
  LocalOperations ops(store_, clock_, rng_, options_.api_key_generator, actor, org, options_.org_keys);
  ASTIS_ASSIGN_OR_RETURN(Json result, internal::Dispatch(ops, req.op, req.args));
  if (req.op == "org.list" && principal.role != Role::kOperator) {
    // {"items":[...]}: keep the caller's own organisation only (test
    // AdminHttpsTest.OrgListShowsOnlyTheCallersOrganization).
    Json own = Json::array();
    if (result.is_object() && result.contains("items") && result["items"].is_array()) {
      for (Json& row : result["items"]) {
        if (row.is_object() && row.value("name", "") == principal.org) own.push_back(std::move(row));
      }
    }
    return Json{{"items", std::move(own)}};
  }
  return result;
}

Result<std::unique_ptr<net::HttpServer>> StartAdminHttpsServer(AdminHttpsConfig config, AdminHttpsHandler& handler) {
  if (!config.tls.client_ca_pem.has_value() || config.tls.client_ca_pem->empty()) {
    return Error(Code::kInvalidArgument, "admin API: an admin CA (mutual TLS) is required");
  }
  net::ServerConfig sc;
  sc.bind_address = config.bind_address;
  sc.port = config.port;
  sc.tls = std::move(config.tls);
  sc.threads = config.threads;
  return net::HttpServer::Start(sc, [&handler](const net::ServerRequest& r) { return handler.Handle(r); });
}

Result<std::unique_ptr<Operations>> ConnectAdminHttps(std::string_view base_url, const net::TlsClientConfig& tls,
                                                      std::string org) {
  if (!tls.client_cert_pem.has_value() || tls.client_key_pem.empty()) {
    return Error(Code::kInvalidArgument, "admin API: a client certificate and key are required");
  }
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> created, net::HttpsClient::Create(base_url, tls));
  std::shared_ptr<net::HttpsClient> client = std::move(created);
  auto transport = [client, org = std::move(org)](std::string_view op, const Json& args) -> Result<Json> {
    Json req{{"v", internal::kProtocolVersion}, {"op", std::string(op)}, {"args", args}};
    if (!org.empty()) req["org"] = org;
    net::HttpRequest r;
    r.method = "POST";
    r.target = std::string(kAdminApiPath);
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = DumpJson(req);
    auto resp = client->Send(r);
    if (!resp.ok()) return Error(Code::kIo, "admin API: " + resp.status().message());
    auto body = ParseJson(resp->body, JsonLimits{64 * 1024 * 1024, 32});
    SecureWipe(resp->body.data(), resp->body.size());  // apikey.create carries a key
    if (!body.ok() || !body->is_object() || !body->contains("ok")) {
      return Error(Code::kInternal, "admin API: malformed response (HTTP " + std::to_string(resp->status) + ")");
    }
    if ((*body)["ok"] == true && body->contains("result")) return std::move((*body)["result"]);
    if (body->contains("error")) return internal::StatusFromJson((*body)["error"]);
    return Error(Code::kInternal, "admin API: malformed response");
  };
  return internal::MakeRemoteOperations(std::move(transport));
}

}  // namespace astis::admin
