// The edge process: everything `astis-edge` and `astis serve` / `astis edge`
// do between "configuration validated" and "exit" (docs/edge.md, docs/admin.md).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"
#include "edge/config.h"

namespace astis::edge {

// EdgeProcessOptions names the process in its stderr lines and lets a caller
// learn the bound port (useful with listen.port 0).
struct EdgeProcessOptions {
  std::string program = "astis-edge";
  // on_listening, when set, is called once with the bound port after the
  // server accepts connections and before the process waits for a signal.
  std::function<void(uint16_t)> on_listening;
};

// RunEdgeProcess opens the SQLite store, the audit log, the embedded or
// remote CVS and one HttpKubeClient per registered cluster, serves
// EdgeService over HTTPS on config.listen, prints "<program>: serving on
// ADDRESS:PORT" to stderr, then blocks until SIGTERM or SIGINT and stops
// gracefully (5 s grace). It blocks SIGTERM/SIGINT in the calling thread
// first, so it must be called before other threads exist and a signal sent
// during start-up is not lost. Returns OK after a graceful stop; otherwise
// the first start-up failure (store, audit log, CVS, TLS, listen) with a
// message naming the step and no secret. A cluster whose API client cannot
// be built is reported on stderr and served without one (gate 4 refuses
// its pods with kube_unavailable). Everything it opens is released on return.
Status RunEdgeProcess(const EdgeConfig& config, Clock& clock, Random& rng, const EdgeProcessOptions& options = {});

// BlockTerminationSignals blocks SIGTERM and SIGINT in the calling thread
// (threads created afterwards inherit the mask). It cannot fail.
void BlockTerminationSignals();

// WaitForTerminationSignal waits (sigwait) for SIGTERM or SIGINT, which must
// have been blocked with BlockTerminationSignals, and returns its number.
int WaitForTerminationSignal();

}  // namespace astis::edge
