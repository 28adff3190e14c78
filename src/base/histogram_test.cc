#include "base/histogram.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(HistogramTest, PercentilesAreWithinABucketOfTheTruth) {
  Histogram h;
  EXPECT_EQ(h.Percentile(0.5), 0u);
  for (uint64_t v = 1; v <= 10000; v++) h.Record(v);
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_EQ(h.sum(), 10000u * 10001 / 2);
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double truth = q * 10000;
    const double got = static_cast<double>(h.Percentile(q));
    EXPECT_GE(got, truth * 0.99) << q;
    EXPECT_LE(got, truth * 1.26) << q;
  }
  h.Record(0);
  h.Record(UINT64_MAX);
  EXPECT_EQ(h.Percentile(1.0), UINT64_MAX);
  h.Reset();
  EXPECT_EQ(h.count(), 0u);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (int i = 0; i < 100; i++) h.Record(3);
  EXPECT_EQ(h.Percentile(0.5), 3u);
  h.Record(5);
  EXPECT_EQ(h.Percentile(1.0), 5u);
}

}  // namespace
}  // namespace cairn
