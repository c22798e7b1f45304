// Cold caches for microbenchmarks: what an idle process finds when its next
// request arrives at low load, after other processes, other guests and the
// kernel have run on its core (docs/performance.md "Cold caches").
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <vector>

namespace astis::bench {

// ColdCache holds `kib` KiB of its own data; Evict reads one byte of every
// 64-byte line of it, which pushes out what the previous iteration left in
// the data caches and the TLB. Reads only: dirty lines would charge their
// write-back to the timed work that follows. Call it with timing paused.
class ColdCache {
 public:
  explicit ColdCache(size_t kib) : buf_(kib * 1024, 1) {}
  void Evict() const {
    unsigned sum = 0;
    for (size_t i = 0; i < buf_.size(); i += 64) sum += buf_[i];
    benchmark::DoNotOptimize(sum);
  }

 private:
  std::vector<unsigned char> buf_;
};

}  // namespace astis::bench
