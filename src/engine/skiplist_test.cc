#include "engine/skiplist.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "base/arena.h"
#include "base/coding.h"
#include "base/random.h"

namespace cairn::engine {
namespace {

// Keys are 8-byte fixed64 encodings compared as numbers; List wraps the byte-string list
// so the tests read in uint64_t.
struct U64Cmp {
  int operator()(const char* a, const char* b) const {
    const uint64_t x = DecodeFixed64(a), y = DecodeFixed64(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
};

class List {
 public:
  List(U64Cmp cmp, Arena* arena) : list_(cmp, arena) {}
  void Insert(uint64_t k) {
    char* key = list_.AllocateKey(8);
    EncodeFixed64(key, k);
    list_.Insert(key);
  }
  // ks: ascending, distinct, none in the list yet.
  void InsertSorted(const std::vector<uint64_t>& ks) {
    std::vector<const char*> keys;
    for (uint64_t k : ks) {
      char* key = list_.AllocateKey(8);
      EncodeFixed64(key, k);
      keys.push_back(key);
    }
    list_.InsertSorted(keys.data(), keys.size());
  }
  bool Contains(uint64_t k) const {
    char key[8];
    EncodeFixed64(key, k);
    return list_.Contains(key);
  }

  class Iterator {
   public:
    explicit Iterator(const List* list) : it_(&list->list_) {}
    bool Valid() const { return it_.Valid(); }
    uint64_t key() const { return DecodeFixed64(it_.key()); }
    void Next() { it_.Next(); }
    void Prev() { it_.Prev(); }
    void Seek(uint64_t target) {
      char key[8];
      EncodeFixed64(key, target);
      it_.Seek(key);
    }
    void SeekToFirst() { it_.SeekToFirst(); }
    void SeekToLast() { it_.SeekToLast(); }

   private:
    SkipList<U64Cmp>::Iterator it_;
  };

 private:
  SkipList<U64Cmp> list_;
};

TEST(SkipListTest, EmptyListHasNothing) {
  Arena arena;
  List list(U64Cmp(), &arena);
  EXPECT_FALSE(list.Contains(0));
  EXPECT_FALSE(list.Contains(10));

  List::Iterator it(&list);
  EXPECT_FALSE(it.Valid());
  it.SeekToFirst();
  EXPECT_FALSE(it.Valid());
  it.SeekToLast();
  EXPECT_FALSE(it.Valid());
  it.Seek(100);
  EXPECT_FALSE(it.Valid());
  it.Seek(0);
  EXPECT_FALSE(it.Valid());
}

TEST(SkipListTest, SingleKeyIncludingZero) {
  Arena arena;
  List list(U64Cmp(), &arena);
  list.Insert(0);  // 0 encodes as zero bytes: it must still be found
  EXPECT_TRUE(list.Contains(0));
  EXPECT_FALSE(list.Contains(1));
  List::Iterator it(&list);
  it.SeekToFirst();
  ASSERT_TRUE(it.Valid());
  EXPECT_EQ(it.key(), 0u);
  it.Prev();
  EXPECT_FALSE(it.Valid());
  it.SeekToLast();
  ASSERT_TRUE(it.Valid());
  EXPECT_EQ(it.key(), 0u);
  it.Next();
  EXPECT_FALSE(it.Valid());
}

// Random inserts checked against std::set: membership, and every iterator operation.
TEST(SkipListTest, RandomInsertsMatchSetModel) {
  constexpr int kN = 2000;
  constexpr uint64_t kRange = 5000;
  Random rnd(301);
  Arena arena;
  List list(U64Cmp(), &arena);
  std::set<uint64_t> model;
  for (int i = 0; i < kN; i++) {
    uint64_t k = rnd.Uniform(kRange);
    if (model.insert(k).second) list.Insert(k);
  }
  ASSERT_GT(arena.MemoryUsage(), 0u);

  for (uint64_t k = 0; k < kRange + 10; k++) {
    ASSERT_EQ(list.Contains(k), model.count(k) == 1) << k;
  }

  // Forward over the whole list.
  List::Iterator it(&list);
  it.SeekToFirst();
  for (uint64_t k : model) {
    ASSERT_TRUE(it.Valid());
    ASSERT_EQ(it.key(), k);
    it.Next();
  }
  EXPECT_FALSE(it.Valid());

  // Backward over the whole list.
  it.SeekToLast();
  for (auto r = model.rbegin(); r != model.rend(); ++r) {
    ASSERT_TRUE(it.Valid());
    ASSERT_EQ(it.key(), *r);
    it.Prev();
  }
  EXPECT_FALSE(it.Valid());

  // Seek to every possible target, then step a few times each way.
  for (uint64_t target = 0; target < kRange + 10; target += 7) {
    it.Seek(target);
    auto m = model.lower_bound(target);
    if (m == model.end()) {
      ASSERT_FALSE(it.Valid()) << target;
      continue;
    }
    ASSERT_TRUE(it.Valid()) << target;
    ASSERT_EQ(it.key(), *m);
    auto fwd = m;
    List::Iterator it2 = it;
    for (int s = 0; s < 3; s++) {
      ++fwd;
      it2.Next();
      if (fwd == model.end()) {
        ASSERT_FALSE(it2.Valid());
        break;
      }
      ASSERT_TRUE(it2.Valid());
      ASSERT_EQ(it2.key(), *fwd);
    }
    auto back = m;
    for (int s = 0; s < 3; s++) {
      it.Prev();
      if (back == model.begin()) {
        ASSERT_FALSE(it.Valid());
        break;
      }
      --back;
      ASSERT_TRUE(it.Valid());
      ASSERT_EQ(it.key(), *back);
    }
  }
}

// Batches inserted together (their searches interleaved) build the same list as single
// inserts: every level stays sorted, which Contains, Seek and Prev (searches from the top
// level down) would otherwise get wrong.
TEST(SkipListTest, SortedBatchInsertsMatchSetModel) {
  constexpr uint64_t kRange = 20000;
  Random rnd(17);
  Arena arena;
  List list(U64Cmp(), &arena);
  std::set<uint64_t> model;
  for (int round = 0; round < 400; round++) {
    std::set<uint64_t> batch;
    const int n = 1 + static_cast<int>(rnd.Uniform(40));  // groups of 8 and their tails
    for (int i = 0; i < n; i++) {
      const uint64_t k = rnd.Uniform(kRange);
      if (model.count(k) == 0) batch.insert(k);
    }
    if (round % 5 == 0 && !batch.empty()) {  // single inserts in between
      list.Insert(*batch.begin());
      model.insert(*batch.begin());
      batch.erase(batch.begin());
    }
    list.InsertSorted(std::vector<uint64_t>(batch.begin(), batch.end()));
    model.insert(batch.begin(), batch.end());
  }
  ASSERT_GT(model.size(), 5000u);
  for (uint64_t k = 0; k < kRange; k++) ASSERT_EQ(list.Contains(k), model.count(k) == 1) << k;
  List::Iterator it(&list);
  it.SeekToFirst();
  for (uint64_t k : model) {
    ASSERT_TRUE(it.Valid());
    ASSERT_EQ(it.key(), k);
    it.Next();
  }
  EXPECT_FALSE(it.Valid());
  it.SeekToLast();
  for (auto r = model.rbegin(); r != model.rend(); ++r) {
    ASSERT_TRUE(it.Valid());
    ASSERT_EQ(it.key(), *r);
    it.Prev();
  }
  EXPECT_FALSE(it.Valid());
  for (uint64_t target = 0; target < kRange; target += 3) {
    it.Seek(target);
    auto m = model.lower_bound(target);
    ASSERT_EQ(it.Valid(), m != model.end()) << target;
    if (m != model.end()) {
      ASSERT_EQ(it.key(), *m) << target;
    }
  }
}

// Dense ascending and descending insert orders stress the tower-building paths.
TEST(SkipListTest, SequentialInsertOrdersIterateSorted) {
  for (bool ascending : {true, false}) {
    Arena arena;
    List list(U64Cmp(), &arena);
    constexpr uint64_t kN = 3000;
    for (uint64_t i = 0; i < kN; i++) list.Insert(ascending ? i : kN - 1 - i);
    List::Iterator it(&list);
    uint64_t expect = 0;
    for (it.SeekToFirst(); it.Valid(); it.Next()) ASSERT_EQ(it.key(), expect++);
    EXPECT_EQ(expect, kN);
    expect = kN;
    for (it.SeekToLast(); it.Valid(); it.Prev()) ASSERT_EQ(it.key(), --expect);
    EXPECT_EQ(expect, 0u);
  }
}

// One writer, several lock-free readers. The writer publishes each key it has inserted
// (in `published`), then bumps `count` with a release store. A reader snapshots `count`
// before it starts: every key published by then must be visible to it, and what it sees
// must always be strictly sorted.
void RunConcurrent(bool increasing_keys) {
  constexpr int kKeys = 30000;
  constexpr int kReaders = 3;
  Arena arena;
  List list(U64Cmp(), &arena);
  std::vector<uint64_t> published(kKeys);
  std::atomic<int> count{0};
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<int> passes{0};

  // Keys: increasing, or a fixed random order of distinct values (inserts land anywhere).
  std::vector<uint64_t> order(kKeys);
  for (int i = 0; i < kKeys; i++) order[i] = uint64_t(i) * 3 + 1;
  if (!increasing_keys) {
    Random shuf(7);
    for (int i = kKeys - 1; i > 0; i--) std::swap(order[i], order[shuf.Uniform(i + 1)]);
  }

  auto reader = [&](uint64_t seed) {
    Random rnd(seed);
    while (!done.load(std::memory_order_acquire)) {
      const int before = count.load(std::memory_order_acquire);
      std::set<uint64_t> must_see;
      // A sample keeps each pass cheap; with increasing keys we check all of them below.
      for (int i = 0; i < 200 && before > 0; i++) must_see.insert(published[rnd.Uniform(before)]);
      List::Iterator it(&list);
      uint64_t prev = 0;
      bool first = true;
      int seen = 0;
      size_t matched = 0;
      auto next_must = must_see.begin();
      for (it.SeekToFirst(); it.Valid(); it.Next()) {
        uint64_t k = it.key();
        if (!first && k <= prev) failures++;
        if (increasing_keys && k != uint64_t(seen) * 3 + 1) failures++;  // no gaps
        while (next_must != must_see.end() && *next_must < k) {
          failures++;  // a published key was skipped
          ++next_must;
        }
        if (next_must != must_see.end() && *next_must == k) {
          ++next_must;
          matched++;
        }
        prev = k;
        first = false;
        seen++;
      }
      if (matched != must_see.size()) failures++;
      if (seen < before) failures++;
      // Point lookups and seeks from the reader side.
      for (int i = 0; i < 20 && before > 0; i++) {
        uint64_t k = published[rnd.Uniform(before)];
        if (!list.Contains(k)) failures++;
        it.Seek(k);
        if (!it.Valid() || it.key() != k) failures++;
      }
      passes++;
    }
  };

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; r++) readers.emplace_back(reader, 1000 + r);
  for (int i = 0; i < kKeys; i++) {
    list.Insert(order[i]);
    published[i] = order[i];
    count.store(i + 1, std::memory_order_release);
    if (i % 1000 == 0) std::this_thread::yield();
  }
  // Let every reader finish at least one pass over the complete list.
  const int target = passes.load() + kReaders;
  while (passes.load() < target) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(passes.load(), 0);

  List::Iterator it(&list);
  int n = 0;
  for (it.SeekToFirst(); it.Valid(); it.Next()) n++;
  EXPECT_EQ(n, kKeys);
}

TEST(SkipListTest, ConcurrentReadersWithOneWriterIncreasingKeys) { RunConcurrent(true); }

TEST(SkipListTest, ConcurrentReadersWithOneWriterRandomKeys) { RunConcurrent(false); }

}  // namespace
}  // namespace cairn::engine
