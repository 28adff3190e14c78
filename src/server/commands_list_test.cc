// List commands run in-process: replies and error strings as Redis 7 gives them, plus
// the keyspace commands (TYPE, DEL, EXPIRE, RENAME, MOVE) on a list. In-process the
// blocking commands never wait (the harness's clients have no wake function): with no
// data they answer their timeout reply at once, as Redis does inside MULTI.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/command_test_util.h"

namespace cairn::server {
namespace {

constexpr char kWrongType[] =
    "(error) WRONGTYPE Operation against a key holding the wrong kind of value";
constexpr char kNotInteger[] = "(error) ERR value is not an integer or out of range";

class ListCommandTest : public ::testing::Test {
 protected:
  std::string Run(const std::vector<std::string>& args, int client = 0) {
    return h_.Run(args, client);
  }
  std::string All(const std::string& key) { return Run({"LRANGE", key, "0", "-1"}); }
  CommandHarness h_;
};

TEST_F(ListCommandTest, PushesAtBothEnds) {
  EXPECT_EQ(Run({"LPUSH", "l", "a", "b", "c"}), "(integer) 3");
  EXPECT_EQ(All("l"), "[\"c\", \"b\", \"a\"]");
  EXPECT_EQ(Run({"RPUSH", "l", "x", "y"}), "(integer) 5");
  EXPECT_EQ(All("l"), "[\"c\", \"b\", \"a\", \"x\", \"y\"]");
  EXPECT_EQ(Run({"LPUSH", "l", "z"}), "(integer) 6");
  EXPECT_EQ(Run({"LINDEX", "l", "0"}), "\"z\"");
  EXPECT_EQ(Run({"RPUSH", "r", ""}), "(integer) 1");  // empty elements are elements
  EXPECT_EQ(All("r"), "[\"\"]");
  EXPECT_EQ(Run({"LPUSH", "l"}), "(error) ERR wrong number of arguments for 'lpush' command");
  EXPECT_EQ(Run({"RPUSH", "l"}), "(error) ERR wrong number of arguments for 'rpush' command");
}

TEST_F(ListCommandTest, PushXOnlyOnAnExistingList) {
  EXPECT_EQ(Run({"LPUSHX", "l", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"RPUSHX", "l", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"EXISTS", "l"}), "(integer) 0");
  Run({"RPUSH", "l", "m"});
  EXPECT_EQ(Run({"LPUSHX", "l", "a", "b"}), "(integer) 3");
  EXPECT_EQ(Run({"RPUSHX", "l", "y", "z"}), "(integer) 5");
  EXPECT_EQ(All("l"), "[\"b\", \"a\", \"m\", \"y\", \"z\"]");
  Run({"SET", "s", "x"});
  EXPECT_EQ(Run({"LPUSHX", "s", "a"}), kWrongType);
  EXPECT_EQ(Run({"RPUSHX", "s", "a"}), kWrongType);
}

TEST_F(ListCommandTest, PopsWithAndWithoutCount) {
  Run({"RPUSH", "l", "a", "b", "c", "d", "e"});
  EXPECT_EQ(Run({"LPOP", "l"}), "\"a\"");
  EXPECT_EQ(Run({"RPOP", "l"}), "\"e\"");
  EXPECT_EQ(Run({"LPOP", "l", "2"}), "[\"b\", \"c\"]");
  EXPECT_EQ(Run({"LPOP", "l", "0"}), "[]");
  EXPECT_EQ(Run({"RPOP", "l", "0"}), "[]");
  EXPECT_EQ(Run({"RPOP", "l", "10"}), "[\"d\"]");  // more than there is: all of it
  EXPECT_EQ(Run({"EXISTS", "l"}), "(integer) 0");
  EXPECT_EQ(Run({"LPOP", "l"}), "(nil)");
  EXPECT_EQ(Run({"RPOP", "l"}), "(nil)");
  EXPECT_EQ(Run({"LPOP", "l", "2"}), "(nil)");  // a null array, not an empty one
  EXPECT_EQ(Run({"LPOP", "l", "0"}), "(nil)");
  Run({"RPUSH", "r", "a", "b", "c"});
  EXPECT_EQ(Run({"RPOP", "r", "2"}), "[\"c\", \"b\"]");  // in pop order
  EXPECT_EQ(Run({"LPOP", "r", "-1"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(All("r"), "[\"a\"]");
}

// A pop count must be a non-negative integer, and Redis has one error for anything else,
// a non-number included.
TEST_F(ListCommandTest, PopCountThatIsNotANumberIsOutOfRange) {
  Run({"RPUSH", "l", "a", "b"});
  EXPECT_EQ(Run({"LPOP", "l", "x"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"RPOP", "l", "1.5"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"LPOP", "l", "-0"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"LPOP", "nol", "x"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"LLEN", "l"}), "(integer) 2");
}

// LPOP and RPOP take at most one count: Redis answers an arity error past it.
TEST_F(ListCommandTest, PopWithTooManyArgumentsIsAnArityError) {
  Run({"RPUSH", "l", "a", "b"});
  EXPECT_EQ(Run({"LPOP", "l", "1", "2"}),
            "(error) ERR wrong number of arguments for 'lpop' command");
  EXPECT_EQ(Run({"RPOP", "l", "1", "2"}),
            "(error) ERR wrong number of arguments for 'rpop' command");
  EXPECT_EQ(Run({"LLEN", "l"}), "(integer) 2");
}

TEST_F(ListCommandTest, LLenAndLIndexWithNegativeIndexes) {
  EXPECT_EQ(Run({"LLEN", "l"}), "(integer) 0");
  Run({"RPUSH", "l", "a", "b", "c"});
  EXPECT_EQ(Run({"LLEN", "l"}), "(integer) 3");
  EXPECT_EQ(Run({"LINDEX", "l", "0"}), "\"a\"");
  EXPECT_EQ(Run({"LINDEX", "l", "2"}), "\"c\"");
  EXPECT_EQ(Run({"LINDEX", "l", "-1"}), "\"c\"");
  EXPECT_EQ(Run({"LINDEX", "l", "-3"}), "\"a\"");
  EXPECT_EQ(Run({"LINDEX", "l", "-4"}), "(nil)");
  EXPECT_EQ(Run({"LINDEX", "l", "3"}), "(nil)");
  EXPECT_EQ(Run({"LINDEX", "nol", "0"}), "(nil)");
  EXPECT_EQ(Run({"LINDEX", "l", "x"}), kNotInteger);
  // After pops at the left end indexes still count from the current head.
  Run({"LPOP", "l"});
  Run({"LPUSH", "l", "z", "y"});
  EXPECT_EQ(Run({"LINDEX", "l", "0"}), "\"y\"");
  EXPECT_EQ(Run({"LINDEX", "l", "-1"}), "\"c\"");
}

TEST_F(ListCommandTest, LSet) {
  EXPECT_EQ(Run({"LSET", "nol", "0", "x"}), "(error) ERR no such key");
  Run({"RPUSH", "l", "a", "b", "c"});
  EXPECT_EQ(Run({"LSET", "l", "0", "A"}), "OK");
  EXPECT_EQ(Run({"LSET", "l", "-1", "C"}), "OK");
  EXPECT_EQ(Run({"LSET", "l", "-3", "AA"}), "OK");
  EXPECT_EQ(All("l"), "[\"AA\", \"b\", \"C\"]");
  EXPECT_EQ(Run({"LSET", "l", "3", "x"}), "(error) ERR index out of range");
  EXPECT_EQ(Run({"LSET", "l", "-4", "x"}), "(error) ERR index out of range");
  EXPECT_EQ(Run({"LSET", "l", "x", "x"}), kNotInteger);
  EXPECT_EQ(Run({"LLEN", "l"}), "(integer) 3");
}

TEST_F(ListCommandTest, LRangeClampsAndCountsFromTheEnd) {
  Run({"RPUSH", "l", "a", "b", "c", "d", "e"});
  EXPECT_EQ(Run({"LRANGE", "l", "0", "2"}), "[\"a\", \"b\", \"c\"]");
  EXPECT_EQ(Run({"LRANGE", "l", "-2", "-1"}), "[\"d\", \"e\"]");
  EXPECT_EQ(Run({"LRANGE", "l", "-100", "1"}), "[\"a\", \"b\"]");
  EXPECT_EQ(Run({"LRANGE", "l", "3", "100"}), "[\"d\", \"e\"]");
  EXPECT_EQ(Run({"LRANGE", "l", "2", "1"}), "[]");
  EXPECT_EQ(Run({"LRANGE", "l", "5", "10"}), "[]");
  EXPECT_EQ(Run({"LRANGE", "l", "-1", "-2"}), "[]");
  EXPECT_EQ(Run({"LRANGE", "l", "0", "-6"}), "[]");
  EXPECT_EQ(Run({"LRANGE", "l", "1", "-2"}), "[\"b\", \"c\", \"d\"]");
  EXPECT_EQ(Run({"LRANGE", "nol", "0", "-1"}), "[]");
  EXPECT_EQ(Run({"LRANGE", "l", "a", "1"}), kNotInteger);
  EXPECT_EQ(Run({"LRANGE", "l", "0", "1.0"}), kNotInteger);
}

TEST_F(ListCommandTest, LTrim) {
  Run({"RPUSH", "l", "a", "b", "c", "d", "e"});
  EXPECT_EQ(Run({"LTRIM", "l", "1", "-2"}), "OK");
  EXPECT_EQ(All("l"), "[\"b\", \"c\", \"d\"]");
  EXPECT_EQ(Run({"LTRIM", "l", "0", "-1"}), "OK");
  EXPECT_EQ(All("l"), "[\"b\", \"c\", \"d\"]");
  EXPECT_EQ(Run({"LTRIM", "l", "-2", "100"}), "OK");
  EXPECT_EQ(All("l"), "[\"c\", \"d\"]");
  EXPECT_EQ(Run({"LPUSH", "l", "x"}), "(integer) 3");
  EXPECT_EQ(All("l"), "[\"x\", \"c\", \"d\"]");
  // An empty range empties the list, which then does not exist.
  EXPECT_EQ(Run({"LTRIM", "l", "2", "1"}), "OK");
  EXPECT_EQ(Run({"EXISTS", "l"}), "(integer) 0");
  Run({"RPUSH", "l", "a", "b"});
  EXPECT_EQ(Run({"LTRIM", "l", "5", "10"}), "OK");
  EXPECT_EQ(Run({"EXISTS", "l"}), "(integer) 0");
  EXPECT_EQ(Run({"LTRIM", "nol", "0", "1"}), "OK");
  EXPECT_EQ(Run({"LTRIM", "nol", "x", "1"}), kNotInteger);
}

TEST_F(ListCommandTest, LRemByCountAndDirection) {
  Run({"RPUSH", "l", "a", "x", "b", "x", "c", "x"});
  EXPECT_EQ(Run({"LREM", "l", "1", "x"}), "(integer) 1");  // from the head
  EXPECT_EQ(All("l"), "[\"a\", \"b\", \"x\", \"c\", \"x\"]");
  EXPECT_EQ(Run({"LREM", "l", "-1", "x"}), "(integer) 1");  // from the tail
  EXPECT_EQ(All("l"), "[\"a\", \"b\", \"x\", \"c\"]");
  Run({"RPUSH", "l", "x", "x"});
  EXPECT_EQ(Run({"LREM", "l", "0", "x"}), "(integer) 3");  // all of them
  EXPECT_EQ(All("l"), "[\"a\", \"b\", \"c\"]");
  EXPECT_EQ(Run({"LREM", "l", "0", "nothere"}), "(integer) 0");
  EXPECT_EQ(Run({"LREM", "l", "5", "b"}), "(integer) 1");
  EXPECT_EQ(All("l"), "[\"a\", \"c\"]");
  EXPECT_EQ(Run({"RPUSH", "l", "d"}), "(integer) 3");
  EXPECT_EQ(Run({"LINDEX", "l", "-1"}), "\"d\"");
  EXPECT_EQ(Run({"LREM", "nol", "0", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"LREM", "l", "x", "a"}), kNotInteger);
  // Removing every element removes the list.
  Run({"RPUSH", "same", "v", "v", "v"});
  EXPECT_EQ(Run({"LREM", "same", "0", "v"}), "(integer) 3");
  EXPECT_EQ(Run({"EXISTS", "same"}), "(integer) 0");
}

TEST_F(ListCommandTest, LInsert) {
  EXPECT_EQ(Run({"LINSERT", "nol", "BEFORE", "a", "x"}), "(integer) 0");
  EXPECT_EQ(Run({"EXISTS", "nol"}), "(integer) 0");
  Run({"RPUSH", "l", "a", "b", "c"});
  EXPECT_EQ(Run({"LINSERT", "l", "BEFORE", "b", "x"}), "(integer) 4");
  EXPECT_EQ(Run({"LINSERT", "l", "after", "c", "y"}), "(integer) 5");
  EXPECT_EQ(Run({"LINSERT", "l", "before", "a", "w"}), "(integer) 6");
  EXPECT_EQ(All("l"), "[\"w\", \"a\", \"x\", \"b\", \"c\", \"y\"]");
  EXPECT_EQ(Run({"LINSERT", "l", "AFTER", "nothere", "z"}), "(integer) -1");
  EXPECT_EQ(Run({"LINSERT", "l", "MIDDLE", "a", "z"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"LLEN", "l"}), "(integer) 6");
  // Only the first occurrence of the pivot counts.
  Run({"RPUSH", "d", "p", "p"});
  EXPECT_EQ(Run({"LINSERT", "d", "AFTER", "p", "q"}), "(integer) 3");
  EXPECT_EQ(All("d"), "[\"p\", \"q\", \"p\"]");
}

TEST_F(ListCommandTest, LPos) {
  Run({"RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"});
  EXPECT_EQ(Run({"LPOS", "l", "c"}), "(integer) 2");
  EXPECT_EQ(Run({"LPOS", "l", "nothere"}), "(nil)");
  EXPECT_EQ(Run({"LPOS", "l", "c", "RANK", "2"}), "(integer) 6");
  EXPECT_EQ(Run({"LPOS", "l", "c", "RANK", "-1"}), "(integer) 7");
  EXPECT_EQ(Run({"LPOS", "l", "c", "RANK", "-3"}), "(integer) 2");
  EXPECT_EQ(Run({"LPOS", "l", "c", "RANK", "4"}), "(nil)");
  EXPECT_EQ(Run({"LPOS", "l", "c", "COUNT", "2"}), "[(integer) 2, (integer) 6]");
  EXPECT_EQ(Run({"LPOS", "l", "c", "COUNT", "0"}), "[(integer) 2, (integer) 6, (integer) 7]");
  EXPECT_EQ(Run({"LPOS", "l", "c", "RANK", "-1", "COUNT", "2"}), "[(integer) 7, (integer) 6]");
  EXPECT_EQ(Run({"LPOS", "l", "x", "COUNT", "0"}), "[]");
  EXPECT_EQ(Run({"LPOS", "l", "c", "MAXLEN", "2"}), "(nil)");
  EXPECT_EQ(Run({"LPOS", "l", "c", "MAXLEN", "3"}), "(integer) 2");
  EXPECT_EQ(Run({"LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"}), "[(integer) 2, (integer) 6]");
  EXPECT_EQ(Run({"LPOS", "l", "a", "RANK", "-1", "MAXLEN", "3"}), "(nil)");
  EXPECT_EQ(Run({"LPOS", "nol", "a"}), "(nil)");
  EXPECT_EQ(Run({"LPOS", "nol", "a", "COUNT", "1"}), "[]");
  EXPECT_EQ(Run({"LPOS", "l", "c", "RANK", "0"}),
            "(error) ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
            "second ... or use negative to start from the end of the list");
  EXPECT_EQ(Run({"LPOS", "l", "c", "COUNT", "-1"}), "(error) ERR COUNT can't be negative");
  EXPECT_EQ(Run({"LPOS", "l", "c", "MAXLEN", "-1"}), "(error) ERR MAXLEN can't be negative");
  EXPECT_EQ(Run({"LPOS", "l", "c", "RANK"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"LPOS", "l", "c", "FOO", "1"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"LPOS", "l", "c", "RANK", "x"}), kNotInteger);
}

// LPOS's COUNT and MAXLEN have one error each for anything but a non-negative integer;
// an unknown option is a syntax error whatever its value.
TEST_F(ListCommandTest, LPosCountAndMaxLenThatAreNotNumbers) {
  Run({"RPUSH", "l", "a", "b"});
  EXPECT_EQ(Run({"LPOS", "l", "a", "COUNT", "x"}), "(error) ERR COUNT can't be negative");
  EXPECT_EQ(Run({"LPOS", "l", "a", "COUNT", "-0"}), "(error) ERR COUNT can't be negative");
  EXPECT_EQ(Run({"LPOS", "l", "a", "MAXLEN", "x"}), "(error) ERR MAXLEN can't be negative");
  EXPECT_EQ(Run({"LPOS", "l", "a", "MAXLEN", "1.5"}), "(error) ERR MAXLEN can't be negative");
  EXPECT_EQ(Run({"LPOS", "l", "a", "FOO", "x"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"LPOS", "l", "b", "MAXLEN", "0", "COUNT", "0"}), "[(integer) 1]");
}

TEST_F(ListCommandTest, LMove) {
  Run({"RPUSH", "src", "a", "b", "c"});
  EXPECT_EQ(Run({"LMOVE", "src", "dst", "LEFT", "RIGHT"}), "\"a\"");
  EXPECT_EQ(Run({"LMOVE", "src", "dst", "RIGHT", "LEFT"}), "\"c\"");
  EXPECT_EQ(All("src"), "[\"b\"]");
  EXPECT_EQ(All("dst"), "[\"c\", \"a\"]");
  EXPECT_EQ(Run({"LMOVE", "src", "dst", "left", "left"}), "\"b\"");
  EXPECT_EQ(Run({"EXISTS", "src"}), "(integer) 0");  // its last element moved away
  EXPECT_EQ(All("dst"), "[\"b\", \"c\", \"a\"]");
  EXPECT_EQ(Run({"LMOVE", "src", "dst", "LEFT", "LEFT"}), "(nil)");
  // One list: a rotation.
  EXPECT_EQ(Run({"LMOVE", "dst", "dst", "LEFT", "RIGHT"}), "\"b\"");
  EXPECT_EQ(All("dst"), "[\"c\", \"a\", \"b\"]");
  EXPECT_EQ(Run({"LMOVE", "dst", "dst", "RIGHT", "LEFT"}), "\"b\"");
  EXPECT_EQ(All("dst"), "[\"b\", \"c\", \"a\"]");
  Run({"RPUSH", "one", "x"});
  EXPECT_EQ(Run({"LMOVE", "one", "one", "LEFT", "RIGHT"}), "\"x\"");
  EXPECT_EQ(All("one"), "[\"x\"]");
  EXPECT_EQ(Run({"LMOVE", "dst", "x", "UP", "LEFT"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"LMOVE", "dst", "x", "LEFT", "DOWN"}), "(error) ERR syntax error");
  // A destination of another type: refused before anything is popped.
  Run({"SET", "str", "v"});
  EXPECT_EQ(Run({"LMOVE", "dst", "str", "LEFT", "LEFT"}), kWrongType);
  EXPECT_EQ(Run({"LLEN", "dst"}), "(integer) 3");
  EXPECT_EQ(Run({"LMOVE", "str", "dst", "LEFT", "LEFT"}), kWrongType);
}

TEST_F(ListCommandTest, RPopLPush) {
  Run({"RPUSH", "src", "a", "b"});
  EXPECT_EQ(Run({"RPOPLPUSH", "src", "dst"}), "\"b\"");
  EXPECT_EQ(Run({"RPOPLPUSH", "src", "dst"}), "\"a\"");
  EXPECT_EQ(All("dst"), "[\"a\", \"b\"]");
  EXPECT_EQ(Run({"EXISTS", "src"}), "(integer) 0");
  EXPECT_EQ(Run({"RPOPLPUSH", "src", "dst"}), "(nil)");
  EXPECT_EQ(Run({"RPOPLPUSH", "dst", "dst"}), "\"b\"");
  EXPECT_EQ(All("dst"), "[\"b\", \"a\"]");
  Run({"SET", "str", "v"});
  EXPECT_EQ(Run({"RPOPLPUSH", "dst", "str"}), kWrongType);
  EXPECT_EQ(All("dst"), "[\"b\", \"a\"]");
}

TEST_F(ListCommandTest, BLPopAndBRPopTakeDataAtOnce) {
  Run({"RPUSH", "l2", "a", "b", "c"});
  EXPECT_EQ(Run({"BLPOP", "empty", "l2", "0"}), "[\"l2\", \"a\"]");
  EXPECT_EQ(Run({"BRPOP", "empty", "l2", "0"}), "[\"l2\", \"c\"]");
  Run({"RPUSH", "l1", "x"});
  EXPECT_EQ(Run({"BLPOP", "l1", "l2", "1.5"}), "[\"l1\", \"x\"]");  // the first non-empty key
  EXPECT_EQ(Run({"EXISTS", "l1"}), "(integer) 0");
  EXPECT_EQ(Run({"BRPOP", "l1", "l2", "0"}), "[\"l2\", \"b\"]");
  EXPECT_EQ(Run({"EXISTS", "l2"}), "(integer) 0");
}

TEST_F(ListCommandTest, BlockingPopsWithNoDataAnswerTheTimeoutReplyAtOnce) {
  EXPECT_EQ(Run({"BLPOP", "nol", "0"}), "(nil)");
  EXPECT_EQ(Run({"BRPOP", "nol", "other", "0.01"}), "(nil)");
  EXPECT_EQ(Run({"BLMOVE", "nol", "dst", "LEFT", "RIGHT", "0"}), "(nil)");
  EXPECT_FALSE(h_.client(0).block.active);
  EXPECT_EQ(h_.context().blocking.waiters(), 0u);
  EXPECT_EQ(Run({"EXISTS", "dst"}), "(integer) 0");
  EXPECT_EQ(Run({"PING"}), "PONG");  // the client is not left waiting
}

// A push wakes the clients blocked on the key it wrote, and only those: here a waiter
// registered directly (the harness's clients cannot block).
TEST_F(ListCommandTest, WritesWakeTheWaitersOfTheKeysTheyChanged) {
  int woke_dst = 0, woke_k2 = 0, woke_src = 0;
  BlockingKeys& blocking = h_.context().blocking;
  const uint64_t t1 = blocking.Add(0, {"dst"}, [&] { woke_dst++; });
  const uint64_t t2 = blocking.Add(0, {"k2"}, [&] { woke_k2++; });
  const uint64_t t3 = blocking.Add(0, {"src"}, [&] { woke_src++; });
  Run({"RPUSH", "src", "a", "b"});
  EXPECT_EQ(woke_src, 1);
  EXPECT_EQ(Run({"LMOVE", "src", "dst", "LEFT", "LEFT"}), "\"a\"");
  EXPECT_EQ(woke_dst, 1);
  EXPECT_EQ(woke_src, 2);
  Run({"RPUSH", "k1", "x"});
  EXPECT_EQ(Run({"BLPOP", "k1", "k2", "0"}), "[\"k1\", \"x\"]");
  EXPECT_EQ(woke_k2, 0);  // k2 was only looked at
  EXPECT_EQ(Run({"LPUSHX", "k2", "y"}), "(integer) 0");
  EXPECT_EQ(woke_k2, 0);  // nothing was pushed
  EXPECT_EQ(Run({"RPOPLPUSH", "src", "k2"}), "\"b\"");
  EXPECT_EQ(woke_k2, 1);
  Run({"SELECT", "1"});
  Run({"RPUSH", "dst", "other db"});
  EXPECT_EQ(woke_dst, 1);
  blocking.Remove(t1);
  blocking.Remove(t2);
  blocking.Remove(t3);
  EXPECT_EQ(blocking.waiters(), 0u);
}

TEST_F(ListCommandTest, BlockingTimeoutErrors) {
  EXPECT_EQ(Run({"BLPOP", "l", "x"}), "(error) ERR timeout is not a float or out of range");
  EXPECT_EQ(Run({"BRPOP", "l", "-1"}), "(error) ERR timeout is negative");
  EXPECT_EQ(Run({"BLMOVE", "l", "d", "LEFT", "LEFT", "-0.5"}), "(error) ERR timeout is negative");
  EXPECT_EQ(Run({"BLMOVE", "l", "d", "UP", "LEFT", "0"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"BLPOP", "l"}), "(error) ERR wrong number of arguments for 'blpop' command");
  Run({"SET", "s", "v"});
  EXPECT_EQ(Run({"BLPOP", "s", "0"}), kWrongType);
  EXPECT_EQ(Run({"BRPOP", "nol", "s", "0"}), kWrongType);
}

TEST_F(ListCommandTest, BLMoveMovesAvailableData) {
  Run({"RPUSH", "src", "a", "b"});
  EXPECT_EQ(Run({"BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"}), "\"b\"");
  EXPECT_EQ(Run({"BLMOVE", "src", "dst", "LEFT", "LEFT", "0.1"}), "\"a\"");
  EXPECT_EQ(All("dst"), "[\"a\", \"b\"]");
  EXPECT_EQ(Run({"EXISTS", "src"}), "(integer) 0");
  EXPECT_EQ(Run({"BLMOVE", "src", "dst", "LEFT", "LEFT", "0"}), "(nil)");
}

TEST_F(ListCommandTest, ListCommandsOnAStringAreWrongType) {
  Run({"SET", "s", "x"});
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"LPUSH", "s", "a"},
           {"RPUSH", "s", "a"},
           {"LPOP", "s"},
           {"RPOP", "s", "2"},
           {"LLEN", "s"},
           {"LINDEX", "s", "0"},
           {"LSET", "s", "0", "a"},
           {"LRANGE", "s", "0", "-1"},
           {"LTRIM", "s", "0", "1"},
           {"LREM", "s", "0", "a"},
           {"LINSERT", "s", "BEFORE", "a", "b"},
           {"LPOS", "s", "a"},
           {"LMOVE", "s", "d", "LEFT", "LEFT"},
           {"RPOPLPUSH", "s", "d"},
           {"BLMOVE", "s", "d", "LEFT", "LEFT", "0"},
       }) {
    EXPECT_EQ(Run(cmd), kWrongType) << cmd[0];
  }
  EXPECT_EQ(Run({"GET", "s"}), "\"x\"");
}

TEST_F(ListCommandTest, KeyspaceCommandsOnAList) {
  Run({"RPUSH", "l", "a", "b", "c"});
  EXPECT_EQ(Run({"TYPE", "l"}), "list");
  EXPECT_EQ(Run({"EXPIRE", "l", "100"}), "(integer) 1");
  EXPECT_EQ(Run({"RPUSH", "l", "d"}), "(integer) 4");
  EXPECT_EQ(Run({"LPOP", "l"}), "\"a\"");
  EXPECT_EQ(Run({"TTL", "l"}), "(integer) 100");
  EXPECT_EQ(Run({"RENAME", "l", "l2"}), "OK");
  EXPECT_EQ(Run({"EXISTS", "l"}), "(integer) 0");
  EXPECT_EQ(All("l2"), "[\"b\", \"c\", \"d\"]");
  EXPECT_EQ(Run({"TTL", "l2"}), "(integer) 100");
  // The renamed list keeps working at both ends.
  EXPECT_EQ(Run({"LPUSH", "l2", "a"}), "(integer) 4");
  EXPECT_EQ(Run({"RPUSH", "l2", "e"}), "(integer) 5");
  EXPECT_EQ(Run({"LINDEX", "l2", "-1"}), "\"e\"");
  EXPECT_EQ(All("l2"), "[\"a\", \"b\", \"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"MOVE", "l2", "3"}), "(integer) 1");
  EXPECT_EQ(Run({"EXISTS", "l2"}), "(integer) 0");
  Run({"SELECT", "3"});
  EXPECT_EQ(All("l2"), "[\"a\", \"b\", \"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"DEL", "l2"}), "(integer) 1");
  EXPECT_EQ(Run({"EXISTS", "l2"}), "(integer) 0");
  // A new list under the deleted one's name has only its own elements.
  EXPECT_EQ(Run({"RPUSH", "l2", "new"}), "(integer) 1");
  EXPECT_EQ(All("l2"), "[\"new\"]");
  EXPECT_EQ(Run({"LINDEX", "l2", "1"}), "(nil)");
  Run({"PEXPIRE", "l2", "1000"});
  CommandHarness::AdvanceClock(1500);
  EXPECT_EQ(Run({"EXISTS", "l2"}), "(integer) 0");
  EXPECT_EQ(Run({"LLEN", "l2"}), "(integer) 0");
  EXPECT_EQ(Run({"LPUSHX", "l2", "x"}), "(integer) 0");
  EXPECT_EQ(Run({"RPUSH", "l2", "again"}), "(integer) 1");
  EXPECT_EQ(All("l2"), "[\"again\"]");
}

TEST_F(ListCommandTest, ManyPushesAndPopsAtBothEnds) {
  for (int i = 0; i < 50; i++) {
    Run({"LPUSH", "l", "L" + std::to_string(i)});
    Run({"RPUSH", "l", "R" + std::to_string(i)});
  }
  EXPECT_EQ(Run({"LLEN", "l"}), "(integer) 100");
  EXPECT_EQ(Run({"LINDEX", "l", "0"}), "\"L49\"");
  EXPECT_EQ(Run({"LINDEX", "l", "49"}), "\"L0\"");
  EXPECT_EQ(Run({"LINDEX", "l", "50"}), "\"R0\"");
  EXPECT_EQ(Run({"LINDEX", "l", "-1"}), "\"R49\"");
  EXPECT_EQ(Run({"LRANGE", "l", "48", "51"}), "[\"L1\", \"L0\", \"R0\", \"R1\"]");
  for (int i = 0; i < 50; i++) {
    EXPECT_EQ(Run({"RPOP", "l"}), "\"R" + std::to_string(49 - i) + "\"");
  }
  EXPECT_EQ(Run({"RPOP", "l"}), "\"L0\"");
  EXPECT_EQ(Run({"LPOP", "l", "100"}).substr(0, 7), "[\"L49\",");
  EXPECT_EQ(Run({"EXISTS", "l"}), "(integer) 0");
}

}  // namespace
}  // namespace cairn::server
