// In-process tests of the `astis` CLI (keygen, seal, unseal) through RunCli,
// exactly as argv would reach it.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/secret_manifest.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/temp_dir.h"

namespace astis::cli {
namespace {

constexpr char kPlainYaml[] = R"(apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: payments
  labels:
    app: api
  annotations:
    team: core
type: Opaque
data:
  password: aHVudGVyMi1wbGFpbnRleHQ=
stringData:
  username: admin-plaintext-user
)";

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
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

  void Keygen() {
    Run r = Cli({"keygen", "--out", dir_ + "/keys"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  std::string Pub() const { return dir_ + "/keys/org-key.pub.jwk"; }
  std::string Priv() const { return dir_ + "/keys/org-key.jwk"; }

  Run Seal(const std::string& input, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"seal", "--public-key", Pub(), "--cluster", "prod-eu1", "--namespace",
                                     "payments", "--service-account", "api"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Cli(args, input);
  }
  Run Unseal(const std::string& input) { return Cli({"unseal", "--org-key", Priv(), "-o", "json"}, input); }

  static Json ParseOut(const std::string& text) {
    auto j = ParseManifest(text);
    EXPECT_TRUE(j.ok()) << text;
    return j.ok() ? *j : Json();
  }
  static std::string Decoded(const Json& secret, const std::string& key) {
    auto b = B64Decode(secret["data"][key].get<std::string>());
    EXPECT_TRUE(b.ok());
    return b.ok() ? std::string(b->begin(), b->end()) : "";
  }

  test::TempDir tmp_{"astis-cli"};
  std::string dir_;
  FakeClock clock_{1764115200};
};

TEST_F(CliTest, KeygenWritesPrivate0600AndPublic) {
  Keygen();
  struct stat st {};
  ASSERT_EQ(::stat(Priv().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto priv = ReadFileLimited(Priv(), 1 << 16);
  auto pub = ReadFileLimited(Pub(), 1 << 16);
  ASSERT_TRUE(priv.ok());
  ASSERT_TRUE(pub.ok());
  auto jpriv = ParseJsonObject(*priv);
  auto jpub = ParseJsonObject(*pub);
  ASSERT_TRUE(jpriv.ok() && jpub.ok());
  EXPECT_TRUE(jpriv->contains("d"));
  EXPECT_FALSE(jpub->contains("d"));
  EXPECT_EQ((*jpriv)["kid"], (*jpub)["kid"]);
  EXPECT_EQ((*jpub)["crv"], "X25519");
}

TEST_F(CliTest, KeygenRefusesOverwrite) {
  Keygen();
  auto before = ReadFileLimited(Priv(), 1 << 16);
  Run r = Cli({"keygen", "--out", dir_ + "/keys"});
  EXPECT_EQ(r.code, kExitIo);
  EXPECT_NE(r.err.find("already exists"), std::string::npos);
  auto after = ReadFileLimited(Priv(), 1 << 16);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(*before, *after);
  // Only the public file present still refuses, and writes no private key.
  std::filesystem::remove(Priv());
  EXPECT_EQ(Cli({"keygen", "--out", dir_ + "/keys"}).code, kExitIo);
  EXPECT_FALSE(std::filesystem::exists(Priv()));
}

TEST_F(CliTest, SealYamlThenUnsealRoundTrip) {
  Keygen();
  Run s = Seal(kPlainYaml);
  ASSERT_EQ(s.code, 0) << s.err;
  // The output never contains the plaintext, in clear or in base64.
  EXPECT_EQ(s.out.find("hunter2-plaintext"), std::string::npos);
  EXPECT_EQ(s.out.find("aHVudGVyMi1wbGFpbnRleHQ"), std::string::npos);
  EXPECT_EQ(s.out.find("admin-plaintext-user"), std::string::npos);
  EXPECT_EQ(s.out.find(B64Encode(std::string("admin-plaintext-user"))), std::string::npos);
  EXPECT_EQ(s.out.find("stringData"), std::string::npos);
  Json sealed = ParseOut(s.out);
  EXPECT_EQ(sealed["metadata"]["annotations"]["astis.io/sealed"], "v1");
  EXPECT_EQ(sealed["metadata"]["annotations"]["astis.io/cluster"], "prod-eu1");
  EXPECT_EQ(sealed["metadata"]["annotations"]["astis.io/service-account"], "api");
  EXPECT_EQ(sealed["metadata"]["annotations"]["team"], "core");
  EXPECT_EQ(sealed["metadata"]["labels"]["app"], "api");
  EXPECT_EQ(sealed["type"], "Opaque");
  EXPECT_EQ(Decoded(sealed, "password").rfind("astis.v1.", 0), 0u);
  EXPECT_EQ(Decoded(sealed, "username").rfind("astis.v1.", 0), 0u);

  Run u = Unseal(s.out);
  ASSERT_EQ(u.code, 0) << u.err;
  Json plain = ParseOut(u.out);
  EXPECT_EQ(Decoded(plain, "password"), "hunter2-plaintext");
  EXPECT_EQ(Decoded(plain, "username"), "admin-plaintext-user");
  EXPECT_FALSE(plain["metadata"]["annotations"].contains("astis.io/sealed"));
  EXPECT_EQ(plain["metadata"]["annotations"]["team"], "core");
}

TEST_F(CliTest, SealJsonInputJsonOutput) {
  Keygen();
  std::string input =
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"tls"},"type":"kubernetes.io/tls","data":{"tls.key":"a2V5LWJ5dGVz"}})";
  Run s = Seal(input, {"-o", "json"});
  ASSERT_EQ(s.code, 0) << s.err;
  ASSERT_EQ(s.out.front(), '{');
  Json sealed = ParseOut(s.out);
  EXPECT_EQ(sealed["metadata"]["namespace"], "payments");  // set from --namespace
  EXPECT_EQ(sealed["type"], "kubernetes.io/tls");
  Run u = Unseal(s.out);
  ASSERT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(Decoded(ParseOut(u.out), "tls.key"), "key-bytes");
}

TEST_F(CliTest, SealFromLiteralAndFile) {
  Keygen();
  std::string file = dir_ + "/cert.pem";
  std::ofstream(file) << "-----BEGIN CERT-----\n";
  Run s = Seal("", {"--name", "app", "--from-literal", "api-token=tok=with=equals", "--from-file",
                    "ca.crt=" + file, "--from-file", file});
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(s.out.find("tok=with=equals"), std::string::npos);
  Run u = Unseal(s.out);
  ASSERT_EQ(u.code, 0) << u.err;
  Json plain = ParseOut(u.out);
  EXPECT_EQ(Decoded(plain, "api-token"), "tok=with=equals");
  EXPECT_EQ(Decoded(plain, "ca.crt"), "-----BEGIN CERT-----\n");
  EXPECT_EQ(Decoded(plain, "cert.pem"), "-----BEGIN CERT-----\n");
  EXPECT_EQ(plain["metadata"]["name"], "app");
}

TEST_F(CliTest, SealFromLiteralRefusesDuplicateKeyAndNoName) {
  Keygen();
  EXPECT_EQ(Seal("", {"--name", "app", "--from-literal", "a=1", "--from-literal", "a=2"}).code, kExitInput);
  EXPECT_EQ(Seal("", {"--from-literal", "a=1"}).code, kExitInput);
  EXPECT_EQ(Seal("", {"--name", "app", "--from-literal", "novalue"}).code, kExitInput);
}

TEST_F(CliTest, SealRefusesNamespaceMismatch) {
  Keygen();
  std::string other = kPlainYaml;
  other.replace(other.find("namespace: payments"), 19, "namespace: billing");
  Run r = Seal(other);
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_NE(r.err.find("namespace"), std::string::npos);
  EXPECT_TRUE(r.out.empty());
}

TEST_F(CliTest, SealRefusesAlreadySealed) {
  Keygen();
  Run s = Seal(kPlainYaml);
  ASSERT_EQ(s.code, 0);
  EXPECT_EQ(Seal(s.out).code, kExitInput);
  // Without the annotation, a value that already is a sealed value is refused too.
  Json sealed = ParseOut(s.out);
  sealed["metadata"].erase("annotations");
  EXPECT_EQ(Seal(DumpJson(sealed)).code, kExitInput);
}

TEST_F(CliTest, SealRefusesNonSecretKindMultiDocAndInvalidKey) {
  Keygen();
  std::string cm = kPlainYaml;
  cm.replace(cm.find("kind: Secret"), 12, "kind: ConfigMap");
  EXPECT_EQ(Seal(cm).code, kExitInput);
  EXPECT_EQ(Seal(std::string(kPlainYaml) + "---\n" + kPlainYaml).code, kExitInput);
  std::string bad_key = kPlainYaml;
  bad_key.replace(bad_key.find("password:"), 9, "pass/word:");
  EXPECT_EQ(Seal(bad_key).code, kExitInput);
  std::string bad_b64 = kPlainYaml;
  bad_b64.replace(bad_b64.find("aHVudGVy"), 8, "a*VudGVy");
  Run r = Seal(bad_b64);
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_EQ(r.err.find("a*VudGVy"), std::string::npos);  // the value is never echoed
}

TEST_F(CliTest, SealRefusesKeyInDataAndStringData) {
  Keygen();
  std::string both = std::string(kPlainYaml) + "  password: again\n";
  EXPECT_EQ(Seal(both).code, kExitInput);
}

TEST_F(CliTest, SealDropsLastAppliedConfiguration) {
  Keygen();
  std::string yaml = kPlainYaml;
  yaml.replace(yaml.find("    team: core"), 14,
               "    team: core\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"password\":\"aHVudGVyMi1wbGFpbnRleHQ=\"}}'");
  Run s = Seal(yaml);
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(s.out.find("aHVudGVyMi1wbGFpbnRleHQ"), std::string::npos);
  EXPECT_EQ(s.out.find("last-applied"), std::string::npos);
}

TEST_F(CliTest, SealRefusesPrivateKeyAsPublicKey) {
  Keygen();
  Run r = Cli({"seal", "--public-key", Priv(), "--cluster", "c", "--namespace", "payments", "--service-account", "a"},
              kPlainYaml);
  EXPECT_EQ(r.code, kExitInput);
}

TEST_F(CliTest, UnsealRefusesMovedValue) {
  Keygen();
  Run s = Seal(kPlainYaml, {"-o", "json"});
  ASSERT_EQ(s.code, 0);
  Json sealed = ParseOut(s.out);

  Json renamed = sealed;  // same value, other Secret name
  renamed["metadata"]["name"] = "other-secret";
  Run r = Unseal(DumpJson(renamed));
  EXPECT_EQ(r.code, kExitCrypto);
  EXPECT_TRUE(r.out.empty());

  Json rekeyed = sealed;  // same value under another data key
  rekeyed["data"]["admin-password"] = rekeyed["data"]["password"];
  rekeyed["data"].erase("password");
  EXPECT_EQ(Unseal(DumpJson(rekeyed)).code, kExitCrypto);

  Json moved = sealed;  // same Secret copied into another namespace
  moved["metadata"]["namespace"] = "attacker";
  EXPECT_EQ(Unseal(DumpJson(moved)).code, kExitCrypto);

  Json other_sa = sealed;  // annotation says another ServiceAccount
  other_sa["metadata"]["annotations"]["astis.io/service-account"] = "web";
  EXPECT_EQ(Unseal(DumpJson(other_sa)).code, kExitCrypto);

  Json other_cluster = sealed;
  other_cluster["metadata"]["annotations"]["astis.io/cluster"] = "prod-us1";
  EXPECT_EQ(Unseal(DumpJson(other_cluster)).code, kExitCrypto);
}

TEST_F(CliTest, UnsealRefusesWrongOrgKey) {
  Keygen();
  Run s = Seal(kPlainYaml);
  ASSERT_EQ(s.code, 0);
  ASSERT_EQ(Cli({"keygen", "--out", dir_ + "/other"}).code, 0);
  Run r = Cli({"unseal", "--org-key", dir_ + "/other/org-key.jwk"}, s.out);
  EXPECT_EQ(r.code, kExitCrypto);
  EXPECT_NE(r.err.find("unknown_key"), std::string::npos);
}

TEST_F(CliTest, UnsealRefusesWorldReadableKey) {
  Keygen();
  Run s = Seal(kPlainYaml);
  ASSERT_EQ(s.code, 0);
  ASSERT_EQ(::chmod(Priv().c_str(), 0644), 0);
  EXPECT_EQ(Unseal(s.out).code, kExitIo);
}

TEST_F(CliTest, HelpOnEveryCommandMentionsExitCodes) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"keygen", "--help"}, {"seal", "--help"}, {"unseal", "--help"}}) {
    Run r = Cli(args);
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("Exit codes"), std::string::npos) << args[0];
  }
}

TEST_F(CliTest, UsageErrorsExitOne) {
  EXPECT_EQ(Cli({}).code, kExitUsage);
  EXPECT_EQ(Cli({"frobnicate"}).code, kExitUsage);
  EXPECT_EQ(Cli({"seal", "--cluster", "c"}).code, kExitUsage);
  EXPECT_EQ(Cli({"keygen"}).code, kExitUsage);
}

}  // namespace
}  // namespace astis::cli
