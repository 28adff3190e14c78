#include "engine/compression.h"

#include <lz4.h>
#include <snappy.h>
#include <zstd.h>

#include "absl/strings/str_cat.h"
#include "base/coding.h"
#include "base/status.h"

namespace cairn::engine {
namespace {
// Larger blocks than this are never written (format.cc caps blocks at 2 GiB).
constexpr uint32_t kMaxUncompressed = uint32_t{1} << 31;
}  // namespace

bool CompressBlock(CompressionType type, std::string_view raw, std::string* out) {
  if (type == CompressionType::kNone || raw.size() >= kMaxUncompressed) return false;
  out->clear();
  PutVarint32(out, static_cast<uint32_t>(raw.size()));
  const size_t header = out->size();
  size_t n = 0;
  switch (type) {
    case CompressionType::kLz4: {
      const int bound = LZ4_compressBound(static_cast<int>(raw.size()));
      out->resize(header + bound);
      const int r = LZ4_compress_default(raw.data(), out->data() + header,
                                         static_cast<int>(raw.size()), bound);
      if (r <= 0) return false;
      n = static_cast<size_t>(r);
      break;
    }
    case CompressionType::kZstd: {
      const size_t bound = ZSTD_compressBound(raw.size());
      out->resize(header + bound);
      const size_t r = ZSTD_compress(out->data() + header, bound, raw.data(), raw.size(), 3);
      if (ZSTD_isError(r)) return false;
      n = r;
      break;
    }
    case CompressionType::kSnappy: {
      out->resize(header + snappy::MaxCompressedLength(raw.size()));
      snappy::RawCompress(raw.data(), raw.size(), out->data() + header, &n);
      break;
    }
    default:
      return false;
  }
  out->resize(header + n);
  return out->size() < raw.size() - raw.size() / 8;
}

absl::StatusOr<BlockContents> UncompressBlock(CompressionType type, std::string_view data) {
  uint32_t size;
  if (!GetVarint32(&data, &size) || size >= kMaxUncompressed) {
    return CorruptionError("bad compressed block size");
  }
  BlockContents result;
  result.owned.reset(new char[size == 0 ? 1 : size]);
  bool ok = false;
  switch (type) {
    case CompressionType::kLz4: {
      const int r = LZ4_decompress_safe(data.data(), result.owned.get(),
                                        static_cast<int>(data.size()), static_cast<int>(size));
      ok = r >= 0 && static_cast<uint32_t>(r) == size;
      break;
    }
    case CompressionType::kZstd: {
      const size_t r = ZSTD_decompress(result.owned.get(), size, data.data(), data.size());
      ok = !ZSTD_isError(r) && r == size;
      break;
    }
    case CompressionType::kSnappy: {
      size_t n = 0;
      ok = snappy::GetUncompressedLength(data.data(), data.size(), &n) && n == size &&
           snappy::RawUncompress(data.data(), data.size(), result.owned.get());
      break;
    }
    default:
      return CorruptionError(
          absl::StrCat("unknown block compression type ", static_cast<int>(type)));
  }
  if (!ok) return CorruptionError("compressed block does not decompress");
  result.data = std::string_view(result.owned.get(), size);
  return result;
}

}  // namespace cairn::engine
