// Blob files and the write path running side by side: the once-a-second WAL sync never
// makes durable a WAL record whose blob record is not, and a long blob append holds up
// neither the DB's mutex nor a WAL switch. Each test stops a thread at an exact call
// (GateEnv) instead of relying on timing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "base/fault_injection_env.h"
#include "cairn/engine/check.h"
#include "cairn/engine/db.h"
#include "engine/db_test_util.h"

namespace cairn::engine {
namespace {

std::string Big(char seed, size_t n) {
  std::string v(n, '\0');
  for (size_t i = 0; i < n; i++) v[i] = static_cast<char>(seed + i * 7 + (i >> 10));
  return v;
}

// Holds, once armed, the next call of one kind on files whose name contains a pattern:
// the calling thread waits inside the call until Release.
class GateEnv final : public EnvWrapper {
 public:
  enum Call { kSyncData, kAppend };
  explicit GateEnv(Env* base) : EnvWrapper(base) {}

  void Arm(Call call, std::string pattern) {
    absl::MutexLock l(&mu_);
    armed_ = true;
    call_ = call;
    pattern_ = std::move(pattern);
    held_ = released_ = false;
  }
  // Waits (up to 10 s) until a thread is held; false if none came.
  bool WaitHeld() {
    absl::MutexLock l(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&held_), absl::Seconds(10));
  }
  void Release() {
    absl::MutexLock l(&mu_);
    released_ = true;
  }
  // Waits until the held call returned.
  bool WaitPassed() {
    absl::MutexLock l(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&passed_), absl::Seconds(10));
  }

  // fdatasync calls on blob files so far (counted as they start).
  std::atomic<int> blob_syncs{0};

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    auto base = target()->NewWritableFile(path);
    if (!base.ok()) return base;
    return std::unique_ptr<WritableFile>(new File(this, path, std::move(*base)));
  }

 private:
  class File final : public WritableFile {
   public:
    File(GateEnv* env, std::string path, std::unique_ptr<WritableFile> base)
        : env_(env), path_(std::move(path)), base_(std::move(base)) {}
    absl::Status Append(std::string_view data) override {
      const bool held = env_->MaybeHold(kAppend, path_);
      absl::Status s = base_->Append(data);
      if (held) env_->Passed();
      return s;
    }
    absl::Status Flush() override { return base_->Flush(); }
    absl::Status Sync() override { return base_->Sync(); }
    absl::Status SyncData() override {
      if (path_.ends_with(".blob")) env_->blob_syncs.fetch_add(1);
      const bool held = env_->MaybeHold(kSyncData, path_);
      absl::Status s = base_->SyncData();
      if (held) env_->Passed();
      return s;
    }
    absl::Status Close() override { return base_->Close(); }

   private:
    GateEnv* const env_;
    const std::string path_;
    std::unique_ptr<WritableFile> base_;
  };

  bool MaybeHold(Call call, const std::string& path) {
    absl::MutexLock l(&mu_);
    if (!armed_ || call != call_ || path.find(pattern_) == std::string::npos) return false;
    armed_ = false;
    held_ = true;
    passed_ = false;
    mu_.Await(absl::Condition(&released_));
    return true;
  }
  void Passed() {
    absl::MutexLock l(&mu_);
    passed_ = true;
  }

  absl::Mutex mu_;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  Call call_ ABSL_GUARDED_BY(mu_) = kSyncData;
  std::string pattern_ ABSL_GUARDED_BY(mu_);
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  bool passed_ ABSL_GUARDED_BY(mu_) = false;
};

// True if f finished within the time given.
bool FinishesWithin(std::future<void>& f, std::chrono::milliseconds ms) {
  return f.wait_for(ms) == std::future_status::ready;
}

// The background sync is stopped between its blob sync and its WAL sync; a large value
// written then must not have its WAL record made durable ahead of its blob record. After
// a power failure the key holds its value or is absent (lost with the last second),
// never a reference to a blob record that is gone.
TEST(BlobSyncTest, EverysecSyncNeverMakesAWalRecordDurableBeforeItsBlob) {
  TempDir dir;
  FaultInjectionEnv fault(Env::Default());
  GateEnv gate(&fault);
  Options options;
  options.env = &gate;
  options.wal_sync = WalSyncMode::kEverySec;
  options.min_blob_size = 1000;
  const std::string before = Big('b', 50000), during = Big('d', 70000);
  {
    auto db = DB::Open(options, dir.path());
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Put({}, "before", before).ok());
    gate.Arm(GateEnv::kSyncData, ".log");
    ASSERT_TRUE(gate.WaitHeld()) << "the once-a-second sync never came";
    // The sync thread is inside the WAL's fdatasync, its blob sync done.
    auto put =
        std::async(std::launch::async, [&] { EXPECT_TRUE((*db)->Put({}, "during", during).ok()); });
    // The sync holds no writer back for the length of its fdatasync.
    EXPECT_TRUE(FinishesWithin(put, std::chrono::milliseconds(2000)));
    gate.Release();
    ASSERT_TRUE(gate.WaitPassed());
    put.get();
    // Power fails once this sync is done: what it made durable stays, the rest goes.
    fault.SetFilesystemActive(false);
    db->reset();
    ASSERT_TRUE(fault.DropUnsyncedData().ok());
    fault.SetFilesystemActive(true);
  }
  auto report = CheckDB(dir.path(), options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
  auto db = DB::Open(options, dir.path());
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_TRUE(GetOrStatus(db->get(), "before") == before);
  const std::string got = GetOrStatus(db->get(), "during");
  EXPECT_TRUE(got == during || got == "NOT_FOUND") << got.substr(0, 200);
}

// A blob append stopped half way (as a 100 MB value's append takes a while) holds the
// blob store's append lock only: a sync write, a flush (a WAL switch, then the deletion
// of dead blob files, which reads the blob file list under the DB's mutex), properties
// and reads all go on meanwhile.
TEST(BlobSyncTest, LongBlobAppendHoldsUpNeitherTheDbMutexNorOtherWrites) {
  TempDir dir;
  GateEnv gate(Env::Default());
  Options options;
  options.env = &gate;
  options.min_blob_size = 1000;
  auto opened = DB::Open(options, dir.path());
  ASSERT_TRUE(opened.ok()) << opened.status();
  DB* db = opened->get();
  const std::string first = Big('f', 30000), big = Big('g', 300000);
  ASSERT_TRUE(db->Put({}, "first", first).ok());
  gate.Arm(GateEnv::kAppend, ".blob");
  auto append = std::async(std::launch::async, [&] { EXPECT_TRUE(db->Put({}, "big", big).ok()); });
  ASSERT_TRUE(gate.WaitHeld());
  auto others = std::async(std::launch::async, [&] {
    WriteOptions sync;
    sync.sync = true;
    EXPECT_TRUE(db->Put(sync, "small", "v").ok());
    EXPECT_TRUE(db->Flush().ok());
    EXPECT_TRUE(db->GetProperty("cairn.counters").has_value());
    EXPECT_TRUE(GetOrStatus(db, "first") == first);
  });
  EXPECT_TRUE(FinishesWithin(others, std::chrono::milliseconds(5000)))
      << "held up behind the blob append";
  gate.Release();
  append.get();
  others.get();
  EXPECT_TRUE(GetOrStatus(db, "big") == big);
  EXPECT_EQ(GetOrStatus(db, "small"), "v");
  opened->reset();
  auto db2 = DB::Open(options, dir.path());
  ASSERT_TRUE(db2.ok()) << db2.status();
  EXPECT_TRUE(GetOrStatus(db2->get(), "big") == big);
  EXPECT_TRUE(GetOrStatus(db2->get(), "first") == first);
}

// An fdatasync that fails when a blob file is sealed may have lost the records in it that
// nobody synced yet (a later fsync would report success over the lost pages). The database
// turns read-only and stays so until reopened: no later WAL sync may make durable a WAL
// record naming those records.
TEST(BlobSyncTest, FailedBlobSyncAtSealMakesTheDatabaseReadOnly) {
  TempDir dir;
  FaultInjectionEnv fault(Env::Default());
  Options options;
  options.env = &fault;
  options.wal_sync = WalSyncMode::kNone;  // syncs only when a write asks
  options.min_blob_size = 1000;
  options.blob_file_size = 40000;
  const std::string first = Big('a', 50000);
  {
    auto db = DB::Open(options, dir.path());
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Put({}, "first", first).ok());  // unsynced, fills the blob file
    fault.InjectFaults(FaultInjectionEnv::kFailSyncs, ".blob");
    // Seals the full file: its fsync fails.
    EXPECT_FALSE((*db)->Put({}, "second", Big('b', 5000)).ok());
    fault.InjectFaults(0);
    EXPECT_FALSE((*db)->BackgroundError().ok());
    WriteOptions sync;
    sync.sync = true;
    EXPECT_FALSE((*db)->Put(sync, "small", "v").ok());
    EXPECT_FALSE((*db)->Put({}, "third", Big('c', 5000)).ok());
    EXPECT_FALSE((*db)->Resume().ok());
    EXPECT_FALSE((*db)->BackgroundError().ok());
    EXPECT_TRUE(GetOrStatus(db->get(), "first") == first);  // still readable
    fault.SetFilesystemActive(false);
    db->reset();
    ASSERT_TRUE(fault.DropUnsyncedData().ok());
    fault.SetFilesystemActive(true);
  }
  auto report = CheckDB(dir.path(), options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
  auto db = DB::Open(options, dir.path());
  ASSERT_TRUE(db.ok()) << db.status();
  const std::string got = GetOrStatus(db->get(), "first");
  EXPECT_TRUE(got == first || got == "NOT_FOUND") << got.substr(0, 200);
  EXPECT_EQ(GetOrStatus(db->get(), "small"), "NOT_FOUND");
  // Reopened, the database is writable again.
  EXPECT_TRUE((*db)->Put({}, "after", Big('d', 5000)).ok());
}

// While the once-a-second sync runs, a group with no blob value has no blob record for its
// WAL record to name: it leaves the blob files alone (an fdatasync per write meanwhile
// would cost every small write the blob file's sync).
TEST(BlobSyncTest, EverysecSyncWindowCostsWritesWithoutBlobsNoBlobSync) {
  TempDir dir;
  GateEnv gate(Env::Default());
  Options options;
  options.env = &gate;
  options.wal_sync = WalSyncMode::kEverySec;
  options.min_blob_size = 1000;
  auto opened = DB::Open(options, dir.path());
  ASSERT_TRUE(opened.ok()) << opened.status();
  DB* db = opened->get();
  const std::string big = Big('p', 30000), during = Big('q', 30000);
  ASSERT_TRUE(db->Put({}, "pending", big).ok());  // a blob record not yet synced
  // The sync thread is held in its blob sync: the record is still pending.
  gate.Arm(GateEnv::kSyncData, ".blob");
  ASSERT_TRUE(gate.WaitHeld()) << "the once-a-second sync never came";
  const int syncs = gate.blob_syncs.load();
  ASSERT_TRUE(db->Put({}, "small", "v").ok());
  EXPECT_EQ(gate.blob_syncs.load(), syncs) << "a write without a blob synced the blob file";
  // A blob value's group still syncs its blob record first.
  ASSERT_TRUE(db->Put({}, "during", during).ok());
  EXPECT_GT(gate.blob_syncs.load(), syncs);
  gate.Release();
  ASSERT_TRUE(gate.WaitPassed());
  EXPECT_EQ(GetOrStatus(db, "small"), "v");
  EXPECT_TRUE(GetOrStatus(db, "during") == during);
}

}  // namespace
}  // namespace cairn::engine
