// The edge's admin socket end to end (issue #3; docs/admin.md "Admin
// socket"): an AdminServer in-process on a real Unix socket, driven by the
// real `astis` binary (ASTIS_CLI_BINARY) and by raw protocol lines, and its
// refusals: peer uid not allowed, malformed JSON, unknown op, wrong version,
// oversize line, unsafe directory, live socket, non-socket file.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "admin/client.h"
#include "admin/operations.h"
#include "admin/server.h"
#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/testing/temp_dir.h"
#include "crypto/public_key.h"
#include "edge/gates.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace astis::admin {
namespace {

// Sessions expire far after both the fake clock and the real one, so their
// state is the same whichever side computes it.
constexpr int64_t kNow = 1'750'000'000;
constexpr int64_t kFarFuture = 4'000'000'000;
const std::string kDigest = "sha256:" + std::string(64, 'b');

Result<NewApiKey> Generate(Random& rng) {
  ASTIS_ASSIGN_OR_RETURN(edge::GeneratedApiKey key, edge::GenerateApiKey(rng));
  return NewApiKey{std::move(key.id), std::move(key.header_value), key.hash};
}

std::string ReadAllFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// RecordingSink keeps every audit event in memory.
class RecordingSink final : public audit::AuditSink {
 public:
  Status Append(const audit::AuditEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(event);
    return OkStatus();
  }
  std::vector<audit::AuditEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  bool Has(std::string_view event, audit::Decision decision, Code code) {
    for (const auto& e : events()) {
      if (e.event == event && e.decision == decision && e.code == code) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<audit::AuditEvent> events_;
};

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
    socket_ = dir_ + "/admin.sock";
    db_ = dir_ + "/edge.db";
    auto st = store::OpenSqliteStore(db_);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    store_ = std::move(st).value();
    auto key = SigningKey::GenerateEc(PublicKeyKind::kEcP256);
    ASSERT_TRUE(key.ok());
    Json jwk = key->PublicJwkMembers();
    jwk["kid"] = "ec-1";
    jwks_ = dir_ + "/jwks.json";
    std::ofstream(jwks_) << DumpJson(Json{{"keys", Json::array({jwk})}});
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    store_.reset();
  }

  AdminServerOptions Options() {
    AdminServerOptions o;
    o.audit = &sink_;
    o.api_key_generator = Generate;
    return o;
  }

  void StartServer(AdminServerOptions options) {
    auto s = AdminServer::Start(socket_, *store_, clock_, DefaultRandom(), std::move(options));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  void StartServer() { StartServer(Options()); }

  // Astis runs the real binary with args; extra_env entries are "NAME=value".
  CliRun Astis(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
    std::vector<std::string> argv_s{ASTIS_CLI_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "ASTIS_ADMIN_SOCKET=", 19) != 0) env_s.emplace_back(*e);
    }
    env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string out_path = dir_ + "/out.txt", err_path = dir_ + "/err.txt";
    const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(out_fd, 0);
    EXPECT_GE(err_fd, 0);
    const pid_t pid = ::fork();
    if (pid == 0) {  // only async-signal-safe calls until exec
      ::dup2(out_fd, 1);
      ::dup2(err_fd, 2);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(out_fd);
    ::close(err_fd);
    CliRun r;
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadAllFile(out_path);
    r.err = ReadAllFile(err_path);
    return r;
  }
  CliRun ViaSocket(std::vector<std::string> args) {
    args.insert(args.end(), {"--admin-socket", socket_});
    return Astis(args);
  }
  CliRun Direct(std::vector<std::string> args) {
    args.insert(args.end(), {"--store", db_});
    return Astis(args);
  }

  std::vector<std::string> ClusterAddArgs(const std::string& name, const std::string& mode = "strict") {
    return {"cluster",   "add",      "--name",       name,   "--issuer",  "https://issuer", "--jwks-file", jwks_,
            "--api-url", "https://127.0.0.1:6443",   "--ca-file", "/etc/astis/ca.pem", "--token-file",
            "/etc/astis/token", "--mode", mode};
  }

  void AddSession(const std::string& id, const std::string& pod_uid) {
    store::Session s;
    s.id = id;
    s.cluster = "prod";
    s.namespace_ = "payments";
    s.service_account = "api";
    s.pod_name = "api-" + pod_uid;
    s.pod_uid = pod_uid;
    s.jkt = "jkt-" + pod_uid;
    s.recipient_jwk = "{}";
    s.created_at = kNow;
    s.expires_at = kFarFuture;
    ASSERT_TRUE(store_->EnrollSession(s, kNow).ok());
  }

  // RawExchange connects, sends bytes (then half-closes unless told not to)
  // and returns what the server sends until it closes (bounded by 10 s).
  std::string RawExchange(const std::string& bytes, bool half_close = true) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_.data(), socket_.size());
    EXPECT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    if (half_close) ::shutdown(fd, SHUT_WR);
    std::string got;
    char buf[4096];
    while (true) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10'000) <= 0) break;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return got;
  }

  // ErrorCodeOf parses one response line and returns error.code ("" if ok).
  static std::string ErrorCodeOf(const std::string& response) {
    EXPECT_FALSE(response.empty());
    EXPECT_EQ(response.back(), '\n');
    auto j = ParseJsonObject(response.substr(0, response.find('\n')));
    EXPECT_TRUE(j.ok()) << response;
    if (!j.ok() || (*j)["ok"] == true) return "";
    return (*j)["error"]["code"].get<std::string>();
  }

  test::TempDir tmp_{"astis-adminsock"};
  std::string dir_, socket_, db_, jwks_;
  FakeClock clock_{kNow};
  RecordingSink sink_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, EveryCommandThroughSocket) {
  StartServer();
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  CliRun r = ViaSocket(ClusterAddArgs("prod"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "cluster prod registered (mode strict)\n");
  r = ViaSocket(ClusterAddArgs("lab", "audit"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("WARNING: cluster lab is in AUDIT mode"), std::string::npos) << r.err;
  auto stored = store_->GetCluster(astis::store::kDefaultOrg, "prod");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->jwks_json, ReadAllFile(jwks_));  // content sent, as the store keeps it
  EXPECT_EQ(stored->ca_file, "/etc/astis/ca.pem");   // a path on the edge host

  r = ViaSocket({"cluster", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("prod\tstrict\thttps://issuer\tastis\thttps://127.0.0.1:6443\n"), std::string::npos);

  r = ViaSocket({"workload", "add", "--cluster", "prod", "--namespace", "payments", "--service-account", "api",
                 "--image", kDigest});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "workload prod/payments/api approved with 1 image digest(s)\n");
  r = ViaSocket({"workload", "list", "--cluster", "prod"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("prod\tpayments\tapi\t" + kDigest + "\n"), std::string::npos);

  r = ViaSocket({"apikey", "create", "--cluster", "prod", "--namespace", "payments", "--service-account", "api",
                 "--expires-in", "30d"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(r.out.rfind("astis_", 0), 0u) << r.out;
  const std::string id = r.out.substr(6, 16);
  r = ViaSocket({"apikey", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(id + "\tprod\tpayments\tapi\t"), std::string::npos) << r.out;
  r = ViaSocket({"apikey", "revoke", "--id", id});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "api key " + id + " revoked\n");
  EXPECT_EQ(store_->GetApiKey(id)->revoked_at, kNow);  // the server's clock

  AddSession("sess-1", "uid-1");
  AddSession("sess-2", "uid-2");
  r = ViaSocket({"session", "list", "--cluster", "prod"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("sess-1\tprod\tpayments\tapi\tapi-uid-1\tuid-1\t"), std::string::npos) << r.out;
  r = ViaSocket({"session", "revoke", "--id", "sess-1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "revoked 1 session(s)\n");
  r = ViaSocket({"session", "revoke", "--pod-uid", "uid-2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "revoked 1 session(s)\n");

  r = ViaSocket({"workload", "remove", "--cluster", "prod", "--namespace", "payments", "--service-account", "api"});
  ASSERT_EQ(r.code, 0) << r.err;
  r = ViaSocket({"cluster", "remove", "--name", "lab"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "cluster lab removed (with its workloads)\n");

  // Same configuration audit as the direct path: one entry per change, actor cli:<peer login>.
  auto audit = store_->ListConfigAudit(std::nullopt, 0, 100);
  ASSERT_TRUE(audit.ok());
  std::vector<std::string> actions;
  for (const auto& e : *audit) {
    actions.push_back(e.action);
    EXPECT_EQ(e.actor, ActorForUid(::geteuid()));
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"cluster.add", "cluster.add", "workload.add", "apikey.create",
                                               "apikey.revoke", "session.revoke", "session.revoke",
                                               "workload.remove", "cluster.remove"}));
  EXPECT_TRUE(sink_.Has("admin.cluster.add", audit::Decision::kAllow, Code::kOk));
}

TEST_F(AdminServerTest, DirectAndSocketOutputsEqual) {
  StartServer();
  ASSERT_EQ(Direct(ClusterAddArgs("prod")).code, 0);
  ASSERT_EQ(ViaSocket(ClusterAddArgs("edge2", "audit")).code, 0);
  ASSERT_EQ(Direct({"workload", "add", "--cluster", "prod", "--namespace", "payments", "--service-account", "api",
                    "--image", kDigest, "--image", "sha256:" + std::string(64, 'c')})
                .code,
            0);
  ASSERT_EQ(ViaSocket({"apikey", "create", "--cluster", "prod", "--namespace", "payments", "--service-account",
                       "api"})
                .code,
            0);
  AddSession("sess-1", "uid-1");
  AddSession("sess-2", "uid-2");
  ASSERT_TRUE(store_->EndSession("sess-2").ok());
  const std::vector<std::vector<std::string>> commands = {
      {"cluster", "list"},
      {"workload", "list"},
      {"workload", "list", "--cluster", "edge2"},
      {"apikey", "list"},
      {"session", "list"},
      {"session", "list", "--namespace", "payments"},
      // Refusals print the same error and exit code too.
      {"cluster", "remove", "--name", "nope"},
      {"apikey", "revoke", "--id", "nope"},
      {"workload", "add", "--cluster", "prod", "--namespace", "n", "--service-account", "s", "--image", "nginx:1"},
      {"apikey", "create", "--cluster", "nope", "--namespace", "n", "--service-account", "s"},
      {"session", "revoke", "--id", "nope"},
  };
  for (const auto& c : commands) {
    CliRun direct = Direct(c), via = ViaSocket(c);
    std::string name = c[0] + " " + c[1];
    EXPECT_EQ(direct.code, via.code) << name;
    EXPECT_EQ(direct.out, via.out) << name;
    EXPECT_EQ(direct.err, via.err) << name;
    EXPECT_FALSE(direct.out.empty() && direct.err.empty()) << name;
  }
  EXPECT_NE(Direct({"session", "list"}).out.find("sess-2\tprod\tpayments\tapi\tapi-uid-2\tuid-2\t"),
            std::string::npos);
}

// Each request acts in the organisation it names; one without "org" (every
// client older than organisations) in the only one, and is refused with
// several (docs/admin.md "Choosing the organisation").
TEST_F(AdminServerTest, RequestOrgSelectsTheOrganization) {
  StartServer();
  // One organisation: a request without "org" is served as before.
  std::string old_client = RawExchange("{\"v\":1,\"op\":\"cluster.list\",\"args\":{}}\n");
  EXPECT_NE(old_client.find("\"ok\":true"), std::string::npos) << old_client;
  CliRun add = ViaSocket({"org", "add", "--name", "acme", "--tier", "standard"});
  ASSERT_EQ(add.code, 0) << add.err;
  std::vector<std::string> in_acme = ClusterAddArgs("prod");
  in_acme.insert(in_acme.end(), {"--org", "acme"});
  ASSERT_EQ(ViaSocket(in_acme).code, 0);
  EXPECT_TRUE(store_->GetCluster("acme", "prod").ok());
  EXPECT_EQ(store_->GetCluster(store::kDefaultOrg, "prod").status().code(), Code::kNotFound);
  EXPECT_EQ(ErrorCodeOf(RawExchange("{\"v\":1,\"op\":\"cluster.list\",\"args\":{}}\n")), "invalid_argument");
  EXPECT_EQ(ErrorCodeOf(RawExchange("{\"v\":1,\"op\":\"cluster.list\",\"org\":\"nope\",\"args\":{}}\n")),
            "not_found");
  std::string acme = RawExchange("{\"v\":1,\"op\":\"cluster.list\",\"org\":\"acme\",\"args\":{}}\n");
  EXPECT_NE(acme.find("\"name\":\"prod\""), std::string::npos) << acme;
  CliRun env_org = Astis({"cluster", "list", "--admin-socket", socket_}, {"ASTIS_ORG=acme"});
  ASSERT_EQ(env_org.code, 0) << env_org.err;
  EXPECT_NE(env_org.out.find("prod\tstrict"), std::string::npos) << env_org.out;
}

TEST_F(AdminServerTest, OrganizationCommandsDirectAndSocketEqual) {
  StartServer();
  ASSERT_EQ(Direct({"org", "add", "--name", "acme", "--tier", "standard"}).code, 0);
  for (const char* org : {"default", "acme"}) {
    std::vector<std::string> add = ClusterAddArgs("prod");
    add.insert(add.end(), {"--org", org});
    ASSERT_EQ(Direct(add).code, 0);
    ASSERT_EQ(Direct({"workload", "add", "--org", org, "--cluster", "prod", "--namespace", "payments",
                      "--service-account", "api", "--image", kDigest})
                  .code,
              0);
  }
  const std::string repo = dir_ + "/repo.yaml";
  std::ofstream(repo) << "apiVersion: astis.dev/v1\nkind: Workload\nmetadata:\n  org: acme\nspec:\n"
                         "  cluster: prod\n  namespace: payments\n  serviceAccount: api\n  images:\n  - "
                      << "sha256:" + std::string(64, 'd') << "\n";
  const std::vector<std::vector<std::string>> commands = {
      {"org", "list"},
      {"cluster", "list", "--org", "acme"},
      {"workload", "list", "--org", "default"},
      {"diff", "-f", repo},
      {"diff", "-f", repo, "--prune"},
      {"workload", "images", "add", "--org", "acme", "--cluster", "prod", "--namespace", "payments",
       "--service-account", "api", "--image", kDigest},
      // Refusals print the same error and exit code too.
      {"cluster", "list"},
      {"cluster", "list", "--org", "nope"},
      {"org", "remove", "--name", "acme"},
      {"org", "add", "--name", "globex", "--tier", "hyok"},
      {"workload", "images", "remove", "--org", "acme", "--cluster", "prod", "--namespace", "payments",
       "--service-account", "nobody", "--image", kDigest},
      {"workload", "images", "add", "--org", "acme", "--cluster", "prod", "--namespace", "payments",
       "--service-account", "api", "--image", "nginx:1"},
  };
  for (const auto& c : commands) {
    CliRun direct = Direct(c), via = ViaSocket(c);
    std::string name = c[0] + " " + c[1];
    EXPECT_EQ(direct.code, via.code) << name;
    EXPECT_EQ(direct.out, via.out) << name;
    EXPECT_EQ(direct.err, via.err) << name;
    EXPECT_FALSE(direct.out.empty() && direct.err.empty()) << name;
  }
  CliRun applied = ViaSocket({"apply", "-f", repo});
  ASSERT_EQ(applied.code, 0) << applied.err;
  EXPECT_EQ(applied.out, "workload/prod/payments/api updated\n");
  EXPECT_EQ(store_->GetWorkload("acme", "prod", "payments", "api")->image_digests,
            std::vector<std::string>{"sha256:" + std::string(64, 'd')});
  EXPECT_EQ(store_->GetWorkload(store::kDefaultOrg, "prod", "payments", "api")->image_digests,
            std::vector<std::string>{kDigest});
}

// `astis org key list --admin-socket` reaches the key source the edge gives
// the socket (docs/admin.md "Sealing"); without one the socket refuses.
TEST_F(AdminServerTest, OrgKeyListThroughSocket) {
  AdminServerOptions o = Options();
  o.org_keys = [](std::string_view org) -> Result<std::vector<OrgKeyRow>> {
    if (org != "acme") return Error(Code::kNotFound, "no org key set");
    return std::vector<OrgKeyRow>{{std::string(43, 'A'), "active", "x25519", false}};
  };
  StartServer(std::move(o));
  ASSERT_EQ(ViaSocket({"org", "add", "--name", "acme", "--tier", "standard"}).code, 0);
  CliRun list = Astis({"org", "key", "list", "--org", "acme", "--admin-socket", socket_});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find(std::string(43, 'A') + "  active   x25519"), std::string::npos) << list.out;
  server_->Stop();
  server_.reset();
  StartServer();  // no key source
  CliRun refused = Astis({"org", "key", "list", "--org", "acme", "--admin-socket", socket_});
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.err.find("no org keys are held here"), std::string::npos) << refused.err;
}

TEST_F(AdminServerTest, EnvironmentVariableSelectsSocket) {
  StartServer();
  ASSERT_EQ(ViaSocket(ClusterAddArgs("prod")).code, 0);
  CliRun r = Astis({"cluster", "list"}, {"ASTIS_ADMIN_SOCKET=" + socket_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("prod\tstrict"), std::string::npos);
  // An explicit --store wins over the environment variable.
  CliRun direct = Astis({"cluster", "list", "--store", db_}, {"ASTIS_ADMIN_SOCKET=" + dir_ + "/missing.sock"});
  EXPECT_EQ(direct.code, 0) << direct.err;
}

TEST_F(AdminServerTest, RejectsSocketAndStoreTogether) {
  CliRun r = Astis({"cluster", "list", "--store", db_, "--admin-socket", socket_});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("not both"), std::string::npos) << r.err;
}

TEST_F(AdminServerTest, UnreachableSocketIsIoError) {
  CliRun r = ViaSocket({"cluster", "list"});
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.err.find("cannot connect to admin socket"), std::string::npos) << r.err;
}

TEST_F(AdminServerTest, RefusesPeerUidNotAllowed) {
  AdminServerOptions o = Options();
  o.allow_root_and_self = false;
  o.allowed_uids = {::geteuid() + 12345};
  StartServer(std::move(o));
  CliRun r = ViaSocket(ClusterAddArgs("prod"));
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.err.find("permission_denied"), std::string::npos) << r.err;
  EXPECT_TRUE(store_->ListClusters(std::nullopt)->empty());
  EXPECT_TRUE(sink_.Has("admin.connect", audit::Decision::kDeny, Code::kPermissionDenied));
  bool names_uid = false;
  for (const auto& e : sink_.events()) {
    names_uid |= e.reason.find("peer uid " + std::to_string(::geteuid())) != std::string::npos;
  }
  EXPECT_TRUE(names_uid);
}

TEST_F(AdminServerTest, AllowlistedUidIsServed) {
  AdminServerOptions o = Options();
  o.allow_root_and_self = false;
  o.allowed_uids = {::geteuid()};
  StartServer(std::move(o));
  CliRun r = ViaSocket({"cluster", "list"});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(AdminServerTest, RejectsMalformedJson) {
  StartServer();
  // The connection is closed after the error: the second line gets no answer.
  std::string got = RawExchange("{\"v\":1,\"op\":\"cluster.list\",\n{\"v\":1,\"op\":\"cluster.list\",\"args\":{}}\n");
  EXPECT_EQ(ErrorCodeOf(got), "invalid_argument");
  EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 1);
  EXPECT_TRUE(sink_.Has("admin.request", audit::Decision::kDeny, Code::kInvalidArgument));
  // Duplicate keys are malformed too (strict ParseJson).
  EXPECT_EQ(ErrorCodeOf(RawExchange("{\"v\":1,\"v\":1,\"op\":\"cluster.list\",\"args\":{}}\n")), "invalid_argument");
  // So is a request missing args or with an unexpected member.
  EXPECT_EQ(ErrorCodeOf(RawExchange("{\"v\":1,\"op\":\"cluster.list\"}\n")), "invalid_argument");
  EXPECT_EQ(ErrorCodeOf(RawExchange("{\"v\":1,\"op\":\"cluster.list\",\"args\":{},\"x\":0}\n")),
            "invalid_argument");
}

TEST_F(AdminServerTest, RejectsUnknownOp) {
  StartServer();
  std::string got = RawExchange("{\"v\":1,\"op\":\"store.drop\",\"args\":{}}\n");
  EXPECT_EQ(ErrorCodeOf(got), "invalid_argument");
  EXPECT_NE(got.find("unknown op"), std::string::npos) << got;
}

TEST_F(AdminServerTest, RejectsWrongVersion) {
  StartServer();
  std::string got = RawExchange("{\"v\":2,\"op\":\"cluster.list\",\"args\":{}}\n");
  EXPECT_EQ(ErrorCodeOf(got), "invalid_argument");
  EXPECT_NE(got.find("unsupported version"), std::string::npos) << got;
}

TEST_F(AdminServerTest, ServesSeveralRequestsPerConnection) {
  StartServer();
  std::string got = RawExchange(
      "{\"v\":1,\"op\":\"cluster.list\",\"args\":{}}\n{\"v\":1,\"op\":\"apikey.list\",\"args\":{}}\n");
  EXPECT_EQ(got, "{\"ok\":true,\"result\":{\"items\":[]}}\n{\"ok\":true,\"result\":{\"items\":[]}}\n");
}

TEST_F(AdminServerTest, RejectsOversizeLine) {
  AdminServerOptions o = Options();
  o.max_line_bytes = 1024;
  StartServer(std::move(o));
  std::string got = RawExchange(std::string(4096, 'a'));
  EXPECT_EQ(ErrorCodeOf(got), "too_large");
  EXPECT_TRUE(sink_.Has("admin.request", audit::Decision::kDeny, Code::kTooLarge));
}

TEST_F(AdminServerTest, ClosesIdleConnection) {
  AdminServerOptions o = Options();
  o.io_timeout_ms = 200;
  StartServer(std::move(o));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(RawExchange("", /*half_close=*/false), "");  // closed by the server, not by the 10 s bound
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(AdminServerTest, RefusesWorldWritableDir) {
  const std::string open_dir = dir_ + "/open";
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
  auto s = AdminServer::Start(open_dir + "/admin.sock", *store_, clock_, DefaultRandom(), Options());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("world-writable"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(open_dir + "/admin.sock"));
}

TEST_F(AdminServerTest, ReplacesStaleSocket) {
  // A socket file nobody listens on, as a crashed edge leaves behind.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  ASSERT_TRUE(std::filesystem::is_socket(socket_));
  StartServer();
  CliRun r = ViaSocket({"cluster", "list"});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(AdminServerTest, DoesNotStealLiveSocket) {
  StartServer();
  auto second = AdminServer::Start(socket_, *store_, clock_, DefaultRandom(), Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
  CliRun r = ViaSocket({"cluster", "list"});  // the first server still serves
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(AdminServerTest, RefusesNonSocketFile) {
  std::ofstream(socket_) << "not a socket";
  auto s = AdminServer::Start(socket_, *store_, clock_, DefaultRandom(), Options());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(ReadAllFile(socket_), "not a socket");
}

TEST_F(AdminServerTest, RequiresApiKeyGenerator) {
  AdminServerOptions o = Options();
  o.api_key_generator = nullptr;
  auto s = AdminServer::Start(socket_, *store_, clock_, DefaultRandom(), std::move(o));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
}

TEST_F(AdminServerTest, ApiKeySecretNotStoredOrAudited) {
  StartServer();
  ASSERT_EQ(ViaSocket(ClusterAddArgs("prod")).code, 0);
  CliRun r = ViaSocket({"apikey", "create", "--cluster", "prod", "--namespace", "payments", "--service-account", "api"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string key = r.out.substr(0, r.out.find('\n'));
  const std::string secret = key.substr(std::string("astis_").size() + 16 + 1);  // b64url may contain "_"
  ASSERT_GE(secret.size(), 40u);
  EXPECT_EQ(r.err.find(secret), std::string::npos);
  for (const auto& e : sink_.events()) {
    EXPECT_EQ(audit::SerializeEvent(e).find(secret), std::string::npos);
  }
  auto config_audit = store_->ListConfigAudit(std::nullopt, 0, 100);
  ASSERT_TRUE(config_audit.ok());
  for (const auto& e : config_audit.value()) {
    EXPECT_EQ(e.detail_json.find(secret), std::string::npos);
    EXPECT_EQ(e.actor.find(secret), std::string::npos);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string path = db_ + suffix;
    if (std::filesystem::exists(path)) {
      EXPECT_EQ(ReadAllFile(path).find(secret), std::string::npos) << path;
    }
  }
}

TEST_F(AdminServerTest, StopIsPromptIdempotentAndRemovesSocket) {
  AdminServerOptions o = Options();
  o.io_timeout_ms = 60'000;
  StartServer(std::move(o));
  // An idle client holds the serving thread; Stop must not wait for its timeout.
  auto client = AdminClient::Connect(socket_);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_FALSE(std::filesystem::exists(socket_));
  auto after = (*client)->Call("cluster.list", Json::object());
  EXPECT_FALSE(after.ok());
}

TEST_F(AdminServerTest, ClientCallReturnsServerStatus) {
  StartServer();
  auto client = AdminClient::Connect(socket_);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto r = (*client)->Call("cluster.remove", Json{{"name", "nope"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  auto ok = (*client)->Call("cluster.list", Json::object());  // same connection
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE((*ok)["items"].empty());
}

}  // namespace
}  // namespace astis::admin
