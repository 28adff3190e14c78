// Replies byte for byte in RESP2 and RESP3, checked against Redis 7.0.15's output.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "protocol/resp.h"

namespace cairn::protocol {
namespace {

// What `write` appends, in RESP2 and in RESP3.
std::pair<std::string, std::string> Both(const std::function<void(ReplyWriter&)>& write) {
  std::string out2, out3;
  ReplyWriter w2(&out2, 2), w3(&out3, 3);
  write(w2);
  write(w3);
  return {out2, out3};
}

using Pair = std::pair<std::string, std::string>;

TEST(ReplyWriterTest, TypesCommonToBothVersions) {
  EXPECT_EQ(Both([](ReplyWriter& w) { w.SimpleString("OK"); }), Pair("+OK\r\n", "+OK\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Error("ERR no such key"); }),
            Pair("-ERR no such key\r\n", "-ERR no such key\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Integer(0); }), Pair(":0\r\n", ":0\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Integer(-42); }), Pair(":-42\r\n", ":-42\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Integer(std::numeric_limits<int64_t>::min()); }).first,
            ":-9223372036854775808\r\n");
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Integer(std::numeric_limits<int64_t>::max()); }).second,
            ":9223372036854775807\r\n");
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Bulk("foo"); }), Pair("$3\r\nfoo\r\n", "$3\r\nfoo\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Bulk(""); }), Pair("$0\r\n\r\n", "$0\r\n\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Bulk(std::string("a\r\n\0", 4)); }).first,
            std::string("$4\r\na\r\n\0\r\n", 10));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.ArrayHeader(0); }), Pair("*0\r\n", "*0\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.ArrayHeader(12345); }), Pair("*12345\r\n", "*12345\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) {
              w.BulkArray({"f", "v"});
            }),
            Pair("*2\r\n$1\r\nf\r\n$1\r\nv\r\n", "*2\r\n$1\r\nf\r\n$1\r\nv\r\n"));
}

TEST(ReplyWriterTest, Resp3TypesDegradeInResp2) {
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Null(); }), Pair("$-1\r\n", "_\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.NullArray(); }), Pair("*-1\r\n", "_\r\n"));
  // HSET h f v; HGETALL h
  EXPECT_EQ(Both([](ReplyWriter& w) {
              w.MapHeader(1);
              w.Bulk("f");
              w.Bulk("v");
            }),
            Pair("*2\r\n$1\r\nf\r\n$1\r\nv\r\n", "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.MapHeader(0); }), Pair("*0\r\n", "%0\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.SetHeader(3); }), Pair("*3\r\n", "~3\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Bool(true); }), Pair(":1\r\n", "#t\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Bool(false); }), Pair(":0\r\n", "#f\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Verbatim("Redis ver.\n"); }),
            Pair("$11\r\nRedis ver.\n\r\n", "=15\r\ntxt:Redis ver.\n\r\n"));
}

TEST(ReplyWriterTest, DoublesAsRedis70FormatsThem) {
  // ZADD z 1.1 a 3 b inf c -inf d 0 e 1e300 f 1.5e-7 h 123456789012345678 i; ZSCORE ...
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Double(1.1); }),
            Pair("$18\r\n1.1000000000000001\r\n", ",1.1000000000000001\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Double(3); }), Pair("$1\r\n3\r\n", ",3\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Double(INFINITY); }), Pair("$3\r\ninf\r\n", ",inf\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Double(-INFINITY); }), Pair("$4\r\n-inf\r\n", ",-inf\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Double(0); }), Pair("$1\r\n0\r\n", ",0\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Double(1e300); }),
            Pair("$23\r\n1.0000000000000001e+300\r\n", ",1.0000000000000001e+300\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Double(1.5e-7); }),
            Pair("$22\r\n1.4999999999999999e-07\r\n", ",1.4999999999999999e-07\r\n"));
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Double(123456789012345678.0); }).second,
            ",1.2345678901234568e+17\r\n");
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Double(std::nan("")); }),
            Pair("$3\r\nnan\r\n", ",nan\r\n"));
  EXPECT_EQ(FormatDouble(-0.0), "-0");
  EXPECT_EQ(FormatDouble(0.5), "0.5");
  EXPECT_EQ(FormatDouble(-2.5e-300), "-2.5e-300");
  EXPECT_EQ(FormatDouble(0.1), "0.10000000000000001");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::denorm_min()), "4.9406564584124654e-324");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::max()), "-1.7976931348623157e+308");
}

TEST(ReplyWriterTest, LineEndsInSimpleStringsAndErrorsBecomeSpaces) {
  EXPECT_EQ(Both([](ReplyWriter& w) { w.Error("ERR bad\r\nkey"); }).first, "-ERR bad  key\r\n");
  EXPECT_EQ(Both([](ReplyWriter& w) { w.SimpleString("a\nb"); }).second, "+a b\r\n");
}

TEST(ReplyWriterTest, AppendsToWhatIsAlreadyThere) {
  std::string out = "+OK\r\n";
  ReplyWriter w(&out, 3);
  EXPECT_EQ(w.buffer(), &out);
  w.Error("ERR x\n");  // only the new part is rewritten
  w.Integer(7);
  EXPECT_EQ(out, "+OK\r\n-ERR x \r\n:7\r\n");
  w.set_protocol(2);
  EXPECT_EQ(w.protocol(), 2);
  w.Null();
  EXPECT_EQ(out, "+OK\r\n-ERR x \r\n:7\r\n$-1\r\n");
}

}  // namespace
}  // namespace cairn::protocol
