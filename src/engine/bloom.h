// Full bloom filter over a table's user keys, checked before any data block is read.
//
// Encoding (docs/formats/sstable.md, format v2): bit array | uint8 probes.
// Probe i of a key sets bit (h1 + i*h2) mod num_bits, where h1 and h2 are the halves of
// XXH3-64(user key) (Kirsch–Mitzenmacher double hashing). With b bits per key and
// k = round(b ln 2) probes the false-positive rate is about (1 - e^(-k/b))^k, e.g. ~0.8%
// at 10 bits per key.
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
