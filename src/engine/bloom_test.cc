#include "engine/bloom.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_format.h"
#include "base/checksum.h"

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

// The memtable's filter: every added key is found by readers running alongside the
// writer, and at 16 bits per key (6 probes) false positives stay near 0.1-0.2%.
TEST(ConcurrentBloomTest, ReadersSeeEveryPublishedKeyAndFewFalsePositives) {
  constexpr int kKeys = 100000;
  ConcurrentBloom bloom(kKeys * 16 / 8, 6);
  std::atomic<int> published{0};
  std::atomic<int> misses{0};
  std::thread reader([&] {
    int checked = 0;
    while (published.load(std::memory_order_acquire) < kKeys || checked == 0) {
      const int n = published.load(std::memory_order_acquire);
      for (int i = std::max(0, n - 100); i < n; i++) {
        if (!bloom.MayContain(Hash64(absl::StrFormat("key%d", i)))) misses++;
      }
      checked++;
    }
  });
  for (int i = 0; i < kKeys; i++) {
    bloom.Add(Hash64(absl::StrFormat("key%d", i)));
    published.store(i + 1, std::memory_order_release);
  }
  reader.join();
  EXPECT_EQ(misses.load(), 0);
  for (int i = 0; i < kKeys; i++)
    ASSERT_TRUE(bloom.MayContain(Hash64(absl::StrFormat("key%d", i))));
  int false_positives = 0;
  for (int i = 0; i < kKeys; i++) {
    false_positives += bloom.MayContain(Hash64(absl::StrFormat("other%d", i)));
  }
  EXPECT_LT(false_positives, kKeys / 200) << false_positives;  // < 0.5%
}

}  // namespace
}  // namespace cairn::engine
