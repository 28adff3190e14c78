// Reads an SSTable. Open verifies the footer (magic, version, checksum) and the index
// block's bounds and checksum; the index entries are validated as they are decoded,
// and every data block's checksum is verified when it is read. The metaindex block is
// empty in format v1 and not read. Immutable after Open,
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

namespace cairn::engine {

class Table : public std::enable_shared_from_this<Table> {
 public:
  static absl::StatusOr<std::shared_ptr<Table>> Open(std::unique_ptr<RandomAccessFile> file,
                                                     uint64_t file_size);

  // Iterates the table's internal keys. Shares ownership of the table.
  std::unique_ptr<Iterator> NewIterator() const;

  // Finds the first entry with internal key >= ikey in the block that could hold it,
  // and calls found(key, value) with it. Returns OK without calling found if there is
  // none; Corruption or IO errors otherwise.
  absl::Status InternalGet(
      std::string_view ikey,
      const std::function<void(std::string_view, std::string_view)>& found) const;

  uint64_t file_size() const { return file_size_; }

  Table(std::unique_ptr<RandomAccessFile> file, uint64_t file_size,
        std::shared_ptr<const Block> index);

 private:
  // Reads and checks the data block named by an encoded BlockHandle.
  absl::StatusOr<std::shared_ptr<const Block>> ReadDataBlock(std::string_view encoded_handle) const;
  std::unique_ptr<Iterator> NewDataBlockIterator(std::string_view encoded_handle) const;

  const std::unique_ptr<RandomAccessFile> file_;
  const uint64_t file_size_;
  const std::shared_ptr<const Block> index_;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_TABLE_H_
