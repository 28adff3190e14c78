#include "engine/table_builder.h"

#include <algorithm>
#include <cassert>

#include "base/status.h"
#include "engine/compression.h"
#include "engine/dbformat.h"
#include "engine/iterator_util.h"

namespace cairn::engine {

void ShortenSeparator(std::string* a, std::string_view b) {
  std::string_view ua = ExtractUserKey(*a), ub = ExtractUserKey(b);
  const size_t min_len = std::min(ua.size(), ub.size());
  size_t diff = 0;
  while (diff < min_len && ua[diff] == ub[diff]) diff++;
  if (diff >= min_len) return;  // one user key is a prefix of the other
  const uint8_t byte = static_cast<uint8_t>(ua[diff]);
  if (byte == 0xff || byte + 1 >= static_cast<uint8_t>(ub[diff])) return;
  std::string shortened(ua.substr(0, diff + 1));
  shortened.back() = static_cast<char>(byte + 1);
  // shortened > ua, and < ub: the newest possible tag keeps it before every entry of it.
  *a = MakeInternalKey(shortened, kMaxSequenceNumber, kValueTypeForSeek);
}

void ShortenSuccessor(std::string* a) {
  std::string_view ua = ExtractUserKey(*a);
  for (size_t i = 0; i < ua.size(); i++) {
    const uint8_t byte = static_cast<uint8_t>(ua[i]);
    if (byte != 0xff) {
      std::string shortened(ua.substr(0, i + 1));
      shortened.back() = static_cast<char>(byte + 1);
      *a = MakeInternalKey(shortened, kMaxSequenceNumber, kValueTypeForSeek);
      return;
    }
  }
}

TableBuilder::TableBuilder(const Options& options, WritableFile* file)
    : block_size_(options.block_size),
      compression_(options.compression),
      filter_(options.bloom_bits_per_key > 0
                  ? std::make_unique<BloomFilterBuilder>(options.bloom_bits_per_key)
                  : nullptr),
      file_(file),
      data_block_(options.block_restart_interval),
      index_block_(1) {}

void TableBuilder::Add(std::string_view key, std::string_view value) {
  assert(!finished_);
  if (!status_.ok()) return;
  assert(num_entries_ == 0 || CompareInternalKeys(key, last_key_) > 0);
  if (pending_index_entry_) {
    ShortenSeparator(&last_key_, key);
    std::string handle;
    pending_handle_.EncodeTo(&handle);
    index_block_.Add(last_key_, handle);
    pending_index_entry_ = false;
  }
  if (filter_ != nullptr) filter_->AddKey(ExtractUserKey(key));
  last_key_.assign(key.data(), key.size());
  num_entries_++;
  data_block_.Add(key, value);
  if (data_block_.CurrentSizeEstimate() >= block_size_) FlushDataBlock();
}

void TableBuilder::FlushDataBlock() {
  if (data_block_.empty() || !status_.ok()) return;
  status_ = WriteBlock(&data_block_, &pending_handle_);
  if (status_.ok()) pending_index_entry_ = true;
}

absl::Status TableBuilder::WriteBlock(BlockBuilder* block, BlockHandle* handle) {
  std::string_view contents = block->Finish();
  absl::Status s = CompressBlock(compression_, contents, &compressed_)
                       ? WriteRawBlock(compressed_, compression_, handle)
                       : WriteRawBlock(contents, CompressionType::kNone, handle);
  block->Reset();
  return s;
}

absl::Status TableBuilder::WriteRawBlock(std::string_view contents, CompressionType type,
                                         BlockHandle* handle) {
  handle->offset = offset_;
  handle->size = contents.size();
  CAIRN_RETURN_IF_ERROR(file_->Append(contents));
  CAIRN_RETURN_IF_ERROR(file_->Append(BlockTrailer(contents, type)));
  offset_ += contents.size() + kBlockTrailerSize;
  return absl::OkStatus();
}

absl::Status TableBuilder::Finish() {
  assert(!finished_);
  FlushDataBlock();
  finished_ = true;
  CAIRN_RETURN_IF_ERROR(status_);

  Footer footer;
  // Metaindex: name -> handle of each meta block (the bloom filter, stored raw).
  BlockBuilder metaindex(1);
  if (filter_ != nullptr) {
    BlockHandle filter_handle;
    CAIRN_RETURN_IF_ERROR(WriteRawBlock(filter_->Finish(), CompressionType::kNone, &filter_handle));
    std::string encoded;
    filter_handle.EncodeTo(&encoded);
    metaindex.Add(kBloomFilterName, encoded);
  }
  std::string_view meta = metaindex.Finish();
  CAIRN_RETURN_IF_ERROR(WriteRawBlock(meta, CompressionType::kNone, &footer.metaindex));

  if (pending_index_entry_) {
    ShortenSuccessor(&last_key_);
    std::string handle;
    pending_handle_.EncodeTo(&handle);
    index_block_.Add(last_key_, handle);
    pending_index_entry_ = false;
  }
  CAIRN_RETURN_IF_ERROR(WriteBlock(&index_block_, &footer.index));

  std::string encoded;
  footer.EncodeTo(&encoded);
  CAIRN_RETURN_IF_ERROR(file_->Append(encoded));
  offset_ += encoded.size();
  return absl::OkStatus();
}

}  // namespace cairn::engine
