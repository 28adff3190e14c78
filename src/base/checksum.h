// Checksums for on-disk records and blocks.
//
// cairn uses XXH3-64 (from Debian's libxxhash) truncated to 32 bits, as RocksDB's
// kXXH3 checksum type does: it is faster than CRC32C and xxHash is already a dependency
// for ring hashing. Unlike a CRC it gives no guarantee for short error bursts; any
// damage goes undetected with probability about 2^-32. The seed folds in a record's
// type and length without copying.
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
