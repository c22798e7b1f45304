#include "crypto/internal/locked_pool.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/secret_bytes.h"

namespace astis::crypto_internal {
namespace {

TEST(LockedPoolTest, ChunksAreAlignedDistinctAndReused) {
  LockedPool pool(64 * 1024, 2);
  std::vector<std::pair<uint8_t*, size_t>> live;
  for (size_t n : {1, 16, 17, 32, 33, 64, 100, 255, 1000, 4096}) {
    auto b = pool.Allocate(n);
    ASSERT_NE(b.data, nullptr) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data) % 16, 0u) << n;
    std::memset(b.data, 0xA5, n);  // the whole requested size is writable
    live.emplace_back(b.data, n);
  }
  // No two live chunks overlap.
  for (size_t i = 0; i < live.size(); ++i) {
    for (size_t j = i + 1; j < live.size(); ++j) {
      const bool disjoint = live[i].first + live[i].second <= live[j].first ||
                            live[j].first + live[j].second <= live[i].first;
      EXPECT_TRUE(disjoint) << i << " and " << j;
    }
  }
  EXPECT_EQ(pool.in_use(), live.size());
  // A released chunk of a size class is handed out again for that class.
  uint8_t* first32 = live[3].first;  // n == 32
  pool.Free(first32, 32);
  auto again = pool.Allocate(20);  // also the 32-byte class
  EXPECT_EQ(again.data, first32);
  pool.Free(again.data, 20);
  for (auto& [p, n] : live) {
    if (p != first32) pool.Free(p, n);
  }
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_EQ(pool.arenas(), 1u);
}

TEST(LockedPoolTest, OutOfRangeSizesAreRefused) {
  LockedPool pool(64 * 1024, 1);
  EXPECT_EQ(pool.Allocate(0).data, nullptr);
  EXPECT_EQ(pool.Allocate(LockedPool::kMaxChunk + 1).data, nullptr);
  EXPECT_EQ(pool.arenas(), 0u);  // nothing mapped for a refused request
}

TEST(LockedPoolTest, FullPoolRefusesAndRecoversOnRelease) {
  // One arena of one page holds exactly one 4 KiB chunk.
  LockedPool pool(4096, 1);
  auto a = pool.Allocate(4096);
  ASSERT_NE(a.data, nullptr);
  EXPECT_EQ(pool.Allocate(4096).data, nullptr);  // full: the caller falls back
  EXPECT_EQ(pool.Allocate(16).data, nullptr);
  pool.Free(a.data, 4096);
  EXPECT_EQ(pool.Allocate(4096).data, a.data);
}

TEST(LockedPoolTest, GrowsToMoreArenasThenStops) {
  LockedPool pool(4096, 3);
  std::vector<uint8_t*> got;
  for (int i = 0; i < 3; ++i) {
    auto b = pool.Allocate(4096);
    ASSERT_NE(b.data, nullptr) << i;
    EXPECT_TRUE(pool.Owns(b.data));
    got.push_back(b.data);
  }
  EXPECT_EQ(pool.arenas(), 3u);
  EXPECT_EQ(pool.Allocate(4096).data, nullptr);
  int local = 0;
  EXPECT_FALSE(pool.Owns(&local));
  for (uint8_t* p : got) pool.Free(p, 4096);
}

// The smaps flags of the mapping holding addr ("lo" locked, "dd" don't dump,
// "wf" wipe on fork).
std::vector<std::string> VmFlags(const void* addr) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    if (std::sscanf(line.c_str(), "%lx%c%lx", &lo, &dash, &hi) == 3 && dash == '-') {
      inside = lo <= a && a < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) {
      std::vector<std::string> flags;
      char buf[8];
      const char* s = line.c_str() + 8;
      int used = 0;
      while (std::sscanf(s, "%7s%n", buf, &used) == 1) {
        flags.emplace_back(buf);
        s += used;
      }
      return flags;
    }
  }
  return {};
}

TEST(LockedPoolTest, ArenaIsNotDumpedAndWipedInForkedChild) {
  LockedPool pool(64 * 1024, 1);
  auto b = pool.Allocate(32);
  ASSERT_NE(b.data, nullptr);
  std::memset(b.data, 0x5A, 32);
  auto flags = VmFlags(b.data);
  ASSERT_FALSE(flags.empty());
  EXPECT_NE(std::find(flags.begin(), flags.end(), "dd"), flags.end()) << "MADV_DONTDUMP missing";
  if (b.locked) {
    EXPECT_NE(std::find(flags.begin(), flags.end(), "lo"), flags.end());
  }
#ifdef MADV_WIPEONFORK
  EXPECT_NE(std::find(flags.begin(), flags.end(), "wf"), flags.end()) << "MADV_WIPEONFORK missing";
  // A forked child (astis-run forks before exec) reads zeros, not the secret.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    bool zero = true;
    for (int i = 0; i < 32; ++i) zero = zero && b.data[i] == 0;
    ::_exit(zero ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child saw the parent's secret";
#endif
  EXPECT_EQ(b.data[0], 0x5A);  // the parent keeps its bytes
  pool.Free(b.data, 32);
}

TEST(LockedPoolTest, ConcurrentAllocateAndFreeNeverShareAChunk) {
  LockedPool pool(64 * 1024, 4);
  constexpr int kThreads = 4, kRounds = 2000;
  std::vector<std::thread> workers;
  std::atomic<int> clashes{0}, refused{0};
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const size_t n = 16u << (static_cast<unsigned>(i + t) % 5);
        auto b = pool.Allocate(n);
        if (b.data == nullptr) {
          ++refused;
          continue;
        }
        std::memset(b.data, t + 1, n);
        for (size_t k = 0; k < n; ++k) {
          if (b.data[k] != t + 1) ++clashes;
        }
        std::memset(b.data, 0, n);
        pool.Free(b.data, n);
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(clashes.load(), 0);
  EXPECT_EQ(refused.load(), 0);
  EXPECT_EQ(pool.in_use(), 0u);
}

// SecretBytes uses the global pool for small locked buffers and
// sodium_malloc beyond kMaxChunk; both are locked memory and wiped.
TEST(LockedPoolTest, SecretBytesSmallLockedComeFromThePool) {
  SecretBytes small(32, SecretBytes::Protection::kLocked);
  EXPECT_TRUE(LockedPool::Global().Owns(small.TestOnlyDataAddress()));
  SecretBytes large(LockedPool::kMaxChunk + 1, SecretBytes::Protection::kLocked);
  EXPECT_FALSE(LockedPool::Global().Owns(large.TestOnlyDataAddress()));
  SecretBytes plain(32, SecretBytes::Protection::kPlain);
  EXPECT_FALSE(LockedPool::Global().Owns(plain.TestOnlyDataAddress()));
  // A moved-from buffer releases nothing; the moved-to one releases once.
  const size_t before = LockedPool::Global().in_use();
  {
    SecretBytes moved = std::move(small);
    EXPECT_EQ(LockedPool::Global().in_use(), before);
  }
  EXPECT_EQ(LockedPool::Global().in_use(), before - 1);
}

}  // namespace
}  // namespace astis::crypto_internal
