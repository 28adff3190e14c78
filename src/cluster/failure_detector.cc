#include "cluster/failure_detector.h"

#include <algorithm>
#include <cmath>

namespace cairn::cluster {

void PhiAccrualDetector::Heartbeat(int64_t now_ms) {
  if (last_ms_ >= 0 && now_ms >= last_ms_) {
    const double interval = static_cast<double>(now_ms - last_ms_);
    intervals_.push_back(interval);
    sum_ += interval;
    sum_squares_ += interval * interval;
    if (intervals_.size() > options_.window) {
      const double old = intervals_.front();
      intervals_.pop_front();
      sum_ -= old;
      sum_squares_ -= old * old;
    }
  }
  last_ms_ = std::max(last_ms_, now_ms);
}

double PhiAccrualDetector::mean_ms() const {
  return intervals_.empty() ? options_.first_interval_ms : sum_ / intervals_.size();
}

double PhiAccrualDetector::std_dev_ms() const {
  double variance = 0;
  if (intervals_.size() >= 2) {
    const double mean = sum_ / intervals_.size();
    variance = std::max(0.0, sum_squares_ / intervals_.size() - mean * mean);
  } else {
    // One guess from the first interval (Akka's bootstrap): a quarter of it.
    variance = std::pow(mean_ms() / 4, 2);
  }
  return std::max(std::sqrt(variance), options_.min_std_dev_ms);
}

double PhiAccrualDetector::Phi(int64_t now_ms) const {
  if (last_ms_ < 0) return 0;
  const double elapsed = static_cast<double>(std::max<int64_t>(0, now_ms - last_ms_));
  const double mean = mean_ms() + options_.acceptable_pause_ms;
  const double y = (elapsed - mean) / std_dev_ms();
  // The logistic approximation of the normal CDF (error < 1e-4, Bowling et al. 2009),
  // written so that neither branch loses precision in the tail.
  const double e = std::exp(-y * (1.5976 + 0.070566 * y * y));
  const double phi = elapsed > mean ? -std::log10(e / (1.0 + e)) : -std::log10(1.0 - 1.0 / (1.0 + e));
  return std::max(0.0, phi);
}

}  // namespace cairn::cluster
