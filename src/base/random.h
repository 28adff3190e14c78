// Small, fast, seedable pseudo-random generator (splitmix64) for tests, skiplist
// heights and workload generation. Not for cryptography. Not thread-safe.
#ifndef CAIRN_BASE_RANDOM_H_
#define CAIRN_BASE_RANDOM_H_

#include <cstdint>

namespace cairn {

class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Uniform(uint64_t n) { return Next() % n; }
  // True with probability 1/n.
  bool OneIn(uint64_t n) { return Uniform(n) == 0; }

 private:
  uint64_t state_;
};

}  // namespace cairn

#endif  // CAIRN_BASE_RANDOM_H_
