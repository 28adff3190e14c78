#include "store/local_backend.h"

#include <gtest/gtest.h>

#include <atomic>

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
