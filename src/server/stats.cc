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

void ServerStats::Sample(int64_t now_ms) {
  const RateSample now{now_ms, commands_processed.load(std::memory_order_relaxed),
                       bytes_in.load(std::memory_order_relaxed),
                       bytes_out.load(std::memory_order_relaxed)};
  absl::MutexLock l(&ops_mu_);
  if (ops_samples_.empty() || now_ms - ops_samples_.back().ms >= 100) {
    ops_samples_.push_back(now);
    if (ops_samples_.size() > 16) ops_samples_.erase(ops_samples_.begin());
  }
}

ServerStats::Rates ServerStats::Instantaneous(int64_t now_ms) {
  Sample(now_ms);
  absl::MutexLock l(&ops_mu_);
  const RateSample& first = ops_samples_.front();
  const RateSample& last = ops_samples_.back();
  Rates r;
  if (last.ms <= first.ms) return r;
  const auto ms = static_cast<uint64_t>(last.ms - first.ms);
  auto per_sec = [&](uint64_t a, uint64_t b) { return b >= a ? (b - a) * 1000 / ms : 0; };
  r.ops_per_sec = per_sec(first.commands, last.commands);
  r.input_kbps = static_cast<double>(per_sec(first.bytes_in, last.bytes_in)) / 1024;
  r.output_kbps = static_cast<double>(per_sec(first.bytes_out, last.bytes_out)) / 1024;
  return r;
}

}  // namespace cairn::server
