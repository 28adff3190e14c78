// Key-value separation: large values go to blob files (blob_store.h) before their
// references go through the WAL; reads resolve references; unreferenced blob files are
// deleted. See docs/large-values.md.
#include <cstring>

#include "base/coding.h"
#include "base/status.h"
#include "engine/db_impl.h"
#include "engine/write_batch_internal.h"

namespace cairn::engine {

namespace {

// Releases the blob files' protection once the references are in the memtable (or the
// write failed).
class BlobReleaser {
 public:
  explicit BlobReleaser(BlobStore* store) : store_(store) {}
  ~BlobReleaser() {
    for (uint64_t f : files_) store_->Release(f);
  }
  void Add(uint64_t file) { files_.push_back(file); }

 private:
  BlobStore* const store_;
  std::vector<uint64_t> files_;
};

std::string BlobIndexValue(uint64_t expire_at, const BlobRef& ref) {
  std::string stored;
  PutFixed64(&stored, expire_at);
  EncodeBlobRef(ref, &stored);
  return stored;
}

class StringValueReader final : public ValueReader {
 public:
  explicit StringValueReader(std::string value) : value_(std::move(value)) {}
  uint64_t size() const override { return value_.size(); }
  absl::Status Read(uint64_t offset, size_t n, char* dst) override {
    if (offset > value_.size() || n > value_.size() - offset) {
      return absl::InvalidArgumentError("read past the end of the value");
    }
    if (n > 0) std::memcpy(dst, value_.data() + offset, n);
    return absl::OkStatus();
  }

 private:
  const std::string value_;
};

}  // namespace

std::unique_ptr<ValueReader> NewStringValueReader(std::string value) {
  return std::make_unique<StringValueReader>(std::move(value));
}

absl::Status DBImpl::PutParts(const WriteOptions& options, std::string_view key,
                              std::span<const std::string_view> parts,
                              uint64_t expire_at_unix_micros, const WriteBatch* also) {
  try {
    size_t size = 0;
    for (std::string_view p : parts) size += p.size();
    if (IsBlobValue(size)) return PutBlob(options, key, parts, expire_at_unix_micros, also);
    std::string value;
    value.reserve(size);
    for (std::string_view p : parts) value.append(p.data(), p.size());
    WriteBatch batch;
    if (expire_at_unix_micros > 0) {
      batch.PutWithExpiry(key, value, expire_at_unix_micros);
    } else {
      batch.Put(key, value);
    }
    if (also != nullptr) batch.Append(*also);
    return WriteImpl(options, &batch);
  } catch (const std::exception& e) {
    return ExceptionToStatus(e);
  }
}

absl::Status DBImpl::PutBlob(const WriteOptions& options, std::string_view key,
                             std::span<const std::string_view> parts, uint64_t expire_at,
                             const WriteBatch* also) {
  // A read-only database would only leave garbage behind.
  if (read_only_.load(std::memory_order_acquire)) return BackgroundError();
  // The blob is durable before the WAL record that names it whenever that record is
  // (WalSyncMode::kAlways or a sync write); otherwise the once-a-second sync syncs blob
  // files before the WAL.
  const bool sync = options.sync || options_.wal_sync == WalSyncMode::kAlways;
  BlobReleaser release(blob_store_.get());
  auto added = blob_store_->Add(key, parts, sync);
  if (!added.ok()) return BlobAddFailed(added.status());
  const BlobRef ref = *added;
  release.Add(ref.file);
  {
    absl::MutexLock l(&mu_);
    stats_.user_bytes_written += ref.size;
  }
  WriteBatch batch;
  WriteBatchInternal::PutBlobIndex(&batch, key, BlobIndexValue(expire_at, ref));
  if (also != nullptr) batch.Append(*also);
  return WriteImpl(options, &batch);
}

absl::Status DBImpl::BlobAddFailed(const absl::Status& s) {
  // A failed blob fsync may have lost records that WAL records already written name: the
  // next WAL sync must not make those durable. Read-only, as for a failed WAL fsync.
  const absl::Status sync_error = blob_store_->sync_error();
  if (!sync_error.ok()) {
    absl::MutexLock l(&mu_);
    SetBackgroundError(sync_error);
  }
  return s;
}

absl::Status DBImpl::WriteSeparated(const WriteOptions& options, const WriteBatch& batch) {
  if (read_only_.load(std::memory_order_acquire)) return BackgroundError();
  const bool sync = options.sync || options_.wal_sync == WalSyncMode::kAlways;
  BlobReleaser release(blob_store_.get());
  // Rebuilds the batch with each large value replaced by its reference.
  class Separator final : public WriteBatch::Handler {
   public:
    Separator(DBImpl* db, bool sync, BlobReleaser* release)
        : db_(db), sync_(sync), release_(release) {}
    void Put(std::string_view key, std::string_view value) override {
      PutWithExpiry(key, value, 0);
    }
    void PutWithExpiry(std::string_view key, std::string_view value, uint64_t expire) override {
      if (!status.ok()) return;
      if (!db_->IsBlobValue(value.size())) {
        expire > 0 ? out.PutWithExpiry(key, value, expire) : out.Put(key, value);
        return;
      }
      const std::string_view parts[] = {value};
      auto ref = db_->blob_store_->Add(key, parts, sync_);
      if (!ref.ok()) {
        status = ref.status();
        return;
      }
      release_->Add(ref->file);
      blob_bytes += ref->size;
      WriteBatchInternal::PutBlobIndex(&out, key, BlobIndexValue(expire, *ref));
    }
    void Delete(std::string_view key) override { out.Delete(key); }
    void PutBlobIndex(std::string_view key, std::string_view stored) override {
      WriteBatchInternal::PutBlobIndex(&out, key, stored);
    }
    WriteBatch out;
    absl::Status status;
    uint64_t blob_bytes = 0;

   private:
    DBImpl* const db_;
    const bool sync_;
    BlobReleaser* const release_;
  } separator(this, sync, &release);
  CAIRN_RETURN_IF_ERROR(batch.Iterate(&separator));
  if (!separator.status.ok()) return BlobAddFailed(separator.status);
  {
    absl::MutexLock l(&mu_);
    stats_.user_bytes_written += separator.blob_bytes;
  }
  return WriteImpl(options, &separator.out);
}

absl::StatusOr<std::unique_ptr<ValueReader>> DBImpl::GetReader(const ReadOptions& options,
                                                               std::string_view key) {
  try {
    const ReadView view = CaptureReadView(options);
    LookupKey lkey(key, view.sequence);
    const uint64_t now = options.include_expired ? 0 : env_->NowUnixMicros();
    absl::Status s;
    bool blob = false;
    std::string value;
    if (!view.mem->Get(lkey, now, &value, &s, &blob) &&
        (view.imm == nullptr || !view.imm->Get(lkey, now, &value, &s, &blob))) {
      s = view.current->Get(lkey, now, &value, nullptr, &blob);
    }
    CAIRN_RETURN_IF_ERROR(s);
    if (!blob) return NewStringValueReader(std::move(value));
    // The view pins the tables naming the blob file while the reader opens it; the open
    // file then outlives its deletion.
    BlobRef ref;
    CAIRN_RETURN_IF_ERROR(DecodeBlobRef(value, &ref));
    return blob_store_->NewReader(key, ref);
  } catch (const std::exception& e) {
    return ExceptionToStatus(e);
  }
}

void DBImpl::RetireMemTable(std::shared_ptr<const MemTable> mem) {
  if (mem == nullptr) return;
  std::set<uint64_t> files;
  mem->AddBlobFiles(&files);
  // A memtable naming no blob file needs no watching.
  if (!files.empty()) retired_memtables_.push_back(std::move(mem));
}

void DBImpl::DropMemTablesUnlocked() {
  if (memtables_to_drop_.empty()) return;
  std::vector<std::shared_ptr<const MemTable>> drop;
  drop.swap(memtables_to_drop_);
  mu_.Unlock();
  drop.clear();
  mu_.Lock();
}

void DBImpl::RemoveObsoleteBlobFiles(const std::set<uint64_t>& referenced) {
  std::set<uint64_t> keep = referenced;
  mem_->AddBlobFiles(&keep);
  if (imm_ != nullptr) imm_->AddBlobFiles(&keep);
  // An iterator or a Get in progress may read through a memtable already written to
  // tables, whose overwritten values the tables left out.
  // The reference lock() takes may become the last one (a reader letting go meanwhile):
  // it goes to memtables_to_drop_, so no memtable is freed under mu_. A memtable held by
  // nothing but that list is unreachable: its blob files need no keeping.
  std::map<const MemTable*, long> deferred;
  for (const auto& m : memtables_to_drop_) deferred[m.get()]++;
  std::vector<std::weak_ptr<const MemTable>> still_held;
  for (const std::weak_ptr<const MemTable>& w : retired_memtables_) {
    auto mem = w.lock();
    if (mem == nullptr) continue;
    const auto it = deferred.find(mem.get());
    if (mem.use_count() > 1 + (it == deferred.end() ? 0 : it->second)) {
      mem->AddBlobFiles(&keep);
      still_held.push_back(w);
    }
    memtables_to_drop_.push_back(std::move(mem));
  }
  retired_memtables_ = std::move(still_held);
  blob_store_->AddProtectedFiles(&keep);
  for (const auto& [number, size] : blob_store_->SealedFileSizes()) {
    if (keep.contains(number)) continue;
    // Readers that opened the file keep reading it: only the name goes.
    if (env_->RemoveFile(BlobFileName(dir_, number)).ok()) {
      blob_store_->ForgetFile(number);
      blob_files_deleted_++;
    }
  }
}

std::set<uint64_t> DBImpl::BlobFilesToRewrite() {
  std::set<uint64_t> out;
  if (options_.blob_garbage_collection_threshold <= 0) return out;
  std::map<uint64_t, uint64_t> live;
  auto current = versions_->current();
  for (int level = 0; level < kNumLevels; level++) {
    for (const auto& f : current->files(level)) {
      for (const auto& [blob, bytes] : f->blob_refs) live[blob] += bytes;
    }
  }
  std::set<uint64_t> in_memtables;
  mem_->AddBlobFiles(&in_memtables);
  if (imm_ != nullptr) imm_->AddBlobFiles(&in_memtables);
  for (const auto& [number, size] : blob_store_->SealedFileSizes()) {
    // A file the memtables still name has references not counted yet. (A retired
    // memtable's references are counted in its table or dead; a file it names may be
    // rewritten, and RemoveObsoleteBlobFiles keeps it until the holder lets go.)
    if (in_memtables.contains(number) || size == 0) continue;
    if (static_cast<double>(live[number]) <
        options_.blob_garbage_collection_threshold * static_cast<double>(size)) {
      out.insert(number);
    }
  }
  return out;
}

}  // namespace cairn::engine
