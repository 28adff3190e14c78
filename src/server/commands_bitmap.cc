// Bitmap commands (Redis 7.0 semantics) on string values: SETBIT GETBIT BITCOUNT BITPOS
// BITOP BITFIELD BITFIELD_RO. Bit 0 is the most significant bit of the first byte, as in
// Redis; a string grows with zero bytes to fit the highest bit set.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "base/status.h"
#include "server/command.h"

namespace cairn::server {
namespace {

using store::Record;
using store::ValueType;

constexpr const char* kErrBitOffset = "ERR bit offset is not an integer or out of range";
constexpr const char* kErrBitValue = "ERR bit is not an integer or out of range";
constexpr const char* kErrBitfieldType =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

int Db(const CommandContext& c) { return c.client.db.load(std::memory_order_relaxed); }

std::string Lower(std::string_view s) {
  std::string out(s);
  absl::AsciiStrToLower(&out);
  return out;
}

bool ReadString(CommandContext& c, std::string_view key, Record* r, bool* found) {
  return ReadStringValue(c, key, r, found);
}

bool Write(CommandContext& c, std::string_view key, const Record& r) { return WriteStringValue(c, key, r); }

// A bit offset: 0 .. proto-max-bulk-len * 8 - 1 (Redis: 2^32 - 1 with the default 512 MB).
bool ParseBitOffset(CommandContext& c, std::string_view arg, uint64_t* offset) {
  int64_t v;
  const uint64_t max_bytes = c.server.config->Get().proto_max_bulk_len;
  if (!ParseInt64(arg, &v) || v < 0 || (static_cast<uint64_t>(v) >> 3) >= max_bytes) {
    c.out.Error(kErrBitOffset);
    return false;
  }
  *offset = static_cast<uint64_t>(v);
  return true;
}

int GetBitAt(std::string_view s, uint64_t bit) {
  const uint64_t byte = bit >> 3;
  if (byte >= s.size()) return 0;
  return (static_cast<uint8_t>(s[byte]) >> (7 - (bit & 7))) & 1;
}

void SetBitAt(std::string* s, uint64_t bit, int value) {
  const uint64_t byte = bit >> 3;
  if (byte >= s->size()) s->resize(byte + 1, '\0');
  const uint8_t mask = static_cast<uint8_t>(1u << (7 - (bit & 7)));
  uint8_t b = static_cast<uint8_t>((*s)[byte]);
  b = value ? (b | mask) : (b & ~mask);
  (*s)[byte] = static_cast<char>(b);
}

void SetBit(CommandContext& c) {
  uint64_t offset;
  if (!ParseBitOffset(c, c.args[2], &offset)) return;
  if (c.args[3] != "0" && c.args[3] != "1") return c.out.Error(kErrBitValue);
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  if (!found) r = Record{};
  const int old = GetBitAt(r.value, offset);
  SetBitAt(&r.value, offset, c.args[3] == "1");
  if (Write(c, c.args[1], r)) c.out.Integer(old);
}

void GetBit(CommandContext& c) {
  uint64_t offset;
  if (!ParseBitOffset(c, c.args[2], &offset)) return;
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  c.out.Integer(found ? GetBitAt(r.value, offset) : 0);
}

// A [start, end] range of a string of `len` units (bytes or bits), Redis's way: negative
// values count from the end; false when it is empty.
bool ClampRange(int64_t len, int64_t* start, int64_t* end) {
  if (*start < 0) *start = len + *start;
  if (*end < 0) *end = len + *end;
  if (*start < 0) *start = 0;
  if (*end < 0) *end = 0;
  if (*end >= len) *end = len - 1;
  return len > 0 && *start <= *end;
}

// BYTE or BIT (Redis 7); false after replying with a syntax error.
bool ParseUnit(CommandContext& c, std::string_view arg, bool* bits) {
  const std::string u = Lower(arg);
  if (u == "bit") {
    *bits = true;
  } else if (u == "byte") {
    *bits = false;
  } else {
    c.out.Error(kErrSyntax);
    return false;
  }
  return true;
}

// The bits [first, last] of s set to 1 (bit positions, last < 8 * s.size()).
uint64_t CountBits(std::string_view s, uint64_t first, uint64_t last) {
  uint64_t count = 0;
  uint64_t bit = first;
  while (bit <= last && (bit & 7) != 0) count += GetBitAt(s, bit++);
  while (bit + 64 <= last + 1) {
    uint64_t word;
    std::memcpy(&word, s.data() + (bit >> 3), 8);
    count += static_cast<uint64_t>(std::popcount(word));
    bit += 64;
  }
  while (bit + 8 <= last + 1) {
    count += static_cast<uint64_t>(std::popcount(static_cast<uint8_t>(s[bit >> 3])));
    bit += 8;
  }
  while (bit <= last) count += GetBitAt(s, bit++);
  return count;
}

void BitCount(CommandContext& c) {
  // Redis looks the key up first: a missing key is 0 whatever the other arguments.
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  if (!found) return c.out.Integer(0);
  const size_t n = c.args.size();
  if (n != 2 && n != 4 && n != 5) return c.out.Error(kErrSyntax);
  int64_t start = 0, end = -1;
  bool bits = false;
  if (n >= 4) {
    if (!ParseInt64(c.args[2], &start) || !ParseInt64(c.args[3], &end)) {
      return c.out.Error(kErrNotInteger);
    }
    if (n == 5 && !ParseUnit(c, c.args[4], &bits)) return;
  }
  const int64_t len = static_cast<int64_t>(r.value.size()) * (bits ? 8 : 1);
  if (!ClampRange(len, &start, &end)) return c.out.Integer(0);
  const uint64_t first = static_cast<uint64_t>(bits ? start : start * 8);
  const uint64_t last = static_cast<uint64_t>(bits ? end : end * 8 + 7);
  c.out.Integer(static_cast<int64_t>(CountBits(r.value, first, last)));
}

void BitPos(CommandContext& c) {
  // Redis's order: the bit, then the key (missing: an endless run of zeros), then the range.
  int64_t want;
  if (!ParseInt64(c.args[2], &want)) return c.out.Error(kErrNotInteger);
  if (want != 0 && want != 1) return c.out.Error("ERR The bit argument must be 1 or 0.");
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  if (!found) return c.out.Integer(want ? -1 : 0);
  const size_t n = c.args.size();
  if (n > 6) return c.out.Error(kErrSyntax);
  int64_t start = 0, end = -1;
  bool bits = false, end_given = false;
  if (n >= 4 && !ParseInt64(c.args[3], &start)) return c.out.Error(kErrNotInteger);
  if (n == 6 && !ParseUnit(c, c.args[5], &bits)) return;
  if (n >= 5) {
    if (!ParseInt64(c.args[4], &end)) return c.out.Error(kErrNotInteger);
    end_given = true;
  }
  const int64_t len = static_cast<int64_t>(r.value.size()) * (bits ? 8 : 1);
  if (!ClampRange(len, &start, &end)) return c.out.Integer(-1);
  const uint64_t first = static_cast<uint64_t>(bits ? start : start * 8);
  const uint64_t last = static_cast<uint64_t>(bits ? end : end * 8 + 7);
  for (uint64_t bit = first; bit <= last; bit++) {
    // Whole bytes that cannot hold the bit sought are skipped.
    if ((bit & 7) == 0 && bit + 7 <= last) {
      const uint8_t b = static_cast<uint8_t>(r.value[bit >> 3]);
      if ((want && b == 0) || (!want && b == 0xff)) {
        bit += 7;
        continue;
      }
    }
    if (GetBitAt(r.value, bit) == want) return c.out.Integer(static_cast<int64_t>(bit));
  }
  // Looking for a 0 in a range of ones with no end given: the string is taken as padded
  // with zeros on the right, so the first bit past it (Redis).
  if (!want && !end_given) return c.out.Integer(static_cast<int64_t>(last + 1));
  c.out.Integer(-1);
}

void BitOp(CommandContext& c) {
  const std::string op = Lower(c.args[1]);
  if (op != "and" && op != "or" && op != "xor" && op != "not") return c.out.Error(kErrSyntax);
  const size_t sources = c.args.size() - 3;
  if (op == "not" && sources != 1) {
    return c.out.Error("ERR BITOP NOT must be called with a single source key.");
  }
  std::vector<std::string> values;
  size_t longest = 0;
  for (size_t i = 3; i < c.args.size(); i++) {
    Record r;
    bool found;
    if (!ReadString(c, c.args[i], &r, &found)) return;
    values.push_back(found ? std::move(r.value) : std::string());
    longest = std::max(longest, values.back().size());
  }
  const char kind = op[0];  // 'a'nd, 'o'r, 'x'or, 'n'ot
  std::string out(longest, '\0');
  for (size_t j = 0; j < longest; j++) {
    auto at = [&](size_t k) -> uint8_t {
      return j < values[k].size() ? static_cast<uint8_t>(values[k][j]) : 0;
    };
    uint8_t b = at(0);
    if (kind == 'n') {
      b = static_cast<uint8_t>(~b);
    } else {
      for (size_t k = 1; k < values.size(); k++) {
        const uint8_t x = at(k);
        b = kind == 'a' ? (b & x) : kind == 'o' ? (b | x) : (b ^ x);
      }
    }
    out[j] = static_cast<char>(b);
  }
  if (out.empty()) {
    absl::Status s = c.server.backend->Delete(Db(c), c.args[2]);
    if (!s.ok() && !absl::IsNotFound(s)) return ReplyStatusError(c.out, s);
    return c.out.Integer(0);
  }
  Record r;
  r.value = std::move(out);
  const int64_t size = static_cast<int64_t>(r.value.size());
  if (Write(c, c.args[2], r)) c.out.Integer(size);
}

// BITFIELD ------------------------------------------------------------------------------

struct FieldType {
  bool is_signed = false;
  int bits = 0;
};

bool ParseFieldType(std::string_view arg, FieldType* t) {
  if (arg.size() < 2 || (arg[0] != 'i' && arg[0] != 'I' && arg[0] != 'u' && arg[0] != 'U')) return false;
  t->is_signed = arg[0] == 'i' || arg[0] == 'I';
  int64_t bits;
  if (!ParseInt64(arg.substr(1), &bits)) return false;
  if (bits < 1 || (t->is_signed && bits > 64) || (!t->is_signed && bits > 63)) return false;
  t->bits = static_cast<int>(bits);
  return true;
}

// "#N" is N times the type's width.
bool ParseFieldOffset(CommandContext& c, std::string_view arg, const FieldType& t, uint64_t* offset) {
  bool hash = !arg.empty() && arg[0] == '#';
  int64_t v;
  if (!ParseInt64(hash ? arg.substr(1) : arg, &v) || v < 0) {
    c.out.Error(kErrBitOffset);
    return false;
  }
  const uint64_t max_bytes = c.server.config->Get().proto_max_bulk_len;
  const unsigned __int128 bit = hash ? static_cast<unsigned __int128>(v) * static_cast<unsigned>(t.bits)
                                     : static_cast<unsigned __int128>(v);
  if ((bit >> 3) >= max_bytes) {  // Redis checks where the field starts
    c.out.Error(kErrBitOffset);
    return false;
  }
  *offset = static_cast<uint64_t>(bit);
  return true;
}

uint64_t ReadField(std::string_view s, uint64_t offset, int bits) {
  uint64_t v = 0;
  for (int i = 0; i < bits; i++) v = (v << 1) | static_cast<uint64_t>(GetBitAt(s, offset + i));
  return v;
}

void WriteField(std::string* s, uint64_t offset, int bits, uint64_t v) {
  for (int i = 0; i < bits; i++) SetBitAt(s, offset + i, static_cast<int>((v >> (bits - 1 - i)) & 1));
}

int64_t AsSigned(uint64_t v, int bits) {
  if (bits == 64) return static_cast<int64_t>(v);
  const uint64_t sign = uint64_t{1} << (bits - 1);
  return static_cast<int64_t>((v ^ sign) - sign);
}

enum class Overflow { kWrap, kSat, kFail };

// value + incr in the type, with the overflow rule; nullopt: FAIL and it overflowed.
std::optional<int64_t> AddInType(int64_t value, int64_t incr, const FieldType& t, Overflow o, bool set) {
  if (t.is_signed) {
    const __int128 max = (static_cast<__int128>(1) << (t.bits - 1)) - 1;
    const __int128 min = -(static_cast<__int128>(1) << (t.bits - 1));
    const __int128 sum = set ? static_cast<__int128>(incr) : static_cast<__int128>(value) + incr;
    if (sum >= min && sum <= max) return static_cast<int64_t>(sum);
    if (o == Overflow::kFail) return std::nullopt;
    if (o == Overflow::kSat) return static_cast<int64_t>(sum > max ? max : min);
    const uint64_t mask = t.bits == 64 ? ~uint64_t{0} : (uint64_t{1} << t.bits) - 1;
    return AsSigned(static_cast<uint64_t>(sum) & mask, t.bits);
  }
  const __int128 max = (static_cast<__int128>(1) << t.bits) - 1;
  // SET takes the value as unsigned 64 bits (Redis: -1 is above every maximum).
  const __int128 sum = set ? static_cast<__int128>(static_cast<uint64_t>(incr))
                           : static_cast<__int128>(value) + incr;
  if (sum >= 0 && sum <= max) return static_cast<int64_t>(sum);
  if (o == Overflow::kFail) return std::nullopt;
  if (o == Overflow::kSat) return static_cast<int64_t>(sum > max ? max : 0);
  const uint64_t mask = (uint64_t{1} << t.bits) - 1;
  return static_cast<int64_t>(static_cast<uint64_t>(sum) & mask);
}

void BitFieldImpl(CommandContext& c, bool read_only) {
  struct Op {
    enum Kind { kGet, kSet, kIncr } kind;
    FieldType type;
    uint64_t offset;
    int64_t arg = 0;
    Overflow overflow;
  };
  std::vector<Op> ops;
  Overflow overflow = Overflow::kWrap;
  bool writes = false;
  for (size_t i = 2; i < c.args.size();) {
    const std::string sub = Lower(c.args[i]);
    const size_t left = c.args.size() - i - 1;
    if (sub == "overflow" && left >= 1) {
      const std::string how = Lower(c.args[i + 1]);
      if (how == "wrap") {
        overflow = Overflow::kWrap;
      } else if (how == "sat") {
        overflow = Overflow::kSat;
      } else if (how == "fail") {
        overflow = Overflow::kFail;
      } else {
        return c.out.Error("ERR Invalid OVERFLOW type specified");
      }
      i += 2;
      continue;
    }
    Op op;
    if (sub == "get" && left >= 2) {
      op.kind = Op::kGet;
    } else if ((sub == "set" || sub == "incrby") && left >= 3) {
      op.kind = sub == "set" ? Op::kSet : Op::kIncr;
    } else {
      return c.out.Error(kErrSyntax);
    }
    if (!ParseFieldType(c.args[i + 1], &op.type)) return c.out.Error(kErrBitfieldType);
    if (!ParseFieldOffset(c, c.args[i + 2], op.type, &op.offset)) return;
    if (op.kind != Op::kGet && !ParseInt64(c.args[i + 3], &op.arg)) return c.out.Error(kErrNotInteger);
    op.overflow = overflow;
    writes |= op.kind != Op::kGet;
    ops.push_back(op);
    i += op.kind == Op::kGet ? 3 : 4;
  }
  // Redis parses every operation before it refuses BITFIELD_RO's writes.
  if (read_only && writes) return c.out.Error("ERR BITFIELD_RO only supports the GET subcommand");
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  if (!found) r = Record{};
  bool changed = false;
  if (writes) {
    // As Redis: the string is made long enough for the farthest bit a write reaches
    // before any op runs (so even failed writes leave it so).
    uint64_t highest = 0;
    for (const Op& op : ops) {
      if (op.kind != Op::kGet) highest = std::max(highest, op.offset + static_cast<uint64_t>(op.type.bits) - 1);
    }
    if (r.value.size() < (highest >> 3) + 1 || !found) {
      r.value.resize(std::max<size_t>(r.value.size(), (highest >> 3) + 1), '\0');
      changed = true;
    }
  }
  std::vector<std::optional<int64_t>> results;
  for (const Op& op : ops) {
    const uint64_t raw = ReadField(r.value, op.offset, op.type.bits);
    const int64_t old = op.type.is_signed ? AsSigned(raw, op.type.bits) : static_cast<int64_t>(raw);
    if (op.kind == Op::kGet) {
      results.push_back(old);
      continue;
    }
    const std::optional<int64_t> next =
        AddInType(old, op.arg, op.type, op.overflow, /*set=*/op.kind == Op::kSet);
    if (!next) {
      results.push_back(std::nullopt);
      continue;
    }
    WriteField(&r.value, op.offset, op.type.bits, static_cast<uint64_t>(*next));
    changed = true;
    results.push_back(op.kind == Op::kSet ? old : *next);
  }
  if (writes && changed && !Write(c, c.args[1], r)) return;
  c.out.ArrayHeader(results.size());
  for (const auto& v : results) {
    if (v) {
      c.out.Integer(*v);
    } else {
      c.out.Null();
    }
  }
}

void BitField(CommandContext& c) { BitFieldImpl(c, false); }
void BitFieldRo(CommandContext& c) { BitFieldImpl(c, true); }

const CommandSpec kCommands[] = {
    {"setbit", 4, kWrite | kDenyOom | kInPlace, 1, 1, 1, SetBit, "bitmap",
     "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist."},
    {"getbit", 3, kReadOnly | kFast, 1, 1, 1, GetBit, "bitmap", "Returns a bit value by offset."},
    {"bitcount", -2, kReadOnly, 1, 1, 1, BitCount, "bitmap", "Counts the number of set bits (population counting) in a string."},
    {"bitpos", -3, kReadOnly, 1, 1, 1, BitPos, "bitmap", "Finds the first set (1) or clear (0) bit in a string."},
    {"bitop", -4, kWrite | kDenyOom, 2, -1, 1, BitOp, "bitmap",
     "Performs bitwise operations on multiple strings, and stores the result."},
    {"bitfield", -2, kWrite | kDenyOom | kInPlace, 1, 1, 1, BitField, "bitmap",
     "Performs arbitrary bitfield integer operations on strings."},
    {"bitfield_ro", -2, kReadOnly | kFast, 1, 1, 1, BitFieldRo, "bitmap",
     "Performs arbitrary read-only bitfield integer operations on strings."},
};

}  // namespace

void RegisterBitmapCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& c : kCommands) table->push_back(&c);
}

}  // namespace cairn::server
