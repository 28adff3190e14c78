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

}  // namespace
}  // namespace cairn
