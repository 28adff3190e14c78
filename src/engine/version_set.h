// Versions: which tables are live. A Version is an immutable snapshot of the file set
// (shared by readers through std::shared_ptr, so reads never block on flushes or
// compactions); the VersionSet owns the current one and the MANIFEST that logs changes.
#ifndef CAIRN_ENGINE_VERSION_SET_H_
#define CAIRN_ENGINE_VERSION_SET_H_

#include <array>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cairn/engine/iterator.h"
#include "cairn/env.h"
#include "engine/dbformat.h"
#include "engine/table_cache.h"
#include "engine/version_edit.h"
#include "engine/wal_writer.h"

namespace cairn::engine {

class Version {
 public:
  using FileList = std::vector<std::shared_ptr<const FileMetaData>>;

  explicit Version(TableCache* table_cache) : table_cache_(table_cache) {}

  // Looks key up in the tables, newest data first. OK with *value set, NotFound, or the
  // error that stopped the search (Corruption, IO error). Charges the first table
  // searched in vain when the search went on to another (FileMetaData::allowed_seeks);
  // *compaction_due is set when that used up the table's budget.
  // A value kept in a blob file sets *blob and leaves its reference in *value.
  absl::Status Get(const LookupKey& key, uint64_t now, std::string* value,
                   bool* compaction_due = nullptr, bool* blob = nullptr) const;

  // The table whose seek budget ran out first in this version, and its level; nullptr
  // if none did. Seek compaction merges it into the next level.
  std::shared_ptr<const FileMetaData> seek_compaction_file(int* level) const;

  // Appends one internal-key iterator per table, newest first.
  void AddIterators(std::vector<std::unique_ptr<Iterator>>* iters) const;

  // L0 is ordered newest first; other levels by smallest key.
  const FileList& files(int level) const { return files_[level]; }

 private:
  friend class VersionSet;
  TableCache* const table_cache_;
  std::array<FileList, kNumLevels> files_;
  // level << 32 | index in files_[level] of the first table out of seeks; -1: none.
  mutable std::atomic<int64_t> seek_compaction_{-1};
};

// Thread safety: LogAndApply, Recover and the accessors of file numbers need external
// serialization (the DB mutex). NewFileNumber, LastSequence and current() are safe from
// any thread.
class VersionSet {
 public:
  VersionSet(Env* env, std::string dir, TableCache* table_cache);
  VersionSet(const VersionSet&) = delete;
  VersionSet& operator=(const VersionSet&) = delete;

  // Writes the first MANIFEST and CURRENT of an empty database.
  static absl::Status CreateNew(Env* env, const std::string& dir);

  // Rebuilds the current version from CURRENT and its MANIFEST. A damaged MANIFEST tail
  // (an edit cut short by a crash) is ignored; any other damage is Corruption.
  absl::Status Recover();

  // Applies edit and makes it durable in the MANIFEST. The first call after Recover
  // starts a new MANIFEST holding the whole state, then repoints CURRENT.
  absl::Status LogAndApply(VersionEdit* edit);

  std::shared_ptr<const Version> current() const { return std::atomic_load(&current_); }

  uint64_t NewFileNumber() { return next_file_number_.fetch_add(1); }
  uint64_t PeekNextFileNumber() const { return next_file_number_.load(); }
  void MarkFileNumberUsed(uint64_t n);
  SequenceNumber LastSequence() const { return last_sequence_.load(std::memory_order_acquire); }
  void SetLastSequence(SequenceNumber s) { last_sequence_.store(s, std::memory_order_release); }

  // WAL files numbered below this are fully reflected in tables.
  uint64_t log_number() const { return log_number_; }
  uint64_t manifest_file_number() const { return manifest_file_number_; }

  // What Recover dropped: a damaged MANIFEST tail (an edit cut short by a crash), or "".
  const std::string& recovery_note() const { return recovery_note_; }

  // Writes dir/MANIFEST-000001 holding version v (every table, log number 0, the given
  // last sequence) and dir/CURRENT: the metadata of a checkpoint of v.
  absl::Status WriteCheckpointManifest(const std::string& dir, const Version& v,
                                       SequenceNumber last_sequence) const;

  // Numbers of every table referenced by any Version still in use (the current one,
  // and older ones pinned by iterators or reads in progress).
  // blob_files (if not null) gets the blob files their tables refer to.
  void AddLiveFiles(std::set<uint64_t>* live, std::set<uint64_t>* blob_files = nullptr);

 private:
  std::shared_ptr<Version> Apply(const Version& base, const VersionEdit& edit) const;
  // One record holding the whole of v: every table, and the file counters.
  std::string EncodeSnapshot(const Version& v, uint64_t log_number) const;

  Env* const env_;
  const std::string dir_;
  TableCache* const table_cache_;

  std::atomic<uint64_t> next_file_number_{2};
  std::atomic<SequenceNumber> last_sequence_{0};
  uint64_t log_number_ = 0;
  uint64_t manifest_file_number_ = 0;
  std::unique_ptr<wal::Writer> manifest_log_;
  std::shared_ptr<const Version> current_;
  // Every Version installed; expired entries are pruned by AddLiveFiles.
  std::vector<std::weak_ptr<const Version>> versions_in_use_;
  std::string recovery_note_;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_VERSION_SET_H_
