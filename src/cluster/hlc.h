// A hybrid logical clock (Kulkarni et al., 2014): 64-bit timestamps that follow the wall
// clock (milliseconds in the high 48 bits, a counter in the low 16) but never go
// backwards on one node, and move past every timestamp a node has seen from others, so a
// write that causally follows another always gets a larger version even across clock
// skew. Versions of writes to one key are compared by these (last writer wins).
#ifndef CAIRN_CLUSTER_HLC_H_
#define CAIRN_CLUSTER_HLC_H_

#include <atomic>
#include <cstdint>
#include <functional>

namespace cairn::cluster {

class HybridClock {
 public:
  // wall_ms: Unix milliseconds; null: the system clock. max_drift_ms: how far past this
  // node's wall clock an observed timestamp may move the clock (Observe).
  explicit HybridClock(std::function<int64_t()> wall_ms = nullptr,
                       int64_t max_drift_ms = kDefaultMaxDriftMs)
      : wall_ms_(std::move(wall_ms)), max_drift_ms_(max_drift_ms) {}

  // A timestamp larger than every one this clock returned or observed before.
  uint64_t Now();
  // Takes note of a timestamp from another node (a version read or replicated). One more
  // than max_drift_ms ahead of this node's wall clock moves the clock only that far: a
  // peer with a clock far ahead (or a forged version) cannot drag every node's time
  // along, which would cut grace periods short.
  void Observe(uint64_t remote);
  int64_t max_drift_ms() const { return max_drift_ms_; }

  static constexpr int64_t kDefaultMaxDriftMs = 5 * 60 * 1000;

  static uint64_t Physical(uint64_t ts) { return ts >> 16; }
  static uint64_t FromMillis(int64_t ms) { return static_cast<uint64_t>(ms) << 16; }

 private:
  int64_t Wall() const;
  std::function<int64_t()> wall_ms_;
  const int64_t max_drift_ms_;
  std::atomic<uint64_t> last_{0};
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_HLC_H_
