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
  const SequenceNumber first = versions_->LastSequence() + 1;
  const uint32_t count = group_batch_.Count();
  WriteBatchInternal::SetSequence(&group_batch_, first);
  wal::Writer* wal = wal_.get();
  MemTable* mem = mem_.get();
  const WriteBatch& group = group_batch_;  // only the leader touches it

  // Only the leader touches the WAL writer and the memtable: no lock needed.
  mu_.Unlock();
  absl::Status status;
  try {
    status = wal->AddRecord(WriteBatchInternal::Contents(group));
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
    if (status.ok()) status = WriteBatchInternal::InsertInto(group, mem);
  } catch (const std::exception& e) {
    status = ExceptionToStatus(e);
  }
  mu_.Lock();

  if (status.ok()) {
    versions_->SetLastSequence(first + count - 1);
    if (sync) wal_syncs_++;
  } else if (bg_error_.ok()) {
    // The WAL (or the memtable) may hold part of this group; later writes could not be
    // ordered after it safely. Refuse writes until the database is reopened.
    bg_error_ = status;
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
    if (w->sync && !first->sync) break;  // a sync write must not ride a non-sync leader
    if (w->kind != WriteKind::kBatch) break;  // a switch or a WAL flush leads its own group
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
  } else if (bg_error_.ok()) {
    bg_error_ = status;  // records may be lost: refuse writes, and FlushWal keeps failing
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
    bg_cv_.SignalAll();  // wake the flush thread
    return absl::OkStatus();
  }
}

absl::Status DBImpl::NewWal() {
  // Finish the old WAL first, so only the newest WAL can ever have a torn tail.
  absl::Status s = wal_ != nullptr ? wal_->file()->Sync() : absl::OkStatus();
  const uint64_t number = versions_->NewFileNumber();
  const std::string path = LogFileName(dir_, number);
  std::unique_ptr<WritableFile> file;
  if (s.ok()) {
    auto created = env_->NewWritableFile(path);
    s = created.status();
    // The new file's directory entry must be durable before writes acknowledged as
    // synced land in it.
    if (s.ok()) {
      file = std::move(*created);
      s = env_->SyncDir(dir_);
    }
  }
  if (!s.ok()) {
    if (file != nullptr) {
      file.reset();
      (void)env_->RemoveFile(path);
    }
    bg_error_ = s;
    return s;
  }
  // The old writer is closed by its destructor once the sync thread lets go of it.
  wal_ = std::make_shared<wal::Writer>(std::move(file));
  wal_number_ = number;
  return absl::OkStatus();
}

void DBImpl::SyncLoop() {
  absl::MutexLock l(&mu_);
  while (!shutting_down_) {
    mu_.AwaitWithTimeout(absl::Condition(&shutting_down_), absl::Seconds(1));
    if (shutting_down_ || !bg_error_.ok()) continue;
    std::shared_ptr<wal::Writer> wal = wal_;
    mu_.Unlock();
    absl::Status s = wal->file()->SyncData();
    mu_.Lock();
    if (s.ok()) {
      wal_syncs_++;
    } else if (bg_error_.ok()) {
      bg_error_ = s;
    }
  }
}

}  // namespace cairn::engine
