#include "server/metrics.h"

#include "absl/strings/str_cat.h"

namespace cairn::server {
namespace {

uint64_t ConnectedClients(ServerContext& s) { return s.clients.size(); }
uint64_t UsedMemory(ServerContext& s) { return s.used_memory ? s.used_memory() : 0; }
uint64_t ErrorReplies(ServerContext& s) {
  uint64_t errors = 0;
  for (const auto& cmd : s.stats.commands()) errors += cmd->failed.load() + cmd->rejected.load();
  return errors;
}

template <std::atomic<uint64_t> ServerStats::*field>
uint64_t Stat(ServerContext& s) {
  return (s.stats.*field).load(std::memory_order_relaxed);
}

using K = ServerMetric::Kind;

constexpr ServerMetric kMetrics[] = {
    {"clients", "connected_clients", "connected_clients", "connected_clients",
     "Connected RESP clients.", K::kGauge, ConnectedClients},
    {"memory", "used_memory", "used_memory_bytes", "used_memory", "Allocated memory.", K::kGauge,
     UsedMemory},
    {"stats", "total_connections_received", "connections_received_total", "connections_received",
     "Accepted connections.", K::kCounter, Stat<&ServerStats::connections_received>},
    {"stats", "total_commands_processed", "commands_processed_total", "commands_processed",
     "Commands run.", K::kCounter, Stat<&ServerStats::commands_processed>},
    {"stats", "total_net_input_bytes", "net_input_bytes_total", "net_input_bytes",
     "Bytes read from clients.", K::kCounter, Stat<&ServerStats::bytes_in>},
    {"stats", "total_net_output_bytes", "net_output_bytes_total", "net_output_bytes",
     "Bytes written to clients.", K::kCounter, Stat<&ServerStats::bytes_out>},
    {"stats", "rejected_connections", "rejected_connections_total", "rejected_connections",
     "Connections refused (maxclients, protected mode).", K::kCounter, Stat<&ServerStats::connections_rejected>},
    {"stats", "keyspace_hits", "keyspace_hits_total", "keyspace_hits",
     "Reads that found their key.", K::kCounter, Stat<&ServerStats::keyspace_hits>},
    {"stats", "keyspace_misses", "keyspace_misses_total", "keyspace_misses",
     "Reads that did not find their key.", K::kCounter, Stat<&ServerStats::keyspace_misses>},
    {"stats", "total_error_replies", "error_replies_total", "error_replies",
     "Commands answered with an error or refused.", K::kCounter, ErrorReplies},
    {"stats", "protocol_errors", "protocol_errors_total", "protocol_errors",
     "Requests that were not valid RESP (the connection closes).", K::kCounter, Stat<&ServerStats::protocol_errors>},
    {"stats", "http_requests", "http_requests_total", "http_requests", "HTTP API requests.",
     K::kCounter, Stat<&ServerStats::http_requests>},
    {"stats", "expired_keys", "expired_keys_total", "expired_keys",
     "Keys deleted because their expiry passed.", K::kCounter, Stat<&ServerStats::expired_keys>},
};

}  // namespace

std::span<const ServerMetric> ServerMetrics() { return kMetrics; }

std::string InfoMetricLines(ServerContext& server, std::string_view section) {
  std::string out;
  for (const ServerMetric& m : kMetrics) {
    if (section == m.info_section) absl::StrAppend(&out, m.info, ":", m.value(server), "\r\n");
  }
  return out;
}

}  // namespace cairn::server
