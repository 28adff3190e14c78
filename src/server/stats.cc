#include "server/stats.h"

#include "server/command.h"

namespace cairn::server {

ServerStats::ServerStats() {
  for (const CommandSpec* spec : CommandTable::Get().all()) {
    auto s = std::make_unique<CommandStats>();
    s->name = spec->name;
    by_spec_[spec] = s.get();
    commands_.push_back(std::move(s));
  }
}

void ServerStats::Reset() {
  for (auto& c : commands_) {
    c->calls = 0;
    c->failed = 0;
    c->rejected = 0;
    c->micros.Reset();
  }
  connections_received = 0;
  connections_rejected = 0;
  commands_processed = 0;
  bytes_in = 0;
  bytes_out = 0;
  keyspace_hits = 0;
  keyspace_misses = 0;
  protocol_errors = 0;
  expired_keys = 0;
  http_requests = 0;
}

uint64_t ServerStats::OpsPerSecond(int64_t now_ms) {
  const uint64_t total = commands_processed.load(std::memory_order_relaxed);
  absl::MutexLock l(&ops_mu_);
  if (ops_samples_.empty() || now_ms - ops_samples_.back().first >= 100) {
    ops_samples_.emplace_back(now_ms, total);
    if (ops_samples_.size() > 16) ops_samples_.erase(ops_samples_.begin());
  }
  const auto& [first_ms, first_count] = ops_samples_.front();
  if (now_ms <= first_ms || total < first_count) return 0;
  return (total - first_count) * 1000 / static_cast<uint64_t>(now_ms - first_ms);
}

}  // namespace cairn::server
