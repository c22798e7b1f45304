#include "admin/cluster_jwks.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>

#include "admin/operations.h"
#include "common/json.h"
#include "crypto/secret_bytes.h"
#include "jose/jwk.h"
#include "net/tls.h"

namespace astis::admin {
namespace {

constexpr size_t kMaxDiscoveryBytes = 64 * 1024;

Result<Json> KeysOf(std::string_view jwks_text, std::string_view what) {
  // The same check `cluster add` makes: gate 2 must be able to use the set.
  if (Status s = CheckJwksText(jwks_text); !s.ok()) return Error(s.code(), std::string(what) + ": " + s.message());
  JsonLimits limits;
  limits.max_bytes = kMaxJwksBytes;
  ASTIS_ASSIGN_OR_RETURN(Json root, ParseJsonObject(jwks_text, limits));
  const Json keys = root.value("keys", Json::array());
  for (const Json& k : keys) {
    if (!k.is_object() || !k.contains("kid") || !k["kid"].is_string() || k["kid"].get<std::string>().empty())
      return Error(Code::kInvalidArgument, std::string(what) + ": every key needs a kid");
  }
  return keys;
}

std::set<std::string> Kids(const Json& keys) {
  std::set<std::string> out;
  for (const Json& k : keys) out.insert(k["kid"].get<std::string>());
  return out;
}

Result<SecretBytes> ReadToken(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Code::kIo, "cannot open " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t end = text.size();
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' ')) --end;
  SecretBytes token = SecretBytes::CopyFrom(std::string_view(text).substr(0, end));
  SecureWipe(text.data(), text.size());
  if (token.empty()) return Error(Code::kInvalidArgument, path + ": empty token");
  return token;
}

Result<std::string> Get(net::HttpsClient& client, const std::string& target, const SecretBytes& token,
                        std::string_view what) {
  net::HttpRequest request;
  request.target = target;
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("Authorization", "Bearer " + std::string(token.RevealString()));
  auto response = client.Send(request);
  if (!response.ok()) return Error(Code::kUnavailable, std::string(what) + ": " + response.status().message());
  if (response->status != 200) {
    return Error(Code::kUnavailable, std::string(what) + ": HTTP status " + std::to_string(response->status));
  }
  return std::move(response->body);
}

}  // namespace

Result<OpenIdConfiguration> ParseOpenIdConfiguration(std::string_view text) {
  JsonLimits limits;
  limits.max_bytes = kMaxDiscoveryBytes;
  auto root = ParseJsonObject(text, limits);
  if (!root.ok()) return Error(Code::kInvalidArgument, "discovery document: not a JSON object");
  const auto issuer = root->find("issuer");
  const auto uri = root->find("jwks_uri");
  if (issuer == root->end() || !issuer->is_string() || issuer->get<std::string>().empty())
    return Error(Code::kInvalidArgument, "discovery document: no issuer");
  if (uri == root->end() || !uri->is_string()) return Error(Code::kInvalidArgument, "discovery document: no jwks_uri");
  const std::string jwks_uri = uri->get<std::string>();
  constexpr std::string_view kHttps = "https://";
  if (jwks_uri.rfind(kHttps, 0) != 0) return Error(Code::kInvalidArgument, "discovery document: jwks_uri not https");
  const size_t slash = jwks_uri.find('/', kHttps.size());
  if (slash == std::string::npos || slash == kHttps.size())
    return Error(Code::kInvalidArgument, "discovery document: jwks_uri has no path");
  std::string path = jwks_uri.substr(slash);
  const bool clean = std::all_of(path.begin(), path.end(), [](char c) {
    return c > 0x20 && c < 0x7f && c != '?' && c != '#' && c != '\\';
  });
  if (!clean) return Error(Code::kInvalidArgument, "discovery document: jwks_uri path is not a plain path");
  return OpenIdConfiguration{issuer->get<std::string>(), std::move(path)};
}

Result<JwksDiff> DiffJwks(std::string_view pinned, std::string_view fetched) {
  ASTIS_ASSIGN_OR_RETURN(Json old_keys, KeysOf(pinned, "pinned JWKS"));
  ASTIS_ASSIGN_OR_RETURN(Json new_keys, KeysOf(fetched, "cluster JWKS"));
  const std::set<std::string> before = Kids(old_keys);
  const std::set<std::string> after = Kids(new_keys);
  JwksDiff diff;
  for (const std::string& k : after) (before.count(k) ? diff.kept : diff.added).push_back(k);
  for (const std::string& k : before) {
    if (!after.count(k)) diff.removed.push_back(k);
  }
  return diff;
}

Result<std::string> JwksToPin(std::string_view pinned, std::string_view fetched, bool prune) {
  ASTIS_ASSIGN_OR_RETURN(Json old_keys, KeysOf(pinned, "pinned JWKS"));
  ASTIS_ASSIGN_OR_RETURN(Json keys, KeysOf(fetched, "cluster JWKS"));
  if (!prune) {
    const std::set<std::string> served = Kids(keys);
    for (const Json& k : old_keys) {
      if (!served.count(k["kid"].get<std::string>())) keys.push_back(k);
    }
  }
  std::string out = DumpJson(Json{{"keys", keys}});
  ASTIS_RETURN_IF_ERROR(CheckJwksText(out));
  return out;
}

Result<ClusterJwksFetch> FetchClusterJwks(const store::Cluster& cluster, net::ClientOptions options) {
  net::TlsClientConfig tls;
  ASTIS_ASSIGN_OR_RETURN(std::string ca, net::ReadPemFile(cluster.ca_file));
  tls.ca_pem = std::move(ca);
  ASTIS_ASSIGN_OR_RETURN(SecretBytes token, ReadToken(cluster.token_file));
  options.max_response_body_bytes = std::min(options.max_response_body_bytes, kMaxJwksBytes);
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> client,
                         net::HttpsClient::Create(cluster.api_url, tls, options));
  ASTIS_ASSIGN_OR_RETURN(std::string discovery,
                         Get(*client, "/.well-known/openid-configuration", token, "discovery"));
  ASTIS_ASSIGN_OR_RETURN(OpenIdConfiguration oidc, ParseOpenIdConfiguration(discovery));
  // The pinned keys verify tokens whose iss is the registered issuer
  // (docs/protocol.md §6.2): keys of another issuer are not this cluster's.
  if (oidc.issuer != cluster.issuer) {
    return Error(Code::kFailedPrecondition, "the cluster's discovery names issuer " + oidc.issuer +
                                                ", not the registered " + cluster.issuer);
  }
  ASTIS_ASSIGN_OR_RETURN(std::string jwks, Get(*client, oidc.jwks_path, token, "jwks"));
  ASTIS_ASSIGN_OR_RETURN(JwksDiff diff, DiffJwks(cluster.jwks_json, jwks));
  return ClusterJwksFetch{std::move(jwks), std::move(diff)};
}

}  // namespace astis::admin
