#include "net/tls_reloader.h"

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "common/encoding.h"
#include "common/log.h"
#include "crypto/secret_bytes.h"

namespace astis::net {
namespace {

// FileFingerprint follows symlinks (stat, not lstat: the kubelet's "..data"
// swap changes where the links lead, not the links) and hashes the contents.
std::string FileFingerprint(const std::string& path) {
  if (path.empty()) return "-";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Sha256Digest digest = Sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                              bytes.size()));
  SecureWipe(bytes.data(), bytes.size());  // the key file's contents
  std::ostringstream out;
  out << st.st_dev << ':' << st.st_ino << ':' << st.st_mtim.tv_sec << '.' << st.st_mtim.tv_nsec << ':'
      << st.st_size << ':' << HexEncode(std::span<const uint8_t>(digest.data(), digest.size()));
  return out.str();
}

}  // namespace

Result<TlsServerConfig> LoadTlsFiles(const TlsFiles& files) {
  ASTIS_ASSIGN_OR_RETURN(TlsServerConfig config,
                         LoadTlsServerConfig(files.cert_file, files.key_file, files.client_ca_file));
  config.pinned_client_cert_sha256 = files.pinned_client_cert_sha256;
  return config;
}

TlsReloader::TlsReloader(TlsFiles files, Apply apply, TlsReloaderOptions options)
    : files_(std::move(files)), apply_(std::move(apply)), options_(std::move(options)) {
  fingerprint_ = Fingerprint();
}

TlsReloader::~TlsReloader() { Stop(); }

void TlsReloader::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> held(mu_);
    while (!cv_.wait_for(held, options_.interval, [this] { return stop_; })) {
      held.unlock();
      (void)PollOnce();
      held.lock();
    }
  });
}

void TlsReloader::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::string TlsReloader::Fingerprint() const {
  return FileFingerprint(files_.cert_file) + '|' + FileFingerprint(files_.key_file) + '|' +
         FileFingerprint(files_.client_ca_file);
}

Status TlsReloader::PollOnce() {
  std::lock_guard<std::mutex> load(load_mu_);
  const std::string now = Fingerprint();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now == fingerprint_) return OkStatus();
  }
  return Load(now);
}

Status TlsReloader::ReloadNow() {
  std::lock_guard<std::mutex> load(load_mu_);
  return Load(Fingerprint());
}

Status TlsReloader::Load(const std::string& fingerprint) {
  {
    // Remembered even when the load fails: a half-written pair is retried
    // when its other file changes, not every poll.
    std::lock_guard<std::mutex> lock(mu_);
    fingerprint_ = fingerprint;
  }
  Status status = OkStatus();
  Result<TlsServerConfig> config = LoadTlsFiles(files_);
  if (!config.ok()) {
    status = config.status();
  } else {
    status = apply_(*config);
  }
  if (status.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++reloads_;
  }
  if (options_.on_result) {
    options_.on_result(status);
  } else if (status.ok()) {
    log::Process().Info(options_.name, "certificate reloaded from " + files_.cert_file);
  } else {
    log::Process().Error(options_.name, "certificate reload failed, still serving the previous one: " +
                                            status.ToString());
  }
  return status;
}

size_t TlsReloader::reloads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reloads_;
}

}  // namespace astis::net
