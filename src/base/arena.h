// Bump allocator for memtables: many small allocations freed all at once.
//
// Thread safety: Allocate* must be called by one thread at a time (the memtable's single
// writer); MemoryUsage() may be read from any thread.
#ifndef CAIRN_BASE_ARENA_H_
#define CAIRN_BASE_ARENA_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace cairn {

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // REQUIRES: bytes > 0.
  char* Allocate(size_t bytes) {
    if (bytes <= remaining_) {
      char* result = ptr_;
      ptr_ += bytes;
      remaining_ -= bytes;
      return result;
    }
    return AllocateFallback(bytes);
  }
  // Memory aligned for pointers and atomics.
  char* AllocateAligned(size_t bytes);

  // Bytes reserved from the system, including block overhead.
  size_t MemoryUsage() const { return usage_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kBlockSize = 4096;
  char* AllocateFallback(size_t bytes);
  char* NewBlock(size_t bytes);

  char* ptr_ = nullptr;
  size_t remaining_ = 0;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::atomic<size_t> usage_{0};
};

}  // namespace cairn

#endif  // CAIRN_BASE_ARENA_H_
