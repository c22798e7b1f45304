#include "edge/cvs_router.h"

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
#include "common/clock.h"
#include "common/encoding.h"
#include "common/testing/must.h"
#include "common/testing/temp_dir.h"
#include "crypto/random.h"
#include "cvs/key_management.h"
#include "cvs/remote.h"
#include "edge/run.h"
#include "cvs/testing/verified_scope.h"
#include "net/testing/test_pki.h"
#include "net/tls.h"
#include "store/sqlite_store.h"
#include "store/testing/fault_injecting_store.h"

namespace astis::edge {
namespace {

using test::Must;

// NamedPort answers every capsule with kOk and its name in enc, so a test
// sees which CVS a call reached; down makes it kCvsUnavailable.
class NamedPort final : public cvs::CvsPort {
 public:
  explicit NamedPort(std::string name) : name_(std::move(name)) {}
  Result<std::vector<cvs::RewrapResult>> Rewrap(const cvs::VerifiedScope&, const X25519PublicKey&, std::string_view,
                                                std::span<const std::vector<uint8_t>> capsules) override {
    ++calls;
    if (down.load()) return Error(Code::kCvsUnavailable, "down");
    std::vector<cvs::RewrapResult> out(capsules.size());
    for (auto& r : out) {
      r.code = Code::kOk;
      r.enc.assign(name_.begin(), name_.end());
    }
    return out;
  }
  Status Ping() override { return down.load() ? Error(Code::kCvsUnavailable, "down") : OkStatus(); }
  std::atomic<int> calls{0};
  std::atomic<bool> down{false};

 private:
  std::string name_;
};

// BorrowedPort forwards to a NamedPort the test keeps.
class BorrowedPort final : public cvs::CvsPort {
 public:
  explicit BorrowedPort(cvs::CvsPort& inner) : inner_(inner) {}
  Result<std::vector<cvs::RewrapResult>> Rewrap(const cvs::VerifiedScope& s, const X25519PublicKey& r,
                                                std::string_view id,
                                                std::span<const std::vector<uint8_t>> c) override {
    return inner_.Rewrap(s, r, id, c);
  }
  Status Ping() override { return inner_.Ping(); }

 private:
  cvs::CvsPort& inner_;
};

class CvsRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenSqliteStore(":memory:");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    inner_ = std::move(s).value();
    store_ = std::make_unique<store::FaultInjectingStore>(*inner_);
    ASSERT_TRUE(store_->PutOrganization(Standard("tenant-a")).ok());
    ASSERT_TRUE(store_->PutOrganization(Hyok("tenant-b", "https://cvs.b.example:9443")).ok());
    auto k = X25519PrivateKey::Generate(DefaultRandom());
    ASSERT_TRUE(k.ok());
    recipient_ = std::make_unique<X25519PublicKey>(k->public_key());
  }

  static store::Organization Standard(std::string name) {
    store::Organization o;
    o.name = std::move(name);
    o.tier = "standard";
    return o;
  }
  store::Organization Hyok(std::string name, std::string url, std::string spki = "") {
    store::Organization o;
    o.name = std::move(name);
    o.tier = "hyok";
    o.cvs_url = std::move(url);
    o.cvs_ca_pem = "-----BEGIN CERTIFICATE-----\nnot used by the fake builder\n-----END CERTIFICATE-----\n";
    o.cvs_identity = "cvs.b.example";
    o.cvs_spki_sha256 = std::move(spki);
    return o;
  }

  // Builder hands out a BorrowedPort on hyok_ and records each build.
  HyokCvsBuilder Builder() {
    return [this](const store::Organization& o) -> Result<std::unique_ptr<cvs::CvsPort>> {
      builds_.push_back(o.name + " " + o.cvs_url);
      if (fail_builds_) return Error(Code::kInvalidArgument, "bad record");
      return std::unique_ptr<cvs::CvsPort>(new BorrowedPort(hyok_));
    };
  }

  // Reached names which port answered (or the error code).
  std::string Reached(CvsRouter& router, const std::string& org) {
    const cvs::VerifiedScope scope = cvs::testing::TestScope(org, "prod", "payments", "api");
    std::vector<std::vector<uint8_t>> caps = {{1, 2, 3}};
    auto r = router.Rewrap(scope, *recipient_, "session-1", caps);
    if (!r.ok()) return std::string(WireName(r.status().code()));
    return std::string((*r)[0].enc.begin(), (*r)[0].enc.end());
  }

  FakeClock clock_{1764115200};
  std::unique_ptr<store::Store> inner_;
  std::unique_ptr<store::FaultInjectingStore> store_;
  NamedPort astis_{"astis"};
  NamedPort hyok_{"hyok-b"};
  std::vector<std::string> builds_;
  bool fail_builds_ = false;
  std::unique_ptr<X25519PublicKey> recipient_;
};

TEST_F(CvsRouterTest, RoutesByTier) {
  CvsRouter router(*store_, clock_, astis_, Builder());
  EXPECT_EQ(Reached(router, "tenant-a"), "astis");
  EXPECT_EQ(Reached(router, "tenant-b"), "hyok-b");
  EXPECT_EQ(Reached(router, "default"), "astis");  // every store has it, tier standard
  EXPECT_EQ(Reached(router, "tenant-z"), "cvs_unavailable");  // no such organisation
  // The client is built once per record, not per call.
  EXPECT_EQ(Reached(router, "tenant-b"), "hyok-b");
  EXPECT_EQ(builds_.size(), 1u);
  EXPECT_EQ(astis_.calls.load(), 2);
  EXPECT_EQ(hyok_.calls.load(), 2);
}

TEST_F(CvsRouterTest, HyokOutageIsCvsUnavailableForThatOrgOnly) {
  CvsRouter router(*store_, clock_, astis_, Builder());
  hyok_.down = true;
  EXPECT_EQ(Reached(router, "tenant-b"), "cvs_unavailable");
  EXPECT_EQ(Reached(router, "tenant-a"), "astis");
  // Ready depends on the ASTIS CVS only.
  EXPECT_TRUE(router.Ping().ok());
  hyok_.down = false;
  EXPECT_EQ(Reached(router, "tenant-b"), "hyok-b");  // recovers by itself
  astis_.down = true;
  EXPECT_EQ(router.Ping().code(), Code::kCvsUnavailable);
}

TEST_F(CvsRouterTest, ChangedRouteTakesEffectAfterRecheck) {
  CvsRouter router(*store_, clock_, astis_, Builder(), /*recheck_ms=*/5000);
  EXPECT_EQ(Reached(router, "tenant-b"), "hyok-b");
  ASSERT_TRUE(store_->PutOrganization(Hyok("tenant-b", "https://cvs2.b.example:9443")).ok());
  EXPECT_EQ(Reached(router, "tenant-b"), "hyok-b");
  EXPECT_EQ(builds_.size(), 1u);  // not re-read yet
  clock_.AdvanceMillis(5000);
  EXPECT_EQ(Reached(router, "tenant-b"), "hyok-b");
  ASSERT_EQ(builds_.size(), 2u);
  EXPECT_EQ(builds_[1], "tenant-b https://cvs2.b.example:9443");
  // Same record again: no rebuild.
  clock_.AdvanceMillis(5000);
  EXPECT_EQ(Reached(router, "tenant-b"), "hyok-b");
  EXPECT_EQ(builds_.size(), 2u);
  // A move to the standard tier routes to the ASTIS CVS.
  ASSERT_TRUE(store_->PutOrganization(Standard("tenant-b")).ok());
  clock_.AdvanceMillis(5000);
  EXPECT_EQ(Reached(router, "tenant-b"), "astis");
}

TEST_F(CvsRouterTest, StoreErrorIsStoreUnavailableUnlessRouteKnown) {
  CvsRouter router(*store_, clock_, astis_, Builder());
  EXPECT_EQ(Reached(router, "tenant-a"), "astis");
  store_->SetFailing(true);
  EXPECT_EQ(Reached(router, "tenant-b"), "store_unavailable");  // never read
  clock_.AdvanceMillis(10000);
  EXPECT_EQ(Reached(router, "tenant-a"), "astis");  // a known route survives a store hiccup
  store_->SetFailing(false);
  EXPECT_EQ(Reached(router, "tenant-b"), "hyok-b");
}

TEST_F(CvsRouterTest, UnbuildableHyokClientIsCvsUnavailable) {
  fail_builds_ = true;
  CvsRouter router(*store_, clock_, astis_, Builder());
  EXPECT_EQ(Reached(router, "tenant-b"), "cvs_unavailable");
  EXPECT_EQ(Reached(router, "tenant-a"), "astis");
  // Without the edge's hyok identity, the real builder refuses the same way.
  CvsRouter no_identity(*store_, clock_, astis_, MakeHyokCvsBuilder(std::nullopt));
  EXPECT_EQ(Reached(no_identity, "tenant-b"), "cvs_unavailable");
  EXPECT_EQ(Reached(no_identity, "tenant-a"), "astis");
}

// Calls from many threads while the route changes under them: every call
// reaches a port of the organisation's current or previous route (TSan
// covers the cache).
TEST_F(CvsRouterTest, ConcurrentCallsWhileRouteChanges) {
  CvsRouter router(*store_, clock_, astis_, Builder(), /*recheck_ms=*/1);
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      while (!stop.load()) {
        const std::string got = Reached(router, t % 2 == 0 ? "tenant-a" : "tenant-b");
        const bool ok = t % 2 == 0 ? got == "astis" : (got == "hyok-b" || got == "astis");
        if (!ok) ++wrong;
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store_->PutOrganization(i % 2 == 0 ? Hyok("tenant-b", "https://cvs" + std::to_string(i) + ".example")
                                                   : Standard("tenant-b"))
                    .ok());
    clock_.AdvanceMillis(2);
    std::this_thread::yield();
  }
  stop.store(true);
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// The real builder against a real CVS over loopback mutual TLS: trusted by
// the organisation's CA and name, a renewed leaf works, an SPKI pin admits
// only its key, and the wrong name is refused.
TEST_F(CvsRouterTest, HyokClientTrustsCaNameAndSpki) {
  auto pki = net::testing::TestPki::Create();
  ASSERT_TRUE(pki.ok());
  auto edge = pki->IssueClientCert("astis-edge");
  ASSERT_TRUE(edge.ok());
  auto org_key = capsule::OrgPrivateKey::Generate(DefaultRandom());
  ASSERT_TRUE(org_key.ok());
  auto set = capsule::OrgKeySet::Create(std::move(org_key).value());
  ASSERT_TRUE(set.ok());
  cvs::OrgKeySets sets;
  sets.emplace("tenant-b", std::move(set).value());
  cvs::CvsService b_cvs(std::move(sets), DefaultRandom());
  auto start = [&](const net::testing::TestCert* leaf) {
    cvs::CvsServerConfig config;
    config.threads = 1;
    config.tls = pki->ServerTls();
    if (leaf != nullptr) {
      config.tls.cert_chain_pem = leaf->cert_pem;
      config.tls.key_pem = leaf->key_pem.Clone();
    }
    config.tls.client_ca_pem = pki->ca_cert_pem();
    config.tls.pinned_client_cert_sha256 = {edge->sha256};
    auto server = cvs::StartCvsServer(std::move(config), b_cvs);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return server.ok() ? std::move(server).value() : nullptr;
  };
  net::ClientOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.request_timeout = std::chrono::milliseconds(5000);
  auto builder = MakeHyokCvsBuilder(HyokClientIdentity{edge->cert_pem, edge->key_pem.Clone()}, options);
  auto record = [&](uint16_t port, std::string identity, std::string spki) {
    store::Organization o;
    o.name = "tenant-b";
    o.tier = "hyok";
    o.cvs_url = "https://127.0.0.1:" + std::to_string(port);
    o.cvs_ca_pem = pki->ca_cert_pem();
    o.cvs_identity = std::move(identity);
    o.cvs_spki_sha256 = std::move(spki);
    return o;
  };
  auto ping = [&](const store::Organization& o) {
    auto port = builder(o);
    if (!port.ok()) return port.status().code();
    return (*port)->Ping().code();
  };
  auto server = start(nullptr);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(ping(record(server->port(), "localhost", "")), Code::kOk);
  EXPECT_EQ(ping(record(server->port(), "cvs.other.example", "")), Code::kCvsUnavailable);
  auto spki = net::SpkiSha256(pki->server().cert_pem);
  ASSERT_TRUE(spki.ok());
  EXPECT_EQ(ping(record(server->port(), "localhost", HexEncode(*spki))), Code::kOk);
  EXPECT_EQ(builder(record(server->port(), "localhost", "zz")).status().code(), Code::kInvalidArgument);
  server->Stop(std::chrono::milliseconds(1000));

  // Renewed leaf: a new certificate and key under the same CA.
  auto renewed = pki->IssueServerCert({"localhost", "127.0.0.1"});
  ASSERT_TRUE(renewed.ok());
  auto server2 = start(&*renewed);
  ASSERT_NE(server2, nullptr);
  EXPECT_EQ(ping(record(server2->port(), "localhost", "")), Code::kOk);
  EXPECT_EQ(ping(record(server2->port(), "localhost", HexEncode(*spki))), Code::kCvsUnavailable);
  server2->Stop(std::chrono::milliseconds(1000));
}

// Keys made in the directory while the edge runs are used within the
// recheck interval; a bad file keeps what is loaded.
TEST(RefreshingCvsTest, PicksUpNewKeySetsAndKeepsOldOnBadFile) {
  test::TempDir tmp("astis-refresh");
  ASSERT_FALSE(tmp.path().empty());
  FakeClock clock(1764115200);
  ASSERT_TRUE(cvs::CreateOrgKeySet(tmp.path(), "tenant-a", DefaultRandom()).ok());
  RefreshingCvs port(std::make_unique<cvs::CvsService>(cvs::OrgKeySets{}, DefaultRandom()), tmp.path(), clock,
                     DefaultRandom(), /*recheck_ms=*/5000);
  ASSERT_TRUE(port.Start().ok());
  EXPECT_TRUE(port.Ping().ok());
  auto c_key = cvs::CreateOrgKeySet(tmp.path(), "tenant-c", DefaultRandom());
  ASSERT_TRUE(c_key.ok());
  const cvs::VerifiedScope in_c = cvs::testing::TestScope("tenant-c", "prod", "payments", "api");
  const capsule::SealedValue v =
      Must(capsule::Seal(Must(capsule::OrgPublicKey::FromJwk(c_key->public_jwk)),
                         capsule::Binding{"prod", "payments", "api", "db", "password"}, AsBytes("c"), DefaultRandom(),
                         clock));
  const std::string& b = v.capsule().bytes();
  std::vector<std::vector<uint8_t>> caps = {std::vector<uint8_t>(b.begin(), b.end())};
  auto recipient = Must(X25519PrivateKey::Generate(DefaultRandom()));
  auto code = [&] {
    auto r = port.Rewrap(in_c, recipient.public_key(), "session-1", caps);
    return r.ok() ? (*r)[0].code : r.status().code();
  };
  EXPECT_EQ(code(), Code::kUnknownKey);  // not re-read yet
  clock.AdvanceMillis(5000);
  EXPECT_EQ(code(), Code::kOk);
  // A bad file: refresh fails, tenant-c's set stays.
  std::ofstream(tmp.File("Bad_Name.json")) << "{}";
  clock.AdvanceMillis(5000);
  EXPECT_EQ(code(), Code::kOk);
}

// GET /v1/keys/{kid} in an edge with cvs.org_keys_dir: keys created or
// rotated by `astis org key` are served within recheck_ms, retired ones no
// longer.
TEST(RefreshingCvsTest, ServesActiveKeysOfTheDirectory) {
  test::TempDir tmp("astis-refresh-keys");
  ASSERT_FALSE(tmp.path().empty());
  FakeClock clock(1764115200);
  auto a_key = cvs::CreateOrgKeySet(tmp.path(), "tenant-a", DefaultRandom());
  ASSERT_TRUE(a_key.ok());
  RefreshingCvs port(std::make_unique<cvs::CvsService>(cvs::OrgKeySets{}, DefaultRandom()), tmp.path(), clock,
                     DefaultRandom(), /*recheck_ms=*/5000);
  ASSERT_TRUE(port.Start().ok());
  auto served = port.ActivePublicKey(a_key->kid);
  ASSERT_TRUE(served.has_value());
  EXPECT_EQ(served->kid(), a_key->kid);
  auto rotated = cvs::RotateOrgKeySet(tmp.path(), "tenant-a", DefaultRandom());
  ASSERT_TRUE(rotated.ok());
  clock.AdvanceMillis(5000);
  EXPECT_TRUE(port.ActivePublicKey(rotated->kid).has_value());
  EXPECT_FALSE(port.ActivePublicKey(a_key->kid).has_value());  // retired
}

// Start-up refusals of the ASTIS CVS's key sources: RunEdgeProcess stops
// before serving, naming the step.
TEST(EdgeStartTest, RefusesDefaultKeysTwiceAndBadKeyDirectory) {
  test::TempDir tmp("astis-edge-start");
  ASSERT_FALSE(tmp.path().empty());
  const std::string dir = tmp.File("org-keys");
  ASSERT_TRUE(std::filesystem::create_directory(dir));
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  EdgeConfig config;
  config.external_base_url = "https://127.0.0.1";
  config.store.path = tmp.File("edge.db");
  config.audit_log = tmp.File("audit.jsonl");
  config.tls = {tmp.File("missing.crt"), tmp.File("missing.key")};
  config.cvs.org_keys_dir = dir;
  config.watch.enabled = false;
  FakeClock clock(1764115200);
  // default.json in the directory and cvs.org_keys name the same keys.
  ASSERT_TRUE(cvs::CreateOrgKeySet(dir, "default", DefaultRandom()).ok());
  std::filesystem::copy_file(dir + "/default.json", tmp.File("org-keys.json"));
  config.cvs.org_keys = tmp.File("org-keys.json");
  Status twice = RunEdgeProcess(config, clock, DefaultRandom());
  EXPECT_EQ(twice.code(), Code::kInvalidArgument);
  EXPECT_EQ(twice.message().rfind("cvs: ", 0), 0u) << twice.message();
  EXPECT_NE(twice.message().find("default.json"), std::string::npos) << twice.message();
  // A file that is not a key set: refused, named, never quoted.
  config.cvs.org_keys.clear();
  std::ofstream(dir + "/tenant-x.json") << "SECRET-not-a-key-set";
  std::filesystem::permissions(dir + "/tenant-x.json",
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  Status bad = RunEdgeProcess(config, clock, DefaultRandom());
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.message().rfind("cvs: ", 0), 0u) << bad.message();
  EXPECT_NE(bad.message().find("tenant-x.json"), std::string::npos) << bad.message();
  EXPECT_EQ(bad.message().find("SECRET"), std::string::npos) << bad.message();
  // A hyok client key that cannot be read stops the start too.
  std::filesystem::remove(dir + "/tenant-x.json");
  config.hyok = {tmp.File("missing-client.pem"), tmp.File("missing-client.key")};
  Status hyok = RunEdgeProcess(config, clock, DefaultRandom());
  EXPECT_EQ(hyok.message().rfind("hyok: ", 0), 0u) << hyok.message();
}

}  // namespace
}  // namespace astis::edge
