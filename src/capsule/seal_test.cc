#include "capsule/seal.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "crypto/hpke.h"

namespace astis::capsule {
namespace {

class SealTest : public ::testing::Test {
 protected:
  static OrgPrivateKey NewKey() {
    auto k = OrgPrivateKey::Generate(DefaultRandom());
    EXPECT_TRUE(k.ok());
    return std::move(k).value();
  }
  static OrgKeySet SetOf(OrgPrivateKey active, std::vector<OrgPrivateKey> retired = {}) {
    auto s = OrgKeySet::Create(std::move(active), std::move(retired));
    EXPECT_TRUE(s.ok());
    return std::move(s).value();
  }
  SealedValue SealWith(const OrgPublicKey& pub, std::string_view plaintext) {
    auto v = Seal(pub, binding_, AsBytes(plaintext), DefaultRandom(), clock_);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return std::move(v).value();
  }
  std::string Open(const OrgKeySet& keys, const SealedValue& v) {
    auto dek = OpenCapsule(keys, v.capsule());
    if (!dek.ok()) return "<open failed: " + dek.status().ToString() + ">";
    auto pt = DecryptValue(*dek, v);
    if (!pt.ok()) return "<decrypt failed: " + pt.status().ToString() + ">";
    return std::string(pt->RevealString());
  }

  Binding binding_{"prod-eu1", "payments", "api", "db-creds", "password"};
  FakeClock clock_{1764115200};
};

TEST_F(SealTest, RoundTrip) {
  OrgPrivateKey k = NewKey();
  OrgPublicKey pub = k.public_key();
  OrgKeySet keys = SetOf(std::move(k));
  SealedValue v = SealWith(pub, "s3cr3t value");
  EXPECT_EQ(v.capsule().kid(), pub.kid());
  EXPECT_EQ(v.capsule().iat(), 1764115200);
  EXPECT_EQ(v.capsule().binding(), binding_);
  EXPECT_EQ(v.ciphertext().size(), std::string("s3cr3t value").size() + kValueTagSize);
  // Through the string form, as a Secret would store it.
  auto parsed = SealedValue::Parse(v.ToString());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(Open(keys, *parsed), "s3cr3t value");
  EXPECT_EQ(v.ToString().find("s3cr3t"), std::string::npos);
}

TEST_F(SealTest, RoundTripEmptyPlaintext) {
  OrgPrivateKey k = NewKey();
  OrgPublicKey pub = k.public_key();
  OrgKeySet keys = SetOf(std::move(k));
  EXPECT_EQ(Open(keys, SealWith(pub, "")), "");
}

TEST_F(SealTest, FreshDekAndIvPerValue) {
  OrgPrivateKey k = NewKey();
  SealedValue a = SealWith(k.public_key(), "same");
  SealedValue b = SealWith(k.public_key(), "same");
  EXPECT_NE(a.capsule().enc(), b.capsule().enc());
  EXPECT_NE(a.iv(), b.iv());
  EXPECT_NE(a.ciphertext(), b.ciphertext());
}

TEST_F(SealTest, SealRejectsInvalidBinding) {
  OrgPrivateKey k = NewKey();
  binding_.key = "..";
  EXPECT_EQ(Seal(k.public_key(), binding_, AsBytes("x"), DefaultRandom(), clock_).status().code(),
            Code::kInvalidArgument);
}

TEST_F(SealTest, OpenCapsuleRejectsUnknownKid) {
  OrgPrivateKey k = NewKey();
  SealedValue v = SealWith(k.public_key(), "x");
  OrgKeySet other = SetOf(NewKey());
  EXPECT_EQ(OpenCapsule(other, v.capsule()).status().code(), Code::kUnknownKey);
}

TEST_F(SealTest, TamperedCapsuleBytesFailValueDecrypt) {
  // Re-encode the same capsule members with different whitespace: HPKE still
  // opens (same enc, ct, bind) but CAPSULE_HASH changes, so the value fails.
  OrgPrivateKey k = NewKey();
  OrgPublicKey pub = k.public_key();
  OrgKeySet keys = SetOf(std::move(k));
  SealedValue v = SealWith(pub, "payload");
  std::string bytes = v.capsule().bytes();
  bytes.insert(1, " ");
  auto c2 = Capsule::Parse(std::string_view(bytes));
  ASSERT_TRUE(c2.ok());
  auto v2 = SealedValue::Create(std::move(c2).value(), v.iv(), v.ciphertext());
  ASSERT_TRUE(v2.ok());
  auto dek = OpenCapsule(keys, v2->capsule());
  ASSERT_TRUE(dek.ok());
  EXPECT_EQ(DecryptValue(*dek, *v2).status().code(), Code::kCrypto);
}

TEST_F(SealTest, TamperedBindFailsOpen) {
  // Move the capsule to another namespace: the BIND aad differs, HPKE fails.
  OrgPrivateKey k = NewKey();
  OrgPublicKey pub = k.public_key();
  OrgKeySet keys = SetOf(std::move(k));
  SealedValue v = SealWith(pub, "payload");
  Binding moved = binding_;
  moved.namespace_ = "attacker";
  auto c2 = Capsule::Build(v.capsule().kid(), v.capsule().enc(), v.capsule().ct(), moved, v.capsule().iat());
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(OpenCapsule(keys, *c2).status().code(), Code::kCapsuleInvalid);
}

TEST_F(SealTest, TamperedCapsuleCtFailsOpen) {
  OrgPrivateKey k = NewKey();
  OrgPublicKey pub = k.public_key();
  OrgKeySet keys = SetOf(std::move(k));
  SealedValue v = SealWith(pub, "payload");
  std::vector<uint8_t> ct = v.capsule().ct();
  ct[0] ^= 1;
  auto c2 = Capsule::Build(v.capsule().kid(), v.capsule().enc(), ct, binding_, v.capsule().iat());
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(OpenCapsule(keys, *c2).status().code(), Code::kCapsuleInvalid);
}

TEST_F(SealTest, TamperedValueCiphertextFails) {
  OrgPrivateKey k = NewKey();
  OrgPublicKey pub = k.public_key();
  OrgKeySet keys = SetOf(std::move(k));
  SealedValue v = SealWith(pub, "payload");
  std::vector<uint8_t> ct = v.ciphertext();
  ct.back() ^= 0x80;
  auto v2 = SealedValue::Create(v.capsule(), v.iv(), ct);
  ASSERT_TRUE(v2.ok());
  auto dek = OpenCapsule(keys, v2->capsule());
  ASSERT_TRUE(dek.ok());
  EXPECT_EQ(DecryptValue(*dek, *v2).status().code(), Code::kCrypto);
}

TEST_F(SealTest, RetiredKeyStillOpens) {
  OrgPrivateKey old_key = NewKey();
  OrgPublicKey old_pub = old_key.public_key();
  SealedValue v = SealWith(old_pub, "sealed under the old key");
  std::vector<OrgPrivateKey> retired;
  retired.push_back(std::move(old_key));
  OrgKeySet keys = SetOf(NewKey(), std::move(retired));
  EXPECT_NE(keys.active().kid(), old_pub.kid());
  EXPECT_EQ(Open(keys, v), "sealed under the old key");
}

TEST_F(SealTest, ActiveKeyUsedToSeal) {
  OrgPrivateKey old_key = NewKey();
  std::vector<OrgPrivateKey> retired;
  retired.push_back(std::move(old_key));
  OrgKeySet keys = SetOf(NewKey(), std::move(retired));
  SealedValue v = SealWith(keys.active().public_key(), "new");
  EXPECT_EQ(v.capsule().kid(), keys.active().kid());
  EXPECT_EQ(Open(keys, v), "new");
}

TEST_F(SealTest, CheckCapsuleScopeRejectsOtherNamespace) {
  OrgPrivateKey k = NewKey();
  SealedValue v = SealWith(k.public_key(), "x");
  EXPECT_TRUE(CheckCapsuleScope(v.capsule(), "prod-eu1", "payments", "api").ok());
  EXPECT_EQ(CheckCapsuleScope(v.capsule(), "prod-eu1", "other", "api").code(), Code::kCapsuleScope);
  EXPECT_EQ(CheckCapsuleScope(v.capsule(), "prod-us1", "payments", "api").code(), Code::kCapsuleScope);
  EXPECT_EQ(CheckCapsuleScope(v.capsule(), "prod-eu1", "payments", "web").code(), Code::kCapsuleScope);
}

TEST_F(SealTest, RewrapRoundTripToPod) {
  OrgPrivateKey k = NewKey();
  OrgPublicKey pub = k.public_key();
  OrgKeySet keys = SetOf(std::move(k));
  SealedValue v = SealWith(pub, "to the pod");
  auto pod = X25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(pod.ok());
  auto dek = OpenCapsule(keys, v.capsule());
  ASSERT_TRUE(dek.ok());
  auto wrapped = Rewrap(*dek, pod->public_key(), v.capsule().hash(), "session-1", DefaultRandom());
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(wrapped->enc.size(), kHpkeEncSize);
  auto pod_dek = OpenRewrapped(*pod, v.capsule().hash(), "session-1", wrapped->enc, wrapped->ct);
  ASSERT_TRUE(pod_dek.ok());
  auto pt = DecryptValue(*pod_dek, v);
  ASSERT_TRUE(pt.ok());
  EXPECT_EQ(pt->RevealString(), "to the pod");
}

TEST_F(SealTest, OpenRewrappedRejectsOtherSession) {
  OrgPrivateKey k = NewKey();
  SealedValue v = SealWith(k.public_key(), "x");
  auto pod = X25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(pod.ok());
  SecretBytes dek(kDekSize);
  ASSERT_TRUE(DefaultRandom().Fill(dek.RevealMutable()).ok());
  auto wrapped = Rewrap(dek, pod->public_key(), v.capsule().hash(), "session-1", DefaultRandom());
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(OpenRewrapped(*pod, v.capsule().hash(), "session-2", wrapped->enc, wrapped->ct).status().code(),
            Code::kCapsuleInvalid);
  Sha256Digest other_hash = v.capsule().hash();
  other_hash[0] ^= 1;
  EXPECT_EQ(OpenRewrapped(*pod, other_hash, "session-1", wrapped->enc, wrapped->ct).status().code(),
            Code::kCapsuleInvalid);
  auto stranger = X25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(stranger.ok());
  EXPECT_EQ(OpenRewrapped(*stranger, v.capsule().hash(), "session-1", wrapped->enc, wrapped->ct).status().code(),
            Code::kCapsuleInvalid);
}

TEST_F(SealTest, RewrapRejectsWrongSizeDek) {
  auto pod = X25519PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(pod.ok());
  SecretBytes short_dek(16);
  Sha256Digest h{};
  EXPECT_EQ(Rewrap(short_dek, pod->public_key(), h, "s", DefaultRandom()).status().code(), Code::kInvalidArgument);
}

TEST_F(SealTest, CapsuleMatchesHpkeReceiverIndependently) {
  // The capsule ct opens with plain HPKE using BIND as aad and the protocol
  // info string: no hidden framing beyond docs/protocol.md §3.1.
  OrgPrivateKey k = NewKey();
  SealedValue v = SealWith(k.public_key(), "x");
  std::string bind = "astis/v1\nprod-eu1\npayments\napi\ndb-creds\npassword";
  auto dek = HpkeOpenBase(HpkeAeadId::kAes256Gcm, v.capsule().enc(), *k.x25519(), AsBytes("astis capsule v1"),
                          AsBytes(bind), v.capsule().ct());
  ASSERT_TRUE(dek.ok());
  EXPECT_EQ(dek->size(), 32u);
}

}  // namespace
}  // namespace astis::capsule

namespace astis::capsule {
namespace {

// ---- protocol 1.1: v2 capsules and P-256 org keys

OrgKeySet SetOfOne(OrgPrivateKey k) {
  auto s = OrgKeySet::Create(std::move(k));
  EXPECT_TRUE(s.ok());
  return std::move(s).value();
}

std::string OpenToString(const OrgKeySet& keys, const SealedValue& v) {
  auto dek = OpenCapsule(keys, v.capsule());
  if (!dek.ok()) return "<" + std::string(WireName(dek.status().code())) + ">";
  auto pt = DecryptValue(*dek, v);
  if (!pt.ok()) return "<decrypt failed>";
  return std::string(pt->RevealString());
}

Binding V2() {
  return Binding::ForClusters({"prod-us1", "prod-eu1"}, "payments", "api", "db-creds", "password").value();
}

TEST(SealV2Test, V2SealOpensInEachCluster) {
  auto k = OrgPrivateKey::Generate(DefaultRandom()).value();
  OrgPublicKey pub = k.public_key();
  OrgKeySet keys = SetOfOne(std::move(k));
  FakeClock clock(1764115200);
  auto v = Seal(pub, V2(), AsBytes("multi"), DefaultRandom(), clock);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->capsule().version(), 2);
  EXPECT_EQ(OpenToString(keys, *v), "multi");
  EXPECT_TRUE(CheckCapsuleScope(v->capsule(), "prod-eu1", "payments", "api").ok());
  EXPECT_TRUE(CheckCapsuleScope(v->capsule(), "prod-us1", "payments", "api").ok());
  EXPECT_EQ(CheckCapsuleScope(v->capsule(), "staging", "payments", "api").code(), Code::kCapsuleScope);
}

TEST(SealV2Test, CheckCapsuleScopeV2AcceptsEachListedCluster) {
  auto k = OrgPrivateKey::Generate(DefaultRandom()).value();
  FakeClock clock(1764115200);
  auto b = Binding::ForClusters({"a", "b", "c"}, "payments", "api", "db-creds", "password").value();
  auto v = Seal(k.public_key(), b, AsBytes("x"), DefaultRandom(), clock).value();
  for (const char* c : {"a", "b", "c"}) EXPECT_TRUE(CheckCapsuleScope(v.capsule(), c, "payments", "api").ok()) << c;
  for (const char* c : {"", "d", "a,b", "ab"}) {
    EXPECT_EQ(CheckCapsuleScope(v.capsule(), c, "payments", "api").code(), Code::kCapsuleScope) << c;
  }
}

TEST(SealV2Test, V2CapsuleUsesV2InfoAndBind) {
  // An independent HPKE receiver with info "astis capsule v2" and the v2
  // BIND opens it; the v1 info does not (no cross-version confusion).
  auto k = OrgPrivateKey::Generate(DefaultRandom()).value();
  FakeClock clock(1764115200);
  auto v = Seal(k.public_key(), V2(), AsBytes("x"), DefaultRandom(), clock).value();
  const std::string bind = "astis/v2\nprod-eu1,prod-us1\npayments\napi\ndb-creds\npassword";
  EXPECT_TRUE(HpkeOpenBase(HpkeAeadId::kAes256Gcm, v.capsule().enc(), *k.x25519(), AsBytes("astis capsule v2"),
                           AsBytes(bind), v.capsule().ct())
                  .ok());
  EXPECT_FALSE(HpkeOpenBase(HpkeAeadId::kAes256Gcm, v.capsule().enc(), *k.x25519(), AsBytes("astis capsule v1"),
                            AsBytes(bind), v.capsule().ct())
                   .ok());
}

TEST(SealP256Test, P256SealOpens) {
  auto k = OrgPrivateKey::Generate(OrgKeySuite::kP256, DefaultRandom()).value();
  OrgPublicKey pub = k.public_key();
  OrgKeySet keys = SetOfOne(std::move(k));
  FakeClock clock(1764115200);
  for (const Binding& b : {Binding{"prod-eu1", "payments", "api", "db-creds", "password"}, V2()}) {
    auto v = Seal(pub, b, AsBytes("on a token"), DefaultRandom(), clock);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    // RFC 9180 §7.1.1: enc is the 65-byte uncompressed point.
    EXPECT_EQ(v->capsule().enc().size(), kCapsuleP256EncSize);
    EXPECT_EQ(v->capsule().enc()[0], 0x04);
    EXPECT_EQ(OpenToString(keys, *v), "on a token");
  }
}

TEST(SealP256Test, P256KidWithX25519SizedEncIsCapsuleInvalid) {
  // §2: the kid selects the suite; an enc of the other suite's size is
  // capsule_invalid, not an attempt with the wrong KEM.
  auto p = OrgPrivateKey::Generate(OrgKeySuite::kP256, DefaultRandom()).value();
  auto x = OrgPrivateKey::Generate(DefaultRandom()).value();
  FakeClock clock(1764115200);
  Binding b{"prod-eu1", "payments", "api", "db-creds", "password"};
  auto by_x = Seal(x.public_key(), b, AsBytes("x"), DefaultRandom(), clock).value();
  auto by_p = Seal(p.public_key(), b, AsBytes("x"), DefaultRandom(), clock).value();
  // Relabel each capsule with the other key's kid.
  auto swapped_to_p = Capsule::Build(p.kid(), by_x.capsule().enc(), by_x.capsule().ct(), b, 1).value();
  auto swapped_to_x = Capsule::Build(x.kid(), by_p.capsule().enc(), by_p.capsule().ct(), b, 1).value();
  std::vector<OrgPrivateKey> retired;
  retired.push_back(std::move(x));
  OrgKeySet keys = OrgKeySet::Create(std::move(p), std::move(retired)).value();
  EXPECT_EQ(OpenCapsule(keys, swapped_to_p).status().code(), Code::kCapsuleInvalid);
  EXPECT_EQ(OpenCapsule(keys, swapped_to_x).status().code(), Code::kCapsuleInvalid);
}

TEST(SealP256Test, P256EncOffCurveIsCapsuleInvalid) {
  auto p = OrgPrivateKey::Generate(OrgKeySuite::kP256, DefaultRandom()).value();
  FakeClock clock(1764115200);
  Binding b{"prod-eu1", "payments", "api", "db-creds", "password"};
  auto v = Seal(p.public_key(), b, AsBytes("x"), DefaultRandom(), clock).value();
  std::vector<uint8_t> enc = v.capsule().enc();
  enc[64] ^= 1;  // y changes: the point leaves the curve (RFC 9180 §7.1.4)
  auto bad = Capsule::Build(p.kid(), enc, v.capsule().ct(), b, 1).value();
  OrgKeySet keys = SetOfOne(std::move(p));
  EXPECT_EQ(OpenCapsule(keys, bad).status().code(), Code::kCapsuleInvalid);
}

// A token that fails every Agree, as an unplugged HSM does.
class DeadToken final : public P256KeyAgreement {
 public:
  explicit DeadToken(P256PublicKey pk) : pk_(pk) {}
  const P256PublicKey& public_key() const override { return pk_; }
  Result<SecretBytes> Agree(const P256PublicKey&) const override {
    return Error(Code::kCvsUnavailable, "token: device removed");
  }

 private:
  P256PublicKey pk_;
};

TEST(SealP256Test, UnusableTokenKeyIsCvsUnavailableNotCapsuleInvalid) {
  // Fail closed and say why: a token outage is the CVS's, not the capsule's.
  auto p = OrgPrivateKey::Generate(OrgKeySuite::kP256, DefaultRandom()).value();
  FakeClock clock(1764115200);
  Binding b{"prod-eu1", "payments", "api", "db-creds", "password"};
  auto v = Seal(p.public_key(), b, AsBytes("x"), DefaultRandom(), clock).value();
  auto token = OrgPrivateKey::FromToken(std::make_shared<DeadToken>(*p.public_key().p256()), "pkcs11:token=t");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->kid(), p.kid());
  OrgKeySet keys = SetOfOne(std::move(*token));
  EXPECT_EQ(OpenCapsule(keys, v.capsule()).status().code(), Code::kCvsUnavailable);
}

}  // namespace
}  // namespace astis::capsule
