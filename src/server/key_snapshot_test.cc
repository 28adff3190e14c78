// KeySnapshot must behave as the engine's backend does for the single-node commands: the
// same command lines run on a real server context (LocalBackend on an engine) and on a
// snapshot that is exported and loaded again after every command (as a replicated key is)
// give the same replies.
#include "server/key_snapshot.h"

#include <gtest/gtest.h>

#include "server/command_test_util.h"
#include "store/collection.h"

namespace cairn::server {
namespace {

class SnapshotRunner {
 public:
  explicit SnapshotRunner(CommandHarness* harness) : harness_(harness) {}

  // Runs args on the key "k" held as a replicated record, like ExecuteHere does.
  std::string Run(const std::vector<std::string>& args) {
    const int64_t now = CommandHarness::Now();
    KeySnapshot snapshot(0, "k", now);
    if (state_) {
      EXPECT_TRUE(snapshot.Load(*state_).ok());
    }
    ServerContext scratch;
    scratch.backend = &snapshot;
    scratch.config = &harness_->config();
    ClientState client;
    std::vector<std::string_view> views(args.begin(), args.end());
    std::string out;
    protocol::ReplyWriter writer(&out);
    const CommandSpec* spec = CommandTable::Get().Find(Lower(args[0]));
    EXPECT_NE(spec, nullptr) << args[0];
    CommandContext ctx{scratch, client, views, writer, now, {}};
    spec->handler(ctx);
    if (snapshot.changed()) {
      auto exported = snapshot.Export();
      EXPECT_TRUE(exported.ok()) << exported.status();
      if (exported.ok()) state_ = *exported;
    }
    size_t pos = 0;
    return DescribeReply(out, &pos);
  }

 private:
  CommandHarness* harness_;
  std::optional<cluster::pb::Record> state_;
};

void ExpectSameReplies(const std::vector<std::vector<std::string>>& script) {
  CommandHarness harness;
  SnapshotRunner snapshot(&harness);
  for (const auto& args : script) {
    EXPECT_EQ(snapshot.Run(args), harness.Run(args)) << args[0];
  }
}

TEST(KeySnapshotTest, HashCommandsMatchTheEngine) {
  ExpectSameReplies({{"HSET", "k", "f1", "v1", "f2", "v2"}, {"HGET", "k", "f1"},
                     {"HINCRBY", "k", "n", "7"}, {"HINCRBYFLOAT", "k", "x", "1.5"},
                     {"HDEL", "k", "f2", "nope"}, {"HLEN", "k"}, {"HGETALL", "k"},
                     {"HEXISTS", "k", "f1"}, {"HKEYS", "k"}, {"HVALS", "k"}, {"HMGET", "k", "f1", "f2"},
                     {"HSETNX", "k", "f1", "x"}, {"HSTRLEN", "k", "f1"}, {"HSCAN", "k", "0"},
                     {"HDEL", "k", "f1", "n", "x"}, {"EXISTS", "k"}, {"HGETALL", "k"}});
}

TEST(KeySnapshotTest, ListCommandsMatchTheEngine) {
  ExpectSameReplies({{"RPUSH", "k", "a", "b", "c"}, {"LPUSH", "k", "z", "y"},
                     {"LRANGE", "k", "0", "-1"}, {"LINDEX", "k", "2"}, {"LSET", "k", "1", "Z"},
                     {"LINSERT", "k", "BEFORE", "b", "ab"}, {"LREM", "k", "0", "c"},
                     {"LPOP", "k"}, {"RPOP", "k", "2"}, {"LLEN", "k"}, {"LPOS", "k", "ab"},
                     {"LTRIM", "k", "0", "0"}, {"LRANGE", "k", "0", "-1"}, {"LPOP", "k"},
                     {"LLEN", "k"}, {"TYPE", "k"}});
}

TEST(KeySnapshotTest, SetAndSortedSetCommandsMatchTheEngine) {
  ExpectSameReplies({{"SADD", "k", "m1", "m2", "m3"}, {"SREM", "k", "m2"}, {"SCARD", "k"},
                     {"SISMEMBER", "k", "m1"}, {"SMISMEMBER", "k", "m1", "m2"},
                     {"SMEMBERS", "k"}, {"TYPE", "k"}, {"DEL", "k"},
                     {"ZADD", "k", "1", "one", "2", "two", "3", "three"},
                     {"ZINCRBY", "k", "10", "one"}, {"ZRANGE", "k", "0", "-1", "WITHSCORES"},
                     {"ZRANGEBYSCORE", "k", "2", "(11"}, {"ZREVRANGE", "k", "0", "0"},
                     {"ZRANK", "k", "three"}, {"ZSCORE", "k", "two"}, {"ZCOUNT", "k", "-inf", "+inf"},
                     {"ZREM", "k", "two"}, {"ZPOPMIN", "k"}, {"ZCARD", "k"}, {"ZADD", "k", "XX", "5", "one"},
                     {"ZRANGE", "k", "0", "-1", "WITHSCORES"}, {"TYPE", "k"}});
}

TEST(KeySnapshotTest, StringAndKeyCommandsMatchTheEngine) {
  ExpectSameReplies({{"SET", "k", "10"}, {"INCRBY", "k", "5"}, {"APPEND", "k", "x"},
                     {"GETRANGE", "k", "0", "1"}, {"SETRANGE", "k", "1", "ZZ"}, {"GET", "k"},
                     {"EXPIRE", "k", "100"}, {"TTL", "k"}, {"PERSIST", "k"}, {"TTL", "k"},
                     {"SET", "k", "v", "NX"}, {"SET", "k", "v", "XX", "GET"}, {"STRLEN", "k"},
                     {"GETDEL", "k"}, {"GET", "k"}, {"INCR", "k"}, {"LPUSH", "k", "x"},
                     {"HSET", "k", "f", "v"}, {"TYPE", "k"}});
}

TEST(KeySnapshotTest, AnotherKeyIsRefusedNotDropped) {
  KeySnapshot snapshot(0, "k", 1);
  store::Record r;
  EXPECT_FALSE(snapshot.Put(0, "other", r, {}).ok());
  EXPECT_FALSE(snapshot.Put(1, "k", r, {}).ok());
  EXPECT_TRUE(snapshot.Put(0, "k", r, {}).ok());
}

TEST(KeySnapshotTest, MembersThatDisagreeWithTheMetadataAreRefused) {
  store::CollectionMeta meta;
  meta.version = 7;
  meta.size = 2;
  cluster::pb::CollectionState state;
  state.set_meta(store::EncodeCollectionMeta(store::ValueType::kHash, meta));
  state.add_members("f");
  state.add_values("v");
  cluster::pb::Record rec;
  rec.set_type(static_cast<uint32_t>(store::ValueType::kHash));
  rec.set_value(state.SerializeAsString());
  EXPECT_FALSE(KeySnapshot(0, "k", 1).Load(rec).ok());  // says 2, has 1
  state.add_members("g");
  state.add_values("w");
  rec.set_value(state.SerializeAsString());
  EXPECT_TRUE(KeySnapshot(0, "k", 1).Load(rec).ok());
  rec.set_type(static_cast<uint32_t>(store::ValueType::kList));  // not list indices
  meta.head = store::kListMiddle;
  state.set_meta(store::EncodeCollectionMeta(store::ValueType::kList, meta));
  rec.set_value(state.SerializeAsString());
  EXPECT_FALSE(KeySnapshot(0, "k", 1).Load(rec).ok());
  rec.set_value("not a collection");
  EXPECT_FALSE(KeySnapshot(0, "k", 1).Load(rec).ok());
}

}  // namespace
}  // namespace cairn::server
