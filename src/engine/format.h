// SSTable building blocks on disk: block handles, block trailers and the footer.
// Byte layouts and versions: docs/formats/sstable.md.
#ifndef CAIRN_ENGINE_FORMAT_H_
#define CAIRN_ENGINE_FORMAT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cairn/engine/options.h"
#include "cairn/env.h"

namespace cairn::engine {

// Where a block lives in its file: offset and size, not counting the trailer.
struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;

  static constexpr size_t kMaxEncodedLength = 10 + 10;
  void EncodeTo(std::string* dst) const;
  // Consumes a handle from the front of input; Corruption if malformed.
  absl::Status DecodeFrom(std::string_view* input);
};

// Every block is followed by: uint8 compression type | fixed32 checksum, where the
// checksum is Checksum32(block contents, seed = type).
constexpr size_t kBlockTrailerSize = 5;

constexpr uint64_t kTableMagic = 0x5453536e72696163ULL;  // "cairnSST" little-endian
// v1: no compression, empty metaindex. v2: compressed blocks and a classic bloom filter
// named in the metaindex. v3: the filter is cache-local (bloom.h). Readers accept all
// three and use only a v3 filter (v1/v2 tables are read without one, which costs reads,
// never correctness); writers write v3.
constexpr uint32_t kTableFormatVersion = 3;
constexpr uint32_t kFirstBlockedBloomFormatVersion = 3;
constexpr uint32_t kMinTableFormatVersion = 1;
// Name of the full bloom filter's entry in the metaindex block.
constexpr std::string_view kBloomFilterName = "filter.bloom";

// Fixed-size tail of every table.
//   metaindex handle | index handle | zero padding to 40 bytes |
//   fixed32 format version | fixed32 checksum of the preceding 44 bytes | fixed64 magic
struct Footer {
  static constexpr size_t kEncodedLength = 56;
  BlockHandle metaindex;
  BlockHandle index;
  uint32_t format_version = kTableFormatVersion;

  void EncodeTo(std::string* dst) const;
  absl::Status DecodeFrom(std::string_view input);
};

// Owned, uncompressed contents of one block.
struct BlockContents {
  std::unique_ptr<char[]> owned;
  std::string_view data;
};

// Reads the block at handle and verifies its checksum; Corruption on any mismatch.
absl::StatusOr<BlockContents> ReadBlock(const RandomAccessFile* file, const BlockHandle& handle);

// The trailer written after contents.
std::string BlockTrailer(std::string_view contents, CompressionType type);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_FORMAT_H_
