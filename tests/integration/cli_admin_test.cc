// Tests of the `astis` operator commands (docs/admin.md): admin commands over
// the store in-process through RunCli (organisations, --org, workload images,
// apply/diff: CliOrgTest), audit verify, key rotate / reseal, and `astis
// serve` and `astis cluster list` as real child processes
// (ServeStartsAndStops, CliOrgTest.RealBinaryHonoursAstisOrg).
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

#include "admin/https_api.h"
#include "audit/audit_log.h"
#include "audit/org_audit_router.h"
#include "capsule/org_key.h"
#include "cli/cli.h"
#include "support/cli_run.h"
#include "cli/commands.h"
#include "cli/secret_manifest.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/temp_dir.h"
#include "cvs/cvs.h"
#include "cvs/key_management.h"
#include "cvs/remote.h"
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

  using Run = integration::CliResult;

  Run Cli(std::vector<std::string> args, const std::string& stdin_text = "") {
    return integration::CliRun(std::move(args), clock_, stdin_text);
  }

  Run AddCluster(const std::string& name = "prod", const std::string& jwks = "", const std::string& token = "",
                 const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"cluster", "add", "--store", store_, "--name", name, "--issuer", kIssuer,
                                  "--audience", "astis", "--jwks-file", jwks.empty() ? jwks_ : jwks, "--api-url",
                                  "https://127.0.0.1:6443", "--ca-file", dir_ + "/ca.pem", "--token-file",
                                  token.empty() ? dir_ + "/token" : token, "--mode", "strict"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Cli(std::move(args));
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

// A second `cluster add` of a registered name is refused (exit code of
// kAlreadyExists) with a message naming --replace, and changes nothing;
// with --replace it replaces. `cluster add --help` says so.
TEST_F(CliAdminTest, ClusterAddRefusesExistingWithoutReplace) {
  ASSERT_EQ(AddCluster().code, 0);
  Run again = AddCluster("prod", "", dir_ + "/other.token");
  EXPECT_EQ(again.code, ExitCodeFor(Error(Code::kAlreadyExists, "x"))) << again.err;
  EXPECT_NE(again.err.find("already registered"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("--replace"), std::string::npos) << again.err;
  auto st = OpenStore();
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->GetCluster(astis::store::kDefaultOrg, "prod")->token_file, dir_ + "/token");
  Run replaced = AddCluster("prod", "", dir_ + "/other.token", {"--replace"});
  ASSERT_EQ(replaced.code, 0) << replaced.err;
  EXPECT_EQ(st->GetCluster(astis::store::kDefaultOrg, "prod")->token_file, dir_ + "/other.token");
  Run help = Cli({"cluster", "add", "--help"});
  EXPECT_NE(help.out.find("--replace"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("refused unless --replace"), std::string::npos) << help.out;
}

TEST_F(CliAdminTest, ClusterCommandsNeedStore) {
  EXPECT_EQ(Cli({"cluster", "list"}).code, kExitInput);
}

// A typo in --store must not answer with a new, empty store: the commands
// that only read (or remove) refuse a store that does not exist, kNotFound
// (exit 4), and create nothing; the commands that add create it.
TEST_F(CliAdminTest, ReadOnlyCommandsRefuseAMissingStore) {
  const std::string typo = dir_ + "/typo.db";
  const std::vector<std::vector<std::string>> readers = {
      {"cluster", "list"},           {"org", "list"},    {"workload", "list"},
      {"apikey", "list"},            {"session", "list"}, {"cluster", "remove", "--name", "prod"},
      {"apikey", "revoke", "--id", "k"}, {"cluster", "jwks", "fetch", "--name", "prod"},
  };
  for (std::vector<std::string> args : readers) {
    args.insert(args.end(), {"--store", typo});
    Run r = Cli(args);
    EXPECT_EQ(r.code, kExitIo) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_NE(r.err.find("no store at " + typo), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(typo)) << args[0] << " " << args[1] << " created the store";
  }
  // A command that adds creates it; the readers then open it.
  store_ = typo;
  ASSERT_EQ(AddCluster().code, 0);
  Run list = Cli({"cluster", "list", "--store", typo});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("prod"), std::string::npos);
}

#ifdef ASTIS_CLI_BINARY
// The real binary: the message and the exit code a user sees.
TEST_F(CliAdminTest, RealBinaryRefusesAMissingStore) {
  const std::string typo = dir_ + "/typo.db", err = dir_ + "/err.txt";
  const std::string cmd = std::string(ASTIS_CLI_BINARY) + " cluster list --store " + typo + " 2>" + err;
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), kExitIo);
  EXPECT_NE(ReadAllFile(err).find("astis cluster list: "), std::string::npos) << ReadAllFile(err);
  EXPECT_NE(ReadAllFile(err).find("no store at " + typo + "; create it with `astis serve` or an `add` command"),
            std::string::npos)
      << ReadAllFile(err);
  EXPECT_FALSE(std::filesystem::exists(typo));
}
#endif

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

// A rotated set verifies as one chain; a missing or edited file is named.
TEST_F(CliAdminTest, AuditVerifyRotatedSet) {
  const std::string log = dir_ + "/rotated.jsonl";
  audit::FileAuditOptions options;
  options.max_file_bytes = 400;
  {
    auto sink = audit::FileAuditLog::Open(log, clock_, options);
    ASSERT_TRUE(sink.ok());
    for (int i = 0; i < 12; ++i) {
      audit::AuditEvent e;
      e.event = "unwrap";
      e.namespace_ = "ns-" + std::to_string(i);
      ASSERT_TRUE((*sink)->Append(e).ok());
    }
    ASSERT_GE((*sink)->rotations(), 3u);
  }
  Run ok = Cli({"audit", "verify", log});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("12 lines in "), std::string::npos) << ok.out;

  const std::string original = ReadAllFile(audit::RotatedAuditPath(log, 1));
  std::string old = original;
  old.replace(old.find("ns-0"), 4, "ns-X");  // line 1 of the oldest file
  WriteFile(audit::RotatedAuditPath(log, 1), old);
  Run edited = Cli({"audit", "verify", log});
  EXPECT_EQ(edited.code, kExitCrypto);
  EXPECT_NE(edited.err.find(audit::RotatedAuditPath(log, 1) + ": line 2"), std::string::npos) << edited.err;

  WriteFile(audit::RotatedAuditPath(log, 1), original);
  std::filesystem::remove(audit::RotatedAuditPath(log, 2));
  Run missing = Cli({"audit", "verify", log});
  EXPECT_EQ(missing.code, kExitCrypto);
  EXPECT_NE(missing.err.find(audit::RotatedAuditPath(log, 2) + ": file missing"), std::string::npos) << missing.err;
}

// ---------------------------------------------------------------- organisations, images, apply
//
// CliOrgTest: `astis org`, --org resolution, `workload images` and
// `astis apply|diff` (docs/admin.md), with names that collide on purpose
// across organisations.
class CliOrgTest : public CliAdminTest {
 protected:
  void SetUp() override {
    CliAdminTest::SetUp();
    ::unsetenv("ASTIS_ORG");
  }
  void TearDown() override { ::unsetenv("ASTIS_ORG"); }

  Run AddOrg(const std::string& name) {
    return Cli({"org", "add", "--store", store_, "--name", name, "--tier", "standard"});
  }

  // WriteConfig writes a GitOps directory: prod.yaml (cluster prod, its JWKS
  // in jwks/prod.json) and workloads.yaml (prod/payments/api), plus extra
  // documents appended to workloads.yaml.
  std::string WriteConfig(const std::string& name, const std::string& extra = "") {
    const std::string repo = dir_ + "/" + name;
    std::filesystem::create_directories(repo + "/jwks");
    WriteFile(repo + "/jwks/prod.json", jwks_text_, 0644);
    WriteFile(repo + "/prod.yaml", std::string("apiVersion: astis.dev/v1\nkind: Cluster\nmetadata:\n  name: prod\n"
                                               "spec:\n  issuer: ") + kIssuer +
                                       "\n  jwksFile: jwks/prod.json\n  apiUrl: https://127.0.0.1:6443\n"
                                       "  caFile: /etc/astis/prod-ca.pem\n  tokenFile: /etc/astis/prod-token\n",
              0644);
    WriteFile(repo + "/workloads.yaml",
              "apiVersion: astis.dev/v1\nkind: Workload\nspec:\n  cluster: prod\n  namespace: payments\n"
              "  serviceAccount: api\n  images:\n  - " + kDigest + "\n" + extra,
              0644);
    WriteFile(repo + "/README.md", "not a document: ignored\n", 0644);
    return repo;
  }
};

TEST_F(CliOrgTest, OrgAddListRemove) {
  Run add = AddOrg("acme");
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_EQ(add.out, "organization acme added (tier standard)\n");
  const std::string ca = dir_ + "/globex-ca.pem";
  WriteFile(ca, "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n", 0644);
  Run hyok = Cli({"org", "add", "--store", store_, "--name", "globex", "--tier", "hyok", "--cvs-url",
                  "https://cvs.globex.example:8443", "--cvs-ca", ca, "--cvs-identity", "cvs.globex.example",
                  "--cvs-spki-sha256", std::string(64, 'e')});
  ASSERT_EQ(hyok.code, 0) << hyok.err;
  Run list = Cli({"org", "list", "--store", store_});
  ASSERT_EQ(list.code, 0) << list.err;
  // Name, tier and CVS URL; never the CA bundle or the pins.
  EXPECT_EQ(list.out, "NAME\tTIER\tCVS_URL\nacme\tstandard\t-\ndefault\tstandard\t-\n"
                      "globex\thyok\thttps://cvs.globex.example:8443\n");
  Run rm = Cli({"org", "remove", "--store", store_, "--name", "acme"});
  ASSERT_EQ(rm.code, 0) << rm.err;
  EXPECT_EQ(rm.out, "organization acme removed\n");
  auto st = OpenStore();
  EXPECT_EQ(st->GetOrganization("acme").status().code(), Code::kNotFound);
  auto trail = st->ListConfigAudit(std::string("acme"), 0, 10);
  ASSERT_TRUE(trail.ok());
  ASSERT_EQ(trail->size(), 2u);
  EXPECT_EQ((*trail)[0].action, "org.add");
  EXPECT_EQ((*trail)[1].action, "org.remove");
  EXPECT_EQ(Cli({"org", "remove", "--store", store_, "--name", "acme"}).code, kExitIo);  // not found
}

TEST_F(CliOrgTest, OrgAddNamesTheFlag) {
  Run no_url = Cli({"org", "add", "--store", store_, "--name", "globex", "--tier", "hyok"});
  EXPECT_EQ(no_url.code, kExitInput);
  EXPECT_NE(no_url.err.find("--cvs-url: required for --tier hyok"), std::string::npos) << no_url.err;
  Run no_ca = Cli({"org", "add", "--store", store_, "--name", "globex", "--tier", "hyok", "--cvs-url",
                   "https://cvs.globex.example", "--cvs-ca", dir_ + "/missing.pem", "--cvs-identity", "cvs"});
  EXPECT_NE(no_ca.code, 0);
  EXPECT_NE(no_ca.err.find("--cvs-ca: "), std::string::npos) << no_ca.err;
  Run bad_name = Cli({"org", "add", "--store", store_, "--name", "Globex_Inc", "--tier", "standard"});
  EXPECT_EQ(bad_name.code, kExitInput);
  EXPECT_NE(bad_name.err.find("--name: "), std::string::npos) << bad_name.err;
  EXPECT_EQ(Cli({"org", "list", "--store", store_}).out, "NAME\tTIER\tCVS_URL\ndefault\tstandard\t-\n");
}

TEST_F(CliOrgTest, OrgRemoveRefusedWhileInUse) {
  ASSERT_EQ(AddCluster().code, 0);
  Run refused = Cli({"org", "remove", "--store", store_, "--name", "default"});
  EXPECT_EQ(refused.code, kExitInput);
  EXPECT_NE(refused.err.find("still has clusters or API keys (--force removes them too)"), std::string::npos)
      << refused.err;
  EXPECT_TRUE(OpenStore()->GetCluster(store::kDefaultOrg, "prod").ok());
  Run forced = Cli({"org", "remove", "--store", store_, "--name", "default", "--force"});
  ASSERT_EQ(forced.code, 0) << forced.err;
  EXPECT_EQ(OpenStore()->GetCluster(store::kDefaultOrg, "prod").status().code(), Code::kNotFound);
}

TEST_F(CliOrgTest, OrgMayBeLeftOutWhileOnlyOneExists) {
  ASSERT_EQ(AddCluster().code, 0);
  Run implicit = Cli({"cluster", "list", "--store", store_});
  Run named = Cli({"cluster", "list", "--store", store_, "--org", "default"});
  ASSERT_EQ(implicit.code, 0) << implicit.err;
  EXPECT_EQ(implicit.out, named.out);
  EXPECT_NE(implicit.out.find("prod\tstrict"), std::string::npos);
}

TEST_F(CliOrgTest, OrgRequiredWhenSeveralExist) {
  ASSERT_EQ(AddCluster().code, 0);
  ASSERT_EQ(AddOrg("acme").code, 0);
  Run missing = Cli({"cluster", "list", "--store", store_});
  EXPECT_EQ(missing.code, kExitInput);
  EXPECT_NE(missing.err.find("--org: required: 2 organizations exist"), std::string::npos) << missing.err;
  EXPECT_EQ(AddCluster("dev").code, kExitInput);
  Run acme = Cli({"cluster", "list", "--store", store_, "--org", "acme"});
  ASSERT_EQ(acme.code, 0) << acme.err;
  EXPECT_EQ(acme.out, "NAME\tMODE\tISSUER\tAUDIENCE\tAPI_URL\n");
  ::setenv("ASTIS_ORG", "default", 1);
  Run from_env = Cli({"cluster", "list", "--store", store_});
  ASSERT_EQ(from_env.code, 0) << from_env.err;
  EXPECT_NE(from_env.out.find("prod\tstrict"), std::string::npos);
  // --org wins over $ASTIS_ORG.
  EXPECT_EQ(Cli({"cluster", "list", "--store", store_, "--org", "acme"}).out, acme.out);
}

TEST_F(CliOrgTest, UnknownOrgIsNotFound) {
  ASSERT_NE(OpenStore(), nullptr);  // an existing store: `cluster list` creates none
  Run r = Cli({"cluster", "list", "--store", store_, "--org", "nope"});
  EXPECT_EQ(r.code, kExitIo);
  EXPECT_NE(r.err.find("organization nope not found"), std::string::npos) << r.err;
  Run add = Cli({"workload", "add", "--store", store_, "--org", "nope", "--cluster", "prod", "--namespace", "p",
                 "--service-account", "a", "--image", kDigest});
  EXPECT_NE(add.err.find("organization nope not found"), std::string::npos) << add.err;
}

TEST_F(CliOrgTest, WorkloadImagesAddRemove) {
  const std::string b = "sha256:" + std::string(64, 'b');
  const std::string c = "sha256:" + std::string(64, 'c');
  ASSERT_EQ(AddCluster().code, 0);
  ASSERT_EQ(Cli({"workload", "add", "--store", store_, "--cluster", "prod", "--namespace", "payments",
                 "--service-account", "api", "--image", kDigest})
                .code,
            0);
  Run add = Cli({"workload", "images", "add", "--store", store_, "--cluster", "prod", "--namespace", "payments",
                 "--service-account", "api", "--image", c, "--image", b});
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_EQ(add.out, "workload prod/payments/api allows 3 image digest(s):\n" + kDigest + "\n" + b + "\n" + c + "\n");
  Run rm = Cli({"workload", "images", "remove", "--store", store_, "--cluster", "prod", "--namespace", "payments",
                "--service-account", "api", "--image", kDigest});
  ASSERT_EQ(rm.code, 0) << rm.err;
  EXPECT_EQ(rm.out, "workload prod/payments/api allows 2 image digest(s):\n" + b + "\n" + c + "\n");
  auto trail = OpenStore()->ListConfigAudit(std::nullopt, 0, 10);
  ASSERT_TRUE(trail.ok());
  EXPECT_EQ(trail->back().action, "workload.images");
}

TEST_F(CliOrgTest, WorkloadImagesRejectsTag) {
  ASSERT_EQ(AddCluster().code, 0);
  ASSERT_EQ(Cli({"workload", "add", "--store", store_, "--cluster", "prod", "--namespace", "payments",
                 "--service-account", "api", "--image", kDigest})
                .code,
            0);
  Run r = Cli({"workload", "images", "add", "--store", store_, "--cluster", "prod", "--namespace", "payments",
               "--service-account", "api", "--image", "registry.example/api:1.2"});
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_NE(r.err.find("--image #1: must be sha256:"), std::string::npos) << r.err;
  EXPECT_EQ(OpenStore()->GetWorkload(store::kDefaultOrg, "prod", "payments", "api")->image_digests,
            std::vector<std::string>{kDigest});
}

TEST_F(CliOrgTest, WorkloadImagesUnknownWorkload) {
  ASSERT_EQ(AddCluster().code, 0);
  Run r = Cli({"workload", "images", "add", "--store", store_, "--cluster", "prod", "--namespace", "payments",
               "--service-account", "nobody", "--image", kDigest});
  EXPECT_EQ(r.code, kExitIo);  // not found
  EXPECT_NE(r.err.find("astis workload images add: "), std::string::npos) << r.err;
}

TEST_F(CliOrgTest, ApplyIsIdempotent) {
  const std::string repo = WriteConfig("repo");
  Run first = Cli({"apply", "--store", store_, "-f", repo});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(first.out, "cluster/prod created\nworkload/prod/payments/api created\n");
  auto st = OpenStore();
  auto c = st->GetCluster(store::kDefaultOrg, "prod");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->jwks_json, jwks_text_);
  EXPECT_EQ(c->ca_file, "/etc/astis/prod-ca.pem");
  Run second = Cli({"apply", "--store", store_, "-f", repo});
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(second.out, "cluster/prod unchanged\nworkload/prod/payments/api unchanged\n");
  auto trail = st->ListConfigAudit(std::nullopt, 0, 10);
  ASSERT_TRUE(trail.ok());
  ASSERT_EQ(trail->size(), 1u);  // the apply that changed nothing is not audited
  EXPECT_EQ((*trail)[0].action, "config.apply");
}

TEST_F(CliOrgTest, DiffChangesNothing) {
  const std::string repo = WriteConfig("repo");
  ASSERT_NE(OpenStore(), nullptr);  // an existing, empty store: diff creates none
  Run diff = Cli({"diff", "--store", store_, "-f", repo});
  ASSERT_EQ(diff.code, 0) << diff.err;
  EXPECT_EQ(diff.out, "cluster/prod created\nworkload/prod/payments/api created\n");
  EXPECT_EQ(OpenStore()->GetCluster(store::kDefaultOrg, "prod").status().code(), Code::kNotFound);
  ASSERT_EQ(Cli({"apply", "--store", store_, "-f", repo}).code, 0);
  WriteFile(repo + "/workloads.yaml", "apiVersion: astis.dev/v1\nkind: Workload\nspec:\n  cluster: prod\n"
                                      "  namespace: payments\n  serviceAccount: api\n  images:\n  - sha256:" +
                                          std::string(64, 'f') + "\n", 0644);
  Run changed = Cli({"diff", "--store", store_, "-f", repo});
  EXPECT_EQ(changed.out, "cluster/prod unchanged\nworkload/prod/payments/api updated\n");
  EXPECT_EQ(OpenStore()->GetWorkload(store::kDefaultOrg, "prod", "payments", "api")->image_digests,
            std::vector<std::string>{kDigest});
}

TEST_F(CliOrgTest, ApplyBadDocumentWritesNothing) {
  // The second document of workloads.yaml has a tag: nothing of the apply,
  // not even the good cluster in prod.yaml, is written.
  const std::string repo = WriteConfig("repo", "---\napiVersion: astis.dev/v1\nkind: Workload\nspec:\n"
                                               "  cluster: prod\n  namespace: web\n  serviceAccount: front\n"
                                               "  images:\n  - nginx:latest\n");
  Run r = Cli({"apply", "--store", store_, "-f", repo});
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_NE(r.err.find(repo + "/workloads.yaml: document 2 (Workload/prod/web/front): spec.images[0]: must be "
                              "sha256:"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
  auto st = OpenStore();
  EXPECT_TRUE(st->ListClusters(std::nullopt)->empty());
  EXPECT_TRUE(st->ListConfigAudit(std::nullopt, 0, 10)->empty());
}

TEST_F(CliOrgTest, ApplyPrunesOnlyThatOrganization) {
  ASSERT_EQ(AddOrg("acme").code, 0);
  // Both organisations declare prod, prod/payments/api and a second cluster dev.
  const std::string dev = std::string("---\napiVersion: astis.dev/v1\nkind: Cluster\nmetadata:\n  name: dev\n"
                                      "spec:\n  issuer: https://dev\n  jwksFile: jwks/prod.json\n"
                                      "  apiUrl: https://10.0.0.2:6443\n  caFile: /ca\n  tokenFile: /token\n");
  const std::string full = WriteConfig("full", dev);
  for (const char* org : {"default", "acme"}) {
    Run r = Cli({"apply", "--store", store_, "--org", org, "-f", full});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const std::string smaller = WriteConfig("smaller");
  Run pruned = Cli({"apply", "--store", store_, "--org", "acme", "--prune", "-f", smaller});
  ASSERT_EQ(pruned.code, 0) << pruned.err;
  EXPECT_EQ(pruned.out, "cluster/dev deleted\ncluster/prod unchanged\nworkload/prod/payments/api unchanged\n");
  auto st = OpenStore();
  EXPECT_EQ(st->ListClusters(std::string("acme"))->size(), 1u);
  EXPECT_EQ(st->ListClusters(std::string("default"))->size(), 2u);  // same names, other organisation: kept
  // Without --org the documents' own metadata.org is used; a conflict is refused.
  const std::string tagged = dir_ + "/tagged.yaml";
  WriteFile(tagged, "apiVersion: astis.dev/v1\nkind: Workload\nmetadata:\n  org: acme\nspec:\n  cluster: prod\n"
                    "  namespace: payments\n  serviceAccount: api\n  images:\n  - " + kDigest + "\n", 0644);
  Run by_doc = Cli({"diff", "--store", store_, "-f", tagged});
  ASSERT_EQ(by_doc.code, 0) << by_doc.err;
  EXPECT_EQ(by_doc.out, "workload/prod/payments/api unchanged\n");
  Run conflict = Cli({"diff", "--store", store_, "--org", "default", "-f", tagged});
  EXPECT_EQ(conflict.code, kExitInput);
  EXPECT_NE(conflict.err.find("--org: the documents' metadata.org is another organization"), std::string::npos);
}

TEST_F(CliOrgTest, ApplyEmptyDirectoryRefused) {
  ASSERT_EQ(Cli({"apply", "--store", store_, "-f", WriteConfig("repo")}).code, 0);
  const std::string empty = dir_ + "/empty";
  std::filesystem::create_directories(empty);
  Run r = Cli({"apply", "--store", store_, "--prune", "-f", empty});
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_NE(r.err.find("-f " + empty + ": no .yaml, .yml or .json file"), std::string::npos) << r.err;
  EXPECT_TRUE(OpenStore()->GetCluster(store::kDefaultOrg, "prod").ok());
}

#ifdef ASTIS_CLI_BINARY
// The real binary: $ASTIS_ORG selects the organisation.
TEST_F(CliOrgTest, RealBinaryHonoursAstisOrg) {
  ASSERT_EQ(AddOrg("acme").code, 0);
  ASSERT_EQ(AddCluster().code, kExitInput);  // two organisations, no --org
  const std::string out = dir_ + "/out.txt", err = dir_ + "/err.txt";
  auto run = [&](const std::string& env) {
    const std::string cmd = env + " " + ASTIS_CLI_BINARY + " cluster list --store " + store_ + " >" + out + " 2>" + err;
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(run("ASTIS_ORG=acme"), 0) << ReadAllFile(err);
  EXPECT_EQ(ReadAllFile(out), "NAME\tMODE\tISSUER\tAUDIENCE\tAPI_URL\n");
  EXPECT_EQ(run("ASTIS_ORG="), kExitInput);
  EXPECT_NE(ReadAllFile(err).find("--org: required"), std::string::npos) << ReadAllFile(err);
  EXPECT_EQ(run("ASTIS_ORG=nope"), kExitIo);
  EXPECT_NE(ReadAllFile(err).find("organization nope not found"), std::string::npos) << ReadAllFile(err);
}
#endif

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

// `astis serve` after a kill mid-append (docs/audit-log.md "Torn tail"):
// the torn last line is truncated and recorded on start, and with
// audit_sink: both the same line reaches stdout; verify passes after it.
TEST_F(ServeTest, ServeRepairsTornAuditTailAndMirrorsStdout) {
  const std::string log = dir_ + "/audit.jsonl";
  {
    auto sink = audit::FileAuditLog::Open(log, clock_);
    ASSERT_TRUE(sink.ok());
    audit::AuditEvent e;
    e.event = "unwrap";
    ASSERT_TRUE((*sink)->Append(e).ok());
    ASSERT_TRUE((*sink)->Append(e).ok());
  }
  WriteFile(log, ReadAllFile(log) + "{\"seq\":3,\"prev\":\"0a1b");  // cut mid-line by a kill
  EXPECT_EQ(Cli({"audit", "verify", log}).code, kExitCrypto);
  WriteFile(config_, config_text_ + "audit_sink: both\naudit_log_max_bytes: 65536\n");
  int errpipe[2];
  int outpipe[2];
  ASSERT_EQ(::pipe(errpipe), 0);
  ASSERT_EQ(::pipe(outpipe), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(errpipe[1], 2);
    ::dup2(outpipe[1], 1);
    ::close(errpipe[0]);
    ::close(errpipe[1]);
    ::close(outpipe[0]);
    ::close(outpipe[1]);
    ::execl(ASTIS_CLI_BINARY, "astis", "serve", "--config", config_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(errpipe[1]);
  ::close(outpipe[1]);
  std::string err;
  bool serving = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!serving && std::chrono::steady_clock::now() < deadline) {
    pollfd p{errpipe[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[512];
    ssize_t n = ::read(errpipe[0], buf, sizeof buf);
    if (n <= 0) break;
    err.append(buf, static_cast<size_t>(n));
    serving = err.find("serving on 127.0.0.1:") != std::string::npos;
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(outpipe[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(errpipe[0]);
  ::close(outpipe[0]);
  ASSERT_TRUE(serving) << err;
  Run verified = Cli({"audit", "verify", log});
  EXPECT_EQ(verified.code, 0) << verified.err;
  EXPECT_NE(verified.out.find("3 lines"), std::string::npos) << verified.out;
  const std::string text = ReadAllFile(log);
  const size_t last = text.rfind('\n', text.size() - 2);
  ASSERT_NE(last, std::string::npos);
  EXPECT_NE(text.find("audit.torn_tail"), std::string::npos) << text;
  EXPECT_EQ(out, text.substr(last + 1)) << out;  // the same line on stdout
}
#endif

// ---------------------------------------------------------------- org keys, trails, --server

class CliOrgKeyTest : public CliOrgTest {};

TEST_F(CliOrgKeyTest, CreatePrintsOnlyThePublicJwk) {
  const std::string keys = dir_ + "/cvs-keys";
  std::filesystem::create_directory(keys);
  ::chmod(keys.c_str(), 0700);
  Run create = Cli({"org", "key", "create", "--org", "acme", "--keys-dir", keys});
  ASSERT_EQ(create.code, 0) << create.err;
  auto jwk = ParseJson(create.out);
  ASSERT_TRUE(jwk.ok()) << create.out;
  EXPECT_EQ(jwk->value("kty", ""), "OKP");
  EXPECT_FALSE(jwk->contains("d")) << "the private key was printed";
  EXPECT_EQ(create.err.find("\"d\""), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((keys + "/acme.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The key set the CVS will use opens what is sealed to the printed key.
  auto set = capsule::OrgKeySet::LoadFile(keys + "/acme.json");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->active().kid(), jwk->value("kid", ""));
  // A second create is refused (it would drop the key sealed values need).
  EXPECT_NE(Cli({"org", "key", "create", "--org", "acme", "--keys-dir", keys}).code, 0);
  Run rotate = Cli({"org", "key", "rotate", "--org", "acme", "--keys-dir", keys});
  ASSERT_EQ(rotate.code, 0) << rotate.err;
  auto rotated = capsule::OrgKeySet::LoadFile(keys + "/acme.json");
  ASSERT_TRUE(rotated.ok());
  EXPECT_NE(rotated->active().kid(), set->active().kid());
  EXPECT_NE(rotate.err.find("retired"), std::string::npos) << rotate.err;
  // Refusals: no organisation, not a label, no directory.
  EXPECT_NE(Cli({"org", "key", "create", "--keys-dir", keys}).code, 0);
  EXPECT_NE(Cli({"org", "key", "create", "--org", "../x", "--keys-dir", keys}).code, 0);
  EXPECT_NE(Cli({"org", "key", "create", "--org", "globex"}).code, 0);
}

TEST_F(CliOrgKeyTest, RemoteCvsGeneratesTheKey) {
  // A remote ASTIS CVS (cvs.mode remote) with a key directory: the key is
  // generated inside it, through its custody endpoint, as the edge.
  const std::string keys = dir_ + "/remote-cvs-keys";
  std::filesystem::create_directory(keys);
  ::chmod(keys.c_str(), 0700);
  auto pki = net::testing::TestPki::Create();
  ASSERT_TRUE(pki.ok());
  auto edge_cert = pki->IssueClientCert("astis-edge");
  ASSERT_TRUE(edge_cert.ok());
  cvs::CvsService service(cvs::OrgKeySets{}, DefaultRandom());
  cvs::KeyDirectoryCustodian custodian(keys, service, DefaultRandom());
  cvs::CvsServerConfig sc;
  sc.tls = pki->ServerTls();
  sc.tls.client_ca_pem = pki->ca_cert_pem();
  sc.tls.pinned_client_cert_sha256 = {edge_cert->sha256};
  sc.custodian = &custodian;
  auto server = cvs::StartCvsServer(std::move(sc), service);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  WriteFile(dir_ + "/cvs-ca.pem", pki->ca_cert_pem(), 0644);
  WriteFile(dir_ + "/edge-client.pem", edge_cert->cert_pem, 0644);
  WriteFile(dir_ + "/edge-client.key", std::string(edge_cert->key_pem.RevealString()));
  WriteFile(dir_ + "/edge.yaml",
            "tls: {cert_file: /unused.crt, key_file: /unused.key}\n"
            "external_base_url: https://edge.example\n"
            "store: {backend: sqlite, path: " + store_ + "}\n"
            "cvs:\n  mode: remote\n  url: https://127.0.0.1:" + std::to_string((*server)->port()) + "\n"
            "  ca_file: " + dir_ + "/cvs-ca.pem\n  client_cert_file: " + dir_ + "/edge-client.pem\n"
            "  client_key_file: " + dir_ + "/edge-client.key\n"
            "  server_cert_sha256: " + HexEncode(pki->server().sha256) + "\n"
            "audit_log: " + dir_ + "/audit.log\n", 0644);
  Run create = Cli({"org", "key", "create", "--org", "acme", "--config", dir_ + "/edge.yaml"});
  ASSERT_EQ(create.code, 0) << create.err;
  auto jwk = ParseJson(create.out);
  ASSERT_TRUE(jwk.ok()) << create.out;
  EXPECT_FALSE(jwk->contains("d"));
  EXPECT_NE(create.err.find("the ASTIS CVS at https://127.0.0.1:"), std::string::npos) << create.err;
  auto set = capsule::OrgKeySet::LoadFile(keys + "/acme.json");
  ASSERT_TRUE(set.ok()) << "the key is not in the CVS's directory: " << set.status().ToString();
  EXPECT_EQ(set->active().kid(), jwk->value("kid", ""));
  Run rotate = Cli({"org", "key", "rotate", "--org", "acme", "--config", dir_ + "/edge.yaml"});
  ASSERT_EQ(rotate.code, 0) << rotate.err;
  EXPECT_EQ(Cli({"org", "key", "create", "--org", "acme", "--config", dir_ + "/edge.yaml"}).code, kExitIo);
}

TEST_F(CliOrgKeyTest, AuditVerifyOrgVerifiesThatTrail) {
  const std::string log = dir_ + "/audit.log";
  {
    auto main = audit::FileAuditLog::Open(log, clock_);
    ASSERT_TRUE(main.ok());
    audit::OrgAuditRouter router(**main, log, clock_);
    audit::AuditEvent e;
    e.event = "unwrap";
    e.org = "acme";
    ASSERT_TRUE(router.Append(e).ok());
    ASSERT_TRUE(router.Append(e).ok());
    e.org = "";
    ASSERT_TRUE(router.Append(e).ok());
  }
  Run acme = Cli({"audit", "verify", log, "--org", "acme"});
  ASSERT_EQ(acme.code, 0) << acme.err;
  EXPECT_NE(acme.out.find("2 lines"), std::string::npos) << acme.out;
  Run main = Cli({"audit", "verify", log});
  ASSERT_EQ(main.code, 0) << main.err;
  EXPECT_NE(main.out.find("1 lines"), std::string::npos) << main.out;
  // A tampered organisation trail fails on its own.
  std::string text = ReadAllFile(audit::OrgTrailPath(log, "acme"));
  text.replace(text.find("unwrap"), 6, "unwraq");
  WriteFile(audit::OrgTrailPath(log, "acme"), text);
  EXPECT_EQ(Cli({"audit", "verify", log, "--org", "acme"}).code, kExitCrypto);
  EXPECT_NE(Cli({"audit", "verify", log, "--org", "../etc"}).code, 0);
}

TEST_F(CliOrgKeyTest, ServerFlagRunsThroughTheRemoteAdminApi) {
  ASSERT_EQ(AddOrg("acme").code, 0);
  ASSERT_EQ(AddOrg("globex").code, 0);
  auto st = OpenStore();
  ASSERT_NE(st, nullptr);
  auto pki = net::testing::TestPki::Create();
  ASSERT_TRUE(pki.ok());
  admin::AdminHttpsOptions options;
  options.api_key_generator = [](Random& r) -> Result<admin::NewApiKey> {
    ASTIS_ASSIGN_OR_RETURN(edge::GeneratedApiKey k, edge::GenerateApiKey(r));
    return admin::NewApiKey{std::move(k.id), std::move(k.header_value), k.hash};
  };
  admin::AdminHttpsHandler handler(*st, clock_, DefaultRandom(), std::move(options));
  admin::AdminHttpsConfig config;
  config.tls.cert_chain_pem = pki->server().cert_pem;
  config.tls.key_pem = SecretBytes::CopyFrom(pki->server().key_pem.RevealString());
  config.tls.client_ca_pem = pki->ca_cert_pem();
  auto server = admin::StartAdminHttpsServer(std::move(config), handler);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto cert = pki->IssueClientCertWithSans("alice", {"URI:astis://admin/org-admin/acme"});
  ASSERT_TRUE(cert.ok());
  WriteFile(dir_ + "/alice.crt", cert->cert_pem);
  WriteFile(dir_ + "/alice.key", std::string(cert->key_pem.RevealString()));
  WriteFile(dir_ + "/admin-ca.pem", pki->ca_cert_pem());
  const std::vector<std::string> remote = {"--server", "https://127.0.0.1:" + std::to_string((*server)->port()),
                                           "--admin-cert", dir_ + "/alice.crt", "--admin-key", dir_ + "/alice.key",
                                           "--admin-ca", dir_ + "/admin-ca.pem"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), remote.begin(), remote.end());
    return Cli(args);
  };
  // The org-admin of acme adds a cluster to its own organisation, without --org.
  Run add = with({"cluster", "add", "--name", "prod", "--issuer", kIssuer, "--audience", "astis", "--jwks-file",
                  jwks_, "--api-url", "https://127.0.0.1:6443", "--ca-file", dir_ + "/ca.pem", "--token-file",
                  dir_ + "/token", "--mode", "strict"});
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_TRUE(st->GetCluster("acme", "prod").ok());
  Run list = with({"cluster", "list"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("prod"), std::string::npos);
  // globex answers like a missing organisation; organisations are not its business.
  Run other = with({"cluster", "list", "--org", "globex"});
  Run missing = with({"cluster", "list", "--org", "initech"});
  EXPECT_EQ(other.code, kExitIo);
  EXPECT_EQ(other.err, missing.err.substr(0, missing.err.size()));
  EXPECT_NE(with({"org", "add", "--name", "initech", "--tier", "standard"}).code, 0);
  auto audit = st->ListConfigAudit(std::string("acme"), 0, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_FALSE(audit->empty());
  EXPECT_EQ(audit->back().actor, "admin:alice/org-admin");
  // --server and a local store at once is a usage error.
  Run both = with({"cluster", "list", "--store", store_});
  EXPECT_NE(both.code, 0);
  EXPECT_NE(both.err.find("--server"), std::string::npos) << both.err;
}

}  // namespace
}  // namespace astis::cli
