#include "server/dashboard.h"

#include <sys/statvfs.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "base/status.h"
#include "server/cluster_mode.h"
#include "server/config.h"
#include "server/info.h"
#include "server/ui_assets.h"
#include "server/version.h"
#include "store/local_backend.h"

namespace cairn::server {
namespace {

using nlohmann::json;

HttpResponse Plain(int status, std::string body) {
  return HttpResponse(status, "text/plain; charset=utf-8", std::move(body));
}

// Whether an If-None-Match header names etag ("*", or one of a comma-separated list,
// weak or strong).
bool Matches(std::string_view header, std::string_view etag) {
  for (absl::string_view item : absl::StrSplit(ToAbsl(header), ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (absl::StartsWith(item, "W/")) item.remove_prefix(2);
    if (item == "*" || item == ToAbsl(etag)) return true;
  }
  return false;
}

uint64_t Get(const std::vector<std::pair<std::string, uint64_t>>& counters, std::string_view name) {
  for (const auto& [n, v] : counters) {
    if (n == name) return v;
  }
  return 0;
}

json HitRate(uint64_t hits, uint64_t misses) {
  return json{{"hits", hits},
              {"misses", misses},
              {"hit_rate", hits + misses == 0 ? 0.0 : double(hits) / double(hits + misses)}};
}

// Bytes of the regular files under dir (the engine's tables, WAL and manifest).
uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const uint64_t size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

// DirectoryBytes(dir) as of at most kDirBytesMaxAgeMs ago. The walk is O(files under dir),
// backups included by default, and the dashboard asks every 2 s per open page: one walk
// per directory per interval, the callers meanwhile sharing its figure.
constexpr int64_t kDirBytesMaxAgeMs = 30'000;

uint64_t CachedDirectoryBytes(const std::string& dir, int64_t now_ms) {
  struct Entry {
    uint64_t bytes = 0;
    int64_t at_ms = 0;
  };
  struct Cache {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, Entry> entries ABSL_GUARDED_BY(mu);
  };
  static Cache& cache = *new Cache();
  absl::MutexLock lock(&cache.mu);  // held through a walk: concurrent callers wait for it
  auto [it, inserted] = cache.entries.try_emplace(dir);
  if (inserted || now_ms - it->second.at_ms >= kDirBytesMaxAgeMs || now_ms < it->second.at_ms) {
    it->second = Entry{DirectoryBytes(dir), now_ms};
  }
  return it->second.bytes;
}

}  // namespace

bool IsDashboardPath(std::string_view path) {
  return path == "/" || path == "/ui" || path.substr(0, 4) == "/ui/";
}

HttpResponse DashboardRequest(const HttpRequest& request, std::string_view path) {
  if (request.method != "GET" && request.method != "HEAD") {
    return Plain(405, "method not allowed: use GET\n");
  }
  std::string_view name =
      path == "/" || path == "/ui" || path == "/ui/" ? "index.html" : path.substr(4);
  for (const UiAsset& asset : UiAssets()) {
    if (asset.name != name) continue;
    // The page itself is revalidated on every load (it names the assets); the assets too,
    // cheaply: an unchanged one costs a 304 with no body.
    std::vector<std::pair<std::string, std::string>> headers = {
        {"ETag", std::string(asset.etag)},
        {"Cache-Control", "no-cache"},
        {"X-Content-Type-Options", "nosniff"}};
    if (name == "index.html") {
      // Everything the page loads comes from this server: no inline script, no other origin.
      headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    }
    if (!request.if_none_match.empty() && Matches(request.if_none_match, asset.etag)) {
      HttpResponse r(304, std::string(asset.content_type), "");
      r.headers = std::move(headers);
      return r;
    }
    HttpResponse r(200, std::string(asset.content_type), std::string(asset.body));
    r.headers = std::move(headers);
    return r;
  }
  return Plain(404, "no such dashboard file\n");
}

void AddDashboardStats(ServerContext& server, json* stats) {
  json& out = *stats;
  const int64_t now_steady = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
  const int64_t now = server.now_ms ? server.now_ms() : store::SystemNowMs();
  out["version"] = kCairnVersion;
  out["node_id"] = server.cluster != nullptr ? server.cluster->id() : "";
  out["cluster_mode"] = server.cluster != nullptr;
  out["uptime_seconds"] =
      server.start_ms > 0 && now > server.start_ms ? (now - server.start_ms) / 1000 : 0;
  out["instantaneous_ops_per_sec"] = server.stats.OpsPerSecond(now_steady);

  const auto c = EngineCounters(server);
  const uint64_t hits = server.stats.keyspace_hits.load(std::memory_order_relaxed);
  const uint64_t misses = server.stats.keyspace_misses.load(std::memory_order_relaxed);
  json block = HitRate(Get(c, "block_cache_hits"), Get(c, "block_cache_misses"));
  block["usage_bytes"] = Get(c, "block_cache_usage_bytes");
  block["capacity_bytes"] = Get(c, "block_cache_capacity_bytes");
  block["evictions"] = Get(c, "block_cache_evictions");
  out["caches"] = json{
      {"keyspace", HitRate(hits, misses)},
      {"block_cache", std::move(block)},
      {"row_cache", HitRate(Get(c, "row_cache_hits"), Get(c, "row_cache_misses"))},
      {"bloom", json{{"checked", Get(c, "bloom_checked")}, {"useful", Get(c, "bloom_useful")}}}};

  // "L<n> files bytes score" lines of the engine's cairn.stats.
  json levels = json::array();
  uint64_t table_bytes = 0;
  const std::string text = server.backend->Property("cairn.stats").value_or("");
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    int level;
    uint64_t files, bytes;
    double score;
    if (f.size() != 4 || f[0].size() < 2 || f[0][0] != 'L' ||
        !absl::SimpleAtoi(f[0].substr(1), &level) || !absl::SimpleAtoi(f[1], &files) ||
        !absl::SimpleAtoi(f[2], &bytes) || !absl::SimpleAtod(f[3], &score)) {
      continue;
    }
    table_bytes += bytes;
    levels.push_back(json{{"level", level}, {"files", files}, {"bytes", bytes}, {"score", score}});
  }
  double write_amp = 0;
  (void)absl::SimpleAtod(server.backend->Property("cairn.write-amplification").value_or("0"),
                         &write_amp);
  out["compaction"] =
      json{{"compactions", Get(c, "compactions")},
           {"flushes", Get(c, "flushes")},
           {"bytes_read", Get(c, "compaction_bytes_read")},
           {"bytes_written", Get(c, "compaction_bytes_written")},
           {"write_amplification", write_amp},
           {"busy", server.backend->Property("cairn.background-busy").value_or("0") == "1"},
           {"write_slowdowns", Get(c, "write_slowdowns")},
           {"write_stops", Get(c, "write_stops")},
           {"levels", std::move(levels)}};

  const std::string dir = server.config->Get().dir;
  json disk{{"dir", dir},
            {"table_bytes", table_bytes},
            {"memtable_bytes", Get(c, "memtable_bytes")},
            {"dir_bytes", CachedDirectoryBytes(dir, now)}};
  struct statvfs fs;
  if (statvfs(dir.c_str(), &fs) == 0) {
    disk["filesystem_bytes"] = uint64_t(fs.f_blocks) * fs.f_frsize;
    disk["filesystem_free_bytes"] = uint64_t(fs.f_bavail) * fs.f_frsize;
  }
  out["disk"] = std::move(disk);
}

}  // namespace cairn::server
