// Two organisations on the two trust tiers, side by side in one edge
// (issue 19; docs/cvs.md "Routing"):
//
//   pod of tenant-a --TLS--> `astis serve` (RunEdgeProcess: SQLite store,
//     embedded CVS with cvs.org_keys_dir) -- tenant-a.json, Tier 1
//   pod of tenant-b --TLS--> the same edge --mTLS, CA + name--> tenant-b's
//     own CVS (cvs::StartCvsServer on loopback), Tier 2
//
// The edge is the real `astis serve` process wired by RunEdgeProcess, so the
// routing, the key directory and the hyok client identity are the
// product's. Names collide on purpose: both organisations have cluster
// "prod", namespace "payments", ServiceAccount "api", pod "api-7d9f-x2k9q"
// and secret "db"/"password". Each organisation's cluster is its own
// kube-apiserver stand-in with its own token issuer and keys. Real time:
// the edge runs its own clock.
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
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/files.h"
#include "common/testing/must.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "crypto/x25519.h"
#include "cvs/cvs.h"
#include "cvs/key_management.h"
#include "cvs/remote.h"
#include "edge/testing/pod_credentials.h"
#include "jose/jwk.h"
#include "net/http_server.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "net/tls.h"
#include "store/sqlite_store.h"
#include "store/store.h"
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
constexpr char kKubeToken[] = "tiers-kube-read-token";
constexpr char kPodShape[] = "kubernetes/pod-sidecar-containerd-digest.json";
constexpr char kBIdentity[] = "cvs.tenant-b.example";
const std::string kDigest = "sha256:cd2438ba5730cd67f3f400a7726f756bce34124d65a60e7509721a70cdb9ea26";

int64_t NowUnix() { return static_cast<int64_t>(std::time(nullptr)); }

// Tenant is one organisation's world: its cluster's API, its pod's keys and
// credentials, and the org key its secrets are sealed to.
struct Tenant {
  std::string org;
  std::string issuer;
  std::string uid;
  std::unique_ptr<KubeApiStandin> kube;
  std::unique_ptr<SigningKey> cluster_key;
  std::string api_key;
  std::unique_ptr<Ed25519PrivateKey> dpop;
  std::unique_ptr<X25519PrivateKey> recipient;
  std::unique_ptr<capsule::OrgPublicKey> org_public;
  std::unique_ptr<net::HttpsClient> http;
  std::string nonce;
  std::string session;
};

class TenancyTiersTest : public ::testing::Test {
 protected:
  void TearDown() override {
    StopEdge();
    if (b_cvs_server_ != nullptr) b_cvs_server_->Stop(std::chrono::milliseconds(0));
    for (Tenant* t : {&a_, &b_}) {
      t->http.reset();
      if (t->kube != nullptr) t->kube->Stop();
    }
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // StartWorld writes the store, the key directory and the configuration,
  // starts tenant-b's CVS and `astis serve`. spki_pin pins tenant-b's CVS
  // key too (cvs_spki_sha256), on top of CA + name.
  void StartWorld(bool spki_pin = false, bool hyok_identity = true) {
    Random& rng = DefaultRandom();
    dir_ = Must(net::testing::MakeTempDir());
    ASSERT_EQ(::mkdir((dir_ + "/org-keys").c_str(), 0700), 0);

    // tenant-a (Tier 1): its key set is made inside the ASTIS CVS's key
    // directory; the test sees only the public JWK, as an operator would.
    cvs::OrgPublicKeyInfo a_key = Must(cvs::CreateOrgKeySet(dir_ + "/org-keys", "tenant-a", rng));
    a_.org_public = std::make_unique<capsule::OrgPublicKey>(Must(capsule::OrgPublicKey::FromJwk(a_key.public_jwk)));
    // tenant-b (Tier 2): `astis keygen` on the customer's side; the edge
    // never sees it.
    capsule::OrgPrivateKey b_key = Must(capsule::OrgPrivateKey::Generate(rng));
    b_.org_public = std::make_unique<capsule::OrgPublicKey>(b_key.public_key());
    cvs::OrgKeySets b_sets;
    b_sets.emplace("tenant-b", Must(capsule::OrgKeySet::Create(std::move(b_key))));
    b_cvs_ = std::make_unique<cvs::CvsService>(std::move(b_sets), rng);

    // PKIs: the edge's pod-facing certificate; the edge's client identity
    // towards customers' CVSs; tenant-b's own CA for its CVS.
    edge_pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create()));
    hyok_client_pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create()));
    hyok_client_ = std::make_unique<net::testing::TestCert>(Must(hyok_client_pki_->IssueClientCert("astis-edge")));
    b_pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create({kBIdentity})));
    StartBCvs(0, nullptr);

    net::testing::TestPkiFiles files = Must(edge_pki_->WriteFiles(dir_));
    WriteFile(dir_ + "/hyok-client.pem", hyok_client_->cert_pem);
    WriteFile(dir_ + "/hyok-client.key", std::string(hyok_client_->key_pem.RevealString()));
    ::chmod((dir_ + "/hyok-client.key").c_str(), 0600);

    // The store: both organisations, each with cluster "prod", the same
    // workload names and an API key.
    auto store = Must(store::OpenSqliteStore(dir_ + "/edge.db"));
    store::Organization a_org;
    a_org.name = "tenant-a";
    a_org.tier = "standard";
    ASSERT_TRUE(store->PutOrganization(a_org).ok());
    store::Organization b_org;
    b_org.name = "tenant-b";
    b_org.tier = "hyok";
    b_org.cvs_url = BCvsUrl();
    b_org.cvs_ca_pem = b_pki_->ca_cert_pem();
    b_org.cvs_identity = kBIdentity;
    if (spki_pin) b_org.cvs_spki_sha256 = HexEncode(Must(net::SpkiSha256(b_pki_->server().cert_pem)));
    ASSERT_TRUE(store->PutOrganization(b_org).ok()) << store->PutOrganization(b_org).ToString();
    a_.uid = "3f0a9c1e-7b2d-4e5f-9a8b-6c7d8e9f0a1b";
    b_.uid = "9b8e2d41-0c3a-4f6e-8d2b-1a7c5e3f9d04";
    a_.issuer = "https://oidc.prod.tenant-a.example";
    b_.issuer = "https://oidc.prod.tenant-b.example";
    a_.org = "tenant-a";
    b_.org = "tenant-b";
    for (Tenant* t : {&a_, &b_}) {
      t->kube = Must(KubeApiStandin::Start(kKubeToken));
      ASSERT_TRUE(t->kube->PutPod(Must(MakePod(kPodShape, PodIdentity{kNs, kPod, t->uid, kSa, kDigest}))).ok());
      WriteFile(dir_ + "/" + t->org + "-kube-ca.pem", t->kube->ca_cert_pem());
      WriteFile(dir_ + "/" + t->org + "-kube-token", std::string(kKubeToken) + "\n");
      t->cluster_key = std::make_unique<SigningKey>(Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256)));
      Json jwk = t->cluster_key->PublicJwkMembers();
      jwk["kid"] = "ec-1";
      store::Cluster c;
      c.name = kCluster;
      c.issuer = t->issuer;
      c.jwks_json = DumpJson(Json{{"keys", Json::array({jwk})}});
      c.api_url = t->kube->url();
      c.ca_file = dir_ + "/" + t->org + "-kube-ca.pem";
      c.token_file = dir_ + "/" + t->org + "-kube-token";
      c.created_at = NowUnix() - 1000;
      c.org = t->org;
      ASSERT_TRUE(store->PutCluster(c).ok());
      store::Workload w{kCluster, kNs, kSa, {kDigest}};
      w.org = t->org;
      ASSERT_TRUE(store->PutWorkload(w).ok());
      edge::testing::ApiKeyScope scope{kCluster, kNs, kSa, NowUnix() - 100};
      scope.org = t->org;
      t->api_key = std::string(Must(edge::testing::RegisterApiKey(*store, scope, rng)).header_value.RevealString());
      t->dpop = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(rng)));
      t->recipient = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(rng)));
    }
    store.reset();

    edge_port_ = FreePort();
    ASSERT_NE(edge_port_, 0);
    edge_url_ = "https://127.0.0.1:" + std::to_string(edge_port_);
    const std::string hyok = hyok_identity ? "hyok: {client_cert_file: " + dir_ + "/hyok-client.pem, " +
                                                 "client_key_file: " + dir_ + "/hyok-client.key}\n"
                                           : "";
    const std::string config = "listen: {address: 127.0.0.1, port: " + std::to_string(edge_port_) +
                               ", threads: 4}\n"
                               "tls: {cert_file: " + files.server_cert + ", key_file: " + files.server_key + "}\n"
                               "external_base_url: " + edge_url_ + "\n"
                               "store: {backend: sqlite, path: " + dir_ + "/edge.db}\n"
                               "cvs: {mode: embedded, org_keys_dir: " + dir_ + "/org-keys}\n" + hyok +
                               "audit_log: " + dir_ + "/audit.jsonl\n"
                               "watch: {enabled: false}\n";
    WriteFile(dir_ + "/edge.yaml", config);
    StartEdge();
    for (Tenant* t : {&a_, &b_}) t->http = Must(net::HttpsClient::Create(edge_url_, edge_pki_->ClientTls()));
  }

  void StartEdge() {
    const std::string log = dir_ + "/edge.log";
    const std::string config = dir_ + "/edge.yaml";
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    edge_pid_ = ::fork();
    ASSERT_GE(edge_pid_, 0);
    if (edge_pid_ == 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close_range(3, ~0U, 0);  // no inherited listening sockets
      ::execl(ASTIS_CLI_BINARY, "astis", "serve", "--config", config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fd);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (ReadFile(log).find("serving on") != std::string::npos) return;
      int status = 0;
      if (::waitpid(edge_pid_, &status, WNOHANG) == edge_pid_) {
        edge_pid_ = -1;
        FAIL() << "astis serve exited: " << ReadFile(log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // bounded poll of another process
    }
    FAIL() << "astis serve did not announce its port: " << ReadFile(log);
  }

  void StopEdge() {
    if (edge_pid_ <= 0) return;
    ::kill(edge_pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
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

  // StartBCvs serves tenant-b's CVS on port (0: any) with leaf (nullptr:
  // the PKI's first server certificate), trusting only the edge's hyok
  // client certificate.
  void StartBCvs(uint16_t port, const net::testing::TestCert* leaf) {
    cvs::CvsServerConfig config;
    config.port = port;
    config.threads = 1;
    config.tls = b_pki_->ServerTls();
    if (leaf != nullptr) {
      config.tls.cert_chain_pem = leaf->cert_pem;
      config.tls.key_pem = leaf->key_pem.Clone();
    }
    config.tls.client_ca_pem = hyok_client_pki_->ca_cert_pem();
    config.tls.pinned_client_cert_sha256 = {hyok_client_->sha256};
    b_cvs_server_ = Must(cvs::StartCvsServer(std::move(config), *b_cvs_));
    b_cvs_port_ = b_cvs_server_->port();
  }
  void StopBCvs() {
    b_cvs_server_->Stop(std::chrono::milliseconds(0));
    b_cvs_server_.reset();
  }
  std::string BCvsUrl() const { return "https://127.0.0.1:" + std::to_string(b_cvs_port_); }

  std::string Token(const Tenant& t) const {
    return edge::testing::SignToken(
        edge::testing::ProjectedTokenClaims({t.issuer, kNs, kSa, kPod, t.uid, NowUnix()}), *t.cluster_key,
        SignatureAlg::kEs256, "ec-1");
  }

  net::HttpResponse Send(Tenant& t, const std::string& path, const std::string& body) {
    const std::string token = Token(t);
    auto once = [&] {
      return Must(edge::testing::SendPodRequest(*t.http, {t.api_key, token, t.dpop.get()}, "POST", edge_url_, path,
                                                body, NowUnix(), t.nonce, DefaultRandom()));
    };
    net::HttpResponse resp = once();
    if (edge::testing::AsksForDpopNonce(resp)) resp = once();
    return resp;
  }

  void Establish(Tenant& t) {
    net::HttpResponse resp = Send(
        t, "/v1/sessions",
        DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(t.recipient->public_key()).ToJson()}}));
    ASSERT_EQ(resp.status, 201) << t.org << ": " << resp.body;
    t.session = Must(ParseJson(resp.body)).value("session", "");
    ASSERT_FALSE(t.session.empty());
  }

  capsule::SealedValue Seal(const capsule::OrgPublicKey& key, std::string_view plaintext) {
    FakeClock clock(NowUnix());
    return Must(capsule::Seal(key, capsule::Binding{kCluster, kNs, kSa, "db", "password"}, AsBytes(plaintext),
                              DefaultRandom(), clock));
  }

  net::HttpResponse Unwrap(Tenant& t, const capsule::SealedValue& v) {
    return Send(t, "/v1/unwrap",
                DumpJson(Json{{"session", t.session}, {"capsules", Json::array({B64uEncode(v.capsule().bytes())})}}));
  }

  // Outcome is the plaintext a pod opens from a one-capsule unwrap, or
  // "<code>" for a per-capsule refusal, or "<STATUS code>" for a refusal of
  // the whole request.
  std::string Outcome(Tenant& t, const capsule::SealedValue& v, net::HttpResponse* raw = nullptr) {
    net::HttpResponse resp = Unwrap(t, v);
    if (raw != nullptr) *raw = resp;
    auto j = ParseJson(resp.body);
    if (!j.ok()) return "<unparsed " + std::to_string(resp.status) + ">";
    if (resp.status != 200) {
      return "<" + std::to_string(resp.status) + " " + (*j)["error"].value("code", "") + ">";
    }
    const Json& r = (*j)["results"][0];
    if (!r.contains("enc")) return "<" + r["error"].value("code", "") + ">";
    SecretBytes dek = Must(capsule::OpenRewrapped(*t.recipient, v.capsule().hash(), t.session,
                                                  Must(B64uDecode(r["enc"].get<std::string>())),
                                                  Must(B64uDecode(r["ct"].get<std::string>()))));
    return std::string(Must(capsule::DecryptValue(dek, v)).RevealString());
  }

  std::string dir_;
  pid_t edge_pid_ = -1;
  uint16_t edge_port_ = 0;
  std::string edge_url_;
  Tenant a_, b_;
  std::unique_ptr<net::testing::TestPki> edge_pki_, hyok_client_pki_, b_pki_;
  std::unique_ptr<net::testing::TestCert> hyok_client_;
  std::unique_ptr<cvs::CvsService> b_cvs_;
  std::unique_ptr<net::HttpServer> b_cvs_server_;
  uint16_t b_cvs_port_ = 0;
};

#ifdef ASTIS_CLI_BINARY

TEST_F(TenancyTiersTest, EachOrganisationGetsItsOwnPlaintext) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  ASSERT_NO_FATAL_FAILURE(Establish(a_));
  ASSERT_NO_FATAL_FAILURE(Establish(b_));
  net::HttpResponse a_resp, b_resp;
  EXPECT_EQ(Outcome(a_, Seal(*a_.org_public, "tenant-a-db-password"), &a_resp), "tenant-a-db-password");
  EXPECT_EQ(Outcome(b_, Seal(*b_.org_public, "tenant-b-db-password"), &b_resp), "tenant-b-db-password");

  // Tier 1 custody: tenant-a's private key is in its key set file only —
  // never in a response, the edge's log or the audit trail.
  auto set = Must(ParseJsonObject(ReadFile(dir_ + "/org-keys/tenant-a.json")));
  const std::string d = set["keys"][0]["d"].get<std::string>();
  ASSERT_FALSE(d.empty());
  const std::string d_hex = HexEncode(Must(B64uDecode(d)));
  // Every file the edge wrote: its stderr, the audit log and each
  // organisation's trail beside it, the store (and its WAL).
  std::vector<std::string> texts = {a_resp.body, b_resp.body};
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (!e.is_regular_file()) continue;  // org-keys/ holds the key, by design
    texts.push_back(ReadFile(e.path().string()));
    ++files;
  }
  EXPECT_GE(files, 4u);
  for (const std::string& text : texts) {
    EXPECT_EQ(text.find(d), std::string::npos);
    EXPECT_EQ(text.find(d_hex), std::string::npos);
  }
  // The embedded CVS's audit line names the organisation.
  EXPECT_NE(ReadFile(dir_ + "/audit.jsonl").find("\"cluster\":\"tenant-a/prod\""), std::string::npos);
}

// The issue's isolation requirement: every name collides, yet a capsule
// sealed for one organisation opens for no pod of the other, in either
// direction (B's CVS has no A key; the ASTIS CVS resolves kids in A's set
// only for A's scope).
TEST_F(TenancyTiersTest, CapsuleSealedForAPresentedByBIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  ASSERT_NO_FATAL_FAILURE(Establish(a_));
  ASSERT_NO_FATAL_FAILURE(Establish(b_));
  const capsule::SealedValue for_a = Seal(*a_.org_public, "only-for-a");
  const capsule::SealedValue for_b = Seal(*b_.org_public, "only-for-b");
  net::HttpResponse raw;
  EXPECT_EQ(Outcome(b_, for_a, &raw), "<unknown_key>");
  EXPECT_EQ(raw.body.find("\"enc\""), std::string::npos);
  EXPECT_EQ(Outcome(a_, for_b, &raw), "<unknown_key>");
  EXPECT_EQ(raw.body.find("\"enc\""), std::string::npos);
  // And each still opens its own.
  EXPECT_EQ(Outcome(a_, for_a), "only-for-a");
  EXPECT_EQ(Outcome(b_, for_b), "only-for-b");
}

TEST_F(TenancyTiersTest, HyokCvsOutageRefusesOnlyThatOrganisation) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  ASSERT_NO_FATAL_FAILURE(Establish(a_));
  ASSERT_NO_FATAL_FAILURE(Establish(b_));
  const capsule::SealedValue for_a = Seal(*a_.org_public, "a-during-outage");
  const capsule::SealedValue for_b = Seal(*b_.org_public, "b-after-outage");
  ASSERT_EQ(Outcome(b_, for_b), "b-after-outage");
  const uint16_t port = b_cvs_port_;
  StopBCvs();
  EXPECT_EQ(Outcome(b_, for_b), "<503 cvs_unavailable>");
  EXPECT_EQ(Outcome(a_, for_a), "a-during-outage");
  // The edge stays ready: one customer's CVS is not the edge's dependency.
  net::HttpRequest ready;
  ready.target = "/readyz";
  auto r = a_.http->Send(ready);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  // Back on the same address: B recovers with no action on the edge.
  StartBCvs(port, nullptr);
  EXPECT_EQ(Outcome(b_, for_b), "b-after-outage");
  EXPECT_EQ(Outcome(a_, for_a), "a-during-outage");
}

// Pinned by CA and name: a certificate renewal (new leaf, new key, same
// CA) is not an outage.
TEST_F(TenancyTiersTest, RenewedHyokCvsCertificateKeepsWorking) {
  ASSERT_NO_FATAL_FAILURE(StartWorld());
  ASSERT_NO_FATAL_FAILURE(Establish(b_));
  const capsule::SealedValue for_b = Seal(*b_.org_public, "b-across-renewal");
  ASSERT_EQ(Outcome(b_, for_b), "b-across-renewal");
  const uint16_t port = b_cvs_port_;
  StopBCvs();
  const net::testing::TestCert renewed = Must(b_pki_->IssueServerCert({kBIdentity, "127.0.0.1"}));
  StartBCvs(port, &renewed);
  EXPECT_EQ(Outcome(b_, for_b), "b-across-renewal");
  // A certificate for another name under the same CA is not tenant-b's CVS.
  StopBCvs();
  const net::testing::TestCert misnamed = Must(b_pki_->IssueServerCert({"cvs.other.example", "127.0.0.1"}));
  StartBCvs(port, &misnamed);
  EXPECT_EQ(Outcome(b_, for_b), "<503 cvs_unavailable>");
}

// With cvs_spki_sha256 the CVS is pinned to its key as well: the same key
// works; a new key, even under the same CA and name, is refused.
TEST_F(TenancyTiersTest, SpkiPinRefusesANewKey) {
  ASSERT_NO_FATAL_FAILURE(StartWorld(/*spki_pin=*/true));
  ASSERT_NO_FATAL_FAILURE(Establish(a_));
  ASSERT_NO_FATAL_FAILURE(Establish(b_));
  const capsule::SealedValue for_b = Seal(*b_.org_public, "b-pinned");
  ASSERT_EQ(Outcome(b_, for_b), "b-pinned");
  const uint16_t port = b_cvs_port_;
  StopBCvs();
  const net::testing::TestCert new_key = Must(b_pki_->IssueServerCert({kBIdentity, "127.0.0.1"}));
  StartBCvs(port, &new_key);
  EXPECT_EQ(Outcome(b_, for_b), "<503 cvs_unavailable>");
  EXPECT_EQ(Outcome(a_, Seal(*a_.org_public, "a-unaffected")), "a-unaffected");
  // The pinned key back: served again.
  StopBCvs();
  StartBCvs(port, nullptr);
  EXPECT_EQ(Outcome(b_, for_b), "b-pinned");
}

// Without the edge's hyok client identity a hyok organisation cannot be
// served: the edge says so at start and refuses its unwraps with
// cvs_unavailable; a standard organisation is served as ever.
TEST_F(TenancyTiersTest, WithoutHyokIdentityTheEdgeSaysSoAndRefusesB) {
  ASSERT_NO_FATAL_FAILURE(StartWorld(/*spki_pin=*/false, /*hyok_identity=*/false));
  EXPECT_NE(ReadFile(dir_ + "/edge.log").find("organisation tenant-b is hyok but no hyok.client_cert_file"),
            std::string::npos)
      << ReadFile(dir_ + "/edge.log");
  ASSERT_NO_FATAL_FAILURE(Establish(a_));
  ASSERT_NO_FATAL_FAILURE(Establish(b_));
  EXPECT_EQ(Outcome(b_, Seal(*b_.org_public, "b")), "<503 cvs_unavailable>");
  EXPECT_EQ(Outcome(a_, Seal(*a_.org_public, "a")), "a");
}

#endif  // ASTIS_CLI_BINARY

}  // namespace
}  // namespace astis::integration
