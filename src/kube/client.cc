#include "kube/client.h"

#include <string>
#include <utility>

#include "net/https_client.h"
#include "net/tls.h"

namespace astis::kube {
namespace {

bool IsAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

Status Unavailable(std::string message) { return Error(Code::kKubeUnavailable, std::move(message)); }

}  // namespace

bool IsValidObjectName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  if (!IsAlnumLower(s.front()) || !IsAlnumLower(s.back())) return false;
  for (char c : s) {
    if (!IsAlnumLower(c) && c != '-' && c != '.') return false;
  }
  return true;
}

Result<std::unique_ptr<HttpKubeClient>> HttpKubeClient::Create(const ClusterConnection& conn, const Clock& clock,
                                                               KubeClientOptions options) {
  net::TlsClientConfig tls = TlsConfigOf(conn);
  net::ClientOptions copts;
  copts.connect_timeout = options.connect_timeout;
  copts.request_timeout = options.request_timeout;
  copts.max_response_body_bytes = kMaxPodJsonBytes;
  Result<std::unique_ptr<net::HttpsClient>> http = net::HttpsClient::Create(conn.api_url, tls, copts);
  if (!http.ok()) return Error(Code::kInvalidArgument, "Kubernetes API client: " + http.status().message());
  return std::unique_ptr<HttpKubeClient>(
      new HttpKubeClient(std::move(*http), MakeTokenSource(conn, clock)));
}

HttpKubeClient::HttpKubeClient(std::unique_ptr<net::HttpsClient> http, std::unique_ptr<TokenSource> token)
    : http_(std::move(http)), token_(std::move(token)) {}

HttpKubeClient::~HttpKubeClient() = default;

Result<int> HttpKubeClient::Get(const std::string& target, std::string* body) {
  net::HttpRequest req;
  req.method = "GET";
  req.target = target;
  req.headers.emplace_back("Accept", "application/json");
  if (token_ != nullptr) {
    Result<SecretBytes> token = token_->Token();
    if (!token.ok()) return Unavailable("Kubernetes API credential: " + token.status().message());
    std::string value = "Bearer ";
    value.append(token->RevealString());
    req.headers.emplace_back("Authorization", std::move(value));
  }
  Result<net::HttpResponse> resp = http_->Send(req);
  for (auto& [name, value] : req.headers) {
    if (name == "Authorization") SecureWipe(value.data(), value.size());
  }
  if (!resp.ok()) return Unavailable("Kubernetes API unreachable: " + resp.status().message());
  if (body != nullptr) *body = std::move(resp->body);
  return resp->status;
}

Result<PodView> HttpKubeClient::GetPod(std::string_view ns, std::string_view name) {
  // The names become a request path: only valid object names get there.
  if (!IsValidObjectName(ns) || !IsValidObjectName(name)) {
    return Error(Code::kInvalidArgument, "pod namespace or name is not a valid Kubernetes object name");
  }
  const std::string where = std::string(ns) + "/" + std::string(name);
  std::string body;
  ASTIS_ASSIGN_OR_RETURN(int status,
                         Get("/api/v1/namespaces/" + std::string(ns) + "/pods/" + std::string(name), &body));
  if (status == 404) return Error(Code::kPodNotLive, "pod " + where + " does not exist");
  if (status != 200) {
    return Unavailable("Kubernetes API answered HTTP " + std::to_string(status) + " reading pod " + where);
  }
  Result<PodView> pod = ParsePod(body);
  if (!pod.ok()) return Unavailable("Kubernetes API sent an unparsable pod " + where + ": " + pod.status().message());
  if (pod->ns != ns || pod->name != name) {
    return Unavailable("Kubernetes API sent a different pod than " + where);
  }
  return pod;
}

Status HttpKubeClient::Ping() {
  ASTIS_ASSIGN_OR_RETURN(int status, Get("/readyz", nullptr));
  if (status != 200) return Unavailable("Kubernetes API /readyz answered HTTP " + std::to_string(status));
  return OkStatus();
}

}  // namespace astis::kube
