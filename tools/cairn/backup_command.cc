#include "backup_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/host_port.h"
#include "cairn/engine/backup.h"
#include "cluster_manifest.h"
#include "http_client.h"
#include "replica_merge.h"
#include "resp_client.h"

extern char** environ;

namespace cairn::tools {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Args {
  CLI::App* cmd = nullptr;
  CLI::App *create = nullptr, *list = nullptr, *verify = nullptr, *restore = nullptr,
           *purge = nullptr;
  CLI::App *cluster_backup = nullptr, *cluster_restore = nullptr;
  std::string dest;
  uint32_t id = 0;  // 0: every backup (verify) or the newest (restore)
  std::string to;
  size_t keep = 0;
  std::string host = "127.0.0.1";
  int http_port = 7380;
  std::string server_bin;
  bool quiet = false;
};

Args& TheArgs() {
  static Args args;
  return args;
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    u++;
  }
  return absl::StrFormat("%.1f %s", bytes, units[u]);
}

// A progress bar on a terminal; nothing otherwise.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label)
      : label_(std::move(label)), tty_(isatty(fileno(stdout)) && !TheArgs().quiet) {}
  ~ProgressBar() { Done(); }
  void Update(uint64_t done, uint64_t total) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (shown_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    shown_ = true;
    const double f = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
    const int width = 30, fill = static_cast<int>(f * width);
    std::printf("\r%s [%s%s] %3d%% %s / %s\033[K", label_.c_str(), std::string(fill, '#').c_str(),
                std::string(width - fill, '-').c_str(), static_cast<int>(f * 100),
                HumanBytes(static_cast<double>(done)).c_str(),
                HumanBytes(static_cast<double>(total)).c_str());
    std::fflush(stdout);
  }
  void Done() {
    if (shown_) std::printf("\n");
    shown_ = false;
  }

 private:
  std::string label_;
  bool tty_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_;
};

std::string FormatTime(int64_t ms) {
  time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::unique_ptr<engine::BackupEngine> OpenOrThrow(const std::string& dest, bool create) {
  auto b = engine::BackupEngine::Open(Env::Default(), dest, create);
  if (!b.ok()) throw std::runtime_error(b.status().ToString());
  return std::move(*b);
}

uint32_t NewestId(engine::BackupEngine& b) {
  auto list = b.List();
  if (!list.ok()) throw std::runtime_error(list.status().ToString());
  if (list->empty()) throw std::runtime_error("the backup directory holds no backup");
  return list->back().id;
}

// s percent-encoded for a query string: every byte but unreserved ones (RFC 3986).
std::string QueryEscape(const std::string& s) {
  std::string out;
  for (const unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '/') {
      out += static_cast<char>(ch);
    } else {
      out += absl::StrFormat("%%%02X", ch);
    }
  }
  return out;
}

// Starts a backup of the node at host:http_port into dest and waits for it; returns the
// node's account of it (GET /v1/backup).
json NodeBackup(const std::string& host, int http_port, const std::string& dest, bool bar) {
  const json started =
      json::parse(HttpCall("POST", host, http_port, "/v1/backup?dest=" + QueryEscape(dest)));
  const int64_t started_ms = started["started_ms"].get<int64_t>();
  ProgressBar progress(bar ? "backup" : "");
  while (true) {
    json st = json::parse(HttpCall("GET", host, http_port, "/v1/backup"));
    if (!st["in_progress"].get<bool>() || st["started_ms"].get<int64_t>() != started_ms) {
      if (bar)
        progress.Update(st["total_bytes"].get<uint64_t>(), st["total_bytes"].get<uint64_t>());
      progress.Done();
      if (!st["last_ok"].get<bool>()) {
        throw std::runtime_error("backup failed: " + st["last_error"].get<std::string>());
      }
      return st;
    }
    if (bar) progress.Update(st["done_bytes"].get<uint64_t>(), st["total_bytes"].get<uint64_t>());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int RunCreate(Args& a) {
  const std::string dest = fs::absolute(a.dest).lexically_normal().string();
  const json st = NodeBackup(a.host, a.http_port, dest, true);
  const json& last = st["last"];
  std::printf("backup %u of %s:%d in %s: %s (%s new), sequence %llu, in %llu ms\n",
              last["id"].get<uint32_t>(), a.host.c_str(), a.http_port, dest.c_str(),
              HumanBytes(last["size"].get<double>()).c_str(),
              HumanBytes(last["new_bytes"].get<double>()).c_str(),
              static_cast<unsigned long long>(last["sequence"].get<uint64_t>()),
              static_cast<unsigned long long>(last["duration_ms"].get<uint64_t>()));
  return 0;
}

int RunList(Args& a) {
  auto b = OpenOrThrow(a.dest, false);
  auto list = b->List();
  if (!list.ok()) throw std::runtime_error(list.status().ToString());
  std::printf("%-5s %-20s %-12s %-6s %-10s %-10s %s\n", "ID", "TIME (UTC)", "SEQUENCE", "FILES",
              "SIZE", "NEW", "DURATION");
  for (const auto& i : *list) {
    std::printf("%-5u %-20s %-12llu %-6zu %-10s %-10s %llu ms\n", i.id,
                FormatTime(i.timestamp_ms).c_str(), static_cast<unsigned long long>(i.sequence),
                i.files.size(), HumanBytes(static_cast<double>(i.size)).c_str(),
                HumanBytes(static_cast<double>(i.new_bytes)).c_str(),
                static_cast<unsigned long long>(i.duration_ms));
  }
  return 0;
}

int RunVerify(Args& a) {
  auto b = OpenOrThrow(a.dest, false);
  std::vector<uint32_t> ids;
  if (a.id != 0) {
    ids.push_back(a.id);
  } else {
    auto list = b->List();
    if (!list.ok()) throw std::runtime_error(list.status().ToString());
    for (const auto& i : *list) ids.push_back(i.id);
  }
  int bad = 0;
  for (uint32_t id : ids) {
    ProgressBar bar(absl::StrCat("verify ", id));
    absl::Status st = b->Verify(id, [&bar](uint64_t d, uint64_t t) { bar.Update(d, t); });
    bar.Done();
    if (st.ok()) {
      std::printf("backup %u: ok\n", id);
    } else {
      std::printf("backup %u: FAILED: %s\n", id, std::string(st.message()).c_str());
      bad++;
    }
  }
  return bad == 0 ? 0 : 1;
}

int RunRestore(Args& a) {
  auto b = OpenOrThrow(a.dest, false);
  const uint32_t id = a.id != 0 ? a.id : NewestId(*b);
  ProgressBar bar(absl::StrCat("restore ", id));
  absl::Status st = b->Restore(id, a.to, [&bar](uint64_t d, uint64_t t) { bar.Update(d, t); });
  bar.Done();
  if (!st.ok()) {
    std::fprintf(stderr, "cairn backup restore: %s\n", std::string(st.message()).c_str());
    return absl::IsDataLoss(st) ? 1 : 2;
  }
  std::printf("backup %u restored into %s\n", id, a.to.c_str());
  return 0;
}

int RunPurge(Args& a) {
  auto b = OpenOrThrow(a.dest, false);
  uint64_t freed = 0;
  auto deleted = b->Purge(a.keep, &freed);
  if (!deleted.ok()) throw std::runtime_error(deleted.status().ToString());
  std::printf("deleted %zu backups, freed %s\n", deleted->size(),
              HumanBytes(static_cast<double>(freed)).c_str());
  return 0;
}

// ---- cluster ---------------------------------------------------------------------------

// "host:port" or "[v6]:port" -> its parts.
std::pair<std::string, int> HostPort(const std::string& address) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(address, &host, &port)) {
    throw std::runtime_error("expected host:port, got " + address);
  }
  return {host, port};
}

int RunClusterBackup(Args& a) {
  const std::string dest = fs::absolute(a.dest).lexically_normal().string();
  const json s = json::parse(HttpCall("GET", a.host, a.http_port, "/v1/cluster"));
  struct Member {
    std::string id, http;
    json result;
    std::string error;
  };
  std::vector<Member> members;
  for (const auto& m : s["members"]) {
    if (m["state"].get<std::string>() == "left") continue;
    members.push_back({m["id"].get<std::string>(), m["http_address"].get<std::string>(), {}, {}});
  }
  fs::create_directories(dest + "/clusters");
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const int64_t started = now_ms();
  // Every node starts its checkpoint at once: the backups stand around one timestamp.
  std::vector<std::thread> threads;
  for (auto& m : members) {
    threads.emplace_back([&m, &dest] {
      try {
        auto [host, port] = HostPort(m.http);
        m.result = NodeBackup(host, port, dest + "/" + m.id, false);
      } catch (const std::exception& e) {
        m.error = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  json manifest{{"format", "cairn-cluster-backup"}, {"version", 1},
                {"timestamp_ms", started},          {"asked", s["node"]},
                {"replicas", s["replicas"]},        {"members", json::array()}};
  int failed = 0;
  int64_t first = INT64_MAX, last = 0;
  for (const auto& m : members) {
    if (!m.error.empty()) {
      std::fprintf(stderr, "cairn cluster backup: %s: %s\n", m.id.c_str(), m.error.c_str());
      failed++;
      continue;
    }
    const json& l = m.result["last"];
    first = std::min(first, l["timestamp_ms"].get<int64_t>());
    last = std::max(last, l["timestamp_ms"].get<int64_t>());
    manifest["members"].push_back(json{{"id", m.id},
                                       {"dir", m.id},
                                       {"backup_id", l["id"]},
                                       {"sequence", l["sequence"]},
                                       {"timestamp_ms", l["timestamp_ms"]},
                                       {"size", l["size"]},
                                       {"new_bytes", l["new_bytes"]}});
    std::printf("%-16s backup %u: %s (%s new), sequence %llu\n", m.id.c_str(),
                l["id"].get<uint32_t>(), HumanBytes(l["size"].get<double>()).c_str(),
                HumanBytes(l["new_bytes"].get<double>()).c_str(),
                static_cast<unsigned long long>(l["sequence"].get<uint64_t>()));
  }
  if (failed > 0) {
    std::fprintf(stderr,
                 "cairn cluster backup: %d of %zu members failed; no cluster manifest written\n",
                 failed, members.size());
    return 2;
  }
  manifest["spread_ms"] = last - first;
  auto n = WriteClusterManifest(Env::Default(), dest, manifest.dump(2) + "\n");
  if (!n.ok()) throw std::runtime_error("cluster manifest: " + n.status().ToString());
  const std::string path = absl::StrCat(dest, "/clusters/", *n, ".json");
  std::printf("cluster backup %d: %zu members, checkpoints within %lld ms of each other, in %s\n",
              *n, members.size(), static_cast<long long>(last - first), path.c_str());
  return 0;
}

// A cairn-server on a restored directory, on a free loopback port, for reading its keys.
class ScratchServer {
 public:
  ScratchServer(const std::string& bin, const std::string& dir) {
    const std::string log = dir + ".log";
    std::vector<std::string> args = {
        bin, "--dir",        dir, "--bind",    "127.0.0.1", "--port", "auto", "--http-port",
        "0", "--io-threads", "1", "--logfile", log};
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, bin.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + bin);
    }
    const std::regex ready(R"(ready: RESP on [^ ]+:(\d+))");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (true) {
      std::ifstream in(log);
      std::stringstream text;
      text << in.rdbuf();
      std::smatch m;
      const std::string s = text.str();
      if (std::regex_search(s, m, ready)) {
        port_ = std::stoi(m[1]);
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("cairn-server on " + dir + " exited: see " + log);
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("cairn-server on " + dir + " did not start: see " + log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~ScratchServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

struct CopyStats {
  uint64_t keys = 0, present = 0, expired = 0;
};

// Every key of every database of from, written into the cluster (to: one connection per
// node, used in turn) by DUMP and RESTORE ABSTTL without REPLACE: a key already restored from
// another member's backup stays as it is.
void CopyKeys(RespClient& from, std::vector<std::unique_ptr<RespClient>>& to, CopyStats* stats) {
  RespValue dbs = from.Call({"CONFIG", "GET", "databases"});
  int databases = 16;
  if (dbs.items.size() == 2) databases = std::stoi(dbs.items[1].str);
  size_t turn = 0;
  for (int db = 0; db < databases; db++) {
    from.Call({"SELECT", std::to_string(db)});
    for (auto& c : to) {
      RespValue r = c->Call({"SELECT", std::to_string(db)});
      if (r.type == '-') throw std::runtime_error("SELECT on the target: " + r.str);
    }
    std::string cursor = "0";
    do {
      RespValue page = from.Call({"SCAN", cursor, "COUNT", "500"});
      if (page.type != '*' || page.items.size() != 2) throw std::runtime_error("bad SCAN reply");
      cursor = page.items[0].str;
      const auto& keys = page.items[1].items;
      if (keys.empty()) continue;
      for (const auto& k : keys) {
        from.Send({"DUMP", k.str});
        from.Send({"PEXPIRETIME", k.str});
      }
      from.Flush();
      RespClient& target = *to[turn++ % to.size()];
      size_t sent = 0;
      for (const auto& k : keys) {
        RespValue payload = from.Read();
        // The expiry as its instant (a remaining TTL would drift by the time until
        // RESTORE, and one of 0 would make the key persistent).
        RespValue at = from.Read();
        if (payload.is_null || at.num == -2) {
          stats->expired++;
          continue;
        }
        if (at.num > 0) {
          target.Send({"RESTORE", k.str, std::to_string(at.num), payload.str, "ABSTTL"});
        } else {
          target.Send({"RESTORE", k.str, "0", payload.str});
        }
        sent++;
      }
      target.Flush();
      for (size_t i = 0; i < sent; i++) {
        RespValue r = target.Read();
        if (r.type == '-' && r.str.rfind("BUSYKEY", 0) == 0) {
          stats->present++;
        } else if (r.type == '-') {
          throw std::runtime_error("RESTORE on the target: " + r.str);
        } else {
          stats->keys++;
        }
      }
    } while (cursor != "0");
  }
}

int RunClusterRestore(Args& a) {
  const std::string dest = fs::absolute(a.dest).lexically_normal().string();
  // The members' backups: of a cluster manifest (DEST/clusters/N.json), or DEST itself
  // when it is one node's backup directory.
  struct Source {
    std::string name, dir;
    uint32_t id;
  };
  std::vector<Source> sources;
  if (fs::exists(dest + "/meta")) {
    auto b = OpenOrThrow(dest, false);
    sources.push_back({"node", dest, a.id != 0 ? a.id : NewestId(*b)});
  } else {
    int n = static_cast<int>(a.id);
    if (n == 0) {
      while (fs::exists(absl::StrCat(dest, "/clusters/", n + 1, ".json"))) n++;
    }
    const std::string path = absl::StrCat(dest, "/clusters/", n, ".json");
    if (n == 0 || !fs::exists(path)) throw std::runtime_error("no cluster backup in " + dest);
    std::ifstream in(path);
    const json manifest = json::parse(in);
    if (manifest.value("format", "") != "cairn-cluster-backup" ||
        manifest.value("version", 0) != 1) {
      throw std::runtime_error(path + ": not a cluster backup manifest of version 1");
    }
    for (const auto& m : manifest["members"]) {
      sources.push_back({m["id"].get<std::string>(), dest + "/" + m["dir"].get<std::string>(),
                         m["backup_id"].get<uint32_t>()});
    }
  }
  std::vector<std::unique_ptr<RespClient>> targets;
  for (absl::string_view addr : absl::StrSplit(a.to, ',', absl::SkipEmpty())) {
    auto [host, port] = HostPort(std::string(addr));
    targets.push_back(std::make_unique<RespClient>(host, port));
  }
  if (targets.empty()) throw std::runtime_error("--to: no address");
  std::string bin = a.server_bin;
  if (bin.empty())
    bin = (fs::read_symlink("/proc/self/exe").parent_path() / "cairn-server").string();
  // Every backup is verified (as restore copies it) before anything is written.
  const std::string scratch = fs::temp_directory_path() / absl::StrCat("cairn-restore-", getpid());
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  CopyStats stats;
  try {
    for (const auto& s : sources) {
      auto b = OpenOrThrow(s.dir, false);
      ProgressBar bar("restore " + s.name);
      absl::Status st = b->Restore(s.id, scratch + "/" + s.name,
                                   [&bar](uint64_t d, uint64_t t) { bar.Update(d, t); });
      bar.Done();
      if (!st.ok()) throw std::runtime_error(absl::StrCat(s.name, ": ", st.message()));
    }
    // The members' replicas merged into the first's directory, causally; then one server
    // reads the merged keys (each key once, resolved as a RESP read resolves it).
    for (size_t i = 1; i < sources.size(); i++) {
      auto merged = MergeReplicas(scratch + "/" + sources[i].name, scratch + "/" + sources[0].name);
      if (!merged.ok()) {
        throw std::runtime_error(
            absl::StrCat("merging ", sources[i].name, ": ", merged.status().message()));
      }
      std::printf("%-16s backup %u: %llu replicated keys merged\n", sources[i].name.c_str(),
                  sources[i].id, static_cast<unsigned long long>(*merged));
    }
    ScratchServer server(bin, scratch + "/" + sources[0].name);
    RespClient from("127.0.0.1", server.port());
    CopyKeys(from, targets, &stats);
  } catch (...) {
    fs::remove_all(scratch);
    throw;
  }
  fs::remove_all(scratch);
  std::printf("restored %llu keys into %s (%llu already present there, %llu expired)\n",
              static_cast<unsigned long long>(stats.keys), a.to.c_str(),
              static_cast<unsigned long long>(stats.present),
              static_cast<unsigned long long>(stats.expired));
  return 0;
}

}  // namespace

CLI::App* AddBackupCommand(CLI::App* app) {
  Args& a = TheArgs();
  a.cmd = app->add_subcommand("backup", "Backups of a node: create, list, verify, restore, purge");
  a.cmd->require_subcommand(1);
  a.cmd->add_flag("--quiet", a.quiet, "No progress bars");
  a.cmd->fallthrough();  // --quiet after the subcommand too
  a.create = a.cmd->add_subcommand(
      "create", "Back up a running node into DEST (the server writes DEST: same machine)");
  a.create->add_option("dest", a.dest, "Backup directory (created if needed)")->required();
  a.create->add_option("--host", a.host, "The node's address (default 127.0.0.1)");
  a.create->add_option("--http-port", a.http_port, "Its HTTP port (default 7380)");
  a.list = a.cmd->add_subcommand("list", "The backups in DEST");
  a.list->add_option("dest", a.dest, "Backup directory")->required();
  a.verify = a.cmd->add_subcommand("verify",
                                   "Check every file of one backup (or all) against its checksum");
  a.verify->add_option("dest", a.dest, "Backup directory")->required();
  a.verify->add_option("id", a.id, "Backup id (default: every backup)");
  a.restore =
      a.cmd->add_subcommand("restore", "Write a backup (verified) into a new data directory");
  a.restore->add_option("dest", a.dest, "Backup directory")->required();
  a.restore->add_option("id", a.id, "Backup id (default: the newest)");
  a.restore->add_option("--to", a.to, "Data directory to create (must not exist or be empty)")
      ->required();
  a.purge = a.cmd->add_subcommand("purge", "Delete all but the newest backups, and unused files");
  a.purge->add_option("dest", a.dest, "Backup directory")->required();
  a.purge->add_option("--keep", a.keep, "Backups to keep")->required();
  return a.cmd;
}

int RunBackupCommand() {
  Args& a = TheArgs();
  try {
    if (a.create->parsed()) return RunCreate(a);
    if (a.list->parsed()) return RunList(a);
    if (a.verify->parsed()) return RunVerify(a);
    if (a.restore->parsed()) return RunRestore(a);
    if (a.purge->parsed()) return RunPurge(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cairn backup: %s\n", e.what());
    return 2;
  }
  return 2;
}

void AddClusterBackupCommands(CLI::App* cluster) {
  Args& a = TheArgs();
  a.cluster_backup = cluster->add_subcommand(
      "backup",
      "Back up every member around one timestamp into DEST/<node-id>/ (nodes on this machine)");
  a.cluster_backup->add_option("dest", a.dest, "Backup directory")->required();
  a.cluster_backup->add_option("--host", a.host, "Any node's address (default 127.0.0.1)");
  a.cluster_backup->add_option("--http-port", a.http_port, "That node's HTTP port (default 7380)");
  a.cluster_restore = cluster->add_subcommand(
      "restore", "Write a cluster backup (or one node's) into a running cluster of any size");
  a.cluster_restore->add_option("dest", a.dest, "Backup directory")->required();
  a.cluster_restore->add_option("id", a.id, "Cluster backup number (default: the newest)");
  a.cluster_restore->add_option("--to", a.to, "RESP addresses of the new cluster, host:port,...")
      ->required();
  a.cluster_restore->add_option("--server-bin", a.server_bin,
                                "cairn-server to read the backups with (default: beside cairn)");
}

bool RunClusterBackupCommands(int* code) {
  Args& a = TheArgs();
  if (a.cluster_backup == nullptr) return false;
  try {
    if (a.cluster_backup->parsed()) {
      *code = RunClusterBackup(a);
      return true;
    }
    if (a.cluster_restore->parsed()) {
      *code = RunClusterRestore(a);
      return true;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cairn cluster: %s\n", e.what());
    *code = 2;
    return true;
  }
  return false;
}

}  // namespace cairn::tools
