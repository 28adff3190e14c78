// A directory's keys move from the single-node format to replicas and back unchanged:
// every type, expiries, several databases; expired keys are dropped.
#include "server/migration.h"

#include <gtest/gtest.h>

#include "server/active_expiry.h"
#include "server/command_test_util.h"
#include "store/collection.h"

namespace cairn::server {
namespace {

namespace pb = cluster::pb;

// What a client sees of the keys the test writes, one reply per command.
std::vector<std::string> Dump(CommandHarness& h) {
  const std::vector<std::vector<std::string>> script = {
      {"SELECT", "0"},
      {"DBSIZE"},
      {"GET", "s"},
      {"PEXPIRETIME", "s"},
      {"GET", "ttl"},
      {"PEXPIRETIME", "ttl"},
      {"GET", "n"},
      {"GET", "f"},
      {"HGETALL", "h"},
      {"PEXPIRETIME", "h"},
      {"LRANGE", "l", "0", "-1"},
      {"SMEMBERS", "set"},
      {"ZRANGE", "z", "0", "-1", "WITHSCORES"},
      {"TYPE", "gone"},
      {"SELECT", "3"},
      {"DBSIZE"},
      {"HGETALL", "h3"},
      {"SELECT", "0"},
  };
  std::vector<std::string> out;
  for (const auto& args : script) out.push_back(h.Run(args));
  return out;
}

void Fill(CommandHarness& h) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"SET", "s", "plain"},
           {"SET", "ttl", "soon", "PX", "600000"},
           {"INCRBY", "n", "41"},
           {"INCR", "n"},
           {"INCRBYFLOAT", "f", "1.5"},
           {"HSET", "h", "a", "1", "b", "2"},
           {"HINCRBY", "h", "c", "5"},
           {"PEXPIRE", "h", "900000"},
           {"RPUSH", "l", "x", "y", "z"},
           {"LPUSH", "l", "w"},
           {"SADD", "set", "m1", "m2", "m3"},
           {"ZADD", "z", "1.5", "one", "2", "two", "-3", "minus"},
           {"ZINCRBY", "z", "1", "one"},
           {"SET", "gone", "v", "PX", "10"},
           {"SELECT", "3"},
           {"HSET", "h3", "f", "v"},
           {"SELECT", "0"},
       }) {
    ASSERT_EQ(h.Run(args).rfind("(error)", 0), std::string::npos) << args[0];
  }
}

// Gives each record the version a coordinator would (one node, counting up).
class FakeCoordinator {
 public:
  explicit FakeCoordinator(cluster::ReplicaStore* store) : store_(store) {}
  absl::Status Write(int db, const std::string& key, pb::Record record) {
    counter_++;
    record.set_version(counter_);
    record.mutable_dot()->set_node("n1");
    record.mutable_dot()->set_counter(counter_);
    *record.add_clock() = record.dot();
    bool changed = false;
    return store_->Apply(db, key, {record}, &changed);
  }

 private:
  cluster::ReplicaStore* store_;
  uint64_t counter_ = 0;
};

HasReplica HeldBy(cluster::ReplicaStore& replicas) {
  return [&replicas](int db, const std::string& key) -> absl::StatusOr<bool> {
    auto versions = replicas.Read(db, key);
    if (!versions.ok()) return versions.status();
    return !versions->empty();
  };
}

TEST(MigrationTest, SingleToClusterAndBackKeepsEveryKey) {
  CommandHarness single;
  Fill(single);
  CommandHarness::AdvanceClock(20);  // "gone" expires
  // DBSIZE counts an expired key until it is deleted, as Redis's: the active expiry's
  // pass deletes it, as it would within a moment.
  std::string cursor;
  ActiveExpiry::RunOnce(single.context(), CommandHarness::Now(), std::chrono::seconds(5), &cursor);
  const std::vector<std::string> before = Dump(single);
  EXPECT_EQ(before[1], "(integer) 8");  // db 0 without "gone"
  EXPECT_EQ(before[13], "none");

  cluster::MemoryReplicaStore replicas;
  FakeCoordinator coordinator(&replicas);
  auto to_cluster = MigrateSingleToCluster(
      *single.context().backend, CommandHarness::Now(), HeldBy(replicas),
      [&](int db, const std::string& key, pb::Record r) { return coordinator.Write(db, key, std::move(r)); });
  ASSERT_TRUE(to_cluster.ok()) << to_cluster.status();
  EXPECT_EQ(to_cluster->keys, 9u);
  // hash 3 + list 4 + set 3 + sorted set 2 x 3 + h3 1
  EXPECT_EQ(to_cluster->members, 17u);
  EXPECT_EQ(replicas.size(), 9u);
  EXPECT_EQ(single.Run({"DBSIZE"}), "(integer) 0");  // moved, not copied
  EXPECT_EQ(single.Run({"SELECT", "3"}), "OK");
  EXPECT_EQ(single.Run({"DBSIZE"}), "(integer) 0");

  // Nothing more to move the second time.
  auto again = MigrateSingleToCluster(*single.context().backend, CommandHarness::Now(),
                                      HeldBy(replicas), [&](int, const std::string&, pb::Record) {
                                        return absl::InternalError("nothing should be written");
                                      });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->keys, 0u);

  CommandHarness back;
  auto to_single = MigrateClusterToSingle(replicas, *back.context().backend, CommandHarness::Now());
  ASSERT_TRUE(to_single.ok()) << to_single.status();
  EXPECT_EQ(to_single->keys, 9u);
  EXPECT_EQ(to_single->members, 17u);
  EXPECT_EQ(replicas.size(), 0u);  // cleared
  EXPECT_EQ(Dump(back), before);
  // The collections work as collections after the move.
  EXPECT_EQ(back.Run({"HSET", "h", "d", "4"}), "(integer) 1");
  EXPECT_EQ(back.Run({"HLEN", "h"}), "(integer) 4");
  EXPECT_EQ(back.Run({"ZSCORE", "z", "one"}), "\"2.5\"");
  EXPECT_EQ(back.Run({"LPOP", "l"}), "\"w\"");
}

TEST(MigrationTest, DeletedAndExpiredReplicasAreNotCopied) {
  cluster::MemoryReplicaStore replicas;
  FakeCoordinator coordinator(&replicas);
  pb::Record live;
  live.set_type('s');
  live.set_value("v");
  ASSERT_TRUE(coordinator.Write(0, "live", live).ok());
  pb::Record expired = live;
  expired.set_expire_at_ms(1);
  ASSERT_TRUE(coordinator.Write(0, "expired", expired).ok());
  pb::Record tombstone;
  tombstone.set_tombstone(true);
  ASSERT_TRUE(coordinator.Write(0, "deleted", tombstone).ok());

  CommandHarness back;
  auto moved = MigrateClusterToSingle(replicas, *back.context().backend, CommandHarness::Now());
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->keys, 1u);
  EXPECT_EQ(back.Run({"KEYS", "*"}), "[\"live\"]");
  EXPECT_EQ(replicas.size(), 0u);
}

// Keys the replicas hold win over single-node copies of them (what an interrupted move
// leaves); the rest move.
TEST(MigrationTest, ReplicasWinOverSingleNodeCopies) {
  CommandHarness single;
  ASSERT_EQ(single.Run({"SET", "both", "single-copy"}), "OK");
  ASSERT_EQ(single.Run({"SET", "deleted-in-cluster", "single-copy"}), "OK");
  ASSERT_EQ(single.Run({"SET", "only-single", "v"}), "OK");
  cluster::MemoryReplicaStore replicas;
  FakeCoordinator coordinator(&replicas);
  pb::Record live;
  live.set_type('s');
  live.set_value("replica");
  ASSERT_TRUE(coordinator.Write(0, "both", live).ok());
  pb::Record tombstone;
  tombstone.set_tombstone(true);
  ASSERT_TRUE(coordinator.Write(0, "deleted-in-cluster", tombstone).ok());

  auto moved = MigrateSingleToCluster(
      *single.context().backend, CommandHarness::Now(), HeldBy(replicas),
      [&](int db, const std::string& key, pb::Record r) { return coordinator.Write(db, key, std::move(r)); });
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->keys, 1u);
  EXPECT_EQ(moved->superseded, 2u);
  EXPECT_EQ(single.Run({"DBSIZE"}), "(integer) 0");
  CommandHarness back;
  ASSERT_TRUE(MigrateClusterToSingle(replicas, *back.context().backend, CommandHarness::Now()).ok());
  EXPECT_EQ(back.Run({"MGET", "both", "deleted-in-cluster", "only-single"}),
            "[\"replica\", (nil), \"v\"]");
}

// Keys expired before the move are deleted by it, and uncounted: cluster mode runs no
// active expiry, and compaction keeps LocalBackend's expired records until deleted.
TEST(MigrationTest, ExpiredKeysAreDeletedNotLeftBehind) {
  CommandHarness single;
  store::Record expired;
  expired.value = "v";
  expired.expire_at_ms = CommandHarness::Now() - 1000;
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(single.context().backend->Put(0, "gone" + std::to_string(i), expired).ok());
  }
  ASSERT_EQ(single.Run({"SET", "kept", "v"}), "OK");
  ASSERT_EQ(single.Run({"DBSIZE"}), "(integer) 4");  // stored records, as Redis counts them

  cluster::MemoryReplicaStore replicas;
  FakeCoordinator coordinator(&replicas);
  auto moved = MigrateSingleToCluster(
      *single.context().backend, CommandHarness::Now(), HeldBy(replicas),
      [&](int db, const std::string& key, pb::Record r) { return coordinator.Write(db, key, std::move(r)); });
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->keys, 1u);
  EXPECT_EQ(single.Run({"DBSIZE"}), "(integer) 0");
  auto more = single.context().backend->ScanExpired(CommandHarness::Now(), 10);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
}

// More keys than one page and more members than one engine write, both ways.
TEST(MigrationTest, ManyKeysAndLargeCollections) {
  CommandHarness single;
  std::vector<store::Mutation> batch;
  for (int i = 0; i < 2500; i++) {
    store::Record r;
    r.value = std::to_string(i);
    batch.push_back(store::Mutation::Put(0, "key" + std::to_string(i), r));
  }
  ASSERT_TRUE(single.context().backend->Apply(batch, {}).ok());
  std::vector<std::string> hset = {"HSET", "big"};
  for (int i = 0; i < 25000; i++) {
    hset.push_back("f" + std::to_string(i));
    hset.push_back(std::to_string(i));
  }
  ASSERT_EQ(single.Run(hset), "(integer) 25000");

  cluster::MemoryReplicaStore replicas;
  FakeCoordinator coordinator(&replicas);
  auto moved = MigrateSingleToCluster(
      *single.context().backend, CommandHarness::Now(), HeldBy(replicas),
      [&](int db, const std::string& key, pb::Record r) { return coordinator.Write(db, key, std::move(r)); });
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->keys, 2501u);
  EXPECT_EQ(moved->members, 25000u);
  CommandHarness back;
  auto returned = MigrateClusterToSingle(replicas, *back.context().backend, CommandHarness::Now());
  ASSERT_TRUE(returned.ok()) << returned.status();
  EXPECT_EQ(returned->keys, 2501u);
  EXPECT_EQ(back.Run({"DBSIZE"}), "(integer) 2501");
  EXPECT_EQ(back.Run({"HLEN", "big"}), "(integer) 25000");
  EXPECT_EQ(back.Run({"HGET", "big", "f24999"}), "\"24999\"");
  EXPECT_EQ(back.Run({"GET", "key2499"}), "\"2499\"");
  std::vector<std::string> all = {"HMGET", "big"};
  for (int i = 0; i < 25000; i += 997) all.push_back("f" + std::to_string(i));
  EXPECT_EQ(back.Run(all).find("(nil)"), std::string::npos);
}

// A collection whose metadata disagrees with its members is not moved (nor deleted).
TEST(MigrationTest, InconsistentCollectionStopsTheMoveAndStays) {
  CommandHarness single;
  ASSERT_EQ(single.Run({"SADD", "s", "a", "b"}), "(integer) 2");
  store::Record r;
  ASSERT_TRUE(single.context().backend->Get(0, "s", &r).ok());
  store::CollectionMeta meta;
  ASSERT_TRUE(store::DecodeCollectionMeta(r.type, r.value, &meta).ok());
  meta.size = 5;  // members say 2
  r.value = store::EncodeCollectionMeta(r.type, meta);
  ASSERT_TRUE(single.context().backend->Put(0, "s", r, {}).ok());
  cluster::MemoryReplicaStore replicas;
  FakeCoordinator coordinator(&replicas);
  auto moved = MigrateSingleToCluster(
      *single.context().backend, CommandHarness::Now(), HeldBy(replicas),
      [&](int db, const std::string& key, pb::Record r) { return coordinator.Write(db, key, std::move(r)); });
  ASSERT_FALSE(moved.ok());
  EXPECT_NE(moved.status().message().find("key 's' of db 0"), std::string_view::npos) << moved.status();
  EXPECT_EQ(replicas.size(), 0u);
  EXPECT_EQ(single.Run({"EXISTS", "s"}), "(integer) 1");
}

}  // namespace
}  // namespace cairn::server
