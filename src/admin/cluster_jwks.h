// Cluster signing-key rotation (docs/operations.md "Cluster signing-key
// rotation"): read a registered cluster's current JWKS through its OIDC
// discovery endpoint with the cluster's read-only token, and compare it
// with the JWKS the store pins for gate 2 (`astis cluster jwks fetch`).
//
//   GET {api_url}/.well-known/openid-configuration  (OpenID Connect
//       Discovery 1.0 §4: "issuer", "jwks_uri")
//   GET {api_url}{path of jwks_uri}                 (the JWKS, RFC 7517 §5)
//
// The JWKS is read from the API server itself (jwks_uri's path on api_url),
// with the cluster's CA and token: jwks_uri names the issuer's public host,
// which the admin host may not reach and which would not be authenticated
// by the cluster CA. kube-apiserver serves both documents at these paths.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "net/https_client.h"
#include "store/store.h"

namespace astis::admin {

// JwksDiff compares a pinned JWKS with a cluster's current one by kid.
struct JwksDiff {
  std::vector<std::string> added;    // served by the cluster, not pinned
  std::vector<std::string> removed;  // pinned, no longer served
  std::vector<std::string> kept;     // in both
};

// OpenIdConfiguration is what discovery tells: the issuer and the path of
// jwks_uri.
struct OpenIdConfiguration {
  std::string issuer;
  std::string jwks_path;  // origin-form, e.g. "/openid/v1/jwks"
};

// ParseOpenIdConfiguration reads a discovery document (untrusted): a JSON
// object with string "issuer" and an https "jwks_uri" whose path is
// origin-form without '?' or '#'. kInvalidArgument otherwise. Fuzzed by
// cluster_jwks_fuzz. Test: ClusterJwksTest.ParsesDiscoveryAndRefusesBadOnes.
Result<OpenIdConfiguration> ParseOpenIdConfiguration(std::string_view text);

// DiffJwks compares two JWKS texts (each must pass jose::JwkSet::Parse and
// every key must carry a kid; kInvalidArgument otherwise). Lists are sorted.
Result<JwksDiff> DiffJwks(std::string_view pinned, std::string_view fetched);

// JwksToPin is the set `--apply` pins: every fetched key, plus (unless
// prune) every pinned key the cluster no longer serves, so tokens signed
// with a retiring key stay valid until the operator prunes it. Errors as
// DiffJwks. Test: ClusterJwksTest.ApplyKeepsOverlapUntilPruned.
Result<std::string> JwksToPin(std::string_view pinned, std::string_view fetched, bool prune);

// ClusterJwksFetch is FetchClusterJwks's answer.
struct ClusterJwksFetch {
  std::string jwks_json;  // the cluster's current JWKS, as served
  JwksDiff diff;          // against cluster.jwks_json
};

// FetchClusterJwks reads cluster's discovery document and JWKS from
// cluster.api_url, trusting cluster.ca_file and presenting the bearer token
// of cluster.token_file (read-only). Refusals: kIo (a file cannot be read),
// kUnavailable (transport, TLS or a non-200 status), kInvalidArgument (a
// malformed document or JWKS), kFailedPrecondition when discovery names
// another issuer than the registered one (the cluster or the registration
// is wrong: nothing to pin). Tests: ClusterJwksServerTest.FetchShowsDiff,
// ClusterJwksServerTest.FetchRefusesAnotherIssuer.
Result<ClusterJwksFetch> FetchClusterJwks(const store::Cluster& cluster, net::ClientOptions options = {});

}  // namespace astis::admin
