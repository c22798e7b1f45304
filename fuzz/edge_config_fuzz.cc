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

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "edge/config.h"
#include "kube/config.h"
#include "temp_file.h"

namespace {

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
  const std::string& path = astis_fuzz::TempFilePath("kubeconfig");
  if (!astis_fuzz::WriteFile(path, input)) __builtin_trap();
  (void)astis::kube::FromKubeconfig(path);
  (void)astis::kube::FromKubeconfig(path, std::string("fuzz"));
  return 0;
}
