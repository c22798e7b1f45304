// Core dumps and ptrace access are off in the process that holds org keys
// (issue #9): `astis cvs` calls cvs::DisableCoreDumps before loading keys.
//
// CvsProcessIsNotDumpable starts the real `astis cvs` binary as a child (and
// ServeWithEmbeddedCvsIsNotDumpable `astis serve`, which holds the org keys
// in the edge process) and
// checks from outside: /proc/<pid>/limits shows a core size limit of 0, and
// the process is non-dumpable. The kernel makes /proc/<pid>/* of a
// non-dumpable process owned by root (proc(5), PR_SET_DUMPABLE), so the
// child runs under an unprivileged uid (65534 when the test runs as root,
// else the test's own uid) and /proc/<pid>/status must be owned by uid 0; a control
// child (/bin/sleep, same uid) shows the check tells the two apart.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "cvs/process_hardening.h"
#include "cvs/testing/dek_observer.h"
#include "net/testing/test_pki.h"

namespace astis::hardening {
namespace {

constexpr uid_t kNobody = 65534;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, std::string_view contents, mode_t mode = 0644) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

// ChildUid is the uid the children run under (see the file comment).
uid_t ChildUid() { return ::geteuid() == 0 ? kNobody : ::geteuid(); }

// Spawn forks; the child drops to ChildUid() (when root), sends stderr to
// err_fd (if >= 0) and execs argv. Returns the pid.
pid_t Spawn(const std::vector<std::string>& argv, int err_fd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (err_fd >= 0) ::dup2(err_fd, 2);
    if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)) {
      ::_exit(126);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int Reap(pid_t pid, std::chrono::seconds limit) {
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // bounded poll of the child's exit
  }
  return status;
}

// ProcOwner is the owner uid of /proc/<pid>/status: root for a non-dumpable
// process (the files in /proc/<pid>, not the directory itself).
uid_t ProcOwner(pid_t pid) {
  struct stat st {};
  EXPECT_EQ(::stat(("/proc/" + std::to_string(pid) + "/status").c_str(), &st), 0);
  return st.st_uid;
}

// CoreLimitLine is the "Max core file size" line of /proc/<pid>/limits.
std::string CoreLimitLine(pid_t pid) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/limits"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Max core file size", 0) == 0) return line;
  }
  return "";
}

TEST(CoreDumpTest, DisableCoreDumpsInChild) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!cvs::DisableCoreDumps().ok()) ::_exit(1);
    rlimit rl{};
    if (::getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0) ::_exit(2);
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) ::_exit(3);
    // The hard limit is 0: raising it again is refused (unless privileged).
    rlimit up{RLIM_INFINITY, RLIM_INFINITY};
    if (::geteuid() != 0 && ::setrlimit(RLIMIT_CORE, &up) == 0) ::_exit(4);
    ::_exit(0);
  }
  const int status = Reap(pid, std::chrono::seconds(10));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1 call failed, 2 rlimit not 0, 3 still dumpable, 4 limit raised";
}

#ifdef ASTIS_CLI_BINARY
// KeyDir is a temporary directory holding org keys made by the real CLI
// (`keygen/`), the test PKI's files, and room for the store and audit log,
// all owned by ChildUid(). Empty on failure (the test then fails).
struct KeyDir {
  std::string dir;
  net::testing::TestPkiFiles files;
  std::string edge_client_sha256_hex;
  ~KeyDir() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

void MakeKeyDir(KeyDir& out) {
  auto d = net::testing::MakeTempDir();
  ASSERT_TRUE(d.ok());
  out.dir = *d;
  ASSERT_EQ(::chmod(out.dir.c_str(), 0755), 0);
  // keygen runs as the child uid: it needs a writable directory.
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(out.dir.c_str(), kNobody, kNobody), 0);
  }
  const pid_t keygen = Spawn({ASTIS_CLI_BINARY, "keygen", "--out", out.dir + "/keys"}, -1);
  ASSERT_GT(keygen, 0);
  const int ks = Reap(keygen, std::chrono::seconds(30));
  ASSERT_TRUE(WIFEXITED(ks) && WEXITSTATUS(ks) == 0) << "astis keygen failed";
  auto pki = net::testing::TestPki::Create();
  ASSERT_TRUE(pki.ok());
  auto files = pki->WriteFiles(out.dir);
  ASSERT_TRUE(files.ok());
  out.files = *files;
  auto edge_cert = pki->IssueClientCert("astis-edge");
  ASSERT_TRUE(edge_cert.ok());
  out.edge_client_sha256_hex = HexEncode(edge_cert->sha256);
}

void ChownTree(const std::string& dir) {
  if (::geteuid() != 0) return;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    ASSERT_EQ(::chown(e.path().c_str(), kNobody, kNobody), 0) << e.path();
  }
}

// Inspection is what RunAndInspect saw of a server process from outside.
struct Inspection {
  bool serving = false;
  uid_t owner = 1;          // owner of /proc/<pid>/status: 0 when non-dumpable
  std::string core_line;    // "Max core file size" of /proc/<pid>/limits
  uid_t control_owner = 0;  // the same for a control process of the same uid
  int status = -1;          // wait status after SIGTERM
  std::string err;          // the server's stderr
};

// RunAndInspect starts argv as ChildUid(), waits for "serving on" on its
// stderr, reads its /proc ownership and core limit, does the same for a
// control process (/bin/sleep, same uid: dumpable), and stops both.
Inspection RunAndInspect(const std::vector<std::string>& argv) {
  Inspection r;
  int errpipe[2];
  EXPECT_EQ(::pipe(errpipe), 0);
  const pid_t pid = Spawn(argv, errpipe[1]);
  ::close(errpipe[1]);
  EXPECT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (r.err.find("serving on") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{errpipe[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(errpipe[0], buf, sizeof buf);
    if (n <= 0) break;
    r.err.append(buf, static_cast<size_t>(n));
  }
  r.serving = r.err.find("serving on") != std::string::npos;
  if (r.serving) {
    r.owner = ProcOwner(pid);
    r.core_line = CoreLimitLine(pid);
  }
  const pid_t control = Spawn({"/bin/sleep", "30"}, -1);
  EXPECT_GT(control, 0);
  for (int i = 0; i < 250 && (r.control_owner = ProcOwner(control)) != ChildUid(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // bounded wait for the exec to happen
  }
  ::kill(control, SIGKILL);
  Reap(control, std::chrono::seconds(5));
  ::kill(pid, SIGTERM);
  r.status = Reap(pid, std::chrono::seconds(10));
  ::close(errpipe[0]);
  return r;
}

// ExpectServerNotDumpable runs `astis <subcommand> --config F` as
// ChildUid(), F being config_yaml(keys) written into a fresh KeyDir, and
// expects what DisableCoreDumps promises, seen from outside: /proc/<pid>
// owned by root (non-dumpable) and a core limit of 0, where a control
// process of the same uid is dumpable.
void ExpectServerNotDumpable(const std::string& subcommand,
                             const std::function<std::string(const KeyDir&)>& config_yaml) {
  KeyDir k;
  ASSERT_NO_FATAL_FAILURE(MakeKeyDir(k));
  const std::string config = k.dir + "/" + subcommand + ".yaml";
  WriteFile(config, config_yaml(k));
  ASSERT_NO_FATAL_FAILURE(ChownTree(k.dir));
  const Inspection r = RunAndInspect({ASTIS_CLI_BINARY, subcommand, "--config", config});
  ASSERT_TRUE(r.serving) << r.err;
  EXPECT_EQ(r.control_owner, ChildUid()) << "control process should be dumpable";
  EXPECT_EQ(r.owner, 0u) << "astis " << subcommand << " is dumpable";
  EXPECT_NE(r.core_line.find(" 0 "), std::string::npos) << r.core_line;
  EXPECT_EQ(r.core_line.find("unlimited"), std::string::npos) << r.core_line;
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.err;
}

TEST(CoreDumpTest, CvsProcessIsNotDumpable) {
  ExpectServerNotDumpable("cvs", [](const KeyDir& k) {
    return "listen: {address: 127.0.0.1, port: 0}\ntls:\n  cert_file: " + k.files.server_cert +
           "\n  key_file: " + k.files.server_key + "\n  client_ca_file: " + k.files.ca_cert +
           "\n  edge_client_cert_sha256: " + k.edge_client_sha256_hex + "\norg_keys: " + k.dir +
           "/keys/org-key.jwk\naudit_log: " + k.dir + "/cvs-audit.log\n";
  });
}

// `astis serve` with the embedded CVS holds the org keys in the edge
// process, so it makes itself non-dumpable too (src/edge/run.cc).
TEST(CoreDumpTest, ServeWithEmbeddedCvsIsNotDumpable) {
  ExpectServerNotDumpable("serve", [](const KeyDir& k) {
    return "listen: {address: 127.0.0.1, port: 0}\ntls:\n  cert_file: " + k.files.server_cert +
           "\n  key_file: " + k.files.server_key +
           "\nexternal_base_url: https://127.0.0.1\nstore: {backend: sqlite, path: " + k.dir +
           "/edge.db}\ncvs: {mode: embedded, org_keys: " + k.dir + "/keys/org-key.jwk}\naudit_log: " + k.dir +
           "/edge-audit.log\nwatch: {enabled: false}\n";
  });
}

// ProductionBinaryHasNoDekObserver: the `astis` binary does not contain the
// test-only DEK observer (cvs/testing/dek_observer.h); this test binary,
// which links it, does (control).
TEST(CoreDumpTest, ProductionBinaryHasNoDekObserver) {
  cvs::testing::SetDekObserverForTesting({});  // links the observer here
  const std::string product = ReadFile(ASTIS_CLI_BINARY);
  const std::string self = ReadFile("/proc/self/exe");
  ASSERT_GT(product.size(), 1000u);
  EXPECT_EQ(product.find("SetDekObserverForTesting"), std::string::npos);
  EXPECT_NE(self.find("SetDekObserverForTesting"), std::string::npos);
}
#endif

}  // namespace
}  // namespace astis::hardening
