#include "capsule/capsule.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/encoding.h"

namespace astis::capsule {
namespace {

const std::string kKid = B64uEncode(std::vector<uint8_t>(32, 0x11));
const std::string kEnc = B64uEncode(std::vector<uint8_t>(kCapsuleEncSize, 0x22));
const std::string kCt = B64uEncode(std::vector<uint8_t>(kCapsuleCtSize, 0x33));
const std::string kBind =
    R"({"cluster":"prod-eu1","namespace":"payments","serviceAccount":"api","name":"db-creds","key":"password"})";

// CapsuleJson renders a capsule with the given member texts (already JSON).
std::string CapsuleJson(const std::string& v = "1", const std::string& enc = "\"" + kEnc + "\"",
                        const std::string& ct = "\"" + kCt + "\"", const std::string& bind = kBind,
                        const std::string& extra = "") {
  return "{\"v\":" + v + ",\"kid\":\"" + kKid + "\",\"enc\":" + enc + ",\"ct\":" + ct + ",\"bind\":" + bind +
         ",\"iat\":1764115200" + extra + "}";
}

std::string ValueText(const std::string& capsule_json, size_t iv_len = 12, size_t ct_len = 20) {
  return "astis.v1." + B64uEncode(capsule_json) + "." + B64uEncode(std::vector<uint8_t>(iv_len, 0x44)) + "." +
         B64uEncode(std::vector<uint8_t>(ct_len, 0x55));
}

TEST(CapsuleTest, ParsesProtocolShape) {
  auto c = Capsule::Parse(std::string_view(CapsuleJson()));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->kid(), kKid);
  EXPECT_EQ(c->enc(), std::vector<uint8_t>(kCapsuleEncSize, 0x22));
  EXPECT_EQ(c->ct(), std::vector<uint8_t>(kCapsuleCtSize, 0x33));
  EXPECT_EQ(c->iat(), 1764115200);
  EXPECT_EQ(c->binding(), (Binding{"prod-eu1", "payments", "api", "db-creds", "password"}));
}

// docs/protocol.md §3.1: bind.serviceAccount is a DNS-1123 subdomain, so the
// CVS parses a capsule sealed for ServiceAccount "my.sa"; it still refuses
// one outside Kubernetes' subdomain rule.
TEST(CapsuleTest, ParsesSubdomainServiceAccount) {
  std::string bind =
      R"({"cluster":"prod-eu1","namespace":"payments","serviceAccount":"my.sa","name":"db-creds","key":"password"})";
  auto c = Capsule::Parse(std::string_view(CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"", bind)));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->binding().service_account, "my.sa");
  for (const char* bad : {"My.SA", "a..b", "-sa", "sa."}) {
    std::string b = bind;
    b.replace(b.find("my.sa"), 5, bad);
    EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"", b)))
                  .status()
                  .code(),
              Code::kInvalidArgument)
        << bad;
  }
}

TEST(CapsuleTest, HashIsOverExactBytes) {
  // Same members, different whitespace and order: different CAPSULE_HASH,
  // because the hash is over the bytes and never over a re-serialisation.
  std::string a = CapsuleJson();
  std::string b = "{ \"iat\":1764115200,\"bind\":" + kBind + ",\"ct\":\"" + kCt + "\",\"enc\":\"" + kEnc +
                  "\",\"kid\":\"" + kKid + "\",\"v\":1}";
  auto ca = Capsule::Parse(std::string_view(a));
  auto cb = Capsule::Parse(std::string_view(b));
  ASSERT_TRUE(ca.ok());
  ASSERT_TRUE(cb.ok());
  EXPECT_EQ(ca->bytes(), a);
  EXPECT_EQ(ca->hash(), Sha256(a));
  EXPECT_EQ(cb->hash(), Sha256(b));
  EXPECT_NE(ca->hash(), cb->hash());
  EXPECT_EQ(ca->binding(), cb->binding());
}

TEST(CapsuleTest, BuildUsesProtocolMemberOrderAndParses) {
  Binding bind{"prod-eu1", "payments", "api", "db-creds", "password"};
  auto c = Capsule::Build(kKid, std::vector<uint8_t>(32, 0x22), std::vector<uint8_t>(48, 0x33), bind, 1764115200);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->bytes(), CapsuleJson());
}

TEST(CapsuleTest, BuildRejectsInvalidBinding) {
  Binding bind{"prod-eu1", "Payments", "api", "db-creds", "password"};
  auto c = Capsule::Build(kKid, std::vector<uint8_t>(32, 0x22), std::vector<uint8_t>(48, 0x33), bind, 1);
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
}

TEST(CapsuleTest, RejectsCapsuleDuplicateKeys) {
  std::string dup = CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"", kBind, ",\"v\":1");
  EXPECT_EQ(Capsule::Parse(std::string_view(dup)).status().code(), Code::kInvalidArgument);
  std::string dup_bind =
      R"({"cluster":"prod-eu1","namespace":"payments","namespace":"other","serviceAccount":"api","name":"db-creds","key":"password"})";
  std::string text = CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"", dup_bind);
  EXPECT_EQ(Capsule::Parse(std::string_view(text)).status().code(), Code::kInvalidArgument);
}

TEST(CapsuleTest, RejectsCapsuleUnknownMember) {
  std::string text = CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"", kBind, ",\"exp\":1");
  EXPECT_EQ(Capsule::Parse(std::string_view(text)).status().code(), Code::kInvalidArgument);
  std::string bind =
      R"({"cluster":"prod-eu1","namespace":"payments","serviceAccount":"api","name":"db-creds","key":"password","pod":"x"})";
  text = CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"", bind);
  EXPECT_EQ(Capsule::Parse(std::string_view(text)).status().code(), Code::kInvalidArgument);
}

TEST(CapsuleTest, RejectsCapsuleMissingMember) {
  std::string text = "{\"v\":1,\"kid\":\"" + kKid + "\",\"enc\":\"" + kEnc + "\",\"ct\":\"" + kCt +
                     "\",\"bind\":" + kBind + "}";
  EXPECT_EQ(Capsule::Parse(std::string_view(text)).status().code(), Code::kInvalidArgument);
  std::string bind = R"({"cluster":"prod-eu1","namespace":"payments","serviceAccount":"api","name":"db-creds"})";
  text = CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"", bind);
  EXPECT_EQ(Capsule::Parse(std::string_view(text)).status().code(), Code::kInvalidArgument);
}

TEST(CapsuleTest, RejectsWrongMemberTypes) {
  for (const std::string& v : std::vector<std::string>{"\"1\"", "1.0", "true", "2", "0"}) {
    EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson(v))).status().code(), Code::kInvalidArgument) << v;
  }
  std::string bind_as_string = "\"astis/v1\"";
  EXPECT_FALSE(Capsule::Parse(std::string_view(CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"",
                                                           bind_as_string)))
                   .ok());
  EXPECT_FALSE(Capsule::Parse(std::string_view("[1]")).ok());
}

TEST(CapsuleTest, RejectsEncWrongLength) {
  std::string enc31 = "\"" + B64uEncode(std::vector<uint8_t>(31, 0x22)) + "\"";
  std::string enc33 = "\"" + B64uEncode(std::vector<uint8_t>(33, 0x22)) + "\"";
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", enc31))).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", enc33))).status().code(), Code::kInvalidArgument);
}

TEST(CapsuleTest, RejectsCtWrongLength) {
  std::string ct47 = "\"" + B64uEncode(std::vector<uint8_t>(47, 0x33)) + "\"";
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", "\"" + kEnc + "\"", ct47))).status().code(),
            Code::kInvalidArgument);
}

TEST(CapsuleTest, RejectsPaddedB64uInCapsule) {
  std::string padded_ct = "\"" + B64Encode(std::vector<uint8_t>(47, 0x33)) + "\"";  // 47 bytes -> '=' padding
  EXPECT_FALSE(Capsule::Parse(std::string_view(CapsuleJson("1", "\"" + kEnc + "\"", padded_ct))).ok());
}

TEST(CapsuleTest, RejectsKidNotThumbprint) {
  std::string text = CapsuleJson();
  text.replace(text.find(kKid), kKid.size(), "my-key");
  EXPECT_EQ(Capsule::Parse(std::string_view(text)).status().code(), Code::kInvalidArgument);
}

TEST(CapsuleTest, RejectsInvalidBindingInCapsule) {
  std::string bind =
      R"({"cluster":"prod-eu1","namespace":"payments","serviceAccount":"api","name":"db\ncreds","key":"password"})";
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"", bind)))
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST(SealedValueTest, RoundTrip) {
  std::string text = ValueText(CapsuleJson());
  auto v = SealedValue::Parse(text);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->ToString(), text);
  EXPECT_EQ(v->iv(), std::vector<uint8_t>(12, 0x44));
  EXPECT_EQ(v->ciphertext(), std::vector<uint8_t>(20, 0x55));
  EXPECT_EQ(v->capsule().bytes(), CapsuleJson());
}

TEST(SealedValueTest, RejectsWrongPrefix) {
  std::string text = ValueText(CapsuleJson());
  EXPECT_EQ(SealedValue::Parse("ASTIS" + text.substr(5)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SealedValue::Parse(" " + text).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SealedValue::Parse("").status().code(), Code::kInvalidArgument);
}

TEST(SealedValueTest, RejectsWrongVersion) {
  std::string text = ValueText(CapsuleJson());
  EXPECT_EQ(SealedValue::Parse("astis.v2." + text.substr(9)).status().code(), Code::kInvalidArgument);
  // A v1 envelope around a capsule claiming another version.
  EXPECT_EQ(SealedValue::Parse(ValueText(CapsuleJson("2"))).status().code(), Code::kInvalidArgument);
}

TEST(SealedValueTest, RejectsTooFewParts) {
  std::string text = ValueText(CapsuleJson());
  EXPECT_EQ(SealedValue::Parse(text.substr(0, text.rfind('.'))).status().code(), Code::kInvalidArgument);
}

TEST(SealedValueTest, RejectsTooManyParts) {
  EXPECT_EQ(SealedValue::Parse(ValueText(CapsuleJson()) + ".AAAA").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SealedValue::Parse(ValueText(CapsuleJson()) + ".").status().code(), Code::kInvalidArgument);
}

TEST(SealedValueTest, RejectsPaddedB64u) {
  // A 13-byte ciphertext part needs padding in standard base64; any '=' is refused.
  std::string text = ValueText(CapsuleJson(), 12, 17);
  ASSERT_TRUE(SealedValue::Parse(text).ok());
  EXPECT_EQ(SealedValue::Parse(text + "=").status().code(), Code::kInvalidArgument);
  std::string std_alphabet = text;
  std_alphabet.back() = '+';
  EXPECT_EQ(SealedValue::Parse(std_alphabet).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SealedValue::Parse(text + "\n").status().code(), Code::kInvalidArgument);
}

TEST(SealedValueTest, RejectsShortIv) {
  EXPECT_EQ(SealedValue::Parse(ValueText(CapsuleJson(), 11)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SealedValue::Parse(ValueText(CapsuleJson(), 16)).status().code(), Code::kInvalidArgument);
}

TEST(SealedValueTest, RejectsShortCiphertext) {
  EXPECT_EQ(SealedValue::Parse(ValueText(CapsuleJson(), 12, 15)).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(SealedValue::Parse(ValueText(CapsuleJson(), 12, 16)).ok());
}

TEST(SealedValueTest, RejectsEmptyCapsulePart) {
  EXPECT_EQ(SealedValue::Parse("astis.v1.." + B64uEncode(std::vector<uint8_t>(12, 1)) + "." +
                               B64uEncode(std::vector<uint8_t>(16, 1)))
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST(SealedValueTest, RejectsOversizeValue) {
  size_t ct_len = kMaxSealedValueBytes * 3 / 4;  // b64u makes it exceed the limit
  EXPECT_EQ(SealedValue::Parse(ValueText(CapsuleJson(), 12, ct_len)).status().code(), Code::kTooLarge);
  auto c = Capsule::Parse(std::string_view(CapsuleJson()));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(SealedValue::Create(*c, std::vector<uint8_t>(12), std::vector<uint8_t>(ct_len)).status().code(),
            Code::kTooLarge);
}

TEST(SealedValueTest, RejectsOversizeCapsule) {
  std::string big_kid_capsule = CapsuleJson() + std::string(kMaxCapsuleBytes, ' ');
  EXPECT_EQ(Capsule::Parse(std::string_view(big_kid_capsule)).status().code(), Code::kTooLarge);
}

}  // namespace
}  // namespace astis::capsule

namespace astis::capsule {
namespace {

// ---- protocol 1.1: v2 capsules and P-256 enc (docs/protocol.md §2, §3.1)

const std::string kBindV2 =
    R"({"clusters":["prod-eu1","prod-us1"],"namespace":"payments","serviceAccount":"api","name":"db-creds",)"
    R"("key":"password"})";

std::string P256Enc(uint8_t first, size_t size = kCapsuleP256EncSize) {
  std::vector<uint8_t> enc(size, 0x22);
  enc[0] = first;
  return "\"" + B64uEncode(enc) + "\"";
}

TEST(CapsuleV2Test, ParsesV2Shape) {
  auto c = Capsule::Parse(std::string_view(CapsuleJson("2", "\"" + kEnc + "\"", "\"" + kCt + "\"", kBindV2)));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->version(), 2);
  EXPECT_EQ(c->binding().clusters, (std::vector<std::string>{"prod-eu1", "prod-us1"}));
  EXPECT_TRUE(c->binding().cluster.empty());
}

TEST(CapsuleV2Test, BuildWritesV2AndParsesBack) {
  Binding b{"", "payments", "api", "db-creds", "password", {"prod-eu1", "prod-us1"}};
  auto c = Capsule::Build(kKid, std::vector<uint8_t>(32, 0x22), std::vector<uint8_t>(48, 0x33), b, 1764115200);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->bytes().rfind("{\"v\":2,", 0), 0u);
  EXPECT_NE(c->bytes().find("\"clusters\":[\"prod-eu1\",\"prod-us1\"]"), std::string::npos);
  EXPECT_EQ(c->bytes().find("\"cluster\":"), std::string::npos);
  EXPECT_EQ(c->binding(), b);
}

TEST(CapsuleV2Test, RejectsV1WithClusters) {
  // §3.1: a v1 capsule carries "cluster" and never "clusters".
  const std::string bind =
      R"({"cluster":"prod-eu1","clusters":["prod-eu1"],"namespace":"payments","serviceAccount":"api",)"
      R"("name":"db-creds","key":"password"})";
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"", bind)))
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST(CapsuleV2Test, RejectsV2WithCluster) {
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("2"))).status().code(), Code::kInvalidArgument);
  const std::string both =
      R"({"cluster":"prod-eu1","clusters":["prod-eu1"],"namespace":"payments","serviceAccount":"api",)"
      R"("name":"db-creds","key":"password"})";
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("2", "\"" + kEnc + "\"", "\"" + kCt + "\"", both)))
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST(CapsuleV2Test, RejectsV2RelabelledV1) {
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", "\"" + kEnc + "\"", "\"" + kCt + "\"", kBindV2)))
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST(CapsuleV2Test, RejectsV2EmptyClusters) {
  const std::string bind =
      R"({"clusters":[],"namespace":"payments","serviceAccount":"api","name":"db-creds","key":"password"})";
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("2", "\"" + kEnc + "\"", "\"" + kCt + "\"", bind)))
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST(CapsuleV2Test, RejectsV2ClustersOfWrongType) {
  for (const char* clusters : {R"("prod-eu1")", R"([1])", R"([["a"]])", R"({"a":1})"}) {
    const std::string bind = std::string(R"({"clusters":)") + clusters +
                             R"(,"namespace":"payments","serviceAccount":"api","name":"db-creds","key":"password"})";
    EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("2", "\"" + kEnc + "\"", "\"" + kCt + "\"", bind)))
                  .status()
                  .code(),
              Code::kInvalidArgument)
        << clusters;
  }
}

TEST(CapsuleV2Test, RejectsVersionThree) {
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("3", "\"" + kEnc + "\"", "\"" + kCt + "\"", kBindV2)))
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST(CapsuleV2Test, AcceptsUncompressedP256Enc) {
  auto c = Capsule::Parse(std::string_view(CapsuleJson("1", P256Enc(0x04))));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->enc().size(), kCapsuleP256EncSize);
}

TEST(CapsuleV2Test, RejectsCompressedP256Enc) {
  // SEC1 compressed form: 33 bytes, 0x02/0x03 (RFC 9180 §7.1.1 wants 65).
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", P256Enc(0x02, 33)))).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", P256Enc(0x03, 33)))).status().code(),
            Code::kInvalidArgument);
}

TEST(CapsuleV2Test, RejectsP256EncNotUncompressed) {
  for (uint8_t first : {0x00, 0x02, 0x03, 0x06, 0x07}) {
    EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", P256Enc(first)))).status().code(),
              Code::kInvalidArgument)
        << int(first);
  }
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", P256Enc(0x04, 64)))).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(Capsule::Parse(std::string_view(CapsuleJson("1", P256Enc(0x04, 66)))).status().code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::capsule
