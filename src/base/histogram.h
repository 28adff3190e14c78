// A latency histogram for hot paths: lock-free recording into logarithmic buckets (4
// per power of two, so a percentile is within ~19% of the true value), percentiles on
// demand. Thread-safe.
#ifndef CAIRN_BASE_HISTOGRAM_H_
#define CAIRN_BASE_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

namespace cairn {

class Histogram {
 public:
  void Record(uint64_t value) {
    buckets_[BucketFor(value)].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t sum() const { return sum_.load(std::memory_order_relaxed); }
  // The value at quantile q (0..1): the upper bound of the bucket holding it; 0 if empty.
  uint64_t Percentile(double q) const {
    uint64_t counts[kBuckets];
    uint64_t total = 0;
    for (int i = 0; i < kBuckets; i++)
      total += counts[i] = buckets_[i].load(std::memory_order_relaxed);
    if (total == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total));
    if (rank >= total) rank = total - 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; i++) {
      seen += counts[i];
      if (seen > rank) return UpperBound(i);
    }
    return UpperBound(kBuckets - 1);
  }
  // A cumulative distribution by powers of two: (2^k, how many values were below 2^k)
  // for each k whose range [2^(k-1), 2^k) (k = 0: the value 0) holds values, in order.
  std::vector<std::pair<uint64_t, uint64_t>> PowerOfTwoCumulative() const {
    uint64_t by_class[65] = {};
    for (int i = 0; i < kBuckets; i++) {
      const uint64_t n = buckets_[i].load(std::memory_order_relaxed);
      if (n == 0) continue;
      // Bucket i holds values of one power of two: 0, 1, [2,3], then one per log.
      const int k = i == 0 ? 0 : i == 1 ? 1 : i < kSubBuckets ? 2 : i / kSubBuckets + 2;
      by_class[k < 64 ? k : 64] += n;
    }
    std::vector<std::pair<uint64_t, uint64_t>> out;
    uint64_t seen = 0;
    for (int k = 0; k <= 64; k++) {
      if (by_class[k] == 0) continue;
      seen += by_class[k];
      out.emplace_back(k >= 64 ? UINT64_MAX : uint64_t{1} << k, seen);
    }
    return out;
  }
  // How many recorded values are at most `bound`, as far as the buckets tell: the values
  // of every bucket whose upper bound is <= bound (a bucket straddling it counts above
  // it, so the answer errs low by at most one bucket's share). Monotonic in bound.
  uint64_t CountAtMost(uint64_t bound) const {
    uint64_t n = 0;
    for (int i = 0; i < kBuckets && UpperBound(i) <= bound; i++) {
      n += buckets_[i].load(std::memory_order_relaxed);
    }
    return n;
  }
  // The bucket edge nearest v: a value where one bucket ends and the next begins (the
  // lower bound of a bucket), so that CountBelow(edge) is exact. Edges are 0..4, then 4
  // per power of two (32, 40, 48, 56, 64, 80, ...).
  static uint64_t EdgeNear(uint64_t v) {
    if (v <= kSubBuckets) return v;
    const int b = BucketFor(v);
    const uint64_t lo = UpperBound(b - 1) + 1;
    if (UpperBound(b) == UINT64_MAX) return lo;
    const uint64_t hi = UpperBound(b) + 1;
    return v - lo <= hi - v ? lo : hi;
  }
  // How many recorded values are below edge; exact when edge is a bucket edge
  // (EdgeNear), for integer values: a duration truncated to whole microseconds is below
  // edge microseconds exactly when it was recorded below it.
  uint64_t CountBelow(uint64_t edge) const { return edge == 0 ? 0 : CountAtMost(edge - 1); }
  void Reset() {
    for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
    count_.store(0, std::memory_order_relaxed);
    sum_.store(0, std::memory_order_relaxed);
  }

 private:
  static constexpr int kSubBuckets = 4;
  static constexpr int kBuckets = 64 * kSubBuckets;
  // Values 0..3 get their own buckets; above, a power of two split in 4 parts.
  static int BucketFor(uint64_t v) {
    if (v < kSubBuckets) return static_cast<int>(v);
    const int log = 63 - std::countl_zero(v);  // >= 2
    const int sub = static_cast<int>((v >> (log - 2)) & 3);
    return (log - 1) * kSubBuckets + sub;
  }
  static uint64_t UpperBound(int bucket) {
    if (bucket < kSubBuckets) return static_cast<uint64_t>(bucket);
    const int log = bucket / kSubBuckets + 1;
    const uint64_t sub = static_cast<uint64_t>(bucket % kSubBuckets);
    if (log >= 63) return UINT64_MAX;
    return ((uint64_t{4} + sub + 1) << (log - 2)) - 1;
  }

  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
};

}  // namespace cairn

#endif  // CAIRN_BASE_HISTOGRAM_H_
