#include "engine/table.h"

#include "base/status.h"
#include "engine/two_level_iterator.h"

namespace cairn::engine {

Table::Table(std::unique_ptr<RandomAccessFile> file, uint64_t file_size,
             std::shared_ptr<const Block> index)
    : file_(std::move(file)), file_size_(file_size), index_(std::move(index)) {}

absl::StatusOr<std::shared_ptr<Table>> Table::Open(std::unique_ptr<RandomAccessFile> file,
                                                   uint64_t file_size) {
  if (file_size < Footer::kEncodedLength) return CorruptionError("file too short to be a table");
  char footer_space[Footer::kEncodedLength];
  std::string_view footer_input;
  CAIRN_RETURN_IF_ERROR(file->Read(file_size - Footer::kEncodedLength, Footer::kEncodedLength,
                                   &footer_input, footer_space));
  Footer footer;
  CAIRN_RETURN_IF_ERROR(footer.DecodeFrom(footer_input));
  const uint64_t data_end = file_size - Footer::kEncodedLength;
  if (footer.index.offset > data_end ||
      footer.index.size + kBlockTrailerSize > data_end - footer.index.offset) {
    return CorruptionError("index block handle points outside the table");
  }
  CAIRN_ASSIGN_OR_RETURN(BlockContents index_contents, ReadBlock(file.get(), footer.index));
  auto index = std::make_shared<const Block>(std::move(index_contents));
  return std::make_shared<Table>(std::move(file), file_size, std::move(index));
}

absl::StatusOr<std::shared_ptr<const Block>> Table::ReadDataBlock(
    std::string_view encoded_handle) const {
  BlockHandle handle;
  CAIRN_RETURN_IF_ERROR(handle.DecodeFrom(&encoded_handle));
  if (handle.offset > file_size_ || handle.size + kBlockTrailerSize > file_size_ - handle.offset) {
    return CorruptionError("block handle points outside the table");
  }
  CAIRN_ASSIGN_OR_RETURN(BlockContents contents, ReadBlock(file_.get(), handle));
  return std::make_shared<const Block>(std::move(contents));
}

std::unique_ptr<Iterator> Table::NewDataBlockIterator(std::string_view encoded_handle) const {
  auto block = ReadDataBlock(encoded_handle);
  if (!block.ok()) return NewErrorIterator(block.status());
  return Block::NewIterator(std::move(*block), CompareInternalKeys);
}

std::unique_ptr<Iterator> Table::NewIterator() const {
  auto self = shared_from_this();
  return NewTwoLevelIterator(
      Block::NewIterator(index_, CompareInternalKeys),
      [self](std::string_view handle) { return self->NewDataBlockIterator(handle); });
}

absl::Status Table::InternalGet(
    std::string_view ikey,
    const std::function<void(std::string_view, std::string_view)>& found) const {
  auto index_iter = Block::NewIterator(index_, CompareInternalKeys);
  index_iter->Seek(ikey);
  if (!index_iter->Valid()) return index_iter->status();
  auto block_iter = NewDataBlockIterator(index_iter->value());
  block_iter->Seek(ikey);
  if (block_iter->Valid()) found(block_iter->key(), block_iter->value());
  return block_iter->status();
}

}  // namespace cairn::engine
