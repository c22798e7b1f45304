#include "crypto/internal/locked_pool.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bit>

#if defined(__SANITIZE_ADDRESS__)
#define ASTIS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASTIS_ASAN 1
#endif
#endif

#ifdef ASTIS_ASAN
#include <sanitizer/asan_interface.h>
#define ASTIS_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ASTIS_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ASTIS_POISON(p, n) ((void)(p), (void)(n))
#define ASTIS_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace astis::crypto_internal {

LockedPool::LockedPool(size_t arena_bytes, size_t max_arenas)
    : arena_bytes_(arena_bytes), max_arenas_(max_arenas < 1 ? 1 : max_arenas) {
  const long page = ::sysconf(_SC_PAGESIZE);
  if (page > 0) page_ = static_cast<size_t>(page);
  arenas_.reserve(max_arenas_);
  bounds_.reserve(max_arenas_);
}

LockedPool::~LockedPool() {
  for (const Arena& a : arenas_) {
    // Every chunk was wiped on release; unmapping also unlocks. ASan's
    // poison marks outlive the mapping, so they are cleared first: a later
    // mapping at the same addresses (sodium_malloc's) is not ours to
    // police (test LockedPoolTest.SecretBytesSmallLockedComeFromThePool,
    // which failed under ASan after a destroyed pool's arena was reused).
    ASTIS_UNPOISON(a.base, a.size);
    ::munmap(a.base - page_, a.size + 2 * page_);
  }
}

LockedPool& LockedPool::Global() {
  static LockedPool* pool = new LockedPool(kDefaultArenaBytes, kDefaultMaxArenas);
  return *pool;
}

size_t LockedPool::ClassOf(size_t n) {
  const size_t rounded = std::bit_ceil(n < kMinChunk ? kMinChunk : n);
  return static_cast<size_t>(std::countr_zero(rounded) - std::countr_zero(kMinChunk));
}

bool LockedPool::MapArenaLocked() {
  if (arenas_.size() >= max_arenas_) return false;
  const size_t size = (arena_bytes_ + page_ - 1) / page_ * page_;
  // [guard page][size usable bytes][guard page], the guards PROT_NONE.
  void* m = ::mmap(nullptr, size + 2 * page_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return false;
  auto* base = static_cast<uint8_t*>(m) + page_;
  if (::mprotect(base, size, PROT_READ | PROT_WRITE) != 0) {
    ::munmap(m, size + 2 * page_);
    return false;
  }
  // Excluded from core dumps, and a forked child sees zeros, not secrets.
  // Both are best effort (old kernels); the raw mlock system call tells
  // truthfully whether the lock took (sanitizer runtimes replace mlock()
  // with a no-op reporting success; test
  // SecretBytesLockedTest.LockedMemoryIsLockedAndNotDumped reads smaps).
  (void)::madvise(base, size, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
  (void)::madvise(base, size, MADV_WIPEONFORK);
#endif
  Arena a;
  a.base = base;
  a.size = size;
  a.locked = ::syscall(SYS_mlock, base, size) == 0;
  ASTIS_POISON(base, size);
  arenas_.push_back(a);
  bounds_.emplace_back(reinterpret_cast<uintptr_t>(base), reinterpret_cast<uintptr_t>(base) + size);
  published_.store(bounds_.size(), std::memory_order_release);
  return true;
}

LockedPool::Block LockedPool::Allocate(size_t n) {
  if (n == 0 || n > kMaxChunk) return {};
  const size_t cls = ClassOf(n);
  const size_t chunk = kMinChunk << cls;
  std::lock_guard<std::mutex> lock(mu_);
  uint8_t* p = nullptr;
  if (!free_[cls].empty()) {
    p = free_[cls].back();
    free_[cls].pop_back();
  } else {
    // Carve from the newest arena; map another when it is full. Chunks are
    // aligned to min(chunk, 64) within the arena.
    const size_t align = chunk < 64 ? chunk : 64;
    if (arenas_.empty() || (arenas_.back().used + align - 1) / align * align + chunk > arenas_.back().size) {
      if (!MapArenaLocked()) return {};
    }
    Arena& a = arenas_.back();
    a.used = (a.used + align - 1) / align * align;
    p = a.base + a.used;
    a.used += chunk;
  }
  ++in_use_;
  ASTIS_UNPOISON(p, chunk);
  bool locked = false;
  for (const Arena& a : arenas_) {
    if (p >= a.base && p < a.base + a.size) {
      locked = a.locked;
      break;
    }
  }
  return {p, locked};
}

void LockedPool::Free(uint8_t* data, size_t n) {
  if (data == nullptr || n == 0 || n > kMaxChunk) return;
  const size_t cls = ClassOf(n);
  ASTIS_POISON(data, kMinChunk << cls);
  std::lock_guard<std::mutex> lock(mu_);
  free_[cls].push_back(data);
  --in_use_;
}

bool LockedPool::Owns(const void* p) const {
  const auto a = reinterpret_cast<uintptr_t>(p);
  const size_t n = published_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    if (bounds_[i].first <= a && a < bounds_[i].second) return true;
  }
  return false;
}

size_t LockedPool::arenas() const {
  std::lock_guard<std::mutex> lock(mu_);
  return arenas_.size();
}

size_t LockedPool::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_;
}

}  // namespace astis::crypto_internal
