#include "engine/memtable.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "base/coding.h"

namespace cairn::engine {
namespace {

// Keys that stress the memtable's comparator: long shared prefixes (compared a word at a
// time), lengths around the 8-byte word, bytes above 0x7f (unsigned order), prefixes of
// one another, and several versions of one key.
std::string RandomKey(std::mt19937_64& rng) {
  static const std::string kPrefixes[] = {"", "key:000000", "a", "\xff\xfe", "key:00000012"};
  std::string k = kPrefixes[rng() % 5];
  const size_t extra = rng() % 12;
  for (size_t i = 0; i < extra; i++) k.push_back(static_cast<char>("0\x7f\x80\xff" "9a"[rng() % 6]));
  return k;
}

TEST(MemTableTest, OrdersAndFindsKeysAsTheInternalKeyComparator) {
  std::mt19937_64 rng(7);
  MemTable mem(1 << 20, /*hash_index=*/true);
  struct Entry {
    std::string ikey;  // user key + tag, as InternalKeyComparator orders them
    std::string value;
  };
  std::vector<Entry> added;
  SequenceNumber seq = 1;
  for (int i = 0; i < 5000; i++) {
    const std::string key = RandomKey(rng);
    const std::string value = "v" + std::to_string(i);
    mem.Add(seq, kTypeValue, key, value);
    std::string ikey = key;
    PutFixed64(&ikey, PackSequenceAndType(seq, kTypeValue));
    added.push_back({ikey, value});
    seq++;
  }
  InternalKeyComparator cmp;
  std::sort(added.begin(), added.end(),
            [&](const Entry& a, const Entry& b) { return cmp.Compare(a.ikey, b.ikey) < 0; });
  auto it = mem.NewIterator();
  size_t i = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next(), i++) {
    ASSERT_LT(i, added.size());
    ASSERT_EQ(it->key(), added[i].ikey) << i;
    ASSERT_EQ(it->value(), added[i].value) << i;
  }
  EXPECT_EQ(i, added.size());
  // Each user key reads as its newest value; a seek lands on the entry itself.
  for (size_t j = 0; j < added.size(); j++) {
    const std::string_view user_key = ExtractUserKey(added[j].ikey);
    const bool newest = j == 0 || ExtractUserKey(added[j - 1].ikey) != user_key;
    if (newest) {
      std::string value;
      absl::Status s;
      ASSERT_TRUE(mem.Get(LookupKey(user_key, seq), 0, &value, &s)) << j;
      ASSERT_TRUE(s.ok());
      EXPECT_EQ(value, added[j].value) << j;
    }
    it->Seek(added[j].ikey);
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), added[j].ikey);
  }
  std::string value;
  absl::Status s;
  EXPECT_FALSE(mem.Get(LookupKey("key:0000001", seq), 0, &value, &s));  // a prefix of keys
}

// A batch added together (AddStaged, as a write group is) reads as the same entries
// added one by one: same order, same newest values, the later of two writes of one key
// in one batch indexed.
TEST(MemTableTest, StagedBatchesMatchEntriesAddedOneByOne) {
  std::mt19937_64 rng(11);
  MemTable one(1 << 20, /*hash_index=*/true), batched(1 << 20, /*hash_index=*/true);
  SequenceNumber seq = 1;
  std::vector<std::string> keys;
  for (int round = 0; round < 300; round++) {
    std::vector<MemTable::Staged> staged;
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; i++) {
      const std::string key = (i > 0 && rng() % 4 == 0) ? keys.back() : RandomKey(rng);
      const std::string value = "v" + std::to_string(seq);
      const ValueType type = rng() % 8 == 0 ? kTypeDeletion : kTypeValue;
      one.Add(seq, type, key, value);
      staged.push_back(batched.Stage(seq, type, key, value));
      keys.push_back(key);
      seq++;
    }
    batched.AddStaged(staged);
  }
  auto a = one.NewIterator(), b = batched.NewIterator();
  size_t n = 0;
  for (a->SeekToFirst(), b->SeekToFirst(); a->Valid(); a->Next(), b->Next(), n++) {
    ASSERT_TRUE(b->Valid());
    ASSERT_EQ(a->key(), b->key());
    ASSERT_EQ(a->value(), b->value());
  }
  EXPECT_FALSE(b->Valid());
  EXPECT_EQ(n, batched.num_entries());
  for (const std::string& key : keys) {
    std::string va, vb;
    absl::Status sa, sb;
    ASSERT_EQ(one.Get(LookupKey(key, seq), 0, &va, &sa), batched.Get(LookupKey(key, seq), 0, &vb, &sb));
    EXPECT_EQ(sa.code(), sb.code()) << key;
    EXPECT_EQ(va, vb) << key;
  }
}

}  // namespace
}  // namespace cairn::engine
