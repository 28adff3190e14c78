// Phi-accrual failure detection (Hayashibara et al., 2004; as in Cassandra and Akka):
// instead of "up" or "down" after a fixed timeout, phi says how unlikely the silence
// since the last heartbeat is, given the intervals seen so far:
//
//   phi(t) = -log10(1 - F(t - last)),  F = CDF of the heartbeat intervals (normal fit)
//
// phi 1 means a 10% chance the member is still alive and just late, 8 means 1e-8. A
// member is suspected once phi passes a threshold (default 8). A jittery link widens the
// distribution, so it takes longer silence to suspect a member behind it.
#ifndef CAIRN_CLUSTER_FAILURE_DETECTOR_H_
#define CAIRN_CLUSTER_FAILURE_DETECTOR_H_

#include <cstddef>
#include <cstdint>
#include <deque>

namespace cairn::cluster {

class PhiAccrualDetector {
 public:
  struct Options {
    size_t window = 1000;                   // intervals remembered
    double min_std_dev_ms = 100;            // floor on the fitted deviation
    double acceptable_pause_ms = 0;         // added to the mean (GC pauses and the like)
    double first_interval_ms = 1000;        // assumed before two heartbeats arrived
  };
  PhiAccrualDetector() : PhiAccrualDetector(Options{}) {}
  explicit PhiAccrualDetector(const Options& options) : options_(options) {}

  // A heartbeat arrived at now_ms (monotonic milliseconds).
  void Heartbeat(int64_t now_ms);
  // Suspicion at now_ms: 0 right after a heartbeat, growing with silence. 0 before the
  // first heartbeat (nothing known yet).
  double Phi(int64_t now_ms) const;
  bool IsAvailable(int64_t now_ms, double threshold = 8.0) const { return Phi(now_ms) < threshold; }

  double mean_ms() const;
  double std_dev_ms() const;

 private:
  Options options_;
  std::deque<double> intervals_;
  double sum_ = 0, sum_squares_ = 0;
  int64_t last_ms_ = -1;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_FAILURE_DETECTOR_H_
