#include "server/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace cairn::server {
namespace {

// le -> cumulative count of the histogram's _bucket lines.
std::map<double, uint64_t> Buckets(const std::string& text) {
  std::map<double, uint64_t> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "h_bucket{le=\"") || absl::StrContains(line, "+Inf")) continue;
    const size_t q = line.find('"', 13);
    const std::string le(line.substr(13, q - 13));
    out[std::strtod(le.c_str(), nullptr)] = std::strtoull(std::string(line.substr(q + 3)).c_str(), nullptr, 10);
  }
  return out;
}

// Every bucket holds exactly the durations at most its le, whatever they are: before, a
// bound inside one of the histogram's own buckets (50 µs inside 48..55) left out values
// below it (a 49 µs command counted above 50 µs).
TEST(PrometheusTest, BucketsCountExactlyTheDurationsAtMostTheirBound) {
  std::mt19937_64 rng(7);
  Histogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 20000; i++) {
    // Log-uniform over 1 µs .. 20 s, plus values right at and around each nominal bound.
    const uint64_t v = static_cast<uint64_t>(std::exp(std::uniform_real_distribution<>(0, 16.8)(rng)));
    values.push_back(v);
  }
  for (uint64_t b : {50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
                     500000, 1000000, 2500000, 5000000, 10000000}) {
    for (uint64_t d : {b - 2, b - 1, b, b + 1}) values.push_back(d);
  }
  for (uint64_t v : values) h.Record(v);
  PrometheusText p;
  p.Family("h", PrometheusText::Type::kHistogram, "H.");
  p.HistogramSeconds("h", "", h);
  const std::map<double, uint64_t> buckets = Buckets(p.Take());
  ASSERT_EQ(buckets.size(), 17u);
  for (const auto& [le, count] : buckets) {
    // A value recorded as v whole microseconds lasted [v, v + 1): at most le for sure
    // when v + 1 <= le.
    uint64_t want = 0;
    for (uint64_t v : values) want += static_cast<double>(v + 1) <= le * 1e6 + 1e-6;
    EXPECT_EQ(count, want) << "le=" << le;
  }
  // The bounds stay near Prometheus's (50 µs .. 10 s), within a quarter of each.
  EXPECT_NEAR(buckets.begin()->first, 50e-6, 50e-6 / 4);
  EXPECT_NEAR(buckets.rbegin()->first, 10.0, 10.0 / 4);
}

}  // namespace
}  // namespace cairn::server
