// Opening a database: lock, create or recover the MANIFEST, replay WALs into L0 tables.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"
#include "engine/db_impl.h"
#include "engine/filename.h"
#include "engine/wal_reader.h"
#include "engine/write_batch_internal.h"

namespace cairn::engine {

absl::Status DBImpl::Open() {
  const Options& o = options_;
  if (o.write_buffer_size < (64 << 10) || o.block_size < 256 || o.block_restart_interval < 1 ||
      o.level0_compaction_trigger < 1 ||
      o.level0_slowdown_writes_trigger < o.level0_compaction_trigger ||
      o.level0_stop_writes_trigger < o.level0_slowdown_writes_trigger ||
      o.max_bytes_for_level_base < (64 << 10) || !(o.max_bytes_for_level_multiplier > 1) ||
      o.target_file_size < (16 << 10) || o.bloom_bits_per_key < 0 || o.max_open_files < 1) {
    return absl::InvalidArgumentError(
        "bad options: need write_buffer_size >= 64 KiB, block_size >= 256, "
        "block_restart_interval >= 1, 1 <= level0_compaction_trigger <= "
        "level0_slowdown_writes_trigger <= level0_stop_writes_trigger, "
        "max_bytes_for_level_base >= 64 KiB, max_bytes_for_level_multiplier > 1, "
        "target_file_size >= 16 KiB, bloom_bits_per_key >= 0, max_open_files >= 1");
  }
  if (options_.create_if_missing) {
    CAIRN_RETURN_IF_ERROR(env_->CreateDir(dir_));
  } else if (!env_->FileExists(CurrentFileName(dir_))) {
    return absl::InvalidArgumentError(
        absl::StrCat("no database in ", dir_, " (create_if_missing is false)"));
  }
  CAIRN_ASSIGN_OR_RETURN(lock_, env_->LockFile(LockFileName(dir_)));

  absl::MutexLock l(&mu_);
  VersionEdit edit;
  CAIRN_RETURN_IF_ERROR(Recover(&edit));
  mem_ = NewMemTable();
  PublishMemTables();
  CAIRN_RETURN_IF_ERROR(NewWal());
  edit.SetLogNumber(wal_number_);
  CAIRN_RETURN_IF_ERROR(versions_->LogAndApply(&edit));
  RemoveObsoleteFiles();

  flush_thread_ = env_->StartThread([this] { FlushLoop(); });
  compaction_thread_ = env_->StartThread([this] { CompactionLoop(); });
  if (options_.wal_sync == WalSyncMode::kEverySec || options_.error_recovery_interval_ms > 0) {
    housekeeping_thread_ = env_->StartThread([this] { HousekeepingLoop(); });
  }
  return absl::OkStatus();
}

absl::Status DBImpl::Recover(VersionEdit* edit) {
  if (!env_->FileExists(CurrentFileName(dir_))) {
    // Creating a database over the files of one that lost CURRENT would delete its
    // tables as unreferenced.
    CAIRN_ASSIGN_OR_RETURN(auto existing, env_->GetChildren(dir_));
    for (const auto& name : existing) {
      uint64_t number;
      FileType type;
      // MANIFEST-000001 alone is a first open that died before writing CURRENT.
      if (ParseFileName(name, &number, &type) && type != FileType::kLock &&
          type != FileType::kTemp && !(type == FileType::kManifest && number == 1)) {
        return CorruptionError(absl::StrCat(dir_, " holds database files (", name,
                                            ") but no CURRENT file; refusing to create a "
                                            "new database over them"));
      }
    }
    if (!options_.create_if_missing) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir_, " does not exist (create_if_missing is false)"));
    }
    CAIRN_RETURN_IF_ERROR(VersionSet::CreateNew(env_, dir_));
  } else if (options_.error_if_exists) {
    return absl::InvalidArgumentError(absl::StrCat(dir_, " exists (error_if_exists is true)"));
  }
  CAIRN_RETURN_IF_ERROR(versions_->Recover());
  if (!versions_->recovery_note().empty()) {
    // An edit was cut from the MANIFEST's tail. Tables it may have named stay on disk
    // (unreferenced) rather than being deleted: they are garbage after a crash in the
    // middle of a flush, but evidence if the damage had another cause.
    protected_tables_below_ = versions_->PeekNextFileNumber();
    recovery_report_ += versions_->recovery_note() + "; unreferenced tables are kept\n";
  }

  // Every table the MANIFEST names must exist; collect WALs that are not yet in tables.
  CAIRN_ASSIGN_OR_RETURN(auto children, env_->GetChildren(dir_));
  std::set<uint64_t> expected;
  versions_->AddLiveFiles(&expected);
  std::vector<uint64_t> logs;
  for (const auto& name : children) {
    uint64_t number;
    FileType type;
    if (!ParseFileName(name, &number, &type)) continue;
    versions_->MarkFileNumberUsed(number);
    if (type == FileType::kTable) expected.erase(number);
    if (type == FileType::kBlob) {
      // Sealed from now on: a crash may have cut its last record short.
      CAIRN_ASSIGN_OR_RETURN(uint64_t size, env_->GetFileSize(BlobFileName(dir_, number)));
      blob_store_->NoteFile(number, size);
    }
    if (type == FileType::kLog && number >= versions_->log_number()) logs.push_back(number);
  }
  if (!expected.empty()) {
    return CorruptionError(absl::StrCat("missing table file ", *expected.begin(), ".sst (and ",
                                        expected.size() - 1, " more)"));
  }
  std::sort(logs.begin(), logs.end());
  return ReplayWals(logs, edit);
}

absl::Status DBImpl::ReplayWals(const std::vector<uint64_t>& logs, VersionEdit* edit) {
  const bool point_in_time = options_.wal_recovery == WalRecoveryMode::kPointInTime;
  SequenceNumber max_sequence = versions_->LastSequence();
  SequenceNumber replayed_sequence = 0;  // last sequence of the previous record replayed
  auto mem = NewMemTable();
  std::string scratch;
  std::string_view record;
  // Damage seen so far with no intact record after it yet: a torn tail, unless an
  // intact record follows (in this WAL or a later one).
  std::string pending_damage;

  for (size_t i = 0; i < logs.size(); i++) {
    const std::string path = LogFileName(dir_, logs[i]);
    CAIRN_ASSIGN_OR_RETURN(auto file, env_->NewSequentialFile(path));
    wal::DamageSummary reporter;
    wal::Reader reader(std::move(file), &reporter);
    while (reader.ReadRecord(&record, &scratch)) {
      if (reporter.damaged && pending_damage.empty()) {
        pending_damage = absl::StrFormat("WAL %s is damaged at offset %d (%s)", path,
                                         reporter.first_offset, reporter.first_reason);
      }
      if (!pending_damage.empty()) {
        if (!point_in_time) {
          return CorruptionError(
              absl::StrCat(pending_damage,
                           " and intact records follow the damage; opening with "
                           "wal_recovery=point-in-time keeps only what comes before it"));
        }
        recovery_report_ += absl::StrFormat(
            "point-in-time recovery: %s; ignored the WAL from there on and %d later WALs\n",
            pending_damage, logs.size() - i - 1);
        versions_->SetLastSequence(max_sequence);
        return WriteLevel0Table(*mem, versions_->NewFileNumber(), kMaxSequenceNumber, edit);
      }
      WriteBatch batch;
      CAIRN_RETURN_IF_ERROR(WriteBatchInternal::SetContents(&batch, record));
      // Writers number batches in increasing order: a record whose sequence numbers do
      // not follow the previous one's (a repeated or misplaced record) would put two
      // entries with one internal key into the memtable.
      if (batch.Count() > 0 && WriteBatchInternal::Sequence(batch) <= replayed_sequence) {
        return CorruptionError(absl::StrFormat(
            "WAL %s: a record at offset %d starts at sequence %d, not after %d", path,
            reader.last_record_offset(), WriteBatchInternal::Sequence(batch),
            replayed_sequence));
      }
      absl::Status s = WriteBatchInternal::InsertInto(batch, mem.get());
      if (!s.ok()) return Annotate(s, path);
      const SequenceNumber last = WriteBatchInternal::Sequence(batch) + batch.Count() - 1;
      if (batch.Count() > 0) {
        max_sequence = std::max(max_sequence, last);
        replayed_sequence = last;
      }
      if (mem->ApproximateMemoryUsage() > options_.write_buffer_size) {
        CAIRN_RETURN_IF_ERROR(WriteLevel0Table(*mem, versions_->NewFileNumber(), kMaxSequenceNumber, edit));
        mem = NewMemTable();
      }
    }
    CAIRN_RETURN_IF_ERROR(Annotate(reader.status(), path));
    if (reporter.damaged) {
      if (pending_damage.empty()) {
        pending_damage = absl::StrFormat("WAL %s is damaged at offset %d (%s)", path,
                                         reporter.first_offset, reporter.first_reason);
      }
      recovery_report_ += absl::StrFormat(
          "WAL %s: torn tail: dropped %d bytes from offset %d (%s); replayed %d bytes\n", path,
          reporter.dropped_bytes, reporter.first_offset, reporter.first_reason,
          reader.end_of_last_record());
    }
  }
  CAIRN_RETURN_IF_ERROR(WriteLevel0Table(*mem, versions_->NewFileNumber(), kMaxSequenceNumber, edit));
  versions_->SetLastSequence(max_sequence);
  return absl::OkStatus();
}

}  // namespace cairn::engine
