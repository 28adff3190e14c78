// DBImpl: the engine behind the DB interface.
//
// Write path: writers queue on mu_; the writer at the front (the leader) merges the
// queued batches into one group, appends it to the WAL and flushes it to the OS with
// mu_ released, syncs if any member needs it, inserts into the memtable, then publishes
// the group's last sequence and wakes the members. Only the leader touches the WAL
// writer and inserts into mem_, so neither needs a lock of its own.
//
// Read path: Get and NewIterator copy references to the memtables (from view_mu_, never
// mu_: mu_ is held across MANIFEST syncs and by every writer) and the current Version,
// then read without locks.
//
// Background: one flush thread writes the immutable memtable to an L0 table; one
// compaction thread; one housekeeping thread fdatasyncs the WAL once a second in
// WalSyncMode::kEverySec (blob files first, writers not held back: SyncWalBehindBlobs)
// and retries Resume while the database is read-only.
//
// Errors: the first failed WAL write or sync, flush, compaction or MANIFEST write is kept
// in bg_error_ (SetBackgroundError) and makes the database read-only. Resume, run as the
// write-queue leader so no write is in flight, writes both memtables to tables, starts a
// new WAL and clears it.
#ifndef CAIRN_ENGINE_DB_IMPL_H_
#define CAIRN_ENGINE_DB_IMPL_H_

#include <array>
#include <atomic>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cairn/engine/db.h"
#include "cairn/env.h"
#include "engine/blob_store.h"
#include "engine/compaction.h"
#include "engine/memtable.h"
#include "engine/table_cache.h"
#include "engine/version_set.h"
#include "engine/wal_writer.h"

namespace cairn::engine {

class DBImpl final : public DB {
 public:
  DBImpl(const Options& options, std::string dir);
  ~DBImpl() override;

  // Locks the directory, recovers state and starts background threads. Called once,
  // by DB::Open, before the object is shared.
  absl::Status Open();

  absl::Status Put(const WriteOptions& options, std::string_view key,
                   std::string_view value) override;
  absl::Status PutParts(const WriteOptions& options, std::string_view key,
                        std::span<const std::string_view> parts, uint64_t expire_at_unix_micros,
                        const WriteBatch* also = nullptr) override;
  absl::Status Delete(const WriteOptions& options, std::string_view key) override;
  absl::Status Write(const WriteOptions& options, const WriteBatch& batch) override;
  absl::Status Get(const ReadOptions& options, std::string_view key, std::string* value) override;
  void PrefetchForGets(std::span<const std::string_view> keys) override;
  absl::StatusOr<std::unique_ptr<ValueReader>> GetReader(const ReadOptions& options,
                                                         std::string_view key) override;
  std::unique_ptr<Iterator> NewIterator(const ReadOptions& options) override;
  const Snapshot* GetSnapshot() override;
  void ReleaseSnapshot(const Snapshot* snapshot) override;
  absl::Status Flush() override;
  absl::Status CompactRange(const std::string* begin, const std::string* end) override;
  absl::Status SyncWal() override;
  absl::Status FlushWal() override;
  absl::Status BackgroundError() override;
  absl::Status Resume() override;
  absl::StatusOr<uint64_t> Checkpoint(const std::string& dir) override;
  std::optional<std::string> GetProperty(std::string_view name) override;

 private:
  std::optional<std::string> GetPropertyImpl(std::string_view name);
  struct Writer;
  class SnapshotImpl;

  // What a read sees: its sequence number and references to the memtables and version
  // that hold the data. Taken in that order (sequence, memtables under view_mu_, version)
  // they are consistent: a switch moves mem_ to imm_ in one step, and a flush installs
  // its table's version before it drops imm_.
  struct ReadView {
    SequenceNumber sequence;
    std::shared_ptr<MemTable> mem, imm;
    std::shared_ptr<const Version> current;
  };
  ReadView CaptureReadView(const ReadOptions& options) ABSL_LOCKS_EXCLUDED(view_mu_);
  // Copies mem_ and imm_ to what readers capture; called after every change of either.
  void PublishMemTables() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) ABSL_LOCKS_EXCLUDED(view_mu_);

  std::shared_ptr<MemTable> NewMemTable() const {
    return std::make_shared<MemTable>(options_.write_buffer_size, options_.memtable_hash_index);
  }

  // --- write path (db_impl_write.cc) ---
  // batch == nullptr forces a memtable switch (used by Flush).
  // What a queued writer asks of its group's leader.
  enum class WriteKind { kBatch, kSwitchMemtable, kFlushWal, kResume };
  absl::Status WriteImpl(const WriteOptions& options, const WriteBatch* batch,
                         WriteKind kind = WriteKind::kBatch);
  absl::Status MakeRoomForWrite(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the group led by the front writer to the WAL and the memtable (releasing mu_
  // meanwhile); sets *last_writer to the group's last member. Never throws.
  absl::Status WriteGroup(Writer** last_writer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The leader's part of FlushWal.
  absl::Status FlushWalAsLeader() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies the front writer's batch and those that may join it into group_batch_.
  void BuildBatchGroup(Writer** last) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The leader's part of Resume.
  absl::Status ResumeAsLeader() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Syncs the current WAL and switches to a new one; a failure is a background error.
  absl::Status NewWal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Creates WAL file *number (durable directory entry) without touching wal_.
  absl::Status CreateWal(uint64_t* number, std::unique_ptr<WritableFile>* file)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the first background error: the database is read-only until Resume.
  void SetBackgroundError(const absl::Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HousekeepingLoop();
  // Makes durable the WAL records handed to the OS so far, and first the blob records
  // they name, without holding writers back (the once-a-second sync and SyncWal): see
  // wal_syncs_running_. A failure is a background error.
  absl::Status SyncWalBehindBlobs() ABSL_LOCKS_EXCLUDED(mu_);

  // --- key-value separation (db_impl_blob.cc) ---
  bool IsBlobValue(size_t size) const {
    return options_.min_blob_size > 0 && size >= options_.min_blob_size;
  }
  // Writes the value (parts, in order) to a blob file, then its reference through the WAL.
  absl::Status PutBlob(const WriteOptions& options, std::string_view key,
                       std::span<const std::string_view> parts, uint64_t expire_at,
                       const WriteBatch* also);
  // Write of a batch with values to separate: each goes to a blob file first.
  absl::Status WriteSeparated(const WriteOptions& options, const WriteBatch& batch);
  // Returns s, the error of a blob Add; first makes the database read-only if the blob
  // store's sync failed (BlobStore::sync_error).
  absl::Status BlobAddFailed(const absl::Status& s) ABSL_LOCKS_EXCLUDED(mu_);
  // Called as mem or imm_ is dropped after being written to tables.
  void RetireMemTable(std::shared_ptr<const MemTable> mem) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deletes blob files that nothing refers to: no table of a live Version, no memtable
  // (current, immutable, or retired but still held by a reader), no write in progress.
  void RemoveObsoleteBlobFiles(const std::set<uint64_t>& referenced)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops memtables_to_drop_ with mu_ released (freeing a memtable takes a while).
  // Only where mu_ may be let go: the background loops between jobs.
  void DropMemTablesUnlocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sealed blob files whose live bytes fell below the garbage threshold: compaction
  // rewrites the values it meets in them.
  std::set<uint64_t> BlobFilesToRewrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- recovery (db_impl_open.cc) ---
  absl::Status Recover(VersionEdit* edit) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReplayWals(const std::vector<uint64_t>& logs, VersionEdit* edit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- compaction (db_impl_compaction.cc) ---
  void CompactionLoop();
  // Runs c (releasing mu_ while merging) and installs its result.
  absl::Status RunCompaction(Compaction* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Values met in the blob files of rewrite_blobs are copied to the active blob file;
  // *blob_files gets the files so written to (protected until the caller Releases them).
  absl::Status MergeCompactionInputs(Compaction* c, SequenceNumber smallest_snapshot,
                                     const std::set<uint64_t>& rewrite_blobs,
                                     std::vector<FileMetaData>* outputs,
                                     std::vector<uint64_t>* created, uint64_t* bytes_written,
                                     std::vector<uint64_t>* blob_files);

  // --- flush (db_impl_flush.cc) ---
  void FlushLoop();
  // Writes mem to table file `number` in L0 and records it in edit. Empty memtables
  // write nothing.
  // Writes mem as L0 table `number`. Versions of a key shadowed by a newer one that
  // every snapshot sees (sequence <= smallest_snapshot) are left out, as compaction
  // would drop them (RocksDB's flush does the same).
  absl::Status WriteLevel0Table(const MemTable& mem, uint64_t number,
                                SequenceNumber smallest_snapshot, VersionEdit* edit);
  // Deletes files no longer needed: old WALs and MANIFESTs, unreferenced tables.
  void RemoveObsoleteFiles() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;
  Env* const env_;
  const std::string dir_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<BlockCache> block_cache_;  // nullptr when block_cache_size is 0
  std::unique_ptr<TableCache> table_cache_;
  std::unique_ptr<VersionSet> versions_;
  std::unique_ptr<BlobStore> blob_store_;

  absl::Mutex mu_;
  absl::CondVar bg_cv_;  // signalled when a flush finishes or imm_ is set
  // State below is guarded by mu_.
  std::shared_ptr<MemTable> mem_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<MemTable> imm_ ABSL_GUARDED_BY(mu_);  // being flushed
  // Memtables written to tables and dropped (RetireMemTable) that a read or an iterator
  // may still hold: the blob files they name stay until the last holder lets go.
  std::vector<std::weak_ptr<const MemTable>> retired_memtables_ ABSL_GUARDED_BY(mu_);
  // mem_ and imm_ as readers see them (PublishMemTables): a read takes only view_mu_,
  // never held for more than copying two references.
  absl::Mutex view_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::shared_ptr<MemTable> view_mem_ ABSL_GUARDED_BY(view_mu_);
  std::shared_ptr<MemTable> view_imm_ ABSL_GUARDED_BY(view_mu_);
  // References taken under mu_ that may be a memtable's last: dropped without mu_
  // (DropMemTablesUnlocked), or with the DB.
  std::vector<std::shared_ptr<const MemTable>> memtables_to_drop_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<wal::Writer> wal_ ABSL_GUARDED_BY(mu_);
  uint64_t wal_number_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Writer*> writers_ ABSL_GUARDED_BY(mu_);
  // The WAL file's buffer holds records of deferred writes not yet handed to the OS.
  std::atomic<bool> wal_unflushed_{false};
  // Owned by the group-commit leader (the writer at the front of writers_), which uses
  // it with and without mu_ held; no other thread touches it. Not GUARDED_BY for that.
  WriteBatch group_batch_;
  absl::Status bg_error_ ABSL_GUARDED_BY(mu_);  // set by SetBackgroundError, cleared by Resume
  std::atomic<bool> read_only_{false};          // !bg_error_.ok(), readable without mu_
  uint64_t background_errors_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t resumes_ ABSL_GUARDED_BY(mu_) = 0;
  bool flush_running_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::multiset<SequenceNumber> snapshots_ ABSL_GUARDED_BY(mu_);
  std::string recovery_report_ ABSL_GUARDED_BY(mu_);
  uint64_t flushes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t wal_syncs_ ABSL_GUARDED_BY(mu_) = 0;
  // WAL syncs running outside the write queue (SyncWalBehindBlobs). While there are any,
  // a group leader makes the blob records durable before it appends to the WAL: the
  // fdatasync running may reach its records. Records appended before the count went up
  // name blob records complete by then, which that sync's blob sync covers.
  int wal_syncs_running_ ABSL_GUARDED_BY(mu_) = 0;
  // Unreferenced tables numbered below this are not deleted (see Recover).
  uint64_t protected_tables_below_ ABSL_GUARDED_BY(mu_) = 0;
  // Tables being written by a flush or compaction: not yet in any Version.
  std::set<uint64_t> pending_outputs_ ABSL_GUARDED_BY(mu_);
  bool compaction_running_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t blob_files_deleted_ ABSL_GUARDED_BY(mu_) = 0;
  // Where the last compaction of each level ended (internal key): the next starts after.
  std::array<std::string, kNumLevels> compact_pointers_ ABSL_GUARDED_BY(mu_);
  struct Stats {
    uint64_t user_bytes_written = 0;
    uint64_t flush_bytes = 0;
    uint64_t compactions = 0, trivial_moves = 0;
    uint64_t compaction_bytes_read = 0, compaction_bytes_written = 0;
    uint64_t compaction_micros = 0;
    uint64_t blob_gc_bytes_written = 0;  // values rewritten out of mostly dead blob files
    uint64_t filtered_entries = 0;       // dropped by the compaction filter
    uint64_t stall_micros = 0, slowdowns = 0, stops = 0;
  };
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> shutdown_requested_{false};  // read by compactions without mu_

  std::thread flush_thread_;
  std::thread compaction_thread_;
  std::thread housekeeping_thread_;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_DB_IMPL_H_
