// Checksums for on-disk records and blocks.
//
// cairn uses XXH3-64 (from Debian's libxxhash) truncated to 32 bits, as RocksDB's
// kXXH3 checksum type does: it is several times faster than software CRC32C, detects
// every corruption a CRC would in practice, and xxHash is already a dependency for
// ring hashing. The seed lets a record type byte be folded in without copying.
#ifndef CAIRN_BASE_CHECKSUM_H_
#define CAIRN_BASE_CHECKSUM_H_

#include <cstdint>
#include <string_view>

namespace cairn {

uint32_t Checksum32(std::string_view data, uint64_t seed = 0);

// 64-bit hash of a key (XXH3-64); stable across versions and platforms.
uint64_t Hash64(std::string_view data, uint64_t seed = 0);

}  // namespace cairn

#endif  // CAIRN_BASE_CHECKSUM_H_
