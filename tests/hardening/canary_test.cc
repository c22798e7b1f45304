// Canary test (issue #9): a known random plaintext goes through the whole
// product over real loopback TLS -- `capsule::Seal`, the edge (HttpServer +
// EdgeService, SQLite FILE store, FILE audit log), the CVS (embedded, and
// remote behind pinned mutual TLS), the kube-apiserver stand-in and the pod
// SDK -- together with refusal paths that produce error messages (capsule
// for another namespace, tampered capsule, deleted pod). Every DEK the CVS
// opens is recorded through the test-only hook cvs/testing/dek_observer.h.
//
// Then every output is searched for the plaintext and each DEK, raw, hex
// (both cases), base64 and base64url at every byte alignment: the captured
// stdout and stderr of the process, the audit log files, the SQLite database
// files (with -wal / -journal / -shm), every HTTP response body the edge and
// the CVS sent, and every Status message produced. None may contain any.
// SearchFindsPlantedCanary proves the search finds a planted needle.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/log.h"
#include "common/testing/files.h"
#include "common/testing/must.h"
#include "crypto/ed25519.h"
#include "crypto/public_key.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "crypto/x25519.h"
#include "cvs/cvs.h"
#include "cvs/remote.h"
#include "cvs/testing/dek_observer.h"
#include "cvs/testing/verified_scope.h"
#include "edge/config.h"
#include "edge/gates.h"
#include "edge/service.h"
#include "edge/testing/pod_credentials.h"
#include "jose/dpop.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "kube/client.h"
#include "kube/config.h"
#include "net/http_server.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "sdk/engine.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "support/kube_api_standin.h"

namespace astis::hardening {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr char kCluster[] = "canary-c1";
constexpr char kIssuer[] = "https://oidc.canary-c1.example.com";
constexpr char kNs[] = "vault";
constexpr char kSa[] = "keeper";
constexpr char kPod[] = "keeper-6f7d9c-q8x2m";
constexpr char kUid[] = "5a1e7c3b-2d4f-4a6b-8c9d-0e1f2a3b4c5d";
constexpr char kKubeReadToken[] = "canary-kube-read-only-token";
constexpr char kPodShape[] = "kubernetes/pod-sidecar-containerd-digest.json";
const std::string kAppDigest = "sha256:cd2438ba5730cd67f3f400a7726f756bce34124d65a60e7509721a70cdb9ea26";

using test::Must;
using test::ReadFile;
using test::WriteFile;

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Needle is one searchable form of a secret; label names it without
// revealing it (failure messages print only labels).
struct Needle {
  std::string label;
  std::string bytes;
};

// AddForms adds secret raw, as hex (both cases), and as base64 / base64url
// at each of the three byte alignments it can have inside a longer encoded
// blob (only the characters that depend on the secret alone).
void AddForms(const std::string& label, std::span<const uint8_t> secret, std::vector<Needle>& out) {
  out.push_back({label + " raw", std::string(reinterpret_cast<const char*>(secret.data()), secret.size())});
  out.push_back({label + " hex", HexEncode(secret)});
  out.push_back({label + " HEX", Upper(HexEncode(secret))});
  for (size_t shift = 0; shift < 3; ++shift) {
    std::vector<uint8_t> padded(shift, 0);
    padded.insert(padded.end(), secret.begin(), secret.end());
    const size_t begin = shift == 0 ? 0 : 4;
    const size_t end = padded.size() / 3 * 4;
    const std::string b64 = B64Encode(padded), b64u = B64uEncode(padded);
    out.push_back({label + " base64@" + std::to_string(shift), b64.substr(begin, end - begin)});
    out.push_back({label + " base64url@" + std::to_string(shift), b64u.substr(begin, end - begin)});
  }
}

// Hits returns the labels of the needles found in haystack.
std::vector<std::string> Hits(std::string_view haystack, const std::vector<Needle>& needles) {
  std::vector<std::string> hits;
  for (const Needle& n : needles) {
    if (!n.bytes.empty() && haystack.find(n.bytes) != std::string_view::npos) hits.push_back(n.label);
  }
  return hits;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// StdCapture redirects this process's stdout and stderr (fds 1 and 2) into
// files until Restore(), so everything the product prints is searchable.
class StdCapture {
 public:
  explicit StdCapture(const std::string& dir) : out_path_(dir + "/stdout.txt"), err_path_(dir + "/stderr.txt") {
    std::fflush(stdout);
    std::fflush(stderr);
    saved_out_ = ::dup(1);
    saved_err_ = ::dup(2);
    const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::close(out);
    ::close(err);
  }
  ~StdCapture() { Restore(); }
  void Restore() {
    if (saved_out_ < 0) return;
    std::fflush(stdout);
    std::fflush(stderr);
    ::dup2(saved_out_, 1);
    ::dup2(saved_err_, 2);
    ::close(saved_out_);
    ::close(saved_err_);
    saved_out_ = saved_err_ = -1;
  }
  const std::string& out_path() const { return out_path_; }
  const std::string& err_path() const { return err_path_; }

 private:
  std::string out_path_, err_path_;
  int saved_out_ = -1, saved_err_ = -1;
};

class NoSleep final : public sdkcore::Sleeper {
 public:
  void Sleep(std::chrono::milliseconds) override {}
};

class CanaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = Must(net::testing::MakeTempDir());
    // The canary: 48 random bytes rendered as a distinctive string.
    std::vector<uint8_t> raw(48);
    ASSERT_TRUE(DefaultRandom().Fill(raw).ok());
    canary_ = "ASTIS-CANARY-" + HexEncode(raw);
    cvs::testing::SetDekObserverForTesting([this](std::span<const uint8_t> dek) {
      std::lock_guard<std::mutex> lock(mu_);
      deks_.push_back(SecretBytes::CopyFrom(dek));
    });
  }

  void TearDown() override {
    cvs::testing::SetDekObserverForTesting({});
    if (edge_server_ != nullptr) edge_server_->Stop(std::chrono::milliseconds(0));
    service_ptr_.store(nullptr);
    if (cvs_server_ != nullptr) cvs_server_->Stop(std::chrono::milliseconds(0));
    if (kube_ != nullptr) kube_->Stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  void Record(std::string_view what, std::string_view text) {
    std::lock_guard<std::mutex> lock(mu_);
    outputs_.emplace_back(std::string(what), std::string(text));
  }
  void RecordStatus(const Status& s) { Record("status message", s.ToString()); }

  void StartWorld(bool remote_cvs) {
    Random& rng = DefaultRandom();
    kube_ = Must(integration::KubeApiStandin::Start(kKubeReadToken));
    ASSERT_TRUE(
        kube_->PutPod(Must(integration::MakePod(kPodShape, integration::PodIdentity{kNs, kPod, kUid, kSa, kAppDigest})))
            .ok());
    WriteFile(dir_ + "/kube-ca.pem", kube_->ca_cert_pem());
    WriteFile(dir_ + "/kube-token", std::string(kKubeReadToken) + "\n");

    store_ = Must(store::OpenSqliteStore(dir_ + "/edge.db"));
    ec_ = std::make_unique<SigningKey>(Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256)));
    Json rsa = edge::testing::SharedClusterRsaKey().PublicJwkMembers();
    rsa["kid"] = "rsa-1";
    store::Cluster c;
    c.name = kCluster;
    c.issuer = kIssuer;
    c.jwks_json = DumpJson(Json{{"keys", Json::array({rsa})}});
    c.api_url = kube_->url();
    c.ca_file = dir_ + "/kube-ca.pem";
    c.token_file = dir_ + "/kube-token";
    c.mode = "strict";
    c.created_at = kNow - 1000;
    ASSERT_TRUE(store_->PutCluster(c).ok());
    ASSERT_TRUE(store_->PutWorkload(store::Workload{kCluster, kNs, kSa, {kAppDigest}}).ok());
    api_key_ = Must(edge::testing::RegisterApiKey(*store_, {kCluster, kNs, kSa, kNow - 100}, rng)).header_value;
    audit_ = Must(audit::FileAuditLog::Open(dir_ + "/audit.log", clock_));

    capsule::OrgPrivateKey org = Must(capsule::OrgPrivateKey::Generate(rng));
    org_public_ = std::make_unique<capsule::OrgPublicKey>(org.public_key());
    capsule::OrgKeySet keys = Must(capsule::OrgKeySet::Create(std::move(org)));
    cvs::CvsPort* cvs_port = nullptr;
    if (!remote_cvs) {
      cvs_service_ = std::make_unique<cvs::CvsService>(std::move(keys), rng, audit_.get());
      cvs_port = cvs_service_.get();
    } else {
      cvs_audit_ = Must(audit::FileAuditLog::Open(dir_ + "/cvs-audit.log", clock_));
      cvs_service_ = std::make_unique<cvs::CvsService>(std::move(keys), rng, cvs_audit_.get());
      cvs_pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create()));
      edge_client_cert_ = std::make_unique<net::testing::TestCert>(Must(cvs_pki_->IssueClientCert("astis-edge")));
      // The remote CVS on its own HttpServer, every response body recorded.
      cvs_handler_ =
          std::make_unique<cvs::CvsHttpHandler>(*cvs_service_, std::vector<Sha256Digest>{edge_client_cert_->sha256});
      net::ServerConfig csc;
      csc.tls = cvs_pki_->ServerTls();
      csc.tls->client_ca_pem = cvs_pki_->ca_cert_pem();
      csc.tls->pinned_client_cert_sha256 = {edge_client_cert_->sha256};
      csc.threads = 1;
      cvs_server_ = Must(net::HttpServer::Start(csc, [this](const net::ServerRequest& r) {
        net::ServerResponse resp = cvs_handler_->Handle(r);
        Record("cvs response body", resp.body);
        return resp;
      }));
      net::TlsClientConfig tls = cvs_pki_->ClientTls(edge_client_cert_.get());
      tls.pinned_server_cert_sha256 = {cvs_pki_->server().sha256};
      remote_cvs_ =
          Must(cvs::RemoteCvsClient::Create("https://127.0.0.1:" + std::to_string(cvs_server_->port()), tls, {}));
      cvs_port = remote_cvs_.get();
    }

    kube::ClusterConnection conn = Must(kube::Explicit(c.api_url, c.ca_file, c.token_file));
    kube_client_ = Must(kube::HttpKubeClient::Create(conn, clock_, {}));

    edge_pki_ = std::make_unique<net::testing::TestPki>(Must(net::testing::TestPki::Create()));
    net::testing::TestPkiFiles files = Must(edge_pki_->WriteFiles(dir_));
    edge_ca_file_ = files.ca_cert;
    edge::EdgeConfig config;
    net::ServerConfig sc;
    sc.tls = edge_pki_->ServerTls();
    sc.threads = 2;
    sc.limits.max_body_bytes = static_cast<size_t>(config.limits.max_body_bytes) + 1;
    // Every response the edge sends, to the raw client and to the SDK alike.
    edge_server_ = Must(net::HttpServer::Start(sc, [this](const net::ServerRequest& r) {
      edge::EdgeService* s = service_ptr_.load();
      net::ServerResponse resp = s != nullptr ? s->Handle(r) : net::JsonError(503, "internal_error", "not ready");
      std::string head;
      for (const auto& [k, v] : resp.headers) head += k + ": " + v + "\n";
      Record("edge response", head + resp.body);
      return resp;
    }));
    edge_url_ = "https://127.0.0.1:" + std::to_string(edge_server_->port());
    config.external_base_url = edge_url_;
    config.tls = {files.server_cert, files.server_key};
    config.store.path = dir_ + "/edge.db";
    config.cvs.mode = remote_cvs ? edge::CvsMode::kRemote : edge::CvsMode::kEmbedded;
    config.audit_log = dir_ + "/audit.log";
    edge::testing::ReadEveryGate4Decision(config);  // these tests edit the API between requests at one instant
    edge::EdgeDeps deps;
    deps.store = store_.get();
    deps.kube = [this](std::string_view cluster) -> kube::KubeClient* {
      return cluster == kCluster ? kube_client_.get() : nullptr;
    };
    deps.cvs = cvs_port;
    deps.audit = audit_.get();
    deps.clock = &clock_;
    deps.rng = &rng;
    // The access log, as RunEdgeProcess writes it (JSON lines), to a file
    // searched below like every other output.
    access_fd_ = ::open((dir_ + "/access.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ASSERT_GE(access_fd_, 0);
    access_log_ = std::make_unique<log::Logger>(log::Format::kJson, log::Level::kDebug, access_fd_, &clock_);
    deps.log = access_log_.get();
    service_ = Must(edge::EdgeService::Create(config, deps));
    service_ptr_.store(service_.get());

    pod_dpop_ = std::make_unique<Ed25519PrivateKey>(Must(Ed25519PrivateKey::Generate(rng)));
    pod_recipient_ = std::make_unique<X25519PrivateKey>(Must(X25519PrivateKey::Generate(rng)));
    pod_http_ = Must(net::HttpsClient::Create(edge_url_, edge_pki_->ClientTls()));
    token_ = MintToken();
  }

  std::string MintToken() const {
    return edge::testing::SignToken(edge::testing::ProjectedTokenClaims({kIssuer, kNs, kSa, kPod, kUid, kNow}),
                                    edge::testing::SharedClusterRsaKey(), SignatureAlg::kRs256, "rsa-1");
  }

  // Send is one raw pod request with all three credentials, with the
  // RFC 9449 §8 nonce retry; the response body is recorded.
  net::HttpResponse Send(const std::string& method, const std::string& path, const std::string& body) {
    for (int attempt = 0;; ++attempt) {
      auto sent = edge::testing::SendPodRequest(*pod_http_, {api_key_.RevealString(), token_, pod_dpop_.get()}, method,
                                                edge_url_, path, body, clock_.NowUnix(), nonce_, DefaultRandom());
      if (!sent.ok()) {
        RecordStatus(sent.status());
        ADD_FAILURE() << sent.status().ToString();
        return {};
      }
      net::HttpResponse resp = std::move(sent).value();
      Record("client-received body", resp.body);
      if (attempt == 0 && edge::testing::AsksForDpopNonce(resp)) continue;
      return resp;
    }
  }

  capsule::SealedValue Seal(std::string_view plaintext, const std::string& ns, const std::string& name) {
    return Must(capsule::Seal(*org_public_, capsule::Binding{kCluster, ns, kSa, name, "value"}, AsBytes(plaintext),
                              DefaultRandom(), clock_));
  }

  // Tampered flips one character of the capsule's HPKE ct: it still parses,
  // but no longer opens (capsule_invalid).
  static std::string TamperedCapsule(const capsule::SealedValue& v) {
    std::string bytes = v.capsule().bytes();
    const size_t at = bytes.find("\"ct\":\"") + 8;
    bytes[at] = bytes[at] == 'A' ? 'B' : 'A';
    return bytes;
  }

  // Exercise runs the success path and the refusal paths, raw and via the SDK.
  void Exercise() {
    const capsule::SealedValue good = Seal(canary_, kNs, "canary");
    const capsule::SealedValue foreign = Seal(canary_, "other-ns", "canary");
    const std::string tampered = TamperedCapsule(good);

    // Raw: establish, then one batch with the good, foreign and tampered capsules.
    net::HttpResponse est =
        Send("POST", "/v1/sessions",
             DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(pod_recipient_->public_key()).ToJson()}}));
    ASSERT_EQ(est.status, 201) << est.body;
    const std::string session = Must(ParseJson(est.body)).value("session", "");
    net::HttpResponse un =
        Send("POST", "/v1/unwrap",
             DumpJson(Json{{"session", session},
                           {"capsules",
                            {B64uEncode(good.capsule().bytes()), B64uEncode(foreign.capsule().bytes()),
                             B64uEncode(AsBytes(tampered))}}}));
    ASSERT_EQ(un.status, 200) << un.body;
    const Json results = Must(ParseJson(un.body))["results"];
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(results[1]["error"]["code"], "capsule_scope");
    EXPECT_EQ(results[2]["error"]["code"], "capsule_invalid");
    SecretBytes dek = Must(capsule::OpenRewrapped(*pod_recipient_, good.capsule().hash(), session,
                                                  Must(B64uDecode(results[0]["enc"].get<std::string>())),
                                                  Must(B64uDecode(results[0]["ct"].get<std::string>()))));
    EXPECT_TRUE(Must(capsule::DecryptValue(dek, good)).RevealString() == canary_);  // compared, never printed
    // Pod-side failures produce Status messages too.
    auto wrong_session = capsule::OpenRewrapped(*pod_recipient_, good.capsule().hash(), session + "x",
                                                Must(B64uDecode(results[0]["enc"].get<std::string>())),
                                                Must(B64uDecode(results[0]["ct"].get<std::string>())));
    ASSERT_FALSE(wrong_session.ok());
    RecordStatus(wrong_session.status());
    auto wrong_dek = capsule::DecryptValue(dek, foreign);
    ASSERT_FALSE(wrong_dek.ok());
    RecordStatus(wrong_dek.status());
    auto bad_value = capsule::SealedValue::Parse("astis.v1." + canary_);
    ASSERT_FALSE(bad_value.ok());
    RecordStatus(bad_value.status());
    // End the raw session: the SDK below pins its own DPoP key to this pod.
    EXPECT_EQ(Send("DELETE", "/v1/sessions/" + session, "").status, 204);

    // The SDK, from files as in a pod: the good value, then the refusals.
    const std::string pod_dir = dir_ + "/pod";
    std::filesystem::create_directories(pod_dir + "/secrets");
    WriteFile(pod_dir + "/token", token_);
    WriteFile(pod_dir + "/api-key", api_key_.RevealString());
    WriteFile(pod_dir + "/secrets/canary", good.ToString());
    WriteFile(pod_dir + "/secrets/foreign", foreign.ToString());
    std::string tampered_value = good.ToString();
    const size_t cap_at = std::string("astis.v1.").size();
    const size_t cap_end = tampered_value.find('.', cap_at);
    tampered_value.replace(cap_at, cap_end - cap_at, B64uEncode(AsBytes(tampered)));
    WriteFile(pod_dir + "/secrets/tampered", tampered_value);
    sdkcore::SdkConfig sdk;
    sdk.edge_urls = {edge_url_};
    sdk.ca_file = edge_ca_file_;
    sdk.token_path = pod_dir + "/token";
    sdk.api_key_file = pod_dir + "/api-key";
    sdk.secrets_dir = pod_dir + "/secrets";
    sdk.rotation_seconds = 0;
    sdk.max_attempts = 1;
    NoSleep no_sleep;
    sdkcore::EngineDeps deps;
    deps.clock = &clock_;
    deps.sleeper = &no_sleep;
    deps.env = [](const std::string&) { return std::nullopt; };
    std::unique_ptr<sdkcore::Engine> engine = Must(sdkcore::Engine::Create(sdk, deps));
    SecretBytes got = Must(engine->Get("canary"));
    EXPECT_TRUE(got.RevealString() == canary_);
    for (const char* name : {"foreign", "tampered", "missing"}) {
      auto refused = engine->Get(name);
      EXPECT_FALSE(refused.ok()) << name;
      if (!refused.ok()) RecordStatus(refused.status());
    }
    // Deleted pod: gate 4 refuses the SDK's unwrap and then a new session.
    ASSERT_TRUE(kube_->DeletePod(kNs, kPod));
    auto sdk_gone = engine->Get("canary");
    EXPECT_FALSE(sdk_gone.ok());
    if (!sdk_gone.ok()) RecordStatus(sdk_gone.status());
    Status closed = engine->Close();
    if (!closed.ok()) RecordStatus(closed);
    nonce_.clear();
    net::HttpResponse gone =
        Send("POST", "/v1/sessions",
             DumpJson(Json{{"recipient", jose::Jwk::FromX25519Public(pod_recipient_->public_key()).ToJson()}}));
    EXPECT_EQ(gone.status, 403) << gone.body;
    // A direct CVS call with the tampered capsule.
    auto direct =
        cvs_service_->Rewrap(cvs::testing::TestScope(kCluster, kNs, kSa), pod_recipient_->public_key(), session,
                             std::vector<std::vector<uint8_t>>{std::vector<uint8_t>(tampered.begin(), tampered.end())});
    ASSERT_TRUE(direct.ok());
    EXPECT_EQ((*direct)[0].code, Code::kCapsuleInvalid);
  }

  std::vector<Needle> AllNeedles() {
    std::vector<Needle> needles;
    AddForms("plaintext", AsBytes(canary_), needles);
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < deks_.size(); ++i) AddForms("dek" + std::to_string(i), deks_[i].Reveal(), needles);
    return needles;
  }

  // SearchEverything checks no output holds any needle.
  void SearchEverything(const StdCapture& capture) {
    const std::vector<Needle> needles = AllNeedles();
    std::vector<std::string> files = {capture.out_path(), capture.err_path()};
    size_t db_files = 0, audit_files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("edge.db", 0) == 0) ++db_files;
      if (name.find("audit.log") != std::string::npos) ++audit_files;
      if (name.rfind("edge.db", 0) == 0 || name.find("audit.log") != std::string::npos)
        files.push_back(entry.path().string());
    }
    EXPECT_GE(db_files, 1u);
    EXPECT_GE(audit_files, 1u);
    // The access log: one JSON line per request, and no credential in any
    // of them (docs/operations.md "Logs"): not the API key, not the
    // ServiceAccount token, nor the plaintext or a DEK (searched below).
    const std::string access = ReadFile(dir_ + "/access.log");
    files.push_back(dir_ + "/access.log");
    size_t access_lines = 0;
    for (size_t at = 0; at < access.size();) {
      const size_t nl = access.find('\n', at);
      ASSERT_NE(nl, std::string::npos);
      auto line = ParseJson(std::string_view(access).substr(at, nl - at));
      ASSERT_TRUE(line.ok()) << access.substr(at, nl - at);
      EXPECT_EQ((*line)["component"], "access");
      ++access_lines;
      at = nl + 1;
    }
    EXPECT_GE(access_lines, 5u);
    EXPECT_EQ(access.find(std::string(api_key_.RevealString())), std::string::npos) << "API key in the access log";
    EXPECT_EQ(access.find(token_), std::string::npos) << "ServiceAccount token in the access log";
    EXPECT_EQ(access.find("astis.v1."), std::string::npos) << "a sealed value in the access log";
    for (const std::string& f : files) {
      const std::string bytes = ReadFile(f);
      const auto hits = Hits(bytes, needles);
      EXPECT_TRUE(hits.empty()) << f << " holds: " << Join(hits);
    }
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_GE(outputs_.size(), 10u);
    for (const auto& [what, text] : outputs_) {
      const auto hits = Hits(text, needles);
      EXPECT_TRUE(hits.empty()) << what << " holds: " << Join(hits);
    }
  }

  void Run(bool remote_cvs) {
    {
      StdCapture capture(dir_);
      StartWorld(remote_cvs);
      if (!HasFatalFailure()) Exercise();
      // Stop the servers so every log line is flushed before the search.
      if (edge_server_ != nullptr) edge_server_->Stop(std::chrono::milliseconds(0));
      if (cvs_server_ != nullptr) cvs_server_->Stop(std::chrono::milliseconds(0));
      capture.Restore();
      // Failures raised while capturing went to the captured stdout: show them.
      if (HasFailure()) std::fputs(ReadFile(capture.out_path()).c_str(), stdout);
      ASSERT_FALSE(HasFatalFailure());
      {
        std::lock_guard<std::mutex> lock(mu_);
        // The raw unwrap, the SDK unwrap and the direct call each opened the
        // good capsule; the observer must have seen them.
        EXPECT_GE(deks_.size(), 2u);
      }
      SearchEverything(capture);
    }
  }

  FakeClock clock_{kNow};
  std::string dir_, canary_;
  std::mutex mu_;
  std::vector<SecretBytes> deks_;
  std::vector<std::pair<std::string, std::string>> outputs_;
  std::unique_ptr<integration::KubeApiStandin> kube_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<SigningKey> ec_;
  SecretBytes api_key_;
  std::unique_ptr<audit::FileAuditLog> audit_, cvs_audit_;
  std::unique_ptr<capsule::OrgPublicKey> org_public_;
  std::unique_ptr<cvs::CvsService> cvs_service_;
  std::unique_ptr<net::testing::TestPki> cvs_pki_;
  std::unique_ptr<net::testing::TestCert> edge_client_cert_;
  std::unique_ptr<cvs::CvsHttpHandler> cvs_handler_;
  std::unique_ptr<net::HttpServer> cvs_server_;
  std::unique_ptr<cvs::RemoteCvsClient> remote_cvs_;
  std::unique_ptr<kube::HttpKubeClient> kube_client_;
  std::unique_ptr<net::testing::TestPki> edge_pki_;
  std::string edge_ca_file_, edge_url_;
  std::unique_ptr<edge::EdgeService> service_;
  std::unique_ptr<net::HttpServer> edge_server_;
  std::atomic<edge::EdgeService*> service_ptr_{nullptr};
  std::unique_ptr<Ed25519PrivateKey> pod_dpop_;
  std::unique_ptr<X25519PrivateKey> pod_recipient_;
  std::unique_ptr<net::HttpsClient> pod_http_;
  std::string token_, nonce_;
  int access_fd_ = -1;
  std::unique_ptr<log::Logger> access_log_;

 public:
  ~CanaryTest() override {
    if (access_fd_ >= 0) ::close(access_fd_);
  }
};

TEST_F(CanaryTest, NoSecretLeaksEmbeddedCvs) { Run(false); }

TEST_F(CanaryTest, NoSecretLeaksRemoteCvs) { Run(true); }

// Positive control: the same search finds the canary and a DEK planted in a
// scratch file, raw and inside longer hex / base64 / base64url blobs at
// every alignment, and in captured stderr.
TEST_F(CanaryTest, SearchFindsPlantedCanary) {
  std::vector<uint8_t> dek(32);
  ASSERT_TRUE(DefaultRandom().Fill(dek).ok());
  std::vector<Needle> needles;
  AddForms("plaintext", AsBytes(canary_), needles);
  AddForms("dek0", dek, needles);
  for (size_t shift = 0; shift < 3; ++shift) {
    std::string prefix(shift + 1, 'p');
    const std::string pt = prefix + canary_ + "tail";
    std::vector<uint8_t> d(prefix.begin(), prefix.end());
    d.insert(d.end(), dek.begin(), dek.end());
    d.push_back('t');
    const std::string scratch = dir_ + "/scratch-" + std::to_string(shift);
    WriteFile(scratch, "log line: " + B64Encode(AsBytes(pt)) + " and " + B64uEncode(d) + "\n");
    const auto hits = Hits(ReadFile(scratch), needles);
    EXPECT_NE(std::find(hits.begin(), hits.end(), "plaintext base64@" + std::to_string((shift + 1) % 3)), hits.end())
        << Join(hits);
    EXPECT_NE(std::find(hits.begin(), hits.end(), "dek0 base64url@" + std::to_string((shift + 1) % 3)), hits.end())
        << Join(hits);
  }
  WriteFile(dir_ + "/scratch-hex", "x" + Upper(HexEncode(dek)) + "y" + HexEncode(AsBytes(canary_)));
  const auto hex_hits = Hits(ReadFile(dir_ + "/scratch-hex"), needles);
  EXPECT_NE(std::find(hex_hits.begin(), hex_hits.end(), "dek0 HEX"), hex_hits.end());
  EXPECT_NE(std::find(hex_hits.begin(), hex_hits.end(), "plaintext hex"), hex_hits.end());
  {
    StdCapture capture(dir_);
    std::fprintf(stderr, "oops %s\n", canary_.c_str());
    capture.Restore();
    const auto err_hits = Hits(ReadFile(capture.err_path()), needles);
    EXPECT_NE(std::find(err_hits.begin(), err_hits.end(), "plaintext raw"), err_hits.end());
  }
  EXPECT_TRUE(Hits("nothing to see here", needles).empty());
}

}  // namespace
}  // namespace astis::hardening
