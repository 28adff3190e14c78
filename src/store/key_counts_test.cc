// LocalBackend's key counts against the engine's compaction, recounts, slow writes and
// failed writes (docs/keyspace-counts.md).
#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "cairn/env.h"
#include "engine/db_test_util.h"
#include "store/local_backend.h"

namespace cairn::store {
namespace {

// The engine's clock and the backend's, moved forward together by skew_us.
std::atomic<int64_t> skew_us{0};
class SkewedClockEnv final : public EnvWrapper {
 public:
  SkewedClockEnv() : EnvWrapper(Env::Default()) {}
  uint64_t NowUnixMicros() override { return target()->NowUnixMicros() + skew_us.load(); }
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
    o.expired_retention_micros = uint64_t{600} * 1'000'000;
    auto filter = std::make_shared<MemberReclaimFilter>();
    o.compaction_filter_factory = filter;
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

}  // namespace
}  // namespace cairn::store
