// Blob files: where key-value separation (blob_store.h) keeps large values, out of the
// LSM tree. Format version 1, documented in docs/formats/blob.md.
//
//   file    := header record*
//   header  := "CAIRNBLB" | fixed32 version (1) | fixed32 checksum of the 12 bytes before
//   record  := fixed32 checksum of (fixed64 value size | fixed32 key size | key)
//              | fixed64 value size | fixed32 key size | key | chunk*
//   chunk   := up to kBlobChunkSize bytes of the value | fixed32 checksum of them
//
// A value is cut into chunks of kBlobChunkSize bytes (the last one shorter), each with
// its own checksum, so a reader streaming a value verifies every chunk before handing it
// on and never needs more than one chunk of memory. Checksums are base/checksum.h's.
//
// A blob reference (the LSM tree's value of a kTypeBlobIndex entry, after its expiry):
//   varint64 file number | varint64 record offset | varint64 value size
#ifndef CAIRN_ENGINE_BLOB_FORMAT_H_
#define CAIRN_ENGINE_BLOB_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace cairn::engine {

inline constexpr char kBlobMagic[] = "CAIRNBLB";
inline constexpr uint32_t kBlobFormatVersion = 1;
inline constexpr size_t kBlobHeaderSize = 16;
inline constexpr size_t kBlobChunkSize = 64 << 10;
inline constexpr size_t kBlobRecordHeaderSize = 16;  // checksum, value size, key size

struct BlobRef {
  uint64_t file = 0;
  uint64_t offset = 0;  // of the record
  uint64_t size = 0;    // of the value
};

void EncodeBlobRef(const BlobRef& ref, std::string* dst);
// Corruption if src is not exactly one reference.
absl::Status DecodeBlobRef(std::string_view src, BlobRef* ref);

std::string BlobFileHeader();
// Corruption unless header is a version-1 blob file header.
absl::Status CheckBlobFileHeader(std::string_view header);

// Bytes a record of this key and value size takes in the file.
uint64_t BlobRecordSize(size_t key_size, uint64_t value_size);
// The bytes before the key of a record.
std::string BlobRecordHeader(std::string_view key, uint64_t value_size);
// Offset, within the record at record_offset with this key size, of value chunk i.
inline uint64_t BlobChunkOffset(uint64_t record_offset, size_t key_size, uint64_t i) {
  return record_offset + kBlobRecordHeaderSize + key_size + i * (kBlobChunkSize + 4);
}

// Sums, per blob file, the value bytes that the kTypeBlobIndex entries added refer to:
// the blob references of a table being written (FileMetaData::blob_refs).
class BlobRefCounter {
 public:
  void Add(std::string_view internal_key, std::string_view value);
  // Sorted by file number.
  std::vector<std::pair<uint64_t, uint64_t>> Take();

 private:
  std::map<uint64_t, uint64_t> bytes_;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_BLOB_FORMAT_H_
