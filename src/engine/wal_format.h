// Record framing shared by the WAL and the MANIFEST (docs/formats/wal.md).
//
// A file is a sequence of kBlockSize blocks. A block holds records; a record never
// straddles a block: a payload too big for the rest of a block is split into fragments
// (FIRST, MIDDLE..., LAST). A block tail shorter than a header is zero-filled.
//
//   record := fixed32 checksum | fixed16 length | uint8 type | fixed16 header_check |
//             payload[length]
//   checksum := low 32 bits of XXH3-64(payload, seed = type | length << 8)
//   header_check := low 16 bits of XXH3-64(the 3 bytes of length and type, seed = 0x5a17)
//
// header_check lets a reader trust a record's length even when its payload is damaged:
// a record whose intact header says it runs past the end of the file is a torn write;
// a damaged length is recognized as damage, never mistaken for a torn tail.
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
constexpr size_t kHeaderSize = 4 + 2 + 1 + 2;

inline uint32_t RecordChecksum(uint8_t type, std::string_view payload) {
  return Checksum32(payload, type | (uint64_t{payload.size()} << 8));
}

// header_check of the length and type bytes at p[4..7).
inline uint16_t HeaderCheck(const char* p) {
  return static_cast<uint16_t>(Hash64(std::string_view(p + 4, 3), 0x5a17));
}

// Writes the kHeaderSize-byte header of a record holding payload.
inline void EncodeHeader(char* dst, uint8_t type, std::string_view payload) {
  const uint32_t checksum = RecordChecksum(type, payload);
  for (int i = 0; i < 4; i++) dst[i] = static_cast<char>(checksum >> (8 * i));
  dst[4] = static_cast<char>(payload.size() & 0xff);
  dst[5] = static_cast<char>(payload.size() >> 8);
  dst[6] = static_cast<char>(type);
  const uint16_t check = HeaderCheck(dst);
  dst[7] = static_cast<char>(check & 0xff);
  dst[8] = static_cast<char>(check >> 8);
}

struct Header {
  uint32_t checksum;
  size_t length;
  uint8_t type;
  bool intact;  // header_check matches: length and type can be trusted
};

// REQUIRES: p holds kHeaderSize bytes.
inline Header DecodeHeader(const char* p) {
  auto byte = [p](int i) { return static_cast<uint32_t>(static_cast<uint8_t>(p[i])); };
  Header h;
  h.checksum = byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24;
  h.length = byte(4) | byte(5) << 8;
  h.type = static_cast<uint8_t>(byte(6));
  h.intact = (byte(7) | byte(8) << 8) == HeaderCheck(p);
  return h;
}

}  // namespace cairn::engine::wal

#endif  // CAIRN_ENGINE_WAL_FORMAT_H_
