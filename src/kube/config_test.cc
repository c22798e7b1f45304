#include "kube/config.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/testing/temp_dir.h"

namespace astis::kube {
namespace {

namespace fs = std::filesystem;

// A syntactically PEM-shaped CA: the loaders only check for a certificate
// block; the TLS layer parses it (covered by client_test).
constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nTUlJQ0FURVNU\n-----END CERTIFICATE-----\n";

// TempDir is test::TempDir with a Write helper for the fixture files.
class TempDir : public test::TempDir {
 public:
  TempDir() : test::TempDir("astis-kube") { EXPECT_FALSE(path().empty()); }
  std::string Write(const std::string& name, const std::string& contents) const {
    std::string p = File(name);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << contents;
    return p;
  }
};

std::string Token(const Result<SecretBytes>& t) {
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::string(t->RevealString()) : std::string();
}

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// --- In-cluster -------------------------------------------------------------

TEST(InClusterTest, LoadsFromFakeDirectoryAndEnv) {
  TempDir dir;
  dir.Write("ca.crt", kCaPem);
  dir.Write("token", "eyJhbGciOiJSUzI1NiJ9.payload.sig\n");
  Result<ClusterConnection> conn = InClusterConnection(
      {dir.path(), Env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}})});
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn->api_url, "https://10.96.0.1:443");
  ASSERT_TRUE(conn->ca_pem.has_value());
  EXPECT_EQ(*conn->ca_pem, kCaPem);
  EXPECT_EQ(conn->token_file, dir.path() + "/token");
  EXPECT_EQ(Token(ReadTokenFile(conn->token_file)), "eyJhbGciOiJSUzI1NiJ9.payload.sig");
}

TEST(InClusterTest, BracketsIpv6Host) {
  TempDir dir;
  dir.Write("ca.crt", kCaPem);
  dir.Write("token", "t");
  Result<ClusterConnection> conn = InClusterConnection(
      {dir.path(), Env({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}})});
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn->api_url, "https://[fd00::1]:6443");
}

TEST(InClusterTest, RejectsMissingEnv) {
  TempDir dir;
  dir.Write("ca.crt", kCaPem);
  dir.Write("token", "t");
  EXPECT_EQ(InClusterConnection({dir.path(), Env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}})}).status().code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(InClusterConnection({dir.path(), Env({{"KUBERNETES_SERVICE_HOST", ""}, {"KUBERNETES_SERVICE_PORT", "443"}})})
                .status()
                .code(),
            Code::kFailedPrecondition);
}

TEST(InClusterTest, RejectsBadPort) {
  TempDir dir;
  dir.Write("ca.crt", kCaPem);
  dir.Write("token", "t");
  for (const char* port : {"0", "65536", "44x", "-1"}) {
    EXPECT_EQ(InClusterConnection(
                  {dir.path(), Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", port}})})
                  .status()
                  .code(),
              Code::kInvalidArgument)
        << port;
  }
}

TEST(InClusterTest, RejectsMissingCa) {
  TempDir dir;
  dir.Write("token", "t");
  EXPECT_EQ(InClusterConnection(
                {dir.path(), Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}})})
                .status()
                .code(),
            Code::kIo);
  dir.Write("ca.crt", "not a certificate");
  EXPECT_EQ(InClusterConnection(
                {dir.path(), Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}})})
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST(InClusterTest, RejectsEmptyToken) {
  TempDir dir;
  dir.Write("ca.crt", kCaPem);
  dir.Write("token", " \n");
  EXPECT_EQ(InClusterConnection(
                {dir.path(), Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}})})
                .status()
                .code(),
            Code::kInvalidArgument);
}

// --- Token files ------------------------------------------------------------

TEST(TokenFileTest, RejectsTokenWithControlBytes) {
  TempDir dir;
  std::string p = dir.Write("token", "abc\r\nX-Injected: 1");
  Result<SecretBytes> t = ReadTokenFile(p);
  EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(t.status().message().find("abc"), std::string::npos);  // never quoted
}

// Lays out a directory the way the kubelet's AtomicWriter does:
// token -> ..data/token, ..data -> ..<ts>, and swaps ..data atomically.
class ProjectedVolume {
 public:
  explicit ProjectedVolume(const TempDir& dir) : dir_(dir.path()) {
    fs::create_symlink("..data/token", dir_ + "/token");
  }
  void Publish(const std::string& token) {
    const std::string ts = "..ts" + std::to_string(++generation_);
    fs::create_directory(dir_ + "/" + ts);
    std::ofstream(dir_ + "/" + ts + "/token") << token;
    fs::create_symlink(ts, dir_ + "/..data_tmp");
    fs::rename(dir_ + "/..data_tmp", dir_ + "/..data");  // atomic swap
  }
  std::string token_path() const { return dir_ + "/token"; }

 private:
  std::string dir_;
  int generation_ = 0;
};

TEST(TokenFileTest, TokenFileRotationPickedUp) {
  TempDir dir;
  ProjectedVolume vol(dir);
  vol.Publish("token-one");
  FakeClock clock(1'700'000'000);
  FileTokenSource source(vol.token_path(), clock);
  EXPECT_EQ(Token(source.Token()), "token-one");
  vol.Publish("token-two");
  // No time passes: the swapped symlink alone triggers the re-read.
  EXPECT_EQ(Token(source.Token()), "token-two");
  EXPECT_EQ(Token(source.Token()), "token-two");
}

TEST(TokenFileTest, TokenReReadAfterMaxAge) {
  TempDir dir;
  std::string p = dir.Write("token", "aaaa");
  FakeClock clock(1'700'000'000);
  FileTokenSource source(p, clock, 60);
  EXPECT_EQ(Token(source.Token()), "aaaa");
  // Rewrite in place, then restore the old mtime so only the clock can tell.
  const auto mtime = fs::last_write_time(p);
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f << "bbbb";
  }
  fs::last_write_time(p, mtime);
  clock.Advance(59);
  EXPECT_EQ(Token(source.Token()), "aaaa");  // cached: same file identity, young
  clock.Advance(1);
  EXPECT_EQ(Token(source.Token()), "bbbb");  // max age reached
}

TEST(TokenFileTest, RemovedTokenFailsClosed) {
  TempDir dir;
  std::string p = dir.Write("token", "aaaa");
  FakeClock clock(1'700'000'000);
  FileTokenSource source(p, clock);
  EXPECT_EQ(Token(source.Token()), "aaaa");
  fs::remove(p);
  EXPECT_EQ(source.Token().status().code(), Code::kIo);
}

TEST(TokenFileTest, MakeTokenSourceChoosesCredential) {
  FakeClock clock(0);
  ClusterConnection none;
  EXPECT_EQ(MakeTokenSource(none, clock), nullptr);
  ClusterConnection fixed;
  fixed.token = SecretBytes::CopyFrom(std::string_view("static-token"));
  auto source = MakeTokenSource(fixed, clock);
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(Token(source->Token()), "static-token");
}

// --- Kubeconfig -------------------------------------------------------------

std::string Kubeconfig(const std::string& cluster_extra, const std::string& user_extra,
                       const std::string& current = "ctx") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: " + current +
         "\n"
         "clusters:\n- name: c1\n  cluster:\n    server: https://api.example:6443\n" +
         cluster_extra +
         "contexts:\n- name: ctx\n  context:\n    cluster: c1\n    user: u1\n"
         "- name: other\n  context:\n    cluster: c1\n    user: u2\n"
         "users:\n- name: u1\n  user:\n" +
         user_extra + "- name: u2\n  user:\n    token: other-token\n";
}

TEST(KubeconfigTest, TokenAndCaData) {
  TempDir dir;
  std::string path = dir.Write(
      "config", Kubeconfig("    certificate-authority-data: " + B64Encode(std::string_view(kCaPem)) + "\n",
                           "    token: abc.def.ghi\n"));
  Result<ClusterConnection> conn = FromKubeconfig(path);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn->api_url, "https://api.example:6443");
  ASSERT_TRUE(conn->ca_pem.has_value());
  EXPECT_EQ(*conn->ca_pem, kCaPem);
  EXPECT_EQ(std::string(conn->token.RevealString()), "abc.def.ghi");
  EXPECT_TRUE(conn->token_file.empty());
}

TEST(KubeconfigTest, TokenFileAndCaFileRelative) {
  TempDir dir;
  dir.Write("ca.pem", kCaPem);
  dir.Write("sa-token", "file-token\n");
  std::string path = dir.Write(
      "config", Kubeconfig("    certificate-authority: ca.pem\n    tls-server-name: kubernetes.default\n",
                           "    tokenFile: sa-token\n"));
  Result<ClusterConnection> conn = FromKubeconfig(path);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(*conn->ca_pem, kCaPem);
  EXPECT_EQ(conn->tls_server_name, "kubernetes.default");
  EXPECT_EQ(conn->token_file, dir.path() + "/sa-token");
  EXPECT_EQ(Token(ReadTokenFile(conn->token_file)), "file-token");
}

TEST(KubeconfigTest, NamedContextOverridesCurrent) {
  TempDir dir;
  std::string path = dir.Write("config", Kubeconfig("", "    token: mine\n"));
  Result<ClusterConnection> conn = FromKubeconfig(path, std::string("other"));
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(std::string(conn->token.RevealString()), "other-token");
  EXPECT_FALSE(conn->ca_pem.has_value());  // system trust store
  EXPECT_EQ(FromKubeconfig(path, std::string("missing")).status().code(), Code::kInvalidArgument);
}

TEST(KubeconfigTest, ClientCertificateData) {
  TempDir dir;
  const std::string key = "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n";
  std::string path = dir.Write(
      "config", Kubeconfig("", "    client-certificate-data: " + B64Encode(std::string_view(kCaPem)) +
                                   "\n    client-key-data: " + B64Encode(std::string_view(key)) + "\n"));
  Result<ClusterConnection> conn = FromKubeconfig(path);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  ASSERT_TRUE(conn->client_cert_pem.has_value());
  EXPECT_EQ(*conn->client_cert_pem, kCaPem);
  EXPECT_EQ(std::string(conn->client_key_pem.RevealString()), key);
}

TEST(KubeconfigTest, RejectsExecPlugin) {
  TempDir dir;
  std::string path = dir.Write(
      "config", Kubeconfig("", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                               "      command: aws\n      args: [eks, get-token]\n"));
  Result<ClusterConnection> conn = FromKubeconfig(path);
  EXPECT_EQ(conn.status().code(), Code::kInvalidArgument);
  EXPECT_NE(conn.status().message().find("exec"), std::string::npos);
}

TEST(KubeconfigTest, RejectsAuthProviderAndBasicAuth) {
  TempDir dir;
  std::string p1 = dir.Write("c1", Kubeconfig("", "    auth-provider:\n      name: gcp\n"));
  EXPECT_EQ(FromKubeconfig(p1).status().code(), Code::kInvalidArgument);
  std::string p2 = dir.Write("c2", Kubeconfig("", "    username: admin\n    password: hunter2\n"));
  Result<ClusterConnection> c2 = FromKubeconfig(p2);
  EXPECT_EQ(c2.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c2.status().message().find("hunter2"), std::string::npos);
}

TEST(KubeconfigTest, RejectsInsecureSkipTlsVerify) {
  TempDir dir;
  std::string path = dir.Write("config", Kubeconfig("    insecure-skip-tls-verify: true\n", "    token: t\n"));
  EXPECT_EQ(FromKubeconfig(path).status().code(), Code::kInvalidArgument);
}

TEST(KubeconfigTest, RejectsPlainHttpServer) {
  TempDir dir;
  std::string text = Kubeconfig("", "    token: t\n");
  text.replace(text.find("https://"), 8, "http://");
  std::string path = dir.Write("config", text);
  EXPECT_EQ(FromKubeconfig(path).status().code(), Code::kInvalidArgument);
}

TEST(KubeconfigTest, RejectsUserWithoutCredential) {
  TempDir dir;
  std::string path = dir.Write("config", Kubeconfig("", "    {}\n"));
  EXPECT_EQ(FromKubeconfig(path).status().code(), Code::kInvalidArgument);
}

TEST(KubeconfigTest, RejectsBadCaData) {
  TempDir dir;
  std::string path = dir.Write("config", Kubeconfig("    certificate-authority-data: '***'\n", "    token: t\n"));
  EXPECT_EQ(FromKubeconfig(path).status().code(), Code::kInvalidArgument);
}

TEST(KubeconfigTest, RejectsMalformedYamlWithoutQuotingIt) {
  TempDir dir;
  std::string path = dir.Write("config", "users: [ {name: u, user: {token: s3cr3t-token\n");
  Result<ClusterConnection> conn = FromKubeconfig(path);
  EXPECT_EQ(conn.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(conn.status().message().find("s3cr3t"), std::string::npos);
}

TEST(KubeconfigTest, RejectsMissingFile) {
  TempDir dir;
  EXPECT_EQ(FromKubeconfig(dir.path() + "/nope").status().code(), Code::kIo);
}

// --- Explicit ---------------------------------------------------------------

TEST(ExplicitTest, LoadsUrlCaAndTokenFile) {
  TempDir dir;
  std::string ca = dir.Write("ca.pem", kCaPem);
  std::string token = dir.Write("token", "tok");
  Result<ClusterConnection> conn = Explicit("https://k8s.internal:6443", ca, token);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn->api_url, "https://k8s.internal:6443");
  EXPECT_EQ(conn->token_file, token);
  EXPECT_EQ(Explicit("http://k8s.internal", ca, token).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Explicit("https://k8s.internal", ca, dir.path() + "/none").status().code(), Code::kIo);
}

}  // namespace
}  // namespace astis::kube
