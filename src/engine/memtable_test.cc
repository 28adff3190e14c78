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

}  // namespace
}  // namespace cairn::engine
