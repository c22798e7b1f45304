// In-process tests of the `astis` CLI (keygen, seal, unseal) through RunCli,
// exactly as argv would reach it.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "capsule/capsule.h"
#include "cli/cli.h"
#include "support/cli_run.h"
#include "cli/commands.h"
#include "cli/secret_manifest.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/temp_dir.h"
#include "net/http_server.h"
#include "net/testing/test_pki.h"

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

  using Run = integration::CliResult;

  Run Cli(std::vector<std::string> args, const std::string& stdin_text = "") {
    return integration::CliRun(std::move(args), clock_, stdin_text);
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
  // A kubernetes.io/tls Secret is refused by default (CliTypeTest.SealRefusesTls);
  // this one is read by a pod through ASTIS, so it is allowed.
  Run s = Seal(input, {"-o", "json", "--allow-type", "kubernetes.io/tls"});
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

// ---- protocol 1.1: several clusters, P-256 org keys (docs/protocol.md §2, §3.1)

Json CapsuleOf(const std::string& sealed_b64) {
  auto sealed = B64Decode(sealed_b64);
  EXPECT_TRUE(sealed.ok());
  std::string text(sealed->begin(), sealed->end());
  auto v = capsule::SealedValue::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? Json::parse(v->capsule().bytes()) : Json();
}

TEST_F(CliTest, SealTwoClustersWritesV2) {
  Keygen();
  Run r = Cli({"seal", "--public-key", Pub(), "--cluster", "prod-us1", "--cluster", "prod-eu1", "--namespace",
               "payments", "--service-account", "api", "-o", "json"},
              kPlainYaml);
  ASSERT_EQ(r.code, 0) << r.err;
  Json sealed = ParseOut(r.out);
  EXPECT_EQ(sealed["metadata"]["annotations"]["astis.io/cluster"], "prod-eu1,prod-us1");
  Json cap = CapsuleOf(sealed["data"]["password"].get<std::string>());
  EXPECT_EQ(cap["v"], 2);
  EXPECT_EQ(cap["bind"]["clusters"], Json::array({"prod-eu1", "prod-us1"}));
  EXPECT_FALSE(cap["bind"].contains("cluster"));
  // One --cluster still writes v1, so nothing changes for existing users.
  Run one = Seal(kPlainYaml, {"-o", "json"});
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_EQ(CapsuleOf(ParseOut(one.out)["data"]["password"].get<std::string>())["v"], 1);
  // And the sealed Secret unseals in either cluster, not in a third.
  for (const char* c : {"prod-eu1", "prod-us1"}) {
    Run u = Cli({"unseal", "--org-key", Priv(), "-o", "json", "--cluster", c}, r.out);
    ASSERT_EQ(u.code, 0) << c << ": " << u.err;
    EXPECT_EQ(Decoded(ParseOut(u.out), "password"), "hunter2-plaintext");
  }
}

TEST_F(CliTest, SealRefusesDuplicateCluster) {
  Keygen();
  Run r = Cli({"seal", "--public-key", Pub(), "--cluster", "a", "--cluster", "a", "--namespace", "payments",
               "--service-account", "api"},
              kPlainYaml);
  EXPECT_EQ(r.code, kExitInput) << r.err;
  EXPECT_NE(r.err.find("named twice"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(CliTest, SealRefusesSeventeenClusters) {
  Keygen();
  std::vector<std::string> args = {"seal", "--public-key", Pub(), "--namespace", "payments", "--service-account",
                                   "api"};
  for (int i = 0; i < 17; ++i) {
    args.push_back("--cluster");
    args.push_back("c" + std::to_string(i));
  }
  Run r = Cli(args, kPlainYaml);
  EXPECT_EQ(r.code, kExitInput) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(CliTest, UnsealInClusterChecksScope) {
  Keygen();
  Run s = Seal(kPlainYaml);
  ASSERT_EQ(s.code, 0) << s.err;
  Run ok = Cli({"unseal", "--org-key", Priv(), "-o", "json", "--cluster", "prod-eu1"}, s.out);
  EXPECT_EQ(ok.code, 0) << ok.err;
  Run refused = Cli({"unseal", "--org-key", Priv(), "-o", "json", "--cluster", "prod-us1"}, s.out);
  EXPECT_EQ(refused.code, kExitCrypto);
  EXPECT_NE(refused.err.find("capsule_scope"), std::string::npos) << refused.err;
  EXPECT_TRUE(refused.out.empty());
}

TEST_F(CliTest, KeygenP256WritesP256Jwk) {
  Run r = Cli({"keygen", "--suite", "p256", "--out", dir_ + "/keys"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(Pub());
  std::stringstream ss;
  ss << in.rdbuf();
  Json pub = Json::parse(ss.str());
  EXPECT_EQ(pub["kty"], "EC");
  EXPECT_EQ(pub["crv"], "P-256");
  EXPECT_FALSE(pub.contains("d"));
  // Sealing uses the key's suite: the capsule carries the 65-byte point.
  Run s = Seal(kPlainYaml, {"-o", "json"});
  ASSERT_EQ(s.code, 0) << s.err;
  Json cap = CapsuleOf(ParseOut(s.out)["data"]["password"].get<std::string>());
  EXPECT_EQ(B64uDecode(cap["enc"].get<std::string>()).value().size(), 65u);
  Run u = Unseal(s.out);
  ASSERT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(Decoded(ParseOut(u.out), "password"), "hunter2-plaintext");
  // An unknown suite is a usage error.
  EXPECT_EQ(Cli({"keygen", "--suite", "ed25519", "--out", dir_ + "/k2"}).code, kExitUsage);
}

TEST_F(CliTest, ResealAddClusterOpensInBoth) {
  Keygen();
  Run s = Seal(kPlainYaml);
  ASSERT_EQ(s.code, 0) << s.err;
  Run r = Cli({"reseal", "--keys", Priv(), "--add-cluster", "dr-1", "-o", "json"}, s.out);
  ASSERT_EQ(r.code, 0) << r.err;
  Json resealed = ParseOut(r.out);
  EXPECT_EQ(resealed["metadata"]["annotations"]["astis.io/cluster"], "dr-1,prod-eu1");
  for (const char* c : {"dr-1", "prod-eu1"}) {
    Run u = Cli({"unseal", "--org-key", Priv(), "-o", "json", "--cluster", c}, r.out);
    ASSERT_EQ(u.code, 0) << c << ": " << u.err;
    EXPECT_EQ(Decoded(ParseOut(u.out), "username"), "admin-plaintext-user");
  }
  // And back: removing the added cluster gives a v1 value again.
  Run back = Cli({"reseal", "--keys", Priv(), "--remove-cluster", "dr-1", "-o", "json"}, r.out);
  ASSERT_EQ(back.code, 0) << back.err;
  EXPECT_EQ(CapsuleOf(ParseOut(back.out)["data"]["password"].get<std::string>())["v"], 1);
  EXPECT_EQ(Cli({"unseal", "--org-key", Priv(), "--cluster", "dr-1"}, back.out).code, kExitCrypto);
}

TEST_F(CliTest, ResealRemoveLastClusterRefused) {
  Keygen();
  Run s = Seal(kPlainYaml);
  ASSERT_EQ(s.code, 0) << s.err;
  Run r = Cli({"reseal", "--keys", Priv(), "--remove-cluster", "prod-eu1"}, s.out);
  EXPECT_EQ(r.code, kExitInput) << r.err;
  EXPECT_TRUE(r.out.empty());
}

// ------------------------------------------------ seal like kubectl apply -f

constexpr char kSecondYaml[] = R"(apiVersion: v1
kind: Secret
metadata:
  name: api-token
  namespace: billing
data:
  token: c2Vjb25kLXBsYWludGV4dA==
)";

TEST_F(CliTest, SealTakesNamespaceFromMetadata) {
  Keygen();
  Run s = Cli({"seal", "--public-key", Pub(), "--cluster", "prod-eu1", "--service-account", "api"}, kPlainYaml);
  ASSERT_EQ(s.code, 0) << s.err;
  Json sealed = ParseOut(s.out);
  EXPECT_EQ(sealed["metadata"]["namespace"], "payments");
  Run u = Unseal(s.out);
  ASSERT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(Decoded(ParseOut(u.out), "password"), "hunter2-plaintext");
}

TEST_F(CliTest, SealRefusesNoNamespaceAnywhere) {
  Keygen();
  std::string no_ns = kPlainYaml;
  no_ns.erase(no_ns.find("  namespace: payments\n"), 22);
  Run r = Cli({"seal", "--public-key", Pub(), "--cluster", "prod-eu1", "--service-account", "api"}, no_ns);
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_NE(r.err.find("give --namespace"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  // --namespace still works for it, and literals need it.
  EXPECT_EQ(Seal(no_ns).code, 0);
  Run lit = Cli({"seal", "--public-key", Pub(), "--cluster", "prod-eu1", "--service-account", "api", "--name", "x",
                 "--from-literal", "a=b"});
  EXPECT_EQ(lit.code, kExitInput);
  EXPECT_NE(lit.err.find("--namespace"), std::string::npos) << lit.err;
}

TEST_F(CliTest, SealMultiDocumentKeepsOrder) {
  Keygen();
  Run s = Cli({"seal", "--public-key", Pub(), "--cluster", "prod-eu1", "--service-account", "api"},
              std::string(kPlainYaml) + "---\n" + kSecondYaml);
  ASSERT_EQ(s.code, 0) << s.err;
  auto docs = ParseManifests(s.out);
  ASSERT_TRUE(docs.ok()) << s.out;
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0]["metadata"]["name"], "db-creds");
  EXPECT_EQ((*docs)[1]["metadata"]["name"], "api-token");
  EXPECT_EQ((*docs)[1]["metadata"]["namespace"], "billing");  // each Secret its own namespace
  Run u = Unseal(EmitYaml((*docs)[1]));
  ASSERT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(Decoded(ParseOut(u.out), "token"), "second-plaintext");
  // -o json prints several Secrets as a v1 List.
  Run j = Cli({"seal", "--public-key", Pub(), "--cluster", "prod-eu1", "--service-account", "api", "-o", "json"},
              std::string(kPlainYaml) + "---\n" + kSecondYaml);
  ASSERT_EQ(j.code, 0) << j.err;
  auto list = ParseJsonObject(j.out);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)["kind"], "List");
  EXPECT_EQ((*list)["items"].size(), 2u);
}

TEST_F(CliTest, SealMultiDocumentAllOrNothing) {
  Keygen();
  std::string bad = kSecondYaml;
  bad.replace(bad.find("c2Vjb25k"), 8, "c*Vjb25k");
  Run r = Cli({"seal", "--public-key", Pub(), "--cluster", "prod-eu1", "--service-account", "api"},
              std::string(kPlainYaml) + "---\n" + bad);
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("document 2"), std::string::npos) << r.err;
  // --namespace given and one document in another namespace: nothing either.
  Run ns = Seal(std::string(kPlainYaml) + "---\n" + kSecondYaml);
  EXPECT_EQ(ns.code, kExitInput);
  EXPECT_TRUE(ns.out.empty());
}

TEST_F(CliTest, SealMultiDocumentRefusesNonSecret) {
  Keygen();
  const std::string cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: payments\n";
  Run r = Seal(std::string(kPlainYaml) + "---\n" + cm);
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("document 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a Secret"), std::string::npos) << r.err;
}

// SealTyped seals kPlainYaml with its type replaced.
class CliTypeTest : public CliTest {
 protected:
  Run SealTyped(const std::string& type, std::vector<std::string> extra = {}) {
    std::string yaml = kPlainYaml;
    yaml.replace(yaml.find("type: Opaque"), 12, "type: " + type);
    return Seal(yaml, std::move(extra));
  }
  void ExpectRefused(const std::string& type, const std::string& why) {
    Keygen();
    Run r = SealTyped(type);
    EXPECT_EQ(r.code, kExitInput) << type;
    EXPECT_TRUE(r.out.empty());
    EXPECT_NE(r.err.find(type), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--allow-type"), std::string::npos) << r.err;
  }
};

TEST_F(CliTypeTest, SealRefusesDockerConfigJson) {
  ExpectRefused("kubernetes.io/dockerconfigjson", "the kubelet reads this Secret to pull images");
}
TEST_F(CliTypeTest, SealRefusesDockerCfg) {
  ExpectRefused("kubernetes.io/dockercfg", "a sealed value would break image pulls");
}
TEST_F(CliTypeTest, SealRefusesTls) { ExpectRefused("kubernetes.io/tls", "would break TLS termination"); }
TEST_F(CliTypeTest, SealRefusesServiceAccountToken) {
  ExpectRefused("kubernetes.io/service-account-token", "API server");
}
TEST_F(CliTypeTest, SealRefusesBootstrapToken) {
  ExpectRefused("bootstrap.kubernetes.io/token", "node bootstrap");
}

TEST_F(CliTypeTest, SealAllowTypeOverridesWithAWarning) {
  Keygen();
  Run r = SealTyped("kubernetes.io/tls", {"--allow-type", "kubernetes.io/tls"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_EQ(ParseOut(r.out)["type"], "kubernetes.io/tls");
  // Allowing one type does not allow another.
  EXPECT_EQ(SealTyped("kubernetes.io/dockerconfigjson", {"--allow-type", "kubernetes.io/tls"}).code, kExitInput);
}

// ---------------------------------------- key files: the kind before the mode

TEST_F(CliTest, UnsealNamesAPublicKeyFile) {
  Keygen();
  Run s = Seal(kPlainYaml);
  ASSERT_EQ(s.code, 0);
  Run r = Cli({"unseal", "--org-key", Pub()}, s.out);
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_NE(r.err.find("this is a public key; unseal needs the private org key (org-key.jwk)"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("chmod"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(CliTest, ResealNamesAPublicKeyFile) {
  Keygen();
  Run s = Seal(kPlainYaml);
  ASSERT_EQ(s.code, 0);
  Run r = Cli({"reseal", "--keys", Pub(), "--add-cluster", "dr-1"}, s.out);
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_NE(r.err.find("this is a public key; reseal needs the private org key"), std::string::npos) << r.err;
}

TEST_F(CliTest, KeyRotateNamesAPublicKeyFile) {
  Keygen();
  Run r = Cli({"key", "rotate", "--keys", Pub()});
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_NE(r.err.find("this is a public key"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("chmod"), std::string::npos) << r.err;
}

TEST_F(CliTest, OrgKeyListShowsActiveAndRetiredKids) {
  const std::string keys = dir_ + "/cvs-keys";
  std::filesystem::create_directory(keys);
  ::chmod(keys.c_str(), 0700);
  Run create = Cli({"org", "key", "create", "--org", "acme", "--keys-dir", keys});
  ASSERT_EQ(create.code, 0) << create.err;
  const std::string first = ParseJsonObject(create.out)->value("kid", "");
  Run rotate = Cli({"org", "key", "rotate", "--org", "acme", "--keys-dir", keys});
  ASSERT_EQ(rotate.code, 0) << rotate.err;
  const std::string second = ParseJsonObject(rotate.out)->value("kid", "");
  Run list = Cli({"org", "key", "list", "--org", "acme", "--keys-dir", keys});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find(second + "  active   x25519"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find(first + "  retired  x25519"), std::string::npos) << list.out;
  EXPECT_LT(list.out.find(second), list.out.find(first));  // the active kid first
  EXPECT_EQ(list.out.find("\"d\""), std::string::npos);
  // Refusals: no organisation, unknown organisation, no directory, a
  // remote-CVS config.
  EXPECT_EQ(Cli({"org", "key", "list", "--keys-dir", keys}).code, kExitInput);
  EXPECT_EQ(Cli({"org", "key", "list", "--org", "globex", "--keys-dir", keys}).code, kExitIo);
  EXPECT_EQ(Cli({"org", "key", "list", "--org", "acme"}).code, kExitInput);
  const std::string config = dir_ + "/remote.yaml";
  std::ofstream(config) << "tls: {cert_file: a, key_file: b}\nexternal_base_url: https://edge.example.com\n"
                            "store: {path: x.db}\naudit_log: a.log\n"
                            "cvs: {mode: remote, url: https://cvs.internal:9000, ca_file: ca.pem, "
                            "client_cert_file: c.pem, client_key_file: k.pem, server_name: cvs.internal}\n";
  // An embedded CVS's cvs.org_keys_dir is the directory listed.
  const std::string local = dir_ + "/local.yaml";
  std::ofstream(local) << "tls: {cert_file: a, key_file: b}\nexternal_base_url: https://edge.example.com\n"
                           "store: {path: x.db}\naudit_log: a.log\ncvs: {mode: embedded, org_keys_dir: "
                        << keys << "}\n";
  Run by_config = Cli({"org", "key", "list", "--org", "acme", "--config", local});
  EXPECT_EQ(by_config.code, 0) << by_config.err;
  EXPECT_EQ(by_config.out, list.out);
  Run remote = Cli({"org", "key", "list", "--org", "acme", "--config", config});
  EXPECT_EQ(remote.code, kExitInput);
  EXPECT_NE(remote.err.find("run on the ASTIS CVS host"), std::string::npos) << remote.err;
}

// ------------------------------- seal --public-key https://EDGE/v1/keys/KID

// A TLS server on loopback port 0 standing in for an edge: it answers the
// real key for its kid, and the same key under forged_kid_ (a lying edge).
class CliFetchKeyTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    Keygen();
    auto pub = ParseJsonObject(*ReadFileLimited(Pub(), 1 << 16));
    ASSERT_TRUE(pub.ok());
    jwk_ = *pub;
    kid_ = jwk_.value("kid", "");
    auto other = capsule::OrgPrivateKey::Generate(DefaultRandom());
    ASSERT_TRUE(other.ok());
    forged_kid_ = other->kid();
    auto pki = net::testing::TestPki::Create();
    ASSERT_TRUE(pki.ok());
    std::ofstream(dir_ + "/ca.pem") << pki->ca_cert_pem();
    net::ServerConfig config;
    config.tls = pki->ServerTls();
    config.threads = 2;
    auto server = net::HttpServer::Start(config, [this](const net::ServerRequest& req) {
      if (req.path == "/v1/keys/" + kid_ || req.path == "/v1/keys/" + forged_kid_) {
        net::ServerResponse resp;
        resp.body = DumpJson(jwk_);
        resp.headers.emplace_back("Content-Type", "application/jwk+json");
        return resp;
      }
      return net::JsonError(404, "not_found", "no such key");
    });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::milliseconds(0));
  }
  std::string Url(const std::string& kid) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + "/v1/keys/" + kid;
  }
  Run SealFrom(const std::string& url, bool with_ca = true) {
    std::vector<std::string> args = {"seal", "--public-key", url, "--cluster", "prod-eu1", "--service-account", "api"};
    if (with_ca) args.insert(args.end(), {"--ca-file", dir_ + "/ca.pem"});
    return Cli(args, kPlainYaml);
  }

  Json jwk_;
  std::string kid_, forged_kid_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(CliFetchKeyTest, FetchesTheKeyByKidAndSeals) {
  Run s = SealFrom(Url(kid_));
  ASSERT_EQ(s.code, 0) << s.err;
  Run u = Unseal(s.out);
  ASSERT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(Decoded(ParseOut(u.out), "password"), "hunter2-plaintext");
}

TEST_F(CliFetchKeyTest, RefusesThumbprintMismatch) {
  Run r = SealFrom(Url(forged_kid_));  // the edge answers a key whose thumbprint is not this kid
  EXPECT_EQ(r.code, kExitCrypto);
  EXPECT_NE(r.err.find("thumbprint"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(CliFetchKeyTest, RefusesWrongUrlShape) {
  const std::string base = "https://127.0.0.1:" + std::to_string(server_->port());
  for (const std::string& url : {base + "/v1/keys/short", base + "/v1/keys/" + kid_ + "?x=1", base + "/v1/keys",
                                 base + "/v1/keyset/" + kid_, std::string("https:///v1/keys/") + kid_}) {
    Run r = SealFrom(url);
    EXPECT_EQ(r.code, kExitInput) << url << ": " << r.err;
    EXPECT_TRUE(r.out.empty());
  }
  // An unknown but well-formed kid is the edge's 404.
  std::string unknown = kid_;
  unknown[0] = unknown[0] == 'A' ? 'B' : 'A';
  Run r = SealFrom(Url(unknown));
  EXPECT_EQ(r.code, kExitIo);
  EXPECT_NE(r.err.find("no active org key"), std::string::npos) << r.err;
}

TEST_F(CliFetchKeyTest, RefusesHttp) {
  Run r = SealFrom("http://127.0.0.1:" + std::to_string(server_->port()) + "/v1/keys/" + kid_, false);
  EXPECT_EQ(r.code, kExitInput);
  EXPECT_NE(r.err.find("https://"), std::string::npos) << r.err;
}

TEST_F(CliFetchKeyTest, UntrustedCertificateIsRefused) {
  Run r = SealFrom(Url(kid_), /*with_ca=*/false);  // the test CA is not in the system store
  EXPECT_EQ(r.code, kExitIo) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(CliFetchKeyTest, UnreachableIsIoError) {
  const std::string url = Url(kid_);
  server_->Stop(std::chrono::milliseconds(0));
  server_.reset();
  Run r = SealFrom(url);
  EXPECT_EQ(r.code, kExitIo);
  EXPECT_NE(r.err.find("fetching"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

// The protocol 1.1 vectors through `astis unseal`, as an operator would run
// them: each valid value in a Secret opens with the vectors' org key in each
// of its opensIn clusters and is refused capsule_scope in each refusedIn
// cluster; each invalid value is refused and nothing is printed.
class CliVectorsTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    std::ifstream in(std::string(ASTIS_TESTDATA_DIR) + "/vectors/astis-capsule-vectors.json");
    std::stringstream ss;
    ss << in.rdbuf();
    vectors_ = Json::parse(ss.str());
    // Both org keys in one key set file, X25519 active: the kid selects.
    Json x = vectors_["orgKeys"]["X25519"];
    Json p = vectors_["orgKeys"]["P-256"];
    x["status"] = "active";
    p["status"] = "retired";
    keys_ = dir_ + "/vector-keys.json";
    std::ofstream(keys_) << Json{{"keys", Json::array({x, p})}}.dump();
    ::chmod(keys_.c_str(), 0600);
  }
  static std::string SecretWith(const std::string& sealed) {
    return Json{{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", "db-creds"}, {"namespace", "payments"}}},
                {"data", {{"password", B64Encode(sealed)}}}}
        .dump();
  }
  Json vectors_;
  std::string keys_;
};

TEST_F(CliVectorsTest, ValidVectorsOpenInTheirClustersOnly) {
  size_t opened = 0, refused = 0;
  for (const Json& v : vectors_["valid"]) {
    SCOPED_TRACE(v["name"].get<std::string>());
    const std::string secret = SecretWith(v["sealed"].get<std::string>());
    for (const Json& c : v["opensIn"]) {
      Run u = Cli({"unseal", "--org-key", keys_, "-o", "json", "--cluster", c.get<std::string>()}, secret);
      ASSERT_EQ(u.code, 0) << u.err;
      EXPECT_EQ(Decoded(ParseOut(u.out), "password"), v["plaintext"].get<std::string>());
      ++opened;
    }
    for (const Json& c : v["refusedIn"]) {
      Run u = Cli({"unseal", "--org-key", keys_, "-o", "json", "--cluster", c.get<std::string>()}, secret);
      EXPECT_EQ(u.code, kExitCrypto);
      EXPECT_NE(u.err.find("capsule_scope"), std::string::npos) << u.err;
      EXPECT_EQ(u.out.find(v["plaintext"].get<std::string>()), std::string::npos);
      ++refused;
    }
  }
  EXPECT_EQ(opened, 12u);
  EXPECT_EQ(refused, 8u);
}

TEST_F(CliVectorsTest, InvalidVectorsAreRefusedWithoutOutput) {
  for (const Json& v : vectors_["invalid"]) {
    SCOPED_TRACE(v["name"].get<std::string>());
    Run u = Cli({"unseal", "--org-key", keys_, "-o", "json"}, SecretWith(v["sealed"].get<std::string>()));
    EXPECT_NE(u.code, 0);
    EXPECT_TRUE(u.out.empty()) << u.out;
  }
}

}  // namespace
}  // namespace astis::cli
