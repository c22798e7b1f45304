// A container restarted in a live pod gets its secrets back at once; the
// pin still holds while its holder lives (issue 26; docs/edge.md "Restarted
// containers", docs/protocol.md §4.1 "Readings"). Over real loopback TLS:
//
//   pod clients (HttpsClient + DPoP) --TLS--> edge (net::HttpServer, 2
//   threads, EdgeService, SQLite file store, FileAuditLog, embedded CVS)
//      gate-4 reads and PodMonitor's real PodWatcher --TLS--> kube stand-in
//
// The stand-in reports a restart as the kubelet does
// (KubeStandin::RestartContainer: restartCount + 1, new containerID,
// lastState.terminated, MODIFIED). The process that held the pin is
// "killed" by dropping its DPoP key without ending its session: it never
// sends DELETE, as after SIGKILL. The edge runs the production gate-4
// defaults (max_staleness_ms 1000, watch on) on a fake clock that starts at
// and follows the wall clock, so confirmations age as in production.
//
// The *SdkProcess* tests do it with real processes: astis_sdk_holder
// (support/sdk_holder.cc) links libastis.so, fetches a secret through the
// edge and holds its session until the test sends it SIGKILL.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <latch>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/files.h"
#include "common/testing/must.h"
#include "common/testing/poll.h"
#include "crypto/ed25519.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "cvs/cvs.h"
#include "edge/config.h"
#include "edge/pod_monitor.h"
#include "edge/run.h"
#include "edge/service.h"
#include "edge/testing/pod_credentials.h"
#include "jose/jwk.h"
#include "kube-standin/kube_standin.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/watch.h"
#include "net/http_server.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "store/sqlite_store.h"
#include "support/kube_api_standin.h"

namespace astis::integration {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
using test::Must;
using test::PollUntil;
using test::WriteFile;

constexpr char kCluster[] = "eu-restart";
constexpr char kIssuer[] = "https://oidc.eu-restart.example.com";
constexpr char kNs[] = "billing";
constexpr char kSa[] = "ledger";
constexpr char kPod[] = "ledger-5c8d7b9f4-r3st4";
constexpr char kUid[] = "7b2d9e4f-3c5a-4d6e-9f0a-2b3c4d5e6f70";
constexpr char kApp[] = "sleep";  // the app container of kPodShape
constexpr char kSecret[] = "db-password";  // what the SDK processes fetch
constexpr char kReadToken[] = "restart-kube-read-only-token";
constexpr char kPodShape[] = "kubernetes/pod-sidecar-containerd-digest.json";
const std::string kAppDigest = "sha256:cd2438ba5730cd67f3f400a7726f756bce34124d65a60e7509721a70cdb9ea26";
// The requirement: a restarted container gets its secrets within
// 30 s with the default configuration (the SDK retries credential_pinned
// for up to that long). A correctness bound, not a benchmark.
constexpr auto kRecoveryBound = std::chrono::seconds(30);
// How long a test waits for one line from (or the exit of) an SDK process
// before failing; the pin-wait cases take 2 s.
constexpr auto kHolderLineTimeout = std::chrono::seconds(45);

// HolderProcess is one astis_sdk_holder child: stdin a pipe the test keeps
// open (EOF would let it end its session), stdout a pipe the test reads
// lines from, stderr a file. The destructor SIGKILLs and reaps it, so no
// path of a test leaves a process behind. Spawned with posix_spawn (this
// process is threaded); the pipes are O_CLOEXEC, so one holder never
// inherits another's.
class HolderProcess {
 public:
  static std::unique_ptr<HolderProcess> Spawn(const std::string& binary, const std::string& secret,
                                               std::vector<std::string> env, const std::string& stderr_path) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return nullptr;
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return nullptr;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    std::vector<std::string> argv_s = {binary, secret};
    std::vector<char*> argv, envp;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    if (rc != 0) {
      ::close(in[1]);
      ::close(out[0]);
      return nullptr;
    }
    return std::unique_ptr<HolderProcess>(new HolderProcess(pid, in[1], out[0], stderr_path));
  }

  ~HolderProcess() {
    (void)Kill();
    ::close(stdin_);
    ::close(stdout_);
  }
  HolderProcess(const HolderProcess&) = delete;
  HolderProcess& operator=(const HolderProcess&) = delete;

  // ReadLine returns the next stdout line (without its newline), blocking
  // in poll(2) for at most timeout; nullopt at EOF or on timeout.
  std::optional<std::string> ReadLine(milliseconds timeout = kHolderLineTimeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (true) {
      const size_t nl = buffered_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffered_.substr(0, nl);
        buffered_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{stdout_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return std::nullopt;
      char buf[512];
      const ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      buffered_.append(buf, static_cast<size_t>(n));
    }
  }

  // WaitExit reads stdout to EOF (the child closes it only by exiting),
  // within timeout, then reaps the child. It returns everything the child
  // printed and its wait status, or nullopt when it is still running.
  std::optional<std::pair<std::string, int>> WaitExit(milliseconds timeout = kHolderLineTimeout) {
    std::string printed;
    while (std::optional<std::string> line = ReadLine(timeout)) printed += *line + "\n";
    printed += buffered_;
    int status = 0;
    // Closing stdout comes just before the child becomes waitable.
    if (!PollUntil([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, milliseconds(5000))) {
      return std::nullopt;
    }
    reaped_ = true;
    return std::make_pair(printed, status);
  }

  // Running is whether the child has not exited (it is not reaped).
  bool Running() const {
    siginfo_t info{};
    return !reaped_ && ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
  }

  // Kill sends SIGKILL and reaps the child; returns its wait status (0 if
  // it was reaped before).
  int Kill() {
    if (reaped_) return 0;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
  }

  // Stderr is what the child wrote on stderr so far.
  std::string Stderr() const {
    std::ifstream in(stderr_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  HolderProcess(pid_t pid, int in, int out, std::string stderr_path)
      : pid_(pid), stdin_(in), stdout_(out), stderr_path_(std::move(stderr_path)) {}

  pid_t pid_;
  int stdin_;
  int stdout_;
  std::string stderr_path_;
  std::string buffered_;
  bool reaped_ = false;
};

// Process is one SDK process in the pod: the pod's credentials (API key and
// projected token, shared by every process of the pod) and its own
// RAM-only keys.
struct Process {
  std::unique_ptr<Ed25519PrivateKey> dpop;
  std::unique_ptr<X25519PrivateKey> recipient;
  std::unique_ptr<net::HttpsClient> http;
  std::string nonce;
  std::string session;
};

class ContainerRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Random& rng = DefaultRandom();
    dir_ = Must(net::testing::MakeTempDir());
    store_ = Must(store::OpenSqliteStore(dir_ + "/edge.db"));
    audit_ = Must(audit::FileAuditLog::Open(dir_ + "/audit.log", clock_));
    capsule::OrgPrivateKey org = Must(capsule::OrgPrivateKey::Generate(rng));
    org_public_ = std::make_unique<capsule::OrgPublicKey>(org.public_key());
    cvs_ = std::make_unique<cvs::CvsService>(Must(capsule::OrgKeySet::Create(std::move(org))), rng, audit_.get());

    kubestandin::StandinOptions so;
    so.read_token = kReadToken;
    so.bookmark_interval = milliseconds(500);
    api_ = Must(kubestandin::KubeStandin::Start(std::move(so)));
    ASSERT_TRUE(api_->PutPod(Must(MakePod(kPodShape, PodIdentity{kNs, kPod, kUid, kSa, kAppDigest}))).ok());
    WriteFile(dir_ + "/kube-ca.pem", api_->ca_cert_pem());
    WriteFile(dir_ + "/kube-token", std::string(kReadToken) + "\n");
    Json rsa = edge::testing::SharedClusterRsaKey().PublicJwkMembers();
    rsa["kid"] = "rsa-1";
    store::Cluster rec;
    rec.name = kCluster;
    rec.issuer = kIssuer;
    rec.jwks_json = DumpJson(Json{{"keys", Json::array({rsa})}});
    rec.api_url = api_->url();
    rec.ca_file = dir_ + "/kube-ca.pem";
    rec.token_file = dir_ + "/kube-token";
    rec.created_at = now0_ - 1000;
    ASSERT_TRUE(store_->PutCluster(rec).ok());
    ASSERT_TRUE(store_->PutWorkload(store::Workload{kCluster, kNs, kSa, {kAppDigest}}).ok());
    api_key_ = Must(edge::testing::RegisterApiKey(*store_, {kCluster, kNs, kSa, now0_ - 100}, rng)).header_value;
    token_ = edge::testing::SignToken(edge::testing::ProjectedTokenClaims({kIssuer, kNs, kSa, kPod, kUid, now0_}),
                                      edge::testing::SharedClusterRsaKey(), SignatureAlg::kRs256, "rsa-1");

    kube::KubeClientOptions ko;
    ko.connect_timeout = milliseconds(2000);
    ko.request_timeout = milliseconds(2000);
    kube_clients_ = std::make_unique<edge::KubeClientCache>(
        *store_, clock_, [this, ko](const store::Cluster& cl) -> Result<std::unique_ptr<kube::KubeClient>> {
          ASTIS_ASSIGN_OR_RETURN(kube::ClusterConnection conn, kube::Explicit(cl.api_url, cl.ca_file, cl.token_file));
          ASTIS_ASSIGN_OR_RETURN(auto client, kube::HttpKubeClient::Create(conn, clock_, ko));
          return std::unique_ptr<kube::KubeClient>(std::move(client));
        });
    kube::WatchOptions wo;
    wo.timeout_seconds = 30;
    wo.initial_backoff = milliseconds(100);
    wo.max_backoff = milliseconds(400);
    monitor_ = std::make_unique<edge::PodMonitor>(*store_, *audit_, clock_,
                                                  edge::MakePodWatcherFactory(DefaultClock(), rng, wo));

    edge_pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create()));
    net::testing::TestPkiFiles files = Must(edge_pki_->WriteFiles(dir_));
    edge_ca_file_ = files.ca_cert;
    edge::EdgeConfig config;  // gate4 and session defaults: max_staleness_ms 1000, TTL 900 s
    net::ServerConfig sc;
    sc.tls = edge_pki_->ServerTls();
    sc.threads = 2;
    sc.limits.max_body_bytes = static_cast<size_t>(config.limits.max_body_bytes) + 1;
    edge_server_ = Must(net::HttpServer::Start(sc, [this](const net::ServerRequest& r) {
      edge::EdgeService* s = service_ptr_.load();
      return s != nullptr ? s->HandleHeld(r) : net::JsonError(503, "internal_error", "not ready");
    }));
    edge_url_ = "https://127.0.0.1:" + std::to_string(edge_server_->port());
    config.external_base_url = edge_url_;
    config.tls = {files.server_cert, files.server_key};
    config.store.path = dir_ + "/edge.db";
    config.audit_log = dir_ + "/audit.log";
    config.limits.rate_per_api_key_per_minute = 1000000;
    config.limits.rate_per_pod_uid_per_minute = 1000000;
    edge::EdgeDeps deps;
    deps.store = store_.get();
    deps.kube = [this](std::string_view name) -> kube::KubeClient* { return kube_clients_->Get(name); };
    deps.pods = monitor_.get();
    deps.cvs = cvs_.get();
    deps.audit = audit_.get();
    deps.clock = &clock_;
    deps.rng = &rng;
    service_ = Must(edge::EdgeService::Create(config, deps));
    edge::FreshPods* fresh = &service_->fresh_pods();
    monitor_->SetChangeListener([fresh](const std::string& c, const std::string& ns, const std::string& n) {
      fresh->Invalidate(c, ns, n);
    });
    service_ptr_.store(service_.get());
    ASSERT_TRUE(monitor_->Rescan().ok());
    ASSERT_TRUE(PollUntil([this] {
      auto states = monitor_->States();
      return states.size() == 1 && states[0].stats.healthy;
    })) << [this] {
      std::string why;
      for (const edge::WatchState& w : monitor_->States()) {
        why += w.cluster + "/" + w.ns + ": listed " + std::to_string(w.stats.listed) + " failures " +
               std::to_string(w.stats.failures) + " error " + w.error + "\n";
      }
      return why;
    }();
    // The fake clock follows the wall clock, so gate 4's confirmations age
    // and expire as in production.
    ticker_ = std::thread([this] {
      auto last = SteadyClock::now();
      while (!stop_) {
        std::this_thread::sleep_for(milliseconds(5));
        const auto now = SteadyClock::now();
        clock_.AdvanceMillis(std::chrono::duration_cast<milliseconds>(now - last).count());
        last = now;
      }
    });
  }

  void TearDown() override {
    stop_ = true;
    if (ticker_.joinable()) ticker_.join();
    if (edge_server_ != nullptr) edge_server_->Stop(milliseconds(0));
    if (monitor_ != nullptr) monitor_->Stop();
    if (api_ != nullptr) api_->Stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // StartProcess is a process starting in the pod: new RAM-only keys.
  std::unique_ptr<Process> StartProcess() {
    auto p = std::make_unique<Process>();
    p->dpop = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(DefaultRandom())));
    p->recipient = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(DefaultRandom())));
    p->http = Must(net::HttpsClient::Create(edge_url_, edge_pki_->ClientTls()));
    return p;
  }

  net::HttpResponse SendOnce(Process& p, const std::string& path, const std::string& body) {
    return Must(edge::testing::SendPodRequest(*p.http, {api_key_.RevealString(), token_, p.dpop.get()}, "POST",
                                              edge_url_, path, body, clock_.NowUnix(), p.nonce, DefaultRandom()));
  }
  net::HttpResponse Send(Process& p, const std::string& path, const std::string& body) {
    net::HttpResponse resp = SendOnce(p, path, body);
    if (edge::testing::AsksForDpopNonce(resp)) resp = SendOnce(p, path, body);
    return resp;
  }
  net::HttpResponse Establish(Process& p) {
    net::HttpResponse r =
        Send(p, "/v1/sessions",
             DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(p.recipient->public_key()).ToJson()}}));
    if (r.status == 201) p.session = Must(ParseJson(r.body))["session"].get<std::string>();
    return r;
  }

  // UnwrapPlaintext unwraps one sealed value through p's session and opens
  // it as the pod does; "" (and a test failure) when refused.
  std::string UnwrapPlaintext(Process& p, std::string_view plaintext) {
    const capsule::SealedValue v = Must(capsule::Seal(*org_public_, capsule::Binding{kCluster, kNs, kSa, "db", "pw"},
                                                      AsBytes(plaintext), DefaultRandom(), clock_));
    const std::vector<std::string> caps = {B64uEncode(v.capsule().bytes())};
    net::HttpResponse resp = Send(p, "/v1/unwrap", DumpJson(Json{{"session", p.session}, {"capsules", caps}}));
    EXPECT_EQ(resp.status, 200) << resp.body;
    if (resp.status != 200) return "";
    const Json results = Must(ParseJson(resp.body))["results"];
    if (results.size() != 1 || !results[0].contains("enc")) {
      ADD_FAILURE() << resp.body;
      return "";
    }
    SecretBytes dek = Must(capsule::OpenRewrapped(*p.recipient, v.capsule().hash(), p.session,
                                                  Must(B64uDecode(results[0]["enc"].get<std::string>())),
                                                  Must(B64uDecode(results[0]["ct"].get<std::string>()))));
    return std::string(Must(capsule::DecryptValue(dek, v)).RevealString());
  }

  static std::string ErrCode(const net::HttpResponse& r) {
    auto j = ParseJson(r.body);
    if (!j.ok() || !j->contains("error")) return r.status < 300 ? "ok" : "<" + r.body + ">";
    return (*j)["error"].value("code", "");
  }

  // EstablishWithRetry is what the SDK does on credential_pinned: retry with
  // a short backoff until the bound. Returns the last response.
  net::HttpResponse EstablishWithRetry(Process& p, std::chrono::seconds bound, int* attempts) {
    const auto deadline = SteadyClock::now() + bound;
    net::HttpResponse r;
    *attempts = 0;
    while (true) {
      r = Establish(p);
      ++*attempts;
      if (r.status != 409 || SteadyClock::now() >= deadline) return r;
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  // Kubectl runs the real kubectl (no shell, 20 s limit) with the stand-in's
  // read-only kubeconfig and returns its exit code and stdout. Everything the
  // child needs is built before fork (this process is threaded: only
  // async-signal-safe calls until exec), as tests/kubectl does.
  std::pair<int, std::string> Kubectl(const std::vector<std::string>& args) {
    const std::string kubeconfig = dir_ + "/read.kubeconfig";
    if (!std::filesystem::exists(kubeconfig)) {
      EXPECT_TRUE(api_->WriteKubeconfig(kubeconfig, kReadToken).ok());
    }
    const std::string out = dir_ + "/kubectl.out";
    std::vector<std::string> argv = {ASTIS_KUBECTL, "--kubeconfig", kubeconfig, "--cache-dir", dir_ + "/cache"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<std::string> env = {"HOME=" + dir_};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).rfind("HOME=", 0) != 0) env.emplace_back(*e);
    }
    std::vector<char*> cenv;
    for (std::string& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(20);
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (o < 0 || devnull < 0 || ::dup2(o, 1) < 0 || ::dup2(devnull, 2) < 0) ::_exit(126);
      ::execve(cargv[0], cargv.data(), cenv.data());
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), ss.str()};
  }

  // --- Real SDK processes (astis_sdk_holder) ---------------------------------

  // WritePodFiles writes what every process of the pod reads: the API key,
  // the projected token (both shared, as in a pod) and the sealed secret
  // kSecret holding plaintext, in <dir>/pod.
  void WritePodFiles(std::string_view plaintext) {
    const std::string pod = dir_ + "/pod";
    std::filesystem::create_directories(pod + "/secrets");
    WriteFile(pod + "/api-key", std::string(api_key_.RevealString()));
    WriteFile(pod + "/token", token_);
    const capsule::Binding binding{kCluster, kNs, kSa, kSecret, "value"};
    const capsule::SealedValue v =
        Must(capsule::Seal(*org_public_, binding, AsBytes(plaintext), DefaultRandom(), clock_));
    WriteFile(pod + "/secrets/" + kSecret, v.ToString());
  }

  // SpawnHolder starts an SDK process in the pod (WritePodFiles first): this
  // process's environment without its ASTIS_* settings, plus the pod's, plus
  // extra (e.g. ASTIS_PIN_WAIT_SECONDS=2). Fails the test if it cannot start.
  std::unique_ptr<HolderProcess> SpawnHolder(const std::vector<std::string>& extra = {}) {
    const std::string pod = dir_ + "/pod";
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).rfind("ASTIS_", 0) != 0) env.emplace_back(*e);
    }
    env.push_back("ASTIS_EDGE_URL=" + edge_url_);
    env.push_back("ASTIS_CA_FILE=" + edge_ca_file_);
    env.push_back("ASTIS_API_KEY_FILE=" + pod + "/api-key");
    env.push_back("ASTIS_TOKEN_PATH=" + pod + "/token");
    env.push_back("ASTIS_SECRETS_DIR=" + pod + "/secrets");
    env.insert(env.end(), extra.begin(), extra.end());
    const std::string err = dir_ + "/holder-" + std::to_string(++holders_) + ".err";
    auto h = HolderProcess::Spawn(ASTIS_SDK_HOLDER, kSecret, std::move(env), err);
    EXPECT_NE(h, nullptr) << "cannot spawn " << ASTIS_SDK_HOLDER;
    return h;
  }

  // ExpectRefusedPinned checks that h (started with a short pin wait) exits
  // 1 with credential_pinned on stderr, having printed no plaintext.
  static void ExpectRefusedPinned(HolderProcess& h) {
    const auto exited = h.WaitExit();
    ASSERT_TRUE(exited.has_value()) << "still running; stderr: " << h.Stderr();
    const auto& [printed, status] = *exited;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "wait status " << status;
    EXPECT_EQ(printed, "");
    EXPECT_NE(h.Stderr().find("credential_pinned"), std::string::npos) << h.Stderr();
  }

  std::string AuditLogText() const {
    std::ifstream in(dir_ + "/audit.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // The edge's clock starts at the wall clock: the SDK processes sign their
  // DPoP proofs with the real time (iat within dpop.max_skew_seconds).
  const int64_t now0_ = DefaultClock().NowUnix();
  FakeClock clock_{now0_};
  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<audit::FileAuditLog> audit_;
  std::unique_ptr<capsule::OrgPublicKey> org_public_;
  std::unique_ptr<cvs::CvsService> cvs_;
  std::unique_ptr<kubestandin::KubeStandin> api_;
  SecretBytes api_key_;
  std::string token_;
  std::unique_ptr<edge::KubeClientCache> kube_clients_;
  std::unique_ptr<edge::PodMonitor> monitor_;
  std::unique_ptr<net::testing::TestPki> edge_pki_;
  std::unique_ptr<net::HttpServer> edge_server_;
  std::string edge_url_;
  std::string edge_ca_file_;
  int holders_ = 0;
  std::unique_ptr<edge::EdgeService> service_;
  std::atomic<edge::EdgeService*> service_ptr_{nullptr};
  std::atomic<bool> stop_{false};
  std::thread ticker_;
};

// Crash and restart: the holder dies without a word (SIGKILL: no DELETE),
// the kubelet restarts its container, and the new process (same pod, same
// token, a new key) gets its plaintext at once, well within the 30 s bound.
TEST_F(ContainerRestartTest, CrashedContainerRecoversWithinBound) {
  std::unique_ptr<Process> a = StartProcess();
  ASSERT_EQ(Establish(*a).status, 201);
  ASSERT_EQ(UnwrapPlaintext(*a, "before-the-crash"), "before-the-crash");
  const std::string dead_session = a->session;
  a.reset();  // killed: its key is gone, its session stays active

  ASSERT_TRUE(api_->RestartContainer(kNs, kPod, kApp, 137, "OOMKilled").ok());
  const auto reported = SteadyClock::now();
  std::unique_ptr<Process> b = StartProcess();
  int attempts = 0;
  const net::HttpResponse est = EstablishWithRetry(*b, kRecoveryBound, &attempts);
  ASSERT_EQ(est.status, 201) << est.body;
  ASSERT_EQ(UnwrapPlaintext(*b, "after-the-restart"), "after-the-restart");
  const auto took = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - reported);
  std::printf("[container-restart] restart reported -> plaintext in %lld ms (%d establish attempt(s))\n",
              static_cast<long long>(took.count()), attempts);
  EXPECT_LT(took, kRecoveryBound);

  auto old = Must(store_->GetSession(dead_session));
  EXPECT_TRUE(old.revoked);
  EXPECT_EQ(Must(store_->GetSession(b->session)).pod_restarts, 1);
  const std::string log = AuditLogText();
  EXPECT_NE(log.find("container restarted"), std::string::npos) << log;
  EXPECT_NE(log.find("session.revoke"), std::string::npos) << log;
}

// Theft: while the first holder lives and no container restarted, a second
// key with the same pod credentials is refused — also right after an
// unrelated change to the pod (a label: a MODIFIED event without a restart).
TEST_F(ContainerRestartTest, SecondKeyRefusedWhileHolderLives) {
  std::unique_ptr<Process> a = StartProcess();
  ASSERT_EQ(Establish(*a).status, 201);
  std::unique_ptr<Process> thief = StartProcess();
  net::HttpResponse r = Establish(*thief);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(ErrCode(r), "credential_pinned");

  Json pod = Must(api_->GetPod(kNs, kPod));
  pod["metadata"]["labels"]["touched"] = "yes";
  ASSERT_TRUE(api_->PutPod(std::move(pod)).ok());
  // Across the watch event and past the staleness bound: fresh reads of the
  // changed pod never release the pin.
  const auto until = SteadyClock::now() + milliseconds(1500);
  int tries = 0;
  while (SteadyClock::now() < until) {
    r = Establish(*thief);
    ++tries;
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(ErrCode(r), "credential_pinned");
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_GT(tries, 5);
  // The holder is unharmed: it unwraps and renews its lease.
  EXPECT_EQ(UnwrapPlaintext(*a, "still-mine"), "still-mine");
  const std::string session = a->session;
  ASSERT_EQ(Establish(*a).status, 201);
  EXPECT_EQ(a->session, session);
}

// The restart is reported after the new key arrives (the restarted process
// is faster than the kubelet's status update): the new key is refused
// credential_pinned first, and its next establish after the report succeeds.
// This is what the SDK's retry on credential_pinned relies on.
TEST_F(ContainerRestartTest, RestartReportedAfterNewKeyArrives) {
  std::unique_ptr<Process> a = StartProcess();
  ASSERT_EQ(Establish(*a).status, 201);
  a.reset();  // killed
  std::unique_ptr<Process> b = StartProcess();
  net::HttpResponse r = Establish(*b);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(ErrCode(r), "credential_pinned");
  std::this_thread::sleep_for(milliseconds(300));
  r = Establish(*b);
  EXPECT_EQ(ErrCode(r), "credential_pinned");

  ASSERT_TRUE(api_->RestartContainer(kNs, kPod, kApp).ok());
  const auto reported = SteadyClock::now();
  int attempts = 0;
  r = EstablishWithRetry(*b, kRecoveryBound, &attempts);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(UnwrapPlaintext(*b, "retried"), "retried");
  const auto took = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - reported);
  std::printf("[container-restart] late report: establish succeeded %lld ms after the report (%d attempt(s))\n",
              static_cast<long long>(took.count()), attempts);
  EXPECT_LT(took, kRecoveryBound);
}

// Two new keys race for the pod after one restart (say the restarted
// process and a thief with the pod's credentials): exactly one is pinned,
// the other is refused credential_pinned. Three rounds, each after a
// further restart of the previous winner's container.
TEST_F(ContainerRestartTest, OnlyOneOfTwoRacingKeysWins) {
  std::unique_ptr<Process> holder = StartProcess();
  ASSERT_EQ(Establish(*holder).status, 201);
  for (int round = 0; round < 3; ++round) {
    holder.reset();  // killed
    ASSERT_TRUE(api_->RestartContainer(kNs, kPod, kApp).ok());
    // Past the staleness bound: both racers' gate-4 reads show the restart.
    std::this_thread::sleep_for(milliseconds(1200));
    std::vector<std::unique_ptr<Process>> racers;
    racers.push_back(StartProcess());
    racers.push_back(StartProcess());
    // Each fetches its nonce first, so the race is one establish each.
    for (auto& p : racers) (void)SendOnce(*p, "/v1/sessions", "{}");
    std::vector<net::HttpResponse> out(racers.size());
    std::latch start(static_cast<std::ptrdiff_t>(racers.size()));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < racers.size(); ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        out[i] = Establish(*racers[i]);
      });
    }
    for (auto& t : threads) t.join();
    int won = 0, pinned = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i].status == 201) {
        ++won;
        holder = std::move(racers[i]);
      } else if (ErrCode(out[i]) == "credential_pinned") {
        ++pinned;
      } else {
        ADD_FAILURE() << "round " << round << ": " << out[i].status << " " << out[i].body;
      }
    }
    EXPECT_EQ(won, 1) << "round " << round;
    EXPECT_EQ(pinned, 1) << "round " << round;
    ASSERT_NE(holder, nullptr);
    EXPECT_EQ(UnwrapPlaintext(*holder, "winner"), "winner");
    EXPECT_EQ(Must(store_->GetSession(holder->session)).pod_restarts, round + 1);
  }
}

// The restart as kubectl sees it: the stand-in's restarted pod is an object
// the real kubectl reads (restartCount, lastState, the Table's RESTARTS).
TEST_F(ContainerRestartTest, KubectlSeesTheRestart) {
  if (std::string(ASTIS_KUBECTL).empty() || !std::filesystem::exists(ASTIS_KUBECTL)) {
    GTEST_SKIP() << "\n*** kubectl NOT FOUND: the kubectl view of a restart was not checked ***\n";
  }
  const std::string before = Must(api_->GetPod(kNs, kPod))["metadata"]["resourceVersion"].get<std::string>();
  ASSERT_TRUE(api_->RestartContainer(kNs, kPod, kApp, 137, "OOMKilled").ok());
  const Json pod = Must(api_->GetPod(kNs, kPod));
  EXPECT_NE(pod["metadata"]["resourceVersion"].get<std::string>(), before);
  auto [code, out] = Kubectl({"get", "pod", kPod, "-n", kNs, "-o",
                              "jsonpath={.status.containerStatuses[0].restartCount} "
                              "{.status.containerStatuses[0].lastState.terminated.reason} "
                              "{.status.containerStatuses[0].lastState.terminated.exitCode}"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(out, "1 OOMKilled 137");
  auto [code2, table] = Kubectl({"get", "pods", "-n", kNs});
  ASSERT_EQ(code2, 0) << table;
  EXPECT_NE(table.find("RESTARTS"), std::string::npos) << table;
  EXPECT_NE(table.find(kPod), std::string::npos) << table;
}

// Crash and restart with real processes: an SDK process holding its session
// is killed with SIGKILL (no DELETE), the stand-in reports the container's
// restart as the kubelet does, and a new SDK process in the same pod (same
// API key and token, a new RAM-only key) with the default pin wait (30 s)
// prints the plaintext well within the 30 s bound, counted from the kill.
TEST_F(ContainerRestartTest, SigkilledSdkProcessRecoversWithinBound) {
  const std::string secret = "kept-across-the-crash";
  WritePodFiles(secret);
  std::unique_ptr<HolderProcess> first = SpawnHolder();
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->ReadLine(), "plaintext " + secret) << first->Stderr();
  ASSERT_EQ(first->ReadLine(), "holding");

  const auto killed = SteadyClock::now();
  const int status = first->Kill();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;
  ASSERT_TRUE(api_->RestartContainer(kNs, kPod, kApp, 137, "OOMKilled").ok());
  std::unique_ptr<HolderProcess> second = SpawnHolder();
  ASSERT_NE(second, nullptr);
  const std::optional<std::string> line = second->ReadLine(kRecoveryBound + std::chrono::seconds(15));
  const auto took = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - killed);
  ASSERT_EQ(line, "plaintext " + secret) << second->Stderr();
  EXPECT_EQ(second->ReadLine(), "holding");
  RecordProperty("kill_to_plaintext_ms", std::to_string(took.count()));
  std::fprintf(stderr, "[container-restart] SIGKILL -> plaintext in the new SDK process: %lld ms\n",
               static_cast<long long>(took.count()));
  EXPECT_LT(took, kRecoveryBound);
  const std::string log = AuditLogText();
  EXPECT_NE(log.find("container restarted"), std::string::npos) << log;
}

// Theft with real processes: while the first SDK process lives and holds
// its session, a second one with the same pod credentials and its own key
// is refused credential_pinned after its (short) pin wait and never sees
// the plaintext; the first one is unharmed.
TEST_F(ContainerRestartTest, SecondSdkProcessRefusedWhileFirstHolds) {
  const std::string secret = "only-for-the-holder";
  WritePodFiles(secret);
  std::unique_ptr<HolderProcess> first = SpawnHolder();
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->ReadLine(), "plaintext " + secret) << first->Stderr();
  ASSERT_EQ(first->ReadLine(), "holding");

  const auto started = SteadyClock::now();
  std::unique_ptr<HolderProcess> thief = SpawnHolder({"ASTIS_PIN_WAIT_SECONDS=2"});
  ASSERT_NE(thief, nullptr);
  ExpectRefusedPinned(*thief);
  // It retried before giving up (the SDK waits out credential_pinned,
  // docs/sdk.md; it counts the 2 s in whole wall-clock seconds, so more
  // than 1 s passed).
  EXPECT_GT(SteadyClock::now() - started, std::chrono::seconds(1));
  EXPECT_TRUE(first->Running());
}

// SIGKILL without the kubelet's word: the edge cannot tell a dead process
// from a live one whose credentials were stolen, so the pin holds (until
// the lease ends, docs/edge.md "Restarted containers") and a new SDK
// process with a short pin wait is refused. Once the restart is reported,
// the next process gets its plaintext.
TEST_F(ContainerRestartTest, SigkilledSdkProcessWithoutRestartReportStaysPinned) {
  const std::string secret = "pinned-until-reported";
  WritePodFiles(secret);
  std::unique_ptr<HolderProcess> first = SpawnHolder();
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->ReadLine(), "plaintext " + secret) << first->Stderr();
  ASSERT_EQ(first->ReadLine(), "holding");
  const int status = first->Kill();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "wait status " << status;

  std::unique_ptr<HolderProcess> second = SpawnHolder({"ASTIS_PIN_WAIT_SECONDS=2"});
  ASSERT_NE(second, nullptr);
  ExpectRefusedPinned(*second);

  ASSERT_TRUE(api_->RestartContainer(kNs, kPod, kApp, 137, "OOMKilled").ok());
  std::unique_ptr<HolderProcess> third = SpawnHolder();
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->ReadLine(), "plaintext " + secret) << third->Stderr();
}

}  // namespace
}  // namespace astis::integration
