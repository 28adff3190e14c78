#include "engine/table.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "base/random.h"
#include "base/status.h"
#include "cairn/engine/options.h"
#include "cairn/env.h"
#include "engine/dbformat.h"
#include "engine/iterator_util.h"
#include "engine/table_builder.h"

namespace cairn::engine {
namespace {

using KV = std::pair<std::string, std::string>;  // internal key, value

// A file in memory, read by copying into scratch like pread (short read at the end), or,
// when `mapped`, by handing out views of its bytes like a memory mapping.
// While *fail is set, every read fails with an I/O error.
class StringFile final : public RandomAccessFile {
 public:
  explicit StringFile(std::string data, std::shared_ptr<std::atomic<bool>> fail = nullptr,
                      bool mapped = false)
      : data_(std::move(data)), fail_(std::move(fail)), mapped_(mapped) {}
  bool IsMapped() const override { return mapped_; }
  absl::Status Read(uint64_t offset, size_t n, std::string_view* result,
                    char* scratch) const override {
    if (fail_ != nullptr && fail_->load()) return IOError("injected read failure");
    if (offset >= data_.size()) {
      *result = {};
      return absl::OkStatus();
    }
    n = std::min<uint64_t>(n, data_.size() - offset);
    if (mapped_) {
      *result = std::string_view(data_.data() + offset, n);
      return absl::OkStatus();
    }
    std::memcpy(scratch, data_.data() + offset, n);
    *result = std::string_view(scratch, n);
    return absl::OkStatus();
  }

 private:
  std::string data_;
  std::shared_ptr<std::atomic<bool>> fail_;
  const bool mapped_;
};

absl::StatusOr<std::shared_ptr<Table>> OpenBytes(const std::string& bytes, bool mapped = false) {
  return Table::Open(std::make_unique<StringFile>(bytes, nullptr, mapped), bytes.size());
}

std::string Show(std::string_view ikey) {
  ParsedInternalKey p;
  if (!ParseInternalKey(ikey, &p)) return "<bad:" + std::string(ikey) + ">";
  return std::string(p.user_key) + "@" + std::to_string(p.sequence) + ":" + std::to_string(p.type);
}

// The first entry >= target in internal order.
std::vector<KV>::const_iterator LowerBound(const std::vector<KV>& e, const std::string& target) {
  return std::lower_bound(e.begin(), e.end(), target, [](const KV& kv, const std::string& x) {
    return CompareInternalKeys(kv.first, x) < 0;
  });
}

void SortInternal(std::vector<KV>* v) {
  std::sort(v->begin(), v->end(),
            [](const KV& a, const KV& b) { return CompareInternalKeys(a.first, b.first) < 0; });
}

// n user keys, each with 1..3 versions (a few of them deletions), in internal order.
std::vector<KV> RandomEntries(Random* rnd, int n) {
  std::vector<KV> out;
  SequenceNumber seq = 1000;
  for (int i = 0; i < n; i++) {
    char uk[16];
    std::snprintf(uk, sizeof uk, "user%05d", i * 3);
    const int versions = 1 + static_cast<int>(rnd->Uniform(3));
    for (int j = 0; j < versions; j++) {
      ValueType t = rnd->OneIn(8) ? kTypeDeletion : kTypeValue;
      std::string v(t == kTypeDeletion ? 0 : rnd->Uniform(60), '\0');
      for (auto& c : v) c = static_cast<char>('a' + rnd->Uniform(26));
      out.emplace_back(MakeInternalKey(uk, seq--, t), v);
    }
  }
  SortInternal(&out);
  return out;
}

class TableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("cairn_table_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(env_->CreateDir(dir_).ok());
    path_ = dir_ + "/000007.sst";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Builds a table file from entries; returns its bytes.
  std::string Build(const std::vector<KV>& entries, size_t block_size = 4096,
                    int restart_interval = 16) {
    Options opt;
    opt.block_size = block_size;
    opt.block_restart_interval = restart_interval;
    auto f = env_->NewWritableFile(path_);
    EXPECT_TRUE(f.ok());
    TableBuilder b(opt, f->get());
    for (const auto& [k, v] : entries) b.Add(k, v);
    EXPECT_TRUE(b.Finish().ok());
    EXPECT_EQ(b.NumEntries(), entries.size());
    EXPECT_TRUE((*f)->Close().ok());
    std::string bytes;
    EXPECT_TRUE(ReadFileToString(env_, path_, &bytes).ok());
    EXPECT_EQ(bytes.size(), b.FileSize());
    return bytes;
  }
  std::shared_ptr<Table> OpenFile() {
    auto size = env_->GetFileSize(path_);
    auto file = env_->NewRandomAccessFile(path_);
    EXPECT_TRUE(size.ok() && file.ok());
    auto t = Table::Open(std::move(*file), *size);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : nullptr;
  }

  Env* env_ = Env::Default();
  std::string dir_, path_;
};

// Scans forward and backward. Every entry returned must be the original one at its
// position; a scan may stop early only with a non-OK (corruption) status, which sets
// *error. Without `error`, the scans must be complete and error-free.
void ExpectScan(const Table& table, const std::vector<KV>& entries, bool* error = nullptr) {
  auto it = table.NewIterator();
  auto check_end = [&](bool complete) {
    if (it->status().ok()) {
      ASSERT_TRUE(complete) << "scan ended early without an error";
    } else {
      ASSERT_NE(error, nullptr) << it->status();
      ASSERT_TRUE(IsCorruption(it->status())) << it->status();
      *error = true;
    }
  };
  size_t i = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next(), i++) {
    ASSERT_LT(i, entries.size());
    ASSERT_EQ(Show(it->key()), Show(entries[i].first)) << i;
    ASSERT_EQ(it->value(), entries[i].second) << i;
  }
  ASSERT_NO_FATAL_FAILURE(check_end(i == entries.size()));
  for (it->SeekToLast(), i = entries.size(); it->Valid(); it->Prev()) {
    ASSERT_GT(i, 0u);
    --i;
    ASSERT_EQ(it->key(), entries[i].first) << i;
    ASSERT_EQ(it->value(), entries[i].second) << i;
  }
  ASSERT_NO_FATAL_FAILURE(check_end(i == 0));
}

// Calls InternalGet and returns what found() saw ("" if not called).
std::string Lookup(const Table& t, std::string_view ikey, absl::Status* s = nullptr) {
  std::string got;
  int calls = 0;
  absl::Status st = t.InternalGet(ikey, [&](std::string_view k, std::string_view v) {
    calls++;
    got = Show(k) + "=" + std::string(v);
  });
  EXPECT_LE(calls, 1);
  if (s != nullptr) {
    *s = st;
  } else {
    EXPECT_TRUE(st.ok()) << st;
  }
  return got;
}

TEST_F(TableTest, EmptyTable) {
  Build({});
  auto t = OpenFile();
  ASSERT_NE(t, nullptr);
  ExpectScan(*t, {});
  EXPECT_EQ(Lookup(*t, LookupKey("a", 5).internal_key()), "");
}

TEST_F(TableTest, SingleEntry) {
  const std::string k = MakeInternalKey("key", 7, kTypeValue);
  Build({{k, "value"}});
  auto t = OpenFile();
  ASSERT_NE(t, nullptr);
  ExpectScan(*t, {{k, "value"}});
  EXPECT_EQ(Lookup(*t, LookupKey("key", 7).internal_key()), "key@7:1=value");
  EXPECT_EQ(Lookup(*t, LookupKey("key", 100).internal_key()), "key@7:1=value");
  EXPECT_EQ(Lookup(*t, LookupKey("aaa", 1).internal_key()), "key@7:1=value");  // first >= key
  EXPECT_EQ(Lookup(*t, LookupKey("key", 6).internal_key()), "");  // only newer versions
  EXPECT_EQ(Lookup(*t, LookupKey("kez", 100).internal_key()), "");
  auto it = t->NewIterator();
  it->Seek(LookupKey("key", 6).internal_key());
  EXPECT_FALSE(it->Valid());
  it->Seek(LookupKey("a", 6).internal_key());
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->value(), "value");
}

TEST_F(TableTest, ManyEntriesAcrossManyBlocks) {
  Random rnd(17);
  for (int interval : {1, 4, 16}) {
    SCOPED_TRACE(interval);
    const std::vector<KV> e = RandomEntries(&rnd, 700);
    const std::string bytes = Build(e, 256, interval);
    EXPECT_GT(bytes.size(), 40u * 256);  // really many blocks
    auto t = OpenFile();
    ASSERT_NE(t, nullptr);
    ExpectScan(*t, e);

    auto it = t->NewIterator();
    for (size_t i = 0; i < e.size(); i++) {
      ParsedInternalKey p;
      ASSERT_TRUE(ParseInternalKey(e[i].first, &p));
      // Exact internal key: iterator and InternalGet land on this very entry.
      it->Seek(e[i].first);
      ASSERT_TRUE(it->Valid());
      ASSERT_EQ(it->key(), e[i].first);
      ASSERT_EQ(Lookup(*t, e[i].first), Show(e[i].first) + "=" + e[i].second);
      // A lookup key at this entry's sequence finds it (or, for a deletion, itself too).
      it->Seek(LookupKey(p.user_key, p.sequence).internal_key());
      ASSERT_TRUE(it->Valid());
      ASSERT_EQ(it->key(), e[i].first);
      // A user key that does not exist ("user00001" sits between user00000 and user00003):
      // the iterator lands on the next user key.
      std::string absent(p.user_key);
      absent.back() = static_cast<char>(absent.back() + 1);
      const std::string target(LookupKey(absent, kMaxSequenceNumber).internal_key());
      it->Seek(target);
      auto lb = LowerBound(e, target);
      if (lb == e.end()) {
        ASSERT_FALSE(it->Valid());
        ASSERT_EQ(Lookup(*t, target), "");
      } else {
        ASSERT_TRUE(it->Valid());
        ASSERT_EQ(it->key(), lb->first);
        // InternalGet looks only in the block that could hold target: it either finds the
        // same first entry >= target or (when that is the next block's first) nothing.
        std::string got = Lookup(*t, target);
        if (!got.empty()) {
          ASSERT_EQ(got, Show(lb->first) + "=" + lb->second);
        }
      }
    }
    ASSERT_TRUE(it->status().ok());
    // Past the last user key and before the first.
    EXPECT_EQ(Lookup(*t, LookupKey("zzz", kMaxSequenceNumber).internal_key()), "");
    it->Seek(LookupKey("a", 1).internal_key());
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), e[0].first);
  }
}

// Random walks through the two-level iterator, compared with a cursor over the input.
TEST_F(TableTest, RandomWalkAcrossBlocksMatchesModel) {
  Random rnd(23);
  const std::vector<KV> e = RandomEntries(&rnd, 300);
  Build(e, 200, 3);
  auto t = OpenFile();
  ASSERT_NE(t, nullptr);
  auto it = t->NewIterator();
  long cur = -1;  // index into e, -1 = invalid
  const long n = static_cast<long>(e.size());
  for (int step = 0; step < 20000; step++) {
    switch (rnd.Uniform(6)) {
      case 0:
        it->SeekToFirst();
        cur = 0;
        break;
      case 1:
        it->SeekToLast();
        cur = n - 1;
        break;
      case 2: {
        std::string uk = "user" + std::to_string(10000 + rnd.Uniform(1000)).substr(1);
        std::string target(LookupKey(uk, rnd.Uniform(1100)).internal_key());
        it->Seek(target);
        cur = LowerBound(e, target) - e.begin();
        if (cur == n) cur = -1;
        break;
      }
      case 3:
      case 4:
        if (cur < 0) continue;
        it->Next();
        cur = cur + 1 == n ? -1 : cur + 1;
        break;
      default:
        if (cur < 0) continue;
        it->Prev();
        cur = cur - 1;
        break;
    }
    ASSERT_EQ(it->Valid(), cur >= 0) << "step " << step;
    if (cur >= 0) {
      ASSERT_EQ(Show(it->key()), Show(e[cur].first)) << "step " << step;
      ASSERT_EQ(it->value(), e[cur].second);
    }
  }
  EXPECT_TRUE(it->status().ok());
}

// Many versions of one user key spread over several blocks: a read at any snapshot must
// find the newest version at or below it, whichever block that version is in.
TEST_F(TableTest, VersionsOfOneKeyStraddlingBlocks) {
  std::vector<KV> e;
  e.emplace_back(MakeInternalKey("apple", 500, kTypeValue), "a");
  for (SequenceNumber s = 100; s >= 2; s -= 2) {
    e.emplace_back(MakeInternalKey("key", s, s % 10 == 0 ? kTypeDeletion : kTypeValue),
                   std::string(90, static_cast<char>('a' + s % 26)) + std::to_string(s));
  }
  e.emplace_back(MakeInternalKey("zebra", 1, kTypeValue), "z");
  SortInternal(&e);
  Build(e, 256, 2);  // about two versions per block
  auto t = OpenFile();
  ASSERT_NE(t, nullptr);
  ExpectScan(*t, e);
  auto it = t->NewIterator();
  for (SequenceNumber snap = 0; snap <= 120; snap++) {
    SCOPED_TRACE(snap);
    const SequenceNumber visible = std::min<SequenceNumber>(snap - snap % 2, 100);
    std::string expect;
    if (visible >= 2) {
      auto k = MakeInternalKey("key", visible, visible % 10 == 0 ? kTypeDeletion : kTypeValue);
      auto m = std::find_if(e.begin(), e.end(), [&](const KV& kv) { return kv.first == k; });
      ASSERT_NE(m, e.end());
      expect = Show(m->first) + "=" + m->second;
    }
    LookupKey lk("key", snap);
    it->Seek(lk.internal_key());
    ASSERT_TRUE(it->Valid());
    if (visible >= 2) {
      EXPECT_EQ(Show(it->key()) + "=" + std::string(it->value()), expect);
      EXPECT_EQ(Lookup(*t, lk.internal_key()), expect);
    } else {
      EXPECT_EQ(Show(it->key()), "zebra@1:1");  // no version of "key" is that old
      std::string got = Lookup(*t, lk.internal_key());
      EXPECT_TRUE(got.empty() || got == "zebra@1:1=z") << got;
    }
  }
}

TEST(TableKeyShorteningTest, SeparatorAndSuccessorStayInRange) {
  auto ik = [](std::string uk, SequenceNumber s) { return MakeInternalKey(uk, s, kTypeValue); };
  {
    std::string a = ik("abcdefg", 5);
    ShortenSeparator(&a, ik("abzzz", 3));
    EXPECT_EQ(a, MakeInternalKey("abd", kMaxSequenceNumber, kValueTypeForSeek));
  }
  for (auto [ua, ub] : std::vector<std::pair<std::string, std::string>>{
           {"abc", "abcd"}, {"abc", "abd"}, {"ab\xff", "ac"}, {"same", "same"}, {"", "a"}}) {
    std::string a = ik(ua, 9), before = a;
    ShortenSeparator(&a, ik(ub, 4));
    EXPECT_EQ(a, before) << ua << " / " << ub;  // nothing shorter fits
  }
  Random rnd(31);
  const char alphabet[] = {'a', 'b', 'c', '\0', '\x7f', '\xfe', '\xff'};
  auto rand_key = [&] {
    std::string k(rnd.Uniform(6), '\0');
    for (auto& c : k) c = alphabet[rnd.Uniform(sizeof alphabet)];
    return ik(k, rnd.Uniform(1000));
  };
  for (int i = 0; i < 20000; i++) {
    std::string a = rand_key(), b = rand_key();
    if (CompareInternalKeys(a, b) == 0) continue;
    if (CompareInternalKeys(a, b) > 0) std::swap(a, b);
    std::string s = a;
    ShortenSeparator(&s, b);
    ASSERT_LE(CompareInternalKeys(a, s), 0) << Show(a) << " " << Show(b) << " -> " << Show(s);
    ASSERT_LT(CompareInternalKeys(s, b), 0) << Show(a) << " " << Show(b) << " -> " << Show(s);
    ASSERT_LE(s.size(), a.size());
    std::string succ = a;
    ShortenSuccessor(&succ);
    ASSERT_LE(CompareInternalKeys(a, succ), 0) << Show(a) << " -> " << Show(succ);
    ASSERT_LE(succ.size(), a.size());
  }
}

// --- Damage ---------------------------------------------------------------------------

class TableDamageTest : public TableTest {
 protected:
  void SetUp() override {
    TableTest::SetUp();
    Random rnd(41);
    entries_ = RandomEntries(&rnd, 30);
    original_ = Build(entries_, 256, 4);
  }
  void FlipEveryBit(bool mapped);
  std::vector<KV> entries_;
  std::string original_;
};

// Flip one bit at every position. The table must either refuse to open (corruption), or
// give back exactly the original entries up to a point where it stops with an error. It
// must never return an entry that differs from the original, and never make a present
// key vanish while reporting OK.
// Both read paths: pread into a buffer, and views of a mapping.
TEST_F(TableDamageTest, EveryBitFlipIsDetectedOrHarmless) {
  ASSERT_GT(original_.size(), 4u * 256);
  for (bool mapped : {false, true}) {
    SCOPED_TRACE(mapped ? "mapped" : "pread");
    ASSERT_NO_FATAL_FAILURE(FlipEveryBit(mapped));
  }
}

void TableDamageTest::FlipEveryBit(bool mapped) {
  int open_failures = 0, read_failures = 0;
  for (size_t pos = 0; pos < original_.size(); pos++) {
    SCOPED_TRACE("byte " + std::to_string(pos));
    std::string bad = original_;
    bad[pos] ^= static_cast<char>(1 << (pos % 8));
    auto t = OpenBytes(bad, mapped);
    if (!t.ok()) {
      ASSERT_TRUE(IsCorruption(t.status())) << t.status();
      open_failures++;
      continue;
    }
    bool any_error = false;
    ASSERT_NO_FATAL_FAILURE(ExpectScan(**t, entries_, &any_error));
    for (const auto& [k, v] : entries_) {
      absl::Status s;
      std::string got = Lookup(**t, k, &s);
      if (s.ok()) {
        ASSERT_EQ(got, Show(k) + "=" + v) << "lookup of " << Show(k);
      } else {
        ASSERT_TRUE(IsCorruption(s)) << s;
        ASSERT_TRUE(got.empty() || got == Show(k) + "=" + v) << got;
        any_error = true;
      }
    }
    if (any_error) read_failures++;
  }
  // Sanity: the damage was seen both at open (footer, index) and at read (data blocks).
  EXPECT_GT(open_failures, 0);
  EXPECT_GT(read_failures, 0);
}

TEST_F(TableDamageTest, TruncationAtEveryLengthFailsToOpen) {
  for (size_t len = 0; len < original_.size(); len++) {
    auto t = OpenBytes(original_.substr(0, len));
    ASSERT_FALSE(t.ok()) << "opened a table cut to " << len << " bytes";
    EXPECT_TRUE(IsCorruption(t.status())) << len << ": " << t.status();
  }
  // And through a real file truncated on disk.
  ASSERT_TRUE(env_->TruncateFile(path_, original_.size() - 1).ok());
  auto file = env_->NewRandomAccessFile(path_);
  ASSERT_TRUE(file.ok());
  auto t = Table::Open(std::move(*file), original_.size() - 1);
  EXPECT_TRUE(IsCorruption(t.status())) << t.status();
}

// A file size larger than the file (a stale size in the MANIFEST) is not a crash either.
TEST_F(TableDamageTest, WrongFileSizeFailsToOpen) {
  for (uint64_t extra : {1, 7, 100, 5000}) {
    auto t = Table::Open(std::make_unique<StringFile>(original_), original_.size() + extra);
    EXPECT_FALSE(t.ok()) << extra;
  }
}

// I/O errors are passed through as they are (not as corruption), and never hidden.
TEST_F(TableDamageTest, ReadErrorsAreReported) {
  auto fail = std::make_shared<std::atomic<bool>>(true);
  auto t = Table::Open(std::make_unique<StringFile>(original_, fail), original_.size());
  ASSERT_FALSE(t.ok());
  EXPECT_FALSE(IsCorruption(t.status())) << t.status();
  fail->store(false);
  t = Table::Open(std::make_unique<StringFile>(original_, fail), original_.size());
  ASSERT_TRUE(t.ok()) << t.status();
  fail->store(true);
  auto it = (*t)->NewIterator();
  it->SeekToFirst();
  EXPECT_FALSE(it->Valid());
  EXPECT_FALSE(it->status().ok());
  EXPECT_FALSE(IsCorruption(it->status())) << it->status();
  absl::Status s;
  EXPECT_EQ(Lookup(**t, entries_[0].first, &s), "");
  EXPECT_FALSE(s.ok());
  fail->store(false);  // the error was not cached in the table: new reads work
  ExpectScan(**t, entries_);
}

}  // namespace
}  // namespace cairn::engine
