// The CVS with an org key held in a PKCS#11 token (docs/hsm.md), end to end
// on a private SoftHSM2 token: values sealed by capsule::Seal to the token
// key's public JWK open and rewrap through the in-process CvsService and the
// remote CVS HTTP handler; a token that becomes unusable (the fault-injecting
// module astis_pkcs11_faulty) fails the whole call closed as cvs_unavailable,
// and the same CVS object serves again by itself once the token is back.

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/encoding.h"
#include "common/json.h"
#include "cvs/cvs.h"
#include "cvs/cvs_test_util.h"
#include "cvs/remote.h"
#include "cvs/run.h"
#include "cvs/testing/verified_scope.h"
#include "hsm/pkcs11.h"
#include "hsm/testing/softhsm.h"

namespace astis {
namespace {

using cvs::testing::BindingFor;
using cvs::testing::CapsuleBytes;
using cvs::testing::Pod;
using cvs::testing::SealTo;

constexpr std::string_view kSession = "s-pkcs11";

class Pkcs11CvsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!hsm::testing::SoftHsmAvailable()) {
      GTEST_SKIP() << "SoftHSM2 (" << hsm::testing::kSoftHsmModule
                   << ") is not installed; scripts/install-deps.sh installs it";
    }
    auto t = hsm::testing::SoftHsmToken::Create();
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    token_ = std::move(t).value();
    uri_ = token_->KeyUri("astis-org-key");
  }
  void TearDown() override {
    service_.reset();
    keys_path_.clear();
    token_.reset();
  }

  // Generate makes the org key in the token through config's module and
  // writes the key set file: the token key active, an X25519 key retired.
  void GenerateKeySet(const hsm::Pkcs11Config& config) {
    auto module = hsm::Pkcs11Module::Load(config);
    ASSERT_TRUE(module.ok()) << module.status().ToString();
    auto pub = (*module)->GenerateP256Key(uri_);
    ASSERT_TRUE(pub.ok()) << pub.status().ToString();
    token_pub_ = std::make_unique<capsule::OrgPublicKey>(capsule::OrgPublicKey::FromP256(*pub));
    Json member = token_pub_->ToJwk();
    member["pkcs11"] = uri_;
    member["status"] = "active";
    auto old = capsule::OrgPrivateKey::Generate(DefaultRandom());
    ASSERT_TRUE(old.ok());
    retired_pub_ = std::make_unique<capsule::OrgPublicKey>(old->public_key());
    Json retired = old->ToPrivateJwk();
    retired["status"] = "retired";
    keys_path_ = token_->dir() + "/org-keys.json";
    std::ofstream(keys_path_) << DumpJson(Json{{"keys", Json::array({member, retired})}});
    ::chmod(keys_path_.c_str(), 0600);
  }

  // StartService loads the key set through a resolver on config's module.
  void StartService(const hsm::Pkcs11Config& config) {
    auto module = hsm::Pkcs11Module::Load(config);
    ASSERT_TRUE(module.ok()) << module.status().ToString();
    std::shared_ptr<hsm::Pkcs11Module> m = *module;
    capsule::TokenKeyResolver resolver = [m](std::string_view uri) { return m->OpenP256Key(uri); };
    auto set = capsule::OrgKeySet::LoadFile(keys_path_, resolver);
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    ASSERT_TRUE(set->active().in_token());
    EXPECT_EQ(set->active().kid(), token_pub_->kid());
    service_ = std::make_unique<cvs::CvsService>(std::move(set).value(), DefaultRandom());
  }

  capsule::SealedValue SealToken(std::string_view plaintext, std::string key = "password") {
    return SealTo(*token_pub_, BindingFor(scope_, std::move(key)), plaintext, clock_);
  }

  net::ServerRequest RewrapRequest(const Pod& pod, const std::vector<capsule::SealedValue>& values) {
    Json caps = Json::array();
    for (const auto& v : values) caps.push_back(B64uEncode(CapsuleBytes(v)));
    net::ServerRequest r;
    r.method = "POST";
    r.path = r.target = std::string(cvs::kRewrapPath);
    r.body = DumpJson(Json{{"scope", {{"cluster", "prod-eu1"}, {"namespace", "payments"}, {"serviceAccount", "api"}}},
                           {"recipient", B64uEncode(pod.recipient().bytes)},
                           {"session", std::string(kSession)},
                           {"capsules", std::move(caps)}});
    r.peer_cert_sha256 = edge_cert_;
    return r;
  }

  // Rewrap rewraps values for pod in process and returns their plaintexts.
  std::vector<std::string> Rewrap(const Pod& pod, const std::vector<capsule::SealedValue>& values, Status* error) {
    std::vector<std::vector<uint8_t>> caps;
    for (const auto& v : values) caps.push_back(CapsuleBytes(v));
    auto results = service_->Rewrap(scope_, pod.recipient(), kSession, caps);
    if (!results.ok()) {
      *error = results.status();
      return {};
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < values.size(); ++i) out.push_back(pod.Decrypt(values[i], (*results)[i], kSession));
    return out;
  }

  FakeClock clock_{1764115200};
  cvs::VerifiedScope scope_ = cvs::testing::TestScope("prod-eu1", "payments", "api");
  Sha256Digest edge_cert_ = [] {
    Sha256Digest d{};
    d.fill(0x5a);
    return d;
  }();
  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  std::string uri_;
  std::string keys_path_;
  std::unique_ptr<capsule::OrgPublicKey> token_pub_;
  std::unique_ptr<capsule::OrgPublicKey> retired_pub_;
  std::unique_ptr<cvs::CvsService> service_;
};

TEST_F(Pkcs11CvsTest, OpensAndRewrapsThroughTheToken) {
  GenerateKeySet(token_->Config());
  StartService(token_->Config());
  ASSERT_NE(service_, nullptr);
  Pod pod;
  std::vector<capsule::SealedValue> values = {SealToken("token-one", "a"), SealToken("token-two", "b"),
                                              SealTo(*retired_pub_, BindingFor(scope_, "c"), "retired", clock_)};
  Status error;
  EXPECT_EQ(Rewrap(pod, values, &error), (std::vector<std::string>{"token-one", "token-two", "retired"}))
      << error.ToString();
  // A capsule bound elsewhere is still refused per capsule, before the token is used.
  const cvs::VerifiedScope other = cvs::testing::TestScope("prod-eu1", "billing", "api");
  capsule::SealedValue foreign = SealTo(*token_pub_, BindingFor(other), "x", clock_);
  std::vector<std::vector<uint8_t>> caps = {CapsuleBytes(foreign)};
  auto r = service_->Rewrap(scope_, pod.recipient(), kSession, caps);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].code, Code::kCapsuleScope);

  // The remote CVS contract (cvs/remote.h) over the same service.
  cvs::CvsHttpHandler handler(*service_, {edge_cert_});
  net::ServerResponse resp = handler.Handle(RewrapRequest(pod, values));
  ASSERT_EQ(resp.status, 200) << resp.body;
  auto j = ParseJsonObject(resp.body);
  ASSERT_TRUE(j.ok());
  for (size_t i = 0; i < values.size(); ++i) {
    const Json& item = (*j)["results"][i];
    ASSERT_TRUE(item.contains("enc")) << resp.body;
    cvs::RewrapResult rr;
    rr.code = Code::kOk;
    rr.enc = *B64uDecode(item["enc"].get<std::string>());
    rr.ct = *B64uDecode(item["ct"].get<std::string>());
    EXPECT_EQ(pod.Decrypt(values[i], rr, kSession), (std::vector<std::string>{"token-one", "token-two", "retired"})[i]);
  }
}

// `astis cvs`'s configuration path: the pkcs11 block's module opens the
// token member; without the block the same key set is refused.
TEST_F(Pkcs11CvsTest, ProcessConfigOpensTokenKeySet) {
  GenerateKeySet(token_->Config());
  const std::string yaml = "tls:\n  cert_file: /c.pem\n  key_file: /k.pem\n  client_ca_file: /ca.pem\n"
                           "  edge_client_cert_sha256: " + std::string(64, 'a') + "\naudit_log: /a.jsonl\n"
                           "org_keys: " + keys_path_ + "\n";
  auto plain = cvs::ParseCvsProcessConfig(yaml);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  auto no_tokens = cvs::TokenResolverFor(*plain);
  ASSERT_TRUE(no_tokens.ok());
  EXPECT_EQ(capsule::OrgKeySet::LoadFile(keys_path_, *no_tokens).status().code(), Code::kInvalidArgument);

  auto config = cvs::ParseCvsProcessConfig(yaml + "pkcs11:\n  module: " + hsm::testing::kSoftHsmModule +
                                           "\n  pin_file: " + token_->pin_file() + "\n  max_sessions: 4\n");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto tokens = cvs::TokenResolverFor(*config);
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  auto set = capsule::OrgKeySet::LoadFile(keys_path_, *tokens);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  service_ = std::make_unique<cvs::CvsService>(std::move(set).value(), DefaultRandom());
  Pod pod;
  Status error;
  EXPECT_EQ(Rewrap(pod, {SealToken("from-config")}, &error), std::vector<std::string>{"from-config"})
      << error.ToString();

  // A group-readable PIN file stops the start-up.
  ::chmod(token_->pin_file().c_str(), 0640);
  EXPECT_EQ(cvs::TokenResolverFor(*config).status().code(), Code::kPermissionDenied);
}

TEST_F(Pkcs11CvsTest, UnusableTokenIsCvsUnavailable) {
  hsm::testing::FaultyModule faulty(ASTIS_PKCS11_FAULTY, token_->dir());
  GenerateKeySet(faulty.Config(*token_));
  StartService(faulty.Config(*token_, /*max_sessions=*/4));
  ASSERT_NE(service_, nullptr);
  cvs::CvsHttpHandler handler(*service_, {edge_cert_});
  Pod pod;
  // A batch mixing an in-memory key's capsule with token ones: no partial
  // result while the token is away.
  std::vector<capsule::SealedValue> values = {SealTo(*retired_pub_, BindingFor(scope_, "c"), "retired", clock_),
                                              SealToken("token-one", "a"), SealToken("token-two", "b")};
  const std::vector<std::string> expected = {"retired", "token-one", "token-two"};
  Status error;
  ASSERT_EQ(Rewrap(pod, values, &error), expected) << error.ToString();

  ASSERT_TRUE(faulty.Remove().ok());
  for (int i = 0; i < 3; ++i) {
    Status down;
    EXPECT_TRUE(Rewrap(pod, values, &down).empty());
    EXPECT_EQ(down.code(), Code::kCvsUnavailable) << down.ToString();
  }
  net::ServerResponse resp = handler.Handle(RewrapRequest(pod, values));
  EXPECT_EQ(resp.status, 503) << resp.body;
  auto j = ParseJsonObject(resp.body);
  ASSERT_TRUE(j.ok());
  EXPECT_FALSE(j->contains("results"));
  EXPECT_EQ((*j)["error"]["code"], "cvs_unavailable");

  // Back: the same CvsService object serves again, no restart.
  ASSERT_TRUE(faulty.Restore().ok());
  Status again;
  EXPECT_EQ(Rewrap(pod, values, &again), expected) << again.ToString();
  net::ServerResponse ok = handler.Handle(RewrapRequest(pod, values));
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(Pkcs11CvsTest, ConcurrentRewrapsFromEightThreads) {
  GenerateKeySet(token_->Config());
  StartService(token_->Config(/*max_sessions=*/4));
  ASSERT_NE(service_, nullptr);
  std::vector<capsule::SealedValue> values;
  std::vector<std::string> expected;
  for (int i = 0; i < 8; ++i) {
    expected.push_back("value-" + std::to_string(i));
    values.push_back(SealToken(expected.back(), "k" + std::to_string(i)));
  }
  std::atomic<int> good{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Pod pod;
      for (int round = 0; round < 6; ++round) {
        std::vector<capsule::SealedValue> batch = {values[t], values[(t + round) % 8]};
        Status error;
        const std::vector<std::string> got = Rewrap(pod, batch, &error);
        const bool ok = got == std::vector<std::string>{expected[t], expected[(t + round) % 8]};
        (ok ? good : bad)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 8 * 6);
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace astis
