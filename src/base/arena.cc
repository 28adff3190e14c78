#include "base/arena.h"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

namespace cairn {
namespace {

// size bytes aligned to kHugePageSize and advised for transparent huge pages, or
// nullptr if the kernel refuses the mapping.
char* MapHugeBlock(size_t size) {
  const size_t align = Arena::kHugePageSize;
  // Over-map by one alignment unit, then trim both ends to an aligned region.
  void* raw =
      ::mmap(nullptr, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + align - 1) & ~(uintptr_t{align} - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t end = start + size + align;
  if (end > aligned + size) ::munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  ::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);  // a hint: may be ignored
  return reinterpret_cast<char*>(aligned);
}

// Huge blocks of destroyed arenas, kept for the next ones. A freshly mapped block costs a
// page fault and the kernel zeroing 2 MiB (7% of a fillrandom profile); malloc gives
// LevelDB's memtables recycled memory the same way. At most kMaxBlocks are kept (one
// 64 MiB memtable's worth); the rest go back to the kernel.
class HugeBlockPool {
 public:
  static constexpr size_t kMaxBlocks = 32;

  static HugeBlockPool& Get() {
    static HugeBlockPool* pool = new HugeBlockPool();  // never destroyed: used at exit
    return *pool;
  }
  char* Take() {
    std::lock_guard<std::mutex> l(mu_);
    if (free_.empty()) return nullptr;
    char* b = free_.back();
    free_.pop_back();
    return b;
  }
  // False if the pool is full: the caller unmaps the block.
  bool Give(char* block) {
    std::lock_guard<std::mutex> l(mu_);
    if (free_.size() >= kMaxBlocks) return false;
    free_.push_back(block);
    return true;
  }

 private:
  std::mutex mu_;
  std::vector<char*> free_;
};

}  // namespace

Arena::Arena(size_t block_size) : block_size_(block_size < 256 ? 256 : block_size) {}

Arena::~Arena() {
  for (const Block& b : blocks_) {
    if (b.mapped) {
      if (b.size != kHugePageSize || !HugeBlockPool::Get().Give(b.data)) ::munmap(b.data, b.size);
    } else {
      delete[] b.data;
    }
  }
}

char* Arena::AllocateFallback(size_t bytes) {
  if (bytes > block_size_ / 4) {
    // Large objects get their own block so the current block's tail is not wasted.
    return NewBlock(bytes);
  }
  ptr_ = NewBlock(block_size_);
  remaining_ = block_size_;
  char* result = ptr_;
  ptr_ += bytes;
  remaining_ -= bytes;
  return result;
}

char* Arena::AllocateAligned(size_t bytes) {
  constexpr size_t kAlign = 8;
  size_t mod = reinterpret_cast<uintptr_t>(ptr_) & (kAlign - 1);
  size_t slop = mod == 0 ? 0 : kAlign - mod;
  if (bytes + slop <= remaining_) {
    char* result = ptr_ + slop;
    ptr_ += bytes + slop;
    remaining_ -= bytes + slop;
    return result;
  }
  // New blocks (new[] or mmap) are aligned for any fundamental type.
  return AllocateFallback(bytes);
}

char* Arena::NewBlock(size_t bytes) {
  Block b{nullptr, bytes, false};
  if (bytes >= kHugePageSize && bytes % kHugePageSize == 0) {
    if (bytes == kHugePageSize) b.data = HugeBlockPool::Get().Take();
    if (b.data == nullptr) b.data = MapHugeBlock(bytes);
    b.mapped = b.data != nullptr;
  }
  if (b.data == nullptr) b.data = new char[bytes];  // throws std::bad_alloc like any new
  blocks_.push_back(b);
  usage_.fetch_add(bytes + sizeof(Block), std::memory_order_relaxed);
  return b.data;
}

}  // namespace cairn
