#include "base/checksum.h"

#include <xxhash.h>

namespace cairn {

uint32_t Checksum32(std::string_view data, uint64_t seed) {
  return static_cast<uint32_t>(Hash64(data, seed));
}

uint64_t Hash64(std::string_view data, uint64_t seed) {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

}  // namespace cairn
