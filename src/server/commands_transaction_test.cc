// MULTI, EXEC, DISCARD, WATCH and UNWATCH run in-process: queuing, errors that doom a
// transaction versus errors inside its replies, and WATCH's optimistic locking as
// Redis 7 does it (clients 0 and 1 are separate connections).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/command_test_util.h"

namespace cairn::server {
namespace {

constexpr char kExecAbort[] =
    "(error) EXECABORT Transaction discarded because of previous errors.";

class TransactionTest : public ::testing::Test {
 protected:
  std::string Run(const std::vector<std::string>& args, int client = 0) {
    return h_.Run(args, client);
  }
  CommandHarness h_;
};

TEST_F(TransactionTest, MultiQueuesAndExecRunsInOrder) {
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "k", "1"}), "QUEUED");
  EXPECT_EQ(Run({"INCR", "k"}), "QUEUED");
  EXPECT_EQ(Run({"GET", "k"}), "QUEUED");
  // Nothing ran yet: another client sees no key.
  EXPECT_EQ(Run({"GET", "k"}, 1), "(nil)");
  EXPECT_EQ(Run({"EXEC"}), "[OK, (integer) 2, \"2\"]");
  EXPECT_EQ(Run({"GET", "k"}, 1), "\"2\"");
  EXPECT_FALSE(h_.client(0).in_multi);
  // An empty transaction.
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"EXEC"}), "[]");
}

TEST_F(TransactionTest, CollectionCommandsInATransaction) {
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"HSET", "h", "f", "v"}), "QUEUED");
  EXPECT_EQ(Run({"HGETALL", "h"}), "QUEUED");
  EXPECT_EQ(Run({"RPUSH", "l", "a", "b"}), "QUEUED");
  EXPECT_EQ(Run({"LPOP", "l"}), "QUEUED");
  EXPECT_EQ(Run({"SADD", "s", "m"}), "QUEUED");
  EXPECT_EQ(Run({"ZADD", "z", "1.5", "m"}), "QUEUED");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1", "WITHSCORES"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}),
            "[(integer) 1, [\"f\", \"v\"], (integer) 2, \"a\", (integer) 1, (integer) 1, "
            "[\"m\", \"1.5\"]]");
  EXPECT_EQ(Run({"LRANGE", "l", "0", "-1"}), "[\"b\"]");
}

// A blocking command inside a transaction never waits: with no data it answers its
// timeout reply at once, as Redis does.
TEST_F(TransactionTest, BlockingCommandsInsideExecDoNotBlock) {
  Run({"RPUSH", "full", "x"});
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"BLPOP", "empty", "0"}), "QUEUED");
  EXPECT_EQ(Run({"BRPOP", "full", "0"}), "QUEUED");
  EXPECT_EQ(Run({"BLMOVE", "empty", "dst", "LEFT", "LEFT", "0"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[(nil), [\"full\", \"x\"], (nil)]");
  EXPECT_FALSE(h_.client(0).block.active);
}

TEST_F(TransactionTest, RuntimeErrorsAreRepliesAndTheRestStillRuns) {
  Run({"SET", "str", "v"});
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "a", "1"}), "QUEUED");
  EXPECT_EQ(Run({"LPUSH", "str", "x"}), "QUEUED");  // WRONGTYPE only when it runs
  EXPECT_EQ(Run({"INCR", "str"}), "QUEUED");
  EXPECT_EQ(Run({"SET", "b", "2"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}),
            "[OK, (error) WRONGTYPE Operation against a key holding the wrong kind of value, "
            "(error) ERR value is not an integer or out of range, OK]");
  EXPECT_EQ(Run({"MGET", "a", "b"}), "[\"1\", \"2\"]");
}

TEST_F(TransactionTest, QueueingErrorsAbortExec) {
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "a", "1"}), "QUEUED");
  EXPECT_EQ(Run({"NOSUCHCOMMAND", "x"}),
            "(error) ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'x' ");
  EXPECT_EQ(Run({"SET", "b", "2"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), kExecAbort);
  EXPECT_EQ(Run({"EXISTS", "a", "b"}), "(integer) 0");
  EXPECT_FALSE(h_.client(0).in_multi);
  EXPECT_EQ(Run({"EXEC"}), "(error) ERR EXEC without MULTI");
  // An arity error dooms it too.
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"HSET", "h", "f"}), "(error) ERR wrong number of arguments for 'hset' command");
  EXPECT_EQ(Run({"ZADD", "z", "1", "m"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), kExecAbort);
  EXPECT_EQ(Run({"EXISTS", "h", "z"}), "(integer) 0");
  // The next transaction starts clean.
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "a", "1"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[OK]");
}

// EXEC refused for its arguments discards the transaction and the watched keys at once,
// naming the error (other refused commands only doom the transaction until EXEC).
TEST_F(TransactionTest, ExecWithArgumentsDiscardsTheTransaction) {
  Run({"SET", "k", "1"});
  EXPECT_EQ(Run({"WATCH", "k"}), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "a", "1"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC", "x"}),
            "(error) EXECABORT Transaction discarded because of: wrong number of arguments for "
            "'exec' command");
  EXPECT_FALSE(h_.client(0).in_multi);
  EXPECT_EQ(Run({"EXEC"}), "(error) ERR EXEC without MULTI");
  EXPECT_EQ(Run({"DISCARD"}), "(error) ERR DISCARD without MULTI");
  EXPECT_EQ(Run({"EXISTS", "a"}), "(integer) 0");
  // The watch went with it.
  Run({"SET", "k", "2"}, 1);
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"GET", "k"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[\"2\"]");
  // Outside MULTI too, as Redis does: the watched keys are forgotten.
  EXPECT_EQ(Run({"WATCH", "k"}), "OK");
  EXPECT_EQ(Run({"EXEC", "x"}),
            "(error) EXECABORT Transaction discarded because of: wrong number of arguments for "
            "'exec' command");
  Run({"SET", "k", "3"});
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"GET", "k"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[\"3\"]");
  // DISCARD with arguments only dooms the transaction.
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"DISCARD", "x"}),
            "(error) ERR wrong number of arguments for 'discard' command");
  EXPECT_EQ(Run({"SET", "a", "1"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "(error) EXECABORT Transaction discarded because of previous errors.");
}

TEST_F(TransactionTest, NestedMultiIsAnErrorThatDoesNotAbort) {
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "a", "1"}), "QUEUED");
  EXPECT_EQ(Run({"MULTI"}), "(error) ERR MULTI calls can not be nested");
  EXPECT_EQ(Run({"WATCH", "a"}), "(error) ERR WATCH inside MULTI is not allowed");
  EXPECT_EQ(Run({"GET", "a"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[OK, \"1\"]");
}

TEST_F(TransactionTest, DiscardDropsTheQueue) {
  EXPECT_EQ(Run({"DISCARD"}), "(error) ERR DISCARD without MULTI");
  EXPECT_EQ(Run({"EXEC"}), "(error) ERR EXEC without MULTI");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "a", "1"}), "QUEUED");
  EXPECT_EQ(Run({"DISCARD"}), "OK");
  EXPECT_EQ(Run({"EXISTS", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"EXEC"}), "(error) ERR EXEC without MULTI");
  // DISCARD also forgets a doomed transaction's error.
  EXPECT_EQ(Run({"MULTI"}), "OK");
  Run({"NOPE"});
  EXPECT_EQ(Run({"DISCARD"}), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "a", "2"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[OK]");
  EXPECT_EQ(Run({"MULTI", "x"}), "(error) ERR wrong number of arguments for 'multi' command");
  EXPECT_EQ(Run({"DISCARD", "x"}),
            "(error) ERR wrong number of arguments for 'discard' command");
}

TEST_F(TransactionTest, WatchedKeyWrittenByAnotherClientFailsExec) {
  Run({"SET", "k", "1"});
  EXPECT_EQ(Run({"WATCH", "k"}), "OK");
  EXPECT_EQ(Run({"SET", "k", "2"}, 1), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "k", "mine"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");
  EXPECT_EQ(Run({"GET", "k"}), "\"2\"");
  // EXEC forgot the watch: the next transaction runs.
  Run({"SET", "k", "3"}, 1);
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "k", "mine"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[OK]");
  EXPECT_EQ(Run({"GET", "k"}), "\"mine\"");
}

TEST_F(TransactionTest, WatchedKeyUntouchedLetsExecRun) {
  Run({"SET", "k", "1"});
  EXPECT_EQ(Run({"WATCH", "k", "missing"}), "OK");
  Run({"SET", "other", "x"}, 1);  // another key
  Run({"SELECT", "1"}, 1);
  Run({"SET", "k", "in db 1"}, 1);  // the same name in another database
  Run({"GET", "k"}, 1);             // a read
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"INCR", "k"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[(integer) 2]");
}

TEST_F(TransactionTest, OwnWritesAfterWatchAlsoFailExec) {
  Run({"SET", "k", "1"});
  EXPECT_EQ(Run({"WATCH", "k"}), "OK");
  Run({"SET", "k", "2"});
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"GET", "k"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");
}

TEST_F(TransactionTest, WatchedMissingKeyCreatedByAnotherClientFailsExec) {
  EXPECT_EQ(Run({"WATCH", "k"}), "OK");
  Run({"SET", "k", "x"}, 1);
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"GET", "k"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");
}

TEST_F(TransactionTest, CollectionWritesTouchWatchedKeys) {
  Run({"HSET", "h", "f", "v"});
  Run({"RPUSH", "l", "a"});
  Run({"SADD", "s", "a"});
  Run({"ZADD", "z", "1", "a"});
  const std::vector<std::vector<std::string>> writes = {
      {"HSET", "h", "g", "w"},      {"HDEL", "h", "f"},           {"HINCRBY", "h", "n", "1"},
      {"RPUSH", "l", "b"},          {"LPOP", "l"},                {"LSET", "l", "0", "z"},
      {"SADD", "s", "c"},           {"SREM", "s", "a"},           {"SPOP", "s"},
      {"ZADD", "z", "3", "b"},      {"ZINCRBY", "z", "1", "a"},   {"ZPOPMIN", "z"},
      {"RPOPLPUSH", "l", "l"},      {"SMOVE", "s", "s2", "a"},    {"DEL", "h"},
      {"EXPIRE", "z", "100"},       {"SUNIONSTORE", "s", "s"},    {"ZUNIONSTORE", "z", "1", "z"},
  };
  for (const auto& w : writes) {
    Run({"HSET", "h", "f", "v"});
    Run({"RPUSH", "l", "a", "a"});
    Run({"SADD", "s", "a", "b"});
    Run({"ZADD", "z", "1", "a", "2", "b"});
    ASSERT_EQ(Run({"WATCH", w[1]}), "OK");
    Run(w, 1);
    ASSERT_EQ(Run({"MULTI"}), "OK");
    ASSERT_EQ(Run({"PING"}), "QUEUED");
    EXPECT_EQ(Run({"EXEC"}), "(nil)") << w[0] << " did not touch " << w[1];
  }
}

// As in Redis, only a change touches a watched key: a collection write that fails or
// changes nothing, or a key a command only reads, leaves EXEC free to run.
TEST_F(TransactionTest, WritesThatChangeNothingDoNotTouchWatchedKeys) {
  Run({"HSET", "h", "f", "v"});
  Run({"RPUSH", "k1", "a"});
  Run({"SADD", "s1", "a"});
  Run({"SADD", "s2", "b"});
  Run({"ZADD", "z", "1", "a"});
  Run({"SET", "str", "v"});
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"h", {"HDEL", "h", "nofield"}},              // removes nothing
      {"h", {"HSETNX", "h", "f", "other"}},         // field exists
      {"nol", {"LPUSHX", "nol", "a"}},              // no list
      {"nol", {"LPOP", "nol"}},                     // nothing to pop
      {"k2", {"BLPOP", "k1", "k2", "0"}},           // pops k1 only
      {"empty", {"BLPOP", "empty", "0"}},           // times out at once in-process
      {"s1", {"SUNIONSTORE", "dst", "s1", "s2"}},   // a source is only read
      {"s1", {"SREM", "s1", "nomember"}},           // removes nothing
      {"s1", {"SMOVE", "s1", "s1", "a"}},           // same set
      {"z", {"ZADD", "z", "1", "a"}},               // same score
      {"z", {"ZADD", "z", "XX", "5", "nomember"}},  // XX, member absent
      {"z", {"ZREM", "z", "nomember"}},             // removes nothing
      {"z", {"ZINTERSTORE", "out", "1", "z"}},      // a source is only read
      {"str", {"LPUSH", "str", "x"}},               // WRONGTYPE
      {"h", {"HINCRBY", "h", "f", "1"}},            // not an integer: error
  };
  for (const auto& [watched, write] : cases) {
    ASSERT_EQ(Run({"WATCH", watched}), "OK");
    Run(write, 1);
    ASSERT_EQ(Run({"MULTI"}), "OK");
    ASSERT_EQ(Run({"PING"}), "QUEUED");
    EXPECT_EQ(Run({"EXEC"}), "[PONG]") << write[0] << " touched " << watched;
  }
  // What a store command writes is touched, even to delete it.
  Run({"SADD", "dst", "x"});
  EXPECT_EQ(Run({"WATCH", "dst"}), "OK");
  EXPECT_EQ(Run({"SINTERSTORE", "dst", "s1", "s2"}, 1), "(integer) 0");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");
  // Both keys of a move, but the destination only if the member was not there already.
  for (const char* watched : {"s1", "s3"}) {
    Run({"SADD", "s1", "m"});
    Run({"SREM", "s3", "m"});
    EXPECT_EQ(Run({"WATCH", watched}), "OK");
    EXPECT_EQ(Run({"SMOVE", "s1", "s3", "m"}, 1), "(integer) 1");
    EXPECT_EQ(Run({"MULTI"}), "OK");
    EXPECT_EQ(Run({"EXEC"}), "(nil)") << watched;
  }
  Run({"SADD", "s1", "m"});
  EXPECT_EQ(Run({"WATCH", "s3"}), "OK");
  EXPECT_EQ(Run({"SMOVE", "s1", "s3", "m"}, 1), "(integer) 1");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"EXEC"}), "[]");
}

TEST_F(TransactionTest, RenameAndMoveTouchWatchedKeys) {
  Run({"HSET", "h", "f", "v"});
  EXPECT_EQ(Run({"WATCH", "h"}), "OK");
  EXPECT_EQ(Run({"RENAME", "h", "h2"}, 1), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"HGETALL", "h2"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");
  // The destination of a rename is written too.
  EXPECT_EQ(Run({"WATCH", "dst"}), "OK");
  EXPECT_EQ(Run({"RENAME", "h2", "dst"}, 1), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");
  EXPECT_EQ(Run({"WATCH", "dst"}), "OK");
  EXPECT_EQ(Run({"MOVE", "dst", "1"}, 1), "(integer) 1");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");
}

TEST_F(TransactionTest, FlushTouchesEveryWatchedKey) {
  Run({"SET", "k", "1"});
  EXPECT_EQ(Run({"WATCH", "k"}), "OK");
  EXPECT_EQ(Run({"FLUSHDB"}, 1), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "k", "2"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");
  EXPECT_EQ(Run({"EXISTS", "k"}), "(integer) 0");
}

TEST_F(TransactionTest, UnwatchForgetsTheWatchedKeys) {
  Run({"SET", "k", "1"});
  EXPECT_EQ(Run({"WATCH", "k"}), "OK");
  EXPECT_EQ(Run({"UNWATCH"}), "OK");
  Run({"SET", "k", "2"}, 1);
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"GET", "k"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[\"2\"]");
  EXPECT_EQ(Run({"UNWATCH"}), "OK");  // with nothing watched
  EXPECT_EQ(Run({"UNWATCH", "x"}), "(error) ERR wrong number of arguments for 'unwatch' command");
  EXPECT_EQ(Run({"WATCH"}), "(error) ERR wrong number of arguments for 'watch' command");
  // Inside MULTI, UNWATCH is queued like any command.
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"UNWATCH"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[OK]");
}

TEST_F(TransactionTest, DiscardForgetsTheWatchedKeys) {
  Run({"SET", "k", "1"});
  EXPECT_EQ(Run({"WATCH", "k"}), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"DISCARD"}), "OK");
  Run({"SET", "k", "2"}, 1);
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"GET", "k"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[\"2\"]");
}

TEST_F(TransactionTest, AbortedExecForgetsTheWatchedKeysToo) {
  Run({"SET", "k", "1"});
  EXPECT_EQ(Run({"WATCH", "k"}), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  Run({"NOPE"});
  EXPECT_EQ(Run({"EXEC"}), kExecAbort);
  Run({"SET", "k", "2"}, 1);
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"GET", "k"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[\"2\"]");
}

// Redis 7 aborts EXEC when a watched key with a TTL has expired in the meantime, even
// though no command wrote it.
TEST_F(TransactionTest, WatchedKeyThatExpiresFailsExec) {
  Run({"SET", "k", "v", "PX", "100"});
  EXPECT_EQ(Run({"WATCH", "k"}), "OK");
  CommandHarness::AdvanceClock(200);
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SET", "k", "new"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");
  EXPECT_EQ(Run({"EXISTS", "k"}), "(integer) 0");
  // A watched key whose TTL has not run out is fine.
  Run({"HSET", "h", "f", "v"});
  Run({"EXPIRE", "h", "100"});
  EXPECT_EQ(Run({"WATCH", "h"}), "OK");
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"HGET", "h", "f"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[\"v\"]");
}

TEST_F(TransactionTest, SelectInsideATransaction) {
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"SELECT", "2"}), "QUEUED");
  EXPECT_EQ(Run({"SADD", "s", "a"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[OK, (integer) 1]");
  EXPECT_EQ(Run({"SCARD", "s"}), "(integer) 1");  // still in database 2
  Run({"SELECT", "0"});
  EXPECT_EQ(Run({"EXISTS", "s"}), "(integer) 0");
}

TEST_F(TransactionTest, Resp3ExecReplies) {
  Run({"HSET", "h", "a", "1"});
  Run({"ZADD", "z", "2", "m"});
  Run({"HELLO", "3"});
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"HGETALL", "h"}), "QUEUED");
  EXPECT_EQ(Run({"ZSCORE", "z", "m"}), "QUEUED");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1", "WITHSCORES"}), "QUEUED");
  EXPECT_EQ(Run({"GET", "none"}), "QUEUED");
  EXPECT_EQ(Run({"EXEC"}), "[{\"a\": \"1\"}, (double) 2, [[\"m\", (double) 2]], (nil)]");
  Run({"WATCH", "h"});
  Run({"HDEL", "h", "a"}, 1);
  EXPECT_EQ(Run({"MULTI"}), "OK");
  EXPECT_EQ(Run({"EXEC"}), "(nil)");  // RESP3 null
}

}  // namespace
}  // namespace cairn::server
