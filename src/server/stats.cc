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
  http_requests = 0;
}

}  // namespace cairn::server
