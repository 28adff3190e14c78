// LocalBackend's key counts against the engine's compaction, recounts, slow writes and
// failed writes (docs/keyspace-counts.md).
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/fault_injection_env.h"
#include "cairn/env.h"
#include "engine/db_test_util.h"
#include "store/local_backend.h"

namespace cairn::store {
namespace {

// The engine's clock and the backend's, moved forward together by skew_us. Appends to
// blob files wait while the gate is closed (a slow disk under a large value).
std::atomic<int64_t> skew_us{0};
class SkewedClockEnv final : public EnvWrapper {
 public:
  SkewedClockEnv() : EnvWrapper(Env::Default()) {}
  uint64_t NowUnixMicros() override { return target()->NowUnixMicros() + skew_us.load(); }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    auto file = target()->NewWritableFile(path);
    if (!file.ok() || !absl::EndsWith(path, ".blob")) return file;
    return std::unique_ptr<WritableFile>(new GatedFile(this, std::move(*file)));
  }
  void CloseGate() {
    absl::MutexLock l(&mu_);
    closed_ = true;
    waiting_ = 0;
  }
  void OpenGate() {
    absl::MutexLock l(&mu_);
    closed_ = false;
  }
  // Waits until an append waits at the closed gate.
  void AwaitWaiter() {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n > 0; }, &waiting_));
  }

 private:
  class GatedFile final : public WritableFile {
   public:
    GatedFile(SkewedClockEnv* env, std::unique_ptr<WritableFile> f) : env_(env), f_(std::move(f)) {}
    absl::Status Append(std::string_view data) override {
      {
        absl::MutexLock l(&env_->mu_);
        if (env_->closed_) {
          env_->waiting_++;
          env_->mu_.Await(absl::Condition(
              +[](bool* closed) { return !*closed; }, &env_->closed_));
        }
      }
      return f_->Append(data);
    }
    absl::Status Flush() override { return f_->Flush(); }
    absl::Status Sync() override { return f_->Sync(); }
    absl::Status SyncData() override { return f_->SyncData(); }
    absl::Status Close() override { return f_->Close(); }

   private:
    SkewedClockEnv* const env_;
    const std::unique_ptr<WritableFile> f_;
  };
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};
int64_t SkewedNowMs() {
  return static_cast<int64_t>(Env::Default()->NowUnixMicros() + skew_us.load()) / 1000;
}

// A data directory opened as the server opens it: MemberReclaimFilter attached, expired
// records kept 10 minutes by the engine itself (server.cc's retention).
class KeyCountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    skew_us = 0;
    Open();
  }
  void TearDown() override { skew_us = 0; }
  void Open() {
    backend_.reset();
    db_.reset();
    engine::Options o;
    o.env = &env_;
    auto filter = ConfigureEngineForLocalBackend(&o);
    auto db = engine::DB::Open(o, dir_.path());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    filter->Attach(db_.get());
    auto backend = LocalBackend::Open(db_.get(), &SkewedNowMs);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
  }
  // The active expiry's work, as ActiveExpiry::RunOnce does it: every due key deleted.
  int64_t ExpireAll() {
    int64_t deleted = 0;
    std::string cursor;
    for (;;) {
      auto due = backend_->ScanExpired(SkewedNowMs(), 100, cursor);
      EXPECT_TRUE(due.ok()) << due.status();
      if (!due.ok() || due->empty()) return deleted;
      for (const ExpiredKey& e : *due) {
        auto gone = backend_->DeleteExpired(e, {});
        EXPECT_TRUE(gone.ok()) << gone.status();
        if (gone.ok() && *gone) deleted++;
      }
      cursor = due->back().index_key;
    }
  }
  // Records stored in db, expired or not: the truth the counts must equal.
  int64_t StoredRecords(int physical) {
    engine::ReadOptions ro;
    ro.include_expired = true;
    ro.iterate_upper_bound = DbEnd(physical);
    auto it = db_->NewIterator(ro);
    int64_t n = 0;
    for (it->Seek(DbPrefix(physical)); it->Valid(); it->Next()) n++;
    EXPECT_TRUE(it->status().ok());
    return n;
  }
  Backend* b() { return backend_.get(); }  // through the interface, as the server
  int64_t Keys(int db) { return backend_->Counts(db)->keys; }
  int64_t Expires(int db) { return backend_->Counts(db)->expires; }

  SkewedClockEnv env_;
  engine::TempDir dir_;
  std::unique_ptr<engine::DB> db_;
  std::unique_ptr<LocalBackend> backend_;
};

// A server stopped for longer than the engine's retention, whose tables compact before
// the active expiry reaches the keys: the records must still be there for the active
// expiry to delete and uncount.
TEST_F(KeyCountsTest, CompactionKeepsExpiredRecordsUntilTheActiveExpiryUncountsThem) {
  const int64_t expire = SkewedNowMs() + 1000;
  for (int i = 0; i < 2000; i++) {
    ASSERT_TRUE(b()->Put(0, absl::StrCat("k", i), {ValueType::kString, expire, "v"}).ok());
  }
  for (int i = 0; i < 100; i++) {
    ASSERT_TRUE(b()->Put(0, absl::StrCat("live", i), {ValueType::kString, 0, "v"}).ok());
  }
  // A large value (a blob reference in the tree) expires the same way.
  ASSERT_TRUE(backend_
                  ->PutPayload(0, "big", ValueType::kString, expire,
                               std::string(256 << 10, 'b'))
                  .ok());
  EXPECT_EQ(Keys(0), 2101);
  skew_us = int64_t{3600} * 1'000'000;  // an hour later: far past the retention
  Open();                               // "restarted"
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(StoredRecords(0), 2101);  // hidden from readers, still stored
  EXPECT_EQ(Keys(0), 2101);           // as Redis: counted until deleted
  EXPECT_EQ(ExpireAll(), 2001);
  EXPECT_EQ(Keys(0), 100);
  EXPECT_EQ(Expires(0), 0);
  EXPECT_EQ(StoredRecords(0), 100);
  Open();
  EXPECT_EQ(Keys(0), 100);
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(StoredRecords(0), 100);
}

// A directory from before the expiry index (no index entries, no marker) whose records
// expired long ago: the index built at open must name them too, or KeepExpired keeps
// them (and their counts) for good.
TEST_F(KeyCountsTest, AnExpiryIndexBuiltAtOpenNamesRecordsExpiredLongAgo) {
  const int64_t expire = SkewedNowMs() + 1000;
  for (int i = 0; i < 300; i++) {
    ASSERT_TRUE(b()->Put(0, absl::StrCat("k", i), {ValueType::kString, expire, "v"}).ok());
  }
  ASSERT_TRUE(b()->Put(0, "live", {ValueType::kString, 0, "v"}).ok());
  engine::WriteBatch drop;
  drop.Delete("Cexpiry-index");
  {
    engine::ReadOptions ro;
    ro.include_expired = true;
    ro.iterate_upper_bound = std::string(1, kExpiryNamespace + 1);
    auto it = db_->NewIterator(ro);
    for (it->Seek(std::string(1, kExpiryNamespace)); it->Valid(); it->Next()) {
      drop.Delete(std::string(it->key()));
    }
    ASSERT_TRUE(it->status().ok());
  }
  ASSERT_TRUE(db_->Write({}, drop).ok());
  skew_us = int64_t{3600} * 1'000'000;
  Open();  // rebuilds the index
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(Keys(0), 301);
  EXPECT_EQ(ExpireAll(), 300);
  EXPECT_EQ(Keys(0), 1);
  EXPECT_EQ(StoredRecords(0), 1);
}

// Other data keeps the engine's retention: an expired value outside the records'
// namespace is dropped by compaction once the retention has passed.
TEST_F(KeyCountsTest, OnlyRecordsAreKeptPastTheRetention) {
  engine::WriteBatch b;
  b.PutWithExpiry("Xother", "v", env_.NowUnixMicros() + 1000);
  ASSERT_TRUE(db_->Write({}, b).ok());
  skew_us = int64_t{3600} * 1'000'000;
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  engine::ReadOptions ro;
  ro.include_expired = true;
  std::string v;
  EXPECT_TRUE(absl::IsNotFound(db_->Get(ro, "Xother", &v)));
}

// `cairn db DIR del Ckey-counts` forces a recount at the next open: the count entries of
// a database the recount finds empty must not come back at the open after it.
TEST_F(KeyCountsTest, RecountLeavesNoStaleEntriesOfEmptiedDatabases) {
  for (int i = 0; i < 5; i++) {
    ASSERT_TRUE(b()->Put(3, absl::StrCat("gone", i), {ValueType::kString, 0, "v"}).ok());
    ASSERT_TRUE(b()->Put(0, absl::StrCat("stays", i), {ValueType::kString, 0, "v"}).ok());
  }
  // Records deleted behind the counts' back (code older than the counts, a downgrade).
  for (int i = 0; i < 5; i++) {
    ASSERT_TRUE(db_->Delete({}, EncodeKey(3, absl::StrCat("gone", i))).ok());
  }
  ASSERT_TRUE(db_->Delete({}, "Ckey-counts").ok());
  Open();
  EXPECT_EQ(Keys(3), 0);
  EXPECT_EQ(Keys(0), 5);
  Open();  // from the stored entries this time
  EXPECT_EQ(Keys(3), 0);
  EXPECT_EQ(Keys(0), 5);
}

// A large value's write (here held at its blob file's first append) must not stop other
// writers that change counts: before, every new key whose count stripe it shared waited
// for it.
TEST_F(KeyCountsTest, ASlowLargeValueWriteBlocksNoOtherWriter) {
  env_.CloseGate();
  std::thread big([&] {
    EXPECT_TRUE(
        backend_->PutPayload(0, "big", ValueType::kString, 0, std::string(1 << 20, 'b')).ok());
  });
  env_.AwaitWaiter();
  // 500 new keys: with 32 stripes by key hash, one at least would share big's.
  auto others = std::async(std::launch::async, [&] {
    for (int i = 0; i < 500; i++) {
      if (!b()->Put(0, absl::StrCat("k", i), {ValueType::kString, 0, "v"}).ok()) return false;
    }
    return true;
  });
  const bool done = others.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  env_.OpenGate();
  big.join();
  EXPECT_TRUE(done) << "writers waited for the large value";
  EXPECT_TRUE(others.get());
  EXPECT_EQ(Keys(0), 501);
  Open();
  EXPECT_EQ(Keys(0), 501);
}

// Many writers at once, each on its own slot or sharing: the counts equal the records,
// in memory and after a reopen.
TEST_F(KeyCountsTest, ConcurrentWritersKeepTheCountsExact) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 40; t++) {  // more threads than slots
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; i++) {
        const std::string key = absl::StrCat("t", t, ":", i % 50);
        if (i % 3 == 2) {
          EXPECT_TRUE(b()->Delete(t % 2, key, {}).ok());
        } else {
          EXPECT_TRUE(b()->Put(t % 2, key, {ValueType::kString, i % 2 ? 0 : SkewedNowMs() + 100000, "v"}).ok());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(Keys(0), StoredRecords(0));
  EXPECT_EQ(Keys(1), StoredRecords(1));
  const int64_t k0 = Keys(0), e0 = Expires(0);
  Open();
  EXPECT_EQ(Keys(0), k0);
  EXPECT_EQ(Expires(0), e0);
  EXPECT_EQ(Keys(1), StoredRecords(1));
}

// A DB that can report an error for a write it applied: what a group commit whose
// memtable insert failed part-way reports to the writers of the group whose batches
// went in (DB::Resume then keeps them), or fail a write without applying it.
class FailingWritesDB final : public engine::DB {
 public:
  explicit FailingWritesDB(engine::DB* db) : db_(db) {}
  enum class Mode { kNone, kFailApplied, kFailNotApplied };
  Mode mode = Mode::kNone;

  absl::Status Put(const engine::WriteOptions& o, std::string_view k, std::string_view v) override {
    return Fail(db_->Put(o, k, v));
  }
  absl::Status PutParts(const engine::WriteOptions& o, std::string_view k,
                        std::span<const std::string_view> parts, uint64_t expire,
                        const engine::WriteBatch* also) override {
    if (mode == Mode::kFailNotApplied) return absl::UnavailableError("injected");
    return Fail(db_->PutParts(o, k, parts, expire, also));
  }
  absl::Status Delete(const engine::WriteOptions& o, std::string_view k) override {
    if (mode == Mode::kFailNotApplied) return absl::UnavailableError("injected");
    return Fail(db_->Delete(o, k));
  }
  absl::Status Write(const engine::WriteOptions& o, const engine::WriteBatch& b) override {
    if (mode == Mode::kFailNotApplied) return absl::UnavailableError("injected");
    return Fail(db_->Write(o, b));
  }
  absl::Status Get(const engine::ReadOptions& o, std::string_view k, std::string* v) override {
    return db_->Get(o, k, v);
  }
  absl::StatusOr<std::unique_ptr<engine::ValueReader>> GetReader(const engine::ReadOptions& o,
                                                                 std::string_view k) override {
    return db_->GetReader(o, k);
  }
  std::unique_ptr<engine::Iterator> NewIterator(const engine::ReadOptions& o) override {
    return db_->NewIterator(o);
  }
  const engine::Snapshot* GetSnapshot() override { return db_->GetSnapshot(); }
  void ReleaseSnapshot(const engine::Snapshot* s) override { db_->ReleaseSnapshot(s); }
  absl::Status Flush() override { return db_->Flush(); }
  absl::Status CompactRange(const std::string* b, const std::string* e) override {
    return db_->CompactRange(b, e);
  }
  absl::StatusOr<uint64_t> Checkpoint(const std::string& dir) override {
    return db_->Checkpoint(dir);
  }
  absl::Status SyncWal() override { return db_->SyncWal(); }
  absl::Status FlushWal() override { return db_->FlushWal(); }
  absl::Status BackgroundError() override { return db_->BackgroundError(); }
  absl::Status Resume() override { return db_->Resume(); }
  std::optional<std::string> GetProperty(std::string_view name) override {
    return db_->GetProperty(name);
  }

 private:
  absl::Status Fail(absl::Status s) {
    if (s.ok() && mode == Mode::kFailApplied) return absl::UnavailableError("injected");
    return s;
  }
  engine::DB* const db_;
};

TEST_F(KeyCountsTest, CountsChangeExactlyWhenTheEngineAppliedTheWrite) {
  FailingWritesDB failing(db_.get());
  auto opened = LocalBackend::Open(&failing, &SkewedNowMs);
  ASSERT_TRUE(opened.ok());
  Backend* backend = opened->get();
  ASSERT_TRUE(backend->Put(0, "a", {ValueType::kString, 0, "v"}, {}).ok());
  const int64_t later = SkewedNowMs() + 100000;

  failing.mode = FailingWritesDB::Mode::kFailApplied;  // applied, reported as failed
  EXPECT_FALSE(backend->Put(0, "b", {ValueType::kString, later, "v"}, {}).ok());
  EXPECT_FALSE(backend->Delete(0, "a", {}).ok());
  EXPECT_FALSE(backend->PutPayload(0, "big", ValueType::kString, 0, std::string(256 << 10, 'x'))
                   .ok());
  EXPECT_EQ((*opened)->Counts(0)->keys, StoredRecords(0));
  EXPECT_EQ((*opened)->Counts(0)->keys, 2);  // b and big
  EXPECT_EQ((*opened)->Counts(0)->expires, 1);

  failing.mode = FailingWritesDB::Mode::kFailNotApplied;  // nothing applied
  EXPECT_FALSE(backend->Put(0, "c", {ValueType::kString, 0, "v"}, {}).ok());
  EXPECT_FALSE(backend->Delete(0, "b", {}).ok());
  EXPECT_FALSE(backend->PutPayload(0, "big2", ValueType::kString, 0, std::string(256 << 10, 'x'))
                   .ok());
  EXPECT_EQ((*opened)->Counts(0)->keys, 2);
  EXPECT_EQ((*opened)->Counts(0)->expires, 1);

  failing.mode = FailingWritesDB::Mode::kNone;
  ASSERT_TRUE(backend->Put(0, "d", {ValueType::kString, 0, "v"}, {}).ok());
  EXPECT_EQ((*opened)->Counts(0)->keys, 3);
  opened->reset();
  Open();
  EXPECT_EQ(Keys(0), 3);
  EXPECT_EQ(Expires(0), 1);
  EXPECT_EQ(StoredRecords(0), 3);
}

// A real disk failure: the WAL append fails (ENOSPC), nothing is applied, the database
// turns read-only; after Resume and after a reopen the counts equal the records.
TEST(KeyCountsFaultTest, AFailedWalWriteChangesNoCount) {
  engine::TempDir dir;
  FaultInjectionEnv env(Env::Default());
  engine::Options o;
  o.env = &env;
  o.error_recovery_interval_ms = 0;
  for (int round = 0; round < 2; round++) {
    auto db = engine::DB::Open(o, dir.path());
    ASSERT_TRUE(db.ok()) << db.status();
    auto backend = LocalBackend::Open(db->get(), &SkewedNowMs);
    ASSERT_TRUE(backend.ok());
    Backend* b = backend->get();
    if (round == 0) {
      ASSERT_TRUE(b->Put(0, "a", {ValueType::kString, 0, "v"}, {}).ok());
      env.InjectFaults(FaultInjectionEnv::kFailWrites, ".log");
      EXPECT_FALSE(b->Put(0, "b", {ValueType::kString, 0, "v"}, {}).ok());
      EXPECT_FALSE(b->Delete(0, "a", {}).ok());
      EXPECT_EQ((*backend)->Counts(0)->keys, 1);
      env.InjectFaults(0);
      ASSERT_TRUE((*db)->Resume().ok());
      EXPECT_EQ((*backend)->Counts(0)->keys, 1);
      ASSERT_TRUE(b->Put(0, "c", {ValueType::kString, 0, "v"}, {}).ok());
    }
    Record r;
    EXPECT_TRUE(b->Get(0, "a", &r).ok());
    EXPECT_TRUE(absl::IsNotFound(b->Get(0, "b", &r)));
    EXPECT_EQ((*backend)->Counts(0)->keys, 2) << round;
  }
}

}  // namespace
}  // namespace cairn::store
