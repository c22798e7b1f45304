#include "edge/nonce.h"

#include <string>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "crypto/random.h"
#include "store/sqlite_store.h"
#include "store/testing/fault_injecting_store.h"

namespace astis::edge {
namespace {

constexpr int64_t kWindow = 60;
constexpr int64_t kNow = 1'800'000'010;

NonceIssuer Make(uint8_t fill) {
  auto n = NonceIssuer::Create(SecretBytes::CopyFrom(std::string(32, static_cast<char>(fill))), kWindow);
  EXPECT_TRUE(n.ok());
  return std::move(n).value();
}

TEST(Nonce, AcceptsCurrentBucket) {
  NonceIssuer n = Make(1);
  const std::string nonce = n.Current(kNow);
  EXPECT_TRUE(n.IsValid(nonce, kNow));
  EXPECT_TRUE(n.IsValid(nonce, kNow + 5));
}

TEST(Nonce, AcceptsPreviousBucket) {
  NonceIssuer n = Make(1);
  const std::string nonce = n.Current(kNow);
  EXPECT_TRUE(n.IsValid(nonce, kNow + kWindow));
  EXPECT_NE(n.Current(kNow + kWindow), nonce);
}

TEST(Nonce, RejectsOldBucket) {
  NonceIssuer n = Make(1);
  const std::string nonce = n.Current(kNow);
  EXPECT_FALSE(n.IsValid(nonce, kNow + 2 * kWindow));
}

TEST(Nonce, RejectsFutureBucket) {
  NonceIssuer n = Make(1);
  EXPECT_FALSE(n.IsValid(n.Current(kNow + kWindow), kNow));
}

TEST(Nonce, RejectsForged) {
  NonceIssuer n = Make(1);
  NonceIssuer other = Make(2);
  EXPECT_FALSE(n.IsValid(other.Current(kNow), kNow));
  auto raw = B64uDecode(n.Current(kNow));
  ASSERT_TRUE(raw.ok());
  (*raw)[raw->size() - 1] ^= 1;
  EXPECT_FALSE(n.IsValid(B64uEncode(*raw), kNow));
  EXPECT_FALSE(n.IsValid("", kNow));
  EXPECT_FALSE(n.IsValid("not a nonce!", kNow));
}

TEST(Nonce, SharedAcrossReplicas) {
  // Two replicas over one store: each offers its own random candidate, the
  // store keeps the first, so they accept each other's nonces.
  auto store = store::OpenSqliteStore(":memory:");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto a = NonceIssuerFromStore(**store, DefaultRandom(), kWindow, kNow);
  auto b = NonceIssuerFromStore(**store, DefaultRandom(), kWindow, kNow);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b->IsValid(a->Current(kNow), kNow));
  EXPECT_TRUE(a->IsValid(b->Current(kNow), kNow + kWindow));
  NonceIssuer stranger = Make(7);
  EXPECT_FALSE(a->IsValid(stranger.Current(kNow), kNow));
}

TEST(Nonce, StoreDownIsStoreUnavailable) {
  auto inner = store::OpenSqliteStore(":memory:");
  ASSERT_TRUE(inner.ok());
  store::FaultInjectingStore faulty(**inner);
  faulty.SetFailing(true);
  auto n = NonceIssuerFromStore(faulty, DefaultRandom(), kWindow, kNow);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Code::kStoreUnavailable);
}

TEST(Nonce, RejectsShortSecret) {
  EXPECT_FALSE(NonceIssuer::Create(SecretBytes::CopyFrom(std::string(16, 'x')), kWindow).ok());
  EXPECT_FALSE(NonceIssuer::Create(SecretBytes::CopyFrom(std::string(32, 'x')), 0).ok());
}

}  // namespace
}  // namespace astis::edge
