// Leveled compaction: what it drops, what it must keep, and that readers holding old
// versions are unaffected.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cairn/engine/check.h"
#include "cairn/engine/db.h"
#include "engine/db_test_util.h"

namespace cairn::engine {
namespace {

class CompactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.write_buffer_size = 64 << 10;
    options_.target_file_size = 64 << 10;
    options_.max_bytes_for_level_base = 256 << 10;
    options_.max_bytes_for_level_multiplier = 4;
    auto db = DB::Open(options_, dir_.path());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  // Entries stored in all tables (every version and tombstone), from an offline check.
  uint64_t TableEntries() {
    db_.reset();
    auto report = CheckDB(dir_.path(), options_);
    EXPECT_TRUE(report.ok() && report->problems.empty());
    // Replaced tables are deleted as soon as no reader needs them, not left behind.
    EXPECT_TRUE(report.ok() && report->warnings.empty()) << report->warnings[0];
    auto db = DB::Open(options_, dir_.path());
    EXPECT_TRUE(db.ok());
    db_ = std::move(*db);
    return report->table_entries;
  }

 public:
  static std::string Key(int i) { return absl::StrFormat("key%05d", i); }

 protected:
  int FilesAt(int level) {
    return std::stoi(*db_->GetProperty("cairn.num-files-at-level" + std::to_string(level)));
  }

  TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
};

TEST_F(CompactionTest, FullCompactionKeepsOneVersionPerLiveKeyAndNoTombstones) {
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 2000; i++) {
      ASSERT_TRUE(
          db_->Put({}, Key(i), absl::StrFormat("r%d-%s", round, std::string(60, 'v'))).ok());
    }
  }
  for (int i = 0; i < 2000; i += 2) ASSERT_TRUE(db_->Delete({}, Key(i)).ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(FilesAt(0), 0);
  EXPECT_EQ(TableEntries(), 1000u);  // 3 versions x 2000 keys + 1000 tombstones went away
  for (int i = 0; i < 2000; i++) {
    EXPECT_EQ(GetOrStatus(db_.get(), Key(i)),
              i % 2 == 0 ? "NOT_FOUND" : "r2-" + std::string(60, 'v'));
  }
  const std::string stats = *db_->GetProperty("cairn.stats");
  EXPECT_NE(stats.find("write amplification"), std::string::npos) << stats;
}

TEST_F(CompactionTest, SnapshotsKeepTheVersionsTheySee) {
  ASSERT_TRUE(db_->Put({}, "k", "old").ok());
  ASSERT_TRUE(db_->Put({}, "gone", "here").ok());
  const Snapshot* snap = db_->GetSnapshot();
  ASSERT_TRUE(db_->Put({}, "k", "new").ok());
  ASSERT_TRUE(db_->Delete({}, "gone").ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(GetOrStatus(db_.get(), "k", snap), "old");
  EXPECT_EQ(GetOrStatus(db_.get(), "gone", snap), "here");
  EXPECT_EQ(GetOrStatus(db_.get(), "k"), "new");
  EXPECT_EQ(GetOrStatus(db_.get(), "gone"), "NOT_FOUND");
  db_->ReleaseSnapshot(snap);
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(TableEntries(), 1u);  // only k=new is left once no snapshot needs the rest
}

// At the bottom, with no snapshot older, surviving entries lose their sequence numbers;
// a snapshot keeps the ones it could tell apart, and newer writes still win.
TEST_F(CompactionTest, BottommostEntriesAreWrittenWithSequenceZero) {
  for (int i = 0; i < 500; i++) ASSERT_TRUE(db_->Put({}, Key(i), "v1").ok());
  const Snapshot* snap = db_->GetSnapshot();
  for (int i = 0; i < 500; i += 5) ASSERT_TRUE(db_->Put({}, Key(i), "v2").ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  // The snapshot predates the v2 writes: those keep their sequence numbers.
  std::string tables = *db_->GetProperty("cairn.sstables");
  EXPECT_EQ(tables.find("seq=0..0"), std::string::npos) << tables;
  EXPECT_EQ(GetOrStatus(db_.get(), Key(5), snap), "v1");
  db_->ReleaseSnapshot(snap);
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  tables = *db_->GetProperty("cairn.sstables");
  EXPECT_NE(tables.find("seq=0..0"), std::string::npos) << tables;
  EXPECT_EQ(tables.find("seq=0..0"), tables.rfind("seq=")) << "every table: " << tables;
  ASSERT_TRUE(db_->Put({}, Key(7), "v3").ok());
  ASSERT_TRUE(db_->Delete({}, Key(8)).ok());
  for (int i = 0; i < 10; i++) {
    const std::string want = i == 7 ? "v3" : i == 8 ? "NOT_FOUND" : i % 5 == 0 ? "v2" : "v1";
    EXPECT_EQ(GetOrStatus(db_.get(), Key(i)), want) << i;
  }
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(GetOrStatus(db_.get(), Key(7)), "v3");
  EXPECT_EQ(GetOrStatus(db_.get(), Key(8)), "NOT_FOUND");
  EXPECT_EQ(TableEntries(), 499u);
}

TEST_F(CompactionTest, DeleteOfACompactedKeyRemovesValueAndTombstone) {
  // "k" is compacted into a lower level, then deleted: the next compaction meets the
  // tombstone and the value together and drops both. (Tombstones that must stay because
  // older data lies below are exercised by the randomized model test.)
  ASSERT_TRUE(db_->Put({}, "k", "deep").ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  ASSERT_TRUE(db_->Delete({}, "k").ok());
  ASSERT_TRUE(db_->Flush().ok());
  const std::string lo = "a", hi = "z";
  ASSERT_TRUE(db_->CompactRange(&lo, &hi).ok());
  EXPECT_EQ(GetOrStatus(db_.get(), "k"), "NOT_FOUND");
  EXPECT_EQ(TableEntries(), 0u);  // all the way down: both are gone
}

TEST_F(CompactionTest, BackgroundCompactionBoundsL0AndSpreadsOverLevels) {
  for (int i = 0; i < 30000; i++) {
    ASSERT_TRUE(db_->Put({}, Key(i % 20000), std::string(100, 'a' + i % 26)).ok());
  }
  ASSERT_TRUE(db_->Flush().ok());
  EXPECT_LT(FilesAt(0), options_.level0_stop_writes_trigger);
  EXPECT_GT(FilesAt(1) + FilesAt(2) + FilesAt(3), 0);
  for (int i = 0; i < 20000; i += 97) {
    int last = i + 20000 < 30000 ? i + 20000 : i;
    EXPECT_EQ(GetOrStatus(db_.get(), Key(i)), std::string(100, 'a' + last % 26));
  }
}

// Three overlapping L0 tables (under the size trigger of 4): reads of keys only the oldest
// holds search the two newer ones first. Returns once the tables are written.
void WriteThreeOverlappingL0Tables(DB* db) {
  for (int i = 0; i < 1000; i++) ASSERT_TRUE(db->Put({}, CompactionTest::Key(i), "a").ok());
  ASSERT_TRUE(db->Flush().ok());
  for (int i = 1; i < 1000; i += 2) ASSERT_TRUE(db->Put({}, CompactionTest::Key(i), "b").ok());
  ASSERT_TRUE(db->Flush().ok());
  for (int i : {0, 999}) ASSERT_TRUE(db->Put({}, CompactionTest::Key(i), "c").ok());
  ASSERT_TRUE(db->Flush().ok());
}

TEST_F(CompactionTest, ReadsThatKeepSearchingTablesInVainCompactThem) {
  WriteThreeOverlappingL0Tables(db_.get());
  ASSERT_EQ(FilesAt(0), 3);
  // Each read of an even key spends one of the newest table's 100 seeks.
  for (int round = 0; round < 3; round++) {
    for (int i = 2; i < 998; i += 2) ASSERT_EQ(GetOrStatus(db_.get(), Key(i)), "a");
  }
  for (int wait_ms = 0; FilesAt(0) > 0 && wait_ms < 10000; wait_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(FilesAt(0), 0);
  EXPECT_GT(FilesAt(1), 0);
  for (int i = 0; i < 1000; i++) {
    EXPECT_EQ(GetOrStatus(db_.get(), Key(i)), i == 0 || i == 999 ? "c" : i % 2 ? "b" : "a");
  }
}

TEST_F(CompactionTest, SeekCompactionOffLeavesTablesAlone) {
  db_.reset();
  options_.seek_compaction = false;
  auto db = DB::Open(options_, dir_.path());
  ASSERT_TRUE(db.ok()) << db.status();
  db_ = std::move(*db);
  WriteThreeOverlappingL0Tables(db_.get());
  for (int round = 0; round < 3; round++) {
    for (int i = 2; i < 998; i += 2) ASSERT_EQ(GetOrStatus(db_.get(), Key(i)), "a");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(FilesAt(0), 3);
}

// Drops every key that starts with "drop", counting what it was asked about.
class DropPrefixFilter : public CompactionFilterFactory {
 public:
  std::unique_ptr<CompactionFilter> NewFilter() override {
    struct Filter : CompactionFilter {
      explicit Filter(std::atomic<int>* asked) : asked(asked) {}
      bool Drop(std::string_view key, std::string_view value) override {
        (*asked)++;
        EXPECT_FALSE(value.empty());
        return key.starts_with("drop");
      }
      std::atomic<int>* asked;
    };
    return std::make_unique<Filter>(&asked);
  }
  std::atomic<int> asked{0};
};

TEST_F(CompactionTest, CompactionFilterDropsWhatItIsToldAndSparesWhatSnapshotsNeed) {
  db_.reset();
  auto filter = std::make_shared<DropPrefixFilter>();
  options_.compaction_filter_factory = filter;
  auto db = DB::Open(options_, dir_.path());
  ASSERT_TRUE(db.ok()) << db.status();
  db_ = std::move(*db);
  ASSERT_TRUE(db_->Put({}, "drop-old", "x").ok());
  ASSERT_TRUE(db_->Put({}, "keep", "y").ok());
  const Snapshot* snap = db_->GetSnapshot();
  ASSERT_TRUE(db_->Put({}, "drop-new", "z").ok());  // newer than the snapshot
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(GetOrStatus(db_.get(), "drop-old"), "NOT_FOUND");
  EXPECT_EQ(GetOrStatus(db_.get(), "drop-old", snap), "NOT_FOUND");  // dropped for all
  EXPECT_EQ(GetOrStatus(db_.get(), "drop-new"), "z");  // the snapshot predates it
  EXPECT_EQ(GetOrStatus(db_.get(), "keep"), "y");
  db_->ReleaseSnapshot(snap);
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(GetOrStatus(db_.get(), "drop-new"), "NOT_FOUND");
  EXPECT_EQ(GetOrStatus(db_.get(), "keep"), "y");
  EXPECT_GE(filter->asked.load(), 3);
  EXPECT_NE(db_->GetProperty("cairn.stats")->find("compaction filter dropped 2"),
            std::string::npos)
      << *db_->GetProperty("cairn.stats");
  EXPECT_EQ(TableEntries(), 1u);  // only "keep": the drops left no tombstones at the bottom
}

TEST_F(CompactionTest, FlushLeavesOutVersionsNoReaderCanSee) {
  for (int i = 0; i < 5; i++) ASSERT_TRUE(db_->Put({}, "k", absl::StrCat("v", i)).ok());
  const Snapshot* snap = db_->GetSnapshot();  // sees v4
  ASSERT_TRUE(db_->Put({}, "k", "v5").ok());
  ASSERT_TRUE(db_->Put({}, "k", "v6").ok());
  ASSERT_TRUE(db_->Flush().ok());
  EXPECT_EQ(GetOrStatus(db_.get(), "k"), "v6");
  EXPECT_EQ(GetOrStatus(db_.get(), "k", snap), "v4");
  db_->ReleaseSnapshot(snap);
  // v0..v3 are gone. As in compaction, a version stays while the next newer one is not
  // visible to every snapshot: v6, v5 and v4 (the snapshot's) are kept.
  EXPECT_EQ(TableEntries(), 3u);
}

TEST_F(CompactionTest, IteratorKeepsReadingTablesThatCompactionReplaced) {
  for (int i = 0; i < 3000; i++) ASSERT_TRUE(db_->Put({}, Key(i), "v1").ok());
  ASSERT_TRUE(db_->Flush().ok());
  auto it = db_->NewIterator({});  // pins the current version and its tables
  for (int i = 0; i < 3000; i++) ASSERT_TRUE(db_->Put({}, Key(i), "v2").ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());  // replaces every table
  int n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ASSERT_EQ(it->value(), "v1");
    n++;
  }
  ASSERT_TRUE(it->status().ok()) << it->status();
  EXPECT_EQ(n, 3000);
}

}  // namespace
}  // namespace cairn::engine

namespace cairn::engine {
namespace {

TEST(RowCacheTest, HotKeysHitAndAnswersStayRightThroughWritesFlushesAndCompactions) {
  TempDir dir;
  Options o;
  o.write_buffer_size = 64 << 10;
  o.row_cache_size = 1 << 20;
  auto opened = DB::Open(o, dir.path());
  ASSERT_TRUE(opened.ok());
  DB* db = opened->get();
  auto row_hits = [db] {
    const std::string stats = *db->GetProperty("cairn.stats");
    unsigned long hits = 0;
    const size_t at = stats.find("row cache: hits ");
    EXPECT_NE(at, std::string::npos);
    std::sscanf(stats.c_str() + at, "row cache: hits %lu", &hits);
    return hits;
  };
  for (int i = 0; i < 2000; i++) ASSERT_TRUE(db->Put({}, absl::StrFormat("k%04d", i), "v1").ok());
  ASSERT_TRUE(db->Flush().ok());
  EXPECT_EQ(GetOrStatus(db, "k0042"), "v1");
  EXPECT_EQ(GetOrStatus(db, "k0042"), "v1");
  EXPECT_GE(row_hits(), 1u);

  const Snapshot* snap = db->GetSnapshot();
  ASSERT_TRUE(db->Put({}, "k0042", "v2").ok());
  EXPECT_EQ(GetOrStatus(db, "k0042"), "v2");  // memtable first
  ASSERT_TRUE(db->Flush().ok());
  EXPECT_EQ(GetOrStatus(db, "k0042"), "v2");  // a newer table in front of the cached row
  EXPECT_EQ(GetOrStatus(db, "k0042", snap), "v1");
  ASSERT_TRUE(db->Delete({}, "k0042").ok());
  ASSERT_TRUE(db->Flush().ok());
  EXPECT_EQ(GetOrStatus(db, "k0042"), "NOT_FOUND");
  EXPECT_EQ(GetOrStatus(db, "k0042", snap), "v1");
  db->ReleaseSnapshot(snap);
  ASSERT_TRUE(db->CompactRange(nullptr, nullptr).ok());  // new tables, new numbers
  EXPECT_EQ(GetOrStatus(db, "k0042"), "NOT_FOUND");
  EXPECT_EQ(GetOrStatus(db, "k0043"), "v1");
  EXPECT_EQ(GetOrStatus(db, "k0043"), "v1");
}

}  // namespace
}  // namespace cairn::engine
