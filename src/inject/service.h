// The HTTP side of `astis inject`: POST /mutate, /healthz, /readyz and
// /metrics (docs/inject.md "Endpoints"), as a net::Handler, and the process
// that serves it over HTTPS with certificate reload.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "common/status.h"
#include "inject/admission.h"
#include "inject/config.h"
#include "net/http_server.h"

namespace astis::inject {

// InjectService answers requests; thread-safe (the counters are atomic).
class InjectService {
 public:
  explicit InjectService(InjectConfig config) : config_(std::move(config)) {}

  // Handle routes one request. A malformed AdmissionReview is a 400 JSON
  // error (errors counter); a verified one always gets a 200 AdmissionReview.
  // Tests: InjectServiceTest.*.
  net::ServerResponse Handle(const net::ServerRequest& request);

  // MetricsText is the Prometheus text exposition of the counters.
  std::string MetricsText() const;

  uint64_t admitted() const { return admitted_.load(); }
  uint64_t mutated() const { return mutated_.load(); }
  uint64_t refused() const { return refused_.load(); }
  uint64_t errors() const { return errors_.load(); }

 private:
  net::ServerResponse HandleMutate(const net::ServerRequest& request);

  const InjectConfig config_;
  std::atomic<uint64_t> admitted_{0}, mutated_{0}, refused_{0}, errors_{0};
};

// InjectProcessOptions: on_listening is called once with the bound port.
struct InjectProcessOptions {
  std::function<void(uint16_t)> on_listening;
};

// RunInjectProcess validates config, loads the certificate, serves
// InjectService over HTTPS on the configured address, prints
// "astis inject: serving on ADDRESS:PORT" on stderr, reloads the
// certificate files when they change (and on SIGHUP), and returns OK after
// SIGTERM/SIGINT and a graceful stop. It blocks those signals in the calling
// thread first (call it before other threads exist). Errors: configuration,
// TLS files, listen.
Status RunInjectProcess(const InjectServerConfig& config, const InjectProcessOptions& options = {});

}  // namespace astis::inject
