#include "crypto/hkdf.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>

#include "crypto/sha256.h"

namespace astis {
namespace {

constexpr size_t kHashLen = 32;

}  // namespace

// HKDF-SHA256 (RFC 5869) directly on HmacSha256Parts: OpenSSL 3's EVP_KDF
// "HKDF" looked the digest up by name and set up a MAC on every call, about
// 1.5 µs of an HPKE operation's several extract/expand steps
// (docs/performance.md). Tests: HkdfKatTest (RFC 5869 §A.1-A.3),
// WycheproofTest.HkdfSha256, the RFC 9180 HPKE vectors.
Result<SecretBytes> HkdfExtract(std::span<const uint8_t> salt, std::span<const uint8_t> ikm) {
  // RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM); an absent salt is HashLen
  // zeros, and HMAC zero-pads its key, so an empty salt gives the same PRK
  // (RFC 5869 test case 3).
  SecretBytes prk(kHashLen);
  HmacSha256Parts(salt, {ikm}, prk.RevealMutable().first<kHashLen>());
  return prk;
}

Result<SecretBytes> HkdfExpand(std::span<const uint8_t> prk, std::span<const uint8_t> info, size_t length) {
  // RFC 5869 §2.3: L <= 255*HashLen (test HkdfExpandRejectsTooLong).
  if (length > 255 * kHashLen) return Error(Code::kInvalidArgument, "hkdf: output length exceeds 255*HashLen");
  if (prk.size() < kHashLen) return Error(Code::kInvalidArgument, "hkdf: PRK shorter than HashLen");
  if (length == 0) return SecretBytes();
  SecretBytes okm(length);
  std::span<uint8_t> out = okm.RevealMutable();
  // T(0) = empty; T(i) = HMAC-Hash(PRK, T(i-1) | info | i); OKM = the first L
  // octets of T(1) | T(2) | ...
  std::array<uint8_t, kHashLen> t{};
  size_t t_len = 0;
  for (size_t done = 0, i = 1; done < length; ++i) {
    const uint8_t counter = static_cast<uint8_t>(i);
    HmacSha256Parts(prk, {std::span<const uint8_t>(t.data(), t_len), info, std::span<const uint8_t>(&counter, 1)}, t);
    t_len = kHashLen;
    const size_t n = std::min(kHashLen, length - done);
    std::copy_n(t.begin(), n, out.begin() + static_cast<std::ptrdiff_t>(done));
    done += n;
  }
  OPENSSL_cleanse(t.data(), t.size());
  return okm;
}

}  // namespace astis
