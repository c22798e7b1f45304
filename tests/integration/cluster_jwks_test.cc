// `astis cluster jwks fetch [--apply]` against the kube-apiserver stand-in's
// OIDC discovery and JWKS endpoints (docs/operations.md "Cluster
// signing-key rotation").
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/testing/temp_dir.h"
#include "crypto/public_key.h"
#include "store/sqlite_store.h"
#include "support/cli_run.h"
#include "support/kube_api_standin.h"

namespace astis {
namespace {

void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  ::chmod(path.c_str(), mode);
}

std::set<std::string> Kids(const std::string& jwks) {
  std::set<std::string> out;
  const Json root = ParseJsonObject(jwks, JsonLimits{1024 * 1024, 16}).value();
  for (const Json& k : root["keys"]) out.insert(k["kid"].get<std::string>());
  return out;
}

class CliClusterJwksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    store_ = dir_ + "/edge.db";
    auto api = integration::KubeApiStandin::Start("read-token");
    ASSERT_TRUE(api.ok()) << api.status().ToString();
    api_ = std::move(api).value();
    WriteFile(dir_ + "/ca.pem", api_->ca_cert_pem(), 0644);
    WriteFile(dir_ + "/token", "read-token\n");
  }

  integration::CliResult Cli(std::vector<std::string> args, const std::string& stdin_text = "") {
    return integration::CliRun(std::move(args), clock_, stdin_text);
  }

  std::string PinnedJwks() {
    auto s = store::OpenSqliteStore(store_);
    EXPECT_TRUE(s.ok());
    auto c = (*s)->GetCluster("default", "prod");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? c->jwks_json : "";
  }

  FakeClock clock_{1764115200};
  test::TempDir tmp_{"astis-jwks"};
  std::string dir_;
  std::string store_;
  std::unique_ptr<integration::KubeApiStandin> api_;
};

// Test: CliClusterJwksTest.FetchDiffsAndApplyNeedsConfirmation: the cluster
// serves keys A and B, the store pins A and a retired key R. fetch shows
// +B -R =A and pins nothing; --apply pins nothing without the typed name,
// then A, B and R (overlap: R's tokens stay valid); --apply --prune --yes
// pins A and B; a wrong token is refused.
TEST_F(CliClusterJwksTest, FetchDiffsAndApplyNeedsConfirmation) {
  const std::string served = api_->standin().JwksJson();
  const Json served_root = ParseJsonObject(served, JsonLimits{1024 * 1024, 16}).value();
  ASSERT_EQ(served_root["keys"].size(), 2u);
  const Json a = served_root["keys"][0];
  const std::string kid_a = a["kid"].get<std::string>();
  const std::string kid_b = served_root["keys"][1]["kid"].get<std::string>();
  auto retired = SigningKey::GenerateEc();
  ASSERT_TRUE(retired.ok());
  Json r = retired->PublicJwkMembers();
  r["kid"] = "retired-1";
  WriteFile(dir_ + "/jwks.json", DumpJson(Json{{"keys", Json::array({a, r})}}), 0644);
  auto add = Cli({"cluster", "add", "--store", store_, "--name", "prod", "--issuer", api_->standin().issuer(),
                  "--jwks-file", dir_ + "/jwks.json", "--api-url", api_->url(), "--ca-file", dir_ + "/ca.pem",
                  "--token-file", dir_ + "/token", "--mode", "strict"});
  ASSERT_EQ(add.code, 0) << add.err;
  const std::vector<std::string> fetch = {"cluster", "jwks", "fetch", "--store", store_, "--name", "prod"};

  auto shown = Cli(fetch);
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_NE(shown.out.find("+ " + kid_b), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("- retired-1"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("= " + kid_a), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("not pinned (use --apply)"), std::string::npos) << shown.out;
  EXPECT_EQ(Kids(PinnedJwks()), (std::set<std::string>{kid_a, "retired-1"}));

  std::vector<std::string> apply = fetch;
  apply.push_back("--apply");
  auto refused = Cli(apply, "staging\n");
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.err.find("not confirmed"), std::string::npos) << refused.err;
  EXPECT_EQ(Kids(PinnedJwks()), (std::set<std::string>{kid_a, "retired-1"}));

  auto applied = Cli(apply, "prod\n");
  ASSERT_EQ(applied.code, 0) << applied.err;
  EXPECT_EQ(Kids(PinnedJwks()), (std::set<std::string>{kid_a, kid_b, "retired-1"}));

  std::vector<std::string> prune = apply;
  prune.insert(prune.end(), {"--prune", "--yes"});
  auto pruned = Cli(prune);
  ASSERT_EQ(pruned.code, 0) << pruned.err;
  EXPECT_EQ(Kids(PinnedJwks()), (std::set<std::string>{kid_a, kid_b}));
  auto again = Cli(fetch);
  EXPECT_NE(again.out.find("nothing to pin"), std::string::npos) << again.out;

  WriteFile(dir_ + "/token", "not-the-token\n");
  auto unauthorized = Cli(fetch);
  EXPECT_NE(unauthorized.code, 0);
  EXPECT_NE(unauthorized.err.find("unavailable"), std::string::npos) << unauthorized.err;
  EXPECT_EQ(unauthorized.err.find("not-the-token"), std::string::npos);
}

}  // namespace
}  // namespace astis
