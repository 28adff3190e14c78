// The Prometheus text exposition format (version 0.0.4), written one metric family at a
// time: every family gets its # HELP and # TYPE lines once, before its first sample, and
// histograms are rendered in seconds with cumulative buckets ending in +Inf, so scrapes
// of several nodes can be summed (docs/metrics.md). Not thread-safe: one per scrape.
#ifndef CAIRN_SERVER_PROMETHEUS_H_
#define CAIRN_SERVER_PROMETHEUS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "base/histogram.h"

namespace cairn::server {

class PrometheusText {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  // Declares family `name` (its HELP and TYPE lines) unless it was declared already.
  // REQUIRES: name matches [a-zA-Z_:][a-zA-Z0-9_:]*; help has no line break.
  void Family(std::string_view name, Type type, std::string_view help);
  // One sample of a declared family. labels: the text inside the braces (from Label),
  // or empty.
  void Sample(std::string_view name, std::string_view labels, uint64_t value);
  void Sample(std::string_view name, std::string_view labels, double value);
  // The samples of histogram family `name` (declared with kHistogram) for one label
  // set, from a histogram of microseconds: name_bucket{le=...} in seconds, name_sum
  // in seconds, name_count.
  void HistogramSeconds(std::string_view name, std::string_view labels, const Histogram& micros);

  // A label pair key="value", the value escaped as the format requires.
  static std::string Label(std::string_view key, std::string_view value);
  // name with every character outside [a-zA-Z0-9_] made '_'.
  static std::string SafeName(std::string_view name);

  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
  absl::flat_hash_set<std::string> declared_;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_PROMETHEUS_H_
