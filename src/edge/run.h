// The edge process: everything `astis-edge` and `astis serve` / `astis edge`
// do between "configuration validated" and "exit" (docs/edge.md, docs/admin.md).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"
#include "cvs/remote.h"
#include "edge/config.h"
#include "store/open_store.h"
#include "kube/client.h"
#include "store/store.h"

namespace astis::edge {

// EdgeProcessOptions names the process in its stderr lines and lets a caller
// learn the bound port (useful with listen.port 0).
struct EdgeProcessOptions {
  std::string program = "astis-edge";
  // on_listening, when set, is called once with the bound port after the
  // server accepts connections and before the process waits for a signal.
  std::function<void(uint16_t)> on_listening;
};

// KubeClientBuilder builds the API client of one registered cluster.
using KubeClientBuilder = std::function<Result<std::unique_ptr<kube::KubeClient>>(const store::Cluster& cluster)>;

// KubeClientCache is the edge's KubeClientLookup over the store: it builds a
// cluster's client on first use and re-reads the cluster record at most every
// recheck_ms (by clock), rebuilding the client when api_url, ca_file or
// token_file changed, so `astis cluster add` / `cluster set` reach a running
// edge. A cluster that is unknown or whose client cannot be built yields
// nullptr (gate 4 then refuses with kube_unavailable; the failure is printed
// on stderr once per record). Replaced clients are kept until the cache is
// destroyed, so a pointer handed out stays valid. Thread-safe; borrows store
// and clock, which must outlive it.
class KubeClientCache {
 public:
  // KubeClientCache builds nothing until Get. Cannot fail.
  KubeClientCache(store::Store& store, const Clock& clock, KubeClientBuilder builder, int64_t recheck_ms = 5000);
  // Get returns the client of cluster or nullptr; see the class comment.
  // cluster is a qualified cluster name (store::QualifiedClusterName).
  kube::KubeClient* Get(std::string_view cluster);

 private:
  struct Entry {
    std::string fingerprint;
    std::unique_ptr<kube::KubeClient> client;
    int64_t checked_ms = 0;
  };
  store::Store& store_;
  const Clock& clock_;
  KubeClientBuilder builder_;
  const int64_t recheck_ms_;
  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<std::unique_ptr<kube::KubeClient>> retired_;
};

// RunEdgeProcess opens the SQLite store, the audit log, the ASTIS CVS
// (embedded, with cvs.org_keys and/or cvs.org_keys_dir, or remote) behind a
// CvsRouter that sends hyok organisations' capsules to their own CVSs with
// the hyok client identity (docs/cvs.md "Routing"; without one it names each
// hyok organisation on stderr), a KubeClientCache and (config.watch.enabled)
// a PodMonitor rescanning every config.watch.rescan_seconds, serves
// EdgeService over HTTPS on config.listen, prints "<program>: serving on
// ADDRESS:PORT" to stderr, then blocks until SIGTERM or SIGINT and stops
// (SIGHUP reloads the TLS files and cvs.org_keys, which are also re-read
// when they change: docs/operations.md "Certificate rotation")
// gracefully (5 s grace). It blocks SIGTERM/SIGINT in the calling thread
// first, so it must be called before other threads exist and a signal sent
// during start-up is not lost. Returns OK after a graceful stop; otherwise
// the first start-up failure (store, audit log, CVS, TLS, listen) with a
// message naming the step and no secret. A cluster whose API client cannot
// be built is reported on stderr and served without one (gate 4 refuses
// its pods with kube_unavailable). Everything it opens is released on return.
Status RunEdgeProcess(const EdgeConfig& config, Clock& clock, Random& rng, const EdgeProcessOptions& options = {});

// MakeRemoteAstisCvsClient is the edge's client of a remote ASTIS CVS
// (cvs.mode remote): cvs.url, trusting cvs.ca_file plus the pinned
// cvs.server_cert_sha256 (leaf) and/or cvs.server_spki_sha256 (key), or,
// with cvs.server_name, any certificate for that name from cvs.ca_file (the
// CA pin), presenting cvs.client_cert_file/key. It is the
// edge's rewrap port and, for `astis org key create|rotate --config`, the
// Tier 1 key custodian (the key is generated inside that CVS). Errors:
// kInvalidArgument when cvs.mode is not remote or the pin is malformed,
// those of reading the files and of cvs::RemoteCvsClient::Create.
Result<std::unique_ptr<cvs::RemoteCvsClient>> MakeRemoteAstisCvsClient(const EdgeConfig& config);

// StoreOptionsOf maps the edge configuration's store section to
// store::OpenStore's options (the CLI opens the same store the same way).
store::StoreOptions StoreOptionsOf(const EdgeConfig& config);

}  // namespace astis::edge
