#include "base/arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/random.h"

namespace cairn {
namespace {

TEST(ArenaTest, AllocationsAreDistinctAndKeepTheirBytes) {
  Arena arena;
  Random rnd(301);
  std::vector<std::pair<char*, size_t>> allocs;
  size_t total = 0;
  for (int i = 0; i < 5000; i++) {
    size_t n = rnd.OneIn(50) ? rnd.Uniform(6000) + 1 : rnd.Uniform(100) + 1;
    char* p = rnd.OneIn(3) ? arena.AllocateAligned(n) : arena.Allocate(n);
    std::memset(p, i % 256, n);
    allocs.emplace_back(p, n);
    total += n;
    EXPECT_GE(arena.MemoryUsage(), total);
  }
  for (size_t i = 0; i < allocs.size(); i++) {
    for (size_t j = 0; j < allocs[i].second; j++) {
      ASSERT_EQ(static_cast<uint8_t>(allocs[i].first[j]), i % 256);
    }
  }
}

TEST(ArenaTest, AlignedAllocationsAreAligned) {
  Arena arena;
  arena.Allocate(3);
  for (int i = 0; i < 100; i++) {
    char* p = arena.AllocateAligned(i + 1);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u);
  }
}

// Huge-page blocks (2 MiB, from mmap): bytes survive, usage counts whole blocks, and
// objects larger than a quarter block get blocks of their own.
TEST(ArenaTest, HugePageBlocksHoldManyAllocations) {
  Arena arena(Arena::kHugePageSize);
  EXPECT_EQ(arena.MemoryUsage(), 0u);
  std::vector<std::pair<char*, char>> written;
  size_t total = 0;
  for (int i = 0; total < 5 * Arena::kHugePageSize; i++) {
    const size_t n = 1 + (i * 37) % 300;
    char* p = arena.AllocateAligned(n);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u);
    std::memset(p, static_cast<char>(i), n);
    written.emplace_back(p + n - 1, static_cast<char>(i));
    total += n;
  }
  for (const auto& [p, c] : written) ASSERT_EQ(*p, c);
  EXPECT_GE(arena.MemoryUsage(), total);
  EXPECT_LE(arena.MemoryUsage(), total + 2 * Arena::kHugePageSize);
  const size_t before = arena.MemoryUsage();
  char* big = arena.Allocate(Arena::kHugePageSize);  // a block of its own
  std::memset(big, 7, Arena::kHugePageSize);
  EXPECT_GE(arena.MemoryUsage(), before + Arena::kHugePageSize);
}

TEST(ArenaTest, HugeBlocksOfADestroyedArenaAreReusedNotRemapped) {
  char* first;
  {
    Arena a(Arena::kHugePageSize);
    first = a.Allocate(100);
    std::memset(first, 'x', 100);
  }
  Arena b(Arena::kHugePageSize);
  char* again = b.Allocate(100);
  EXPECT_EQ(again, first);
  // Still holding what the first arena wrote: the same pages, not a fresh (zeroed) map.
  EXPECT_EQ(again[0], 'x');
  EXPECT_EQ(again[99], 'x');
  std::memset(again, 'y', 100);
  EXPECT_EQ(again[99], 'y');
}

}  // namespace
}  // namespace cairn
