#include "server/hyperloglog.h"

#include <cmath>
#include <cstring>

namespace cairn::server::hll {
namespace {

constexpr int kP = 14;                 // index bits
constexpr int kQ = 64 - kP;            // bits left for the run of zeros
constexpr uint64_t kPMask = kRegisters - 1;
constexpr int kRegisterMax = 63;
constexpr uint8_t kDense = 0, kSparse = 1;
constexpr int kSparseValMax = 32, kSparseValMaxLen = 4, kSparseZeroMaxLen = 64;
constexpr double kAlphaInf = 0.721347520444481703680;  // 0.5 / ln 2

// Redis's MurmurHash64A (little-endian reads), seed 0xadc83b19.
uint64_t Murmur64A(std::string_view key, uint32_t seed) {
  const uint64_t m = 0xc6a4a7935bd1e995ULL;
  const int r = 47;
  const size_t len = key.size();
  uint64_t h = seed ^ (static_cast<uint64_t>(len) * m);
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  const uint8_t* end = data + (len - (len & 7));
  while (data != end) {
    uint64_t k;
    std::memcpy(&k, data, 8);
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
    data += 8;
  }
  switch (len & 7) {
    case 7: h ^= static_cast<uint64_t>(data[6]) << 48; [[fallthrough]];
    case 6: h ^= static_cast<uint64_t>(data[5]) << 40; [[fallthrough]];
    case 5: h ^= static_cast<uint64_t>(data[4]) << 32; [[fallthrough]];
    case 4: h ^= static_cast<uint64_t>(data[3]) << 24; [[fallthrough]];
    case 3: h ^= static_cast<uint64_t>(data[2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<uint64_t>(data[1]) << 8; [[fallthrough]];
    case 1:
      h ^= static_cast<uint64_t>(data[0]);
      h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

// The element's register and the length of its run of zeros plus one.
int PatternLength(std::string_view element, int* index) {
  uint64_t hash = Murmur64A(element, 0xadc83b19U);
  *index = static_cast<int>(hash & kPMask);
  hash >>= kP;
  hash |= uint64_t{1} << kQ;  // the loop ends, count <= Q + 1
  uint64_t bit = 1;
  int count = 1;
  while ((hash & bit) == 0) {
    count++;
    bit <<= 1;
  }
  return count;
}

uint8_t* Regs(std::string* v) { return reinterpret_cast<uint8_t*>(v->data()) + kHeaderSize; }
const uint8_t* Regs(std::string_view v) { return reinterpret_cast<const uint8_t*>(v.data()) + kHeaderSize; }

// Dense registers: the byte after the last register is read as zero (Redis reads the
// string's terminator there).
int DenseGet(const uint8_t* regs, int i) {
  const size_t byte = static_cast<size_t>(i) * 6 / 8;
  const unsigned fb = (static_cast<unsigned>(i) * 6) & 7;
  const unsigned fb8 = 8 - fb;
  const unsigned b0 = regs[byte];
  const unsigned b1 = byte + 1 < kDenseSize - kHeaderSize ? regs[byte + 1] : 0;
  return static_cast<int>(((b0 >> fb) | (b1 << fb8)) & kRegisterMax);
}

void DenseSet(uint8_t* regs, int i, int val) {
  const size_t byte = static_cast<size_t>(i) * 6 / 8;
  const unsigned fb = (static_cast<unsigned>(i) * 6) & 7;
  const unsigned fb8 = 8 - fb;
  const unsigned v = static_cast<unsigned>(val);
  regs[byte] = static_cast<uint8_t>((regs[byte] & ~(kRegisterMax << fb)) | (v << fb));
  if (byte + 1 < kDenseSize - kHeaderSize) {
    regs[byte + 1] = static_cast<uint8_t>((regs[byte + 1] & ~(kRegisterMax >> fb8)) | (v >> fb8));
  }
}

bool IsZero(uint8_t op) { return (op & 0xc0) == 0; }
bool IsXZero(uint8_t op) { return (op & 0xc0) == 0x40; }
bool IsVal(uint8_t op) { return (op & 0x80) != 0; }
int ZeroLen(uint8_t op) { return (op & 0x3f) + 1; }
int XZeroLen(const uint8_t* p) { return (((p[0] & 0x3f) << 8) | p[1]) + 1; }
int ValValue(uint8_t op) { return ((op >> 2) & 0x1f) + 1; }
int ValLen(uint8_t op) { return (op & 0x3) + 1; }
uint8_t ValOp(int val, int len) { return static_cast<uint8_t>(((val - 1) << 2 | (len - 1)) | 0x80); }

// Appends the opcodes of a run of `len` zero registers.
void AppendZeros(std::string* out, int len) {
  if (len > kSparseZeroMaxLen) {
    out->push_back(static_cast<char>(((len - 1) >> 8) | 0x40));
    out->push_back(static_cast<char>((len - 1) & 0xff));
  } else {
    out->push_back(static_cast<char>(len - 1));
  }
}

// Walks sparse opcodes: fn(first register, run length, value); false if corrupt.
template <typename Fn>
bool WalkSparse(std::string_view v, Fn fn) {
  const uint8_t* p = Regs(v);
  const uint8_t* end = reinterpret_cast<const uint8_t*>(v.data()) + v.size();
  int idx = 0;
  while (p < end) {
    int len, val = 0;
    if (IsZero(*p)) {
      len = ZeroLen(*p);
      p++;
    } else if (IsXZero(*p)) {
      if (p + 1 >= end) return false;
      len = XZeroLen(p);
      p += 2;
    } else {
      len = ValLen(*p);
      val = ValValue(*p);
      p++;
    }
    if (idx + len > kRegisters) return false;
    fn(idx, len, val);
    idx += len;
  }
  return idx == kRegisters;
}

bool SparseToDense(std::string* v) {
  if (IsDense(*v)) return true;
  std::string dense(kDenseSize, '\0');
  std::memcpy(dense.data(), v->data(), kHeaderSize);
  dense[4] = static_cast<char>(kDense);
  uint8_t* regs = Regs(&dense);
  if (!WalkSparse(*v, [&](int first, int len, int val) {
        if (val == 0) return;
        for (int i = 0; i < len; i++) DenseSet(regs, first + i, val);
      })) {
    return false;
  }
  *v = std::move(dense);
  return true;
}

int DenseAdd(std::string* v, int index, int count) {
  uint8_t* regs = Regs(v);
  if (count > DenseGet(regs, index)) {
    DenseSet(regs, index, count);
    return 1;
  }
  return 0;
}

// Redis's hllSparseSet, step for step (the opcodes it writes are the ones GET shows).
int SparseSet(std::string* v, int index, int count) {
  if (count > kSparseValMax) {
    if (!SparseToDense(v)) return -1;
    return DenseAdd(v, index, count);
  }
  auto* base = reinterpret_cast<uint8_t*>(v->data());
  size_t pos = kHeaderSize;  // the opcode covering index
  const size_t end = v->size();
  long first = 0, span = 0;
  long prev = -1;
  while (pos < end) {
    long oplen = 1;
    if (IsZero(base[pos])) {
      span = ZeroLen(base[pos]);
    } else if (IsVal(base[pos])) {
      span = ValLen(base[pos]);
    } else {
      if (pos + 1 >= end) return -1;
      span = XZeroLen(base + pos);
      oplen = 2;
    }
    if (index <= first + span - 1) break;
    prev = static_cast<long>(pos);
    pos += static_cast<size_t>(oplen);
    first += span;
  }
  if (span == 0 || pos >= end) return -1;
  const uint8_t op = base[pos];
  const bool is_zero = IsZero(op), is_xzero = IsXZero(op), is_val = IsVal(op);
  const long runlen = is_zero ? ZeroLen(op) : is_xzero ? XZeroLen(base + pos) : ValLen(op);
  bool simple = false;
  if (is_val) {
    if (ValValue(op) >= count) return 0;  // A: nothing to do
    if (runlen == 1) {                    // B: the run is this register alone
      base[pos] = ValOp(count, 1);
      simple = true;
    }
  }
  if (!simple && is_zero && runlen == 1) {  // C
    base[pos] = ValOp(count, 1);
    simple = true;
  }
  if (!simple) {
    // D: the run is split around the register.
    std::string seq;
    const long last = first + span - 1;
    if (is_zero || is_xzero) {
      if (index != first) AppendZeros(&seq, static_cast<int>(index - first));
      seq.push_back(static_cast<char>(ValOp(count, 1)));
      if (index != last) AppendZeros(&seq, static_cast<int>(last - index));
    } else {
      const int curval = ValValue(op);
      if (index != first) seq.push_back(static_cast<char>(ValOp(curval, static_cast<int>(index - first))));
      seq.push_back(static_cast<char>(ValOp(count, 1)));
      if (index != last) seq.push_back(static_cast<char>(ValOp(curval, static_cast<int>(last - index))));
    }
    const size_t oldlen = is_xzero ? 2 : 1;
    if (seq.size() > oldlen && v->size() + (seq.size() - oldlen) > kSparseMaxBytes) {
      if (!SparseToDense(v)) return -1;
      return DenseAdd(v, index, count);
    }
    v->replace(pos, oldlen, seq);
    base = reinterpret_cast<uint8_t*>(v->data());
  }
  // Adjacent VAL opcodes of one value are merged, scanning up to 5 from the previous one.
  size_t p = prev >= 0 ? static_cast<size_t>(prev) : kHeaderSize;
  int scan = 5;
  while (p < v->size() && scan--) {
    base = reinterpret_cast<uint8_t*>(v->data());
    if (IsXZero(base[p])) {
      p += 2;
      continue;
    }
    if (IsZero(base[p])) {
      p++;
      continue;
    }
    if (p + 1 < v->size() && IsVal(base[p + 1])) {
      const int v1 = ValValue(base[p]), v2 = ValValue(base[p + 1]);
      if (v1 == v2) {
        const int len = ValLen(base[p]) + ValLen(base[p + 1]);
        if (len <= kSparseValMaxLen) {
          base[p + 1] = ValOp(v1, len);
          v->erase(p, 1);
          continue;  // the merged one may merge again with its right neighbour
        }
      }
    }
    p++;
  }
  return 1;
}

void RegisterHistogram(std::string_view v, int histo[64], bool* ok) {
  *ok = true;
  if (IsDense(v)) {
    const uint8_t* regs = Regs(v);
    for (int i = 0; i < kRegisters; i++) histo[DenseGet(regs, i)]++;
    return;
  }
  *ok = WalkSparse(v, [&](int, int len, int val) { histo[val] += len; });
}

double Sigma(double x) {
  if (x == 1.) return INFINITY;
  double z_prime;
  double y = 1;
  double z = x;
  do {
    x *= x;
    z_prime = z;
    z += x * y;
    y += y;
  } while (z_prime != z);
  return z;
}

double Tau(double x) {
  if (x == 0. || x == 1.) return 0.;
  double z_prime;
  double y = 1.0;
  double z = 1 - x;
  do {
    x = std::sqrt(x);
    z_prime = z;
    y *= 0.5;
    z -= std::pow(1 - x, 2) * y;
  } while (z_prime != z);
  return z / 3;
}

uint64_t Estimate(const int histo[64]) {
  const double m = kRegisters;
  double z = m * Tau((m - histo[kQ + 1]) / m);
  for (int j = kQ; j >= 1; --j) {
    z += histo[j];
    z *= 0.5;
  }
  z += m * Sigma(histo[0] / m);
  return static_cast<uint64_t>(std::llroundl(kAlphaInf * m * m / z));
}

}  // namespace

std::string Create() {
  std::string v(kHeaderSize, '\0');
  std::memcpy(v.data(), "HYLL", 4);
  v[4] = static_cast<char>(kSparse);
  AppendZeros(&v, kRegisters);  // one XZERO
  return v;
}

bool IsDense(std::string_view value) { return value.size() > 4 && value[4] == kDense; }

bool IsValid(std::string_view value) {
  if (value.size() < kHeaderSize || value.substr(0, 4) != "HYLL") return false;
  const uint8_t encoding = static_cast<uint8_t>(value[4]);
  if (encoding > kSparse) return false;
  if (encoding == kDense && value.size() != kDenseSize) return false;
  return true;
}

void InvalidateCache(std::string* value) {
  (*value)[15] = static_cast<char>(static_cast<uint8_t>((*value)[15]) | 0x80);
}

int Add(std::string* value, std::string_view element) {
  int index;
  const int count = PatternLength(element, &index);
  if (IsDense(*value)) return DenseAdd(value, index, count);
  return SparseSet(value, index, count);
}

bool MergeInto(std::string_view value, Registers* registers) {
  if (IsDense(value)) {
    const uint8_t* regs = Regs(value);
    for (int i = 0; i < kRegisters; i++) {
      (*registers)[i] = std::max<uint8_t>((*registers)[i], static_cast<uint8_t>(DenseGet(regs, i)));
    }
    return true;
  }
  return WalkSparse(value, [&](int first, int len, int val) {
    if (val == 0) return;
    for (int i = first; i < first + len; i++) {
      (*registers)[i] = std::max<uint8_t>((*registers)[i], static_cast<uint8_t>(val));
    }
  });
}

bool Count(std::string_view value, uint64_t* count) {
  if ((static_cast<uint8_t>(value[15]) & 0x80) == 0) {
    uint64_t card = 0;
    for (int i = 7; i >= 0; i--) card = (card << 8) | static_cast<uint8_t>(value[8 + i]);
    *count = card;
    return true;
  }
  int histo[64] = {0};
  bool ok;
  RegisterHistogram(value, histo, &ok);
  if (!ok) return false;
  *count = Estimate(histo);
  return true;
}

uint64_t CountRegisters(const Registers& registers) {
  int histo[64] = {0};
  for (uint8_t r : registers) histo[r & 63]++;
  return Estimate(histo);
}

bool Store(std::string* value, const Registers& registers, bool dense) {
  if (dense && !SparseToDense(value)) return false;
  for (int i = 0; i < kRegisters; i++) {
    if (registers[i] == 0) continue;
    const int r = IsDense(*value) ? DenseAdd(value, i, registers[i]) : SparseSet(value, i, registers[i]);
    if (r < 0) return false;
  }
  InvalidateCache(value);
  return true;
}

}  // namespace cairn::server::hll
