// The system under test for astis-bench (bench/load): what the load generator
// needs to know about a running edge and its cluster's Kubernetes API, and
// InProcessWorld, which starts both in this process wired as
// RunEdgeProcess (src/edge/run.cc) wires them. Benchmark tool, not product
// runtime; see docs/performance.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "capsule/org_key.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace astis::kubestandin {
class KubeStandin;
}

namespace astis::bench {

// Target describes a running edge and the kube-apiserver (stand-in) of the
// cluster it serves. Plain value; it owns copies of the credentials, which
// are never printed.
struct Target {
  std::string edge_url;     // https origin pods use == the edge's external_base_url
  std::string edge_ca_pem;  // trust anchor of the edge's TLS certificate
  SecretBytes api_key;      // X-Astis-Api-Key value bound to (cluster, ns, sa)
  std::string kube_url;     // the stand-in's https origin
  std::string kube_ca_pem;
  SecretBytes kube_admin_token;  // creates pods, service accounts, tokens
  std::string cluster;
  std::string ns;
  std::string service_account;
  std::string digest;  // "sha256:<hex>" on the workload's allowlist
  std::shared_ptr<const capsule::OrgPublicKey> org_public;  // seals the capsules
};

// LoadTargetFiles builds a Target for an edge started outside this process
// (scripts/bench.sh): edge_ca_file and api_key_file are PEM / one-line
// files, kube_dir is the directory astis-kube-standin --dir wrote (url,
// ca.crt, admin.token), org_public_file is `astis keygen`'s org-key.pub.jwk.
// Fails with kIo naming the unreadable file or kInvalidArgument for a bad key.
Result<Target> LoadTargetFiles(const std::string& edge_url, const std::string& edge_ca_file,
                               const std::string& api_key_file, const std::string& kube_dir,
                               const std::string& org_public_file, const std::string& cluster,
                               const std::string& ns, const std::string& service_account,
                               const std::string& digest);

// WorldOptions tune InProcessWorld.
struct WorldOptions {
  unsigned server_threads = 2;  // the edge's HTTP worker threads
  bool watch = true;            // serve gate 4 from a pod watch (else: a direct GET per request)
  // The time constants of an idle pod's renewal, the edge's defaults unless
  // an idle-pods run compresses time (docs/performance.md "Lease renewal").
  int64_t session_ttl_seconds = 900;                    // edge session_ttl_seconds
  int64_t nonce_window_seconds = 60;                    // edge dpop.nonce_window_seconds
  std::chrono::milliseconds idle_timeout{30000};        // the edge's keep-alive idle timeout
};

// OrgsAdded is what InProcessWorld::AddOrganizations registered.
struct OrgsAdded {
  // targets[i] is organisation i's workload: its API key and org key, and
  // cluster bench-c1, which (in every organisation, a name that collides
  // on purpose) trusts this world's stand-in, so one stand-in serves the
  // pods of every organisation.
  std::vector<Target> targets;
  int64_t clusters = 0;  // clusters registered, over all the new organisations
  double seconds = 0;    // wall time of the registration (keys, store, CVS)
};

// SessionRows counts the edge store's session rows.
struct SessionRows {
  int64_t total = 0;   // every row, expired or not
  int64_t active = 0;  // active at the time asked
};

// InProcessWorld is a kube-apiserver stand-in plus an edge (HTTPS server,
// EdgeService, SQLite file store, file audit log, embedded CVS with a fresh
// org key, HttpKubeClient, PodMonitor) in this process, on loopback port 0,
// in a private temporary directory removed on destruction. Rate limits are
// raised to their maximum so the load is not throttled. Not copyable.
class InProcessWorld {
 public:
  // Start brings everything up and waits (bounded, 10 s) until the pod watch
  // is connected when options.watch. Fails with the first component's error.
  static Result<std::unique_ptr<InProcessWorld>> Start(const WorldOptions& options = {});
  // ~InProcessWorld stops the servers and watches and removes the directory.
  ~InProcessWorld();
  InProcessWorld(const InProcessWorld&) = delete;
  InProcessWorld& operator=(const InProcessWorld&) = delete;

  // target describes this world to the load generator.
  const Target& target() const { return target_; }
  // WatchHealthy reports whether gate 4 is being served from the watch now.
  bool WatchHealthy() const;
  // standin_threads are the threads the Kubernetes API stand-in's server
  // started (those that appeared while it started), so an in-process
  // measurement can leave the API server's CPU out of the edge's.
  const std::vector<int64_t>& standin_threads() const { return standin_threads_; }
  // CountSessions reads the store's session rows (active at `now`). Fails
  // with the store's error.
  Result<SessionRows> CountSessions(int64_t now) const;
  // AddOrganizations registers `orgs` more organisations (Tier 1, named
  // bench-org-0001, ...), each with clusters_per_org clusters bench-c1,
  // bench-c2, ... (each its own pinned JWKS text, with a fresh P-256 key;
  // bench-c1 is the stand-in, as target().cluster: its issuer and signing
  // keys; the others their own issuers, never contacted), one workload on
  // bench-c1 (target()'s namespace, ServiceAccount and digest), one API key,
  // and its own org key in the embedded CVS (capsules of one organisation
  // open only with its own key). Written directly in the store, one
  // ApplyOrgConfig transaction per organisation. Fails with the store's or
  // the key generation's error.
  Result<OrgsAdded> AddOrganizations(int orgs, int clusters_per_org);
  // store_path and audit_path are the edge's SQLite file and audit log.
  std::string store_path() const;
  std::string audit_path() const;

  struct Parts;  // defined in bench_world.cc

 private:
  InProcessWorld() = default;
  std::unique_ptr<Parts> parts_;
  Target target_;
  std::vector<int64_t> standin_threads_;
};

}  // namespace astis::bench
