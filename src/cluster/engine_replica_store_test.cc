#include "cluster/engine_replica_store.h"

#include <gtest/gtest.h>

#include "cairn/engine/write_batch.h"
#include "cluster/hint_store.h"
#include "cluster/registers.h"
#include "store/collection.h"
#include "engine/db_test_util.h"

namespace cairn::cluster {
namespace {

// A record written by `node` as its `counter`-th write, on top of `base`'s history.
pb::Record Rec(uint64_t version, const std::string& value, const std::string& node,
               uint64_t counter, const pb::Record* base = nullptr, bool tombstone = false) {
  pb::Record r;
  r.set_version(version);
  r.set_value(value);
  r.set_tombstone(tombstone);
  if (base != nullptr) *r.mutable_clock() = base->clock();
  Advance(r.mutable_clock(), node, counter, version);
  return r;
}

TEST(EngineReplicaStoreTest, KeepsTheDescendingVersionAndSiblingsAcrossReopen) {
  engine::TempDir dir;
  const pb::Record v1 = Rec(10, "one", "a", 1);
  const pb::Record v2 = Rec(20, "two", "a", 2, &v1);
  const pb::Record concurrent = Rec(15, "other", "b", 1, &v1);
  {
    auto db = engine::DB::Open({}, dir.path());
    ASSERT_TRUE(db.ok());
    EngineReplicaStore store(db->get(), /*sync=*/true);
    bool changed;
    EXPECT_TRUE(store.Read(0, "k")->empty());
    ASSERT_TRUE(store.Apply(0, "k", {v1}, &changed).ok());
    EXPECT_TRUE(changed);
    ASSERT_TRUE(store.Apply(0, "k", {v2}, &changed).ok());  // descends v1: replaces it
    EXPECT_TRUE(changed);
    ASSERT_TRUE(store.Apply(0, "k", {v1}, &changed).ok());  // older: ignored
    EXPECT_FALSE(changed);
    ASSERT_TRUE(store.Apply(0, "k", {concurrent}, &changed).ok());  // concurrent: kept too
    EXPECT_TRUE(changed);
    ASSERT_TRUE(store.Apply(0, "k", {concurrent, v2}, &changed).ok());  // again: no change
    EXPECT_FALSE(changed);
    ASSERT_TRUE(store.Apply(1, "k", {Rec(1, "other db", "a", 1)}, &changed).ok());
  }
  auto db = engine::DB::Open({}, dir.path());
  ASSERT_TRUE(db.ok());
  EngineReplicaStore store(db->get(), true);
  auto k = store.Read(0, "k");
  ASSERT_EQ(k->size(), 2u);
  EXPECT_EQ((*k)[0].value(), "two");  // canonical: newest first
  EXPECT_EQ((*k)[1].value(), "other");
  EXPECT_EQ((*store.Read(1, "k"))[0].value(), "other db");
  std::vector<std::pair<std::string, VersionList>> scanned;
  bool more;
  ASSERT_TRUE(store.Scan(0, "", 10, &scanned, &more).ok());
  ASSERT_EQ(scanned.size(), 1u);
  EXPECT_EQ(scanned[0].second.size(), 2u);
}

TEST(EngineReplicaStoreTest, AnExpiredRecordKeepsItsVersionSoOlderValuesStayBuried) {
  // Found in review: records were given to the engine with their expiry, so once expired
  // the version was gone and an older value (late, or on another replica) won again.
  engine::TempDir dir;
  auto db = engine::DB::Open({}, dir.path());
  ASSERT_TRUE(db.ok());
  EngineReplicaStore store(db->get(), false);
  const pb::Record v1 = Rec(10, "v1", "a", 1);
  pb::Record expiring = Rec(20, "v2", "a", 2, &v1);
  expiring.set_expire_at_ms(1);  // long past
  bool changed;
  ASSERT_TRUE(store.Apply(0, "k", {expiring}, &changed).ok());
  auto r = store.Read(0, "k");
  ASSERT_EQ(r->size(), 1u);  // still there, with its version
  EXPECT_EQ((*r)[0].version(), 20u);
  ASSERT_TRUE(store.Apply(0, "k", {v1}, &changed).ok());
  EXPECT_FALSE(changed);
}

TEST(EngineReplicaStoreTest, ARecordFromBeforeVectorClocksReadsAsOneVersion) {
  engine::TempDir dir;
  auto db = engine::DB::Open({}, dir.path());
  ASSERT_TRUE(db.ok());
  pb::Record legacy;
  legacy.set_value("old format");
  legacy.set_version(5);
  engine::WriteBatch batch;
  batch.Put(EngineReplicaStore::EngineKey(0, "k"), legacy.SerializeAsString());
  ASSERT_TRUE((*db)->Write({}, batch).ok());
  EngineReplicaStore store(db->get(), false);
  auto r = store.Read(0, "k");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].value(), "old format");
  // A clocked write descends the clockless one (an empty history) and replaces it.
  bool changed;
  ASSERT_TRUE(store.Apply(0, "k", {Rec(6, "new", "a", 1)}, &changed).ok());
  EXPECT_EQ(store.Read(0, "k")->size(), 1u);
  EXPECT_EQ((*store.Read(0, "k"))[0].value(), "new");
}

TEST(EngineReplicaStoreTest, TombstonesAreCollectedOnlyWhenSeenByAllAndPastTheGrace) {
  engine::TempDir dir;
  auto db = engine::DB::Open({}, dir.path());
  ASSERT_TRUE(db.ok());
  EngineReplicaStore store(db->get(), false);
  const uint64_t t0 = HybridClock::FromMillis(1'000'000);
  const pb::Record value = Rec(t0, "v", "a", 1);
  const pb::Record tombstone = Rec(t0 + 1, "", "a", 2, &value, /*tombstone=*/true);
  bool changed;
  ASSERT_TRUE(store.Apply(0, "gone", {value}, &changed).ok());
  ASSERT_TRUE(store.Apply(0, "gone", {tombstone}, &changed).ok());
  ASSERT_TRUE(store.Apply(0, "unacked", {Rec(t0, "", "a", 1, nullptr, true)}, &changed).ok());
  const uint64_t grace_ms = 60'000;
  // Not acknowledged by every replica: never collected, however old.
  EXPECT_EQ(*store.CollectTombstones(t0 + HybridClock::FromMillis(10 * grace_ms), grace_ms), 0u);
  ASSERT_TRUE(store.MarkTombstoneSeen(0, "gone", tombstone).ok());
  // Within the grace period: kept.
  EXPECT_EQ(*store.CollectTombstones(t0 + HybridClock::FromMillis(grace_ms - 1), grace_ms), 0u);
  EXPECT_EQ(store.Read(0, "gone")->size(), 1u);
  // Past it: gone, and an older value arriving later is a new key to this replica (the
  // grace outlasts the hint window, so none should arrive).
  EXPECT_EQ(*store.CollectTombstones(t0 + HybridClock::FromMillis(grace_ms + 1), grace_ms), 1u);
  EXPECT_TRUE(store.Read(0, "gone")->empty());
  EXPECT_EQ(store.Read(0, "unacked")->size(), 1u);
  // A mark for a tombstone that was written over since is dropped without collecting.
  ASSERT_TRUE(store.Apply(0, "back", {value}, &changed).ok());
  ASSERT_TRUE(store.Apply(0, "back", {tombstone}, &changed).ok());
  ASSERT_TRUE(store.MarkTombstoneSeen(0, "back", tombstone).ok());
  ASSERT_TRUE(store.Apply(0, "back", {Rec(t0 + 5, "again", "a", 3, &tombstone)}, &changed).ok());
  EXPECT_EQ(*store.CollectTombstones(t0 + HybridClock::FromMillis(10 * grace_ms), grace_ms), 0u);
  EXPECT_EQ((*store.Read(0, "back"))[0].value(), "again");
}

TEST(HintStoreTest, HintsSurviveAReopenAndComeOutOldestFirstPerTarget) {
  engine::TempDir dir;
  HybridClock clock;
  {
    auto db = engine::DB::Open({}, dir.path());
    ASSERT_TRUE(db.ok());
    HintStore hints(db->get(), true, &clock);
    ASSERT_TRUE(hints.Open().ok());
    for (int i = 0; i < 5; i++) {
      pb::Hint h;
      h.set_target(i % 2 ? "b" : "c");
      h.set_key("k" + std::to_string(i));
      ASSERT_TRUE(hints.Add(h).ok());
    }
    EXPECT_EQ(hints.backlog(), 5u);
  }
  auto db = engine::DB::Open({}, dir.path());
  ASSERT_TRUE(db.ok());
  HintStore hints(db->get(), true, &clock);
  ASSERT_TRUE(hints.Open().ok());
  EXPECT_EQ(hints.Backlog(), (std::map<std::string, uint64_t>{{"b", 2}, {"c", 3}}));
  std::vector<std::pair<std::string, pb::Hint>> pending;
  ASSERT_TRUE(hints.Pending("c", 10, &pending).ok());
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].second.key(), "k0");
  EXPECT_EQ(pending[2].second.key(), "k4");
  ASSERT_TRUE(hints.Remove("c", pending[0].first).ok());
  ASSERT_TRUE(hints.Pending("c", 10, &pending).ok());
  EXPECT_EQ(pending.size(), 2u);
  EXPECT_EQ(hints.backlog(), 4u);
}

}  // namespace
}  // namespace cairn::cluster

namespace cairn::cluster {
namespace {

// Registers (registers.h): the store keeps each collection's live count, digest and (for
// sorted sets) score index in step with the registers it holds, whatever order versions
// arrive in.
TEST(EngineReplicaStoreTest, RegistersKeepCountDigestAndScoreIndex) {
  engine::TempDir dir;
  auto db = engine::DB::Open({}, dir.path());
  ASSERT_TRUE(db.ok());
  EngineReplicaStore a(db->get(), false);
  engine::TempDir dir2;
  auto db2 = engine::DB::Open({}, dir2.path());
  ASSERT_TRUE(db2.ok());
  EngineReplicaStore b(db2->get(), false);
  const int space = 3 + kRegisterSpace;
  const pb::Record one = Rec(10, "1.5", "n1", 1);
  const pb::Record two = Rec(11, "-2", "n1", 2);
  const pb::Record two_later = Rec(12, "7", "n1", 3, &two);
  const pb::Record one_gone = Rec(13, "", "n1", 4, &one, /*tombstone=*/true);
  const std::vector<std::pair<std::string, pb::Record>> writes = {
      {RegisterKey('z', "z", "one"), one},
      {RegisterKey('z', "z", "two"), two},
      {RegisterKey('z', "z", "two"), two_later},
      {RegisterKey('z', "z", "one"), one_gone},
      {RegisterKey('h', "z", "field"), one},  // another type under the same key
  };
  bool changed;
  for (const auto& [key, rec] : writes) ASSERT_TRUE(a.Apply(space, key, {rec}, &changed).ok());
  for (auto it = writes.rbegin(); it != writes.rend(); ++it) {  // reversed arrival
    ASSERT_TRUE(b.Apply(space, it->first, {it->second}, &changed).ok());
  }
  for (EngineReplicaStore* s : {&a, &b}) {
    auto z = s->Summary(3, 'z', "z");
    ASSERT_TRUE(z.ok());
    EXPECT_EQ(z->members, 1u);  // "two"; "one" was deleted
    EXPECT_EQ(s->Summary(3, 'h', "z")->members, 1u);
    EXPECT_EQ(s->Summary(0, 'z', "z")->members, 0u);  // another database
    std::vector<std::string> members, scores;
    ASSERT_TRUE(s->ScanRegisters(3, 'z', "z", "", "", false,
                                 [&](std::string_view m, const pb::Record& r) {
                                   members.push_back(std::string(m) + "=" + r.value());
                                   return true;
                                 }).ok());
    EXPECT_EQ(members, std::vector<std::string>{"two=7"});
    ASSERT_TRUE(s->ScanScores(3, "z", "", "", false, [&](std::string_view sm) {
                   scores.emplace_back(sm);
                   return true;
                 }).ok());
    ASSERT_EQ(scores.size(), 1u);  // the old score of "two" and deleted "one" are gone
    EXPECT_EQ(scores[0], store::EncodeScore(7) + "two");
  }
  EXPECT_EQ(a.Summary(3, 'z', "z")->digest, b.Summary(3, 'z', "z")->digest);
  EXPECT_NE(a.Summary(3, 'z', "z")->digest, 0u);
  // FLUSHDB of the database drops the registers and what was derived from them.
  ASSERT_TRUE(a.Clear(3).ok());
  EXPECT_EQ(a.Summary(3, 'z', "z")->members, 0u);
  EXPECT_TRUE(a.Read(space, RegisterKey('z', "z", "two"))->empty());
}

TEST(EngineReplicaStoreTest, RegisterScansRunBothWaysWithinBounds) {
  engine::TempDir dir;
  auto db = engine::DB::Open({}, dir.path());
  ASSERT_TRUE(db.ok());
  EngineReplicaStore s(db->get(), false);
  bool changed;
  uint64_t n = 0;
  for (std::string m : {"a", "b", "c", "d"}) {
    n++;
    ASSERT_TRUE(s.Apply(kRegisterSpace, RegisterKey('t', "k", m), {Rec(n, "", "n", n)}, &changed).ok());
  }
  // A neighbouring collection whose key extends this one's must not show through.
  n++;
  ASSERT_TRUE(s.Apply(kRegisterSpace, RegisterKey('t', "k2", "a"), {Rec(n, "", "n", n)}, &changed).ok());
  const auto scan = [&](std::string_view start, std::string_view end, bool reverse) {
    std::string out;
    EXPECT_TRUE(s.ScanRegisters(0, 't', "k", start, end, reverse, [&](std::string_view m, const pb::Record&) {
                   out += m;
                   return true;
                 }).ok());
    return out;
  };
  EXPECT_EQ(scan("", "", false), "abcd");
  EXPECT_EQ(scan("", "", true), "dcba");
  EXPECT_EQ(scan("b", "d", false), "bc");
  EXPECT_EQ(scan("b", "d", true), "cb");
  EXPECT_EQ(scan("c", "", true), "dc");
}

}  // namespace
}  // namespace cairn::cluster
