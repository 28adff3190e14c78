// Bump allocator for memtables: many small allocations freed all at once.
//
// Blocks of 2 MiB are taken straight from the kernel, 2 MiB-aligned and marked for
// transparent huge pages: a memtable's skiplist is a chain of random memory accesses,
// and with 4 KiB pages nearly every step also misses the TLB (a page walk, costly under
// virtualization). Smaller blocks come from the heap. Freed 2 MiB blocks are kept in a
// process-wide pool (up to 64 MiB) for the next arena: no page faults, no zeroing.
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
  static constexpr size_t kDefaultBlockSize = 4096;
  static constexpr size_t kHugePageSize = size_t{2} << 20;

  // block_size: bytes per block (kHugePageSize or more: huge-page blocks).
  explicit Arena(size_t block_size = kDefaultBlockSize);
  ~Arena();
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
  // Memory aligned for pointers and atomics (8 bytes).
  char* AllocateAligned(size_t bytes);

  // Bytes reserved from the system, including block overhead.
  size_t MemoryUsage() const { return usage_.load(std::memory_order_relaxed); }

 private:
  struct Block {
    char* data;
    size_t size;
    bool mapped;  // from mmap (huge-page block), else new[]
  };
  char* AllocateFallback(size_t bytes);
  char* NewBlock(size_t bytes);

  const size_t block_size_;
  char* ptr_ = nullptr;
  size_t remaining_ = 0;
  std::vector<Block> blocks_;
  std::atomic<size_t> usage_{0};
};

}  // namespace cairn

#endif  // CAIRN_BASE_ARENA_H_
