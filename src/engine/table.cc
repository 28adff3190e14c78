#include "engine/table.h"

#include "absl/strings/str_cat.h"
#include "base/coding.h"
#include "base/status.h"
#include "engine/bloom.h"
#include "engine/two_level_iterator.h"

namespace cairn::engine {

Table::Table(std::unique_ptr<RandomAccessFile> file, uint64_t file_size,
             std::shared_ptr<const Block> index, BlockContents filter, TableReadOptions options)
    : file_(std::move(file)),
      file_size_(file_size),
      index_(std::move(index)),
      filter_(std::move(filter)),
      options_(options) {}

namespace {
absl::Status CheckHandle(const BlockHandle& h, uint64_t data_end, std::string_view what) {
  if (h.offset > data_end || h.size + kBlockTrailerSize > data_end - h.offset) {
    return CorruptionError(absl::StrCat(ToAbsl(what), " block handle points outside the table"));
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<std::shared_ptr<Table>> Table::Open(std::unique_ptr<RandomAccessFile> file,
                                                   uint64_t file_size,
                                                   const TableReadOptions& options) {
  if (file_size < Footer::kEncodedLength) return CorruptionError("file too short to be a table");
  char footer_space[Footer::kEncodedLength];
  std::string_view footer_input;
  CAIRN_RETURN_IF_ERROR(file->Read(file_size - Footer::kEncodedLength, Footer::kEncodedLength,
                                   &footer_input, footer_space));
  Footer footer;
  CAIRN_RETURN_IF_ERROR(footer.DecodeFrom(footer_input));
  const uint64_t data_end = file_size - Footer::kEncodedLength;
  CAIRN_RETURN_IF_ERROR(CheckHandle(footer.index, data_end, "index"));
  CAIRN_ASSIGN_OR_RETURN(BlockContents index_contents, ReadBlock(file.get(), footer.index));
  auto index = std::make_shared<const Block>(std::move(index_contents));

  BlockContents filter;
  if (footer.format_version >= kFirstBlockedBloomFormatVersion) {
    CAIRN_RETURN_IF_ERROR(CheckHandle(footer.metaindex, data_end, "metaindex"));
    CAIRN_ASSIGN_OR_RETURN(BlockContents meta_contents, ReadBlock(file.get(), footer.metaindex));
    auto meta = Block::NewIterator(std::make_shared<const Block>(std::move(meta_contents)),
                                   CompareBytewise);
    meta->Seek(kBloomFilterName);
    if (meta->Valid() && meta->key() == kBloomFilterName) {
      BlockHandle filter_handle;
      std::string_view encoded = meta->value();
      CAIRN_RETURN_IF_ERROR(filter_handle.DecodeFrom(&encoded));
      CAIRN_RETURN_IF_ERROR(CheckHandle(filter_handle, data_end, "filter"));
      CAIRN_ASSIGN_OR_RETURN(filter, ReadBlock(file.get(), filter_handle));
    }
    CAIRN_RETURN_IF_ERROR(meta->status());
  }
  return std::make_shared<Table>(std::move(file), file_size, std::move(index), std::move(filter),
                                 options);
}

bool Table::KeyMayMatch(std::string_view user_key) const {
  return filter_.data.empty() || BloomFilterMayMatch(filter_.data, user_key);
}

absl::StatusOr<std::shared_ptr<const Block>> Table::ReadDataBlock(
    std::string_view encoded_handle) const {
  BlockHandle handle;
  CAIRN_RETURN_IF_ERROR(handle.DecodeFrom(&encoded_handle));
  CAIRN_RETURN_IF_ERROR(CheckHandle(handle, file_size_ - Footer::kEncodedLength, "data"));
  // Keyed by the whole handle: an index naming two blocks at one offset (a crafted file;
  // a writer never does that) must not be served one block for the other.
  char key[24];
  BlockCache* cache = options_.block_cache;
  if (cache != nullptr) {
    EncodeFixed64(key, options_.cache_id);
    EncodeFixed64(key + 8, handle.offset);
    EncodeFixed64(key + 16, handle.size);
    if (auto block = cache->Lookup(std::string_view(key, sizeof(key)))) return block;
  }
  CAIRN_ASSIGN_OR_RETURN(BlockContents contents, ReadBlock(file_.get(), handle));
  auto block = std::make_shared<const Block>(std::move(contents));
  if (cache != nullptr) cache->Insert(std::string_view(key, sizeof(key)), block, block->size());
  return block;
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
    absl::FunctionRef<void(std::string_view, std::string_view)> found) const {
  // No iterators: the index entry's value is a view into index_, which this table owns.
  std::string_view handle;
  bool in_range = false;
  CAIRN_RETURN_IF_ERROR(
      index_->SeekOnce(ikey, CompareInternalKeys, [&](std::string_view, std::string_view v) {
        handle = v;
        in_range = true;
      }));
  if (!in_range) return absl::OkStatus();
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<const Block> block, ReadDataBlock(handle));
  return block->SeekOnce(ikey, CompareInternalKeys, found);
}

}  // namespace cairn::engine
