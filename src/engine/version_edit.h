// VersionEdit: one change to the set of live files, as logged in the MANIFEST
// (docs/formats/manifest.md). Applying the edits in order rebuilds the file set.
#ifndef CAIRN_ENGINE_VERSION_EDIT_H_
#define CAIRN_ENGINE_VERSION_EDIT_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/dbformat.h"

namespace cairn::engine {

constexpr int kNumLevels = 7;

// Reads a table may cost before it is compacted (LevelDB's allowed_seeks): a point read
// that looks in this table without finding its key, then goes on to another table,
// spends one. Not persisted; copies carry the count over.
class SeekBudget {
 public:
  SeekBudget() = default;
  SeekBudget(const SeekBudget& o) : left_(o.left_.load(std::memory_order_relaxed)) {}
  SeekBudget& operator=(const SeekBudget& o) {
    left_.store(o.left_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }
  void Reset(int64_t n) { left_.store(n, std::memory_order_relaxed); }
  // Spends one read; true when the budget is used up (then spending writes nothing).
  bool Spend() const {
    if (left_.load(std::memory_order_relaxed) <= 0) return true;
    return left_.fetch_sub(1, std::memory_order_relaxed) <= 1;
  }

 private:
  mutable std::atomic<int64_t> left_{0};
};

// A live table. Immutable once in a Version, except for its seek budget.
struct FileMetaData {
  uint64_t number = 0;
  uint64_t file_size = 0;
  std::string smallest;  // internal keys
  std::string largest;
  SequenceNumber smallest_seq = 0;
  SequenceNumber largest_seq = 0;
  SeekBudget allowed_seeks;
  // Blob files (key-value separation, blob_store.h) this table's entries refer to, each
  // with the value bytes referred to. Sorted by blob file number.
  std::vector<std::pair<uint64_t, uint64_t>> blob_refs;
};

class VersionEdit {
 public:
  void SetLogNumber(uint64_t n) { log_number_ = n; }
  void SetNextFileNumber(uint64_t n) { next_file_number_ = n; }
  void SetLastSequence(SequenceNumber s) { last_sequence_ = s; }
  void AddFile(int level, FileMetaData f) { new_files_.emplace_back(level, std::move(f)); }
  void RemoveFile(int level, uint64_t number) { deleted_files_.emplace(level, number); }

  void EncodeTo(std::string* dst) const;
  // Corruption on unknown tags, bad levels or truncated fields.
  absl::Status DecodeFrom(std::string_view src);

  const std::optional<uint64_t>& log_number() const { return log_number_; }
  const std::optional<uint64_t>& next_file_number() const { return next_file_number_; }
  const std::optional<SequenceNumber>& last_sequence() const { return last_sequence_; }
  const std::vector<std::pair<int, FileMetaData>>& new_files() const { return new_files_; }
  const std::set<std::pair<int, uint64_t>>& deleted_files() const { return deleted_files_; }

 private:
  std::optional<uint64_t> log_number_;
  std::optional<uint64_t> next_file_number_;
  std::optional<SequenceNumber> last_sequence_;
  std::vector<std::pair<int, FileMetaData>> new_files_;
  std::set<std::pair<int, uint64_t>> deleted_files_;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_VERSION_EDIT_H_
