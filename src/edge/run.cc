#include "edge/run.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "admin/https_api.h"
#include "admin/server.h"
#include "audit/audit_log.h"
#include "audit/org_audit_router.h"
#include "capsule/org_key.h"
#include "common/encoding.h"
#include "common/log.h"
#include "cvs/cvs.h"
#include "cvs/key_file_watcher.h"
#include "cvs/key_management.h"
#include "cvs/process_hardening.h"
#include "cvs/remote.h"
#include "edge/cvs_router.h"
#include "edge/pod_monitor.h"
#include "edge/purger.h"
#include "edge/service.h"
#include "kube/client.h"
#include "kube/config.h"
#include "net/http_server.h"
#include "net/signals.h"
#include "net/tls.h"
#include "net/tls_reloader.h"
#include "store/open_store.h"

namespace astis::edge {
namespace {

Status Step(std::string_view what, const Status& s) {
  return Error(s.code(), std::string(what) + ": " + std::string(s.message()));
}

}  // namespace

Result<std::unique_ptr<cvs::RemoteCvsClient>> MakeRemoteAstisCvsClient(const EdgeConfig& c) {
  if (c.cvs.mode != CvsMode::kRemote) return Error(Code::kInvalidArgument, "cvs.mode is not remote");
  net::TlsClientConfig tls;
  ASTIS_ASSIGN_OR_RETURN(std::string ca, net::ReadPemFile(c.cvs.ca_file));
  ASTIS_ASSIGN_OR_RETURN(std::string cert, net::ReadPemFile(c.cvs.client_cert_file));
  ASTIS_ASSIGN_OR_RETURN(SecretBytes key, net::ReadKeyFile(c.cvs.client_key_file));
  auto digest_of = [](std::string_view field, const std::string& hex) -> Result<Sha256Digest> {
    ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> pin, HexDecode(hex));
    Sha256Digest digest{};
    if (pin.size() != digest.size()) return Error(Code::kInvalidArgument, std::string(field) + ": not 32 bytes");
    std::copy(pin.begin(), pin.end(), digest.begin());
    return digest;
  };
  tls.ca_pem = std::move(ca);
  tls.client_cert_pem = std::move(cert);
  tls.client_key_pem = std::move(key);
  if (!c.cvs.server_cert_sha256.empty()) {
    ASTIS_ASSIGN_OR_RETURN(Sha256Digest d, digest_of("cvs.server_cert_sha256", c.cvs.server_cert_sha256));
    tls.pinned_server_cert_sha256.push_back(d);
  }
  for (const std::string& hex : c.cvs.server_spki_sha256) {
    ASTIS_ASSIGN_OR_RETURN(Sha256Digest d, digest_of("cvs.server_spki_sha256", hex));
    tls.pinned_server_spki_sha256.push_back(d);
  }
  // CA pin: cvs.ca_file and the name the CVS certificate must carry
  // (RFC 6125), with any leaf or SPKI pin on top. Test:
  // EdgeCvsPinTest.CaPinSurvivesRenewalAndRefusesAnotherCa.
  if (!c.cvs.server_name.empty()) {
    tls.server_name = c.cvs.server_name;
    tls.verify_hostname = true;
    return cvs::RemoteCvsClient::CreateTrustingCa(c.cvs.url, tls);
  }
  return cvs::RemoteCvsClient::Create(c.cvs.url, tls);
}

namespace {

// MakeAstisCvs builds the ASTIS CVS port (Tier 1): embedded, with the
// default organisation's set from cvs.org_keys and every organisation's
// from cvs.org_keys_dir, or the remote ASTIS CVS.
// key_watcher receives the watcher of cvs.org_keys (embedded), which must
// not outlive the port. public_keys receives the lookup of GET /v1/keys
// (embedded only: a remote ASTIS CVS's keys are not known to the edge),
// which borrows the port.
Result<std::unique_ptr<cvs::CvsPort>> MakeAstisCvs(const EdgeConfig& c, audit::AuditSink& audit, const Clock& clock,
                                                   Random& rng, std::unique_ptr<cvs::OrgKeyFileWatcher>* key_watcher,
                                                   PublicKeyLookup* public_keys) {
  if (c.cvs.mode == CvsMode::kEmbedded) {
    cvs::OrgKeySets sets;
    if (!c.cvs.org_keys.empty()) {
      ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet keys, capsule::OrgKeySet::LoadFile(c.cvs.org_keys));
      sets.emplace(std::string(store::kDefaultOrg), std::move(keys));
    }
    auto service = std::make_unique<cvs::CvsService>(std::move(sets), rng, &audit);
    if (!c.cvs.org_keys.empty()) {
      *key_watcher =
          std::make_unique<cvs::OrgKeyFileWatcher>(c.cvs.org_keys, std::string(store::kDefaultOrg), *service);
    }
    if (c.cvs.org_keys_dir.empty()) {
      cvs::CvsService* svc = service.get();
      *public_keys = [svc](std::string_view kid) { return svc->ActivePublicKey(kid); };
      return std::unique_ptr<cvs::CvsPort>(std::move(service));
    }
    // One source per organisation: the default's set is either the file or
    // the directory's default.json, never both.
    const std::string dir_default = cvs::OrgKeySetPath(c.cvs.org_keys_dir, store::kDefaultOrg);
    if (!c.cvs.org_keys.empty() && access(dir_default.c_str(), F_OK) == 0)
      return Error(Code::kInvalidArgument, "cvs.org_keys and cvs.org_keys_dir/default.json both name the default "
                                           "organisation's keys");
    auto refreshing = std::make_unique<RefreshingCvs>(std::move(service), c.cvs.org_keys_dir, clock, rng);
    // Test: EdgeStartTest.RefusesDefaultKeysTwiceAndBadKeyDirectory.
    ASTIS_RETURN_IF_ERROR(refreshing->Start());
    RefreshingCvs* ref = refreshing.get();
    *public_keys = [ref](std::string_view kid) { return ref->ActivePublicKey(kid); };
    return std::unique_ptr<cvs::CvsPort>(std::move(refreshing));
  }
  ASTIS_ASSIGN_OR_RETURN(auto client, MakeRemoteAstisCvsClient(c));
  return std::unique_ptr<cvs::CvsPort>(std::move(client));
}

// OrgKeySourceOf answers org.key.list of the admin socket and the remote
// admin API (`astis org key list --server`, docs/admin.md "Sealing"): the
// kids, states and suites of the key set files the embedded ASTIS CVS loads
// (cvs.org_keys for the default organisation, <org>.json of
// cvs.org_keys_dir), read fresh on each call, never a private member. A
// remote ASTIS CVS keeps the files on its own host. Errors name no path:
// the caller may be an organisation's admin, not the edge's.
admin::OrgKeySource OrgKeySourceOf(const EdgeConfig& c) {
  if (c.cvs.mode != CvsMode::kEmbedded) {
    return [](std::string_view) -> Result<std::vector<admin::OrgKeyRow>> {
      return Error(Code::kFailedPrecondition, "this edge's ASTIS CVS is remote and holds the org keys on its own "
                                              "host: run `astis org key list --keys-dir` there");
    };
  }
  return [file = c.cvs.org_keys, dir = c.cvs.org_keys_dir](std::string_view org)
             -> Result<std::vector<admin::OrgKeyRow>> {
    std::string path;
    if (org == store::kDefaultOrg && !file.empty()) {
      path = file;
    } else if (!dir.empty()) {
      path = cvs::OrgKeySetPath(dir, org);
    }
    if (path.empty() || access(path.c_str(), F_OK) != 0) return Error(Code::kNotFound, "no org key set");
    auto keys = capsule::SummarizeKeySetFile(path);
    if (!keys.ok()) {
      log::Process().Warn("edge", "org key list: " + keys.status().ToString(), Json{{"org", std::string(org)}});
      return Error(keys.status().code(), "the org key set of organization " + std::string(org) +
                                             " cannot be read on this edge (see its log)");
    }
    std::vector<admin::OrgKeyRow> rows;
    rows.reserve(keys->size());
    for (const capsule::OrgKeySummary& k : *keys) {
      rows.push_back(admin::OrgKeyRow{k.kid, k.active ? "active" : "retired",
                                      std::string(capsule::OrgKeySuiteName(k.suite)), k.in_token});
    }
    return rows;
  };
}

// LoadHyokIdentity reads hyok.client_cert_file / client_key_file; nullopt
// when the section is absent.
Result<std::optional<HyokClientIdentity>> LoadHyokIdentity(const EdgeConfig& c) {
  if (c.hyok.client_cert_file.empty()) return std::optional<HyokClientIdentity>();
  HyokClientIdentity id;
  ASTIS_ASSIGN_OR_RETURN(id.cert_pem, net::ReadPemFile(c.hyok.client_cert_file));
  ASTIS_ASSIGN_OR_RETURN(id.key_pem, net::ReadKeyFile(c.hyok.client_key_file));
  return std::optional<HyokClientIdentity>(std::move(id));
}

}  // namespace

KubeClientCache::KubeClientCache(store::Store& store, const Clock& clock, KubeClientBuilder builder,
                                 int64_t recheck_ms)
    : store_(store), clock_(clock), builder_(std::move(builder)), recheck_ms_(recheck_ms) {}

kube::KubeClient* KubeClientCache::Get(std::string_view cluster) {
  const int64_t now = clock_.NowUnixMillis();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(cluster);
  if (it != entries_.end() && now - it->second.checked_ms < recheck_ms_) return it->second.client.get();
  if (it == entries_.end()) it = entries_.emplace(std::string(cluster), Entry{}).first;
  Entry& e = it->second;
  const store::ClusterRef ref = store::SplitQualifiedClusterName(cluster);
  auto record = store_.GetCluster(ref.org, ref.name);
  if (!record.ok() && record.status().code() != Code::kNotFound) {
    return e.client.get();  // store hiccup: keep what we have, re-check next time
  }
  e.checked_ms = now;
  const std::string fingerprint =
      record.ok() ? record->api_url + '\n' + record->ca_file + '\n' + record->token_file : std::string();
  if (fingerprint == e.fingerprint && (e.client != nullptr || !record.ok())) return e.client.get();
  const bool changed = fingerprint != e.fingerprint;
  e.fingerprint = fingerprint;
  if (e.client != nullptr) retired_.push_back(std::move(e.client));  // may still be in use by a request
  if (!record.ok()) return nullptr;
  auto client = builder_(*record);
  if (!client.ok()) {
    if (changed) {
      log::Process().Warn("edge", "cluster " + std::string(cluster) + ": no API client: " + client.status().ToString(),
                          Json{{"cluster", std::string(cluster)}});
    }
    return nullptr;
  }
  e.client = std::move(client).value();
  return e.client.get();
}

store::StoreOptions StoreOptionsOf(const EdgeConfig& config) {
  store::StoreOptions o;
  o.backend = config.store.backend;
  o.sqlite_path = config.store.path;
  o.postgres_dsn_file = config.store.dsn_file;
  o.pool_size = static_cast<int>(config.store.pool_size);
  return o;
}

Status RunEdgeProcess(const EdgeConfig& config, Clock& clock, Random& rng, const EdgeProcessOptions& options) {
  net::BlockTerminationSignals();
  net::BlockReloadSignal();
  // docs/operations.md "Logs": json or text lines on stderr (config `log:`,
  // validated by ParseEdgeConfig).
  {
    auto format = log::ParseFormat(config.log.format);
    auto level = log::ParseLevel(config.log.level);
    log::ConfigureProcess(format.ok() ? *format : log::Format::kText, level.ok() ? *level : log::Level::kInfo);
  }
  log::Logger& logger = log::Process();
  const std::string& component = options.program;
  auto store = store::OpenStore(StoreOptionsOf(config));
  if (!store.ok()) return Step("store", store.status());
  // Audit sinks (docs/audit-log.md "Sinks"): the file, rotated by size, and/or
  // the same lines on stdout; a torn last line (a kill mid-append) is
  // truncated and recorded on start (docs/audit-log.md "Torn tail"). The
  // organisations' trails inherit these options (OrgAuditRouter).
  audit::FileAuditOptions audit_options;
  audit_options.repair_torn_tail = true;
  audit_options.max_file_bytes = static_cast<uint64_t>(config.audit_log_max_bytes);
  if (config.audit_sink != "file") audit_options.stream_fd = STDOUT_FILENO;
  auto audit_log = audit::FileAuditLog::Open(config.audit_log, clock, audit_options);
  if (!audit_log.ok()) return Step("audit log", audit_log.status());
  // With the embedded CVS this process holds the org private keys and, while
  // unwrapping, DEKs: no core file may ever contain them (docs/threat-model.md;
  // test hardening_core_dump covers `astis cvs`, which calls the same function).
  if (config.cvs.mode == CvsMode::kEmbedded) {
    if (Status s = cvs::DisableCoreDumps(); !s.ok()) return Step("disable core dumps", s);
  }
  // The embedded CVS writes its rewrap line without waiting for the disk:
  // the edge's own line for the same request, appended before any response
  // leaves, is group-committed with it — one fdatasync per unwrap instead of
  // two (docs/audit-log.md "Durability", docs/performance.md).
  //
  // Each organisation's decisions go to its own hash-chained trail beside
  // the main log (audit::OrgAuditRouter; docs/tenancy.md "Audit trails");
  // the deferred CVS line lands in the same file as the edge's line.
  audit::OrgAuditRouter audit_router(**audit_log, config.audit_log, clock);
  audit::DeferSyncRouterSink cvs_audit(audit_router);
  std::unique_ptr<cvs::OrgKeyFileWatcher> key_watcher;  // cvs.org_keys, embedded
  PublicKeyLookup public_keys;  // GET /v1/keys/{kid}: borrows the ASTIS CVS port (docs/edge.md)
  auto cvs_port = MakeAstisCvs(config, cvs_audit, clock, rng, &key_watcher, &public_keys);
  if (!cvs_port.ok()) return Step("cvs", cvs_port.status());
  // Both tiers in one process (docs/cvs.md "Routing"): each organisation's
  // capsules go to the ASTIS CVS (standard) or to its own CVS (hyok).
  auto hyok_identity = LoadHyokIdentity(config);
  if (!hyok_identity.ok()) return Step("hyok", hyok_identity.status());
  if (!hyok_identity->has_value()) {
    if (auto orgs = (*store)->ListOrganizations(); orgs.ok()) {
      for (const store::Organization& o : *orgs) {
        if (o.tier != "hyok") continue;
        logger.Warn(component, "organisation " + o.name + " is hyok but no hyok.client_cert_file is configured: "
                                                     "its unwraps are refused with cvs_unavailable",
                    Json{{"org", o.name}});
      }
    }
  }
  net::ClientOptions hyok_options;
  hyok_options.connect_timeout = std::chrono::milliseconds(2000);
  hyok_options.request_timeout = std::chrono::milliseconds(5000);
  CvsRouter cvs_router(**store, clock, **cvs_port, MakeHyokCvsBuilder(std::move(*hyok_identity), hyok_options));

  // Read-only Kubernetes clients, built on first use and rebuilt when the
  // cluster record changes (clusters added to a running edge work at once).
  // Gate 4's reads give up after gate4.api_timeout_ms, whatever the socket
  // does (a frozen API server holds no request past it; docs/edge.md).
  kube::KubeClientOptions kube_options;
  kube_options.request_timeout = std::chrono::milliseconds(config.gate4.api_timeout_ms);
  kube_options.connect_timeout = std::min(kube_options.connect_timeout, kube_options.request_timeout);
  KubeClientCache kube_clients(**store, clock, [&clock, kube_options](const store::Cluster& c)
                                                  -> Result<std::unique_ptr<kube::KubeClient>> {
    ASTIS_ASSIGN_OR_RETURN(kube::ClusterConnection conn, kube::Explicit(c.api_url, c.ca_file, c.token_file));
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<kube::HttpKubeClient> client,
                           kube::HttpKubeClient::Create(conn, clock, kube_options));
    return std::unique_ptr<kube::KubeClient>(std::move(client));
  });
  if (auto clusters = (*store)->ListClusters(std::nullopt); !clusters.ok()) {
    return Step("list clusters", clusters.status());
  }

  // Pod watches: revocation on pod deletion/replacement/new images, and
  // invalidation of gate 4's confirmations (docs/edge.md "Pod watch").
  std::unique_ptr<PodMonitor> monitor;
  if (config.watch.enabled) {
    kube::WatchOptions wo;
    wo.timeout_seconds = config.watch.timeout_seconds;
    wo.staleness_seconds = config.watch.staleness_seconds;
    monitor = std::make_unique<PodMonitor>(**store, audit_router, clock, MakePodWatcherFactory(clock, rng, wo));
  }

  const unsigned threads = config.listen.threads > 0
                              ? static_cast<unsigned>(config.listen.threads)
                              : DefaultThreadsPerCore(config) * std::max(1u, std::thread::hardware_concurrency());
  EdgeConfig service_config = config;
  if (service_config.gate4.max_waiting_per_cluster == 0) {
    // One cluster may hold at most half the request threads waiting on its
    // API, so a frozen API server cannot starve the others (docs/edge.md).
    service_config.gate4.max_waiting_per_cluster = std::max<int64_t>(1, threads / 2);
  }

  EdgeDeps deps;
  deps.store = store->get();
  deps.kube = [&kube_clients](std::string_view name) -> kube::KubeClient* { return kube_clients.Get(name); };
  deps.pods = monitor.get();
  deps.cvs = &cvs_router;
  deps.audit = &audit_router;
  deps.clock = &clock;
  deps.rng = &rng;
  deps.log = &logger;  // the access log
  deps.public_keys = public_keys;
  // EdgeService::Create announces every audit-mode cluster on stderr.
  auto service = EdgeService::Create(service_config, deps);
  if (!service.ok()) return Step("edge", service.status());
  if (monitor) {
    FreshPods* fresh = &(*service)->fresh_pods();
    monitor->SetChangeListener([fresh](const std::string& cluster, const std::string& ns, const std::string& name) {
      fresh->Invalidate(cluster, ns, name);
    });
  }

  auto tls = net::LoadTlsServerConfig(config.tls.cert_file, config.tls.key_file);
  if (!tls.ok()) return Step("tls", tls.status());
  net::ServerConfig sc;
  sc.bind_address = config.listen.address;
  sc.port = config.listen.port;
  sc.tls = std::move(tls).value();
  sc.limits.max_body_bytes = static_cast<size_t>(config.limits.max_body_bytes) + 1;  // the edge answers 413 itself
  sc.threads = threads;
  EdgeService* svc = service->get();
  // The authenticated admin endpoint (docs/admin.md "Admin socket"): the
  // same operations as `astis cluster|workload|apikey|session` on the store.
  std::unique_ptr<admin::AdminServer> admin_server;
  if (!config.admin.unix_socket.empty()) {
    admin::AdminServerOptions ao;
    ao.audit = audit_log->get();
    ao.api_key_generator = [](Random& r) -> Result<admin::NewApiKey> {
      ASTIS_ASSIGN_OR_RETURN(GeneratedApiKey k, GenerateApiKey(r));
      return admin::NewApiKey{std::move(k.id), std::move(k.header_value), k.hash};
    };
    ao.org_keys = OrgKeySourceOf(config);
    auto started = admin::AdminServer::Start(config.admin.unix_socket, **store, clock, rng, std::move(ao));
    if (!started.ok()) return Step("admin socket", started.status());
    admin_server = std::move(started).value();
  }
  // The remote admin API (docs/tenancy.md "Administration over the
  // network"): the same operations over mutual TLS, authorised per role.
  std::unique_ptr<admin::AdminHttpsHandler> admin_https_handler;
  std::unique_ptr<net::HttpServer> admin_https;
  if (config.admin.https.port != 0) {
    auto admin_tls = net::LoadTlsServerConfig(config.admin.https.cert_file, config.admin.https.key_file);
    if (!admin_tls.ok()) return Step("admin https tls", admin_tls.status());
    auto admin_ca = net::ReadPemFile(config.admin.https.client_ca_file);
    if (!admin_ca.ok()) return Step("admin https client ca", admin_ca.status());
    admin_tls->client_ca_pem = std::move(admin_ca).value();
    admin::AdminHttpsOptions ho;
    ho.audit = audit_log->get();
    ho.api_key_generator = [](Random& r) -> Result<admin::NewApiKey> {
      ASTIS_ASSIGN_OR_RETURN(GeneratedApiKey k, GenerateApiKey(r));
      return admin::NewApiKey{std::move(k.id), std::move(k.header_value), k.hash};
    };
    ho.org_keys = OrgKeySourceOf(config);
    admin_https_handler = std::make_unique<admin::AdminHttpsHandler>(**store, clock, rng, std::move(ho));
    admin::AdminHttpsConfig hc;
    hc.bind_address = config.admin.https.address;
    hc.port = static_cast<uint16_t>(config.admin.https.port);
    hc.tls = std::move(admin_tls).value();
    auto started = admin::StartAdminHttpsServer(std::move(hc), *admin_https_handler);
    if (!started.ok()) return Step("admin https", started.status());
    admin_https = std::move(started).value();
    logger.Info(component, "admin API on " + config.admin.https.address + ":" + std::to_string(admin_https->port()));
  }
  auto server = net::HttpServer::Start(sc, [svc](const net::ServerRequest& r) { return svc->HandleHeld(r); });
  if (!server.ok()) return Step("listen", server.status());
  if (monitor) monitor->StartRescanning(std::chrono::seconds(config.watch.rescan_seconds));
  // Expired sessions, jti entries and rate windows are deleted every minute
  // in bounded batches (docs/store.md "What is purged when").
  ExpiryPurger purger(**store, clock);
  purger.Start();
  // Certificates reload when their files change (polled every 2 s) or on
  // SIGHUP; new connections get the new one (docs/operations.md
  // "Certificate rotation").
  std::vector<std::unique_ptr<net::TlsReloader>> reloaders;
  auto watch = [&](net::TlsFiles files, net::HttpServer* s, const std::string& name) {
    net::TlsReloaderOptions ro;
    ro.name = options.program + ": " + name;
    reloaders.push_back(std::make_unique<net::TlsReloader>(
        std::move(files), [s](const net::TlsServerConfig& c) { return s->ReloadTls(c); }, ro));
    reloaders.back()->Start();
  };
  watch({config.tls.cert_file, config.tls.key_file, "", {}}, server->get(), "tls");
  if (admin_https) {
    const auto& h = config.admin.https;
    watch({h.cert_file, h.key_file, h.client_ca_file, {}}, admin_https.get(), "admin https tls");
  }
  // Tests and scripts wait for "serving on ADDRESS:PORT" (the port last).
  logger.Info(component, "serving on " + config.listen.address + ":" + std::to_string((*server)->port()));
  if (options.on_listening) options.on_listening((*server)->port());
  // The embedded CVS's cvs.org_keys file reloads when it changes (a new
  // active key, a retired one) or on SIGHUP; cvs.org_keys_dir already does
  // (RefreshingCvs). docs/operations.md "Org key rotation".
  auto report_keys = [&options](const Status& s) {
    if (!s.ok()) {
      log::Process().Error(options.program, "org keys not reloaded, still serving the previous set: " + s.ToString());
    }
  };
  std::unique_ptr<cvs::PeriodicRefresh> key_poller;
  if (key_watcher) {
    key_poller = std::make_unique<cvs::PeriodicRefresh>([&key_watcher] { return key_watcher->Refresh(); },
                                                        std::chrono::seconds(2), report_keys);
  }
  int sig = 0;
  while ((sig = net::WaitForTerminationOrReloadSignal()) == SIGHUP) {
    for (auto& r : reloaders) (void)r->ReloadNow();  // each reports its outcome
    if (key_watcher) report_keys(key_watcher->Refresh(/*force=*/true));
  }
  if (key_poller) key_poller->Stop();
  for (auto& r : reloaders) r->Stop();
  logger.Info(component, std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") + " received, stopping");
  if (admin_server) admin_server->Stop();
  if (admin_https) admin_https->Stop(std::chrono::milliseconds(1000));
  (*server)->Stop(std::chrono::milliseconds(5000));
  purger.Stop();
  if (monitor) monitor->Stop();
  return OkStatus();
}

}  // namespace astis::edge
