// Unit tests of the shared admin operations and their wire codec: every
// operation through LocalOperations directly and through Dispatch +
// MakeRemoteOperations (no socket), and the codec's refusals.
#include "admin/operations.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "admin/internal/protocol.h"
#include "common/clock.h"
#include "common/json.h"
#include "crypto/public_key.h"
#include "common/encoding.h"
#include "store/sqlite_store.h"

namespace astis::admin {
namespace {

constexpr int64_t kNow = 1'750'000'000;
const std::string kDigest = "sha256:" + std::string(64, 'a');

// Generate is a stand-in for edge::GenerateApiKey (injected, so this test
// needs only the store): "astis_<16 hex id>_<b64u secret>", hash of the secret.
Result<NewApiKey> Generate(Random& rng) {
  std::vector<uint8_t> raw(8 + 32);
  ASTIS_RETURN_IF_ERROR(rng.Fill(raw));
  NewApiKey key;
  key.id = HexEncode(std::span<const uint8_t>(raw).first(8));
  const std::string secret = B64uEncode(std::span<const uint8_t>(raw).subspan(8));
  key.hash = Sha256(secret);
  key.header_value = SecretBytes::CopyFrom("astis_" + key.id + "_" + secret);
  return key;
}

std::string Jwks() {
  auto key = SigningKey::GenerateEc(PublicKeyKind::kEcP256);
  EXPECT_TRUE(key.ok());
  Json jwk = key->PublicJwkMembers();
  jwk["kid"] = "ec-1";
  return DumpJson(Json{{"keys", Json::array({jwk})}});
}

class AdminOpsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    auto st = store::OpenSqliteStore(":memory:");
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    store_ = std::move(st).value();
    local_ = std::make_unique<LocalOperations>(*store_, clock_, DefaultRandom(), Generate, "cli:tester");
    if (GetParam()) {
      remote_ = internal::MakeRemoteOperations(
          [this](std::string_view op, const Json& args) -> Result<Json> {
            // Through text, as on the socket.
            ASTIS_ASSIGN_OR_RETURN(Json result, internal::Dispatch(*local_, op, args));
            return ParseJson(DumpJson(result), JsonLimits{1 << 24, 16});
          });
    }
  }
  Operations& ops() { return GetParam() ? *remote_ : *local_; }

  ClusterAddArgs Cluster(const std::string& name = "prod") {
    return ClusterAddArgs{name, "https://issuer", "astis", Jwks(), "https://127.0.0.1:6443", "/ca.pem", "/token",
                          "strict"};
  }

  FakeClock clock_{kNow};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<LocalOperations> local_;
  std::unique_ptr<Operations> remote_;
};

TEST_P(AdminOpsTest, EveryOperationRoundTrips) {
  auto added = ops().ClusterAdd(Cluster());
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(added->name, "prod");
  auto clusters = ops().ClusterList();
  ASSERT_TRUE(clusters.ok());
  ASSERT_EQ(clusters->size(), 1u);
  EXPECT_EQ((*clusters)[0].api_url, "https://127.0.0.1:6443");

  auto w = ops().WorkloadAdd(store::Workload{"prod", "payments", "api", {kDigest}});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto ws = ops().WorkloadList("prod");
  ASSERT_TRUE(ws.ok());
  ASSERT_EQ(ws->size(), 1u);
  EXPECT_EQ((*ws)[0].image_digests, std::vector<std::string>{kDigest});

  auto key = ops().ApiKeyCreate(ApiKeyCreateArgs{"prod", "payments", "api", 3600});
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->expires_at, kNow + 3600);
  EXPECT_EQ(key->key.RevealString().rfind("astis_" + key->id + "_", 0), 0u);
  auto keys = ops().ApiKeyList();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].id, key->id);
  ASSERT_TRUE(ops().ApiKeyRevoke(key->id).ok());
  EXPECT_EQ(ops().ApiKeyList()->at(0).revoked_at, kNow);

  store::Session s;
  s.id = "sess-1";
  s.cluster = "prod";
  s.namespace_ = "payments";
  s.service_account = "api";
  s.pod_name = "api-1";
  s.pod_uid = "uid-1";
  s.jkt = "jkt";
  s.recipient_jwk = "{}";
  s.created_at = kNow;
  s.expires_at = kNow + 900;
  ASSERT_TRUE(store_->EnrollSession(s, kNow).ok());
  auto sessions = ops().SessionList(SessionListArgs{"prod", ""});
  ASSERT_TRUE(sessions.ok());
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].state, "active");
  auto revoked = ops().SessionRevoke(SessionRevokeArgs{"", "uid-1", ""});
  ASSERT_TRUE(revoked.ok()) << revoked.status().ToString();
  EXPECT_EQ(*revoked, 1);
  EXPECT_EQ(ops().SessionList(SessionListArgs{})->at(0).state, "revoked");

  ASSERT_TRUE(ops().WorkloadRemove(WorkloadKey{"prod", "payments", "api"}).ok());
  ASSERT_TRUE(ops().ClusterRemove("prod").ok());
  EXPECT_TRUE(ops().ClusterList()->empty());

  auto audit = store_->ListConfigAudit(std::nullopt, 0, 100);
  ASSERT_TRUE(audit.ok());
  std::vector<std::string> actions;
  for (const auto& e : *audit) {
    actions.push_back(e.action);
    EXPECT_EQ(e.actor, "cli:tester");
    EXPECT_EQ(e.detail_json.find(std::string(key->key.RevealString())), std::string::npos);
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"cluster.add", "workload.add", "apikey.create", "apikey.revoke",
                                               "session.revoke", "workload.remove", "cluster.remove"}));
}

TEST_P(AdminOpsTest, ClusterAddRejectsBadJwks) {
  ClusterAddArgs a = Cluster();
  a.jwks_json = R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})";
  auto r = ops().ClusterAdd(a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("--jwks-file"), std::string::npos);
  EXPECT_TRUE(ops().ClusterList()->empty());
}

TEST_P(AdminOpsTest, ClusterAddRejectsHttpApiUrl) {
  ClusterAddArgs a = Cluster();
  a.api_url = "http://127.0.0.1:6443";
  auto r = ops().ClusterAdd(a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST_P(AdminOpsTest, WorkloadAddRejectsTag) {
  ASSERT_TRUE(ops().ClusterAdd(Cluster()).ok());
  auto r = ops().WorkloadAdd(store::Workload{"prod", "payments", "api", {kDigest, "nginx:latest"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("--image #2"), std::string::npos);
  EXPECT_TRUE(ops().WorkloadList("")->empty());
}

TEST_P(AdminOpsTest, ApiKeyCreateRejectsUnknownCluster) {
  auto r = ops().ApiKeyCreate(ApiKeyCreateArgs{"nope", "payments", "api", 0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_TRUE(ops().ApiKeyList()->empty());
}

TEST_P(AdminOpsTest, ApiKeyCreateRejectsNegativeTtl) {
  ASSERT_TRUE(ops().ClusterAdd(Cluster()).ok());
  auto r = ops().ApiKeyCreate(ApiKeyCreateArgs{"prod", "payments", "api", -5});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST_P(AdminOpsTest, SessionRevokeNeedsExactlyOneSelector) {
  auto both = ops().SessionRevoke(SessionRevokeArgs{"sess-1", "uid-1", ""});
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.status().code(), Code::kInvalidArgument);
  auto none = ops().SessionRevoke(SessionRevokeArgs{});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kInvalidArgument);
}

TEST_P(AdminOpsTest, RemoveUnknownIsNotFound) {
  EXPECT_EQ(ops().ClusterRemove("nope").code(), Code::kNotFound);
  EXPECT_EQ(ops().ApiKeyRevoke("nope").code(), Code::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(LocalAndRemote, AdminOpsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return std::string(p.param ? "Remote" : "Local"); });

class AdminDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = store::OpenSqliteStore(":memory:");
    ASSERT_TRUE(st.ok());
    store_ = std::move(st).value();
    ops_ = std::make_unique<LocalOperations>(*store_, clock_, DefaultRandom(), Generate, "cli:tester");
  }
  FakeClock clock_{kNow};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<LocalOperations> ops_;
};

TEST_F(AdminDispatchTest, RejectsUnknownOp) {
  auto r = internal::Dispatch(*ops_, "cluster.explode", Json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "unknown op");
  EXPECT_FALSE(internal::IsKnownOp("cluster.explode"));
  EXPECT_TRUE(internal::IsKnownOp("session.revoke"));
}

TEST_F(AdminDispatchTest, RejectsUnexpectedMember) {
  auto r = internal::Dispatch(*ops_, "apikey.revoke", Json{{"id", "x"}, {"hash", "00"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("unexpected member"), std::string::npos);
}

TEST_F(AdminDispatchTest, RejectsMissingOrMistypedMember) {
  auto missing = internal::Dispatch(*ops_, "cluster.remove", Json::object());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("args.name: missing"), std::string::npos);
  auto mistyped = internal::Dispatch(*ops_, "apikey.create",
                                     Json{{"cluster", "c"}, {"namespace", "n"}, {"service_account", "s"},
                                          {"ttl_seconds", "30d"}});
  ASSERT_FALSE(mistyped.ok());
  EXPECT_NE(mistyped.status().message().find("ttl_seconds: must be an integer"), std::string::npos);
  auto huge = internal::Dispatch(*ops_, "apikey.create",
                                 Json{{"cluster", "c"}, {"namespace", "n"}, {"service_account", "s"},
                                      {"ttl_seconds", UINT64_MAX}});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), Code::kInvalidArgument);
}

TEST_F(AdminDispatchTest, StatusRoundTripsThroughJson) {
  Status s = internal::StatusFromJson(internal::StatusToJson(Error(Code::kNotFound, "cluster nope")));
  EXPECT_EQ(s, Error(Code::kNotFound, "cluster nope"));
  Status unknown = internal::StatusFromJson(Json{{"code", "what"}, {"message", "m"}});
  EXPECT_EQ(unknown.code(), Code::kInternal);
  Status malformed = internal::StatusFromJson(Json{{"code", 7}});
  EXPECT_EQ(malformed.code(), Code::kInternal);
}

}  // namespace
}  // namespace astis::admin
