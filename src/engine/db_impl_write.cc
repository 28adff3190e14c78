// The write path: group commit through the writer queue, WAL append and sync, memtable
// insert, memtable switches, and the once-a-second WAL sync.
#include <atomic>
#include <chrono>

#include "base/status.h"
#include "engine/db_impl.h"
#include "engine/filename.h"
#include "engine/write_batch_internal.h"

namespace cairn::engine {

// A write waiting in the queue. Its thread waits until a leader completes it or it
// reaches the front and leads: first spinning briefly on `wake` (a leader's group takes a
// few microseconds, while waking a thread that slept on another core costs ~100 us on
// these machines), then sleeping on cv.
struct DBImpl::Writer {
  Writer(const WriteBatch* b, bool s, bool d, WriteKind k)
      : batch(b), sync(s), defer(d && !s), kind(k) {}
  const WriteBatch* batch;
  const bool sync;
  const bool defer;  // leave the WAL record in the file's buffer
  const WriteKind kind;
  bool done = false;
  absl::Status status;
  absl::CondVar cv;
  std::atomic<bool> wake{false};  // set (after done or reaching the front) under mu_
};

namespace {

// Spins up to ~20 us for `flag`; true if it was set.
bool SpinFor(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
  for (int i = 0;; i++) {
    if (flag.load(std::memory_order_acquire)) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= deadline) return false;
  }
}

}  // namespace

absl::Status DBImpl::WriteImpl(const WriteOptions& options, const WriteBatch* batch,
                               WriteKind kind) {
  // Bounds every key and value too: lengths are 32-bit on disk and a table block must
  // stay readable (format.cc caps blocks at 2 GiB).
  constexpr size_t kMaxBatchBytes = size_t{1} << 30;
  if (batch != nullptr && batch->ApproximateSize() > kMaxBatchBytes) {
    return absl::InvalidArgumentError("write batch larger than 1 GiB");
  }
  Writer w(batch, options.sync || options_.wal_sync == WalSyncMode::kAlways,
           options.defer_wal_write, kind);
  absl::MutexLock l(&mu_);
  if (batch != nullptr) stats_.user_bytes_written += batch->ApproximateSize();
  writers_.push_back(&w);
  if (&w != writers_.front()) {
    mu_.Unlock();
    SpinFor(w.wake);
    mu_.Lock();
  }
  while (!w.done && &w != writers_.front()) w.cv.Wait(&mu_);
  if (w.done) return w.status;

  // This thread leads a group. Whatever happens, the group leaves the queue below.
  absl::Status status;
  Writer* last_writer = &w;
  try {
    if (kind == WriteKind::kFlushWal) {
      status = FlushWalAsLeader();
    } else if (kind == WriteKind::kResume) {
      status = ResumeAsLeader();
    } else {
      status = MakeRoomForWrite(kind == WriteKind::kSwitchMemtable);
      if (status.ok() && kind == WriteKind::kBatch) status = WriteGroup(&last_writer);
    }
  } catch (const std::exception& e) {
    // Thrown with mu_ held and before anything reached the WAL (WriteGroup catches what
    // is thrown while the WAL is written), so the database stays usable.
    status = ExceptionToStatus(e);
  }

  while (true) {
    Writer* ready = writers_.front();
    writers_.pop_front();
    if (ready != &w) {
      ready->status = status;
      ready->done = true;
      ready->wake.store(true, std::memory_order_release);
      ready->cv.Signal();
    }
    if (ready == last_writer) break;
  }
  if (!writers_.empty()) {
    writers_.front()->wake.store(true, std::memory_order_release);
    writers_.front()->cv.Signal();
  }
  return status;
}

absl::Status DBImpl::WriteGroup(Writer** last_writer) {
  BuildBatchGroup(last_writer);
  bool sync = false, defer = true;
  for (Writer* x : writers_) {
    sync = sync || x->sync;
    defer = defer && x->defer;
    if (x == *last_writer) break;
  }
  // Blob records before the WAL records naming them. A sync group makes durable every
  // earlier WAL record too, whose blob records were only handed to the OS. A WAL sync
  // running outside the queue (wal_syncs_running_) may make this group's records durable:
  // only a group naming blob records must sync them first, since the records appended
  // before that sync began name blob records that sync covers itself.
  const bool blobs_first =
      sync || (wal_syncs_running_ > 0 && WriteBatchInternal::HasBlobIndex(group_batch_));
  const SequenceNumber first = versions_->LastSequence() + 1;
  const uint32_t count = group_batch_.Count();
  WriteBatchInternal::SetSequence(&group_batch_, first);
  wal::Writer* wal = wal_.get();
  MemTable* mem = mem_.get();
  const WriteBatch& group = group_batch_;  // only the leader touches it

  // Only the leader touches the WAL writer and the memtable: no lock needed.
  mu_.Unlock();
  absl::Status status;
  bool inserting = false;
  try {
    if (blobs_first) status = blob_store_->Sync();  // a no-op when nothing is pending
    if (status.ok()) status = wal->AddRecord(WriteBatchInternal::Contents(group));
    if (defer) {
      wal_unflushed_.store(true, std::memory_order_release);
    } else if (status.ok()) {
      // Survives a process crash; so do the deferred records before it in the buffer.
      // The flag is cleared only once they are in the OS: until then a FlushWal from
      // another thread must wait for this leader, not return at once.
      status = wal->file()->Flush();
      if (status.ok()) wal_unflushed_.store(false, std::memory_order_release);
    }
    if (status.ok() && sync) status = wal->file()->Sync();
    if (status.ok()) {
      inserting = true;
      status = WriteBatchInternal::InsertInto(group, mem);
    }
  } catch (const std::exception& e) {
    status = ExceptionToStatus(e);
  }
  mu_.Lock();

  if (status.ok()) {
    versions_->SetLastSequence(first + count - 1);
    if (sync) wal_syncs_++;
  } else {
    // Part of the group may be in the memtable: its sequence numbers are used, or a later
    // write could get the same internal key as one of those entries.
    if (inserting) versions_->SetLastSequence(first + count - 1);
    // The WAL (or the memtable) may hold part of this group; later writes could not be
    // ordered after it safely. Refuse writes until Resume moves to a new WAL.
    SetBackgroundError(status);
  }
  group_batch_.Clear();
  return status;
}

void DBImpl::BuildBatchGroup(Writer** last) {
  Writer* first = writers_.front();
  // Always a copy: the callers' batches are const, and the group's header (its first
  // sequence number) must be written.
  group_batch_.Clear();
  group_batch_.Append(*first->batch);
  size_t size = first->batch->ApproximateSize();
  // Cap the group so a small write does not wait behind megabytes of others.
  const size_t max_size = size <= (128 << 10) ? size + (128 << 10) : (1 << 20);
  *last = first;
  for (auto it = writers_.begin() + 1; it != writers_.end(); ++it) {
    Writer* w = *it;
    if (w->sync && !first->sync) break;       // a sync write must not ride a non-sync leader
    if (w->kind != WriteKind::kBatch) break;  // a switch, flush or resume leads its own group
    size += w->batch->ApproximateSize();
    if (size > max_size) break;
    group_batch_.Append(*w->batch);
    *last = w;
  }
}

absl::Status DBImpl::FlushWalAsLeader() {
  if (!bg_error_.ok()) return bg_error_;
  if (!wal_unflushed_.load(std::memory_order_acquire)) return absl::OkStatus();
  wal::Writer* wal = wal_.get();
  // Only the leader touches the WAL writer and the flag: no lock needed. The flag stays
  // set until the records are in the OS, so no other thread acknowledges them earlier.
  mu_.Unlock();
  absl::Status status;
  try {
    status = wal->file()->Flush();
  } catch (const std::exception& e) {
    status = ExceptionToStatus(e);
  }
  mu_.Lock();
  if (status.ok()) {
    wal_unflushed_.store(false, std::memory_order_release);
  } else {
    SetBackgroundError(status);  // records may be lost: refuse writes, FlushWal keeps failing
  }
  return status;
}

absl::Status DBImpl::MakeRoomForWrite(bool force) {
  bool allow_delay = !force;
  while (true) {
    if (!bg_error_.ok()) return bg_error_;
    const size_t l0_files = versions_->current()->files(0).size();
    if (allow_delay && l0_files >= static_cast<size_t>(options_.level0_slowdown_writes_trigger)) {
      // Back-pressure: L0 is filling faster than compaction drains it. Delay this write
      // by 1 ms (once) rather than stop it later for seconds.
      const uint64_t start = env_->NowMicros();
      mu_.Unlock();
      env_->SleepForMicros(1000);
      mu_.Lock();
      allow_delay = false;
      stats_.slowdowns++;
      stats_.stall_micros += env_->NowMicros() - start;
      continue;
    }
    if (!force && mem_->ApproximateMemoryUsage() <= options_.write_buffer_size) {
      return absl::OkStatus();
    }
    if (imm_ != nullptr || l0_files >= static_cast<size_t>(options_.level0_stop_writes_trigger)) {
      // The previous memtable is still being flushed, or L0 is full: wait for the
      // background threads.
      const uint64_t start = env_->NowMicros();
      stats_.stops++;
      bg_cv_.Wait(&mu_);
      stats_.stall_micros += env_->NowMicros() - start;
      continue;
    }
    if (force && mem_->num_entries() == 0) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(NewWal());
    imm_ = std::move(mem_);
    mem_ = NewMemTable();
    PublishMemTables();
    bg_cv_.SignalAll();  // wake the flush thread
    return absl::OkStatus();
  }
}

absl::Status DBImpl::CreateWal(uint64_t* number, std::unique_ptr<WritableFile>* file) {
  *number = versions_->NewFileNumber();
  const std::string path = LogFileName(dir_, *number);
  auto created = env_->NewWritableFile(path);
  CAIRN_RETURN_IF_ERROR(created.status());
  // The new file's directory entry must be durable before writes acknowledged as synced
  // land in it.
  absl::Status s = env_->SyncDir(dir_);
  if (!s.ok()) {
    created->reset();
    (void)env_->RemoveFile(path);
    return s;
  }
  *file = std::move(*created);
  return absl::OkStatus();
}

absl::Status DBImpl::NewWal() {
  // Finish the old WAL first, so only the newest WAL can ever have a torn tail.
  // Blob records first: the old WAL's records that name them become durable here.
  absl::Status s = wal_ != nullptr ? blob_store_->Sync() : absl::OkStatus();
  if (s.ok() && wal_ != nullptr) s = wal_->file()->Sync();
  uint64_t number = 0;
  std::unique_ptr<WritableFile> file;
  if (s.ok()) s = CreateWal(&number, &file);
  if (!s.ok()) {
    SetBackgroundError(s);
    return s;
  }
  // The old writer is closed by its destructor once the sync thread lets go of it.
  wal_ = std::make_shared<wal::Writer>(std::move(file));
  wal_number_ = number;
  return absl::OkStatus();
}

void DBImpl::SetBackgroundError(const absl::Status& s) {
  if (s.ok() || !bg_error_.ok()) return;
  bg_error_ = s;
  background_errors_++;
  read_only_.store(true, std::memory_order_release);
  bg_cv_.SignalAll();  // writers stalled on a flush, and Flush(), must see it
  if (options_.listener != nullptr) options_.listener->OnBackgroundError(s);
}

absl::Status DBImpl::ResumeAsLeader() {
  if (bg_error_.ok()) return absl::OkStatus();
  // Damaged data stays damaged: the application reopens (and repairs) the database.
  if (IsCorruption(bg_error_)) return bg_error_;
  // Blob records a failed fsync may have lost cannot be rewritten from memory (the
  // memtables hold references only): the database stays read-only until reopened.
  CAIRN_RETURN_IF_ERROR(blob_store_->sync_error());
  // A flush already running finishes first (the flush thread starts none while
  // bg_error_ is set); no write is in flight, since this thread leads the write queue.
  while (flush_running_) bg_cv_.Wait(&mu_);
  if (shutting_down_) return bg_error_;

  // Every write the failed WAL may hold is in imm_ or mem_: write both to tables, then a
  // new WAL replaces all the old ones. The failed WAL is never appended to again, so a
  // torn record in it cannot end up followed by good records (which recovery rejects),
  // and what a failed fsync may have lost from it is in the tables.
  std::shared_ptr<MemTable> imm = imm_, mem = mem_;
  const uint64_t imm_number = imm != nullptr ? versions_->NewFileNumber() : 0;
  const uint64_t mem_number = versions_->NewFileNumber();
  if (imm != nullptr) pending_outputs_.insert(imm_number);
  pending_outputs_.insert(mem_number);
  const SequenceNumber smallest_snapshot =
      snapshots_.empty() ? versions_->LastSequence() : *snapshots_.begin();
  mu_.Unlock();
  VersionEdit edit;
  absl::Status s;
  try {
    if (imm != nullptr) s = WriteLevel0Table(*imm, imm_number, smallest_snapshot, &edit);
    if (s.ok()) s = WriteLevel0Table(*mem, mem_number, smallest_snapshot, &edit);
  } catch (const std::exception& e) {
    s = ExceptionToStatus(e);
  }
  mu_.Lock();
  uint64_t wal_number = 0;
  std::unique_ptr<WritableFile> wal_file;
  bool edit_attempted = false;
  try {
    if (s.ok()) s = CreateWal(&wal_number, &wal_file);
    if (s.ok()) {
      edit.SetLogNumber(wal_number);
      edit_attempted = true;
      s = versions_->LogAndApply(&edit);
    }
  } catch (const std::exception& e) {
    s = ExceptionToStatus(e);
  }
  if (!s.ok()) {
    if (edit_attempted) {
      // The edit may have reached the MANIFEST even though LogAndApply failed (a failed
      // sync after the write, a rename whose directory sync failed): a reopen may then
      // expect the new WAL and the tables. Keep them all (the tables stay in
      // pending_outputs_ until the process ends; the next Open sorts out what is live).
      wal_file.reset();
    } else {
      pending_outputs_.erase(imm_number);
      pending_outputs_.erase(mem_number);
      if (wal_file != nullptr) {
        wal_file.reset();
        (void)env_->RemoveFile(LogFileName(dir_, wal_number));
      }
      RemoveObsoleteFiles();  // the tables just written: no MANIFEST names them
    }
    if (options_.listener != nullptr) options_.listener->OnResumeFailed(s);
    return s;
  }
  pending_outputs_.erase(imm_number);
  pending_outputs_.erase(mem_number);
  for (const auto& [level, f] : edit.new_files()) stats_.flush_bytes += f.file_size;
  wal_ = std::make_shared<wal::Writer>(std::move(wal_file));
  wal_number_ = wal_number;
  wal_unflushed_.store(false, std::memory_order_release);
  RetireMemTable(std::move(imm_));
  RetireMemTable(std::move(mem_));
  imm_.reset();
  mem_ = NewMemTable();
  PublishMemTables();
  const absl::Status cleared = std::move(bg_error_);
  bg_error_ = absl::OkStatus();
  resumes_++;
  RemoveObsoleteFiles();
  bg_cv_.SignalAll();  // compaction may have work; stalled writers re-check
  if (options_.listener != nullptr) options_.listener->OnResumed(cleared);
  // Last, so whoever sees the database writable (BackgroundError, one atomic load) also
  // sees everything above, the listener's notice included.
  read_only_.store(false, std::memory_order_release);
  return absl::OkStatus();
}

void DBImpl::HousekeepingLoop() {
  const bool sync = options_.wal_sync == WalSyncMode::kEverySec;
  const int recovery_ms = options_.error_recovery_interval_ms;
  const absl::Duration tick = recovery_ms > 0 && (!sync || recovery_ms < 1000)
                                  ? absl::Milliseconds(recovery_ms)
                                  : absl::Seconds(1);
  int resume_backoff = 1;
  absl::Time next_resume = absl::InfinitePast();
  absl::MutexLock l(&mu_);
  while (!shutting_down_) {
    mu_.AwaitWithTimeout(absl::Condition(&shutting_down_), tick);
    if (shutting_down_) break;
    if (!bg_error_.ok()) {
      // Each failed attempt rewrites the memtables, on a disk that is already sick: back
      // off, doubling the wait up to 64 intervals.
      if (recovery_ms > 0 && !IsCorruption(bg_error_) && absl::Now() >= next_resume) {
        mu_.Unlock();
        const bool resumed = Resume().ok();
        mu_.Lock();
        resume_backoff = resumed ? 1 : std::min(resume_backoff * 2, 64);
        next_resume =
            absl::Now() + absl::Milliseconds(recovery_ms) * (resumed ? 0 : resume_backoff);
      }
      continue;
    }
    resume_backoff = 1;
    if (!sync) continue;
    mu_.Unlock();
    (void)SyncWalBehindBlobs();
    mu_.Lock();
  }
}

absl::Status DBImpl::SyncWalBehindBlobs() {
  std::shared_ptr<wal::Writer> wal;
  {
    absl::MutexLock l(&mu_);
    CAIRN_RETURN_IF_ERROR(bg_error_);
    wal = wal_;
    // From here on every group leader syncs blob records before appending to the WAL.
    wal_syncs_running_++;
  }
  // A WAL record made durable never names a blob record that is not: those appended
  // before the count went up name blob records this sync covers, the others were
  // synced by their leaders.
  absl::Status s;
  try {
    s = blob_store_->Sync();
    if (s.ok()) s = wal->file()->SyncData();
  } catch (const std::exception& e) {
    s = ExceptionToStatus(e);
  }
  absl::MutexLock l(&mu_);
  wal_syncs_running_--;
  if (s.ok()) {
    wal_syncs_++;
  } else if (wal == wal_) {  // not a WAL that a Resume retired meanwhile
    SetBackgroundError(s);
  }
  return s;
}

}  // namespace cairn::engine
