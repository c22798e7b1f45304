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
  auto dek = HpkeOpenBase(HpkeAeadId::kAes256Gcm, v.capsule().enc(), k.key(), AsBytes("astis capsule v1"),
                          AsBytes(bind), v.capsule().ct());
  ASSERT_TRUE(dek.ok());
  EXPECT_EQ(dek->size(), 32u);
}

}  // namespace
}  // namespace astis::capsule
