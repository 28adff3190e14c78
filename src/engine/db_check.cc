#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"
#include "cairn/engine/check.h"
#include "engine/filename.h"
#include "engine/table_cache.h"
#include "engine/version_set.h"
#include "engine/wal_reader.h"
#include "engine/write_batch_internal.h"

namespace cairn::engine {
namespace {

void CheckTable(TableCache* cache, const FileMetaData& f, CheckReport* report) {
  const std::string name = absl::StrFormat("%06d.sst", f.number);
  auto table = cache->Get(f.number, f.file_size);
  if (!table.ok()) {
    report->problems.push_back(absl::StrCat(name, ": ", table.status().message()));
    return;
  }
  report->tables++;
  auto iter = (*table)->NewIterator();
  std::string prev;
  uint64_t entries = 0;
  for (iter->SeekToFirst(); iter->Valid(); iter->Next()) {
    std::string_view key = iter->key();
    ParsedInternalKey parsed;
    if (!ParseInternalKey(key, &parsed)) {
      report->problems.push_back(absl::StrCat(name, ": malformed internal key at entry ", entries));
      return;
    }
    if (entries == 0 && key != f.smallest) {
      report->problems.push_back(absl::StrCat(name, ": first key differs from the MANIFEST"));
    }
    if (entries > 0 && CompareInternalKeys(prev, key) >= 0) {
      report->problems.push_back(absl::StrCat(name, ": keys out of order at entry ", entries));
      return;
    }
    if (parsed.sequence < f.smallest_seq || parsed.sequence > f.largest_seq) {
      report->problems.push_back(
          absl::StrCat(name, ": sequence ", parsed.sequence, " outside the MANIFEST's range"));
      return;
    }
    prev.assign(key.data(), key.size());
    entries++;
  }
  if (!iter->status().ok()) {
    report->problems.push_back(absl::StrCat(name, ": ", iter->status().message()));
    return;
  }
  if (entries == 0) {
    report->problems.push_back(absl::StrCat(name, ": table is empty"));
  } else if (prev != f.largest) {
    report->problems.push_back(absl::StrCat(name, ": last key differs from the MANIFEST"));
  }
  report->table_entries += entries;
}

class CountingHandler final : public WriteBatch::Handler {
 public:
  void Put(std::string_view, std::string_view) override {}
  void Delete(std::string_view) override {}
};

// Damage is a problem when intact records follow it, in this WAL or a later one (the
// same rule recovery applies); otherwise it is a torn tail that Open truncates.
// *pending_damage carries unresolved damage from earlier WALs.
void CheckWal(Env* env, const std::string& dir, uint64_t number, std::string* pending_damage,
              CheckReport* report) {
  const std::string path = LogFileName(dir, number);
  const std::string name = path.substr(dir.size() + 1);
  auto file = env->NewSequentialFile(path);
  if (!file.ok()) {
    report->problems.push_back(absl::StrCat(name, ": ", file.status().message()));
    return;
  }
  report->wal_files++;
  wal::DamageSummary damage;
  wal::Reader reader(std::move(*file), &damage);
  std::string scratch;
  std::string_view record;
  bool records_after_damage = false;
  while (reader.ReadRecord(&record, &scratch)) {
    if (damage.damaged) records_after_damage = true;
    if (!pending_damage->empty()) {
      report->problems.push_back(*pending_damage + " with intact records after the damage");
      pending_damage->clear();
    }
    WriteBatch batch;
    CountingHandler handler;
    absl::Status s = WriteBatchInternal::SetContents(&batch, record);
    if (s.ok()) s = batch.Iterate(&handler);
    if (!s.ok()) {
      report->problems.push_back(absl::StrCat(name, ": record at offset ",
                                              reader.last_record_offset(), ": ", s.message()));
    }
    report->wal_records++;
  }
  if (!reader.status().ok()) {
    report->problems.push_back(absl::StrCat(name, ": ", reader.status().message()));
  }
  if (!damage.damaged) return;
  std::string what =
      absl::StrFormat("%s: %d bytes damaged from offset %d (%s)", name, damage.dropped_bytes,
                      damage.first_offset, damage.first_reason);
  if (records_after_damage) {
    report->problems.push_back(what + " with intact records after the damage");
  } else {
    *pending_damage = what;
  }
}

}  // namespace

absl::StatusOr<CheckReport> CheckDB(const std::string& dir, const Options& options) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  if (!env->FileExists(CurrentFileName(dir))) {
    return absl::NotFoundError(absl::StrCat("no database in ", dir, " (CURRENT missing)"));
  }
  CAIRN_ASSIGN_OR_RETURN(auto lock, env->LockFile(LockFileName(dir)));
  CheckReport report;
  TableCache cache(env, dir, /*max_open_files=*/64, /*block_cache=*/nullptr,
                   /*row_cache_bytes=*/0, /*mmap_reads=*/false);
  VersionSet versions(env, dir, &cache);
  absl::Status s = versions.Recover();
  if (!s.ok()) {
    report.problems.push_back(std::string(s.message()));
    return report;
  }

  if (!versions.recovery_note().empty()) report.warnings.push_back(versions.recovery_note());
  std::set<uint64_t> live;
  versions.AddLiveFiles(&live);
  auto current = versions.current();
  for (int level = 0; level < kNumLevels; level++) {
    for (const auto& f : current->files(level)) CheckTable(&cache, *f, &report);
  }

  CAIRN_ASSIGN_OR_RETURN(auto children, env->GetChildren(dir));
  std::vector<uint64_t> logs;
  for (const auto& name : children) {
    uint64_t number;
    FileType type;
    if (!ParseFileName(name, &number, &type)) continue;
    if (type == FileType::kLog && number >= versions.log_number()) logs.push_back(number);
    if (type == FileType::kTable && !live.contains(number)) {
      report.warnings.push_back(absl::StrCat(name, ": not referenced by the MANIFEST"));
    }
  }
  std::sort(logs.begin(), logs.end());
  std::string pending_damage;
  for (uint64_t number : logs) CheckWal(env, dir, number, &pending_damage, &report);
  if (!pending_damage.empty()) {
    report.warnings.push_back(pending_damage + ": a torn tail, dropped by the next open");
  }
  return report;
}

}  // namespace cairn::engine
