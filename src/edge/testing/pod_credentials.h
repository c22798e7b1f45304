// Pod credentials for tests that drive a real edge over the wire
// (test-only, no GoogleTest): the projected ServiceAccount token a pod
// presents, the API key an operator registers for it, and one pod request
// carrying all three credentials with a fresh DPoP proof. The end-to-end,
// attack, canary, watch-revocation and HA suites, EdgeHarness and the edge
// request fuzz target each built these by hand; they share this one version
// so the token and request shapes cannot drift between them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "edge/config.h"
#include "edge/gates.h"
#include "net/https_client.h"
#include "store/store.h"

namespace astis::edge::testing {

// TokenSubject names the pod a projected ServiceAccount token speaks for.
struct TokenSubject {
  std::string issuer;
  std::string ns;
  std::string service_account;
  std::string pod_name;
  std::string pod_uid;
  int64_t now = 0;  // iat = nbf = now - 10, exp = now + 3600
  std::string jti = "c3a1f0d2-5b6e-4c7d-8e9f-0a1b2c3d4e5f";
  std::string node_name = "worker-1";
};

// SharedClusterRsaKey is one RSA-2048 cluster token-signing key per test
// process (key generation is slow under the sanitizers; every test still
// makes its own EC, org, DPoP and recipient keys). Aborts if it cannot be
// generated, since no test could run without it.
const SigningKey& SharedClusterRsaKey();

// ProjectedTokenClaims is the claim set kube-apiserver issues in a projected
// ServiceAccount token for subject (the shape of
// testdata/kubernetes/k8s-projected-token-claims.json: audiences, node,
// pod, serviceaccount, warnafter = iat + 3607).
Json ProjectedTokenClaims(const TokenSubject& subject);

// SignToken signs claims as a compact JWS with header {alg, kid}; alg must
// fit key (a mismatch is a test bug and aborts, as SignCompactJws does).
std::string SignToken(const Json& claims, const SigningKey& key, SignatureAlg alg, std::string_view kid);

// ApiKeyScope is what an operator binds an API key to (docs/protocol.md §6.1).
struct ApiKeyScope {
  std::string cluster;
  std::string ns;
  std::string service_account;
  int64_t created_at = 0;
  int64_t expires_at = 0;  // 0 = never
  std::string org = std::string(store::kDefaultOrg);
};

// RegisterApiKey draws a fresh API key, stores its hash with scope, and
// returns it (the header value is the only copy of the secret part).
Result<GeneratedApiKey> RegisterApiKey(store::Store& store, const ApiKeyScope& scope, Random& rng);

// PodCredentials are the three things a pod presents on every request.
struct PodCredentials {
  std::string_view api_key;  // X-Astis-Api-Key header value
  std::string_view token;    // the projected ServiceAccount token
  const Ed25519PrivateKey* dpop = nullptr;
};

// PodRequest builds one pod request to base_url + path: the API key, the
// token as `Authorization: DPoP`, and a fresh proof (RFC 9449 §4.2: htm,
// htu, iat = now, a new jti, ath of the token, the nonce if one is given,
// and docs/protocol.md §5's bh when there is a body). Fails only when rng fails.
Result<net::HttpRequest> PodRequest(const PodCredentials& creds, std::string_view method, std::string_view base_url,
                                    std::string_view path, std::string body, int64_t now,
                                    std::optional<std::string_view> nonce, Random& rng);

// SendPodRequest sends PodRequest(...) over http carrying `nonce` (none
// while it is empty) and stores the DPoP-Nonce the edge answers with back
// into `nonce`, as a pod does between requests. Errors: rng or transport.
Result<net::HttpResponse> SendPodRequest(net::HttpsClient& http, const PodCredentials& creds, std::string_view method,
                                         std::string_view base_url, std::string_view path, std::string body,
                                         int64_t now, std::string& nonce, Random& rng);

// AsksForDpopNonce: the edge refused for want of a (fresh) nonce and the
// client should retry once with the DPoP-Nonce it sent (RFC 9449 §8).
bool AsksForDpopNonce(const net::HttpResponse& resp);

// ReadEveryGate4Decision makes every gate-4 decision read the API
// (gate4.max_staleness_ms 0) and a failed read open no fail-fast window
// (gate4.retry_ms 0), for test worlds that change the API between requests
// at one fake instant. The bound and the window themselves are tested in
// fresh_pods_test and gate4_freshness_test.
void ReadEveryGate4Decision(EdgeConfig& config);

}  // namespace astis::edge::testing
