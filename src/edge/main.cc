// astis-edge: loads the configuration, wires the real store, audit log, CVS
// and Kubernetes clients into EdgeService, and serves it over HTTPS until
// SIGTERM/SIGINT. Exit status 2 for a configuration error, 1 for a start-up
// failure. Nothing secret is printed.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "audit/audit_log.h"
#include "capsule/org_key.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/random.h"
#include "cvs/cvs.h"
#include "cvs/remote.h"
#include "edge/config.h"
#include "edge/service.h"
#include "kube/client.h"
#include "kube/config.h"
#include "net/http_server.h"
#include "net/tls.h"
#include "store/sqlite_store.h"

namespace {

using namespace astis;

int Fail(const char* what, const Status& s) {
  std::fprintf(stderr, "astis-edge: %s: %s\n", what, s.ToString().c_str());
  return 1;
}

Result<std::unique_ptr<cvs::CvsPort>> MakeCvs(const edge::EdgeConfig& c, audit::AuditSink& audit) {
  if (c.cvs.mode == edge::CvsMode::kEmbedded) {
    ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet keys, capsule::OrgKeySet::LoadFile(c.cvs.org_keys));
    return std::unique_ptr<cvs::CvsPort>(new cvs::CvsService(std::move(keys), DefaultRandom(), &audit));
  }
  net::TlsClientConfig tls;
  ASTIS_ASSIGN_OR_RETURN(std::string ca, net::ReadPemFile(c.cvs.ca_file));
  ASTIS_ASSIGN_OR_RETURN(std::string cert, net::ReadPemFile(c.cvs.client_cert_file));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes key, net::ReadKeyFile(c.cvs.client_key_file));
  ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> pin, HexDecode(c.cvs.server_cert_sha256));
  tls.ca_pem = std::move(ca);
  tls.client_cert_pem = std::move(cert);
  tls.client_key_pem = std::move(key);
  Sha256Digest digest{};
  std::copy(pin.begin(), pin.end(), digest.begin());  // length checked by ParseEdgeConfig
  tls.pinned_server_cert_sha256.push_back(digest);
  ASTIS_ASSIGN_OR_RETURN(auto client, cvs::RemoteCvsClient::Create(c.cvs.url, tls));
  return std::unique_ptr<cvs::CvsPort>(std::move(client));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: astis-edge <config.yaml>\n");
    return 2;
  }
  auto config = edge::LoadEdgeConfig(argv[1]);
  if (!config.ok()) {
    std::fprintf(stderr, "astis-edge: configuration: %s\n", config.status().ToString().c_str());
    return 2;
  }
  Clock& clock = DefaultClock();
  auto store = store::OpenSqliteStore(config->store.path);
  if (!store.ok()) return Fail("store", store.status());
  auto audit_log = audit::FileAuditLog::Open(config->audit_log, clock);
  if (!audit_log.ok()) return Fail("audit log", audit_log.status());
  auto cvs_port = MakeCvs(*config, **audit_log);
  if (!cvs_port.ok()) return Fail("cvs", cvs_port.status());

  // One read-only Kubernetes client per cluster registered at start-up. A
  // cluster whose client cannot be built has none: gate 4 then refuses its
  // pods (kube_unavailable) and /readyz reports it.
  std::map<std::string, std::unique_ptr<kube::KubeClient>, std::less<>> kube_clients;
  auto clusters = (*store)->ListClusters();
  if (!clusters.ok()) return Fail("list clusters", clusters.status());
  for (const auto& c : *clusters) {
    auto conn = kube::Explicit(c.api_url, c.ca_file, c.token_file);
    Result<std::unique_ptr<kube::HttpKubeClient>> client =
        conn.ok() ? kube::HttpKubeClient::Create(*conn, clock) : Result<std::unique_ptr<kube::HttpKubeClient>>(conn.status());
    if (!client.ok()) {
      std::fprintf(stderr, "astis-edge: cluster %s: no API client: %s\n", c.name.c_str(),
                   client.status().ToString().c_str());
      continue;
    }
    kube_clients.emplace(c.name, std::move(client).value());
  }

  edge::EdgeDeps deps;
  deps.store = store->get();
  deps.kube = [&kube_clients](std::string_view name) -> kube::KubeClient* {
    auto it = kube_clients.find(name);
    return it == kube_clients.end() ? nullptr : it->second.get();
  };
  deps.cvs = cvs_port->get();
  deps.audit = audit_log->get();
  deps.clock = &clock;
  deps.rng = &DefaultRandom();
  auto service = edge::EdgeService::Create(*config, deps);
  if (!service.ok()) return Fail("edge", service.status());

  auto tls = net::LoadTlsServerConfig(config->tls.cert_file, config->tls.key_file);
  if (!tls.ok()) return Fail("tls", tls.status());
  net::ServerConfig sc;
  sc.bind_address = config->listen.address;
  sc.port = config->listen.port;
  sc.tls = std::move(tls).value();
  sc.limits.max_body_bytes = static_cast<size_t>(config->limits.max_body_bytes) + 1;  // the edge answers 413 itself
  edge::EdgeService* svc = service->get();
  auto server = net::HttpServer::Start(sc, [svc](const net::ServerRequest& r) { return svc->Handle(r); });
  if (!server.ok()) return Fail("listen", server.status());
  std::fprintf(stderr, "astis-edge: serving on %s:%u\n", config->listen.address.c_str(), (*server)->port());
  (*server)->WaitForShutdownSignal();
  return 0;
}
