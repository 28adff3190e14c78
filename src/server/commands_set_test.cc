// Set commands run in-process: replies and error strings as Redis 7 gives them, plus
// the keyspace commands (TYPE, DEL, EXPIRE, RENAME, MOVE) on a set. cairn replies a
// set's members in byte order; Redis's order is unspecified, so these tests use
// members whose sorted order is the expected one.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "server/command_test_util.h"

namespace cairn::server {
namespace {

constexpr char kWrongType[] =
    "(error) WRONGTYPE Operation against a key holding the wrong kind of value";
constexpr char kNotInteger[] = "(error) ERR value is not an integer or out of range";

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

std::set<std::string> AsSet(const std::vector<std::string>& v) {
  return std::set<std::string>(v.begin(), v.end());
}

class SetCommandTest : public ::testing::Test {
 protected:
  std::string Run(const std::vector<std::string>& args, int client = 0) {
    return h_.Run(args, client);
  }
  CommandHarness h_;
};

TEST_F(SetCommandTest, SAddCountsNewMembersOnce) {
  EXPECT_EQ(Run({"SADD", "s", "a", "b", "a"}), "(integer) 2");
  EXPECT_EQ(Run({"SADD", "s", "b", "c"}), "(integer) 1");
  EXPECT_EQ(Run({"SADD", "s", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"SMEMBERS", "s"}), "[\"a\", \"b\", \"c\"]");
  EXPECT_EQ(Run({"SADD", "s", ""}), "(integer) 1");
  EXPECT_EQ(Run({"SISMEMBER", "s", ""}), "(integer) 1");
  EXPECT_EQ(Run({"SADD", "s"}), "(error) ERR wrong number of arguments for 'sadd' command");
}

TEST_F(SetCommandTest, SRemCountsRemovedMembersAndTheEmptySetVanishes) {
  Run({"SADD", "s", "a", "b", "c"});
  EXPECT_EQ(Run({"SREM", "s", "a", "a", "x"}), "(integer) 1");
  EXPECT_EQ(Run({"SREM", "s", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"SREM", "nos", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"SCARD", "s"}), "(integer) 2");
  EXPECT_EQ(Run({"SREM", "s", "b", "c"}), "(integer) 2");
  EXPECT_EQ(Run({"EXISTS", "s"}), "(integer) 0");
  EXPECT_EQ(Run({"TYPE", "s"}), "none");
  EXPECT_EQ(Run({"SMEMBERS", "s"}), "[]");
}

TEST_F(SetCommandTest, SMembersSIsMemberSMIsMemberSCard) {
  Run({"SADD", "s", "x", "y"});
  EXPECT_EQ(Run({"SMEMBERS", "s"}), "[\"x\", \"y\"]");
  EXPECT_EQ(Run({"SMEMBERS", "nos"}), "[]");
  EXPECT_EQ(Run({"SISMEMBER", "s", "x"}), "(integer) 1");
  EXPECT_EQ(Run({"SISMEMBER", "s", "z"}), "(integer) 0");
  EXPECT_EQ(Run({"SISMEMBER", "nos", "x"}), "(integer) 0");
  EXPECT_EQ(Run({"SMISMEMBER", "s", "x", "z", "y"}), "[(integer) 1, (integer) 0, (integer) 1]");
  EXPECT_EQ(Run({"SMISMEMBER", "nos", "a", "b"}), "[(integer) 0, (integer) 0]");
  EXPECT_EQ(Run({"SMISMEMBER", "s"}),
            "(error) ERR wrong number of arguments for 'smismember' command");
  EXPECT_EQ(Run({"SCARD", "s"}), "(integer) 2");
  EXPECT_EQ(Run({"SCARD", "nos"}), "(integer) 0");
}

TEST_F(SetCommandTest, Resp3SMembersIsASet) {
  Run({"SADD", "s", "a", "b"});
  Run({"HELLO", "3"});
  EXPECT_EQ(Run({"SMEMBERS", "s"}), "[\"a\", \"b\"]");
  EXPECT_EQ(Run({"SMEMBERS", "nos"}), "[]");
  EXPECT_EQ(Run({"SPOP", "nos"}), "(nil)");
  // The reply type itself: '~' (set), not '*'.
  ClientState& c = h_.client(0);
  std::vector<std::string_view> args{"SMEMBERS", "s"};
  std::string out;
  protocol::ReplyWriter w(&out, 3);
  ExecuteCommand(h_.context(), c, args, w);
  EXPECT_EQ(out.substr(0, 4), "~2\r\n");
}

TEST_F(SetCommandTest, SPop) {
  EXPECT_EQ(Run({"SPOP", "nos"}), "(nil)");
  EXPECT_EQ(Run({"SPOP", "nos", "3"}), "[]");
  Run({"SADD", "s", "a", "b", "c", "d", "e"});
  const std::set<std::string> all = {"a", "b", "c", "d", "e"};
  const std::vector<std::string> one = Quoted(Run({"SPOP", "s"}));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_TRUE(all.count(one[0]));
  EXPECT_EQ(Run({"SISMEMBER", "s", one[0]}), "(integer) 0");
  EXPECT_EQ(Run({"SCARD", "s"}), "(integer) 4");
  EXPECT_EQ(Run({"SPOP", "s", "0"}), "[]");
  const std::vector<std::string> two = Quoted(Run({"SPOP", "s", "2"}));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_NE(two[0], two[1]);
  for (const auto& m : two) {
    EXPECT_TRUE(all.count(m) && m != one[0]) << m;
    EXPECT_EQ(Run({"SISMEMBER", "s", m}), "(integer) 0");
  }
  EXPECT_EQ(Run({"SCARD", "s"}), "(integer) 2");
  EXPECT_EQ(Run({"SPOP", "s", "-1"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"SPOP", "s", "1", "2"}), "(error) ERR syntax error");
  // More than there is: all of them, and the set is gone.
  EXPECT_EQ(Quoted(Run({"SPOP", "s", "10"})).size(), 2u);
  EXPECT_EQ(Run({"EXISTS", "s"}), "(integer) 0");
  Run({"SADD", "t", "only"});
  EXPECT_EQ(Run({"SPOP", "t"}), "\"only\"");
  EXPECT_EQ(Run({"EXISTS", "t"}), "(integer) 0");
}

// SPOP's count has one error for anything but a non-negative integer (SRANDMEMBER, which
// takes negative counts, says "not an integer").
TEST_F(SetCommandTest, SPopCountThatIsNotANumberIsOutOfRange) {
  Run({"SADD", "s", "a"});
  EXPECT_EQ(Run({"SPOP", "s", "x"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"SPOP", "s", "1.5"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"SPOP", "nos", "x"}), "(error) ERR value is out of range, must be positive");
  EXPECT_EQ(Run({"SRANDMEMBER", "s", "1.5"}), kNotInteger);
  EXPECT_EQ(Run({"SCARD", "s"}), "(integer) 1");
}

TEST_F(SetCommandTest, SRandMember) {
  EXPECT_EQ(Run({"SRANDMEMBER", "nos"}), "(nil)");
  EXPECT_EQ(Run({"SRANDMEMBER", "nos", "2"}), "[]");
  EXPECT_EQ(Run({"SRANDMEMBER", "nos", "-2"}), "[]");
  Run({"SADD", "s", "a", "b", "c"});
  const std::set<std::string> all = {"a", "b", "c"};
  const std::vector<std::string> one = Quoted(Run({"SRANDMEMBER", "s"}));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_TRUE(all.count(one[0]));
  EXPECT_EQ(Run({"SRANDMEMBER", "s", "0"}), "[]");
  const std::vector<std::string> two = Quoted(Run({"SRANDMEMBER", "s", "2"}));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_NE(two[0], two[1]);
  EXPECT_EQ(AsSet(Quoted(Run({"SRANDMEMBER", "s", "10"}))), all);
  const std::vector<std::string> rep = Quoted(Run({"SRANDMEMBER", "s", "-10"}));
  EXPECT_EQ(rep.size(), 10u);
  for (const auto& m : rep) EXPECT_TRUE(all.count(m)) << m;
  EXPECT_EQ(Run({"SCARD", "s"}), "(integer) 3");  // nothing removed
  EXPECT_EQ(Run({"SRANDMEMBER", "s", "x"}), kNotInteger);
  EXPECT_EQ(Run({"SRANDMEMBER", "s", "1", "2"}), "(error) ERR syntax error");
}

// A positive count past the set's size, however large, means "all of them": Redis has
// no upper bound for these counts (sets have no WITHSCORES to double the reply).
TEST_F(SetCommandTest, SRandMemberAndSPopHugePositiveCountsMeanAll) {
  Run({"SADD", "s", "a", "b", "c"});
  const std::set<std::string> all = {"a", "b", "c"};
  EXPECT_EQ(AsSet(Quoted(Run({"SRANDMEMBER", "s", "4611686018427387904"}))), all);
  EXPECT_EQ(AsSet(Quoted(Run({"SRANDMEMBER", "s", "9223372036854775807"}))), all);
  EXPECT_EQ(Run({"SCARD", "s"}), "(integer) 3");
  EXPECT_EQ(AsSet(Quoted(Run({"SPOP", "s", "9223372036854775807"}))), all);
  EXPECT_EQ(Run({"EXISTS", "s"}), "(integer) 0");
}

TEST_F(SetCommandTest, SMove) {
  Run({"SADD", "src", "a", "b"});
  Run({"SADD", "dst", "b"});
  EXPECT_EQ(Run({"SMOVE", "src", "dst", "a"}), "(integer) 1");
  EXPECT_EQ(Run({"SMEMBERS", "src"}), "[\"b\"]");
  EXPECT_EQ(Run({"SMEMBERS", "dst"}), "[\"a\", \"b\"]");
  EXPECT_EQ(Run({"SMOVE", "src", "dst", "x"}), "(integer) 0");
  // Already in the destination: still moved out of the source.
  EXPECT_EQ(Run({"SMOVE", "src", "dst", "b"}), "(integer) 1");
  EXPECT_EQ(Run({"EXISTS", "src"}), "(integer) 0");
  EXPECT_EQ(Run({"SCARD", "dst"}), "(integer) 2");
  EXPECT_EQ(Run({"SMOVE", "dst", "dst", "a"}), "(integer) 1");
  EXPECT_EQ(Run({"SMOVE", "dst", "dst", "zz"}), "(integer) 0");
  EXPECT_EQ(Run({"SMOVE", "dst", "new", "a"}), "(integer) 1");
  EXPECT_EQ(Run({"SMEMBERS", "new"}), "[\"a\"]");
  EXPECT_EQ(Run({"SMOVE", "nos", "dst", "a"}), "(integer) 0");
  Run({"SET", "str", "v"});
  EXPECT_EQ(Run({"SMOVE", "dst", "str", "b"}), kWrongType);
  EXPECT_EQ(Run({"SMOVE", "dst", "str", "zz"}), kWrongType);
  EXPECT_EQ(Run({"SMOVE", "str", "dst", "b"}), kWrongType);
  EXPECT_EQ(Run({"SMEMBERS", "dst"}), "[\"b\"]");
}

// Redis answers 0 for a missing source before it looks at the destination's type.
TEST_F(SetCommandTest, SMoveFromAMissingSourceIsZeroWhateverTheDestination) {
  Run({"SET", "str", "v"});
  EXPECT_EQ(Run({"SMOVE", "nos", "str", "a"}), "(integer) 0");
  EXPECT_EQ(Run({"GET", "str"}), "\"v\"");
}

TEST_F(SetCommandTest, SInterSUnionSDiff) {
  Run({"SADD", "s1", "a", "b", "c", "d"});
  Run({"SADD", "s2", "c", "d", "e"});
  Run({"SADD", "s3", "a", "c", "e"});
  EXPECT_EQ(Run({"SINTER", "s1", "s2"}), "[\"c\", \"d\"]");
  EXPECT_EQ(Run({"SINTER", "s1", "s2", "s3"}), "[\"c\"]");
  EXPECT_EQ(Run({"SINTER", "s1"}), "[\"a\", \"b\", \"c\", \"d\"]");
  EXPECT_EQ(Run({"SINTER", "s1", "nos"}), "[]");
  EXPECT_EQ(Run({"SUNION", "s1", "s2"}), "[\"a\", \"b\", \"c\", \"d\", \"e\"]");
  EXPECT_EQ(Run({"SUNION", "nos", "s3"}), "[\"a\", \"c\", \"e\"]");
  EXPECT_EQ(Run({"SUNION", "nos"}), "[]");
  EXPECT_EQ(Run({"SDIFF", "s1", "s2"}), "[\"a\", \"b\"]");
  EXPECT_EQ(Run({"SDIFF", "s1", "s2", "s3"}), "[\"b\"]");
  EXPECT_EQ(Run({"SDIFF", "s1", "nos"}), "[\"a\", \"b\", \"c\", \"d\"]");
  EXPECT_EQ(Run({"SDIFF", "nos", "s1"}), "[]");
  EXPECT_EQ(Run({"SDIFF", "s1", "s1"}), "[]");
  // Every key's type is checked, even after a missing one.
  Run({"SET", "str", "v"});
  EXPECT_EQ(Run({"SINTER", "nos", "str"}), kWrongType);
  EXPECT_EQ(Run({"SINTER", "s1", "str"}), kWrongType);
  EXPECT_EQ(Run({"SUNION", "s1", "str"}), kWrongType);
  EXPECT_EQ(Run({"SDIFF", "nos", "str"}), kWrongType);
  EXPECT_EQ(Run({"SDIFF", "s1", "str"}), kWrongType);
}

TEST_F(SetCommandTest, StoreVariantsReplaceTheDestination) {
  Run({"SADD", "s1", "a", "b", "c"});
  Run({"SADD", "s2", "b", "c", "d"});
  Run({"SADD", "dst", "old1", "old2"});
  EXPECT_EQ(Run({"SINTERSTORE", "dst", "s1", "s2"}), "(integer) 2");
  EXPECT_EQ(Run({"SMEMBERS", "dst"}), "[\"b\", \"c\"]");  // none of the old members
  EXPECT_EQ(Run({"SUNIONSTORE", "dst", "s1", "s2"}), "(integer) 4");
  EXPECT_EQ(Run({"SMEMBERS", "dst"}), "[\"a\", \"b\", \"c\", \"d\"]");
  EXPECT_EQ(Run({"SDIFFSTORE", "dst", "s1", "s2"}), "(integer) 1");
  EXPECT_EQ(Run({"SMEMBERS", "dst"}), "[\"a\"]");
  // A destination among the sources.
  EXPECT_EQ(Run({"SUNIONSTORE", "s1", "s1", "s2"}), "(integer) 4");
  EXPECT_EQ(Run({"SCARD", "s1"}), "(integer) 4");
  // Of another type: overwritten.
  Run({"SET", "str", "v"});
  EXPECT_EQ(Run({"SINTERSTORE", "str", "s1", "s2"}), "(integer) 3");
  EXPECT_EQ(Run({"TYPE", "str"}), "set");
  // An empty result deletes the destination.
  EXPECT_EQ(Run({"SINTERSTORE", "dst", "s1", "nos"}), "(integer) 0");
  EXPECT_EQ(Run({"EXISTS", "dst"}), "(integer) 0");
  Run({"SADD", "dst", "x"});
  EXPECT_EQ(Run({"SDIFFSTORE", "dst", "s2", "s1"}), "(integer) 0");
  EXPECT_EQ(Run({"EXISTS", "dst"}), "(integer) 0");
  EXPECT_EQ(Run({"SUNIONSTORE", "dst", "nos"}), "(integer) 0");
  EXPECT_EQ(Run({"EXISTS", "dst"}), "(integer) 0");
  Run({"SET", "plain", "v"});
  EXPECT_EQ(Run({"SUNIONSTORE", "dst", "s1", "plain"}), kWrongType);
  EXPECT_EQ(Run({"SDIFFSTORE", "dst", "s1", "plain"}), kWrongType);
  EXPECT_EQ(Run({"SINTERSTORE", "dst", "plain"}), kWrongType);
  EXPECT_EQ(Run({"EXISTS", "dst"}), "(integer) 0");
  EXPECT_EQ(Run({"SINTERSTORE", "dst"}),
            "(error) ERR wrong number of arguments for 'sinterstore' command");
}

TEST_F(SetCommandTest, SInterCard) {
  Run({"SADD", "s1", "a", "b", "c", "d"});
  Run({"SADD", "s2", "b", "c", "d", "e"});
  EXPECT_EQ(Run({"SINTERCARD", "2", "s1", "s2"}), "(integer) 3");
  EXPECT_EQ(Run({"SINTERCARD", "1", "s1"}), "(integer) 4");
  EXPECT_EQ(Run({"SINTERCARD", "2", "s1", "s2", "LIMIT", "2"}), "(integer) 2");
  EXPECT_EQ(Run({"SINTERCARD", "2", "s1", "s2", "LIMIT", "0"}), "(integer) 3");  // no limit
  EXPECT_EQ(Run({"SINTERCARD", "2", "s1", "s2", "limit", "10"}), "(integer) 3");
  EXPECT_EQ(Run({"SINTERCARD", "2", "s1", "nos"}), "(integer) 0");
  EXPECT_EQ(Run({"SINTERCARD", "0", "s1"}), "(error) ERR numkeys should be greater than 0");
  EXPECT_EQ(Run({"SINTERCARD", "-1", "s1"}), "(error) ERR numkeys should be greater than 0");
  EXPECT_EQ(Run({"SINTERCARD", "3", "s1", "s2"}),
            "(error) ERR Number of keys can't be greater than number of args");
  EXPECT_EQ(Run({"SINTERCARD", "1", "s1", "LIMIT", "-1"}),
            "(error) ERR LIMIT can't be negative");
  EXPECT_EQ(Run({"SINTERCARD", "1", "s1", "LIMIT"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SINTERCARD", "1", "s1", "FOO"}), "(error) ERR syntax error");
  Run({"SET", "str", "v"});
  EXPECT_EQ(Run({"SINTERCARD", "2", "s1", "str"}), kWrongType);
}

// SINTERCARD's numkeys must be a positive integer: anything else, a non-number too,
// gets the one error Redis gives for it.
TEST_F(SetCommandTest, SInterCardNonNumericNumkeys) {
  Run({"SADD", "s", "a"});
  EXPECT_EQ(Run({"SINTERCARD", "x", "s"}), "(error) ERR numkeys should be greater than 0");
  EXPECT_EQ(Run({"SINTERCARD", "1.5", "s"}), "(error) ERR numkeys should be greater than 0");
}

// The same for LIMIT: Redis's "can't be negative" covers a non-number too.
TEST_F(SetCommandTest, SInterCardLimitThatIsNotANumber) {
  Run({"SADD", "s", "a"});
  EXPECT_EQ(Run({"SINTERCARD", "1", "s", "LIMIT", "x"}), "(error) ERR LIMIT can't be negative");
  EXPECT_EQ(Run({"SINTERCARD", "1", "s", "LIMIT", "1.5"}),
            "(error) ERR LIMIT can't be negative");
}

TEST_F(SetCommandTest, SScanVisitsEveryMemberOnce) {
  for (int i = 0; i < 120; i++) Run({"SADD", "s", "m" + std::to_string(1000 + i)});
  Run({"SADD", "s", "other"});
  std::set<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    const std::vector<std::string> q =
        Quoted(Run({"SSCAN", "s", cursor, "MATCH", "m1*", "COUNT", "7"}));
    ASSERT_FALSE(q.empty());
    cursor = q[0];
    for (size_t i = 1; i < q.size(); i++) EXPECT_TRUE(seen.insert(q[i]).second) << q[i];
    calls++;
  } while (cursor != "0" && calls < 1000);
  EXPECT_EQ(seen.size(), 120u);
  EXPECT_EQ(Run({"SSCAN", "s", "0", "MATCH", "oth*", "COUNT", "1000"}),
            "[\"0\", [\"other\"]]");
  EXPECT_EQ(Run({"SSCAN", "nos", "0"}), "[\"0\", []]");
  EXPECT_EQ(Run({"SSCAN", "s", "abc"}), "(error) ERR invalid cursor");
  EXPECT_EQ(Run({"SSCAN", "s", "0", "COUNT", "0"}), "(error) ERR syntax error");
  EXPECT_EQ(Run({"SSCAN", "s", "0", "BAD", "1"}), "(error) ERR syntax error");
}

TEST_F(SetCommandTest, SetCommandsOnAStringAreWrongType) {
  Run({"SET", "s", "x"});
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"SADD", "s", "a"},
           {"SREM", "s", "a"},
           {"SMEMBERS", "s"},
           {"SISMEMBER", "s", "a"},
           {"SMISMEMBER", "s", "a"},
           {"SCARD", "s"},
           {"SPOP", "s"},
           {"SRANDMEMBER", "s"},
           {"SSCAN", "s", "0"},
       }) {
    EXPECT_EQ(Run(cmd), kWrongType) << cmd[0];
  }
  Run({"HSET", "h", "f", "v"});
  EXPECT_EQ(Run({"SADD", "h", "a"}), kWrongType);
  EXPECT_EQ(Run({"SINTER", "h"}), kWrongType);
}

TEST_F(SetCommandTest, KeyspaceCommandsOnASet) {
  Run({"SADD", "s", "a", "b"});
  EXPECT_EQ(Run({"TYPE", "s"}), "set");
  EXPECT_EQ(Run({"EXPIRE", "s", "50"}), "(integer) 1");
  EXPECT_EQ(Run({"SADD", "s", "c"}), "(integer) 1");
  EXPECT_EQ(Run({"TTL", "s"}), "(integer) 50");
  EXPECT_EQ(Run({"RENAME", "s", "t"}), "OK");
  EXPECT_EQ(Run({"EXISTS", "s"}), "(integer) 0");
  EXPECT_EQ(Run({"SMEMBERS", "t"}), "[\"a\", \"b\", \"c\"]");
  EXPECT_EQ(Run({"SISMEMBER", "t", "b"}), "(integer) 1");
  EXPECT_EQ(Run({"SCARD", "t"}), "(integer) 3");
  EXPECT_EQ(Run({"TTL", "t"}), "(integer) 50");
  EXPECT_EQ(Run({"MOVE", "t", "5"}), "(integer) 1");
  EXPECT_EQ(Run({"SCARD", "t"}), "(integer) 0");
  Run({"SELECT", "5"});
  EXPECT_EQ(Run({"SMEMBERS", "t"}), "[\"a\", \"b\", \"c\"]");
  EXPECT_EQ(Run({"DEL", "t"}), "(integer) 1");
  EXPECT_EQ(Run({"SADD", "t", "z"}), "(integer) 1");
  EXPECT_EQ(Run({"SMEMBERS", "t"}), "[\"z\"]");  // nothing of the deleted set
  EXPECT_EQ(Run({"SISMEMBER", "t", "a"}), "(integer) 0");
  Run({"PEXPIRE", "t", "10"});
  CommandHarness::AdvanceClock(20);
  EXPECT_EQ(Run({"EXISTS", "t"}), "(integer) 0");
  EXPECT_EQ(Run({"SADD", "t", "y"}), "(integer) 1");
  EXPECT_EQ(Run({"SMEMBERS", "t"}), "[\"y\"]");
}

}  // namespace
}  // namespace cairn::server
