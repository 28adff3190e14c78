// Values with a time to live: absent from their expiry on, in every read path, and
// removed by compaction (without bringing back older versions of the key).
#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "cairn/engine/check.h"
#include "cairn/engine/compaction_filter.h"
#include "cairn/engine/db.h"
#include "cairn/env.h"
#include "engine/db_test_util.h"

namespace cairn::engine {
namespace {

class TtlTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(uint64_t expired_retention_micros = 0,
            std::shared_ptr<CompactionFilterFactory> filter = nullptr) {
    db_.reset();
    Options o;
    o.compaction_filter_factory = std::move(filter);
    o.write_buffer_size = 64 << 10;
    o.expired_retention_micros = expired_retention_micros;
    auto db = DB::Open(o, dir_.path());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void PutTtl(const std::string& k, const std::string& v, int64_t ttl_micros) {
    WriteBatch b;
    b.PutWithExpiry(k, v, Env::Default()->NowUnixMicros() + ttl_micros);
    ASSERT_TRUE(db_->Write({}, b).ok());
  }
  std::string Get(const std::string& k) { return GetOrStatus(db_.get(), k); }
  std::map<std::string, std::string> Scan() {
    absl::Status s;
    auto out = ScanAll(db_.get(), &s);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  TempDir dir_;
  std::unique_ptr<DB> db_;
};

TEST_F(TtlTest, ExpiredValuesReadAsAbsentInMemtableTablesAndIterators) {
  ASSERT_TRUE(db_->Put({}, "a", "old").ok());
  ASSERT_TRUE(db_->Flush().ok());
  PutTtl("a", "expired", -1);          // newer than "old", already expired: hides it
  PutTtl("b", "live", 3'600'000'000);  // an hour
  PutTtl("c", "expired", -1);
  const std::map<std::string, std::string> want = {{"b", "live"}};
  for (int round = 0; round < 3; round++) {
    SCOPED_TRACE(round);  // memtable, then tables, then after a reopen
    EXPECT_EQ(Get("a"), "NOT_FOUND");
    EXPECT_EQ(Get("b"), "live");
    EXPECT_EQ(Get("c"), "NOT_FOUND");
    EXPECT_EQ(Scan(), want);
    auto it = db_->NewIterator({});
    it->SeekToLast();
    ASSERT_TRUE(it->Valid());
    EXPECT_EQ(it->key(), "b");
    EXPECT_EQ(it->value(), "live");  // without the expiry header
    it->Prev();
    EXPECT_FALSE(it->Valid());
    if (round == 0) {
      ASSERT_TRUE(db_->Flush().ok());
    }
    if (round == 1) Open();
  }
}

TEST_F(TtlTest, ValueExpiresWhenItsTimeComes) {
  PutTtl("k", "v", 300'000);  // 300 ms
  EXPECT_EQ(Get("k"), "v");
  Env::Default()->SleepForMicros(400'000);
  EXPECT_EQ(Get("k"), "NOT_FOUND");
  EXPECT_TRUE(Scan().empty());
}

TEST_F(TtlTest, CompactionRemovesExpiredValuesWithoutResurrectingOlderOnes) {
  for (int i = 0; i < 1000; i++) {
    ASSERT_TRUE(db_->Put({}, absl::StrFormat("k%04d", i), "old").ok());
  }
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());  // "old" values go deep
  for (int i = 0; i < 1000; i++) {
    const std::string k = absl::StrFormat("k%04d", i);
    if (i % 2 == 0) {
      PutTtl(k, "expired", -1);
    } else {
      PutTtl(k, "fresh", 3'600'000'000);
    }
  }
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  for (int i = 0; i < 1000; i++) {
    EXPECT_EQ(Get(absl::StrFormat("k%04d", i)), i % 2 == 0 ? "NOT_FOUND" : "fresh") << i;
  }
  db_.reset();
  auto report = CheckDB(dir_.path(), {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->table_entries, 500u);  // expired values and what they hid are gone
}

TEST_F(TtlTest, CompactionKeepsExpiredValuesForTheRetention) {
  Open(/*expired_retention_micros=*/3'600'000'000);
  PutTtl("recent", "v1", -1'000'000);             // expired a second ago: kept
  PutTtl("long-ago", "v2", -7'200'000'000);       // two hours ago: past the retention
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(Get("recent"), "NOT_FOUND");  // hidden from readers all the same
  ReadOptions raw;
  raw.include_expired = true;
  std::string v;
  ASSERT_TRUE(db_->Get(raw, "recent", &v).ok());
  EXPECT_EQ(v, "v1");
  EXPECT_TRUE(absl::IsNotFound(db_->Get(raw, "long-ago", &v)));
}

// The application's filter keeps the expired values it asks for (LocalBackend's records,
// which its key counts still count), past any retention; readers still hide them.
TEST_F(TtlTest, FilterKeepsTheExpiredValuesItAsksFor) {
  class KeepK final : public CompactionFilter {
   public:
    bool Drop(std::string_view, std::string_view) override { return false; }
    bool KeepExpired(std::string_view key) override { return key.starts_with("k"); }
  };
  class Factory final : public CompactionFilterFactory {
   public:
    std::unique_ptr<CompactionFilter> NewFilter() override { return std::make_unique<KeepK>(); }
  };
  Open(/*expired_retention_micros=*/0, std::make_shared<Factory>());
  PutTtl("kept", "v1", -7'200'000'000);     // two hours ago
  PutTtl("dropped", "v2", -7'200'000'000);
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_EQ(Get("kept"), "NOT_FOUND");
  ReadOptions raw;
  raw.include_expired = true;
  std::string v;
  ASSERT_TRUE(db_->Get(raw, "kept", &v).ok());
  EXPECT_EQ(v, "v1");
  EXPECT_TRUE(absl::IsNotFound(db_->Get(raw, "dropped", &v)));
}

}  // namespace
}  // namespace cairn::engine
