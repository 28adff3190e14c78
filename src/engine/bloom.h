// Full bloom filter over a table's user keys, checked before any data block is read.
//
// Encoding (docs/formats/sstable.md, format v2): lines of 64 bytes | uint8 probes.
// A key's XXH3-64 hash h picks line ((h >> 32) * num_lines) >> 32; its k probes all fall
// in that line (one cache miss per lookup): probe i sets bit (g_i >> 23) of the line,
// where g_0 = low 32 bits of h and g_(i+1) = g_i * 0x9e3779b9 (mod 2^32). With b bits per
// key and k = round(b ln 2) probes, the false-positive rate is about 0.9% at b = 10.
#ifndef CAIRN_ENGINE_BLOOM_H_
#define CAIRN_ENGINE_BLOOM_H_

#include <atomic>
#include <cstdint>
#include <memory>
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

// An in-memory blocked bloom filter that grows while it is read (the memtable's, as
// RocksDB's memtable_whole_key_filtering): the same line and probe layout as a table's
// filter over atomic words, never persisted. Add may run concurrently with MayContain; a
// reader sees every key whose Add happened before it (through the memtable's own
// release/acquire publication).
class ConcurrentBloom {
 public:
  // bytes is rounded up to whole 64-byte lines.
  ConcurrentBloom(size_t bytes, int probes);
  void Add(uint64_t hash);
  bool MayContain(uint64_t hash) const;
  size_t bytes() const { return size_t{num_lines_} * 64; }

 private:
  const uint32_t num_lines_;
  const int probes_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;  // 8 per line
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_BLOOM_H_
