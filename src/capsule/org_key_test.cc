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
      "{\"crv\":\"X25519\",\"kty\":\"OKP\",\"x\":\"" + B64uEncode(k.public_key().x25519()->bytes) + "\"}";
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
  EXPECT_TRUE(back->x25519()->secret() == k.x25519()->secret());
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

TEST_F(OrgKeyTest, PublicKeyFileWhereThePrivateIsNeeded) {
  OrgPrivateKey k = NewKey();
  // A public JWK (0644, as keygen writes it): named as such, not a mode problem.
  std::string pub = WriteFile("org-key.pub.jwk", DumpJson(k.public_key().ToJwk()), 0644);
  auto set = OrgKeySet::LoadFile(pub, {}, "unseal");
  EXPECT_EQ(set.status().code(), Code::kInvalidArgument);
  EXPECT_NE(set.status().message().find("this is a public key; unseal needs the private org key (org-key.jwk)"),
            std::string::npos)
      << set.status().ToString();
  EXPECT_NE(OrgKeySet::LoadFile(pub).status().message().find("this is a public key"), std::string::npos);
  EXPECT_EQ(ReadPrivateKeyFile(pub).status().code(), Code::kInvalidArgument);
  // A JWK Set of public keys only (what a CVS config could be pointed at).
  Json member = k.public_key().ToJwk();
  member["status"] = "active";
  std::string pub_set = WriteFile("public-set.json", DumpJson(Json{{"keys", Json::array({member})}}), 0644);
  EXPECT_NE(OrgKeySet::LoadFile(pub_set).status().message().find("this is a public key"), std::string::npos);
  // A private key with a loose mode is still the mode refusal.
  std::string priv = WriteFile("loose.jwk", DumpJson(k.ToPrivateJwk()), 0644);
  EXPECT_EQ(OrgKeySet::LoadFile(priv).status().code(), Code::kPermissionDenied);
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
  EXPECT_EQ(*pub->x25519(), *k.public_key().x25519());
}

TEST_F(OrgKeyTest, SealRefusesPrivateKeyFile) {
  OrgPrivateKey k = NewKey();
  std::string path = WriteFile("org-key.jwk", DumpJson(k.ToPrivateJwk()), 0600);
  EXPECT_EQ(LoadOrgPublicKeyFile(path).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::capsule

namespace astis::capsule {
namespace {

// ---- P-256 org keys (docs/protocol.md §1, §2)

OrgPrivateKey NewP256() {
  auto k = OrgPrivateKey::Generate(OrgKeySuite::kP256, DefaultRandom());
  EXPECT_TRUE(k.ok());
  return std::move(k).value();
}

TEST(OrgKeyP256Test, KidIsThumbprintOverCrvKtyXY) {
  OrgPrivateKey k = NewP256();
  ASSERT_EQ(k.suite(), OrgKeySuite::kP256);
  const P256PublicKey& pk = *k.public_key().p256();
  std::vector<uint8_t> x(pk.bytes.begin() + 1, pk.bytes.begin() + 33);
  std::vector<uint8_t> y(pk.bytes.begin() + 33, pk.bytes.end());
  // RFC 7638 §3.2: {"crv","kty","x","y"} in lexicographic order, no whitespace.
  std::string canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" + B64uEncode(x) + "\",\"y\":\"" +
                          B64uEncode(y) + "\"}";
  EXPECT_EQ(k.kid(), B64uEncode(Sha256(canonical)));
  Json jwk = k.public_key().ToJwk();
  EXPECT_EQ(jwk["kty"], "EC");
  EXPECT_EQ(jwk["crv"], "P-256");
  EXPECT_EQ(jwk["kid"], k.kid());
  EXPECT_EQ(B64uDecode(jwk["x"].get<std::string>()).value().size(), 32u);
  EXPECT_EQ(B64uDecode(jwk["y"].get<std::string>()).value().size(), 32u);
  EXPECT_FALSE(jwk.contains("d"));
}

TEST(OrgKeyP256Test, PrivateJwkRoundTrip) {
  OrgPrivateKey k = NewP256();
  auto back = OrgPrivateKey::FromJwk(k.ToPrivateJwk());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->kid(), k.kid());
  EXPECT_EQ(back->suite(), OrgKeySuite::kP256);
  EXPECT_TRUE(back->p256()->secret() == k.p256()->secret());
  auto pub = OrgPublicKey::FromJwk(k.public_key().ToJwk());
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->suite(), OrgKeySuite::kP256);
  EXPECT_EQ(*pub->p256(), *k.public_key().p256());
}

TEST(OrgKeyP256Test, RejectsPrivateJwkWithForeignPoint) {
  OrgPrivateKey k = NewP256();
  OrgPrivateKey other = NewP256();
  Json jwk = k.ToPrivateJwk();
  Json foreign = other.public_key().ToJwk();
  jwk["x"] = foreign["x"];
  jwk["y"] = foreign["y"];
  jwk.erase("kid");
  EXPECT_EQ(OrgPrivateKey::FromJwk(jwk).status().code(), Code::kInvalidArgument);
}

TEST(OrgKeyP256Test, RejectsPointNotOnCurve) {
  Json jwk = NewP256().public_key().ToJwk();
  std::vector<uint8_t> y = B64uDecode(jwk["y"].get<std::string>()).value();
  y[31] ^= 1;
  jwk["y"] = B64uEncode(y);
  jwk.erase("kid");
  EXPECT_FALSE(OrgPublicKey::FromJwk(jwk).ok());
}

TEST(OrgKeyP256Test, RejectsP384Key) {
  Json jwk = {{"kty", "EC"}, {"crv", "P-384"}};
  EXPECT_FALSE(OrgPublicKey::FromJwk(jwk).ok());
}

TEST(OrgKeyP256Test, KeySetMixesSuites) {
  // docs/protocol.md §2: a key set may mix suites; sealing uses the active key's.
  OrgPrivateKey p = NewP256();
  auto x = OrgPrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(x.ok());
  Json a = p.ToPrivateJwk();
  a["status"] = "active";
  Json r = x->ToPrivateJwk();
  r["status"] = "retired";
  auto set = OrgKeySet::ParseText(DumpJson(Json{{"keys", Json::array({a, r})}}));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->active().suite(), OrgKeySuite::kP256);
  ASSERT_NE(set->Find(x->kid()), nullptr);
  EXPECT_EQ(set->Find(x->kid())->suite(), OrgKeySuite::kX25519);
}

TEST(OrgKeyP256Test, SuiteNamesRoundTrip) {
  EXPECT_EQ(ParseOrgKeySuite("x25519").value(), OrgKeySuite::kX25519);
  EXPECT_EQ(ParseOrgKeySuite("p256").value(), OrgKeySuite::kP256);
  EXPECT_EQ(OrgKeySuiteName(OrgKeySuite::kP256), "p256");
  EXPECT_EQ(ParseOrgKeySuite("P-256").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseOrgKeySuite("ed25519").status().code(), Code::kInvalidArgument);
}

// ---- members held in a token: {"kty":"EC",...,"pkcs11":URI} (docs/hsm.md)

// SoftToken stands in for a token: a software P-256 key behind the
// P256KeyAgreement interface (the real token is tested in src/hsm/).
class SoftToken final : public P256KeyAgreement {
 public:
  explicit SoftToken(P256PrivateKey k) : key_(std::move(k)) {}
  const P256PublicKey& public_key() const override { return key_.public_key(); }
  Result<SecretBytes> Agree(const P256PublicKey& peer) const override { return key_.Agree(peer); }

 private:
  P256PrivateKey key_;
};

std::shared_ptr<const P256KeyAgreement> NewSoftToken() {
  auto k = P256PrivateKey::Generate(DefaultRandom());
  EXPECT_TRUE(k.ok());
  return std::make_shared<SoftToken>(std::move(*k));
}

Json TokenMember(const P256KeyAgreement& key, const std::string& uri) {
  Json m = OrgPublicKey::FromP256(key.public_key()).ToJwk();
  m["pkcs11"] = uri;
  m["status"] = "active";
  return m;
}

TEST(OrgKeyTokenTest, TokenMemberOpensThroughResolver) {
  auto token = NewSoftToken();
  std::string asked;
  TokenKeyResolver resolver = [&](std::string_view uri) -> Result<std::shared_ptr<const P256KeyAgreement>> {
    asked = std::string(uri);
    return token;
  };
  auto set = OrgKeySet::ParseText(DumpJson(Json{{"keys", Json::array({TokenMember(*token, "pkcs11:token=t;object=k")})}}),
                                  resolver);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(asked, "pkcs11:token=t;object=k");
  EXPECT_TRUE(set->active().in_token());
  EXPECT_EQ(set->active().p256(), nullptr);
  // Written back, the member keeps its reference and never gains a "d".
  Json back = set->active().ToPrivateJwk();
  EXPECT_EQ(back["pkcs11"], "pkcs11:token=t;object=k");
  EXPECT_FALSE(back.contains("d"));
}

TEST(OrgKeyTokenTest, TokenMemberWithoutResolverRefused) {
  auto token = NewSoftToken();
  auto set = OrgKeySet::ParseText(DumpJson(Json{{"keys", Json::array({TokenMember(*token, "pkcs11:token=t")})}}));
  EXPECT_EQ(set.status().code(), Code::kInvalidArgument);
}

TEST(OrgKeyTokenTest, TokenMemberWithOtherPublicKeyRefused) {
  // The file names one key and the token holds another: refused, or a key
  // set could publish a kid that the CVS then opens with a different key.
  auto token = NewSoftToken();
  auto other = NewSoftToken();
  TokenKeyResolver resolver = [&](std::string_view) -> Result<std::shared_ptr<const P256KeyAgreement>> {
    return other;
  };
  auto set = OrgKeySet::ParseText(DumpJson(Json{{"keys", Json::array({TokenMember(*token, "pkcs11:token=t")})}}),
                                  resolver);
  EXPECT_EQ(set.status().code(), Code::kInvalidArgument);
}

TEST(OrgKeyTokenTest, TokenMemberWithPrivateScalarRefused) {
  OrgPrivateKey k = NewP256();
  Json m = k.ToPrivateJwk();
  m["pkcs11"] = "pkcs11:token=t";
  m["status"] = "active";
  TokenKeyResolver resolver = [&](std::string_view) -> Result<std::shared_ptr<const P256KeyAgreement>> {
    return NewSoftToken();
  };
  auto set = OrgKeySet::ParseText(DumpJson(Json{{"keys", Json::array({m})}}), resolver);
  EXPECT_EQ(set.status().code(), Code::kInvalidArgument);
}

TEST(OrgKeyTokenTest, ResolverErrorPropagates) {
  auto token = NewSoftToken();
  TokenKeyResolver resolver = [&](std::string_view) -> Result<std::shared_ptr<const P256KeyAgreement>> {
    return Error(Code::kCvsUnavailable, "token not present");
  };
  auto set = OrgKeySet::ParseText(DumpJson(Json{{"keys", Json::array({TokenMember(*token, "pkcs11:token=t")})}}),
                                  resolver);
  EXPECT_EQ(set.status().code(), Code::kCvsUnavailable);
}

}  // namespace
}  // namespace astis::capsule
