// libFuzzer target for the operator-supplied configuration parsers:
// edge::ParseEdgeConfig (the edge's YAML file) and kube::FromKubeconfig (a
// kubeconfig, written to a private temporary directory because the loader
// takes a path). Both must turn every yaml-cpp exception into a Status and
// never crash, leak or trip ASan/UBSan.
//
// FromKubeconfig follows file references (certificate-authority, tokenFile,
// client-key, ...). An input naming a device or proc file could block the
// fuzzer on /dev/stdin rather than find a bug, so inputs containing "dev",
// "proc", "sys", "fd" or a backslash (YAML escapes could spell those) are
// fed to ParseEdgeConfig only. Relative references resolve inside the
// temporary directory, which holds only the kubeconfig itself.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "edge/config.h"
#include "kube/config.h"

namespace {

const std::string& KubeconfigPath();

// RemoveTempDir deletes the temporary file and directory at exit.
void RemoveTempDir() {
  const std::string& path = KubeconfigPath();
  ::unlink(path.c_str());
  ::rmdir(path.substr(0, path.rfind('/')).c_str());
}

const std::string& KubeconfigPath() {
  // Heap-allocated and never freed, so RemoveTempDir can use it at exit.
  static const std::string& path = *new std::string([] {
    // tmpfs when there is one: every input writes (and the audit log
    // fdatasyncs) this file, and on a disk that is what bounds exec/s.
    char shm[] = "/dev/shm/astis-edge-config-fuzz-XXXXXX";
    char tmp[] = "/tmp/astis-edge-config-fuzz-XXXXXX";
    char* dir = ::mkdtemp(shm);
    if (dir == nullptr) dir = ::mkdtemp(tmp);
    if (dir == nullptr) __builtin_trap();
    std::atexit(RemoveTempDir);
    return std::string(dir) + "/kubeconfig";
  }());
  return path;
}

bool WriteFile(const std::string& path, std::string_view data) {
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

bool MayNameSpecialFile(std::string_view s) {
  for (std::string_view bad : {"dev", "proc", "sys", "fd", "\\"}) {
    if (s.find(bad) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto config = astis::edge::ParseEdgeConfig(input);
  if (config.ok()) {
    // A validated config is internally consistent (docs/configuration.md).
    if (config->external_base_url.empty() || config->limits.max_body_bytes <= 0) __builtin_trap();
  }

  if (MayNameSpecialFile(input)) return 0;
  const std::string& path = KubeconfigPath();
  if (!WriteFile(path, input)) __builtin_trap();
  (void)astis::kube::FromKubeconfig(path);
  (void)astis::kube::FromKubeconfig(path, std::string("fuzz"));
  return 0;
}
