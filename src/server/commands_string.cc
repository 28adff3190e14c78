// String commands (Redis 7 semantics): GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET
// MSET MSETNX INCR DECR INCRBY DECRBY INCRBYFLOAT APPEND STRLEN GETRANGE SETRANGE SUBSTR
// LCS.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "server/command.h"

namespace cairn::server {
namespace {

using store::Record;
using store::ValueType;

int Db(const CommandContext& c) { return c.client.db.load(std::memory_order_relaxed); }

bool ReadString(CommandContext& c, std::string_view key, Record* r, bool* found) {
  return ReadStringValue(c, key, r, found);
}

bool Write(CommandContext& c, std::string_view key, const Record& r) { return WriteStringValue(c, key, r); }

bool Delete(CommandContext& c, std::string_view key) {
  absl::Status s = c.server.backend->Delete(Db(c), key);
  if (!s.ok()) ReplyStatusError(c.out, s);
  return s.ok();
}

// Parses an expire argument (EX seconds, PX ms, EXAT s, PXAT ms) into an absolute Unix ms.
bool ParseExpire(CommandContext& c, std::string_view arg, int64_t unit_ms, bool absolute,
                 std::string_view cmd, int64_t* at_ms) {
  int64_t v;
  if (!ParseInt64(arg, &v)) {
    c.out.Error(kErrNotInteger);
    return false;
  }
  // Positive, and within what the engine can hold once made absolute.
  bool valid = v > 0 && (unit_ms == 1 || v <= INT64_MAX / 1000);
  int64_t ms = valid ? v * unit_ms : 0;
  if (valid && !absolute) {
    valid = ms <= INT64_MAX - c.now_ms;
    ms += valid ? c.now_ms : 0;
  }
  if (!valid) {
    c.out.Error(absl::StrCat("ERR invalid expire time in '", ToAbsl(cmd), "' command"));
    return false;
  }
  // Past what the engine can hold (about the year 294 000): that instant, as EXPIRE does.
  *at_ms = std::min(ms, store::kMaxExpireAtMs);
  return true;
}

// The value is read from the engine straight into the reply: one copy in memory, not
// the three of a Record (docs/large-values.md).
void Get(CommandContext& c) {
  store::RecordView header;
  std::unique_ptr<engine::ValueReader> payload;
  absl::Status s = c.server.backend->GetPayload(Db(c), c.args[1], &header, &payload);
  if (absl::IsNotFound(s)) {
    c.server.stats.keyspace_misses.fetch_add(1, std::memory_order_relaxed);
    return c.out.Null();
  }
  if (!s.ok()) return ReplyStatusError(c.out, s);
  c.server.stats.keyspace_hits.fetch_add(1, std::memory_order_relaxed);
  if (header.type != ValueType::kString) return c.out.Error(kErrWrongType);
  std::string* out = c.out.buffer();
  const size_t mark = out->size();
  const uint64_t n = payload->size();
  s = payload->Read(0, n, c.out.BulkSpace(n));
  if (!s.ok()) {
    out->resize(mark);  // never a reply with damaged bytes
    ReplyStatusError(c.out, s);
  }
}

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
void Set(CommandContext& c) {
  bool nx = false, xx = false, get = false, keepttl = false;
  int64_t expire_at = 0;
  bool has_expire = false;
  for (size_t i = 3; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    const bool has_next = i + 1 < c.args.size();
    if (opt == "nx" && !xx) {
      nx = true;
    } else if (opt == "xx" && !nx) {
      xx = true;
    } else if (opt == "get") {
      get = true;
    } else if (opt == "keepttl" && !has_expire) {
      keepttl = true;
    } else if ((opt == "ex" || opt == "px" || opt == "exat" || opt == "pxat") && !keepttl &&
               !has_expire && has_next) {
      const int64_t unit = (opt == "ex" || opt == "exat") ? 1000 : 1;
      const bool absolute = opt == "exat" || opt == "pxat";
      if (!ParseExpire(c, c.args[++i], unit, absolute, "set", &expire_at)) return;
      has_expire = true;
    } else {
      c.out.Error(kErrSyntax);
      return;
    }
  }
  Record old;
  bool exists = false;
  if (nx || xx || get || keepttl) {
    absl::Status s = c.server.backend->Get(Db(c), c.args[1], &old);
    if (s.ok()) {
      exists = true;
      if (get && old.type != ValueType::kString) {
        c.out.Error(kErrWrongType);
        return;
      }
    } else if (!absl::IsNotFound(s)) {
      ReplyStatusError(c.out, s);
      return;
    }
  }
  if ((nx && exists) || (xx && !exists)) {
    if (get) {
      exists ? c.out.Bulk(old.value) : c.out.Null();
    } else {
      c.out.Null();
    }
    return;
  }
  // Stored from the argument as it is: a large value is never copied on its way to the
  // engine's blob file.
  const int64_t expire_ms = has_expire ? expire_at : (keepttl && exists ? old.expire_at_ms : 0);
  if (absl::Status s =
          c.server.backend->PutPayload(Db(c), c.args[1], ValueType::kString, expire_ms, c.args[2]);
      !s.ok()) {
    return ReplyStatusError(c.out, s);
  }
  if (get) {
    exists ? c.out.Bulk(old.value) : c.out.Null();
  } else {
    c.out.SimpleString("OK");
  }
}

void SetNx(CommandContext& c) {
  Record old;
  absl::Status s = c.server.backend->Get(Db(c), c.args[1], &old);
  if (s.ok()) {
    c.out.Integer(0);
    return;
  }
  if (!absl::IsNotFound(s)) return ReplyStatusError(c.out, s);
  if (Write(c, c.args[1], Record{ValueType::kString, 0, std::string(c.args[2])})) c.out.Integer(1);
}

void SetExGeneric(CommandContext& c, int64_t unit, std::string_view name) {
  int64_t at;
  if (!ParseExpire(c, c.args[2], unit, false, name, &at)) return;
  if (Write(c, c.args[1], Record{ValueType::kString, at, std::string(c.args[3])})) {
    c.out.SimpleString("OK");
  }
}
void SetEx(CommandContext& c) { SetExGeneric(c, 1000, "setex"); }
void PSetEx(CommandContext& c) { SetExGeneric(c, 1, "psetex"); }

void GetSet(CommandContext& c) {
  Record old;
  bool found;
  if (!ReadString(c, c.args[1], &old, &found)) return;
  if (!Write(c, c.args[1], Record{ValueType::kString, 0, std::string(c.args[2])})) return;
  found ? c.out.Bulk(old.value) : c.out.Null();
}

void GetDel(CommandContext& c) {
  Record old;
  bool found;
  if (!ReadString(c, c.args[1], &old, &found)) return;
  if (!found) return c.out.Null();
  if (Delete(c, c.args[1])) c.out.Bulk(old.value);
}

// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
void GetEx(CommandContext& c) {
  // As Redis: the options' syntax first, then the key (missing: nil, whatever the expiry
  // value), then the expiry value.
  std::string expire_opt;
  std::string_view expire_arg;
  bool persist = false;
  for (size_t i = 2; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    const bool has_next = i + 1 < c.args.size();
    if ((opt == "ex" || opt == "px" || opt == "exat" || opt == "pxat") && expire_opt.empty() &&
        !persist && has_next) {
      expire_opt = opt;
      expire_arg = c.args[++i];
    } else if (opt == "persist" && expire_opt.empty()) {
      persist = true;
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  if (!found) return c.out.Null();
  const bool set_expire = !expire_opt.empty();
  int64_t at = 0;
  if (set_expire) {
    const int64_t unit = (expire_opt == "ex" || expire_opt == "exat") ? 1000 : 1;
    const bool absolute = expire_opt == "exat" || expire_opt == "pxat";
    if (!ParseExpire(c, expire_arg, unit, absolute, "getex", &at)) return;
  }
  if (set_expire || (persist && r.expire_at_ms != 0)) {
    Record updated = r;
    updated.expire_at_ms = set_expire ? at : 0;
    if (set_expire && at <= c.now_ms) {
      if (!Delete(c, c.args[1])) return;
    } else if (!Write(c, c.args[1], updated)) {
      return;
    }
  }
  c.out.Bulk(r.value);
}

void MGet(CommandContext& c) {
  c.out.ArrayHeader(c.args.size() - 1);
  for (size_t i = 1; i < c.args.size(); i++) {
    Record r;
    absl::Status s = c.server.backend->Get(Db(c), c.args[i], &r);
    if (s.ok() && r.type == ValueType::kString) {
      c.server.stats.keyspace_hits.fetch_add(1, std::memory_order_relaxed);
      c.out.Bulk(r.value);
    } else {
      if (absl::IsNotFound(s))
        c.server.stats.keyspace_misses.fetch_add(1, std::memory_order_relaxed);
      c.out.Null();  // Redis: wrong types and errors read as nil in MGET
    }
  }
}

void MSetGeneric(CommandContext& c, bool nx) {
  if (c.args.size() % 2 != 1) {
    return c.out.Error(
        absl::StrCat("ERR wrong number of arguments for '", nx ? "msetnx" : "mset", "' command"));
  }
  const int db = Db(c);
  if (nx) {
    for (size_t i = 1; i < c.args.size(); i += 2) {
      Record r;
      absl::Status s = c.server.backend->Get(db, c.args[i], &r);
      if (s.ok()) return c.out.Integer(0);
      if (!absl::IsNotFound(s)) return ReplyStatusError(c.out, s);
    }
  }
  std::vector<store::Mutation> batch;
  batch.reserve(c.args.size() / 2);
  for (size_t i = 1; i < c.args.size(); i += 2) {
    batch.push_back(store::Mutation::Put(
        db, std::string(c.args[i]), Record{ValueType::kString, 0, std::string(c.args[i + 1])}));
  }
  absl::Status s = c.server.backend->Apply(batch);
  if (!s.ok()) return ReplyStatusError(c.out, s);
  nx ? c.out.Integer(1) : c.out.SimpleString("OK");
}
void MSet(CommandContext& c) { MSetGeneric(c, false); }
void MSetNx(CommandContext& c) { MSetGeneric(c, true); }

void IncrByGeneric(CommandContext& c, int64_t delta) {
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  int64_t v = 0;
  if (found && !ParseInt64(r.value, &v)) return c.out.Error(kErrNotInteger);
  if ((delta > 0 && v > INT64_MAX - delta) || (delta < 0 && v < INT64_MIN - delta)) {
    return c.out.Error("ERR increment or decrement would overflow");
  }
  v += delta;
  Record next{ValueType::kString, found ? r.expire_at_ms : 0, absl::StrCat(v)};
  if (Write(c, c.args[1], next)) c.out.Integer(v);
}
void Incr(CommandContext& c) { IncrByGeneric(c, 1); }
void Decr(CommandContext& c) { IncrByGeneric(c, -1); }
void IncrBy(CommandContext& c) {
  int64_t d;
  if (!ParseInt64(c.args[2], &d)) return c.out.Error(kErrNotInteger);
  IncrByGeneric(c, d);
}
void DecrBy(CommandContext& c) {
  int64_t d;
  if (!ParseInt64(c.args[2], &d)) return c.out.Error(kErrNotInteger);
  if (d == INT64_MIN) return c.out.Error("ERR decrement would overflow");
  IncrByGeneric(c, -d);
}

void IncrByFloat(CommandContext& c) {
  long double incr;
  if (!ParseLongDouble(c.args[2], &incr)) return c.out.Error(kErrNotFloat);
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  long double v = 0;
  if (found && !ParseLongDouble(r.value, &v)) return c.out.Error(kErrNotFloat);
  const long double sum = v + incr;
  if (std::isnan(sum) || std::isinf(sum)) {
    return c.out.Error("ERR increment would produce NaN or Infinity");
  }
  const std::string text = FormatLongDouble(sum);
  if (Write(c, c.args[1], Record{ValueType::kString, found ? r.expire_at_ms : 0, text})) {
    c.out.Bulk(text);
  }
}

bool CheckSize(CommandContext& c, uint64_t size) {
  if (size > c.server.config->Get().proto_max_bulk_len) {
    c.out.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    return false;
  }
  return true;
}

void Append(CommandContext& c) {
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  if (!CheckSize(c, r.value.size() + c.args[2].size())) return;
  r.value.append(c.args[2].data(), c.args[2].size());
  if (!found) r.expire_at_ms = 0;
  if (Write(c, c.args[1], r)) c.out.Integer(static_cast<int64_t>(r.value.size()));
}

void StrLen(CommandContext& c) {
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  c.out.Integer(found ? static_cast<int64_t>(r.value.size()) : 0);
}

void GetRange(CommandContext& c) {
  int64_t start, end;
  if (!ParseInt64(c.args[2], &start) || !ParseInt64(c.args[3], &end)) {
    return c.out.Error(kErrNotInteger);
  }
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  const int64_t len = found ? static_cast<int64_t>(r.value.size()) : 0;
  // Redis 7.0: negative offsets count from the end; a start past an end is empty.
  if (start < 0 && end < 0 && start > end) return c.out.Bulk("");
  if (start < 0) start = std::max<int64_t>(0, len + start);
  if (end < 0) end = std::max<int64_t>(0, len + end);
  if (end >= len) end = len - 1;
  if (len == 0 || start > end) return c.out.Bulk("");
  c.out.Bulk(std::string_view(r.value).substr(start, end - start + 1));
}

void SetRange(CommandContext& c) {
  int64_t offset;
  if (!ParseInt64(c.args[2], &offset)) return c.out.Error(kErrNotInteger);
  if (offset < 0) return c.out.Error("ERR offset is out of range");
  Record r;
  bool found;
  if (!ReadString(c, c.args[1], &r, &found)) return;
  const std::string_view value = c.args[3];
  if (!found) {
    if (value.empty()) return c.out.Integer(0);
    r = Record{};
  }
  if (value.empty()) return c.out.Integer(static_cast<int64_t>(r.value.size()));
  if (!CheckSize(c, static_cast<uint64_t>(offset) + value.size())) return;
  if (r.value.size() < offset + value.size()) r.value.resize(offset + value.size(), '\0');
  r.value.replace(offset, value.size(), value.data(), value.size());
  if (Write(c, c.args[1], r)) c.out.Integer(static_cast<int64_t>(r.value.size()));
}

// LCS: Redis 7.0's dynamic programming and walk back, step for step, so IDX lists the
// same ranges in the same order.
void Lcs(CommandContext& c) {
  Record ra, rb;
  bool fa = false, fb = false;
  for (int k = 1; k <= 2; k++) {
    Record* r = k == 1 ? &ra : &rb;
    bool* found = k == 1 ? &fa : &fb;
    absl::Status s = c.server.backend->Get(Db(c), c.args[k], r);
    if (absl::IsNotFound(s)) continue;
    if (!s.ok()) return ReplyStatusError(c.out, s);
    if (r->type != ValueType::kString) {
      return c.out.Error("ERR The specified keys must contain string values");
    }
    *found = true;
  }
  const std::string a = fa ? ra.value : std::string(), b = fb ? rb.value : std::string();
  bool getlen = false, getidx = false, withmatchlen = false;
  int64_t minmatchlen = 0;
  for (size_t j = 3; j < c.args.size(); j++) {
    std::string opt(c.args[j]);
    absl::AsciiStrToLower(&opt);
    const size_t more = c.args.size() - 1 - j;
    if (opt == "idx") {
      getidx = true;
    } else if (opt == "len") {
      getlen = true;
    } else if (opt == "withmatchlen") {
      withmatchlen = true;
    } else if (opt == "minmatchlen" && more > 0) {
      if (!ParseInt64(c.args[j + 1], &minmatchlen)) return c.out.Error(kErrNotInteger);
      if (minmatchlen < 0) minmatchlen = 0;
      j++;
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  if (getidx && getlen) {
    return c.out.Error("ERR If you want both the length and indexes, please just use IDX.");
  }
  const uint64_t alen = a.size(), blen = b.size();
  const uint64_t cells = (alen + 1) * (blen + 1);
  if (cells * sizeof(uint32_t) > c.server.config->Get().proto_max_bulk_len) {
    return c.out.Error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
  }
  std::vector<uint32_t> lcs(cells, 0);
  auto at = [&](uint64_t i, uint64_t j) -> uint32_t& { return lcs[j + i * (blen + 1)]; };
  for (uint64_t i = 1; i <= alen; i++) {
    for (uint64_t j = 1; j <= blen; j++) {
      at(i, j) = a[i - 1] == b[j - 1] ? at(i - 1, j - 1) + 1 : std::max(at(i - 1, j), at(i, j - 1));
    }
  }
  uint32_t idx = at(alen, blen);
  const bool compute = getidx || !getlen;
  std::string result(compute ? idx : 0, '\0');
  struct Range {
    uint64_t a0, a1, b0, b1;
  };
  std::vector<Range> ranges;
  uint64_t arange_start = alen, arange_end = 0, brange_start = 0, brange_end = 0;
  uint64_t i = alen, j = blen;
  while (compute && i > 0 && j > 0) {
    bool emit = false;
    if (a[i - 1] == b[j - 1]) {
      result[idx - 1] = a[i - 1];
      if (arange_start == alen) {
        arange_start = arange_end = i - 1;
        brange_start = brange_end = j - 1;
      } else if (arange_start == i && brange_start == j) {
        arange_start--;
        brange_start--;
      } else {
        emit = true;
      }
      if (arange_start == 0 || brange_start == 0) emit = true;
      idx--;
      i--;
      j--;
    } else {
      if (at(i - 1, j) > at(i, j - 1)) {
        i--;
      } else {
        j--;
      }
      if (arange_start != alen) emit = true;
    }
    const uint64_t match_len = arange_end - arange_start + 1;
    if (emit) {
      if (minmatchlen == 0 || match_len >= static_cast<uint64_t>(minmatchlen)) {
        ranges.push_back({arange_start, arange_end, brange_start, brange_end});
      }
      arange_start = alen;
    }
  }
  if (getidx) {
    c.out.MapHeader(2);
    c.out.Bulk("matches");
    c.out.ArrayHeader(ranges.size());
    for (const Range& r : ranges) {
      c.out.ArrayHeader(withmatchlen ? 3 : 2);
      c.out.ArrayHeader(2);
      c.out.Integer(static_cast<int64_t>(r.a0));
      c.out.Integer(static_cast<int64_t>(r.a1));
      c.out.ArrayHeader(2);
      c.out.Integer(static_cast<int64_t>(r.b0));
      c.out.Integer(static_cast<int64_t>(r.b1));
      if (withmatchlen) c.out.Integer(static_cast<int64_t>(r.a1 - r.a0 + 1));
    }
    c.out.Bulk("len");
    c.out.Integer(at(alen, blen));
  } else if (getlen) {
    c.out.Integer(idx);
  } else {
    c.out.Bulk(result);
  }
}

const CommandSpec kCommands[] = {
    {"get", 2, kReadOnly | kFast, 1, 1, 1, Get, "string", "Returns the string value of a key."},
    {"set", -3, kWrite | kDenyOom, 1, 1, 1, Set, "string", "Sets the string value of a key."},
    {"setnx", 3, kWrite | kDenyOom | kFast, 1, 1, 1, SetNx, "string",
     "Set the string value of a key only when the key doesn't exist."},
    {"setex", 4, kWrite | kDenyOom, 1, 1, 1, SetEx, "string",
     "Sets the string value and expiration time (seconds) of a key."},
    {"psetex", 4, kWrite | kDenyOom, 1, 1, 1, PSetEx, "string",
     "Sets the string value and expiration time (milliseconds) of a key."},
    {"getset", 3, kWrite | kDenyOom | kFast, 1, 1, 1, GetSet, "string",
     "Returns the previous string value of a key after setting it to a new value."},
    {"getdel", 2, kWrite | kFast, 1, 1, 1, GetDel, "string",
     "Returns the string value of a key after deleting the key."},
    {"getex", -2, kWrite | kFast | kExpiryOnly, 1, 1, 1, GetEx, "string",
     "Returns the string value of a key after setting its expiration time."},
    {"mget", -2, kReadOnly | kFast, 1, -1, 1, MGet, "string",
     "Atomically returns the string values of one or more keys."},
    {"mset", -3, kWrite | kDenyOom, 1, -1, 2, MSet, "string",
     "Atomically creates or modifies the string values of one or more keys."},
    {"msetnx", -3, kWrite | kDenyOom, 1, -1, 2, MSetNx, "string",
     "Atomically sets the values of one or more keys only when all keys don't exist."},
    {"incr", 2, kWrite | kDenyOom | kFast | kCounter, 1, 1, 1, Incr, "string",
     "Increments the integer value of a key by one."},
    {"decr", 2, kWrite | kDenyOom | kFast | kCounter, 1, 1, 1, Decr, "string",
     "Decrements the integer value of a key by one."},
    {"incrby", 3, kWrite | kDenyOom | kFast | kCounter, 1, 1, 1, IncrBy, "string",
     "Increments the integer value of a key by a number."},
    {"decrby", 3, kWrite | kDenyOom | kFast | kCounter, 1, 1, 1, DecrBy, "string",
     "Decrements a number from the integer value of a key."},
    {"incrbyfloat", 3, kWrite | kDenyOom | kFast | kCounter, 1, 1, 1, IncrByFloat, "string",
     "Increment the floating point value of a key by a number."},
    {"append", 3, kWrite | kDenyOom | kFast | kInPlace, 1, 1, 1, Append, "string",
     "Appends a string to the value of a key."},
    {"strlen", 2, kReadOnly | kFast, 1, 1, 1, StrLen, "string",
     "Returns the length of a string value."},
    {"getrange", 4, kReadOnly, 1, 1, 1, GetRange, "string",
     "Returns a substring of the string stored at a key."},
    {"setrange", 4, kWrite | kDenyOom | kInPlace, 1, 1, 1, SetRange, "string",
     "Overwrites a part of a string value with another by an offset."},
    {"substr", 4, kReadOnly, 1, 1, 1, GetRange, "string", "Returns a substring from a string value."},
    {"lcs", -3, kReadOnly, 1, 2, 1, Lcs, "string", "Finds the longest common substring."},
};

}  // namespace

bool ReadStringValue(CommandContext& c, std::string_view key, Record* r, bool* found) {
  absl::Status s = c.server.backend->Get(Db(c), key, r);
  if (absl::IsNotFound(s)) {
    *found = false;
    c.server.stats.keyspace_misses.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  if (!s.ok()) {
    ReplyStatusError(c.out, s);
    return false;
  }
  c.server.stats.keyspace_hits.fetch_add(1, std::memory_order_relaxed);
  if (r->type != ValueType::kString) {
    c.out.Error(kErrWrongType);
    return false;
  }
  *found = true;
  return true;
}

bool WriteStringValue(CommandContext& c, std::string_view key, const Record& r) {
  absl::Status s = c.server.backend->Put(Db(c), key, r);
  if (!s.ok()) ReplyStatusError(c.out, s);
  return s.ok();
}

void RegisterStringCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& c : kCommands) table->push_back(&c);
}

}  // namespace cairn::server
