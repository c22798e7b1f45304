#include "sdk/watched_file.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace astis::sdkcore {
namespace {

// ReadFd reads up to max_bytes + 1 bytes into out.
Status ReadFd(int fd, size_t max_bytes, std::string& out, const std::string& path) {
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(Code::kIo, "cannot read " + path);
    if (n == 0) return OkStatus();
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      SecureWipe(out.data(), out.size());
      return Error(Code::kTooLarge, path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
}

}  // namespace

Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return Error(Code::kNotFound, "no file " + path);
    return Error(Code::kIo, "cannot open " + path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(Code::kIo, path + " is not a regular file");
  }
  std::string out;
  Status s = ReadFd(fd, max_bytes, out, path);
  ::close(fd);
  if (!s.ok()) return s;
  return out;
}

Result<SecretBytes> WatchedFile::Read() {
  std::lock_guard<std::mutex> lock(mu_);
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return Error(Code::kIo, "cannot stat " + path_);
  const int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  const bool changed =
      !cached_ || st.st_dev != dev_ || st.st_ino != ino_ || st.st_size != size_ || mtime_ns != mtime_ns_;
  if (changed) {
    auto text = ReadSmallFile(path_, kMaxBytes);
    if (!text.ok()) {
      return Error(text.status().code() == Code::kNotFound ? Code::kIo : text.status().code(),
                   text.status().message());
    }
    std::string_view v(*text);
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ' || v.back() == '\t')) {
      v.remove_suffix(1);
    }
    if (v.empty()) {
      SecureWipe(text->data(), text->size());
      return Error(Code::kInvalidArgument, path_ + " is empty");
    }
    contents_ = SecretBytes::CopyFrom(v, SecretBytes::Protection::kLocked);
    SecureWipe(text->data(), text->size());
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    size_ = st.st_size;
    mtime_ns_ = mtime_ns;
    cached_ = true;
    ++reads_;
  }
  return contents_.Clone();
}

int WatchedFile::reads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reads_;
}

}  // namespace astis::sdkcore
