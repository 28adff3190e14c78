#include "server/rdb_payload.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cairn::server {
namespace {

// What decoding one payload may produce: each string's bytes plus kElementCost for each
// element it yields, at most DecodeBudget(payload) in all. A payload of a few bytes can
// describe gigabytes (LZF runs, a listpack of one-byte integers, each a std::string and
// later a write); past the budget it is "Bad data format" instead of a server out of
// memory. Set by ParseRdbPayload for its thread, for its duration.
constexpr uint64_t kElementCost = 64;
constexpr uint64_t kMinDecodeBytes = 64ull << 20;
constexpr uint64_t kMaxDecodeBytes = 2ull << 30;
thread_local uint64_t decode_left = UINT64_MAX;
thread_local uint64_t max_string_bytes = UINT64_MAX;

bool Charge(uint64_t bytes) {
  if (bytes > decode_left) return false;
  decode_left -= bytes;
  return true;
}
bool ChargeElement(uint64_t bytes) { return Charge(kElementCost + bytes); }


// Redis's crc64: the Jones polynomial 0xad93d23594c935a9, bit-reflected.
constexpr uint64_t kCrcPolyReflected = 0x95ac9329ac4bc9b5ULL;

constexpr std::array<uint64_t, 256> MakeCrcTable() {
  std::array<uint64_t, 256> t{};
  for (uint64_t i = 0; i < 256; i++) {
    uint64_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ kCrcPolyReflected : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint64_t, 256> kCrcTable = MakeCrcTable();

// LZF's longest back-reference is 264 bytes from 3 bytes of input: a claimed length
// beyond 88 times the compressed size cannot be genuine, and is refused before allocating.
constexpr uint64_t kLzfMaxRatio = 88;
// A stream's same-field entries may copy at most this much of their master fields: 64 MB
// plus 64 times the payload, far more than real streams share (field names are short).
constexpr uint64_t kMaxSharedFieldBytes = uint64_t{64} << 20;
constexpr uint64_t kMaxSharedFieldRatio = 64;

absl::Status BadFormat(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("bad DUMP payload: ", std::string(what)));
}

uint64_t LoadLE(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t LoadBE(const char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
// The n-byte little-endian two's-complement integer at p.
int64_t LoadSignedLE(const char* p, int n) {
  const uint64_t v = LoadLE(p, n);
  if (n == 8) return static_cast<int64_t>(v);
  const uint64_t sign = uint64_t{1} << (8 * n - 1);
  return static_cast<int64_t>((v ^ sign) - sign);
}

// A score written as text (ZSET, ziplist and listpack scores): the whole string, not NaN.
bool ParseScore(std::string_view s, double* d) {
  if (s.empty() || s.size() > 256) return false;
  const std::string z(s);
  char* end = nullptr;
  *d = std::strtod(z.c_str(), &end);
  return end == z.c_str() + z.size() && !std::isnan(*d);
}

bool LzfDecompress(std::string_view in, std::string* out) {
  const size_t want = out->size();
  size_t ip = 0, op = 0;
  while (ip < in.size()) {
    const unsigned ctrl = static_cast<uint8_t>(in[ip++]);
    if (ctrl < 32) {  // a literal run of ctrl + 1 bytes
      const size_t n = ctrl + 1;
      if (n > in.size() - ip || n > want - op) return false;
      std::memcpy(out->data() + op, in.data() + ip, n);
      ip += n;
      op += n;
      continue;
    }
    size_t len = ctrl >> 5;  // a back-reference of len + 2 bytes
    if (len == 7) {
      if (ip >= in.size()) return false;
      len += static_cast<uint8_t>(in[ip++]);
    }
    if (ip >= in.size()) return false;
    const size_t offset = ((ctrl & 0x1f) << 8) + static_cast<uint8_t>(in[ip++]) + 1;
    len += 2;
    if (offset > op || len > want - op) return false;
    // Byte by byte: the source may overlap what this copy writes (a repeated pattern).
    for (size_t i = 0; i < len; i++, op++) (*out)[op] = (*out)[op - offset];
  }
  return op == want;
}

// Reads RDB primitives from a body whose every length is checked against what remains.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  size_t remaining() const { return b_.size() - pos_; }

  bool Byte(uint8_t* v) {
    if (pos_ >= b_.size()) return false;
    *v = static_cast<uint8_t>(b_[pos_++]);
    return true;
  }
  bool Bytes(size_t n, std::string_view* v) {
    if (n > remaining()) return false;
    *v = b_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // An RDB length; *special is set for a string's special encoding (number in *v).
  bool Length(uint64_t* v, bool* special) {
    *special = false;
    uint8_t b;
    if (!Byte(&b)) return false;
    std::string_view rest;
    switch (b >> 6) {
      case 0:
        *v = b & 0x3f;
        return true;
      case 1:
        if (!Bytes(1, &rest)) return false;
        *v = (uint64_t{b & 0x3fu} << 8) | static_cast<uint8_t>(rest[0]);
        return true;
      case 2:
        if (b == 0x80 && Bytes(4, &rest)) {
          *v = LoadBE(rest.data(), 4);
          return true;
        }
        if (b == 0x81 && Bytes(8, &rest)) {
          *v = LoadBE(rest.data(), 8);
          return true;
        }
        return false;
      default:
        *special = true;
        *v = b & 0x3f;
        return true;
    }
  }
  // A plain length (no special encoding).
  bool Count(uint64_t* v) {
    bool special;
    return Length(v, &special) && !special;
  }
  // A collection's element count: each element takes at least a byte.
  bool CollectionCount(uint64_t* v) { return Count(v) && *v > 0 && *v <= remaining(); }

  bool String(std::string* s) {
    uint64_t len;
    bool special;
    if (!Length(&len, &special)) return false;
    if (!special) {
      std::string_view v;
      if (!Bytes(len, &v) || !Charge(len)) return false;
      s->assign(v.data(), v.size());
      return true;
    }
    std::string_view v;
    switch (len) {
      case 0:  // integers: 8, 16 and 32 bits, little-endian
      case 1:
      case 2: {
        const int n = 1 << len;
        if (!Bytes(n, &v)) return false;
        *s = absl::StrCat(LoadSignedLE(v.data(), n));
        return true;
      }
      case 3: {  // LZF: compressed length, original length, compressed bytes
        uint64_t clen, ulen;
        if (!Count(&clen) || !Count(&ulen) || !Bytes(clen, &v)) return false;
        if (ulen == 0 || ulen > clen * kLzfMaxRatio || ulen > max_string_bytes || !Charge(ulen)) return false;
        s->assign(ulen, '\0');
        return LzfDecompress(v, s);
      }
      default:
        return false;
    }
  }
  bool BinaryDouble(double* d) {
    std::string_view v;
    if (!Bytes(8, &v)) return false;
    const uint64_t bits = LoadLE(v.data(), 8);
    std::memcpy(d, &bits, 8);
    return true;
  }
  // A time in milliseconds: 8 bytes little-endian.
  bool Millis(int64_t* v) {
    std::string_view b;
    if (!Bytes(8, &b)) return false;
    *v = static_cast<int64_t>(LoadLE(b.data(), 8));
    return true;
  }
  // A stream ID as PELs carry it: 16 raw bytes, big-endian ms then seq.
  bool RawId(RdbStreamId* id) {
    std::string_view b;
    if (!Bytes(16, &b)) return false;
    *id = {LoadBE(b.data(), 8), LoadBE(b.data() + 8, 8)};
    return true;
  }
  // A stream ID as two lengths.
  bool LengthId(RdbStreamId* id) { return Count(&id->ms) && Count(&id->seq); }
  // RDB_TYPE_ZSET's score: a length byte (253 NaN, 254 +inf, 255 -inf) and the text.
  bool TextDouble(double* d) {
    uint8_t len;
    if (!Byte(&len)) return false;
    if (len == 253) return false;  // NaN: Redis refuses such a score too
    if (len == 254 || len == 255) {
      *d = len == 254 ? HUGE_VAL : -HUGE_VAL;
      return true;
    }
    std::string_view v;
    return Bytes(len, &v) && ParseScore(v, d);
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

// A ziplist (Redis < 7.0's compact encoding): zlbytes, zltail, zllen, entries, 0xff.
bool ParseZiplist(std::string_view z, std::vector<std::string>* out) {
  constexpr size_t kHeader = 10;
  if (z.size() < kHeader + 1 || LoadLE(z.data(), 4) != z.size() ||
      LoadLE(z.data() + 4, 4) >= z.size() || static_cast<uint8_t>(z.back()) != 0xff) {
    return false;
  }
  const size_t end = z.size() - 1;
  size_t pos = kHeader;
  while (pos < end) {
    const uint8_t prev = static_cast<uint8_t>(z[pos]);
    if (prev == 0xff) return false;
    pos += prev < 254 ? 1 : 5;
    if (pos >= end) return false;
    const uint8_t enc = static_cast<uint8_t>(z[pos]);
    const size_t avail = end - pos;
    uint64_t len = 0;
    size_t header = 1;
    int int_bytes = -1;
    switch (enc >> 6) {
      case 0:
        len = enc & 0x3f;
        break;
      case 1:
        if (avail < 2) return false;
        header = 2;
        len = (uint64_t{enc & 0x3fu} << 8) | static_cast<uint8_t>(z[pos + 1]);
        break;
      case 2:
        if (avail < 5) return false;
        header = 5;
        len = LoadBE(z.data() + pos + 1, 4);
        break;
      default:
        switch (enc) {
          case 0xc0:
            int_bytes = 2;
            break;
          case 0xd0:
            int_bytes = 4;
            break;
          case 0xe0:
            int_bytes = 8;
            break;
          case 0xf0:
            int_bytes = 3;
            break;
          case 0xfe:
            int_bytes = 1;
            break;
          default:
            if (enc < 0xf1 || enc > 0xfd) return false;
            int_bytes = 0;  // an immediate 0..12 in the low bits
        }
    }
    if (int_bytes >= 0) {
      if (avail < 1 + static_cast<size_t>(int_bytes)) return false;
      const int64_t v =
          int_bytes == 0 ? (enc & 0x0f) - 1 : LoadSignedLE(z.data() + pos + 1, int_bytes);
      if (!ChargeElement(20)) return false;
      out->push_back(absl::StrCat(v));
      pos += 1 + int_bytes;
      continue;
    }
    if (len > avail - header) return false;
    if (!ChargeElement(len)) return false;
    out->emplace_back(z.substr(pos + header, len));
    pos += header + len;
  }
  return pos == end;
}

// A listpack (Redis 7's compact encoding): total bytes, count, entries (each followed by
// its length backwards, 1-5 bytes), 0xff.
bool ParseListpack(std::string_view z, std::vector<std::string>* out) {
  constexpr size_t kHeader = 6;
  if (z.size() < kHeader + 1 || LoadLE(z.data(), 4) != z.size() ||
      static_cast<uint8_t>(z.back()) != 0xff) {
    return false;
  }
  const size_t end = z.size() - 1;
  size_t pos = kHeader;
  while (pos < end) {
    const uint8_t b = static_cast<uint8_t>(z[pos]);
    const size_t avail = end - pos;
    uint64_t entry = 0;  // encoding and data, without the back-length
    bool is_int = true;
    int64_t v = 0;
    size_t header = 1;
    if ((b & 0x80) == 0) {
      v = b & 0x7f;
      entry = 1;
    } else if ((b & 0xc0) == 0x80) {
      is_int = false;
      entry = 1 + (b & 0x3f);
    } else if ((b & 0xe0) == 0xc0) {
      if (avail < 2) return false;
      v = ((b & 0x1f) << 8) | static_cast<uint8_t>(z[pos + 1]);
      if (v >= 4096) v -= 8192;  // 13-bit two's complement
      entry = 2;
    } else if ((b & 0xf0) == 0xe0) {
      if (avail < 2) return false;
      is_int = false;
      header = 2;
      entry = 2 + ((uint64_t{b & 0x0fu} << 8) | static_cast<uint8_t>(z[pos + 1]));
    } else if (b == 0xf0) {
      if (avail < 5) return false;
      is_int = false;
      header = 5;
      entry = 5 + LoadLE(z.data() + pos + 1, 4);
    } else if (b >= 0xf1 && b <= 0xf4) {
      static constexpr int kBytes[] = {2, 3, 4, 8};
      const int n = kBytes[b - 0xf1];
      if (avail < 1 + static_cast<size_t>(n)) return false;
      v = LoadSignedLE(z.data() + pos + 1, n);
      entry = 1 + n;
    } else {
      return false;
    }
    const uint64_t backlen = entry <= 127        ? 1
                             : entry < 16383     ? 2
                             : entry < 2097151   ? 3
                             : entry < 268435455 ? 4
                                                 : 5;
    if (entry > avail || backlen > avail - entry) return false;
    if (is_int) {
      if (!ChargeElement(20)) return false;
      out->push_back(absl::StrCat(v));
    } else {
      if (!ChargeElement(entry - header)) return false;
      out->emplace_back(z.substr(pos + header, entry - header));
    }
    pos += entry + backlen;
  }
  return pos == end;
}

// An intset: encoding (2, 4 or 8 bytes per integer), count, the integers, little-endian.
bool ParseIntset(std::string_view z, std::vector<std::string>* out) {
  if (z.size() < 8) return false;
  const uint64_t width = LoadLE(z.data(), 4), n = LoadLE(z.data() + 4, 4);
  if ((width != 2 && width != 4 && width != 8) || 8 + n * width != z.size()) return false;
  for (uint64_t i = 0; i < n; i++) {
    if (!ChargeElement(20)) return false;
    out->push_back(absl::StrCat(LoadSignedLE(z.data() + 8 + i * width, static_cast<int>(width))));
  }
  return true;
}

template <typename T, typename Key>
bool Distinct(const std::vector<T>& items, Key key) {
  std::vector<std::string_view> keys;
  keys.reserve(items.size());
  for (const T& item : items) keys.push_back(key(item));
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) == keys.end();
}

// Pairs of a flat list of entries (a hash's field, value; a sorted set's member, score).
bool PairUp(std::vector<std::string>& flat, store::ValueType type, RdbValue* out) {
  if (flat.empty() || flat.size() % 2 != 0) return false;
  for (size_t i = 0; i < flat.size(); i += 2) {
    if (type == store::ValueType::kHash) {
      out->fields.emplace_back(std::move(flat[i]), std::move(flat[i + 1]));
    } else {
      double d;
      if (!ParseScore(flat[i + 1], &d)) return false;
      out->scores.emplace_back(std::move(flat[i]), d);
    }
  }
  return true;
}

// One node of a stream's radix tree: its key (the master ID, 16 bytes big-endian) and a
// listpack of the master entry (count, deleted, master fields, 0) and then entries
// (flags, ms and seq relative to the master ID, [field count,] fields or values, count).
// *budget: the bytes same-field entries may still copy from the master entry's fields,
// which Redis stores once: a forged node of many tiny entries sharing one long field
// would otherwise cost far more memory than its size.
bool ParseStreamNode(std::string_view key, std::string_view lp, uint64_t* budget, RdbStream* s) {
  constexpr int64_t kDeleted = 1, kSameFields = 2;
  if (key.size() != 16) return false;
  const RdbStreamId master{LoadBE(key.data(), 8), LoadBE(key.data() + 8, 8)};
  std::vector<std::string> items;
  if (!ParseListpack(lp, &items) || items.empty()) return false;
  size_t i = 0;
  auto integer = [&](int64_t* v) { return i < items.size() && absl::SimpleAtoi(items[i++], v); };
  auto item = [&](std::string* v) {
    if (i >= items.size()) return false;
    *v = std::move(items[i++]);
    return true;
  };
  int64_t count, deleted, n_master, zero;
  if (!integer(&count) || !integer(&deleted) || !integer(&n_master) || n_master < 0 ||
      static_cast<uint64_t>(n_master) > items.size()) {
    return false;
  }
  std::vector<std::string> master_fields(n_master);
  for (std::string& f : master_fields) {
    if (!item(&f)) return false;
  }
  if (!integer(&zero)) return false;
  while (i < items.size()) {
    int64_t flags, ms_diff, seq_diff, n_fields = n_master, lp_count;
    if (!integer(&flags) || !integer(&ms_diff) || !integer(&seq_diff)) return false;
    RdbStream::Entry e;
    e.id = {master.ms + static_cast<uint64_t>(ms_diff),
            master.seq + static_cast<uint64_t>(seq_diff)};
    const bool same = flags & kSameFields;
    if (!same && (!integer(&n_fields) || n_fields < 0)) return false;
    if (static_cast<uint64_t>(n_fields) > items.size() - i) return false;
    e.fields.resize(2 * n_fields);
    for (int64_t k = 0; k < n_fields; k++) {
      if (same) {
        if (master_fields[k].size() > *budget) return false;
        *budget -= master_fields[k].size();
        e.fields[2 * k] = master_fields[k];
      } else if (!item(&e.fields[2 * k])) {
        return false;
      }
      if (!item(&e.fields[2 * k + 1])) return false;
    }
    if (!integer(&lp_count)) return false;
    if (flags & kDeleted) continue;
    if (!s->entries.empty() && !(s->entries.back().id < e.id)) return false;
    if (!ChargeElement(0)) return false;
    s->entries.push_back(std::move(e));
  }
  return true;
}

// STREAM_LISTPACKS (Redis 5, 6) and STREAM_LISTPACKS_2 (Redis 7.0).
bool ParseStream(bool v2, Reader& r, RdbStream* s) {
  uint64_t nodes, length;
  if (!r.Count(&nodes) || nodes > r.remaining()) return false;
  uint64_t budget = kMaxSharedFieldBytes + kMaxSharedFieldRatio * r.remaining();
  for (uint64_t n = 0; n < nodes; n++) {
    std::string key, lp;
    if (!r.String(&key) || !r.String(&lp) || !ParseStreamNode(key, lp, &budget, s)) return false;
  }
  RdbStreamId first;
  if (!r.Count(&length) || !r.LengthId(&s->last_id)) return false;
  if (v2) {
    if (!r.LengthId(&first) || !r.LengthId(&s->max_deleted) || !r.Count(&s->entries_added) ||
        s->entries_added > static_cast<uint64_t>(INT64_MAX)) {
      return false;
    }
  } else {
    s->entries_added = s->entries.size();
  }
  if (!s->entries.empty() && s->last_id < s->entries.back().id) return false;
  uint64_t groups;
  if (!r.Count(&groups) || groups > r.remaining()) return false;
  for (uint64_t g = 0; g < groups; g++) {
    RdbStream::Group& group = s->groups.emplace_back();
    uint64_t entries_read, n;
    if (!r.String(&group.name) || !r.LengthId(&group.last)) return false;
    if (v2) {
      if (!r.Count(&entries_read)) return false;
      group.entries_read = static_cast<int64_t>(entries_read);  // -1 travels as 2^64 - 1
      if (group.entries_read < -1 || group.entries_read == INT64_MAX) return false;  // later ++ must not overflow
    }
    if (!r.Count(&n) || n > r.remaining() / 17) return false;  // an ID and a time at least
    for (uint64_t k = 0; k < n; k++) {
      RdbStream::Pending& p = group.pending.emplace_back();
      if (!r.RawId(&p.id) || !r.Millis(&p.delivery_ms) || !r.Count(&p.deliveries) ||
          p.deliveries > static_cast<uint64_t>(INT64_MAX)) {
        return false;
      }
      if (k > 0 && !(group.pending[k - 1].id < p.id)) return false;
    }
    std::vector<bool> owned(group.pending.size());
    if (!r.Count(&n) || n > r.remaining()) return false;
    for (uint64_t k = 0; k < n; k++) {
      RdbStream::Consumer& c = group.consumers.emplace_back();
      uint64_t pel;
      if (!r.String(&c.name) || !r.Millis(&c.seen_ms) || !r.Count(&pel) ||
          pel > r.remaining() / 16) {
        return false;
      }
      for (uint64_t j = 0; j < pel; j++) {
        RdbStreamId id;
        if (!r.RawId(&id)) return false;
        auto it = std::lower_bound(
            group.pending.begin(), group.pending.end(), id,
            [](const RdbStream::Pending& p, const RdbStreamId& x) { return p.id < x; });
        if (it == group.pending.end() || !(it->id == id)) return false;
        const size_t at = it - group.pending.begin();
        if (owned[at]) return false;
        owned[at] = true;
        it->consumer = c.name;
      }
    }
    if (std::find(owned.begin(), owned.end(), false) != owned.end()) return false;
    if (!Distinct(group.consumers,
                  [](const RdbStream::Consumer& c) -> std::string_view { return c.name; })) {
      return false;
    }
  }
  return Distinct(s->groups, [](const RdbStream::Group& g) -> std::string_view { return g.name; });
}

bool ParseObject(uint8_t type, Reader& r, RdbValue* out) {
  using store::ValueType;
  uint64_t n;
  std::string blob;
  std::vector<std::string> flat;
  switch (type) {
    case kRdbString:
      out->type = ValueType::kString;
      return r.String(&out->string);
    case kRdbList:
    case kRdbSet:
      out->type = type == kRdbList ? ValueType::kList : ValueType::kSet;
      if (!r.CollectionCount(&n)) return false;
      out->elements.reserve(std::min<uint64_t>(n, r.remaining() / 2));
      for (uint64_t i = 0; i < n; i++) {
        if (!ChargeElement(0) || !r.String(&out->elements.emplace_back())) return false;
      }
      return true;
    case kRdbZSet:
    case kRdbZSet2:
      out->type = ValueType::kZSet;
      if (!r.CollectionCount(&n)) return false;
      out->scores.reserve(std::min<uint64_t>(n, r.remaining() / 9));
      for (uint64_t i = 0; i < n; i++) {
        if (!ChargeElement(0)) return false;
        auto& [member, score] = out->scores.emplace_back();
        if (!r.String(&member)) return false;
        if (!(type == kRdbZSet2 ? r.BinaryDouble(&score) : r.TextDouble(&score))) return false;
        if (std::isnan(score)) return false;
      }
      return true;
    case kRdbHash:
      out->type = ValueType::kHash;
      if (!r.CollectionCount(&n)) return false;
      out->fields.reserve(std::min<uint64_t>(n, r.remaining() / 2));
      for (uint64_t i = 0; i < n; i++) {
        if (!ChargeElement(0)) return false;
        auto& [field, value] = out->fields.emplace_back();
        if (!r.String(&field) || !r.String(&value)) return false;
      }
      return true;
    case kRdbListZiplist:
      out->type = ValueType::kList;
      return r.String(&blob) && ParseZiplist(blob, &out->elements);
    case kRdbListQuicklist:
    case kRdbListQuicklist2:
      out->type = ValueType::kList;
      if (!r.CollectionCount(&n)) return false;
      for (uint64_t i = 0; i < n; i++) {
        uint64_t container = 2;  // QUICKLIST (v1) nodes are all packed (ziplists)
        if (type == kRdbListQuicklist2 && !r.Count(&container)) return false;
        if (!r.String(&blob)) return false;
        if (container == 1) {  // PLAIN: one large element as it is
          out->elements.push_back(std::move(blob));
        } else if (container != 2 ||
                   !(type == kRdbListQuicklist2 ? ParseListpack(blob, &out->elements)
                                                : ParseZiplist(blob, &out->elements))) {
          return false;
        }
      }
      return true;
    case kRdbSetIntset:
      out->type = ValueType::kSet;
      return r.String(&blob) && ParseIntset(blob, &out->elements);
    case kRdbZSetZiplist:
    case kRdbZSetListpack:
    case kRdbHashZiplist:
    case kRdbHashListpack: {
      const bool hash = type == kRdbHashZiplist || type == kRdbHashListpack;
      out->type = hash ? ValueType::kHash : ValueType::kZSet;
      const bool zl = type == kRdbZSetZiplist || type == kRdbHashZiplist;
      if (!r.String(&blob) || !(zl ? ParseZiplist(blob, &flat) : ParseListpack(blob, &flat))) {
        return false;
      }
      return PairUp(flat, out->type, out);
    }
    case kRdbStreamListpacks:
    case kRdbStreamListpacks2:
      out->type = ValueType::kStream;
      return ParseStream(type == kRdbStreamListpacks2, r, &out->stream);
    default:
      return false;
  }
}

// Listpacks as Redis writes them (lpAppend, lpAppendInteger), for stream nodes.
class ListpackBuilder {
 public:
  void Int(int64_t v) {
    const size_t start = body_.size();
    if (v >= 0 && v <= 127) {
      body_.push_back(static_cast<char>(v));
    } else if (v >= -4096 && v <= 4095) {
      const uint64_t u = static_cast<uint64_t>(v) & 0x1fff;
      body_.push_back(static_cast<char>(0xc0 | (u >> 8)));
      body_.push_back(static_cast<char>(u & 0xff));
    } else {
      const int bytes = v >= INT16_MIN && v <= INT16_MAX   ? 2
                        : v >= -(1 << 23) && v < (1 << 23) ? 3
                        : v >= INT32_MIN && v <= INT32_MAX ? 4
                                                           : 8;
      body_.push_back(static_cast<char>(bytes == 2   ? 0xf1
                                        : bytes == 3 ? 0xf2
                                        : bytes == 4 ? 0xf3
                                                     : 0xf4));
      const uint64_t u = static_cast<uint64_t>(v);
      for (int i = 0; i < bytes; i++) body_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
    }
    BackLength(body_.size() - start);
  }
  void Str(std::string_view s) {
    const size_t start = body_.size();
    if (s.size() < 64) {
      body_.push_back(static_cast<char>(0x80 | s.size()));
    } else if (s.size() < 4096) {
      body_.push_back(static_cast<char>(0xe0 | (s.size() >> 8)));
      body_.push_back(static_cast<char>(s.size() & 0xff));
    } else {
      body_.push_back(static_cast<char>(0xf0));
      for (int i = 0; i < 4; i++) body_.push_back(static_cast<char>((s.size() >> (8 * i)) & 0xff));
    }
    body_.append(s.data(), s.size());
    BackLength(body_.size() - start);
  }
  std::string Finish() const {
    std::string out;
    const uint64_t total = 6 + body_.size() + 1;
    for (int i = 0; i < 4; i++) out.push_back(static_cast<char>((total >> (8 * i)) & 0xff));
    const uint64_t n = std::min<uint64_t>(count_, 65535);  // 65535: count unknown
    out.push_back(static_cast<char>(n & 0xff));
    out.push_back(static_cast<char>(n >> 8));
    out += body_;
    out.push_back(static_cast<char>(0xff));
    return out;
  }

 private:
  // An entry's length again after it, 7 bits a byte, most significant first; every byte
  // but the first has its high bit set, so it reads back from the right.
  void BackLength(uint64_t l) {
    count_++;
    const int n = l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
    for (int i = n - 1; i >= 0; i--) {
      const uint8_t b = (l >> (7 * i)) & 127;
      body_.push_back(static_cast<char>(i == n - 1 ? b : (b | 128)));
    }
  }
  std::string body_;
  uint64_t count_ = 0;
};

}  // namespace

uint64_t RdbCrc64(uint64_t crc, std::string_view data) {
  for (char ch : data) crc = kCrcTable[(crc ^ static_cast<uint8_t>(ch)) & 0xff] ^ (crc >> 8);
  return crc;
}

bool VerifyRdbPayload(std::string_view payload) {
  if (payload.size() < 10) return false;
  const char* footer = payload.data() + payload.size() - 10;
  if (LoadLE(footer, 2) > kRdbVersion) return false;
  return RdbCrc64(0, payload.substr(0, payload.size() - 8)) == LoadLE(footer + 2, 8);
}

absl::Status ParseRdbPayload(std::string_view payload, RdbValue* out, uint64_t max_string) {
  if (payload.size() < 10) return BadFormat("shorter than its footer");
  struct Budget {
    Budget(uint64_t payload_bytes, uint64_t max_string) {
      decode_left = std::min<uint64_t>(kMaxDecodeBytes, std::max<uint64_t>(kMinDecodeBytes, 128 * payload_bytes));
      max_string_bytes = max_string;
    }
    ~Budget() {
      decode_left = UINT64_MAX;
      max_string_bytes = UINT64_MAX;
    }
  } budget(payload.size(), max_string);
  // Bytes after the object and before the footer are ignored, as Redis ignores them.
  Reader r(payload.substr(0, payload.size() - 10));
  uint8_t type;
  if (!r.Byte(&type)) return BadFormat("no type");
  *out = RdbValue();
  if (!ParseObject(type, r, out)) return BadFormat(absl::StrCat("type ", type));
  // An empty collection does not exist (Redis refuses one too); duplicates would make
  // the value differ from what was dumped.
  switch (out->type) {
    case store::ValueType::kString:
      break;
    case store::ValueType::kList:
      if (out->elements.empty()) return BadFormat("empty list");
      break;
    case store::ValueType::kSet:
      if (out->elements.empty() ||
          !Distinct(out->elements, [](const std::string& s) -> std::string_view { return s; })) {
        return BadFormat("empty set or duplicate members");
      }
      break;
    case store::ValueType::kHash:
      if (out->fields.empty() ||
          !Distinct(out->fields, [](const auto& p) -> std::string_view { return p.first; })) {
        return BadFormat("empty hash or duplicate fields");
      }
      break;
    case store::ValueType::kZSet:
      if (out->scores.empty() ||
          !Distinct(out->scores, [](const auto& p) -> std::string_view { return p.first; })) {
        return BadFormat("empty sorted set or duplicate members");
      }
      break;
    case store::ValueType::kStream:
      break;  // a stream may be empty (its IDs and groups remain)
  }
  return absl::OkStatus();
}

void RdbPayloadWriter::Length(uint64_t n) {
  if (n < 64) {
    out_.push_back(static_cast<char>(n));
  } else if (n < 16384) {
    out_.push_back(static_cast<char>(0x40 | (n >> 8)));
    out_.push_back(static_cast<char>(n & 0xff));
  } else {
    const int bytes = n <= UINT32_MAX ? 4 : 8;
    out_.push_back(static_cast<char>(bytes == 4 ? 0x80 : 0x81));
    for (int i = bytes - 1; i >= 0; i--) out_.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
}

void RdbPayloadWriter::String(std::string_view s) {
  Length(s.size());
  out_.append(s.data(), s.size());
}

void RdbPayloadWriter::BinaryDouble(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  for (int i = 0; i < 8; i++) out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void RdbPayloadWriter::Stream(const RdbStream& s) {
  constexpr size_t kNodeEntries = 100;  // Redis's stream-node-max-entries
  auto raw_id = [&](const RdbStreamId& id) {
    for (int i = 7; i >= 0; i--) out_.push_back(static_cast<char>((id.ms >> (8 * i)) & 0xff));
    for (int i = 7; i >= 0; i--) out_.push_back(static_cast<char>((id.seq >> (8 * i)) & 0xff));
  };
  auto millis = [&](int64_t ms) {
    for (int i = 0; i < 8; i++)
      out_.push_back(static_cast<char>((static_cast<uint64_t>(ms) >> (8 * i)) & 0xff));
  };
  Length((s.entries.size() + kNodeEntries - 1) / kNodeEntries);
  for (size_t at = 0; at < s.entries.size(); at += kNodeEntries) {
    const size_t end = std::min(s.entries.size(), at + kNodeEntries);
    const RdbStreamId master = s.entries[at].id;
    // The master entry names the first entry's fields; every entry carries its own
    // fields (no SAMEFIELDS flag), which Redis reads as it reads any entry.
    const std::vector<std::string>& first = s.entries[at].fields;
    ListpackBuilder lp;
    lp.Int(static_cast<int64_t>(end - at));  // entries
    lp.Int(0);                               // deleted
    lp.Int(static_cast<int64_t>(first.size() / 2));
    for (size_t k = 0; k < first.size(); k += 2) lp.Str(first[k]);
    lp.Int(0);  // the master entry's terminator
    for (size_t e = at; e < end; e++) {
      const RdbStream::Entry& entry = s.entries[e];
      const int64_t n = static_cast<int64_t>(entry.fields.size() / 2);
      lp.Int(0);  // flags
      lp.Int(static_cast<int64_t>(entry.id.ms - master.ms));
      lp.Int(static_cast<int64_t>(entry.id.seq - master.seq));
      lp.Int(n);
      for (const std::string& f : entry.fields) lp.Str(f);
      lp.Int(2 * n + 4);  // the entry's items before this one, for reverse iteration
    }
    Length(16);
    raw_id(master);
    String(lp.Finish());
  }
  Length(s.entries.size());
  Length(s.last_id.ms);
  Length(s.last_id.seq);
  const RdbStreamId first = s.entries.empty() ? RdbStreamId{} : s.entries.front().id;
  Length(first.ms);
  Length(first.seq);
  Length(s.max_deleted.ms);
  Length(s.max_deleted.seq);
  Length(s.entries_added);
  Length(s.groups.size());
  for (const RdbStream::Group& g : s.groups) {
    String(g.name);
    Length(g.last.ms);
    Length(g.last.seq);
    Length(static_cast<uint64_t>(g.entries_read));
    Length(g.pending.size());
    for (const RdbStream::Pending& p : g.pending) {
      raw_id(p.id);
      millis(p.delivery_ms);
      Length(p.deliveries);
    }
    Length(g.consumers.size());
    for (const RdbStream::Consumer& c : g.consumers) {
      String(c.name);
      millis(c.seen_ms);
      size_t owned = 0;
      for (const RdbStream::Pending& p : g.pending) owned += p.consumer == c.name;
      Length(owned);
      for (const RdbStream::Pending& p : g.pending) {
        if (p.consumer == c.name) raw_id(p.id);
      }
    }
  }
}

std::string RdbPayloadWriter::Finish() {
  out_.push_back(static_cast<char>(kRdbVersion & 0xff));
  out_.push_back(static_cast<char>(kRdbVersion >> 8));
  const uint64_t crc = RdbCrc64(0, out_);
  for (int i = 0; i < 8; i++) out_.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return std::move(out_);
}

}  // namespace cairn::server
