// SecretBytes tests: zeroing, wiping on release (read back through the
// release hook), constant-time equality, moves, locked memory in
// /proc/self/smaps, and the compile-time "not printable" property.
#include "crypto/secret_bytes.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "crypto/internal/secret_bytes_testing.h"
#include "crypto/internal/test_util.h"
#include "crypto/random.h"

namespace astis {
namespace {

using crypto_testing::Vec;
using Protection = SecretBytes::Protection;

// Not printable and not copyable are compile-time properties.
template <typename T, typename = void>
struct IsStreamable : std::false_type {};
template <typename T>
struct IsStreamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};
static_assert(IsStreamable<int>::value, "detection idiom self-check");
static_assert(!IsStreamable<SecretBytes>::value, "SecretBytes must not be streamable");
static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(!std::is_convertible_v<SecretBytes, std::string>);
static_assert(!std::is_convertible_v<SecretBytes, std::string_view>);

// Records what the release hook saw. Tests in one binary run sequentially.
struct Released {
  size_t calls = 0;
  size_t size = 0;
  bool all_zero = false;
};
Released g_released;

void RecordRelease(const uint8_t* data, size_t size) {
  ++g_released.calls;
  g_released.size = size;
  g_released.all_zero = std::all_of(data, data + size, [](uint8_t b) { return b == 0; });
}

class SecretBytesTest : public ::testing::TestWithParam<Protection> {
 protected:
  void SetUp() override {
    g_released = {};
    crypto_internal::SetReleaseHookForTesting(&RecordRelease);
  }
  void TearDown() override { crypto_internal::SetReleaseHookForTesting(nullptr); }
  static SecretBytes Filled(size_t n, uint8_t v) {
    SecretBytes s(n, GetParam());
    std::fill(s.RevealMutable().begin(), s.RevealMutable().end(), v);
    return s;
  }
};

TEST_P(SecretBytesTest, EmptyAllocatesNothing) {
  SecretBytes a;
  SecretBytes b(0, GetParam());
  EXPECT_TRUE(a.empty());
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.TestOnlyDataAddress(), nullptr);
  EXPECT_FALSE(b.IsLocked());
}

TEST_P(SecretBytesTest, NewBufferIsZeroed) {
  SecretBytes s(100, GetParam());
  EXPECT_EQ(s.size(), 100u);
  EXPECT_EQ(s.protection(), GetParam());
  EXPECT_EQ(Vec(s.Reveal()), std::vector<uint8_t>(100, 0));
}

TEST_P(SecretBytesTest, WipedOnWipe) {
  SecretBytes s = Filled(48, 0xa5);
  s.Wipe();
  EXPECT_EQ(g_released.calls, 1u);
  EXPECT_EQ(g_released.size, 48u);
  EXPECT_TRUE(g_released.all_zero);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.TestOnlyDataAddress(), nullptr);
  s.Wipe();  // idempotent
  EXPECT_EQ(g_released.calls, 1u);
}

TEST_P(SecretBytesTest, WipedOnDestruction) {
  { SecretBytes s = Filled(33, 0xff); }
  EXPECT_EQ(g_released.calls, 1u);
  EXPECT_EQ(g_released.size, 33u);
  EXPECT_TRUE(g_released.all_zero);
}

TEST_P(SecretBytesTest, WipedWhenOverwrittenByMove) {
  SecretBytes target = Filled(20, 0x11);
  target = Filled(5, 0x22);
  EXPECT_EQ(g_released.calls, 1u);
  EXPECT_EQ(g_released.size, 20u);
  EXPECT_TRUE(g_released.all_zero);
  EXPECT_EQ(Vec(target.Reveal()), std::vector<uint8_t>(5, 0x22));
}

TEST_P(SecretBytesTest, MovesLeaveSourceEmpty) {
  SecretBytes a = Filled(16, 0x42);
  const void* addr = a.TestOnlyDataAddress();
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the property under test
  EXPECT_EQ(a.TestOnlyDataAddress(), nullptr);
  EXPECT_EQ(b.TestOnlyDataAddress(), addr);
  EXPECT_EQ(b.protection(), GetParam());
  SecretBytes c;
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(Vec(c.Reveal()), std::vector<uint8_t>(16, 0x42));
  EXPECT_EQ(g_released.calls, 0u);  // moves hand over, they do not free
}

TEST_P(SecretBytesTest, CloneCopiesWithSameProtection) {
  SecretBytes a = SecretBytes::CopyFrom(std::string_view("hunter2"), GetParam());
  SecretBytes b = a.Clone();
  EXPECT_EQ(b.RevealString(), "hunter2");
  EXPECT_EQ(b.protection(), GetParam());
  EXPECT_NE(a.TestOnlyDataAddress(), b.TestOnlyDataAddress());
  EXPECT_TRUE(a == b);
}

TEST_P(SecretBytesTest, EqualityIsByContentAndLength) {
  SecretBytes a = Filled(32, 7), b = Filled(32, 7);
  EXPECT_TRUE(a == b);
  b.RevealMutable()[0] ^= 1;
  EXPECT_FALSE(a == b);
  b.RevealMutable()[0] ^= 1;
  b.RevealMutable()[31] ^= 0x80;
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a == Filled(31, 7));
  EXPECT_TRUE(SecretBytes() == SecretBytes(0, GetParam()));
}

INSTANTIATE_TEST_SUITE_P(BothProtections, SecretBytesTest, ::testing::Values(Protection::kPlain, Protection::kLocked),
                         [](const ::testing::TestParamInfo<Protection>& p) {
                           return p.param == Protection::kPlain ? "Plain" : "Locked";
                         });

TEST(ConstantTimeEqualsTest, Semantics) {
  const std::vector<uint8_t> a = {1, 2, 3}, b = {1, 2, 3}, c = {1, 2, 4}, d = {1, 2};
  EXPECT_TRUE(ConstantTimeEquals(a, b));
  EXPECT_FALSE(ConstantTimeEquals(a, c));
  EXPECT_FALSE(ConstantTimeEquals(a, d));  // length mismatch, not a prefix match
  EXPECT_FALSE(ConstantTimeEquals(d, a));
  EXPECT_TRUE(ConstantTimeEquals({}, {}));
  EXPECT_FALSE(ConstantTimeEquals({}, a));
}

TEST(SecureWipeTest, ZeroesMemory) {
  std::vector<uint8_t> buf(64, 0xee);
  SecureWipe(buf.data(), buf.size());
  EXPECT_EQ(buf, std::vector<uint8_t>(64, 0));
  SecureWipe(nullptr, 0);  // accepted
}

// The smaps entry (fields and VmFlags) of the mapping that contains addr.
struct Mapping {
  bool found = false;
  long locked_kb = -1;
  std::vector<std::string> vm_flags;
};

Mapping FindMapping(const void* addr) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  std::ifstream smaps("/proc/self/smaps");
  Mapping m;
  bool inside = false;
  std::string line;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
      inside = lo <= a && a < hi;
      if (inside) m.found = true;
      continue;
    }
    if (!inside) continue;
    if (line.rfind("Locked:", 0) == 0) {
      m.locked_kb = std::stol(line.substr(7));
    } else if (line.rfind("VmFlags:", 0) == 0) {
      std::istringstream flags(line.substr(8));
      std::string f;
      while (flags >> f) m.vm_flags.push_back(f);
    }
  }
  return m;
}

bool HasFlag(const Mapping& m, const std::string& flag) {
  return std::find(m.vm_flags.begin(), m.vm_flags.end(), flag) != m.vm_flags.end();
}

TEST(SecretBytesLockedTest, LockedMemoryIsLockedAndNotDumped) {
  SecretBytes s(64, Protection::kLocked);
  s.RevealMutable()[0] = 1;  // touch the page
  Mapping m = FindMapping(s.TestOnlyDataAddress());
  ASSERT_TRUE(m.found) << "no /proc/self/smaps mapping for the locked buffer";
  EXPECT_TRUE(HasFlag(m, "dd")) << "MADV_DONTDUMP missing";
  if (s.IsLocked()) {
    EXPECT_GT(m.locked_kb, 0);
    EXPECT_TRUE(HasFlag(m, "lo"));
  } else {
    GTEST_LOG_(WARNING) << "mlock did not take (RLIMIT_MEMLOCK); checked don't-dump only";
  }
}

TEST(SecretBytesLockedTest, PlainMemoryReportsUnlocked) {
  SecretBytes s(64, Protection::kPlain);
  EXPECT_FALSE(s.IsLocked());
}

TEST(RandomTest, SystemRandomFillsAndDiffers) {
  std::vector<uint8_t> a(32), b(32);
  ASSERT_TRUE(DefaultRandom().Fill(a).ok());
  ASSERT_TRUE(DefaultRandom().Fill(b).ok());
  EXPECT_NE(a, b);
  EXPECT_NE(a, std::vector<uint8_t>(32, 0));
  EXPECT_TRUE(DefaultRandom().Fill({}).ok());
}

}  // namespace
}  // namespace astis
