// Background and manual leveled compaction.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/compaction.h"
#include "engine/db_impl.h"
#include "engine/filename.h"
#include "engine/merging_iterator.h"
#include "engine/table_builder.h"

namespace cairn::engine {

void DBImpl::CompactionLoop() {
  absl::MutexLock l(&mu_);
  while (true) {
    std::unique_ptr<Compaction> c;
    while (!shutting_down_) {
      if (bg_error_.ok() && !compaction_running_) {
        try {
          c = PickCompaction(options_, versions_->current(), compact_pointers_);
        } catch (const std::exception& e) {
          SetBackgroundError(ExceptionToStatus(e));
        }
        if (c != nullptr) break;
      }
      bg_cv_.Wait(&mu_);
    }
    if (shutting_down_) return;
    compaction_running_ = true;
    absl::Status s;
    try {
      s = RunCompaction(c.get());
    } catch (const std::exception& e) {  // thrown with mu_ held (see RunCompaction)
      s = ExceptionToStatus(e);
    }
    compaction_running_ = false;
    if (!s.ok() && !shutting_down_) SetBackgroundError(s);
    bg_cv_.SignalAll();
    DropMemTablesUnlocked();
  }
}

absl::Status DBImpl::CompactRange(const std::string* begin, const std::string* end) {
  CAIRN_RETURN_IF_ERROR(Flush());
  absl::MutexLock l(&mu_);
  // Down to the level below the deepest one holding the range, so every table in the
  // range is rewritten at least once (a manual compaction never just moves a file).
  int deepest = 0;
  for (int level = 1; level < kNumLevels; level++) {
    if (!OverlappingFiles(*versions_->current(), level, begin ? *begin : std::string_view(),
                          end ? *end : std::string_view())
             .empty()) {
      deepest = level;
    }
  }
  for (int level = 0; level <= std::min(deepest, kNumLevels - 2); level++) {
    while (true) {
      while (compaction_running_ && bg_error_.ok()) bg_cv_.Wait(&mu_);
      CAIRN_RETURN_IF_ERROR(bg_error_);
      absl::Status s;
      std::unique_ptr<Compaction> c;
      compaction_running_ = true;
      try {
        c = CompactRangeAt(options_, versions_->current(), level, begin, end);
        if (c != nullptr) {
          c->manual = true;
          s = RunCompaction(c.get());
        }
      } catch (const std::exception& e) {
        s = ExceptionToStatus(e);
      }
      compaction_running_ = false;
      if (c == nullptr && s.ok()) break;
      bg_cv_.SignalAll();
      CAIRN_RETURN_IF_ERROR(s);
      if (level > 0) break;  // one pass moves a level's range down
    }
  }
  return absl::OkStatus();
}

absl::Status DBImpl::RunCompaction(Compaction* c) {
  const uint64_t start_micros = env_->NowMicros();
  const std::string pointer(c->inputs[0].back()->largest);
  const std::set<uint64_t> rewrite_blobs = BlobFilesToRewrite();
  // A table naming a blob file due for rewriting goes through a real merge.
  auto names_rewritten_blob = [&](const FileMetaData& f) {
    for (const auto& ref : f.blob_refs) {
      if (rewrite_blobs.contains(ref.first)) return true;
    }
    return false;
  };
  if (c->IsTrivialMove() && !names_rewritten_blob(*c->inputs[0][0])) {
    const auto& f = c->inputs[0][0];
    c->edit.RemoveFile(c->level, f->number);
    c->edit.AddFile(c->output_level(), *f);
    CAIRN_RETURN_IF_ERROR(versions_->LogAndApply(&c->edit));
    compact_pointers_[c->level] = pointer;
    stats_.trivial_moves++;
    return absl::OkStatus();
  }
  // Entries a snapshot can still see must survive.
  const SequenceNumber smallest_snapshot =
      snapshots_.empty() ? versions_->LastSequence() : *snapshots_.begin();
  std::vector<FileMetaData> outputs;
  std::vector<uint64_t> created;
  std::vector<uint64_t> blob_files;  // rewritten values went there: protected until installed

  mu_.Unlock();
  absl::Status s;
  uint64_t bytes_written = 0;
  try {
    s = MergeCompactionInputs(c, smallest_snapshot, rewrite_blobs, &outputs, &created,
                              &bytes_written, &blob_files);
  } catch (const std::exception& e) {
    s = ExceptionToStatus(e);
  }
  mu_.Lock();
  struct ReleaseBlobs {
    BlobStore* store;
    const std::vector<uint64_t>& files;
    ~ReleaseBlobs() {
      for (uint64_t f : files) store->Release(f);
    }
  } release_blobs{blob_store_.get(), blob_files};

  if (!s.ok()) {
    // Nothing names the outputs yet: they can go.
    for (uint64_t number : created) {
      pending_outputs_.erase(number);
      (void)env_->RemoveFile(TableFileName(dir_, number));
    }
    return s;
  }
  for (int which = 0; which < 2; which++) {
    for (const auto& f : c->inputs[which]) c->edit.RemoveFile(c->level + which, f->number);
  }
  for (auto& f : outputs) c->edit.AddFile(c->output_level(), f);
  s = versions_->LogAndApply(&c->edit);
  for (uint64_t number : created) pending_outputs_.erase(number);
  // If LogAndApply failed, the edit may still have reached the MANIFEST: the outputs
  // stay (the next Open deletes them if the MANIFEST does not name them).
  CAIRN_RETURN_IF_ERROR(s);
  compact_pointers_[c->level] = pointer;
  stats_.compactions++;
  stats_.compaction_bytes_read += c->InputBytes();
  stats_.compaction_bytes_written += bytes_written;
  stats_.compaction_micros += env_->NowMicros() - start_micros;
  // The compaction's own reference keeps its input version (and so its input tables)
  // alive: drop it first, or the inputs would linger until the next cleanup.
  c->input_version.reset();
  RemoveObsoleteFiles();
  return absl::OkStatus();
}

absl::Status DBImpl::MergeCompactionInputs(Compaction* c, SequenceNumber smallest_snapshot,
                                           const std::set<uint64_t>& rewrite_blobs,
                                           std::vector<FileMetaData>* outputs,
                                           std::vector<uint64_t>* created,
                                           uint64_t* bytes_written,
                                           std::vector<uint64_t>* blob_files) {
  std::vector<std::unique_ptr<Iterator>> children;
  for (int which = 0; which < 2; which++) {
    for (const auto& f : c->inputs[which]) {
      auto table = table_cache_->Get(f->number, f->file_size);
      if (!table.ok()) return table.status();
      children.push_back((*table)->NewIterator());
    }
  }
  auto input = NewMergingIterator(CompareInternalKeys, std::move(children));

  std::unique_ptr<WritableFile> file;
  std::unique_ptr<TableBuilder> builder;
  FileMetaData meta;
  BlobRefCounter blob_refs;
  uint64_t blob_gc_bytes = 0;
  auto finish_output = [&]() -> absl::Status {
    meta.blob_refs = blob_refs.Take();
    absl::Status s = builder->Finish();
    // Values rewritten to a blob file must be durable before the MANIFEST names the table.
    if (s.ok() && !blob_files->empty()) s = blob_store_->Sync();
    if (s.ok()) s = file->Sync();
    absl::Status closed = file->Close();
    if (s.ok()) s = closed;
    if (!s.ok()) return s;
    meta.file_size = builder->FileSize();
    *bytes_written += meta.file_size;
    outputs->push_back(meta);
    builder.reset();
    file.reset();
    return absl::OkStatus();
  };

  std::string current_user_key;
  bool has_current_user_key = false;
  SequenceNumber last_sequence_for_key = kMaxSequenceNumber;
  const uint64_t max_grandparent_overlap = 10 * options_.target_file_size;
  const uint64_t now = env_->NowUnixMicros();
  // Expired values are rewritten as deletions only once kept for the retention.
  const uint64_t expired_before =
      now > options_.expired_retention_micros ? now - options_.expired_retention_micros : 0;
  std::string rewritten;  // an expired value as a deletion, or a key with sequence 0
  std::string rewritten_value;  // a blob reference moved by garbage collection
  std::unique_ptr<CompactionFilter> filter;
  if (options_.compaction_filter_factory != nullptr) {
    filter = options_.compaction_filter_factory->NewFilter();
  }
  uint64_t filtered = 0;
  for (input->SeekToFirst(); input->Valid(); input->Next()) {
    if (shutdown_requested_.load(std::memory_order_relaxed)) {
      return absl::AbortedError("compaction stopped: shutting down");
    }
    const std::string_view key = input->key();
    ParsedInternalKey ikey;
    if (!ParseInternalKey(key, &ikey)) return CorruptionError("bad key in compaction input");
    const bool new_user_key = !has_current_user_key || ikey.user_key != current_user_key;
    if (new_user_key) {
      current_user_key.assign(ikey.user_key.data(), ikey.user_key.size());
      has_current_user_key = true;
      last_sequence_for_key = kMaxSequenceNumber;
      // Output tables end only between user keys: all versions of a key stay in one
      // table, so tables of a level never share a user key and a compaction that picks
      // a table never leaves an older version of one of its keys above a newer one.
      if (builder != nullptr && (builder->FileSize() >= options_.target_file_size ||
                                 c->ShouldStopBefore(key, max_grandparent_overlap))) {
        CAIRN_RETURN_IF_ERROR(finish_output());
      }
    }
    // An expired value reads as a deletion to every reader, now and later: write it as
    // one (the tombstone still hides older versions below) and drop it like one.
    bool expired = false;
    if (ikey.type == kTypeValueWithExpiry || ikey.type == kTypeBlobIndex) {
      std::string_view unused;
      expired =
          ResolveEntry(ikey.type, input->value(), expired_before, &unused) == EntryState::kAbsent &&
          (filter == nullptr || !filter->KeepExpired(ikey.user_key));
      if (expired) ikey.type = kTypeDeletion;
    }
    // The application's filter may turn the newest version every snapshot sees into a
    // deletion, written and dropped like an expired value.
    if (filter != nullptr && !expired && new_user_key && ikey.sequence <= smallest_snapshot &&
        (ikey.type == kTypeValue || ikey.type == kTypeValueWithExpiry ||
         ikey.type == kTypeBlobIndex)) {
      std::string_view v;
      const EntryState state = ResolveEntry(ikey.type, input->value(), now, &v);
      if (state == EntryState::kBlob) v = {};  // not read from its blob file (the filter's contract)
      if ((state == EntryState::kValue || state == EntryState::kBlob) &&
          filter->Drop(ikey.user_key, v)) {
        expired = true;
        ikey.type = kTypeDeletion;
        filtered++;
      }
    }
    bool drop = false;
    if (last_sequence_for_key <= smallest_snapshot) {
      drop = true;  // a newer entry of this key is visible to every snapshot
    } else if (ikey.type == kTypeDeletion && ikey.sequence <= smallest_snapshot &&
               c->IsBaseLevelForKey(ikey.user_key)) {
      drop = true;  // nothing older below to hide, and no snapshot needs the tombstone
    }
    last_sequence_for_key = ikey.sequence;
    if (drop) continue;
    // The surviving version of a key with nothing older below and no snapshot that
    // predates it needs no sequence number: it is written with 0 (RocksDB does the
    // same). Every newer version has a larger one, so order and visibility are
    // unchanged, and all-zero tags compress far better than random sequence numbers.
    const bool zero_sequence = !expired && ikey.sequence != 0 &&
                               ikey.sequence <= smallest_snapshot &&
                               ikey.type != kTypeDeletion && c->IsBaseLevelForKey(ikey.user_key);
    if (zero_sequence) ikey.sequence = 0;

    if (builder == nullptr) {
      {
        absl::MutexLock l(&mu_);
        meta = FileMetaData();
        meta.number = versions_->NewFileNumber();
        pending_outputs_.insert(meta.number);
      }
      created->push_back(meta.number);
      CAIRN_ASSIGN_OR_RETURN(file, env_->NewWritableFile(TableFileName(dir_, meta.number)));
      builder = std::make_unique<TableBuilder>(options_, file.get());
      meta.smallest_seq = ikey.sequence;
      meta.largest_seq = ikey.sequence;
    }
    std::string_view out_key = key, out_value = input->value();
    if (!expired && ikey.type == kTypeBlobIndex && !rewrite_blobs.empty()) {
      BlobRef ref;
      CAIRN_RETURN_IF_ERROR(DecodeBlobRef(out_value.substr(8), &ref));
      if (rewrite_blobs.contains(ref.file)) {
        // Garbage collection: the value moves to the active blob file, chunk by chunk.
        CAIRN_ASSIGN_OR_RETURN(auto reader, blob_store_->NewReader(ikey.user_key, ref));
        CAIRN_ASSIGN_OR_RETURN(BlobRef moved,
                               blob_store_->AddFrom(ikey.user_key, reader.get(), false));
        blob_files->push_back(moved.file);
        blob_gc_bytes += BlobRecordSize(ikey.user_key.size(), moved.size);
        rewritten_value.assign(out_value.data(), 8);  // the expiry
        EncodeBlobRef(moved, &rewritten_value);
        out_value = rewritten_value;
      }
    }
    if (expired) {
      rewritten.clear();
      AppendInternalKey(&rewritten, ikey.user_key, ikey.sequence, kTypeDeletion);
      out_key = rewritten;
      out_value = {};
    } else if (zero_sequence) {
      rewritten.clear();
      AppendInternalKey(&rewritten, ikey.user_key, 0, ikey.type);
      out_key = rewritten;
    }
    if (builder->NumEntries() == 0) meta.smallest.assign(out_key.data(), out_key.size());
    meta.largest.assign(out_key.data(), out_key.size());
    meta.smallest_seq = std::min(meta.smallest_seq, ikey.sequence);
    meta.largest_seq = std::max(meta.largest_seq, ikey.sequence);
    builder->Add(out_key, out_value);
    blob_refs.Add(out_key, out_value);
    CAIRN_RETURN_IF_ERROR(builder->status());
  }
  CAIRN_RETURN_IF_ERROR(input->status());
  if (builder != nullptr) CAIRN_RETURN_IF_ERROR(finish_output());
  if (filtered > 0 || blob_gc_bytes > 0) {
    absl::MutexLock l(&mu_);
    stats_.filtered_entries += filtered;
    stats_.blob_gc_bytes_written += blob_gc_bytes;
  }
  // New tables must be durable in the directory before the MANIFEST names them.
  return outputs->empty() ? absl::OkStatus() : env_->SyncDir(dir_);
}

}  // namespace cairn::engine
