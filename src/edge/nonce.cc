#include "edge/nonce.h"

#include <array>
#include <vector>

#include "common/encoding.h"
#include "crypto/sha256.h"

namespace astis::edge {
namespace {

constexpr std::string_view kNonceLabel = "astis dpop nonce v1";
constexpr size_t kMacBytes = 16;

std::array<uint8_t, 8> Be64(uint64_t v) {
  std::array<uint8_t, 8> out{};
  for (int i = 7; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return out;
}

uint64_t BucketOf(int64_t now, int64_t window) { return now < 0 ? 0 : static_cast<uint64_t>(now / window); }

}  // namespace

Result<NonceIssuer> NonceIssuer::Create(SecretBytes secret, int64_t window_seconds) {
  if (secret.size() < 32) return Error(Code::kInvalidArgument, "nonce secret shorter than 32 bytes");
  if (window_seconds < 1) return Error(Code::kInvalidArgument, "nonce window must be at least 1 second");
  return NonceIssuer(std::move(secret), window_seconds);
}

std::string NonceIssuer::ForBucket(uint64_t bucket) const {
  const auto be = Be64(bucket);
  std::vector<uint8_t> msg(kNonceLabel.begin(), kNonceLabel.end());
  msg.insert(msg.end(), be.begin(), be.end());
  const Sha256Digest mac = HmacSha256(secret_.Reveal(), msg);
  std::vector<uint8_t> nonce(be.begin(), be.end());
  nonce.insert(nonce.end(), mac.begin(), mac.begin() + kMacBytes);
  return B64uEncode(nonce);
}

std::string NonceIssuer::Current(int64_t now) const { return ForBucket(BucketOf(now, window_)); }

bool NonceIssuer::IsValid(std::string_view nonce, int64_t now) const {
  auto raw = B64uDecode(nonce);
  if (!raw.ok() || raw->size() != 8 + kMacBytes) return false;
  uint64_t bucket = 0;
  for (size_t i = 0; i < 8; ++i) bucket = (bucket << 8) | (*raw)[i];
  const uint64_t current = BucketOf(now, window_);
  // Only the current bucket and the one before are accepted (test RejectsOldBucket).
  if (bucket != current && (current == 0 || bucket != current - 1)) return false;
  auto expected = B64uDecode(ForBucket(bucket));
  if (!expected.ok()) return false;
  return ConstantTimeEquals(*raw, *expected);  // test RejectsForged
}

Result<NonceIssuer> NonceIssuerFromStore(store::Store& store, Random& rng, int64_t window_seconds, int64_t now) {
  SecretBytes candidate(32);
  ASTIS_RETURN_IF_ERROR(rng.Fill(candidate.RevealMutable()));
  auto secret = store.GetOrCreateNonceSecret(std::move(candidate), now);
  if (!secret.ok()) return Error(Code::kStoreUnavailable, "nonce secret: " + secret.status().message());
  return NonceIssuer::Create(std::move(secret).value(), window_seconds);
}

}  // namespace astis::edge
