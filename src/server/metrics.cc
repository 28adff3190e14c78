#include "server/metrics.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/backups.h"
#include "server/cluster_mode.h"
#include "server/info.h"
#include "server/prometheus.h"
#include "server/version.h"

#ifndef CAIRN_GIT_SHA
#define CAIRN_GIT_SHA "unknown"
#endif

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
     "changes_since_last_backup", "Changes (keys and members written) since the last successful backup began.", K::kGauge,
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

const char* GitSha() { return CAIRN_GIT_SHA; }

namespace {

// What each engine counter (cairn.counters) means, for HELP; counters not listed get a
// generic text. Gauges are those ending in _bytes and the few states.
const char* EngineHelp(std::string_view name) {
  static const std::pair<const char*, const char*> kHelp[] = {
      {"block_cache_hits", "Block cache lookups that found the block."},
      {"block_cache_misses", "Block cache lookups that read the block from disk."},
      {"block_cache_evictions", "Blocks evicted from the block cache."},
      {"block_cache_usage_bytes", "Bytes held by the block cache."},
      {"block_cache_capacity_bytes", "Capacity of the block cache."},
      {"row_cache_hits", "Row cache lookups that found the row."},
      {"row_cache_misses", "Row cache lookups that missed."},
      {"bloom_checked", "Table reads that consulted a bloom filter."},
      {"bloom_useful", "Table reads a bloom filter answered without reading the table."},
      {"user_bytes_written", "Bytes of keys and values written by the application."},
      {"flushes", "Memtables flushed to level 0."},
      {"flush_bytes_written", "Table bytes written by flushes."},
      {"compactions", "Compactions run."},
      {"compaction_bytes_read", "Table bytes read by compactions."},
      {"compaction_bytes_written", "Table bytes written by compactions."},
      {"write_slowdowns", "Writes delayed to let compaction catch up."},
      {"write_stops", "Writes stopped until compaction caught up."},
      {"write_stall_micros", "Microseconds writes spent stalled."},
      {"wal_syncs", "WAL fsyncs."},
      {"memtable_bytes", "Bytes held by the memtables."},
      {"last_sequence", "The engine's last sequence number."},
      {"background_error", "1 while a background error keeps the engine read-only."},
      {"background_errors", "Background errors that made the engine read-only."},
      {"resumes", "Recoveries from a background error."},
  };
  for (const auto& [n, h] : kHelp) {
    if (name == n) return h;
  }
  return "Engine counter (cairn.counters).";
}

// Bytes and files under the data directory (sst, WAL, MANIFEST, blob files...).
std::pair<uint64_t, uint64_t> DiskUse(const std::string& dir) {
  uint64_t bytes = 0, files = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           dir, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code fe;
    if (!it->is_regular_file(fe) || fe) continue;
    const uintmax_t size = it->file_size(fe);
    if (fe) continue;  // removed by a compaction meanwhile
    bytes += size;
    files++;
  }
  return {bytes, files};
}

}  // namespace

std::string PrometheusMetrics(ServerContext& server) {
  using T = PrometheusText::Type;
  PrometheusText p;
  p.Family("cairn_build_info", T::kGauge,
           "Always 1; the labels name the build (version, git revision, Redis version).");
  p.Sample("cairn_build_info",
           absl::StrCat(PrometheusText::Label("version", kCairnVersion), ",",
                        PrometheusText::Label("git_sha", GitSha()), ",",
                        PrometheusText::Label("redis_version", kRedisVersion)),
           uint64_t{1});
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  p.Family("cairn_uptime_seconds", T::kGauge, "Seconds since the server started.");
  p.Sample("cairn_uptime_seconds", "", static_cast<uint64_t>((now_ms - server.start_ms) / 1000));
  for (const ServerMetric& m : ServerMetrics()) {
    const std::string name = absl::StrCat("cairn_", m.prometheus);
    p.Family(name, m.kind == ServerMetric::Kind::kGauge ? T::kGauge : T::kCounter, m.help);
    p.Sample(name, "", m.value(server));
  }
  p.Family("cairn_blocked_clients", T::kGauge, "Clients waiting in a blocking command.");
  p.Sample("cairn_blocked_clients", "", static_cast<uint64_t>(server.blocking.waiters()));

  // One block per family (the format wants a family's samples together).
  std::vector<std::pair<std::string, const CommandStats*>> used;
  for (const auto& c : server.stats.commands()) {
    if (c->calls.load() == 0 && c->rejected.load() == 0) continue;
    used.emplace_back(PrometheusText::Label("command", c->name), c.get());
  }
  p.Family("cairn_command_calls_total", T::kCounter, "Calls per command.");
  for (const auto& [label, c] : used) p.Sample("cairn_command_calls_total", label, c->calls.load());
  p.Family("cairn_command_failed_calls_total", T::kCounter,
           "Calls per command answered with an error.");
  for (const auto& [label, c] : used) {
    p.Sample("cairn_command_failed_calls_total", label, c->failed.load());
  }
  p.Family("cairn_command_rejected_calls_total", T::kCounter,
           "Calls per command refused before running (arity, ACL, OOM).");
  for (const auto& [label, c] : used) {
    p.Sample("cairn_command_rejected_calls_total", label, c->rejected.load());
  }
  p.Family("cairn_command_duration_seconds", T::kHistogram,
           "Time to execute a command, per command (excluding network and queueing).");
  for (const auto& [label, c] : used) {
    p.HistogramSeconds("cairn_command_duration_seconds", label, c->micros);
  }

  // Keys per database (INFO keyspace), from the maintained counts: the databases that
  // hold keys, as INFO lists them, and db 0 always (0 when empty), so that a series
  // queried by rate() or alerts does not vanish when its database empties.
  if (server.cluster == nullptr) {
    std::vector<std::pair<std::string, store::KeyCounts>> dbs;
    const int n = server.config->Get().databases;
    for (int db = 0; db < n; db++) {
      std::optional<store::KeyCounts> c = server.backend->Counts(db);
      if (c && (c->keys > 0 || db == 0)) {
        dbs.emplace_back(PrometheusText::Label("db", absl::StrCat(db)), *c);
      }
    }
    p.Family("cairn_db_keys", T::kGauge, "Keys per database (expired ones not yet deleted count).");
    for (const auto& [label, c] : dbs) {
      p.Sample("cairn_db_keys", label, static_cast<uint64_t>(std::max<int64_t>(0, c.keys)));
    }
    p.Family("cairn_db_keys_expiring", T::kGauge, "Keys with an expiry per database.");
    for (const auto& [label, c] : dbs) {
      p.Sample("cairn_db_keys_expiring", label, static_cast<uint64_t>(std::max<int64_t>(0, c.expires)));
    }
  }

  // The engine's counters, as cairn_engine_<name> (gauges for sizes and states).
  for (const auto& [name, value] : EngineCounters(server)) {
    const bool gauge_like =
        absl::EndsWith(name, "_bytes") || name == "last_sequence" || name == "background_error" ||
        name == "blob_files";  // sealed blob files now: garbage collection lowers it
    const std::string metric = absl::StrCat("cairn_engine_", PrometheusText::SafeName(name),
                                            gauge_like ? "" : "_total");
    p.Family(metric, gauge_like ? T::kGauge : T::kCounter, EngineHelp(name));
    p.Sample(metric, "", value);
  }
  const std::string wa = server.backend->Property("cairn.write-amplification").value_or("0");
  double wa_value = 0;
  if (!absl::SimpleAtod(wa, &wa_value)) wa_value = 0;
  p.Family("cairn_engine_write_amplification", T::kGauge, "Table bytes written per user byte.");
  p.Sample("cairn_engine_write_amplification", "", wa_value);
  // Files, bytes and pending compaction bytes per level (cairn.levels).
  struct Level {
    std::string label;
    uint64_t files, bytes;
  };
  std::vector<Level> levels;
  uint64_t pending_total = 0;
  for (absl::string_view line :
       absl::StrSplit(server.backend->Property("cairn.levels").value_or(""), '\n',
                      absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    uint64_t files, bytes, pending;
    if (f.size() != 4 || !absl::SimpleAtoi(f[1], &files) || !absl::SimpleAtoi(f[2], &bytes) ||
        !absl::SimpleAtoi(f[3], &pending)) {
      continue;
    }
    levels.push_back({PrometheusText::Label("level", std::string_view(f[0].data(), f[0].size())),
                      files, bytes});
    pending_total += pending;
  }
  p.Family("cairn_engine_level_files", T::kGauge, "Table files per LSM level.");
  for (const Level& l : levels) p.Sample("cairn_engine_level_files", l.label, l.files);
  p.Family("cairn_engine_level_bytes", T::kGauge, "Table bytes per LSM level.");
  for (const Level& l : levels) p.Sample("cairn_engine_level_bytes", l.label, l.bytes);
  p.Family("cairn_engine_pending_compaction_bytes", T::kGauge,
           "Bytes compaction must still move to bring every level under its target.");
  p.Sample("cairn_engine_pending_compaction_bytes", "", pending_total);
  const auto [disk_bytes, disk_files] = DiskUse(server.config->Get().dir);
  p.Family("cairn_data_dir_bytes", T::kGauge, "Bytes of the files under the data directory.");
  p.Sample("cairn_data_dir_bytes", "", disk_bytes);
  p.Family("cairn_data_dir_files", T::kGauge, "Files under the data directory.");
  p.Sample("cairn_data_dir_files", "", disk_files);
  if (server.cluster != nullptr) ClusterMetrics(*server.cluster, &p);
  return p.Take();
}

}  // namespace cairn::server
