// The DUMP payload codec: Redis's CRC-64, what cairn writes parses back, Redis's
// compact encodings (bytes taken from redis-server 7.0.15's DUMP), and forged payloads
// (truncated, flipped, oversized lengths) are refused without crashing.
#include "server/rdb_payload.h"

#include <gtest/gtest.h>

namespace cairn::server {
namespace {

using store::ValueType;

// A payload around body with a correct footer.
std::string WithFooter(std::string body, uint16_t version = kRdbVersion) {
  body.push_back(static_cast<char>(version & 0xff));
  body.push_back(static_cast<char>(version >> 8));
  const uint64_t crc = RdbCrc64(0, body);
  for (int i = 0; i < 8; i++) body.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return body;
}

TEST(RdbPayloadTest, Crc64MatchesRedis) {
  // Redis's crc64 test vector (crc64.c).
  EXPECT_EQ(RdbCrc64(0, "123456789"), 0xe9c6d914c4b8d9caULL);
  // redis-server 7.0.15: SET s hello; DUMP s.
  const std::string redis("\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a", 17);
  EXPECT_TRUE(VerifyRdbPayload(redis));
  RdbValue v;
  ASSERT_TRUE(ParseRdbPayload(redis, &v).ok());
  EXPECT_EQ(v.type, ValueType::kString);
  EXPECT_EQ(v.string, "hello");
}

TEST(RdbPayloadTest, VersionAndChecksum) {
  EXPECT_TRUE(VerifyRdbPayload(WithFooter(std::string("\x00\x01x", 3), 9)));
  EXPECT_FALSE(VerifyRdbPayload(WithFooter(std::string("\x00\x01x", 3), 11)));
  std::string p = WithFooter(std::string("\x00\x01x", 3));
  p[2] = 'y';
  EXPECT_FALSE(VerifyRdbPayload(p));
  EXPECT_FALSE(VerifyRdbPayload("short"));
}

TEST(RdbPayloadTest, WriterRoundTrips) {
  RdbPayloadWriter w(kRdbZSet2);
  w.Length(2);
  w.String("a");
  w.BinaryDouble(1.5);
  w.String(std::string(20000, 'b'));  // a 4-byte length
  w.BinaryDouble(-HUGE_VAL);
  const std::string p = w.Finish();
  ASSERT_TRUE(VerifyRdbPayload(p));
  RdbValue v;
  ASSERT_TRUE(ParseRdbPayload(p, &v).ok());
  EXPECT_EQ(v.type, ValueType::kZSet);
  ASSERT_EQ(v.scores.size(), 2u);
  EXPECT_EQ(v.scores[0].first, "a");
  EXPECT_EQ(v.scores[0].second, 1.5);
  EXPECT_EQ(v.scores[1].first.size(), 20000u);
  EXPECT_EQ(v.scores[1].second, -HUGE_VAL);
}

TEST(RdbPayloadTest, IntegerAndLzfStrings) {
  RdbValue v;
  // 0xc1: a 16-bit integer, little-endian (-2).
  ASSERT_TRUE(ParseRdbPayload(WithFooter(std::string("\x00\xc1\xfe\xff", 4)), &v).ok());
  EXPECT_EQ(v.string, "-2");
  // LZF: "aaaaaaaaaa" as the literal "a" and a back-reference of 9 bytes at offset 1.
  const std::string lzf("\x00\xc3\x05\x0a\x00\x61\xe0\x00\x00", 9);
  // ctrl 0xe0: length 7 + next byte 0 + 2 = 9, offset ((0 << 8) | 0) + 1 = 1.
  ASSERT_TRUE(ParseRdbPayload(WithFooter(lzf), &v).ok());
  EXPECT_EQ(v.string, "aaaaaaaaaa");
  // The same claiming a longer original, or one no LZF stream could produce.
  std::string wrong = lzf;
  wrong[3] = 0x0b;
  EXPECT_FALSE(ParseRdbPayload(WithFooter(wrong), &v).ok());
  std::string huge("\x00\xc3\x05\x80\x7f\xff\xff\xff\x00\x61\xe0\x00\x00", 13);
  EXPECT_FALSE(ParseRdbPayload(WithFooter(huge), &v).ok());
}

TEST(RdbPayloadTest, ListpackAndIntset) {
  // HASH_LISTPACK: f -> 7, g -> -3 (13-bit int), as Redis 7.0 writes it.
  std::string lp;
  lp += std::string("\x00\x00\x00\x00\x04\x00", 6);
  lp += std::string(
      "\x81"
      "f\x02",
      3);                            // 6-bit string, back-length 2
  lp += std::string("\x07\x01", 2);  // 7-bit uint
  lp += std::string(
      "\x81"
      "g\x02",
      3);
  lp += std::string("\xdf\xfd\x02", 3);  // 13-bit int 0x1ffd = -3
  lp.push_back('\xff');
  lp[0] = static_cast<char>(lp.size());
  std::string body("\x10", 1);
  body.push_back(static_cast<char>(lp.size()));
  body += lp;
  RdbValue v;
  ASSERT_TRUE(ParseRdbPayload(WithFooter(body), &v).ok());
  ASSERT_EQ(v.type, ValueType::kHash);
  ASSERT_EQ(v.fields.size(), 2u);
  EXPECT_EQ(v.fields[1].first, "g");
  EXPECT_EQ(v.fields[1].second, "-3");

  // SET_INTSET of 16-bit integers 1, 300.
  std::string is("\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x2c\x01", 12);
  std::string sbody("\x0b\x0c", 2);
  ASSERT_TRUE(ParseRdbPayload(WithFooter(sbody + is), &v).ok());
  ASSERT_EQ(v.type, ValueType::kSet);
  EXPECT_EQ(v.elements, (std::vector<std::string>{"1", "300"}));
}

TEST(RdbPayloadTest, EmptyAndDuplicateCollectionsAreBadFormat) {
  RdbValue v;
  EXPECT_TRUE(absl::IsInvalidArgument(ParseRdbPayload(WithFooter(std::string("\x02\x00", 2)), &v)));
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParseRdbPayload(WithFooter(std::string("\x02\x02\x01x\x01x", 6)), &v)));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseRdbPayload(WithFooter(std::string("\x06\x00", 2)), &v)));
}

TEST(RdbPayloadTest, StreamRoundTrips) {
  RdbStream s;
  for (uint64_t i = 0; i < 250; i++) {  // three nodes
    s.entries.push_back(
        {{1000 + i / 3, i % 3}, {"f", std::to_string(i), "g" + std::to_string(i % 7), ""}});
  }
  s.last_id = {5000, 7};
  s.max_deleted = {900, 1};
  s.entries_added = 300;
  RdbStream::Group g;
  g.name = "grp";
  g.last = {1010, 2};
  g.entries_read = -1;
  g.pending = {
      {{1000, 1}, 123456789, 2, "alice"}, {{1001, 0}, 5, 1, "bob"}, {{1002, 2}, 6, 1, "alice"}};
  g.consumers = {{"alice", 42}, {"bob", 43}, {"carol", 44}};
  s.groups.push_back(g);
  s.groups.push_back({"empty", {0, 0}, 0, {}, {}});
  RdbPayloadWriter w(kRdbStreamListpacks2);
  w.Stream(s);
  const std::string p = w.Finish();
  RdbValue v;
  ASSERT_TRUE(ParseRdbPayload(p, &v).ok());
  ASSERT_EQ(v.type, ValueType::kStream);
  EXPECT_EQ(v.stream, s);
  // An empty stream (its IDs and groups remain) is a value too.
  RdbStream empty;
  empty.last_id = {7, 7};
  empty.entries_added = 3;
  RdbPayloadWriter e(kRdbStreamListpacks2);
  e.Stream(empty);
  ASSERT_TRUE(ParseRdbPayload(e.Finish(), &v).ok());
  EXPECT_EQ(v.stream, empty);
}

// A listpack entry (strings and integers 0..4095 only) with its back-length.
void LpAppend(std::string* lp, std::string_view s, bool integer = false) {
  std::string e;
  if (integer) {
    const int v = std::stoi(std::string(s));
    if (v < 128) {
      e.push_back(static_cast<char>(v));
    } else {
      e.push_back(static_cast<char>(0xc0 | (v >> 8)));
      e.push_back(static_cast<char>(v & 0xff));
    }
  } else {
    e.push_back(static_cast<char>(0xf0));
    for (int i = 0; i < 4; i++) e.push_back(static_cast<char>((s.size() >> (8 * i)) & 0xff));
    e.append(s);
  }
  const size_t l = e.size();
  if (l <= 127) {
    e.push_back(static_cast<char>(l));
  } else {
    ASSERT_LT(l, 2097151u);
    if (l >= 16383) e.push_back(static_cast<char>(l >> 14));
    if (l >= 16383) e.push_back(static_cast<char>(((l >> 7) & 127) | 128));
    if (l < 16383) e.push_back(static_cast<char>(l >> 7));
    e.push_back(static_cast<char>((l & 127) | 128));
  }
  lp->append(e);
}

TEST(RdbPayloadTest, SharedStreamFieldsHaveABudget) {
  // One node whose master field is 100 KB and whose n entries all share it ("same fields").
  auto payload = [](int n) {
    std::string lp;
    LpAppend(&lp, std::to_string(n), true);  // entries
    LpAppend(&lp, "0", true);                // deleted
    LpAppend(&lp, "1", true);                // master fields
    LpAppend(&lp, std::string(100000, 'f'));
    LpAppend(&lp, "0", true);
    for (int i = 0; i < n; i++) {
      LpAppend(&lp, "2", true);  // same fields
      LpAppend(&lp, "0", true);
      LpAppend(&lp, std::to_string(i), true);
      LpAppend(&lp, "x");
      LpAppend(&lp, "4", true);
    }
    std::string whole(6, '\0');
    whole += lp;
    whole.push_back(static_cast<char>(0xff));
    for (int i = 0; i < 4; i++) whole[i] = static_cast<char>((whole.size() >> (8 * i)) & 0xff);
    RdbPayloadWriter w(kRdbStreamListpacks2);
    w.Length(1);
    w.String(std::string(16, '\0'));  // master ID 0-0
    w.String(whole);
    for (int i = 0; i < 2; i++) w.Length(n);  // entries, last ms
    for (int i = 0; i < 6; i++) w.Length(0);  // last seq, first, max-deleted, added
    w.Length(0);                              // groups
    return w.Finish();
  };
  RdbValue v;
  ASSERT_TRUE(ParseRdbPayload(payload(100), &v).ok());
  ASSERT_EQ(v.stream.entries.size(), 100u);
  EXPECT_EQ(v.stream.entries[99].fields[0].size(), 100000u);
  // 1000 copies (100 MB) from a payload of about 110 KB: refused.
  EXPECT_TRUE(absl::IsInvalidArgument(ParseRdbPayload(payload(1000), &v)));
}

TEST(RdbPayloadTest, ForgedPayloadsFailCleanly) {
  RdbPayloadWriter w(kRdbHash);
  w.Length(3);
  for (int i = 0; i < 3; i++) {
    w.String("field" + std::to_string(i));
    w.String(std::string(100, static_cast<char>('a' + i)));
  }
  std::string p = w.Finish();
  const std::string body = p.substr(0, p.size() - 10);
  RdbValue v;
  // Every truncation, and every single byte changed, either parses or is refused.
  for (size_t n = 0; n < body.size(); n++) {
    EXPECT_FALSE(ParseRdbPayload(WithFooter(body.substr(0, n)), &v).ok()) << n;
  }
  for (size_t i = 0; i < body.size(); i++) {
    for (int b : {0x00, 0x3f, 0x40, 0x80, 0x81, 0xc0, 0xc3, 0xff}) {
      std::string forged = body;
      forged[i] = static_cast<char>(b);
      (void)ParseRdbPayload(WithFooter(forged), &v);
    }
  }
  // A 64-bit element count larger than the payload.
  EXPECT_FALSE(
      ParseRdbPayload(WithFooter(std::string("\x01\x81\x7f\xff\xff\xff\xff\xff\xff\xff", 10)), &v)
          .ok());
}

}  // namespace

// An RDB length as Redis writes it (6, 14 or 32 bits).
std::string RdbLength(uint32_t n) {
  if (n < 64) return std::string(1, static_cast<char>(n));
  if (n < 16384) return {static_cast<char>(0x40 | (n >> 8)), static_cast<char>(n & 0xff)};
  std::string out(1, '\x80');
  for (int i = 3; i >= 0; i--) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out;
}

// A quicklist of one LZF-compressed listpack holding 1 + 132 x tokens copies of the
// integer 1: a payload of about 3 x tokens bytes.
std::string ManyOnes(uint32_t tokens, uint32_t* elements) {
  *elements = 1 + 132 * tokens;
  const uint32_t total = 6 + 2 * *elements + 1;
  std::string header;
  for (int i = 0; i < 4; i++) header.push_back(static_cast<char>((total >> (8 * i)) & 0xff));
  header += "\xff\xff";  // element count unknown
  std::string lzf(1, '\x07');  // 8 literal bytes: the header and the first entry
  lzf += header + "\x01\x01";
  for (uint32_t i = 0; i < tokens; i++) lzf += std::string("\xe0\xff\x01", 3);  // 264 bytes from 2 back
  lzf += std::string("\x00\xff", 2);  // the listpack's end
  std::string body(1, static_cast<char>(kRdbListQuicklist2));
  body += RdbLength(1) + RdbLength(2) + "\xc3" + RdbLength(static_cast<uint32_t>(lzf.size())) + RdbLength(total) + lzf;
  return WithFooter(body);
}

TEST(RdbPayloadTest, DecodingIsBoundedByThePayloadsSize) {
  uint32_t n = 0;
  RdbValue v;
  ASSERT_TRUE(ParseRdbPayload(ManyOnes(100, &n), &v).ok());
  EXPECT_EQ(v.elements.size(), n);
  // 120 KB that would decode to 5 million elements: refused, not allocated.
  const std::string bomb = ManyOnes(40000, &n);
  EXPECT_LT(bomb.size(), 130000u);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseRdbPayload(bomb, &v)));
  // A string longer than the limit given (proto-max-bulk-len).
  // ("ab", then 93 bytes copied from 2 back: 95 bytes.)
  const std::string lzf_string =
      WithFooter(std::string("\x00\xc3\x06\x40\x5f\x01", 6) + "ab" + std::string("\xe0\x54\x01", 3));
  ASSERT_TRUE(ParseRdbPayload(lzf_string, &v).ok());
  EXPECT_EQ(v.string.size(), 95u);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseRdbPayload(lzf_string, &v, /*max_string=*/10)));
}

}  // namespace cairn::server
