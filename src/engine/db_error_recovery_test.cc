// A sick disk while the process keeps running (FaultInjectionEnv::InjectFaults): full
// (ENOSPC), short writes, failed fsync, failed reads. The engine must never acknowledge a
// write it could not make durable, must turn read-only on a failed write, must never
// answer a read with a wrong value or a false "not found", and must resume (by itself or
// through DB::Resume) once the fault clears, losing nothing acknowledged — also across a
// power failure afterwards.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "base/fault_injection_env.h"
#include "base/random.h"
#include "cairn/engine/check.h"
#include "cairn/engine/db.h"
#include "engine/db_test_util.h"

namespace cairn::engine {
namespace {

// Counts what the engine tells its listener.
class RecordingListener final : public EventListener {
 public:
  void OnBackgroundError(const absl::Status&) override { errors++; }
  void OnResumed(const absl::Status&) override { resumed++; }
  void OnResumeFailed(const absl::Status&) override { failed_resumes++; }
  std::atomic<int> errors{0}, resumed{0}, failed_resumes{0};
};

class ErrorRecoveryTest : public ::testing::Test {
 protected:
  void Open(WalSyncMode mode = WalSyncMode::kAlways, int recovery_ms = 0,
            size_t write_buffer = 64 << 20) {
    Options options;
    options.env = &env_;
    options.wal_sync = mode;
    options.error_recovery_interval_ms = recovery_ms;
    options.write_buffer_size = write_buffer;
    options.listener = listener_;
    auto db = DB::Open(options, dir_.path());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  // The machine loses power: whatever was not synced is gone.
  void PowerFailure() {
    env_.SetFilesystemActive(false);
    db_.reset();
    ASSERT_TRUE(env_.DropUnsyncedData().ok());
    env_.SetFilesystemActive(true);
  }
  absl::Status Put(const std::string& k, const std::string& v) {
    absl::Status s = db_->Put({}, k, v);
    if (s.ok()) acked_[k] = v;
    return s;
  }
  // Every acknowledged write reads back with its value.
  void ExpectAcked() {
    for (const auto& [k, v] : acked_) {
      std::string got;
      absl::Status s = db_->Get({}, k, &got);
      ASSERT_TRUE(s.ok()) << k << ": " << s;
      ASSERT_EQ(got, v) << k;
    }
  }
  void WaitUntilWritable(absl::Duration limit = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + limit;
    while (!db_->BackgroundError().ok() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_TRUE(db_->BackgroundError().ok()) << db_->BackgroundError();
  }

  TempDir dir_;
  FaultInjectionEnv env_{Env::Default()};
  std::shared_ptr<RecordingListener> listener_ = std::make_shared<RecordingListener>();
  std::unique_ptr<DB> db_;
  std::map<std::string, std::string> acked_;
};

TEST_F(ErrorRecoveryTest, FullDiskMakesTheDatabaseReadOnlyUntilResume) {
  Open();
  ASSERT_TRUE(Put("before", "1").ok());
  env_.InjectFaults(FaultInjectionEnv::kFailWrites);  // every file
  absl::Status s = Put("during", "2");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;  // ENOSPC
  EXPECT_NE(s.message().find("No space left on device"), std::string::npos) << s;
  // Read-only: the same error for every write, reads go on.
  EXPECT_EQ(db_->BackgroundError(), s);
  EXPECT_EQ(db_->Put({}, "other", "x"), s);
  EXPECT_EQ(listener_->errors, 1);
  EXPECT_EQ(*db_->GetProperty("cairn.background-error"), s.ToString());
  ExpectAcked();

  // Still full: Resume fails and the database stays read-only.
  EXPECT_FALSE(db_->Resume().ok());
  EXPECT_FALSE(db_->BackgroundError().ok());
  EXPECT_EQ(listener_->failed_resumes, 1);

  env_.InjectFaults(0);
  ASSERT_TRUE(db_->Resume().ok());
  EXPECT_TRUE(db_->BackgroundError().ok());
  EXPECT_EQ(listener_->resumed, 1);
  EXPECT_EQ(*db_->GetProperty("cairn.background-error"), "");
  ASSERT_TRUE(Put("after", "3").ok());
  ExpectAcked();

  PowerFailure();
  Open();
  ExpectAcked();
  std::string v;
  EXPECT_TRUE(absl::IsNotFound(db_->Get({}, "other", &v)));  // refused, never applied
}

TEST_F(ErrorRecoveryTest, ShortWalWriteIsNeverFollowedByGoodRecordsInTheSameWal) {
  // A record cut in half by ENOSPC, then good records after it in the same WAL, would make
  // the next Open fail with Corruption. Resume must start a new WAL after it.
  Open();
  for (int i = 0; i < 50; i++) ASSERT_TRUE(Put(absl::StrFormat("a%03d", i), "v").ok());
  env_.InjectFaults(FaultInjectionEnv::kShortWrites, ".log");
  ASSERT_FALSE(Put("torn", std::string(1000, 't')).ok());
  env_.InjectFaults(0);
  ASSERT_TRUE(db_->Resume().ok());
  for (int i = 0; i < 50; i++) ASSERT_TRUE(Put(absl::StrFormat("b%03d", i), "v").ok());
  db_.reset();  // a process exit: everything written is kept
  Open();
  ExpectAcked();
  db_.reset();
  Options options;
  options.env = &env_;
  auto report = CheckDB(dir_.path(), options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
}

TEST_F(ErrorRecoveryTest, ShortWalWriteThenCrashBeforeResumeRecoversEveryAckedWrite) {
  Open();
  for (int i = 0; i < 50; i++) ASSERT_TRUE(Put(absl::StrFormat("a%03d", i), "v").ok());
  env_.InjectFaults(FaultInjectionEnv::kShortWrites, ".log");
  ASSERT_FALSE(Put("torn", std::string(1000, 't')).ok());
  env_.InjectFaults(0);
  PowerFailure();
  Open();
  ExpectAcked();
  ASSERT_TRUE(Put("later", "v").ok());
  ExpectAcked();
}

TEST_F(ErrorRecoveryTest, FailedFsyncIsNeverAcknowledgedAndResumeKeepsEverything) {
  Open(WalSyncMode::kAlways);
  for (int i = 0; i < 20; i++) ASSERT_TRUE(Put(absl::StrFormat("k%03d", i), "old").ok());
  env_.InjectFaults(FaultInjectionEnv::kFailSyncs, ".log");
  absl::Status s = Put("k000", "new");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Input/output error"), std::string::npos) << s;
  ExpectAcked();
  env_.InjectFaults(0);
  // After a failed fsync the kernel may have dropped the WAL's dirty pages: Resume writes
  // the memtable to a synced table instead of trusting (or re-syncing) that WAL.
  ASSERT_TRUE(db_->Resume().ok());
  ASSERT_TRUE(Put("k001", "newer").ok());
  PowerFailure();
  Open();
  ExpectAcked();
}

TEST_F(ErrorRecoveryTest, FlushAndManifestFailuresResumeByThemselves) {
  for (const char* pattern : {".sst", "MANIFEST"}) {
    SCOPED_TRACE(pattern);
    Open(WalSyncMode::kEverySec, /*recovery_ms=*/20);
    env_.InjectFaults(FaultInjectionEnv::kFailWrites | FaultInjectionEnv::kFailCreates, pattern);
    for (int i = 0; i < 100; i++) {
      ASSERT_TRUE(Put(absl::StrFormat("%s%03d", pattern, i), std::string(100, 'v')).ok());
    }
    EXPECT_FALSE(db_->Flush().ok());
    EXPECT_FALSE(db_->BackgroundError().ok());
    EXPECT_FALSE(Put("refused", "x").ok());
    ExpectAcked();
    const int resumed = listener_->resumed;
    env_.InjectFaults(0);
    WaitUntilWritable();
    EXPECT_EQ(listener_->resumed, resumed + 1);
    ASSERT_TRUE(Put("accepted", "y").ok());
    ASSERT_TRUE(db_->Flush().ok());
    ExpectAcked();
    db_.reset();
    Open();
    ExpectAcked();
    db_.reset();
  }
}

TEST_F(ErrorRecoveryTest, AResumeWhoseManifestSyncFailsKeepsEverythingTheManifestMayName) {
  // Found in review: the failed edit can still reach the MANIFEST (the write went through,
  // the sync failed), naming the new WAL and Resume's tables; Resume deleted them, and the
  // next open failed with "missing table file" while the data sat in WALs it skipped.
  Open();
  for (int i = 0; i < 100; i++) ASSERT_TRUE(Put(absl::StrFormat("k%03d", i), "v").ok());
  env_.InjectFaults(FaultInjectionEnv::kFailWrites, ".log");
  ASSERT_FALSE(Put("refused", "x").ok());
  env_.InjectFaults(FaultInjectionEnv::kFailSyncs, "MANIFEST");
  EXPECT_FALSE(db_->Resume().ok());
  env_.InjectFaults(0);
  db_.reset();  // a clean close while read-only
  Open();
  ExpectAcked();
  ASSERT_TRUE(Put("after", "v").ok());
  db_.reset();
  Open();
  ExpectAcked();
}

TEST_F(ErrorRecoveryTest, CompactionOnAFullDiskResumesAndLosesNothing) {
  Open(WalSyncMode::kEverySec, /*recovery_ms=*/20, /*write_buffer=*/64 << 10);
  Random rnd(7);
  for (int i = 0; i < 3000; i++) {
    ASSERT_TRUE(Put(absl::StrFormat("key%05d", rnd.Uniform(2000)), std::string(200, 'a' + i % 26))
                    .ok());
  }
  ASSERT_TRUE(db_->Flush().ok());
  env_.InjectFaults(FaultInjectionEnv::kFailWrites, ".sst");
  EXPECT_FALSE(db_->CompactRange(nullptr, nullptr).ok());
  ExpectAcked();
  env_.InjectFaults(0);
  WaitUntilWritable();
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  ExpectAcked();
}

TEST_F(ErrorRecoveryTest, ReadErrorsAreErrorsNeverNotFoundOrWrongValues) {
  Options options;
  options.env = &env_;
  options.block_cache_size = 0;
  options.use_mmap_reads = false;
  {
    auto db = DB::Open(options, dir_.path());
    ASSERT_TRUE(db.ok());
    for (int i = 0; i < 500; i++) {
      ASSERT_TRUE((*db)->Put({}, absl::StrFormat("k%04d", i), absl::StrFormat("v%d", i)).ok());
    }
    ASSERT_TRUE((*db)->Flush().ok());
  }
  auto db = DB::Open(options, dir_.path());
  ASSERT_TRUE(db.ok());
  env_.InjectFaults(FaultInjectionEnv::kFailReads, ".sst");
  std::string v;
  for (int i = 0; i < 500; i += 50) {
    absl::Status s = (*db)->Get({}, absl::StrFormat("k%04d", i), &v);
    EXPECT_FALSE(s.ok());
    EXPECT_FALSE(absl::IsNotFound(s)) << s;  // "missing" would be a wrong answer
  }
  auto it = (*db)->NewIterator({});
  it->SeekToFirst();
  EXPECT_FALSE(it->Valid());
  EXPECT_FALSE(it->status().ok());
  it.reset();
  EXPECT_TRUE((*db)->BackgroundError().ok());  // a failed read does not stop writes
  env_.InjectFaults(0);
  for (int i = 0; i < 500; i += 50) {
    ASSERT_TRUE((*db)->Get({}, absl::StrFormat("k%04d", i), &v).ok());
    EXPECT_EQ(v, absl::StrFormat("v%d", i));
  }
}

// Writers run while faults come and go at random; the database resumes by itself. Every
// write acknowledged with sync must be there with its value after a final power failure.
TEST_F(ErrorRecoveryTest, RandomFaultsUnderConcurrentLoadLoseNoAcknowledgedWrite) {
  Open(WalSyncMode::kAlways, /*recovery_ms=*/5, /*write_buffer=*/128 << 10);
  absl::Mutex mu;
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; t++) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop; i++) {
        const std::string k = absl::StrFormat("t%d-%03d", t, i % 500);
        const std::string v = absl::StrFormat("%d-%d", t, i);
        if (db_->Put({}, k, v).ok()) {
          absl::MutexLock l(&mu);
          acked_[k] = v;  // each key has one writer: the last ack is the value
        } else {
          refused++;
        }
      }
    });
  }
  Random rnd(42);
  const uint32_t kinds[] = {FaultInjectionEnv::kFailWrites, FaultInjectionEnv::kShortWrites,
                            FaultInjectionEnv::kFailSyncs, FaultInjectionEnv::kFailCreates};
  const char* patterns[] = {".log", ".sst", "MANIFEST", ""};
  for (int round = 0; round < 30; round++) {
    absl::SleepFor(absl::Milliseconds(5 + rnd.Uniform(20)));
    env_.InjectFaults(kinds[rnd.Uniform(4)], patterns[rnd.Uniform(4)]);
    absl::SleepFor(absl::Milliseconds(5 + rnd.Uniform(20)));
    env_.InjectFaults(0);
  }
  WaitUntilWritable();
  stop = true;
  for (auto& w : writers) w.join();
  EXPECT_GT(refused, 0);
  EXPECT_GT(env_.injected_failures(), 0u);
  EXPECT_GT(listener_->resumed, 0);
  ExpectAcked();
  PowerFailure();
  Open();
  ExpectAcked();
}

}  // namespace
}  // namespace cairn::engine
