#include "engine/bloom.h"

#include <algorithm>
#include <cmath>

#include "base/checksum.h"

namespace cairn::engine {
namespace {

// Cache-local ("blocked") bloom filter: the upper 32 bits of a key's hash pick one 64-byte
// line, and every probe lands in that line, so a lookup touches one cache line instead of
// k random ones (as RocksDB's FastLocalBloom). The false-positive rate is a little above a
// classic bloom filter's at the same size (about 0.9% instead of 0.8% at 10 bits per key).
constexpr uint32_t kLineBits = 512;
constexpr uint32_t kLineBytes = kLineBits / 8;

int ProbesFor(int bits_per_key) {
  return std::clamp(static_cast<int>(std::lround(bits_per_key * 0.69314718)), 1, 30);
}

inline uint32_t LineFor(uint64_t hash, uint32_t num_lines) {
  return static_cast<uint32_t>(((hash >> 32) * num_lines) >> 32);
}

// Bit i of the line for probe `probe`: the lower hash half stepped by a multiplicative
// (golden ratio) sequence; the top 9 bits of each step choose the bit.
template <typename Fn>
inline bool ForEachProbe(uint64_t hash, int probes, Fn&& fn) {
  uint32_t h = static_cast<uint32_t>(hash);
  for (int i = 0; i < probes; i++) {
    if (!fn(h >> 23)) return false;
    h *= 0x9e3779b9u;
  }
  return true;
}

}  // namespace

BloomFilterBuilder::BloomFilterBuilder(int bits_per_key)
    : bits_per_key_(std::max(1, bits_per_key)) {}

void BloomFilterBuilder::AddKey(std::string_view user_key) {
  const uint64_t h = Hash64(user_key);
  // Consecutive versions of one key hash alike; adding them once keeps the size honest.
  if (hashes_.empty() || hashes_.back() != h) hashes_.push_back(h);
}

std::string BloomFilterBuilder::Finish() const {
  const uint64_t bits = std::max<uint64_t>(kLineBits, hashes_.size() * bits_per_key_);
  const uint32_t num_lines = static_cast<uint32_t>((bits + kLineBits - 1) / kLineBits);
  const int probes = ProbesFor(bits_per_key_);
  std::string filter(size_t{num_lines} * kLineBytes, '\0');
  for (uint64_t h : hashes_) {
    char* line = filter.data() + size_t{LineFor(h, num_lines)} * kLineBytes;
    ForEachProbe(h, probes, [line](uint32_t bit) {
      line[bit / 8] = static_cast<char>(line[bit / 8] | (1 << (bit % 8)));
      return true;
    });
  }
  filter.push_back(static_cast<char>(probes));
  return filter;
}

bool BloomFilterMayMatch(std::string_view filter, std::string_view user_key) {
  if (filter.size() < kLineBytes + 1 || (filter.size() - 1) % kLineBytes != 0) return true;
  const int probes = static_cast<uint8_t>(filter.back());
  if (probes < 1 || probes > 30) return true;
  const uint32_t num_lines = static_cast<uint32_t>((filter.size() - 1) / kLineBytes);
  const uint64_t h = Hash64(user_key);
  const char* line = filter.data() + size_t{LineFor(h, num_lines)} * kLineBytes;
  return ForEachProbe(h, probes, [line](uint32_t bit) {
    return (static_cast<uint8_t>(line[bit / 8]) & (1 << (bit % 8))) != 0;
  });
}

ConcurrentBloom::ConcurrentBloom(size_t bytes, int probes)
    : num_lines_(static_cast<uint32_t>(
          std::clamp<size_t>((bytes + kLineBytes - 1) / kLineBytes, 1, size_t{1} << 31))),
      probes_(std::clamp(probes, 1, 30)),
      words_(new std::atomic<uint64_t>[size_t{num_lines_} * 8]) {
  for (size_t i = 0; i < size_t{num_lines_} * 8; i++) {
    words_[i].store(0, std::memory_order_relaxed);
  }
}

void ConcurrentBloom::Add(uint64_t hash) {
  std::atomic<uint64_t>* line = &words_[size_t{LineFor(hash, num_lines_)} * 8];
  ForEachProbe(hash, probes_, [line](uint32_t bit) {
    std::atomic<uint64_t>& word = line[bit / 64];
    const uint64_t mask = uint64_t{1} << (bit % 64);
    // Most bits are already set after a while: a load is cheaper than a locked OR.
    if ((word.load(std::memory_order_relaxed) & mask) == 0) {
      word.fetch_or(mask, std::memory_order_relaxed);
    }
    return true;
  });
}

bool ConcurrentBloom::MayContain(uint64_t hash) const {
  const std::atomic<uint64_t>* line = &words_[size_t{LineFor(hash, num_lines_)} * 8];
  return ForEachProbe(hash, probes_, [line](uint32_t bit) {
    return (line[bit / 64].load(std::memory_order_relaxed) & (uint64_t{1} << (bit % 64))) != 0;
  });
}

double BloomFilterTheoreticalFpRate(int bits_per_key) {
  // The classic formula; the blocked layout is a little worse and the test allows 2x.
  const double k = ProbesFor(bits_per_key);
  return std::pow(1 - std::exp(-k / bits_per_key), k);
}

}  // namespace cairn::engine
