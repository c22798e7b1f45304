// `astis cluster jwks fetch`: discovery, the JWKS diff and what --apply pins.
#include "admin/cluster_jwks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "common/json.h"
#include "crypto/public_key.h"
#include "net/http_server.h"
#include "net/testing/test_pki.h"

namespace astis::admin {
namespace {

// Key is one EC P-256 public JWK with kid.
Json Key(const std::string& kid) {
  auto k = SigningKey::GenerateEc();
  EXPECT_TRUE(k.ok());
  Json j = k->PublicJwkMembers();
  j["kid"] = kid;
  j["use"] = "sig";
  j["alg"] = "ES256";
  return j;
}

std::string Set(const std::vector<Json>& keys) { return DumpJson(Json{{"keys", keys}}); }

std::vector<std::string> KidsOf(const std::string& jwks) {
  std::vector<std::string> out;
  const Json root = ParseJsonObject(jwks, JsonLimits{1024 * 1024, 16}).value();
  for (const Json& k : root["keys"]) {
    out.push_back(k["kid"].get<std::string>());
  }
  return out;
}

// Test: ClusterJwksTest.ParsesDiscoveryAndRefusesBadOnes.
TEST(ClusterJwksTest, ParsesDiscoveryAndRefusesBadOnes) {
  auto ok = ParseOpenIdConfiguration(
      R"({"issuer":"https://kubernetes.default.svc","jwks_uri":"https://10.0.0.1:6443/openid/v1/jwks",)"
      R"("response_types_supported":["id_token"]})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->issuer, "https://kubernetes.default.svc");
  EXPECT_EQ(ok->jwks_path, "/openid/v1/jwks");
  for (const char* bad : {"", "[]", R"({"jwks_uri":"https://a/b"})", R"({"issuer":"i"})",
                          R"({"issuer":"","jwks_uri":"https://a/b"})", R"({"issuer":"i","jwks_uri":"http://a/b"})",
                          R"({"issuer":"i","jwks_uri":"https://a"})", R"({"issuer":"i","jwks_uri":"https:///b"})",
                          R"({"issuer":"i","jwks_uri":"https://a/b?x=1"})",
                          R"({"issuer":"i","jwks_uri":"https://a/b c"})",
                          R"({"issuer":1,"jwks_uri":"https://a/b"})"}) {
    EXPECT_EQ(ParseOpenIdConfiguration(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

// Test: ClusterJwksTest.ApplyKeepsOverlapUntilPruned.
TEST(ClusterJwksTest, ApplyKeepsOverlapUntilPruned) {
  const Json old_key = Key("old");
  const Json both = Key("both");
  const Json fresh = Key("new");
  const std::string pinned = Set({old_key, both});
  const std::string served = Set({both, fresh});
  auto diff = DiffJwks(pinned, served);
  ASSERT_TRUE(diff.ok()) << diff.status().ToString();
  EXPECT_EQ(diff->added, std::vector<std::string>{"new"});
  EXPECT_EQ(diff->removed, std::vector<std::string>{"old"});
  EXPECT_EQ(diff->kept, std::vector<std::string>{"both"});
  auto keep = JwksToPin(pinned, served, /*prune=*/false);
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(KidsOf(*keep), (std::vector<std::string>{"both", "new", "old"}));
  auto pruned = JwksToPin(pinned, served, /*prune=*/true);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(KidsOf(*pruned), (std::vector<std::string>{"both", "new"}));
  // A served set gate 2 could not use, or a key without kid, is refused.
  EXPECT_EQ(DiffJwks(pinned, R"({"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"x"}]})").status().code(),
            Code::kInvalidArgument);
  Json no_kid = Key("x");
  no_kid.erase("kid");
  EXPECT_EQ(JwksToPin(pinned, Set({no_kid}), false).status().code(), Code::kInvalidArgument);
}

class ClusterJwksServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = net::testing::TestPki::Create();
    ASSERT_TRUE(pki.ok());
    pki_ = std::make_unique<net::testing::TestPki>(std::move(pki).value());
    auto dir = net::testing::MakeTempDir();
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    std::ofstream(dir_ + "/ca.pem") << pki_->ca_cert_pem();
    std::ofstream(dir_ + "/token") << "read-token\n";
    net::ServerConfig sc;
    sc.tls = pki_->ServerTls();
    sc.threads = 1;
    auto server = net::HttpServer::Start(sc, [this](const net::ServerRequest& r) { return Serve(r); });
    ASSERT_TRUE(server.ok());
    server_ = std::move(server).value();
    cluster_.name = "prod-eu1";
    cluster_.issuer = "https://kubernetes.default.svc";
    cluster_.api_url = "https://127.0.0.1:" + std::to_string(server_->port());
    cluster_.ca_file = dir_ + "/ca.pem";
    cluster_.token_file = dir_ + "/token";
  }
  void TearDown() override {
    server_->Stop(std::chrono::milliseconds(200));
    std::filesystem::remove_all(dir_);
  }

  net::ServerResponse Serve(const net::ServerRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.Header("Authorization") != std::optional<std::string>("Bearer read-token")) {
      return net::JsonError(401, "unauthorized", "no");
    }
    net::ServerResponse out;
    if (r.path == "/.well-known/openid-configuration") {
      out.body = DumpJson(Json{{"issuer", issuer_}, {"jwks_uri", "https://kubernetes.default.svc/openid/v1/jwks"}});
    } else if (r.path == "/openid/v1/jwks") {
      out.body = jwks_;
    } else {
      out.status = 404;
    }
    return out;
  }

  std::unique_ptr<net::testing::TestPki> pki_;
  std::string dir_;
  std::unique_ptr<net::HttpServer> server_;
  store::Cluster cluster_;
  std::mutex mu_;
  std::string issuer_ = "https://kubernetes.default.svc";
  std::string jwks_;
};

// Test: ClusterJwksServerTest.FetchShowsDiff.
TEST_F(ClusterJwksServerTest, FetchShowsDiff) {
  cluster_.jwks_json = Set({Key("old"), Key("both")});
  jwks_ = Set({Key("both"), Key("new")});
  auto fetched = FetchClusterJwks(cluster_);
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->jwks_json, jwks_);
  EXPECT_EQ(fetched->diff.added, std::vector<std::string>{"new"});
  EXPECT_EQ(fetched->diff.removed, std::vector<std::string>{"old"});
  // Without the read token: the API refuses, nothing is pinned.
  std::ofstream(dir_ + "/token") << "wrong\n";
  EXPECT_EQ(FetchClusterJwks(cluster_).status().code(), Code::kUnavailable);
}

// Test: ClusterJwksServerTest.FetchRefusesAnotherIssuer.
TEST_F(ClusterJwksServerTest, FetchRefusesAnotherIssuer) {
  cluster_.jwks_json = Set({Key("old")});
  jwks_ = Set({Key("new")});
  issuer_ = "https://evil.example";
  auto fetched = FetchClusterJwks(cluster_);
  EXPECT_EQ(fetched.status().code(), Code::kFailedPrecondition);
  // A cluster CA that is not the server's: refused by TLS.
  issuer_ = cluster_.issuer;
  auto other = net::testing::TestPki::Create();
  ASSERT_TRUE(other.ok());
  std::ofstream(dir_ + "/ca.pem") << other->ca_cert_pem();
  EXPECT_EQ(FetchClusterJwks(cluster_).status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace astis::admin
