// Keyspace commands (Redis 7 semantics): DEL UNLINK EXISTS TOUCH EXPIRE PEXPIRE EXPIREAT
// PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME PERSIST TYPE KEYS SCAN RANDOMKEY RENAME
// RENAMENX MOVE SWAPDB DBSIZE FLUSHDB FLUSHALL, and CAIRN.RANGE (an ordered range read).
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/glob.h"
#include "base/random.h"
#include "server/collections.h"
#include "server/command.h"

namespace cairn::server {
namespace {

using store::Record;
using store::RecordView;
using store::ValueType;

int Db(const CommandContext& c) { return c.client.db.load(std::memory_order_relaxed); }

// Get with the error replied; *found false when absent.
bool Read(CommandContext& c, int db, std::string_view key, Record* r, bool* found) {
  absl::Status s = c.server.backend->Get(db, key, r);
  if (absl::IsNotFound(s)) {
    *found = false;
    return true;
  }
  if (!s.ok()) {
    ReplyStatusError(c.out, s);
    return false;
  }
  *found = true;
  return true;
}

void Del(CommandContext& c) {
  int64_t n = 0;
  std::vector<store::Mutation> batch;
  // A key named twice counts once. A set, not a scan of the batch: DEL of 100 000 keys
  // was quadratic (over 2 minutes under ASan; found by the bad-input suite).
  absl::flat_hash_set<std::string_view> seen;
  for (size_t i = 1; i < c.args.size(); i++) {
    if (!seen.insert(c.args[i]).second) continue;
    Record r;
    bool found;
    if (!Read(c, Db(c), c.args[i], &r, &found)) return;
    if (!found) continue;
    batch.push_back(store::Mutation::Delete(Db(c), std::string(c.args[i])));
    n++;
  }
  if (!batch.empty()) {
    if (absl::Status s = c.server.backend->Apply(batch); !s.ok()) return ReplyStatusError(c.out, s);
  }
  c.out.Integer(n);
}

void Exists(CommandContext& c) {
  int64_t n = 0;
  for (size_t i = 1; i < c.args.size(); i++) {
    Record r;
    bool found;
    if (!Read(c, Db(c), c.args[i], &r, &found)) return;
    n += found;
  }
  c.out.Integer(n);
}

// EXPIRE key n [NX|XX|GT|LT] and friends. unit_ms: 1000 or 1; absolute: *AT forms.
void ExpireGeneric(CommandContext& c, int64_t unit_ms, bool absolute) {
  int64_t v;
  if (!ParseInt64(c.args[2], &v)) return c.out.Error(kErrNotInteger);
  bool nx = false, xx = false, gt = false, lt = false;
  for (size_t i = 3; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "nx") {
      nx = true;
    } else if (opt == "xx") {
      xx = true;
    } else if (opt == "gt") {
      gt = true;
    } else if (opt == "lt") {
      lt = true;
    } else {
      return c.out.Error(absl::StrCat("ERR Unsupported option ", std::string(c.args[i])));
    }
  }
  if (nx && (xx || gt || lt)) {
    return c.out.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) return c.out.Error("ERR GT and LT options at the same time are not compatible");
  const std::string name = Lower(c.args[0]);
  // Overflow of the multiplication or the addition is an error, as in Redis 7.
  if ((unit_ms == 1000 && (v > INT64_MAX / 1000 || v < INT64_MIN / 1000))) {
    return c.out.Error(absl::StrCat("ERR invalid expire time in '", name, "' command"));
  }
  int64_t at = v * unit_ms;
  if (!absolute) {
    if ((at > 0 && c.now_ms > INT64_MAX - at) || (at < 0 && c.now_ms < INT64_MIN - at)) {
      return c.out.Error(absl::StrCat("ERR invalid expire time in '", name, "' command"));
    }
    at += c.now_ms;
  }
  // Past what the engine can hold (about the year 294 000) the key keeps that instant:
  // Redis accepts such expiries, and no client can tell them apart before then.
  at = std::min(at, store::kMaxExpireAtMs);
  Record r;
  bool found;
  if (!Read(c, Db(c), c.args[1], &r, &found)) return;
  if (!found) return c.out.Integer(0);
  const bool has_ttl = r.expire_at_ms != 0;
  // A key without a TTL counts as an infinite TTL for GT and LT.
  if ((nx && has_ttl) || (xx && !has_ttl) || (gt && (!has_ttl || at <= r.expire_at_ms)) ||
      (lt && has_ttl && at >= r.expire_at_ms)) {
    return c.out.Integer(0);
  }
  absl::Status s;
  if (at <= c.now_ms) {
    s = c.server.backend->Delete(Db(c), c.args[1]);  // an expire in the past deletes
  } else {
    r.expire_at_ms = at;
    s = c.server.backend->Put(Db(c), c.args[1], r);
  }
  if (!s.ok()) return ReplyStatusError(c.out, s);
  c.out.Integer(1);
}
void Expire(CommandContext& c) { ExpireGeneric(c, 1000, false); }
void PExpire(CommandContext& c) { ExpireGeneric(c, 1, false); }
void ExpireAt(CommandContext& c) { ExpireGeneric(c, 1000, true); }
void PExpireAt(CommandContext& c) { ExpireGeneric(c, 1, true); }

// TTL family: -2 absent, -1 no expiry.
void TtlGeneric(CommandContext& c, bool millis, bool absolute) {
  Record r;
  bool found;
  if (!Read(c, Db(c), c.args[1], &r, &found)) return;
  if (!found) return c.out.Integer(-2);
  if (r.expire_at_ms == 0) return c.out.Integer(-1);
  if (absolute) return c.out.Integer(millis ? r.expire_at_ms : r.expire_at_ms / 1000);
  int64_t left = std::max<int64_t>(0, r.expire_at_ms - c.now_ms);
  c.out.Integer(millis ? left : (left + 500) / 1000);
}
void Ttl(CommandContext& c) { TtlGeneric(c, false, false); }
void PTtl(CommandContext& c) { TtlGeneric(c, true, false); }
void ExpireTime(CommandContext& c) { TtlGeneric(c, false, true); }
void PExpireTime(CommandContext& c) { TtlGeneric(c, true, true); }

void Persist(CommandContext& c) {
  Record r;
  bool found;
  if (!Read(c, Db(c), c.args[1], &r, &found)) return;
  if (!found || r.expire_at_ms == 0) return c.out.Integer(0);
  r.expire_at_ms = 0;
  if (absl::Status s = c.server.backend->Put(Db(c), c.args[1], r); !s.ok()) {
    return ReplyStatusError(c.out, s);
  }
  c.out.Integer(1);
}

void Type(CommandContext& c) {
  Record r;
  bool found;
  if (!Read(c, Db(c), c.args[1], &r, &found)) return;
  c.out.SimpleString(found ? store::TypeName(r.type) : "none");
}

bool HasPrefix(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

void Keys(CommandContext& c) {
  const std::string_view pattern = c.args[1];
  const std::string prefix = GlobLiteralPrefix(pattern);
  const bool all = pattern == "*";
  std::vector<std::string> keys;
  absl::Status s =
      c.server.backend->Scan(Db(c), prefix, "", [&](std::string_view k, const RecordView&) {
        if (!HasPrefix(k, prefix)) return false;
        if (all || GlobMatch(pattern, k)) keys.emplace_back(k);
        return true;
      });
  if (!s.ok()) return ReplyStatusError(c.out, s);
  c.out.BulkArray(keys);
}

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. The cursor names where to resume
// (see CursorTable); COUNT bounds the keys visited per call, as in Redis.
void Scan(CommandContext& c) {
  uint64_t cursor;
  if (!absl::SimpleAtoi(absl::string_view(c.args[1].data(), c.args[1].size()), &cursor)) {
    return c.out.Error("ERR invalid cursor");
  }
  ScanOptions opts;
  if (!ParseScanOptions(c, 2, true, &opts)) return;
  const std::string_view pattern = opts.pattern;
  const bool has_pattern = opts.has_pattern, has_type = opts.has_type;
  const std::string& type = opts.type;
  const int64_t count = opts.count;
  std::string start;
  if (cursor != 0 && !c.server.cursors.Lookup(cursor, &start)) start.clear();  // restart
  const std::string prefix = has_pattern ? GlobLiteralPrefix(pattern) : "";
  if (start < prefix) start = prefix;
  std::vector<std::string> keys;
  std::string resume;
  int64_t visited = 0;
  absl::Status s =
      c.server.backend->Scan(Db(c), start, "", [&](std::string_view k, const RecordView& r) {
        if (!prefix.empty() && !HasPrefix(k, prefix)) return false;
        if (visited++ == count) {
          resume.assign(k.data(), k.size());
          return false;
        }
        if (has_pattern && !GlobMatch(pattern, k)) return true;
        if (has_type && store::TypeName(r.type) != type) return true;
        keys.emplace_back(k);
        return true;
      });
  if (!s.ok()) return ReplyStatusError(c.out, s);
  const uint64_t next = resume.empty() ? 0 : c.server.cursors.Save(std::move(resume));
  c.out.ArrayHeader(2);
  c.out.Bulk(absl::StrCat(next));
  c.out.BulkArray(keys);
}

// A random key: a random point of the key space, then the first key at or after it
// (wrapping around). Not uniform over keys, but O(log n), never a full scan.
void RandomKey(CommandContext& c) {
  static thread_local Random rnd(static_cast<uint64_t>(c.now_ms) ^ 0x5bd1e995);
  std::string probe(8, '\0');
  for (auto& ch : probe) ch = static_cast<char>(rnd.Uniform(256));
  std::string found;
  bool any = false;
  for (std::string_view from : {std::string_view(probe), std::string_view()}) {
    absl::Status s =
        c.server.backend->Scan(Db(c), from, "", [&](std::string_view k, const RecordView&) {
          found.assign(k.data(), k.size());
          any = true;
          return false;
        });
    if (!s.ok()) return ReplyStatusError(c.out, s);
    if (any) break;
  }
  any ? c.out.Bulk(found) : c.out.Null();
}

void RenameGeneric(CommandContext& c, bool nx) {
  Record r;
  bool found;
  if (!Read(c, Db(c), c.args[1], &r, &found)) return;
  if (!found) return c.out.Error("ERR no such key");
  if (c.args[1] == c.args[2]) return nx ? c.out.Integer(0) : c.out.SimpleString("OK");
  if (nx) {
    Record existing;
    bool dst_found;
    if (!Read(c, Db(c), c.args[2], &existing, &dst_found)) return;
    if (dst_found) return c.out.Integer(0);
  }
  if (store::IsCollection(r.type)) {
    if (!MoveCollection(c, Db(c), c.args[1], r, Db(c), c.args[2])) return;
    return nx ? c.out.Integer(1) : c.out.SimpleString("OK");
  }
  std::vector<store::Mutation> batch;
  batch.push_back(store::Mutation::Delete(Db(c), std::string(c.args[1])));
  batch.push_back(store::Mutation::Put(Db(c), std::string(c.args[2]), std::move(r)));
  if (absl::Status s = c.server.backend->Apply(batch); !s.ok()) return ReplyStatusError(c.out, s);
  nx ? c.out.Integer(1) : c.out.SimpleString("OK");
}
void Rename(CommandContext& c) { RenameGeneric(c, false); }
void RenameNx(CommandContext& c) { RenameGeneric(c, true); }

bool ParseDbIndex(CommandContext& c, std::string_view arg, int* db) {
  int64_t v;
  if (!ParseInt64(arg, &v)) {
    c.out.Error(kErrNotInteger);
    return false;
  }
  if (v < 0 || v >= c.server.config->Get().databases) {
    c.out.Error("ERR DB index is out of range");
    return false;
  }
  *db = static_cast<int>(v);
  return true;
}

// COPY source destination [DB destination-db] [REPLACE]
void Copy(CommandContext& c) {
  int dst_db = Db(c);
  bool replace = false;
  for (size_t i = 3; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "replace") {
      replace = true;
    } else if (opt == "db" && i + 1 < c.args.size()) {
      if (!ParseDbIndex(c, c.args[++i], &dst_db)) return;
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  const int src_db = Db(c);
  if (src_db == dst_db && c.args[1] == c.args[2]) {
    return c.out.Error("ERR source and destination objects are the same");
  }
  KeyLocks::Guard guard(&c.server.locks, {{src_db, c.args[1]}, {dst_db, c.args[2]}});
  Record r;
  bool found;
  if (!Read(c, src_db, c.args[1], &r, &found)) return;
  if (!found) return c.out.Integer(0);
  Record existing;
  bool dst_found;
  if (!Read(c, dst_db, c.args[2], &existing, &dst_found)) return;
  if (dst_found && !replace) return c.out.Integer(0);
  if (store::IsCollection(r.type)) {
    // A fresh version for the copy; an old destination's members become unreachable.
    if (!MoveCollection(c, src_db, c.args[1], r, dst_db, c.args[2], /*keep_source=*/true)) return;
  } else {
    std::vector<store::Mutation> batch;
    batch.push_back(store::Mutation::Put(dst_db, std::string(c.args[2]), std::move(r)));
    if (absl::Status s = c.server.backend->Apply(batch); !s.ok()) return ReplyStatusError(c.out, s);
  }
  c.server.watches.Touch(dst_db, c.args[2]);
  c.server.blocking.Signal(dst_db, c.args[2]);
  c.out.Integer(1);
}

// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT|HELP key: cairn keeps no Redis encodings or
// LRU/LFU clocks; ENCODING names what Redis would use for the type at its size, IDLETIME
// is 0, REFCOUNT 1, FREQ refused as Redis refuses it without an LFU policy.
void Object(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  if (sub == "help" && c.args.size() == 2) {
    return c.out.BulkArray({"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                            "ENCODING <key>", "FREQ <key>", "IDLETIME <key>", "REFCOUNT <key>", "HELP"});
  }
  if (c.args.size() != 3 || (sub != "encoding" && sub != "freq" && sub != "idletime" && sub != "refcount")) {
    return ReplyBadSubcommand(c);
  }
  Record r;
  bool found;
  if (!Read(c, Db(c), c.args[2], &r, &found)) return;
  if (!found) return c.out.Null();
  if (sub == "refcount") return c.out.Integer(1);
  if (sub == "idletime") return c.out.Integer(0);
  if (sub == "freq") {
    return c.out.Error(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when "
        "switching between policies at runtime LRU and LFU data will take some time to adjust.");
  }
  std::string encoding;
  switch (r.type) {
    case store::ValueType::kString: {
      int64_t v;
      encoding = ParseInt64(r.value, &v) ? "int" : r.value.size() <= 44 ? "embstr" : "raw";
      break;
    }
    case store::ValueType::kList:
      encoding = "quicklist";
      break;
    case store::ValueType::kHash:
      encoding = "hashtable";
      break;
    case store::ValueType::kSet:
      encoding = "hashtable";
      break;
    case store::ValueType::kZSet:
      encoding = "skiplist";
      break;
    case store::ValueType::kStream:
      encoding = "stream";
      break;
  }
  c.out.Bulk(encoding);
}

// MEMORY USAGE key [SAMPLES n] | STATS | DOCTOR | PURGE | MALLOC-STATS | HELP. USAGE is the
// bytes the key's data takes (key, value or members, and their per-item overhead), for
// a collection estimated from a sample of its members as Redis estimates it (SAMPLES 0:
// every member); STATS reports this process's allocator figures.
void Memory(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  if (sub == "usage" && c.args.size() >= 3) {
    int64_t samples = 5;
    for (size_t i = 3; i < c.args.size(); i++) {
      if (Lower(c.args[i]) == "samples" && i + 1 < c.args.size()) {
        if (!ParseInt64(c.args[++i], &samples) || samples < 0) return c.out.Error(kErrNotInteger);
      } else {
        return c.out.Error(kErrSyntax);
      }
    }
    Record r;
    bool found;
    if (!Read(c, Db(c), c.args[2], &r, &found)) return;
    if (!found) return c.out.Null();
    constexpr int64_t kEntryOverhead = 56;  // a key's or a member's bookkeeping, as Redis's dictEntry + robj
    int64_t bytes = kEntryOverhead + static_cast<int64_t>(c.args[2].size());
    if (!store::IsCollection(r.type)) return c.out.Integer(bytes + static_cast<int64_t>(r.value.size()));
    store::CollectionMeta meta;
    if (absl::Status s = store::DecodeCollectionMeta(r.type, r.value, &meta); !s.ok()) return ReplyStatusError(c.out, s);
    int64_t seen = 0, seen_bytes = 0;
    absl::Status s = c.server.backend->ScanMembers(
        Db(c), c.args[2], meta.version, "", "", false, [&](std::string_view m, std::string_view v) {
          seen++;
          seen_bytes += static_cast<int64_t>(m.size() + v.size()) + kEntryOverhead / 2;
          return samples == 0 || seen < samples;
        });
    if (!s.ok()) return ReplyStatusError(c.out, s);
    int64_t members = static_cast<int64_t>(meta.size);
    if (r.type == store::ValueType::kZSet) members *= 2;  // by member and by score
    if (seen > 0) bytes += seen_bytes * std::max<int64_t>(members, seen) / seen;
    return c.out.Integer(bytes + static_cast<int64_t>(r.value.size()));
  }
  if (sub == "stats" && c.args.size() == 2) {
    const uint64_t used = c.server.used_memory ? c.server.used_memory() : 0;
    c.out.MapHeader(2);
    c.out.Bulk("total.allocated");
    c.out.Integer(static_cast<int64_t>(used));
    c.out.Bulk("clients.normal");
    c.out.Integer(static_cast<int64_t>(c.server.clients.size()));
    return;
  }
  if (sub == "doctor" && c.args.size() == 2) {
    return c.out.Verbatim("Hi Sam, I can't find any memory issue in your instance. Values live on disk in "
                          "cairn's engine; INFO memory shows the process's and the caches' use.\n");
  }
  if (sub == "purge" && c.args.size() == 2) return c.out.SimpleString("OK");
  if (sub == "malloc-stats" && c.args.size() == 2) {
    return c.out.Verbatim("Stats not supported for the current allocator\n");
  }
  if (sub == "help" && c.args.size() == 2) {
    return c.out.BulkArray({"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "DOCTOR",
                            "MALLOC-STATS", "PURGE", "STATS", "USAGE <key> [SAMPLES <count>]", "HELP"});
  }
  ReplyBadSubcommand(c);
}

// WAIT numreplicas timeout: a single node has no replicas (0) and every write is already
// in its WAL; a cluster write is on W replicas when acknowledged.
void Wait(CommandContext& c) {
  int64_t n, timeout;
  if (!ParseInt64(c.args[1], &n) || !ParseInt64(c.args[2], &timeout)) return c.out.Error(kErrNotInteger);
  if (timeout < 0) return c.out.Error("ERR timeout is negative");
  c.out.Integer(0);
}

void Move(CommandContext& c) {
  int dst;
  if (!ParseDbIndex(c, c.args[2], &dst)) return;
  const int src = Db(c);
  if (src == dst) return c.out.Error("ERR source and destination objects are the same");
  // The key in both databases, under one guard: all stripes in one sorted order, so MOVE
  // cannot deadlock with another MOVE or a multi-key write.
  KeyLocks::Guard guard(&c.server.locks, {{src, c.args[1]}, {dst, c.args[1]}});
  Record r;
  bool found;
  if (!Read(c, src, c.args[1], &r, &found)) return;
  if (!found) return c.out.Integer(0);
  Record existing;
  bool dst_found;
  if (!Read(c, dst, c.args[1], &existing, &dst_found)) return;
  if (dst_found) return c.out.Integer(0);
  if (store::IsCollection(r.type)) {
    if (!MoveCollection(c, src, c.args[1], r, dst, c.args[1])) return;
  } else {
    std::vector<store::Mutation> batch;
    batch.push_back(store::Mutation::Delete(src, std::string(c.args[1])));
    batch.push_back(store::Mutation::Put(dst, std::string(c.args[1]), std::move(r)));
    if (absl::Status s = c.server.backend->Apply(batch); !s.ok()) {
      return ReplyStatusError(c.out, s);
    }
  }
  c.server.watches.Touch(src, c.args[1]);
  c.server.watches.Touch(dst, c.args[1]);
  c.server.blocking.Signal(dst, c.args[1]);
  c.out.Integer(1);
}

void SwapDb(CommandContext& c) {
  int64_t a, b;
  if (!ParseInt64(c.args[1], &a)) return c.out.Error("ERR invalid first DB index");
  if (!ParseInt64(c.args[2], &b)) return c.out.Error("ERR invalid second DB index");
  const int n = c.server.config->Get().databases;
  if (a < 0 || a >= n || b < 0 || b >= n) return c.out.Error("ERR DB index is out of range");
  KeyLocks::Guard all(&c.server.locks);
  if (absl::Status s = c.server.backend->SwapDb(static_cast<int>(a), static_cast<int>(b));
      !s.ok()) {
    return ReplyStatusError(c.out, s);
  }
  c.server.watches.TouchDb(static_cast<int>(a));
  c.server.watches.TouchDb(static_cast<int>(b));
  c.out.SimpleString("OK");
}

void DbSize(CommandContext& c) {
  if (std::optional<store::KeyCounts> counts = c.server.backend->Counts(Db(c))) {
    return c.out.Integer(std::max<int64_t>(0, counts->keys));
  }
  int64_t n = 0;
  absl::Status s = c.server.backend->Scan(Db(c), "", "", [&](std::string_view, const RecordView&) {
    n++;
    return true;
  });
  if (!s.ok()) return ReplyStatusError(c.out, s);
  c.out.Integer(n);
}

bool CheckFlushArgs(CommandContext& c) {
  if (c.args.size() > 2) {
    c.out.Error(kErrSyntax);
    return false;
  }
  if (c.args.size() == 2) {
    const std::string mode = Lower(c.args[1]);
    if (mode != "sync" && mode != "async") {
      c.out.Error(kErrSyntax);
      return false;
    }
  }
  return true;
}

void FlushDb(CommandContext& c) {
  if (!CheckFlushArgs(c)) return;
  KeyLocks::Guard all(&c.server.locks);
  if (absl::Status s = c.server.backend->Clear(Db(c)); !s.ok()) return ReplyStatusError(c.out, s);
  c.server.watches.TouchDb(Db(c));
  if (c.server.tracking.any()) c.server.tracking.InvalidateAll();  // as Redis's flush
  c.out.SimpleString("OK");
}

void FlushAll(CommandContext& c) {
  if (!CheckFlushArgs(c)) return;
  KeyLocks::Guard all(&c.server.locks);
  const int n = c.server.config->Get().databases;
  for (int db = 0; db < n; db++) {
    if (absl::Status s = c.server.backend->Clear(db); !s.ok()) return ReplyStatusError(c.out, s);
  }
  c.server.watches.TouchAll();
  if (c.server.tracking.any()) c.server.tracking.InvalidateAll();  // as Redis's flush
  c.out.SimpleString("OK");
}

// CAIRN.RANGE start end [LIMIT n] [WITHVALUES]: keys in [start, end) in byte order (end
// "" or "+": to the last key). Redis has no ordered keyspace; cairn does.
void Range(CommandContext& c) {
  int64_t limit = 1000;
  bool with_values = false;
  for (size_t i = 3; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "limit" && i + 1 < c.args.size()) {
      if (!ParseInt64(c.args[++i], &limit)) return c.out.Error(kErrNotInteger);
      if (limit < 0) return c.out.Error("ERR LIMIT can't be negative");
    } else if (opt == "withvalues") {
      with_values = true;
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  std::string_view end = c.args[2];
  if (end == "+") end = "";
  std::vector<std::string> items;
  int64_t n = 0;
  absl::Status s =
      c.server.backend->Scan(Db(c), c.args[1], end, [&](std::string_view k, const RecordView& r) {
        if (n >= limit) return false;
        n++;
        items.emplace_back(k);
        if (with_values) items.emplace_back(r.value);
        return true;
      });
  if (!s.ok()) return ReplyStatusError(c.out, s);
  c.out.BulkArray(items);
}

const CommandSpec kCommands[] = {
    {"del", -2, kWrite, 1, -1, 1, Del, "generic", "Deletes one or more keys."},
    {"unlink", -2, kWrite | kFast, 1, -1, 1, Del, "generic", "Deletes one or more keys."},
    {"exists", -2, kReadOnly | kFast, 1, -1, 1, Exists, "generic",
     "Determines whether one or more keys exist."},
    {"touch", -2, kReadOnly | kFast, 1, -1, 1, Exists, "generic",
     "Returns the number of existing keys out of those specified."},
    {"expire", -3, kWrite | kFast | kExpiryOnly, 1, 1, 1, Expire, "generic",
     "Sets the expiration time of a key in seconds."},
    {"pexpire", -3, kWrite | kFast | kExpiryOnly, 1, 1, 1, PExpire, "generic",
     "Sets the expiration time of a key in milliseconds."},
    {"expireat", -3, kWrite | kFast | kExpiryOnly, 1, 1, 1, ExpireAt, "generic",
     "Sets the expiration time of a key to a Unix timestamp."},
    {"pexpireat", -3, kWrite | kFast | kExpiryOnly, 1, 1, 1, PExpireAt, "generic",
     "Sets the expiration time of a key to a Unix milliseconds timestamp."},
    {"ttl", 2, kReadOnly | kFast, 1, 1, 1, Ttl, "generic",
     "Returns the expiration time in seconds of a key."},
    {"pttl", 2, kReadOnly | kFast, 1, 1, 1, PTtl, "generic",
     "Returns the expiration time in milliseconds of a key."},
    {"expiretime", 2, kReadOnly | kFast, 1, 1, 1, ExpireTime, "generic",
     "Returns the expiration time of a key as a Unix timestamp."},
    {"pexpiretime", 2, kReadOnly | kFast, 1, 1, 1, PExpireTime, "generic",
     "Returns the expiration time of a key as a Unix milliseconds timestamp."},
    {"persist", 2, kWrite | kFast | kExpiryOnly, 1, 1, 1, Persist, "generic",
     "Removes the expiration time of a key."},
    {"type", 2, kReadOnly | kFast, 1, 1, 1, Type, "generic",
     "Determines the type of value stored at a key."},
    {"keys", 2, kReadOnly | kKeyspace, 0, 0, 0, Keys, "generic", "Returns all key names that match a pattern."},
    {"scan", -2, kReadOnly | kKeyspace, 0, 0, 0, Scan, "generic",
     "Iterates over the key names in the database."},
    {"randomkey", 1, kReadOnly | kKeyspace, 0, 0, 0, RandomKey, "generic",
     "Returns a random key name from the database."},
    {"rename", 3, kWrite, 1, 2, 1, Rename, "generic",
     "Renames a key and overwrites the destination."},
    {"renamenx", 3, kWrite | kFast, 1, 2, 1, RenameNx, "generic",
     "Renames a key only when the target key name doesn't exist."},
    {"copy", -3, kWrite | kDenyOom | kNoLock, 1, 2, 1, Copy, "generic", "Copies the value of a key to a new key.",
     0, 4},  // db_at: COPY src dst DB n (cluster mode reads the keys in db n too)
    {"object", -2, kReadOnly | kContainer, 2, 2, 1, Object, "generic",
     "A container for object introspection commands (ENCODING, FREQ, IDLETIME, REFCOUNT)."},
    {"memory", -2, kReadOnly | kLockKeys | kContainer, 2, 2, 1, Memory, "server",
     "A container for memory diagnostics commands (USAGE, STATS, DOCTOR, PURGE, MALLOC-STATS)."},
    {"wait", 3, 0, 0, 0, 0, Wait, "generic",
     "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."},
    {"move", 3, kWrite | kFast | kNoLock, 1, 1, 1, Move, "generic",
     "Moves a key to another database.", /*numkeys_at=*/0, /*db_at=*/2},
    {"swapdb", 3, kWrite | kFast | kNoLock | kKeyspace, 0, 0, 0, SwapDb, "server",
     "Swaps two Redis databases."},
    {"dbsize", 1, kReadOnly | kKeyspace, 0, 0, 0, DbSize, "server",
     "Returns the number of keys in the database (O(n) in cairn: the keyspace is on disk)."},
    {"flushdb", -1, kWrite | kNoLock | kKeyspace, 0, 0, 0, FlushDb, "server",
     "Removes all keys from the current database."},
    {"flushall", -1, kWrite | kNoLock | kKeyspace, 0, 0, 0, FlushAll, "server",
     "Removes all keys from all databases."},
    {"cairn.range", -3, kReadOnly | kKeyspace, 0, 0, 0, Range, "generic",
     "Returns the keys (and values) in [start, end) in byte order."},
};

}  // namespace

void RegisterKeyspaceCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& c : kCommands) table->push_back(&c);
}

}  // namespace cairn::server
