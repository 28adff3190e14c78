#include "server/metrics.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/backups.h"

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

// Backups (backups.h): 0 where the server has none (in-process tests).
BackupService::State Backups(ServerContext& s) {
  return s.backups != nullptr ? s.backups->state() : BackupService::State{};
}
uint64_t ChangesSinceSave(ServerContext& s) {
  return s.backups != nullptr ? s.backups->ChangesSinceLastSave() : 0;
}
uint64_t BackupInProgress(ServerContext& s) { return Backups(s).in_progress ? 1 : 0; }
uint64_t LastSaveTime(ServerContext& s) {
  const int64_t ms = s.backups != nullptr ? Backups(s).last_save_ms : s.start_ms;
  return static_cast<uint64_t>(ms / 1000);
}
uint64_t LastBackupAge(ServerContext& s) {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  const auto st = Backups(s);
  if (!st.have_last) return 0;
  return static_cast<uint64_t>(std::max<int64_t>(0, now - st.last.timestamp_ms / 1000));
}
uint64_t LastBackupSize(ServerContext& s) { return Backups(s).last.size; }
uint64_t LastBackupNewBytes(ServerContext& s) { return Backups(s).last.new_bytes; }
uint64_t LastBackupDuration(ServerContext& s) { return Backups(s).last.duration_ms; }

using K = ServerMetric::Kind;

constexpr ServerMetric kMetrics[] = {
    {"persistence", "rdb_changes_since_last_save", "changes_since_last_backup",
     "changes_since_last_backup", "Engine writes (sequence numbers) since the last successful backup.", K::kGauge,
     ChangesSinceSave},
    {"persistence", "rdb_bgsave_in_progress", "backup_in_progress", "backup_in_progress",
     "1 while a backup (SAVE, BGSAVE, POST /v1/backup) runs.", K::kGauge, BackupInProgress},
    {"persistence", "rdb_last_save_time", "last_backup_timestamp_seconds", "last_save_time",
     "Unix time of the last successful backup (start-up time before the first).", K::kGauge,
     LastSaveTime},
    {"persistence", "backup_last_age_seconds", "backup_last_age_seconds", "backup_last_age_seconds",
     "Seconds since the last successful backup's checkpoint (0: none since start-up).", K::kGauge,
     LastBackupAge},
    {"persistence", "backup_last_size_bytes", "backup_last_size_bytes", "backup_last_size_bytes",
     "Bytes of the last successful backup (all its files, shared ones too).", K::kGauge,
     LastBackupSize},
    {"persistence", "backup_last_new_bytes", "backup_last_new_bytes", "backup_last_new_bytes",
     "Bytes the last successful backup copied (not shared with earlier backups).", K::kGauge,
     LastBackupNewBytes},
    {"persistence", "backup_last_duration_ms", "backup_last_duration_milliseconds",
     "backup_last_duration_ms", "Milliseconds the last successful backup took.", K::kGauge,
     LastBackupDuration},
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
