// WatchedFile: a small credential file (projected token, API key) re-read
// when the file it resolves to changes.
#pragma once

#include <mutex>
#include <string>
#include <sys/types.h>

#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace astis::sdkcore {

// WatchedFile caches one file's contents. Read() stat()s the path (following
// symlinks, so the kubelet's atomic "..data" symlink swap is seen as a new
// inode) and re-reads when device, inode, size or mtime changed. Thread-safe.
class WatchedFile {
 public:
  // kMaxBytes bounds the file (a ServiceAccount token is ~1 KiB).
  static constexpr size_t kMaxBytes = 64 * 1024;

  explicit WatchedFile(std::string path) : path_(std::move(path)) {}

  // Read returns the current contents with trailing whitespace (a final
  // newline) removed, in a fresh SecretBytes owned by the caller. Fails with
  // kIo when the file is missing or unreadable, kTooLarge over kMaxBytes and
  // kInvalidArgument when it is empty. The message names the path only.
  Result<SecretBytes> Read();

  // reads counts how many times the file was actually read (for tests).
  int reads() const;

 private:
  const std::string path_;
  mutable std::mutex mu_;
  bool cached_ = false;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  off_t size_ = 0;
  int64_t mtime_ns_ = 0;
  SecretBytes contents_;
  int reads_ = 0;
};

// ReadSmallFile reads a whole regular file of at most max_bytes. Errors:
// kNotFound (ENOENT), kIo, kTooLarge.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);

}  // namespace astis::sdkcore
