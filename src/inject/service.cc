#include "inject/service.h"

#include <signal.h>

#include <cstdio>

#include "common/log.h"
#include "net/signals.h"
#include "net/tls_reloader.h"

namespace astis::inject {
namespace {

net::ServerResponse JsonBody(int status, std::string body) {
  net::ServerResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

// IsJson accepts application/json with optional parameters (charset).
bool IsJson(const std::optional<std::string>& content_type) {
  if (!content_type) return false;
  std::string v = content_type->substr(0, content_type->find(';'));
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  for (char& c : v) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return v == "application/json";
}

}  // namespace

net::ServerResponse InjectService::Handle(const net::ServerRequest& request) {
  const std::string& m = request.method;
  const std::string& path = request.path;
  if (path == "/healthz" || path == "/readyz") {
    if (m != "GET") return net::JsonError(405, "method_not_allowed", "use GET");
    return JsonBody(200, DumpJson(Json{{"status", "ok"}}));
  }
  if (path == "/metrics") {
    if (m != "GET") return net::JsonError(405, "method_not_allowed", "use GET");
    net::ServerResponse r;
    r.body = MetricsText();
    r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4");
    return r;
  }
  if (path == "/mutate") {
    if (m != "POST") return net::JsonError(405, "method_not_allowed", "use POST");
    return HandleMutate(request);
  }
  return net::JsonError(404, "not_found", "no such endpoint: /mutate, /healthz, /readyz, /metrics");
}

net::ServerResponse InjectService::HandleMutate(const net::ServerRequest& request) {
  if (!IsJson(request.Header("Content-Type"))) {
    ++errors_;
    return net::JsonError(415, "unsupported_media_type", "POST an AdmissionReview as application/json");
  }
  auto parsed = ParseAdmissionReview(request.body);
  if (!parsed.ok()) {
    ++errors_;
    const bool large = parsed.status().code() == Code::kTooLarge;
    return net::JsonError(large ? 413 : 400, large ? "too_large" : "bad_request",
                          "not an AdmissionReview: " + parsed.status().message());
  }
  auto verified = VerifyAdmissionReview(*parsed);
  if (!verified.ok()) {
    ++errors_;
    return net::JsonError(400, "bad_request", "not an admission.k8s.io/v1 AdmissionReview request: " +
                                                  verified.status().message());
  }
  const Decision d = Mutate(*verified, config_);
  switch (d.outcome) {
    case Outcome::kAdmitted:
      ++admitted_;
      break;
    case Outcome::kMutated:
      ++mutated_;
      break;
    case Outcome::kRefused:
      ++refused_;
      // Names the pod's namespace and the reason; the reason never quotes an
      // annotation value (ParseInjectAnnotations).
      log::Process().Info("astis inject", "refused a pod in namespace " + verified->namespace_ + ": " + d.message);
      break;
  }
  return JsonBody(200, AdmissionResponseJson(verified->uid, d));
}

std::string InjectService::MetricsText() const {
  std::string out;
  auto counter = [&out](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
           std::to_string(v) + "\n";
  };
  counter("astis_inject_admitted_total", "AdmissionReviews allowed without a patch.", admitted());
  counter("astis_inject_mutated_total", "Pods patched to run astis-run.", mutated());
  counter("astis_inject_refused_total", "Pods refused (allowed: false).", refused());
  counter("astis_inject_errors_total", "Requests that were not a valid AdmissionReview.", errors());
  return out;
}

Status RunInjectProcess(const InjectServerConfig& config, const InjectProcessOptions& options) {
  net::BlockTerminationSignals();
  net::BlockReloadSignal();
  ASTIS_RETURN_IF_ERROR(ValidateInjectServerConfig(config));
  net::TlsFiles files{config.cert_file, config.key_file, "", {}};
  auto tls = net::LoadTlsFiles(files);
  if (!tls.ok()) return tls.status().Annotate("tls");
  auto service = std::make_shared<InjectService>(config.inject);
  net::ServerConfig sc;
  sc.bind_address = config.listen_address;
  sc.port = config.listen_port;
  sc.tls = std::move(tls).value();
  sc.threads = 2;
  sc.limits.max_body_bytes = kMaxReviewBytes;
  auto server = net::HttpServer::Start(sc, [service](const net::ServerRequest& r) { return service->Handle(r); });
  if (!server.ok()) return server.status().Annotate("listen");
  net::TlsReloaderOptions ro;
  ro.name = "astis inject: tls";
  net::HttpServer* s = server->get();
  net::TlsReloader reloader(files, [s](const net::TlsServerConfig& c) { return s->ReloadTls(c); }, ro);
  reloader.Start();
  log::Process().Info("astis inject", "serving on " + config.listen_address + ":" + std::to_string(s->port()));
  // Gate 4 checks the injected init container's image too (docs/inject.md).
  const std::string& image = config.inject.run_image;
  log::Process().Info("astis inject", "injected pods run " + image + ": allow it for each workload with `astis "
                                      "workload images add --cluster C --namespace N --service-account SA --image " +
                                      image.substr(image.rfind('@') + 1) + "`");
  if (options.on_listening) options.on_listening(s->port());
  int sig = 0;
  while ((sig = net::WaitForTerminationOrReloadSignal()) == SIGHUP) (void)reloader.ReloadNow();
  reloader.Stop();
  log::Process().Info("astis inject", std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") + " received, stopping");
  s->Stop(std::chrono::milliseconds(5000));
  return OkStatus();
}

}  // namespace astis::inject
