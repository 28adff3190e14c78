// Sorted-set commands run in-process: replies and error strings as Redis 7 gives them
// (scores printed as Redis 7.0 prints them, %.17g), plus the keyspace commands (TYPE,
// DEL, EXPIRE, RENAME, MOVE) on a sorted set and the RESP3 reply shapes.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "server/command_test_util.h"

namespace cairn::server {
namespace {

constexpr char kWrongType[] =
    "(error) WRONGTYPE Operation against a key holding the wrong kind of value";
constexpr char kNotInteger[] = "(error) ERR value is not an integer or out of range";
constexpr char kNotFloat[] = "(error) ERR value is not a valid float";
constexpr char kMinMaxNotFloat[] = "(error) ERR min or max is not a float";
constexpr char kMinMaxNotLex[] = "(error) ERR min or max not valid string range item";

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

class ZSetCommandTest : public ::testing::Test {
 protected:
  std::string Run(const std::vector<std::string>& args, int client = 0) {
    return h_.Run(args, client);
  }
  // z: a 1, b 2, c 3, d 4, e 5.
  void FiveElements() { Run({"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"}); }
  // lex: members a..g, all with score 0 (lex ranges need equal scores).
  void LexElements() {
    Run({"ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", "f", "0", "g"});
  }
  CommandHarness h_;
};

TEST_F(ZSetCommandTest, ZAddAddsAndUpdates) {
  EXPECT_EQ(Run({"ZADD", "z", "1", "a", "2", "b"}), "(integer) 2");
  EXPECT_EQ(Run({"ZADD", "z", "3", "a", "4", "c"}), "(integer) 1");  // a updated, c added
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1", "WITHSCORES"}),
            "[\"b\", \"2\", \"a\", \"3\", \"c\", \"4\"]");
  // A member repeated in one call: counted once, the last score wins.
  EXPECT_EQ(Run({"ZADD", "r", "1", "m", "2", "m"}), "(integer) 1");
  EXPECT_EQ(Run({"ZSCORE", "r", "m"}), "\"2\"");
  EXPECT_EQ(Run({"ZCARD", "r"}), "(integer) 1");
  // Equal scores order by member bytes.
  Run({"ZADD", "eq", "1", "c", "1", "a", "1", "b", "0", "z"});
  EXPECT_EQ(Run({"ZRANGE", "eq", "0", "-1"}), "[\"z\", \"a\", \"b\", \"c\"]");
  // Infinities and negative scores sort where they belong.
  Run({"ZADD", "inf", "+inf", "top", "-inf", "bottom", "-2.5", "neg", "0", "zero"});
  EXPECT_EQ(Run({"ZRANGE", "inf", "0", "-1", "WITHSCORES"}),
            "[\"bottom\", \"-inf\", \"neg\", \"-2.5\", \"zero\", \"0\", \"top\", \"inf\"]");
}

TEST_F(ZSetCommandTest, ZAddOptions) {
  Run({"ZADD", "z", "10", "a"});
  // NX: only new members.
  EXPECT_EQ(Run({"ZADD", "z", "NX", "1", "a", "2", "b"}), "(integer) 1");
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), "\"10\"");
  // XX: only existing members, never adds.
  EXPECT_EQ(Run({"ZADD", "z", "XX", "11", "a", "3", "c"}), "(integer) 0");
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), "\"11\"");
  EXPECT_EQ(Run({"ZSCORE", "z", "c"}), "(nil)");
  // CH: changed members count too (an unchanged score is no change).
  EXPECT_EQ(Run({"ZADD", "z", "CH", "12", "a", "2", "b", "5", "d"}), "(integer) 2");
  EXPECT_EQ(Run({"ZADD", "z", "XX", "CH", "13", "a"}), "(integer) 1");
  // GT / LT: updates only in that direction; new members are still added.
  EXPECT_EQ(Run({"ZADD", "z", "GT", "CH", "1", "a", "20", "b", "7", "e"}), "(integer) 2");
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), "\"13\"");
  EXPECT_EQ(Run({"ZSCORE", "z", "b"}), "\"20\"");
  EXPECT_EQ(Run({"ZADD", "z", "LT", "CH", "1", "a", "30", "b"}), "(integer) 1");
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), "\"1\"");
  EXPECT_EQ(Run({"ZSCORE", "z", "b"}), "\"20\"");
  EXPECT_EQ(Run({"ZADD", "z", "XX", "GT", "100", "a", "1", "new"}), "(integer) 0");
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), "\"100\"");
  EXPECT_EQ(Run({"ZSCORE", "z", "new"}), "(nil)");
  // XX on a missing key creates nothing.
  EXPECT_EQ(Run({"ZADD", "none", "XX", "1", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"EXISTS", "none"}), "(integer) 0");
  EXPECT_EQ(Run({"ZADD", "z", "nx", "xx", "1", "a"}),
            "(error) ERR XX and NX options at the same time are not compatible");
  EXPECT_EQ(Run({"ZADD", "z", "GT", "LT", "1", "a"}),
            "(error) ERR GT, LT, and/or NX options at the same time are not compatible");
  EXPECT_EQ(Run({"ZADD", "z", "GT", "NX", "1", "a"}),
            "(error) ERR GT, LT, and/or NX options at the same time are not compatible");
  EXPECT_EQ(Run({"ZADD", "z", "LT", "NX", "1", "a"}),
            "(error) ERR GT, LT, and/or NX options at the same time are not compatible");
}

TEST_F(ZSetCommandTest, ZAddIncr) {
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "5", "a"}), "\"5\"");
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "-1.5", "a"}), "\"3.5\"");
  EXPECT_EQ(Run({"ZADD", "z", "NX", "INCR", "1", "a"}), "(nil)");
  EXPECT_EQ(Run({"ZADD", "z", "XX", "INCR", "1", "b"}), "(nil)");
  EXPECT_EQ(Run({"EXISTS", "b"}), "(integer) 0");
  EXPECT_EQ(Run({"ZADD", "z", "GT", "INCR", "-1", "a"}), "(nil)");  // would lower it
  EXPECT_EQ(Run({"ZADD", "z", "GT", "INCR", "1", "a"}), "\"4.5\"");
  EXPECT_EQ(Run({"ZADD", "z", "LT", "INCR", "1", "a"}), "(nil)");
  EXPECT_EQ(Run({"ZADD", "z", "XX", "INCR", "0.5", "a"}), "\"5\"");
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "1", "a", "2", "b"}),
            "(error) ERR INCR option supports a single increment-element pair");
  Run({"ZADD", "q", "1", "m"});
  EXPECT_EQ(Run({"ZADD", "q", "INCR", "-inf", "m"}), "\"-inf\"");
  EXPECT_EQ(Run({"ZADD", "q", "INCR", "inf", "m"}),
            "(error) ERR resulting score is not a number (NaN)");
  EXPECT_EQ(Run({"ZSCORE", "q", "m"}), "\"-inf\"");
}

TEST_F(ZSetCommandTest, ZAddErrors) {
  EXPECT_EQ(Run({"ZADD", "z", "1"}), "(error) ERR wrong number of arguments for 'zadd' command");
  EXPECT_EQ(Run({"ZADD", "z", "XX"}), "(error) ERR wrong number of arguments for 'zadd' command");
  EXPECT_EQ(Run({"ZADD", "z", "1", "a", "2"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZADD", "z", "NX", "CH"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZADD", "z", "x", "a"}), kNotFloat);
  EXPECT_EQ(Run({"ZADD", "z", "nan", "a"}), kNotFloat);
  EXPECT_EQ(Run({"ZADD", "z", "1", "a", "bad", "b"}), kNotFloat);
  EXPECT_EQ(Run({"EXISTS", "z"}), "(integer) 0");  // nothing applied
}

// Scores parse as Redis's string2d: a value that overflows to infinity or underflows to
// zero is not a valid float (the words "inf" and "-inf" are), a denormal one is.
TEST_F(ZSetCommandTest, ScoresThatOverflowOrUnderflowAreNotValidFloats) {
  EXPECT_EQ(Run({"ZADD", "z", "1", "b", "1e309", "c"}), kNotFloat);
  EXPECT_EQ(Run({"ZADD", "z", "-1e309", "c"}), kNotFloat);
  EXPECT_EQ(Run({"ZADD", "z", "1e-400", "c"}), kNotFloat);
  EXPECT_EQ(Run({"EXISTS", "z"}), "(integer) 0");
  EXPECT_EQ(Run({"ZADD", "z", "4e-320", "a", "1", "b"}), "(integer) 2");
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), "\"3.999955468730732e-320\"");
  EXPECT_EQ(Run({"ZINCRBY", "z", "1e400", "b"}), kNotFloat);
  EXPECT_EQ(Run({"ZINCRBY", "z", "-1e-400", "b"}), kNotFloat);
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "1e309", "b"}), kNotFloat);
  EXPECT_EQ(Run({"ZSCORE", "z", "b"}), "\"1\"");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "z", "WEIGHTS", "1e400"}),
            "(error) ERR weight value is not a float");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "z", "WEIGHTS", "1e-400"}),
            "(error) ERR weight value is not a float");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "z", "WEIGHTS", "4e-320"}), "(integer) 2");
  EXPECT_EQ(Run({"ZADD", "z", "inf", "i", "-INF", "j", "+Infinity", "k"}), "(integer) 3");
  EXPECT_EQ(Run({"ZSCORE", "z", "k"}), "\"inf\"");
}

// Range bounds are read as Redis's zslParseRange reads them: strtod over what follows an
// optional '(', so leading spaces are skipped, an empty bound is 0 and a huge one is an
// infinity; only trailing characters and NaN are refused.
TEST_F(ZSetCommandTest, ScoreRangeBoundsParseAsRedisDoes) {
  Run({"ZADD", "r", "0", "zero", "1", "one", "2", "two"});
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "r", "", "1"}), "[\"zero\", \"one\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "r", "(", "1"}), "[\"one\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "r", " 1", "2"}), "[\"one\", \"two\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "r", "(  0", "2"}), "[\"one\", \"two\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "r", "-1e400", "(1e400"}), "[\"zero\", \"one\", \"two\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "r", "1e400", "+inf"}), "[]");
  EXPECT_EQ(Run({"ZCOUNT", "r", "", ""}), "(integer) 1");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "r", "0 ", "1"}), kMinMaxNotFloat);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "r", "1x", "2"}), kMinMaxNotFloat);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "r", "(nan", "2"}), kMinMaxNotFloat);
}

TEST_F(ZSetCommandTest, ZRemAndTheEmptySortedSetVanishes) {
  FiveElements();
  EXPECT_EQ(Run({"ZREM", "z", "a", "a", "x"}), "(integer) 1");
  EXPECT_EQ(Run({"ZREM", "z", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"ZREM", "noz", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"ZCARD", "z"}), "(integer) 4");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf"}), "[\"b\", \"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"ZREM", "z", "b", "c", "d", "e"}), "(integer) 4");
  EXPECT_EQ(Run({"EXISTS", "z"}), "(integer) 0");
  EXPECT_EQ(Run({"ZCARD", "z"}), "(integer) 0");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}), "[]");
}

TEST_F(ZSetCommandTest, ZScoreZMScoreZCard) {
  Run({"ZADD", "z", "1.5", "a", "0.1", "b", "0", "c", "1e100", "d"});
  EXPECT_EQ(Run({"ZSCORE", "z", "c"}), "\"0\"");
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), "\"1.5\"");
  EXPECT_EQ(Run({"ZSCORE", "z", "b"}), "\"0.10000000000000001\"");
  EXPECT_EQ(Run({"ZSCORE", "z", "d"}), "\"1e+100\"");
  EXPECT_EQ(Run({"ZSCORE", "z", "x"}), "(nil)");
  EXPECT_EQ(Run({"ZSCORE", "noz", "a"}), "(nil)");
  EXPECT_EQ(Run({"ZMSCORE", "z", "a", "x", "b"}), "[\"1.5\", (nil), \"0.10000000000000001\"]");
  EXPECT_EQ(Run({"ZMSCORE", "noz", "a", "b"}), "[(nil), (nil)]");
  EXPECT_EQ(Run({"ZMSCORE", "z"}), "(error) ERR wrong number of arguments for 'zmscore' command");
  EXPECT_EQ(Run({"ZCARD", "z"}), "(integer) 4");
  EXPECT_EQ(Run({"ZCARD", "noz"}), "(integer) 0");
}

TEST_F(ZSetCommandTest, ZIncrBy) {
  EXPECT_EQ(Run({"ZINCRBY", "z", "2", "a"}), "\"2\"");
  EXPECT_EQ(Run({"ZINCRBY", "z", "-0.5", "a"}), "\"1.5\"");
  EXPECT_EQ(Run({"ZINCRBY", "z", "1", "b"}), "\"1\"");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}), "[\"b\", \"a\"]");  // re-sorted by the new score
  EXPECT_EQ(Run({"ZCARD", "z"}), "(integer) 2");
  EXPECT_EQ(Run({"ZINCRBY", "z", "0.1", "b"}), "\"1.1000000000000001\"");
  EXPECT_EQ(Run({"ZINCRBY", "z", "x", "a"}), kNotFloat);
  EXPECT_EQ(Run({"ZINCRBY", "z", "nan", "a"}), kNotFloat);
  EXPECT_EQ(Run({"ZINCRBY", "z", "inf", "a"}), "\"inf\"");
  EXPECT_EQ(Run({"ZINCRBY", "z", "-inf", "a"}),
            "(error) ERR resulting score is not a number (NaN)");
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), "\"inf\"");
  EXPECT_EQ(Run({"ZRANGE", "z", "-1", "-1"}), "[\"a\"]");
}

TEST_F(ZSetCommandTest, ZCountWithExclusiveBoundsAndInfinities) {
  FiveElements();
  EXPECT_EQ(Run({"ZCOUNT", "z", "-inf", "+inf"}), "(integer) 5");
  EXPECT_EQ(Run({"ZCOUNT", "z", "-inf", "inf"}), "(integer) 5");
  EXPECT_EQ(Run({"ZCOUNT", "z", "2", "4"}), "(integer) 3");
  EXPECT_EQ(Run({"ZCOUNT", "z", "(2", "4"}), "(integer) 2");
  EXPECT_EQ(Run({"ZCOUNT", "z", "2", "(4"}), "(integer) 2");
  EXPECT_EQ(Run({"ZCOUNT", "z", "(2", "(4"}), "(integer) 1");
  EXPECT_EQ(Run({"ZCOUNT", "z", "(1", "(2"}), "(integer) 0");
  EXPECT_EQ(Run({"ZCOUNT", "z", "3", "3"}), "(integer) 1");
  EXPECT_EQ(Run({"ZCOUNT", "z", "(3", "3"}), "(integer) 0");
  EXPECT_EQ(Run({"ZCOUNT", "z", "4", "2"}), "(integer) 0");
  EXPECT_EQ(Run({"ZCOUNT", "z", "(-inf", "(+inf"}), "(integer) 5");
  EXPECT_EQ(Run({"ZCOUNT", "z", "2.5", "+inf"}), "(integer) 3");
  EXPECT_EQ(Run({"ZCOUNT", "noz", "-inf", "+inf"}), "(integer) 0");
  EXPECT_EQ(Run({"ZCOUNT", "z", "x", "1"}), kMinMaxNotFloat);
  EXPECT_EQ(Run({"ZCOUNT", "z", "1", "[2"}), kMinMaxNotFloat);
  EXPECT_EQ(Run({"ZCOUNT", "z", "nan", "1"}), kMinMaxNotFloat);
  EXPECT_EQ(Run({"ZCOUNT", "z", "((1", "2"}), kMinMaxNotFloat);
}

TEST_F(ZSetCommandTest, ZLexCount) {
  LexElements();
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "-", "+"}), "(integer) 7");
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "[b", "[d"}), "(integer) 3");
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "(b", "[d"}), "(integer) 2");
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "(b", "(d"}), "(integer) 1");
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "-", "(c"}), "(integer) 2");
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "[e", "+"}), "(integer) 3");
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "[bb", "[dd"}), "(integer) 2");  // c, d
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "+", "-"}), "(integer) 0");
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "[d", "[b"}), "(integer) 0");
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "[", "+"}), "(integer) 7");  // "[": from the empty string
  EXPECT_EQ(Run({"ZLEXCOUNT", "noz", "-", "+"}), "(integer) 0");
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "b", "[d"}), kMinMaxNotLex);
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "[b", "d"}), kMinMaxNotLex);
  EXPECT_EQ(Run({"ZLEXCOUNT", "lex", "", "+"}), kMinMaxNotLex);
}

TEST_F(ZSetCommandTest, ZRangeByRankWithNegativeIndexes) {
  FiveElements();
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}), "[\"a\", \"b\", \"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "1", "2"}), "[\"b\", \"c\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "-2", "-1"}), "[\"d\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "-100", "0"}), "[\"a\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "3", "100"}), "[\"d\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "3", "1"}), "[]");
  EXPECT_EQ(Run({"ZRANGE", "z", "5", "10"}), "[]");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-6"}), "[]");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "1", "WITHSCORES"}), "[\"a\", \"1\", \"b\", \"2\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "1", "REV"}), "[\"e\", \"d\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "-1", "-1", "REV", "WITHSCORES"}), "[\"a\", \"1\"]");
  EXPECT_EQ(Run({"ZRANGE", "noz", "0", "-1"}), "[]");
  EXPECT_EQ(Run({"ZRANGE", "z", "a", "1"}), kNotInteger);
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "1", "FOO"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1", "LIMIT", "1", "2"}),
            "(error) ERR syntax error, LIMIT is only supported in combination with either "
            "BYSCORE or BYLEX");
}

TEST_F(ZSetCommandTest, ZRangeByScoreOption) {
  FiveElements();
  EXPECT_EQ(Run({"ZRANGE", "z", "2", "4", "BYSCORE"}), "[\"b\", \"c\", \"d\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "(2", "+inf", "BYSCORE"}), "[\"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "-inf", "(2", "BYSCORE", "WITHSCORES"}), "[\"a\", \"1\"]");
  // REV takes the bounds as max then min.
  EXPECT_EQ(Run({"ZRANGE", "z", "+inf", "(3", "BYSCORE", "REV"}), "[\"e\", \"d\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "(3", "+inf", "BYSCORE", "REV"}), "[]");
  EXPECT_EQ(Run({"ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2"}),
            "[\"b\", \"c\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2",
                 "WITHSCORES"}),
            "[\"d\", \"4\", \"c\", \"3\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "-1"}),
            "[\"b\", \"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "2"}), "[]");
  EXPECT_EQ(Run({"ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "10", "2"}), "[]");
  EXPECT_EQ(Run({"ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "0", "0"}), "[]");
  EXPECT_EQ(Run({"ZRANGE", "z", "x", "1", "BYSCORE"}), kMinMaxNotFloat);
  EXPECT_EQ(Run({"ZRANGE", "z", "1", "2", "BYSCORE", "LIMIT", "1"}), "(error) ERR syntax error");
}

// ZRANGE takes each of REV, BYSCORE and BYLEX at most once, and not BYSCORE with BYLEX.
TEST_F(ZSetCommandTest, ZRangeOptionsGivenTwiceAreSyntaxErrors) {
  Run({"ZADD", "r", "0", "zero", "1", "one", "2", "two"});
  EXPECT_EQ(Run({"ZRANGE", "r", "0", "1", "REV", "REV"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZRANGE", "r", "0", "1", "BYSCORE", "BYSCORE"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZRANGE", "r", "0", "1", "BYLEX", "BYSCORE"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZRANGE", "r", "0", "1", "BYSCORE", "BYLEX"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZRANGE", "r", "0", "1", "WITHSCORES", "WITHSCORES"}),
            "[\"zero\", \"0\", \"one\", \"1\"]");
  EXPECT_EQ(Run({"ZRANGE", "r", "2", "(1", "BYSCORE", "REV"}), "[\"two\"]");
}

TEST_F(ZSetCommandTest, ZRangeByLexOption) {
  LexElements();
  EXPECT_EQ(Run({"ZRANGE", "lex", "[b", "(e", "BYLEX"}), "[\"b\", \"c\", \"d\"]");
  EXPECT_EQ(Run({"ZRANGE", "lex", "-", "(c", "BYLEX"}), "[\"a\", \"b\"]");
  EXPECT_EQ(Run({"ZRANGE", "lex", "+", "[e", "BYLEX", "REV"}), "[\"g\", \"f\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGE", "lex", "-", "+", "BYLEX", "LIMIT", "2", "3"}),
            "[\"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGE", "lex", "+", "-", "BYLEX", "REV", "LIMIT", "0", "2"}),
            "[\"g\", \"f\"]");
  EXPECT_EQ(Run({"ZRANGE", "lex", "-", "+", "BYLEX", "WITHSCORES"}),
            "(error) ERR syntax error, WITHSCORES not supported in combination with BYLEX");
  EXPECT_EQ(Run({"ZRANGE", "lex", "a", "+", "BYLEX"}), kMinMaxNotLex);
}

TEST_F(ZSetCommandTest, ZRangeByScoreAndZRevRangeByScore) {
  FiveElements();
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf"}), "[\"a\", \"b\", \"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "(1", "(3"}), "[\"b\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "(1", "(+inf"}), "[\"b\", \"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "(-inf", "2"}), "[\"a\", \"b\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "(3", "(3"}), "[]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "5", "1"}), "[]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "2", "3", "WITHSCORES"}), "[\"b\", \"2\", \"c\", \"3\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "2"}), "[\"b\", \"c\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES", "LIMIT", "4", "10"}),
            "[\"e\", \"5\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "-1"}),
            "[\"b\", \"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2"}), "[]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "noz", "-inf", "+inf"}), "[]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "1", "x"}), kMinMaxNotFloat);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "1", "2", "FOO"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "1"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "x", "1"}), kNotInteger);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "1", "2", "BYSCORE"}), "(error) ERR syntax error");
  // Reversed: max first.
  EXPECT_EQ(Run({"ZREVRANGEBYSCORE", "z", "+inf", "-inf"}),
            "[\"e\", \"d\", \"c\", \"b\", \"a\"]");
  EXPECT_EQ(Run({"ZREVRANGEBYSCORE", "z", "(4", "(1"}), "[\"c\", \"b\"]");
  EXPECT_EQ(Run({"ZREVRANGEBYSCORE", "z", "4", "2", "WITHSCORES", "LIMIT", "1", "1"}),
            "[\"c\", \"3\"]");
  EXPECT_EQ(Run({"ZREVRANGEBYSCORE", "z", "1", "4"}), "[]");
  EXPECT_EQ(Run({"ZREVRANGEBYSCORE", "z", "(x", "1"}), kMinMaxNotFloat);
}

TEST_F(ZSetCommandTest, ZRangeByLexAndZRevRangeByLex) {
  LexElements();
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "-", "+"}),
            "[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\"]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "[c", "[e"}), "[\"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "(c", "(e"}), "[\"d\"]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "(c", "+"}), "[\"d\", \"e\", \"f\", \"g\"]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "-", "[a"}), "[\"a\"]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "-", "(a"}), "[]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "+", "-"}), "[]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "[e", "[c"}), "[]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "[aa", "(c"}), "[\"b\"]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "1", "2"}), "[\"b\", \"c\"]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "5", "-1"}), "[\"f\", \"g\"]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "-1", "1"}), "[]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "noz", "-", "+"}), "[]");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "a", "+"}), kMinMaxNotLex);
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "-", "z"}), kMinMaxNotLex);
  // Reversed: max first.
  EXPECT_EQ(Run({"ZREVRANGEBYLEX", "lex", "+", "-"}),
            "[\"g\", \"f\", \"e\", \"d\", \"c\", \"b\", \"a\"]");
  EXPECT_EQ(Run({"ZREVRANGEBYLEX", "lex", "[e", "(b"}), "[\"e\", \"d\", \"c\"]");
  EXPECT_EQ(Run({"ZREVRANGEBYLEX", "lex", "+", "[f", "LIMIT", "0", "1"}), "[\"g\"]");
  EXPECT_EQ(Run({"ZREVRANGEBYLEX", "lex", "-", "+"}), "[]");
  EXPECT_EQ(Run({"ZREVRANGEBYLEX", "lex", "+", "x"}), kMinMaxNotLex);
}

// ZRANGEBYLEX and ZREVRANGEBYLEX take no WITHSCORES; Redis says so rather than answer a
// bare syntax error.
TEST_F(ZSetCommandTest, ByLexWithScoresGetsTheBylexError) {
  LexElements();
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "-", "+", "WITHSCORES"}),
            "(error) ERR syntax error, WITHSCORES not supported in combination with BYLEX");
  EXPECT_EQ(Run({"ZREVRANGEBYLEX", "lex", "+", "-", "WITHSCORES"}),
            "(error) ERR syntax error, WITHSCORES not supported in combination with BYLEX");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "0", "1", "WITHSCORES"}),
            "(error) ERR syntax error, WITHSCORES not supported in combination with BYLEX");
  EXPECT_EQ(Run({"ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "0", "1"}), "[\"a\"]");
}

TEST_F(ZSetCommandTest, ZRevRange) {
  FiveElements();
  EXPECT_EQ(Run({"ZREVRANGE", "z", "0", "-1"}), "[\"e\", \"d\", \"c\", \"b\", \"a\"]");
  EXPECT_EQ(Run({"ZREVRANGE", "z", "0", "1", "WITHSCORES"}), "[\"e\", \"5\", \"d\", \"4\"]");
  EXPECT_EQ(Run({"ZREVRANGE", "z", "-2", "-1"}), "[\"b\", \"a\"]");
  EXPECT_EQ(Run({"ZREVRANGE", "z", "2", "1"}), "[]");
  EXPECT_EQ(Run({"ZREVRANGE", "noz", "0", "-1"}), "[]");
  EXPECT_EQ(Run({"ZREVRANGE", "z", "0", "1", "FOO"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZREVRANGE", "z", "0", "1", "WITHSCORES", "X"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZREVRANGE", "z", "x", "1"}), kNotInteger);
}

TEST_F(ZSetCommandTest, ZRankAndZRevRank) {
  FiveElements();
  Run({"ZADD", "z", "3", "cc"});  // ties order by member: c, cc
  EXPECT_EQ(Run({"ZRANK", "z", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"ZRANK", "z", "cc"}), "(integer) 3");
  EXPECT_EQ(Run({"ZRANK", "z", "e"}), "(integer) 5");
  EXPECT_EQ(Run({"ZREVRANK", "z", "e"}), "(integer) 0");
  EXPECT_EQ(Run({"ZREVRANK", "z", "c"}), "(integer) 3");
  EXPECT_EQ(Run({"ZREVRANK", "z", "a"}), "(integer) 5");
  EXPECT_EQ(Run({"ZRANK", "z", "x"}), "(nil)");
  EXPECT_EQ(Run({"ZREVRANK", "z", "x"}), "(nil)");
  EXPECT_EQ(Run({"ZRANK", "noz", "a"}), "(nil)");
  EXPECT_EQ(Run({"ZREVRANK", "noz", "a"}), "(nil)");
}

TEST_F(ZSetCommandTest, ZRemRangeByScore) {
  FiveElements();
  EXPECT_EQ(Run({"ZREMRANGEBYSCORE", "z", "(1", "3"}), "(integer) 2");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}), "[\"a\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"ZREMRANGEBYSCORE", "z", "(5", "+inf"}), "(integer) 0");
  EXPECT_EQ(Run({"ZREMRANGEBYSCORE", "z", "10", "1"}), "(integer) 0");
  EXPECT_EQ(Run({"ZREMRANGEBYSCORE", "noz", "-inf", "+inf"}), "(integer) 0");
  EXPECT_EQ(Run({"ZREMRANGEBYSCORE", "z", "x", "1"}), kMinMaxNotFloat);
  EXPECT_EQ(Run({"ZREMRANGEBYSCORE", "z", "-inf", "+inf"}), "(integer) 3");
  EXPECT_EQ(Run({"EXISTS", "z"}), "(integer) 0");
}

TEST_F(ZSetCommandTest, ZRemRangeByRankWithNegativeIndexes) {
  FiveElements();
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "z", "-2", "-1"}), "(integer) 2");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}), "[\"a\", \"b\", \"c\"]");
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "z", "1", "1"}), "(integer) 1");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}), "[\"a\", \"c\"]");
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "z", "5", "10"}), "(integer) 0");
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "z", "1", "0"}), "(integer) 0");
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "noz", "0", "-1"}), "(integer) 0");
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "z", "x", "1"}), kNotInteger);
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "z", "0", "-1"}), "(integer) 2");
  EXPECT_EQ(Run({"EXISTS", "z"}), "(integer) 0");
}

TEST_F(ZSetCommandTest, ZRemRangeByLex) {
  LexElements();
  EXPECT_EQ(Run({"ZREMRANGEBYLEX", "lex", "[b", "(d"}), "(integer) 2");
  EXPECT_EQ(Run({"ZRANGE", "lex", "0", "-1"}), "[\"a\", \"d\", \"e\", \"f\", \"g\"]");
  EXPECT_EQ(Run({"ZREMRANGEBYLEX", "lex", "(f", "+"}), "(integer) 1");
  EXPECT_EQ(Run({"ZREMRANGEBYLEX", "lex", "+", "-"}), "(integer) 0");
  EXPECT_EQ(Run({"ZREMRANGEBYLEX", "noz", "-", "+"}), "(integer) 0");
  EXPECT_EQ(Run({"ZREMRANGEBYLEX", "lex", "b", "+"}), kMinMaxNotLex);
  EXPECT_EQ(Run({"ZREMRANGEBYLEX", "lex", "-", "+"}), "(integer) 4");
  EXPECT_EQ(Run({"EXISTS", "lex"}), "(integer) 0");
}

TEST_F(ZSetCommandTest, ZPopMinAndZPopMax) {
  FiveElements();
  EXPECT_EQ(Run({"ZPOPMIN", "z"}), "[\"a\", \"1\"]");
  EXPECT_EQ(Run({"ZPOPMAX", "z"}), "[\"e\", \"5\"]");
  EXPECT_EQ(Run({"ZPOPMIN", "z", "2"}), "[\"b\", \"2\", \"c\", \"3\"]");
  EXPECT_EQ(Run({"ZPOPMIN", "z", "0"}), "[]");
  EXPECT_EQ(Run({"ZPOPMAX", "z", "10"}), "[\"d\", \"4\"]");
  EXPECT_EQ(Run({"EXISTS", "z"}), "(integer) 0");
  EXPECT_EQ(Run({"ZPOPMIN", "z"}), "[]");
  EXPECT_EQ(Run({"ZPOPMAX", "z", "2"}), "[]");
  FiveElements();
  EXPECT_EQ(Run({"ZPOPMAX", "z", "2"}), "[\"e\", \"5\", \"d\", \"4\"]");
  EXPECT_EQ(Run({"ZPOPMIN", "z", "-1"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"ZPOPMIN", "z", "1", "2"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZCARD", "z"}), "(integer) 3");
}

// As LPOP and SPOP: one error for any count that is not a non-negative integer.
TEST_F(ZSetCommandTest, ZPopCountThatIsNotANumberIsOutOfRange) {
  FiveElements();
  EXPECT_EQ(Run({"ZPOPMIN", "z", "x"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"ZPOPMAX", "z", "1.5"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"ZPOPMIN", "noz", "-0"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"ZCARD", "z"}), "(integer) 5");
}

TEST_F(ZSetCommandTest, ZRandMember) {
  EXPECT_EQ(Run({"ZRANDMEMBER", "noz"}), "(nil)");
  EXPECT_EQ(Run({"ZRANDMEMBER", "noz", "2"}), "[]");
  EXPECT_EQ(Run({"ZRANDMEMBER", "noz", "-2", "WITHSCORES"}), "[]");
  Run({"ZADD", "z", "1", "a", "2", "b", "3", "c"});
  const std::set<std::string> all = {"a", "b", "c"};
  const std::vector<std::string> one = Quoted(Run({"ZRANDMEMBER", "z"}));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_TRUE(all.count(one[0]));
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "0"}), "[]");
  const std::vector<std::string> two = Quoted(Run({"ZRANDMEMBER", "z", "2"}));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_NE(two[0], two[1]);
  const std::vector<std::string> every = Quoted(Run({"ZRANDMEMBER", "z", "5"}));
  EXPECT_EQ(std::set<std::string>(every.begin(), every.end()), all);
  EXPECT_EQ(every.size(), 3u);
  const std::vector<std::string> rep = Quoted(Run({"ZRANDMEMBER", "z", "-7", "WITHSCORES"}));
  ASSERT_EQ(rep.size(), 14u);
  for (size_t i = 0; i < rep.size(); i += 2) {
    ASSERT_TRUE(all.count(rep[i])) << rep[i];
    EXPECT_EQ(rep[i + 1], std::string(1, static_cast<char>('1' + (rep[i][0] - 'a'))));
  }
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "x"}), kNotInteger);
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "1", "FOO"}), "(error) ERR syntax error");
}

// Past LONG_MAX/2 Redis refuses a WITHSCORES count (the reply length would overflow);
// a plain positive count that large just means "all of them".
TEST_F(ZSetCommandTest, ZRandMemberHugeCounts) {
  Run({"ZADD", "z", "1", "a", "2", "b", "3", "c"});
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES"}),
            "(error) ERR value is out of range");
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "-4611686018427387904", "WITHSCORES"}),
            "(error) ERR value is out of range");
  const std::vector<std::string> huge = Quoted(Run({"ZRANDMEMBER", "z", "9223372036854775807"}));
  EXPECT_EQ(std::set<std::string>(huge.begin(), huge.end()),
            (std::set<std::string>{"a", "b", "c"}));
  EXPECT_EQ(Run({"ZCARD", "z"}), "(integer) 3");
}

TEST_F(ZSetCommandTest, ZUnionStoreAndZInterStore) {
  Run({"ZADD", "z1", "1", "a", "2", "b", "3", "c"});
  Run({"ZADD", "z2", "10", "b", "20", "c", "30", "d"});
  EXPECT_EQ(Run({"ZUNIONSTORE", "out", "2", "z1", "z2"}), "(integer) 4");
  EXPECT_EQ(Run({"ZRANGE", "out", "0", "-1", "WITHSCORES"}),
            "[\"a\", \"1\", \"b\", \"12\", \"c\", \"23\", \"d\", \"30\"]");
  EXPECT_EQ(Run({"ZINTERSTORE", "out", "2", "z1", "z2"}), "(integer) 2");
  EXPECT_EQ(Run({"ZRANGE", "out", "0", "-1", "WITHSCORES"}),
            "[\"b\", \"12\", \"c\", \"23\"]");  // none of the old members
  EXPECT_EQ(Run({"ZUNIONSTORE", "out", "2", "z1", "z2", "WEIGHTS", "2", "0.5"}), "(integer) 4");
  EXPECT_EQ(Run({"ZRANGE", "out", "0", "-1", "WITHSCORES"}),
            "[\"a\", \"2\", \"b\", \"9\", \"d\", \"15\", \"c\", \"16\"]");
  EXPECT_EQ(Run({"ZINTERSTORE", "out", "2", "z1", "z2", "AGGREGATE", "MIN"}), "(integer) 2");
  EXPECT_EQ(Run({"ZRANGE", "out", "0", "-1", "WITHSCORES"}), "[\"b\", \"2\", \"c\", \"3\"]");
  EXPECT_EQ(Run({"ZUNIONSTORE", "out", "2", "z1", "z2", "aggregate", "max"}), "(integer) 4");
  EXPECT_EQ(Run({"ZSCORE", "out", "b"}), "\"10\"");
  // Plain sets count as sorted sets with every score 1.
  Run({"SADD", "s", "a", "d", "x"});
  EXPECT_EQ(Run({"ZUNIONSTORE", "out", "2", "z1", "s"}), "(integer) 5");
  EXPECT_EQ(Run({"ZRANGE", "out", "0", "-1", "WITHSCORES"}),
            "[\"d\", \"1\", \"x\", \"1\", \"a\", \"2\", \"b\", \"2\", \"c\", \"3\"]");
  EXPECT_EQ(Run({"ZINTERSTORE", "out", "2", "s", "z2", "WEIGHTS", "5", "1"}), "(integer) 1");
  EXPECT_EQ(Run({"ZRANGE", "out", "0", "-1", "WITHSCORES"}), "[\"d\", \"35\"]");
  // The destination may be a source; a missing source is empty.
  EXPECT_EQ(Run({"ZUNIONSTORE", "z1", "2", "z1", "nokey"}), "(integer) 3");
  EXPECT_EQ(Run({"ZRANGE", "z1", "0", "-1", "WITHSCORES"}),
            "[\"a\", \"1\", \"b\", \"2\", \"c\", \"3\"]");
  // An empty result deletes the destination.
  EXPECT_EQ(Run({"ZINTERSTORE", "out", "2", "z1", "nokey"}), "(integer) 0");
  EXPECT_EQ(Run({"EXISTS", "out"}), "(integer) 0");
  // inf + -inf sums to 0, as in Redis.
  Run({"ZADD", "p", "inf", "m"});
  Run({"ZADD", "n", "-inf", "m"});
  EXPECT_EQ(Run({"ZUNIONSTORE", "out", "2", "p", "n"}), "(integer) 1");
  EXPECT_EQ(Run({"ZSCORE", "out", "m"}), "\"0\"");
  // Over a string destination: replaced.
  Run({"SET", "str", "v"});
  EXPECT_EQ(Run({"ZUNIONSTORE", "str", "1", "z2"}), "(integer) 3");
  EXPECT_EQ(Run({"TYPE", "str"}), "zset");
}

TEST_F(ZSetCommandTest, ZUnionStoreAndZInterStoreErrors) {
  Run({"ZADD", "z", "1", "a"});
  Run({"SET", "str", "v"});
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "0", "z"}),
            "(error) ERR at least 1 input key is needed for 'zunionstore' command");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "-1", "z"}),
            "(error) ERR at least 1 input key is needed for 'zunionstore' command");
  EXPECT_EQ(Run({"ZINTERSTORE", "d", "0", "z"}),
            "(error) ERR at least 1 input key is needed for 'zinterstore' command");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "x", "z"}), kNotInteger);
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "2", "z"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "z", "WEIGHTS"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "z", "WEIGHTS", "x"}),
            "(error) ERR weight value is not a float");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "z", "AGGREGATE", "FOO"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "z", "FOO"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "2", "z", "str"}), kWrongType);
  EXPECT_EQ(Run({"ZINTERSTORE", "d", "2", "str", "z"}), kWrongType);
  EXPECT_EQ(Run({"EXISTS", "d"}), "(integer) 0");
}

TEST_F(ZSetCommandTest, ZScanVisitsEveryMemberOnceWithItsScore) {
  for (int i = 0; i < 60; i++) {
    Run({"ZADD", "z", std::to_string(i), "m" + std::to_string(100 + i)});
  }
  Run({"ZADD", "z", "1.5", "other"});
  std::map<std::string, std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    const std::vector<std::string> q =
        Quoted(Run({"ZSCAN", "z", cursor, "MATCH", "m*", "COUNT", "9"}));
    ASSERT_FALSE(q.empty());
    cursor = q[0];
    ASSERT_EQ(q.size() % 2, 1u);
    for (size_t i = 1; i < q.size(); i += 2) {
      EXPECT_TRUE(seen.emplace(q[i], q[i + 1]).second) << q[i];
    }
    calls++;
  } while (cursor != "0" && calls < 1000);
  EXPECT_EQ(seen.size(), 60u);
  EXPECT_EQ(seen["m142"], "42");
  EXPECT_EQ(Run({"ZSCAN", "z", "0", "MATCH", "oth*", "COUNT", "1000"}),
            "[\"0\", [\"other\", \"1.5\"]]");
  EXPECT_EQ(Run({"ZSCAN", "noz", "0"}), "[\"0\", []]");
  EXPECT_EQ(Run({"ZSCAN", "z", "x"}), "(error) ERR invalid cursor");
  EXPECT_EQ(Run({"ZSCAN", "z", "0", "COUNT", "0"}), "(error) ERR syntax error");
}

TEST_F(ZSetCommandTest, ZSetCommandsOnAStringAreWrongType) {
  Run({"SET", "s", "x"});
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"ZADD", "s", "1", "a"},
           {"ZREM", "s", "a"},
           {"ZSCORE", "s", "a"},
           {"ZMSCORE", "s", "a"},
           {"ZINCRBY", "s", "1", "a"},
           {"ZCARD", "s"},
           {"ZCOUNT", "s", "-inf", "+inf"},
           {"ZLEXCOUNT", "s", "-", "+"},
           {"ZRANGE", "s", "0", "-1"},
           {"ZRANGEBYSCORE", "s", "-inf", "+inf"},
           {"ZREVRANGEBYSCORE", "s", "+inf", "-inf"},
           {"ZRANGEBYLEX", "s", "-", "+"},
           {"ZREVRANGEBYLEX", "s", "+", "-"},
           {"ZREVRANGE", "s", "0", "-1"},
           {"ZRANK", "s", "a"},
           {"ZREVRANK", "s", "a"},
           {"ZREMRANGEBYSCORE", "s", "-inf", "+inf"},
           {"ZREMRANGEBYRANK", "s", "0", "-1"},
           {"ZREMRANGEBYLEX", "s", "-", "+"},
           {"ZPOPMIN", "s"},
           {"ZPOPMAX", "s"},
           {"ZRANDMEMBER", "s"},
           {"ZSCAN", "s", "0"},
       }) {
    EXPECT_EQ(Run(cmd), kWrongType) << cmd[0];
  }
  Run({"SADD", "set", "a"});
  EXPECT_EQ(Run({"ZADD", "set", "1", "a"}), kWrongType);
  EXPECT_EQ(Run({"ZRANGE", "set", "0", "-1"}), kWrongType);
}

TEST_F(ZSetCommandTest, Resp3Shapes) {
  FiveElements();
  Run({"HELLO", "3"});
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "1", "WITHSCORES"}),
            "[[\"a\", (double) 1], [\"b\", (double) 2]]");
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "1"}), "[\"a\", \"b\"]");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "(4", "+inf", "WITHSCORES"}), "[[\"e\", (double) 5]]");
  EXPECT_EQ(Run({"ZREVRANGE", "z", "0", "0", "WITHSCORES"}), "[[\"e\", (double) 5]]");
  EXPECT_EQ(Run({"ZSCORE", "z", "c"}), "(double) 3");
  EXPECT_EQ(Run({"ZSCORE", "z", "x"}), "(nil)");
  EXPECT_EQ(Run({"ZMSCORE", "z", "a", "x"}), "[(double) 1, (nil)]");
  EXPECT_EQ(Run({"ZINCRBY", "z", "0.5", "a"}), "(double) 1.5");
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "0.5", "a"}), "(double) 2");
  EXPECT_EQ(Run({"ZADD", "z", "NX", "INCR", "1", "a"}), "(nil)");
  // ZPOPMIN: one pair without a count, an array of pairs with one.
  EXPECT_EQ(Run({"ZPOPMIN", "z"}), "[\"a\", (double) 2]");  // a and b tie: by member
  EXPECT_EQ(Run({"ZPOPMIN", "z", "1"}), "[[\"b\", (double) 2]]");
  EXPECT_EQ(Run({"ZPOPMAX", "z", "2"}), "[[\"e\", (double) 5], [\"d\", (double) 4]]");
  EXPECT_EQ(Run({"ZPOPMAX", "noz"}), "[]");
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "1", "WITHSCORES"}), "[[\"c\", (double) 3]]");
  EXPECT_EQ(Run({"ZSCAN", "z", "0"}), "[\"0\", [\"c\", \"3\"]]");
  Run({"ZADD", "inf", "-inf", "m"});
  EXPECT_EQ(Run({"ZSCORE", "inf", "m"}), "(double) -inf");
}

TEST_F(ZSetCommandTest, KeyspaceCommandsOnASortedSet) {
  FiveElements();
  EXPECT_EQ(Run({"TYPE", "z"}), "zset");
  EXPECT_EQ(Run({"EXPIRE", "z", "70"}), "(integer) 1");
  EXPECT_EQ(Run({"ZADD", "z", "6", "f"}), "(integer) 1");
  EXPECT_EQ(Run({"ZREM", "z", "a"}), "(integer) 1");
  EXPECT_EQ(Run({"TTL", "z"}), "(integer) 70");
  EXPECT_EQ(Run({"RENAME", "z", "z2"}), "OK");
  EXPECT_EQ(Run({"EXISTS", "z"}), "(integer) 0");
  EXPECT_EQ(Run({"ZRANGE", "z2", "0", "-1", "WITHSCORES"}),
            "[\"b\", \"2\", \"c\", \"3\", \"d\", \"4\", \"e\", \"5\", \"f\", \"6\"]");
  // Both views of the renamed set work: by member and by score.
  EXPECT_EQ(Run({"ZSCORE", "z2", "d"}), "\"4\"");
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z2", "(4", "5"}), "[\"e\"]");
  EXPECT_EQ(Run({"ZRANK", "z2", "f"}), "(integer) 4");
  EXPECT_EQ(Run({"ZCARD", "z2"}), "(integer) 5");
  EXPECT_EQ(Run({"TTL", "z2"}), "(integer) 70");
  EXPECT_EQ(Run({"MOVE", "z2", "2"}), "(integer) 1");
  EXPECT_EQ(Run({"EXISTS", "z2"}), "(integer) 0");
  Run({"SELECT", "2"});
  EXPECT_EQ(Run({"ZRANGE", "z2", "0", "-1"}), "[\"b\", \"c\", \"d\", \"e\", \"f\"]");
  EXPECT_EQ(Run({"ZSCORE", "z2", "b"}), "\"2\"");
  EXPECT_EQ(Run({"DEL", "z2"}), "(integer) 1");
  EXPECT_EQ(Run({"ZADD", "z2", "9", "new"}), "(integer) 1");
  EXPECT_EQ(Run({"ZRANGE", "z2", "0", "-1", "WITHSCORES"}), "[\"new\", \"9\"]");
  EXPECT_EQ(Run({"ZSCORE", "z2", "b"}), "(nil)");
  EXPECT_EQ(Run({"ZCOUNT", "z2", "-inf", "+inf"}), "(integer) 1");
  Run({"PEXPIRE", "z2", "5"});
  CommandHarness::AdvanceClock(10);
  EXPECT_EQ(Run({"EXISTS", "z2"}), "(integer) 0");
  EXPECT_EQ(Run({"ZCARD", "z2"}), "(integer) 0");
  EXPECT_EQ(Run({"ZADD", "z2", "1", "again"}), "(integer) 1");
  EXPECT_EQ(Run({"ZRANGE", "z2", "0", "-1"}), "[\"again\"]");
}

}  // namespace
}  // namespace cairn::server
