#include "engine/bloom.h"

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"

namespace cairn::engine {
namespace {

TEST(BloomTest, NoFalseNegatives) {
  BloomFilterBuilder b(10);
  for (int i = 0; i < 10000; i++) b.AddKey(absl::StrFormat("key%d", i));
  std::string f = b.Finish();
  for (int i = 0; i < 10000; i++) ASSERT_TRUE(BloomFilterMayMatch(f, absl::StrFormat("key%d", i)));
}

TEST(BloomTest, FalsePositiveRateWithinTwiceTheory) {
  for (int bits : {5, 10, 16}) {
    for (int n : {100, 10000, 200000}) {
      BloomFilterBuilder b(bits);
      for (int i = 0; i < n; i++) b.AddKey(absl::StrFormat("present-%d", i));
      std::string f = b.Finish();
      int fp = 0;
      const int probes = 200000;
      for (int i = 0; i < probes; i++)
        fp += BloomFilterMayMatch(f, absl::StrFormat("absent-%d", i));
      const double rate = static_cast<double>(fp) / probes;
      const double theory = BloomFilterTheoreticalFpRate(bits);
      SCOPED_TRACE(absl::StrFormat("bits=%d n=%d rate=%.5f theory=%.5f", bits, n, rate, theory));
      if (n >= 10000) {
        EXPECT_LT(rate, 2 * theory);  // tiny filters round up to 64 bits: looser there
      }
      EXPECT_GT(rate, 0.0);  // a filter that always says "no" is broken
    }
  }
}

TEST(BloomTest, TenBitsPerKeyIsAboutOnePercent) {
  EXPECT_NEAR(BloomFilterTheoreticalFpRate(10), 0.0082, 0.001);
}

TEST(BloomTest, MalformedFiltersNeverHideKeys) {
  EXPECT_TRUE(BloomFilterMayMatch("", "k"));
  EXPECT_TRUE(BloomFilterMayMatch("x", "k"));
  EXPECT_TRUE(BloomFilterMayMatch(std::string(64, '\0') + "\x7f", "k"));  // bad probe count
  EXPECT_TRUE(BloomFilterMayMatch(std::string(70, '\0') + "\x07", "k"));  // not whole lines
}

TEST(BloomTest, EmptyFilterRejectsEverything) {
  BloomFilterBuilder b(10);
  std::string f = b.Finish();
  EXPECT_FALSE(BloomFilterMayMatch(f, "anything"));
}

}  // namespace
}  // namespace cairn::engine
