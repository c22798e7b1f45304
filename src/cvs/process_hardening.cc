#include "cvs/process_hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>

namespace astis::cvs {

Status DisableCoreDumps() {
  // The hard limit too, so nothing later in the process can raise it again.
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) return Error(Code::kIo, "setrlimit(RLIMIT_CORE, 0) failed");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return Error(Code::kIo, "prctl(PR_SET_DUMPABLE, 0) failed");
  return OkStatus();
}

}  // namespace astis::cvs
