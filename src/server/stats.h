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

#include "absl/container/flat_hash_map.h"
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

  void Reset();

 private:
  std::vector<std::unique_ptr<CommandStats>> commands_;  // in command table order
  absl::flat_hash_map<const CommandSpec*, CommandStats*> by_spec_;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_STATS_H_
