// Writes an SSTable (format v2, docs/formats/sstable.md) from internal keys added in
// increasing order. Not thread-safe. The caller owns the file and closes it.
#ifndef CAIRN_ENGINE_TABLE_BUILDER_H_
#define CAIRN_ENGINE_TABLE_BUILDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "cairn/engine/options.h"
#include "cairn/env.h"
#include "engine/block_builder.h"
#include "engine/bloom.h"
#include "engine/format.h"

namespace cairn::engine {

class TableBuilder {
 public:
  TableBuilder(const Options& options, WritableFile* file);
  TableBuilder(const TableBuilder&) = delete;
  TableBuilder& operator=(const TableBuilder&) = delete;

  // REQUIRES: key (an internal key) is after every key added before; not finished.
  void Add(std::string_view key, std::string_view value);
  // Writes the index, metaindex and footer. The file is not synced.
  absl::Status Finish();

  absl::Status status() const { return status_; }
  uint64_t NumEntries() const { return num_entries_; }
  // Bytes written so far (the whole file after Finish).
  uint64_t FileSize() const { return offset_; }

 private:
  void FlushDataBlock();
  absl::Status WriteBlock(BlockBuilder* block, BlockHandle* handle);

  absl::Status WriteRawBlock(std::string_view contents, CompressionType type, BlockHandle* handle);

  const size_t block_size_;
  const CompressionType compression_;
  std::unique_ptr<BloomFilterBuilder> filter_;  // nullptr: no filter
  std::string compressed_;                      // scratch for WriteBlock
  WritableFile* const file_;
  uint64_t offset_ = 0;
  absl::Status status_;
  BlockBuilder data_block_;
  BlockBuilder index_block_;
  std::string last_key_;
  uint64_t num_entries_ = 0;
  bool finished_ = false;
  // The index entry for a flushed data block is added when the next key arrives, so
  // its separator can be short (between the block's last key and the next key).
  bool pending_index_entry_ = false;
  BlockHandle pending_handle_;
};

// Shortest internal key k with a <= k < b, as LevelDB's FindShortestSeparator.
void ShortenSeparator(std::string* a, std::string_view b);
// Short internal key k >= a.
void ShortenSuccessor(std::string* a);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_TABLE_BUILDER_H_
