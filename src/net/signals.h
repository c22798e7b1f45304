// SIGTERM/SIGINT handling shared by the long-running processes (`astis-edge`,
// `astis cvs`, `astis-kube-standin`): block the signals before any thread
// exists, then wait for one with sigwait, so no handler runs and a signal sent
// during start-up is not lost.
#pragma once

namespace astis::net {

// BlockTerminationSignals blocks SIGTERM and SIGINT in the calling thread
// (threads created afterwards inherit the mask). It cannot fail.
void BlockTerminationSignals();

// WaitForTerminationSignal waits (sigwait) for SIGTERM or SIGINT, which must
// have been blocked with BlockTerminationSignals, and returns its number.
int WaitForTerminationSignal();

// BlockReloadSignal blocks SIGHUP too (call it beside BlockTerminationSignals,
// before any thread exists), for WaitForTerminationOrReloadSignal.
void BlockReloadSignal();

// WaitForTerminationOrReloadSignal waits for SIGTERM, SIGINT or SIGHUP
// (all blocked first) and returns its number: SIGHUP asks the process to
// reload its certificates (docs/operations.md "Certificate rotation").
int WaitForTerminationOrReloadSignal();

}  // namespace astis::net
