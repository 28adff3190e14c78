#include "engine/block.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/coding.h"
#include "base/random.h"
#include "base/status.h"
#include "engine/block_builder.h"
#include "engine/iterator_util.h"

namespace cairn::engine {
namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

// A block over an exactly-sized heap copy, so any read past the end trips ASan.
std::shared_ptr<const Block> MakeBlock(std::string_view bytes) {
  BlockContents c;
  c.owned.reset(new char[bytes.size()]);
  if (!bytes.empty()) std::memcpy(c.owned.get(), bytes.data(), bytes.size());
  c.data = std::string_view(c.owned.get(), bytes.size());
  return std::make_shared<const Block>(std::move(c));
}

std::unique_ptr<Iterator> Iter(std::string_view bytes) {
  return Block::NewIterator(MakeBlock(bytes), CompareBytewise);
}

std::string Build(const Entries& entries, int restart_interval) {
  BlockBuilder b(restart_interval);
  for (const auto& [k, v] : entries) b.Add(k, v);
  size_t estimate = b.CurrentSizeEstimate();
  std::string out(b.Finish());
  EXPECT_EQ(out.size(), estimate);
  return out;
}

// Sorted distinct keys with long shared prefixes, plus odd bytes; values of any length.
Entries RandomEntries(Random* rnd, size_t n) {
  std::set<std::string> keys;
  const char alphabet[] = {'a', 'b', 'c', '\0', '\xff'};
  while (keys.size() < n) {
    std::string k = "prefix/";
    size_t len = rnd->Uniform(12);
    for (size_t i = 0; i < len; i++) k.push_back(alphabet[rnd->Uniform(rnd->OneIn(8) ? 5 : 3)]);
    keys.insert(k);
  }
  Entries out;
  for (const auto& k : keys) {
    std::string v(rnd->OneIn(5) ? 0 : rnd->Uniform(40), '\0');
    for (auto& c : v) c = static_cast<char>('A' + rnd->Uniform(26));
    out.emplace_back(k, v);
  }
  return out;
}

void ExpectForwardBackward(const std::string& block, const Entries& entries) {
  auto it = Iter(block);
  size_t i = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next(), i++) {
    ASSERT_LT(i, entries.size());
    ASSERT_EQ(it->key(), entries[i].first);
    ASSERT_EQ(it->value(), entries[i].second);
  }
  EXPECT_EQ(i, entries.size());
  EXPECT_TRUE(it->status().ok()) << it->status();
  for (it->SeekToLast(); it->Valid(); it->Prev()) {
    ASSERT_GT(i, 0u);
    i--;
    ASSERT_EQ(it->key(), entries[i].first);
    ASSERT_EQ(it->value(), entries[i].second);
  }
  EXPECT_EQ(i, 0u);
  EXPECT_TRUE(it->status().ok()) << it->status();
}

TEST(BlockTest, EmptyBlock) {
  BlockBuilder b(16);
  EXPECT_TRUE(b.empty());
  std::string block(b.Finish());
  EXPECT_EQ(block.size(), 8u);  // one restart (0) and the count
  auto it = Iter(block);
  it->SeekToFirst();
  EXPECT_FALSE(it->Valid());
  it->SeekToLast();
  EXPECT_FALSE(it->Valid());
  it->Seek("anything");
  EXPECT_FALSE(it->Valid());
  it->Seek("");
  EXPECT_FALSE(it->Valid());
  EXPECT_TRUE(it->status().ok());
}

TEST(BlockTest, ForwardAndBackwardForEachRestartInterval) {
  Random rnd(1);
  for (int interval : {1, 2, 3, 16}) {
    for (size_t n : {1, 2, 16, 17, 33, 300}) {
      SCOPED_TRACE("interval " + std::to_string(interval) + " n " + std::to_string(n));
      Entries e = RandomEntries(&rnd, n);
      ExpectForwardBackward(Build(e, interval), e);
    }
  }
}

TEST(BlockTest, EmptyKeysAndValues) {
  Entries e = {{"", ""}, {"a", ""}, {"aa", "x"}, {"ab", ""}, {std::string(1, '\xff'), ""}};
  for (int interval : {1, 2, 16}) ExpectForwardBackward(Build(e, interval), e);
}

TEST(BlockTest, BuilderResetStartsAFreshBlock) {
  BlockBuilder b(2);
  b.Add("zzz", "old");
  (void)b.Finish();
  b.Reset();
  EXPECT_TRUE(b.empty());
  b.Add("aaa", "1");  // smaller than the key before Reset: allowed after Reset
  b.Add("aab", "2");
  std::string block(b.Finish());
  ExpectForwardBackward(block, {{"aaa", "1"}, {"aab", "2"}});
}

TEST(BlockTest, SeekFindsFirstKeyAtOrAfterTarget) {
  Entries e;
  for (int i = 0; i < 100; i++) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "k%04d", i * 10);
    e.emplace_back(buf, "v" + std::to_string(i));
  }
  for (int interval : {1, 2, 16}) {
    SCOPED_TRACE(interval);
    auto it = Iter(Build(e, interval));
    it->Seek("k0500");  // existing
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), "k0500");
    EXPECT_EQ(it->value(), "v50");
    it->Seek("k0501");  // between two keys
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), "k0510");
    it->Seek("k05");  // a prefix of existing keys
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), "k0500");
    it->Seek("");  // before the first
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), "k0000");
    it->Seek("a");
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), "k0000");
    it->Seek("k0990");  // the last
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), "k0990");
    it->Next();
    EXPECT_FALSE(it->Valid());
    it->Seek("k0991");  // after the last
    EXPECT_FALSE(it->Valid());
    it->Seek("z");
    EXPECT_FALSE(it->Valid());
    EXPECT_TRUE(it->status().ok());
    for (size_t i = 0; i < e.size(); i++) {
      it->Seek(e[i].first);
      ASSERT_TRUE(it->Valid());
      ASSERT_EQ(it->key(), e[i].first);
      // Prev from every position, including the first key of each restart interval.
      it->Prev();
      if (i == 0) {
        ASSERT_FALSE(it->Valid());
      } else {
        ASSERT_TRUE(it->Valid());
        ASSERT_EQ(it->key(), e[i - 1].first);
        ASSERT_EQ(it->value(), e[i - 1].second);
      }
    }
  }
}

// Random mixes of every move, compared step by step with a cursor over the sorted model.
TEST(BlockTest, RandomWalkMatchesModel) {
  Random rnd(77);
  for (int round = 0; round < 30; round++) {
    const int interval = static_cast<int>(1 + rnd.Uniform(17));
    Entries e = RandomEntries(&rnd, rnd.Uniform(80));
    std::map<std::string, std::string> model(e.begin(), e.end());
    auto it = Iter(Build(e, interval));
    auto cur = model.end();
    for (int step = 0; step < 500; step++) {
      const bool valid = cur != model.end();
      switch (rnd.Uniform(6)) {
        case 0:
          it->SeekToFirst();
          cur = model.begin();
          break;
        case 1:
          it->SeekToLast();
          cur = model.empty() ? model.end() : std::prev(model.end());
          break;
        case 2: {
          std::string t = !e.empty() && rnd.OneIn(2) ? e[rnd.Uniform(e.size())].first
                                                     : RandomEntries(&rnd, 1)[0].first;
          if (rnd.OneIn(4)) t.resize(rnd.Uniform(t.size() + 1));
          it->Seek(t);
          cur = model.lower_bound(t);
          break;
        }
        case 3:
        case 4:
          if (!valid) continue;
          it->Next();
          ++cur;
          break;
        default:
          if (!valid) continue;
          it->Prev();
          cur = cur == model.begin() ? model.end() : std::prev(cur);
          break;
      }
      ASSERT_EQ(it->Valid(), cur != model.end()) << "round " << round << " step " << step;
      if (cur != model.end()) {
        ASSERT_EQ(it->key(), cur->first);
        ASSERT_EQ(it->value(), cur->second);
      }
    }
    EXPECT_TRUE(it->status().ok());
  }
}

// --- Damaged blocks -------------------------------------------------------------------

// Every traversal over possibly damaged bytes: must not crash or read outside the block
// (ASan), every loop must end, and key()/value() are only read while Valid().
void Exercise(std::string_view bytes, const std::vector<std::string>& probes) {
  auto it = Iter(bytes);
  const size_t cap = bytes.size() / 3 + 2;  // an entry is at least 3 bytes long
  size_t touched = 0;
  auto touch = [&] {
    std::string_view k = it->key(), v = it->value();
    for (char c : k) touched += static_cast<uint8_t>(c);
    for (char c : v) touched += static_cast<uint8_t>(c);
  };
  size_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    touch();
    ASSERT_LE(++n, cap) << "forward loop does not end";
  }
  n = 0;
  for (it->SeekToLast(); it->Valid(); it->Prev()) {
    touch();
    ASSERT_LE(++n, cap) << "backward loop does not end";
  }
  for (const auto& p : probes) {
    it->Seek(p);
    for (int i = 0; i < 3 && it->Valid(); i++) {
      touch();
      it->Next();
    }
    it->Seek(p);
    for (int i = 0; i < 3 && it->Valid(); i++) {
      touch();
      it->Prev();
    }
  }
  // A status that is not OK must be a corruption, and leaves the iterator invalid.
  if (!it->status().ok()) {
    EXPECT_TRUE(IsCorruption(it->status())) << it->status();
    EXPECT_FALSE(it->Valid());
  }
  (void)touched;
}

struct DamageCase {
  Entries entries;
  std::string block;
  std::vector<std::string> probes;
};
DamageCase MakeDamageCase(uint64_t seed, int interval) {
  Random rnd(seed);
  DamageCase d;
  d.entries = RandomEntries(&rnd, 25);
  d.block = Build(d.entries, interval);
  d.probes = {"", "prefix/", "prefix/b", "zzz", d.entries[7].first, d.entries.back().first};
  return d;
}

TEST(BlockTest, TruncatedAtEveryLength) {
  for (int interval : {1, 4, 16}) {
    DamageCase d = MakeDamageCase(interval, interval);
    for (size_t len = 0; len < d.block.size(); len++) {
      SCOPED_TRACE(len);
      ASSERT_NO_FATAL_FAILURE(Exercise(std::string_view(d.block).substr(0, len), d.probes));
    }
    // Too short to hold the restart count: an error, not an empty block.
    for (size_t len = 0; len < 4; len++) {
      auto it = Iter(std::string_view(d.block).substr(0, len));
      it->SeekToFirst();
      EXPECT_FALSE(it->Valid());
      EXPECT_TRUE(IsCorruption(it->status())) << len;
    }
  }
}

TEST(BlockTest, EveryBitFlipAndByteOverwriteIsSurvived) {
  Random rnd(5);
  for (int interval : {1, 4, 16}) {
    DamageCase d = MakeDamageCase(100 + interval, interval);
    for (size_t pos = 0; pos < d.block.size(); pos++) {
      SCOPED_TRACE(pos);
      std::string bad = d.block;
      for (int bit = 0; bit < 8; bit++) {
        bad[pos] = static_cast<char>(d.block[pos] ^ (1 << bit));
        ASSERT_NO_FATAL_FAILURE(Exercise(bad, d.probes));
      }
      for (uint8_t v :
           {uint8_t{0}, uint8_t{0xff}, uint8_t{0x80}, static_cast<uint8_t>(rnd.Next())}) {
        bad[pos] = static_cast<char>(v);
        ASSERT_NO_FATAL_FAILURE(Exercise(bad, d.probes));
      }
    }
  }
}

TEST(BlockTest, RandomGarbageIsSurvived) {
  Random rnd(9);
  const std::vector<std::string> probes = {"", "a", "\x80", std::string(3, '\xff')};
  for (int i = 0; i < 20000; i++) {
    std::string g(rnd.Uniform(120), '\0');
    for (auto& c : g) c = static_cast<char>(rnd.OneIn(3) ? rnd.Uniform(4) : rnd.Next());
    // Often give it a plausible restart array, so the parser gets past the trailer.
    if (g.size() >= 12 && rnd.OneIn(2)) {
      uint32_t nr = 1 + rnd.Uniform(2);
      for (uint32_t r = 0; r < nr; r++) {
        EncodeFixed32(&g[g.size() - 4 - 4 * (nr - r)],
                      static_cast<uint32_t>(r == 0 ? 0 : rnd.Uniform(g.size())));
      }
      EncodeFixed32(&g[g.size() - 4], nr);
    }
    ASSERT_NO_FATAL_FAILURE(Exercise(g, probes)) << i;
  }
}

// Specific damage the reader must detect (not merely survive).
TEST(BlockTest, DetectsMalformedStructure) {
  const Entries e = {{"apple", "1"}, {"apricot", "2"}, {"banana", "3"}, {"blueberry", "4"}};
  const std::string good = Build(e, 2);  // restarts at entries 0 and 2
  auto expect_corrupt_scan = [](const std::string& bytes, const char* what) {
    auto it = Iter(bytes);
    int n = 0;
    for (it->SeekToFirst(); it->Valid() && n < 100; it->Next()) n++;
    EXPECT_TRUE(IsCorruption(it->status())) << what << ": " << it->status();
    EXPECT_FALSE(it->Valid()) << what;
  };
  auto with_fixed32 = [&](size_t pos, uint32_t v) {
    std::string b = good;
    EncodeFixed32(&b[pos], v);
    return b;
  };
  const size_t count_pos = good.size() - 4;
  const size_t restart0 = good.size() - 12, restart1 = good.size() - 8;
  expect_corrupt_scan(with_fixed32(count_pos, 0), "zero restarts");
  expect_corrupt_scan(with_fixed32(count_pos, 1000), "more restarts than fit");
  expect_corrupt_scan(with_fixed32(count_pos, 0xffffffffu), "restart count overflow");
  expect_corrupt_scan(with_fixed32(restart0, 0xfffffff0u), "restart offset past the entries");
  {
    // Restart 1 moved to entry 1, whose key shares a prefix: Seek decodes it as a
    // restart key with shared != 0.
    std::string b = with_fixed32(restart1, 3 + 5 + 1);  // entry 1: header, "apple", "1"
    auto it = Iter(b);
    it->Seek("banana");
    EXPECT_FALSE(it->Valid());
    EXPECT_TRUE(IsCorruption(it->status())) << it->status();
  }
  {
    // First entry claims to share bytes with a previous key that does not exist.
    std::string b = good;
    b[0] = 3;
    expect_corrupt_scan(b, "shared bytes at a restart point");
  }
  {
    // Value length running past the entries.
    std::string b = good;
    b[2] = 100;
    expect_corrupt_scan(b, "value length past the entries");
  }
}

}  // namespace
}  // namespace cairn::engine
