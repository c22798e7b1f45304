// TlsReloader: a server's certificate files, watched, and reloaded into its
// net::HttpServer without a restart (docs/operations.md "Certificate
// rotation").
//
// Kubernetes mounts a Secret as a directory whose files are symlinks through
// "..data", itself a symlink to a timestamped directory; the kubelet updates
// it by writing a new directory and renaming "..data" over the old link in
// one step. The reloader therefore follows the links on every poll and
// fingerprints what they resolve to (device, inode, mtime, size and the
// SHA-256 of the contents), so the swap is seen whichever way it is made,
// as is an in-place rewrite. A change is loaded as a whole (certificate,
// key, client CA, with the pins the files cannot carry) and applied only if
// it is valid: a bad certificate or a key that does not match keeps the one
// being served, and the error is reported. Poll (every 2 s by default) or
// ReloadNow (SIGHUP).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "crypto/sha256.h"
#include "net/tls.h"

namespace astis::net {

// TlsFiles names what a server's TlsServerConfig is read from.
struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // "" = no mutual TLS
  // pinned_client_cert_sha256 is copied into every loaded config.
  std::vector<Sha256Digest> pinned_client_cert_sha256;
};

// LoadTlsFiles reads files into a validated TlsServerConfig. Errors of
// LoadTlsServerConfig (paths only, never contents).
Result<TlsServerConfig> LoadTlsFiles(const TlsFiles& files);

struct TlsReloaderOptions {
  std::chrono::milliseconds interval{2000};
  // on_result, when set, is told of every reload attempt: OK after a new
  // configuration was applied, else why the old one is kept. Called on the
  // polling thread (or ReloadNow's caller). Default: one line on stderr.
  std::function<void(const Status&)> on_result;
  std::string name = "tls";  // for the default stderr line
};

// TlsReloader polls files and hands each changed, valid configuration to
// apply (e.g. HttpServer::ReloadTls). Thread-safe.
class TlsReloader {
 public:
  using Apply = std::function<Status(const TlsServerConfig&)>;

  // TlsReloader records the files' current fingerprint (what the caller has
  // just loaded) and does not poll until Start.
  TlsReloader(TlsFiles files, Apply apply, TlsReloaderOptions options = {});
  ~TlsReloader();  // stops the thread
  TlsReloader(const TlsReloader&) = delete;
  TlsReloader& operator=(const TlsReloader&) = delete;

  // Start runs PollOnce every options.interval on a thread of its own.
  void Start();
  void Stop();

  // PollOnce reloads if the files' fingerprint changed since the last
  // attempt: OK when nothing changed or the new configuration was applied,
  // else the load or apply error (the old configuration stays; the same
  // files are not retried until they change again).
  Status PollOnce();
  // ReloadNow loads and applies the files whether or not they changed
  // (SIGHUP). Errors as PollOnce.
  Status ReloadNow();

  // reloads counts the configurations applied so far.
  size_t reloads() const;

 private:
  Status Load(const std::string& fingerprint);
  std::string Fingerprint() const;

  const TlsFiles files_;
  const Apply apply_;
  const TlsReloaderOptions options_;
  mutable std::mutex mu_;  // guards fingerprint_, reloads_, stop_
  std::mutex load_mu_;     // one load at a time (poller and SIGHUP)
  std::condition_variable cv_;
  std::string fingerprint_;
  size_t reloads_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace astis::net
