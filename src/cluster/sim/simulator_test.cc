// The simulator's seeds in the suite (docs/simulator.md): a few hundred runs of the
// cluster under faults, each checked; seeds that once failed stay as regressions.
#include "cluster/sim/simulator.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace cairn::cluster::sim {
namespace sim = ::cairn::cluster::sim;
namespace {

Options Base(uint64_t seed) {
  Options o;
  o.seed = seed;
  if (const char* dir = std::getenv("CAIRN_SIM_DIR")) o.dir = dir;
  return o;
}

// Seeds 1..N (CAIRN_SIM_SEEDS, default 200), in four shards so ctest spreads them.
class SimulatorSeeds : public ::testing::TestWithParam<int> {};

TEST_P(SimulatorSeeds, EverySeedHoldsTheInvariants) {
  const char* env = std::getenv("CAIRN_SIM_SEEDS");
  const int seeds = env != nullptr ? std::atoi(env) : 200;
  for (int seed = 1 + GetParam(); seed <= seeds; seed += 4) {
    const Report r = sim::Run(Base(static_cast<uint64_t>(seed)));
    ASSERT_TRUE(r.ok()) << r.Summary() << "\n(replay: build/bin/cairn-sim --seed " << seed << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Shards, SimulatorSeeds, ::testing::Values(0, 1, 2, 3));

Options WithTopology(uint64_t seed) {
  Options o = Base(seed);
  o.topology_changes = true;
  return o;
}

// With joins, a leave and a removal during the workload: seeds 1..N
// (CAIRN_SIM_TOPOLOGY_SEEDS, default 40; 12 in the sanitized build, where a seed takes
// five times as long on CI's two cores), in two shards.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CAIRN_SIM_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CAIRN_SIM_SANITIZED 1
#endif
#ifdef CAIRN_SIM_SANITIZED
constexpr int kTopologySeeds = 12;
#else
constexpr int kTopologySeeds = 40;
#endif

class TopologySeeds : public ::testing::TestWithParam<int> {};

TEST_P(TopologySeeds, EverySeedHoldsTheInvariants) {
  const char* env = std::getenv("CAIRN_SIM_TOPOLOGY_SEEDS");
  const int seeds = env != nullptr ? std::atoi(env) : kTopologySeeds;
  for (int seed = 1 + GetParam(); seed <= seeds; seed += 2) {
    const Report r = sim::Run(WithTopology(static_cast<uint64_t>(seed)));
    ASSERT_TRUE(r.ok()) << r.Summary() << "\n(replay: build/bin/cairn-sim --topology --seed " << seed << ")";
    ASSERT_EQ(r.joins + r.leaves + r.removals, 4u) << r.Summary();
  }
}

INSTANTIATE_TEST_SUITE_P(Shards, TopologySeeds, ::testing::Values(0, 1));

// Fibers take turns with the loop at fixed points: a topology run replays exactly too.
TEST(SimulatorTest, ASeedWithTopologyChangesReplaysExactly) {
  const Report a = sim::Run(WithTopology(3));
  const Report b = sim::Run(WithTopology(3));
  EXPECT_EQ(a.Summary(), b.Summary());
  EXPECT_EQ(a.outcomes_digest, b.outcomes_digest);
  EXPECT_EQ(a.joins + a.leaves + a.removals, 4u);
}

// The simulator catches a real bug: old owners that hand off every key they drop, however
// old, bring back values whose tombstones the new owners had already collected.
TEST(SimulatorTest, HandingOffOldKeysSomeSeedBringsADeleteBack) {
  int failed = 0;
  // From 15: seed 18 shows it today (cairn-sim --topology --no-hand-off-window), which
  // keeps the sanitizer build's run short; the search goes on if the simulator changes.
  for (uint64_t seed = 15; seed <= 75 && failed == 0; seed++) {
    Options o = WithTopology(seed);
    o.hand_off_window = false;
    const Report r = sim::Run(o);
    for (const std::string& v : r.violations) failed += v.find("(a delete) was acknowledged") != std::string::npos;
  }
  EXPECT_GT(failed, 0);
}

TEST(SimulatorTest, ASeedReplaysExactly) {
  const Report a = sim::Run(Base(7));
  const Report b = sim::Run(Base(7));
  EXPECT_EQ(a.Summary(), b.Summary());
  EXPECT_EQ(a.outcomes_digest, b.outcomes_digest);  // every outcome, in order, at its time
  EXPECT_NE(a.outcomes_digest, sim::Run(Base(8)).outcomes_digest);
  EXPECT_GT(a.operations, 100u);
  EXPECT_GT(a.acknowledged, 50u);
  EXPECT_GT(a.dropped, 0u);
}

// The simulator catches a real bug: without read repair, replicas that missed writes
// (their hints expired, or were never made) stay apart, and some seed shows it.
TEST(SimulatorTest, WithoutReadRepairSomeSeedFails) {
  int failed = 0;
  for (uint64_t seed = 1; seed <= 60 && failed == 0; seed++) {
    Options o = Base(seed);
    o.read_repair = false;
    const Report r = sim::Run(o);
    // It fails the convergence check (and only because replicas were left apart).
    for (const std::string& v : r.violations) failed += v.find("disagree") != std::string::npos;
  }
  EXPECT_GT(failed, 0);
}

// Seeds that found bugs. 156 and 177: two restarted nodes that had heard only from each
// other made a ring of two and acknowledged writes on it (now a node starts from the
// members it knew: Membership::Options::known).
TEST(SimulatorTest, RegressionSeeds) {
  for (uint64_t seed : {6, 156, 177, 269}) {
    const Report r = sim::Run(Base(seed));
    EXPECT_TRUE(r.ok()) << r.Summary();
  }
  // With topology changes. 27: a read during a join found the key's 3 current replicas
  // holding one tombstone and marked it seen by all, while the joining node held an
  // older value; the tombstone was collected and the value came back (now only a read
  // with no change under way marks it). 9 and 24: an old owner's cleanup, retried after
  // an owner was down, handed a value older than the tombstone-grace period to owners
  // that had collected its tombstone (now keys older than the hint window are dropped).
  // 172 and 552: a decommissioned node that had not yet heard its leave completed read
  // from the old ring and missed a write made to the new one (now reads during a change
  // need R among both rings' replicas).
  // 1005: a hint for a node that had lost the key to a joining one was delivered after
  // its cleanup, and the copy stayed (now such hints are dropped, and a cleanup pass
  // that finds a key written since its read runs again).
  // 3065: a removal skipped a source that was down because another live one held its
  // arcs, but fewer live ones than W could miss a write (now a source is skipped only
  // while fewer than W of the arc's replicas are down). 2699 and 3362: a node regained a
  // range it had lost but not cleaned up, and its old copy outlived the owners'
  // collected tombstone (now a node clears the arcs it is to receive before pulling).
  // 4818 (harness): the last join was not yet known to every node when the check ran.
  for (uint64_t seed : {9, 24, 27, 172, 552, 1005, 2699, 3065, 3362, 4818}) {
    const Report r = sim::Run(WithTopology(seed));
    EXPECT_TRUE(r.ok()) << r.Summary();
  }
}

}  // namespace
}  // namespace cairn::cluster::sim
