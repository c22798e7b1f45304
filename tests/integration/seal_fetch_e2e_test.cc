// Sealing against a running edge, end to end (docs/admin.md "Sealing"):
//
//   `astis org key list --server` (an organisation's admin, through the
//     remote admin API of the real `astis serve`) -> the active kid
//   `astis seal --public-key https://EDGE/v1/keys/KID --ca-file ...`
//     -> the edge's embedded CVS answers the org's public key
//   `astis unseal --org-key <org>.json` opens it, and so does a pod of the
//     organisation through the same edge (session, unwrap)
//   `astis org key rotate` -> the old kid URL is 404, the new one serves.
//
// The edge is the real `astis serve` process (cvs.mode embedded with
// cvs.org_keys_dir, admin.https with an admin CA); the CLI runs in process
// through RunCli exactly as argv would reach it. Real time: the edge runs
// its own clock.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "capsule/capsule.h"
#include "capsule/seal.h"
#include "cli/cli.h"
#include "cli/secret_manifest.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/files.h"
#include "common/testing/must.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "edge/testing/pod_credentials.h"
#include "jose/jwk.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "support/cli_run.h"
#include "support/free_port.h"
#include "support/kube_api_standin.h"

namespace astis::integration {
namespace {

using test::Must;
using test::ReadFile;
using test::WriteFile;

constexpr char kCluster[] = "prod";
constexpr char kNs[] = "payments";
constexpr char kSa[] = "api";
constexpr char kPod[] = "api-7d9f-x2k9q";
constexpr char kUid[] = "3f0a9c1e-7b2d-4e5f-9a8b-6c7d8e9f0a1b";
constexpr char kIssuer[] = "https://oidc.prod.acme.example";
constexpr char kKubeToken[] = "seal-fetch-kube-read-token";
constexpr char kPodShape[] = "kubernetes/pod-sidecar-containerd-digest.json";
const std::string kDigest =
    "sha256:cd2438ba5730cd67f3f400a7726f756bce34124d65a60e7509721a70cdb9ea26";

constexpr char kSecretYaml[] = R"(apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: payments
type: Opaque
stringData:
  password: fetched-key-sealed-password
)";

int64_t NowUnix() { return static_cast<int64_t>(std::time(nullptr)); }

// ActiveKidOf returns the kid of the "active" row of `org key list` output.
std::string ActiveKidOf(const std::string &listing) {
  const size_t at = listing.find("  active");
  if (at == std::string::npos)
    return "";
  const size_t start = listing.rfind('\n', at);
  return listing.substr(start == std::string::npos ? 0 : start + 1,
                        at - (start == std::string::npos ? 0 : start + 1));
}

class SealFetchE2eTest : public ::testing::Test {
protected:
  void TearDown() override {
    StopEdge();
    http_.reset();
    if (kube_ != nullptr)
      kube_->Stop();
    std::error_code ec;
    if (!dir_.empty())
      std::filesystem::remove_all(dir_, ec);
  }

  CliResult Cli(std::vector<std::string> args,
                const std::string &stdin_text = "") {
    return CliRun(std::move(args), clock_, stdin_text);
  }

  // StartWorld writes the store (acme and globex: standard, initech: hyok;
  // acme's cluster, workload and pod API key), makes acme's and globex's
  // key sets in the ASTIS CVS's key directory with `astis org key create`,
  // and starts `astis serve` with its admin API.
  void StartWorld() {
    Random &rng = DefaultRandom();
    dir_ = Must(net::testing::MakeTempDir());
    keys_dir_ = dir_ + "/org-keys";
    ASSERT_EQ(::mkdir(keys_dir_.c_str(), 0700), 0);
    pki_ = std::make_unique<net::testing::TestPki>(
        Must(net::testing::TestPki::Create()));
    net::testing::TestPkiFiles files = Must(pki_->WriteFiles(dir_));
    ca_file_ = files.ca_cert;

    auto store = Must(store::OpenSqliteStore(dir_ + "/edge.db"));
    for (const char *name : {"acme", "globex"}) {
      store::Organization o;
      o.name = name;
      o.tier = "standard";
      ASSERT_TRUE(store->PutOrganization(o).ok());
    }
    store::Organization hyok;
    hyok.name = "initech";
    hyok.tier = "hyok";
    hyok.cvs_url = "https://cvs.initech.example:8443";
    hyok.cvs_ca_pem = pki_->ca_cert_pem();
    hyok.cvs_identity = "cvs.initech.example";
    ASSERT_TRUE(store->PutOrganization(hyok).ok());

    // acme's cluster: its API (the stand-in) runs the pod; its token issuer.
    kube_ = Must(KubeApiStandin::Start(kKubeToken));
    ASSERT_TRUE(kube_
                    ->PutPod(Must(MakePod(
                        kPodShape, PodIdentity{kNs, kPod, kUid, kSa, kDigest})))
                    .ok());
    WriteFile(dir_ + "/kube-ca.pem", kube_->ca_cert_pem());
    WriteFile(dir_ + "/kube-token", std::string(kKubeToken) + "\n");
    cluster_key_ = std::make_unique<SigningKey>(
        Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256)));
    Json jwk = cluster_key_->PublicJwkMembers();
    jwk["kid"] = "ec-1";
    store::Cluster c;
    c.org = "acme";
    c.name = kCluster;
    c.issuer = kIssuer;
    c.jwks_json = DumpJson(Json{{"keys", Json::array({jwk})}});
    c.api_url = kube_->url();
    c.ca_file = dir_ + "/kube-ca.pem";
    c.token_file = dir_ + "/kube-token";
    c.created_at = NowUnix() - 1000;
    ASSERT_TRUE(store->PutCluster(c).ok());
    store::Workload w{kCluster, kNs, kSa, {kDigest}};
    w.org = "acme";
    ASSERT_TRUE(store->PutWorkload(w).ok());
    edge::testing::ApiKeyScope scope{kCluster, kNs, kSa, NowUnix() - 100};
    scope.org = "acme";
    api_key_ =
        std::string(Must(edge::testing::RegisterApiKey(*store, scope, rng))
                        .header_value.RevealString());
    dpop_ = std::make_unique<Ed25519PrivateKey>(
        Must(Ed25519PrivateKey::Generate(rng)));
    recipient_ = std::make_unique<X25519PrivateKey>(
        Must(X25519PrivateKey::Generate(rng)));
    store.reset();

    // The Tier 1 keys, made where the ASTIS CVS keeps them.
    for (const char *org : {"acme", "globex"}) {
      CliResult made =
          Cli({"org", "key", "create", "--org", org, "--keys-dir", keys_dir_});
      ASSERT_EQ(made.code, 0) << made.err;
      created_kid_[org == std::string("acme") ? 0 : 1] =
          Must(ParseJsonObject(made.out)).value("kid", "");
    }

    // Admin client certificates: acme's org-admin and the platform operator.
    for (const auto &[who, uri] :
         std::vector<std::pair<std::string, std::string>>{
             {"alice", "URI:astis://admin/org-admin/acme"},
             {"ops", "URI:astis://admin/operator"}}) {
      auto cert = Must(pki_->IssueClientCertWithSans(who, {uri}));
      WriteFile(dir_ + "/" + who + ".crt", cert.cert_pem);
      WriteFile(dir_ + "/" + who + ".key",
                std::string(cert.key_pem.RevealString()));
      ::chmod((dir_ + "/" + who + ".key").c_str(), 0600);
    }

    edge_port_ = FreePort();
    admin_port_ = FreePort();
    ASSERT_NE(edge_port_, 0);
    ASSERT_NE(admin_port_, 0);
    ASSERT_NE(edge_port_, admin_port_);
    edge_url_ = "https://127.0.0.1:" + std::to_string(edge_port_);
    const std::string config =
        "listen: {address: 127.0.0.1, port: " + std::to_string(edge_port_) +
        ", threads: 2}\n"
        "tls: {cert_file: " +
        files.server_cert + ", key_file: " + files.server_key +
        "}\n"
        "external_base_url: " +
        edge_url_ +
        "\n"
        "store: {backend: sqlite, path: " +
        dir_ +
        "/edge.db}\n"
        "cvs: {mode: embedded, org_keys_dir: " +
        keys_dir_ +
        "}\n"
        "admin:\n  https: {address: 127.0.0.1, port: " +
        std::to_string(admin_port_) + ", cert_file: " + files.server_cert +
        ", key_file: " + files.server_key +
        ", client_ca_file: " + files.ca_cert +
        "}\n"
        "audit_log: " +
        dir_ +
        "/audit.jsonl\n"
        "watch: {enabled: false}\n";
    WriteFile(dir_ + "/edge.yaml", config);
    ASSERT_NO_FATAL_FAILURE(StartEdge());
    http_ = Must(net::HttpsClient::Create(edge_url_, pki_->ClientTls()));
  }

  void StartEdge() {
    const std::string log = dir_ + "/edge.log";
    const std::string config = dir_ + "/edge.yaml";
    const int fd =
        ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    edge_pid_ = ::fork();
    ASSERT_GE(edge_pid_, 0);
    if (edge_pid_ == 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close_range(3, ~0U, 0); // no inherited listening sockets
      ::execl(ASTIS_CLI_BINARY, "astis", "serve", "--config", config.c_str(),
              static_cast<char *>(nullptr));
      ::_exit(127);
    }
    ::close(fd);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ReadFile(log).find("serving on") != std::string::npos)
        return;
      int status = 0;
      if (::waitpid(edge_pid_, &status, WNOHANG) == edge_pid_) {
        edge_pid_ = -1;
        FAIL() << "astis serve exited: " << ReadFile(log);
      }
      std::this_thread::sleep_for(
          std::chrono::milliseconds(20)); // bounded poll of another process
    }
    FAIL() << "astis serve did not announce its port: " << ReadFile(log);
  }

  void StopEdge() {
    if (edge_pid_ <= 0)
      return;
    ::kill(edge_pid_, SIGTERM);
    int status = 0;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(edge_pid_, &status, WNOHANG) == edge_pid_) {
        edge_pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(edge_pid_, SIGKILL);
    ::waitpid(edge_pid_, &status, 0);
    edge_pid_ = -1;
  }

  // ListAs runs `astis org key list` through the remote admin API as who.
  CliResult ListAs(const std::string &who, const std::string &org = "") {
    std::vector<std::string> args = {"org",
                                     "key",
                                     "list",
                                     "--server",
                                     "https://127.0.0.1:" +
                                         std::to_string(admin_port_),
                                     "--admin-cert",
                                     dir_ + "/" + who + ".crt",
                                     "--admin-key",
                                     dir_ + "/" + who + ".key",
                                     "--admin-ca",
                                     ca_file_};
    if (!org.empty())
      args.insert(args.end(), {"--org", org});
    return Cli(args);
  }

  std::string KeyUrl(const std::string &kid) const {
    return edge_url_ + "/v1/keys/" + kid;
  }

  CliResult SealWith(const std::string &kid) {
    return Cli({"seal", "--public-key", KeyUrl(kid), "--ca-file", ca_file_,
                "--cluster", kCluster, "--service-account", kSa, "-o", "json"},
               kSecretYaml);
  }

  // UnsealedPassword opens a sealed Secret with acme's key set, as the
  // break-glass `astis unseal` does.
  std::string UnsealedPassword(const std::string &sealed) {
    CliResult u =
        Cli({"unseal", "--org-key", keys_dir_ + "/acme.json", "-o", "json"},
            sealed);
    EXPECT_EQ(u.code, 0) << u.err;
    if (u.code != 0)
      return "";
    Json secret = Must(cli::ParseManifest(u.out));
    auto raw = B64Decode(secret["data"]["password"].get<std::string>());
    return raw.ok() ? std::string(raw->begin(), raw->end()) : "";
  }

  int KeyStatus(const std::string &kid) {
    net::HttpRequest req;
    req.target = "/v1/keys/" + kid;
    auto resp = http_->Send(req);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    return resp.ok() ? resp->status : 0;
  }

  // PodOpens runs the pod's protocol against the edge (a session, then
  // /v1/unwrap) for the password of a sealed Secret and returns the
  // plaintext it decrypts, or "<code>" for a refusal.
  std::string PodOpens(const std::string &sealed) {
    Json secret = Must(cli::ParseManifest(sealed));
    auto text = Must(B64Decode(secret["data"]["password"].get<std::string>()));
    capsule::SealedValue v = Must(
        capsule::SealedValue::Parse(std::string(text.begin(), text.end())));
    std::string nonce;
    auto send = [&](const std::string &path, const std::string &body) {
      const std::string token = edge::testing::SignToken(
          edge::testing::ProjectedTokenClaims(
              {kIssuer, kNs, kSa, kPod, kUid, NowUnix()}),
          *cluster_key_, SignatureAlg::kEs256, "ec-1");
      auto once = [&] {
        return Must(edge::testing::SendPodRequest(
            *http_, {api_key_, token, dpop_.get()}, "POST", edge_url_, path,
            body, NowUnix(), nonce, DefaultRandom()));
      };
      net::HttpResponse resp = once();
      if (edge::testing::AsksForDpopNonce(resp))
        resp = once();
      return resp;
    };
    net::HttpResponse session = send(
        "/v1/sessions",
        DumpJson(Json{
            {"recipient",
             jose::Jwk::FromX25519Public(recipient_->public_key()).ToJson()}}));
    if (session.status != 201)
      return "<session " + std::to_string(session.status) + " " + session.body +
             ">";
    const std::string id = Must(ParseJson(session.body)).value("session", "");
    net::HttpResponse resp =
        send("/v1/unwrap",
             DumpJson(Json{{"session", id},
                           {"capsules",
                            Json::array({B64uEncode(v.capsule().bytes())})}}));
    if (resp.status != 200)
      return "<unwrap " + std::to_string(resp.status) + " " + resp.body + ">";
    const Json r = Must(ParseJson(resp.body))["results"][0];
    if (!r.contains("enc"))
      return "<" + r["error"].value("code", "") + ">";
    SecretBytes dek = Must(
        capsule::OpenRewrapped(*recipient_, v.capsule().hash(), id,
                               Must(B64uDecode(r["enc"].get<std::string>())),
                               Must(B64uDecode(r["ct"].get<std::string>()))));
    return std::string(Must(capsule::DecryptValue(dek, v)).RevealString());
  }

  SystemClock clock_;
  std::string dir_, keys_dir_, ca_file_, edge_url_, api_key_;
  std::string created_kid_[2]; // acme, globex
  pid_t edge_pid_ = -1;
  uint16_t edge_port_ = 0, admin_port_ = 0;
  std::unique_ptr<net::testing::TestPki> pki_;
  std::unique_ptr<KubeApiStandin> kube_;
  std::unique_ptr<SigningKey> cluster_key_;
  std::unique_ptr<Ed25519PrivateKey> dpop_;
  std::unique_ptr<X25519PrivateKey> recipient_;
  std::unique_ptr<net::HttpsClient> http_;
};

#ifdef ASTIS_CLI_BINARY

// The issue's flow: acme's admin learns its active kid remotely, seals to
// the key the edge serves under that kid, and the value opens with acme's
// private key and for acme's pod through the same edge.
TEST_F(SealFetchE2eTest, OrgAdminListsSealsAndUnseals) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  CliResult list = ListAs("alice"); // no --org: the caller's own organisation
  ASSERT_EQ(list.code, 0) << list.err;
  const std::string kid = ActiveKidOf(list.out);
  EXPECT_EQ(kid, created_kid_[0]) << list.out;
  EXPECT_NE(list.out.find(kid + "  active   x25519"), std::string::npos)
      << list.out;
  EXPECT_EQ(list.out.find(created_kid_[1]), std::string::npos)
      << "globex's key listed to acme's admin";
  EXPECT_EQ(list.out.find("\"d\""), std::string::npos);
  // The operator sees the same through the API, naming the organisation.
  CliResult by_ops = ListAs("ops", "acme");
  ASSERT_EQ(by_ops.code, 0) << by_ops.err;
  EXPECT_EQ(by_ops.out, list.out);

  CliResult sealed = SealWith(kid);
  ASSERT_EQ(sealed.code, 0) << sealed.err;
  EXPECT_EQ(sealed.out.find("fetched-key-sealed-password"), std::string::npos);
  EXPECT_EQ(UnsealedPassword(sealed.out), "fetched-key-sealed-password");
  EXPECT_EQ(PodOpens(sealed.out), "fetched-key-sealed-password");
}

// Organisation scoping over the network: acme's admin cannot list globex's
// keys (the answer is the one for a missing organisation); the operator
// can; a hyok organisation's keys are not the edge's to list.
TEST_F(SealFetchE2eTest, OrgAdminCannotListAnotherOrganization) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  CliResult other = ListAs("alice", "globex");
  CliResult missing = ListAs("alice", "nosuch");
  EXPECT_NE(other.code, 0);
  EXPECT_EQ(other.code, missing.code);
  EXPECT_EQ(other.err, missing.err);
  EXPECT_EQ(other.out.find(created_kid_[1]), std::string::npos);
  EXPECT_EQ(other.err.find(created_kid_[1]), std::string::npos);
  CliResult globex = ListAs("ops", "globex");
  ASSERT_EQ(globex.code, 0) << globex.err;
  EXPECT_EQ(ActiveKidOf(globex.out), created_kid_[1]);
  CliResult hyok = ListAs("ops", "initech");
  EXPECT_NE(hyok.code, 0);
  EXPECT_NE(hyok.err.find("hyok"), std::string::npos) << hyok.err;
  EXPECT_NE(hyok.err.find("its own CVS"), std::string::npos) << hyok.err;
  // No path of the edge host leaks into an error.
  EXPECT_EQ(hyok.err.find(keys_dir_), std::string::npos) << hyok.err;
}

// After `astis org key rotate`, the listing shows the new kid active at
// once, the edge stops serving the old kid (within its key directory
// refresh) and serves the new one; sealing to the old URL is refused.
TEST_F(SealFetchE2eTest, RotatedKidIsGoneAndTheNewOneServes) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  const std::string old_kid = created_kid_[0];
  ASSERT_EQ(KeyStatus(old_kid), 200);
  CliResult rotated =
      Cli({"org", "key", "rotate", "--org", "acme", "--keys-dir", keys_dir_});
  ASSERT_EQ(rotated.code, 0) << rotated.err;
  const std::string new_kid =
      Must(ParseJsonObject(rotated.out)).value("kid", "");
  ASSERT_NE(new_kid, old_kid);
  CliResult list = ListAs("alice");
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(ActiveKidOf(list.out), new_kid) << list.out;
  EXPECT_NE(list.out.find(old_kid + "  retired  x25519"), std::string::npos)
      << list.out;

  // RefreshingCvs re-reads the directory at most every 5 s.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(15);
  int old_status = KeyStatus(old_kid);
  while (old_status != 404 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(200)); // bounded poll of the edge's refresh
    old_status = KeyStatus(old_kid);
  }
  EXPECT_EQ(old_status, 404);
  EXPECT_EQ(KeyStatus(new_kid), 200);
  CliResult to_old = SealWith(old_kid);
  EXPECT_NE(to_old.code, 0);
  EXPECT_TRUE(to_old.out.empty()) << to_old.out;
  CliResult to_new = SealWith(new_kid);
  ASSERT_EQ(to_new.code, 0) << to_new.err;
  EXPECT_EQ(UnsealedPassword(to_new.out), "fetched-key-sealed-password");
}

#endif // ASTIS_CLI_BINARY

// `org key list` reads either a local key directory or the edge, never
// both at once (no server needed to refuse).
TEST(SealFetchE2eUsageTest, ServerAndKeysDirTogetherIsAUsageError) {
  SystemClock clock;
  CliResult both = CliRun({"org", "key", "list", "--org", "acme", "--keys-dir",
                           "/nonexistent", "--server", "https://127.0.0.1:1"},
                          clock);
  EXPECT_NE(both.code, 0);
  EXPECT_NE(both.err.find("not both"), std::string::npos) << both.err;
}

} // namespace
} // namespace astis::integration
