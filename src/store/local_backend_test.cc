#include "store/local_backend.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "engine/db_test_util.h"

namespace cairn::store {
namespace {

// An hour ahead of the wall clock: the engine (real clock) still sees every test expiry
// in the future, so the backend's own clock decides.
std::atomic<int64_t> fake_now{SystemNowMs() + 3600 * 1000};
int64_t FakeNow() { return fake_now.load(); }

class LocalBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = engine::DB::Open(engine::Options(), dir_.path());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto backend = LocalBackend::Open(db_.get(), &FakeNow);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
  }
  std::string GetValue(int db, std::string_view key) {
    Record r;
    absl::Status s = backend()->Get(db, key, &r);
    if (absl::IsNotFound(s)) return "<none>";
    EXPECT_TRUE(s.ok()) << s;
    return r.value;
  }
  std::vector<std::string> Keys(int db, std::string_view start = "", std::string_view end = "") {
    std::vector<std::string> keys;
    EXPECT_TRUE(backend_
                    ->Scan(db, start, end,
                           [&](std::string_view k, const RecordView&) {
                             keys.emplace_back(k);
                             return true;
                           })
                    .ok());
    return keys;
  }

  // Through the interface, as the server uses it.
  Backend* backend() { return backend_.get(); }

  engine::TempDir dir_;
  std::unique_ptr<engine::DB> db_;
  std::unique_ptr<LocalBackend> backend_;
};

// (keys, expires) of db, from the maintained counts.
std::pair<int64_t, int64_t> CountsOf(Backend* b, int db) {
  std::optional<KeyCounts> c = b->Counts(db);
  EXPECT_TRUE(c.has_value());
  return c ? std::make_pair(c->keys, c->expires) : std::make_pair(int64_t{-1}, int64_t{-1});
}

TEST_F(LocalBackendTest, KeyCountsFollowEveryWriteAndSurviveReopen) {
  const int64_t later = FakeNow() + 100000;
  ASSERT_TRUE(backend()->Put(0, "a", {ValueType::kString, 0, "1"}).ok());
  ASSERT_TRUE(backend()->Put(0, "a", {ValueType::kString, 0, "2"}).ok());  // overwrite
  ASSERT_TRUE(backend()->Put(0, "b", {ValueType::kString, later, "1"}).ok());
  ASSERT_TRUE(backend()->Put(1, "c", {ValueType::kString, 0, "1"}).ok());
  EXPECT_EQ(CountsOf(backend(), 0), std::make_pair(int64_t{2}, int64_t{1}));
  EXPECT_EQ(backend()->Counts(0)->expire_at_sum_s, later / 1000);
  ASSERT_TRUE(backend()->Put(0, "a", {ValueType::kString, later, "3"}).ok());  // gets an expiry
  ASSERT_TRUE(backend()->Delete(0, "b").ok());
  ASSERT_TRUE(backend()->Delete(0, "absent").ok());
  EXPECT_EQ(CountsOf(backend(), 0), std::make_pair(int64_t{1}, int64_t{1}));
  // One batch writing a key twice and deleting another (RENAME-like).
  ASSERT_TRUE(backend()
                  ->Apply({Mutation::Put(0, "d", {ValueType::kString, 0, "x"}),
                           Mutation::Delete(0, "d"), Mutation::Put(0, "e", {}),
                           Mutation::Delete(0, "a")})
                  .ok());
  EXPECT_EQ(CountsOf(backend(), 0), std::make_pair(int64_t{1}, int64_t{0}));
  ASSERT_TRUE(backend()->SwapDb(0, 1).ok());
  EXPECT_EQ(CountsOf(backend(), 0), std::make_pair(int64_t{1}, int64_t{0}));  // "c"
  EXPECT_EQ(Keys(0), std::vector<std::string>{"c"});
  for (int i = 0; i < 2500; i++) {
    ASSERT_TRUE(backend()->Put(2, absl::StrCat("k", i), {ValueType::kString, 0, "v"}).ok());
  }
  EXPECT_EQ(CountsOf(backend(), 2), std::make_pair(int64_t{2500}, int64_t{0}));
  ASSERT_TRUE(backend()->Clear(2).ok());
  EXPECT_EQ(CountsOf(backend(), 2), std::make_pair(int64_t{0}, int64_t{0}));

  // Reopened without a clean close of the backend: the counts come back from the engine.
  backend_.reset();
  db_.reset();
  SetUp();
  EXPECT_EQ(CountsOf(backend(), 0), std::make_pair(int64_t{1}, int64_t{0}));
  EXPECT_EQ(CountsOf(backend(), 1), std::make_pair(int64_t{1}, int64_t{0}));
  EXPECT_EQ(CountsOf(backend(), 2), std::make_pair(int64_t{0}, int64_t{0}));

  // Data without stored counts (older code) is counted once at open.
  ASSERT_TRUE(db_->Delete({}, "Ckey-counts").ok());
  ASSERT_TRUE(db_->Put({}, EncodeKey(5, "old"), "s").ok());  // a string record "" (type 's')
  backend_.reset();
  db_.reset();
  SetUp();
  EXPECT_EQ(CountsOf(backend(), 0), std::make_pair(int64_t{1}, int64_t{0}));
  EXPECT_EQ(CountsOf(backend(), 5), std::make_pair(int64_t{1}, int64_t{0}));
}

TEST_F(LocalBackendTest, DatabasesAreSeparateKeySpaces) {
  ASSERT_TRUE(backend()->Put(0, "k", {ValueType::kString, 0, "zero"}).ok());
  ASSERT_TRUE(backend()->Put(1, "k", {ValueType::kString, 0, "one"}).ok());
  ASSERT_TRUE(backend()->Put(255, "k", {ValueType::kString, 0, "last"}).ok());
  EXPECT_EQ(GetValue(0, "k"), "zero");
  EXPECT_EQ(GetValue(1, "k"), "one");
  EXPECT_EQ(GetValue(255, "k"), "last");
  EXPECT_EQ(GetValue(2, "k"), "<none>");
  EXPECT_EQ(Keys(0), std::vector<std::string>{"k"});
  EXPECT_EQ(Keys(255), std::vector<std::string>{"k"});
  ASSERT_TRUE(backend()->Clear(1).ok());
  EXPECT_EQ(GetValue(1, "k"), "<none>");
  EXPECT_EQ(GetValue(0, "k"), "zero");
  EXPECT_EQ(GetValue(255, "k"), "last");
}

TEST_F(LocalBackendTest, BinaryKeysAndValuesAndRanges) {
  const std::string key("a\0b\xff", 4), value("\0\r\n\xfe", 4);
  ASSERT_TRUE(backend()->Put(0, key, {ValueType::kString, 0, value}).ok());
  ASSERT_TRUE(backend()->Put(0, "b", {ValueType::kString, 0, ""}).ok());
  ASSERT_TRUE(backend()->Put(0, "c", {ValueType::kString, 0, "x"}).ok());
  EXPECT_EQ(GetValue(0, key), value);
  // Keys past the inline buffer take the heap path of the same encoding.
  const std::string long_key(300, 'k');
  ASSERT_TRUE(backend()->Put(0, long_key, {ValueType::kString, 0, "long"}).ok());
  EXPECT_EQ(GetValue(0, long_key), "long");
  ASSERT_TRUE(backend()->Delete(0, long_key).ok());
  EXPECT_EQ(GetValue(0, long_key), "<none>");
  EXPECT_EQ(GetValue(0, "b"), "");
  EXPECT_EQ(Keys(0, "b"), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Keys(0, "", "c"), (std::vector<std::string>{key, "b"}));
}

TEST_F(LocalBackendTest, ExpiryIsExactToTheMillisecond) {
  const int64_t now = fake_now.load();
  ASSERT_TRUE(backend()->Put(0, "t", {ValueType::kString, now + 10, "v"}).ok());
  Record r;
  ASSERT_TRUE(backend()->Get(0, "t", &r).ok());
  EXPECT_EQ(r.expire_at_ms, now + 10);
  fake_now += 9;
  EXPECT_EQ(GetValue(0, "t"), "v");
  fake_now += 1;
  EXPECT_EQ(GetValue(0, "t"), "<none>");
  EXPECT_TRUE(Keys(0).empty());
}

// The keys ScanExpired names, as "db:key@offset" (offset: expiry minus base).
std::vector<std::string> Names(const std::vector<ExpiredKey>& keys, int64_t base) {
  std::vector<std::string> out;
  for (const ExpiredKey& e : keys) {
    out.push_back(absl::StrCat(e.db, ":", e.key, "@", e.expire_at_ms - base));
  }
  return out;
}

TEST_F(LocalBackendTest, ExpiryIndexNamesEachExpiredKeyOnceAndOnlyWhileItHoldsThatExpiry) {
  const int64_t base = fake_now.load();
  ASSERT_TRUE(backend()->Put(0, "a", {ValueType::kString, base + 10, "v"}).ok());
  ASSERT_TRUE(backend()->Put(0, "b", {ValueType::kString, base + 20, "v"}).ok());
  ASSERT_TRUE(backend()->Put(0, "c", {ValueType::kString, 0, "v"}).ok());
  ASSERT_TRUE(backend()->Put(0, "persisted", {ValueType::kString, base + 10, "v"}).ok());
  ASSERT_TRUE(backend()->Put(0, "persisted", {ValueType::kString, 0, "v"}).ok());
  ASSERT_TRUE(backend()->Put(0, "deleted", {ValueType::kString, base + 10, "v"}).ok());
  ASSERT_TRUE(backend()->Delete(0, "deleted").ok());
  ASSERT_TRUE(backend()->Put(0, "later", {ValueType::kString, base + 10, "v"}).ok());
  ASSERT_TRUE(backend()->Put(0, "later", {ValueType::kString, base + 40, "v"}).ok());
  ASSERT_TRUE(backend()->Apply({Mutation::Put(1, "f", {ValueType::kString, base + 30, "v"})}).ok());
  ASSERT_TRUE(backend()->SwapDb(1, 2).ok());

  auto due = backend()->ScanExpired(base + 9, 100);
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_TRUE(due->empty());
  due = backend()->ScanExpired(base + 10, 100);
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(Names(*due, base), (std::vector<std::string>{"0:a@10", "0:deleted@10", "0:later@10",
                                                          "0:persisted@10"}));
  fake_now = base + 10;
  std::vector<bool> deleted;
  for (const ExpiredKey& e : *due) {
    auto d = backend()->DeleteExpired(e, {});
    ASSERT_TRUE(d.ok()) << d.status();
    deleted.push_back(*d);
  }
  EXPECT_EQ(deleted, (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(GetValue(0, "later"), "v");
  EXPECT_EQ(GetValue(0, "persisted"), "v");
  due = backend()->ScanExpired(base + 10, 100);
  ASSERT_TRUE(due.ok());
  EXPECT_TRUE(due->empty());  // every entry was dropped, stale or not

  // A SWAPDB between the scan and the delete: nothing happens, and the next scan names
  // the key's new database.
  fake_now = base + 30;
  due = backend()->ScanExpired(base + 30, 1);
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(Names(*due, base), std::vector<std::string>{"0:b@20"});
  due = backend()->ScanExpired(base + 30, 100);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(Names(*due, base), (std::vector<std::string>{"0:b@20", "2:f@30"}));
  ASSERT_TRUE(backend()->SwapDb(2, 3).ok());
  auto d = backend()->DeleteExpired((*due)[1], {});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(*d);
  due = backend()->ScanExpired(base + 30, 100);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(Names(*due, base), (std::vector<std::string>{"0:b@20", "3:f@30"}));
  for (const ExpiredKey& e : *due) {
    d = backend()->DeleteExpired(e, {});
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(*d) << e.key;
  }
  // Deleted for good: the raw record is gone too, so it is never named again.
  fake_now = base + 100;
  due = backend()->ScanExpired(base + 100, 100);
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(Names(*due, base), std::vector<std::string>{"0:later@40"});
  fake_now = base;
}

TEST_F(LocalBackendTest, DataWrittenBeforeTheExpiryIndexGetsItsEntriesAtOpen) {
  const int64_t base = fake_now.load();
  ASSERT_TRUE(backend()->Put(4, "old", {ValueType::kString, base + 10, "v"}).ok());
  ASSERT_TRUE(backend()->Put(4, "plain", {ValueType::kString, 0, "v"}).ok());
  // As version-3 code left it: the record, no index entry, no marker.
  ASSERT_TRUE(db_->Delete({}, ExpiryIndexKey(base + 10, 4, "old")).ok());
  ASSERT_TRUE(db_->Delete({}, "Cexpiry-index").ok());
  auto due = backend()->ScanExpired(base + 10, 100);
  ASSERT_TRUE(due.ok());
  EXPECT_TRUE(due->empty());
  auto reopened = LocalBackend::Open(db_.get(), &FakeNow);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  backend_ = std::move(*reopened);
  due = backend()->ScanExpired(base + 10, 100);
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(Names(*due, base), std::vector<std::string>{"4:old@10"});
}

TEST(LocalBackendCompactionTest, StaleExpiryEntriesAreDroppedByCompaction) {
  engine::TempDir dir;
  engine::Options o;
  auto filter = std::make_shared<MemberReclaimFilter>();
  o.compaction_filter_factory = filter;
  auto db = engine::DB::Open(o, dir.path());
  ASSERT_TRUE(db.ok());
  filter->Attach(db->get());
  auto opened = LocalBackend::Open(db->get(), &FakeNow);
  ASSERT_TRUE(opened.ok());
  Backend* backend = opened->get();  // through the interface, as the server uses it
  const int64_t base = fake_now.load();
  // A sliding expiry: every rewrite leaves the previous entry stale.
  for (int i = 1; i <= 1000; i++) {
    ASSERT_TRUE(backend->Put(0, "session", {ValueType::kString, base + 1000 + i, "v"}).ok());
  }
  ASSERT_TRUE(backend->Put(0, "deleted", {ValueType::kString, base + 5, "v"}).ok());
  ASSERT_TRUE(backend->Delete(0, "deleted").ok());
  auto entries = [&] {
    engine::ReadOptions ro;
    ro.iterate_upper_bound = std::string(1, kExpiryNamespace + 1);
    auto it = (*db)->NewIterator(ro);
    int n = 0;
    for (it->Seek(std::string(1, kExpiryNamespace)); it->Valid(); it->Next()) n++;
    return n;
  };
  EXPECT_EQ(entries(), 1001);
  ASSERT_TRUE((*db)->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(entries(), 1);  // the session's current expiry only
  auto due = backend->ScanExpired(base + 5000, 100);
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(Names(*due, base), std::vector<std::string>{"0:session@2000"});
}

TEST_F(LocalBackendTest, ApplyIsAtomicAcrossDatabases) {
  std::vector<Mutation> batch;
  batch.push_back(Mutation::Put(0, "a", {ValueType::kString, 0, "1"}));
  batch.push_back(Mutation::Put(3, "b", {ValueType::kString, 0, "2"}));
  batch.push_back(Mutation::Delete(0, "a"));
  ASSERT_TRUE(backend()->Apply(batch).ok());
  EXPECT_EQ(GetValue(0, "a"), "<none>");
  EXPECT_EQ(GetValue(3, "b"), "2");
}

TEST_F(LocalBackendTest, SwapDbIsInstantAndSurvivesReopen) {
  ASSERT_TRUE(backend()->Put(0, "a", {ValueType::kString, 0, "in0"}).ok());
  ASSERT_TRUE(backend()->Put(1, "b", {ValueType::kString, 0, "in1"}).ok());
  ASSERT_TRUE(backend()->SwapDb(0, 1).ok());
  EXPECT_EQ(GetValue(0, "b"), "in1");
  EXPECT_EQ(GetValue(1, "a"), "in0");
  EXPECT_EQ(Keys(0), std::vector<std::string>{"b"});
  backend_.reset();
  db_.reset();
  auto db = engine::DB::Open(engine::Options(), dir_.path());
  ASSERT_TRUE(db.ok());
  db_ = std::move(*db);
  auto reopened = LocalBackend::Open(db_.get(), &FakeNow);
  ASSERT_TRUE(reopened.ok());
  backend_ = std::move(*reopened);
  EXPECT_EQ(GetValue(0, "b"), "in1");
  EXPECT_EQ(GetValue(1, "a"), "in0");
  ASSERT_TRUE(backend()->Clear(0).ok());
  EXPECT_EQ(GetValue(0, "b"), "<none>");
  EXPECT_EQ(GetValue(1, "a"), "in0");
}

TEST_F(LocalBackendTest, DamagedRecordIsCorruptionNotAValue) {
  ASSERT_TRUE(db_->Put({}, EncodeKey(0, "bad"), "").ok());
  ASSERT_TRUE(db_->Put({}, EncodeKey(0, "bad2"), std::string("\x80\x01", 2)).ok());
  Record r;
  EXPECT_EQ(backend()->Get(0, "bad", &r).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(backend()->Get(0, "bad2", &r).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cairn::store
