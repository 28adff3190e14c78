#include "server/info.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <algorithm>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "server/backups.h"
#include "server/cluster_mode.h"
#include "server/metrics.h"
#include "server/version.h"

// Defined when the binary links jemalloc (release builds).
extern "C" int mallctl(const char*, void*, size_t*, void*, size_t) __attribute__((weak));

namespace cairn::server {
namespace {

const char* MemAllocator() { return mallctl != nullptr ? "jemalloc" : "libc"; }

std::string Property(ServerContext& s, std::string_view name) {
  return s.backend->Property(name).value_or("");
}

uint64_t Counter(const std::vector<std::pair<std::string, uint64_t>>& counters,
                 std::string_view name) {
  for (const auto& [n, v] : counters) {
    if (n == name) return v;
  }
  return 0;
}

// Redis's bytesToHuman.
std::string Human(uint64_t n) {
  const double d = static_cast<double>(n);
  if (n < 1024) return absl::StrCat(n, "B");
  if (n < (uint64_t{1} << 20)) return absl::StrFormat("%.2fK", d / 1024);
  if (n < (uint64_t{1} << 30)) return absl::StrFormat("%.2fM", d / (1 << 20));
  if (n < (uint64_t{1} << 40)) return absl::StrFormat("%.2fG", d / (1 << 30));
  return absl::StrFormat("%.2fT", d / (uint64_t{1} << 40));
}

uint64_t ResidentBytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::string CompilerVersion() {
#if defined(__clang__)
  return absl::StrCat(__clang_major__, ".", __clang_minor__, ".", __clang_patchlevel__);
#else
  return absl::StrCat(__GNUC__, ".", __GNUC_MINOR__, ".", __GNUC_PATCHLEVEL__);
#endif
}

void Server(ServerContext& s, int64_t now_ms, std::string* out) {
  std::error_code ec;
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  absl::StrAppend(out, "# Server\r\n", "redis_version:", kRedisVersion, "\r\n",
                  "redis_git_sha1:", GitSha(), "\r\n", "redis_git_dirty:0\r\n",
                  "redis_build_id:", GitSha(), "\r\n",
                  "cairn_version:", kCairnVersion, "\r\n", "redis_mode:",
                  s.cluster != nullptr ? "cluster" : "standalone", "\r\n",
                  "os:Linux\r\n", "arch_bits:64\r\n", "multiplexing_api:epoll\r\n",
                  "atomicvar_api:c11-builtin\r\n", "gcc_version:", CompilerVersion(), "\r\n",
                  "process_id:", getpid(), "\r\n", "process_supervised:no\r\n",
                  "run_id:", s.run_id, "\r\n", "tcp_port:", s.port,
                  "\r\n", "http_port:", s.http_port, "\r\n", "server_time_usec:", now_ms * 1000,
                  "\r\n", "uptime_in_seconds:", (now_ms - s.start_ms) / 1000, "\r\n",
                  "uptime_in_days:", (now_ms - s.start_ms) / 86400000, "\r\n",
                  "hz:", std::clamp(s.config->Get().hz, 1, 500), "\r\n",
                  "configured_hz:", s.config->Get().hz, "\r\n",
                  "lru_clock:", (now_ms / 1000) & ((1 << 24) - 1), "\r\n",
                  "executable:", exe, "\r\n",
                  "io_threads_active:", s.io_threads, "\r\n", "\r\n");
}

void Clients(ServerContext& s, std::string* out) {
  absl::StrAppend(out, "# Clients\r\n", InfoMetricLines(s, "clients"),
                  "maxclients:", s.config->Get().maxclients, "\r\n",
                  "blocked_clients:", s.blocking.waiters(), "\r\n",
                  "tracking_clients:", s.tracking.clients(), "\r\n", "\r\n");
}

void Memory(ServerContext& s, std::string* out) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const ServerConfig cfg = s.config->Get();
  const uint64_t used = s.used_memory ? s.used_memory() : 0;
  const uint64_t peak = std::max(used, s.used_memory_peak.load(std::memory_order_relaxed));
  const uint64_t rss = ResidentBytes();
  const uint64_t system = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                          static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  absl::StrAppend(out, "# Memory\r\n", InfoMetricLines(s, "memory"),
                  "used_memory_human:", Human(used), "\r\n",
                  "used_memory_rss:", rss, "\r\n", "used_memory_rss_human:", Human(rss), "\r\n",
                  "used_memory_peak:", peak, "\r\n", "used_memory_peak_human:", Human(peak), "\r\n",
                  absl::StrFormat("used_memory_peak_perc:%.2f%%\r\n",
                                  peak ? 100.0 * double(used) / double(peak) : 0.0),
                  "used_memory_peak_rss:", static_cast<uint64_t>(ru.ru_maxrss) * 1024, "\r\n",
                  "total_system_memory:", system, "\r\n",
                  "total_system_memory_human:", Human(system), "\r\n",
                  "number_of_cached_scripts:", s.scripts->scripts_cached(), "\r\n",
                  "maxmemory:", cfg.maxmemory, "\r\n", "maxmemory_human:", Human(cfg.maxmemory),
                  "\r\n", "maxmemory_policy:noeviction\r\n",
                  absl::StrFormat("mem_fragmentation_ratio:%.2f\r\n",
                                  used ? double(rss) / double(used) : 0.0),
                  "mem_fragmentation_bytes:", static_cast<int64_t>(rss) - static_cast<int64_t>(used),
                  "\r\n", "mem_allocator:", MemAllocator(), "\r\n",
                  "engine_memtables:", Property(s, "cairn.mem-usage"), "\r\n",
                  "engine_block_cache_size:", cfg.block_cache_size, "\r\n", "\r\n");
}

// Redis's rdb_* fields, from the backups SAVE and BGSAVE take (docs/backup.md).
void BackupLines(ServerContext& s, std::string* out) {
  absl::StrAppend(out, InfoMetricLines(s, "persistence"));
  BackupService::State b = s.backups != nullptr ? s.backups->state() : BackupService::State{};
  for (char& ch : b.dest) {  // a client's path: a line break would add fields
    if (ch == '\r' || ch == '\n') ch = ' ';
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  absl::StrAppend(out, "rdb_last_bgsave_status:", b.last_ok ? "ok" : "err", "\r\n",
                  "rdb_last_bgsave_time_sec:",
                  b.last_attempt_duration_ms < 0 ? -1 : b.last_attempt_duration_ms / 1000, "\r\n",
                  "rdb_current_bgsave_time_sec:",
                  b.in_progress ? (now_ms - b.started_ms) / 1000 : -1, "\r\n",
                  "backup_last_dest:", b.dest, "\r\n", "backup_last_id:", b.last.id, "\r\n",
                  "backup_last_sequence:", b.last.sequence, "\r\n");
}

void Persistence(ServerContext& s, std::string* out) {
  const ServerConfig cfg = s.config->Get();
  const auto c = EngineCounters(s);
  // Why writes are refused, if they are; one line (INFO values cannot hold CR or LF).
  std::string reason(s.backend->BackgroundError().message());
  for (char& ch : reason) {
    if (ch == '\r' || ch == '\n') ch = ' ';
  }
  absl::StrAppend(out, "# Persistence\r\n", "loading:0\r\n", "async_loading:0\r\n");
  BackupLines(s, out);
  absl::StrAppend(out, "aof_enabled:1\r\n",
                  "aof_last_write_status:", reason.empty() ? "ok" : "err", "\r\n",
                  "wal_sync:", cfg.wal_sync, "\r\n", "wal_syncs:", Counter(c, "wal_syncs"), "\r\n",
                  "engine_last_sequence:", Counter(c, "last_sequence"), "\r\n",
                  "engine_flushes:", Counter(c, "flushes"), "\r\n",
                  "engine_compactions:", Counter(c, "compactions"), "\r\n",
                  "engine_compaction_bytes_written:", Counter(c, "compaction_bytes_written"),
                  "\r\n", "engine_write_amplification:", Property(s, "cairn.write-amplification"),
                  "\r\n", "engine_write_slowdowns:", Counter(c, "write_slowdowns"), "\r\n",
                  "engine_write_stops:", Counter(c, "write_stops"), "\r\n",
                  "engine_write_stall_micros:", Counter(c, "write_stall_micros"), "\r\n",
                  "engine_background_error:", Counter(c, "background_error"), "\r\n",
                  "engine_background_error_reason:", reason, "\r\n",
                  "engine_background_errors:", Counter(c, "background_errors"), "\r\n",
                  "engine_resumes:", Counter(c, "resumes"), "\r\n", "\r\n");
}

void Stats(ServerContext& s, std::string* out) {
  const auto c = EngineCounters(s);
  const ServerStats::Rates rates =
      s.stats.Instantaneous(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count());
  const uint64_t hits = Counter(c, "block_cache_hits"), misses = Counter(c, "block_cache_misses");
  absl::StrAppend(out, "# Stats\r\n", InfoMetricLines(s, "stats"), "block_cache_hits:", hits,
                  "\r\n", "block_cache_misses:", misses, "\r\n",
                  absl::StrFormat("block_cache_hit_rate:%.4f\r\n",
                                  hits + misses ? double(hits) / double(hits + misses) : 0.0),
                  "block_cache_evictions:", Counter(c, "block_cache_evictions"), "\r\n",
                  "row_cache_hits:", Counter(c, "row_cache_hits"), "\r\n",
                  "row_cache_misses:", Counter(c, "row_cache_misses"), "\r\n",
                  "instantaneous_ops_per_sec:", rates.ops_per_sec, "\r\n",
                  absl::StrFormat("instantaneous_input_kbps:%.2f\r\n", rates.input_kbps),
                  absl::StrFormat("instantaneous_output_kbps:%.2f\r\n", rates.output_kbps),
                  // cairn never evicts (maxmemory refuses writes, as noeviction) nor forks.
                  "evicted_keys:0\r\n", "total_forks:0\r\n", "latest_fork_usec:0\r\n",
                  "pubsub_channels:", s.pubsub->Channels("", false).size(), "\r\n",
                  "pubsub_patterns:", s.pubsub->Patterns(), "\r\n",
                  "pubsubshard_channels:", s.pubsub->Channels("", true).size(), "\r\n", "\r\n");
}

void Cpu(std::string* out) {
  struct rusage self, children;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  auto secs = [](const timeval& t) { return absl::StrFormat("%.6f", t.tv_sec + t.tv_usec / 1e6); };
  absl::StrAppend(out, "# CPU\r\n", "used_cpu_sys:", secs(self.ru_stime), "\r\n",
                  "used_cpu_user:", secs(self.ru_utime), "\r\n", "used_cpu_sys_children:",
                  secs(children.ru_stime), "\r\n", "used_cpu_user_children:", secs(children.ru_utime),
                  "\r\n", "\r\n");
}

// cairn has no Redis replicas (a cluster replicates by itself): every node is a master
// with none. master_repl_offset is the engine's last sequence number, which grows with
// every write as Redis's offset does, so tools that watch it see writes land.
void Replication(ServerContext& s, std::string* out) {
  absl::StrAppend(out, "# Replication\r\n", "role:master\r\n", "connected_slaves:0\r\n",
                  "master_failover_state:no-failover\r\n", "master_replid:", s.run_id, "\r\n",
                  "master_replid2:0000000000000000000000000000000000000000\r\n",
                  "master_repl_offset:", Property(s, "cairn.last-sequence"), "\r\n",
                  "second_repl_offset:-1\r\n", "repl_backlog_active:0\r\n",
                  "repl_backlog_size:0\r\n", "repl_backlog_first_byte_offset:0\r\n",
                  "repl_backlog_histlen:0\r\n", "\r\n");
}

void CommandStatsSection(ServerContext& s, std::string* out) {
  absl::StrAppend(out, "# Commandstats\r\n");
  for (const auto& c : s.stats.commands()) {
    const uint64_t calls = c->calls.load();
    if (calls == 0 && c->rejected.load() == 0) continue;
    const uint64_t usec = c->micros.sum();
    absl::StrAppend(out, "cmdstat_", c->name, ":calls=", calls, ",usec=", usec,
                    absl::StrFormat(",usec_per_call=%.2f", calls ? double(usec) / calls : 0.0),
                    ",rejected_calls=", c->rejected.load(), ",failed_calls=", c->failed.load(),
                    "\r\n");
  }
  absl::StrAppend(out, "\r\n");
}

void LatencyStats(ServerContext& s, std::string* out) {
  absl::StrAppend(out, "# Latencystats\r\n");
  for (const auto& c : s.stats.commands()) {
    if (c->calls.load() == 0) continue;
    absl::StrAppend(out, "latency_percentiles_usec_", c->name, ":p50=", c->micros.Percentile(0.5),
                    ".000,p99=", c->micros.Percentile(0.99),
                    ".000,p99.9=", c->micros.Percentile(0.999), ".000\r\n");
  }
  absl::StrAppend(out, "\r\n");
}

int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Keyspace(ServerContext& s, std::string* out) {
  absl::StrAppend(out, "# Keyspace\r\n");
  const int n = s.config->Get().databases;
  if (s.cluster != nullptr) {
    // The keys this node holds replicas of, as Redis Cluster's nodes report their own.
    absl::StrAppend(out, ClusterKeyspace(*s.cluster, n, s.now_ms ? s.now_ms() : UnixNowMs()), "\r\n");
    return;
  }
  const int64_t now = s.now_ms ? s.now_ms() : UnixNowMs();
  for (int db = 0; db < n; db++) {
    if (std::optional<store::KeyCounts> c = s.backend->Counts(db)) {
      if (c->keys <= 0) continue;
      // Redis estimates avg_ttl from sampled keys; the sum of expiries gives the mean over
      // every key with an expiry (to the second; keys already due pull it down). Divided
      // before the scaling to milliseconds, which would overflow 64 bits on large sums.
      int64_t avg_ttl = 0;
      if (c->expires > 0) {
        const int64_t mean_ms = c->expire_at_sum_s / c->expires * 1000 +
                                c->expire_at_sum_s % c->expires * 1000 / c->expires;
        avg_ttl = std::max<int64_t>(0, mean_ms - now);
      }
      absl::StrAppend(out, "db", db, ":keys=", c->keys, ",expires=", c->expires,
                      ",avg_ttl=", avg_ttl, "\r\n");
      continue;
    }
    uint64_t keys = 0, expires = 0;
    absl::Status st =
        s.backend->Scan(db, "", "", [&](std::string_view, const store::RecordView& r) {
          keys++;
          expires += r.expire_at_ms != 0;
          return true;
        });
    if (st.ok() && keys > 0) {
      absl::StrAppend(out, "db", db, ":keys=", keys, ",expires=", expires, ",avg_ttl=0\r\n");
    }
  }
  absl::StrAppend(out, "\r\n");
}

}  // namespace

std::vector<std::pair<std::string, uint64_t>> EngineCounters(ServerContext& server) {
  std::vector<std::pair<std::string, uint64_t>> out;
  const std::string text = server.backend->Property("cairn.counters").value_or("");
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const size_t space = line.find(' ');
    uint64_t v;
    if (space == absl::string_view::npos || !absl::SimpleAtoi(line.substr(space + 1), &v)) continue;
    out.emplace_back(std::string(line.substr(0, space)), v);
  }
  return out;
}

std::string InfoText(ServerContext& s, const std::vector<std::string>& sections, int64_t now_ms) {
  auto want = [&](std::string_view name, bool in_default) {
    if (sections.empty()) return in_default;
    for (const auto& sec : sections) {
      if (sec == name || sec == "all" || sec == "everything" || (sec == "default" && in_default)) {
        return true;
      }
    }
    return false;
  };
  std::string out;
  if (want("server", true)) Server(s, now_ms, &out);
  if (want("clients", true)) Clients(s, &out);
  if (want("memory", true)) Memory(s, &out);
  if (want("persistence", true)) Persistence(s, &out);
  if (want("stats", true)) Stats(s, &out);
  if (want("replication", true)) Replication(s, &out);
  if (want("cpu", true)) Cpu(&out);
  if (want("commandstats", false)) CommandStatsSection(s, &out);
  if (want("latencystats", false)) LatencyStats(s, &out);
  if (want("cluster", true)) {
    absl::StrAppend(&out, "# Cluster\r\n", s.cluster != nullptr ? ClusterInfo(*s.cluster)
                                                                 : "cluster_enabled:0\r\n",
                    "\r\n");
  }
  if (want("keyspace", true)) Keyspace(s, &out);
  if (out.size() >= 2) out.resize(out.size() - 2);  // no blank line after the last section
  return out;
}

}  // namespace cairn::server
