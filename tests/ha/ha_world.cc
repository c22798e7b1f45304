// HaWorld and HaPodClient (ha_world.h).
#include "ha_world.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/random.h"
#include "edge/gates.h"
#include "edge/testing/pod_credentials.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "store/open_store.h"

namespace astis::ha {
namespace {

using std::chrono::steady_clock;

Status WriteFile(const std::string& path, std::string_view contents, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << contents;
    if (!out.good()) return Error(Code::kIo, "cannot write " + path);
  }
  if (::chmod(path.c_str(), mode) != 0) return Error(Code::kIo, "cannot chmod " + path);
  return OkStatus();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Poll step for bounded waits on another process (never for ordering
// between our own threads).
void PollPause() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

}  // namespace

int64_t NowUnix() { return static_cast<int64_t>(std::time(nullptr)); }

std::string ErrorCode(const net::HttpResponse& resp) {
  auto j = ParseJson(resp.body);
  if (!j.ok() || !j->is_object() || !j->contains("error") || !(*j)["error"].is_object()) {
    return "<no error object, status " + std::to_string(resp.status) + ">";
  }
  return (*j)["error"].value("code", "");
}

// ---------------------------------------------------------------- ChildProcess

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::vector<std::string>& args,
                                                          const std::string& log) {
  // Everything the child needs is prepared before fork: after it only
  // async-signal-safe calls (open, dup2, exec) run.
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  copy.insert(copy.begin(), "astis");
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Code::kIo, "cannot open " + log);
  struct stat st {};
  const size_t log_start = ::fstat(fd, &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fd);
    return Error(Code::kInternal, "fork failed");
  }
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    // Boost.Asio sockets are not close-on-exec: without this the child would
    // inherit the stand-in's listening socket and keep the port bound (and
    // accepting into a backlog nobody serves) after KubeStandin::Stop.
    ::close_range(3, ~0U, 0);
    ::execv(ASTIS_CLI_BINARY, argv.data());
    ::_exit(127);
  }
  ::close(fd);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log, log_start));
}

ChildProcess::~ChildProcess() { Kill(); }

Result<uint16_t> ChildProcess::WaitForPort() {
  const auto deadline = steady_clock::now() + std::chrono::seconds(30);
  const std::string marker = "serving on ";
  // Appended logs: a restarted process announces after the old lines; only
  // what this process wrote counts (an old announcement would name a port
  // nobody listens on yet).
  while (steady_clock::now() < deadline) {
    const std::string all = ReadFile(log_);
    const std::string text = all.size() > log_start_ ? all.substr(log_start_) : std::string();
    const size_t at = text.rfind(marker);
    if (at != std::string::npos) {
      const size_t eol = text.find('\n', at);
      const size_t colon = text.rfind(':', eol);
      if (eol != std::string::npos && colon != std::string::npos && colon > at) {
        return static_cast<uint16_t>(std::stoi(text.substr(colon + 1, eol - colon - 1)));
      }
    }
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Error(Code::kUnavailable, "process exited before serving: " + LogTail());
    }
    PollPause();
  }
  return Error(Code::kUnavailable, "no 'serving on' within 30 s: " + LogTail());
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void ChildProcess::Terminate() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (steady_clock::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    PollPause();
  }
  Kill();
}

std::string ChildProcess::LogTail() const {
  const std::string text = ReadFile(log_);
  return "[" + log_ + "] " + (text.size() > 2000 ? text.substr(text.size() - 2000) : text);
}

// ---------------------------------------------------------------- HaWorld

Result<std::unique_ptr<HaWorld>> HaWorld::Start(const HaOptions& options) {
  if (!store::testing::PgServer::BinariesAvailable()) {
    return Error(Code::kFailedPrecondition, "PostgreSQL server binaries (initdb, pg_ctl) not found");
  }
  std::unique_ptr<HaWorld> w(new HaWorld());
  ASTIS_RETURN_IF_ERROR(w->Build(options));
  return w;
}

HaWorld::~HaWorld() {
  for (auto& e : edges_) e->Kill();
  if (cvs_) cvs_->Kill();
  if (cvs_b_) cvs_b_->Kill();
  if (kube_) kube_->Stop();
  pg_.reset();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

Status HaWorld::Build(const HaOptions& options) {
  Random& rng = DefaultRandom();
  ASTIS_ASSIGN_OR_RETURN(dir_, net::testing::MakeTempDir());

  // PostgreSQL: one database shared by every replica (the caller's, or a
  // PgServer of the world's own).
  std::string dsn = options.postgres_dsn;
  if (dsn.empty()) {
    ASTIS_ASSIGN_OR_RETURN(pg_, store::testing::PgServer::Start());
    ASTIS_RETURN_IF_ERROR(pg_->CreateDatabase("astis"));
    dsn = pg_->Dsn("astis");
  }
  const std::string dsn_file = dir_ + "/pg.dsn";
  ASTIS_RETURN_IF_ERROR(WriteFile(dsn_file, dsn + "\n"));

  // The cluster's API.
  ASTIS_ASSIGN_OR_RETURN(kube_, kubestandin::KubeStandin::Start());
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/kube-ca.pem", kube_->ca_cert_pem(), 0644));
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/kube-token", kube_->ReadToken().RevealString()));
  {
    // The workload's ServiceAccount, created as `kubectl create sa` does.
    net::TlsClientConfig tls;
    tls.ca_pem = kube_->ca_cert_pem();
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> api, net::HttpsClient::Create(kube_->url(), tls));
    net::HttpRequest req;
    req.method = "POST";
    req.target = std::string("/api/v1/namespaces/") + kNs + "/serviceaccounts";
    req.body = DumpJson(Json{{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", kSa}}}});
    req.headers.emplace_back("Authorization", "Bearer " + std::string(kube_->AdminToken().RevealString()));
    req.headers.emplace_back("Content-Type", "application/json");
    ASTIS_ASSIGN_OR_RETURN(net::HttpResponse resp, api->Send(req));
    if (resp.status != 201) return Error(Code::kInternal, "create serviceaccount: " + std::to_string(resp.status));
  }

  // Store rows, written as `astis cluster add` / `workload add` / `apikey
  // create` write them.
  {
    store::StoreOptions so;
    so.backend = "postgres";
    so.postgres_dsn_file = dsn_file;
    so.pool_size = 1;
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> st, store::OpenStore(so));
    const int64_t now = NowUnix();
    store::Cluster c;
    c.name = kCluster;
    c.issuer = kube_->issuer();
    c.jwks_json = kube_->JwksJson();
    c.api_url = kube_->url();
    c.ca_file = dir_ + "/kube-ca.pem";
    c.token_file = dir_ + "/kube-token";
    c.created_at = now;
    ASTIS_RETURN_IF_ERROR(st->PutCluster(c));
    std::vector<uint8_t> digest_raw(32);
    ASTIS_RETURN_IF_ERROR(rng.Fill(digest_raw));
    image_digest_ = "sha256:" + HexEncode(digest_raw);
    ASTIS_RETURN_IF_ERROR(st->PutWorkload(store::Workload{kCluster, kNs, kSa, {image_digest_}}));
    ASTIS_ASSIGN_OR_RETURN(edge::GeneratedApiKey key, edge::testing::RegisterApiKey(*st, {kCluster, kNs, kSa, now}, rng));
    api_key_ = std::move(key.header_value);
  }

  // The org key (CVS only) and the CVS's mutual TLS material.
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgPrivateKey org, capsule::OrgPrivateKey::Generate(rng));
  org_public_ = std::make_unique<capsule::OrgPublicKey>(org.public_key());
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/org-keys.json", DumpJson(org.ToPrivateJwk())));
  ASTIS_ASSIGN_OR_RETURN(net::testing::TestPki cvs_pki, net::testing::TestPki::Create());
  cvs_pki_ = std::make_unique<net::testing::TestPki>(std::move(cvs_pki));
  ASTIS_ASSIGN_OR_RETURN(net::testing::TestCert edge_client, cvs_pki_->IssueClientCert("astis-edge"));
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/cvs-ca.pem", cvs_pki_->ca_cert_pem(), 0644));
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/cvs.pem", cvs_pki_->server().cert_pem, 0644));
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/cvs.key", cvs_pki_->server().key_pem.RevealString()));
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/edge-client.pem", edge_client.cert_pem, 0644));
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/edge-client.key", edge_client.key_pem.RevealString()));
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/cvs.yaml",
                                  "listen: {address: 127.0.0.1, port: 0}\n"
                                  "tls:\n"
                                  "  cert_file: " + dir_ + "/cvs.pem\n"
                                  "  key_file: " + dir_ + "/cvs.key\n"
                                  "  client_ca_file: " + dir_ + "/cvs-ca.pem\n"
                                  "  edge_client_cert_sha256: " + HexEncode(edge_client.sha256) + "\n"
                                  "org_keys: " + dir_ + "/org-keys.json\n"
                                  "audit_log: " + dir_ + "/cvs-audit.jsonl\n"));
  ASTIS_RETURN_IF_ERROR(StartCvs());
  if (options.tenant_b) {
    store::StoreOptions so;
    so.backend = "postgres";
    so.postgres_dsn_file = dsn_file;
    so.pool_size = 1;
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> st, store::OpenStore(so));
    ASTIS_RETURN_IF_ERROR(BuildTenantB(*st, NowUnix()));
  }

  // The edges' own serving certificate (one for all replicas).
  ASTIS_ASSIGN_OR_RETURN(net::testing::TestPki edge_pki, net::testing::TestPki::Create());
  edge_pki_ = std::make_unique<net::testing::TestPki>(std::move(edge_pki));
  ASTIS_ASSIGN_OR_RETURN(net::testing::TestPkiFiles edge_files, edge_pki_->WriteFiles(dir_));
  (void)edge_files;  // server.pem / server-key.pem in dir_, named in EdgeConfig

  // Start every replica, then wait for each (they start in parallel).
  for (int i = 0; i < options.replicas; ++i) {
    const std::string cfg = dir_ + "/edge-" + std::to_string(i) + ".yaml";
    ASTIS_RETURN_IF_ERROR(WriteFile(cfg, EdgeConfig(static_cast<size_t>(i), options)));
    const std::string log = dir_ + "/edge-" + std::to_string(i) + ".log";
    ASTIS_ASSIGN_OR_RETURN(auto child, ChildProcess::Start({"edge", "--config", cfg}, log));
    edges_.push_back(std::move(child));
  }
  for (auto& e : edges_) {
    ASTIS_ASSIGN_OR_RETURN(uint16_t port, e->WaitForPort());
    replica_urls_.push_back("https://127.0.0.1:" + std::to_string(port));
  }
  return OkStatus();
}

Status HaWorld::StartCvs() { return StartCvsProcess("cvs", cvs_port_, cvs_); }

// StartCvsProcess starts `astis cvs --config DIR/NAME.yaml` logging to
// DIR/NAME.log; a restart keeps the port it had (the URL the edges and the
// organisation record name is fixed).
Status HaWorld::StartCvsProcess(const std::string& name, uint16_t& port, std::unique_ptr<ChildProcess>& child) {
  const std::string config = dir_ + "/" + name + ".yaml";
  if (port != 0) {
    std::string yaml = ReadFile(config);
    const std::string from = "port: 0}", to = "port: " + std::to_string(port) + "}";
    if (const size_t at = yaml.find(from); at != std::string::npos) yaml.replace(at, from.size(), to);
    ASTIS_RETURN_IF_ERROR(WriteFile(config, yaml));
  }
  ASTIS_ASSIGN_OR_RETURN(child, ChildProcess::Start({"cvs", "--config", config}, dir_ + "/" + name + ".log"));
  ASTIS_ASSIGN_OR_RETURN(port, child->WaitForPort());
  return OkStatus();
}

// BuildTenantB registers organisation kOrgB on Tier 2 with the default
// organisation's names (same cluster, issuer, namespace, ServiceAccount),
// its own org key in its own CVS child process, and an API key.
Status HaWorld::BuildTenantB(store::Store& st, int64_t now) {
  Random& rng = DefaultRandom();
  ASTIS_ASSIGN_OR_RETURN(capsule::OrgPrivateKey org, capsule::OrgPrivateKey::Generate(rng));
  org_public_b_ = std::make_unique<capsule::OrgPublicKey>(org.public_key());
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/org-keys-b.json", DumpJson(org.ToPrivateJwk())));
  // kOrgB's CVS serves with the same test CA's server certificate (names
  // 127.0.0.1 and localhost) and admits the edges' client certificate,
  // which the edges present as their hyok identity.
  std::string yaml = ReadFile(dir_ + "/cvs.yaml");
  const std::string from = "org_keys: " + dir_ + "/org-keys.json\n";
  const size_t at = yaml.find(from);
  if (at == std::string::npos) return Error(Code::kInternal, "cvs.yaml has no org_keys line");
  yaml.replace(at, from.size(), "org_keys: " + dir_ + "/org-keys-b.json\norg: " + std::string(kOrgB) + "\n");
  const std::string audit_from = dir_ + "/cvs-audit.jsonl";
  if (const size_t a = yaml.find(audit_from); a != std::string::npos) {
    yaml.replace(a, audit_from.size(), dir_ + "/cvs-b-audit.jsonl");
  }
  if (const size_t p = yaml.find("port: " + std::to_string(cvs_port_) + "}"); p != std::string::npos) {
    yaml.replace(p, ("port: " + std::to_string(cvs_port_) + "}").size(), "port: 0}");
  }
  ASTIS_RETURN_IF_ERROR(WriteFile(dir_ + "/cvs-b.yaml", yaml));
  ASTIS_RETURN_IF_ERROR(StartCvsB());

  store::Organization b;
  b.name = kOrgB;
  b.tier = "hyok";
  b.cvs_url = "https://127.0.0.1:" + std::to_string(cvs_b_port_);
  b.cvs_ca_pem = cvs_pki_->ca_cert_pem();
  b.cvs_identity = "127.0.0.1";
  b.created_at = now;
  ASTIS_RETURN_IF_ERROR(st.PutOrganization(b));
  store::Cluster c;
  c.org = kOrgB;
  c.name = kCluster;
  c.issuer = kube_->issuer();
  c.jwks_json = kube_->JwksJson();
  c.api_url = kube_->url();
  c.ca_file = dir_ + "/kube-ca.pem";
  c.token_file = dir_ + "/kube-token";
  c.created_at = now;
  ASTIS_RETURN_IF_ERROR(st.PutCluster(c));
  ASTIS_RETURN_IF_ERROR(st.PutWorkload(store::Workload{kCluster, kNs, kSa, {image_digest_}, kOrgB}));
  edge::testing::ApiKeyScope scope{kCluster, kNs, kSa, now};
  scope.org = kOrgB;
  ASTIS_ASSIGN_OR_RETURN(edge::GeneratedApiKey key, edge::testing::RegisterApiKey(st, scope, rng));
  api_key_b_ = std::move(key.header_value);
  return OkStatus();
}

Status HaWorld::StartCvsB() { return StartCvsProcess("cvs-b", cvs_b_port_, cvs_b_); }

Result<capsule::SealedValue> HaWorld::SealValueB(std::string_view plaintext, const std::string& name) {
  if (org_public_b_ == nullptr) return Error(Code::kFailedPrecondition, "no tenant b in this world");
  return capsule::Seal(*org_public_b_, capsule::Binding{kCluster, kNs, kSa, name, "password"}, AsBytes(plaintext),
                       DefaultRandom(), DefaultClock());
}

std::string HaWorld::EdgeConfig(size_t i, const HaOptions& options) const {
  const bool watch_enabled = options.watch_enabled;
  const std::string n = std::to_string(i);
  return "listen: {address: 127.0.0.1, port: 0}\n"
         "tls:\n"
         "  cert_file: " + dir_ + "/server.pem\n"
         "  key_file: " + dir_ + "/server-key.pem\n"
         "external_base_url: " + std::string(kExternalBaseUrl) + "\n"
         "store: {backend: postgres, dsn_file: " + dir_ + "/pg.dsn, pool_size: 4}\n"
         "cvs:\n"
         "  mode: remote\n"
         "  url: https://127.0.0.1:" + std::to_string(cvs_port_) + "\n"
         "  ca_file: " + dir_ + "/cvs-ca.pem\n"
         "  client_cert_file: " + dir_ + "/edge-client.pem\n"
         "  client_key_file: " + dir_ + "/edge-client.key\n"
         "  server_cert_sha256: " + HexEncode(cvs_pki_->server().sha256) + "\n"
         "audit_log: " + dir_ + "/audit-" + n + ".jsonl\n"
         "hyok: {client_cert_file: " + dir_ + "/edge-client.pem, client_key_file: " + dir_ + "/edge-client.key}\n"
         "limits: {rate_per_api_key_per_minute: 1000000, rate_per_pod_uid_per_minute: " +
         std::to_string(options.pod_rate_per_minute) + "}\n"
         "watch: {enabled: " + (watch_enabled ? "true" : "false") + "}\n";
}

Result<std::string> HaWorld::NewPod(const std::string& name) {
  Json pod{{"metadata", {{"name", name}, {"namespace", kNs}}},
           {"spec",
            {{"serviceAccountName", kSa},
             {"containers", Json::array({{{"name", "app"}, {"image", "registry.ha.test/app@" + image_digest_}}})}}}};
  ASTIS_ASSIGN_OR_RETURN(Json created, kube_->CreatePod(std::move(pod)));
  (void)created;
  ASTIS_ASSIGN_OR_RETURN(kubestandin::MintedToken t, kube_->MintToken(kNs, kSa, name, {"astis"}, 3600));
  return t.token;
}

Result<capsule::SealedValue> HaWorld::SealValue(std::string_view plaintext, const std::string& name) {
  return capsule::Seal(*org_public_, capsule::Binding{kCluster, kNs, kSa, name, "password"}, AsBytes(plaintext),
                       DefaultRandom(), DefaultClock());
}

std::string HaWorld::Logs() const {
  std::string out;
  if (cvs_) out += cvs_->LogTail() + "\n";
  if (cvs_b_) out += cvs_b_->LogTail() + "\n";
  for (const auto& e : edges_) out += e->LogTail() + "\n";
  return out;
}

// ---------------------------------------------------------------- HaPodClient

Result<std::unique_ptr<HaPodClient>> HaPodClient::Create(const HaWorld& world, std::string token) {
  return Create(world, std::move(token), world.api_key());
}

Result<std::unique_ptr<HaPodClient>> HaPodClient::Create(const HaWorld& world, std::string token,
                                                         std::string api_key) {
  std::unique_ptr<HaPodClient> c(new HaPodClient());
  c->urls_ = world.replica_urls();
  c->tls_ = world.EdgeClientTls();
  c->http_.resize(c->urls_.size());
  c->api_key_ = std::move(api_key);
  c->token_ = std::move(token);
  ASTIS_ASSIGN_OR_RETURN(Ed25519PrivateKey dpop, Ed25519PrivateKey::Generate(DefaultRandom()));
  ASTIS_ASSIGN_OR_RETURN(X25519PrivateKey recipient, X25519PrivateKey::Generate(DefaultRandom()));
  c->dpop_ = std::make_unique<Ed25519PrivateKey>(std::move(dpop));
  c->recipient_ = std::make_unique<X25519PrivateKey>(std::move(recipient));
  return c;
}

Result<net::HttpRequest> HaPodClient::BuildRequest(const std::string& method, const std::string& path,
                                                   const std::string& body) const {
  std::optional<std::string_view> nonce;
  if (!nonce_.empty()) nonce = nonce_;
  return edge::testing::PodRequest({api_key_, token_, dpop_.get()}, method, kExternalBaseUrl, path, body, NowUnix(),
                                   nonce, DefaultRandom());
}

Result<net::HttpResponse> HaPodClient::SendRaw(size_t replica, const net::HttpRequest& req) {
  if (http_[replica] == nullptr) {
    net::ClientOptions opts;
    opts.connect_timeout = std::chrono::milliseconds(2000);
    opts.request_timeout = std::chrono::milliseconds(10000);
    ASTIS_ASSIGN_OR_RETURN(http_[replica], net::HttpsClient::Create(urls_[replica], tls_, opts));
  }
  auto resp = http_[replica]->Send(req);
  if (!resp.ok()) {
    http_[replica].reset();  // a fresh connection next time
    return resp.status();
  }
  if (auto n = resp->Header("DPoP-Nonce"); n.has_value()) nonce_ = std::string(*n);
  return resp;
}

Result<net::HttpResponse> HaPodClient::Send(size_t replica, const std::string& method, const std::string& path,
                                            const std::string& body) {
  ASTIS_ASSIGN_OR_RETURN(net::HttpRequest req, BuildRequest(method, path, body));
  ASTIS_ASSIGN_OR_RETURN(net::HttpResponse resp, SendRaw(replica, req));
  if (edge::testing::AsksForDpopNonce(resp)) {
    ASTIS_ASSIGN_OR_RETURN(net::HttpRequest retry, BuildRequest(method, path, body));
    return SendRaw(replica, retry);
  }
  return resp;
}

std::string HaPodClient::EstablishBody() const {
  return DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(recipient_->public_key()).ToJson()}});
}

std::string HaPodClient::UnwrapBody(const std::vector<capsule::SealedValue>& values) const {
  std::vector<std::string> caps;
  for (const auto& v : values) caps.push_back(B64uEncode(v.capsule().bytes()));
  return DumpJson(Json{{"session", session_}, {"capsules", caps}});
}

std::string HaPodClient::PrepareRotation(int64_t now) {
  auto dpop = Ed25519PrivateKey::Generate(DefaultRandom());
  auto recipient = X25519PrivateKey::Generate(DefaultRandom());
  if (!dpop.ok() || !recipient.ok()) return "";
  next_dpop_ = std::make_unique<Ed25519PrivateKey>(std::move(dpop).value());
  next_recipient_ = std::make_unique<X25519PrivateKey>(std::move(recipient).value());
  const std::string prev = jose::Jwk::FromEd25519Public(dpop_->public_key()).Thumbprint();
  // docs/protocol.md §4.3: pop is a JWS by the NEW key over {session, prev, iat}.
  const std::string pop = jose::SignCompactJws(Json{{"alg", "EdDSA"}},
                                               DumpJson(Json{{"session", session_}, {"prev", prev}, {"iat", now}}),
                                               *next_dpop_);
  return DumpJson(Json{{"session", session_},
                       {"key", jose::Jwk::FromEd25519Public(next_dpop_->public_key()).ToJson()},
                       {"recipient", jose::Jwk::FromX25519Public(next_recipient_->public_key()).ToJson()},
                       {"pop", pop}});
}

std::string HaPodClient::jkt() const { return jose::Jwk::FromEd25519Public(dpop_->public_key()).Thumbprint(); }

void HaPodClient::CommitRotation() {
  dpop_ = std::move(next_dpop_);
  recipient_ = std::move(next_recipient_);
}

Result<net::HttpResponse> HaPodClient::Establish(size_t replica) {
  ASTIS_ASSIGN_OR_RETURN(net::HttpResponse resp, Send(replica, "POST", "/v1/sessions", EstablishBody()));
  if (resp.status == 201) {
    auto j = ParseJson(resp.body);
    if (j.ok() && j->is_object()) session_ = j->value("session", "");
  }
  return resp;
}

Result<std::vector<std::string>> HaPodClient::OpenValues(const net::HttpResponse& resp,
                                                         const std::vector<capsule::SealedValue>& values) const {
  if (resp.status != 200) {
    return Error(Code::kUnavailable, "unwrap status " + std::to_string(resp.status) + " " + ErrorCode(resp));
  }
  ASTIS_ASSIGN_OR_RETURN(Json j, ParseJson(resp.body));
  if (!j.is_object() || !j.contains("results") || !j["results"].is_array() || j["results"].size() != values.size()) {
    return Error(Code::kInvalidArgument, "unwrap: results shape");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < values.size(); ++i) {
    const Json& r = j["results"][i];
    if (!r.is_object() || !r.contains("enc") || !r.contains("ct")) {
      return Error(Code::kInvalidArgument, "unwrap: result " + std::to_string(i) + " is " + DumpJson(r));
    }
    ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> enc, B64uDecode(r["enc"].get<std::string>()));
    ASTIS_ASSIGN_OR_RETURN(std::vector<uint8_t> ct, B64uDecode(r["ct"].get<std::string>()));
    ASTIS_ASSIGN_OR_RETURN(SecretBytes dek,
                           capsule::OpenRewrapped(*recipient_, values[i].capsule().hash(), session_, enc, ct));
    ASTIS_ASSIGN_OR_RETURN(SecretBytes pt, capsule::DecryptValue(dek, values[i]));
    out.emplace_back(pt.RevealString());
  }
  return out;
}

}  // namespace astis::ha
