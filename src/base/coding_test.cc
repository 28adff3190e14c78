#include "base/coding.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace cairn {
namespace {

TEST(CodingTest, Fixed32And64RoundTripLittleEndian) {
  std::string s;
  PutFixed32(&s, 0x01020304);
  PutFixed64(&s, 0x0102030405060708ULL);
  ASSERT_EQ(s.size(), 12u);
  EXPECT_EQ(static_cast<uint8_t>(s[0]), 0x04);  // little-endian on disk
  EXPECT_EQ(static_cast<uint8_t>(s[4]), 0x08);
  std::string_view in = s;
  uint32_t a;
  uint64_t b;
  ASSERT_TRUE(GetFixed32(&in, &a));
  ASSERT_TRUE(GetFixed64(&in, &b));
  EXPECT_EQ(a, 0x01020304u);
  EXPECT_EQ(b, 0x0102030405060708ULL);
  EXPECT_FALSE(GetFixed32(&in, &a));
}

TEST(CodingTest, Varint64RoundTripsEdgeValues) {
  std::vector<uint64_t> values = {0,
                                  1,
                                  127,
                                  128,
                                  16383,
                                  16384,
                                  UINT32_MAX,
                                  uint64_t{UINT32_MAX} + 1,
                                  std::numeric_limits<uint64_t>::max()};
  for (uint64_t p = 1; p != 0; p <<= 1) {
    values.push_back(p - 1);
    values.push_back(p);
    values.push_back(p + 1);
  }
  std::string s;
  for (uint64_t v : values) PutVarint64(&s, v);
  std::string_view in = s;
  for (uint64_t v : values) {
    uint64_t got;
    size_t before = in.size();
    ASSERT_TRUE(GetVarint64(&in, &got));
    EXPECT_EQ(got, v);
    EXPECT_EQ(before - in.size(), static_cast<size_t>(VarintLength(v)));
  }
  EXPECT_TRUE(in.empty());
}

TEST(CodingTest, Varint32RejectsOverflowAndTruncation) {
  std::string s;
  PutVarint64(&s, uint64_t{UINT32_MAX} + 1);
  std::string_view in = s;
  uint32_t v;
  EXPECT_FALSE(GetVarint32(&in, &v));

  std::string trunc;
  PutVarint32(&trunc, 1u << 30);
  trunc.pop_back();
  in = trunc;
  EXPECT_FALSE(GetVarint32(&in, &v));
}

TEST(CodingTest, Varint64RejectsElevenByteEncoding) {
  std::string s(10, '\xff');
  s.push_back('\x01');
  std::string_view in = s;
  uint64_t v;
  EXPECT_FALSE(GetVarint64(&in, &v));
  std::string ten(9, '\xff');
  ten.push_back('\x02');  // bit 64 set: overflow
  in = ten;
  EXPECT_FALSE(GetVarint64(&in, &v));
}

TEST(CodingTest, LengthPrefixed) {
  std::string s;
  PutLengthPrefixed(&s, "");
  PutLengthPrefixed(&s, "foo");
  PutLengthPrefixed(&s, std::string(300, 'x'));
  std::string_view in = s, out;
  ASSERT_TRUE(GetLengthPrefixed(&in, &out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(GetLengthPrefixed(&in, &out));
  EXPECT_EQ(out, "foo");
  ASSERT_TRUE(GetLengthPrefixed(&in, &out));
  EXPECT_EQ(out, std::string(300, 'x'));
  EXPECT_FALSE(GetLengthPrefixed(&in, &out));

  std::string bad;
  PutVarint32(&bad, 10);
  bad += "short";
  in = bad;
  EXPECT_FALSE(GetLengthPrefixed(&in, &out));
}

}  // namespace
}  // namespace cairn
