// Vector clocks, sibling sets and the tombstone collection rule.
#include "cluster/versions.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "cluster/hlc.h"
#include "cluster/replica_store.h"

namespace cairn::cluster {
namespace {

Clock C(std::initializer_list<std::pair<const char*, uint64_t>> entries) {
  Clock c;
  uint64_t ts = 1;
  for (const auto& [node, counter] : entries) Advance(&c, node, counter, ts++);
  return c;
}

pb::Record V(const Clock& clock, uint64_t version, const std::string& value, bool tombstone = false) {
  pb::Record r;
  *r.mutable_clock() = clock;
  r.set_version(version);
  r.set_value(value);
  r.set_tombstone(tombstone);
  return r;
}

TEST(VectorClockTest, CompareOrdersDescendantsAndSeesConcurrency) {
  EXPECT_EQ(Compare(C({}), C({})), ClockOrder::kEqual);
  EXPECT_EQ(Compare(C({{"a", 1}}), C({{"a", 1}})), ClockOrder::kEqual);
  EXPECT_EQ(Compare(C({{"a", 2}}), C({{"a", 1}})), ClockOrder::kAfter);
  EXPECT_EQ(Compare(C({{"a", 1}}), C({{"a", 2}})), ClockOrder::kBefore);
  EXPECT_EQ(Compare(C({{"a", 1}, {"b", 1}}), C({{"a", 1}})), ClockOrder::kAfter);
  EXPECT_EQ(Compare(C({}), C({{"b", 3}})), ClockOrder::kBefore);
  EXPECT_EQ(Compare(C({{"a", 2}}), C({{"b", 1}})), ClockOrder::kConcurrent);
  EXPECT_EQ(Compare(C({{"a", 2}, {"b", 1}}), C({{"a", 1}, {"b", 2}})), ClockOrder::kConcurrent);
  EXPECT_TRUE(Descends(C({{"a", 3}, {"c", 1}}), C({{"a", 3}})));
  EXPECT_FALSE(Descends(C({{"a", 3}}), C({{"a", 3}, {"c", 1}})));
  // Entries are kept in node order whatever order they were advanced in.
  Clock c = C({{"m", 1}, {"c", 2}, {"x", 1}, {"a", 4}});
  EXPECT_EQ(ClockString(c), "a:4,c:2,m:1,x:1");
}

TEST(VectorClockTest, MergeIsThePointwiseMaximumAndDescendsBoth) {
  Clock a = C({{"a", 3}, {"b", 1}});
  const Clock b = C({{"b", 4}, {"c", 2}});
  Clock merged = a;
  Merge(&merged, b);
  EXPECT_EQ(ClockString(merged), "a:3,b:4,c:2");
  EXPECT_TRUE(Descends(merged, a));
  EXPECT_TRUE(Descends(merged, b));
  Clock again = b;
  Merge(&again, a);
  EXPECT_EQ(Compare(again, merged), ClockOrder::kEqual);  // commutative
  Merge(&again, a);
  EXPECT_EQ(Compare(again, merged), ClockOrder::kEqual);  // idempotent
  EXPECT_EQ(CounterOf(merged, "b"), 4u);
  EXPECT_EQ(CounterOf(merged, "z"), 0u);
}

TEST(VectorClockTest, PruneDropsTheLeastRecentlyAdvancedButNeverTheWriter) {
  Clock c;
  Advance(&c, "old", 1, 10);
  Advance(&c, "writer", 1, 5);  // the oldest, but the one writing now
  Advance(&c, "mid", 1, 20);
  Advance(&c, "new", 1, 30);
  Prune(&c, 2, "writer");
  EXPECT_EQ(ClockString(c), "new:1,writer:1");
  // A pruned clock may look concurrent with an ancestor, never older than it: that keeps
  // a sibling too many, never drops a version.
  const Clock ancestor = C({{"old", 1}});
  EXPECT_NE(Compare(c, ancestor), ClockOrder::kBefore);
}

TEST(SiblingsTest, ConcurrentWritesBecomeSiblingsAndAWriteThatSawBothResolvesThem) {
  VersionList versions;
  const pb::Record base = V(C({{"a", 1}}), 100, "base");
  EXPECT_TRUE(MergeVersion(&versions, base));
  const pb::Record left = V(C({{"a", 2}}), 200, "left");             // a wrote on base
  const pb::Record right = V(C({{"a", 1}, {"c", 1}}), 150, "right");  // c wrote on base
  EXPECT_TRUE(MergeVersion(&versions, left));
  EXPECT_TRUE(MergeVersion(&versions, right));
  ASSERT_EQ(versions.size(), 2u);                // base is superseded by both
  EXPECT_EQ(Resolve(versions)->value(), "left");  // RESP: the last writer's
  EXPECT_FALSE(MergeVersion(&versions, base));   // late arrival of the ancestor: nothing
  EXPECT_FALSE(MergeVersion(&versions, left));   // duplicate: nothing
  // A client that read both (context = merged clock) writes: one version again.
  Clock context = MergedClock(versions);
  EXPECT_EQ(ClockString(context), "a:2,c:1");
  Advance(&context, "b", 1, 300);
  EXPECT_TRUE(MergeVersion(&versions, V(context, 300, "resolved")));
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].value(), "resolved");
}

pb::Record Dotted(const Clock& context, const char* node, uint64_t counter, const std::string& value) {
  pb::Record r = V(context, counter, value);
  r.mutable_dot()->set_node(node);
  r.mutable_dot()->set_counter(counter);
  return r;
}

TEST(SiblingsTest, ADottedVersionSupersedesExactlyTheDotsItsContextCovers) {
  const pb::Record base = Dotted(C({}), "a", 1, "base");
  const Clock read = FullClock(base);  // a client read base: {a:1}
  const pb::Record blind = Dotted(read, "a", 2, "blind");           // a SET at a, after the read
  const pb::Record from_read = Dotted(read, "a", 3, "from the read");  // the client's write
  EXPECT_EQ(Relate(blind, base), ClockOrder::kAfter);
  EXPECT_EQ(Relate(from_read, base), ClockOrder::kAfter);
  // The client never saw `blind`: a plain vector clock ({a:3} over {a:2}) would drop it.
  EXPECT_EQ(Relate(from_read, blind), ClockOrder::kConcurrent);
  VersionList versions;
  for (const auto& r : {base, blind, from_read}) MergeVersion(&versions, r);
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(ClockString(MergedClock(versions)), "a:3");
  const pb::Record resolved = Dotted(MergedClock(versions), "b", 4, "resolved");
  EXPECT_TRUE(MergeVersion(&versions, resolved));
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].value(), "resolved");
  EXPECT_EQ(Relate(base, resolved), ClockOrder::kBefore);
  EXPECT_EQ(Relate(resolved, resolved), ClockOrder::kEqual);
}

TEST(SiblingsTest, EqualTimestampsStillGiveOneCanonicalOrder) {
  // Found in review: two tombstones of one millisecond, differing only in their dots,
  // were left in arrival order, so replicas' digests never matched.
  pb::Record x = Dotted(C({}), "a", 7, "");
  pb::Record y = Dotted(C({}), "b", 7, "");
  x.set_tombstone(true);
  y.set_tombstone(true);
  VersionList xy, yx;
  MergeVersion(&xy, x);
  MergeVersion(&xy, y);
  MergeVersion(&yx, y);
  MergeVersion(&yx, x);
  EXPECT_TRUE(SameVersions(xy, yx));
  EXPECT_EQ(VersionsDigest(xy), VersionsDigest(yx));
  EXPECT_EQ(Resolve(xy)->dot().node(), Resolve(yx)->dot().node());
}

TEST(SiblingsTest, AnyArrivalOrderGivesTheSameSet) {
  // Five writes: two chains and a tombstone concurrent with both.
  std::vector<pb::Record> writes = {
      V(C({{"a", 1}}), 1, "a1"),
      V(C({{"a", 2}}), 3, "a2"),
      V(C({{"b", 1}}), 2, "b1"),
      V(C({{"b", 2}}), 5, "b2"),
      V(C({{"c", 1}}), 4, "", /*tombstone=*/true),
  };
  std::mt19937 rng(7);
  VersionList expected;
  for (int round = 0; round < 50; round++) {
    std::shuffle(writes.begin(), writes.end(), rng);
    VersionList versions;
    for (const auto& w : writes) MergeVersion(&versions, w);
    for (int i = 0; i < 3; i++) MergeVersion(&versions, writes[rng() % writes.size()]);
    if (round == 0) expected = versions;
    ASSERT_TRUE(SameVersions(versions, expected)) << round;
    EXPECT_EQ(VersionsDigest(versions), VersionsDigest(expected));
  }
  ASSERT_EQ(expected.size(), 3u);  // a2, b2 and the tombstone
  EXPECT_EQ(Resolve(expected)->value(), "b2");
}

TEST(SiblingsTest, ClocklessRecordsAndEqualClocksFallBackToLastWriterWins) {
  VersionList versions;
  MergeVersion(&versions, V(C({}), 10, "ten"));
  EXPECT_FALSE(MergeVersion(&versions, V(C({}), 5, "five")));
  EXPECT_TRUE(MergeVersion(&versions, V(C({}), 10, "zzz")));  // tie: the larger value
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].value(), "zzz");
  EXPECT_TRUE(MergeVersion(&versions, V(C({}), 10, "", true)));  // tie: a tombstone wins
  EXPECT_TRUE(versions[0].tombstone());
}

TEST(SiblingsTest, SiblingsAreBoundedKeepingTheNewest) {
  VersionList versions;
  size_t dropped = 0;
  for (uint64_t i = 1; i <= kMaxSiblings + 4; i++) {
    Clock c;
    Advance(&c, "n" + std::to_string(i), 1, i);
    MergeVersion(&versions, V(c, i, "v" + std::to_string(i)), &dropped);
  }
  EXPECT_EQ(versions.size(), kMaxSiblings);
  EXPECT_EQ(dropped, 4u);
  EXPECT_EQ(versions.back().version(), 5u);  // 1..4 went
}

TEST(TombstoneTest, CollectableOnlyWhenItIsTheOnlyVersionAndOlderThanTheGrace) {
  const uint64_t t = HybridClock::FromMillis(1'000'000);
  const pb::Record tomb = V(C({{"a", 2}}), t, "", true);
  const uint64_t grace = 5'000;
  const uint64_t later = t + HybridClock::FromMillis(grace);
  EXPECT_TRUE(TombstoneCollectable({tomb}, tomb, later, grace));
  EXPECT_FALSE(TombstoneCollectable({tomb}, tomb, later - HybridClock::FromMillis(1), grace));
  // A concurrent value beside it: the key is not deleted everywhere.
  EXPECT_FALSE(TombstoneCollectable({tomb, V(C({{"b", 1}}), t, "v")}, tomb, later, grace));
  // Written over since the replicas acknowledged it.
  const pb::Record newer = V(C({{"a", 3}}), t + 1, "", true);
  EXPECT_FALSE(TombstoneCollectable({newer}, tomb, later + 10, grace));
  // Only tombstones are collected.
  const pb::Record value = V(C({{"a", 2}}), t, "v");
  EXPECT_FALSE(TombstoneCollectable({value}, value, later, grace));
  // A clock behind the tombstone's wall time (skew): not yet.
  EXPECT_FALSE(TombstoneCollectable({tomb}, tomb, t - HybridClock::FromMillis(100), 0));
}

TEST(HybridClockSkewTest, AVersionFarAheadMovesTheClockOnlyByTheDriftBound) {
  int64_t wall = 1'000'000;
  HybridClock clock([&] { return wall; });
  clock.Observe(HybridClock::FromMillis(wall + 3'600'000));  // an hour ahead
  EXPECT_LE(HybridClock::Physical(clock.Now()), static_cast<uint64_t>(wall + clock.max_drift_ms()));
  clock.Observe(HybridClock::FromMillis(wall + 1'000));  // within the bound: followed
  EXPECT_GT(clock.Now(), HybridClock::FromMillis(wall + 1'000));
}

TEST(HybridClockSkewTest, TimestampsStayIncreasingWhenTheWallClockJumpsBackOrLags) {
  int64_t wall = 1'000'000;
  HybridClock fast([&] { return wall; });
  int64_t slow_wall = 990'000;  // 10 s behind
  HybridClock slow([&] { return slow_wall; });
  const uint64_t a = fast.Now();
  slow.Observe(a);
  const uint64_t b = slow.Now();  // after seeing a: newer despite the lagging wall clock
  EXPECT_GT(b, a);
  wall -= 60'000;  // NTP steps the clock back a minute
  uint64_t last = a;
  for (int i = 0; i < 1000; i++) {
    const uint64_t now = fast.Now();
    ASSERT_GT(now, last);
    last = now;
  }
  EXPECT_EQ(HybridClock::Physical(last), 1'000'000u);  // held at the highest time seen
  wall = 1'000'001;
  EXPECT_EQ(HybridClock::Physical(fast.Now()), 1'000'001u);  // and follows it again
}

}  // namespace
}  // namespace cairn::cluster
