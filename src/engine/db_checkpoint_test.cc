// Checkpoint: a consistent copy, openable on its own, taken while writes continue.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_format.h"
#include "cairn/engine/db.h"
#include "engine/db_test_util.h"

namespace cairn::engine {
namespace {

std::unique_ptr<DB> OpenOrDie(const std::string& dir, Options options = {}) {
  options.write_buffer_size = 64 << 10;
  auto db = DB::Open(options, dir);
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? std::move(*db) : nullptr;
}

TEST(CheckpointTest, CopyMatchesTheSourceAtItsSequenceAndIsIndependent) {
  TempDir src, dst;
  auto db = OpenOrDie(src.path());
  for (int i = 0; i < 5000; i++) {
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%05d", i), absl::StrFormat("v%d", i)).ok());
  }
  for (int i = 0; i < 5000; i += 3) ASSERT_TRUE(db->Delete({}, absl::StrFormat("k%05d", i)).ok());
  absl::Status st;
  const auto before = ScanAll(db.get(), &st);
  auto seq = db->Checkpoint(dst.path());
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(std::to_string(*seq), *db->GetProperty("cairn.last-sequence"));
  // The source moves on; the checkpoint must not.
  for (int i = 0; i < 5000; i++)
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%05d", i), "later").ok());
  ASSERT_TRUE(db->CompactRange(nullptr, nullptr).ok());  // deletes the source's old tables

  auto copy = OpenOrDie(dst.path());
  EXPECT_EQ(ScanAll(copy.get(), &st), before);
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(*copy->GetProperty("cairn.last-sequence"), std::to_string(*seq));
  ASSERT_TRUE(copy->Put({}, "only-in-copy", "x").ok());
  EXPECT_EQ(GetOrStatus(db.get(), "only-in-copy"), "NOT_FOUND");
  EXPECT_FALSE(db->Checkpoint(dst.path()).ok());  // the directory exists
}

// After a full compaction the tables' entries carry sequence 0 (bottommost, no snapshot):
// the checkpoint's sequence must still be the source's, not the tables' largest.
TEST(CheckpointTest, SequenceIsRightAfterBottommostCompaction) {
  TempDir src, dst;
  auto db = OpenOrDie(src.path());
  for (int i = 0; i < 1000; i++) ASSERT_TRUE(db->Put({}, absl::StrFormat("k%05d", i), "v").ok());
  ASSERT_TRUE(db->CompactRange(nullptr, nullptr).ok());
  auto seq = db->Checkpoint(dst.path());
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, 1000u);
  db.reset();
  auto copy = OpenOrDie(dst.path());
  EXPECT_EQ(*copy->GetProperty("cairn.last-sequence"), "1000");
  ASSERT_TRUE(copy->Put({}, "k00001", "newer").ok());
  std::string v;
  ASSERT_TRUE(copy->Get({}, "k00001", &v).ok());
  EXPECT_EQ(v, "newer");
}

TEST(CheckpointTest, TakenUnderConcurrentWritesHoldsExactlyAPrefix) {
  TempDir src, dst;
  auto db = OpenOrDie(src.path());
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; !stop; i++) {
      ASSERT_TRUE(db->Put({}, absl::StrFormat("k%07d", i), absl::StrFormat("v%d", i)).ok());
      written = i + 1;
    }
  });
  while (written < 20000) std::this_thread::yield();
  auto seq = db->Checkpoint(dst.path());
  stop = true;
  writer.join();
  ASSERT_TRUE(seq.ok()) << seq.status();

  auto copy = OpenOrDie(dst.path());
  absl::Status st;
  auto got = ScanAll(copy.get(), &st);
  ASSERT_TRUE(st.ok());
  // One write per key from sequence 1: the copy holds keys 0..seq-1 and nothing else.
  ASSERT_EQ(got.size(), *seq);
  int i = 0;
  for (const auto& [k, v] : got) {
    ASSERT_EQ(k, absl::StrFormat("k%07d", i));
    ASSERT_EQ(v, absl::StrFormat("v%d", i));
    i++;
  }
}

}  // namespace
}  // namespace cairn::engine
