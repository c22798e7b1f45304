#include "capsule/binding.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

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
  for (const std::string& bad : std::vector<std::string>{"", "-api", "api-", "a_b", "a.b", std::string(kMaxDns1123Label + 1, 'a')}) {
    Binding b = Good();
    b.service_account = bad;
    EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument) << "serviceAccount of size " << bad.size();
    b = Good();
    b.cluster = bad;
    EXPECT_EQ(b.Validate().code(), Code::kInvalidArgument) << "cluster of size " << bad.size();
  }
  EXPECT_TRUE(IsDns1123Label(std::string(kMaxDns1123Label, 'a')));
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

}  // namespace
}  // namespace astis::capsule
