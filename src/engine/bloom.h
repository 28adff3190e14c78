// Full bloom filter over a table's user keys, checked before any data block is read.
//
// Encoding (docs/formats/sstable.md, format v2): lines of 64 bytes | uint8 probes.
// A key's XXH3-64 hash h picks line ((h >> 32) * num_lines) >> 32; its k probes all fall
// in that line (one cache miss per lookup): probe i sets bit (g_i >> 23) of the line,
// where g_0 = low 32 bits of h and g_(i+1) = g_i * 0x9e3779b9 (mod 2^32). With b bits per
// key and k = round(b ln 2) probes, the false-positive rate is about 0.9% at b = 10.
#ifndef CAIRN_ENGINE_BLOOM_H_
#define CAIRN_ENGINE_BLOOM_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::engine {

class BloomFilterBuilder {
 public:
  // REQUIRES: bits_per_key >= 1.
  explicit BloomFilterBuilder(int bits_per_key);
  void AddKey(std::string_view user_key);
  bool empty() const { return hashes_.empty(); }
  // The encoded filter for every key added so far.
  std::string Finish() const;

 private:
  const int bits_per_key_;
  std::vector<uint64_t> hashes_;
};

// False only if user_key is certainly absent. A malformed filter answers true (it can
// only cost a read, never hide a key).
bool BloomFilterMayMatch(std::string_view filter, std::string_view user_key);

// The theoretical false-positive rate for bits_per_key, as the builder configures it.
double BloomFilterTheoreticalFpRate(int bits_per_key);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_BLOOM_H_
