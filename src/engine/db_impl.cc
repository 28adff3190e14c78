// DB API entry points, reads, snapshots and properties. The write path is in
// db_impl_write.cc, recovery in db_impl_open.cc, flushes in db_impl_flush.cc.
#include "engine/db_impl.h"

#include <new>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"
#include "engine/db_iter.h"
#include "engine/filename.h"
#include "engine/iterator_util.h"
#include "engine/merging_iterator.h"

namespace cairn::engine {

namespace {
// Runs fn, turning an escaping exception (in practice std::bad_alloc) into a Status so
// none crosses the API.
template <typename Fn>
absl::Status NoThrow(Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return ExceptionToStatus(e);
  }
}
}  // namespace

class DBImpl::SnapshotImpl final : public Snapshot {
 public:
  explicit SnapshotImpl(std::multiset<SequenceNumber>::iterator it) : it_(it) {}
  ~SnapshotImpl() override = default;
  uint64_t sequence() const override { return *it_; }
  std::multiset<SequenceNumber>::iterator it() const { return it_; }

 private:
  const std::multiset<SequenceNumber>::iterator it_;
};

DB::~DB() = default;

absl::StatusOr<std::unique_ptr<DB>> DB::Open(const Options& options, const std::string& dir) {
  // Threads that fail to start (std::system_error) and allocations are caught here.
  try {
    auto db = std::make_unique<DBImpl>(options, dir);
    CAIRN_RETURN_IF_ERROR(db->Open());
    return std::unique_ptr<DB>(std::move(db));
  } catch (const std::exception& e) {
    return Annotate(ExceptionToStatus(e), "opening " + dir);
  }
}

DBImpl::DBImpl(const Options& options, std::string dir)
    : options_(options),
      env_(options.env != nullptr ? options.env : Env::Default()),
      dir_(std::move(dir)),
      block_cache_(options.block_cache_size > 0
                       ? std::make_unique<BlockCache>(options.block_cache_size)
                       : nullptr),
      table_cache_(std::make_unique<TableCache>(env_, dir_, options.max_open_files,
                                                block_cache_.get(), options.row_cache_size,
                                                options.use_mmap_reads)),
      versions_(std::make_unique<VersionSet>(env_, dir_, table_cache_.get())),
      blob_store_(std::make_unique<BlobStore>(env_, dir_, options.blob_file_size,
                                              [this] { return versions_->NewFileNumber(); })) {}

DBImpl::~DBImpl() {
  {
    absl::MutexLock l(&mu_);
    shutting_down_ = true;
    shutdown_requested_ = true;
    bg_cv_.SignalAll();
  }
  if (flush_thread_.joinable()) flush_thread_.join();
  if (compaction_thread_.joinable()) compaction_thread_.join();
  if (housekeeping_thread_.joinable()) housekeeping_thread_.join();
  absl::MutexLock l(&mu_);
  // Graceful close: what was acknowledged becomes durable.
  if (wal_ != nullptr && bg_error_.ok()) {
    (void)blob_store_->Sync();  // blob records before the WAL records naming them
    (void)wal_->file()->Sync();
  }
  wal_.reset();
}

absl::Status DBImpl::Put(const WriteOptions& options, std::string_view key,
                         std::string_view value) {
  return NoThrow([&] {
    if (IsBlobValue(value.size())) {
      const std::string_view parts[] = {value};
      return PutBlob(options, key, parts, 0, nullptr);
    }
    WriteBatch batch;
    batch.Put(key, value);
    return WriteImpl(options, &batch);
  });
}

absl::Status DBImpl::Delete(const WriteOptions& options, std::string_view key) {
  return NoThrow([&] {
    WriteBatch batch;
    batch.Delete(key);
    return WriteImpl(options, &batch);
  });
}

absl::Status DBImpl::Write(const WriteOptions& options, const WriteBatch& batch) {
  return NoThrow([&] {
    if (options_.min_blob_size > 0 && batch.ApproximateSize() >= options_.min_blob_size) {
      return WriteSeparated(options, batch);
    }
    return WriteImpl(options, &batch);
  });
}

DBImpl::ReadView DBImpl::CaptureReadView(const ReadOptions& options) {
  ReadView view;
  // Entries up to LastSequence are in the memtables captured next, or (flushed since) in
  // the version captured after them.
  view.sequence =
      options.snapshot != nullptr ? options.snapshot->sequence() : versions_->LastSequence();
  {
    absl::MutexLock l(&view_mu_);
    view.mem = view_mem_;
    view.imm = view_imm_;
  }
  view.current = versions_->current();
  return view;
}

void DBImpl::PrefetchForGets(std::span<const std::string_view> keys) {
  std::shared_ptr<MemTable> mem;
  {
    absl::MutexLock l(&view_mu_);
    mem = view_mem_;
  }
  if (mem != nullptr) mem->PrefetchForGets(keys);
}

void DBImpl::PublishMemTables() {
  absl::MutexLock l(&view_mu_);
  view_mem_ = mem_;
  view_imm_ = imm_;
}

absl::Status DBImpl::Get(const ReadOptions& options, std::string_view key, std::string* value) {
  return NoThrow([&]() -> absl::Status {
    const ReadView view = CaptureReadView(options);
    LookupKey lkey(key, view.sequence);
    const uint64_t now = options.include_expired ? 0 : env_->NowUnixMicros();
    absl::Status s;
    bool blob = false;
    if (!view.mem->Get(lkey, now, value, &s, &blob) &&
        (view.imm == nullptr || !view.imm->Get(lkey, now, value, &s, &blob))) {
      bool compaction_due = false;
      s = view.current->Get(lkey, now, value, &compaction_due, &blob);
      if (compaction_due && options_.seek_compaction) {
        absl::MutexLock l(&mu_);
        bg_cv_.SignalAll();  // the compaction thread picks the table up
      }
    }
    if (!s.ok() || !blob) return s;
    // The view still pins the tables that refer to the blob file, so it is not deleted.
    BlobRef ref;
    CAIRN_RETURN_IF_ERROR(DecodeBlobRef(*value, &ref));
    return blob_store_->Read(key, ref, value);
  });
}

std::unique_ptr<Iterator> DBImpl::NewIterator(const ReadOptions& options) {
  try {
    ReadView view = CaptureReadView(options);
    std::vector<std::unique_ptr<Iterator>> children;
    children.push_back(view.mem->NewIterator());
    if (view.imm != nullptr) children.push_back(view.imm->NewIterator());
    view.current->AddIterators(&children);
    auto merged = NewMergingIterator(CompareInternalKeys, std::move(children));
    auto iter = NewDBIterator(std::move(merged), view.sequence,
                              options.include_expired ? 0 : env_->NowUnixMicros(),
                              options.iterate_upper_bound, blob_store_.get());
    // The iterator pins the memtables and the version (hence the tables) it reads.
    iter->RegisterCleanup([view = std::move(view)] {});
    return iter;
  } catch (const std::exception& e) {
    return NewErrorIterator(ExceptionToStatus(e));
  }
}

const Snapshot* DBImpl::GetSnapshot() {
  absl::MutexLock l(&mu_);
  try {
    auto it = snapshots_.insert(versions_->LastSequence());
    try {
      return new SnapshotImpl(it);
    } catch (const std::bad_alloc&) {
      snapshots_.erase(it);
      return nullptr;
    }
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void DBImpl::ReleaseSnapshot(const Snapshot* snapshot) {
  if (snapshot == nullptr) return;
  const auto* impl = static_cast<const SnapshotImpl*>(snapshot);
  {
    absl::MutexLock l(&mu_);
    snapshots_.erase(impl->it());
  }
  delete impl;
}

absl::Status DBImpl::FlushWal() {
  if (!wal_unflushed_.load(std::memory_order_acquire)) return absl::OkStatus();
  return NoThrow([&] { return WriteImpl(WriteOptions(), nullptr, WriteKind::kFlushWal); });
}

absl::Status DBImpl::BackgroundError() {
  if (!read_only_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::MutexLock l(&mu_);
  return bg_error_;
}

absl::Status DBImpl::Resume() {
  if (!read_only_.load(std::memory_order_acquire)) return absl::OkStatus();
  return NoThrow([&] { return WriteImpl(WriteOptions(), nullptr, WriteKind::kResume); });
}

absl::Status DBImpl::SyncWal() {
  CAIRN_RETURN_IF_ERROR(FlushWal());
  return SyncWalBehindBlobs();
}

std::optional<std::string> DBImpl::GetProperty(std::string_view name) {
  try {
    return GetPropertyImpl(name);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<std::string> DBImpl::GetPropertyImpl(std::string_view name) {
  absl::MutexLock l(&mu_);
  auto current = versions_->current();
  constexpr std::string_view kLevelPrefix = "cairn.num-files-at-level";
  if (name.starts_with(kLevelPrefix)) {
    int level;
    if (!absl::SimpleAtoi(ToAbsl(name.substr(kLevelPrefix.size())), &level) || level < 0 ||
        level >= kNumLevels) {
      return std::nullopt;
    }
    return absl::StrCat(current->files(level).size());
  }
  if (name == "cairn.levels") {
    // Machine-readable, one line per level: "level files bytes pending_compaction_bytes",
    // pending being what compaction must still move out of the level to bring it under
    // its target (all of L0 once it reaches its trigger; the excess over the target below).
    std::string out;
    for (int level = 0; level < kNumLevels; level++) {
      uint64_t bytes = 0;
      for (const auto& f : current->files(level)) bytes += f->file_size;
      const double score = CompactionScore(options_, *current, level);
      uint64_t pending = 0;
      if (score >= 1.0) {
        pending = level == 0 ? bytes : bytes - static_cast<uint64_t>(bytes / score);
      }
      absl::StrAppend(&out, level, " ", current->files(level).size(), " ", bytes, " ", pending,
                      "\n");
    }
    return out;
  }
  if (name == "cairn.last-sequence") return absl::StrCat(versions_->LastSequence());
  if (name == "cairn.recovery") return recovery_report_;
  if (name == "cairn.mem-usage") {
    size_t usage = mem_->ApproximateMemoryUsage();
    if (imm_ != nullptr) usage += imm_->ApproximateMemoryUsage();
    return absl::StrCat(usage);
  }
  if (name == "cairn.sstables") {
    std::string out;
    for (int level = 0; level < kNumLevels; level++) {
      for (const auto& f : current->files(level)) {
        absl::StrAppend(&out, "L", level, " ", absl::StrFormat("%06d", f->number),
                        ".sst size=", f->file_size, " seq=", f->smallest_seq, "..", f->largest_seq,
                        "\n");
      }
    }
    return out;
  }
  if (name == "cairn.background-error") {
    return bg_error_.ok() ? std::string() : bg_error_.ToString();
  }
  if (name == "cairn.background-busy") {
    // A flush or compaction is running or due.
    bool busy = imm_ != nullptr || compaction_running_;
    for (int level = 0; level < kNumLevels - 1 && !busy; level++) {
      busy = CompactionScore(options_, *current, level) >= 1.0;
    }
    return std::string(busy && bg_error_.ok() ? "1" : "0");
  }
  if (name == "cairn.table-bytes-written") {
    return absl::StrCat(stats_.flush_bytes + stats_.compaction_bytes_written);
  }
  if (name == "cairn.blob-bytes-written") return absl::StrCat(blob_store_->bytes_written());
  if (name == "cairn.write-amplification") {
    // Tables and blob files written (flushes, compactions, blob appends and their garbage
    // collection) per byte the application wrote; the WAL is not counted.
    const double written = static_cast<double>(
        stats_.flush_bytes + stats_.compaction_bytes_written + blob_store_->bytes_written());
    return absl::StrFormat("%.2f", stats_.user_bytes_written == 0
                                       ? 0.0
                                       : written / static_cast<double>(stats_.user_bytes_written));
  }
  if (name == "cairn.num-entries-memtables") {
    return absl::StrCat(mem_->num_entries() + (imm_ != nullptr ? imm_->num_entries() : 0));
  }
  if (name == "cairn.counters") {
    // Machine-readable: one "name value" per line, for INFO and Prometheus metrics.
    CacheStats c = block_cache_ != nullptr ? block_cache_->Stats() : CacheStats();
    CacheStats r = table_cache_->row_cache_stats();
    std::string out;
    auto add = [&out](std::string_view n, uint64_t v) {
      absl::StrAppend(&out, ToAbsl(n), " ", v, "\n");
    };
    add("block_cache_hits", c.hits);
    add("block_cache_misses", c.misses);
    add("block_cache_evictions", c.evictions);
    add("block_cache_usage_bytes", c.usage);
    add("block_cache_capacity_bytes", c.capacity);
    add("row_cache_hits", r.hits);
    add("row_cache_misses", r.misses);
    add("bloom_checked", table_cache_->bloom_checked.load());
    add("bloom_useful", table_cache_->bloom_useful.load());
    add("user_bytes_written", stats_.user_bytes_written);
    add("flushes", flushes_);
    add("flush_bytes_written", stats_.flush_bytes);
    add("compactions", stats_.compactions);
    add("compaction_bytes_read", stats_.compaction_bytes_read);
    add("compaction_bytes_written", stats_.compaction_bytes_written);
    add("write_slowdowns", stats_.slowdowns);
    add("write_stops", stats_.stops);
    add("write_stall_micros", stats_.stall_micros);
    add("wal_syncs", wal_syncs_);
    add("blob_files", blob_store_->SealedFileSizes().size());
    add("blob_bytes_written", blob_store_->bytes_written());
    add("blob_gc_bytes_written", stats_.blob_gc_bytes_written);
    add("blob_files_deleted", blob_files_deleted_);
    add("memtable_bytes",
        mem_->ApproximateMemoryUsage() + (imm_ ? imm_->ApproximateMemoryUsage() : 0));
    add("last_sequence", versions_->LastSequence());
    add("background_error", bg_error_.ok() ? 0 : 1);
    add("background_errors", background_errors_);
    add("resumes", resumes_);
    return out;
  }
  if (name == "cairn.stats") {
    std::string out = "level files bytes score\n";
    for (int level = 0; level < kNumLevels; level++) {
      uint64_t bytes = 0;
      for (const auto& f : current->files(level)) bytes += f->file_size;
      absl::StrAppend(&out, "L", level, " ", current->files(level).size(), " ", bytes, " ",
                      absl::StrFormat("%.2f", CompactionScore(options_, *current, level)), "\n");
    }
    const double written =
        static_cast<double>(stats_.flush_bytes + stats_.compaction_bytes_written);
    absl::StrAppend(&out, "user bytes written ", stats_.user_bytes_written, "\n");
    absl::StrAppend(&out, "flush bytes written ", stats_.flush_bytes, "\n");
    absl::StrAppend(&out, "compactions ", stats_.compactions, " (trivial moves ",
                    stats_.trivial_moves, ") read ", stats_.compaction_bytes_read, " written ",
                    stats_.compaction_bytes_written, " in ", stats_.compaction_micros / 1000,
                    " ms\n");
    absl::StrAppend(&out, "compaction filter dropped ", stats_.filtered_entries, "\n");
    absl::StrAppend(
        &out, "write amplification ",
        absl::StrFormat("%.2f",
                        stats_.user_bytes_written == 0 ? 0.0 : written / stats_.user_bytes_written),
        "\n");
    absl::StrAppend(&out, "write stalls: ", stats_.slowdowns, " slowdowns, ", stats_.stops,
                    " stops, ", stats_.stall_micros / 1000, " ms\n");
    const uint64_t checked = table_cache_->bloom_checked.load();
    const uint64_t useful = table_cache_->bloom_useful.load();
    absl::StrAppend(&out, "bloom filter: checked ", checked, " useful ", useful, "\n");
    if (block_cache_ != nullptr) {
      CacheStats c = block_cache_->Stats();
      absl::StrAppend(
          &out, "block cache: hits ", c.hits, " misses ", c.misses, " inserts ", c.inserts,
          " evictions ", c.evictions, " usage ", c.usage, "/", c.capacity,
          absl::StrFormat(
              " hit rate %.3f\n",
              c.hits + c.misses == 0 ? 0.0 : static_cast<double>(c.hits) / (c.hits + c.misses)));
    }
    CacheStats r = table_cache_->row_cache_stats();
    absl::StrAppend(&out, "row cache: hits ", r.hits, " misses ", r.misses, " evictions ",
                    r.evictions, " usage ", r.usage, "/", r.capacity, "\n");
    CacheStats t = table_cache_->stats();
    absl::StrAppend(&out, "open tables ", t.entries, "/", t.capacity, "\n");
    absl::StrAppend(&out, "memtable entries ", mem_->num_entries(), "\n");
    absl::StrAppend(&out, "flushes ", flushes_, "\n");
    absl::StrAppend(&out, "wal number ", wal_number_, " syncs ", wal_syncs_, "\n");
    absl::StrAppend(&out, "last sequence ", versions_->LastSequence(), "\n");
    if (!bg_error_.ok()) absl::StrAppend(&out, "background error ", bg_error_.ToString(), "\n");
    return out;
  }
  return std::nullopt;
}

absl::Status DestroyDB(const std::string& dir, const Options& options) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  auto children = env->GetChildren(dir);
  if (!children.ok())
    return absl::IsNotFound(children.status()) ? absl::OkStatus() : children.status();
  // Hold the lock while deleting so an open database is not destroyed under its feet.
  CAIRN_ASSIGN_OR_RETURN(auto lock, env->LockFile(LockFileName(dir)));
  for (const auto& name : *children) {
    uint64_t number;
    FileType type;
    if (ParseFileName(name, &number, &type) && type != FileType::kLock) {
      CAIRN_RETURN_IF_ERROR(env->RemoveFile(dir + "/" + name));
    }
  }
  lock.reset();
  (void)env->RemoveFile(LockFileName(dir));
  return env->RemoveDir(dir);
}

}  // namespace cairn::engine
