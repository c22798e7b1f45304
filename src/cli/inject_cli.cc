#include "cli/inject_cli.h"

#include <string>

#include "cli/commands.h"
#include "inject/config.h"
#include "inject/service.h"

namespace astis::cli {

struct InjectCommand::Args {
  CLI::App* cmd = nullptr;
  std::string config, listen, cert, key, namespace_, run_image, edge_url, edge_ca_configmap;
  int64_t token_expiration_seconds = 0;
};

InjectCommand::InjectCommand(CLI::App& app) : a_(std::make_unique<Args>()) {
  Args& a = *a_;
  a.cmd = app.add_subcommand("inject",
                             "Serve the mutating admission webhook that wires astis-run into labelled pods "
                             "(HTTPS: /mutate, /healthz, /readyz, /metrics; docs/inject.md)");
  a.cmd->add_option("--config", a.config, "YAML configuration file (flags override its values)");
  a.cmd->add_option("--listen", a.listen, "HOST:PORT to serve on (default 0.0.0.0:8443)");
  a.cmd->add_option("--cert", a.cert, "TLS certificate chain (PEM), reloaded when it changes");
  a.cmd->add_option("--key", a.key, "TLS private key (PEM)");
  a.cmd->add_option("--namespace", a.namespace_, "The webhook's own namespace, never injected");
  a.cmd->add_option("--run-image", a.run_image, "The astis-run image by digest: REPOSITORY@sha256:<64 hex>");
  a.cmd->add_option("--edge-url", a.edge_url, "ASTIS_EDGE_URL of injected pods (https, comma-separated)");
  a.cmd->add_option("--edge-ca-configmap", a.edge_ca_configmap,
                    "ConfigMap (key ca.crt) in the pod's namespace holding the edge's CA (ASTIS_CA_FILE)");
  a.cmd->add_option("--token-expiration-seconds", a.token_expiration_seconds,
                    "Lifetime of the projected token (600..86400, default 600)");
}

InjectCommand::~InjectCommand() = default;

std::optional<int> InjectCommand::Run(CliEnv& env) {
  const Args& a = *a_;
  if (!a.cmd->parsed()) return std::nullopt;
  auto fail = [&env](const Status& s) {
    env.err << "astis inject: configuration: " << s.ToString() << "\n";
    return ExitCodeFor(s);
  };
  inject::InjectServerConfig config;
  if (!a.config.empty()) {
    auto text = ReadFileLimited(a.config, 1024 * 1024);
    if (!text.ok()) return fail(text.status());
    if (Status s = inject::ParseInjectServerConfig(*text, config); !s.ok()) return fail(s.Annotate(a.config));
  }
  if (!a.listen.empty()) {
    if (Status s = inject::ParseListen(a.listen, config); !s.ok()) return fail(s);
  }
  if (!a.cert.empty()) config.cert_file = a.cert;
  if (!a.key.empty()) config.key_file = a.key;
  if (!a.namespace_.empty()) config.inject.namespace_ = a.namespace_;
  if (!a.run_image.empty()) config.inject.run_image = a.run_image;
  if (!a.edge_url.empty()) config.inject.edge_url = a.edge_url;
  if (!a.edge_ca_configmap.empty()) config.inject.edge_ca_configmap = a.edge_ca_configmap;
  if (a.cmd->count("--token-expiration-seconds") > 0) {
    config.inject.token_expiration_seconds = a.token_expiration_seconds;
  }
  if (Status s = inject::ValidateInjectServerConfig(config); !s.ok()) return fail(s);
  env.err.flush();
  Status s = inject::RunInjectProcess(config);
  if (!s.ok()) {
    env.err << "astis inject: " << s.ToString() << "\n";
    return ExitCodeFor(s);
  }
  return kExitOk;
}

}  // namespace astis::cli
