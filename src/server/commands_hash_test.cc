// Hash commands run in-process: replies and error strings as Redis 7 gives them, plus
// the keyspace commands (TYPE, DEL, EXPIRE, RENAME, MOVE) on a hash.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "server/command_test_util.h"

namespace cairn::server {
namespace {

constexpr char kWrongType[] =
    "(error) WRONGTYPE Operation against a key holding the wrong kind of value";

// The quoted strings of a reply such as ["a", "b"] or ["0", ["a", "b"]], in order.
std::vector<std::string> Quoted(const std::string& reply) {
  std::vector<std::string> out;
  for (size_t p = reply.find('"'); p != std::string::npos; p = reply.find('"', p + 1)) {
    const size_t e = reply.find('"', p + 1);
    out.push_back(reply.substr(p + 1, e - p - 1));
    p = e;
  }
  return out;
}

class HashCommandTest : public ::testing::Test {
 protected:
  std::string Run(const std::vector<std::string>& args, int client = 0) {
    return h_.Run(args, client);
  }
  CommandHarness h_;
};

TEST_F(HashCommandTest, HSetCountsNewFieldsAndHGetReadsThem) {
  EXPECT_EQ(Run({"HSET", "h", "f1", "v1", "f2", "v2"}), "(integer) 2");
  EXPECT_EQ(Run({"HSET", "h", "f1", "x", "f3", "y"}), "(integer) 1");  // f1 updated
  EXPECT_EQ(Run({"HGET", "h", "f1"}), "\"x\"");
  EXPECT_EQ(Run({"HGET", "h", "f3"}), "\"y\"");
  EXPECT_EQ(Run({"HGET", "h", "nofield"}), "(nil)");
  EXPECT_EQ(Run({"HGET", "nohash", "f1"}), "(nil)");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 3");
  // A field repeated in one call counts once, and the last value wins.
  EXPECT_EQ(Run({"HSET", "d", "a", "1", "a", "2"}), "(integer) 1");
  EXPECT_EQ(Run({"HGET", "d", "a"}), "\"2\"");
  EXPECT_EQ(Run({"HLEN", "d"}), "(integer) 1");
  // Empty field names and values, and binary bytes, are kept as given.
  EXPECT_EQ(Run({"HSET", "e", "", ""}), "(integer) 1");
  EXPECT_EQ(Run({"HGET", "e", ""}), "\"\"");
  EXPECT_EQ(Run({"HSET", "e", std::string("\0\r\n", 3), "bin"}), "(integer) 1");
  EXPECT_EQ(Run({"HGET", "e", std::string("\0\r\n", 3)}), "\"bin\"");
}

TEST_F(HashCommandTest, HSetAndHMSetArityErrors) {
  EXPECT_EQ(Run({"HSET", "h", "f"}), "(error) ERR wrong number of arguments for 'hset' command");
  EXPECT_EQ(Run({"HSET", "h", "f", "v", "g"}),
            "(error) ERR wrong number of arguments for 'hset' command");
  EXPECT_EQ(Run({"HMSET", "h", "f"}), "(error) ERR wrong number of arguments for 'hmset' command");
  EXPECT_EQ(Run({"HMSET", "h", "f", "v", "g"}),
            "(error) ERR wrong number of arguments for 'hmset' command");
  EXPECT_EQ(Run({"EXISTS", "h"}), "(integer) 0");  // nothing was created
  EXPECT_EQ(Run({"HGET", "h"}), "(error) ERR wrong number of arguments for 'hget' command");
  EXPECT_EQ(Run({"HSETNX", "h", "f"}),
            "(error) ERR wrong number of arguments for 'hsetnx' command");
}

TEST_F(HashCommandTest, HMSetRepliesOk) {
  EXPECT_EQ(Run({"HMSET", "h", "a", "1", "b", "2"}), "OK");
  EXPECT_EQ(Run({"HMSET", "h", "a", "3"}), "OK");
  EXPECT_EQ(Run({"HMGET", "h", "a", "b"}), "[\"3\", \"2\"]");
}

TEST_F(HashCommandTest, HSetNxSetsOnlyAMissingField) {
  EXPECT_EQ(Run({"HSETNX", "h", "f", "first"}), "(integer) 1");
  EXPECT_EQ(Run({"HSETNX", "h", "f", "second"}), "(integer) 0");
  EXPECT_EQ(Run({"HGET", "h", "f"}), "\"first\"");
  EXPECT_EQ(Run({"HSETNX", "h", "g", "other"}), "(integer) 1");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 2");
}

TEST_F(HashCommandTest, HMGetHasNilForMissingFieldsAndKeys) {
  Run({"HSET", "h", "a", "1", "c", "3"});
  EXPECT_EQ(Run({"HMGET", "h", "a", "b", "c"}), "[\"1\", (nil), \"3\"]");
  EXPECT_EQ(Run({"HMGET", "nohash", "a", "b"}), "[(nil), (nil)]");
  EXPECT_EQ(Run({"HMGET", "h"}), "(error) ERR wrong number of arguments for 'hmget' command");
}

TEST_F(HashCommandTest, HDelCountsRemovedFieldsAndTheEmptyHashVanishes) {
  Run({"HSET", "h", "a", "1", "b", "2", "c", "3"});
  EXPECT_EQ(Run({"HDEL", "h", "a", "a", "nofield"}), "(integer) 1");
  EXPECT_EQ(Run({"HDEL", "h", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 2");
  EXPECT_EQ(Run({"HDEL", "nohash", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"HDEL", "h", "b", "c"}), "(integer) 2");
  EXPECT_EQ(Run({"EXISTS", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"TYPE", "h"}), "none");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[]");
  EXPECT_EQ(Run({"DBSIZE"}), "(integer) 0");
}

TEST_F(HashCommandTest, HLenHStrLenHExists) {
  Run({"HSET", "h", "f", "hello", "empty", ""});
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 2");
  EXPECT_EQ(Run({"HLEN", "nohash"}), "(integer) 0");
  EXPECT_EQ(Run({"HSTRLEN", "h", "f"}), "(integer) 5");
  EXPECT_EQ(Run({"HSTRLEN", "h", "empty"}), "(integer) 0");
  EXPECT_EQ(Run({"HSTRLEN", "h", "nofield"}), "(integer) 0");
  EXPECT_EQ(Run({"HSTRLEN", "nohash", "f"}), "(integer) 0");
  EXPECT_EQ(Run({"HEXISTS", "h", "f"}), "(integer) 1");
  EXPECT_EQ(Run({"HEXISTS", "h", "empty"}), "(integer) 1");
  EXPECT_EQ(Run({"HEXISTS", "h", "nofield"}), "(integer) 0");
  EXPECT_EQ(Run({"HEXISTS", "nohash", "f"}), "(integer) 0");
}

TEST_F(HashCommandTest, HKeysHValsHGetAll) {
  Run({"HSET", "h", "a", "1", "b", "2", "c", "3"});
  EXPECT_EQ(Run({"HKEYS", "h"}), "[\"a\", \"b\", \"c\"]");
  EXPECT_EQ(Run({"HVALS", "h"}), "[\"1\", \"2\", \"3\"]");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[\"a\", \"1\", \"b\", \"2\", \"c\", \"3\"]");
  EXPECT_EQ(Run({"HKEYS", "nohash"}), "[]");
  EXPECT_EQ(Run({"HVALS", "nohash"}), "[]");
  EXPECT_EQ(Run({"HGETALL", "nohash"}), "[]");
}

TEST_F(HashCommandTest, Resp3HGetAllIsAMap) {
  Run({"HSET", "h", "a", "1", "b", "2"});
  EXPECT_NE(Run({"HELLO", "3"}).find("\"proto\": (integer) 3"), std::string::npos);
  EXPECT_EQ(Run({"HGETALL", "h"}), "{\"a\": \"1\", \"b\": \"2\"}");
  EXPECT_EQ(Run({"HGETALL", "nohash"}), "{}");
  EXPECT_EQ(Run({"HKEYS", "h"}), "[\"a\", \"b\"]");
  EXPECT_EQ(Run({"HGET", "h", "nofield"}), "(nil)");
  EXPECT_EQ(Run({"HRANDFIELD", "h", "2", "WITHVALUES"}).substr(0, 3), "[[\"");
  const std::string pairs = Run({"HRANDFIELD", "h", "-3", "WITHVALUES"});
  // Three [field, value] pairs, each a field of h with its own value.
  EXPECT_EQ(std::count(pairs.begin(), pairs.end(), '['), 4) << pairs;
  const std::vector<std::string> q = Quoted(pairs);
  ASSERT_EQ(q.size(), 6u) << pairs;
  for (size_t i = 0; i < q.size(); i += 2) {
    EXPECT_TRUE((q[i] == "a" && q[i + 1] == "1") || (q[i] == "b" && q[i + 1] == "2")) << pairs;
  }
}

TEST_F(HashCommandTest, HIncrBy) {
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "5"}), "(integer) 5");
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "-7"}), "(integer) -2");
  EXPECT_EQ(Run({"HGET", "h", "n"}), "\"-2\"");
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "x"}),
            "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "1.5"}),
            "(error) ERR value is not an integer or out of range");
  Run({"HSET", "h", "s", "abc", "f", "1.5", "big", "9223372036854775807"});
  EXPECT_EQ(Run({"HINCRBY", "h", "s", "1"}), "(error) ERR hash value is not an integer");
  EXPECT_EQ(Run({"HINCRBY", "h", "f", "1"}), "(error) ERR hash value is not an integer");
  EXPECT_EQ(Run({"HINCRBY", "h", "big", "1"}),
            "(error) ERR increment or decrement would overflow");
  EXPECT_EQ(Run({"HINCRBY", "h", "big", "-1"}), "(integer) 9223372036854775806");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 4");
}

TEST_F(HashCommandTest, HIncrByFloat) {
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "10.5"}), "\"10.5\"");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "0.1"}), "\"10.6\"");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "-5.6"}), "\"5\"");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "5.0e3"}), "\"5005\"");
  EXPECT_EQ(Run({"HGET", "h", "f"}), "\"5005\"");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "abc"}), "(error) ERR value is not a valid float");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", ""}), "(error) ERR value is not a valid float");
  Run({"HSET", "h", "s", "abc", "i", "3"});
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "s", "1"}), "(error) ERR hash value is not a float");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "i", "1.5"}), "\"4.5\"");
}

// Redis refuses an infinite increment before looking at the field ("value is NaN or
// Infinity"); "increment would produce NaN or Infinity" is only for a finite increment
// whose sum overflows.
TEST_F(HashCommandTest, HIncrByFloatRefusesAnInfiniteIncrement) {
  Run({"HSET", "h", "f", "1"});
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "inf"}), "(error) ERR value is NaN or Infinity");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "-inf"}), "(error) ERR value is NaN or Infinity");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "new", "+inf"}), "(error) ERR value is NaN or Infinity");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "nan"}), "(error) ERR value is not a valid float");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[\"f\", \"1\"]");
}

// HINCRBYFLOAT reads numbers as Redis's string2ld, in long double: 1e400 is a value, but
// one that overflows or underflows to zero even there is not a valid float, given or
// stored.
TEST_F(HashCommandTest, HIncrByFloatParsesInLongDouble) {
  Run({"HSET", "h", "f", "1", "big", "1e5000", "tiny", "1e-5000"});
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "1e5000"}), "(error) ERR value is not a valid float");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "1e-5000"}), "(error) ERR value is not a valid float");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "big", "1"}), "(error) ERR hash value is not a float");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "tiny", "1"}), "(error) ERR hash value is not a float");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "d", "4e-320"}), "\"0\"");
  EXPECT_EQ(Run({"HINCRBYFLOAT", "h", "f", "1e400"}).substr(0, 12), "\"10000000000");
  // String INCRBYFLOAT shares the parser.
  Run({"SET", "s", "1e5000"});
  EXPECT_EQ(Run({"INCRBYFLOAT", "s", "1"}), "(error) ERR value is not a valid float");
  EXPECT_EQ(Run({"INCRBYFLOAT", "n", "1e-5000"}), "(error) ERR value is not a valid float");
}

TEST_F(HashCommandTest, HRandField) {
  EXPECT_EQ(Run({"HRANDFIELD", "nohash"}), "(nil)");
  EXPECT_EQ(Run({"HRANDFIELD", "nohash", "3"}), "[]");
  EXPECT_EQ(Run({"HRANDFIELD", "nohash", "-3", "WITHVALUES"}), "[]");
  Run({"HSET", "h", "a", "1", "b", "2", "c", "3"});
  const std::set<std::string> fields = {"a", "b", "c"};
  for (int i = 0; i < 10; i++) {
    const std::vector<std::string> one = Quoted(Run({"HRANDFIELD", "h"}));
    ASSERT_EQ(one.size(), 1u);
    EXPECT_TRUE(fields.count(one[0])) << one[0];
  }
  EXPECT_EQ(Run({"HRANDFIELD", "h", "0"}), "[]");
  // A positive count: distinct fields, at most all of them.
  std::vector<std::string> two = Quoted(Run({"HRANDFIELD", "h", "2"}));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_NE(two[0], two[1]);
  EXPECT_TRUE(fields.count(two[0]) && fields.count(two[1]));
  std::vector<std::string> all = Quoted(Run({"HRANDFIELD", "h", "10"}));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), fields);
  EXPECT_EQ(all.size(), 3u);
  // A negative count: exactly that many, repetition allowed.
  std::vector<std::string> many = Quoted(Run({"HRANDFIELD", "h", "-20"}));
  EXPECT_EQ(many.size(), 20u);
  for (const auto& f : many) EXPECT_TRUE(fields.count(f)) << f;
  // WITHVALUES: field, value pairs that belong together.
  std::vector<std::string> wv = Quoted(Run({"HRANDFIELD", "h", "-5", "withvalues"}));
  ASSERT_EQ(wv.size(), 10u);
  for (size_t i = 0; i < wv.size(); i += 2) {
    EXPECT_EQ(wv[i + 1], std::string(1, static_cast<char>('1' + (wv[i][0] - 'a'))));
  }
  EXPECT_EQ(Run({"HRANDFIELD", "h", "x"}), "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"HRANDFIELD", "h", "1", "FOO"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"HRANDFIELD", "h", "1", "WITHVALUES", "x"}), "(error) ERR syntax error");
}

// Past LONG_MAX/2 Redis refuses a WITHVALUES count (the reply length would overflow);
// a plain positive count that large just means "all of them".
TEST_F(HashCommandTest, HRandFieldHugeCounts) {
  Run({"HSET", "h", "a", "1", "b", "2"});
  EXPECT_EQ(Run({"HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"}),
            "(error) ERR value is out of range");
  EXPECT_EQ(Run({"HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"}),
            "(error) ERR value is out of range");
  const std::vector<std::string> all = Quoted(Run({"HRANDFIELD", "h", "9223372036854775807"}));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), (std::set<std::string>{"a", "b"}));
}

TEST_F(HashCommandTest, HScanVisitsEveryFieldOnce) {
  for (int i = 0; i < 100; i++) {
    Run({"HSET", "h", "f" + std::to_string(100 + i), "v" + std::to_string(i)});
  }
  Run({"HSET", "h", "other", "x"});
  std::map<std::string, std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    const std::string reply = Run({"HSCAN", "h", cursor, "MATCH", "f*", "COUNT", "10"});
    const std::vector<std::string> q = Quoted(reply);
    ASSERT_FALSE(q.empty()) << reply;
    cursor = q[0];
    ASSERT_EQ(q.size() % 2, 1u) << reply;
    for (size_t i = 1; i < q.size(); i += 2) {
      EXPECT_TRUE(seen.emplace(q[i], q[i + 1]).second) << "twice: " << q[i];
    }
    calls++;
  } while (cursor != "0" && calls < 1000);
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(seen["f142"], "v42");
  EXPECT_EQ(Run({"HSCAN", "h", "0", "MATCH", "oth*"}), "[\"0\", [\"other\", \"x\"]]");
  EXPECT_EQ(Run({"HSCAN", "nohash", "0"}), "[\"0\", []]");
  EXPECT_EQ(Run({"HSCAN", "h", "x"}), "(error) ERR invalid cursor");
  EXPECT_EQ(Run({"HSCAN", "h", "0", "COUNT", "0"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"HSCAN", "h", "0", "COUNT", "x"}),
            "(error) ERR value is not an integer or out of range");
  EXPECT_EQ(Run({"HSCAN", "h", "0", "MATCH"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"HSCAN", "h", "0", "FOO", "x"}), "(error) ERR syntax error");
}

TEST_F(HashCommandTest, HashCommandsOnAStringAreWrongType) {
  Run({"SET", "s", "x"});
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"HSET", "s", "f", "v"},
           {"HSETNX", "s", "f", "v"},
           {"HGET", "s", "f"},
           {"HMGET", "s", "f"},
           {"HMSET", "s", "f", "v"},
           {"HDEL", "s", "f"},
           {"HLEN", "s"},
           {"HSTRLEN", "s", "f"},
           {"HEXISTS", "s", "f"},
           {"HKEYS", "s"},
           {"HVALS", "s"},
           {"HGETALL", "s"},
           {"HINCRBY", "s", "f", "1"},
           {"HINCRBYFLOAT", "s", "f", "1"},
           {"HRANDFIELD", "s"},
           {"HSCAN", "s", "0"},
       }) {
    EXPECT_EQ(Run(cmd), kWrongType) << cmd[0];
  }
  EXPECT_EQ(Run({"GET", "s"}), "\"x\"");
  Run({"HSET", "h", "f", "v"});
  EXPECT_EQ(Run({"GET", "h"}), kWrongType);
  EXPECT_EQ(Run({"LPUSH", "h", "x"}), kWrongType);
  EXPECT_EQ(Run({"SET", "h", "now a string"}), "OK");  // SET overwrites any type
  EXPECT_EQ(Run({"TYPE", "h"}), "string");
  EXPECT_EQ(Run({"HGET", "h", "f"}), kWrongType);
}

TEST_F(HashCommandTest, TypeDelAndADeletedHashLeavesNoFieldsBehind) {
  Run({"HSET", "h", "old1", "a", "old2", "b"});
  EXPECT_EQ(Run({"TYPE", "h"}), "hash");
  EXPECT_EQ(Run({"DEL", "h"}), "(integer) 1");
  EXPECT_EQ(Run({"EXISTS", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"HSET", "h", "f", "v"}), "(integer) 1");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[\"f\", \"v\"]");
  EXPECT_EQ(Run({"HGET", "h", "old1"}), "(nil)");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 1");
  // Overwritten by a string, deleted, then a hash again: still none of the old fields.
  EXPECT_EQ(Run({"SET", "h", "s"}), "OK");
  EXPECT_EQ(Run({"HSET", "h", "g", "w"}), kWrongType);
  EXPECT_EQ(Run({"DEL", "h"}), "(integer) 1");
  EXPECT_EQ(Run({"HSET", "h", "g", "w"}), "(integer) 1");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[\"g\", \"w\"]");
  EXPECT_EQ(Run({"UNLINK", "h"}), "(integer) 1");
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "1"}), "(integer) 1");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[\"n\", \"1\"]");
}

TEST_F(HashCommandTest, ExpireKeepsTheTtlAcrossWritesAndExpiryDropsTheFields) {
  Run({"HSET", "h", "a", "1"});
  EXPECT_EQ(Run({"EXPIRE", "h", "100"}), "(integer) 1");
  EXPECT_EQ(Run({"HSET", "h", "b", "2"}), "(integer) 1");
  EXPECT_EQ(Run({"HDEL", "h", "a"}), "(integer) 1");
  EXPECT_EQ(Run({"HINCRBY", "h", "n", "1"}), "(integer) 1");
  EXPECT_EQ(Run({"TTL", "h"}), "(integer) 100");  // writes keep the TTL, as in Redis
  EXPECT_EQ(Run({"PERSIST", "h"}), "(integer) 1");
  EXPECT_EQ(Run({"TTL", "h"}), "(integer) -1");
  EXPECT_EQ(Run({"PEXPIRE", "h", "1500"}), "(integer) 1");
  CommandHarness::AdvanceClock(2000);
  EXPECT_EQ(Run({"EXISTS", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"HLEN", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"HGET", "h", "b"}), "(nil)");
  EXPECT_EQ(Run({"HSET", "h", "c", "3"}), "(integer) 1");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[\"c\", \"3\"]");
  EXPECT_EQ(Run({"TTL", "h"}), "(integer) -1");
  EXPECT_EQ(Run({"EXPIRE", "h", "-1"}), "(integer) 1");  // in the past: deleted
  EXPECT_EQ(Run({"EXISTS", "h"}), "(integer) 0");
}

TEST_F(HashCommandTest, RenameMovesTheFields) {
  Run({"HSET", "h", "a", "1", "b", "2"});
  Run({"EXPIRE", "h", "100"});
  EXPECT_EQ(Run({"RENAME", "h", "h2"}), "OK");
  EXPECT_EQ(Run({"EXISTS", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"HGETALL", "h2"}), "[\"a\", \"1\", \"b\", \"2\"]");
  EXPECT_EQ(Run({"HLEN", "h2"}), "(integer) 2");
  EXPECT_EQ(Run({"TTL", "h2"}), "(integer) 100");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[]");
  // Onto an existing key of another type: replaced, and its old content is gone.
  Run({"RPUSH", "l", "x"});
  EXPECT_EQ(Run({"RENAME", "h2", "l"}), "OK");
  EXPECT_EQ(Run({"TYPE", "l"}), "hash");
  EXPECT_EQ(Run({"HGET", "l", "b"}), "\"2\"");
  // Onto an existing hash: only the moved fields remain.
  Run({"HSET", "other", "z", "26"});
  EXPECT_EQ(Run({"RENAME", "other", "l"}), "OK");
  EXPECT_EQ(Run({"HGETALL", "l"}), "[\"z\", \"26\"]");
  EXPECT_EQ(Run({"RENAME", "l", "l"}), "OK");
  EXPECT_EQ(Run({"HGETALL", "l"}), "[\"z\", \"26\"]");
  Run({"HSET", "taken", "t", "1"});
  EXPECT_EQ(Run({"RENAMENX", "l", "taken"}), "(integer) 0");
  EXPECT_EQ(Run({"RENAMENX", "l", "free"}), "(integer) 1");
  EXPECT_EQ(Run({"HGETALL", "free"}), "[\"z\", \"26\"]");
  EXPECT_EQ(Run({"RENAME", "nohash", "x"}), "(error) ERR no such key");
}

TEST_F(HashCommandTest, MoveCarriesTheFieldsToAnotherDatabase) {
  Run({"HSET", "h", "a", "1", "b", "2"});
  EXPECT_EQ(Run({"MOVE", "h", "1"}), "(integer) 1");
  EXPECT_EQ(Run({"EXISTS", "h"}), "(integer) 0");
  EXPECT_EQ(Run({"SELECT", "1"}), "OK");
  EXPECT_EQ(Run({"HGETALL", "h"}), "[\"a\", \"1\", \"b\", \"2\"]");
  EXPECT_EQ(Run({"TYPE", "h"}), "hash");
  EXPECT_EQ(Run({"SELECT", "0"}), "OK");
  Run({"HSET", "h", "c", "3"});
  EXPECT_EQ(Run({"MOVE", "h", "1"}), "(integer) 0");  // taken there
  EXPECT_EQ(Run({"HGETALL", "h"}), "[\"c\", \"3\"]");
}

// The whole stack on a directory of its own, closed and opened again: what a restart
// of cairn-server does. (CommandHarness keeps its engine open for its lifetime.)
class ReopenableServer {
 public:
  ReopenableServer() { Open(); }
  ~ReopenableServer() { Close(); }
  void Reopen() {
    Close();
    Open();
  }
  std::string Run(const std::vector<std::string>& args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    std::string out;
    protocol::ReplyWriter writer(&out, client_->protocol);
    ExecuteCommand(*ctx_, *client_, views, writer);
    size_t pos = 0;
    return DescribeReply(out, &pos);
  }

 private:
  void Open() {
    engine::Options options;
    options.memtable_hash_index = true;
    auto db = engine::DB::Open(options, dir_.path());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto backend = store::LocalBackend::Open(db_.get(), &CommandHarness::Now);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
    ctx_ = std::make_unique<ServerContext>();
    ctx_->backend = backend_.get();
    ctx_->config = &config_;
    ctx_->now_ms = &CommandHarness::Now;
    client_ = std::make_unique<ClientState>();
    client_->authenticated = true;
  }
  void Close() {
    client_.reset();
    ctx_.reset();
    backend_.reset();
    db_.reset();
  }
  engine::TempDir dir_;
  Config config_;
  std::unique_ptr<engine::DB> db_;
  std::unique_ptr<store::LocalBackend> backend_;
  std::unique_ptr<ServerContext> ctx_;
  std::unique_ptr<ClientState> client_;
};

TEST(CollectionReopenTest, EveryTypeSurvivesABackendReopen) {
  ReopenableServer s;
  EXPECT_EQ(s.Run({"HSET", "h", "a", "1", "b", "2"}), "(integer) 2");
  EXPECT_EQ(s.Run({"RPUSH", "l", "x", "y", "z"}), "(integer) 3");
  EXPECT_EQ(s.Run({"LPOP", "l"}), "\"x\"");
  EXPECT_EQ(s.Run({"SADD", "s", "m1", "m2"}), "(integer) 2");
  EXPECT_EQ(s.Run({"ZADD", "z", "1", "one", "2", "two"}), "(integer) 2");
  EXPECT_EQ(s.Run({"HSET", "gone", "f", "v"}), "(integer) 1");
  EXPECT_EQ(s.Run({"DEL", "gone"}), "(integer) 1");
  EXPECT_EQ(s.Run({"EXPIRE", "h", "1000"}), "(integer) 1");
  s.Reopen();
  EXPECT_EQ(s.Run({"HGETALL", "h"}), "[\"a\", \"1\", \"b\", \"2\"]");
  EXPECT_EQ(s.Run({"TTL", "h"}), "(integer) 1000");
  EXPECT_EQ(s.Run({"LRANGE", "l", "0", "-1"}), "[\"y\", \"z\"]");
  EXPECT_EQ(s.Run({"LPUSH", "l", "w"}), "(integer) 3");
  EXPECT_EQ(s.Run({"SMEMBERS", "s"}), "[\"m1\", \"m2\"]");
  EXPECT_EQ(s.Run({"ZRANGE", "z", "0", "-1", "WITHSCORES"}), "[\"one\", \"1\", \"two\", \"2\"]");
  EXPECT_EQ(s.Run({"EXISTS", "gone"}), "(integer) 0");
  // Versions handed out after the reopen do not collide with those before it: a new
  // collection under a deleted one's name starts empty.
  EXPECT_EQ(s.Run({"HSET", "gone", "new", "v"}), "(integer) 1");
  EXPECT_EQ(s.Run({"HGETALL", "gone"}), "[\"new\", \"v\"]");
  EXPECT_EQ(s.Run({"HSET", "fresh", "g", "1"}), "(integer) 1");
  s.Reopen();
  EXPECT_EQ(s.Run({"HGETALL", "gone"}), "[\"new\", \"v\"]");
  EXPECT_EQ(s.Run({"HGETALL", "fresh"}), "[\"g\", \"1\"]");
  EXPECT_EQ(s.Run({"LRANGE", "l", "0", "-1"}), "[\"w\", \"y\", \"z\"]");
  EXPECT_EQ(s.Run({"DBSIZE"}), "(integer) 6");
}

}  // namespace
}  // namespace cairn::server
