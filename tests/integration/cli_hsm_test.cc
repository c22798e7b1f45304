// `astis keygen --pkcs11` against a real PKCS#11 token (SoftHSM2 in a private
// directory, src/hsm/testing/softhsm.h): the key pair is generated in the
// token, only public material is written, and what `astis seal` writes to
// that key opens through the token (docs/hsm.md "Key ceremony").
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "cli/cli.h"
#include "support/cli_run.h"
#include "cli/secret_manifest.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/must.h"
#include "common/testing/temp_dir.h"
#include "hsm/pkcs11.h"
#include "hsm/testing/softhsm.h"

namespace astis::cli {
namespace {

using test::Must;

class CliHsmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!hsm::testing::SoftHsmAvailable()) GTEST_SKIP() << "SoftHSM2 is not installed (scripts/install-deps.sh)";
    auto token = hsm::testing::SoftHsmToken::Create("astis-cli");
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    token_ = std::move(*token);
    dir_ = tmp_.path();
  }

  using Run = integration::CliResult;
  Run Cli(std::vector<std::string> args, const std::string& stdin_text = "") {
    return integration::CliRun(std::move(args), clock_, stdin_text);
  }
  Run KeygenIn(const std::string& out_dir, const std::string& object, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"keygen",   "--out",    out_dir, "--pkcs11", token_->KeyUri(object),
                                     "--module", hsm::testing::kSoftHsmModule, "--pin-file", token_->pin_file()};
    args.insert(args.end(), extra.begin(), extra.end());
    return Cli(args);
  }
  static Json ReadJson(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return Json::parse(ss.str());
  }

  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  test::TempDir tmp_{"astis-cli-hsm"};
  std::string dir_;
  FakeClock clock_{1764115200};
};

TEST_F(CliHsmTest, KeygenPkcs11WritesOnlyPublicMaterial) {
  Run r = KeygenIn(dir_ + "/keys", "org-key-1");
  ASSERT_EQ(r.code, 0) << r.err;
  Json member = ReadJson(dir_ + "/keys/org-key.jwk");
  Json pub = ReadJson(dir_ + "/keys/org-key.pub.jwk");
  EXPECT_EQ(member["crv"], "P-256");
  EXPECT_FALSE(member.contains("d"));
  EXPECT_EQ(member["pkcs11"], token_->KeyUri("org-key-1"));
  EXPECT_FALSE(pub.contains("d"));
  EXPECT_FALSE(pub.contains("pkcs11"));
  EXPECT_EQ(pub["kid"], member["kid"]);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/keys/org-key.jwk").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(r.out.find(pub["kid"].get<std::string>()), std::string::npos);

  // Seal to the public key with the CLI, open through the token: the member
  // file is a key set the CVS loads with its pkcs11 module.
  Run s = Cli({"seal", "--public-key", dir_ + "/keys/org-key.pub.jwk", "--cluster", "prod-eu1", "--namespace",
               "payments", "--service-account", "api", "-o", "json", "--name", "db", "--from-literal",
               "password=in-the-token"});
  ASSERT_EQ(s.code, 0) << s.err;
  auto module = hsm::Pkcs11Module::Load(token_->Config());
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  capsule::TokenKeyResolver resolver = [&](std::string_view uri) { return (*module)->OpenP256Key(uri); };
  auto keys = capsule::OrgKeySet::LoadFile(dir_ + "/keys/org-key.jwk", resolver);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_TRUE(keys->active().in_token());
  Json sealed = Must(ParseManifest(s.out));
  auto text = Must(B64Decode(sealed["data"]["password"].get<std::string>()));
  auto value = Must(capsule::SealedValue::Parse(std::string(text.begin(), text.end())));
  auto dek = capsule::OpenCapsule(*keys, value.capsule());
  ASSERT_TRUE(dek.ok()) << dek.status().ToString();
  EXPECT_EQ(Must(capsule::DecryptValue(*dek, value)).RevealString(), "in-the-token");
}

TEST_F(CliHsmTest, KeygenPkcs11RefusesAnExistingObject) {
  ASSERT_EQ(KeygenIn(dir_ + "/a", "org-key-1").code, 0);
  Run again = KeygenIn(dir_ + "/b", "org-key-1");
  EXPECT_EQ(again.code, kExitIo) << again.err;
  EXPECT_NE(again.err.find("already_exists"), std::string::npos) << again.err;
  struct stat st {};
  EXPECT_NE(::stat((dir_ + "/b/org-key.jwk").c_str(), &st), 0);  // nothing written
}

TEST_F(CliHsmTest, KeygenPkcs11RefusesX25519Suite) {
  Run r = KeygenIn(dir_ + "/keys", "org-key-1", {"--suite", "x25519"});
  EXPECT_EQ(r.code, kExitInput) << r.err;
  EXPECT_NE(r.err.find("P-256"), std::string::npos) << r.err;
}

TEST_F(CliHsmTest, KeygenPkcs11NeedsModuleAndPin) {
  Run r = Cli({"keygen", "--out", dir_ + "/keys", "--pkcs11", token_->KeyUri("k")});
  EXPECT_EQ(r.code, kExitInput) << r.err;
  Run wrong_pin = Cli({"keygen", "--out", dir_ + "/keys", "--pkcs11", token_->KeyUri("k"), "--module",
                       hsm::testing::kSoftHsmModule, "--pin-file", dir_ + "/no-such-pin"});
  EXPECT_NE(wrong_pin.code, 0);
  EXPECT_EQ(wrong_pin.err.find(std::string(hsm::testing::SoftHsmToken::pin())), std::string::npos);
}

TEST_F(CliHsmTest, UnsealTokenKeySetNeedsModule) {
  ASSERT_EQ(KeygenIn(dir_ + "/keys", "org-key-1").code, 0);
  Run s = Cli({"seal", "--public-key", dir_ + "/keys/org-key.pub.jwk", "--cluster", "prod-eu1", "--namespace",
               "payments", "--service-account", "api", "--name", "db", "--from-literal", "password=break-glass"});
  ASSERT_EQ(s.code, 0) << s.err;
  // Without the token: refused, naming the flags.
  Run no = Cli({"unseal", "--org-key", dir_ + "/keys/org-key.jwk", "-o", "json"}, s.out);
  EXPECT_EQ(no.code, kExitInput) << no.err;
  EXPECT_NE(no.err.find("--pkcs11-module"), std::string::npos) << no.err;
  EXPECT_TRUE(no.out.empty());
  // With it: break-glass opens through the token.
  Run yes = Cli({"unseal", "--org-key", dir_ + "/keys/org-key.jwk", "-o", "json", "--pkcs11-module",
                 hsm::testing::kSoftHsmModule, "--pin-file", token_->pin_file()},
                s.out);
  ASSERT_EQ(yes.code, 0) << yes.err;
  Json plain = Must(ParseManifest(yes.out));
  auto pw = Must(B64Decode(plain["data"]["password"].get<std::string>()));
  EXPECT_EQ(std::string(pw.begin(), pw.end()), "break-glass");
  // One of the two flags alone is a usage mistake.
  EXPECT_EQ(Cli({"unseal", "--org-key", dir_ + "/keys/org-key.jwk", "--pkcs11-module", hsm::testing::kSoftHsmModule},
                s.out)
                .code,
            kExitInput);
}

TEST_F(CliHsmTest, ResealToATokenKey) {
  // Rotation onto a token key (docs/hsm.md "Key ceremony"): values sealed
  // to a file key are re-sealed to the token key, which alone opens them.
  ASSERT_EQ(Cli({"keygen", "--out", dir_ + "/old"}).code, 0);
  ASSERT_EQ(KeygenIn(dir_ + "/new", "org-key-2").code, 0);
  Run s = Cli({"seal", "--public-key", dir_ + "/old/org-key.pub.jwk", "--cluster", "prod-eu1", "--namespace",
               "payments", "--service-account", "api", "--name", "db", "--from-literal", "password=moved-to-hsm"});
  ASSERT_EQ(s.code, 0) << s.err;
  Json active = ReadJson(dir_ + "/new/org-key.jwk");
  active["status"] = "active";
  Json retired = ReadJson(dir_ + "/old/org-key.jwk");
  retired["status"] = "retired";
  const std::string set = dir_ + "/set.json";
  std::ofstream(set) << Json{{"keys", Json::array({active, retired})}}.dump();
  ::chmod(set.c_str(), 0600);
  Run r = Cli({"reseal", "--keys", set, "--pkcs11-module", hsm::testing::kSoftHsmModule, "--pin-file",
               token_->pin_file(), "-o", "json"},
              s.out);
  ASSERT_EQ(r.code, 0) << r.err;
  Json resealed = Must(ParseManifest(r.out));
  auto text = Must(B64Decode(resealed["data"]["password"].get<std::string>()));
  auto value = Must(capsule::SealedValue::Parse(std::string(text.begin(), text.end())));
  EXPECT_EQ(value.capsule().kid(), active["kid"].get<std::string>());
  EXPECT_EQ(value.capsule().enc().size(), 65u);
  Run u = Cli({"unseal", "--org-key", dir_ + "/new/org-key.jwk", "-o", "json", "--pkcs11-module",
               hsm::testing::kSoftHsmModule, "--pin-file", token_->pin_file()},
              r.out);
  ASSERT_EQ(u.code, 0) << u.err;
}

}  // namespace
}  // namespace astis::cli
