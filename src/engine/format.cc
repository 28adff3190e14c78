#include "engine/format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/checksum.h"
#include "base/coding.h"
#include "base/status.h"
#include "engine/compression.h"

namespace cairn::engine {

void BlockHandle::EncodeTo(std::string* dst) const {
  PutVarint64(dst, offset);
  PutVarint64(dst, size);
}

absl::Status BlockHandle::DecodeFrom(std::string_view* input) {
  if (!GetVarint64(input, &offset) || !GetVarint64(input, &size)) {
    return CorruptionError("bad block handle");
  }
  return absl::OkStatus();
}

void Footer::EncodeTo(std::string* dst) const {
  const size_t start = dst->size();
  metaindex.EncodeTo(dst);
  index.EncodeTo(dst);
  dst->resize(start + 40, '\0');
  PutFixed32(dst, format_version);
  PutFixed32(dst, Checksum32(std::string_view(*dst).substr(start, 44)));
  PutFixed64(dst, kTableMagic);
}

absl::Status Footer::DecodeFrom(std::string_view input) {
  if (input.size() != kEncodedLength) return CorruptionError("table footer has wrong size");
  if (DecodeFixed64(input.data() + 48) != kTableMagic) {
    return CorruptionError("not a cairn table (bad magic number)");
  }
  if (DecodeFixed32(input.data() + 44) != Checksum32(input.substr(0, 44))) {
    return CorruptionError("table footer checksum mismatch");
  }
  format_version = DecodeFixed32(input.data() + 40);
  if (format_version < kMinTableFormatVersion || format_version > kTableFormatVersion) {
    return CorruptionError(absl::StrCat("unsupported table format version ", format_version));
  }
  std::string_view handles = input.substr(0, 40);
  CAIRN_RETURN_IF_ERROR(metaindex.DecodeFrom(&handles));
  return index.DecodeFrom(&handles);
}

std::string BlockTrailer(std::string_view contents, CompressionType type) {
  std::string trailer(1, static_cast<char>(type));
  PutFixed32(&trailer, Checksum32(contents, static_cast<uint8_t>(type)));
  return trailer;
}

absl::StatusOr<BlockContents> ReadBlock(const RandomAccessFile* file, const BlockHandle& handle) {
  // A damaged handle could ask for an absurd size; blocks are never near this big.
  constexpr uint64_t kMaxBlockSize = uint64_t{1} << 31;
  if (handle.size > kMaxBlockSize) return CorruptionError("block handle size too large");
  const size_t n = static_cast<size_t>(handle.size);
  // A mapped file hands out views of its pages: no read buffer (a compressed block is
  // decompressed straight from the mapping).
  std::unique_ptr<char[]> scratch;
  if (!file->IsMapped()) scratch.reset(new char[n + kBlockTrailerSize]);
  std::string_view got;
  CAIRN_RETURN_IF_ERROR(file->Read(handle.offset, n + kBlockTrailerSize, &got, scratch.get()));
  if (got.size() != n + kBlockTrailerSize) return CorruptionError("truncated block read");
  const uint8_t type = static_cast<uint8_t>(got[n]);
  if (DecodeFixed32(got.data() + n + 1) != Checksum32(got.substr(0, n), type)) {
    return CorruptionError(absl::StrCat("block checksum mismatch at offset ", handle.offset));
  }
  if (type != static_cast<uint8_t>(CompressionType::kNone)) {
    return UncompressBlock(static_cast<CompressionType>(type), got.substr(0, n));
  }
  // The block outlives the read (the block cache keeps it): it owns its bytes.
  BlockContents result;
  if (scratch != nullptr && got.data() == scratch.get()) {
    result.owned = std::move(scratch);
  } else {
    result.owned.reset(new char[n == 0 ? 1 : n]);
    std::memcpy(result.owned.get(), got.data(), n);
  }
  result.data = std::string_view(result.owned.get(), n);
  return result;
}

}  // namespace cairn::engine
