#include "cvs/key_file_watcher.h"

#include <sys/stat.h>

#include <string>
#include <utility>

namespace astis::cvs {
namespace {

// Fingerprint is what path resolves to, never its contents (private keys).
std::string Fingerprint(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  return std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':' + std::to_string(st.st_size) + ':' +
         std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

OrgKeyFileWatcher::OrgKeyFileWatcher(std::string path, std::string org, CvsService& cvs,
                                     capsule::TokenKeyResolver tokens)
    : path_(std::move(path)), org_(std::move(org)), cvs_(cvs), tokens_(std::move(tokens)) {
  fingerprint_ = Fingerprint(path_);
}

Status OrgKeyFileWatcher::Refresh(bool force) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string now = Fingerprint(path_);
  if (!force && now == fingerprint_) return OkStatus();
  fingerprint_ = now;
  // A token member re-opens through the same resolver (one module for the
  // process, docs/hsm.md).
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet set, capsule::OrgKeySet::LoadFile(path_, tokens_));
  cvs_.SetOrgKeys(org_, std::move(set));  // calls already running finish with the old set
  ++reloads_;
  return OkStatus();
}

size_t OrgKeyFileWatcher::reloads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reloads_;
}

PeriodicRefresh::PeriodicRefresh(std::function<Status()> refresh, std::chrono::milliseconds interval,
                                 std::function<void(const Status&)> report)
    : refresh_(std::move(refresh)), report_(std::move(report)) {
  thread_ = std::thread([this, interval] {
    std::string last = OkStatus().ToString();
    std::unique_lock<std::mutex> held(mu_);
    while (!cv_.wait_for(held, interval, [this] { return stop_; })) {
      held.unlock();
      const Status s = refresh_();
      const std::string text = s.ToString();
      if (text != last && report_) report_(s);
      last = text;
      held.lock();
    }
  });
}

PeriodicRefresh::~PeriodicRefresh() { Stop(); }

void PeriodicRefresh::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace astis::cvs
