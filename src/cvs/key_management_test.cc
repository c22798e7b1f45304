#include "cvs/key_management.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "capsule/seal.h"
#include "common/testing/temp_dir.h"
#include "cvs/cvs_test_util.h"
#include "cvs/testing/verified_scope.h"

namespace astis::cvs {
namespace {

using testing::BindingFor;
using testing::NewOrgKey;
using testing::SealTo;
using testing::SetOf;

class KeyManagementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
    path_ = dir_ + "/org-keys.json";
  }

  // WriteKeyFile writes a single private JWK (as `astis keygen` does), 0600.
  void WriteKeyFile(const capsule::OrgPrivateKey& key) {
    std::ofstream(path_) << key.ToPrivateJwk().dump();
    std::filesystem::permissions(path_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  std::string ReadFile() {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  FakeClock clock_{1764115200};
  VerifiedScope scope_ = testing::TestScope("prod-eu1", "payments", "api");
  test::TempDir tmp_{"astis-keys"};
  std::string dir_;
  std::string path_;
};

TEST_F(KeyManagementTest, RotateKeepsRetired) {
  capsule::OrgPrivateKey first = NewOrgKey();
  const std::string first_kid = first.kid();
  capsule::SealedValue old_value = SealTo(first.public_key(), BindingFor(scope_), "before", clock_);
  WriteKeyFile(first);

  auto r1 = RotateOrgKeys(path_, DefaultRandom());
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->previous_kid, first_kid);
  EXPECT_NE(r1->new_kid, first_kid);
  EXPECT_EQ(r1->retired_keys, 1u);
  EXPECT_FALSE(r1->new_public_jwk.contains("d"));
  EXPECT_EQ(r1->new_public_jwk["kid"], r1->new_kid);

  auto r2 = RotateOrgKeys(path_, DefaultRandom());
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->previous_kid, r1->new_kid);
  EXPECT_EQ(r2->retired_keys, 2u);

  auto set = capsule::OrgKeySet::LoadFile(path_);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->size(), 3u);
  EXPECT_EQ(set->active().kid(), r2->new_kid);
  EXPECT_NE(set->Find(first_kid), nullptr);
  EXPECT_NE(set->Find(r1->new_kid), nullptr);
  // A value sealed before both rotations still opens with the retired key.
  auto dek = capsule::OpenCapsule(*set, old_value.capsule());
  ASSERT_TRUE(dek.ok());
  auto pt = capsule::DecryptValue(*dek, old_value);
  ASSERT_TRUE(pt.ok());
  EXPECT_EQ(pt->RevealString(), "before");

  struct stat st{};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Exactly one active key is written, and no temporary file is left.
  const std::string text = ReadFile();
  size_t active = 0;
  for (size_t at = text.find("\"active\""); at != std::string::npos; at = text.find("\"active\"", at + 1)) ++active;
  EXPECT_EQ(active, 1u);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1u);
}

TEST_F(KeyManagementTest, RotateRefusesGroupReadableFile) {
  WriteKeyFile(NewOrgKey());
  std::filesystem::permissions(path_, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  // Group read is accepted only on a root-owned file (common/file_mode.h):
  // as root, hand the file to an ordinary user first.
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(path_.c_str(), 65534, 65534), 0);
  }
  const std::string before = ReadFile();
  auto r = RotateOrgKeys(path_, DefaultRandom());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(ReadFile(), before);
}

TEST_F(KeyManagementTest, RotateRefusesInvalidKeySet) {
  std::ofstream(path_) << R"({"keys":[]})";
  std::filesystem::permissions(path_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto r = RotateOrgKeys(path_, DefaultRandom());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ReadFile(), R"({"keys":[]})");
}

TEST_F(KeyManagementTest, ResealOpensWithNewKey) {
  capsule::OrgPrivateKey old_key = NewOrgKey();
  capsule::OrgPrivateKey new_key = NewOrgKey();
  const std::string old_kid = old_key.kid();
  const std::string new_kid = new_key.kid();
  capsule::SealedValue a = SealTo(old_key.public_key(), BindingFor(scope_, "password"), "alpha", clock_);
  capsule::SealedValue b = SealTo(old_key.public_key(), BindingFor(scope_, "username"), "bravo", clock_);
  capsule::SealedValue c = SealTo(new_key.public_key(), BindingFor(scope_, "token"), "charlie", clock_);
  std::vector<std::string> values = {a.ToString(), b.ToString(), c.ToString()};

  // Keep a copy of the new key alone, to prove the old key is not needed.
  auto new_only = capsule::OrgKeySet::ParseText(new_key.ToPrivateJwk().dump());
  ASSERT_TRUE(new_only.ok());
  std::vector<capsule::OrgPrivateKey> retired;
  retired.push_back(std::move(old_key));
  capsule::OrgKeySet rotated = SetOf(std::move(new_key), std::move(retired));

  clock_.Advance(3600);
  auto out = Reseal(values, rotated, DefaultRandom(), clock_);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 3u);
  const std::vector<std::string> expected = {"alpha", "bravo", "charlie"};
  const std::vector<std::string> keys = {"password", "username", "token"};
  for (size_t i = 0; i < 3; ++i) {
    const ResealedValue& r = (*out)[i];
    EXPECT_EQ(r.changed, i < 2) << i;
    EXPECT_EQ(r.previous_kid, i < 2 ? old_kid : new_kid);
    auto parsed = capsule::SealedValue::Parse(r.value);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->capsule().kid(), new_kid);
    EXPECT_EQ(parsed->capsule().binding(), BindingFor(scope_, keys[i]));
    auto dek = capsule::OpenCapsule(*new_only, parsed->capsule());
    ASSERT_TRUE(dek.ok()) << i;
    auto pt = capsule::DecryptValue(*dek, *parsed);
    ASSERT_TRUE(pt.ok()) << i;
    EXPECT_EQ(pt->RevealString(), expected[i]);
  }
  EXPECT_EQ((*out)[2].value, values[2]);  // already on the active key: untouched
  // A re-sealed value has a fresh capsule, IV and ciphertext.
  auto resealed_a = capsule::SealedValue::Parse((*out)[0].value);
  ASSERT_TRUE(resealed_a.ok());
  EXPECT_NE(resealed_a->iv(), a.iv());
  EXPECT_NE(resealed_a->capsule().hash(), a.capsule().hash());
  EXPECT_EQ(resealed_a->capsule().iat(), 1764115200 + 3600);
}

TEST_F(KeyManagementTest, ResealRejectsUnknownKey) {
  capsule::OrgPrivateKey stranger = NewOrgKey();
  const std::string secret = "plaintext-never-in-errors";
  std::vector<std::string> values = {
      SealTo(stranger.public_key(), BindingFor(scope_), secret, clock_).ToString()};
  auto out = Reseal(values, SetOf(NewOrgKey()), DefaultRandom(), clock_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kUnknownKey);
  EXPECT_NE(out.status().message().find("#0"), std::string::npos);
  EXPECT_EQ(out.status().message().find(secret), std::string::npos);
  EXPECT_EQ(out.status().message().find(values[0]), std::string::npos);
}

TEST_F(KeyManagementTest, ResealRejectsTamperedValue) {
  capsule::OrgPrivateKey key = NewOrgKey();
  capsule::SealedValue v = SealTo(key.public_key(), BindingFor(scope_), "value", clock_);
  std::vector<uint8_t> ct = v.ciphertext();
  ct[0] ^= 0x80;
  auto tampered = capsule::SealedValue::Create(v.capsule(), v.iv(), ct);
  ASSERT_TRUE(tampered.ok());
  capsule::OrgPrivateKey next = NewOrgKey();
  std::vector<capsule::OrgPrivateKey> retired;
  retired.push_back(std::move(key));
  std::vector<std::string> values = {tampered->ToString(), "astis.v1.not-a-value"};
  auto out = Reseal(values, SetOf(std::move(next), std::move(retired)), DefaultRandom(), clock_);
  EXPECT_EQ(out.status().code(), Code::kCrypto);
  std::vector<std::string> malformed = {"astis.v1.not-a-value"};
  auto bad = Reseal(malformed, SetOf(NewOrgKey()), DefaultRandom(), clock_);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::cvs
