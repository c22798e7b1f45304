// GCC 12 at -O1 under ASan+UBSan reports a false -Wmaybe-uninitialized
// inside std::regex's bracket matchers (the std::function in its _StateT);
// std::regex is only this file's oracle for Kubernetes' subdomain rule
// (IsDns1123SubdomainFollowsKubernetesRegex). Set before every include, so
// that it covers the library lines where the warning is reported.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "capsule/binding.h"

#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "capsule/seal.h"
#include "common/encoding.h"

namespace astis::capsule {
namespace {

Binding Good() { return Binding{"prod-eu1", "payments", "api", "db-creds", "password"}; }

TEST(BindingTest, AcceptsProtocolExample) {
  Binding b = Good();
  ASSERT_TRUE(b.Validate().ok());
  auto s = b.BindString();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "astis/v1\nprod-eu1\npayments\napi\ndb-creds\npassword");
}

TEST(BindingTest, AcceptsSubdomainNameAndMixedCaseKey) {
  Binding b = Good();
  b.name = "db.creds-1.example";
  b.key = "TLS_cert.pem-2";
  EXPECT_TRUE(b.Validate().ok());
}

TEST(BindingTest, RejectsUppercaseNamespace) {
  Binding b = Good();
  b.namespace_ = "Payments";
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
  EXPECT_FALSE(b.BindString().ok());
}

TEST(BindingTest, RejectsNewlineInName) {
  // A '\n' in name would let "a\nb" shift the BIND fields; it is refused,
  // never escaped.
  Binding b = Good();
  b.name = "db\ncreds";
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
  EXPECT_FALSE(b.BindString().ok());
}

TEST(BindingTest, RejectsEmptyKey) {
  Binding b = Good();
  b.key = "";
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
}

TEST(BindingTest, RejectsDotDotKey) {
  Binding b = Good();
  b.key = "..";
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
  b.key = ".";
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
}

TEST(BindingTest, RejectsSlashInKey) {
  Binding b = Good();
  b.key = "a/b";
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
}

TEST(BindingTest, RejectsOverlongKey) {
  Binding b = Good();
  b.key = std::string(kMaxSecretKey, 'k');
  EXPECT_TRUE(b.Validate().ok());
  b.key += 'k';
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
}

TEST(BindingTest, RejectsLabelEdgeCases) {
  // cluster and namespace stay DNS-1123 labels (docs/protocol.md §3.1): a dot
  // is refused there. serviceAccount is a subdomain (tests below).
  for (const std::string& bad : std::vector<std::string>{"", "-api", "api-", "a_b", "a.b", std::string(kMaxDns1123Label + 1, 'a')}) {
    Binding b = Good();
    b.cluster = bad;
    EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument) << "cluster of size " << bad.size();
    b = Good();
    b.namespace_ = bad;
    EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument) << "namespace of size " << bad.size();
  }
  EXPECT_TRUE(IsDns1123Label(std::string(kMaxDns1123Label, 'a')));
}

// docs/protocol.md §3.1: serviceAccount is a DNS-1123 subdomain, as
// Kubernetes names ServiceAccounts; "my.sa" is sealed and opened end to end.
TEST(BindingTest, BindingAcceptsSubdomainServiceAccount) {
  Binding b = Good();
  b.service_account = "my.sa";
  ASSERT_TRUE(b.Validate().ok());
  auto bind = b.BindString();
  ASSERT_TRUE(bind.ok());
  EXPECT_EQ(*bind, "astis/v1\nprod-eu1\npayments\nmy.sa\ndb-creds\npassword");

  auto key = OrgPrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(key.ok());
  auto keys = OrgKeySet::Create(std::move(key).value(), {});
  ASSERT_TRUE(keys.ok());
  FakeClock clock{1764115200};
  auto sealed = Seal(keys->active().public_key(), b, AsBytes("for my.sa"), DefaultRandom(), clock);
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  // Through the string form, as a Secret stores it and the CVS parses it.
  auto parsed = SealedValue::Parse(sealed->ToString());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->capsule().binding(), b);
  EXPECT_TRUE(CheckCapsuleScope(parsed->capsule(), "prod-eu1", "payments", "my.sa").ok());
  EXPECT_EQ(CheckCapsuleScope(parsed->capsule(), "prod-eu1", "payments", "my").code(), Code::kCapsuleScope);
  auto dek = OpenCapsule(*keys, parsed->capsule());
  ASSERT_TRUE(dek.ok()) << dek.status().ToString();
  auto pt = DecryptValue(*dek, *parsed);
  ASSERT_TRUE(pt.ok()) << pt.status().ToString();
  EXPECT_EQ(pt->RevealString(), "for my.sa");

  // The longest and most dotted ServiceAccount names Kubernetes accepts.
  for (const std::string& good :
       {std::string("a.b.c"), std::string("sa-1.team-2"), std::string(kMaxDns1123Label + 1, 'a') + ".b",
        std::string(kMaxDns1123Subdomain, 's')}) {
    b.service_account = good;
    EXPECT_TRUE(b.Validate().ok()) << "serviceAccount of size " << good.size();
  }
}

// Kubernetes' IsDNS1123Subdomain regex, applied to serviceAccount: anything
// outside it is refused, never escaped.
TEST(BindingTest, BindingRefusesInvalidServiceAccount) {
  for (const std::string& bad :
       {std::string(""), std::string("My.SA"), std::string("my.SA"), std::string("-sa"), std::string("sa-"),
        std::string("a..b"), std::string(".sa"), std::string("sa."), std::string("my.-sa"), std::string("my-.sa"),
        std::string("my_sa"), std::string("my sa"), std::string("my\nsa"), std::string("my/sa"),
        std::string(kMaxDns1123Subdomain + 1, 's')}) {
    Binding b = Good();
    b.service_account = bad;
    EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument) << "serviceAccount of size " << bad.size();
    EXPECT_FALSE(b.BindString().ok());
  }
}

TEST(BindingTest, RejectsSubdomainEdgeCases) {
  for (const std::string& bad : std::vector<std::string>{"a..b", ".a", "a.", "A.b", "a b"}) {
    Binding b = Good();
    b.name = bad;
    EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument) << bad;
  }
  std::string long_name;
  while (long_name.size() < kMaxDns1123Subdomain) long_name += "a.";
  long_name.resize(kMaxDns1123Subdomain + 1);
  if (long_name.back() == '.') long_name.back() = 'b';
  EXPECT_FALSE(IsDns1123Subdomain(long_name));
}

// IsDns1123Subdomain is exactly Kubernetes' IsDNS1123Subdomain
// (k8s.io/apimachinery/pkg/util/validation): at most 253 bytes matching
// [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)* — with no
// 63-byte limit per dot-separated part. Checked exhaustively against that
// regex for every string of up to 6 characters over an alphabet that hits
// each rule, and at the length limits.
TEST(BindingTest, IsDns1123SubdomainFollowsKubernetesRegex) {
  const std::regex k8s("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  const std::string alphabet = "a0-.A_";
  std::vector<std::string> level{""};
  size_t checked = 0;
  for (int len = 0; len <= 6; ++len) {
    std::vector<std::string> next;
    for (const std::string& s : level) {
      ASSERT_EQ(IsDns1123Subdomain(s), std::regex_match(s, k8s)) << "\"" << s << "\"";
      ++checked;
      for (char c : alphabet) next.push_back(s + c);
    }
    level = std::move(next);
  }
  EXPECT_GT(checked, 50000u);

  // A part longer than a DNS-1123 label is fine; only the total is bounded.
  EXPECT_TRUE(IsDns1123Subdomain(std::string(kMaxDns1123Label + 1, 'a') + ".b"));
  EXPECT_TRUE(IsDns1123Subdomain(std::string(kMaxDns1123Subdomain, 'a')));
  EXPECT_FALSE(IsDns1123Subdomain(std::string(kMaxDns1123Subdomain + 1, 'a')));
  std::string dotted;
  while (dotted.size() + 2 <= kMaxDns1123Subdomain) dotted += "a.";
  dotted += 'a';
  ASSERT_EQ(dotted.size(), kMaxDns1123Subdomain);
  EXPECT_TRUE(IsDns1123Subdomain(dotted));
  EXPECT_FALSE(IsDns1123Subdomain(dotted + "a"));
  EXPECT_FALSE(IsDns1123Subdomain(std::string_view("a\0b", 3)));
}

}  // namespace
}  // namespace astis::capsule

namespace astis::capsule {
namespace {

// ---- v2: a strictly ascending list of 1 to 16 clusters (docs/protocol.md §3.1)

Binding GoodV2() {
  Binding b = Good();
  b.cluster.clear();
  b.clusters = {"prod-eu1", "prod-us1"};
  return b;
}

TEST(BindingV2Test, BindStringJoinsClustersWithComma) {
  auto s = GoodV2().BindString();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "astis/v2\nprod-eu1,prod-us1\npayments\napi\ndb-creds\npassword");
  EXPECT_EQ(GoodV2().version(), 2);
  EXPECT_EQ(Good().version(), 1);
}

TEST(BindingV2Test, InScopeForEachListedClusterOnly) {
  Binding b = GoodV2();
  EXPECT_TRUE(b.InScope("prod-eu1"));
  EXPECT_TRUE(b.InScope("prod-us1"));
  EXPECT_FALSE(b.InScope("staging"));
  EXPECT_FALSE(b.InScope("prod-eu1,prod-us1"));
  EXPECT_FALSE(b.InScope(""));
  EXPECT_TRUE(Good().InScope("prod-eu1"));
  EXPECT_FALSE(Good().InScope("prod-us1"));
}

TEST(BindingV2Test, BindingForOneClusterIsV1) {
  auto b = Binding::ForClusters({"prod-eu1"}, "payments", "api", "db-creds", "password");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b, Good());
  EXPECT_EQ(b->version(), 1);
}

TEST(BindingV2Test, BindingForClustersSortsThem) {
  auto b = Binding::ForClusters({"prod-us1", "dr-1", "prod-eu1"}, "payments", "api", "db-creds", "password");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->clusters, (std::vector<std::string>{"dr-1", "prod-eu1", "prod-us1"}));
  EXPECT_TRUE(b->cluster.empty());
  EXPECT_EQ(b->ClusterList(), "dr-1,prod-eu1,prod-us1");
}

TEST(BindingV2Test, BindingForClustersRefusesDuplicate) {
  auto b = Binding::ForClusters({"prod-eu1", "prod-eu1"}, "payments", "api", "db-creds", "password");
  EXPECT_EQ(b.status().code(), Code::kInvalidArgument);
}

TEST(BindingV2Test, BindingForClustersRefusesNone) {
  auto b = Binding::ForClusters({}, "payments", "api", "db-creds", "password");
  EXPECT_EQ(b.status().code(), Code::kInvalidArgument);
}

TEST(BindingV2Test, V2RefusesUnsortedClusters) {
  Binding b = GoodV2();
  b.clusters = {"prod-us1", "prod-eu1"};
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
  EXPECT_FALSE(b.BindString().ok());
}

TEST(BindingV2Test, V2RefusesDuplicateCluster) {
  Binding b = GoodV2();
  b.clusters = {"prod-eu1", "prod-eu1"};
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
}

TEST(BindingV2Test, V2RefusesSeventeenClusters) {
  Binding b = GoodV2();
  b.clusters.clear();
  for (int i = 0; i < 16; ++i) b.clusters.push_back("c" + std::string(i < 10 ? "0" : "") + std::to_string(i));
  EXPECT_TRUE(b.Validate().ok());
  b.clusters.push_back("c16");
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
}

TEST(BindingV2Test, V2RefusesClusterAndClusters) {
  Binding b = GoodV2();
  b.cluster = "prod-eu1";
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
}

TEST(BindingV2Test, V2RefusesClusterThatIsNotALabel) {
  Binding b = GoodV2();
  b.clusters = {"Prod_EU1"};
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
  // A comma inside a name would shift the joined list: it is not a label.
  b.clusters = {"a,b"};
  EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::capsule
