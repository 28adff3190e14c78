// Reads an SSTable. Open verifies the footer (magic, version, checksum), the bounds and
// checksums of the index, metaindex and filter blocks, and keeps the index and filter in
// memory; index entries are validated as they are decoded, and every data block's
// checksum is verified when it is read from disk (then it may be served from the block
// cache). Immutable after Open,
// so thread-safe; shared by std::shared_ptr between the table cache and iterators.
#ifndef CAIRN_ENGINE_TABLE_H_
#define CAIRN_ENGINE_TABLE_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "cairn/engine/iterator.h"
#include "cairn/env.h"
#include "engine/block.h"
#include "engine/lru_cache.h"

namespace cairn::engine {

// Uncompressed data blocks shared by all tables, keyed by (cache id, block offset).
using BlockCache = LruCache<const Block>;

struct TableReadOptions {
  BlockCache* block_cache = nullptr;  // not owned; nullptr reads every block from disk
  uint64_t cache_id = 0;              // unique per table in one cache (its file number)
};

class Table : public std::enable_shared_from_this<Table> {
 public:
  static absl::StatusOr<std::shared_ptr<Table>> Open(std::unique_ptr<RandomAccessFile> file,
                                                     uint64_t file_size,
                                                     const TableReadOptions& options = {});

  // Iterates the table's internal keys. Shares ownership of the table.
  std::unique_ptr<Iterator> NewIterator() const;

  // Finds the first entry with internal key >= ikey in the block that could hold it,
  // and calls found(key, value) with it. Returns OK without calling found if there is
  // none; Corruption or IO errors otherwise.
  absl::Status InternalGet(
      std::string_view ikey,
      absl::FunctionRef<void(std::string_view, std::string_view)> found) const;

  // False if the bloom filter proves the table holds no entry for user_key.
  bool KeyMayMatch(std::string_view user_key) const;

  uint64_t file_size() const { return file_size_; }

  Table(std::unique_ptr<RandomAccessFile> file, uint64_t file_size,
        std::shared_ptr<const Block> index, BlockContents filter, TableReadOptions options);

 private:
  // Reads and checks the data block named by an encoded BlockHandle.
  absl::StatusOr<std::shared_ptr<const Block>> ReadDataBlock(std::string_view encoded_handle) const;
  std::unique_ptr<Iterator> NewDataBlockIterator(std::string_view encoded_handle) const;

  const std::unique_ptr<RandomAccessFile> file_;
  const uint64_t file_size_;
  const std::shared_ptr<const Block> index_;
  const BlockContents filter_;  // empty: no filter (format v1, or disabled)
  const TableReadOptions options_;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_TABLE_H_
