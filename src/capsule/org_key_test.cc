#include "capsule/org_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "common/testing/temp_dir.h"
#include "crypto/sha256.h"

namespace astis::capsule {
namespace {

class OrgKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
  }

  std::string WriteFile(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = dir_ + "/" + name;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::fchmod(fd, mode);
    ::close(fd);
    return path;
  }

  static OrgPrivateKey NewKey() {
    auto k = OrgPrivateKey::Generate(DefaultRandom());
    EXPECT_TRUE(k.ok());
    return std::move(k).value();
  }

  test::TempDir tmp_{"astis-orgkey"};
  std::string dir_;
};

TEST_F(OrgKeyTest, KidIsRfc7638Thumbprint) {
  OrgPrivateKey k = NewKey();
  // RFC 7638 §3: SHA-256 over {"crv","kty","x"} in lexicographic order, no whitespace.
  std::string canonical =
      "{\"crv\":\"X25519\",\"kty\":\"OKP\",\"x\":\"" + B64uEncode(k.public_key().key().bytes) + "\"}";
  EXPECT_EQ(k.kid(), B64uEncode(Sha256(canonical)));
  Json jwk = k.public_key().ToJwk();
  EXPECT_EQ(jwk["kid"], k.kid());
  EXPECT_FALSE(jwk.contains("d"));
}

TEST_F(OrgKeyTest, PrivateJwkRoundTrip) {
  OrgPrivateKey k = NewKey();
  auto back = OrgPrivateKey::FromJwk(k.ToPrivateJwk());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->kid(), k.kid());
  EXPECT_TRUE(back->key().secret() == k.key().secret());
  auto pub = OrgPublicKey::FromJwk(k.public_key().ToJwk());
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->kid(), k.kid());
}

TEST_F(OrgKeyTest, RejectsKidMismatch) {
  OrgPrivateKey k = NewKey();
  OrgPrivateKey other = NewKey();
  Json jwk = k.public_key().ToJwk();
  jwk["kid"] = other.kid();
  EXPECT_EQ(OrgPublicKey::FromJwk(jwk).status().code(), Code::kInvalidArgument);
}

TEST_F(OrgKeyTest, RejectsPrivateJwkWithForeignX) {
  OrgPrivateKey k = NewKey();
  OrgPrivateKey other = NewKey();
  Json jwk = k.ToPrivateJwk();
  jwk["x"] = other.public_key().ToJwk()["x"];
  jwk.erase("kid");
  EXPECT_EQ(OrgPrivateKey::FromJwk(jwk).status().code(), Code::kInvalidArgument);
}

TEST_F(OrgKeyTest, RejectsNonX25519Key) {
  Json ed = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", B64uEncode(std::vector<uint8_t>(32, 7))}};
  EXPECT_FALSE(OrgPublicKey::FromJwk(ed).ok());
}

TEST_F(OrgKeyTest, KeySetFindsActiveAndRetired) {
  OrgPrivateKey a = NewKey();
  OrgPrivateKey r = NewKey();
  Json ja = a.ToPrivateJwk();
  ja["status"] = "active";
  Json jr = r.ToPrivateJwk();
  jr["status"] = "retired";
  Json set = {{"keys", Json::array({jr, ja})}};
  auto ks = OrgKeySet::ParseText(DumpJson(set));
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  EXPECT_EQ(ks->size(), 2u);
  EXPECT_EQ(ks->active().kid(), a.kid());
  ASSERT_NE(ks->Find(r.kid()), nullptr);
  EXPECT_EQ(ks->Find(r.kid())->kid(), r.kid());
  EXPECT_EQ(ks->Find("nope"), nullptr);
}

TEST_F(OrgKeyTest, RejectsTwoActiveKeys) {
  Json a = NewKey().ToPrivateJwk();
  a["status"] = "active";
  Json b = NewKey().ToPrivateJwk();
  b["status"] = "active";
  EXPECT_EQ(OrgKeySet::ParseText(DumpJson(Json{{"keys", Json::array({a, b})}})).status().code(),
            Code::kInvalidArgument);
}

TEST_F(OrgKeyTest, RejectsNoActiveKey) {
  Json a = NewKey().ToPrivateJwk();
  a["status"] = "retired";
  EXPECT_EQ(OrgKeySet::ParseText(DumpJson(Json{{"keys", Json::array({a})}})).status().code(),
            Code::kInvalidArgument);
}

TEST_F(OrgKeyTest, RejectsUnknownKeyStatus) {
  Json a = NewKey().ToPrivateJwk();
  a["status"] = "primary";
  EXPECT_EQ(OrgKeySet::ParseText(DumpJson(Json{{"keys", Json::array({a})}})).status().code(),
            Code::kInvalidArgument);
}

TEST_F(OrgKeyTest, RejectsDuplicateKid) {
  OrgPrivateKey k = NewKey();
  Json a = k.ToPrivateJwk();
  a["status"] = "active";
  Json b = k.ToPrivateJwk();
  b["status"] = "retired";
  EXPECT_EQ(OrgKeySet::ParseText(DumpJson(Json{{"keys", Json::array({a, b})}})).status().code(),
            Code::kInvalidArgument);
}

TEST_F(OrgKeyTest, RejectsPublicOnlyKeyInPrivateSet) {
  Json pub = NewKey().public_key().ToJwk();
  EXPECT_EQ(OrgKeySet::ParseText(DumpJson(pub)).status().code(), Code::kInvalidArgument);
}

TEST_F(OrgKeyTest, LoadsSinglePrivateJwkFile) {
  OrgPrivateKey k = NewKey();
  std::string path = WriteFile("org-key.jwk", DumpJson(k.ToPrivateJwk()), 0600);
  auto ks = OrgKeySet::LoadFile(path);
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  EXPECT_EQ(ks->active().kid(), k.kid());
}

TEST_F(OrgKeyTest, RefusesGroupReadablePrivateKey) {
  OrgPrivateKey k = NewKey();
  std::string path = WriteFile("org-key.jwk", DumpJson(k.ToPrivateJwk()), 0640);
  // Group read is accepted only on a root-owned file (common/file_mode.h):
  // as root, hand the file to an ordinary user first.
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  }
  EXPECT_EQ(OrgKeySet::LoadFile(path).status().code(), Code::kPermissionDenied);
  ASSERT_EQ(::chmod(path.c_str(), 0604), 0);
  EXPECT_EQ(OrgKeySet::LoadFile(path).status().code(), Code::kPermissionDenied);
}

TEST_F(OrgKeyTest, MissingKeyFileIsNotFound) {
  EXPECT_EQ(OrgKeySet::LoadFile(dir_ + "/absent.jwk").status().code(), Code::kNotFound);
}

TEST_F(OrgKeyTest, LoadsPublicKeyFile) {
  OrgPrivateKey k = NewKey();
  std::string path = WriteFile("org-key.pub.jwk", DumpJson(k.public_key().ToJwk()), 0644);
  auto pub = LoadOrgPublicKeyFile(path);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_EQ(pub->kid(), k.kid());
  EXPECT_EQ(pub->key(), k.public_key().key());
}

TEST_F(OrgKeyTest, SealRefusesPrivateKeyFile) {
  OrgPrivateKey k = NewKey();
  std::string path = WriteFile("org-key.jwk", DumpJson(k.ToPrivateJwk()), 0600);
  EXPECT_EQ(LoadOrgPublicKeyFile(path).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::capsule
