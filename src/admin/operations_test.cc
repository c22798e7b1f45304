// Unit tests of the shared admin operations and their wire codec: every
// operation through LocalOperations directly and through Dispatch +
// MakeRemoteOperations (no socket), and the codec's refusals.
#include "admin/operations.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

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

  // OpsIn is ops() acting in org, as the CLI's --org or a socket request's
  // "org" makes it.
  Operations& OpsIn(const std::string& org) { return OpsWithKeys(org, OrgKeySource()); }

  // OpsWithKeys is OpsIn(org) whose org.key.list is answered by source (none:
  // refused, as on a host that holds no org keys).
  Operations& OpsWithKeys(const std::string& org, OrgKeySource source) {
    auto local = std::make_unique<LocalOperations>(*store_, clock_, DefaultRandom(), Generate, "cli:tester", org,
                                                   std::move(source));
    LocalOperations* raw = local.get();
    scoped_.push_back(std::move(local));
    if (!GetParam()) return *raw;
    scoped_.push_back(internal::MakeRemoteOperations([raw](std::string_view op, const Json& args) -> Result<Json> {
      ASTIS_ASSIGN_OR_RETURN(Json result, internal::Dispatch(*raw, op, args));
      return ParseJson(DumpJson(result), JsonLimits{1 << 24, 16});
    }));
    return *scoped_.back();
  }

  std::vector<std::string> AuditActions(const std::string& org) {
    std::vector<std::string> actions;
    auto entries = store_->ListConfigAudit(org, 0, 1000);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    if (!entries.ok()) return actions;
    for (const auto& e : *entries) actions.push_back(e.action);
    return actions;
  }

  ClusterAddArgs Cluster(const std::string& name = "prod") {
    return ClusterAddArgs{name, "https://issuer", "astis", Jwks(), "https://127.0.0.1:6443", "/ca.pem", "/token",
                          "strict"};
  }

  FakeClock clock_{kNow};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<LocalOperations> local_;
  std::unique_ptr<Operations> remote_;
  std::vector<std::unique_ptr<Operations>> scoped_;
};

const std::string kCaPem = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n";

OrgAddArgs Hyok(const std::string& name) {
  return OrgAddArgs{name, "hyok", "https://cvs.globex.example:8443", kCaPem, "cvs.globex.example", ""};
}

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

// Registering a name that exists is refused unless replace: following a
// registration meant for a second namespace must not swap the cluster's
// token (docs/admin.md "Clusters"). Local and over the admin socket.
TEST_P(AdminOpsTest, ClusterAddRefusesToReplaceWithoutReplace) {
  ASSERT_TRUE(ops().ClusterAdd(Cluster()).ok());
  ClusterAddArgs second = Cluster();
  second.token_file = "/other.token";
  auto refused = ops().ClusterAdd(second);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kAlreadyExists);
  EXPECT_NE(refused.status().message().find("--replace"), std::string::npos) << refused.status().ToString();
  auto stored = store_->GetCluster("default", "prod");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->token_file, "/token");
  EXPECT_EQ(AuditActions("default"), std::vector<std::string>{"cluster.add"});
  // Another name is a new cluster, not a replacement.
  EXPECT_TRUE(ops().ClusterAdd(Cluster("dev")).ok());
  second.replace = true;
  auto replaced = ops().ClusterAdd(second);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  stored = store_->GetCluster("default", "prod");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->token_file, "/other.token");
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

// ---------------------------------------------------------------- organisations

TEST_P(AdminOpsTest, OrgAddListRemove) {
  auto acme = ops().OrgAdd(OrgAddArgs{"acme", "standard"});
  ASSERT_TRUE(acme.ok()) << acme.status().ToString();
  EXPECT_FALSE(acme->updated);
  auto globex = ops().OrgAdd(Hyok("globex"));
  ASSERT_TRUE(globex.ok()) << globex.status().ToString();
  auto orgs = ops().OrgList();
  ASSERT_TRUE(orgs.ok());
  ASSERT_EQ(orgs->size(), 3u);
  EXPECT_EQ((*orgs)[0].name, "acme");
  EXPECT_EQ((*orgs)[1].name, "default");
  EXPECT_EQ((*orgs)[2].name, "globex");
  EXPECT_EQ((*orgs)[2].tier, "hyok");
  EXPECT_EQ((*orgs)[2].cvs_url, "https://cvs.globex.example:8443");
  EXPECT_EQ(store_->GetOrganization("globex")->cvs_ca_pem, kCaPem);
  ASSERT_TRUE(ops().OrgRemove("acme", false).ok());
  EXPECT_EQ(ops().OrgList()->size(), 2u);
  // Each change is in that organisation's own trail, and only there.
  EXPECT_EQ(AuditActions("acme"), (std::vector<std::string>{"org.add", "org.remove"}));
  EXPECT_EQ(AuditActions("globex"), std::vector<std::string>{"org.add"});
  EXPECT_TRUE(AuditActions("default").empty());
}

TEST_P(AdminOpsTest, OrgAddNamesTheFlag) {
  auto flag_of = [&](const OrgAddArgs& a) {
    auto r = ops().OrgAdd(a);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    const std::string& m = r.status().message();
    return m.substr(0, m.find(':'));
  };
  EXPECT_EQ(flag_of(OrgAddArgs{"Acme", "standard"}), "--name");
  EXPECT_EQ(flag_of(OrgAddArgs{"acme", "gold"}), "--tier");
  EXPECT_EQ(flag_of(OrgAddArgs{"acme", "standard", "https://cvs"}), "--cvs-url");
  OrgAddArgs h = Hyok("globex");
  h.cvs_url = "";
  EXPECT_EQ(flag_of(h), "--cvs-url");
  h.cvs_url = "http://cvs.globex.example";
  EXPECT_EQ(flag_of(h), "--cvs-url");
  h = Hyok("globex");
  h.cvs_ca_pem = "not a pem";
  EXPECT_EQ(flag_of(h), "--cvs-ca");
  h = Hyok("globex");
  h.cvs_identity = "";
  EXPECT_EQ(flag_of(h), "--cvs-identity");
  h = Hyok("globex");
  h.cvs_spki_sha256 = "ABCD";
  EXPECT_EQ(flag_of(h), "--cvs-spki-sha256");
  EXPECT_EQ(ops().OrgList()->size(), 1u);
}

TEST_P(AdminOpsTest, OrgAddRefusesTierChange) {
  ASSERT_TRUE(ops().OrgAdd(OrgAddArgs{"globex", "standard"}).ok());
  auto r = ops().OrgAdd(Hyok("globex"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(store_->GetOrganization("globex")->tier, "standard");
}

TEST_P(AdminOpsTest, OrgAddUpdatesTheCvsPin) {
  ASSERT_TRUE(ops().OrgAdd(Hyok("globex")).ok());
  OrgAddArgs renewed = Hyok("globex");
  renewed.cvs_spki_sha256 = std::string(64, 'c');
  auto r = ops().OrgAdd(renewed);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->updated);
  EXPECT_EQ(store_->GetOrganization("globex")->cvs_spki_sha256, std::string(64, 'c'));
}

// ---- org.key.list (docs/admin.md "Sealing")

// FakeKeys answers for acme only and remembers which organisation it was asked about.
OrgKeySource FakeKeys(std::vector<std::string>* asked) {
  return [asked](std::string_view org) -> Result<std::vector<OrgKeyRow>> {
    asked->emplace_back(org);
    if (org != "acme") return Error(Code::kNotFound, "no org key set");
    return std::vector<OrgKeyRow>{{"kid-new", "active", "x25519", false}, {"kid-old", "retired", "p256", true}};
  };
}

TEST_P(AdminOpsTest, OrgKeyListListsTheOrganizationsKeys) {
  ASSERT_TRUE(ops().OrgAdd(OrgAddArgs{"acme", "standard"}).ok());
  ASSERT_TRUE(ops().OrgAdd(OrgAddArgs{"globex", "standard"}).ok());
  std::vector<std::string> asked;
  auto rows = OpsWithKeys("acme", FakeKeys(&asked)).OrgKeyList();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].kid, "kid-new");
  EXPECT_EQ((*rows)[0].state, "active");
  EXPECT_EQ((*rows)[0].suite, "x25519");
  EXPECT_FALSE((*rows)[0].in_token);
  EXPECT_EQ((*rows)[1].state, "retired");
  EXPECT_EQ((*rows)[1].suite, "p256");
  EXPECT_TRUE((*rows)[1].in_token);
  EXPECT_EQ(asked, std::vector<std::string>{"acme"});
  // A standard organisation without a key set yet says how to make one.
  auto none = OpsWithKeys("globex", FakeKeys(&asked)).OrgKeyList();
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  EXPECT_NE(none.status().message().find("astis org key create"), std::string::npos) << none.status().message();
  // An unknown organisation never reaches the key source.
  asked.clear();
  EXPECT_EQ(OpsWithKeys("initech", FakeKeys(&asked)).OrgKeyList().status().code(), Code::kNotFound);
  EXPECT_TRUE(asked.empty());
  EXPECT_TRUE(AuditActions("acme") == std::vector<std::string>{"org.add"});  // a read records nothing
}

TEST_P(AdminOpsTest, OrgKeyListRefusesHyokOrganization) {
  ASSERT_TRUE(ops().OrgAdd(Hyok("globex")).ok());
  std::vector<std::string> asked;
  auto r = OpsWithKeys("globex", FakeKeys(&asked)).OrgKeyList();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("hyok"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("its own CVS"), std::string::npos) << r.status().message();
  EXPECT_TRUE(asked.empty());
}

TEST_P(AdminOpsTest, OrgKeyListWithoutKeySourceIsRefused) {
  ASSERT_TRUE(ops().OrgAdd(OrgAddArgs{"acme", "standard"}).ok());
  auto r = OpsIn("acme").OrgKeyList();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("no org keys are held here"), std::string::npos) << r.status().message();
}

TEST_P(AdminOpsTest, OrgRemoveRefusedWhileInUse) {
  ASSERT_TRUE(ops().OrgAdd(OrgAddArgs{"acme", "standard"}).ok());
  ASSERT_TRUE(OpsIn("acme").ClusterAdd(Cluster()).ok());
  Status refused = ops().OrgRemove("acme", false);
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.message().find("--force"), std::string::npos) << refused.message();
  EXPECT_TRUE(store_->GetCluster("acme", "prod").ok());
  ASSERT_TRUE(ops().OrgRemove("acme", true).ok());
  EXPECT_EQ(store_->GetOrganization("acme").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetCluster("acme", "prod").status().code(), Code::kNotFound);
}

TEST_P(AdminOpsTest, OrgRemoveUnknownIsNotFound) {
  Status s = ops().OrgRemove("nope", false);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "organization nope not found");
}

TEST_P(AdminOpsTest, OrgResolutionOneOrgMayBeLeftOut) {
  // The only organisation is used without --org, and by name.
  ASSERT_TRUE(ops().ClusterAdd(Cluster()).ok());
  EXPECT_TRUE(store_->GetCluster(store::kDefaultOrg, "prod").ok());
  EXPECT_EQ(OpsIn("default").ClusterList()->size(), 1u);
}

TEST_P(AdminOpsTest, OrgResolutionSeveralNeedOrg) {
  ASSERT_TRUE(ops().OrgAdd(OrgAddArgs{"acme", "standard"}).ok());
  auto r = ops().ClusterList();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("--org: required"), std::string::npos) << r.status().message();
  EXPECT_EQ(ops().ClusterAdd(Cluster()).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(OpsIn("acme").ClusterList().ok());
}

TEST_P(AdminOpsTest, OrgResolutionUnknownOrgIsNotFound) {
  auto r = OpsIn("nope").ClusterList();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "organization nope not found");
  EXPECT_EQ(OpsIn("nope").ClusterAdd(Cluster()).status().code(), Code::kNotFound);
}

TEST_P(AdminOpsTest, OrgsIsolateObjectsWithTheSameNames) {
  ASSERT_TRUE(ops().OrgAdd(OrgAddArgs{"acme", "standard"}).ok());
  Operations& mine = OpsIn("default");
  Operations& theirs = OpsIn("acme");
  ASSERT_TRUE(mine.ClusterAdd(Cluster()).ok());
  ASSERT_TRUE(theirs.ClusterAdd(Cluster()).ok());
  ASSERT_TRUE(theirs.WorkloadAdd(store::Workload{"prod", "payments", "api", {kDigest}}).ok());
  EXPECT_TRUE(mine.WorkloadList("")->empty());
  EXPECT_EQ(theirs.WorkloadList("")->size(), 1u);
  ASSERT_TRUE(mine.ClusterRemove("prod").ok());
  EXPECT_EQ(theirs.ClusterList()->size(), 1u);
  EXPECT_EQ(AuditActions("acme"), (std::vector<std::string>{"org.add", "cluster.add", "workload.add"}));
  EXPECT_EQ(AuditActions("default"), (std::vector<std::string>{"cluster.add", "cluster.remove"}));
}

// ---------------------------------------------------------------- images

TEST_P(AdminOpsTest, WorkloadImagesAddsAndRemoves) {
  const std::string b = "sha256:" + std::string(64, 'b');
  const std::string c = "sha256:" + std::string(64, 'c');
  ASSERT_TRUE(ops().ClusterAdd(Cluster()).ok());
  ASSERT_TRUE(ops().WorkloadAdd(store::Workload{"prod", "payments", "api", {kDigest}}).ok());
  auto added = ops().WorkloadImages(WorkloadImagesArgs{{"prod", "payments", "api"}, {c, b}, {}});
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(added->image_digests, (std::vector<std::string>{kDigest, b, c}));
  auto removed = ops().WorkloadImages(WorkloadImagesArgs{{"prod", "payments", "api"}, {}, {kDigest}});
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(removed->image_digests, (std::vector<std::string>{b, c}));
  EXPECT_EQ(store_->GetWorkload("default", "prod", "payments", "api")->image_digests,
            (std::vector<std::string>{b, c}));
  EXPECT_EQ(AuditActions("default"),
            (std::vector<std::string>{"cluster.add", "workload.add", "workload.images", "workload.images"}));
}

TEST_P(AdminOpsTest, WorkloadImagesRejectsTag) {
  ASSERT_TRUE(ops().ClusterAdd(Cluster()).ok());
  ASSERT_TRUE(ops().WorkloadAdd(store::Workload{"prod", "payments", "api", {kDigest}}).ok());
  auto r = ops().WorkloadImages(WorkloadImagesArgs{{"prod", "payments", "api"}, {"nginx:1.27"}, {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("--image #1"), std::string::npos);
  EXPECT_EQ(store_->GetWorkload("default", "prod", "payments", "api")->image_digests,
            std::vector<std::string>{kDigest});
}

TEST_P(AdminOpsTest, WorkloadImagesUnknownWorkload) {
  ASSERT_TRUE(ops().ClusterAdd(Cluster()).ok());
  auto r = ops().WorkloadImages(WorkloadImagesArgs{{"prod", "payments", "nobody"}, {kDigest}, {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(AuditActions("default"), std::vector<std::string>{"cluster.add"});
}

// ---------------------------------------------------------------- apply

ApplyArgs Desired(const ClusterAddArgs& cluster) {
  ApplyArgs a;
  a.clusters.push_back(cluster);
  a.workloads.push_back(store::Workload{"prod", "payments", "api", {kDigest}});
  return a;
}

std::vector<std::string> Lines(const std::vector<ApplyChange>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) out.push_back(c.kind + "/" + c.name + " " + c.action);
  return out;
}

TEST_P(AdminOpsTest, ApplyIsIdempotent) {
  ApplyArgs a = Desired(Cluster());
  auto first = ops().Apply(a);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(Lines(*first), (std::vector<std::string>{"Cluster/prod created", "Workload/prod/payments/api created"}));
  auto second = ops().Apply(a);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(Lines(*second),
            (std::vector<std::string>{"Cluster/prod unchanged", "Workload/prod/payments/api unchanged"}));
  // One audit entry for the apply that changed something, none for the other.
  EXPECT_EQ(AuditActions("default"), std::vector<std::string>{"config.apply"});
}

TEST_P(AdminOpsTest, ApplyOfThousandsIsOneAuditedTransaction) {
  // 1,500 workloads: the change list is far over one audit entry's 64 KiB.
  // The apply succeeds, and its record is in the same transaction, in parts.
  ApplyArgs a = Desired(Cluster());
  for (int i = 0; i < 1500; ++i) {
    a.workloads.push_back(store::Workload{"prod", "ns-" + std::to_string(i), "api", {kDigest}});
  }
  auto applied = ops().Apply(a);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ(applied->size(), 1502u);
  auto trail = store_->ListConfigAudit(std::string(store::kDefaultOrg), 0, 100);
  ASSERT_TRUE(trail.ok());
  ASSERT_EQ(trail->size(), 16u);  // 1,502 changes, 100 per entry
  size_t listed = 0;
  for (const auto& e : *trail) {
    EXPECT_EQ(e.action, "config.apply");
    EXPECT_EQ(e.actor, "cli:tester");
    EXPECT_LE(e.detail_json.size(), store::kMaxTextLength);
    auto detail = ParseJson(e.detail_json, JsonLimits{store::kMaxTextLength, 16});
    ASSERT_TRUE(detail.ok());
    EXPECT_EQ((*detail)["parts"], 16);
    listed += (*detail)["changes"].size();
  }
  EXPECT_EQ(listed, 1502u);
  // A second, unchanged apply records nothing more.
  ASSERT_TRUE(ops().Apply(a).ok());
  EXPECT_EQ(store_->ListConfigAudit(std::string(store::kDefaultOrg), 0, 100)->size(), 16u);
}

TEST_P(AdminOpsTest, ApplyDryRunChangesNothing) {
  ApplyArgs a = Desired(Cluster());
  a.dry_run = true;
  auto plan = ops().Apply(a);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(Lines(*plan), (std::vector<std::string>{"Cluster/prod created", "Workload/prod/payments/api created"}));
  EXPECT_TRUE(ops().ClusterList()->empty());
  EXPECT_TRUE(AuditActions("default").empty());
}

TEST_P(AdminOpsTest, ApplyBadObjectWritesNothing) {
  ApplyArgs a = Desired(Cluster());
  a.clusters.push_back(Cluster("dev"));
  a.clusters.back().api_url = "http://10.0.0.1";
  auto r = ops().Apply(a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("cluster dev: apiUrl"), std::string::npos) << r.status().message();
  a = Desired(Cluster());
  a.workloads[0].image_digests = {"nginx:latest"};
  r = ops().Apply(a);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("workload prod/payments/api: images #1"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(ops().ClusterList()->empty());
  EXPECT_TRUE(AuditActions("default").empty());
}

TEST_P(AdminOpsTest, ApplyPrunesOnlyItsOrganization) {
  ASSERT_TRUE(ops().OrgAdd(OrgAddArgs{"acme", "standard"}).ok());
  Operations& mine = OpsIn("default");
  Operations& theirs = OpsIn("acme");
  ApplyArgs both = Desired(Cluster());
  both.clusters.push_back(Cluster("dev"));
  ASSERT_TRUE(mine.Apply(both).ok());
  ASSERT_TRUE(theirs.Apply(both).ok());
  ApplyArgs only_prod = Desired(Cluster());
  only_prod.prune = true;
  auto pruned = mine.Apply(only_prod);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  const std::vector<std::string> lines = Lines(*pruned);
  EXPECT_NE(std::find(lines.begin(), lines.end(), "Cluster/dev deleted"), lines.end());
  EXPECT_EQ(mine.ClusterList()->size(), 1u);
  EXPECT_EQ(theirs.ClusterList()->size(), 2u);
}

TEST_P(AdminOpsTest, ApplyPruneRefusesEmptyDeclaration) {
  ASSERT_TRUE(ops().Apply(Desired(Cluster())).ok());
  ApplyArgs empty;
  empty.prune = true;
  auto r = ops().Apply(empty);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("--prune: the files declare nothing"), std::string::npos);
  EXPECT_EQ(ops().ClusterList()->size(), 1u);
  empty.prune = false;
  EXPECT_TRUE(ops().Apply(empty).ok());  // without prune, nothing declared changes nothing
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

TEST_F(AdminDispatchTest, DecodeRequestReadsOptionalOrg) {
  auto with = internal::DecodeRequest(R"({"v":1,"op":"cluster.list","org":"acme","args":{}})", 1024);
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  EXPECT_EQ(with->org, "acme");
  // A client older than organisations sends no "org".
  auto without = internal::DecodeRequest(R"({"v":1,"op":"cluster.list","args":{}})", 1024);
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->org, "");
  auto mistyped = internal::DecodeRequest(R"({"v":1,"op":"cluster.list","org":7,"args":{}})", 1024);
  ASSERT_FALSE(mistyped.ok());
  EXPECT_EQ(mistyped.status().code(), Code::kInvalidArgument);
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
