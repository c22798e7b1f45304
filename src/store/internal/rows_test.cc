// The stored-row decoding both backends share (store/internal/rows.h).
#include "store/internal/rows.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace astis::store::internal {
namespace {

std::string Digest(char c) { return "sha256:" + std::string(64, c); }

TEST(StoreRowsTest, JoinAndDecodeRoundTrip) {
  const std::vector<std::vector<std::string>> cases = {{}, {Digest('a')}, {Digest('a'), Digest('b'), Digest('0')}};
  for (const std::vector<std::string>& digests : cases) {
    auto w = DecodeWorkload("default", "prod", "payments", "api", JoinImageDigests(digests));
    ASSERT_TRUE(w.ok()) << w.status().message();
    EXPECT_EQ(w->cluster, "prod");
    EXPECT_EQ(w->namespace_, "payments");
    EXPECT_EQ(w->service_account, "api");
    EXPECT_EQ(w->image_digests, digests);
  }
}

// A row edited outside the store (a manual UPDATE, a restored backup) must
// not widen the allowlist gate 4 checks: any malformed digest in the stored
// column fails the read, and the error names no stored value.
TEST(StoreRowsTest, DecodeWorkloadRefusesBadStoredDigest) {
  const std::vector<std::string> bad = {
      "sha256:" + std::string(64, 'A'),            // upper-case hex
      "sha256:" + std::string(63, 'a'),            // short
      "sha512:" + std::string(64, 'a'),            // other algorithm
      "nginx:latest",                              // a tag
      Digest('a') + " nginx:latest",               // one good, one bad
      "nginx:latest " + Digest('a'),               // bad first
      Digest('a') + "  " + Digest('b'),            // empty item between two spaces
      " " + Digest('a'),                           // empty first item
      Digest('a') + "\t" + Digest('b'),            // not space-separated
      Digest('a') + "," + Digest('b'),             // not space-separated
  };
  for (const std::string& stored : bad) {
    auto w = DecodeWorkload("default", "prod", "payments", "api", stored);
    ASSERT_FALSE(w.ok()) << stored;
    EXPECT_EQ(w.status().code(), Code::kStoreUnavailable) << stored;
    EXPECT_EQ(w.status().message().find("nginx"), std::string::npos);
    EXPECT_EQ(w.status().message().find("sha"), std::string::npos);
  }
}

Cluster PlanCluster(const std::string& name, const std::string& mode = "strict") {
  Cluster c;
  c.name = name;
  c.issuer = "https://oidc." + name + ".example";
  c.jwks_json = R"({"keys":[]})";
  c.api_url = "https://api." + name + ".example";
  c.mode = mode;
  return c;
}

std::vector<std::string> Actions(const ApplyPlan& plan) {
  std::vector<std::string> out;
  for (const ApplyChange& c : plan.changes) out.push_back(c.kind + " " + c.name + " " + c.action);
  return out;
}

TEST(StoreRowsTest, PlanApplyCreatesUpdatesKeepsAndPrunes) {
  Cluster prod = PlanCluster("prod");
  prod.org = "acme";
  prod.created_at = 100;
  Cluster old = PlanCluster("old");
  old.org = "acme";
  const std::vector<Cluster> current{prod, old};
  const std::vector<Workload> current_w{Workload{"prod", "payments", "api", {Digest('a')}, "acme"},
                                        Workload{"old", "jobs", "batch", {Digest('b')}, "acme"},
                                        Workload{"prod", "payments", "worker", {Digest('c')}, "acme"}};
  OrgConfig desired;
  desired.clusters = {PlanCluster("prod"), PlanCluster("stage", "audit")};
  desired.workloads = {Workload{"prod", "payments", "api", {Digest('a')}},  // same list
                       Workload{"stage", "payments", "api", {Digest('d')}},
                       Workload{"prod", "payments", "worker", {Digest('e'), Digest('c')}}};

  auto kept = PlanApply("acme", current, current_w, desired, /*prune=*/false, /*now=*/500);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(Actions(*kept), (std::vector<std::string>{
                                "Cluster prod unchanged", "Cluster stage created",
                                "Workload prod/payments/api unchanged", "Workload prod/payments/worker updated",
                                "Workload stage/payments/api created"}));
  ASSERT_EQ(kept->put_clusters.size(), 1u);
  EXPECT_EQ(kept->put_clusters[0].org, "acme");
  EXPECT_EQ(kept->put_clusters[0].created_at, 500);
  EXPECT_TRUE(kept->delete_clusters.empty());
  EXPECT_TRUE(kept->delete_workloads.empty());

  auto pruned = PlanApply("acme", current, current_w, desired, /*prune=*/true, 500);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(Actions(*pruned), (std::vector<std::string>{
                                  "Cluster old deleted", "Cluster prod unchanged", "Cluster stage created",
                                  "Workload old/jobs/batch deleted", "Workload prod/payments/api unchanged",
                                  "Workload prod/payments/worker updated", "Workload stage/payments/api created"}));
  EXPECT_EQ(pruned->delete_clusters, std::vector<std::string>{"old"});
  ASSERT_EQ(pruned->delete_workloads.size(), 1u);
  EXPECT_EQ(pruned->delete_workloads[0].org, "acme");

  // An update keeps the cluster's first created_at.
  desired.clusters[0].mode = "audit";
  auto updated = PlanApply("acme", current, current_w, desired, false, 900);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(Actions(*updated)[0], "Cluster prod updated");
  EXPECT_EQ(updated->put_clusters[0].created_at, 100);
}

TEST(StoreRowsTest, PlanApplyRefusesBadDeclarations) {
  OrgConfig twice;
  twice.clusters = {PlanCluster("prod"), PlanCluster("prod")};
  auto r = PlanApply("acme", {}, {}, twice, false, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("Cluster prod: declared twice"), std::string::npos) << r.status().message();

  OrgConfig orphan;
  orphan.workloads = {Workload{"ghost", "payments", "api", {}}};
  r = PlanApply("acme", {}, {}, orphan, false, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Workload ghost/payments/api: cluster ghost"), std::string::npos);

  // A registered cluster keeps a workload valid, unless --prune deletes it.
  Cluster ghost = PlanCluster("ghost");
  EXPECT_TRUE(PlanApply("acme", {ghost}, {}, orphan, false, 1).ok());
  EXPECT_FALSE(PlanApply("acme", {ghost}, {}, orphan, true, 1).ok());

  OrgConfig bad_digest;
  bad_digest.clusters = {PlanCluster("prod")};
  bad_digest.workloads = {Workload{"prod", "payments", "api", {"nginx:latest"}}};
  r = PlanApply("acme", {}, {}, bad_digest, false, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Workload prod/payments/api: "), std::string::npos);

  OrgConfig bad_mode;
  bad_mode.clusters = {PlanCluster("prod", "permissive")};
  r = PlanApply("acme", {}, {}, bad_mode, false, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Cluster prod: "), std::string::npos);
}

}  // namespace
}  // namespace astis::store::internal
