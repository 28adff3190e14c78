// KeySnapshot must behave as the engine's backend does for the single-node commands: the
// same command lines run on a real server context (LocalBackend on an engine) and on a
// snapshot that is exported and loaded again after every command (as a replicated key is)
// give the same replies.
#include "server/key_snapshot.h"

#include <gtest/gtest.h>

#include "cluster/counter.h"
#include "cluster/registers.h"
#include "cluster/versions.h"
#include "server/command_test_util.h"
#include "server/migration.h"
#include "store/collection.h"

namespace cairn::server {
namespace {

// Runs one command line on a snapshot as ClusterNode::ExecuteAsync does; returns its RESP reply.
// counter_node: the node increments are recorded for (empty: not recorded as counters).
std::string RunOn(KeySnapshot& snapshot, Config& config, const std::vector<std::string>& args,
                  int64_t now, const std::string& counter_node = "") {
  ServerContext scratch;
  scratch.backend = &snapshot;
  scratch.config = &config;
  ClientState client;
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string out;
  protocol::ReplyWriter writer(&out);
  const CommandSpec* spec = CommandTable::Get().Find(Lower(args[0]));
  EXPECT_NE(spec, nullptr) << args[0];
  if (spec == nullptr) return out;
  snapshot.set_counter_node((spec->flags & kCounter) ? counter_node : "");
  CommandContext ctx{scratch, client, views, writer, now, {}};
  spec->handler(ctx);
  return out;
}

class SnapshotRunner {
 public:
  explicit SnapshotRunner(CommandHarness* harness) : harness_(harness) {}

  // Runs args on the key "k" held as a replicated record, like ClusterNode::ExecuteAsync does.
  std::string Run(const std::vector<std::string>& args) {
    const int64_t now = CommandHarness::Now();
    KeySnapshot snapshot(0, "k", now);
    if (state_) {
      EXPECT_TRUE(snapshot.Load(*state_).ok());
    }
    const std::string out = RunOn(snapshot, harness_->config(), args, now);
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

// The same, with hashes, sets and sorted sets kept as registers (cluster/registers.h) in a
// replica store on an engine: each command loads the header and reads members from the
// store, and its register writes and header are applied back, as ClusterNode::ExecuteAsync does.
class RegisterRunner {
 public:
  explicit RegisterRunner(CommandHarness* harness) : harness_(harness) {
    auto db = engine::DB::Open({}, dir_.path());
    EXPECT_TRUE(db.ok());
    db_ = std::move(*db);
    store_ = std::make_unique<cluster::EngineReplicaStore>(db_.get(), false);
    source_ = std::make_unique<LocalRegisters>(store_.get());
  }

  std::string Run(const std::vector<std::string>& args) {
    const int64_t now = CommandHarness::Now();
    KeySnapshot snapshot(0, "k", now);
    snapshot.set_register_source(source_.get());
    if (header_) {
      EXPECT_TRUE(snapshot.Load(*header_).ok());
    }
    const std::string out = RunOn(snapshot, harness_->config(), args, now, "n1");
    EXPECT_TRUE(snapshot.load_error().ok()) << snapshot.load_error();
    if (snapshot.changed()) {
      auto registers = snapshot.ExportRegisters(0, "k");
      EXPECT_TRUE(registers.ok()) << registers.status();
      for (KeySnapshot::RegisterWrite& w : *registers) {
        auto held = store_->Read(cluster::kRegisterSpace, w.register_key);
        EXPECT_TRUE(held.ok());
        Stamp(&w.record, w.context ? *w.context : cluster::MergedClock(*held));
        bool changed;
        EXPECT_TRUE(store_->Apply(cluster::kRegisterSpace, w.register_key, {w.record}, &changed).ok());
      }
      auto exported = snapshot.Export();
      EXPECT_TRUE(exported.ok()) << exported.status();
      if (exported.ok()) {
        header_ = *exported;
        if (header_) Stamp(&*header_, {});
      }
    }
    size_t pos = 0;
    return DescribeReply(out, &pos);
  }

 private:
  // A version as a coordinator gives it: this write's dot on top of what it read.
  void Stamp(cluster::pb::Record* r, const cluster::Clock& context) {
    counter_++;
    r->set_version(counter_);
    r->clear_clock();
    for (const auto& e : context) *r->add_clock() = e;
    cluster::Advance(r->mutable_clock(), "n1", counter_, counter_);
    r->mutable_dot()->set_node("n1");
    r->mutable_dot()->set_counter(counter_);
    r->mutable_dot()->set_timestamp(counter_);
    if (r->has_counter() && r->counter().offset_version() == cluster::kOffsetOfThisWrite) {
      r->mutable_counter()->set_offset_version(counter_);
    }
  }

  CommandHarness* harness_;
  engine::TempDir dir_;
  std::unique_ptr<engine::DB> db_;
  std::unique_ptr<cluster::EngineReplicaStore> store_;
  std::unique_ptr<LocalRegisters> source_;
  std::optional<cluster::pb::Record> header_;
  uint64_t counter_ = 1000;
};

void ExpectSameReplies(const std::vector<std::vector<std::string>>& script) {
  CommandHarness harness;
  SnapshotRunner snapshot(&harness);
  CommandHarness harness2;
  RegisterRunner registers(&harness2);
  for (const auto& args : script) {
    const std::string want = harness.Run(args);
    EXPECT_EQ(snapshot.Run(args), want) << args[0];
    EXPECT_EQ(registers.Run(args), want) << "registers: " << args[0];
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

TEST(KeySnapshotTest, SortedSetRangesAndScansMatchTheEngine) {
  ExpectSameReplies({{"ZADD", "k", "5", "e", "1", "a", "3", "c", "2", "b", "4", "d", "-1", "z"},
                     {"ZRANGE", "k", "1", "3"}, {"ZREVRANGE", "k", "0", "2", "WITHSCORES"},
                     {"ZRANGEBYSCORE", "k", "(1", "4", "LIMIT", "1", "2"},
                     {"ZREVRANGEBYSCORE", "k", "+inf", "2"}, {"ZRANGEBYLEX", "k", "[b", "[d"},
                     {"ZREVRANK", "k", "a"}, {"ZADD", "k", "GT", "0", "e"}, {"ZADD", "k", "LT", "0", "e"},
                     {"ZRANGE", "k", "0", "-1", "WITHSCORES"}, {"ZPOPMAX", "k", "2"},
                     {"ZREMRANGEBYSCORE", "k", "-inf", "0"}, {"ZREMRANGEBYRANK", "k", "0", "0"},
                     {"ZSCAN", "k", "0", "COUNT", "100"}, {"ZMSCORE", "k", "b", "c", "x"},
                     {"ZRANGE", "k", "0", "-1", "WITHSCORES"}, {"ZCARD", "k"},
                     {"ZADD", "k", "+inf", "top", "-inf", "bottom"}, {"ZRANGE", "k", "0", "-1", "WITHSCORES"},
                     {"ZCARD", "k"}, {"ZSCORE", "k", "top"}, {"ZREM", "k", "top", "bottom"},
                     {"EXPIRE", "k", "100"}, {"TTL", "k"},
                     {"DEL", "k"}, {"ZADD", "k", "9", "new"}, {"ZRANGE", "k", "0", "-1"},
                     {"SET", "k", "s"}, {"SADD", "k", "x"}, {"DEL", "k"}, {"SADD", "k", "y"},
                     {"SMEMBERS", "k"}, {"SPOP", "k"}, {"SCARD", "k"},
                     {"HSET", "k", "a", "1"}, {"DEL", "k"}, {"HSET", "k", "b", "2"},
                     {"HINCRBY", "k", "b", "3"}, {"HINCRBYFLOAT", "k", "f", "0.5"}, {"HGETALL", "k"},
                     {"HSCAN", "k", "0", "MATCH", "b*"}, {"HLEN", "k"}, {"HDEL", "k", "b"},
                     {"HGETALL", "k"}});
}

TEST(KeySnapshotTest, StringAndKeyCommandsMatchTheEngine) {
  ExpectSameReplies({{"SET", "k", "10"}, {"INCRBY", "k", "5"}, {"APPEND", "k", "x"},
                     {"GETRANGE", "k", "0", "1"}, {"SETRANGE", "k", "1", "ZZ"}, {"GET", "k"},
                     {"ZADD", "k", "+inf", "top", "-inf", "bottom"}, {"ZRANGE", "k", "0", "-1", "WITHSCORES"},
                     {"ZCARD", "k"}, {"ZSCORE", "k", "top"}, {"ZREM", "k", "top", "bottom"},
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
