// Recovery: WAL replay, torn tails, damage in the middle of a WAL, damaged or missing
// MANIFEST, CURRENT and tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "cairn/engine/db.h"
#include "engine/db_test_util.h"
#include "engine/filename.h"
#include "engine/table_cache.h"
#include "engine/version_edit.h"
#include "engine/version_set.h"
#include "engine/wal_writer.h"

namespace cairn::engine {
namespace {

namespace fs = std::filesystem;

class RecoveryTest : public ::testing::Test {
 protected:
  absl::Status Open() {
    db_.reset();
    auto db = DB::Open(options_, dir_.path());
    if (!db.ok()) return db.status();
    db_ = std::move(*db);
    return absl::OkStatus();
  }
  void SetUp() override { ASSERT_TRUE(Open().ok()); }

  // Path of the file of the given type with the highest number.
  std::string Newest(FileType want) {
    std::string best;
    uint64_t best_number = 0;
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      uint64_t number;
      FileType type;
      if (ParseFileName(e.path().filename().string(), &number, &type) && type == want &&
          (best.empty() || number > best_number)) {
        best = e.path().string();
        best_number = number;
      }
    }
    return best;
  }
  static void XorByte(const std::string& path, uint64_t offset, char mask) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(offset);
    char c;
    f.read(&c, 1);
    c ^= mask;
    f.seekp(offset);
    f.write(&c, 1);
  }
  static void FlipByte(const std::string& path, uint64_t offset) { XorByte(path, offset, 0x40); }
  static void AppendBytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::app | std::ios::binary);
    f.write(bytes.data(), bytes.size());
  }
  std::string Get(const std::string& k) { return GetOrStatus(db_.get(), k); }
  static std::string Key(int i) { return absl::StrFormat("key%06d", i); }
  static std::string Value(int i) {
    return absl::StrFormat("value-%d-%s", i, std::string(80, 'v'));
  }
  void Write(int from, int to) {
    for (int i = from; i < to; i++) ASSERT_TRUE(db_->Put({}, Key(i), Value(i)).ok());
  }
  // Number of keys 0.. present before the first missing one; checks nothing after it.
  int PresentPrefix(int n) {
    int i = 0;
    while (i < n && Get(Key(i)) == Value(i)) i++;
    for (int j = i; j < n; j++) EXPECT_EQ(Get(Key(j)), "NOT_FOUND") << "key " << j;
    return i;
  }

  TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
};

TEST_F(RecoveryTest, ReplaysWalAfterCloseAndKeepsOneWal) {
  Write(0, 100);
  for (int round = 0; round < 5; round++) {
    ASSERT_TRUE(Open().ok());
    Write(100 + round, 101 + round);
  }
  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(PresentPrefix(105), 105);
  int logs = 0;
  for (const auto& e : fs::directory_iterator(dir_.path())) {
    logs += e.path().extension() == ".log";
  }
  EXPECT_EQ(logs, 1);  // replayed WALs are deleted once their data is in tables
  EXPECT_EQ(*db_->GetProperty("cairn.recovery"), "");
}

TEST_F(RecoveryTest, SequenceNumbersContinueAfterReopen) {
  Write(0, 10);
  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(*db_->GetProperty("cairn.last-sequence"), "10");
  ASSERT_TRUE(db_->Put({}, Key(0), "newer").ok());
  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(Get(Key(0)), "newer");  // a reused sequence would make the old value win
}

TEST_F(RecoveryTest, TornTailIsTruncatedAndReported) {
  Write(0, 50);
  db_.reset();
  const std::string wal = Newest(FileType::kLog);
  const uint64_t size = fs::file_size(wal);
  fs::resize_file(wal, size - 10);  // cut the last record short
  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(PresentPrefix(50), 49);
  const std::string report = *db_->GetProperty("cairn.recovery");
  EXPECT_NE(report.find("dropped"), std::string::npos) << report;
  ASSERT_TRUE(Open().ok());  // the truncation is permanent and clean
  EXPECT_EQ(*db_->GetProperty("cairn.recovery"), "");
  EXPECT_EQ(PresentPrefix(50), 49);
}

TEST_F(RecoveryTest, GarbageAndZerosAfterTheLastRecordAreATornTail) {
  Write(0, 20);
  db_.reset();
  AppendBytes(Newest(FileType::kLog), std::string(5000, '\0'));
  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(PresentPrefix(20), 20);
  EXPECT_NE(db_->GetProperty("cairn.recovery")->find("dropped"), std::string::npos);

  Write(20, 30);
  db_.reset();
  AppendBytes(Newest(FileType::kLog), "\x12\x34\x56\x78\x05\x00\x01garbage-that-is-no-record");
  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(PresentPrefix(30), 30);
}

TEST_F(RecoveryTest, DamageBeforeIntactRecordsFailsOpenUnlessPointInTime) {
  Write(0, 2000);  // ~200 KB of WAL: several 32 KiB blocks
  db_.reset();
  const std::string wal = Newest(FileType::kLog);
  const uint64_t size_before = fs::file_size(wal);
  FlipByte(wal, 1000);

  absl::Status s = Open();
  ASSERT_TRUE(IsCorruption(s)) << s;
  EXPECT_NE(s.message().find("point-in-time"), absl::string_view::npos) << s;
  EXPECT_EQ(fs::file_size(wal), size_before);  // nothing was thrown away

  options_.wal_recovery = WalRecoveryMode::kPointInTime;
  ASSERT_TRUE(Open().ok());
  const int kept = PresentPrefix(2000);
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 20);  // the damage is in the first block's first records
  EXPECT_NE(db_->GetProperty("cairn.recovery")->find("point-in-time recovery"), std::string::npos);
}

TEST_F(RecoveryTest, DamageFollowedByIntactRecordsInTheSameBlockFailsOpen) {
  Write(0, 5);  // five small records, all in the WAL's first 32 KiB block
  db_.reset();
  const std::string wal = Newest(FileType::kLog);
  ASSERT_LT(fs::file_size(wal), 1000u);
  FlipByte(wal, 150);  // inside the second record
  absl::Status s = Open();
  EXPECT_TRUE(IsCorruption(s)) << s;
}

TEST_F(RecoveryTest, DamagedLengthIsNeverMistakenForATornTail) {
  ASSERT_TRUE(db_->Put({}, "k", "v1").ok());
  ASSERT_TRUE(db_->Flush().ok());
  ASSERT_TRUE(db_->Delete({}, "k").ok());
  WriteOptions sync;
  sync.sync = true;
  for (int i = 0; i < 50; i++) ASSERT_TRUE(db_->Put(sync, Key(i), Value(i)).ok());
  db_.reset();
  // Every bit of the first record's length field: a flipped length that now runs past
  // the end of the file must not pass for a torn write (which would silently bring the
  // deleted key back and drop the 50 synced writes after it).
  const std::string wal = Newest(FileType::kLog);
  for (uint64_t offset : {4, 5}) {
    for (int bit = 0; bit < 8; bit++) {
      XorByte(wal, offset, static_cast<char>(1 << bit));
      EXPECT_TRUE(IsCorruption(Open())) << "offset " << offset << " bit " << bit;
      XorByte(wal, offset, static_cast<char>(1 << bit));  // restore
    }
  }
  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(Get("k"), "NOT_FOUND");
  EXPECT_EQ(PresentPrefix(50), 50);
}

TEST_F(RecoveryTest, LostCurrentDoesNotCreateANewDatabaseOverOldFiles) {
  Write(0, 10);
  ASSERT_TRUE(db_->Flush().ok());
  db_.reset();
  fs::remove(dir_.path() + "/CURRENT");
  absl::Status s = Open();
  EXPECT_TRUE(IsCorruption(s)) << s;
  EXPECT_TRUE(fs::exists(Newest(FileType::kTable)));  // nothing deleted
}

TEST_F(RecoveryTest, MissingTableIsCorruption) {
  Write(0, 10);
  ASSERT_TRUE(db_->Flush().ok());
  db_.reset();
  fs::remove(Newest(FileType::kTable));
  absl::Status s = Open();
  EXPECT_TRUE(IsCorruption(s)) << s;
  EXPECT_NE(s.message().find("missing table file"), absl::string_view::npos) << s;
}

TEST_F(RecoveryTest, DamagedManifestIsCorruption) {
  Write(0, 10);
  ASSERT_TRUE(db_->Flush().ok());
  db_.reset();
  FlipByte(Newest(FileType::kManifest), 10);
  EXPECT_TRUE(IsCorruption(Open())) << "a damaged MANIFEST must not open as empty";
}

TEST_F(RecoveryTest, CurrentNamingAMissingManifestIsCorruption) {
  db_.reset();
  fs::remove(Newest(FileType::kManifest));
  EXPECT_TRUE(IsCorruption(Open()));
}

// Caught by the invariants of tests/fuzz/manifest_fuzz (input in its corpus:
// file_number_max_wraps_next_file_number). Recover marked every number in use with
// MarkFileNumberUsed(n), which sets the counter to n + 1. For n = 2^64-1 that wrapped it
// to 0, and new files would have taken the numbers of live ones.
TEST(ManifestRecoveryTest, FileNumberMaxIsCorruptionNotAWrappedCounter) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (const bool as_table : {true, false}) {
    SCOPED_TRACE(as_table ? "a table numbered 2^64-1" : "log number 2^64-1");
    TempDir dir;
    Env* env = Env::Default();
    ASSERT_TRUE(env->CreateDir(dir.path()).ok());
    VersionEdit edit;
    edit.SetLogNumber(as_table ? 0 : kMax);
    edit.SetNextFileNumber(2);
    edit.SetLastSequence(0);
    if (as_table) {
      FileMetaData f;
      f.number = kMax;
      f.file_size = 100;
      f.smallest = MakeInternalKey("a", 1, kTypeValue);
      f.largest = MakeInternalKey("b", 1, kTypeValue);
      edit.AddFile(1, f);
    } else {
      ASSERT_TRUE(WriteStringToFileSync(env, "", LogFileName(dir.path(), kMax)).ok());
    }
    std::string record;
    edit.EncodeTo(&record);
    auto file = env->NewWritableFile(ManifestFileName(dir.path(), 1));
    ASSERT_TRUE(file.ok());
    wal::Writer log(std::move(*file));
    ASSERT_TRUE(log.AddRecord(record).ok());
    ASSERT_TRUE(log.file()->Close().ok());
    ASSERT_TRUE(SetCurrentFile(env, dir.path(), 1).ok());

    TableCache tables(env, dir.path(), 10, nullptr, 0, false);
    VersionSet versions(env, dir.path(), &tables);
    const absl::Status s = versions.Recover();
    EXPECT_TRUE(IsCorruption(s)) << s << "; next file number " << versions.PeekNextFileNumber();
    EXPECT_NE(s.message().find("names file number 18446744073709551615"), absl::string_view::npos)
        << s;
  }
}

TEST_F(RecoveryTest, RepeatedWalRecordIsCorruptionNotADuplicateMemtableEntry) {
  // The same record twice (a copying bug, a bad restore) gave two memtable entries with one
  // internal key: an assertion in debug builds, undefined order in release ones.
  ASSERT_TRUE(db_->Put({}, Key(0), Value(0)).ok());
  db_.reset();
  const std::string wal = Newest(FileType::kLog);
  std::ifstream in(wal, std::ios::binary);
  const std::string record((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(record.empty());
  AppendBytes(wal, record);
  const absl::Status s = Open();
  EXPECT_TRUE(IsCorruption(s)) << s;
  EXPECT_NE(s.message().find("starts at sequence 1, not after 1"), absl::string_view::npos) << s;
}

TEST_F(RecoveryTest, FileNumberedMaxInTheDirectoryIsIgnoredNotAWrappedCounter) {
  // Marking 2^64-1 used set the next file number to 0: new files took used numbers.
  auto wal_number = [&] {
    const std::string stats = *db_->GetProperty("cairn.stats");
    const size_t at = stats.find("wal number ");
    return at == std::string::npos ? 0 : std::stoull(stats.substr(at + 11));
  };
  // The directory lists the stray file last, so nothing marked after it hides the wrap.
  class StrayLastEnv final : public EnvWrapper {
   public:
    StrayLastEnv() : EnvWrapper(Env::Default()) {}
    absl::StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) override {
      auto names = target()->GetChildren(dir);
      if (names.ok()) {
        std::stable_partition(names->begin(), names->end(),
                              [](const std::string& n) { return !n.starts_with("1844"); });
      }
      return names;
    }
  } env;
  options_.env = &env;
  ASSERT_TRUE(Open().ok());
  Write(0, 10);
  const uint64_t before = wal_number();
  db_.reset();
  const std::string stray = dir_.path() + "/18446744073709551615.log";
  AppendBytes(stray, "");
  ASSERT_TRUE(Open().ok());
  EXPECT_GT(wal_number(), before);
  Write(10, 20);
  ASSERT_TRUE(db_->Flush().ok());
  ASSERT_TRUE(Open().ok());
  EXPECT_EQ(PresentPrefix(20), 20);
  EXPECT_TRUE(fs::exists(stray));  // not the database's file: left alone
}

TEST_F(RecoveryTest, TruncatedTableIsCorruptionOnRead) {
  Write(0, 500);
  ASSERT_TRUE(db_->Flush().ok());
  db_.reset();
  const std::string sst = Newest(FileType::kTable);
  fs::resize_file(sst, fs::file_size(sst) - 1);
  ASSERT_TRUE(Open().ok());  // tables are opened lazily
  std::string v;
  EXPECT_TRUE(IsCorruption(db_->Get({}, Key(3), &v)));
  absl::Status scan;
  ScanAll(db_.get(), &scan);
  EXPECT_TRUE(IsCorruption(scan)) << scan;
}

}  // namespace
}  // namespace cairn::engine
