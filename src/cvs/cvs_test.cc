#include "cvs/cvs.h"

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "audit/audit_log.h"
#include "capsule/seal.h"
#include "common/encoding.h"
#include "common/testing/temp_dir.h"
#include "cvs/cvs_test_util.h"
#include "cvs/testing/verified_scope.h"

namespace astis::cvs {
namespace {

using testing::BindingFor;
using testing::CapsuleBytes;
using testing::NewOrgKey;
using testing::Pod;
using testing::SealTo;
using testing::SetOf;

constexpr std::string_view kSession = "session-0123456789abcdef";

// cvs.h VerifiedScope: nobody but a passkey holder (edge::Admission, the
// remote decoder, testing::ScopeForTests) can make or fill in a scope.
static_assert(!std::is_default_constructible_v<VerifiedScope>);
static_assert(!std::is_constructible_v<VerifiedScope, std::string, std::string, std::string>);
static_assert(!std::is_constructible_v<VerifiedScope, std::string, std::string, std::string, std::string>);
static_assert(!std::is_default_constructible_v<VerifiedScope::Key>);

class CvsServiceTest : public ::testing::Test {
 protected:
  Result<std::vector<RewrapResult>> Run(CvsService& cvs, const std::vector<std::vector<uint8_t>>& capsules,
                                        const VerifiedScope& scope) {
    return cvs.Rewrap(scope, pod_.recipient(), kSession, capsules);
  }

  FakeClock clock_{1764115200};
  VerifiedScope scope_ = testing::TestScope("prod-eu1", "payments", "api");
  Pod pod_;
};

class CvsFixture : public CvsServiceTest {
 protected:
  CvsFixture() {
    capsule::OrgPrivateKey k = NewOrgKey();
    pub_ = std::make_unique<capsule::OrgPublicKey>(k.public_key());
    service_ = std::make_unique<CvsService>(SetOf(std::move(k)), DefaultRandom());
  }
  capsule::SealedValue Seal(const VerifiedScope& scope, std::string_view pt, std::string key = "password") {
    return SealTo(*pub_, BindingFor(scope, std::move(key)), pt, clock_);
  }
  std::unique_ptr<capsule::OrgPublicKey> pub_;
  std::unique_ptr<CvsService> service_;
};

TEST_F(CvsFixture, RewrapsForMatchingScope) {
  capsule::SealedValue v = Seal(scope_, "s3cret-db-password");
  auto results = Run(*service_, {CapsuleBytes(v)}, scope_);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ((*results)[0].code, Code::kOk);
  EXPECT_EQ((*results)[0].enc.size(), 32u);
  EXPECT_EQ((*results)[0].ct.size(), 48u);
  // The pod opens the rewrapped DEK (docs/protocol.md §4.2) and decrypts locally.
  EXPECT_EQ(pod_.Decrypt(v, (*results)[0], kSession), "s3cret-db-password");
  // The rewrap is bound to the session: another session id does not open it.
  EXPECT_EQ(pod_.Decrypt(v, (*results)[0], "another-session"), "<open failed>");
  // Nor does another pod's recipient key.
  Pod other;
  EXPECT_EQ(other.Decrypt(v, (*results)[0], kSession), "<open failed>");
}

TEST_F(CvsFixture, CapsuleFromOtherNamespaceIsCapsuleScope) {
  capsule::SealedValue other_ns = Seal(testing::TestScope("prod-eu1", "billing", "api"), "billing-secret");
  capsule::SealedValue other_sa = Seal(testing::TestScope("prod-eu1", "payments", "worker"), "worker-secret");
  capsule::SealedValue other_cluster = Seal(testing::TestScope("prod-us1", "payments", "api"), "us-secret");
  auto results = Run(*service_, {CapsuleBytes(other_ns), CapsuleBytes(other_sa), CapsuleBytes(other_cluster)}, scope_);
  ASSERT_TRUE(results.ok());
  for (const RewrapResult& r : *results) {
    EXPECT_EQ(r.code, Code::kCapsuleScope);
    EXPECT_TRUE(r.enc.empty());
    EXPECT_TRUE(r.ct.empty());
  }
}

TEST_F(CvsFixture, UnknownKidIsUnknownKey) {
  capsule::OrgPrivateKey stranger = NewOrgKey();
  capsule::SealedValue v = SealTo(stranger.public_key(), BindingFor(scope_), "x", clock_);
  auto results = Run(*service_, {CapsuleBytes(v)}, scope_);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].code, Code::kUnknownKey);
  EXPECT_TRUE((*results)[0].enc.empty());
}

TEST_F(CvsFixture, TamperedCapsuleIsCapsuleInvalid) {
  capsule::SealedValue v = Seal(scope_, "value");
  const capsule::Capsule& cap = v.capsule();
  // (1) The HPKE ciphertext altered by one bit.
  std::vector<uint8_t> ct = cap.ct();
  ct[5] ^= 0x01;
  auto bad_ct = capsule::Capsule::Build(cap.kid(), cap.enc(), ct, cap.binding(), cap.iat());
  ASSERT_TRUE(bad_ct.ok());
  // (2) The binding moved to another Secret in the same scope: the HPKE aad
  // (BIND) no longer matches.
  capsule::Binding moved = cap.binding();
  moved.name = "other-secret";
  auto bad_bind = capsule::Capsule::Build(cap.kid(), cap.enc(), cap.ct(), moved, cap.iat());
  ASSERT_TRUE(bad_bind.ok());
  // (3) Not a capsule at all, and (4) a truncated one.
  std::vector<uint8_t> garbage = {'{', '}'};
  std::vector<uint8_t> truncated = CapsuleBytes(v);
  truncated.resize(truncated.size() / 2);
  auto to_vec = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  auto results = Run(*service_, {to_vec(bad_ct->bytes()), to_vec(bad_bind->bytes()), garbage, truncated}, scope_);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 4u);
  for (const RewrapResult& r : *results) {
    EXPECT_EQ(r.code, Code::kCapsuleInvalid);
    EXPECT_TRUE(r.enc.empty());
  }
}

TEST_F(CvsServiceTest, RetiredKeyStillOpens) {
  capsule::OrgPrivateKey old_key = NewOrgKey();
  capsule::SealedValue v = SealTo(old_key.public_key(), BindingFor(scope_), "sealed-before-rotation", clock_);
  CvsService service(SetOf(NewOrgKey(), [&] {
                       std::vector<capsule::OrgPrivateKey> retired;
                       retired.push_back(std::move(old_key));
                       return retired;
                     }()),
                     DefaultRandom());
  auto results = Run(service, {CapsuleBytes(v)}, scope_);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(pod_.Decrypt(v, (*results)[0], kSession), "sealed-before-rotation");
}

TEST_F(CvsFixture, BatchFailuresAreIndependent) {
  capsule::SealedValue good1 = Seal(scope_, "first", "a");
  capsule::SealedValue foreign = Seal(testing::TestScope("prod-eu1", "billing", "api"), "not yours");
  capsule::OrgPrivateKey stranger = NewOrgKey();
  capsule::SealedValue unknown = SealTo(stranger.public_key(), BindingFor(scope_), "unknown", clock_);
  capsule::SealedValue good2 = Seal(scope_, "second", "b");
  std::vector<uint8_t> garbage = {'n', 'o', 'p', 'e'};
  auto results = Run(*service_,
                     {CapsuleBytes(good1), CapsuleBytes(foreign), CapsuleBytes(unknown), garbage, CapsuleBytes(good2)},
                     scope_);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 5u);
  EXPECT_EQ(pod_.Decrypt(good1, (*results)[0], kSession), "first");
  EXPECT_EQ((*results)[1].code, Code::kCapsuleScope);
  EXPECT_EQ((*results)[2].code, Code::kUnknownKey);
  EXPECT_EQ((*results)[3].code, Code::kCapsuleInvalid);
  EXPECT_EQ(pod_.Decrypt(good2, (*results)[4], kSession), "second");
}

TEST_F(CvsFixture, RejectsEmptyAndOversizeBatch) {
  auto empty = Run(*service_, {}, scope_);
  EXPECT_EQ(empty.status().code(), Code::kBadRequest);
  capsule::SealedValue v = Seal(scope_, "x");
  std::vector<std::vector<uint8_t>> many(kMaxCapsulesPerCall + 1, CapsuleBytes(v));
  auto oversize = Run(*service_, many, scope_);
  EXPECT_EQ(oversize.status().code(), Code::kBadRequest);
  many.pop_back();
  auto full = Run(*service_, many, scope_);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->size(), kMaxCapsulesPerCall);
}

TEST_F(CvsFixture, RejectsEmptySessionId) {
  capsule::SealedValue v = Seal(scope_, "x");
  std::vector<std::vector<uint8_t>> caps = {CapsuleBytes(v)};
  auto r = service_->Rewrap(scope_, pod_.recipient(), "", caps);
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
}

TEST_F(CvsFixture, RejectsLowOrderRecipient) {
  // RFC 9180 §7.1.4 / RFC 7748 §6.1: an all-zero shared secret is refused, so
  // a low-order recipient point gets nothing sealed to it.
  capsule::SealedValue v = Seal(scope_, "x");
  std::vector<std::vector<uint8_t>> caps = {CapsuleBytes(v)};
  X25519PublicKey zero{};
  auto r = service_->Rewrap(scope_, zero, kSession, caps);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCrypto);
}

TEST_F(CvsServiceTest, ReplaceKeysTakesEffect) {
  capsule::OrgPrivateKey next = NewOrgKey();
  capsule::SealedValue v = SealTo(next.public_key(), BindingFor(scope_), "after-rotation", clock_);
  CvsService service(SetOf(NewOrgKey()), DefaultRandom());
  auto before = Run(service, {CapsuleBytes(v)}, scope_);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ((*before)[0].code, Code::kUnknownKey);
  service.ReplaceKeys(SetOf(std::move(next)));
  auto after = Run(service, {CapsuleBytes(v)}, scope_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(pod_.Decrypt(v, (*after)[0], kSession), "after-rotation");
}

TEST_F(CvsServiceTest, NoSecretsInCvsAudit) {
  test::TempDir tmp("astis-cvs-audit");
  ASSERT_FALSE(tmp.path().empty());
  const std::string path = tmp.File("audit.log");
  {
    auto log = audit::FileAuditLog::Open(path, clock_);
    ASSERT_TRUE(log.ok());
    const std::string canary = "CANARY-plaintext-7f3a9c";
    capsule::OrgPrivateKey key = NewOrgKey();
    capsule::SealedValue v = SealTo(key.public_key(), BindingFor(scope_), canary, clock_);
    capsule::SealedValue foreign =
        SealTo(key.public_key(), BindingFor(testing::TestScope("prod-eu1", "billing", "api")), canary, clock_);
    const std::string kid = key.kid();
    capsule::OrgKeySet set = SetOf(std::move(key));
    auto dek = capsule::OpenCapsule(set, v.capsule());  // the DEK, to search the log for it
    ASSERT_TRUE(dek.ok());
    CvsService service(std::move(set), DefaultRandom(), log->get());
    auto results = Run(service, {CapsuleBytes(v), CapsuleBytes(foreign)}, scope_);
    ASSERT_TRUE(results.ok());
    ASSERT_EQ((*results)[0].code, Code::kOk);

    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    EXPECT_NE(text.find("cvs.rewrap"), std::string::npos);
    EXPECT_NE(text.find(kid), std::string::npos);
    EXPECT_NE(text.find("capsule_scope"), std::string::npos);
    EXPECT_EQ(text.find(canary), std::string::npos);
    EXPECT_EQ(text.find(std::string(dek->RevealString())), std::string::npos);
    EXPECT_EQ(text.find(HexEncode(dek->Reveal())), std::string::npos);
    EXPECT_EQ(text.find(B64uEncode(dek->Reveal())), std::string::npos);
    EXPECT_EQ(text.find(B64uEncode((*results)[0].ct)), std::string::npos);
    EXPECT_EQ(text.find(B64uEncode(v.capsule().ct())), std::string::npos);
    EXPECT_EQ(text.find(B64uEncode(v.ciphertext())), std::string::npos);
    EXPECT_EQ(text.find(std::string(kSession)), std::string::npos);
  }
  auto report = audit::VerifyAuditLog(path);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok);
  EXPECT_EQ(report->lines, 1u);
}

// Two organisations with the same cluster, namespace and ServiceAccount
// names: a capsule sealed to A's key, presented in B's scope, never opens.
TEST_F(CvsServiceTest, ScopeOfAnotherOrgIsUnknownKey) {
  capsule::OrgPrivateKey a = NewOrgKey();
  capsule::OrgPrivateKey b = NewOrgKey();
  const VerifiedScope in_a = testing::TestScope("tenant-a", "prod", "payments", "api");
  const VerifiedScope in_b = testing::TestScope("tenant-b", "prod", "payments", "api");
  capsule::SealedValue for_a = SealTo(a.public_key(), BindingFor(in_a), "a-secret", clock_);
  capsule::SealedValue for_b = SealTo(b.public_key(), BindingFor(in_b), "b-secret", clock_);
  std::map<std::string, capsule::OrgKeySet, std::less<>> sets;
  sets.emplace("tenant-a", SetOf(std::move(a)));
  sets.emplace("tenant-b", SetOf(std::move(b)));
  CvsService service(std::move(sets), DefaultRandom());
  auto as_a = Run(service, {CapsuleBytes(for_a), CapsuleBytes(for_b)}, in_a);
  ASSERT_TRUE(as_a.ok());
  EXPECT_EQ(pod_.Decrypt(for_a, (*as_a)[0], kSession), "a-secret");
  EXPECT_EQ((*as_a)[1].code, Code::kUnknownKey);
  EXPECT_TRUE((*as_a)[1].enc.empty());
  auto as_b = Run(service, {CapsuleBytes(for_a), CapsuleBytes(for_b)}, in_b);
  ASSERT_TRUE(as_b.ok());
  EXPECT_EQ((*as_b)[0].code, Code::kUnknownKey);
  EXPECT_EQ(pod_.Decrypt(for_b, (*as_b)[1], kSession), "b-secret");
}

TEST_F(CvsFixture, OrgWithoutKeySetIsUnknownKey) {
  // The single-set constructor is the default organisation's set only.
  capsule::SealedValue v = Seal(scope_, "default-secret");
  const VerifiedScope elsewhere = testing::TestScope("tenant-c", "prod-eu1", "payments", "api");
  auto results = Run(*service_, {CapsuleBytes(v), CapsuleBytes(v)}, elsewhere);
  ASSERT_TRUE(results.ok());
  for (const RewrapResult& r : *results) EXPECT_EQ(r.code, Code::kUnknownKey);
  EXPECT_FALSE(service_->HasOrg("tenant-c"));
  EXPECT_TRUE(service_->HasOrg(kDefaultOrg));
  auto own = Run(*service_, {CapsuleBytes(v)}, scope_);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(pod_.Decrypt(v, (*own)[0], kSession), "default-secret");
}

TEST_F(CvsFixture, SetOrgKeysAddsWhileRewrapsRun) {
  capsule::OrgPrivateKey c = NewOrgKey();
  const VerifiedScope in_c = testing::TestScope("tenant-c", "prod-eu1", "payments", "api");
  capsule::SealedValue for_c = SealTo(c.public_key(), BindingFor(in_c), "c-secret", clock_);
  capsule::SealedValue v = Seal(scope_, "default-secret");
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto r = Run(*service_, {CapsuleBytes(v)}, scope_);
      if (!r.ok() || (*r)[0].code != Code::kOk) ++bad;
    }
  });
  service_->SetOrgKeys("tenant-c", SetOf(std::move(c)));
  for (int i = 0; i < 20; ++i) service_->SetOrgKeys("tenant-d", SetOf(NewOrgKey()));
  stop.store(true);
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  auto results = Run(*service_, {CapsuleBytes(for_c)}, in_c);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(pod_.Decrypt(for_c, (*results)[0], kSession), "c-secret");
}

TEST_F(CvsServiceTest, AuditNamesTheOrganization) {
  test::TempDir tmp("astis-cvs-audit-org");
  ASSERT_FALSE(tmp.path().empty());
  const std::string path = tmp.File("audit.log");
  auto log = audit::FileAuditLog::Open(path, clock_);
  ASSERT_TRUE(log.ok());
  capsule::OrgPrivateKey key = NewOrgKey();
  const VerifiedScope in_b = testing::TestScope("tenant-b", "prod", "payments", "api");
  capsule::SealedValue v = SealTo(key.public_key(), BindingFor(in_b), "x", clock_);
  std::map<std::string, capsule::OrgKeySet, std::less<>> sets;
  sets.emplace("tenant-b", SetOf(std::move(key)));
  CvsService service(std::move(sets), DefaultRandom(), log->get());
  ASSERT_TRUE(Run(service, {CapsuleBytes(v)}, in_b).ok());
  ASSERT_TRUE(Run(service, {CapsuleBytes(v)}, scope_).ok());  // the default org: a bare cluster name
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  EXPECT_NE(text.find("\"cluster\":\"tenant-b/prod\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"cluster\":\"prod-eu1\""), std::string::npos) << text;
}

}  // namespace
}  // namespace astis::cvs
