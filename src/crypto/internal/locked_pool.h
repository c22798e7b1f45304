// LockedPool: small secret buffers from mlock'd, never-dumped arenas.
//
// SecretBytes::Protection::kLocked used to call sodium_malloc per buffer:
// an mmap, two guard-page mprotects, madvise and mlock, and on release
// munlock and munmap, each mprotect/munmap also interrupting every other
// core to flush its TLB. A profile of the edge under load put these system
// calls at about 15 % of its CPU (docs/performance.md), for buffers of 32 to
// a few hundred bytes. LockedPool does what OpenSSL's secure heap does:
// a few large arenas, each mlock'd, MADV_DONTDUMP and MADV_WIPEONFORK and
// fenced by PROT_NONE guard pages, carved into power-of-two chunks kept on
// free lists. Allocation and release are a mutex and a vector push/pop.
//
// What changes against sodium_malloc: no guard page between two secrets of
// one arena (an overflow from one buffer reaches its neighbour instead of
// faulting). Under AddressSanitizer free chunks are poisoned, so a use
// after release is still reported in the sanitizer build. Requests larger
// than kMaxChunk, and any request once every arena is full, return nullptr:
// the caller falls back to sodium_malloc (docs/secret-hygiene.md).
//
// Internal to src/crypto (secret_bytes.cc and its tests).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace astis::crypto_internal {

class LockedPool {
 public:
  static constexpr size_t kMinChunk = 16;
  static constexpr size_t kMaxChunk = 4096;
  static constexpr size_t kDefaultArenaBytes = 256 * 1024;
  static constexpr size_t kDefaultMaxArenas = 16;  // at most 4 MiB locked

  // Block is one chunk: data (nullptr when the pool cannot serve the
  // request) and whether its arena's mlock took.
  struct Block {
    uint8_t* data = nullptr;
    bool locked = false;
  };

  // arena_bytes is rounded up to whole pages; max_arenas >= 1.
  LockedPool(size_t arena_bytes, size_t max_arenas);
  ~LockedPool();
  LockedPool(const LockedPool&) = delete;
  LockedPool& operator=(const LockedPool&) = delete;

  // Global is the process-wide pool SecretBytes uses (never destroyed, so
  // secrets in static objects may be released during exit).
  static LockedPool& Global();

  // Allocate returns a chunk of at least n bytes (1 <= n <= kMaxChunk),
  // 16-byte aligned, contents unspecified; {nullptr, false} when n is out of
  // range or every arena is full. Thread-safe.
  Block Allocate(size_t n);
  // Free returns a chunk Allocate gave for size n. The caller has wiped it.
  // Thread-safe.
  void Free(uint8_t* data, size_t n);
  // Owns reports whether p lies in one of this pool's arenas.
  bool Owns(const void* p) const;

  // For tests: arenas mapped and chunks currently handed out.
  size_t arenas() const;
  size_t in_use() const;

 private:
  static constexpr size_t kClasses = 9;  // 16, 32, ..., 4096
  struct Arena {
    uint8_t* base = nullptr;  // first usable byte (after the guard page)
    size_t size = 0;
    size_t used = 0;          // bump pointer
    bool locked = false;
  };
  static size_t ClassOf(size_t n);
  bool MapArenaLocked();  // requires mu_

  const size_t arena_bytes_;
  const size_t max_arenas_;
  size_t page_ = 4096;
  mutable std::mutex mu_;
  std::vector<Arena> arenas_;  // reserved to max_arenas_: never reallocates
  std::array<std::vector<uint8_t*>, kClasses> free_;
  size_t in_use_ = 0;
  // Arena bounds readable without the lock (Owns): published after mapping.
  std::atomic<size_t> published_{0};
  std::vector<std::pair<uintptr_t, uintptr_t>> bounds_;  // reserved to max_arenas_
};

}  // namespace astis::crypto_internal
