// cairn's embedded storage engine: an ordered, durable key-value store (an LSM tree).
//
//   auto db = cairn::engine::DB::Open(options, "/path/to/dir");
//   if (!db.ok()) ...;
//   (*db)->Put({}, "key", "value");
//
// Thread safety: a DB is safe for concurrent use by many threads without external
// locking. Concurrent writers are group-committed (one WAL write and sync for all).
// Only one DB object, in one process, may have a directory open: the LOCK file enforces it.
//
// Errors (absl::Status, see src/base/status.h): NotFound (key absent), DataLoss
// ("corruption: ..."), Internal ("IO error: ..."), InvalidArgument, FailedPrecondition
// (directory locked), ResourceExhausted (disk full). After a failed WAL write or sync,
// flush, compaction or MANIFEST write the database is read-only: reads go on, writes fail
// with that error (BackgroundError) until Resume succeeds, which the database retries by
// itself (Options::error_recovery_interval_ms). Corruption stays until it is reopened.
// No C++ exception escapes this API.
#ifndef CAIRN_ENGINE_DB_H_
#define CAIRN_ENGINE_DB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cairn/engine/iterator.h"
#include "cairn/engine/options.h"
#include "cairn/engine/write_batch.h"

namespace cairn::engine {

// A consistent read view at one sequence number. Obtained from DB::GetSnapshot and
// returned with DB::ReleaseSnapshot.
class Snapshot {
 public:
  virtual uint64_t sequence() const = 0;

 protected:
  virtual ~Snapshot() = default;
};

// A value read in pieces: values of Options::min_blob_size bytes or more live in blob
// files and are read chunk by chunk, each chunk checked against its checksum before it
// is handed out, so a reader never holds more than the piece it asks for. Holds the
// blob file open: valid after the value is overwritten or the DB deletes the file, but
// not after the DB is destroyed. One thread at a time.
class ValueReader {
 public:
  virtual ~ValueReader() = default;
  virtual uint64_t size() const = 0;
  // Copies n bytes from offset (offset + n <= size()) to dst. DataLoss ("corruption:")
  // if a checksum does not match; the bytes at dst are then unspecified.
  virtual absl::Status Read(uint64_t offset, size_t n, char* dst) = 0;
};

// A ValueReader over a value held in memory (one kept in the tree, or any payload a
// caller already has whole). Read past the end is InvalidArgument.
std::unique_ptr<ValueReader> NewStringValueReader(std::string value);

class DB {
 public:
  // Opens (creating if allowed) the database in dir, replaying its WAL.
  static absl::StatusOr<std::unique_ptr<DB>> Open(const Options& options, const std::string& dir);

  DB() = default;
  DB(const DB&) = delete;
  DB& operator=(const DB&) = delete;
  // Stops background work and syncs the WAL.
  virtual ~DB();

  virtual absl::Status Put(const WriteOptions& options, std::string_view key,
                           std::string_view value) = 0;
  // Put of the value made of parts, in order, with an expiry as WriteBatch::PutWithExpiry
  // (0: never). Lets a caller that frames a large value (a header before the payload)
  // store it without first copying it into one string. also (may be null): more records
  // written in the same atomic batch, after the value.
  virtual absl::Status PutParts(const WriteOptions& options, std::string_view key,
                                std::span<const std::string_view> parts,
                                uint64_t expire_at_unix_micros,
                                const WriteBatch* also = nullptr) = 0;
  virtual absl::Status Delete(const WriteOptions& options, std::string_view key) = 0;
  // Applies the batch atomically. The batch is not modified.
  virtual absl::Status Write(const WriteOptions& options, const WriteBatch& batch) = 0;

  // NotFound if the key is absent (never written, deleted, or not visible at the snapshot).
  virtual absl::Status Get(const ReadOptions& options, std::string_view key,
                           std::string* value) = 0;

  // As Get, but the value is read through the returned reader, piece by piece when it
  // lives in a blob file (a small value is held in memory). NotFound as Get.
  virtual absl::StatusOr<std::unique_ptr<ValueReader>> GetReader(const ReadOptions& options,
                                                                 std::string_view key) = 0;

  // A hint that point reads (Get, GetReader) of these keys follow: starts fetching what
  // they will look at first into the CPU's cache, so reads of several keys pay their cache
  // misses together rather than one after another. Changes nothing else.
  virtual void PrefetchForGets(std::span<const std::string_view> keys) { (void)keys; }

  // An iterator over the user keys visible at the read's snapshot. The caller owns it.
  virtual std::unique_ptr<Iterator> NewIterator(const ReadOptions& options) = 0;

  // nullptr only if memory runs out.
  virtual const Snapshot* GetSnapshot() = 0;
  virtual void ReleaseSnapshot(const Snapshot* snapshot) = 0;

  // Freezes the current memtable and waits until it is written to an L0 table.
  virtual absl::Status Flush() = 0;
  // Flushes the memtable, then compacts every table overlapping the user-key range
  // [*begin, *end] (nullptr: unbounded) down the levels, dropping overwritten values
  // and tombstones that no snapshot needs. Waits until done.
  virtual absl::Status CompactRange(const std::string* begin, const std::string* end) = 0;

  // Writes a consistent, openable copy of the database to dir (which must not exist):
  // the memtable is flushed, then every live table is hard-linked into dir (which must be
  // on the same file system) and a fresh MANIFEST and CURRENT are written there.
  // Writes may continue meanwhile; the copy holds every write up to the returned
  // sequence number and none after it.
  virtual absl::StatusOr<uint64_t> Checkpoint(const std::string& dir) = 0;

  // Makes every acknowledged write durable now (fdatasync of the WAL).
  virtual absl::Status SyncWal() = 0;

  // Hands the WAL records of deferred writes (WriteOptions::defer_wal_write) to the OS:
  // after it returns OK they survive a process crash. Cheap when nothing is deferred.
  virtual absl::Status FlushWal() = 0;

  // OK while writes are accepted; otherwise the background error that made the database
  // read-only. One atomic load when OK.
  virtual absl::Status BackgroundError() = 0;
  // Leaves read-only mode if the error was not corruption: writes the memtables to new
  // tables, starts a new WAL (the failed one may hold a torn or unsynced record, so it is
  // never written again) and clears the error. Nothing acknowledged is lost; writes that
  // failed may or may not be kept. OK if the database is writable on return.
  virtual absl::Status Resume() = 0;

  // Named statistics: "cairn.num-files-at-level<N>", "cairn.sstables", "cairn.stats",
  // "cairn.counters" (one "name value" line per counter: caches, flushes, compactions,
  // stalls, WAL syncs; for monitoring), "cairn.levels" (one "level files bytes
  // pending_compaction_bytes" line per level),
  // "cairn.last-sequence", "cairn.recovery" (what the last Open dropped from the WAL),
  // "cairn.mem-usage", "cairn.write-amplification", "cairn.table-bytes-written" (flushes
  // + compactions), "cairn.background-busy" ("1" while a flush or compaction is running
  // or due), "cairn.background-error" (the error that made the database read-only, or
  // empty). nullopt for unknown names.
  virtual std::optional<std::string> GetProperty(std::string_view name) = 0;
};

// Deletes the database's files and directory. The database must not be open.
absl::Status DestroyDB(const std::string& dir, const Options& options);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_DB_H_
