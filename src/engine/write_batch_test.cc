#include "cairn/engine/write_batch.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "base/coding.h"
#include "base/random.h"
#include "base/status.h"
#include "engine/dbformat.h"
#include "engine/memtable.h"
#include "engine/write_batch_internal.h"

namespace cairn::engine {
namespace {

// Records every callback as "Put(k, v)" / "Delete(k)".
class Recorder : public WriteBatch::Handler {
 public:
  void Put(std::string_view key, std::string_view value) override {
    log.push_back("Put(" + std::string(key) + ", " + std::string(value) + ")");
  }
  void Delete(std::string_view key) override { log.push_back("Delete(" + std::string(key) + ")"); }
  std::vector<std::string> log;
};

std::vector<std::string> Records(const WriteBatch& b, absl::Status* s = nullptr) {
  Recorder r;
  absl::Status st = b.Iterate(&r);
  if (s != nullptr) {
    *s = st;
  } else {
    EXPECT_TRUE(st.ok()) << st;
  }
  return r.log;
}

TEST(WriteBatchTest, EmptyBatch) {
  WriteBatch b;
  EXPECT_EQ(b.Count(), 0u);
  EXPECT_EQ(b.ApproximateSize(), WriteBatchInternal::kHeaderSize);
  EXPECT_TRUE(Records(b).empty());
  EXPECT_EQ(WriteBatchInternal::Sequence(b), 0u);
}

TEST(WriteBatchTest, PutDeleteIterateInOrder) {
  WriteBatch b;
  b.Put("foo", "bar");
  b.Delete("box");
  b.Put("baz", "boo");
  b.Put("", "");  // empty key and value are legal
  b.Delete("foo");
  EXPECT_EQ(b.Count(), 5u);
  EXPECT_EQ(Records(b), (std::vector<std::string>{"Put(foo, bar)", "Delete(box)", "Put(baz, boo)",
                                                  "Put(, )", "Delete(foo)"}));
}

TEST(WriteBatchTest, BinaryAndLargeKeysAndValues) {
  WriteBatch b;
  std::string k("\0\xff\x01key", 6), v(100000, '\0');
  for (size_t i = 0; i < v.size(); i++) v[i] = static_cast<char>(i * 31);
  b.Put(k, v);
  struct H : WriteBatch::Handler {
    std::string k, v;
    void Put(std::string_view key, std::string_view value) override { k = key, v = value; }
    void Delete(std::string_view) override { ADD_FAILURE(); }
  } h;
  ASSERT_TRUE(b.Iterate(&h).ok());
  EXPECT_EQ(h.k, k);
  EXPECT_EQ(h.v, v);
}

TEST(WriteBatchTest, ApproximateSizeGrowsWithEachRecord) {
  WriteBatch b;
  size_t last = b.ApproximateSize();
  b.Put("key", "value");
  EXPECT_EQ(b.ApproximateSize(), last + 1 + 1 + 3 + 1 + 5);  // tag, len, key, len, value
  last = b.ApproximateSize();
  b.Delete("key");
  EXPECT_EQ(b.ApproximateSize(), last + 1 + 1 + 3);
  EXPECT_EQ(b.ApproximateSize(), WriteBatchInternal::Contents(b).size());
}

TEST(WriteBatchTest, ClearEmptiesButKeepsWorking) {
  WriteBatch b;
  b.Put("a", "1");
  WriteBatchInternal::SetSequence(&b, 99);
  b.Clear();
  EXPECT_EQ(b.Count(), 0u);
  EXPECT_EQ(b.ApproximateSize(), WriteBatchInternal::kHeaderSize);
  EXPECT_EQ(WriteBatchInternal::Sequence(b), 0u);
  EXPECT_TRUE(Records(b).empty());
  b.Put("b", "2");
  EXPECT_EQ(Records(b), std::vector<std::string>{"Put(b, 2)"});
}

TEST(WriteBatchTest, AppendConcatenatesRecordsAndCounts) {
  WriteBatch a, b, empty;
  a.Put("a", "1");
  b.Delete("x");
  b.Put("y", "2");
  WriteBatchInternal::SetSequence(&a, 10);
  WriteBatchInternal::SetSequence(&b, 500);
  a.Append(empty);
  EXPECT_EQ(a.Count(), 1u);
  a.Append(b);
  EXPECT_EQ(a.Count(), 3u);
  EXPECT_EQ(WriteBatchInternal::Sequence(a), 10u);  // the receiver's header is kept
  EXPECT_EQ(Records(a), (std::vector<std::string>{"Put(a, 1)", "Delete(x)", "Put(y, 2)"}));
  EXPECT_EQ(Records(b), (std::vector<std::string>{"Delete(x)", "Put(y, 2)"}));  // unchanged
  empty.Append(a);
  EXPECT_EQ(Records(empty), Records(a));
  a.Append(a);  // appending a batch to itself doubles it
  EXPECT_EQ(a.Count(), 6u);
  EXPECT_EQ(Records(a).size(), 6u);
}

TEST(WriteBatchTest, SequenceRoundTripsThroughContents) {
  WriteBatch b;
  b.Put("k", "v");
  for (SequenceNumber s :
       {SequenceNumber{0}, SequenceNumber{1}, SequenceNumber{1} << 40, kMaxSequenceNumber}) {
    WriteBatchInternal::SetSequence(&b, s);
    EXPECT_EQ(WriteBatchInternal::Sequence(b), s);
    WriteBatch copy;
    ASSERT_TRUE(WriteBatchInternal::SetContents(&copy, WriteBatchInternal::Contents(b)).ok());
    EXPECT_EQ(WriteBatchInternal::Sequence(copy), s);
    EXPECT_EQ(copy.Count(), 1u);
    EXPECT_EQ(Records(copy), std::vector<std::string>{"Put(k, v)"});
  }
}

TEST(WriteBatchTest, SetContentsRejectsTooShortInput) {
  WriteBatch b;
  b.Put("keep", "me");
  for (size_t n = 0; n < WriteBatchInternal::kHeaderSize; n++) {
    absl::Status s = WriteBatchInternal::SetContents(&b, std::string(n, '\0'));
    EXPECT_TRUE(IsCorruption(s)) << n << ": " << s;
  }
  EXPECT_TRUE(WriteBatchInternal::SetContents(&b, std::string(12, '\0')).ok());
  EXPECT_EQ(b.Count(), 0u);
}

WriteBatch SampleBatch() {
  WriteBatch b;
  b.Put("alpha", "one");
  b.Delete("beta");
  b.Put("gamma", std::string(200, 'g'));  // a two-byte varint length
  b.Delete("");
  b.Put("delta", "");
  WriteBatchInternal::SetSequence(&b, 7);
  return b;
}

TEST(WriteBatchTest, TruncationAtEveryLengthIsCorruption) {
  const std::string full(WriteBatchInternal::Contents(SampleBatch()));
  for (size_t n = WriteBatchInternal::kHeaderSize; n < full.size(); n++) {
    WriteBatch b;
    ASSERT_TRUE(WriteBatchInternal::SetContents(&b, full.substr(0, n)).ok());
    absl::Status s;
    Records(b, &s);
    EXPECT_TRUE(IsCorruption(s)) << "length " << n << ": " << s;
  }
  WriteBatch b;
  ASSERT_TRUE(WriteBatchInternal::SetContents(&b, full).ok());
  EXPECT_EQ(Records(b).size(), 5u);
}

TEST(WriteBatchTest, BadTagIsCorruption) {
  std::string rep(WriteBatchInternal::Contents(SampleBatch()));
  for (uint8_t tag : {uint8_t{2}, uint8_t{0x7f}, uint8_t{0xff}}) {
    std::string bad = rep;
    bad[WriteBatchInternal::kHeaderSize] = static_cast<char>(tag);
    WriteBatch b;
    ASSERT_TRUE(WriteBatchInternal::SetContents(&b, bad).ok());
    absl::Status s;
    Records(b, &s);
    EXPECT_TRUE(IsCorruption(s)) << int(tag) << ": " << s;
  }
}

TEST(WriteBatchTest, CountMismatchIsCorruption) {
  for (uint32_t count : {0u, 4u, 6u, 1000u, 0xffffffffu}) {
    WriteBatch b = SampleBatch();
    WriteBatchInternal::SetCount(&b, count);
    absl::Status s;
    Records(b, &s);
    EXPECT_TRUE(IsCorruption(s)) << count << ": " << s;
  }
}

TEST(WriteBatchTest, RandomDamageNeverCrashes) {
  const std::string rep(WriteBatchInternal::Contents(SampleBatch()));
  Random rnd(3);
  for (size_t pos = 0; pos < rep.size(); pos++) {
    for (int i = 0; i < 8; i++) {
      std::string bad = rep;
      bad[pos] = static_cast<char>(i < 4 ? (rep[pos] ^ (1 << rnd.Uniform(8))) : rnd.Next());
      WriteBatch b;
      ASSERT_TRUE(WriteBatchInternal::SetContents(&b, bad).ok());
      Recorder r;
      absl::Status s = b.Iterate(&r);
      // Either a well-formed batch (possibly different) or a corruption, nothing else.
      EXPECT_TRUE(s.ok() || IsCorruption(s)) << s;
      if (s.ok()) {
        EXPECT_EQ(r.log.size(), b.Count());
      }
    }
  }
}

// --- Into the memtable ----------------------------------------------------------------

std::string Get(const MemTable& mem, std::string_view key, SequenceNumber seq) {
  std::string value;
  absl::Status s;
  if (!mem.Get(LookupKey(key, seq), /*now=*/0, &value, &s)) return "<absent>";
  if (absl::IsNotFound(s)) return "<deleted>";
  EXPECT_TRUE(s.ok()) << s;
  return value;
}

TEST(WriteBatchTest, InsertIntoMemTableUsesConsecutiveSequences) {
  WriteBatch b;
  b.Put("a", "a1");    // 100
  b.Put("b", "b1");    // 101
  b.Delete("a");       // 102
  b.Put("a", "a2");    // 103
  b.Delete("c");       // 104: deleting what never existed
  b.Put("ab", "ab1");  // 105: "a" is a prefix of it
  WriteBatchInternal::SetSequence(&b, 100);
  MemTable mem;
  ASSERT_TRUE(WriteBatchInternal::InsertInto(b, &mem).ok());
  EXPECT_EQ(mem.num_entries(), 6u);

  EXPECT_EQ(Get(mem, "a", 99), "<absent>");
  EXPECT_EQ(Get(mem, "a", 100), "a1");
  EXPECT_EQ(Get(mem, "a", 101), "a1");
  EXPECT_EQ(Get(mem, "a", 102), "<deleted>");
  EXPECT_EQ(Get(mem, "a", 103), "a2");
  EXPECT_EQ(Get(mem, "a", kMaxSequenceNumber), "a2");
  EXPECT_EQ(Get(mem, "b", 100), "<absent>");
  EXPECT_EQ(Get(mem, "b", 101), "b1");
  EXPECT_EQ(Get(mem, "c", 103), "<absent>");
  EXPECT_EQ(Get(mem, "c", 104), "<deleted>");
  EXPECT_EQ(Get(mem, "ab", 104), "<absent>");
  EXPECT_EQ(Get(mem, "ab", 105), "ab1");
  EXPECT_EQ(Get(mem, "", 200), "<absent>");
  EXPECT_EQ(Get(mem, "aa", 200), "<absent>");
  EXPECT_EQ(Get(mem, "zzz", 200), "<absent>");

  // The memtable iterator shows every version, newest first within a key.
  auto it = mem.NewIterator();
  std::vector<std::string> seen;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ParsedInternalKey p;
    ASSERT_TRUE(ParseInternalKey(it->key(), &p));
    seen.push_back(std::string(p.user_key) + "@" + std::to_string(p.sequence) +
                   (p.type == kTypeDeletion ? "D" : "=" + std::string(it->value())));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a@103=a2", "a@102D", "a@100=a1", "ab@105=ab1",
                                            "b@101=b1", "c@104D"}));
}

TEST(WriteBatchTest, SeveralBatchesAndRandomHistoryMatchModel) {
  Random rnd(8);
  MemTable mem;
  // model[key] = list of (sequence, value or nullopt for a deletion), increasing sequence.
  std::map<std::string, std::vector<std::pair<SequenceNumber, std::string>>> model;
  SequenceNumber seq = 1;
  for (int batch = 0; batch < 50; batch++) {
    WriteBatch b;
    WriteBatchInternal::SetSequence(&b, seq);
    const int n = 1 + static_cast<int>(rnd.Uniform(10));
    for (int i = 0; i < n; i++) {
      std::string k = "key" + std::to_string(rnd.Uniform(20));
      if (rnd.OneIn(3)) {
        b.Delete(k);
        model[k].emplace_back(seq + i, "<deleted>");
      } else {
        std::string v = "v" + std::to_string(seq + i);
        b.Put(k, v);
        model[k].emplace_back(seq + i, v);
      }
    }
    ASSERT_TRUE(WriteBatchInternal::InsertInto(b, &mem).ok());
    seq += n;
  }
  for (int k = 0; k < 21; k++) {
    const std::string key = "key" + std::to_string(k);
    for (SequenceNumber s = 0; s <= seq; s++) {
      std::string expect = "<absent>";
      for (const auto& [vs, v] : model[key]) {
        if (vs <= s) expect = v;
      }
      ASSERT_EQ(Get(mem, key, s), expect) << key << " @" << s;
    }
  }
}

TEST(WriteBatchTest, InsertIntoReportsCorruptBatch) {
  WriteBatch b = SampleBatch();
  WriteBatchInternal::SetCount(&b, 2);
  MemTable mem;
  EXPECT_TRUE(IsCorruption(WriteBatchInternal::InsertInto(b, &mem)));
}

}  // namespace
}  // namespace cairn::engine
