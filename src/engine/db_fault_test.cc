// Crash consistency with the fault-injecting Env: the file system "loses power" at a
// random write (WAL append, sync, table write, MANIFEST update), everything not synced
// is dropped, and the reopened database must hold exactly the state after some prefix
// of the acknowledged writes — a prefix that includes every write acknowledged as
// synced. So: no synced write lost, no deleted key resurrected, no garbage.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/fault_injection_env.h"
#include "base/random.h"
#include "cairn/engine/check.h"
#include "cairn/engine/db.h"
#include "engine/db_test_util.h"

namespace cairn::engine {
namespace {

struct Op {
  std::string key;
  std::optional<std::string> value;  // nullopt: delete
};

using State = std::map<std::string, std::string>;

void Apply(const Op& op, State* state) {
  if (op.value) {
    (*state)[op.key] = *op.value;
  } else {
    state->erase(op.key);
  }
}

class FaultTest : public ::testing::TestWithParam<int> {};

TEST_P(FaultTest, RecoveredStateIsAPrefixCoveringEverySyncedWrite) {
  const uint64_t seed = GetParam();
  Random rnd(seed);
  TempDir dir;
  FaultInjectionEnv env(Env::Default());
  State durable;  // state the database must hold at the start of a round
  constexpr int kRounds = 25;
  constexpr int kOpsPerRound = 400;
  int crashes_mid_round = 0;

  for (int round = 0; round < kRounds; round++) {
    Options options;
    options.env = &env;
    options.write_buffer_size = 64 << 10;
    const WalSyncMode modes[] = {WalSyncMode::kAlways, WalSyncMode::kEverySec, WalSyncMode::kNone};
    options.wal_sync = modes[rnd.Uniform(3)];
    auto opened = DB::Open(options, dir.path());
    ASSERT_TRUE(opened.ok()) << "round " << round << ": " << opened.status();
    std::unique_ptr<DB> db = std::move(*opened);

    absl::Status scan_status;
    ASSERT_EQ(ScanAll(db.get(), &scan_status), durable) << "round " << round;
    ASSERT_TRUE(scan_status.ok()) << scan_status;

    // Crash at a random write of this round (sometimes after the round's last write).
    env.CrashAfterWrites(static_cast<int64_t>(rnd.Uniform(kOpsPerRound * 5)));
    std::vector<Op> acked;
    std::optional<Op> failed;
    int last_synced = 0;  // number of acked ops covered by a sync
    for (int i = 0; i < kOpsPerRound; i++) {
      Op op{absl::StrFormat("k%03d", rnd.Uniform(150)), std::nullopt};
      if (!rnd.OneIn(4)) {
        op.value = absl::StrFormat("r%d-i%d-", round, i) +
                   std::string(rnd.Uniform(1200), static_cast<char>('a' + rnd.Uniform(26)));
      }
      WriteOptions wo;
      wo.sync = rnd.OneIn(5);
      absl::Status s = op.value ? db->Put(wo, op.key, *op.value) : db->Delete(wo, op.key);
      if (!s.ok()) {
        failed = op;  // it may or may not have reached the disk
        crashes_mid_round++;
        break;
      }
      acked.push_back(op);
      if (wo.sync || options.wal_sync == WalSyncMode::kAlways) last_synced = acked.size();
    }

    // Power failure.
    env.SetFilesystemActive(false);
    db.reset();
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    env.SetFilesystemActive(true);

    auto report = CheckDB(dir.path(), options);
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_TRUE(report->problems.empty()) << "round " << round << ": " << report->problems[0];

    opened = DB::Open(options, dir.path());
    ASSERT_TRUE(opened.ok()) << "round " << round << ": " << opened.status();
    db = std::move(*opened);
    State recovered = ScanAll(db.get(), &scan_status);
    ASSERT_TRUE(scan_status.ok()) << scan_status;

    // Find the prefix the recovered state equals; it must include every synced write.
    std::vector<Op> history = acked;
    if (failed) history.push_back(*failed);
    State state = durable;
    for (int i = 0; i < last_synced; i++) Apply(history[i], &state);
    std::optional<size_t> matched;
    for (size_t k = last_synced;; k++) {
      if (state == recovered) {
        matched = k;
        break;
      }
      if (k == history.size()) break;
      Apply(history[k], &state);
    }
    ASSERT_TRUE(matched.has_value())
        << "round " << round << ": recovered state (" << recovered.size()
        << " keys) is not the state after any prefix of " << history.size()
        << " writes that covers the " << last_synced << " synced ones";
    // Point reads agree with the scan.
    for (const auto& [k, v] : recovered) ASSERT_EQ(GetOrStatus(db.get(), k), v);
    durable = std::move(recovered);
    db.reset();
  }
  // The test is only meaningful if crashes really hit mid-round.
  EXPECT_GT(crashes_mid_round, kRounds / 4);
}

INSTANTIATE_TEST_SUITE_P(Seeds, FaultTest, ::testing::Range(1, 7));

}  // namespace
}  // namespace cairn::engine

namespace cairn::engine {
namespace {

class SyncModeTest : public ::testing::Test {
 protected:
  std::unique_ptr<DB> Open(WalSyncMode mode) {
    Options options;
    options.env = &env_;
    options.wal_sync = mode;
    auto db = DB::Open(options, dir_.path());
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? std::move(*db) : nullptr;
  }
  void PowerFailure(std::unique_ptr<DB> db) {
    env_.SetFilesystemActive(false);
    db.reset();
    ASSERT_TRUE(env_.DropUnsyncedData().ok());
    env_.SetFilesystemActive(true);
  }

  TempDir dir_;
  FaultInjectionEnv env_{Env::Default()};
};

TEST_F(SyncModeTest, CrashDuringTheFirstOpenLeavesAnOpenableDirectory) {
  // A process crash (kill -9: everything written stays) and a power failure (unsynced
  // data and directory entries are lost) at each write the first Open makes.
  for (int crash_at = 0; crash_at < 24; crash_at++) {
    const bool power_failure = crash_at % 2 == 1;
    SCOPED_TRACE(absl::StrFormat("crash at write %d, %s", crash_at / 2,
                                 power_failure ? "power failure" : "process crash"));
    TempDir dir;
    FaultInjectionEnv env(Env::Default());
    Options options;
    options.env = &env;
    env.CrashAfterWrites(crash_at / 2);
    auto db = DB::Open(options, dir.path());
    env.SetFilesystemActive(false);
    db = absl::InternalError("closed");  // drops the DB if it opened
    if (power_failure) {
      absl::Status dropped = env.DropUnsyncedData();
      ASSERT_TRUE(dropped.ok()) << dropped;
    }
    env.SetFilesystemActive(true);
    auto reopened = DB::Open(options, dir.path());
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    ASSERT_TRUE((*reopened)->Put({}, "k", "v").ok());
  }
}

TEST_F(SyncModeTest, EverySecMakesWritesDurableWithinAboutASecond) {
  auto db = Open(WalSyncMode::kEverySec);
  ASSERT_TRUE(db->Put({}, "early", "1").ok());
  env_.SleepForMicros(2'200'000);  // at least one background sync
  PowerFailure(std::move(db));
  db = Open(WalSyncMode::kEverySec);
  EXPECT_EQ(GetOrStatus(db.get(), "early"), "1");  // kNone would have lost it (below)
}

// Measures what everysec loses on a power failure during a steady write load: the
// recovered writes are a prefix of the acknowledged ones (no holes), and the lost suffix
// spans at most about the sync interval (1 s; 0.5 s of slack for a shared VM's
// scheduling). Prints the figure (docs/RELIABILITY.md).
TEST_F(SyncModeTest, EverySecLosesOnlyASuffixOfAboutOneSecondOnPowerFailure) {
  auto db = Open(WalSyncMode::kEverySec);
  std::vector<uint64_t> acked_at;  // ack time of write i, microseconds
  const uint64_t start = env_.NowMicros();
  while (env_.NowMicros() - start < 2'950'000) {  // just before the 3rd sync: the worst case
    const int i = static_cast<int>(acked_at.size());
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%08d", i), std::to_string(i)).ok());
    acked_at.push_back(env_.NowMicros());
    if (i % 64 == 0) env_.SleepForMicros(200);
  }
  const uint64_t failure_at = env_.NowMicros();
  PowerFailure(std::move(db));
  db = Open(WalSyncMode::kEverySec);
  size_t kept = 0;
  while (kept < acked_at.size() &&
         GetOrStatus(db.get(), absl::StrFormat("k%08d", kept)) == std::to_string(kept)) {
    kept++;
  }
  for (size_t i = kept; i < acked_at.size(); i += 97) {
    ASSERT_EQ(GetOrStatus(db.get(), absl::StrFormat("k%08zu", i)), "NOT_FOUND") << "hole at " << i;
  }
  ASSERT_GT(kept, 0u);
  // The oldest lost write was acknowledged this long before the failure.
  const double window_s = kept == acked_at.size() ? 0 : (failure_at - acked_at[kept]) / 1e6;
  std::printf("everysec power failure: %zu of %zu acknowledged writes kept; lost suffix spans %.3f s\n",
              kept, acked_at.size(), window_s);
  EXPECT_LT(window_s, 1.5);
}

TEST_F(SyncModeTest, NoneLosesUnsyncedWritesOnPowerFailureButNotOnClose) {
  auto db = Open(WalSyncMode::kNone);
  ASSERT_TRUE(db->Put({}, "a", "1").ok());
  PowerFailure(std::move(db));
  db = Open(WalSyncMode::kNone);
  EXPECT_EQ(GetOrStatus(db.get(), "a"), "NOT_FOUND");

  ASSERT_TRUE(db->Put({}, "b", "2").ok());
  db.reset();  // a clean close syncs the WAL
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  db = Open(WalSyncMode::kNone);
  EXPECT_EQ(GetOrStatus(db.get(), "b"), "2");
}

TEST_F(SyncModeTest, SyncOptionMakesOneWriteDurableInAnyMode) {
  auto db = Open(WalSyncMode::kNone);
  WriteOptions sync;
  sync.sync = true;
  ASSERT_TRUE(db->Put({}, "unsynced", "1").ok());
  ASSERT_TRUE(db->Put(sync, "synced", "2").ok());
  PowerFailure(std::move(db));
  db = Open(WalSyncMode::kNone);
  EXPECT_EQ(GetOrStatus(db.get(), "synced"), "2");
  EXPECT_EQ(GetOrStatus(db.get(), "unsynced"), "1");  // earlier in the WAL: synced with it
}

// A deferred write whose WAL write fails must never be reported as handed over: every
// later FlushWal fails too (the caller then acknowledges nothing), instead of the first
// failure clearing the "unflushed" state so that the next call succeeds.
TEST(DeferredWalTest, AFailedFlushWalKeepsFailingAndNothingIsAcknowledged) {
  TempDir dir;
  FaultInjectionEnv env(Env::Default());
  Options options;
  options.env = &env;
  auto db = DB::Open(options, dir.path());
  ASSERT_TRUE(db.ok()) << db.status();
  WriteOptions deferred;
  deferred.defer_wal_write = true;
  ASSERT_TRUE((*db)->Put(deferred, "k", "v").ok());
  env.SetFilesystemActive(false);
  EXPECT_FALSE((*db)->FlushWal().ok());
  EXPECT_FALSE((*db)->FlushWal().ok());
  EXPECT_FALSE((*db)->Put({}, "k2", "v2").ok());
  env.SetFilesystemActive(true);
}

}  // namespace
}  // namespace cairn::engine
