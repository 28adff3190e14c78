// Background flush of the immutable memtable to an L0 table, and file garbage collection.
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/blob_format.h"
#include "engine/db_impl.h"
#include "engine/filename.h"
#include "engine/table_builder.h"

namespace cairn::engine {

absl::Status DBImpl::WriteLevel0Table(const MemTable& mem, uint64_t number,
                                      SequenceNumber smallest_snapshot, VersionEdit* edit) {
  if (mem.num_entries() == 0) return absl::OkStatus();
  FileMetaData meta;
  meta.number = number;
  const std::string path = TableFileName(dir_, meta.number);
  CAIRN_ASSIGN_OR_RETURN(auto file, env_->NewWritableFile(path));
  TableBuilder builder(options_, file.get());
  auto iter = mem.NewIterator();
  bool first = true;
  std::string last_user_key;
  SequenceNumber last_sequence_for_key = kMaxSequenceNumber;
  BlobRefCounter blob_refs;
  for (iter->SeekToFirst(); iter->Valid(); iter->Next()) {
    std::string_view key = iter->key();
    ParsedInternalKey parsed;
    if (ParseInternalKey(key, &parsed)) {
      // Versions of a key come newest first.
      if (!first && parsed.user_key == last_user_key) {
        // A newer version hides this one from every reader.
        if (last_sequence_for_key <= smallest_snapshot) continue;
      } else {
        last_user_key.assign(parsed.user_key.data(), parsed.user_key.size());
      }
      last_sequence_for_key = parsed.sequence;
      meta.smallest_seq =
          meta.smallest_seq == 0 ? parsed.sequence : std::min(meta.smallest_seq, parsed.sequence);
      meta.largest_seq = std::max(meta.largest_seq, parsed.sequence);
    }
    if (first) {
      meta.smallest.assign(key.data(), key.size());
      first = false;
    }
    meta.largest.assign(key.data(), key.size());
    builder.Add(key, iter->value());
    blob_refs.Add(key, iter->value());
  }
  meta.blob_refs = blob_refs.Take();
  absl::Status s = builder.Finish();
  // The table must be durable before the MANIFEST names it and its WAL is deleted; so
  // must the blob records it refers to.
  if (s.ok() && !meta.blob_refs.empty()) s = blob_store_->Sync();
  if (s.ok()) s = file->Sync();
  absl::Status c = file->Close();
  if (s.ok()) s = c;
  if (s.ok()) s = env_->SyncDir(dir_);
  if (!s.ok()) {
    (void)env_->RemoveFile(path);
    return s;
  }
  meta.file_size = builder.FileSize();
  edit->AddFile(0, std::move(meta));
  return absl::OkStatus();
}

void DBImpl::FlushLoop() {
  absl::MutexLock l(&mu_);
  while (true) {
    while (!shutting_down_ && (imm_ == nullptr || !bg_error_.ok())) bg_cv_.Wait(&mu_);
    if (shutting_down_) return;  // an unflushed imm_ stays covered by its WAL

    std::shared_ptr<MemTable> imm = imm_;
    flush_running_ = true;
    const uint64_t wal_number = wal_number_;
    const uint64_t number = versions_->NewFileNumber();
    pending_outputs_.insert(number);
    const SequenceNumber smallest_snapshot =
        snapshots_.empty() ? versions_->LastSequence() : *snapshots_.begin();
    mu_.Unlock();
    VersionEdit edit;
    absl::Status s;
    try {
      s = WriteLevel0Table(*imm, number, smallest_snapshot, &edit);
    } catch (const std::exception& e) {
      s = ExceptionToStatus(e);
    }
    mu_.Lock();
    pending_outputs_.erase(number);
    // Every WAL older than the current one is now in tables.
    edit.SetLogNumber(wal_number);
    if (s.ok()) {
      try {
        s = versions_->LogAndApply(&edit);
      } catch (const std::exception& e) {
        s = ExceptionToStatus(e);
      }
    }
    if (s.ok()) {
      // After LogAndApply installed the table: readers find its keys there.
      RetireMemTable(std::move(imm_));
      imm_.reset();
      PublishMemTables();
      flushes_++;
      for (const auto& [level, f] : edit.new_files()) stats_.flush_bytes += f.file_size;
      RemoveObsoleteFiles();
      bg_cv_.SignalAll();  // the compaction thread may have work now
    } else {
      SetBackgroundError(s);
    }
    flush_running_ = false;
    bg_cv_.SignalAll();
    // The flushed memtable, once retired, is freed with mu_ released.
    memtables_to_drop_.push_back(std::move(imm));
    DropMemTablesUnlocked();
  }
}

absl::Status DBImpl::Flush() {
  absl::Status s;
  try {
    s = WriteImpl(WriteOptions(), nullptr, WriteKind::kSwitchMemtable);
  } catch (const std::exception& e) {
    s = ExceptionToStatus(e);
  }
  CAIRN_RETURN_IF_ERROR(s);
  absl::MutexLock l(&mu_);
  while (imm_ != nullptr && bg_error_.ok()) bg_cv_.Wait(&mu_);
  return bg_error_;
}

void DBImpl::RemoveObsoleteFiles() {
  auto children = env_->GetChildren(dir_);
  if (!children.ok()) return;
  std::set<uint64_t> live, blob_files;
  versions_->AddLiveFiles(&live, &blob_files);
  RemoveObsoleteBlobFiles(blob_files);
  const uint64_t min_wal = versions_->log_number();
  for (const auto& name : *children) {
    uint64_t number;
    FileType type;
    if (!ParseFileName(name, &number, &type)) continue;
    bool keep = true;
    switch (type) {
      case FileType::kLog:
        keep = number >= min_wal;
        break;
      case FileType::kManifest:
        keep = number >= versions_->manifest_file_number();
        break;
      case FileType::kTable:
        // Tables being written by a flush or compaction are in pending_outputs_; tables
        // of older Versions still being read are in `live`.
        keep = live.contains(number) || pending_outputs_.contains(number) ||
               number < protected_tables_below_;
        break;
      case FileType::kTemp:
        keep = false;  // CURRENT's temp file, written under mu_ by LogAndApply
        break;
      case FileType::kCurrent:
      case FileType::kLock:
      case FileType::kBlob:  // RemoveObsoleteBlobFiles
        break;
    }
    if (!keep) {
      if (type == FileType::kTable) table_cache_->Evict(number);
      (void)env_->RemoveFile(dir_ + "/" + name);
    }
  }
}

}  // namespace cairn::engine
