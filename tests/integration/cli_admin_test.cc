// Tests of the `astis` operator commands (docs/admin.md): admin commands over
// the store in-process through RunCli, audit verify, key rotate / reseal, and
// `astis serve` as a real child process (ServeStartsAndStops).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "audit/audit_log.h"
#include "capsule/org_key.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/secret_manifest.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/temp_dir.h"
#include "crypto/public_key.h"
#include "edge/gates.h"
#include "jose/jwk.h"
#include "jose/jws.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace astis::cli {
namespace {

constexpr int64_t kNow = 1'750'000'000;
constexpr char kIssuer[] = "https://kubernetes.default.svc.cluster.local";
const std::string kDigest = "sha256:" + std::string(64, 'a');

constexpr char kPlainYaml[] = R"(apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: payments
type: Opaque
stringData:
  password: hunter2-plaintext
)";

std::string ReadAllFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  ::chmod(path.c_str(), mode);
}

class CliAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
    store_ = dir_ + "/edge.db";
    auto key = SigningKey::GenerateEc(PublicKeyKind::kEcP256);
    ASSERT_TRUE(key.ok());
    signing_ = std::make_unique<SigningKey>(std::move(key).value());
    Json jwk = signing_->PublicJwkMembers();
    jwk["kid"] = "ec-1";
    jwks_text_ = DumpJson(Json{{"keys", Json::array({jwk})}});
    jwks_ = dir_ + "/jwks.json";
    WriteFile(jwks_, jwks_text_, 0644);
  }

  struct Run {
    int code;
    std::string out;
    std::string err;
  };

  Run Cli(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), "astis");
    std::istringstream in(stdin_text);
    std::ostringstream out, err;
    CliEnv env{in, out, err, DefaultRandom(), clock_};
    int code = RunCli(args, env);
    return {code, out.str(), err.str()};
  }

  Run AddCluster(const std::string& name = "prod", const std::string& jwks = "") {
    return Cli({"cluster", "add", "--store", store_, "--name", name, "--issuer", kIssuer, "--audience", "astis",
                "--jwks-file", jwks.empty() ? jwks_ : jwks, "--api-url", "https://127.0.0.1:6443", "--ca-file",
                dir_ + "/ca.pem", "--token-file", dir_ + "/token", "--mode", "strict"});
  }

  std::unique_ptr<store::Store> OpenStore() {
    auto s = store::OpenSqliteStore(store_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  std::string Token(const std::string& ns, const std::string& sa) {
    Json claims{{"aud", Json::array({"astis"})},
                {"exp", kNow + 600},
                {"iat", kNow - 10},
                {"nbf", kNow - 10},
                {"iss", kIssuer},
                {"kubernetes.io", {{"namespace", ns}, {"pod", {{"name", "api-1"}, {"uid", "uid-1"}}},
                                   {"serviceaccount", {{"name", sa}, {"uid", "sa-uid"}}}}},
                {"sub", "system:serviceaccount:" + ns + ":" + sa}};
    return jose::SignCompactJws(Json{{"alg", "ES256"}, {"kid", "ec-1"}}, DumpJson(claims), *signing_,
                                SignatureAlg::kEs256);
  }

  FakeClock clock_{kNow};
  test::TempDir tmp_{"astis-admin"};
  std::string dir_, store_, jwks_, jwks_text_;
  std::unique_ptr<SigningKey> signing_;
};

TEST_F(CliAdminTest, ClusterAddListRemove) {
  Run add = AddCluster();
  ASSERT_EQ(add.code, 0) << add.err;
  Run list = Cli({"cluster", "list", "--store", store_});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("prod\tstrict\t" + std::string(kIssuer)), std::string::npos) << list.out;
  auto st = OpenStore();
  auto c = st->GetCluster(astis::store::kDefaultOrg, "prod");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->jwks_json, jwks_text_);
  Run rm = Cli({"cluster", "remove", "--store", store_, "--name", "prod"});
  ASSERT_EQ(rm.code, 0) << rm.err;
  EXPECT_EQ(Cli({"cluster", "list", "--store", store_}).out.find("prod"), std::string::npos);
  EXPECT_EQ(Cli({"cluster", "remove", "--store", store_, "--name", "prod"}).code, kExitIo);  // not found
  // Every change is in the configuration audit, attributed to the CLI user.
  auto audit = st->ListConfigAudit(std::nullopt, 0, 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].action, "cluster.add");
  EXPECT_EQ((*audit)[1].action, "cluster.remove");
  EXPECT_EQ((*audit)[0].actor.rfind("cli:", 0), 0u);
}

TEST_F(CliAdminTest, ClusterAddRejectsBadJwks) {
  const std::string bad = dir_ + "/bad.json";
  WriteFile(bad, R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})", 0644);
  Run r = AddCluster("prod", bad);
  EXPECT_EQ(r.code, kExitInput) << r.err;
  EXPECT_NE(r.err.find("--jwks-file"), std::string::npos) << r.err;
  WriteFile(bad, "not json", 0644);
  EXPECT_EQ(AddCluster("prod", bad).code, kExitInput);
  EXPECT_EQ(Cli({"cluster", "list", "--store", store_}).out.find("prod"), std::string::npos);
}

TEST_F(CliAdminTest, ClusterCommandsNeedStore) {
  EXPECT_EQ(Cli({"cluster", "list"}).code, kExitInput);
}

TEST_F(CliAdminTest, WorkloadAddRejectsBadDigest) {
  ASSERT_EQ(AddCluster().code, 0);
  auto add = [&](const std::string& image) {
    return Cli({"workload", "add", "--store", store_, "--cluster", "prod", "--namespace", "payments",
                "--service-account", "api", "--image", kDigest, "--image", image});
  };
  for (const std::string& bad : std::vector<std::string>{"nginx:latest", "sha256:" + std::string(64, 'A'),
                                                        "sha256:" + std::string(63, 'a')}) {
    Run r = add(bad);
    EXPECT_EQ(r.code, kExitInput) << bad;
    EXPECT_NE(r.err.find("--image #2"), std::string::npos) << r.err;
  }
  EXPECT_EQ(Cli({"workload", "list", "--store", store_}).out.find("payments"), std::string::npos);
  const std::string good = "sha256:" + std::string(64, 'b');
  Run ok = add(good);
  ASSERT_EQ(ok.code, 0) << ok.err;
  Run list = Cli({"workload", "list", "--store", store_});
  EXPECT_NE(list.out.find("prod\tpayments\tapi\t" + kDigest + "," + good), std::string::npos) << list.out;
  ASSERT_EQ(Cli({"workload", "remove", "--store", store_, "--cluster", "prod", "--namespace", "payments",
                 "--service-account", "api"})
                .code,
            0);
  EXPECT_EQ(Cli({"workload", "list", "--store", store_}).out.find("payments"), std::string::npos);
}

TEST_F(CliAdminTest, ApiKeyCreatePrintsOnceAndStoresHash) {
  ASSERT_EQ(AddCluster().code, 0);
  Run r = Cli({"apikey", "create", "--store", store_, "--cluster", "prod", "--namespace", "payments",
               "--service-account", "api", "--expires-in", "30d"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  const std::string header = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_EQ(header.find('\n'), std::string::npos);  // exactly one line: the key

  auto presented = edge::PresentedApiKey::Parse(header);
  ASSERT_TRUE(presented.ok()) << presented.status().ToString();
  auto st = OpenStore();
  auto rec = st->GetApiKey(presented->id());
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->expires_at, kNow + 30 * 86400);
  EXPECT_EQ(rec->cluster, "prod");

  // The printed key passes gate 1 for a token of the bound ServiceAccount.
  auto cluster = st->GetCluster(astis::store::kDefaultOrg, "prod");
  ASSERT_TRUE(cluster.ok());
  auto set = jose::JwkSet::Parse(cluster->jwks_json);
  ASSERT_TRUE(set.ok());
  std::vector<edge::ClusterTrust> trust{
      {"prod", kIssuer, "astis", std::make_shared<const jose::JwkSet>(std::move(set).value())}};
  auto identity = edge::VerifyServiceAccountToken(Token("payments", "api"), trust, kNow, 60);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  edge::ApiKeyFacts facts{rec->id, rec->hash, rec->cluster, rec->namespace_, rec->service_account,
                          rec->expires_at, rec->revoked_at};
  EXPECT_TRUE(edge::VerifyApiKey(*presented, facts, *identity, kNow).ok());

  // The store files never hold the secret part; list never shows it or the hash.
  // astis_<id>_<secret>: the secret is base64url and may itself hold '_', so
  // it starts after the first '_' following the prefix (not the last '_').
  const size_t id_end = header.find('_', std::string_view("astis_").size());
  ASSERT_NE(id_end, std::string::npos);
  const std::string secret = header.substr(id_end + 1);
  ASSERT_GE(secret.size(), 32u);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    EXPECT_EQ(ReadAllFile(store_ + suffix).find(secret), std::string::npos) << suffix;
  }
  Run list = Cli({"apikey", "list", "--store", store_});
  ASSERT_EQ(list.code, 0);
  EXPECT_NE(list.out.find(rec->id), std::string::npos);
  EXPECT_EQ(list.out.find(secret), std::string::npos);
  EXPECT_EQ(list.out.find(HexEncode(rec->hash)), std::string::npos);
}

TEST_F(CliAdminTest, ApiKeyCreateRejectsBadExpiry) {
  ASSERT_EQ(AddCluster().code, 0);
  for (const char* bad : {"30", "30y", "-1d", "0d", "d"}) {
    Run r = Cli({"apikey", "create", "--store", store_, "--cluster", "prod", "--namespace", "payments",
                 "--service-account", "api", "--expires-in", bad});
    EXPECT_EQ(r.code, kExitInput) << bad;
    EXPECT_TRUE(r.out.empty()) << bad;
  }
  EXPECT_EQ(Cli({"apikey", "create", "--store", store_, "--cluster", "nope", "--namespace", "payments",
                 "--service-account", "api"})
                .code,
            kExitIo);  // unknown cluster
}

TEST_F(CliAdminTest, ApiKeyRevoke) {
  ASSERT_EQ(AddCluster().code, 0);
  Run r = Cli({"apikey", "create", "--store", store_, "--cluster", "prod", "--namespace", "payments",
               "--service-account", "api"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto presented = edge::PresentedApiKey::Parse(r.out.substr(0, r.out.size() - 1));
  ASSERT_TRUE(presented.ok());
  clock_.Advance(5);
  ASSERT_EQ(Cli({"apikey", "revoke", "--store", store_, "--id", presented->id()}).code, 0);
  auto rec = OpenStore()->GetApiKey(presented->id());
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->revoked_at, kNow + 5);
  EXPECT_EQ(Cli({"apikey", "revoke", "--store", store_, "--id", "unknownid123"}).code, kExitIo);
}

TEST_F(CliAdminTest, SessionRevokeByPodUid) {
  ASSERT_EQ(AddCluster().code, 0);
  auto st = OpenStore();
  auto enroll = [&](const std::string& id, const std::string& uid) {
    store::Session s;
    s.id = id;
    s.cluster = "prod";
    s.namespace_ = "payments";
    s.service_account = "api";
    s.pod_name = "pod-" + uid;
    s.pod_uid = uid;
    s.jkt = "jkt-" + id;
    s.recipient_jwk = R"({"kty":"OKP","crv":"X25519","x":"AAAA"})";
    s.created_at = kNow;
    s.expires_at = kNow + 900;
    ASSERT_TRUE(st->EnrollSession(s, kNow).ok());
  };
  enroll("s1", "uid-a");
  enroll("s2", "uid-b");
  Run r = Cli({"session", "revoke", "--store", store_, "--pod-uid", "uid-a"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "revoked 1 session(s)\n");
  EXPECT_TRUE(st->GetSession("s1")->revoked);
  EXPECT_FALSE(st->GetSession("s2")->revoked);
  Run list = Cli({"session", "list", "--store", store_, "--cluster", "prod"});
  EXPECT_NE(list.out.find("s1\tprod\tpayments\tapi\tpod-uid-a\tuid-a"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("revoked"), std::string::npos);
  EXPECT_NE(list.out.find("active"), std::string::npos);
  ASSERT_EQ(Cli({"session", "revoke", "--store", store_, "--id", "s2"}).code, 0);
  EXPECT_TRUE(st->GetSession("s2")->revoked);
}

TEST_F(CliAdminTest, SessionRevokeNeedsOneSelector) {
  EXPECT_EQ(Cli({"session", "revoke", "--store", store_}).code, kExitUsage);
  EXPECT_EQ(Cli({"session", "revoke", "--store", store_, "--id", "a", "--pod-uid", "b"}).code, kExitUsage);
}

TEST_F(CliAdminTest, AuditVerifyDetectsEdit) {
  const std::string log = dir_ + "/audit.jsonl";
  {
    auto sink = audit::FileAuditLog::Open(log, clock_);
    ASSERT_TRUE(sink.ok());
    for (const char* ns : {"a", "b", "c", "d"}) {
      audit::AuditEvent e;
      e.event = "unwrap";
      e.namespace_ = ns;
      ASSERT_TRUE((*sink)->Append(e).ok());
    }
  }
  Run ok = Cli({"audit", "verify", log});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("4 lines"), std::string::npos) << ok.out;

  const std::string text = ReadAllFile(log);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l + "\n");
  ASSERT_EQ(lines.size(), 4u);
  auto verify = [&](const std::string& content) {
    const std::string copy = dir_ + "/copy.jsonl";
    WriteFile(copy, content);
    return Cli({"audit", "verify", copy});
  };
  std::string edited = text;
  edited.replace(edited.find("\"b\""), 3, "\"x\"");  // edit line 2
  Run e = verify(edited);
  EXPECT_EQ(e.code, kExitCrypto);
  EXPECT_NE(e.err.find("line 3"), std::string::npos) << e.err;
  Run del = verify(lines[0] + lines[2] + lines[3]);  // delete line 2
  EXPECT_EQ(del.code, kExitCrypto);
  EXPECT_NE(del.err.find("line 2"), std::string::npos) << del.err;
  Run swap = verify(lines[0] + lines[2] + lines[1] + lines[3]);  // reorder
  EXPECT_EQ(swap.code, kExitCrypto);
  EXPECT_NE(swap.err.find("line 2"), std::string::npos) << swap.err;
  EXPECT_EQ(Cli({"audit", "verify", dir_ + "/missing.jsonl"}).code, kExitIo);
}

class KeyCommandsTest : public CliAdminTest {
 protected:
  void SetUp() override {
    CliAdminTest::SetUp();
    Run k = Cli({"keygen", "--out", dir_ + "/keys"});
    ASSERT_EQ(k.code, 0) << k.err;
    keys_ = dir_ + "/keys/org-key.jwk";
    Run s = Cli({"seal", "--public-key", dir_ + "/keys/org-key.pub.jwk", "--cluster", "prod", "--namespace",
                 "payments", "--service-account", "api"},
                kPlainYaml);
    ASSERT_EQ(s.code, 0) << s.err;
    sealed_ = s.out;
    old_kid_ = capsule::OrgKeySet::LoadFile(keys_)->active().kid();
  }
  std::string keys_, sealed_, old_kid_;
};

TEST_F(KeyCommandsTest, KeyRotateKeepsRetired) {
  Run r = Cli({"key", "rotate", "--keys", keys_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("\"d\""), std::string::npos) << "private material printed";
  auto set = capsule::OrgKeySet::LoadFile(keys_);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->size(), 2u);
  EXPECT_NE(set->active().kid(), old_kid_);
  EXPECT_NE(set->Find(old_kid_), nullptr);
  EXPECT_NE(r.out.find(set->active().kid()), std::string::npos);
  // Values sealed before the rotation still open.
  Run u = Cli({"unseal", "--org-key", keys_}, sealed_);
  EXPECT_EQ(u.code, 0) << u.err;
}

TEST_F(KeyCommandsTest, ResealOpensWithNewKey) {
  ASSERT_EQ(Cli({"key", "rotate", "--keys", keys_}).code, 0);
  Run r = Cli({"reseal", "--keys", keys_}, sealed_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("hunter2"), std::string::npos);
  EXPECT_EQ(r.out.find(B64Encode(std::string_view("hunter2-plaintext"))), std::string::npos);
  // A key set holding only the new active key opens the resealed Secret and
  // not the original one.
  auto set = capsule::OrgKeySet::LoadFile(keys_);
  ASSERT_TRUE(set.ok());
  const std::string new_only = dir_ + "/new-only.jwk";
  WriteFile(new_only, DumpJson(set->active().ToPrivateJwk()));
  auto only = capsule::OrgKeySet::LoadFile(new_only);
  ASSERT_TRUE(only.ok()) << only.status().ToString();
  auto resealed = ParseManifest(r.out);
  ASSERT_TRUE(resealed.ok());
  auto plain = UnsealSecret(*resealed, *only);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ((*plain)["data"]["password"], B64Encode(std::string_view("hunter2-plaintext")));
  auto original = ParseManifest(sealed_);
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(UnsealSecret(*original, *only).status().code(), Code::kUnknownKey);
}

TEST_F(KeyCommandsTest, ResealRejectsUnsealedSecret) {
  Run r = Cli({"reseal", "--keys", keys_}, kPlainYaml);
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_TRUE(r.out.empty());
}

// ---------------------------------------------------------------- processes

class ServeTest : public CliAdminTest {
 protected:
  void SetUp() override {
    CliAdminTest::SetUp();
    auto pki = net::testing::TestPki::Create();
    ASSERT_TRUE(pki.ok());
    pki_ = std::make_unique<net::testing::TestPki>(std::move(pki).value());
    auto files = pki_->WriteFiles(dir_);
    ASSERT_TRUE(files.ok());
    ASSERT_EQ(Cli({"keygen", "--out", dir_ + "/keys"}).code, 0);
    config_ = dir_ + "/edge.yaml";
    config_text_ = "listen:\n  address: 127.0.0.1\n  port: 0\ntls:\n  cert_file: " + files->server_cert +
                   "\n  key_file: " + files->server_key +
                   "\nexternal_base_url: https://127.0.0.1\nstore:\n  backend: sqlite\n  path: " + store_ +
                   "\ncvs:\n  mode: embedded\n  org_keys: " + dir_ + "/keys/org-key.jwk\naudit_log: " + dir_ +
                   "/audit.jsonl\n";
    WriteFile(config_, config_text_);
  }
  std::unique_ptr<net::testing::TestPki> pki_;
  std::string config_, config_text_;
};

TEST_F(ServeTest, ServeRejectsBadConfig) {
  WriteFile(config_, config_text_ + "surprise: 1\n");
  Run r = Cli({"serve", "--config", config_});
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_NE(r.err.find("surprise"), std::string::npos) << r.err;
  std::string remote = config_text_;
  remote.replace(remote.find("mode: embedded"), 14, "mode: remote");
  WriteFile(config_, remote);
  EXPECT_EQ(Cli({"serve", "--config", config_}).code, kExitInput);
  EXPECT_EQ(Cli({"serve", "--config", dir_ + "/missing.yaml"}).code, kExitInput);
  WriteFile(config_, config_text_);
  EXPECT_EQ(Cli({"edge", "--config", config_}).code, kExitInput);  // edge alone needs cvs.mode remote
  WriteFile(config_, "listen: {port: 1}\n");
  EXPECT_EQ(Cli({"cvs", "--config", config_}).code, kExitInput);
}

#ifdef ASTIS_CLI_BINARY
TEST_F(ServeTest, ServeStartsAndStops) {
  int errpipe[2];
  ASSERT_EQ(::pipe(errpipe), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(errpipe[1], 2);
    ::close(errpipe[0]);
    ::close(errpipe[1]);
    ::execl(ASTIS_CLI_BINARY, "astis", "serve", "--config", config_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(errpipe[1]);
  // Read stderr until the bound port is announced.
  std::string err;
  uint16_t port = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (port == 0 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{errpipe[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[512];
    ssize_t n = ::read(errpipe[0], buf, sizeof buf);
    if (n <= 0) break;
    err.append(buf, static_cast<size_t>(n));
    const std::string marker = "serving on 127.0.0.1:";
    size_t at = err.find(marker);
    if (at != std::string::npos && err.find('\n', at) != std::string::npos) {
      port = static_cast<uint16_t>(std::stoi(err.substr(at + marker.size())));
    }
  }
  bool healthy = false;
  if (port != 0) {
    auto client = net::HttpsClient::Create("https://127.0.0.1:" + std::to_string(port), pki_->ClientTls());
    ASSERT_TRUE(client.ok());
    net::HttpRequest req;
    req.target = "/healthz";
    auto resp = (*client)->Send(req);
    healthy = resp.ok() && resp->status == 200;
    EXPECT_TRUE(healthy) << (resp.ok() ? std::to_string(resp->status) : resp.status().ToString());
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  pid_t done = 0;
  const auto stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < stop_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // bounded poll of the child's exit, not a sync
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ADD_FAILURE() << "astis serve did not exit within 10 s of SIGTERM";
  }
  ::close(errpipe[0]);
  ASSERT_NE(port, 0) << err;
  EXPECT_TRUE(WIFEXITED(status)) << err;
  EXPECT_EQ(WEXITSTATUS(status), 0) << err;
  EXPECT_EQ(::kill(pid, 0), -1);  // reaped: no process left
}
#endif

}  // namespace
}  // namespace astis::cli
