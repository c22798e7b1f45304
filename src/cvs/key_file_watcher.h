// OrgKeyFileWatcher: one organisation's key set file (`astis cvs` org_keys,
// the embedded edge's cvs.org_keys), re-read when it changes so that adding
// a new active key and retiring the old one take effect without a restart
// (docs/operations.md "Org key rotation"). KeyDirectoryCustodian::Refresh
// does the same for an org_keys_dir; PeriodicRefresh runs either.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "capsule/org_key.h"
#include "common/status.h"
#include "cvs/cvs.h"

namespace astis::cvs {

// OrgKeyFileWatcher swaps path's key set into cvs as org's whenever the file
// it resolves to changes (device, inode, size or mtime; stat follows
// symlinks, so a kubelet "..data" swap and an atomic rename are both seen).
// All or nothing: a file that does not load (bad JSON, no active key, mode
// wider than 0600, a token member the resolver cannot open) leaves the set
// being served in place. Borrows cvs, which must outlive it. Thread-safe.
class OrgKeyFileWatcher {
 public:
  // The file's current state is taken as already loaded (the caller has
  // just loaded it).
  OrgKeyFileWatcher(std::string path, std::string org, CvsService& cvs, capsule::TokenKeyResolver tokens = {});

  // Refresh reloads the file if it changed since the last attempt (force:
  // whether or not it changed, e.g. on SIGHUP). OK when unchanged or
  // swapped in; else the load error (naming the file, never its contents),
  // and the same file is not retried until it changes again. Tests:
  // OrgKeyFileWatcherTest.RotateThenRetireWithoutRestart,
  // OrgKeyFileWatcherTest.BadFileKeepsTheOldSet.
  Status Refresh(bool force = false);
  // reloads counts the sets swapped in.
  size_t reloads() const;

 private:
  const std::string path_;
  const std::string org_;
  CvsService& cvs_;
  const capsule::TokenKeyResolver tokens_;
  mutable std::mutex mu_;
  std::string fingerprint_;
  size_t reloads_ = 0;
};

// PeriodicRefresh calls refresh every interval on a thread of its own and
// hands each outcome that differs from the previous one to report (so a
// broken file is reported once, not every poll).
class PeriodicRefresh {
 public:
  PeriodicRefresh(std::function<Status()> refresh, std::chrono::milliseconds interval,
                  std::function<void(const Status&)> report);
  ~PeriodicRefresh();  // stops the thread
  PeriodicRefresh(const PeriodicRefresh&) = delete;
  PeriodicRefresh& operator=(const PeriodicRefresh&) = delete;
  void Stop();

 private:
  std::function<Status()> refresh_;
  std::function<void(const Status&)> report_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace astis::cvs
