// Record framing shared by the WAL and the MANIFEST (docs/formats/wal.md).
//
// A file is a sequence of kBlockSize blocks. A block holds records; a record never
// straddles a block: a payload too big for the rest of a block is split into fragments
// (FIRST, MIDDLE..., LAST). A block tail shorter than a header is zero-filled.
//
//   record := fixed32 checksum | fixed16 length | uint8 type | payload[length]
//   checksum := low 32 bits of XXH3-64(payload, seed = type | length << 8)
#ifndef CAIRN_ENGINE_WAL_FORMAT_H_
#define CAIRN_ENGINE_WAL_FORMAT_H_

#include <cstdint>
#include <string_view>

#include "base/checksum.h"

namespace cairn::engine::wal {

enum RecordType : uint8_t {
  kZeroType = 0,  // never written; zero-filled regions read as this
  kFullType = 1,
  kFirstType = 2,
  kMiddleType = 3,
  kLastType = 4,
};
constexpr uint8_t kMaxRecordType = kLastType;

constexpr size_t kBlockSize = 32768;
constexpr size_t kHeaderSize = 4 + 2 + 1;

inline uint32_t RecordChecksum(uint8_t type, std::string_view payload) {
  return Checksum32(payload, type | (uint64_t{payload.size()} << 8));
}

}  // namespace cairn::engine::wal

#endif  // CAIRN_ENGINE_WAL_FORMAT_H_
