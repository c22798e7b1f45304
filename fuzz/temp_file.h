// A private scratch file for the fuzz targets that must hand their input to
// code that reads a path (audit_line_fuzz, edge_config_fuzz). Header-only:
// each target is its own binary and uses one such file.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace astis_fuzz {

// TempFilePath returns <dir>/<name> in a directory made once per process,
// on tmpfs when there is one (every input rewrites the file, and the audit
// log fdatasyncs it: on a disk that is what bounds exec/s), removed with
// the file at exit. Traps if no directory can be made.
inline const std::string& TempFilePath(const char* name) {
  // Heap-allocated and never freed, so the exit handler can still use it.
  static const std::string* path = [name] {
    char shm[] = "/dev/shm/astis-fuzz-XXXXXX";
    char tmp[] = "/tmp/astis-fuzz-XXXXXX";
    char* dir = ::mkdtemp(shm);
    if (dir == nullptr) dir = ::mkdtemp(tmp);
    if (dir == nullptr) __builtin_trap();
    auto* p = new std::string(std::string(dir) + "/" + name);
    std::atexit([] {
      const std::string& f = TempFilePath(nullptr);
      ::unlink(f.c_str());
      ::rmdir(f.substr(0, f.rfind('/')).c_str());
    });
    return p;
  }();
  return *path;
}

// WriteFile replaces path's contents with data (mode 0600); false on any
// short write.
inline bool WriteFile(const std::string& path, std::string_view data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  return off == data.size();
}

}  // namespace astis_fuzz
