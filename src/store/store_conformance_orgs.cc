// StoreConformanceTest, organisations (docs/tenancy.md): every backend keeps
// two organisations' objects apart even when every name collides, and
// scopes every lookup by organisation. Part of the conformance suite
// (store_conformance.h); linked into every backend's test binary.
#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "store/store_conformance.h"

namespace astis::store::testing {
namespace {

constexpr int64_t kNow = 1'764'115'200;
constexpr char kIssuer[] = "https://oidc.shared.example";  // the same issuer in both organisations, on purpose
constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

std::string Digest(char fill) { return "sha256:" + std::string(64, fill); }

Organization Standard(const std::string& name) {
  Organization o;
  o.name = name;
  o.tier = "standard";
  o.created_at = kNow;
  return o;
}

Organization Hyok(const std::string& name) {
  Organization o;
  o.name = name;
  o.tier = "hyok";
  o.cvs_url = "https://cvs." + name + ".example:9443";
  o.cvs_ca_pem = kCaPem;
  o.cvs_identity = "cvs." + name + ".example";
  o.created_at = kNow;
  return o;
}

// Colliding puts the same cluster, workload, API key scope and pod in org.
void PutColliding(Store& store, const std::string& org, char digest, const std::string& key_id) {
  Cluster c;
  c.org = org;
  c.name = "prod";
  c.issuer = kIssuer;
  c.jwks_json = R"({"keys":[],"org":")" + org + R"("})";
  c.api_url = "https://api." + org + ".example:6443";
  c.mode = org == "tenant-a" ? "strict" : "audit";
  c.created_at = kNow;
  ASSERT_TRUE(store.PutCluster(c).ok());
  Workload w{"prod", "payments", "api", {Digest(digest)}, org};
  ASSERT_TRUE(store.PutWorkload(w).ok());
  ApiKey k;
  k.id = key_id;
  k.hash.assign(32, static_cast<uint8_t>(digest));
  k.org = org;
  k.cluster = "prod";
  k.namespace_ = "payments";
  k.service_account = "api";
  k.created_at = kNow;
  ASSERT_TRUE(store.CreateApiKey(k).ok());
}

Session CollidingSession(const std::string& org, const std::string& id, const std::string& jkt) {
  Session s;
  s.id = id;
  s.org = org;
  s.cluster = "prod";
  s.namespace_ = "payments";
  s.service_account = "api";
  s.pod_name = "api-0";
  s.pod_uid = "11111111-2222-3333-4444-555555555555";  // one UID in both orgs' clusters
  s.jkt = jkt;
  s.recipient_jwk = R"({"kty":"OKP","crv":"X25519","x":"r"})";
  s.expires_at = kNow + 900;
  return s;
}

}  // namespace

TEST_P(StoreConformanceTest, DefaultOrganizationExists) {
  auto orgs = store_->ListOrganizations();
  ASSERT_TRUE(orgs.ok()) << orgs.status().ToString();
  ASSERT_EQ(orgs->size(), 1u);
  EXPECT_EQ((*orgs)[0].name, kDefaultOrg);
  EXPECT_EQ((*orgs)[0].tier, "standard");
  EXPECT_TRUE((*orgs)[0].cvs_url.empty());
}

TEST_P(StoreConformanceTest, OrganizationPutGetListDelete) {
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-a")).ok());
  Organization b = Hyok("tenant-b");
  b.cvs_spki_sha256 = std::string(64, 'f');
  ASSERT_TRUE(store_->PutOrganization(b).ok());
  auto got = store_->GetOrganization("tenant-b");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->tier, "hyok");
  EXPECT_EQ(got->cvs_url, b.cvs_url);
  EXPECT_EQ(got->cvs_ca_pem, b.cvs_ca_pem);
  EXPECT_EQ(got->cvs_identity, b.cvs_identity);
  EXPECT_EQ(got->cvs_spki_sha256, b.cvs_spki_sha256);
  EXPECT_EQ(got->created_at, kNow);

  // Replacing keeps created_at and changes the route.
  b.cvs_url = "https://cvs2.tenant-b.example";
  b.created_at = kNow + 50;
  ASSERT_TRUE(store_->PutOrganization(b).ok());
  got = store_->GetOrganization("tenant-b");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->cvs_url, "https://cvs2.tenant-b.example");
  EXPECT_EQ(got->created_at, kNow);

  auto all = store_->ListOrganizations();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "default");
  EXPECT_EQ((*all)[1].name, "tenant-a");
  EXPECT_EQ((*all)[2].name, "tenant-b");

  EXPECT_TRUE(store_->DeleteOrganization("tenant-a", false).ok());
  EXPECT_EQ(store_->GetOrganization("tenant-a").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->DeleteOrganization("tenant-a", false).code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, OrganizationValidation) {
  auto refused = [&](Organization o) { return store_->PutOrganization(o).code() == Code::kInvalidArgument; };
  EXPECT_TRUE(refused(Standard("")));
  EXPECT_TRUE(refused(Standard("Tenant")));        // not a DNS-1123 label
  EXPECT_TRUE(refused(Standard("tenant/a")));
  EXPECT_TRUE(refused(Standard(std::string(64, 'a'))));
  Organization t = Standard("tenant-a");
  t.tier = "premium";
  EXPECT_TRUE(refused(t));
  t = Standard("tenant-a");
  t.cvs_url = "https://cvs.example";  // a standard org has no CVS of its own
  EXPECT_TRUE(refused(t));
  Organization h = Hyok("tenant-b");
  h.cvs_url = "http://cvs.example";
  EXPECT_TRUE(refused(h));
  h = Hyok("tenant-b");
  h.cvs_ca_pem = "not pem";
  EXPECT_TRUE(refused(h));
  h = Hyok("tenant-b");
  h.cvs_identity.clear();
  EXPECT_TRUE(refused(h));
  h = Hyok("tenant-b");
  h.cvs_spki_sha256 = std::string(64, 'F');  // upper case
  EXPECT_TRUE(refused(h));
  h.cvs_spki_sha256 = std::string(63, 'f');
  EXPECT_TRUE(refused(h));
  auto orgs = store_->ListOrganizations();
  ASSERT_TRUE(orgs.ok());
  EXPECT_EQ(orgs->size(), 1u) << "a refused organisation was written";
}

TEST_P(StoreConformanceTest, ObjectsNeedTheirOrganization) {
  Cluster c;
  c.org = "nobody";
  c.name = "prod";
  c.issuer = kIssuer;
  c.jwks_json = R"({"keys":[]})";
  EXPECT_EQ(store_->PutCluster(c).code(), Code::kNotFound);
  EXPECT_EQ(store_->PutWorkload(Workload{"prod", "payments", "api", {}, "nobody"}).code(), Code::kNotFound);
  ApiKey k;
  k.id = "key-nobody";
  k.hash.assign(32, 1);
  k.org = "nobody";
  k.cluster = "prod";
  k.namespace_ = "payments";
  k.service_account = "api";
  EXPECT_EQ(store_->CreateApiKey(k).code(), Code::kNotFound);
  EXPECT_EQ(store_->GetApiKey("key-nobody").status().code(), Code::kNotFound);
  auto clusters = store_->ListClusters(std::nullopt);
  ASSERT_TRUE(clusters.ok());
  EXPECT_TRUE(clusters->empty());
  // The organisation name is checked like any other field.
  c.org = "Bad/Org";
  EXPECT_EQ(store_->PutCluster(c).code(), Code::kInvalidArgument);
}

TEST_P(StoreConformanceTest, OrganizationsIsolateObjectsWithTheSameNames) {
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-a")).ok());
  ASSERT_TRUE(store_->PutOrganization(Hyok("tenant-b")).ok());
  ASSERT_NO_FATAL_FAILURE(PutColliding(*store_, "tenant-a", 'a', "key-of-a"));
  ASSERT_NO_FATAL_FAILURE(PutColliding(*store_, "tenant-b", 'b', "key-of-b"));

  // Clusters: same name and issuer, two objects.
  auto a = store_->GetCluster("tenant-a", "prod");
  auto b = store_->GetCluster("tenant-b", "prod");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->org, "tenant-a");
  EXPECT_EQ(a->mode, "strict");
  EXPECT_EQ(b->org, "tenant-b");
  EXPECT_EQ(b->mode, "audit");
  EXPECT_EQ(store_->GetCluster(kDefaultOrg, "prod").status().code(), Code::kNotFound);
  auto by_issuer = store_->ListClustersByIssuer("tenant-a", kIssuer);
  ASSERT_TRUE(by_issuer.ok());
  ASSERT_EQ(by_issuer->size(), 1u) << "gate 2 must see one organisation's trust anchors only";
  EXPECT_EQ((*by_issuer)[0].org, "tenant-a");
  EXPECT_EQ((*by_issuer)[0].jwks_json, R"({"keys":[],"org":"tenant-a"})");
  auto listed = store_->ListClusters("tenant-b");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].org, "tenant-b");
  auto all = store_->ListClusters(std::nullopt);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);

  // Workloads: each organisation's allowlist.
  auto wa = store_->GetWorkload("tenant-a", "prod", "payments", "api");
  auto wb = store_->GetWorkload("tenant-b", "prod", "payments", "api");
  ASSERT_TRUE(wa.ok() && wb.ok());
  EXPECT_EQ(wa->image_digests, std::vector<std::string>{Digest('a')});
  EXPECT_EQ(wb->image_digests, std::vector<std::string>{Digest('b')});
  EXPECT_EQ(wa->org, "tenant-a");
  auto wl = store_->ListWorkloads("tenant-a", std::nullopt);
  ASSERT_TRUE(wl.ok());
  ASSERT_EQ(wl->size(), 1u);
  EXPECT_EQ((*wl)[0].org, "tenant-a");

  // API keys: ids are global, the record names its organisation.
  auto ka = store_->GetApiKey("key-of-a");
  ASSERT_TRUE(ka.ok());
  EXPECT_EQ(ka->org, "tenant-a");
  auto keys_b = store_->ListApiKeys("tenant-b");
  ASSERT_TRUE(keys_b.ok());
  ASSERT_EQ(keys_b->size(), 1u);
  EXPECT_EQ((*keys_b)[0].id, "key-of-b");

  // Pins: one Pod UID in both organisations' clusters is two pods.
  auto sa = store_->EnrollSession(CollidingSession("tenant-a", "session-of-a-0000000000", "jkt-a"), kNow);
  auto sb = store_->EnrollSession(CollidingSession("tenant-b", "session-of-b-0000000000", "jkt-b"), kNow);
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_EQ(sa->outcome, EnrollOutcome::kCreated);
  EXPECT_EQ(sb->outcome, EnrollOutcome::kCreated) << "another organisation's pin must not block this one";
  EXPECT_EQ(sb->session.org, "tenant-b");
  // Releasing or revoking in one organisation leaves the other's session.
  auto released = store_->ReleasePinIfRestarted("tenant-a", "prod", CollidingSession("", "", "").pod_uid,
                                                "session-of-b-0000000000", 5, kNow);
  ASSERT_TRUE(released.ok());
  EXPECT_FALSE(*released);
  PodRef pod{"prod", "payments", "", CollidingSession("", "", "").pod_uid, "tenant-a"};
  auto revoked = store_->RevokeSessionsForPod(pod);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(*revoked, 1);
  auto still = store_->GetSession("session-of-b-0000000000");
  ASSERT_TRUE(still.ok());
  EXPECT_TRUE(still->IsActive(kNow));
  SessionFilter f;
  f.org = "tenant-b";
  f.cluster = "prod";
  f.namespace_ = "payments";
  f.pod_name = "api-0";
  f.active_at = kNow;
  auto sessions = store_->ListSessions(f);
  ASSERT_TRUE(sessions.ok());
  ASSERT_EQ(sessions->size(), 1u);
  EXPECT_EQ((*sessions)[0].id, "session-of-b-0000000000");

  // Deleting one organisation's cluster leaves the other's.
  ASSERT_TRUE(store_->DeleteCluster("tenant-a", "prod").ok());
  EXPECT_EQ(store_->GetWorkload("tenant-a", "prod", "payments", "api").status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->GetCluster("tenant-b", "prod").ok());
  EXPECT_TRUE(store_->GetWorkload("tenant-b", "prod", "payments", "api").ok());
  EXPECT_EQ(store_->DeleteWorkload("tenant-a", "prod", "payments", "api").code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, EnrollNeedsItsOrganization) {
  auto r = store_->EnrollSession(CollidingSession("nobody", "session-of-nobody-00000", "jkt-n"), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetSession("session-of-nobody-00000").status().code(), Code::kNotFound);
  // Once the organisation is gone, its pods cannot pin again.
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-a")).ok());
  ASSERT_TRUE(store_->EnrollSession(CollidingSession("tenant-a", "session-of-a-0000000000", "jkt-a"), kNow).ok());
  ASSERT_TRUE(store_->DeleteOrganization("tenant-a", true).ok());
  EXPECT_EQ(store_->EnrollSession(CollidingSession("tenant-a", "session-of-a-1111111111", "jkt-a"), kNow)
                .status()
                .code(),
            Code::kNotFound);
}

TEST_P(StoreConformanceTest, DeleteOrganizationRefusedWhileInUse) {
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-a")).ok());
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-b")).ok());
  ASSERT_NO_FATAL_FAILURE(PutColliding(*store_, "tenant-a", 'a', "key-of-a"));
  ASSERT_NO_FATAL_FAILURE(PutColliding(*store_, "tenant-b", 'b', "key-of-b"));
  ASSERT_TRUE(store_->EnrollSession(CollidingSession("tenant-a", "session-of-a-0000000000", "jkt-a"), kNow).ok());
  ASSERT_TRUE(store_->AppendConfigAudit("tenant-a", "cli:test", "cluster.add", "{}", kNow).ok());

  EXPECT_EQ(store_->DeleteOrganization("tenant-a", false).code(), Code::kFailedPrecondition);
  EXPECT_TRUE(store_->GetCluster("tenant-a", "prod").ok()) << "a refused delete changed something";
  EXPECT_TRUE(store_->GetApiKey("key-of-a").ok());

  ASSERT_TRUE(store_->DeleteOrganization("tenant-a", true).ok());
  EXPECT_EQ(store_->GetOrganization("tenant-a").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetCluster("tenant-a", "prod").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetWorkload("tenant-a", "prod", "payments", "api").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetApiKey("key-of-a").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetSession("session-of-a-0000000000").status().code(), Code::kNotFound);
  // Its audit trail stays; the other organisation is untouched.
  auto trail = store_->ListConfigAudit("tenant-a", 0, 10);
  ASSERT_TRUE(trail.ok());
  EXPECT_EQ(trail->size(), 1u);
  EXPECT_TRUE(store_->GetCluster("tenant-b", "prod").ok());
  EXPECT_TRUE(store_->GetWorkload("tenant-b", "prod", "payments", "api").ok());
  EXPECT_TRUE(store_->GetApiKey("key-of-b").ok());
}

TEST_P(StoreConformanceTest, ConfigAuditPerOrganization) {
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-a")).ok());
  ASSERT_TRUE(store_->AppendConfigAudit("tenant-a", "cli:alice", "cluster.add", R"({"name":"prod"})", kNow).ok());
  ASSERT_TRUE(store_->AppendConfigAudit("tenant-b", "cli:bob", "cluster.add", R"({"name":"prod"})", kNow).ok());
  ASSERT_TRUE(store_->AppendConfigAudit("", "operator", "org.add", R"({"name":"tenant-a"})", kNow).ok());
  EXPECT_EQ(store_->AppendConfigAudit("Tenant/B", "cli:bob", "x", "{}", kNow).status().code(),
            Code::kInvalidArgument);
  auto a = store_->ListConfigAudit("tenant-a", 0, 10);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].org, "tenant-a");
  EXPECT_EQ((*a)[0].actor, "cli:alice");
  auto all = store_->ListConfigAudit(std::nullopt, 0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[2].org, "");
  EXPECT_LT((*all)[0].seq, (*all)[1].seq);
}

TEST_P(StoreConformanceTest, ChangeWorkloadImagesAddsAndRemoves) {
  Cluster c;
  c.name = "prod";
  c.issuer = kIssuer;
  c.jwks_json = R"({"keys":[]})";
  ASSERT_TRUE(store_->PutCluster(c).ok());
  ASSERT_TRUE(store_->PutWorkload(Workload{"prod", "payments", "api", {Digest('b'), Digest('a')}}).ok());
  const std::vector<std::string> add{Digest('c'), Digest('a')};
  const std::vector<std::string> remove{Digest('b'), Digest('d')};  // d is not listed: nothing to remove
  auto changed = store_->ChangeWorkloadImages(kDefaultOrg, "prod", "payments", "api", add, remove);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->image_digests, (std::vector<std::string>{Digest('a'), Digest('c')}));
  auto stored = store_->GetWorkload(kDefaultOrg, "prod", "payments", "api");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->image_digests, changed->image_digests);

  // Refusals change nothing.
  const std::vector<std::string> tag{"nginx:1.27"};
  EXPECT_EQ(store_->ChangeWorkloadImages(kDefaultOrg, "prod", "payments", "api", tag, {}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->ChangeWorkloadImages(kDefaultOrg, "prod", "payments", "other", add, {}).status().code(),
            Code::kNotFound);
  EXPECT_EQ(store_->ChangeWorkloadImages("tenant-x", "prod", "payments", "api", add, {}).status().code(),
            Code::kNotFound);
  std::vector<std::string> too_many;
  for (size_t i = 0; i <= kMaxImageDigests; ++i) {
    char hex[65];
    std::snprintf(hex, sizeof hex, "%064zx", i);
    too_many.push_back(std::string("sha256:") + hex);
  }
  EXPECT_EQ(store_->ChangeWorkloadImages(kDefaultOrg, "prod", "payments", "api", too_many, {}).status().code(),
            Code::kInvalidArgument);
  stored = store_->GetWorkload(kDefaultOrg, "prod", "payments", "api");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->image_digests, (std::vector<std::string>{Digest('a'), Digest('c')}));
}

TEST_P(StoreConformanceTest, ConcurrentWorkloadImageChangesBothLand) {
  Cluster c;
  c.name = "prod";
  c.issuer = kIssuer;
  c.jwks_json = R"({"keys":[]})";
  ASSERT_TRUE(store_->PutCluster(c).ok());
  ASSERT_TRUE(store_->PutWorkload(Workload{"prod", "payments", "api", {}}).ok());
  std::vector<Store*> stores = Replicas();
  ASSERT_FALSE(HasFailure());
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      const std::vector<std::string> add{Digest(static_cast<char>('0' + t))};
      start.arrive_and_wait();
      auto r = stores[static_cast<size_t>(t) % stores.size()]->ChangeWorkloadImages(kDefaultOrg, "prod", "payments",
                                                                                    "api", add, {});
      if (!r.ok()) ++errors;
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(errors.load(), 0);
  auto stored = store_->GetWorkload(kDefaultOrg, "prod", "payments", "api");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->image_digests.size(), static_cast<size_t>(kThreads)) << "a concurrent change was lost";
}

namespace {

Cluster DeclaredCluster(const std::string& name) {
  Cluster c;
  c.name = name;
  c.issuer = "https://oidc." + name + ".example";
  c.jwks_json = R"({"keys":[]})";
  c.api_url = "https://api." + name + ".example:6443";
  return c;
}

std::vector<std::string> Actions(const std::vector<ApplyChange>& changes) {
  std::vector<std::string> out;
  for (const ApplyChange& c : changes) out.push_back(c.kind + " " + c.name + " " + c.action);
  return out;
}

}  // namespace

TEST_P(StoreConformanceTest, ApplyOrgConfigIsIdempotent) {
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-a")).ok());
  OrgConfig desired;
  desired.clusters = {DeclaredCluster("prod"), DeclaredCluster("stage")};
  desired.workloads = {Workload{"prod", "payments", "api", {Digest('b'), Digest('a')}},
                       Workload{"stage", "payments", "api", {Digest('c')}}};
  auto diff = store_->ApplyOrgConfig("tenant-a", desired, false, /*dry_run=*/true, kNow);
  ASSERT_TRUE(diff.ok()) << diff.status().ToString();
  EXPECT_EQ(Actions(*diff), (std::vector<std::string>{"Cluster prod created", "Cluster stage created",
                                                      "Workload prod/payments/api created",
                                                      "Workload stage/payments/api created"}));
  auto none = store_->ListClusters("tenant-a");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << "a dry run wrote";

  auto first = store_->ApplyOrgConfig("tenant-a", desired, false, false, kNow);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, *diff);
  auto second = store_->ApplyOrgConfig("tenant-a", desired, false, false, kNow + 10);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Actions(*second), (std::vector<std::string>{"Cluster prod unchanged", "Cluster stage unchanged",
                                                       "Workload prod/payments/api unchanged",
                                                       "Workload stage/payments/api unchanged"}));
  auto prod = store_->GetCluster("tenant-a", "prod");
  ASSERT_TRUE(prod.ok());
  EXPECT_EQ(prod->created_at, kNow);
  auto w = store_->GetWorkload("tenant-a", "prod", "payments", "api");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->image_digests, (std::vector<std::string>{Digest('a'), Digest('b')}));

  desired.clusters[1].mode = "audit";
  desired.workloads[0].image_digests.push_back(Digest('d'));
  auto third = store_->ApplyOrgConfig("tenant-a", desired, false, false, kNow + 20);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(Actions(*third), (std::vector<std::string>{"Cluster prod unchanged", "Cluster stage updated",
                                                      "Workload prod/payments/api updated",
                                                      "Workload stage/payments/api unchanged"}));
  EXPECT_EQ(store_->ApplyOrgConfig("nobody", desired, false, false, kNow).status().code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, ApplyOrgConfigAuditsInItsTransaction) {
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-a")).ok());
  OrgConfig desired;
  desired.clusters = {DeclaredCluster("prod")};
  for (int i = 0; i < 250; ++i) {
    desired.workloads.push_back(Workload{"prod", "ns-" + std::to_string(i), "api", {Digest('a')}});
  }
  desired.audit_actor = "cli:alice";
  ASSERT_TRUE(store_->ApplyOrgConfig("tenant-a", desired, false, /*dry_run=*/true, kNow).ok());
  EXPECT_TRUE(store_->ListConfigAudit("tenant-a", 0, 10)->empty()) << "a dry run was recorded";
  ASSERT_TRUE(store_->ApplyOrgConfig("tenant-a", desired, false, false, kNow).ok());
  auto trail = store_->ListConfigAudit("tenant-a", 0, 10);
  ASSERT_TRUE(trail.ok());
  ASSERT_EQ(trail->size(), 3u);  // 251 changes in parts of 100
  EXPECT_EQ((*trail)[0].actor, "cli:alice");
  EXPECT_EQ((*trail)[2].action, "config.apply");
  EXPECT_NE((*trail)[2].detail_json.find(R"("part":3,"parts":3)"), std::string::npos) << (*trail)[2].detail_json;
  // Unchanged: nothing recorded; without an actor: nothing recorded.
  ASSERT_TRUE(store_->ApplyOrgConfig("tenant-a", desired, false, false, kNow).ok());
  desired.audit_actor.clear();
  desired.workloads.pop_back();
  ASSERT_TRUE(store_->ApplyOrgConfig("tenant-a", desired, true, false, kNow).ok());
  EXPECT_EQ(store_->ListConfigAudit("tenant-a", 0, 10)->size(), 3u);
}

TEST_P(StoreConformanceTest, ApplyOrgConfigPrunesOnlyItsOrganization) {
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-a")).ok());
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-b")).ok());
  ASSERT_NO_FATAL_FAILURE(PutColliding(*store_, "tenant-a", 'a', "key-of-a"));
  ASSERT_NO_FATAL_FAILURE(PutColliding(*store_, "tenant-b", 'b', "key-of-b"));
  OrgConfig desired;
  desired.clusters = {DeclaredCluster("stage")};
  auto pruned = store_->ApplyOrgConfig("tenant-a", desired, /*prune=*/true, false, kNow);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(Actions(*pruned), (std::vector<std::string>{"Cluster prod deleted", "Cluster stage created",
                                                       "Workload prod/payments/api deleted"}));
  EXPECT_EQ(store_->GetCluster("tenant-a", "prod").status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->GetCluster("tenant-a", "stage").ok());
  // The other organisation's objects with the same names stay.
  EXPECT_TRUE(store_->GetCluster("tenant-b", "prod").ok());
  EXPECT_TRUE(store_->GetWorkload("tenant-b", "prod", "payments", "api").ok());
  // API keys are imperative: apply never touches them.
  EXPECT_TRUE(store_->GetApiKey("key-of-a").ok());
}

TEST_P(StoreConformanceTest, ApplyOrgConfigAllOrNothing) {
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-a")).ok());
  ASSERT_NO_FATAL_FAILURE(PutColliding(*store_, "tenant-a", 'a', "key-of-a"));
  OrgConfig desired;
  desired.clusters = {DeclaredCluster("prod"), DeclaredCluster("stage")};
  desired.workloads = {Workload{"stage", "payments", "api", {Digest('c')}},
                       Workload{"prod", "payments", "api", {"nginx:latest"}}};  // the last one is bad
  auto r = store_->ApplyOrgConfig("tenant-a", desired, true, false, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("Workload prod/payments/api"), std::string::npos) << r.status().message();
  // Nothing of it was written: no stage, prod's issuer and allowlist unchanged.
  EXPECT_EQ(store_->GetCluster("tenant-a", "stage").status().code(), Code::kNotFound);
  auto prod = store_->GetCluster("tenant-a", "prod");
  ASSERT_TRUE(prod.ok());
  EXPECT_EQ(prod->issuer, kIssuer);
  auto w = store_->GetWorkload("tenant-a", "prod", "payments", "api");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->image_digests, std::vector<std::string>{Digest('a')});
}

}  // namespace astis::store::testing
