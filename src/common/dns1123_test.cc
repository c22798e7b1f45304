#include "common/dns1123.h"

#include <string>

#include <gtest/gtest.h>

namespace astis {
namespace {

TEST(Dns1123Test, LabelAcceptsLowerAlnumAndInnerHyphen) {
  EXPECT_TRUE(IsDns1123Label("a"));
  EXPECT_TRUE(IsDns1123Label("prod-eu1"));
  EXPECT_TRUE(IsDns1123Label("0abc9"));
  EXPECT_TRUE(IsDns1123Label(std::string(kMaxDns1123Label, 'a')));
}

TEST(Dns1123Test, LabelRefusesOtherShapes) {
  EXPECT_FALSE(IsDns1123Label(""));
  EXPECT_FALSE(IsDns1123Label("-a"));
  EXPECT_FALSE(IsDns1123Label("a-"));
  EXPECT_FALSE(IsDns1123Label("Prod"));
  EXPECT_FALSE(IsDns1123Label("a.b"));
  EXPECT_FALSE(IsDns1123Label("a_b"));
  EXPECT_FALSE(IsDns1123Label("a\n"));
  EXPECT_FALSE(IsDns1123Label(std::string_view("a\0b", 3)));
  EXPECT_FALSE(IsDns1123Label(std::string(kMaxDns1123Label + 1, 'a')));
}

TEST(Dns1123Test, SubdomainAcceptsDottedLabels) {
  EXPECT_TRUE(IsDns1123Subdomain("api"));
  EXPECT_TRUE(IsDns1123Subdomain("my.sa"));
  EXPECT_TRUE(IsDns1123Subdomain("a-1.b-2.c"));
  EXPECT_TRUE(IsDns1123Subdomain(std::string(kMaxDns1123Subdomain, 'a')));
}

TEST(Dns1123Test, SubdomainPartsMayExceedLabelLength) {
  // Kubernetes limits only the whole name to 253 bytes, not each part.
  EXPECT_TRUE(IsDns1123Subdomain(std::string(kMaxDns1123Label + 1, 'a') + ".b"));
}

TEST(Dns1123Test, SubdomainRefusesOtherShapes) {
  EXPECT_FALSE(IsDns1123Subdomain(""));
  EXPECT_FALSE(IsDns1123Subdomain("."));
  EXPECT_FALSE(IsDns1123Subdomain("a..b"));
  EXPECT_FALSE(IsDns1123Subdomain(".a"));
  EXPECT_FALSE(IsDns1123Subdomain("a."));
  EXPECT_FALSE(IsDns1123Subdomain("a.-b"));
  EXPECT_FALSE(IsDns1123Subdomain("a-.b"));
  EXPECT_FALSE(IsDns1123Subdomain("A.b"));
  EXPECT_FALSE(IsDns1123Subdomain(std::string(kMaxDns1123Subdomain + 1, 'a')));
}

}  // namespace
}  // namespace astis
