// HyperLogLog in Redis's own format (Redis 7.0 `hyperloglog.c`; docs/commands.md,
// "HyperLogLog"), so that values written by either are read by the other and GET shows
// the same bytes:
//
//   "HYLL" | encoding (0 dense, 1 sparse) | 3 unused bytes | cached cardinality (8 bytes,
//   little endian; top bit of the last byte set: not valid) | registers
//
// 16384 registers of 6 bits. Dense: 12288 bytes, register i at bit 6i, least significant
// bits first. Sparse: runs of opcodes, ZERO `00xxxxxx` (1-64 zero registers), XZERO
// `01xxxxxx yyyyyyyy` (1-16384), VAL `1vvvvvxx` (1-4 registers of value 1-32). A value is
// sparse until a register would exceed 32 or the value 3000 bytes (`hll-sparse-max-bytes`).
// An element's register and count come from MurmurHash64A (seed 0xadc83b19); cardinality
// from Ertl's estimator. Pure functions over strings; no locking.
#ifndef CAIRN_SERVER_HYPERLOGLOG_H_
#define CAIRN_SERVER_HYPERLOGLOG_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::server::hll {

inline constexpr int kRegisters = 16384;
inline constexpr size_t kHeaderSize = 16;
inline constexpr size_t kDenseSize = kHeaderSize + (kRegisters * 6 + 7) / 8;
inline constexpr size_t kSparseMaxBytes = 3000;

using Registers = std::array<uint8_t, kRegisters>;  // one byte per register

// A new, empty HLL (sparse), as PFADD makes one.
std::string Create();
// Whether `value` is an HLL Redis would accept (magic, encoding, dense length).
bool IsValid(std::string_view value);
// Adds an element; returns 1 if a register changed, 0 if not, -1 if the value is corrupt.
int Add(std::string* value, std::string_view element);
// Registers: max(registers[i], value's register i); false if the value is corrupt.
bool MergeInto(std::string_view value, Registers* registers);
// The cardinality estimate; false if corrupt. Uses the cache when valid.
bool Count(std::string_view value, uint64_t* count);
// The cardinality of a register set (the union of PFCOUNT of several keys).
uint64_t CountRegisters(const Registers& registers);
// Sets every register of value to the max of it and `registers` (PFMERGE's target),
// turning it dense first if `dense`; false if corrupt. Invalidates the cache.
bool Store(std::string* value, const Registers& registers, bool dense);
// Marks the cached cardinality not valid (after a change).
void InvalidateCache(std::string* value);
bool IsDense(std::string_view value);

}  // namespace cairn::server::hll

#endif  // CAIRN_SERVER_HYPERLOGLOG_H_
