#include "hsm/pkcs11.h"

#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/random.h"
#include "hsm/testing/softhsm.h"

namespace astis::hsm {
namespace {

using testing::FaultyModule;
using testing::RawSession;
using testing::SoftHsmToken;

class Pkcs11Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::SoftHsmAvailable()) {
      GTEST_SKIP() << "SoftHSM2 (" << testing::kSoftHsmModule
                   << ") is not installed; scripts/install-deps.sh installs it";
    }
    auto t = SoftHsmToken::Create();
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    token_ = std::move(t).value();
  }
  void TearDown() override {
    raw_.reset();
    module_.reset();
    token_.reset();
  }

  std::shared_ptr<Pkcs11Module> Load(const Pkcs11Config& config) {
    auto m = Pkcs11Module::Load(config);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : nullptr;
  }
  RawSession& Raw() {
    if (!raw_) {
      auto r = RawSession::Open(*token_);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      raw_ = std::move(r).value();
    }
    return *raw_;
  }
  // FindPrivate returns the private key object labelled label (raw).
  CK_OBJECT_HANDLE FindPrivate(const std::string& label) {
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
    RawSession& r = Raw();
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    EXPECT_EQ(r.f()->C_FindObjectsInit(r.session(), t, 2), CKR_OK);
    EXPECT_EQ(r.f()->C_FindObjects(r.session(), &h, 1, &n), CKR_OK);
    EXPECT_EQ(r.f()->C_FindObjectsFinal(r.session()), CKR_OK);
    EXPECT_EQ(n, 1u);
    return h;
  }
  CK_BBOOL Bool(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type) {
    CK_BBOOL v = 0xee;
    CK_ATTRIBUTE a{type, &v, sizeof v};
    EXPECT_EQ(Raw().f()->C_GetAttributeValue(Raw().session(), h, &a, 1), CKR_OK);
    return v;
  }
  // RawGenerate makes a P-256 key pair directly with C_GenerateKeyPair,
  // bypassing GenerateP256Key's template.
  void RawGenerate(const std::string& label, CK_BBOOL sensitive, CK_BBOOL extractable) {
    static const uint8_t kParams[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_BBOOL yes = CK_TRUE;
    CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    auto* l = const_cast<char*>(label.data());
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, sizeof yes},
                          {CKA_EC_PARAMS, const_cast<uint8_t*>(kParams), sizeof kParams},
                          {CKA_LABEL, l, label.size()},
                          {CKA_ID, l, label.size()}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, sizeof yes},
                           {CKA_SENSITIVE, &sensitive, sizeof sensitive},
                           {CKA_EXTRACTABLE, &extractable, sizeof extractable},
                           {CKA_DERIVE, &yes, sizeof yes},
                           {CKA_LABEL, l, label.size()},
                           {CKA_ID, l, label.size()}};
    CK_OBJECT_HANDLE a = 0, b = 0;
    ASSERT_EQ(Raw().f()->C_GenerateKeyPair(Raw().session(), &mech, pub, 4, priv, 6, &a, &b), CKR_OK);
  }

  std::unique_ptr<SoftHsmToken> token_;
  std::shared_ptr<Pkcs11Module> module_;
  std::unique_ptr<RawSession> raw_;
};

TEST_F(Pkcs11Test, GeneratedKeyIsSensitiveAndNotExtractable) {
  module_ = Load(token_->Config());
  ASSERT_NE(module_, nullptr);
  auto pub = module_->GenerateP256Key(token_->KeyUri("org-key"));
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  const CK_OBJECT_HANDLE h = FindPrivate("org-key");
  EXPECT_EQ(Bool(h, CKA_EXTRACTABLE), CK_FALSE);
  EXPECT_EQ(Bool(h, CKA_SENSITIVE), CK_TRUE);
  EXPECT_EQ(Bool(h, CKA_TOKEN), CK_TRUE);
  EXPECT_EQ(Bool(h, CKA_DERIVE), CK_TRUE);
  EXPECT_EQ(Bool(h, CKA_NEVER_EXTRACTABLE), CK_TRUE);
  EXPECT_EQ(Bool(h, CKA_ALWAYS_SENSITIVE), CK_TRUE);
  // The scalar cannot be read: neither its length nor its value.
  uint8_t buf[64] = {};
  CK_ATTRIBUTE value{CKA_VALUE, buf, sizeof buf};
  EXPECT_EQ(Raw().f()->C_GetAttributeValue(Raw().session(), h, &value, 1), CKR_ATTRIBUTE_SENSITIVE);
  CK_ATTRIBUTE size_only{CKA_VALUE, nullptr, 0};
  EXPECT_EQ(Raw().f()->C_GetAttributeValue(Raw().session(), h, &size_only, 1), CKR_ATTRIBUTE_SENSITIVE);
  EXPECT_EQ(size_only.ulValueLen, CK_UNAVAILABLE_INFORMATION);
  // And the key opens as an org key with the public point generation answered.
  auto key = module_->OpenP256Key(token_->KeyUri("org-key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ((*key)->public_key(), *pub);
}

TEST_F(Pkcs11Test, GenerateRefusesExistingLabel) {
  module_ = Load(token_->Config());
  ASSERT_NE(module_, nullptr);
  ASSERT_TRUE(module_->GenerateP256Key(token_->KeyUri("k")).ok());
  EXPECT_EQ(module_->GenerateP256Key(token_->KeyUri("k")).status().code(), Code::kAlreadyExists);
  ASSERT_TRUE(module_->GenerateP256Key("pkcs11:token=astis-test;object=k2;id=%07").ok());
  EXPECT_EQ(module_->GenerateP256Key("pkcs11:token=astis-test;object=k3;id=%07").status().code(),
            Code::kAlreadyExists);
  EXPECT_EQ(module_->GenerateP256Key("pkcs11:token=astis-test;id=%08").status().code(), Code::kInvalidArgument);
}

TEST_F(Pkcs11Test, DeriveEqualsSoftwareEcdh) {
  module_ = Load(token_->Config());
  ASSERT_NE(module_, nullptr);
  ASSERT_TRUE(module_->GenerateP256Key(token_->KeyUri("org-key")).ok());
  auto key = module_->OpenP256Key(token_->KeyUri("org-key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  for (int i = 0; i < 4; ++i) {
    auto soft = P256PrivateKey::Generate(DefaultRandom());
    ASSERT_TRUE(soft.ok());
    auto in_token = (*key)->Agree(soft->public_key());
    ASSERT_TRUE(in_token.ok()) << in_token.status().ToString();
    auto in_memory = soft->Agree((*key)->public_key());
    ASSERT_TRUE(in_memory.ok());
    EXPECT_EQ(in_token->size(), kP256ScalarSize);
    EXPECT_TRUE(*in_token == *in_memory);
  }
}

TEST_F(Pkcs11Test, DerivedSecretIsDestroyed) {
  module_ = Load(token_->Config());
  ASSERT_NE(module_, nullptr);
  ASSERT_TRUE(module_->GenerateP256Key(token_->KeyUri("org-key")).ok());
  auto key = module_->OpenP256Key(token_->KeyUri("org-key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto soft = P256PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(soft.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*key)->Agree(soft->public_key()).ok());
  // Session objects are visible to every session of the application: none left.
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}};
  CK_OBJECT_HANDLE found[4];
  CK_ULONG n = 99;
  ASSERT_EQ(Raw().f()->C_FindObjectsInit(Raw().session(), t, 1), CKR_OK);
  ASSERT_EQ(Raw().f()->C_FindObjects(Raw().session(), found, 4, &n), CKR_OK);
  ASSERT_EQ(Raw().f()->C_FindObjectsFinal(Raw().session()), CKR_OK);
  EXPECT_EQ(n, 0u);
}

TEST_F(Pkcs11Test, OpenRefusesExtractableKey) {
  module_ = Load(token_->Config());
  ASSERT_NE(module_, nullptr);
  RawGenerate("extractable", CK_TRUE, CK_TRUE);
  auto key = module_->OpenP256Key(token_->KeyUri("extractable"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Code::kInvalidArgument);
  EXPECT_NE(key.status().message().find("leave the token"), std::string::npos) << key.status().message();
}

TEST_F(Pkcs11Test, OpenRefusesNonSensitiveKey) {
  module_ = Load(token_->Config());
  ASSERT_NE(module_, nullptr);
  RawGenerate("plain", CK_FALSE, CK_FALSE);
  auto key = module_->OpenP256Key(token_->KeyUri("plain"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Code::kInvalidArgument);
}

TEST_F(Pkcs11Test, OpenUnknownKeyIsNotFound) {
  module_ = Load(token_->Config());
  ASSERT_NE(module_, nullptr);
  EXPECT_EQ(module_->OpenP256Key(token_->KeyUri("nothing")).status().code(), Code::kNotFound);
  // A token nobody has is an outage of the configured token, not a bad key.
  EXPECT_EQ(module_->OpenP256Key("pkcs11:token=other;object=k").status().code(), Code::kCvsUnavailable);
  EXPECT_EQ(module_->OpenP256Key("pkcs11:token=a;object=k?pin-value=1").status().code(), Code::kInvalidArgument);
}

TEST_F(Pkcs11Test, RefusesGroupReadablePinFile) {
  ::chmod(token_->pin_file().c_str(), 0640);
  auto m = Pkcs11Module::Load(token_->Config());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kPermissionDenied);
  Pkcs11Config missing = token_->Config();
  missing.pin_file = token_->dir() + "/none";
  EXPECT_EQ(Pkcs11Module::Load(missing).status().code(), Code::kNotFound);
  Pkcs11Config no_module = token_->Config();
  no_module.module_path = token_->dir() + "/no-such-module.so";
  ::chmod(token_->pin_file().c_str(), 0600);
  EXPECT_EQ(Pkcs11Module::Load(no_module).status().code(), Code::kNotFound);
}

TEST_F(Pkcs11Test, WrongPinIsUnavailableAndNeverEchoed) {
  {
    auto m = Load(token_->Config());
    ASSERT_NE(m, nullptr);
    ASSERT_TRUE(m->GenerateP256Key(token_->KeyUri("org-key")).ok());
  }
  const std::string wrong = "wrong-pin-Zq81";
  std::ofstream(token_->pin_file(), std::ios::trunc) << wrong << "\n";
  module_ = Load(token_->Config());
  ASSERT_NE(module_, nullptr);
  auto key = module_->OpenP256Key(token_->KeyUri("org-key"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Code::kCvsUnavailable);
  EXPECT_NE(key.status().message().find("CKR_PIN_INCORRECT"), std::string::npos) << key.status().message();
  EXPECT_EQ(key.status().message().find(wrong), std::string::npos);
  EXPECT_EQ(key.status().message().find(std::string(SoftHsmToken::pin())), std::string::npos);
}

TEST_F(Pkcs11Test, ConcurrentDerivesFromEightThreads) {
  module_ = Load(token_->Config(/*max_sessions=*/3));
  ASSERT_NE(module_, nullptr);
  ASSERT_TRUE(module_->GenerateP256Key(token_->KeyUri("org-key")).ok());
  auto key = module_->OpenP256Key(token_->KeyUri("org-key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  std::atomic<int> good{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 16; ++i) {
        auto soft = P256PrivateKey::Generate(DefaultRandom());
        auto a = (*key)->Agree(soft->public_key());
        auto b = soft->Agree((*key)->public_key());
        (a.ok() && b.ok() && *a == *b ? good : bad)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 8 * 16);
  EXPECT_EQ(bad.load(), 0);
}

// The fault-injecting module closes every session and fails every call while
// the token is "removed"; the same key object recovers once it is back,
// opening sessions and logging in again by itself.
TEST_F(Pkcs11Test, RemovedTokenIsUnavailableThenRecovers) {
  FaultyModule faulty(ASTIS_PKCS11_FAULTY, token_->dir());
  module_ = Load(faulty.Config(*token_, /*max_sessions=*/2));
  ASSERT_NE(module_, nullptr);
  ASSERT_TRUE(module_->GenerateP256Key(token_->KeyUri("org-key")).ok());
  auto key = module_->OpenP256Key(token_->KeyUri("org-key"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto soft = P256PrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(soft.ok());
  auto expected = soft->Agree((*key)->public_key());
  ASSERT_TRUE(expected.ok());
  ASSERT_TRUE((*key)->Agree(soft->public_key()).ok());

  ASSERT_TRUE(faulty.Remove().ok());
  for (int i = 0; i < 3; ++i) {
    auto r = (*key)->Agree(soft->public_key());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCvsUnavailable) << r.status().ToString();
  }
  EXPECT_EQ(module_->OpenP256Key(token_->KeyUri("org-key")).status().code(), Code::kCvsUnavailable);

  ASSERT_TRUE(faulty.Restore().ok());
  auto back = (*key)->Agree(soft->public_key());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == *expected);
  // Removed and restored again: the pool was dropped and rebuilt each time.
  ASSERT_TRUE(faulty.Remove().ok());
  EXPECT_EQ((*key)->Agree(soft->public_key()).status().code(), Code::kCvsUnavailable);
  ASSERT_TRUE(faulty.Restore().ok());
  auto again = (*key)->Agree(soft->public_key());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(*again == *expected);
}

}  // namespace
}  // namespace astis::hsm
