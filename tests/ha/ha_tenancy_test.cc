// Organisation isolation on PostgreSQL with two `astis edge` replicas
// (issue 19; docs/tenancy.md). The default organisation is on Tier 1 (the
// world's remote `astis cvs`), kOrgB on Tier 2 (its own `astis cvs` child
// process with its own org key). Names collide on purpose: kOrgB registers
// the same cluster (issuer, JWKS), namespace and ServiceAccount, and its
// pods are the same pods (same Pod UID, same token) presented with kOrgB's
// API key. Every request alternates between the replicas, so what one
// replica decided, the other sees through the shared store.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "audit/org_audit_router.h"
#include "common/testing/must.h"
#include "ha_world.h"

namespace astis::ha {
namespace {

class HaTenancyTest : public ::testing::Test {
 protected:
  void StartWorld(HaOptions options) {
    options.replicas = 2;
    options.tenant_b = true;
    options.watch_enabled = false;
    auto w = HaWorld::Start(options);
    if (!w.ok() && w.status().code() == Code::kFailedPrecondition) {
      GTEST_SKIP() << "SKIPPED LOUDLY: no PostgreSQL server binaries: " << w.status().ToString();
    }
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    world_ = std::move(w).value();
  }
  void SetUp() override { StartWorld(HaOptions{}); }
  void TearDown() override {
    if (HasFailure() && world_ != nullptr) std::cerr << world_->Logs();
    world_.reset();
  }

  // Pods returns two clients for one new pod: one with the default
  // organisation's API key, one with kOrgB's (the same token).
  std::pair<std::unique_ptr<HaPodClient>, std::unique_ptr<HaPodClient>> Pods(const std::string& name) {
    auto token = world_->NewPod(name);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    if (!token.ok()) return {};
    auto a = HaPodClient::Create(*world_, *token);
    auto b = HaPodClient::Create(*world_, *token, world_->api_key_b());
    EXPECT_TRUE(a.ok() && b.ok());
    if (!a.ok() || !b.ok()) return {};
    return {std::move(a).value(), std::move(b).value()};
  }
  static void Establish(HaPodClient& pod, size_t replica) {
    auto r = pod.Establish(replica);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->status, 201) << r->body;
  }
  static Result<std::vector<std::string>> Unwrap(HaPodClient& pod, size_t replica,
                                                 const std::vector<capsule::SealedValue>& values) {
    ASTIS_ASSIGN_OR_RETURN(net::HttpResponse resp, pod.Send(replica, "POST", "/v1/unwrap", pod.UnwrapBody(values)));
    if (resp.status != 200) {
      return Error(Code::kInternal, "HTTP " + std::to_string(resp.status) + " " + ErrorCode(resp));
    }
    return pod.OpenValues(resp, values);
  }

  std::unique_ptr<HaWorld> world_;
};

TEST_F(HaTenancyTest, EachOrganisationGetsItsOwnValueOnEveryReplica) {
  auto [a, b] = Pods("api-both-orgs");
  ASSERT_NE(a, nullptr);
  // One Pod UID, two organisations: two pins, neither blocks the other.
  ASSERT_NO_FATAL_FAILURE(Establish(*a, 0));
  ASSERT_NO_FATAL_FAILURE(Establish(*b, 1));
  const auto va = test::Must(world_->SealValue("value of the default org", "db"));
  const auto vb = test::Must(world_->SealValueB("value of tenant-b", "db"));
  for (size_t replica : {0u, 1u}) {
    auto pa = Unwrap(*a, replica, {va});
    ASSERT_TRUE(pa.ok()) << pa.status().ToString();
    EXPECT_EQ((*pa)[0], "value of the default org");
    auto pb = Unwrap(*b, replica, {vb});
    ASSERT_TRUE(pb.ok()) << pb.status().ToString();
    EXPECT_EQ((*pb)[0], "value of tenant-b");
  }
}

TEST_F(HaTenancyTest, CapsuleOfOneOrganisationRefusedToAnApprovedPodOfTheOther) {
  auto [a, b] = Pods("api-cross");
  ASSERT_NE(a, nullptr);
  ASSERT_NO_FATAL_FAILURE(Establish(*a, 0));
  ASSERT_NO_FATAL_FAILURE(Establish(*b, 0));
  const auto va = test::Must(world_->SealValue("only for the default org", "db"));
  const auto vb = test::Must(world_->SealValueB("only for tenant-b", "db"));
  for (size_t replica : {0u, 1u}) {
    // Same binding names, approved pod: the kid resolves only in the
    // capsule's own organisation (Tier 1 set, or B's own CVS).
    auto b_gets_a = Unwrap(*b, replica, {va});
    ASSERT_FALSE(b_gets_a.ok()) << "tenant-b opened the default org's capsule on replica " << replica;
    EXPECT_NE(b_gets_a.status().message().find("unknown_key"), std::string::npos) << b_gets_a.status().message();
    auto a_gets_b = Unwrap(*a, replica, {vb});
    ASSERT_FALSE(a_gets_b.ok()) << "the default org opened tenant-b's capsule on replica " << replica;
    EXPECT_NE(a_gets_b.status().message().find("unknown_key"), std::string::npos) << a_gets_b.status().message();
  }
}

TEST_F(HaTenancyTest, TierTwoOutageRefusesOnlyThatOrganisation) {
  auto [a, b] = Pods("api-outage");
  ASSERT_NE(a, nullptr);
  ASSERT_NO_FATAL_FAILURE(Establish(*a, 0));
  ASSERT_NO_FATAL_FAILURE(Establish(*b, 1));
  const auto va = test::Must(world_->SealValue("a during b outage", "db"));
  const auto vb = test::Must(world_->SealValueB("b after recovery", "db"));
  world_->KillCvsB();
  for (size_t replica : {0u, 1u}) {
    auto resp = b->Send(replica, "POST", "/v1/unwrap", b->UnwrapBody({vb}));
    ASSERT_TRUE(resp.ok()) << resp.status().ToString();
    EXPECT_EQ(resp->status, 503) << resp->body;
    EXPECT_EQ(ErrorCode(*resp), "cvs_unavailable");
    auto pa = Unwrap(*a, replica, {va});
    ASSERT_TRUE(pa.ok()) << "the default org was affected on replica " << replica << ": " << pa.status().message();
    EXPECT_EQ((*pa)[0], "a during b outage");
  }
  // Every replica stays ready: one customer's CVS is not the service's.
  Status restarted = world_->StartCvsB();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  // It recovers by itself: a replica's first call may still meet the dead
  // connection (cvs_unavailable), never anything else, and within a bound
  // (the same bound as HaFaultsTest's Tier 1 CVS restart).
  for (size_t replica : {0u, 1u}) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    Result<std::vector<std::string>> pb = Error(Code::kInternal, "not tried");
    while (std::chrono::steady_clock::now() < deadline) {
      pb = Unwrap(*b, replica, {vb});
      if (pb.ok()) break;
      ASSERT_NE(pb.status().message().find("cvs_unavailable"), std::string::npos) << pb.status().message();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // poll step, bounded by the deadline
    }
    ASSERT_TRUE(pb.ok()) << "tenant-b did not recover on replica " << replica << ": " << pb.status().message();
    EXPECT_EQ((*pb)[0], "b after recovery");
  }
}

TEST_F(HaTenancyTest, ApiKeyOfOneOrganisationCannotUseTheOthersSession) {
  auto [a, b] = Pods("api-session-swap");
  ASSERT_NE(a, nullptr);
  ASSERT_NO_FATAL_FAILURE(Establish(*a, 0));
  // B's client (B's key, its own DPoP key) naming A's session on the other replica.
  b->set_session(a->session());
  const auto vb = test::Must(world_->SealValueB("never", "db"));
  auto resp = b->Send(1, "POST", "/v1/unwrap", b->UnwrapBody({vb}));
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 401) << resp->body;
  EXPECT_EQ(ErrorCode(*resp), "session_invalid");
}

TEST_F(HaTenancyTest, AuditTrailsAreApartOnEveryReplica) {
  auto [a, b] = Pods("api-audit");
  ASSERT_NE(a, nullptr);
  ASSERT_NO_FATAL_FAILURE(Establish(*a, 0));
  ASSERT_NO_FATAL_FAILURE(Establish(*b, 0));
  ASSERT_NO_FATAL_FAILURE(Establish(*a, 1));
  ASSERT_NO_FATAL_FAILURE(Establish(*b, 1));
  for (size_t replica : {0u, 1u}) {
    const std::string main = world_->AuditLog(replica);
    const std::string trail_b = audit::OrgTrailPath(main, kOrgB);
    auto rb = audit::VerifyAuditLog(trail_b);
    ASSERT_TRUE(rb.ok()) << trail_b;
    EXPECT_TRUE(rb->ok) << rb->problem;
    EXPECT_GE(rb->lines, 1u);
    auto rm = audit::VerifyAuditLog(main);
    ASSERT_TRUE(rm.ok());
    EXPECT_TRUE(rm->ok) << rm->problem;
    std::ifstream fm(main), fb(trail_b);
    const std::string main_text((std::istreambuf_iterator<char>(fm)), std::istreambuf_iterator<char>());
    const std::string b_text((std::istreambuf_iterator<char>(fb)), std::istreambuf_iterator<char>());
    EXPECT_EQ(main_text.find(kOrgB), std::string::npos) << "the default org's trail holds tenant-b's lines";
    EXPECT_NE(b_text.find(R"("org":"tenant-b")"), std::string::npos);
    EXPECT_EQ(b_text.find(world_->api_key().substr(6, 16)), std::string::npos)
        << "tenant-b's trail names the default org's API key";
  }
}

class HaTenancyRateTest : public HaTenancyTest {
 protected:
  void SetUp() override {
    HaOptions o;
    o.pod_rate_per_minute = 4;
    StartWorld(o);
  }
};

TEST_F(HaTenancyRateTest, ExhaustingOneOrganisationsPodLimitLeavesTheOther) {
  auto [a, b] = Pods("api-rate");
  ASSERT_NE(a, nullptr);
  // The default org's pod bucket, shared by both replicas, runs out.
  int limited = 0;
  for (int i = 0; i < 8 && limited == 0; ++i) {
    auto r = a->Establish(static_cast<size_t>(i % 2));
    ASSERT_TRUE(r.ok());
    if (r->status == 429) ++limited;
  }
  ASSERT_EQ(limited, 1) << "the pod limit never triggered";
  // tenant-b's pod has the same UID; its bucket is its own.
  auto rb = b->Establish(1);
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->status, 201) << rb->body;
}

}  // namespace
}  // namespace astis::ha
