#include "engine/lru_cache.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_format.h"

namespace cairn::engine {
namespace {

using Cache = LruCache<std::string>;

std::shared_ptr<std::string> V(std::string s) {
  return std::make_shared<std::string>(std::move(s));
}

TEST(LruCacheTest, HitMissAndReplace) {
  Cache c(1000, 0);
  EXPECT_EQ(c.Lookup("a"), nullptr);
  c.Insert("a", V("1"), 10);
  ASSERT_NE(c.Lookup("a"), nullptr);
  EXPECT_EQ(*c.Lookup("a"), "1");
  c.Insert("a", V("2"), 30);
  EXPECT_EQ(*c.Lookup("a"), "2");
  CacheStats st = c.Stats();
  EXPECT_EQ(st.hits, 3u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.inserts, 2u);
  EXPECT_EQ(st.usage, 30u);  // the replaced entry's charge is released
  EXPECT_EQ(st.entries, 1u);
}

TEST(LruCacheTest, EvictsLeastRecentlyUsedFirstAndCountsBytes) {
  Cache c(100, 0);  // one shard: a deterministic order
  c.Insert("a", V("a"), 30);
  c.Insert("b", V("b"), 30);
  c.Insert("c", V("c"), 30);
  ASSERT_NE(c.Lookup("a"), nullptr);  // a is now the most recent; b the least
  c.Insert("d", V("d"), 30);          // 120 > 100: evict b
  EXPECT_EQ(c.Lookup("b"), nullptr);
  EXPECT_NE(c.Lookup("a"), nullptr);
  EXPECT_NE(c.Lookup("c"), nullptr);
  EXPECT_NE(c.Lookup("d"), nullptr);
  EXPECT_EQ(c.Stats().usage, 90u);
  EXPECT_EQ(c.Stats().evictions, 1u);
  // Recency now (most to least): d, c, a. 75 more bytes need all three evicted, least
  // recent first, before the total fits.
  c.Insert("big", V("x"), 75);
  EXPECT_EQ(c.Stats().evictions, 4u);
  EXPECT_EQ(c.Stats().usage, 75u);
  EXPECT_NE(c.Lookup("big"), nullptr);
  EXPECT_EQ(c.Lookup("d"), nullptr);
}

TEST(LruCacheTest, OversizedEntryIsNotKept) {
  Cache c(100, 0);
  c.Insert("a", V("a"), 50);
  c.Insert("huge", V("h"), 500);
  EXPECT_EQ(c.Lookup("huge"), nullptr);
  EXPECT_NE(c.Lookup("a"), nullptr);
}

TEST(LruCacheTest, EvictedValueStaysValidForItsHolder) {
  Cache c(10, 0);
  c.Insert("a", V("still here"), 10);
  auto held = c.Lookup("a");
  c.Insert("b", V("b"), 10);  // evicts a
  EXPECT_EQ(c.Lookup("a"), nullptr);
  EXPECT_EQ(*held, "still here");
}

TEST(LruCacheTest, EraseAndShrinkingCapacity) {
  Cache c(1000, 2);
  for (int i = 0; i < 40; i++) c.Insert(absl::StrFormat("k%d", i), V("v"), 20);
  c.Erase("k3");
  EXPECT_EQ(c.Lookup("k3"), nullptr);
  c.SetCapacity(200);
  EXPECT_LE(c.Stats().usage, 200u);
}

TEST(LruCacheTest, ConcurrentUseKeepsAccountingExact) {
  Cache c(50'000, 4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; i++) {
        std::string k = absl::StrFormat("k%d", (i * 7 + t) % 3000);
        if (auto v = c.Lookup(k)) {
          ASSERT_EQ(*v, k);
        } else {
          c.Insert(k, V(k), 10 + i % 50);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CacheStats st = c.Stats();
  EXPECT_LE(st.usage, st.capacity);
  EXPECT_EQ(st.hits + st.misses, 80000u);
}

}  // namespace
}  // namespace cairn::engine
