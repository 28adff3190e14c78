#include "engine/bloom.h"

#include <algorithm>
#include <cmath>

#include "base/checksum.h"

namespace cairn::engine {
namespace {

int ProbesFor(int bits_per_key) {
  return std::clamp(static_cast<int>(std::lround(bits_per_key * 0.69314718)), 1, 30);
}

// Bit positions come from 64-bit arithmetic so large filters use all their bits.
inline uint64_t Probe(uint64_t hash, int i, uint64_t num_bits) {
  const uint64_t h1 = hash & 0xffffffff, h2 = (hash >> 32) | 1;
  return (h1 + static_cast<uint64_t>(i) * h2) % num_bits;
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
  // At least 64 bits so tiny tables do not have a useless filter.
  const uint64_t num_bits = std::max<uint64_t>(64, hashes_.size() * bits_per_key_);
  const uint64_t bytes = (num_bits + 7) / 8;
  const int probes = ProbesFor(bits_per_key_);
  std::string filter(bytes, '\0');
  const uint64_t bits = bytes * 8;
  for (uint64_t h : hashes_) {
    for (int i = 0; i < probes; i++) {
      const uint64_t pos = Probe(h, i, bits);
      filter[pos / 8] = static_cast<char>(filter[pos / 8] | (1 << (pos % 8)));
    }
  }
  filter.push_back(static_cast<char>(probes));
  return filter;
}

bool BloomFilterMayMatch(std::string_view filter, std::string_view user_key) {
  if (filter.size() < 2) return true;
  const int probes = static_cast<uint8_t>(filter.back());
  if (probes < 1 || probes > 30) return true;
  const uint64_t bits = (filter.size() - 1) * 8;
  const uint64_t h = Hash64(user_key);
  for (int i = 0; i < probes; i++) {
    const uint64_t pos = Probe(h, i, bits);
    if ((static_cast<uint8_t>(filter[pos / 8]) & (1 << (pos % 8))) == 0) return false;
  }
  return true;
}

double BloomFilterTheoreticalFpRate(int bits_per_key) {
  const double k = ProbesFor(bits_per_key);
  return std::pow(1 - std::exp(-k / bits_per_key), k);
}

}  // namespace cairn::engine
