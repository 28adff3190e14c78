#include "cluster/hlc.h"

#include <algorithm>
#include <chrono>

namespace cairn::cluster {

int64_t HybridClock::Wall() const {
  if (wall_ms_) return wall_ms_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t HybridClock::Now() {
  const uint64_t wall = FromMillis(Wall());
  uint64_t last = last_.load(std::memory_order_relaxed);
  while (true) {
    const uint64_t next = wall > last ? wall : last + 1;
    if (last_.compare_exchange_weak(last, next, std::memory_order_relaxed)) return next;
  }
}

void HybridClock::Observe(uint64_t remote) {
  const int64_t wall = Wall();
  if (wall > 0) remote = std::min(remote, FromMillis(wall + max_drift_ms_));
  uint64_t last = last_.load(std::memory_order_relaxed);
  while (remote > last && !last_.compare_exchange_weak(last, remote, std::memory_order_relaxed)) {
  }
}

}  // namespace cairn::cluster
