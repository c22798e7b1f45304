// Process hardening for anything that holds org private keys or DEKs (the
// `astis cvs` process, and the edge when it embeds the CVS). See
// docs/secret-hygiene.md and docs/threat-model.md.
#pragma once

#include "common/status.h"

namespace astis::cvs {

// DisableCoreDumps makes the calling process non-dumpable
// (prctl(PR_SET_DUMPABLE, 0): no core file, no ptrace attach or
// /proc/<pid>/mem read by other processes of the same user) and sets
// RLIMIT_CORE to 0 (soft and hard), so a crash never writes key material to
// disk. Call it first thing in main, before any key is loaded. Returns kIo
// naming the step when either call fails; the caller must then refuse to
// start. Test: CvsProcessIsNotDumpable (tests/hardening/core_dump_test.cc).
Status DisableCoreDumps();

}  // namespace astis::cvs
