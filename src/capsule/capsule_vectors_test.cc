// The protocol 1.1 sealed-value vectors (testdata/vectors/astis-capsule-vectors.json,
// made by an independent implementation): v1 and v2 capsules, X25519 and
// P-256 org keys. HPKE sealing is randomised, so they test the opening side:
//  - every valid vector opens to its plaintext, is in scope for each of its
//    opensIn clusters and refused capsule_scope for each refusedIn cluster;
//  - every invalid vector is refused (parser or capsule_invalid) and nothing
//    is released: no DEK, no plaintext.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "capsule/capsule.h"
#include "capsule/org_key.h"
#include "capsule/seal.h"
#include "common/encoding.h"
#include "common/json.h"

namespace astis::capsule {
namespace {

Json LoadVectors() {
  std::ifstream in(std::string(ASTIS_TESTDATA_DIR) + "/vectors/astis-capsule-vectors.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

const Json& Vectors() {
  static const Json v = LoadVectors();
  return v;
}

// KeySet holds both org keys of the vectors (X25519 active, P-256 retired),
// so a capsule's kid selects the suite as an opener does.
OrgKeySet BothKeys() {
  const Json& keys = Vectors()["orgKeys"];
  auto x = OrgPrivateKey::FromJwk(keys["X25519"]);
  auto p = OrgPrivateKey::FromJwk(keys["P-256"]);
  EXPECT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  std::vector<OrgPrivateKey> retired;
  retired.push_back(std::move(*p));
  auto set = OrgKeySet::Create(std::move(*x), std::move(retired));
  EXPECT_TRUE(set.ok());
  return std::move(*set);
}

TEST(CapsuleVectorsTest, FileHasTheAdvertisedShape) {
  EXPECT_EQ(Vectors()["valid"].size(), 8u);
  EXPECT_EQ(Vectors()["invalid"].size(), 16u);
}

TEST(CapsuleVectorsTest, OrgKeysMatchTheirPublishedKids) {
  // docs/protocol.md §2: kid = RFC 7638 thumbprint; {crv,kty,x,y} for P-256.
  for (const char* suite : {"X25519", "P-256"}) {
    auto pub = OrgPublicKey::FromJwk(Vectors()["orgPublicKeys"][suite]);
    ASSERT_TRUE(pub.ok()) << suite << ": " << pub.status().ToString();
    EXPECT_EQ(pub->kid(), Vectors()["orgPublicKeys"][suite]["kid"].get<std::string>()) << suite;
  }
}

TEST(CapsuleVectorsTest, EveryValidVectorOpensToItsPlaintext) {
  OrgKeySet keys = BothKeys();
  for (const Json& v : Vectors()["valid"]) {
    SCOPED_TRACE(v["name"].get<std::string>());
    auto value = SealedValue::Parse(v["sealed"].get<std::string>());
    ASSERT_TRUE(value.ok()) << value.status().ToString();
    auto dek = OpenCapsule(keys, value->capsule());
    ASSERT_TRUE(dek.ok()) << dek.status().ToString();
    auto pt = DecryptValue(*dek, *value);
    ASSERT_TRUE(pt.ok()) << pt.status().ToString();
    EXPECT_EQ(pt->RevealString(), v["plaintext"].get<std::string>());
    // The suite follows the kid: P-256 vectors carry the 65-byte point.
    const bool p256 = v["orgKey"].get<std::string>() == "P-256";
    EXPECT_EQ(value->capsule().enc().size(), p256 ? kCapsuleP256EncSize : kCapsuleEncSize);
  }
}

TEST(CapsuleVectorsTest, EveryValidVectorIsInScopeExactlyForItsClusters) {
  for (const Json& v : Vectors()["valid"]) {
    SCOPED_TRACE(v["name"].get<std::string>());
    auto value = SealedValue::Parse(v["sealed"].get<std::string>());
    ASSERT_TRUE(value.ok());
    const Capsule& c = value->capsule();
    ASSERT_FALSE(v["opensIn"].empty());
    ASSERT_FALSE(v["refusedIn"].empty());
    for (const Json& cluster : v["opensIn"]) {
      EXPECT_TRUE(CheckCapsuleScope(c, cluster.get<std::string>(), "payments", "api").ok()) << cluster;
    }
    for (const Json& cluster : v["refusedIn"]) {
      EXPECT_EQ(CheckCapsuleScope(c, cluster.get<std::string>(), "payments", "api").code(), Code::kCapsuleScope)
          << cluster;
    }
    // Namespace and ServiceAccount still bind, whichever the cluster.
    const std::string first = v["opensIn"][0].get<std::string>();
    EXPECT_EQ(CheckCapsuleScope(c, first, "other", "api").code(), Code::kCapsuleScope);
    EXPECT_EQ(CheckCapsuleScope(c, first, "payments", "other").code(), Code::kCapsuleScope);
  }
}

TEST(CapsuleVectorsTest, EveryInvalidVectorIsRefusedWithoutReleasingAnything) {
  OrgKeySet keys = BothKeys();
  for (const Json& v : Vectors()["invalid"]) {
    SCOPED_TRACE(v["name"].get<std::string>());
    auto value = SealedValue::Parse(v["sealed"].get<std::string>());
    if (!value.ok()) {
      // Refused by the parser: nothing to open.
      EXPECT_EQ(value.status().code(), Code::kInvalidArgument);
      continue;
    }
    // Parsed (its form is legal): only the key can tell, and it refuses.
    auto dek = OpenCapsule(keys, value->capsule());
    ASSERT_FALSE(dek.ok());
    EXPECT_EQ(dek.status().code(), Code::kCapsuleInvalid);
  }
}

TEST(CapsuleVectorsTest, InvalidVectorsRefusedByTheParserAreTheStructuralOnes) {
  // Two invalid vectors have a legal form, and only the key can refuse them:
  // a P-256 kid with a 32-byte enc, and an enc off the curve. Every
  // cluster-list and version rule is the parser's. Pin which is which, so a
  // parser that starts accepting a mix-up is caught here and not only at open.
  size_t parsed = 0;
  for (const Json& v : Vectors()["invalid"]) {
    if (SealedValue::Parse(v["sealed"].get<std::string>()).ok()) {
      ++parsed;
      const std::string name = v["name"].get<std::string>();
      EXPECT_TRUE(name.find("32-byte") != std::string::npos || name.find("not on the curve") != std::string::npos)
          << name;
    }
  }
  EXPECT_EQ(parsed, 2u);
}

TEST(CapsuleVectorsTest, SealerWritesWhatTheVectorsRead) {
  // Our sealer's output for the vectors' own keys opens with the same code
  // path, for each form the vectors exercise.
  OrgKeySet keys = BothKeys();
  FakeClock clock(1796552207);
  for (const char* suite : {"X25519", "P-256"}) {
    auto pub = OrgPublicKey::FromJwk(Vectors()["orgPublicKeys"][suite]);
    ASSERT_TRUE(pub.ok());
    for (std::vector<std::string> clusters :
         {std::vector<std::string>{"prod-eu1"}, std::vector<std::string>{"prod-us1", "prod-eu1"}}) {
      auto b = Binding::ForClusters(clusters, "payments", "api", "db-creds", "password");
      ASSERT_TRUE(b.ok());
      auto v = Seal(*pub, *b, AsBytes("s3cr3t"), DefaultRandom(), clock);
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      EXPECT_EQ(v->capsule().version(), clusters.size() == 1 ? 1 : 2);
      auto back = SealedValue::Parse(v->ToString());
      ASSERT_TRUE(back.ok());
      auto dek = OpenCapsule(keys, back->capsule());
      ASSERT_TRUE(dek.ok()) << suite << " " << dek.status().ToString();
      auto pt = DecryptValue(*dek, *back);
      ASSERT_TRUE(pt.ok());
      EXPECT_EQ(pt->RevealString(), "s3cr3t");
    }
  }
}

}  // namespace
}  // namespace astis::capsule
