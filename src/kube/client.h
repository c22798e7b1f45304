// KubeClient: the read-only view of a cluster's API that gate 4 needs. The
// edge holds a KubeClient per cluster (injected, so tests use
// kube/testing/fake_kube_client.h); HttpKubeClient is the real one.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"
#include "kube/config.h"
#include "kube/pod.h"

namespace astis::net {
class HttpsClient;
}  // namespace astis::net

namespace astis::kube {

// KubeClient reads pods from one cluster. Implementations are thread-safe.
// Every failure is one of two codes, so gate 4 fails closed:
// kPodNotLive (the pod does not exist) or kKubeUnavailable (anything else:
// transport, timeout, 401/403, 5xx, an unparsable or mismatched answer).
// kInvalidArgument is returned, without a request, for a namespace or name
// that is not a valid Kubernetes object name.
class KubeClient {
 public:
  virtual ~KubeClient() = default;
  // GetPod reads namespaces/{ns}/pods/{name} fresh from the API (no cache).
  virtual Result<PodView> GetPod(std::string_view ns, std::string_view name) = 0;
  // Ping checks that the API answers and accepts the credential.
  virtual Status Ping() = 0;
};

// KubeClientOptions bound each API call.
struct KubeClientOptions {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds request_timeout{5000};
};

// HttpKubeClient speaks HTTPS to kube-apiserver with a bearer token (re-read
// from its file as it rotates) and/or a client certificate.
class HttpKubeClient final : public KubeClient {
 public:
  // Create builds the client from conn; no connection is made yet. clock
  // (used to age the token cache) must outlive the client. Fails with
  // kInvalidArgument if the URL or TLS material is unusable.
  static Result<std::unique_ptr<HttpKubeClient>> Create(const ClusterConnection& conn, const Clock& clock,
                                                        KubeClientOptions options = {});
  ~HttpKubeClient() override;

  // GetPod sends GET /api/v1/namespaces/{ns}/pods/{name}. 200 with a pod of
  // that namespace and name -> the PodView; 404 -> kPodNotLive; any other
  // outcome -> kKubeUnavailable (message for operators, never the token or
  // the response body).
  Result<PodView> GetPod(std::string_view ns, std::string_view name) override;
  // Ping sends GET /readyz: 200 -> OK, anything else kKubeUnavailable.
  Status Ping() override;

 private:
  HttpKubeClient(std::unique_ptr<net::HttpsClient> http, std::unique_ptr<TokenSource> token);
  Result<int> Get(const std::string& target, std::string* body);

  std::unique_ptr<net::HttpsClient> http_;
  std::unique_ptr<TokenSource> token_;  // nullptr: client certificate only
};

// IsValidObjectName reports whether s is a DNS-1123 subdomain (the rule for
// pod names; namespaces are the stricter DNS-1123 label, also accepted here):
// 1..253 of [a-z0-9.-], starting and ending alphanumeric.
bool IsValidObjectName(std::string_view s);

}  // namespace astis::kube
