// The edge keeps organisations apart (docs/tenancy.md): two organisations
// whose cluster, namespace, ServiceAccount and Pod UID all collide on
// purpose. The API key decides the organisation (gate 1), and every later
// lookup — trust anchors, workload, pin, rate limits, pod reads — happens in
// it. Over EdgeService::Handle with the EdgeHarness world (organisation
// "default") plus a second organisation "tenant-b".
#include <gtest/gtest.h>

#include <string>

#include "edge/cvs_router.h"
#include "edge/testing/edge_harness.h"
#include "store/testing/fault_injecting_store.h"

namespace astis::edge {
namespace {

using testing::EdgeHarness;
using testing::kCluster;
using testing::kGoodDigest;
using testing::kIssuer;
using testing::kNow;
using testing::kNs;
using testing::kPod;
using testing::kSa;
using testing::kUid;
using testing::Must;
using Call = EdgeHarness::Call;

constexpr char kOrgB[] = "tenant-b";
constexpr char kIssuerB[] = "https://oidc.tenant-b.example.com";

void ExpectRefused(const net::ServerResponse& r, int status, std::string_view code) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = ParseJson(r.body);
  ASSERT_TRUE(j.ok()) << r.body;
  ASSERT_TRUE(j->contains("error")) << r.body;
  EXPECT_EQ((*j)["error"].value("code", ""), code) << r.body;
  EXPECT_EQ(j->size(), 1u) << "a refusal carried more than the error: " << r.body;
}

class TenancyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Organization b;
    b.name = kOrgB;
    b.created_at = kNow;
    ASSERT_TRUE(h.store->PutOrganization(b).ok());
    key_b = std::make_unique<SigningKey>(Must(SigningKey::GenerateEc(PublicKeyKind::kEcP256)));
    // Organisation B's cluster has organisation A's names, its own issuer and keys.
    store::Cluster c;
    c.org = kOrgB;
    c.name = kCluster;
    c.issuer = kIssuerB;
    c.jwks_json = DumpJson(testing::Jwks(*key_b, "b-1"));
    c.api_url = "https://k8s.tenant-b.example.com";
    c.created_at = kNow;
    ASSERT_TRUE(h.store->PutCluster(c).ok());
    ASSERT_TRUE(h.store->PutWorkload(store::Workload{kCluster, kNs, kSa, {kGoodDigest}, kOrgB}).ok());
    api_key_b = Must(testing::RegisterApiKey(*h.store, testing::ApiKeyScope{kCluster, kNs, kSa, kNow - 100, 0, kOrgB},
                                             DefaultRandom()));
    // Organisation B's API server reports a pod with the same name and UID.
    kube_b.PutPod(EdgeHarness::GoodPod());
    MakeService();
  }

  // MakeService wires the harness's service with a Kubernetes lookup that
  // also knows organisation B's cluster under its qualified name.
  void MakeService() {
    EdgeDeps deps;
    deps.store = h.store.get();
    deps.kube = [this](std::string_view cluster) -> kube::KubeClient* {
      if (cluster == kCluster) return &h.kube_main;
      if (cluster == std::string(kOrgB) + "/" + kCluster) return &kube_b;
      return nullptr;
    };
    deps.cvs = h.cvs.get();
    deps.audit = &h.audit_sink;
    deps.clock = &h.clock;
    deps.rng = &DefaultRandom();
    h.service = Must(EdgeService::Create(h.config, deps));
  }

  std::string TokenB() const {
    Json claims = testing::ProjectedTokenClaims(testing::TokenSubject{kIssuerB, kNs, kSa, kPod, kUid, kNow});
    return testing::SignToken(claims, *key_b, SignatureAlg::kEs256, "b-1");
  }

  Call EstablishB() const {
    Call c = h.EstablishCall();
    c.api_key = std::string(api_key_b.header_value.RevealString());
    c.token = TokenB();
    return c;
  }

  EdgeHarness h;
  std::unique_ptr<SigningKey> key_b;
  GeneratedApiKey api_key_b;
  kube::testing::FakeKubeClient kube_b;
};

TEST_F(TenancyTest, EachOrganizationServesItsOwnPods) {
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
  auto resp = h.service->Handle(h.Build(EstablishB()));
  EXPECT_EQ(resp.status, 201) << resp.body;
  // Two sessions for one Pod UID, one per organisation: neither pin blocks the other.
  store::SessionFilter f;
  f.pod_uid = kUid;
  f.active_at = h.clock.NowUnix();
  auto sessions = h.store->ListSessions(f);
  ASSERT_TRUE(sessions.ok());
  ASSERT_EQ(sessions->size(), 2u);
  EXPECT_NE((*sessions)[0].org, (*sessions)[1].org);
  // Gate 4 read organisation B's API server, not A's.
  EXPECT_GE(kube_b.get_pod_calls(), 1u);
}

TEST_F(TenancyTest, AuditEventsNameTheKeysOrganization) {
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
  EXPECT_EQ(h.service->Handle(h.Build(EstablishB())).status, 201);
  Call refused = EstablishB();
  refused.token = h.Token();  // B's key, A's token: refused after gate 1 named B
  ExpectRefused(h.Send(refused), 401, "token_invalid");
  const auto events = h.audit_sink.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].org, "") << "organisation default keeps its single-organisation lines";
  EXPECT_EQ(events[1].org, kOrgB);
  EXPECT_EQ(events[1].cluster, kCluster);
  EXPECT_EQ(events[2].org, kOrgB);
  EXPECT_EQ(events[2].code, Code::kTokenInvalid);
}

TEST_F(TenancyTest, ApiKeyOfOneOrgWithAnotherOrgsToken) {
  // A's key with B's token: B's issuer is no trust anchor in A.
  Call c = h.EstablishCall();
  c.token = TokenB();
  ExpectRefused(h.Send(c), 401, "token_invalid");
  // B's key with A's token: A's issuer is no trust anchor in B.
  Call d = h.EstablishCall();
  d.api_key = std::string(api_key_b.header_value.RevealString());
  ExpectRefused(h.Send(d), 401, "token_invalid");
  store::SessionFilter f;
  f.pod_uid = kUid;
  auto sessions = h.store->ListSessions(f);
  ASSERT_TRUE(sessions.ok());
  EXPECT_TRUE(sessions->empty());
}

TEST_F(TenancyTest, SameIssuerInTwoOrganizationsTrustsOnlyTheKeysOrg) {
  // Organisation B registers a cluster with A's issuer but its own keys
  // (a tenant claiming another's issuer). A token signed by B's key under
  // that issuer proves nothing to A's key, and A's token proves nothing to B.
  auto cluster = h.store->GetCluster(kOrgB, kCluster);
  ASSERT_TRUE(cluster.ok());
  cluster->issuer = kIssuer;
  ASSERT_TRUE(h.store->PutCluster(*cluster).ok());
  Json claims = h.Claims();  // A's issuer
  Call c = h.EstablishCall();
  c.token = testing::SignToken(claims, *key_b, SignatureAlg::kEs256, "b-1");
  ExpectRefused(h.Send(c), 401, "token_invalid");
  Call d = h.EstablishCall();
  d.api_key = std::string(api_key_b.header_value.RevealString());  // B's key, A's genuine token
  ExpectRefused(h.Send(d), 401, "token_invalid");
  // Each organisation's own pair still works.
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
}

TEST_F(TenancyTest, RateLimitsArePerOrganization) {
  h.config.limits.rate_per_pod_uid_per_minute = 2;
  MakeService();
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
  ExpectRefused(h.Send(h.EstablishCall()), 429, "rate_limited");
  // Organisation B's pod has the same UID; A's exhausted bucket is not B's.
  auto resp = h.service->Handle(h.Build(EstablishB()));
  EXPECT_EQ(resp.status, 201) << resp.body;
}

TEST_F(TenancyTest, SessionOfOneOrgUnusableWithAnotherOrgsKey) {
  const std::string session_a = h.Establish();
  ASSERT_FALSE(session_a.empty());
  // B's credentials (same pod names, same DPoP key) on A's session id.
  Call c = h.UnwrapCall(session_a, {B64uEncode(h.Seal("secret").capsule().bytes())});
  c.api_key = std::string(api_key_b.header_value.RevealString());
  c.token = TokenB();
  ExpectRefused(h.Send(c), 401, "session_invalid");
}

TEST_F(TenancyTest, WorkloadAllowlistIsTheKeysOrganizations) {
  // B's allowlist no longer holds the pod's image; A's still does.
  ASSERT_TRUE(h.store->PutWorkload(store::Workload{kCluster, kNs, kSa, {testing::kBadDigest}, kOrgB}).ok());
  EXPECT_EQ(h.Send(h.EstablishCall()).status, 201);
  ExpectRefused(h.service->Handle(h.Build(EstablishB())), 403, "image_not_allowed");
}

TEST_F(TenancyTest, RouteLookupStoreOutageIsStoreUnavailable) {
  // The CVS router reads organisation records through its own store handle;
  // when only that read fails, the unwrap is refused store_unavailable (the
  // store's outage), not cvs_unavailable.
  store::FaultInjectingStore router_store(*h.sqlite);
  CvsRouter router(router_store, h.clock, *h.cvs_service,
                   [](const store::Organization&) -> Result<std::unique_ptr<cvs::CvsPort>> {
                     return Error(Code::kCvsUnavailable, "no hyok organisations in this test");
                   },
                   /*recheck_ms=*/0);
  EdgeDeps deps;
  deps.store = h.store.get();
  deps.kube = [this](std::string_view cluster) -> kube::KubeClient* {
    return cluster == kCluster ? &h.kube_main : nullptr;
  };
  deps.cvs = &router;
  deps.audit = &h.audit_sink;
  deps.clock = &h.clock;
  deps.rng = &DefaultRandom();
  h.service = Must(EdgeService::Create(h.config, deps));
  const std::string session = h.Establish();
  ASSERT_FALSE(session.empty());
  const std::string capsule = B64uEncode(h.Seal("routed").capsule().bytes());
  // No route cached yet (a route once read survives a store hiccup:
  // CvsRouterTest.StoreErrorIsStoreUnavailableUnlessRouteKnown).
  router_store.SetFailing(true);
  ExpectRefused(h.Send(h.UnwrapCall(session, {capsule})), 503, "store_unavailable");
  router_store.SetFailing(false);
  EXPECT_EQ(h.Send(h.UnwrapCall(session, {capsule})).status, 200) << "did not recover by itself";
}

}  // namespace
}  // namespace astis::edge
