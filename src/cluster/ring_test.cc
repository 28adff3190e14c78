#include "cluster/ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/random.h"

namespace cairn::cluster {
namespace {

std::vector<Member> Nodes(int n, int racks = 0) {
  std::vector<Member> out;
  for (int i = 0; i < n; i++) {
    Member m;
    m.id = absl::StrCat("node-", i);
    m.rack = racks > 0 ? absl::StrCat("rack-", i % racks) : "";
    m.generation = 1000 + i;
    out.push_back(m);
  }
  return out;
}

Ring MustBuild(std::vector<Member> members, int vnodes = 256) {
  auto ring = Ring::Build(std::move(members), vnodes);
  EXPECT_TRUE(ring.ok()) << ring.status();
  return std::move(*ring);
}

double MaxOverMin(const std::vector<double>& v) {
  return *std::max_element(v.begin(), v.end()) / *std::min_element(v.begin(), v.end());
}

TEST(RingTest, RefusesBadMembers) {
  EXPECT_FALSE(Ring::Build({}, 256).ok());
  auto dup = Nodes(2);
  dup[1].id = dup[0].id;
  EXPECT_FALSE(Ring::Build(dup, 256).ok());
  auto zero = Nodes(2);
  zero[0].weight = 0;
  EXPECT_FALSE(Ring::Build(zero, 256).ok());
  EXPECT_FALSE(Ring::Build(Nodes(2), 0).ok());
}

TEST(RingTest, EveryMemberHasItsTokensAndPositionsAreDistinct) {
  Ring ring = MustBuild(Nodes(5));
  std::map<uint32_t, int> count;
  for (size_t i = 0; i < ring.tokens().size(); i++) {
    count[ring.tokens()[i].member]++;
    if (i > 0) {
      EXPECT_LT(ring.tokens()[i - 1].position, ring.tokens()[i].position);
    }
  }
  for (const auto& [member, n] : count) {
    EXPECT_GE(n, 256) << member;
    EXPECT_LE(n, 256 + 8) << member;  // a few extra cuts for small arcs
  }
}

TEST(RingTest, TheSameMembersGiveTheSameRingInAnyOrder) {
  auto members = Nodes(6, 3);
  Ring a = MustBuild(members);
  std::reverse(members.begin(), members.end());
  Ring b = MustBuild(members);
  ASSERT_EQ(a.tokens().size(), b.tokens().size());
  for (size_t i = 0; i < a.tokens().size(); i++) {
    EXPECT_EQ(a.tokens()[i].position, b.tokens()[i].position);
    EXPECT_EQ(a.members()[a.tokens()[i].member].id, b.members()[b.tokens()[i].member].id);
  }
}

TEST(RingTest, PreferenceListIsNDistinctMembersStartingAtTheKeysOwner) {
  Ring ring = MustBuild(Nodes(5));
  for (int i = 0; i < 1000; i++) {
    const std::string key = absl::StrCat("key", i);
    std::vector<int> list = ring.PreferenceList(key, 3);
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(std::set<int>(list.begin(), list.end()).size(), 3u);
    // The first is the member of the first token at or after the key's position.
    const uint64_t pos = Ring::Position(key);
    auto it = std::lower_bound(ring.tokens().begin(), ring.tokens().end(), pos,
                               [](const Ring::Token& t, uint64_t p) { return t.position < p; });
    if (it == ring.tokens().end()) it = ring.tokens().begin();
    EXPECT_EQ(list[0], static_cast<int>(it->member));
  }
  // Fewer members than N: all of them.
  Ring two = MustBuild(Nodes(2));
  EXPECT_EQ(two.PreferenceList("k", 3).size(), 2u);
}

TEST(RingTest, ReplicasSpreadOverRacks) {
  // 3 racks of 3: every list of 3 has one member per rack.
  Ring ring = MustBuild(Nodes(9, 3));
  for (int i = 0; i < 2000; i++) {
    std::set<std::string> racks;
    for (int m : ring.PreferenceList(absl::StrCat("k", i), 3)) racks.insert(ring.members()[m].rack);
    EXPECT_EQ(racks.size(), 3u);
  }
  // 2 racks, N=3: both racks, and still 3 distinct members.
  Ring two_racks = MustBuild(Nodes(6, 2));
  for (int i = 0; i < 2000; i++) {
    std::vector<int> list = two_racks.PreferenceList(absl::StrCat("k", i), 3);
    std::set<std::string> racks;
    for (int m : list) racks.insert(two_racks.members()[m].rack);
    EXPECT_EQ(racks.size(), 2u);
    EXPECT_EQ(std::set<int>(list.begin(), list.end()).size(), 3u);
  }
}

TEST(RingTest, OwnershipIsBalancedWith256VnodesAndFollowsWeights) {
  for (int n : {2, 3, 5, 8, 10, 20}) {
    Ring ring = MustBuild(Nodes(n));
    const std::vector<double> primary = ring.Ownership(1);
    EXPECT_LT(MaxOverMin(primary), 1.02) << n << " members";
    double sum = 0;
    for (double s : primary) sum += s;
    EXPECT_NEAR(sum, 1.0, 1e-9);
    // What each member stores with 3 replicas: also within the 15%.
    const std::vector<double> replicas = ring.Ownership(3);
    std::printf("%2d members: primary max/min %.3f, with 3 replicas %.3f\n", n, MaxOverMin(primary),
                MaxOverMin(replicas));
    EXPECT_LT(MaxOverMin(replicas), 1.15) << n << " members";
  }
  auto weighted = Nodes(4);
  weighted[2].weight = 2.0;
  Ring ring = MustBuild(weighted);
  const std::vector<double> own = ring.Ownership(1);
  const int heavy = ring.IndexOf("node-2");
  for (int m = 0; m < 4; m++) {
    EXPECT_NEAR(own[m], m == heavy ? 0.4 : 0.2, 0.004) << ring.members()[m].id;
  }
}

TEST(RingTest, AJoinMovesAboutOneNthOfTheKeysAllToTheNewcomer) {
  for (int n : {3, 4, 9}) {
    Ring before = MustBuild(Nodes(n));
    Ring after = MustBuild(Nodes(n + 1));
    const std::string newcomer = absl::StrCat("node-", n);
    Random rnd(n);
    int moved = 0, replica_sets_changed = 0;
    constexpr int kKeys = 50000;
    for (int i = 0; i < kKeys; i++) {
      const std::string key = absl::StrCat("k", rnd.Next());
      const std::string& was = before.members()[before.PreferenceList(key, 1)[0]].id;
      const std::string& is = after.members()[after.PreferenceList(key, 1)[0]].id;
      if (was != is) {
        moved++;
        EXPECT_EQ(is, newcomer) << key << " moved from " << was << " to " << is;
      }
      // With 3 replicas, a changed set only ever gains the newcomer.
      std::set<std::string> old_set, new_set;
      for (int m : before.PreferenceList(key, 3)) old_set.insert(before.members()[m].id);
      for (int m : after.PreferenceList(key, 3)) new_set.insert(after.members()[m].id);
      if (old_set != new_set) {
        replica_sets_changed++;
        EXPECT_TRUE(new_set.contains(newcomer));
        std::vector<std::string> lost;
        std::set_difference(old_set.begin(), old_set.end(), new_set.begin(), new_set.end(),
                            std::back_inserter(lost));
        EXPECT_EQ(lost.size(), 1u);
      }
    }
    const double fraction = static_cast<double>(moved) / kKeys;
    std::printf("join of member %d: %.4f of keys moved (1/n = %.4f), %.4f of replica sets changed\n",
                n + 1, fraction, 1.0 / (n + 1),
                static_cast<double>(replica_sets_changed) / kKeys);
    EXPECT_NEAR(fraction, 1.0 / (n + 1), 0.01);
  }
}

}  // namespace
}  // namespace cairn::cluster

namespace cairn::cluster {
namespace {

TEST(HashTagTest, FollowsRedisClusterRule) {
  EXPECT_EQ(HashTag("{user1000}.following"), "user1000");
  EXPECT_EQ(HashTag("{user1000}.followers"), "user1000");
  EXPECT_EQ(HashTag("foo{}{bar}"), "foo{}{bar}");  // empty first tag: the whole key
  EXPECT_EQ(HashTag("foo{{bar}}zap"), "{bar");
  EXPECT_EQ(HashTag("foo{bar}{zap}"), "bar");
  EXPECT_EQ(HashTag("nobraces"), "nobraces");
  EXPECT_EQ(HashTag("open{only"), "open{only");
  EXPECT_EQ(HashTag("close}{"), "close}{");
  EXPECT_EQ(HashTag(""), "");
  EXPECT_EQ(Ring::Position("{t}a"), Ring::Position("{t}b"));
  EXPECT_EQ(Ring::Position("{t}a"), Ring::Position("t"));
  EXPECT_NE(Ring::Position("a"), Ring::Position("b"));
}

}  // namespace
}  // namespace cairn::cluster
