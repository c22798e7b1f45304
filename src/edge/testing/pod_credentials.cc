#include "edge/testing/pod_credentials.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "jose/dpop.h"
#include "jose/jws.h"

namespace astis::edge::testing {

const SigningKey& SharedClusterRsaKey() {
  static const SigningKey* const key = [] {
    Result<SigningKey> k = SigningKey::GenerateRsa(2048);
    if (!k.ok()) {
      std::fprintf(stderr, "SharedClusterRsaKey: %s\n", k.status().ToString().c_str());
      std::abort();
    }
    return new SigningKey(std::move(k).value());
  }();
  return *key;
}

Json ProjectedTokenClaims(const TokenSubject& s) {
  const int64_t iat = s.now - 10;
  return Json{{"aud", Json::array({"https://kubernetes.default.svc", "astis"})},
              {"exp", s.now + 3600},
              {"iat", iat},
              {"iss", s.issuer},
              {"jti", s.jti},
              {"kubernetes.io",
               {{"namespace", s.ns},
                {"node", {{"name", s.node_name}, {"uid", "7d6c5b4a-3928-4170-8f6e-5d4c3b2a1908"}}},
                {"pod", {{"name", s.pod_name}, {"uid", s.pod_uid}}},
                {"serviceaccount", {{"name", s.service_account}, {"uid", "0e1d2c3b-4a59-4687-b7c6-d5e4f3a2b1c0"}}},
                {"warnafter", iat + 3607}}},
              {"nbf", iat},
              {"sub", "system:serviceaccount:" + s.ns + ":" + s.service_account}};
}

std::string SignToken(const Json& claims, const SigningKey& key, SignatureAlg alg, std::string_view kid) {
  const Json header{{"alg", std::string(SignatureAlgName(alg))}, {"kid", std::string(kid)}};
  return jose::SignCompactJws(header, DumpJson(claims), key, alg);
}

Result<GeneratedApiKey> RegisterApiKey(store::Store& store, const ApiKeyScope& scope, Random& rng) {
  ASTIS_ASSIGN_OR_RETURN(GeneratedApiKey key, GenerateApiKey(rng));
  store::ApiKey rec;
  rec.id = key.id;
  rec.hash.assign(key.hash.begin(), key.hash.end());
  rec.cluster = scope.cluster;
  rec.namespace_ = scope.ns;
  rec.service_account = scope.service_account;
  rec.created_at = scope.created_at;
  rec.expires_at = scope.expires_at;
  rec.org = scope.org;
  ASTIS_RETURN_IF_ERROR(store.CreateApiKey(rec));
  return key;
}

Result<net::HttpRequest> PodRequest(const PodCredentials& creds, std::string_view method, std::string_view base_url,
                                    std::string_view path, std::string body, int64_t now,
                                    std::optional<std::string_view> nonce, Random& rng) {
  ASTIS_ASSIGN_OR_RETURN(std::string jti, jose::NewDpopJti(rng));
  std::optional<std::string> bh;
  if (!body.empty()) bh = jose::DpopHash(body);
  net::HttpRequest req;
  req.method = std::string(method);
  req.target = std::string(path);
  req.headers.emplace_back("X-Astis-Api-Key", std::string(creds.api_key));
  req.headers.emplace_back("Authorization", "DPoP " + std::string(creds.token));
  req.headers.emplace_back(
      "DPoP", jose::MakeDpopProof(*creds.dpop, method, std::string(base_url) + std::string(path), now, jti,
                                  jose::DpopHash(creds.token), nonce,
                                  bh ? std::optional<std::string_view>(*bh) : std::nullopt));
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.body = std::move(body);
  return req;
}

Result<net::HttpResponse> SendPodRequest(net::HttpsClient& http, const PodCredentials& creds, std::string_view method,
                                         std::string_view base_url, std::string_view path, std::string body,
                                         int64_t now, std::string& nonce, Random& rng) {
  std::optional<std::string_view> carried;
  if (!nonce.empty()) carried = nonce;
  ASTIS_ASSIGN_OR_RETURN(net::HttpRequest req,
                         PodRequest(creds, method, base_url, path, std::move(body), now, carried, rng));
  ASTIS_ASSIGN_OR_RETURN(net::HttpResponse resp, http.Send(req));
  if (auto n = resp.Header("DPoP-Nonce"); n.has_value()) nonce = std::string(*n);
  return resp;
}

void ReadEveryGate4Decision(EdgeConfig& config) {
  config.gate4.max_staleness_ms = 0;
  config.gate4.retry_ms = 0;
}

bool AsksForDpopNonce(const net::HttpResponse& resp) {
  return resp.status == 401 && resp.Header("WWW-Authenticate").value_or("") == "DPoP error=\"use_dpop_nonce\"";
}

}  // namespace astis::edge::testing
