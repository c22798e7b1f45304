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

}  // namespace astis::net
