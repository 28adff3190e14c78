// The server's metrics, named once (issue 15: "INFO, /metrics and /v1/stats render from
// one registry"). Each entry says what it is called in INFO (and in which section), in
// Prometheus (GET /metrics, prefixed "cairn_") and in GET /v1/stats, and reads its value
// from the server context; the three renderings walk this table, so they cannot disagree
// on a name or a value, and a metric added here appears in all three.
//
// Per-command statistics (calls, errors, latency) and the engine's counters are tables of
// their own (ServerStats::commands, EngineCounters) rendered by the same three places.
// Thread-safe: values are read from atomics and the engine's properties.
#ifndef CAIRN_SERVER_METRICS_H_
#define CAIRN_SERVER_METRICS_H_

#include <cstdint>
#include <span>
#include <string>

#include "server/command.h"

namespace cairn::server {

struct ServerMetric {
  enum class Kind { kCounter, kGauge };
  const char* info_section;  // "clients", "memory" or "stats"
  const char* info;          // INFO field name
  const char* prometheus;    // after "cairn_"; counters end in "_total"
  const char* json;          // GET /v1/stats field
  const char* help;          // Prometheus HELP text
  Kind kind;
  uint64_t (*value)(ServerContext& server);
};

// In INFO order within each section.
std::span<const ServerMetric> ServerMetrics();

// INFO lines ("name:value\r\n") of the metrics of one section, in table order.
std::string InfoMetricLines(ServerContext& server, std::string_view section);

// GET /metrics: the table above, per-command calls and latency histograms, the engine's
// counters and levels, the data directory's disk use, key counts, build info and, in
// cluster mode, the cluster's (docs/metrics.md). Every family has HELP and TYPE lines.
std::string PrometheusMetrics(ServerContext& server);

// The git revision the binary was built from ("unknown" outside a git checkout).
const char* GitSha();

}  // namespace cairn::server

#endif  // CAIRN_SERVER_METRICS_H_
