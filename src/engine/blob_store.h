// BlobStore: the blob files of one database (key-value separation, as WiscKey and
// RocksDB's BlobDB). Values of Options::min_blob_size bytes or more are appended to the
// active blob file; the LSM tree keeps a small reference (blob_format.h). Files are
// sealed at Options::blob_file_size and deleted by the DB once nothing refers to them.
//
// Thread safety: every method may be called from any thread. Appends (Add, AddFrom) and
// Seal are serialized on append_mu_, held for a whole record, however large. The file
// list, sizes and protections sit under state_mu_, never held across file I/O, so the DB
// may call the accessors below under its own mutex while a long append runs. Sync takes
// neither lock across its fdatasync, so it never waits behind an append. Reads open the
// file on their own and take no lock.
#ifndef CAIRN_ENGINE_BLOB_STORE_H_
#define CAIRN_ENGINE_BLOB_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cairn/engine/db.h"
#include "cairn/env.h"
#include "engine/blob_format.h"

namespace cairn::engine {

std::string BlobFileName(const std::string& dir, uint64_t number);

class BlobStore {
 public:
  // new_file_number hands out file numbers (the VersionSet's counter).
  BlobStore(Env* env, std::string dir, uint64_t file_size_limit,
            std::function<uint64_t()> new_file_number);
  ~BlobStore();

  // Appends a record of key and the value made of parts (in order) to the active blob
  // file and hands it to the OS; with sync, also makes it durable. The returned
  // reference's file stays protected from deletion (ProtectedFiles) until Release.
  absl::StatusOr<BlobRef> Add(std::string_view key, std::span<const std::string_view> parts,
                              bool sync) ABSL_LOCKS_EXCLUDED(append_mu_, state_mu_);
  // As Add, with the value read from reader (chunk by chunk: a value rewritten by
  // garbage collection never sits in memory whole).
  absl::StatusOr<BlobRef> AddFrom(std::string_view key, ValueReader* reader, bool sync)
      ABSL_LOCKS_EXCLUDED(append_mu_, state_mu_);
  // Ends the protection Add gave ref.file (once the reference is in the memtable or the
  // write failed).
  void Release(uint64_t file) ABSL_LOCKS_EXCLUDED(state_mu_);
  // Makes durable every record whose Add returned before this call (the active file's
  // fdatasync; sealed files were synced when sealed). Returns at once when they all are;
  // does not wait for an Add in progress. Once an fsync of a blob file failed (here, in
  // a sync Add or when a file was sealed), its unsynced records may be gone while the
  // kernel reports later fsyncs as fine: that error is returned by every later Sync and
  // Add (sync_error) until the store is remade, i.e. the database reopened.
  absl::Status Sync() ABSL_LOCKS_EXCLUDED(state_mu_);
  // The failed fsync above, or OK.
  absl::Status sync_error() const ABSL_LOCKS_EXCLUDED(state_mu_);
  // Seals the active file (synced and closed): the next Add starts a new one.
  absl::Status Seal() ABSL_LOCKS_EXCLUDED(append_mu_, state_mu_);

  // Files never to delete: the active one and those with an Add not yet Released.
  void AddProtectedFiles(std::set<uint64_t>* files) const ABSL_LOCKS_EXCLUDED(state_mu_);
  // Sizes of the sealed files this store wrote or was told of (NoteFile).
  std::map<uint64_t, uint64_t> SealedFileSizes() const ABSL_LOCKS_EXCLUDED(state_mu_);
  // Registers a file found on disk at Open (sealed).
  void NoteFile(uint64_t number, uint64_t size) ABSL_LOCKS_EXCLUDED(state_mu_);
  void ForgetFile(uint64_t number) ABSL_LOCKS_EXCLUDED(state_mu_);

  // Reads the value ref names, checking that its record belongs to key. Corruption if
  // any checksum, the size or the key does not match.
  absl::Status Read(std::string_view key, const BlobRef& ref, std::string* value) const;
  absl::StatusOr<std::unique_ptr<ValueReader>> NewReader(std::string_view key,
                                                         const BlobRef& ref) const;

  // Bytes appended since the store was made (blob writes, for write amplification).
  uint64_t bytes_written() const ABSL_LOCKS_EXCLUDED(state_mu_);

 private:
  // Gives the next n bytes of the value: in *piece, which may point into *scratch.
  using ChunkSource =
      std::function<absl::Status(size_t n, std::string* scratch, std::string_view* piece)>;
  absl::StatusOr<BlobRef> AddImpl(std::string_view key, uint64_t value_size, bool sync,
                                  const ChunkSource& next_chunk)
      ABSL_LOCKS_EXCLUDED(append_mu_, state_mu_);
  // Creates the next blob file (its name durable) and makes it the active one.
  absl::Status OpenFileLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_)
      ABSL_LOCKS_EXCLUDED(state_mu_);
  absl::Status AppendRecordLocked(std::string_view key, uint64_t value_size,
                                  const ChunkSource& next_chunk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_) ABSL_LOCKS_EXCLUDED(state_mu_);
  absl::Status SealLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_)
      ABSL_LOCKS_EXCLUDED(state_mu_);
  // Records s (a failed fsync) as sync_error_, if none is yet.
  void NoteSyncErrorLocked(const absl::Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);

  // Constant after construction.
  Env* const env_;
  const std::string dir_;
  const uint64_t file_size_limit_;
  const std::function<uint64_t()> new_file_number_;

  // Lock order: append_mu_ before state_mu_. The DB may take state_mu_ (through the
  // accessors) under its own mutex, never append_mu_: an append may last long.
  mutable absl::Mutex append_mu_ ABSL_ACQUIRED_BEFORE(state_mu_);
  // The writer's side of the active file, guarded by append_mu_. A Sync holds a
  // reference of its own (sync_file_), so the file closes when the last one goes.
  std::shared_ptr<WritableFile> active_ ABSL_GUARDED_BY(append_mu_);
  uint64_t active_size_ ABSL_GUARDED_BY(append_mu_) = 0;

  mutable absl::Mutex state_mu_;
  // State below is guarded by state_mu_ (held for map updates and copies only).
  std::shared_ptr<WritableFile> sync_file_ ABSL_GUARDED_BY(state_mu_);  // active_, for Sync
  uint64_t active_number_ ABSL_GUARDED_BY(state_mu_) = 0;               // 0: no active file
  std::map<uint64_t, int> in_flight_ ABSL_GUARDED_BY(state_mu_);        // file -> Adds not Released
  std::map<uint64_t, uint64_t> sealed_ ABSL_GUARDED_BY(state_mu_);      // file -> size
  uint64_t bytes_written_ ABSL_GUARDED_BY(state_mu_) = 0;
  // Records completed (handed to the OS) since the store was made, and how many of the
  // first of them are known durable: Sync has nothing to do while they are equal.
  uint64_t records_added_ ABSL_GUARDED_BY(state_mu_) = 0;
  uint64_t records_synced_ ABSL_GUARDED_BY(state_mu_) = 0;
  // Sticky: the first failed fsync of a blob file (see Sync).
  absl::Status sync_error_ ABSL_GUARDED_BY(state_mu_);
};

// What VerifyBlobFile found in a blob file.
struct BlobFileCheck {
  uint64_t records = 0;  // complete records
  uint64_t bytes = 0;    // their value bytes
  // Offset of a record cut short, or failing a checksum (an unsynced tail a power failure
  // left as zeros or stale pages), after every record something refers to: an append a
  // crash interrupted, never acknowledged (expected after kill -9 or a power failure). The
  // scan stops there. UINT64_MAX: none.
  uint64_t torn_tail = UINT64_MAX;
};

// Checks every record of a blob file (file header, record headers, chunk checksums).
// referenced_end: where the last record that a table or a WAL refers to ends (0 if none
// does). Corruption names the first damage: a checksum mismatch or a record cut short
// before referenced_end, or a file ending before it. A record cut short or failing a
// checksum at or after it is a torn tail, reported in check->torn_tail, not an error.
absl::Status VerifyBlobFile(Env* env, const std::string& path, uint64_t referenced_end,
                            BlobFileCheck* check);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_BLOB_STORE_H_
