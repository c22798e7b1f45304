// HaWorld: a whole replicated deployment on loopback for the HA and fault
// tests (docs/operations.md): one throwaway PostgreSQL (PgServer), the
// kube-apiserver stand-in (in process), one `astis cvs` child process (remote
// CVS over pinned mutual TLS) and N `astis edge` child processes, every edge
// on the same PostgreSQL database. Every replica has the same
// external_base_url, as behind a load balancer, so a DPoP proof is valid on
// any of them. Clusters, workloads and API keys are written by opening the
// PostgreSQL store directly, the same rows `astis cluster add` writes.
//
// HaPodClient is a raw pod (no SDK): RAM DPoP and recipient keys, a token
// minted by the stand-in's TokenRequest, and one HTTPS client per replica.
// Test support only; uses GoogleTest assertions.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/json.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "crypto/x25519.h"
#include "kube-standin/kube_standin.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "store/store.h"
#include "store/testing/pg_server.h"

namespace astis::ha {

inline constexpr char kCluster[] = "ha-cluster";
inline constexpr char kNs[] = "payments";
inline constexpr char kSa[] = "api";
inline constexpr char kExternalBaseUrl[] = "https://astis-edge.ha.test";

// ChildProcess is one fork/exec'd `astis` process whose stdout and stderr go
// to a log file. The destructor kills (SIGKILL) and reaps it if still alive.
class ChildProcess {
 public:
  // Start runs ASTIS_CLI_BINARY with args; kInternal when fork fails.
  static Result<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& args, const std::string& log);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // WaitForPort polls the log (deadline 30 s) for "serving on ADDR:PORT" and
  // returns the port; kUnavailable (with the log's tail) when the process
  // exited or the deadline passed.
  Result<uint16_t> WaitForPort();
  // Kill sends SIGKILL and reaps the process. Idempotent.
  void Kill();
  // Terminate sends SIGTERM, waits up to 10 s, then SIGKILL; reaps.
  void Terminate();
  // LogTail returns the last bytes of the log, for failure messages.
  std::string LogTail() const;
  bool alive() const { return pid_ > 0; }

 private:
  ChildProcess(pid_t pid, std::string log, size_t log_start)
      : pid_(pid), log_(std::move(log)), log_start_(log_start) {}
  pid_t pid_;
  std::string log_;
  size_t log_start_;  // the log's size when this process started: older lines are another process's
};

// HaOptions shapes a world.
struct HaOptions {
  int replicas = 3;
  bool watch_enabled = true;
  // tenant_b adds a second organisation, kOrgB, on Tier 2 (HYOK): its own
  // `astis cvs` child process with its own org key (org: kOrgB), reached by
  // every edge through the hyok client identity, and the same cluster,
  // namespace and ServiceAccount names as the default organisation
  // (docs/tenancy.md; tests/ha/ha_tenancy_test.cc).
  bool tenant_b = false;
  // pod_rate_per_minute is limits.rate_per_pod_uid_per_minute (default: no
  // practical limit).
  int64_t pod_rate_per_minute = 1000000;
  // postgres_dsn, when set, is the database every edge uses (e.g. PgPair's
  // multi-host DSN, tests/ha/ha_failover_test.cc) instead of a PgServer the
  // world starts; pg() must not be called then.
  std::string postgres_dsn;
};

inline constexpr char kOrgB[] = "tenant-b";

// HaWorld owns every process and the temp directory; TearDown order is
// edges, CVS, kube stand-in, PostgreSQL.
class HaWorld {
 public:
  // Start builds the world; kFailedPrecondition when PostgreSQL binaries are
  // absent (callers skip), otherwise any step's error.
  static Result<std::unique_ptr<HaWorld>> Start(const HaOptions& options);
  ~HaWorld();

  // Replica URLs ("https://127.0.0.1:PORT") and the TLS config pods use.
  const std::vector<std::string>& replica_urls() const { return replica_urls_; }
  net::TlsClientConfig EdgeClientTls() const { return edge_pki_->ClientTls(); }

  // NewPod creates a running pod (allowlisted image) in the stand-in and
  // mints its ServiceAccount token; returns the token.
  Result<std::string> NewPod(const std::string& name);
  // api_key is the X-Astis-Api-Key header value for (kCluster, kNs, kSa).
  std::string api_key() const { return std::string(api_key_.RevealString()); }
  // SealValue seals plaintext for (kCluster, kNs, kSa, name, "password").
  Result<capsule::SealedValue> SealValue(std::string_view plaintext, const std::string& name);
  // api_key_b and SealValueB are the same for organisation kOrgB
  // (options.tenant_b): its key, and a value sealed to its own org key.
  std::string api_key_b() const { return std::string(api_key_b_.RevealString()); }
  Result<capsule::SealedValue> SealValueB(std::string_view plaintext, const std::string& name);
  // KillCvsB SIGKILLs kOrgB's own CVS; StartCvsB starts it on the same port.
  void KillCvsB() { cvs_b_->Kill(); }
  Status StartCvsB();
  // AuditLog is replica i's main audit log path (its organisations' trails
  // are beside it, audit::OrgTrailPath).
  std::string AuditLog(size_t i) const { return dir_ + "/audit-" + std::to_string(i) + ".jsonl"; }

  // KillEdge SIGKILLs replica i (kill -9).
  void KillEdge(size_t i) { edges_[i]->Kill(); }
  // KillCvs SIGKILLs the CVS; StartCvs starts it again on the same port.
  void KillCvs() { cvs_->Kill(); }
  Status StartCvs();
  store::testing::PgServer& pg() { return *pg_; }
  kubestandin::KubeStandin& kube() { return *kube_; }
  // Logs returns every child's log tail (for failure messages).
  std::string Logs() const;

 private:
  HaWorld() = default;
  Status Build(const HaOptions& options);
  Status BuildTenantB(store::Store& st, int64_t now);
  Status StartCvsProcess(const std::string& name, uint16_t& port, std::unique_ptr<ChildProcess>& child);
  std::string EdgeConfig(size_t i, const HaOptions& options) const;

  std::string dir_;
  std::unique_ptr<store::testing::PgServer> pg_;
  std::unique_ptr<kubestandin::KubeStandin> kube_;
  std::unique_ptr<net::testing::TestPki> edge_pki_, cvs_pki_;
  std::unique_ptr<capsule::OrgPublicKey> org_public_, org_public_b_;
  SecretBytes api_key_, api_key_b_;
  uint16_t cvs_port_ = 0, cvs_b_port_ = 0;
  std::unique_ptr<ChildProcess> cvs_, cvs_b_;
  std::vector<std::unique_ptr<ChildProcess>> edges_;
  std::vector<std::string> replica_urls_;
  std::string image_digest_;
};

// HaPodClient is one pod speaking docs/protocol.md §4-5 by hand. Not thread-safe:
// one per thread.
class HaPodClient {
 public:
  // Create generates the pod's RAM keys; token is its ServiceAccount JWT.
  static Result<std::unique_ptr<HaPodClient>> Create(const HaWorld& world, std::string token);
  // Create with another API key (e.g. HaWorld::api_key_b()).
  static Result<std::unique_ptr<HaPodClient>> Create(const HaWorld& world, std::string token, std::string api_key);

  // BuildRequest makes a request with all three credentials and a fresh
  // proof (fresh jti, the last nonce seen); fails only when rng fails.
  Result<net::HttpRequest> BuildRequest(const std::string& method, const std::string& path, const std::string& body) const;
  // SendRaw sends req to replica i as is and remembers the answered nonce.
  // A transport failure is the error.
  Result<net::HttpResponse> SendRaw(size_t replica, const net::HttpRequest& req);
  // Send builds and sends, retrying once on 401 use_dpop_nonce (RFC 9449 §8).
  Result<net::HttpResponse> Send(size_t replica, const std::string& method, const std::string& path,
                                 const std::string& body);

  // EstablishBody / UnwrapBody / RotateBody build the JSON bodies.
  std::string EstablishBody() const;
  std::string UnwrapBody(const std::vector<capsule::SealedValue>& values) const;
  // PrepareRotation generates the next key pair and returns the §4.3 body
  // (pop signed by the new key); CommitRotation switches to it.
  std::string PrepareRotation(int64_t now);
  void CommitRotation();

  // Establish opens a session on replica i (nonce dance included) and keeps
  // its id; the response is returned whatever its status.
  Result<net::HttpResponse> Establish(size_t replica);
  // OpenValues decrypts a 200 unwrap response as the pod does; an error
  // naming the first bad result otherwise. Never includes plaintext.
  Result<std::vector<std::string>> OpenValues(const net::HttpResponse& resp,
                                              const std::vector<capsule::SealedValue>& values) const;

  const std::string& session() const { return session_; }
  // jkt is the RFC 7638 thumbprint of the current DPoP key (the pin).
  std::string jkt() const;
  void set_session(std::string s) { session_ = std::move(s); }
  // has_nonce reports whether an edge nonce has been seen.
  bool has_nonce() const { return !nonce_.empty(); }

 private:
  HaPodClient() = default;
  std::vector<std::string> urls_;
  net::TlsClientConfig tls_;
  std::vector<std::unique_ptr<net::HttpsClient>> http_;
  std::string api_key_, token_, nonce_, session_;
  std::unique_ptr<Ed25519PrivateKey> dpop_, next_dpop_;
  std::unique_ptr<X25519PrivateKey> recipient_, next_recipient_;
};

// ErrorCode returns error.code of a docs/protocol.md §7 body, or a marker.
std::string ErrorCode(const net::HttpResponse& resp);
// NowUnix is the wall clock the edge child processes also use.
int64_t NowUnix();

}  // namespace astis::ha
