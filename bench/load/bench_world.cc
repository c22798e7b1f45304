// InProcessWorld: the edge and a Kubernetes API stand-in in one process,
// wired as src/edge/run.cc wires RunEdgeProcess (docs/performance.md).
#include "load/bench_world.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/json.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "cvs/cvs.h"
#include "edge/config.h"
#include "edge/gates.h"
#include "edge/pod_monitor.h"
#include "edge/run.h"
#include "edge/service.h"
#include "edge/testing/pod_credentials.h"
#include "kube-standin/kube_standin.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/watch.h"
#include "load/proc_stats.h"
#include "net/http_server.h"
#include "net/testing/test_pki.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace astis::bench {
namespace {

constexpr char kCluster[] = "bench-c1";
constexpr char kNs[] = "bench";
constexpr char kSa[] = "loadgen";
// The digest every benchmark pod's image is pinned to (the stand-in reports
// a pinned image's own digest as its imageID).
constexpr char kDigest[] = "sha256:5f0c0e8f3b6a4d1c9e2b7a6f5d4c3b2a19087f6e5d4c3b2a1908f7e6d5c4b3a2";

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Code::kIo, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status WriteWholeFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return Error(Code::kIo, "cannot write " + path);
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return OkStatus();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Result<Target> LoadTargetFiles(const std::string& edge_url, const std::string& edge_ca_file,
                               const std::string& api_key_file, const std::string& kube_dir,
                               const std::string& org_public_file, const std::string& cluster,
                               const std::string& ns, const std::string& service_account,
                               const std::string& digest) {
  Target t;
  t.edge_url = edge_url;
  ASTIS_ASSIGN_OR_RETURN(t.edge_ca_pem, ReadWholeFile(edge_ca_file));
  ASTIS_ASSIGN_OR_RETURN(std::string key, ReadWholeFile(api_key_file));
  t.api_key = SecretBytes::CopyFrom(Trim(std::move(key)));
  ASTIS_ASSIGN_OR_RETURN(std::string url, ReadWholeFile(kube_dir + "/url"));
  t.kube_url = Trim(std::move(url));
  ASTIS_ASSIGN_OR_RETURN(t.kube_ca_pem, ReadWholeFile(kube_dir + "/ca.crt"));
  ASTIS_ASSIGN_OR_RETURN(std::string admin, ReadWholeFile(kube_dir + "/admin.token"));
  t.kube_admin_token = SecretBytes::CopyFrom(Trim(std::move(admin)));
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgPublicKey org, capsule::LoadOrgPublicKeyFile(org_public_file));
  t.org_public = std::make_shared<const capsule::OrgPublicKey>(std::move(org));
  t.cluster = cluster;
  t.ns = ns;
  t.service_account = service_account;
  t.digest = digest;
  return t;
}

struct InProcessWorld::Parts {
  std::string dir;
  std::unique_ptr<kubestandin::KubeStandin> standin;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<audit::FileAuditLog> audit;
  std::unique_ptr<cvs::CvsService> cvs;
  std::unique_ptr<edge::KubeClientCache> kube_clients;
  std::unique_ptr<edge::PodMonitor> monitor;
  std::unique_ptr<edge::EdgeService> service;
  std::unique_ptr<net::HttpServer> server;
};

InProcessWorld::~InProcessWorld() {
  if (parts_ == nullptr) return;
  if (parts_->server != nullptr) parts_->server->Stop(std::chrono::milliseconds(0));
  if (parts_->monitor != nullptr) parts_->monitor->Stop();
  if (parts_->standin != nullptr) parts_->standin->Stop();
  const std::string dir = parts_->dir;
  parts_.reset();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::remove_all(dir, ec);
}

bool InProcessWorld::WatchHealthy() const {
  if (parts_->monitor == nullptr) return false;
  for (const edge::WatchState& s : parts_->monitor->States()) {
    if (!s.stats.healthy) return false;
  }
  return !parts_->monitor->States().empty();
}

Result<SessionRows> InProcessWorld::CountSessions(int64_t now) const {
  SessionRows rows;
  ASTIS_ASSIGN_OR_RETURN(std::vector<store::Session> all, parts_->store->ListSessions(store::SessionFilter{}));
  rows.total = static_cast<int64_t>(all.size());
  ASTIS_ASSIGN_OR_RETURN(rows.active, parts_->store->CountActiveSessions(now));
  return rows;
}

Result<OrgsAdded> InProcessWorld::AddOrganizations(int orgs, int clusters_per_org) {
  if (orgs < 0 || clusters_per_org < 1) return Error(Code::kInvalidArgument, "orgs >= 0, clusters_per_org >= 1");
  const auto start = std::chrono::steady_clock::now();
  Clock& clock = DefaultClock();
  Random& rng = DefaultRandom();
  Parts& p = *parts_;
  OrgsAdded added;
  added.targets.reserve(static_cast<size_t>(orgs));
  for (int i = 1; i <= orgs; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "bench-org-%04d", i);
    const std::string org = name;
    store::Organization o;
    o.name = org;
    o.tier = "standard";
    o.created_at = clock.NowUnix();
    ASTIS_RETURN_IF_ERROR(p.store->PutOrganization(o));
    store::OrgConfig config;
    for (int c = 1; c <= clusters_per_org; ++c) {
      store::Cluster cl;
      cl.name = "bench-c" + std::to_string(c);
      cl.ca_file = p.dir + "/kube-ca.pem";
      cl.token_file = p.dir + "/kube-read.token";
      cl.mode = "strict";
      cl.created_at = clock.NowUnix();
      // Every cluster pins a JWKS text of its own (the edge caches parsed
      // sets by their text): a fresh P-256 key, plus, for bench-c1, the
      // stand-in's keys that sign the pods' tokens.
      ASTIS_ASSIGN_OR_RETURN(SigningKey key, SigningKey::GenerateEc(PublicKeyKind::kEcP256));
      Json jwk = key.PublicJwkMembers();
      jwk["kid"] = org + "-" + cl.name;
      jwk["alg"] = "ES256";
      jwk["use"] = "sig";
      Json keys = Json::array();
      if (c == 1) {
        cl.issuer = p.standin->issuer();
        cl.api_url = p.standin->url();
        ASTIS_ASSIGN_OR_RETURN(Json standin_jwks, ParseJson(p.standin->JwksJson()));
        keys = standin_jwks["keys"];
      } else {
        // Never contacted (no workload, no watch): its own issuer, as
        // another organisation's cluster would have.
        const std::string host = org + "-" + cl.name + ".bench.invalid";
        cl.issuer = "https://" + host;
        cl.api_url = "https://" + host + ":6443";
      }
      keys.push_back(std::move(jwk));
      cl.jwks_json = DumpJson(Json{{"keys", std::move(keys)}});
      config.clusters.push_back(std::move(cl));
    }
    config.workloads.push_back(store::Workload{kCluster, kNs, kSa, {kDigest}, org});
    ASTIS_ASSIGN_OR_RETURN(std::vector<store::ApplyChange> changes,
                           p.store->ApplyOrgConfig(org, config, /*prune=*/false, /*dry_run=*/false, clock.NowUnix()));
    (void)changes;
    added.clusters += clusters_per_org;

    edge::testing::ApiKeyScope scope{kCluster, kNs, kSa, clock.NowUnix()};
    scope.org = org;
    ASTIS_ASSIGN_OR_RETURN(edge::GeneratedApiKey key, edge::testing::RegisterApiKey(*p.store, scope, rng));

    ASTIS_ASSIGN_OR_RETURN(capsule::OrgPrivateKey org_key, capsule::OrgPrivateKey::Generate(rng));
    auto org_public = std::make_shared<const capsule::OrgPublicKey>(org_key.public_key());
    ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet keys, capsule::OrgKeySet::Create(std::move(org_key)));
    p.cvs->SetOrgKeys(org, std::move(keys));

    Target t;
    t.edge_url = target_.edge_url;
    t.edge_ca_pem = target_.edge_ca_pem;
    t.api_key = std::move(key.header_value);
    t.kube_url = target_.kube_url;
    t.kube_ca_pem = target_.kube_ca_pem;
    t.kube_admin_token = target_.kube_admin_token.Clone();
    t.cluster = kCluster;
    t.ns = kNs;
    t.service_account = kSa;
    t.digest = kDigest;
    t.org_public = std::move(org_public);
    added.targets.push_back(std::move(t));
  }
  added.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return added;
}

std::string InProcessWorld::store_path() const { return parts_->dir + "/edge.db"; }
std::string InProcessWorld::audit_path() const { return parts_->dir + "/audit.jsonl"; }

Result<std::unique_ptr<InProcessWorld>> InProcessWorld::Start(const WorldOptions& options) {
  Clock& clock = DefaultClock();
  Random& rng = DefaultRandom();
  std::unique_ptr<InProcessWorld> world(new InProcessWorld());
  world->parts_ = std::make_unique<Parts>();
  Parts& p = *world->parts_;
  ASTIS_ASSIGN_OR_RETURN(p.dir, net::testing::MakeTempDir());

  // The cluster's API: a stand-in on loopback, port 0.
  kubestandin::StandinOptions so;
  const std::vector<int64_t> threads_before = ListThreadIds();
  ASTIS_ASSIGN_OR_RETURN(p.standin, kubestandin::KubeStandin::Start(so));
  for (int64_t tid : ListThreadIds()) {
    if (std::find(threads_before.begin(), threads_before.end(), tid) == threads_before.end()) {
      world->standin_threads_.push_back(tid);
    }
  }
  ASTIS_RETURN_IF_ERROR(WriteWholeFile(p.dir + "/kube-ca.pem", p.standin->ca_cert_pem()));
  ASTIS_RETURN_IF_ERROR(WriteWholeFile(p.dir + "/kube-read.token", p.standin->ReadToken().RevealString()));

  // The edge's store on a file with the cluster, the workload and an API key.
  ASTIS_ASSIGN_OR_RETURN(p.store, store::OpenSqliteStore(p.dir + "/edge.db"));
  store::Cluster c;
  c.name = kCluster;
  c.issuer = p.standin->issuer();
  c.jwks_json = p.standin->JwksJson();
  c.api_url = p.standin->url();
  c.ca_file = p.dir + "/kube-ca.pem";
  c.token_file = p.dir + "/kube-read.token";
  c.mode = "strict";
  c.created_at = clock.NowUnix();
  ASTIS_RETURN_IF_ERROR(p.store->PutCluster(c));
  ASTIS_RETURN_IF_ERROR(p.store->PutWorkload(store::Workload{kCluster, kNs, kSa, {kDigest}}));
  ASTIS_ASSIGN_OR_RETURN(edge::GeneratedApiKey key,
                         edge::testing::RegisterApiKey(*p.store, {kCluster, kNs, kSa, clock.NowUnix()}, rng));

  ASTIS_ASSIGN_OR_RETURN(p.audit, audit::FileAuditLog::Open(p.dir + "/audit.jsonl", clock));

  // The embedded CVS with a fresh org key.
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgPrivateKey org, capsule::OrgPrivateKey::Generate(rng));
  auto org_public = std::make_shared<const capsule::OrgPublicKey>(org.public_key());
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgKeySet keys, capsule::OrgKeySet::Create(std::move(org)));
  p.cvs = std::make_unique<cvs::CvsService>(std::move(keys), rng, p.audit.get());

  // Kubernetes clients and the pod watch, as run.cc builds them.
  p.kube_clients = std::make_unique<edge::KubeClientCache>(
      *p.store, clock, [&clock](const store::Cluster& cl) -> Result<std::unique_ptr<kube::KubeClient>> {
        ASTIS_ASSIGN_OR_RETURN(kube::ClusterConnection conn, kube::Explicit(cl.api_url, cl.ca_file, cl.token_file));
        ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<kube::HttpKubeClient> client, kube::HttpKubeClient::Create(conn, clock));
        return std::unique_ptr<kube::KubeClient>(std::move(client));
      });
  if (options.watch) {
    p.monitor = std::make_unique<edge::PodMonitor>(*p.store, *p.audit, clock,
                                                   edge::MakePodWatcherFactory(clock, rng, kube::WatchOptions{}));
  }

  // The edge over HTTPS; external_base_url is its real URL (DPoP htu).
  ASTIS_ASSIGN_OR_RETURN(net::testing::TestPki pki, net::testing::TestPki::Create());
  ASTIS_ASSIGN_OR_RETURN(net::testing::TestPkiFiles files, pki.WriteFiles(p.dir));
  edge::EdgeConfig config;
  config.tls = {files.server_cert, files.server_key};
  config.store.path = p.dir + "/edge.db";
  config.cvs.org_keys = "unused (embedded key generated in process)";
  config.audit_log = p.dir + "/audit.jsonl";
  config.limits.rate_per_api_key_per_minute = 1000000;
  config.limits.rate_per_pod_uid_per_minute = 1000000;
  config.session_ttl_seconds = options.session_ttl_seconds;
  config.dpop.nonce_window_seconds = options.nonce_window_seconds;
  net::ServerConfig sc;
  sc.tls = pki.ServerTls();
  sc.threads = options.server_threads;
  sc.limits.idle_timeout = options.idle_timeout;
  sc.limits.max_body_bytes = static_cast<size_t>(config.limits.max_body_bytes) + 1;  // as run.cc
  // The server starts before the service exists (its port is the URL);
  // until then it answers 503.
  auto* service_slot = new std::atomic<edge::EdgeService*>(nullptr);
  std::shared_ptr<std::atomic<edge::EdgeService*>> slot(service_slot);
  ASTIS_ASSIGN_OR_RETURN(p.server, net::HttpServer::Start(sc, [slot](const net::ServerRequest& r) {
                           edge::EdgeService* s = slot->load();
                           return s != nullptr ? s->HandleHeld(r) : net::JsonError(503, "internal_error", "not ready");
                         }));
  const std::string edge_url = "https://127.0.0.1:" + std::to_string(p.server->port());
  config.external_base_url = edge_url;
  edge::EdgeDeps deps;
  deps.store = p.store.get();
  edge::KubeClientCache* cache = p.kube_clients.get();
  deps.kube = [cache](std::string_view name) -> kube::KubeClient* { return cache->Get(name); };
  deps.pods = p.monitor.get();
  deps.cvs = p.cvs.get();
  deps.audit = p.audit.get();
  deps.clock = &clock;
  deps.rng = &rng;
  ASTIS_ASSIGN_OR_RETURN(p.service, edge::EdgeService::Create(config, deps));
  slot->store(p.service.get());

  if (p.monitor != nullptr) {
    p.monitor->StartRescanning(std::chrono::seconds(30));
    // Bounded wait for the watch's initial LIST (start-up, not
    // synchronisation of the measurement).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!world->WatchHealthy() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!world->WatchHealthy()) return Error(Code::kKubeUnavailable, "pod watch did not become healthy in 10 s");
  }

  Target& t = world->target_;
  t.edge_url = edge_url;
  t.edge_ca_pem = pki.ca_cert_pem();
  t.api_key = std::move(key.header_value);
  t.kube_url = p.standin->url();
  t.kube_ca_pem = p.standin->ca_cert_pem();
  t.kube_admin_token = p.standin->AdminToken().Clone();
  t.cluster = kCluster;
  t.ns = kNs;
  t.service_account = kSa;
  t.digest = kDigest;
  t.org_public = std::move(org_public);
  return world;
}

}  // namespace astis::bench
