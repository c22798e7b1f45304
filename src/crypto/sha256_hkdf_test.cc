// SHA-256, HMAC-SHA256 and HKDF-SHA256 known answers (FIPS 180-2 examples,
// RFC 4231, RFC 5869), HMAC against OpenSSL's HMAC(), and the HKDF length refusals.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto/hkdf.h"
#include "crypto/internal/test_util.h"
#include "crypto/sha256.h"

namespace astis {
namespace {

using crypto_testing::H;
using crypto_testing::Vec;

TEST(Sha256Test, FipsAbc) {
  EXPECT_EQ(Vec(Sha256("abc")), H("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

TEST(Sha256Test, FipsTwoBlockMessage) {
  EXPECT_EQ(Vec(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            H("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
}

TEST(Sha256Test, EmptyInput) {
  EXPECT_EQ(Vec(Sha256(std::string_view())), H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  EXPECT_EQ(Sha256(std::span<const uint8_t>()), Sha256(std::string_view()));
}

// RFC 4231 §4.2 (test case 1) and §4.3 (test case 2).
TEST(HmacSha256Test, Rfc4231TestCase1) {
  EXPECT_EQ(Vec(HmacSha256(std::vector<uint8_t>(20, 0x0b), AsBytes("Hi There"))),
            H("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
}

TEST(HmacSha256Test, Rfc4231TestCase2) {
  EXPECT_EQ(Vec(HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            H("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
}

// RFC 4231 §4.4 (case 3: 50-byte data), §4.5 (case 4: 25-byte key), §4.7
// and §4.8 (cases 6 and 7: a 131-byte key, hashed first; data longer than a
// block).
TEST(HmacSha256Test, Rfc4231TestCases3To7) {
  EXPECT_EQ(Vec(HmacSha256(std::vector<uint8_t>(20, 0xaa), std::vector<uint8_t>(50, 0xdd))),
            H("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"));
  std::vector<uint8_t> key25;
  for (uint8_t b = 1; b <= 25; ++b) key25.push_back(b);
  EXPECT_EQ(Vec(HmacSha256(key25, std::vector<uint8_t>(50, 0xcd))),
            H("82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"));
  const std::vector<uint8_t> key131(131, 0xaa);
  EXPECT_EQ(Vec(HmacSha256(key131, AsBytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            H("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
  EXPECT_EQ(Vec(HmacSha256(key131, AsBytes("This is a test using a larger than block-size key and a larger than "
                                           "block-size data. The key needs to be hashed before being used by the "
                                           "HMAC algorithm."))),
            H("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"));
}

// Differential: every key length around the block size (0-130) and data
// lengths across block boundaries agree with OpenSSL's own HMAC().
TEST(HmacSha256Test, MatchesOpenSslHmacForEveryKeyLength) {
  std::vector<uint8_t> bytes(300);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 131 + 7);
  for (size_t klen = 0; klen <= 130; ++klen) {
    for (size_t dlen : {size_t{0}, size_t{1}, size_t{55}, size_t{56}, size_t{64}, size_t{65}, size_t{300}}) {
      const std::span<const uint8_t> key(bytes.data() + 3, klen), data(bytes.data(), dlen);
      uint8_t expect[32];
      unsigned int len = 0;
      static const uint8_t kZero = 0;
      ASSERT_NE(HMAC(EVP_sha256(), klen == 0 ? &kZero : key.data(), static_cast<int>(klen),
                     dlen == 0 ? &kZero : data.data(), dlen, expect, &len),
                nullptr);
      EXPECT_EQ(Vec(HmacSha256(key, data)), std::vector<uint8_t>(expect, expect + 32)) << klen << " " << dlen;
    }
  }
}

TEST(HmacSha256Test, PartsEqualTheConcatenation) {
  const std::vector<uint8_t> key(40, 0x11);
  Sha256Digest parts{};
  HmacSha256Parts(key, {AsBytes("ab"), {}, AsBytes("cdef"), AsBytes("g")}, parts);
  EXPECT_EQ(parts, HmacSha256(key, AsBytes("abcdefg")));
}

TEST(HmacSha256Test, EmptyKeyEqualsZeroKey) {
  // RFC 2104 §2: keys are zero-padded to the block size.
  EXPECT_EQ(HmacSha256({}, AsBytes("x")), HmacSha256(std::vector<uint8_t>(32, 0), AsBytes("x")));
}

struct HkdfKat {
  const char* name;
  const char *ikm, *salt, *info;
  size_t length;
  const char *prk, *okm;
};

// RFC 5869 Appendix A.1 (test case 1) and A.3 (test case 3: empty salt and
// info, so the salt defaults to HashLen zeros).
const HkdfKat kHkdfKats[] = {
    {"Rfc5869TestCase1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9", 42, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"Rfc5869TestCase3", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

class HkdfKatTest : public ::testing::TestWithParam<HkdfKat> {};

TEST_P(HkdfKatTest, ExtractAndExpandMatch) {
  const HkdfKat& k = GetParam();
  auto prk = HkdfExtract(H(k.salt), H(k.ikm));
  ASSERT_TRUE(prk.ok()) << prk.status().ToString();
  EXPECT_EQ(Vec(prk->Reveal()), H(k.prk));
  auto okm = HkdfExpand(prk->Reveal(), H(k.info), k.length);
  ASSERT_TRUE(okm.ok()) << okm.status().ToString();
  EXPECT_EQ(Vec(okm->Reveal()), H(k.okm));
}

INSTANTIATE_TEST_SUITE_P(Rfc5869, HkdfKatTest, ::testing::ValuesIn(kHkdfKats),
                         [](const ::testing::TestParamInfo<HkdfKat>& p) { return std::string(p.param.name); });

TEST(HkdfTest, ExtractAcceptsEmptyIkm) {
  // RFC 5869 allows a zero-length IKM; Extract is then HMAC(salt, "").
  auto prk = HkdfExtract(AsBytes("salt"), {});
  ASSERT_TRUE(prk.ok()) << prk.status().ToString();
  EXPECT_EQ(Vec(prk->Reveal()), Vec(HmacSha256(AsBytes("salt"), {})));
}

TEST(HkdfTest, ExpandPrefixIsStable) {
  auto prk = HkdfExtract({}, AsBytes("ikm"));
  ASSERT_TRUE(prk.ok());
  auto a = HkdfExpand(prk->Reveal(), AsBytes("info"), 255 * 32);
  auto b = HkdfExpand(prk->Reveal(), AsBytes("info"), 33);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(Vec(a->Reveal().first(33)), Vec(b->Reveal()));
  auto empty = HkdfExpand(prk->Reveal(), AsBytes("info"), 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// RFC 5869 §2.3: L <= 255*HashLen.
TEST(HkdfTest, HkdfExpandRejectsTooLong) {
  auto prk = HkdfExtract({}, AsBytes("ikm"));
  ASSERT_TRUE(prk.ok());
  auto r = HkdfExpand(prk->Reveal(), {}, 255 * 32 + 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

// RFC 5869 §2.3: PRK is at least HashLen octets.
TEST(HkdfTest, HkdfExpandRejectsShortPrk) {
  auto r = HkdfExpand(std::vector<uint8_t>(31, 1), {}, 16);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis
