#include "store/store_conformance.h"

#include <atomic>
#include <latch>
#include <set>
#include <thread>
#include <vector>

#include "store/testing/fault_injecting_store.h"

namespace astis::store::testing {
namespace {

constexpr int64_t kNow = 1'764'115'200;  // fixed injected time for every test

Cluster MakeCluster(const std::string& name, const std::string& mode = "strict") {
  Cluster c;
  c.name = name;
  c.issuer = "https://kubernetes.default.svc/" + name;
  c.jwks_json = R"({"keys":[]})";
  c.api_url = "https://api." + name + ".example:6443";
  c.ca_file = "/etc/astis/" + name + "/ca.crt";
  c.token_file = "/etc/astis/" + name + "/token";
  c.mode = mode;
  c.created_at = kNow;
  return c;
}

std::string Digest(char fill) { return "sha256:" + std::string(64, fill); }

Workload MakeWorkload(const std::string& cluster, const std::string& ns, const std::string& sa) {
  return Workload{cluster, ns, sa, {Digest('a'), Digest('b')}};
}

ApiKey MakeApiKey(const std::string& id, uint8_t fill = 7) {
  ApiKey k;
  k.id = id;
  k.hash.assign(32, fill);
  k.cluster = "prod";
  k.namespace_ = "payments";
  k.service_account = "api";
  k.created_at = kNow;
  return k;
}

Session MakeSession(const std::string& id, const std::string& pod_uid, const std::string& jkt,
                    int64_t expires_at = kNow + 900) {
  Session s;
  s.id = id;
  s.cluster = "prod";
  s.namespace_ = "payments";
  s.service_account = "api";
  s.pod_name = "api-" + pod_uid;
  s.pod_uid = pod_uid;
  s.jkt = jkt;
  s.recipient_jwk = R"({"kty":"OKP","crv":"X25519","x":"recipient-)" + jkt + R"("})";
  s.expires_at = expires_at;
  return s;
}

SecretBytes FilledSecret(uint8_t fill, size_t n = 32) {
  std::vector<uint8_t> bytes(n, fill);
  return SecretBytes::CopyFrom(bytes);
}

}  // namespace

void PrintTo(const StoreBackend& backend, std::ostream* os) { *os << backend.name; }

std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info) { return info.param.name; }

void StoreConformanceTest::SetUp() {
  env_ = GetParam().make_env();
  ASSERT_NE(env_, nullptr);
  auto opened = env_->Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(opened).value();
}

std::unique_ptr<Store> StoreConformanceTest::OpenAnother() {
  auto opened = env_->Open();
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  if (!opened.ok()) return nullptr;
  return std::move(opened).value();
}

std::vector<Store*> StoreConformanceTest::Replicas() {
  std::vector<Store*> stores = {store_.get()};
  if (env_->SharesState()) {
    if (replica_ == nullptr) replica_ = OpenAnother();
    if (replica_ != nullptr) stores.push_back(replica_.get());
  }
  return stores;
}

#define ASTIS_REQUIRE_SHARED_STATE()                                                   \
  if (!env_->SharesState()) GTEST_SKIP() << "backend " << GetParam().name              \
                                         << " gives each store a private database"

// ---------------------------------------------------------------- clusters

TEST_P(StoreConformanceTest, InsertClusterRefusesAnExistingName) {
  ASSERT_TRUE(store_->InsertCluster(MakeCluster("prod")).ok());
  Cluster other = MakeCluster("prod", "audit");
  other.issuer = "https://other.example";
  EXPECT_EQ(store_->InsertCluster(other).code(), Code::kAlreadyExists);
  // The registered cluster is left exactly as it was.
  auto got = store_->GetCluster(kDefaultOrg, "prod");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->issuer, "https://kubernetes.default.svc/prod");
  EXPECT_EQ(got->mode, "strict");
  // PutCluster still replaces; InsertCluster validates like PutCluster.
  ASSERT_TRUE(store_->PutCluster(other).ok());
  EXPECT_EQ(store_->GetCluster(kDefaultOrg, "prod")->issuer, "https://other.example");
  EXPECT_EQ(store_->InsertCluster(MakeCluster("qa", "permissive")).code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->GetCluster(kDefaultOrg, "qa").status().code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, ClusterPutGetListDelete) {
  ASSERT_TRUE(store_->PutCluster(MakeCluster("b-cluster")).ok());
  ASSERT_TRUE(store_->PutCluster(MakeCluster("a-cluster", "audit")).ok());
  auto got = store_->GetCluster(kDefaultOrg, "a-cluster");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->issuer, "https://kubernetes.default.svc/a-cluster");
  EXPECT_EQ(got->audience, "astis");
  EXPECT_EQ(got->mode, "audit");
  EXPECT_EQ(got->jwks_json, R"({"keys":[]})");
  EXPECT_EQ(got->created_at, kNow);

  // Replace keeps the first created_at and updates the rest.
  Cluster changed = MakeCluster("a-cluster");
  changed.issuer = "https://issuer.example";
  changed.created_at = kNow + 100;
  ASSERT_TRUE(store_->PutCluster(changed).ok());
  got = store_->GetCluster(kDefaultOrg, "a-cluster");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->issuer, "https://issuer.example");
  EXPECT_EQ(got->mode, "strict");
  EXPECT_EQ(got->created_at, kNow);

  auto list = store_->ListClusters(std::nullopt);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a-cluster");
  EXPECT_EQ((*list)[1].name, "b-cluster");

  ASSERT_TRUE(store_->DeleteCluster(kDefaultOrg, "a-cluster").ok());
  EXPECT_EQ(store_->GetCluster(kDefaultOrg, "a-cluster").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->DeleteCluster(kDefaultOrg, "a-cluster").code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, ClusterRejectsBadMode) {
  EXPECT_EQ(store_->PutCluster(MakeCluster("prod", "permissive")).code(), Code::kInvalidArgument);
  Cluster no_issuer = MakeCluster("prod");
  no_issuer.issuer.clear();
  EXPECT_EQ(store_->PutCluster(no_issuer).code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->GetCluster(kDefaultOrg, "prod").status().code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, ListClustersByIssuerFindsOnlyThatIssuer) {
  // Enough clusters that a match found by reading them all would be a bug
  // worth a test: each has its own issuer (MakeCluster), two share one.
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(store_->PutCluster(MakeCluster("c" + std::to_string(i))).ok());
  const std::string shared = "https://oidc.shared.example/id/ABC";
  Cluster z = MakeCluster("z-shared");
  z.issuer = shared;
  Cluster m = MakeCluster("m-shared", "audit");
  m.issuer = shared;
  ASSERT_TRUE(store_->PutCluster(z).ok());  // inserted before m: order is by name, not insertion
  ASSERT_TRUE(store_->PutCluster(m).ok());

  // One issuer, one cluster, every field as GetCluster returns it.
  auto one = store_->ListClustersByIssuer(kDefaultOrg, "https://kubernetes.default.svc/c7");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->size(), 1u);
  auto got = store_->GetCluster(kDefaultOrg, "c7");
  ASSERT_TRUE(got.ok());
  const Cluster& c = (*one)[0];
  EXPECT_EQ(c.name, "c7");
  EXPECT_EQ(c.issuer, got->issuer);
  EXPECT_EQ(c.audience, got->audience);
  EXPECT_EQ(c.jwks_json, got->jwks_json);
  EXPECT_EQ(c.api_url, got->api_url);
  EXPECT_EQ(c.ca_file, got->ca_file);
  EXPECT_EQ(c.token_file, got->token_file);
  EXPECT_EQ(c.mode, got->mode);
  EXPECT_EQ(c.created_at, kNow);

  // A shared issuer returns both, ordered by name.
  auto both = store_->ListClustersByIssuer(kDefaultOrg, shared);
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0].name, "m-shared");
  EXPECT_EQ((*both)[0].mode, "audit");
  EXPECT_EQ((*both)[1].name, "z-shared");

  // Exact match only: unknown, prefix, longer, other case.
  for (const std::string& unknown : {std::string("https://unknown.example"),
                                     std::string("https://kubernetes.default.svc/"),
                                     std::string("https://kubernetes.default.svc/c7/"),
                                     std::string("https://kubernetes.default.svc/c"),
                                     std::string("HTTPS://kubernetes.default.svc/c7"),
                                     std::string("https://oidc.shared.example/id/abc")}) {
    auto none = store_->ListClustersByIssuer(kDefaultOrg, unknown);
    ASSERT_TRUE(none.ok()) << unknown << ": " << none.status().ToString();
    EXPECT_TRUE(none->empty()) << unknown;
  }

  // The lookup follows PutCluster changing an issuer...
  Cluster moved = MakeCluster("c7");
  moved.issuer = shared;
  ASSERT_TRUE(store_->PutCluster(moved).ok());
  auto old_issuer = store_->ListClustersByIssuer(kDefaultOrg, "https://kubernetes.default.svc/c7");
  ASSERT_TRUE(old_issuer.ok());
  EXPECT_TRUE(old_issuer->empty());
  auto three = store_->ListClustersByIssuer(kDefaultOrg, shared);
  ASSERT_TRUE(three.ok());
  ASSERT_EQ(three->size(), 3u);
  EXPECT_EQ((*three)[0].name, "c7");
  EXPECT_EQ((*three)[1].name, "m-shared");
  EXPECT_EQ((*three)[2].name, "z-shared");

  // ...and DeleteCluster.
  ASSERT_TRUE(store_->DeleteCluster(kDefaultOrg, "m-shared").ok());
  ASSERT_TRUE(store_->DeleteCluster(kDefaultOrg, "c7").ok());
  auto left = store_->ListClustersByIssuer(kDefaultOrg, shared);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].name, "z-shared");
  ASSERT_TRUE(store_->DeleteCluster(kDefaultOrg, "z-shared").ok());
  left = store_->ListClustersByIssuer(kDefaultOrg, shared);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());

  // Other clusters are untouched, and so is ListClusters.
  auto c8 = store_->ListClustersByIssuer(kDefaultOrg, "https://kubernetes.default.svc/c8");
  ASSERT_TRUE(c8.ok());
  ASSERT_EQ(c8->size(), 1u);
  EXPECT_EQ((*c8)[0].name, "c8");
  auto all = store_->ListClusters(std::nullopt);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 39u);
}

TEST_P(StoreConformanceTest, ListClustersByIssuerOddIssuerIsEmpty) {
  // The edge passes a token's iss before checking the token, so whatever a
  // token can carry is a lookup that finds nothing, not an error.
  ASSERT_TRUE(store_->PutCluster(MakeCluster("prod")).ok());
  const std::string real = "https://kubernetes.default.svc/prod";
  for (const std::string& odd : {std::string(), std::string(kMaxTextLength + 1, 'i'), real + std::string(1, '\0'),
                                 std::string("https://a\0b", 11), std::string("\xff\xfe"), std::string("\xc0\xaf"),
                                 std::string(" ") + real}) {
    auto none = store_->ListClustersByIssuer(kDefaultOrg, odd);
    ASSERT_TRUE(none.ok()) << none.status().ToString();
    EXPECT_TRUE(none->empty());
  }
  // Non-ASCII UTF-8 is an ordinary issuer.
  Cluster utf8 = MakeCluster("utf8");
  utf8.issuer = "https://issuer.example/\xc3\xa9t\xe2\x82\xac";
  ASSERT_TRUE(store_->PutCluster(utf8).ok());
  auto found = store_->ListClustersByIssuer(kDefaultOrg, utf8.issuer);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].name, "utf8");
  // The longest issuer PutCluster accepts is stored and found, even one that
  // does not compress (an index entry that large must not fail the write).
  Cluster longest = MakeCluster("longest");
  longest.issuer.clear();
  uint32_t x = 12345;
  for (size_t i = 0; i < kMaxTextLength; ++i) {
    x = x * 1664525u + 1013904223u;
    longest.issuer.push_back(static_cast<char>('!' + (x >> 24) % 94));
  }
  Status put_longest = store_->PutCluster(longest);
  ASSERT_TRUE(put_longest.ok()) << put_longest.ToString();
  found = store_->ListClustersByIssuer(kDefaultOrg, longest.issuer);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].name, "longest");
}

TEST_P(StoreConformanceTest, ListClustersByIssuerSeenByAnotherStore) {
  ASTIS_REQUIRE_SHARED_STATE();
  std::unique_ptr<Store> replica = OpenAnother();
  ASSERT_NE(replica, nullptr);
  ASSERT_TRUE(store_->PutCluster(MakeCluster("prod")).ok());
  auto found = replica->ListClustersByIssuer(kDefaultOrg, "https://kubernetes.default.svc/prod");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].name, "prod");
  Cluster moved = MakeCluster("prod");
  moved.issuer = "https://issuer.example/moved";
  ASSERT_TRUE(store_->PutCluster(moved).ok());
  found = replica->ListClustersByIssuer(kDefaultOrg, "https://kubernetes.default.svc/prod");
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty());
  found = replica->ListClustersByIssuer(kDefaultOrg, "https://issuer.example/moved");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 1u);
}

// ---------------------------------------------------------------- workloads

TEST_P(StoreConformanceTest, WorkloadPutGetListDelete) {
  ASSERT_TRUE(store_->PutCluster(MakeCluster("prod")).ok());
  ASSERT_TRUE(store_->PutCluster(MakeCluster("stage")).ok());
  ASSERT_TRUE(store_->PutWorkload(MakeWorkload("prod", "payments", "api")).ok());
  ASSERT_TRUE(store_->PutWorkload(Workload{"stage", "payments", "api", {}}).ok());

  auto got = store_->GetWorkload(kDefaultOrg, "prod", "payments", "api");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->image_digests, (std::vector<std::string>{Digest('a'), Digest('b')}));

  Workload replaced = MakeWorkload("prod", "payments", "api");
  replaced.image_digests = {Digest('c')};
  ASSERT_TRUE(store_->PutWorkload(replaced).ok());
  got = store_->GetWorkload(kDefaultOrg, "prod", "payments", "api");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->image_digests, std::vector<std::string>{Digest('c')});

  auto all = store_->ListWorkloads(std::nullopt, std::nullopt);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  auto prod = store_->ListWorkloads(kDefaultOrg, std::string_view("prod"));
  ASSERT_TRUE(prod.ok());
  ASSERT_EQ(prod->size(), 1u);
  EXPECT_EQ((*prod)[0].cluster, "prod");
  auto stage = store_->GetWorkload(kDefaultOrg, "stage", "payments", "api");
  ASSERT_TRUE(stage.ok());
  EXPECT_TRUE(stage->image_digests.empty());

  ASSERT_TRUE(store_->DeleteWorkload(kDefaultOrg, "prod", "payments", "api").ok());
  EXPECT_EQ(store_->GetWorkload(kDefaultOrg, "prod", "payments", "api").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->DeleteWorkload(kDefaultOrg, "prod", "payments", "api").code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, WorkloadRejectsBadDigest) {
  ASSERT_TRUE(store_->PutCluster(MakeCluster("prod")).ok());
  const std::vector<std::string> bad = {
      "sha256:" + std::string(63, 'a'),        // short
      "sha256:" + std::string(65, 'a'),        // long
      "sha256:" + std::string(64, 'A'),        // upper-case hex
      "sha256:" + std::string(63, 'a') + "g",  // non-hex
      "sha512:" + std::string(64, 'a'),        // other algorithm
      std::string(64, 'a'),                    // no prefix
      "nginx:latest",                          // a tag
      "",                                      // empty
      Digest('a') + " " + Digest('b'),         // two digests in one
  };
  for (const std::string& d : bad) {
    Workload w = MakeWorkload("prod", "payments", "api");
    w.image_digests.push_back(d);
    EXPECT_EQ(store_->PutWorkload(w).code(), Code::kInvalidArgument) << d;
  }
  EXPECT_EQ(store_->GetWorkload(kDefaultOrg, "prod", "payments", "api").status().code(), Code::kNotFound);
  EXPECT_TRUE(IsValidImageDigest(Digest('0')));
}

TEST_P(StoreConformanceTest, WorkloadNeedsCluster) {
  EXPECT_EQ(store_->PutWorkload(MakeWorkload("nowhere", "payments", "api")).code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, DeleteClusterRemovesWorkloads) {
  ASSERT_TRUE(store_->PutCluster(MakeCluster("prod")).ok());
  ASSERT_TRUE(store_->PutWorkload(MakeWorkload("prod", "payments", "api")).ok());
  ASSERT_TRUE(store_->DeleteCluster(kDefaultOrg, "prod").ok());
  auto all = store_->ListWorkloads(std::nullopt, std::nullopt);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

// ---------------------------------------------------------------- API keys

TEST_P(StoreConformanceTest, ApiKeyCreateGetList) {
  ApiKey k = MakeApiKey("key00001");
  k.expires_at = kNow + 3600;
  ASSERT_TRUE(store_->CreateApiKey(k).ok());
  ASSERT_TRUE(store_->CreateApiKey(MakeApiKey("key00000", 9)).ok());
  auto got = store_->GetApiKey("key00001");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->hash, k.hash);
  EXPECT_EQ(got->cluster, "prod");
  EXPECT_EQ(got->namespace_, "payments");
  EXPECT_EQ(got->service_account, "api");
  EXPECT_EQ(got->expires_at, kNow + 3600);
  EXPECT_EQ(got->revoked_at, 0);
  EXPECT_EQ(store_->GetApiKey("missing1").status().code(), Code::kNotFound);
  auto list = store_->ListApiKeys(std::nullopt);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "key00000");
}

TEST_P(StoreConformanceTest, ApiKeyRevoke) {
  ASSERT_TRUE(store_->CreateApiKey(MakeApiKey("key00001")).ok());
  ASSERT_TRUE(store_->RevokeApiKey("key00001", kNow + 10).ok());
  auto got = store_->GetApiKey("key00001");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->revoked_at, kNow + 10);
  // A second revocation keeps the first time.
  ASSERT_TRUE(store_->RevokeApiKey("key00001", kNow + 20).ok());
  got = store_->GetApiKey("key00001");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->revoked_at, kNow + 10);
  EXPECT_EQ(store_->RevokeApiKey("missing1", kNow).code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, ApiKeyDuplicateIdRefused) {
  ASSERT_TRUE(store_->CreateApiKey(MakeApiKey("key00001", 1)).ok());
  EXPECT_EQ(store_->CreateApiKey(MakeApiKey("key00001", 2)).code(), Code::kAlreadyExists);
  auto got = store_->GetApiKey("key00001");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->hash, std::vector<uint8_t>(32, 1));  // the first record is untouched
}

TEST_P(StoreConformanceTest, ApiKeyRejectsBadHash) {
  ApiKey k = MakeApiKey("key00001");
  k.hash.resize(31);
  EXPECT_EQ(store_->CreateApiKey(k).code(), Code::kInvalidArgument);
  k.hash.clear();
  EXPECT_EQ(store_->CreateApiKey(k).code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->GetApiKey("key00001").status().code(), Code::kNotFound);
}

// ---------------------------------------------------------------- sessions

TEST_P(StoreConformanceTest, EnrollCreatesSession) {
  auto r = store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, EnrollOutcome::kCreated);
  EXPECT_EQ(r->session.id, "s1");
  EXPECT_EQ(r->session.created_at, kNow);
  auto got = store_->GetSession("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->jkt, "jkt-A");
  EXPECT_EQ(got->pod_uid, "uid-1");
  EXPECT_EQ(got->pod_name, "api-uid-1");
  EXPECT_EQ(got->expires_at, kNow + 900);
  EXPECT_FALSE(got->revoked);
  EXPECT_TRUE(got->IsActive(kNow));
  EXPECT_EQ(store_->GetSession("nope").status().code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, EnrollSameKeyExtends) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A", kNow + 100), kNow).ok());
  Session again = MakeSession("s2", "uid-1", "jkt-A", kNow + 700);
  again.recipient_jwk = R"({"kty":"OKP","crv":"X25519","x":"new"})";
  auto r = store_->EnrollSession(again, kNow + 50);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, EnrollOutcome::kExtended);
  EXPECT_EQ(r->session.id, "s1");  // the existing id, not the candidate's
  EXPECT_EQ(r->session.expires_at, kNow + 700);
  auto got = store_->GetSession("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->expires_at, kNow + 700);
  EXPECT_EQ(got->recipient_jwk, again.recipient_jwk);
  EXPECT_EQ(store_->GetSession("s2").status().code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, EnrollDifferentKeyWhilePinnedConflicts) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).ok());
  auto r = store_->EnrollSession(MakeSession("s2", "uid-1", "jkt-B"), kNow + 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, EnrollOutcome::kPinnedConflict);
  EXPECT_EQ(r->session.id, "s1");
  EXPECT_EQ(r->session.jkt, "jkt-A");
  EXPECT_EQ(store_->GetSession("s2").status().code(), Code::kNotFound);
  // The same pod UID in another cluster is another pod.
  Session other = MakeSession("s3", "uid-1", "jkt-B");
  other.cluster = "stage";
  auto r2 = store_->EnrollSession(other, kNow + 1);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->outcome, EnrollOutcome::kCreated);
}

TEST_P(StoreConformanceTest, EnrollAfterExpiryAllowsNewKey) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A", kNow + 100), kNow).ok());
  auto before = store_->EnrollSession(MakeSession("s2", "uid-1", "jkt-B", kNow + 500), kNow + 99);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->outcome, EnrollOutcome::kPinnedConflict);
  auto after = store_->EnrollSession(MakeSession("s2", "uid-1", "jkt-B", kNow + 500), kNow + 100);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->outcome, EnrollOutcome::kCreated);
  EXPECT_EQ(after->session.id, "s2");
}

TEST_P(StoreConformanceTest, EnrollAfterRevokeAllowsNewKey) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).ok());
  ASSERT_TRUE(store_->EndSession("s1").ok());
  auto r = store_->EnrollSession(MakeSession("s2", "uid-1", "jkt-B"), kNow + 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, EnrollOutcome::kCreated);
  auto old = store_->GetSession("s1");
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->revoked);
}

TEST_P(StoreConformanceTest, EnrollRejectsInvalidCandidate) {
  EXPECT_EQ(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A", kNow), kNow).status().code(),
            Code::kInvalidArgument);  // expires_at not after now
  EXPECT_EQ(store_->EnrollSession(MakeSession("s1", "", "jkt-A"), kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->EnrollSession(MakeSession("s1", "uid-1", ""), kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->EnrollSession(MakeSession("", "uid-1", "jkt-A"), kNow).status().code(), Code::kInvalidArgument);
  auto count = store_->CountActiveSessions(kNow);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 0);
}

TEST_P(StoreConformanceTest, EnrollDuplicateIdRefused) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).ok());
  EXPECT_EQ(store_->EnrollSession(MakeSession("s1", "uid-2", "jkt-B"), kNow).status().code(), Code::kAlreadyExists);
  auto got = store_->GetSession("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->pod_uid, "uid-1");
}

// Runs `threads` callers, each enrolling pod uid-<round> with its own key
// through stores[i % stores.size()], and checks exactly one wins per round.
void ExpectExactlyOneEnrollWins(const std::vector<Store*>& stores, int rounds, int threads) {
  for (int round = 0; round < rounds; ++round) {
    std::atomic<int> created{0}, conflicts{0}, errors{0};
    std::latch start(threads);
    std::vector<std::thread> workers;
    const std::string uid = "uid-" + std::to_string(round);
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        Session s = MakeSession("s-" + std::to_string(round) + "-" + std::to_string(t), uid, "jkt-" + std::to_string(t));
        start.arrive_and_wait();
        auto r = stores[static_cast<size_t>(t) % stores.size()]->EnrollSession(s, kNow);
        if (!r.ok()) {
          ++errors;
        } else if (r->outcome == EnrollOutcome::kCreated) {
          ++created;
        } else if (r->outcome == EnrollOutcome::kPinnedConflict) {
          ++conflicts;
        }
      });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(errors.load(), 0) << "round " << round;
    EXPECT_EQ(created.load(), 1) << "round " << round;
    EXPECT_EQ(conflicts.load(), threads - 1) << "round " << round;
    SessionFilter f;
    f.pod_uid = uid;
    f.active_at = kNow;
    auto active = stores[0]->ListSessions(f);
    ASSERT_TRUE(active.ok());
    EXPECT_EQ(active->size(), 1u) << "round " << round;
  }
}

TEST_P(StoreConformanceTest, ConcurrentEnrollExactlyOneWins) {
  ExpectExactlyOneEnrollWins({store_.get()}, 10, 8);
}

TEST_P(StoreConformanceTest, ConcurrentEnrollAcrossStoresExactlyOneWins) {
  ASTIS_REQUIRE_SHARED_STATE();
  // Two "replicas": separate Store objects (connections) on one database.
  std::unique_ptr<Store> second = OpenAnother();
  ASSERT_NE(second, nullptr);
  ExpectExactlyOneEnrollWins({store_.get(), second.get()}, 10, 6);
}

// ---------------------------------------------------------------- pin release on restart

TEST_P(StoreConformanceTest, EnrollRecordsPodRestarts) {
  Session first = MakeSession("s1", "uid-1", "jkt-A");
  first.pod_restarts = 2;
  auto created = store_->EnrollSession(first, kNow);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->session.pod_restarts, 2);
  auto got = store_->GetSession("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->pod_restarts, 2);
  // A renewal by the live holder raises the record to what it has outlived...
  Session renew = MakeSession("s2", "uid-1", "jkt-A");
  renew.pod_restarts = 5;
  auto extended = store_->EnrollSession(renew, kNow + 1);
  ASSERT_TRUE(extended.ok());
  EXPECT_EQ(extended->outcome, EnrollOutcome::kExtended);
  EXPECT_EQ(extended->session.pod_restarts, 5);
  // ...and an older read never lowers it.
  renew.pod_restarts = 3;
  extended = store_->EnrollSession(renew, kNow + 2);
  ASSERT_TRUE(extended.ok());
  EXPECT_EQ(extended->session.pod_restarts, 5);
  got = store_->GetSession("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->pod_restarts, 5);
  SessionFilter f;
  f.pod_uid = "uid-1";
  auto listed = store_->ListSessions(f);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].pod_restarts, 5);
  // Sessions enrolled without a fingerprint record 0; a negative one is refused.
  auto plain = store_->EnrollSession(MakeSession("s3", "uid-3", "jkt-C"), kNow);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(store_->GetSession("s3")->pod_restarts, 0);
  Session negative = MakeSession("s4", "uid-4", "jkt-D");
  negative.pod_restarts = -1;
  EXPECT_EQ(store_->EnrollSession(negative, kNow).status().code(), Code::kInvalidArgument);
}

TEST_P(StoreConformanceTest, ReleasePinIfRestartedComparesAndSwaps) {
  Session holder = MakeSession("s1", "uid-1", "jkt-A", kNow + 100);
  holder.pod_restarts = 1;
  ASSERT_TRUE(store_->EnrollSession(holder, kNow).ok());
  auto release = [&](std::string_view cluster, std::string_view uid, std::string_view id, int64_t restarts,
                     int64_t now) {
    auto r = store_->ReleasePinIfRestarted(kDefaultOrg, cluster, uid, id, restarts, now);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && *r;
  };
  // No restart since the pin was taken (equal or older count): the pin holds.
  EXPECT_FALSE(release("prod", "uid-1", "s1", 1, kNow + 1));
  EXPECT_FALSE(release("prod", "uid-1", "s1", 0, kNow + 1));
  // Another session, pod or cluster than the holder's: nothing changes.
  EXPECT_FALSE(release("prod", "uid-1", "s9", 2, kNow + 1));
  EXPECT_FALSE(release("prod", "uid-2", "s1", 2, kNow + 1));
  EXPECT_FALSE(release("stage", "uid-1", "s1", 2, kNow + 1));
  EXPECT_TRUE(store_->GetSession("s1")->IsActive(kNow + 1));
  auto pinned = store_->EnrollSession(MakeSession("s2", "uid-1", "jkt-B"), kNow + 1);
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->outcome, EnrollOutcome::kPinnedConflict);
  // A restart: the holder is revoked once; the second caller finds nothing to release.
  EXPECT_TRUE(release("prod", "uid-1", "s1", 2, kNow + 1));
  EXPECT_FALSE(release("prod", "uid-1", "s1", 3, kNow + 1));
  auto old = store_->GetSession("s1");
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->revoked);
  Session next = MakeSession("s2", "uid-1", "jkt-B");
  next.pod_restarts = 2;
  auto created = store_->EnrollSession(next, kNow + 1);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->outcome, EnrollOutcome::kCreated);
  EXPECT_EQ(created->session.pod_restarts, 2);
  // An expired holder is not "released" (it pins nothing already).
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s3", "uid-3", "jkt-C", kNow + 10), kNow).ok());
  EXPECT_FALSE(release("prod", "uid-3", "s3", 1, kNow + 10));
  EXPECT_FALSE(store_->GetSession("s3")->revoked);
  // Bad arguments change nothing.
  EXPECT_EQ(store_->ReleasePinIfRestarted(kDefaultOrg, "", "uid-1", "s2", 9, kNow).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->ReleasePinIfRestarted(kDefaultOrg, "prod", "", "s2", 9, kNow).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->ReleasePinIfRestarted(kDefaultOrg, "prod", "uid-1", "", 9, kNow).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->ReleasePinIfRestarted(kDefaultOrg, "prod", "uid-1", "s2", -1, kNow).status().code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(store_->GetSession("s2")->IsActive(kNow + 1));
}

// After one restart, several new keys race for the pod (each: release the
// holder it saw, then enroll), spread over the replicas: at most one release
// succeeds and exactly one new key is pinned.
TEST_P(StoreConformanceTest, ConcurrentReleaseAfterRestartExactlyOneWins) {
  const std::vector<Store*> stores = Replicas();
  ASSERT_FALSE(HasFailure());
  constexpr int kThreads = 6;
  for (int round = 0; round < 5; ++round) {
    const std::string uid = "uid-r" + std::to_string(round);
    const std::string holder = "h" + std::to_string(round);
    ASSERT_TRUE(store_->EnrollSession(MakeSession(holder, uid, "jkt-dead"), kNow).ok());
    std::atomic<int> released{0}, created{0}, conflicts{0}, errors{0};
    std::latch start(kThreads);
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        Store* st = stores[static_cast<size_t>(t) % stores.size()];
        Session s =
            MakeSession("c-" + std::to_string(round) + "-" + std::to_string(t), uid, "jkt-" + std::to_string(t));
        s.pod_restarts = 1;
        start.arrive_and_wait();
        auto r = st->ReleasePinIfRestarted(kDefaultOrg, "prod", uid, holder, 1, kNow + 1);
        if (!r.ok()) {
          ++errors;
          return;
        }
        if (*r) ++released;
        auto e = st->EnrollSession(s, kNow + 1);
        if (!e.ok()) {
          ++errors;
        } else if (e->outcome == EnrollOutcome::kCreated) {
          ++created;
        } else if (e->outcome == EnrollOutcome::kPinnedConflict) {
          ++conflicts;
        }
      });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(errors.load(), 0) << "round " << round;
    EXPECT_EQ(released.load(), 1) << "round " << round;
    EXPECT_EQ(created.load(), 1) << "round " << round;
    EXPECT_EQ(conflicts.load(), kThreads - 1) << "round " << round;
    SessionFilter f;
    f.pod_uid = uid;
    f.active_at = kNow + 1;
    auto active = store_->ListSessions(f);
    ASSERT_TRUE(active.ok());
    EXPECT_EQ(active->size(), 1u) << "round " << round;
  }
}

TEST_P(StoreConformanceTest, RotateCompareAndSwap) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).ok());
  auto rotated = store_->RotateSessionKey("s1", "jkt-A", "jkt-B", R"({"x":"B"})", kNow + 5);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(rotated->jkt, "jkt-B");
  EXPECT_EQ(rotated->recipient_jwk, R"({"x":"B"})");
  // The old key no longer matches: compare fails, nothing changes.
  auto stale = store_->RotateSessionKey("s1", "jkt-A", "jkt-C", R"({"x":"C"})", kNow + 6);
  EXPECT_EQ(stale.status().code(), Code::kFailedPrecondition);
  auto got = store_->GetSession("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->jkt, "jkt-B");
  // The pin moved: enrolling with the old key now conflicts.
  auto enroll_old = store_->EnrollSession(MakeSession("s2", "uid-1", "jkt-A"), kNow + 7);
  ASSERT_TRUE(enroll_old.ok());
  EXPECT_EQ(enroll_old->outcome, EnrollOutcome::kPinnedConflict);
}

TEST_P(StoreConformanceTest, RotateRefusesEndedOrExpiredSession) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A", kNow + 100), kNow).ok());
  EXPECT_EQ(store_->RotateSessionKey("s1", "jkt-A", "jkt-B", "{}", kNow + 100).status().code(), Code::kNotFound);
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s2", "uid-2", "jkt-A"), kNow).ok());
  ASSERT_TRUE(store_->EndSession("s2").ok());
  EXPECT_EQ(store_->RotateSessionKey("s2", "jkt-A", "jkt-B", "{}", kNow).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->RotateSessionKey("none", "jkt-A", "jkt-B", "{}", kNow).status().code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, ConcurrentRotateExactlyOneWins) {
  const std::vector<Store*> stores = Replicas();
  ASSERT_FALSE(HasFailure());
  constexpr int kThreads = 8;
  for (int round = 0; round < 5; ++round) {
    const std::string id = "s" + std::to_string(round);
    ASSERT_TRUE(store_->EnrollSession(MakeSession(id, "uid-" + id, "jkt-old"), kNow).ok());
    std::atomic<int> won{0}, lost{0}, other{0};
    std::latch start(kThreads);
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        start.arrive_and_wait();
        auto r = stores[static_cast<size_t>(t) % stores.size()]->RotateSessionKey(
            id, "jkt-old", "jkt-new-" + std::to_string(t), "{}", kNow + 1);
        if (r.ok()) {
          ++won;
        } else if (r.status().code() == Code::kFailedPrecondition) {
          ++lost;
        } else {
          ++other;
        }
      });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(won.load(), 1);
    EXPECT_EQ(lost.load(), kThreads - 1);
    EXPECT_EQ(other.load(), 0);
  }
}

TEST_P(StoreConformanceTest, EndSessionIdempotent) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).ok());
  ASSERT_TRUE(store_->EndSession("s1").ok());
  ASSERT_TRUE(store_->EndSession("s1").ok());
  EXPECT_TRUE(store_->EndSession("never-existed").ok());
  auto got = store_->GetSession("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->revoked);
  EXPECT_FALSE(got->IsActive(kNow));
}

TEST_P(StoreConformanceTest, RevokeSessionsForPodByUidAndName) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).ok());
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s2", "uid-2", "jkt-B"), kNow).ok());
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s3", "uid-3", "jkt-C"), kNow).ok());

  auto by_uid = store_->RevokeSessionsForPod(PodRef{"prod", "payments", "", "uid-1"});
  ASSERT_TRUE(by_uid.ok());
  EXPECT_EQ(*by_uid, 1);
  auto by_name = store_->RevokeSessionsForPod(PodRef{"prod", "payments", "api-uid-2", ""});
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(*by_name, 1);
  auto again = store_->RevokeSessionsForPod(PodRef{"prod", "payments", "", "uid-1"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  auto wrong_ns = store_->RevokeSessionsForPod(PodRef{"prod", "other", "", "uid-3"});
  ASSERT_TRUE(wrong_ns.ok());
  EXPECT_EQ(*wrong_ns, 0);
  EXPECT_EQ(store_->RevokeSessionsForPod(PodRef{"prod", "payments", "", ""}).status().code(),
            Code::kInvalidArgument);

  auto count = store_->CountActiveSessions(kNow);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1);
  auto s3 = store_->GetSession("s3");
  ASSERT_TRUE(s3.ok());
  EXPECT_FALSE(s3->revoked);
}

TEST_P(StoreConformanceTest, ListSessionsFilters) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A", kNow + 10), kNow).ok());
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s2", "uid-2", "jkt-B"), kNow).ok());
  Session other_ns = MakeSession("s3", "uid-3", "jkt-C");
  other_ns.namespace_ = "billing";
  ASSERT_TRUE(store_->EnrollSession(other_ns, kNow).ok());

  auto all = store_->ListSessions(SessionFilter{});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, "s1");

  SessionFilter by_ns;
  by_ns.namespace_ = "billing";
  auto billing = store_->ListSessions(by_ns);
  ASSERT_TRUE(billing.ok());
  ASSERT_EQ(billing->size(), 1u);
  EXPECT_EQ((*billing)[0].id, "s3");

  SessionFilter active;
  active.active_at = kNow + 10;  // s1 has expired by then
  auto live = store_->ListSessions(active);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->size(), 2u);

  SessionFilter other_cluster;
  other_cluster.cluster = "stage";
  auto none = store_->ListSessions(other_cluster);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// The pod watch's query (PodMonitor::OnChange): one pod's sessions by name.
TEST_P(StoreConformanceTest, ListSessionsByPodName) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).ok());
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s2", "uid-2", "jkt-B"), kNow).ok());
  Session same_name_other_ns = MakeSession("s3", "uid-3", "jkt-C");
  same_name_other_ns.pod_name = "api-uid-1";
  same_name_other_ns.namespace_ = "billing";
  ASSERT_TRUE(store_->EnrollSession(same_name_other_ns, kNow).ok());
  Session replaced = MakeSession("s4", "uid-4", "jkt-D", kNow + 5);  // an earlier pod of that name
  replaced.pod_name = "api-uid-1";
  ASSERT_TRUE(store_->EnrollSession(replaced, kNow).ok());

  SessionFilter one_pod;
  one_pod.cluster = "prod";
  one_pod.namespace_ = "payments";
  one_pod.pod_name = "api-uid-1";
  auto both = store_->ListSessions(one_pod);
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0].id, "s1");
  EXPECT_EQ((*both)[1].id, "s4");
  one_pod.active_at = kNow + 10;  // s4 has expired by then
  auto live = store_->ListSessions(one_pod);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].id, "s1");
  // The name alone, across namespaces (the general form of the query).
  SessionFilter by_name;
  by_name.pod_name = "api-uid-1";
  auto everywhere = store_->ListSessions(by_name);
  ASSERT_TRUE(everywhere.ok());
  EXPECT_EQ(everywhere->size(), 3u);
  by_name.pod_name = "no-such-pod";
  auto none = store_->ListSessions(by_name);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreConformanceTest, CountActiveSessions) {
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A", kNow + 10), kNow).ok());
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s2", "uid-2", "jkt-B", kNow + 20), kNow).ok());
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s3", "uid-3", "jkt-C", kNow + 20), kNow).ok());
  ASSERT_TRUE(store_->EndSession("s3").ok());
  auto at0 = store_->CountActiveSessions(kNow);
  auto at10 = store_->CountActiveSessions(kNow + 10);
  auto at20 = store_->CountActiveSessions(kNow + 20);
  ASSERT_TRUE(at0.ok() && at10.ok() && at20.ok());
  EXPECT_EQ(*at0, 2);
  EXPECT_EQ(*at10, 1);
  EXPECT_EQ(*at20, 0);
}

// ---------------------------------------------------------------- DPoP jti

TEST_P(StoreConformanceTest, JtiReplayRefused) {
  auto first = store_->InsertJti("jkt-A", "jti-1", kNow + 120, kNow);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(*first);
  auto replay = store_->InsertJti("jkt-A", "jti-1", kNow + 150, kNow + 30);
  ASSERT_TRUE(replay.ok());
  EXPECT_FALSE(*replay);
  // Scoped by key: the same jti under another jkt is not a replay.
  auto other_key = store_->InsertJti("jkt-B", "jti-1", kNow + 120, kNow);
  ASSERT_TRUE(other_key.ok());
  EXPECT_TRUE(*other_key);
}

TEST_P(StoreConformanceTest, JtiAfterExpiryAccepted) {
  ASSERT_TRUE(store_->InsertJti("jkt-A", "jti-1", kNow + 120, kNow).ok());
  ASSERT_TRUE(store_->InsertJti("jkt-A", "jti-2", kNow + 120, kNow).ok());
  // Expired but not yet purged: accepted again (re-armed).
  auto before_purge = store_->InsertJti("jkt-A", "jti-1", kNow + 300, kNow + 120);
  ASSERT_TRUE(before_purge.ok());
  EXPECT_TRUE(*before_purge);
  // After a purge the entry is gone and the pair is accepted.
  auto purged = store_->PurgeExpired(kNow + 120, 100);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(purged->jtis, 1);  // jti-2 only; jti-1 was re-armed until kNow + 300
  auto after_purge = store_->InsertJti("jkt-A", "jti-2", kNow + 240, kNow + 121);
  ASSERT_TRUE(after_purge.ok());
  EXPECT_TRUE(*after_purge);
  auto still_replay = store_->InsertJti("jkt-A", "jti-1", kNow + 400, kNow + 121);
  ASSERT_TRUE(still_replay.ok());
  EXPECT_FALSE(*still_replay);
}

TEST_P(StoreConformanceTest, ConcurrentJtiExactlyOneInserted) {
  const std::vector<Store*> stores = Replicas();
  ASSERT_FALSE(HasFailure());
  constexpr int kThreads = 8;
  for (int round = 0; round < 10; ++round) {
    std::atomic<int> inserted{0}, replays{0}, errors{0};
    std::latch start(kThreads);
    std::vector<std::thread> workers;
    const std::string jti = "jti-" + std::to_string(round);
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        start.arrive_and_wait();
        auto r = stores[static_cast<size_t>(t) % stores.size()]->InsertJti("jkt-A", jti, kNow + 60, kNow);
        if (!r.ok()) {
          ++errors;
        } else if (*r) {
          ++inserted;
        } else {
          ++replays;
        }
      });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(inserted.load(), 1);
    EXPECT_EQ(replays.load(), kThreads - 1);
  }
}

TEST_P(StoreConformanceTest, JtiRejectsBadInput) {
  EXPECT_EQ(store_->InsertJti("", "jti", kNow + 1, kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->InsertJti("jkt", "", kNow + 1, kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->InsertJti("jkt", std::string(kMaxJtiLength + 1, 'x'), kNow + 1, kNow).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->InsertJti("jkt", "jti", kNow, kNow).status().code(), Code::kInvalidArgument);
}

// ---------------------------------------------------------------- nonce secret

TEST_P(StoreConformanceTest, NonceSecretCreatedOnce) {
  EXPECT_EQ(store_->GetNonceSecrets().status().code(), Code::kNotFound);
  auto first = store_->GetOrCreateNonceSecret(FilledSecret(1), kNow);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(*first == FilledSecret(1));
  auto second = store_->GetOrCreateNonceSecret(FilledSecret(2), kNow + 1);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(*second == FilledSecret(1));  // the candidate lost
  auto both = store_->GetNonceSecrets();
  ASSERT_TRUE(both.ok());
  EXPECT_TRUE(both->current == FilledSecret(1));
  EXPECT_FALSE(both->previous.has_value());
}

TEST_P(StoreConformanceTest, NonceSecretRotationKeepsPrevious) {
  ASSERT_TRUE(store_->GetOrCreateNonceSecret(FilledSecret(1), kNow).ok());
  ASSERT_TRUE(store_->RotateNonceSecret(FilledSecret(2, 64), kNow + 10).ok());
  auto s = store_->GetNonceSecrets();
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->current == FilledSecret(2, 64));
  ASSERT_TRUE(s->previous.has_value());
  EXPECT_TRUE(*s->previous == FilledSecret(1));
  ASSERT_TRUE(store_->RotateNonceSecret(FilledSecret(3), kNow + 20).ok());
  s = store_->GetNonceSecrets();
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->current == FilledSecret(3));
  ASSERT_TRUE(s->previous.has_value());
  EXPECT_TRUE(*s->previous == FilledSecret(2, 64));  // only one previous is kept
  auto current = store_->GetOrCreateNonceSecret(FilledSecret(9), kNow + 30);
  ASSERT_TRUE(current.ok());
  EXPECT_TRUE(*current == FilledSecret(3));
}

TEST_P(StoreConformanceTest, NonceSecretRejectsBadLength) {
  EXPECT_EQ(store_->GetOrCreateNonceSecret(FilledSecret(1, 31), kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->GetOrCreateNonceSecret(FilledSecret(1, 65), kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->RotateNonceSecret(SecretBytes(), kNow).code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->GetNonceSecrets().status().code(), Code::kNotFound);
}

TEST_P(StoreConformanceTest, NonceSecretSharedAcrossStores) {
  ASTIS_REQUIRE_SHARED_STATE();
  std::unique_ptr<Store> replica = OpenAnother();
  ASSERT_NE(replica, nullptr);
  constexpr int kThreads = 6;
  std::vector<SecretBytes> seen(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      Store* s = (t % 2 == 0) ? store_.get() : replica.get();
      start.arrive_and_wait();
      auto r = s->GetOrCreateNonceSecret(FilledSecret(static_cast<uint8_t>(t + 1)), kNow);
      if (r.ok()) seen[static_cast<size_t>(t)] = std::move(r).value();
    });
  }
  for (auto& w : workers) w.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[static_cast<size_t>(t)].size(), 32u) << "caller " << t << " failed";
    EXPECT_TRUE(seen[static_cast<size_t>(t)] == seen[0]) << "caller " << t << " got another secret";
  }
}

// ---------------------------------------------------------------- rate limits

TEST_P(StoreConformanceTest, RateLimitWindow) {
  for (int i = 0; i < 3; ++i) {
    auto r = store_->ConsumeRate("apikey:k1", kNow, kNow + 60, 3);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(*r) << "request " << i;
  }
  auto fourth = store_->ConsumeRate("apikey:k1", kNow, kNow + 60, 3);
  ASSERT_TRUE(fourth.ok());
  EXPECT_FALSE(*fourth);
  auto other_bucket = store_->ConsumeRate("apikey:k2", kNow, kNow + 60, 3);
  ASSERT_TRUE(other_bucket.ok());
  EXPECT_TRUE(*other_bucket);
  auto next_window = store_->ConsumeRate("apikey:k1", kNow + 60, kNow + 120, 3);
  ASSERT_TRUE(next_window.ok());
  EXPECT_TRUE(*next_window);
  EXPECT_EQ(store_->ConsumeRate("", kNow, kNow + 60, 3).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->ConsumeRate("k", kNow, kNow + 60, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->ConsumeRate("k", kNow, kNow, 3).status().code(), Code::kInvalidArgument);
}

TEST_P(StoreConformanceTest, ConcurrentRateLimitNeverExceeds) {
  const std::vector<Store*> stores = Replicas();
  ASSERT_FALSE(HasFailure());
  constexpr int kThreads = 8, kPerThread = 10, kLimit = 25;
  std::atomic<int> allowed{0}, denied{0}, errors{0};
  std::latch start(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        auto r = stores[static_cast<size_t>(t) % stores.size()]->ConsumeRate("pod:uid-1", kNow, kNow + 60, kLimit);
        if (!r.ok()) {
          ++errors;
        } else if (*r) {
          ++allowed;
        } else {
          ++denied;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(allowed.load(), kLimit);
  EXPECT_EQ(denied.load(), kThreads * kPerThread - kLimit);
}

// ---------------------------------------------------------------- request admission

namespace {
std::vector<RateCharge> Charges(int64_t key_limit, int64_t pod_limit, int64_t window = kNow) {
  return {RateCharge{"key:k1", window, window + 60, key_limit}, RateCharge{"pod:uid-1", window, window + 60, pod_limit}};
}
}  // namespace

TEST_P(StoreConformanceTest, AdmitRequestAdmitsThenRefusesReplay) {
  auto first = store_->AdmitRequest(Charges(10, 10), JtiUse{"jkt-A", "jti-1", kNow + 60}, kNow);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->outcome, Admission::Outcome::kAdmitted);
  auto replay = store_->AdmitRequest(Charges(10, 10), JtiUse{"jkt-A", "jti-1", kNow + 90}, kNow + 30);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->outcome, Admission::Outcome::kReplay);
  // The jti recorded by AdmitRequest is the one InsertJti sees, and back.
  auto via_insert = store_->InsertJti("jkt-A", "jti-1", kNow + 90, kNow + 30);
  ASSERT_TRUE(via_insert.ok());
  EXPECT_FALSE(*via_insert);
  ASSERT_TRUE(store_->InsertJti("jkt-A", "jti-2", kNow + 90, kNow + 30).ok());
  auto after_insert = store_->AdmitRequest(Charges(10, 10), JtiUse{"jkt-A", "jti-2", kNow + 90}, kNow + 30);
  ASSERT_TRUE(after_insert.ok());
  EXPECT_EQ(after_insert->outcome, Admission::Outcome::kReplay);
  // Another key's identical jti is not a replay; an expired entry is re-armed.
  auto other_key = store_->AdmitRequest(Charges(10, 10), JtiUse{"jkt-B", "jti-1", kNow + 60}, kNow);
  ASSERT_TRUE(other_key.ok());
  EXPECT_EQ(other_key->outcome, Admission::Outcome::kAdmitted);
  auto rearmed = store_->AdmitRequest(Charges(10, 10, kNow + 60), JtiUse{"jkt-A", "jti-1", kNow + 200}, kNow + 100);
  ASSERT_TRUE(rearmed.ok());
  EXPECT_EQ(rearmed->outcome, Admission::Outcome::kAdmitted);
}

TEST_P(StoreConformanceTest, AdmitRequestCountsEveryBucketAndNamesTheFirstOverLimit) {
  // Pod bucket allows 2: the third request is limited by charge 1 (the pod).
  for (int i = 0; i < 2; ++i) {
    auto r = store_->AdmitRequest(Charges(5, 2), JtiUse{"jkt-A", "jti-" + std::to_string(i), kNow + 60}, kNow);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->outcome, Admission::Outcome::kAdmitted) << i;
  }
  auto third = store_->AdmitRequest(Charges(5, 2), JtiUse{"jkt-A", "jti-2", kNow + 120}, kNow);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->outcome, Admission::Outcome::kRateLimited);
  EXPECT_EQ(third->limited, 1u);
  // The key bucket counted the limited request too (3 of 5 used): two more
  // fit, via ConsumeRate, which shares the counters.
  for (int i = 0; i < 2; ++i) {
    auto r = store_->ConsumeRate("key:k1", kNow, kNow + 60, 5);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(*r) << i;
  }
  auto key_full = store_->AdmitRequest(Charges(5, 100), JtiUse{"jkt-A", "jti-3", kNow + 60}, kNow);
  ASSERT_TRUE(key_full.ok());
  EXPECT_EQ(key_full->outcome, Admission::Outcome::kRateLimited);
  EXPECT_EQ(key_full->limited, 0u);
  // A rate-limited request's jti is spent: presenting it again is a replay
  // once the window allows requests again.
  auto spent = store_->AdmitRequest(Charges(5, 2, kNow + 60), JtiUse{"jkt-A", "jti-2", kNow + 150}, kNow + 60);
  ASSERT_TRUE(spent.ok());
  EXPECT_EQ(spent->outcome, Admission::Outcome::kReplay);
  // Rate limiting is reported before a replay.
  auto both = store_->AdmitRequest(Charges(5, 2), JtiUse{"jkt-A", "jti-0", kNow + 60}, kNow);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->outcome, Admission::Outcome::kRateLimited);
}

TEST_P(StoreConformanceTest, AdmitRequestWithoutChargesIsInsertJti) {
  auto r = store_->AdmitRequest({}, JtiUse{"jkt-A", "jti-1", kNow + 60}, kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Admission::Outcome::kAdmitted);
  auto again = store_->AdmitRequest({}, JtiUse{"jkt-A", "jti-1", kNow + 60}, kNow);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, Admission::Outcome::kReplay);
}

TEST_P(StoreConformanceTest, AdmitRequestRefusesBadArgumentsAndChangesNothing) {
  const JtiUse ok_jti{"jkt-A", "jti-1", kNow + 60};
  std::vector<RateCharge> twice = {RateCharge{"key:k1", kNow, kNow + 60, 5}, RateCharge{"key:k1", kNow, kNow + 60, 5}};
  EXPECT_EQ(store_->AdmitRequest(twice, ok_jti, kNow).status().code(), Code::kInvalidArgument);
  std::vector<RateCharge> many;
  for (size_t i = 0; i <= kMaxRateCharges; ++i) many.push_back(RateCharge{"b" + std::to_string(i), kNow, kNow + 60, 5});
  EXPECT_EQ(store_->AdmitRequest(many, ok_jti, kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->AdmitRequest(Charges(0, 5), ok_jti, kNow).status().code(), Code::kInvalidArgument);
  std::vector<RateCharge> empty_key = {RateCharge{"", kNow, kNow + 60, 5}};
  EXPECT_EQ(store_->AdmitRequest(empty_key, ok_jti, kNow).status().code(), Code::kInvalidArgument);
  std::vector<RateCharge> no_window = {RateCharge{"k", kNow, kNow, 5}};
  EXPECT_EQ(store_->AdmitRequest(no_window, ok_jti, kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->AdmitRequest(Charges(5, 5), JtiUse{"", "jti-1", kNow + 60}, kNow).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->AdmitRequest(Charges(5, 5), JtiUse{"jkt-A", "", kNow + 60}, kNow).status().code(),
            Code::kInvalidArgument);
  const std::string long_jti(kMaxJtiLength + 1, 'x');
  EXPECT_EQ(store_->AdmitRequest(Charges(5, 5), JtiUse{"jkt-A", long_jti, kNow + 60}, kNow).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->AdmitRequest(Charges(5, 5), JtiUse{"jkt-A", "jti-1", kNow}, kNow).status().code(),
            Code::kInvalidArgument);
  // None of the refused calls recorded the jti or counted a request.
  auto fresh = store_->AdmitRequest(Charges(1, 1), ok_jti, kNow);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->outcome, Admission::Outcome::kAdmitted);
}

TEST_P(StoreConformanceTest, ConcurrentAdmitNeverExceeds) {
  const std::vector<Store*> stores = Replicas();
  ASSERT_FALSE(HasFailure());
  // Distinct jtis, one pod bucket limit: exactly kLimit admitted. Then every
  // caller replays one shared jti: exactly one admitted.
  constexpr int kThreads = 8, kPerThread = 10, kLimit = 25;
  std::atomic<int> admitted{0}, limited{0}, replays{0}, errors{0};
  std::latch start(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      Store* s = stores[static_cast<size_t>(t) % stores.size()];
      for (int i = 0; i < kPerThread; ++i) {
        const std::string jti = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto r = s->AdmitRequest(Charges(1000, kLimit), JtiUse{"jkt-A", jti, kNow + 60}, kNow);
        if (!r.ok()) {
          ++errors;
        } else if (r->outcome == Admission::Outcome::kAdmitted) {
          ++admitted;
        } else if (r->outcome == Admission::Outcome::kRateLimited) {
          ++limited;
        }
      }
      auto shared = s->AdmitRequest(Charges(1000, 1000, kNow + 60), JtiUse{"jkt-A", "shared", kNow + 120}, kNow + 60);
      if (!shared.ok()) {
        ++errors;
      } else if (shared->outcome == Admission::Outcome::kReplay) {
        ++replays;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), kLimit);
  EXPECT_EQ(limited.load(), kThreads * kPerThread - kLimit);
  EXPECT_EQ(replays.load(), kThreads - 1);
}

// ---------------------------------------------------------------- config audit

TEST_P(StoreConformanceTest, ConfigAuditAppendList) {
  auto a = store_->AppendConfigAudit(kDefaultOrg, "alice", "cluster.put", R"({"cluster":"prod"})", kNow);
  auto b = store_->AppendConfigAudit(kDefaultOrg, "bob", "apikey.revoke", R"({"id":"key00001"})", kNow + 1);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LT(*a, *b);
  auto all = store_->ListConfigAudit(std::nullopt, 0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].actor, "alice");
  EXPECT_EQ((*all)[0].action, "cluster.put");
  EXPECT_EQ((*all)[0].detail_json, R"({"cluster":"prod"})");
  EXPECT_EQ((*all)[0].at, kNow);
  EXPECT_EQ((*all)[1].seq, *b);
  auto after = store_->ListConfigAudit(std::nullopt, *a, 100);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].actor, "bob");
  auto limited = store_->ListConfigAudit(std::nullopt, 0, 1);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 1u);
}

TEST_P(StoreConformanceTest, ConfigAuditRejectsNonJson) {
  EXPECT_EQ(store_->AppendConfigAudit(kDefaultOrg, "alice", "x", "not json", kNow).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->AppendConfigAudit(kDefaultOrg, "alice", "x", "[1]", kNow).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->AppendConfigAudit(kDefaultOrg, "alice", "x", R"({"a":1,"a":2})", kNow).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->AppendConfigAudit(kDefaultOrg, "", "x", "{}", kNow).status().code(), Code::kInvalidArgument);
  auto all = store_->ListConfigAudit(std::nullopt, 0, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

// ---------------------------------------------------------------- expiry

TEST_P(StoreConformanceTest, PurgeExpiredBounded) {
  for (int i = 0; i < 5; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_TRUE(store_->EnrollSession(MakeSession("old" + n, "uid-old" + n, "jkt", kNow + 10), kNow).ok());
    ASSERT_TRUE(store_->InsertJti("jkt", "old" + n, kNow + 10, kNow).ok());
    ASSERT_TRUE(store_->ConsumeRate("bucket" + n, kNow, kNow + 10, 5).ok());
  }
  ASSERT_TRUE(store_->EnrollSession(MakeSession("live", "uid-live", "jkt", kNow + 100), kNow).ok());
  ASSERT_TRUE(store_->InsertJti("jkt", "live", kNow + 100, kNow).ok());
  ASSERT_TRUE(store_->ConsumeRate("bucket-live", kNow + 10, kNow + 100, 5).ok());

  auto nothing = store_->PurgeExpired(kNow + 9, 2);
  ASSERT_TRUE(nothing.ok());
  EXPECT_EQ(nothing->total(), 0);

  auto first = store_->PurgeExpired(kNow + 10, 2);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->sessions, 2);
  EXPECT_EQ(first->jtis, 2);
  EXPECT_EQ(first->rate_windows, 2);
  int64_t rounds = 1, total = first->total();
  while (true) {
    auto more = store_->PurgeExpired(kNow + 10, 2);
    ASSERT_TRUE(more.ok());
    if (more->total() == 0) break;
    EXPECT_LE(more->sessions, 2);
    total += more->total();
    ASSERT_LT(++rounds, 10);
  }
  EXPECT_EQ(total, 15);
  EXPECT_EQ(rounds, 3);
  EXPECT_EQ(store_->GetSession("old0").status().code(), Code::kNotFound);
  EXPECT_TRUE(store_->GetSession("live").ok());
  auto live_replay = store_->InsertJti("jkt", "live", kNow + 200, kNow + 10);
  ASSERT_TRUE(live_replay.ok());
  EXPECT_FALSE(*live_replay);  // unexpired entry survived the purge
  EXPECT_EQ(store_->PurgeExpired(kNow, 0).status().code(), Code::kInvalidArgument);
}

// ---------------------------------------------------------------- migrations and sharing

TEST_P(StoreConformanceTest, MigrationsIdempotent) {
  ASTIS_REQUIRE_SHARED_STATE();
  ASSERT_TRUE(store_->PutCluster(MakeCluster("prod")).ok());
  store_.reset();
  // Reopening (and opening twice at once) re-runs no migration and keeps data.
  std::unique_ptr<Store> a = OpenAnother();
  std::unique_ptr<Store> b = OpenAnother();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(a->GetCluster(kDefaultOrg, "prod").ok());
  EXPECT_TRUE(b->GetCluster(kDefaultOrg, "prod").ok());
}

TEST_P(StoreConformanceTest, ConcurrentOpenMigratesOnce) {
  ASTIS_REQUIRE_SHARED_STATE();
  constexpr int kThreads = 4;
  std::vector<std::unique_ptr<Store>> opened(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      auto r = env_->Open();
      if (r.ok()) opened[static_cast<size_t>(t)] = std::move(r).value();
    });
  }
  for (auto& w : workers) w.join();
  for (int t = 0; t < kThreads; ++t) ASSERT_NE(opened[static_cast<size_t>(t)], nullptr) << "open " << t;
  ASSERT_TRUE(opened[0]->PutCluster(MakeCluster("prod")).ok());
  EXPECT_TRUE(opened[kThreads - 1]->GetCluster(kDefaultOrg, "prod").ok());
}

TEST_P(StoreConformanceTest, TwoStoresSeeSameState) {
  ASTIS_REQUIRE_SHARED_STATE();
  std::unique_ptr<Store> replica = OpenAnother();
  ASSERT_NE(replica, nullptr);
  ASSERT_TRUE(store_->PutCluster(MakeCluster("prod")).ok());
  ASSERT_TRUE(store_->CreateApiKey(MakeApiKey("key00001")).ok());
  ASSERT_TRUE(store_->EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).ok());
  ASSERT_TRUE(store_->InsertJti("jkt-A", "jti-1", kNow + 60, kNow).ok());

  EXPECT_TRUE(replica->GetCluster(kDefaultOrg, "prod").ok());
  EXPECT_TRUE(replica->GetApiKey("key00001").ok());
  auto pinned = replica->EnrollSession(MakeSession("s2", "uid-1", "jkt-B"), kNow + 1);
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->outcome, EnrollOutcome::kPinnedConflict);
  auto replay = replica->InsertJti("jkt-A", "jti-1", kNow + 60, kNow + 1);
  ASSERT_TRUE(replay.ok());
  EXPECT_FALSE(*replay);
  ASSERT_TRUE(replica->EndSession("s1").ok());
  auto ended = store_->GetSession("s1");
  ASSERT_TRUE(ended.ok());
  EXPECT_TRUE(ended->revoked);
}

// ---------------------------------------------------------------- fault injection

TEST_P(StoreConformanceTest, FaultInjectionReturnsStoreUnavailable) {
  FaultInjectingStore faulty(*store_);
  ASSERT_TRUE(faulty.PutCluster(MakeCluster("prod")).ok());
  faulty.SetFailing(true);
  EXPECT_EQ(faulty.GetCluster(kDefaultOrg, "prod").status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(faulty.ListClustersByIssuer(kDefaultOrg, "https://kubernetes.default.svc/prod").status().code(),
            Code::kStoreUnavailable);
  EXPECT_EQ(faulty.PutCluster(MakeCluster("stage")).code(), Code::kStoreUnavailable);
  EXPECT_EQ(faulty.EnrollSession(MakeSession("s1", "uid-1", "jkt-A"), kNow).status().code(),
            Code::kStoreUnavailable);
  EXPECT_EQ(faulty.InsertJti("jkt-A", "jti-1", kNow + 60, kNow).status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(faulty.ConsumeRate("k", kNow, kNow + 60, 1).status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(faulty.AdmitRequest(Charges(1, 1), JtiUse{"jkt-A", "jti-1", kNow + 60}, kNow).status().code(),
            Code::kStoreUnavailable);
  EXPECT_EQ(faulty.GetOrCreateNonceSecret(FilledSecret(1), kNow).status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(faulty.PurgeExpired(kNow, 10).status().code(), Code::kStoreUnavailable);
  EXPECT_EQ(faulty.failed_calls(), 9);
  // Nothing reached the wrapped store while failing.
  EXPECT_EQ(store_->GetCluster(kDefaultOrg, "stage").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetSession("s1").status().code(), Code::kNotFound);
  // Recovery: calls pass through again.
  faulty.SetFailing(false);
  EXPECT_TRUE(faulty.GetCluster(kDefaultOrg, "prod").ok());
  auto by_issuer = faulty.ListClustersByIssuer(kDefaultOrg, "https://kubernetes.default.svc/prod");
  ASSERT_TRUE(by_issuer.ok());
  EXPECT_EQ(by_issuer->size(), 1u);
  auto jti = faulty.InsertJti("jkt-A", "jti-1", kNow + 60, kNow);
  ASSERT_TRUE(jti.ok());
  EXPECT_TRUE(*jti);
}

void ExpectUpgradedPinReleasesOnRestart(Store& store, int64_t now) {
  auto old = store.GetSession("s-old");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->pod_restarts, 0);
  EXPECT_TRUE(old->IsActive(now));
  Session next;
  next.id = "s-new";
  next.cluster = "prod";
  next.namespace_ = "payments";
  next.service_account = "api";
  next.pod_name = "api-0";
  next.pod_uid = "uid-0";
  next.jkt = "jkt-new";
  next.recipient_jwk = "{}";
  next.expires_at = now + 900;
  next.pod_restarts = 1;
  auto pinned = store.EnrollSession(next, now);
  ASSERT_TRUE(pinned.ok()) << pinned.status().ToString();
  EXPECT_EQ(pinned->outcome, EnrollOutcome::kPinnedConflict);
  auto released = store.ReleasePinIfRestarted(kDefaultOrg, "prod", "uid-0", "s-old", 1, now);
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_TRUE(*released);
  auto created = store.EnrollSession(next, now);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->outcome, EnrollOutcome::kCreated);
}

}  // namespace astis::store::testing
