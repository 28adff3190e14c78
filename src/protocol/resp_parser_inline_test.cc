// Inline commands: one line split like Redis's sdssplitargs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/resp.h"
#include "protocol/resp_parser_test_peer.h"
#include "protocol/resp_test_util.h"

namespace cairn::protocol {
namespace {

using Args = std::vector<std::string>;
using Result = RespParser::Result;

// The arguments of the one command in `line`, or {"<error>", error}.
Args Split(std::string_view line) {
  const FeedResult r = FeedInChunks(line, {});
  if (!r.error.empty()) return {"<error>", r.error};
  if (r.commands.size() != 1 || r.leftover != 0) return {"<not one command>"};
  return r.commands[0];
}

const Args kUnbalanced = {"<error>", "ERR Protocol error: unbalanced quotes in request"};

TEST(RespInlineTest, SplitsOnBlanksWithEitherLineEnd) {
  EXPECT_EQ(Split("PING\r\n"), Args{"PING"});
  EXPECT_EQ(Split("PING\n"), Args{"PING"});
  EXPECT_EQ(Split("  SET\t key   value \t\r\n"), (Args{"SET", "key", "value"}));
  // CR inside the line separates too; other blanks (\v \f) only lead a word.
  EXPECT_EQ(Split("SET a\rb\n"), (Args{"SET", "a", "b"}));
  EXPECT_EQ(Split("\v\fECHO a\vb\n"), (Args{"ECHO", "a\vb"}));
  // Only the one CR right before the LF belongs to the line end.
  EXPECT_EQ(Split("ECHO \"a\r\"\r\n"), (Args{"ECHO", "a\r"}));
}

TEST(RespInlineTest, DoubleQuotesTakeEscapes) {
  EXPECT_EQ(Split("SET k \"hello world\"\r\n"), (Args{"SET", "k", "hello world"}));
  EXPECT_EQ(Split("ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\"\r\n"), (Args{"ECHO", "\n\r\t\b\a\\\""}));
  EXPECT_EQ(Split("ECHO \"\\x41\\x7a\\xfF\\x00\"\n"), (Args{"ECHO", std::string("Az\xff\0", 4)}));
  // Not a \xHH escape: the backslash is dropped, as for any other escaped character.
  EXPECT_EQ(Split("ECHO \"\\x4g\\q\\x\"\n"), (Args{"ECHO", "x4gqx"}));
  // Redis 7.0 on the same bytes: ECHO "a\nb\x41\x4g\q" replies "a\nbAx4gq".
  EXPECT_EQ(Split("ECHO \"a\\nb\\x41\\x4g\\q\"\r\n"), (Args{"ECHO", "a\nbAx4gq"}));
  EXPECT_EQ(Split("SET k \"\"\r\n"), (Args{"SET", "k", ""}));
}

TEST(RespInlineTest, SingleQuotesTakeOnlyEscapedQuote) {
  EXPECT_EQ(Split("ECHO 'it\\'s'\r\n"), (Args{"ECHO", "it's"}));
  EXPECT_EQ(Split("ECHO 'a\\nb \"c\"'\r\n"), (Args{"ECHO", "a\\nb \"c\""}));
  EXPECT_EQ(Split("ECHO 'a\\b'\r\n"), (Args{"ECHO", "a\\b"}));
  // A backslash before the closing quote escapes it: the quote never closes.
  EXPECT_EQ(Split("ECHO 'a\\'\r\n"), kUnbalanced);
}

TEST(RespInlineTest, QuotesMayStartInsideAWord) {
  EXPECT_EQ(Split("ECHO a\"b c\"\r\n"), (Args{"ECHO", "ab c"}));
  EXPECT_EQ(Split("ECHO a'b c' d\r\n"), (Args{"ECHO", "ab c", "d"}));
}

TEST(RespInlineTest, UnbalancedQuotesAreAnError) {
  EXPECT_EQ(Split("ECHO \"abc\r\n"), kUnbalanced);
  EXPECT_EQ(Split("ECHO 'abc\r\n"), kUnbalanced);
  EXPECT_EQ(Split("ECHO \"abc\\\"\r\n"), kUnbalanced);  // the quote is escaped
  EXPECT_EQ(Split("ECHO \"abc\\\r\n"), kUnbalanced);    // backslash at the end
  // A closing quote must be followed by a blank or the end of the line.
  EXPECT_EQ(Split("ECHO \"a\"b\r\n"), kUnbalanced);
  EXPECT_EQ(Split("ECHO 'a'b\r\n"), kUnbalanced);
  EXPECT_EQ(Split("ECHO \"a\"\tb\r\n"), (Args{"ECHO", "a", "b"}));
}

TEST(RespInlineTest, NulIsAnOrdinaryByte) {
  // Redis's C-string scanning stops at NUL (it waits for a '\n' it never finds);
  // cairn keeps the byte.
  EXPECT_EQ(Split(std::string("SET a b\0c\n", 10)), (Args{"SET", "a", std::string("b\0c", 3)}));
}

TEST(RespInlineTest, BlankLinesAreSkipped) {
  const FeedResult r = FeedInChunks("\r\n\n  \t\r\nPING\r\n\r\n", {1});
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.commands, std::vector<Args>{{"PING"}});
  EXPECT_EQ(r.leftover, 0u);
}

TEST(RespInlineTest, ArgumentsLiveInTheParser) {
  RespParser p;
  std::vector<std::string_view> args;
  size_t consumed;
  const std::string in = "SET plain \"quoted\"\r\n";
  ASSERT_EQ(p.Parse(in, &args, &consumed), Result::kCommand);
  EXPECT_EQ(consumed, in.size());
  ASSERT_EQ(args.size(), 3u);
  for (std::string_view arg : args) EXPECT_TRUE(RespParserTestPeer::OwnsBytes(p, arg)) << arg;
}

TEST(RespInlineTest, LineEndSplitAcrossReads) {
  for (size_t split = 0; split <= 6; split++) {
    const FeedResult r = FeedInChunks("PING\r\nPING\n", {split, 100});
    EXPECT_EQ(r.commands, (std::vector<Args>{{"PING"}, {"PING"}})) << split;
  }
}

TEST(RespInlineTest, TooBigInlineRequest) {
  // Redis: more than 64 KiB without '\n' is an error; a '\n' at offset 64 KiB is not.
  const std::string a(64 * 1024, 'a');
  EXPECT_EQ(FeedInChunks(a, {}).error, "");
  EXPECT_EQ(Split(a + "a"), (Args{"<error>", "ERR Protocol error: too big inline request"}));
  EXPECT_EQ(Split(a + "\n"), Args{a});
  EXPECT_EQ(Split(a + "\r\n"), (Args{"<error>", "ERR Protocol error: too big inline request"}));
  EXPECT_EQ(FeedInChunks(a + "a", {1000}).error, "ERR Protocol error: too big inline request");
}

}  // namespace
}  // namespace cairn::protocol
