// The authorisation matrix of the remote admin API (docs/tenancy.md
// "Roles"): every operation x every role x own / other / missing
// organisation, and the principal read from an admin client certificate.
#include "admin/authz.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "admin/internal/protocol.h"
#include "crypto/openssl_ptr.h"
#include "net/testing/test_pki.h"

namespace astis::admin {
namespace {

constexpr char kOwn[] = "tenant-a";
constexpr char kOther[] = "tenant-b";     // exists
constexpr char kMissing[] = "tenant-zz";  // does not exist: must look exactly like kOther

const std::vector<std::string> kOrgReads = {"cluster.list", "workload.list", "apikey.list", "session.list",
                                            "audit.list", "diff",         "org.key.list"};
const std::vector<std::string> kOrgWrites = {"cluster.add",     "cluster.remove", "workload.add",   "workload.remove",
                                             "workload.images", "apply",          "apikey.revoke",  "session.revoke",
                                             "org.key.create",  "org.key.rotate"};

Principal Operator() { return Principal{Role::kOperator, "", "ops"}; }
Principal OrgAdmin() { return Principal{Role::kOrgAdmin, kOwn, "alice"}; }
Principal Auditor() { return Principal{Role::kAuditor, kOwn, "carol"}; }

Code CodeOf(const Principal& p, const std::string& op, const std::string& org) {
  return Authorize(p, op, org).code();
}

TEST(AdminAuthzTest, Matrix) {
  for (const std::string& op : kOrgReads) {
    for (const char* org : {kOwn, kOther, kMissing}) {
      EXPECT_EQ(CodeOf(Operator(), op, org), Code::kOk) << op << " " << org;
    }
    EXPECT_EQ(CodeOf(OrgAdmin(), op, kOwn), Code::kOk) << op;
    EXPECT_EQ(CodeOf(Auditor(), op, kOwn), Code::kOk) << op;
    for (const char* org : {kOther, kMissing}) {
      EXPECT_EQ(CodeOf(OrgAdmin(), op, org), Code::kNotFound) << op << " " << org;
      EXPECT_EQ(CodeOf(Auditor(), op, org), Code::kNotFound) << op << " " << org;
    }
  }
  for (const std::string& op : kOrgWrites) {
    for (const char* org : {kOwn, kOther, kMissing}) {
      EXPECT_EQ(CodeOf(Operator(), op, org), Code::kOk) << op << " " << org;
    }
    EXPECT_EQ(CodeOf(OrgAdmin(), op, kOwn), Code::kOk) << op;
    EXPECT_EQ(CodeOf(Auditor(), op, kOwn), Code::kPermissionDenied) << op;
    for (const char* org : {kOther, kMissing}) {
      EXPECT_EQ(CodeOf(OrgAdmin(), op, org), Code::kNotFound) << op << " " << org;
      EXPECT_EQ(CodeOf(Auditor(), op, org), Code::kNotFound) << op << " " << org;
    }
  }
  // apikey.create hands out a secret: never to an operator.
  for (const char* org : {kOwn, kOther, kMissing}) {
    EXPECT_EQ(CodeOf(Operator(), "apikey.create", org), Code::kPermissionDenied) << org;
  }
  EXPECT_EQ(CodeOf(OrgAdmin(), "apikey.create", kOwn), Code::kOk);
  EXPECT_EQ(CodeOf(Auditor(), "apikey.create", kOwn), Code::kPermissionDenied);
  EXPECT_EQ(CodeOf(OrgAdmin(), "apikey.create", kOther), Code::kNotFound);
  // Organisations themselves: only operators change them; everyone may list
  // (the listing is filtered to the caller's own organisation).
  for (const char* op : {"org.add", "org.remove"}) {
    EXPECT_EQ(CodeOf(Operator(), op, ""), Code::kOk) << op;
    EXPECT_EQ(CodeOf(OrgAdmin(), op, ""), Code::kPermissionDenied) << op;
    EXPECT_EQ(CodeOf(Auditor(), op, ""), Code::kPermissionDenied) << op;
  }
  for (const Principal& p : {Operator(), OrgAdmin(), Auditor()}) EXPECT_EQ(CodeOf(p, "org.list", ""), Code::kOk);
}

TEST(AdminAuthzTest, AnotherOrganizationLooksMissing) {
  // Same code and same text whether the other organisation exists or not,
  // and whatever the operation, so nothing about it leaks.
  for (const Principal& p : {OrgAdmin(), Auditor()}) {
    for (const std::string& op : {std::string("cluster.list"), std::string("apply"), std::string("apikey.create")}) {
      const Status other = Authorize(p, op, kOther);
      const Status missing = Authorize(p, op, kMissing);
      EXPECT_EQ(other.code(), Code::kNotFound);
      EXPECT_EQ(other.message(), missing.message());
      EXPECT_EQ(other.message(), "store: organization not found");
    }
  }
}

TEST(AdminAuthzTest, RefusesUnknownOpsAndUnscopedOrgOps) {
  EXPECT_EQ(CodeOf(Operator(), "store.drop", kOwn), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(OrgAdmin(), "cluster.list", ""), Code::kInvalidArgument);
  Principal orphan{Role::kOrgAdmin, "", "x"};
  EXPECT_EQ(CodeOf(orphan, "cluster.list", kOwn), Code::kPermissionDenied);
}

TEST(AdminAuthzTest, EveryProtocolOpIsClassified) {
  for (const char* op : {"org.add", "org.list", "org.remove", "org.key.list", "cluster.add", "cluster.list",
                         "cluster.remove", "workload.add", "workload.list", "workload.remove", "workload.images",
                         "apply", "apikey.create", "apikey.list", "apikey.revoke", "session.list", "session.revoke"}) {
    EXPECT_TRUE(internal::IsKnownOp(op)) << op << " is not a protocol op (update this list)";
    EXPECT_TRUE(KindOf(op).ok()) << op << " is reachable but not classified";
  }
}

TEST(AdminAuthzTest, PrincipalFromUri) {
  auto op = PrincipalFromUri("astis://admin/operator");
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->role, Role::kOperator);
  EXPECT_TRUE(op->org.empty());
  auto admin = PrincipalFromUri("astis://admin/org-admin/tenant-a");
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->role, Role::kOrgAdmin);
  EXPECT_EQ(admin->org, "tenant-a");
  auto aud = PrincipalFromUri("astis://admin/auditor/tenant-a");
  ASSERT_TRUE(aud.ok());
  EXPECT_EQ(aud->role, Role::kAuditor);
  for (const char* bad : {"astis://admin/operator/tenant-a", "astis://admin/org-admin", "astis://admin/org-admin/",
                          "astis://admin/org-admin/Tenant", "astis://admin/org-admin/a/b", "astis://admin/root",
                          "astis://admin/", "https://admin/operator", "spiffe://astis/admin/operator"}) {
    EXPECT_EQ(PrincipalFromUri(bad).status().code(), Code::kPermissionDenied) << bad;
  }
}

std::vector<uint8_t> Der(const std::string& pem) {
  ossl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  ossl::UniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_NE(cert, nullptr);
  unsigned char* out = nullptr;
  const int len = i2d_X509(cert.get(), &out);
  std::vector<uint8_t> der(out, out + len);
  OPENSSL_free(out);
  return der;
}

TEST(AdminAuthzTest, PrincipalFromCertificate) {
  auto pki = net::testing::TestPki::Create();
  ASSERT_TRUE(pki.ok());
  auto alice = pki->IssueClientCertWithSans("alice", {"URI:astis://admin/org-admin/tenant-a", "DNS:alice.example"});
  ASSERT_TRUE(alice.ok());
  auto p = PrincipalFromCertificate(Der(alice->cert_pem));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->role, Role::kOrgAdmin);
  EXPECT_EQ(p->org, "tenant-a");
  EXPECT_EQ(p->name, "alice");

  auto none = pki->IssueClientCert("bob");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(PrincipalFromCertificate(Der(none->cert_pem)).status().code(), Code::kPermissionDenied);
  auto two = pki->IssueClientCertWithSans(
      "mallory", {"URI:astis://admin/auditor/tenant-a", "URI:astis://admin/operator"});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(PrincipalFromCertificate(Der(two->cert_pem)).status().code(), Code::kPermissionDenied);
  auto bad_role = pki->IssueClientCertWithSans("eve", {"URI:astis://admin/superuser"});
  ASSERT_TRUE(bad_role.ok());
  EXPECT_EQ(PrincipalFromCertificate(Der(bad_role->cert_pem)).status().code(), Code::kPermissionDenied);
  const std::vector<uint8_t> junk{0x30, 0x03, 0x02, 0x01};
  EXPECT_EQ(PrincipalFromCertificate(junk).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::admin
