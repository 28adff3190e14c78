// Randomized model test: a long random mix of puts, deletes, batches, flushes, reopens,
// snapshots, point reads and scans in both directions, checked step by step against
// std::map. Small memtables make the data spread over the memtable, the immutable
// memtable and many L0 tables, with overwrites and tombstones across all of them.
//
// CAIRN_MODEL_OPS (environment) sets the operations per seed (default 25 000; 4 000 in
// sanitizer builds) for soak runs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/random.h"
#include "cairn/engine/db.h"
#include "engine/db_test_util.h"

namespace cairn::engine {
namespace {

using Model = std::map<std::string, std::string>;

int OpsPerSeed() {
  const char* env = std::getenv("CAIRN_MODEL_OPS");
  if (env != nullptr) return std::atoi(env);
  return kSanitizedBuild ? 4000 : 25000;
}

class ModelTest : public ::testing::TestWithParam<int> {
 protected:
  void Reopen() {
    db_.reset();
    auto db = DB::Open(options_, dir_.path());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }

  std::string RandomKey() {
    // A few hot keys get many versions; the rest spread out.
    if (rnd_.OneIn(4)) return absl::StrFormat("hot%02d", rnd_.Uniform(10));
    return absl::StrFormat("key%05d", rnd_.Uniform(3000));
  }
  std::string RandomValue() {
    size_t n = rnd_.OneIn(50) ? rnd_.Uniform(5000) : rnd_.Uniform(60);
    std::string v = absl::StrFormat("%d:", rnd_.Next() % 100000);
    while (v.size() < n) v.push_back(static_cast<char>('a' + rnd_.Uniform(26)));
    return v;
  }

  // Walks a random iterator path and compares each step with the model.
  void CheckIterator(const Model& model, const Snapshot* snap) {
    ReadOptions ro;
    ro.snapshot = snap;
    auto it = db_->NewIterator(ro);
    Model::const_iterator m;
    bool m_valid = false;
    auto seek = [&](const std::string& target) {
      it->Seek(target);
      m = model.lower_bound(target);
      m_valid = m != model.end();
    };
    const int steps = 1 + rnd_.Uniform(40);
    switch (rnd_.Uniform(3)) {
      case 0:
        it->SeekToFirst();
        m = model.begin();
        m_valid = m != model.end();
        break;
      case 1:
        it->SeekToLast();
        m_valid = !model.empty();
        if (m_valid) m = std::prev(model.end());
        break;
      default:
        seek(RandomKey());
    }
    for (int i = 0; i < steps; i++) {
      ASSERT_EQ(it->Valid(), m_valid) << "step " << i;
      if (!m_valid) break;
      ASSERT_EQ(it->key(), m->first);
      ASSERT_EQ(it->value(), m->second);
      if (rnd_.OneIn(2)) {
        it->Next();
        ++m;
        m_valid = m != model.end();
      } else {
        it->Prev();
        m_valid = m != model.begin();
        if (m_valid) --m;
      }
    }
    ASSERT_TRUE(it->status().ok()) << it->status();
  }

  TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
  Random rnd_{static_cast<uint64_t>(GetParam())};
};

TEST_P(ModelTest, MatchesStdMap) {
  // Tiny memtables, tables and levels: the data flows through flushes and compactions
  // into L1..L3 many times over.
  options_.write_buffer_size = 64 << 10;
  options_.target_file_size = 64 << 10;
  options_.max_bytes_for_level_base = 256 << 10;
  options_.max_bytes_for_level_multiplier = 4;
  // Half the seeds read through a small row cache: it must never change an answer.
  options_.row_cache_size = GetParam() % 2 == 1 ? (256 << 10) : 0;
  // Tables are read through mappings on most seeds, through pread on every fourth.
  options_.use_mmap_reads = GetParam() % 4 != 0;
  // The memtable hash index on half the seeds (tiny memtables: many bucket collisions).
  options_.memtable_hash_index = GetParam() % 2 == 0;
  Reopen();
  Model model;
  struct HeldSnapshot {
    const Snapshot* snap;
    Model model;
  };
  std::vector<HeldSnapshot> snapshots;
  const int ops = OpsPerSeed();

  for (int op = 0; op < ops; op++) {
    const uint64_t r = rnd_.Uniform(1000);
    if (r < 550) {
      std::string k = RandomKey(), v = RandomValue();
      ASSERT_TRUE(db_->Put({}, k, v).ok());
      model[k] = v;
    } else if (r < 750) {
      std::string k = RandomKey();
      ASSERT_TRUE(db_->Delete({}, k).ok());
      model.erase(k);
    } else if (r < 780) {
      WriteBatch batch;
      for (int i = 0, n = 1 + rnd_.Uniform(20); i < n; i++) {
        std::string k = RandomKey();
        if (rnd_.OneIn(3)) {
          batch.Delete(k);
          model.erase(k);
        } else {
          std::string v = RandomValue();
          batch.Put(k, v);
          model[k] = v;
        }
      }
      ASSERT_TRUE(db_->Write({}, batch).ok());
    } else if (r < 960) {
      std::string k = RandomKey();
      auto it = model.find(k);
      ASSERT_EQ(GetOrStatus(db_.get(), k), it == model.end() ? "NOT_FOUND" : it->second)
          << "op " << op << " key " << k;
    } else if (r < 980) {
      ASSERT_NO_FATAL_FAILURE(CheckIterator(model, nullptr)) << "op " << op;
    } else if (r < 994) {
      if (snapshots.size() < 5) {
        snapshots.push_back({db_->GetSnapshot(), model});
      } else {
        // Verify an old snapshot against the model of its time, then release it.
        size_t i = rnd_.Uniform(snapshots.size());
        const auto& held = snapshots[i];
        std::string k = RandomKey();
        auto it = held.model.find(k);
        ASSERT_EQ(GetOrStatus(db_.get(), k, held.snap),
                  it == held.model.end() ? "NOT_FOUND" : it->second);
        ASSERT_NO_FATAL_FAILURE(CheckIterator(held.model, held.snap));
        db_->ReleaseSnapshot(held.snap);
        snapshots.erase(snapshots.begin() + i);
      }
    } else if (r < 995) {
      ASSERT_TRUE(db_->Flush().ok());
    } else if (r < 996) {
      // A manual compaction of a random range, with snapshots possibly held.
      std::string a = RandomKey(), b = RandomKey();
      if (b < a) std::swap(a, b);
      ASSERT_TRUE(db_->CompactRange(&a, &b).ok());
    } else if (r < 999 || !snapshots.empty()) {
      // Snapshots do not survive a reopen, so reopen only without any held.
      absl::Status s;
      ASSERT_EQ(ScanAll(db_.get(), &s), model) << "op " << op;
      ASSERT_TRUE(s.ok());
    } else {
      Reopen();
    }
  }
  for (auto& held : snapshots) db_->ReleaseSnapshot(held.snap);
  // Compactions ran (statistics are per open, so look before the last reopen).
  const std::string stats = *db_->GetProperty("cairn.stats");
  EXPECT_EQ(stats.find("compactions 0 "), std::string::npos) << stats;
  Reopen();
  absl::Status s;
  EXPECT_EQ(ScanAll(db_.get(), &s), model);
  EXPECT_TRUE(s.ok());
  // The data really went through compactions into the lower levels.
  int deeper = 0;
  for (int level = 1; level < 7; level++) {
    deeper += std::stoi(*db_->GetProperty("cairn.num-files-at-level" + std::to_string(level)));
  }
  EXPECT_GT(deeper, 0) << *db_->GetProperty("cairn.stats");
}

INSTANTIATE_TEST_SUITE_P(Seeds, ModelTest, ::testing::Range(1, 9));

}  // namespace
}  // namespace cairn::engine
