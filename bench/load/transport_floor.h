// The transport floor (docs/performance.md "The wire floor"): what serving
// HTTP/1.1 over TLS on keep-alive connections costs a server at a phase's
// concurrency and message sizes, with a handler that does nothing. The same
// net::HttpServer as the edge runs in a child process (astis-bench
// --transport-server), the parent drives it like the phase's pods and reads
// the child's CPU from /proc. Benchmark tool.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"

namespace astis::bench {

// RunTransportServer is the child's main: a net::HttpServer on 127.0.0.1
// port 0 with TLS from a throw-away in-memory CA (nothing written to disk),
// `threads` server threads, answering every request 200 with a fixed
// application/json body of `response_body_bytes` bytes (Cache-Control:
// no-store) and nothing else. It prints its port on one line of stdout, then
// the CA certificate (PEM) the client must trust, and serves until stdin
// reaches EOF or SIGTERM arrives; then stops and returns 0 (1 when it could
// not start, with the error on stderr).
int RunTransportServer(unsigned threads, size_t response_body_bytes);

// TransportLoad is the phase the transport floor copies.
struct TransportLoad {
  int pods = 1;               // keep-alive connections, one client thread each
  double rate = 0;            // > 0: open loop at this total rate (schedule.h); 0: closed loop
  double seconds = 1;         // measured window
  double request_bytes = 0;   // wire bytes per request to imitate (body padded)
  double response_bytes = 0;  // wire bytes per response to imitate
  unsigned threads = 1;       // the server's threads (the edge's)
};

// TransportCost is what the child spent.
struct TransportCost {
  double cpu_us_per_request = 0;  // the child's CPU (RunSeconds, else ReadProcStats) / requests
  uint64_t requests = 0;          // answered 200
  uint64_t errors = 0;            // transport failures and other statuses
  double seconds = 0;
  size_t request_body = 0, response_body = 0;  // the padded bodies
};

// MeasureTransport spawns /proc/self/exe --transport-server, opens
// load.pods keep-alive TLS connections to it (one request each before the
// window, so handshakes are not counted), drives POSTs for load.seconds as
// the phase did (closed loop, or open loop at load.rate with the same
// schedule), and returns the child's CPU per answered request. The child is
// stopped (stdin closed; SIGKILL after 5 s) and reaped on every path. Fails
// with kUnavailable when the child does not start or nothing was answered,
// kIo when /proc cannot be read.
Result<TransportCost> MeasureTransport(const TransportLoad& load);

}  // namespace astis::bench
