// KubeApiStandin: the integration tests' kube-apiserver stand-in (test-only),
// now a thin layer over the full stand-in in tools/kube-standin
// (astis::kube_standin, docs/kube-standin.md). What the edge relies on is
// unchanged:
//
//   GET /api/v1/namespaces/{ns}/pods/{name}  -> 200 the Pod JSON put in, or
//                                               404 a NotFound Status object
//   GET /readyz                              -> 200 "ok"
//
// Every request must carry `Authorization: Bearer <read token>` (compared in
// constant time); anything else is 401 with the Kubernetes Status object
// {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}.
// The read token is read-only: a write is 403 Forbidden. Pods are real Pod
// objects (MakePod builds them from the shapes in
// testdata/kubernetes/pod-*.json); the test edits them while the server runs
// (put, replace, delete, add an ephemeral container) and can Stop() the API
// and Restart() it on the same port. standin() exposes everything else
// (admin token, watch, TokenRequest, OIDC, kubeconfig).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/status.h"
#include "kube-standin/kube_standin.h"

namespace astis::integration {

// PodIdentity names one pod and the image digest all its containers run.
struct PodIdentity {
  std::string ns;
  std::string name;
  std::string uid;
  std::string service_account;
  std::string digest;  // "sha256:<64 lower-case hex>"
};

// MakePod reads the real Pod JSON at testdata_file (relative to the testdata
// directory: $ASTIS_TESTDATA_DIR, else the ASTIS_TESTDATA_DIR compile
// definition), replaces metadata.name/namespace/uid and
// spec.serviceAccountName with id's, and rewrites the digest of every
// container status imageID (keeping its runtime-specific form) to id.digest.
// Fails with kIo when the file cannot be read and kInvalidArgument when it is
// not a Pod with that shape. The returned object is owned by the caller.
Result<Json> MakePod(std::string_view testdata_file, const PodIdentity& id);

class KubeApiStandin {
 public:
  // Start creates the stand-in's own CA and server certificate and serves on
  // 127.0.0.1, port 0. read_token is the read-only credential (the admin
  // token is random: standin().AdminToken()). Fails with the errors of
  // kubestandin::KubeStandin::Start.
  static Result<std::unique_ptr<KubeApiStandin>> Start(std::string read_token);
  // ~KubeApiStandin stops the server (zero grace) if it is running.
  ~KubeApiStandin() = default;
  KubeApiStandin(const KubeApiStandin&) = delete;
  KubeApiStandin& operator=(const KubeApiStandin&) = delete;

  // url is "https://127.0.0.1:<port>"; the port stays the same across
  // Stop/Restart.
  std::string url() const { return impl_->url(); }
  uint16_t port() const { return impl_->port(); }
  // ca_cert_pem is the stand-in's trust anchor (what the edge must trust).
  const std::string& ca_cert_pem() const { return impl_->ca_cert_pem(); }

  // PutPod stores or replaces pod under its metadata.namespace/name and
  // bumps metadata.resourceVersion. Fails with kInvalidArgument when those
  // members are missing.
  Status PutPod(Json pod) { return impl_->PutPod(std::move(pod)); }
  // DeletePod removes a pod; GET then answers 404. Returns whether it existed.
  bool DeletePod(std::string_view ns, std::string_view name) { return impl_->DeletePod(ns, name); }
  // AddEphemeralContainer adds what `kubectl debug` leaves on a pod: an
  // entry in spec.ephemeralContainers (name, image) and a running status in
  // status.ephemeralContainerStatuses with image_id. Fails with kNotFound
  // when the pod is absent.
  Status AddEphemeralContainer(std::string_view ns, std::string_view name, std::string_view container,
                               std::string_view image, std::string_view image_id) {
    return impl_->AddEphemeralContainer(ns, name, container, image, image_id);
  }

  // Stop shuts the API down (connections close, new ones are refused).
  // Idempotent; must not be called from a handler.
  void Stop() { impl_->Stop(); }
  // Restart serves again on the same port, with the same pods. Fails with
  // kFailedPrecondition if running, else as net::HttpServer::Start.
  Status Restart() { return impl_->Restart(); }

  // requests / unauthorized count requests received and those refused 401.
  int requests() const { return impl_->requests(); }
  int unauthorized() const { return impl_->unauthorized(); }

  // standin is the full stand-in behind this one (owned here).
  kubestandin::KubeStandin& standin() { return *impl_; }

 private:
  explicit KubeApiStandin(std::unique_ptr<kubestandin::KubeStandin> impl) : impl_(std::move(impl)) {}
  std::unique_ptr<kubestandin::KubeStandin> impl_;
};

}  // namespace astis::integration
