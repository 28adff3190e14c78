// Server counters: per command (calls, errors, latency histogram), connections, bytes,
// keyspace hits and misses. Lock-free on the command path; INFO, /metrics and
// /v1/stats read them.
#ifndef CAIRN_SERVER_STATS_H_
#define CAIRN_SERVER_STATS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "base/histogram.h"

namespace cairn::server {

struct CommandSpec;

struct CommandStats {
  std::string name;
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> failed{0};    // replied with an error
  std::atomic<uint64_t> rejected{0};  // refused before running (arity, auth, OOM)
  Histogram micros;                   // execution time
};

class ServerStats {
 public:
  ServerStats();
  // Stable for the server's lifetime.
  CommandStats* ForCommand(const CommandSpec* spec) const { return by_spec_.at(spec); }
  const std::vector<std::unique_ptr<CommandStats>>& commands() const { return commands_; }

  std::atomic<uint64_t> connections_received{0};
  std::atomic<uint64_t> connections_rejected{0};
  std::atomic<uint64_t> commands_processed{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> keyspace_hits{0};
  std::atomic<uint64_t> keyspace_misses{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> http_requests{0};
  std::atomic<uint64_t> expired_keys{0};  // deleted by active expiry (active_expiry.h)

  void Reset();

  // Rates over the last 1.6 s or so (INFO instantaneous_*), as Redis's
  // trackInstantaneousMetric: a sample at most every 100 ms (the server's sampler thread
  // takes one every 100 ms; each call takes one too when due), over the last 16 samples.
  struct Rates {
    uint64_t ops_per_sec = 0;
    double input_kbps = 0, output_kbps = 0;
  };
  void Sample(int64_t now_ms);
  Rates Instantaneous(int64_t now_ms);
  uint64_t OpsPerSecond(int64_t now_ms) { return Instantaneous(now_ms).ops_per_sec; }

 private:
  struct RateSample {
    int64_t ms;
    uint64_t commands, bytes_in, bytes_out;
  };
  std::vector<std::unique_ptr<CommandStats>> commands_;  // in command table order
  absl::flat_hash_map<const CommandSpec*, CommandStats*> by_spec_;
  absl::Mutex ops_mu_;
  std::vector<RateSample> ops_samples_ ABSL_GUARDED_BY(ops_mu_);
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_STATS_H_
