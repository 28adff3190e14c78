// The DB API end to end: reads and writes across memtable and tables, batches,
// iterators, snapshots, reopen, locking and option checks.
#include "cairn/engine/db.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "cairn/engine/check.h"
#include "cairn/env.h"
#include "engine/db_test_util.h"

namespace cairn::engine {
namespace {

class DBTest : public ::testing::Test {
 protected:
  void Open() {
    db_.reset();
    auto db = DB::Open(options_, dir_.path());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void SetUp() override {
    options_.write_buffer_size = 64 << 10;
    Open();
  }
  std::string Get(std::string_view k, const Snapshot* s = nullptr) {
    return GetOrStatus(db_.get(), k, s);
  }
  void Put(std::string_view k, std::string_view v) { ASSERT_TRUE(db_->Put({}, k, v).ok()); }
  void Del(std::string_view k) { ASSERT_TRUE(db_->Delete({}, k).ok()); }
  int NumL0() { return std::stoi(*db_->GetProperty("cairn.num-files-at-level0")); }

  TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
};

TEST_F(DBTest, EmptyDatabase) {
  EXPECT_EQ(Get("a"), "NOT_FOUND");
  absl::Status s;
  EXPECT_TRUE(ScanAll(db_.get(), &s).empty());
  EXPECT_TRUE(s.ok());
}

TEST_F(DBTest, PutGetDeleteInMemtableAndTables) {
  Put("a", "1");
  Put("b", "2");
  EXPECT_EQ(Get("a"), "1");
  ASSERT_TRUE(db_->Flush().ok());
  EXPECT_EQ(NumL0(), 1);
  EXPECT_EQ(Get("a"), "1");
  Put("a", "3");  // newer value in the memtable shadows the table
  EXPECT_EQ(Get("a"), "3");
  Del("b");  // tombstone in the memtable hides the table's value
  EXPECT_EQ(Get("b"), "NOT_FOUND");
  ASSERT_TRUE(db_->Flush().ok());
  EXPECT_EQ(NumL0(), 2);
  EXPECT_EQ(Get("a"), "3");
  EXPECT_EQ(Get("b"), "NOT_FOUND");
  Open();
  EXPECT_EQ(Get("a"), "3");
  EXPECT_EQ(Get("b"), "NOT_FOUND");
}

// Bytes of the WAL files on disk (what the OS has been handed).
uint64_t WalBytes(const std::string& dir) {
  uint64_t total = 0;
  const auto children = Env::Default()->GetChildren(dir);
  for (const auto& name : *children) {
    if (name.ends_with(".log")) total += *Env::Default()->GetFileSize(dir + "/" + name);
  }
  return total;
}

TEST_F(DBTest, DeferredWritesAreVisibleAtOnceAndReachTheWalOnFlushWal) {
  WriteOptions deferred;
  deferred.defer_wal_write = true;
  const uint64_t before = WalBytes(dir_.path());
  ASSERT_TRUE(db_->Put(deferred, "a", "1").ok());
  ASSERT_TRUE(db_->Put(deferred, "b", "2").ok());
  EXPECT_EQ(Get("a"), "1");                  // applied
  EXPECT_EQ(WalBytes(dir_.path()), before);  // but still in the process's buffer
  ASSERT_TRUE(db_->FlushWal().ok());
  const uint64_t flushed = WalBytes(dir_.path());
  EXPECT_GT(flushed, before);
  ASSERT_TRUE(db_->FlushWal().ok());  // nothing deferred: no change
  EXPECT_EQ(WalBytes(dir_.path()), flushed);
  // A write that is not deferred hands over the deferred ones before it too.
  ASSERT_TRUE(db_->Put(deferred, "c", "3").ok());
  ASSERT_TRUE(db_->Put({}, "d", "4").ok());
  EXPECT_GT(WalBytes(dir_.path()), flushed);
  Open();
  EXPECT_EQ(Get("c"), "3");
  EXPECT_EQ(Get("d"), "4");
}

TEST_F(DBTest, EmptyKeysAndValuesAndBinaryBytes) {
  Put("", "empty-key");
  Put("k", "");
  std::string bin("a\0b\xff", 4);
  Put(bin, bin);
  EXPECT_EQ(Get(""), "empty-key");
  EXPECT_EQ(Get("k"), "");
  EXPECT_EQ(Get(bin), bin);
  ASSERT_TRUE(db_->Flush().ok());
  Open();
  EXPECT_EQ(Get(""), "empty-key");
  EXPECT_EQ(Get("k"), "");
  EXPECT_EQ(Get(bin), bin);
}

TEST_F(DBTest, LargeValuesSpanWalBlocksAndTableBlocks) {
  std::string big(300000, 'x');
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>('a' + i % 23);
  Put("big", big);
  EXPECT_EQ(Get("big"), big);
  Open();  // from the WAL
  EXPECT_EQ(Get("big"), big);
  ASSERT_TRUE(db_->Flush().ok());
  Open();  // from a table
  EXPECT_EQ(Get("big"), big);
}

TEST_F(DBTest, WriteBatchIsAtomicAndOrdered) {
  WriteBatch b;
  b.Put("x", "1");
  b.Put("y", "2");
  b.Delete("x");
  b.Put("z", "3");
  ASSERT_TRUE(db_->Write({}, b).ok());
  EXPECT_EQ(Get("x"), "NOT_FOUND");
  EXPECT_EQ(Get("y"), "2");
  EXPECT_EQ(Get("z"), "3");
  EXPECT_EQ(*db_->GetProperty("cairn.last-sequence"), "4");
}

TEST_F(DBTest, MemtableFillsAndFlushesInBackground) {
  for (int i = 0; i < 5000; i++) {
    Put(absl::StrFormat("key%06d", i), std::string(100, static_cast<char>('a' + i % 26)));
  }
  ASSERT_TRUE(db_->Flush().ok());
  // 64 KiB memtables: about 9 flushes (L0 may already be compacted into L1).
  const std::string stats = *db_->GetProperty("cairn.stats");
  const size_t at = stats.find("\nflushes ");
  ASSERT_NE(at, std::string::npos) << stats;
  EXPECT_GT(std::stoi(stats.substr(at + 9)), 3) << stats;
  for (int i = 0; i < 5000; i += 7) {
    EXPECT_EQ(Get(absl::StrFormat("key%06d", i)),
              std::string(100, static_cast<char>('a' + i % 26)));
  }
}

TEST_F(DBTest, IteratorForwardBackwardSeekAndUpperBound) {
  for (int i = 0; i < 100; i += 2) Put(absl::StrFormat("k%03d", i), absl::StrFormat("v%d", i));
  ASSERT_TRUE(db_->Flush().ok());
  for (int i = 1; i < 100; i += 2) Put(absl::StrFormat("k%03d", i), absl::StrFormat("v%d", i));
  Del("k050");
  Del("k051");

  auto it = db_->NewIterator({});
  it->Seek("k049");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "k049");
  it->Next();
  EXPECT_EQ(it->key(), "k052");  // both deleted keys skipped
  it->Prev();
  EXPECT_EQ(it->key(), "k049");
  it->Prev();
  EXPECT_EQ(it->key(), "k048");
  EXPECT_EQ(it->value(), "v48");
  it->SeekToLast();
  EXPECT_EQ(it->key(), "k099");
  it->SeekToFirst();
  EXPECT_EQ(it->key(), "k000");
  it->Prev();
  EXPECT_FALSE(it->Valid());
  it->Seek("k9");
  EXPECT_FALSE(it->Valid());
  EXPECT_TRUE(it->status().ok());

  ReadOptions ro;
  ro.iterate_upper_bound = "k010";
  auto bounded = db_->NewIterator(ro);
  int n = 0;
  for (bounded->Seek("k005"); bounded->Valid(); bounded->Next()) n++;
  EXPECT_EQ(n, 5);  // k005..k009
  bounded->SeekToLast();
  ASSERT_TRUE(bounded->Valid());
  EXPECT_EQ(bounded->key(), "k009");
}

TEST_F(DBTest, IteratorIsAConsistentView) {
  Put("a", "1");
  auto it = db_->NewIterator({});
  Put("a", "2");
  Put("b", "3");
  ASSERT_TRUE(db_->Flush().ok());  // the memtable the iterator reads is pinned
  it->SeekToFirst();
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "a");
  EXPECT_EQ(it->value(), "1");
  it->Next();
  EXPECT_FALSE(it->Valid());
}

TEST_F(DBTest, SnapshotsSeeTheirSequenceAcrossFlushAndReopenOfTables) {
  Put("k", "v1");
  const Snapshot* s1 = db_->GetSnapshot();
  Put("k", "v2");
  Del("gone");
  const Snapshot* s2 = db_->GetSnapshot();
  Del("k");
  Put("new", "n");
  ASSERT_TRUE(db_->Flush().ok());
  EXPECT_EQ(Get("k", s1), "v1");
  EXPECT_EQ(Get("k", s2), "v2");
  EXPECT_EQ(Get("k"), "NOT_FOUND");
  EXPECT_EQ(Get("new", s2), "NOT_FOUND");
  EXPECT_EQ(Get("new"), "n");
  absl::Status st;
  auto at_s1 = ScanAll(db_.get(), &st, s1);
  EXPECT_EQ(at_s1, (std::map<std::string, std::string>{{"k", "v1"}}));
  EXPECT_GT(s2->sequence(), s1->sequence());
  db_->ReleaseSnapshot(s1);
  db_->ReleaseSnapshot(s2);
}

TEST_F(DBTest, SecondOpenOfSameDirectoryFailsClearly) {
  auto second = DB::Open(options_, dir_.path());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_NE(second.status().message().find("already open"), absl::string_view::npos);
  db_.reset();
  EXPECT_TRUE(DB::Open(options_, dir_.path()).ok());
}

TEST_F(DBTest, CreateIfMissingAndErrorIfExists) {
  Options o = options_;
  o.create_if_missing = false;
  TempDir other;
  auto missing = DB::Open(o, other.path() + "x");
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status())) << missing.status();
  db_.reset();
  o = options_;
  o.error_if_exists = true;
  auto exists = DB::Open(o, dir_.path());
  EXPECT_TRUE(absl::IsInvalidArgument(exists.status())) << exists.status();
}

TEST_F(DBTest, RejectsBadOptions) {
  Options o;
  o.write_buffer_size = 10;
  TempDir other;
  EXPECT_TRUE(absl::IsInvalidArgument(DB::Open(o, other.path()).status()));
}

TEST_F(DBTest, ConcurrentWritersAreGroupCommittedAndAllLand) {
  db_.reset();
  options_.wal_sync = WalSyncMode::kAlways;
  Open();
  constexpr int kThreads = 8, kPerThread = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        ASSERT_TRUE(db_->Put({}, absl::StrFormat("t%d-%04d", t, i), absl::StrFormat("%d", i)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(*db_->GetProperty("cairn.last-sequence"), std::to_string(kThreads * kPerThread));
  Open();
  for (int t = 0; t < kThreads; t++) {
    for (int i = 0; i < kPerThread; i += 37) {
      EXPECT_EQ(Get(absl::StrFormat("t%d-%04d", t, i)), absl::StrFormat("%d", i));
    }
  }
}

TEST_F(DBTest, ConcurrentReadersDuringWritesAndFlushes) {
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < 20000; i++) {
      ASSERT_TRUE(db_->Put({}, absl::StrFormat("k%06d", i), absl::StrFormat("v%06d", i)).ok());
      written.store(i + 1, std::memory_order_release);
    }
    stop = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; r++) {
    readers.emplace_back([&, r] {
      uint64_t x = r;
      while (!stop) {
        int n = written.load(std::memory_order_acquire);
        if (n == 0) continue;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int i = static_cast<int>((x >> 33) % n);
        ASSERT_EQ(GetOrStatus(db_.get(), absl::StrFormat("k%06d", i)), absl::StrFormat("v%06d", i));
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
}

TEST_F(DBTest, CheckPassesOnAHealthyDatabase) {
  for (int i = 0; i < 3000; i++) Put(absl::StrFormat("k%05d", i), std::string(50, 'v'));
  ASSERT_TRUE(db_->Flush().ok());
  Put("tail", "in-wal");
  db_.reset();
  auto report = CheckDB(dir_.path(), {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
  EXPECT_EQ(report->table_entries, 3000u);
  EXPECT_EQ(report->wal_records, 1u);
}

TEST_F(DBTest, DestroyRemovesEverything) {
  Put("a", "1");
  db_.reset();
  ASSERT_TRUE(DestroyDB(dir_.path(), {}).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.path()));
}

}  // namespace
}  // namespace cairn::engine

namespace cairn::engine {
namespace {

// Reads this process's virtual memory size in bytes.
uint64_t VirtualMemoryBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  statm >> pages;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Runs in a forked child (a death test): an allocation failure in the middle of the
// write path must come back as ResourceExhausted, not abort the process.
TEST(DBOutOfMemoryTest, AllocationFailureInAWriteIsAnErrorNotACrash) {
  if (kSanitizedBuild) return;  // sanitizers reserve terabytes of address space
  TempDir dir;
  EXPECT_EXIT(
      {
        // Separation off: a value in a blob file never sits in the batch or the memtable.
        Options options;
        options.min_blob_size = 0;
        auto db = DB::Open(options, dir.path());
        if (!db.ok()) std::_Exit(2);
        const std::string value(150 << 20, 'v');
        // Room for the caller's batch and the group copy, not for the memtable too.
        struct rlimit limit;
        ::getrlimit(RLIMIT_AS, &limit);
        limit.rlim_cur = VirtualMemoryBytes() + (340 << 20);
        ::setrlimit(RLIMIT_AS, &limit);
        absl::Status s = (*db)->Put({}, "big", value);
        if (!absl::IsResourceExhausted(s)) std::_Exit(3);
        // The error is sticky (the WAL may hold the record): writes fail cleanly after.
        if ((*db)->Put({}, "small", "v").ok()) std::_Exit(4);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace cairn::engine

namespace cairn::engine {
namespace {

TEST(DBBloomTest, MissingKeysAreAnsweredByTheFilterWithoutReadingBlocks) {
  TempDir dir;
  auto db = DB::Open(Options(), dir.path());
  ASSERT_TRUE(db.ok());
  for (int i = 0; i < 5000; i++) ASSERT_TRUE((*db)->Put({}, absl::StrFormat("k%05d", i), "v").ok());
  ASSERT_TRUE((*db)->Flush().ok());
  for (int i = 0; i < 5000; i++) {
    EXPECT_EQ(GetOrStatus(db->get(), absl::StrFormat("k%05d.missing", i)), "NOT_FOUND");
  }
  const std::string stats = *(*db)->GetProperty("cairn.stats");
  uint64_t checked = 0, useful = 0;
  const size_t at = stats.find("bloom filter: checked ");
  ASSERT_NE(at, std::string::npos) << stats;
  ASSERT_EQ(
      std::sscanf(stats.c_str() + at, "bloom filter: checked %lu useful %lu", &checked, &useful),
      2);
  EXPECT_GE(checked, 4999u);  // the last key is past the table's range: no filter needed
  EXPECT_GT(useful, checked * 97 / 100);  // ~1% false positives at 10 bits per key
}

}  // namespace
}  // namespace cairn::engine
