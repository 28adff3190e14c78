#include "db_command.h"

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/str_format.h"
#include "cairn/engine/check.h"
#include "cairn/engine/db.h"
#include "store/local_backend.h"

namespace cairn::tools {
namespace {

using engine::DB;

struct DbArgs {
  std::string dir;
  std::string key, value;
  std::string start, end;
  bool has_start = false, has_end = false;
  uint64_t limit = 0;
  uint64_t count = 0;
  uint64_t first = 0;
  std::string sync = "everysec";
  size_t value_size = 100;
  size_t write_buffer_size = 0;
  CLI::App* cmd = nullptr;
  CLI::App *put, *get, *del, *scan, *check, *load, *stats;
};

DbArgs& Args() {
  static DbArgs args;
  return args;
}

// Exit codes: 0 success, 1 not found or check failed, 2 error.
constexpr int kOk = 0, kMissing = 1, kError = 2;

// Prints bytes so that keys and values with any content stay one line: backslash and
// non-printable bytes become \\ and \xHH.
std::string Escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += absl::StrFormat("\\x%02x", c);
    }
  }
  return out;
}

int Fail(const absl::Status& s) {
  std::cerr << "error: " << s.ToString() << "\n";
  return kError;
}

std::optional<engine::WalSyncMode> ParseSyncMode(const std::string& s) {
  if (s == "always") return engine::WalSyncMode::kAlways;
  if (s == "everysec") return engine::WalSyncMode::kEverySec;
  if (s == "none") return engine::WalSyncMode::kNone;
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<DB>> OpenDb(engine::WalSyncMode sync, bool create) {
  engine::Options options;
  options.wal_sync = sync;
  options.create_if_missing = create;
  if (Args().write_buffer_size != 0) options.write_buffer_size = Args().write_buffer_size;
  // As the server opens it: a compaction run here must keep the expired records the
  // server's key counts still count (local_backend.h).
  auto reclaim = store::ConfigureEngineForLocalBackend(&options);
  auto db = DB::Open(options, Args().dir);
  if (db.ok()) {
    reclaim->Attach(db->get());
    std::string report = (*db)->GetProperty("cairn.recovery").value_or("");
    if (!report.empty()) std::cerr << "recovery: " << report;
  }
  return db;
}

int RunLoad(DB* db) {
  const DbArgs& a = Args();
  std::string key;
  for (uint64_t i = a.first; i < a.first + a.count; i++) {
    key = absl::StrFormat("key-%010d", i);
    absl::Status s = db->Put({}, key, LoadValue(i, a.value_size));
    if (!s.ok()) return Fail(s);
    // One line per acknowledged write, flushed at once: a crash test reads these.
    std::printf("acked %llu\n", static_cast<unsigned long long>(i));
    std::fflush(stdout);
  }
  return kOk;
}

int RunScan(DB* db) {
  const DbArgs& a = Args();
  engine::ReadOptions ro;
  if (a.has_end) ro.iterate_upper_bound = a.end;
  auto it = db->NewIterator(ro);
  uint64_t n = 0;
  std::string out;
  for (a.has_start ? it->Seek(a.start) : it->SeekToFirst(); it->Valid(); it->Next()) {
    if (a.limit != 0 && n >= a.limit) break;
    out.clear();
    out += Escape(it->key());
    out += '\t';
    out += Escape(it->value());
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    n++;
  }
  if (!it->status().ok()) return Fail(it->status());
  return kOk;
}

int RunCheck() {
  auto report = engine::CheckDB(Args().dir, {});
  if (!report.ok()) return Fail(report.status());
  for (const auto& w : report->warnings) std::cout << "warning: " << w << "\n";
  for (const auto& p : report->problems) std::cout << "problem: " << p << "\n";
  std::cout << absl::StrFormat(
      "checked %d tables (%d entries), %d WALs (%d records), %d blob files (%d values): %s\n",
      report->tables, report->table_entries, report->wal_files, report->wal_records,
      report->blob_files, report->blob_records, report->problems.empty() ? "OK" : "FAILED");
  return report->problems.empty() ? kOk : kMissing;
}

}  // namespace

std::string LoadValue(uint64_t i, size_t size) {
  std::string v = absl::StrFormat("%010d:", i);
  for (size_t j = 0; v.size() < size; j++) v.push_back(static_cast<char>('a' + (i + j) % 26));
  v.resize(size);
  return v;
}

void AddDbCommand(CLI::App* app) {
  DbArgs& a = Args();
  a.cmd = app->add_subcommand("db", "Open a data directory offline (inspect, load, check)");
  a.cmd->add_option("dir", a.dir, "Database directory")->required();
  a.cmd->require_subcommand(1);
  a.cmd->add_option("--write-buffer-size", a.write_buffer_size,
                    "Memtable bytes before a flush (default: the engine's)");

  a.put = a.cmd->add_subcommand("put", "Write a key");
  a.put->add_option("key", a.key)->required();
  a.put->add_option("value", a.value)->required();
  a.get = a.cmd->add_subcommand("get", "Print a key's value (exit 1 if absent)");
  a.get->add_option("key", a.key)->required();
  a.del = a.cmd->add_subcommand("del", "Delete a key");
  a.del->add_option("key", a.key)->required();

  a.scan = a.cmd->add_subcommand("scan", "Print key<TAB>value lines in key order");
  a.scan->add_option("--start", a.start, "First key (inclusive)");
  a.scan->add_option("--end", a.end, "Last key (exclusive)");
  a.scan->add_option("--limit", a.limit, "At most this many keys (0: all)");

  a.check =
      a.cmd->add_subcommand("check", "Verify every checksum and key order (exit 1 on any problem)");
  a.stats = a.cmd->add_subcommand("stats", "Print engine statistics");

  a.load = a.cmd->add_subcommand(
      "load", "Write keys key-0000000000... with deterministic values, printing 'acked N'");
  a.load->add_option("count", a.count, "Number of keys")->required();
  a.load->add_option("--sync", a.sync, "WAL sync mode")
      ->check(CLI::IsMember({"always", "everysec", "none"}));
  a.load->add_option("--value-size", a.value_size, "Value size in bytes")
      ->check(CLI::Range(1, 64 << 20));
  a.load->add_option("--first", a.first, "Index of the first key");
}

int RunDbCommand() {
  DbArgs& a = Args();
  a.has_start = a.scan->count("--start") > 0;
  a.has_end = a.scan->count("--end") > 0;
  if (a.check->parsed()) return RunCheck();

  auto sync = a.load->parsed() ? *ParseSyncMode(a.sync) : engine::WalSyncMode::kEverySec;
  // Only writes create a database; reading a missing one is an error.
  const bool create = a.put->parsed() || a.load->parsed();
  auto db = OpenDb(sync, create);
  if (!db.ok()) return Fail(db.status());

  if (a.put->parsed()) {
    absl::Status s = (*db)->Put({}, a.key, a.value);
    return s.ok() ? kOk : Fail(s);
  }
  if (a.del->parsed()) {
    absl::Status s = (*db)->Delete({}, a.key);
    return s.ok() ? kOk : Fail(s);
  }
  if (a.get->parsed()) {
    std::string value;
    absl::Status s = (*db)->Get({}, a.key, &value);
    if (absl::IsNotFound(s)) {
      std::cerr << "(not found)\n";
      return kMissing;
    }
    if (!s.ok()) return Fail(s);
    std::cout << value << "\n";
    return kOk;
  }
  if (a.scan->parsed()) return RunScan(db->get());
  if (a.load->parsed()) return RunLoad(db->get());
  if (a.stats->parsed()) {
    std::cout << (*db)->GetProperty("cairn.stats").value_or("")
              << (*db)->GetProperty("cairn.sstables").value_or("");
    return kOk;
  }
  return kError;
}

}  // namespace cairn::tools
