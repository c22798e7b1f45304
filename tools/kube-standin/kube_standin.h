// KubeStandin: a kube-apiserver stand-in that the real kubectl and the edge's
// Kubernetes client accept (test and demo tool; never product runtime). It
// serves HTTPS on loopback with its own run-time CA and two bearer tokens:
//
//   read token:  get / list / watch pods and the discovery, health and OIDC
//                endpoints; anything else is 403 Forbidden (a Status object)
//   admin token: everything below
//
// A missing, repeated or unknown token is 401 Unauthorized, whatever the path
// (tokens compared in constant time). What it serves, and how it differs from
// the real server, is in docs/kube-standin.md: discovery (/version, /api,
// /api/v1, /apis; /openapi/* is 404 and kubectl copes), pods (get, list,
// watch with a bounded event history and 410 Expired, create as a kubelet
// would fill the pod, delete, status, ephemeralcontainers), secrets,
// serviceaccounts, namespaces, TokenRequest (RS256 or ES256 JWS with the real
// claim shape), the OIDC discovery and JWKS documents, apps/v1 Deployments
// (with a controller that creates their pods) and
// admissionregistration.k8s.io/v1 MutatingWebhookConfigurations, called on
// every pod create as kube-apiserver does (admission.h).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "kube-standin/admission.h"
#include "net/http_server.h"
#include "net/testing/test_pki.h"

namespace astis::kubestandin {

// TokenAlg is the signature algorithm of a minted ServiceAccount token; the
// real kube-apiserver signs RS256 (RSA keys) or ES256 (P-256 keys).
enum class TokenAlg { kRs256, kEs256 };

// StandinOptions configures KubeStandin::Start. Pointers are borrowed and must
// outlive the stand-in.
struct StandinOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;         // 0: ephemeral
  std::string issuer;        // service-account issuer; "" : url()
  std::string read_token;    // "" : 32 random bytes, b64u
  std::string admin_token;   // "" : 32 random bytes, b64u
  size_t history_limit = 1000;  // watch events kept for resuming watches
  // bookmark_interval is how often a watch that asked for bookmarks gets one.
  std::chrono::milliseconds bookmark_interval{10000};
  TokenAlg token_alg = TokenAlg::kRs256;  // what TokenRequest signs with
  const Clock* clock = nullptr;  // nullptr: DefaultClock()
  Random* rng = nullptr;         // nullptr: DefaultRandom()
  // log receives one line per request ("GET /api/v1/pods 200") and one per
  // admission webhook call ("ADMIT ..."); never tokens or object bodies.
  std::function<void(std::string_view)> log;
  // controller_interval is how often the Deployment controller reconciles
  // when nothing wakes it (it retries pods admission refused).
  std::chrono::milliseconds controller_interval{1000};
};

// MintedToken is a TokenRequest result: the compact JWS and its exp.
struct MintedToken {
  std::string token;
  int64_t expiration_unix = 0;
};

// KubeStandin is one running stand-in. Thread-safe; handlers run on the
// server's threads.
class KubeStandin {
 public:
  // Start generates the CA, the server certificate, the tokens (unless
  // given), an RSA-2048 and a P-256 signing key, and serves. Fails with the
  // errors of TestPki::Create, SigningKey generation and HttpServer::Start.
  static Result<std::unique_ptr<KubeStandin>> Start(StandinOptions options = {});
  // ~KubeStandin stops the server (zero grace) if it is running.
  ~KubeStandin();
  KubeStandin(const KubeStandin&) = delete;
  KubeStandin& operator=(const KubeStandin&) = delete;

  // url is "https://<bind address>:<port>"; the port survives Stop/Restart.
  std::string url() const;
  // port is the bound TCP port.
  uint16_t port() const { return port_; }
  // ca_cert_pem is the stand-in's trust anchor.
  const std::string& ca_cert_pem() const { return pki_.ca_cert_pem(); }
  // ReadToken / AdminToken are the two accepted bearer tokens (owned here).
  const SecretBytes& ReadToken() const { return read_token_; }
  const SecretBytes& AdminToken() const { return admin_token_; }

  // SetIssuer sets the `iss` of minted tokens and the OIDC documents' issuer.
  void SetIssuer(std::string issuer);
  // issuer returns the current issuer (url() unless set).
  std::string issuer() const;
  // JwksJson is the /openid/v1/jwks document (both keys, use sig).
  std::string JwksJson() const;
  // OpenIdConfigurationJson is the /.well-known/openid-configuration document.
  std::string OpenIdConfigurationJson() const;
  // WriteKubeconfig writes a kubeconfig (mode 0600) for url() with the CA
  // inline as certificate-authority-data and token as user.token, namespace
  // default. Fails with kIo.
  Status WriteKubeconfig(const std::string& path, std::string_view token) const;

  // PutPod stores or replaces pod verbatim under its metadata.namespace/name,
  // sets metadata.resourceVersion and emits ADDED or MODIFIED. Fails with
  // kInvalidArgument when those members are missing.
  Status PutPod(Json pod);
  // CreatePod creates pod as kube-apiserver plus a kubelet would (uid,
  // timestamps, running statuses; docs/kube-standin.md) and returns the
  // stored object. Fails with kAlreadyExists or kInvalidArgument.
  Result<Json> CreatePod(Json pod);
  // GetPod returns a copy of a stored pod, or kNotFound.
  Result<Json> GetPod(std::string_view ns, std::string_view name) const;
  // DeletePod removes a pod and emits DELETED. Returns whether it existed.
  bool DeletePod(std::string_view ns, std::string_view name);
  // AddEphemeralContainer adds what `kubectl debug` leaves on a pod: a
  // spec.ephemeralContainers entry and a running status with image_id.
  // Fails with kNotFound when the pod is absent.
  Status AddEphemeralContainer(std::string_view ns, std::string_view name, std::string_view container,
                               std::string_view image, std::string_view image_id);
  // RestartContainer does to a pod what the kubelet does when a container
  // exits and is started again in place (same pod UID; docs/kube-standin.md
  // "Container restarts"): the named container's status (containerStatuses
  // or initContainerStatuses) gets restartCount + 1, a new containerID,
  // lastState.terminated (exit_code, reason, the old containerID) and a new
  // running state; the pod gets a new resourceVersion and a MODIFIED event.
  // Fails with kNotFound when the pod or the container's status is absent.
  Status RestartContainer(std::string_view ns, std::string_view name, std::string_view container,
                          int exit_code = 137, std::string_view reason = "Error");
  // MintToken issues a ServiceAccount token as TokenRequest does, bound to
  // pod (which must exist: kNotFound) when pod is non-empty; ttl_seconds is
  // used as given. Fails with kInvalidArgument for an empty audience list or
  // a pod running as another service account, kCrypto if signing fails.
  Result<MintedToken> MintToken(std::string_view ns, std::string_view sa, std::string_view pod,
                                const std::vector<std::string>& audiences, int64_t ttl_seconds,
                                TokenAlg alg = TokenAlg::kRs256);
  // Pods lists the stored pods of a namespace (all namespaces when empty).
  std::vector<Json> Pods(std::string_view ns = {}) const;
  // SetServiceEndpoint makes a webhook's clientConfig.service {namespace,
  // name, port} reach host_port ("127.0.0.1:8443"); kube-apiserver would
  // resolve the Service. The certificate is still verified for
  // <name>.<namespace>.svc. An unknown service fails the call.
  void SetServiceEndpoint(std::string_view ns, std::string_view name, int port, std::string host_port);
  // AdmissionCalls returns the admission webhook calls so far, in order (the
  // latest 5000 to 10000 once there were more).
  std::vector<AdmissionRecord> AdmissionCalls() const;
  // ReconcileNow wakes the Deployment controller.
  void ReconcileNow();

  // resource_version is the current global resourceVersion.
  int64_t resource_version() const;

  // WaitForWatchers blocks until at least n watch streams are open or the
  // timeout passes; returns whether they are. For test synchronisation.
  bool WaitForWatchers(int n, std::chrono::milliseconds timeout);
  // CloseWatches ends every open watch stream (clients see the stream end).
  void CloseWatches();

  // Stop shuts the API down. Idempotent; must not be called from a handler.
  void Stop();
  // Restart serves again on the same port with the same state. Fails with
  // kFailedPrecondition if running, else as HttpServer::Start.
  Status Restart();

  // requests / unauthorized / forbidden count requests received, refused
  // 401 and refused 403.
  int requests() const { return requests_.load(); }
  int unauthorized() const { return unauthorized_.load(); }
  int forbidden() const { return forbidden_.load(); }

  // Impl-facing types (public so the .cc's helpers can name them).
  struct Key {
    std::string resource, ns, name;
    auto operator<=>(const Key&) const = default;
  };
  struct Event {
    int64_t rv = 0;
    std::string type;  // ADDED, MODIFIED, DELETED
    Key key;
    Json object;
  };
  struct Principal;
  struct Route;
  struct WatchState;
  struct WatchHub;

 private:
  KubeStandin(StandinOptions options, net::testing::TestPki pki, SigningKey rsa, SigningKey ec);
  Status Listen(uint16_t port);
  net::ServerResponse Handle(const net::ServerRequest& request);
  net::ServerResponse Dispatch(const net::ServerRequest& request, const Principal& who);
  net::ServerResponse HandleResource(const net::ServerRequest& request, const Route& route);
  net::ServerResponse List(const net::ServerRequest& request, const Route& route);
  net::ServerResponse Watch(const net::ServerRequest& request, const Route& route);
  net::ServerResponse Create(const net::ServerRequest& request, const Route& route);
  net::ServerResponse Update(const net::ServerRequest& request, const Route& route);
  net::ServerResponse Patch(const net::ServerRequest& request, const Route& route);
  net::ServerResponse Delete(const Route& route);
  net::ServerResponse TokenRequest(const net::ServerRequest& request, const Route& route);
  net::ServerResponse GetNamespace(const Route& route);
  // AdmitPod runs mutating admission on pod (as user) and creates it: 201
  // with the stored pod (dry_run: as it would be stored, not stored), or the
  // refusal as a Status. API and controller use it.
  net::ServerResponse AdmitPod(Json pod, const std::string& user, const std::vector<std::string>& groups,
                               bool dry_run = false);
  Result<Json> CreatePodImpl(Json pod, bool dry_run);
  void ControllerLoop();
  void ReconcileDeployments();
  void StopController();
  bool WatchStep(WatchState& state, net::StreamWriter& writer);

  // Locked helpers (mu_ held).
  void EmitLocked(std::string type, const Key& key, const Json& object);
  Json StoreLocked(const Key& key, Json object, bool created);
  void KubeletLocked(Json& pod);
  Json ServiceAccountLocked(const std::string& ns, const std::string& name);
  bool NamespaceExistsLocked(const std::string& ns) const;
  Json NamespaceLabelsLocked(const std::string& ns) const;
  bool DeletePodLocked(const Key& key);
  std::string NameSuffixLocked();
  Result<MintedToken> MintLocked(const std::string& ns, const std::string& sa, const std::string& pod,
                                 const std::vector<std::string>& audiences, int64_t ttl_seconds, TokenAlg alg);
  std::string NewUidLocked();
  std::string NowRfc3339() const;

  StandinOptions options_;
  const Clock& clock_;
  Random& rng_;
  net::testing::TestPki pki_;
  SecretBytes read_token_, admin_token_;
  SigningKey rsa_, ec_;
  std::string rsa_kid_, ec_kid_;
  uint16_t port_ = 0;
  std::unique_ptr<net::HttpServer> server_;
  std::atomic<int> requests_{0}, unauthorized_{0}, forbidden_{0};

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::string issuer_;
  std::map<Key, Json> objects_;
  std::deque<Event> history_;
  int64_t resource_version_ = 1000;
  int64_t compacted_rv_ = 1000;  // events at or below this are gone
  int next_pod_ip_ = 10;
  uint64_t watch_generation_ = 0;  // bumped by CloseWatches
  std::shared_ptr<WatchHub> hub_;  // counts open watch streams
  std::map<std::string, std::string> service_endpoints_;  // "ns/name:port" -> host:port
  std::vector<AdmissionRecord> admission_calls_;

  // The Deployment controller's thread and its wake-up (own mutex).
  std::mutex ctl_mu_;
  std::condition_variable ctl_cv_;
  bool ctl_stop_ = false, ctl_dirty_ = false;
  std::thread controller_;
};

}  // namespace astis::kubestandin
