// Streams (Redis 7 semantics): XADD XRANGE XREVRANGE XLEN XDEL XTRIM XREAD XSETID XINFO
// XGROUP XREADGROUP XACK XPENDING XCLAIM XAUTOCLAIM.
//
// A stream is a collection (store/collection.h, type 'x') whose metadata also holds its
// last ID, the largest ID XDEL removed and the count of entries ever added; its members:
//
//   'e' | fixed64 BE ms | fixed64 BE seq  ->  varint n | n length-prefixed field/value strings
//   'g' | group                           ->  fixed64 last ms | last seq | entries read (+1; 0: unknown)
//   'p' | fixed32 BE len | group | id(16) ->  fixed64 delivery ms | delivery count | consumer
//   'c' | fixed32 BE len | group | name   ->  fixed64 seen ms | active ms
//
// so entries are read in ID order by a member scan, a group's pending entries likewise,
// and the metadata's size counts entries only (XLEN). Approximate trimming (~) removes
// whole blocks of 100 entries, as Redis removes whole radix-tree nodes
// (stream-node-max-entries 100).
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/coding.h"
#include "base/status.h"
#include "server/blocking.h"
#include "server/collections.h"
#include "server/command.h"
#include "server/stream.h"

namespace cairn::server {
namespace {

using store::ValueType;

constexpr std::string_view kErrInvalidId = "ERR Invalid stream ID specified as stream command argument";
constexpr uint64_t kMax = UINT64_MAX;
constexpr int64_t kNodeEntries = 100;  // Redis's stream-node-max-entries

struct Id {
  uint64_t ms = 0, seq = 0;
  bool operator<(const Id& o) const { return ms < o.ms || (ms == o.ms && seq < o.seq); }
  bool operator==(const Id& o) const { return ms == o.ms && seq == o.seq; }
  bool operator<=(const Id& o) const { return !(o < *this); }
  std::string Text() const { return absl::StrCat(ms, "-", seq); }
};

void PutBE64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
uint64_t GetBE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string EntryMember(Id id) {
  std::string m = "e";
  PutBE64(&m, id.ms);
  PutBE64(&m, id.seq);
  return m;
}
Id EntryId(std::string_view member) { return {GetBE64(member.data() + 1), GetBE64(member.data() + 9)}; }
bool IsEntry(std::string_view member) { return member.size() == 17 && member[0] == 'e'; }

std::string Scoped(char tag, std::string_view group, std::string_view rest) {
  std::string m(1, tag);
  const uint32_t n = static_cast<uint32_t>(group.size());
  for (int shift = 24; shift >= 0; shift -= 8) m.push_back(static_cast<char>(n >> shift));
  m.append(group.data(), group.size());
  m.append(rest.data(), rest.size());
  return m;
}
std::string PendingMember(std::string_view group, Id id) {
  std::string raw;
  PutBE64(&raw, id.ms);
  PutBE64(&raw, id.seq);
  return Scoped('p', group, raw);
}
std::string ConsumerMember(std::string_view group, std::string_view consumer) {
  return Scoped('c', group, consumer);
}
std::string GroupMember(std::string_view group) { return "g" + std::string(group); }

std::string EncodeFields(const std::vector<std::string_view>& args, size_t first) {
  std::string v;
  PutVarint32(&v, static_cast<uint32_t>(args.size() - first));
  for (size_t i = first; i < args.size(); i++) PutLengthPrefixed(&v, args[i]);
  return v;
}

bool DecodeFields(std::string_view v, std::vector<std::string_view>* out) {
  uint32_t n = 0;
  if (!GetVarint32(&v, &n)) return false;
  out->clear();
  for (uint32_t i = 0; i < n; i++) {
    std::string_view s;
    if (!GetLengthPrefixed(&v, &s)) return false;
    out->push_back(s);
  }
  return true;
}

// An ID argument: "ms-seq", "ms" (seq: missing_seq), "-" and "+". False: not an ID.
bool ParseId(std::string_view s, uint64_t missing_seq, Id* id, bool* seq_given = nullptr) {
  if (s == "-") {
    *id = {0, 0};
    return true;
  }
  if (s == "+") {
    *id = {kMax, kMax};
    return true;
  }
  const size_t dash = s.find('-');
  auto num = [](std::string_view t, uint64_t* v) {
    if (t.empty() || t.size() > 20) return false;
    uint64_t x = 0;
    for (char ch : t) {
      if (ch < '0' || ch > '9') return false;
      const uint64_t d = static_cast<uint64_t>(ch - '0');
      if (x > (kMax - d) / 10) return false;
      x = x * 10 + d;
    }
    *v = x;
    return true;
  };
  if (dash == std::string_view::npos) {
    if (!num(s, &id->ms)) return false;
    id->seq = missing_seq;
    if (seq_given != nullptr) *seq_given = false;
    return true;
  }
  if (!num(s.substr(0, dash), &id->ms) || !num(s.substr(dash + 1), &id->seq)) return false;
  if (seq_given != nullptr) *seq_given = true;
  return true;
}

// An exact ID (XDEL, XACK, XCLAIM): not "-" or "+".
bool ParseExactId(std::string_view s, Id* id) { return s != "-" && s != "+" && ParseId(s, 0, id); }

// A range bound of XRANGE/XREVRANGE/XPENDING: "(" excludes it. False after replying.
bool ParseBound(CommandContext& c, std::string_view s, bool start, Id* id) {
  const bool exclusive = s.starts_with("(");
  if (exclusive) s.remove_prefix(1);
  if (exclusive && (s == "-" || s == "+")) {
    c.out.Error(kErrInvalidId);
    return false;
  }
  if (!ParseId(s, start ? 0 : kMax, id)) {
    c.out.Error(kErrInvalidId);
    return false;
  }
  if (exclusive) {
    if (start) {
      if (id->ms == kMax && id->seq == kMax) {
        c.out.Error("ERR invalid start ID for the interval");
        return false;
      }
      if (id->seq == kMax) {
        id->ms++;
        id->seq = 0;
      } else {
        id->seq++;
      }
    } else {
      if (id->ms == 0 && id->seq == 0) {
        c.out.Error("ERR invalid end ID for the interval");
        return false;
      }
      if (id->seq == 0) {
        id->ms--;
        id->seq = kMax;
      } else {
        id->seq--;
      }
    }
  }
  return true;
}

void ReplyEntry(CommandContext& c, Id id, std::string_view value) {
  std::vector<std::string_view> fields;
  c.out.ArrayHeader(2);
  c.out.Bulk(id.Text());
  if (!DecodeFields(value, &fields)) fields.clear();
  c.out.ArrayHeader(fields.size());
  for (std::string_view f : fields) c.out.Bulk(f);
}

// Entries with from <= id <= to, at most count (0: all), in order or reversed.
bool ReadEntries(CommandContext& c, const Collection& s, Id from, Id to, bool reverse, int64_t count,
                 std::vector<std::pair<Id, std::string>>* out) {
  if (to < from) return true;
  const std::string start = EntryMember(from);
  const std::string end = EntryMember(to) + std::string(1, '\0');
  return ScanMembers(c, s, start, end, reverse, [&](std::string_view member, std::string_view value) {
    if (!IsEntry(member)) return true;
    out->emplace_back(EntryId(member), std::string(value));
    return count <= 0 || static_cast<int64_t>(out->size()) < count;
  });
}

bool LoadStream(CommandContext& c, std::string_view key, Collection* s) {
  return LoadCollection(c, key, ValueType::kStream, s);
}

Id LastId(const Collection& s) { return {s.meta.last_ms, s.meta.last_seq}; }

// --- trimming -----------------------------------------------------------------------------

struct Trim {
  bool given = false, maxlen = true, approx = false;
  int64_t threshold = 0;  // MAXLEN
  Id min_id;              // MINID
  int64_t limit = -1;     // -1: none given
};

// MAXLEN|MINID [=|~] threshold [LIMIT count] at args[*i]; false after replying.
bool ParseTrim(CommandContext& c, size_t* i, Trim* t) {
  const std::string kind = Lower(c.args[*i]);
  t->given = true;
  t->maxlen = kind == "maxlen";
  size_t at = *i + 1;
  if (at < c.args.size() && (c.args[at] == "~" || c.args[at] == "=")) {
    t->approx = c.args[at] == "~";
    at++;
  }
  if (at >= c.args.size()) {
    c.out.Error(kErrSyntax);
    return false;
  }
  if (t->maxlen) {
    if (!ParseInt64(c.args[at], &t->threshold)) {
      c.out.Error(kErrNotInteger);
      return false;
    }
    if (t->threshold < 0) {
      c.out.Error("ERR The MAXLEN argument must be >= 0.");
      return false;
    }
  } else if (!ParseId(c.args[at], 0, &t->min_id)) {
    c.out.Error(kErrInvalidId);
    return false;
  }
  at++;
  if (at + 1 < c.args.size() && Lower(c.args[at]) == "limit") {
    if (!ParseInt64(c.args[at + 1], &t->limit)) {
      c.out.Error(kErrNotInteger);
      return false;
    }
    if (t->limit < 0) {
      c.out.Error("ERR The LIMIT argument must be >= 0.");
      return false;
    }
    at += 2;
  }
  *i = at;
  return true;
}

// Removes what the trim asks of s's oldest entries; returns how many.
// added: the entry XADD is adding in this batch (not yet stored), the newest.
bool ApplyTrim(CommandContext& c, Collection* s, const Trim& t, CollectionBatch* batch, int64_t* removed,
               std::optional<Id> added = std::nullopt) {
  *removed = 0;
  if (!t.given || !s->exists) return true;
  if (t.limit >= 0 && !t.approx) {
    c.out.Error("ERR syntax error, LIMIT cannot be used without the special ~ option");
    return false;
  }
  int64_t want = 0;  // entries to remove from the head
  std::vector<std::pair<Id, std::string>> head;
  if (t.maxlen) {
    want = static_cast<int64_t>(s->meta.size) - t.threshold;
    if (want <= 0) return true;
  } else {
    if (t.min_id.ms == 0 && t.min_id.seq == 0) return true;  // nothing is below 0-0
    const Id below = t.min_id.seq > 0 ? Id{t.min_id.ms, t.min_id.seq - 1} : Id{t.min_id.ms - 1, kMax};
    if (!ReadEntries(c, *s, {0, 0}, below, false, 0, &head)) return false;
    want = static_cast<int64_t>(head.size()) + (added && *added < t.min_id ? 1 : 0);
  }
  if (t.approx) {
    want -= want % kNodeEntries;  // whole nodes only
    const int64_t limit = t.limit >= 0 ? (t.limit == 0 ? INT64_MAX : t.limit) : kNodeEntries * 100;
    want = std::min(want, limit - limit % kNodeEntries);
  }
  if (want <= 0) return true;
  if (head.empty() || static_cast<int64_t>(head.size()) < want) {
    head.clear();
    if (!ReadEntries(c, *s, {0, 0}, {kMax, kMax}, false, want, &head)) return false;
  }
  for (int64_t k = 0; k < want && k < static_cast<int64_t>(head.size()); k++) {
    if (added && head[static_cast<size_t>(k)].first == *added) continue;
    batch->DeleteMember(*s, EntryMember(head[static_cast<size_t>(k)].first));
    s->meta.size--;
    (*removed)++;
  }
  if (*removed < want && added) {  // every older entry went: the new one too
    batch->DeleteMember(*s, EntryMember(*added));
    s->meta.size--;
    (*removed)++;
  }
  return true;
}

// --- commands -----------------------------------------------------------------------------

void XAdd(CommandContext& c) {
  size_t i = 2;
  bool nomkstream = false;
  Trim trim;
  for (; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "nomkstream") {
      nomkstream = true;
    } else if (opt == "maxlen" || opt == "minid") {
      if (!ParseTrim(c, &i, &trim)) return;
      i--;
    } else {
      break;
    }
  }
  if (i >= c.args.size() || (c.args.size() - i - 1) % 2 != 0 || c.args.size() - i - 1 == 0) {
    return c.out.Error("ERR wrong number of arguments for 'xadd' command");
  }
  if (trim.limit >= 0 && !trim.approx) {
    return c.out.Error("ERR syntax error, LIMIT cannot be used without the special ~ option");
  }
  const std::string_view id_arg = c.args[i];
  Id id;
  bool auto_id = id_arg == "*", auto_seq = false, seq_given = true;
  if (!auto_id) {
    if (id_arg.ends_with("-*")) {
      auto_seq = true;
      if (!ParseId(id_arg.substr(0, id_arg.size() - 2), 0, &id)) return c.out.Error(kErrInvalidId);
    } else if (!ParseId(id_arg, 0, &id, &seq_given)) {
      return c.out.Error(kErrInvalidId);
    }
    if (!auto_seq && id.ms == 0 && id.seq == 0) {
      return c.out.Error("ERR The ID specified in XADD must be greater than 0-0");
    }
  }
  Collection s;
  if (!LoadStream(c, c.args[1], &s)) return;
  if (!s.exists && nomkstream) return c.out.NullArray();
  const Id last = LastId(s);
  if (auto_id) {
    const uint64_t now = static_cast<uint64_t>(c.now_ms);
    if (now > last.ms) {
      id = {now, 0};
    } else {
      if (last.seq == kMax) {
        if (last.ms == kMax) return c.out.Error("ERR The stream has exhausted the last possible ID, unable to add more items");
        id = {last.ms + 1, 0};
      } else {
        id = {last.ms, last.seq + 1};
      }
    }
  } else if (auto_seq) {
    if (id.ms == last.ms) {
      if (last.seq == kMax) return c.out.Error("ERR The ID specified in XADD is equal or smaller than the target stream top item");
      id.seq = last.seq + 1;
    } else if (id.ms < last.ms) {
      return c.out.Error("ERR The ID specified in XADD is equal or smaller than the target stream top item");
    } else {
      id.seq = 0;
    }
  } else if (id <= last) {
    return c.out.Error("ERR The ID specified in XADD is equal or smaller than the target stream top item");
  }
  CollectionBatch batch(c);
  batch.Create(&s);
  batch.PutMember(s, EntryMember(id), EncodeFields(c.args, i + 1));
  s.meta.size++;
  s.meta.last_ms = id.ms;
  s.meta.last_seq = id.seq;
  s.meta.entries_added++;
  int64_t removed = 0;
  if (!ApplyTrim(c, &s, trim, &batch, &removed, id)) return;
  batch.SaveMeta(s);
  if (!batch.Commit()) return;
  c.written.push_back(std::string(c.args[1]));
  c.out.Bulk(id.Text());
}

void Range(CommandContext& c, bool reverse) {
  Id from, to;
  if (!ParseBound(c, c.args[reverse ? 3 : 2], true, &from)) return;
  if (!ParseBound(c, c.args[reverse ? 2 : 3], false, &to)) return;
  int64_t count = -1;
  if (c.args.size() > 4) {
    if (c.args.size() != 6 || Lower(c.args[4]) != "count") return c.out.Error(kErrSyntax);
    if (!ParseInt64(c.args[5], &count)) return c.out.Error(kErrNotInteger);
    if (count < 0) count = 0;
    if (count == 0) return c.out.NullArray();  // as Redis 7.0 answers COUNT 0
  }
  Collection s;
  if (!LoadStream(c, c.args[1], &s)) return;
  std::vector<std::pair<Id, std::string>> entries;
  if (!ReadEntries(c, s, from, to, reverse, count, &entries)) return;
  c.out.ArrayHeader(entries.size());
  for (const auto& [id, value] : entries) ReplyEntry(c, id, value);
}

void XRange(CommandContext& c) { Range(c, false); }
void XRevRange(CommandContext& c) { Range(c, true); }

void XLen(CommandContext& c) {
  Collection s;
  if (!LoadStream(c, c.args[1], &s)) return;
  c.out.Integer(static_cast<int64_t>(s.meta.size));
}

void XDel(CommandContext& c) {
  std::vector<Id> ids;
  for (size_t i = 2; i < c.args.size(); i++) {
    Id id;
    if (!ParseExactId(c.args[i], &id)) return c.out.Error(kErrInvalidId);
    ids.push_back(id);
  }
  Collection s;
  if (!LoadStream(c, c.args[1], &s)) return;
  if (!s.exists) return c.out.Integer(0);
  CollectionBatch batch(c);
  int64_t deleted = 0;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (const Id& id : ids) {
    std::string value;
    absl::Status st = GetMember(c, s, EntryMember(id), &value);
    if (absl::IsNotFound(st)) continue;
    if (!st.ok()) return ReplyStatusError(c.out, st);
    batch.DeleteMember(s, EntryMember(id));
    s.meta.size--;
    deleted++;
    if (Id{s.meta.max_deleted_ms, s.meta.max_deleted_seq} < id) {
      s.meta.max_deleted_ms = id.ms;
      s.meta.max_deleted_seq = id.seq;
    }
  }
  if (deleted == 0) return c.out.Integer(0);
  batch.SaveMeta(s);
  if (!batch.Commit()) return;
  c.written.push_back(std::string(c.args[1]));
  c.out.Integer(deleted);
}

void XTrim(CommandContext& c) {
  size_t i = 2;
  const std::string kind = Lower(c.args[2]);
  if (kind != "maxlen" && kind != "minid") return c.out.Error(kErrSyntax);
  Trim trim;
  if (!ParseTrim(c, &i, &trim)) return;
  if (i != c.args.size()) return c.out.Error(kErrSyntax);
  if (trim.limit >= 0 && !trim.approx) {
    return c.out.Error("ERR syntax error, LIMIT cannot be used without the special ~ option");
  }
  Collection s;
  if (!LoadStream(c, c.args[1], &s)) return;
  CollectionBatch batch(c);
  int64_t removed = 0;
  if (!ApplyTrim(c, &s, trim, &batch, &removed)) return;
  if (removed > 0) {
    batch.SaveMeta(s);
    if (!batch.Commit()) return;
    c.written.push_back(std::string(c.args[1]));
  }
  c.out.Integer(removed);
}

void XSetId(CommandContext& c) {
  Id id;
  if (!ParseId(c.args[2], 0, &id)) return c.out.Error(kErrInvalidId);
  int64_t entries_added = -1;
  std::optional<Id> max_deleted;
  for (size_t i = 3; i < c.args.size(); i += 2) {
    const std::string opt = Lower(c.args[i]);
    if (i + 1 >= c.args.size()) return c.out.Error(kErrSyntax);
    if (opt == "entriesadded") {
      if (!ParseInt64(c.args[i + 1], &entries_added)) return c.out.Error(kErrNotInteger);
      if (entries_added < 0) return c.out.Error("ERR entries_added must be positive");
    } else if (opt == "maxdeletedid") {
      Id m;
      if (!ParseId(c.args[i + 1], 0, &m)) return c.out.Error(kErrInvalidId);
      if (id < m) return c.out.Error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
      max_deleted = m;
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  Collection s;
  if (!LoadStream(c, c.args[1], &s)) return;
  if (!s.exists) return c.out.Error("ERR no such key");
  if (entries_added >= 0 && static_cast<uint64_t>(entries_added) < s.meta.size) {
    return c.out.Error("ERR The entries_added specified in XSETID is smaller than the target stream length");
  }
  if (s.meta.size > 0) {
    std::vector<std::pair<Id, std::string>> top;
    if (!ReadEntries(c, s, {0, 0}, {kMax, kMax}, true, 1, &top)) return;
    if (!top.empty() && id < top[0].first) {
      return c.out.Error("ERR The ID specified in XSETID is smaller than the target stream top item");
    }
  }
  s.meta.last_ms = id.ms;
  s.meta.last_seq = id.seq;
  if (entries_added >= 0) s.meta.entries_added = static_cast<uint64_t>(entries_added);
  if (max_deleted) {
    s.meta.max_deleted_ms = max_deleted->ms;
    s.meta.max_deleted_seq = max_deleted->seq;
  }
  CollectionBatch batch(c);
  batch.SaveMeta(s);
  if (!batch.Commit()) return;
  c.written.push_back(std::string(c.args[1]));
  c.out.SimpleString("OK");
}

// XREAD's and XREADGROUP's options from args[i] up to STREAMS: COUNT, BLOCK and (group)
// NOACK. Returns the position of STREAMS, followed by as many IDs as keys; 0 after
// replying the error.
struct ReadOptions {
  int64_t count = 0;      // 0: all
  int64_t block_ms = -1;  // -1: do not block; 0: for ever
  bool noack = false;
};

size_t ParseReadOptions(CommandContext& c, size_t i, bool group, ReadOptions* o) {
  for (; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "count" && i + 1 < c.args.size()) {
      if (!ParseInt64(c.args[++i], &o->count)) {
        c.out.Error(kErrNotInteger);
        return 0;
      }
      if (o->count < 0) o->count = 0;
    } else if (opt == "block" && i + 1 < c.args.size()) {
      if (!ParseInt64(c.args[++i], &o->block_ms)) {
        c.out.Error("ERR timeout is not an integer or out of range");
        return 0;
      }
      if (o->block_ms < 0) {
        c.out.Error("ERR timeout is negative");
        return 0;
      }
    } else if (group && opt == "noack") {
      o->noack = true;
    } else if (opt == "streams") {
      break;
    } else {
      c.out.Error(kErrSyntax);
      return 0;
    }
  }
  const size_t rest = i < c.args.size() ? c.args.size() - i - 1 : 0;
  if (i >= c.args.size() || rest == 0 || rest % 2 != 0) {
    c.out.Error(group ? "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified."
                      : "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.");
    return 0;
  }
  return i;
}

// XREAD [COUNT n] [BLOCK ms] STREAMS key... id...
void XRead(CommandContext& c) {
  ReadOptions o;
  const size_t i = ParseReadOptions(c, 1, false, &o);
  if (i == 0) return;
  const int64_t count = o.count, block_ms = o.block_ms;
  const size_t n = (c.args.size() - i - 1) / 2;
  std::vector<Collection> streams(n);
  std::vector<Id> after(n);
  bool resolved_dollar = false;
  for (size_t k = 0; k < n; k++) {
    if (!LoadStream(c, c.args[i + 1 + k], &streams[k])) return;
    const std::string_view id_arg = c.args[i + 1 + n + k];
    if (id_arg == "$") {
      after[k] = LastId(streams[k]);
      resolved_dollar = true;
    } else if (id_arg == ">") {
      return c.out.Error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
    } else if (!ParseId(id_arg, 0, &after[k])) {
      return c.out.Error(kErrInvalidId);
    }
  }
  std::vector<std::vector<std::pair<Id, std::string>>> found(n);
  size_t with_data = 0;
  for (size_t k = 0; k < n; k++) {
    Id from = after[k];
    if (from.ms == kMax && from.seq == kMax) continue;
    if (from.seq == kMax) {
      from = {from.ms + 1, 0};
    } else {
      from.seq++;
    }
    if (!ReadEntries(c, streams[k], from, {kMax, kMax}, false, count, &found[k])) return;
    if (!found[k].empty()) with_data++;
  }
  if (with_data == 0) {
    if (block_ms < 0) return c.out.NullArray();
    std::vector<std::string_view> keys(c.args.begin() + static_cast<long>(i) + 1,
                                       c.args.begin() + static_cast<long>(i + 1 + n));
    if (resolved_dollar && !c.client.in_exec) {
      // Tried again on a write: "$" means the last ID as of now, not then.
      std::vector<std::string>& retry = c.client.block.retry_args;
      retry.assign(c.args.begin(), c.args.end());
      for (size_t k = 0; k < n; k++) {
        if (c.args[i + 1 + n + k] == "$") retry[i + 1 + n + k] = after[k].Text();
      }
    }
    return Block(c, keys, block_ms == 0 ? 0 : c.now_ms + block_ms, BlockedReply::kNullArray);
  }
  if (c.out.protocol() == 3) {
    c.out.MapHeader(with_data);
  } else {
    c.out.ArrayHeader(with_data);
  }
  for (size_t k = 0; k < n; k++) {
    if (found[k].empty()) continue;
    if (c.out.protocol() != 3) c.out.ArrayHeader(2);
    c.out.Bulk(c.args[i + 1 + k]);
    c.out.ArrayHeader(found[k].size());
    for (const auto& [id, value] : found[k]) ReplyEntry(c, id, value);
  }
}


// --- consumer groups ----------------------------------------------------------------------

struct Group {
  Id last;
  int64_t entries_read = -1;  // -1: unknown
};

std::string EncodeGroup(const Group& g) {
  std::string v;
  PutFixed64(&v, g.last.ms);
  PutFixed64(&v, g.last.seq);
  PutFixed64(&v, static_cast<uint64_t>(g.entries_read));
  return v;
}

bool DecodeGroup(std::string_view v, Group* g) {
  if (v.size() != 24) return false;
  g->last = {DecodeFixed64(v.data()), DecodeFixed64(v.data() + 8)};
  g->entries_read = static_cast<int64_t>(DecodeFixed64(v.data() + 16));
  return true;
}

struct Pending {
  int64_t delivery_ms = 0;
  int64_t deliveries = 0;
  std::string consumer;
};

std::string EncodePending(const Pending& p) {
  std::string v;
  PutFixed64(&v, static_cast<uint64_t>(p.delivery_ms));
  PutFixed64(&v, static_cast<uint64_t>(p.deliveries));
  v += p.consumer;
  return v;
}

bool DecodePending(std::string_view v, Pending* p) {
  if (v.size() < 16) return false;
  p->delivery_ms = static_cast<int64_t>(DecodeFixed64(v.data()));
  p->deliveries = static_cast<int64_t>(DecodeFixed64(v.data() + 8));
  p->consumer = std::string(v.substr(16));
  return true;
}

// The first member name after every member starting with prefix.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<uint8_t>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
  return prefix;
}

// Loads group of s; false after replying with a storage error. *found says whether it is.
bool LoadGroup(CommandContext& c, const Collection& s, std::string_view group, Group* g, bool* found) {
  *found = false;
  if (!s.exists) return true;
  std::string v;
  absl::Status st = GetMember(c, s, GroupMember(group), &v);
  if (absl::IsNotFound(st)) return true;
  if (!st.ok() || !DecodeGroup(v, g)) {
    ReplyStatusError(c.out, st.ok() ? CorruptionError("bad stream group") : st);
    return false;
  }
  *found = true;
  return true;
}

void ReplyNoGroup(CommandContext& c, std::string_view key, std::string_view group) {
  c.out.Error(absl::StrCat("NOGROUP No such consumer group '", std::string(group), "' for key name '",
                           std::string(key), "'"));
}

// The first entry's ID (nullopt: none, or after replying a storage error: *ok false).
std::optional<Id> FirstId(CommandContext& c, const Collection& s, bool* ok) {
  std::vector<std::pair<Id, std::string>> first;
  *ok = ReadEntries(c, s, {0, 0}, {kMax, kMax}, false, 1, &first);
  if (!*ok || first.empty()) return std::nullopt;
  return first[0].first;
}

// Whether an XDEL'd ID may lie at or after start (Redis's streamRangeHasTombstones).
bool HasTombstonesFrom(const Collection& s, Id start) {
  const Id deleted{s.meta.max_deleted_ms, s.meta.max_deleted_seq};
  if (s.meta.size == 0 || (deleted.ms == 0 && deleted.seq == 0)) return false;
  return start <= deleted;
}

// How many entries were added up to and including id, if that can be told (Redis's
// streamEstimateDistanceFromFirstEverEntry); -1: it cannot.
int64_t EntriesUpTo(const Collection& s, Id id, std::optional<Id> first) {
  const int64_t added = static_cast<int64_t>(s.meta.entries_added);
  if (added == 0) return 0;
  const Id last = LastId(s);
  if (s.meta.size == 0 && id <= last) return added;
  if (id == last) return added;
  if (last < id) return -1;
  const Id deleted{s.meta.max_deleted_ms, s.meta.max_deleted_seq};
  if (!first) return -1;
  if ((deleted.ms == 0 && deleted.seq == 0) || deleted < *first) {
    if (id < *first) return added - static_cast<int64_t>(s.meta.size);
    if (id == *first) return added - static_cast<int64_t>(s.meta.size) + 1;
  }
  return -1;
}

// XPENDING's, XCLAIM's and XAUTOCLAIM's wording.
void ReplyNoKeyOrGroup(CommandContext& c, std::string_view key, std::string_view group) {
  c.out.Error(absl::StrCat("NOGROUP No such key '", std::string(key), "' or consumer group '",
                           std::string(group), "'"));
}

// XPENDING's, XCLAIM's and XAUTOCLAIM's start: the stream and its group, both present;
// false after replying (NOGROUP when either is missing).
bool LoadStreamGroup(CommandContext& c, std::string_view key, std::string_view group, Collection* s, Group* g) {
  bool found = false;
  if (!LoadStream(c, key, s) || !LoadGroup(c, *s, group, g, &found)) return false;
  if (!found) ReplyNoKeyOrGroup(c, key, group);
  return found;
}

// The pending entries of group (optionally one consumer's) with from <= id <= to.
bool ReadPending(CommandContext& c, const Collection& s, std::string_view group, Id from, Id to, int64_t count,
                 std::string_view consumer, std::vector<std::pair<Id, Pending>>* out) {
  if (to < from) return true;
  const std::string start = PendingMember(group, from);
  const std::string end = PendingMember(group, to) + std::string(1, '\0');
  bool bad = false;
  if (!ScanMembers(c, s, start, end, false, [&](std::string_view member, std::string_view value) {
        Pending p;
        if (member.size() < 16 || !DecodePending(value, &p)) {
          bad = true;
          return false;
        }
        if (!consumer.empty() && p.consumer != consumer) return true;
        out->emplace_back(Id{GetBE64(member.data() + member.size() - 16), GetBE64(member.data() + member.size() - 8)},
                          std::move(p));
        return count <= 0 || static_cast<int64_t>(out->size()) < count;
      })) {
    return false;
  }
  if (bad) {
    ReplyStatusError(c.out, CorruptionError("bad stream pending entry"));
    return false;
  }
  return true;
}

bool ConsumerExists(CommandContext& c, const Collection& s, std::string_view group, std::string_view consumer,
                    bool* exists) {
  std::string v;
  absl::Status st = GetMember(c, s, ConsumerMember(group, consumer), &v);
  if (!st.ok() && !absl::IsNotFound(st)) {
    ReplyStatusError(c.out, st);
    return false;
  }
  *exists = st.ok();
  return true;
}

void TouchConsumer(CollectionBatch& batch, const Collection& s, std::string_view group, std::string_view consumer,
                   int64_t now_ms) {
  std::string v;
  PutFixed64(&v, static_cast<uint64_t>(now_ms));
  batch.PutMember(s, ConsumerMember(group, consumer), v);
}

// The ID argument of XGROUP CREATE/SETID: an ID or "$".
bool GroupStartId(CommandContext& c, std::string_view arg, const Collection& s, Id* id) {
  if (arg == "$") {
    *id = LastId(s);
    return true;
  }
  if (!ParseId(arg, 0, id)) {
    c.out.Error(kErrInvalidId);
    return false;
  }
  return true;
}

void XGroup(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  if (sub == "help" && c.args.size() == 2) {
    return c.out.BulkArray({"XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                            "CREATE <key> <groupname> <id|$> [option]", "CREATECONSUMER <key> <groupname> <consumer>",
                            "DELCONSUMER <key> <groupname> <consumer>", "DESTROY <key> <groupname>",
                            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]", "HELP"});
  }
  const bool known = ((sub == "create" || sub == "setid") && c.args.size() >= 5) ||
                     (sub == "destroy" && c.args.size() == 4) ||
                     ((sub == "createconsumer" || sub == "delconsumer") && c.args.size() == 5);
  if (!known) return ReplyBadSubcommand(c);
  const std::string_view key = c.args[2], group = c.args[3];
  bool mkstream = false;
  int64_t entries_read = -1;
  if (sub == "create" || sub == "setid") {
    for (size_t i = 5; i < c.args.size(); i++) {
      const std::string opt = Lower(c.args[i]);
      if (opt == "mkstream" && sub == "create") {
        mkstream = true;
      } else if (opt == "entriesread" && i + 1 < c.args.size()) {
        if (!ParseInt64(c.args[++i], &entries_read)) return c.out.Error(kErrNotInteger);
        if (entries_read < 0 && entries_read != -1) {
          return c.out.Error("ERR value for ENTRIESREAD must be positive or -1");
        }
      } else {
        return c.out.Error(kErrSyntax);
      }
    }
  }
  Collection s;
  if (!LoadStream(c, key, &s)) return;
  if (!s.exists && !(sub == "create" && mkstream)) {
    return c.out.Error(
        "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the "
        "MKSTREAM option to create an empty stream automatically.");
  }
  Group g;
  bool found = false;
  if (!LoadGroup(c, s, group, &g, &found)) return;
  CollectionBatch batch(c);
  // The group's pending entries and consumers (all of them: DESTROY).
  const auto group_state = [&](std::vector<std::string>* members) {
    for (char tag : {'p', 'c'}) {
      const std::string prefix = Scoped(tag, group, "");
      if (!ScanMembers(c, s, prefix, PrefixEnd(prefix), false, [&](std::string_view m, std::string_view) {
            members->emplace_back(m);
            return true;
          })) {
        return false;
      }
    }
    return true;
  };
  if (sub == "create") {
    if (found) return c.out.Error("BUSYGROUP Consumer Group name already exists");
    if (!GroupStartId(c, c.args[4], s, &g.last)) return;
    g.entries_read = entries_read;
    // None on a single node (DESTROY removed them); in a cluster, a claim on one side of
    // a partition concurrent with DESTROY on the other can leave some: a new group
    // starts without them.
    std::vector<std::string> stale;
    if (s.exists && !group_state(&stale)) return;
    for (const std::string& m : stale) batch.DeleteMember(s, m);
    batch.Create(&s);
    batch.PutMember(s, GroupMember(group), EncodeGroup(g));
    batch.SaveMeta(s);
    if (!batch.Commit()) return;
    return c.out.SimpleString("OK");
  }
  if (!found) return sub == "destroy" ? c.out.Integer(0) : ReplyNoGroup(c, key, group);
  if (sub == "setid") {
    if (!GroupStartId(c, c.args[4], s, &g.last)) return;
    g.entries_read = entries_read;
    batch.PutMember(s, GroupMember(group), EncodeGroup(g));
    if (!batch.Commit()) return;
    return c.out.SimpleString("OK");
  }
  if (sub == "destroy") {
    std::vector<std::string> members;
    if (!group_state(&members)) return;
    for (const std::string& m : members) batch.DeleteMember(s, m);
    batch.DeleteMember(s, GroupMember(group));
    if (!batch.Commit()) return;
    return c.out.Integer(1);
  }
  const std::string_view consumer = c.args[4];
  bool exists = false;
  if (!ConsumerExists(c, s, group, consumer, &exists)) return;
  if (sub == "createconsumer") {
    if (exists) return c.out.Integer(0);
    TouchConsumer(batch, s, group, consumer, c.now_ms);
    if (!batch.Commit()) return;
    return c.out.Integer(1);
  }
  // DELCONSUMER: its pending entries go with it.
  if (!exists) return c.out.Integer(0);
  std::vector<std::pair<Id, Pending>> pending;
  if (!ReadPending(c, s, group, {0, 0}, {kMax, kMax}, 0, consumer, &pending)) return;
  for (const auto& [id, p] : pending) batch.DeleteMember(s, PendingMember(group, id));
  batch.DeleteMember(s, ConsumerMember(group, consumer));
  if (!batch.Commit()) return;
  c.out.Integer(static_cast<int64_t>(pending.size()));
}

// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...
void XReadGroup(CommandContext& c) {
  if (Lower(c.args[1]) != "group") return c.out.Error(kErrSyntax);
  const std::string_view group = c.args[2], consumer = c.args[3];
  ReadOptions o;
  const size_t i = ParseReadOptions(c, 4, true, &o);
  if (i == 0) return;
  const int64_t count = o.count, block_ms = o.block_ms;
  const bool noack = o.noack;
  const size_t n = (c.args.size() - i - 1) / 2;
  std::vector<Collection> streams(n);
  std::vector<Group> groups(n);
  for (size_t k = 0; k < n; k++) {
    const std::string_view key = c.args[i + 1 + k], id_arg = c.args[i + 1 + n + k];
    if (!LoadStream(c, key, &streams[k])) return;
    bool found = false;
    if (!LoadGroup(c, streams[k], group, &groups[k], &found)) return;
    if (!found) {
      return c.out.Error(absl::StrCat("NOGROUP No such key '", std::string(key), "' or consumer group '",
                                      std::string(group), "' in XREADGROUP with GROUP option"));
    }
    Id unused;
    if (id_arg == "$") return c.out.Error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
    if (id_arg != ">" && !ParseId(id_arg, 0, &unused)) return c.out.Error(kErrInvalidId);
  }
  CollectionBatch batch(c);
  struct Result {
    std::vector<std::pair<Id, std::optional<std::string>>> entries;
  };
  std::vector<Result> results(n);
  size_t with_data = 0;
  bool all_new = true;
  for (size_t k = 0; k < n; k++) {
    Collection& s = streams[k];
    const std::string_view id_arg = c.args[i + 1 + n + k];
    TouchConsumer(batch, s, group, consumer, c.now_ms);
    if (id_arg == ">") {
      Id from = groups[k].last;
      if (from.seq == kMax) {
        from = {from.ms + 1, 0};
      } else {
        from.seq++;
      }
      std::vector<std::pair<Id, std::string>> found;
      if (!(groups[k].last.ms == kMax && groups[k].last.seq == kMax) &&
          !ReadEntries(c, s, from, {kMax, kMax}, false, count, &found)) {
        return;
      }
      bool first_ok = true;
      const std::optional<Id> first = found.empty() ? std::nullopt : FirstId(c, s, &first_ok);
      if (!first_ok) return;
      for (auto& [id, value] : found) {
        results[k].entries.emplace_back(id, std::move(value));
        if (!noack) batch.PutMember(s, PendingMember(group, id), EncodePending({c.now_ms, 1, std::string(consumer)}));
        // The group's count of entries read, kept as Redis keeps it.
        if (groups[k].entries_read >= 0 && !HasTombstonesFrom(s, id)) {
          groups[k].entries_read++;
        } else if (s.meta.entries_added > 0) {
          groups[k].entries_read = EntriesUpTo(s, id, first);
        }
        groups[k].last = id;
      }
      if (!found.empty()) {
        batch.PutMember(s, GroupMember(group), EncodeGroup(groups[k]));
        with_data++;
      }
    } else {
      all_new = false;
      Id after;
      (void)ParseId(id_arg, 0, &after);
      Id from = after;
      if (from.seq == kMax) {
        from = {from.ms + 1, 0};
      } else {
        from.seq++;
      }
      std::vector<std::pair<Id, Pending>> pending;
      if (!ReadPending(c, s, group, from, {kMax, kMax}, count, consumer, &pending)) return;
      for (auto& [id, p] : pending) {
        std::string value;
        absl::Status st = GetMember(c, s, EntryMember(id), &value);
        if (!st.ok() && !absl::IsNotFound(st)) return ReplyStatusError(c.out, st);
        const bool live = st.ok();
        results[k].entries.emplace_back(id, live ? std::optional<std::string>(std::move(value)) : std::nullopt);
        if (!live) continue;  // a deleted entry's delivery is not counted (Redis)
        p.delivery_ms = c.now_ms;
        p.deliveries++;
        batch.PutMember(s, PendingMember(group, id), EncodePending(p));
      }
      with_data++;  // history is answered even when empty
    }
  }
  if (with_data == 0 && all_new && block_ms >= 0) {
    if (!batch.Commit()) return;  // the consumer exists from now on, as in Redis
    std::vector<std::string_view> keys(c.args.begin() + static_cast<long>(i) + 1,
                                       c.args.begin() + static_cast<long>(i + 1 + n));
    return Block(c, keys, block_ms == 0 ? 0 : c.now_ms + block_ms, BlockedReply::kNullArray);
  }
  if (!batch.Commit()) return;
  for (size_t k = 0; k < n; k++) c.written.push_back(std::string(c.args[i + 1 + k]));
  if (with_data == 0) return c.out.NullArray();
  if (c.out.protocol() == 3) {
    c.out.MapHeader(with_data);
  } else {
    c.out.ArrayHeader(with_data);
  }
  for (size_t k = 0; k < n; k++) {
    const std::string_view id_arg = c.args[i + 1 + n + k];
    if (results[k].entries.empty() && id_arg == ">") continue;
    if (c.out.protocol() != 3) c.out.ArrayHeader(2);
    c.out.Bulk(c.args[i + 1 + k]);
    c.out.ArrayHeader(results[k].entries.size());
    for (const auto& [id, value] : results[k].entries) {
      if (value) {
        ReplyEntry(c, id, *value);
      } else {
        c.out.ArrayHeader(2);
        c.out.Bulk(id.Text());
        c.out.NullArray();
      }
    }
  }
}

void XAck(CommandContext& c) {
  // No key or group: nothing to acknowledge, whatever the IDs (Redis checks them after).
  Collection s;
  if (!LoadStream(c, c.args[1], &s)) return;
  Group g;
  bool found = false;
  if (!LoadGroup(c, s, c.args[2], &g, &found)) return;
  if (!found) return c.out.Integer(0);
  std::vector<Id> ids;
  for (size_t i = 3; i < c.args.size(); i++) {
    Id id;
    if (!ParseExactId(c.args[i], &id)) return c.out.Error(kErrInvalidId);
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  CollectionBatch batch(c);
  int64_t acked = 0;
  for (const Id& id : ids) {
    std::string v;
    absl::Status st = GetMember(c, s, PendingMember(c.args[2], id), &v);
    if (absl::IsNotFound(st)) continue;
    if (!st.ok()) return ReplyStatusError(c.out, st);
    batch.DeleteMember(s, PendingMember(c.args[2], id));
    acked++;
  }
  if (acked > 0 && !batch.Commit()) return;
  c.out.Integer(acked);
}

// XPENDING key group [[IDLE min-idle] start end count [consumer]]
void XPending(CommandContext& c) {
  const std::string_view key = c.args[1], group = c.args[2];
  int64_t min_idle = -1, count = 0;
  Id from{0, 0}, to{kMax, kMax};
  std::string_view consumer;
  const bool extended = c.args.size() > 3;
  if (extended) {
    size_t i = 3;
    if (Lower(c.args[i]) == "idle") {
      if (i + 1 >= c.args.size() || !ParseInt64(c.args[i + 1], &min_idle)) return c.out.Error(kErrNotInteger);
      i += 2;
    }
    if (c.args.size() - i < 3 || c.args.size() - i > 4) return c.out.Error(kErrSyntax);
    if (!ParseBound(c, c.args[i], true, &from) || !ParseBound(c, c.args[i + 1], false, &to)) return;
    if (!ParseInt64(c.args[i + 2], &count)) return c.out.Error(kErrNotInteger);
    if (count < 0) count = 0;
    if (c.args.size() - i == 4) consumer = c.args[i + 3];
  }
  Collection s;
  Group g;
  if (!LoadStreamGroup(c, key, group, &s, &g)) return;
  if (!extended) {
    std::vector<std::pair<Id, Pending>> all;
    if (!ReadPending(c, s, group, from, to, 0, "", &all)) return;
    c.out.ArrayHeader(4);
    c.out.Integer(static_cast<int64_t>(all.size()));
    if (all.empty()) {
      c.out.Null();
      c.out.Null();
      return c.out.NullArray();
    }
    c.out.Bulk(all.front().first.Text());
    c.out.Bulk(all.back().first.Text());
    std::map<std::string, int64_t> per;
    for (const auto& [id, p] : all) per[p.consumer]++;
    c.out.ArrayHeader(per.size());
    for (const auto& [name, n] : per) {
      c.out.ArrayHeader(2);
      c.out.Bulk(name);
      c.out.Bulk(absl::StrCat(n));
    }
    return;
  }
  std::vector<std::pair<Id, Pending>> list;
  if (count > 0) {
    std::vector<std::pair<Id, Pending>> all;
    if (!ReadPending(c, s, group, from, to, min_idle >= 0 ? 0 : count, consumer, &all)) return;
    for (auto& e : all) {
      if (min_idle >= 0 && c.now_ms - e.second.delivery_ms < min_idle) continue;
      list.push_back(std::move(e));
      if (static_cast<int64_t>(list.size()) >= count) break;
    }
  }
  c.out.ArrayHeader(list.size());
  for (const auto& [id, p] : list) {
    c.out.ArrayHeader(4);
    c.out.Bulk(id.Text());
    c.out.Bulk(p.consumer);
    c.out.Integer(std::max<int64_t>(0, c.now_ms - p.delivery_ms));
    c.out.Integer(p.deliveries);
  }
}

// Claims pending entry id for consumer (XCLAIM, XAUTOCLAIM): false if it was deleted
// from the stream (its pending entry goes too, as Redis 7 drops it).
bool Claim(CommandContext& c, Collection& s, CollectionBatch& batch, std::string_view group, Id id,
           Pending p, std::string_view consumer, int64_t delivery_ms, bool count_delivery,
           std::optional<int64_t> retry, std::string* value, bool* failed) {
  *failed = false;
  absl::Status st = GetMember(c, s, EntryMember(id), value);
  if (absl::IsNotFound(st)) {
    batch.DeleteMember(s, PendingMember(group, id));
    return false;
  }
  if (!st.ok()) {
    ReplyStatusError(c.out, st);
    *failed = true;
    return false;
  }
  p.consumer = std::string(consumer);
  p.delivery_ms = delivery_ms;
  if (retry) {
    p.deliveries = *retry;
  } else if (count_delivery) {
    p.deliveries++;
  }
  batch.PutMember(s, PendingMember(group, id), EncodePending(p));
  return true;
}

// XCLAIM key group consumer min-idle-time id... [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]
void XClaim(CommandContext& c) {
  const std::string_view key = c.args[1], group = c.args[2], consumer = c.args[3];
  int64_t min_idle = 0;
  if (!ParseInt64(c.args[4], &min_idle)) return c.out.Error("ERR Invalid min-idle-time argument for XCLAIM");
  if (min_idle < 0) min_idle = 0;
  std::vector<Id> ids;
  size_t i = 5;
  for (; i < c.args.size(); i++) {
    Id id;
    if (!ParseExactId(c.args[i], &id)) break;
    ids.push_back(id);
  }
  int64_t delivery_ms = c.now_ms;
  std::optional<int64_t> retry;
  bool force = false, justid = false;
  Id lastid;
  bool has_lastid = false;
  for (; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    int64_t v = 0;
    if ((opt == "idle" || opt == "time" || opt == "retrycount") && i + 1 < c.args.size()) {
      if (!ParseInt64(c.args[++i], &v)) {
        return c.out.Error(absl::StrCat("ERR Invalid ", opt == "idle" ? "IDLE" : opt == "time" ? "TIME" : "RETRYCOUNT",
                                        " option argument for XCLAIM"));
      }
      if (opt == "idle") delivery_ms = c.now_ms - v;
      if (opt == "time") delivery_ms = v;
      if (opt == "retrycount") retry = v;
    } else if (opt == "force") {
      force = true;
    } else if (opt == "justid") {
      justid = true;
    } else if (opt == "lastid" && i + 1 < c.args.size()) {
      if (!ParseId(c.args[++i], 0, &lastid)) return c.out.Error(kErrInvalidId);
      has_lastid = true;
    } else {
      return c.out.Error(absl::StrCat("ERR Unrecognized XCLAIM option '", std::string(c.args[i]), "'"));
    }
  }
  Collection s;
  Group g;
  if (!LoadStreamGroup(c, key, group, &s, &g)) return;
  CollectionBatch batch(c);
  if (has_lastid && g.last < lastid) {
    g.last = lastid;
    batch.PutMember(s, GroupMember(group), EncodeGroup(g));
  }
  std::vector<std::pair<Id, std::string>> claimed;
  for (const Id& id : ids) {
    std::string v;
    absl::Status st = GetMember(c, s, PendingMember(group, id), &v);
    Pending p;
    if (absl::IsNotFound(st)) {
      std::string entry;
      if (!force || !GetMember(c, s, EntryMember(id), &entry).ok()) continue;
      p.deliveries = 1;  // as Redis counts a forced claim's first delivery
    } else if (!st.ok() || !DecodePending(v, &p)) {
      return ReplyStatusError(c.out, st.ok() ? CorruptionError("bad stream pending entry") : st);
    } else if (min_idle > 0 && c.now_ms - p.delivery_ms < min_idle) {
      continue;
    }
    std::string value;
    bool failed = false;
    if (Claim(c, s, batch, group, id, p, consumer, delivery_ms, !justid, retry, &value, &failed)) {
      claimed.emplace_back(id, std::move(value));
    } else if (failed) {
      return;
    }
  }
  if (!claimed.empty()) TouchConsumer(batch, s, group, consumer, c.now_ms);
  if (!batch.Commit()) return;
  c.out.ArrayHeader(claimed.size());
  for (const auto& [id, value] : claimed) {
    if (justid) {
      c.out.Bulk(id.Text());
    } else {
      ReplyEntry(c, id, value);
    }
  }
}

// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
void XAutoClaim(CommandContext& c) {
  const std::string_view key = c.args[1], group = c.args[2], consumer = c.args[3];
  int64_t min_idle = 0, count = 100;
  if (!ParseInt64(c.args[4], &min_idle)) return c.out.Error("ERR Invalid min-idle-time argument for XAUTOCLAIM");
  if (min_idle < 0) min_idle = 0;
  Id start;
  if (!ParseBound(c, c.args[5], true, &start)) return;
  bool justid = false;
  for (size_t i = 6; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "count" && i + 1 < c.args.size()) {
      if (!ParseInt64(c.args[++i], &count) || count < 1 || count > INT64_MAX / 10) {
        return c.out.Error("ERR COUNT must be > 0");
      }
    } else if (opt == "justid") {
      justid = true;
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  Collection s;
  Group g;
  if (!LoadStreamGroup(c, key, group, &s, &g)) return;
  // Redis looks at up to 10 x COUNT pending entries; one more names where to go on.
  std::vector<std::pair<Id, Pending>> pending;
  if (!ReadPending(c, s, group, start, {kMax, kMax}, count * 10 + 1, "", &pending)) return;
  CollectionBatch batch(c);
  std::vector<std::pair<Id, std::string>> claimed;
  std::vector<Id> deleted;
  Id next{0, 0};
  size_t scanned = 0;
  const size_t attempts = std::min(pending.size(), static_cast<size_t>(count * 10));
  for (; scanned < attempts && static_cast<int64_t>(claimed.size() + deleted.size()) < count; scanned++) {
    auto& [id, p] = pending[scanned];
    if (min_idle > 0 && c.now_ms - p.delivery_ms < min_idle) continue;
    std::string value;
    bool failed = false;
    if (Claim(c, s, batch, group, id, p, consumer, c.now_ms, !justid, std::nullopt, &value, &failed)) {
      claimed.emplace_back(id, std::move(value));
    } else if (failed) {
      return;
    } else {
      deleted.push_back(id);
    }
  }
  if (scanned < pending.size()) next = pending[scanned].first;
  if (!claimed.empty()) TouchConsumer(batch, s, group, consumer, c.now_ms);
  if (!batch.Commit()) return;
  c.out.ArrayHeader(3);
  c.out.Bulk(next.Text());
  c.out.ArrayHeader(claimed.size());
  for (const auto& [id, value] : claimed) {
    if (justid) {
      c.out.Bulk(id.Text());
    } else {
      ReplyEntry(c, id, value);
    }
  }
  c.out.ArrayHeader(deleted.size());
  for (const Id& id : deleted) c.out.Bulk(id.Text());
}

// XINFO GROUPS key / XINFO CONSUMERS key group.
bool InfoGroups(CommandContext& c, const Collection& s) {
  std::vector<std::pair<std::string, Group>> groups;
  bool bad = false;
  if (!ScanMembers(c, s, "g", "h", false, [&](std::string_view m, std::string_view v) {
        Group g;
        if (!DecodeGroup(v, &g)) {
          bad = true;
          return false;
        }
        groups.emplace_back(std::string(m.substr(1)), g);
        return true;
      })) {
    return true;
  }
  if (bad) {
    ReplyStatusError(c.out, CorruptionError("bad stream group"));
    return true;
  }
  c.out.ArrayHeader(groups.size());
  for (const auto& [name, g] : groups) {
    int64_t consumers = 0;
    const std::string prefix = Scoped('c', name, "");
    if (!ScanMembers(c, s, prefix, PrefixEnd(prefix), false, [&](std::string_view, std::string_view) {
          consumers++;
          return true;
        })) {
      return true;
    }
    std::vector<std::pair<Id, Pending>> pending;
    if (!ReadPending(c, s, name, {0, 0}, {kMax, kMax}, 0, "", &pending)) return true;
    c.out.MapHeader(6);
    c.out.Bulk("name");
    c.out.Bulk(name);
    c.out.Bulk("consumers");
    c.out.Integer(consumers);
    c.out.Bulk("pending");
    c.out.Integer(static_cast<int64_t>(pending.size()));
    c.out.Bulk("last-delivered-id");
    c.out.Bulk(g.last.Text());
    c.out.Bulk("entries-read");
    if (g.entries_read >= 0) {
      c.out.Integer(g.entries_read);
    } else {
      c.out.Null();
    }
    c.out.Bulk("lag");
    const int64_t added = static_cast<int64_t>(s.meta.entries_added);
    int64_t read = -1;
    if (added == 0) {
      read = 0;
    } else if (g.entries_read >= 0 && !HasTombstonesFrom(s, g.last)) {
      read = g.entries_read;
    } else {
      bool ok = true;
      const std::optional<Id> first = FirstId(c, s, &ok);
      if (!ok) return true;
      read = EntriesUpTo(s, g.last, first);
    }
    if (read >= 0) {
      c.out.Integer(added - read);
    } else {
      c.out.Null();
    }
  }
  return true;
}

void InfoConsumers(CommandContext& c, const Collection& s, std::string_view group) {
  Group g;
  bool found = false;
  if (!LoadGroup(c, s, group, &g, &found)) return;
  if (!found) return ReplyNoGroup(c, s.key, group);
  std::vector<std::pair<std::string, int64_t>> consumers;
  const std::string prefix = Scoped('c', group, "");
  if (!ScanMembers(c, s, prefix, PrefixEnd(prefix), false, [&](std::string_view m, std::string_view v) {
        consumers.emplace_back(std::string(m.substr(prefix.size())),
                               v.size() >= 8 ? static_cast<int64_t>(DecodeFixed64(v.data())) : 0);
        return true;
      })) {
    return;
  }
  std::vector<std::pair<Id, Pending>> pending;
  if (!ReadPending(c, s, group, {0, 0}, {kMax, kMax}, 0, "", &pending)) return;
  c.out.ArrayHeader(consumers.size());
  for (const auto& [name, seen] : consumers) {
    int64_t mine = 0;
    for (const auto& [id, p] : pending) mine += p.consumer == name;
    c.out.MapHeader(3);
    c.out.Bulk("name");
    c.out.Bulk(name);
    c.out.Bulk("pending");
    c.out.Integer(mine);
    c.out.Bulk("idle");
    c.out.Integer(std::max<int64_t>(0, c.now_ms - seen));
  }
}

void XInfo(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  if (sub == "help" && c.args.size() == 2) {
    return c.out.BulkArray({"XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                            "CONSUMERS <key> <groupname>", "GROUPS <key>", "STREAM <key> [FULL [COUNT <count>]]",
                            "HELP"});
  }
  if (c.args.size() < 3) return ReplyBadSubcommand(c);
  Collection s;
  if (!LoadStream(c, c.args[2], &s)) return;
  if (!s.exists) return c.out.Error("ERR no such key");
  if (sub == "stream" && c.args.size() == 3) {
    std::vector<std::pair<Id, std::string>> first, last;
    if (!ReadEntries(c, s, {0, 0}, {kMax, kMax}, false, 1, &first)) return;
    if (!ReadEntries(c, s, {0, 0}, {kMax, kMax}, true, 1, &last)) return;
    int64_t groups = 0;
    if (!ScanMembers(c, s, "g", "h", false, [&](std::string_view, std::string_view) {
          groups++;
          return true;
        })) {
      return;
    }
    c.out.MapHeader(10);
    c.out.Bulk("length");
    c.out.Integer(static_cast<int64_t>(s.meta.size));
    c.out.Bulk("radix-tree-keys");
    c.out.Integer(static_cast<int64_t>((s.meta.size + kNodeEntries - 1) / kNodeEntries));
    c.out.Bulk("radix-tree-nodes");
    c.out.Integer(static_cast<int64_t>((s.meta.size + kNodeEntries - 1) / kNodeEntries) + 1);
    c.out.Bulk("last-generated-id");
    c.out.Bulk(LastId(s).Text());
    c.out.Bulk("max-deleted-entry-id");
    c.out.Bulk(Id{s.meta.max_deleted_ms, s.meta.max_deleted_seq}.Text());
    c.out.Bulk("entries-added");
    c.out.Integer(static_cast<int64_t>(s.meta.entries_added));
    c.out.Bulk("recorded-first-entry-id");
    c.out.Bulk(first.empty() ? "0-0" : first[0].first.Text());
    c.out.Bulk("groups");
    c.out.Integer(groups);
    c.out.Bulk("first-entry");
    if (first.empty()) {
      c.out.Null();
    } else {
      ReplyEntry(c, first[0].first, first[0].second);
    }
    c.out.Bulk("last-entry");
    if (last.empty()) {
      c.out.Null();
    } else {
      ReplyEntry(c, last[0].first, last[0].second);
    }
    return;
  }
  if (sub == "groups" && c.args.size() == 3) {
    (void)InfoGroups(c, s);
    return;
  }
  if (sub == "consumers" && c.args.size() == 4) return InfoConsumers(c, s, c.args[3]);
  ReplyBadSubcommand(c);
}

constexpr uint32_t kStreamWrite = kWrite | kDenyOom;

const CommandSpec kCommands[] = {
    {"xadd", -5, kStreamWrite | kFast, 1, 1, 1, XAdd, "stream", "Appends a new message to a stream."},
    {"xrange", -4, kReadOnly | kLockKeys, 1, 1, 1, XRange, "stream",
     "Returns the messages from a stream within a range of IDs."},
    {"xrevrange", -4, kReadOnly | kLockKeys, 1, 1, 1, XRevRange, "stream",
     "Returns the messages from a stream within a range of IDs in reverse order."},
    {"xlen", 2, kReadOnly | kFast, 1, 1, 1, XLen, "stream", "Return the number of messages in a stream."},
    {"xdel", -3, kWrite | kFast, 1, 1, 1, XDel, "stream", "Returns the number of messages after removing them from a stream."},
    {"xtrim", -4, kWrite, 1, 1, 1, XTrim, "stream", "Deletes messages from the beginning of a stream."},
    {"xsetid", -3, kStreamWrite | kFast, 1, 1, 1, XSetId, "stream", "An internal command for replicating stream values."},
    {"xread", -4, kReadOnly | kLockKeys, 0, 0, 0, XRead, "stream",
     "Returns messages from multiple streams with IDs greater than the ones requested.", 0, 0, "streams"},
    {"xgroup", -2, kWrite | kContainer, 2, 2, 1, XGroup, "stream",
     "Manages consumer groups (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER)."},
    {"xreadgroup", -7, kWrite, 0, 0, 0, XReadGroup, "stream",
     "Returns new or historical messages from a stream for a consumer in a group.", 0, 0, "streams"},
    {"xack", -4, kWrite | kFast, 1, 1, 1, XAck, "stream",
     "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream."},
    {"xpending", -3, kReadOnly | kLockKeys, 1, 1, 1, XPending, "stream",
     "Returns the information and entries from a stream consumer group's pending entries list."},
    {"xclaim", -6, kWrite | kFast, 1, 1, 1, XClaim, "stream",
     "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered to a consumer group member."},
    {"xautoclaim", -6, kWrite | kFast, 1, 1, 1, XAutoClaim, "stream",
     "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member."},
    {"xinfo", -2, kReadOnly | kLockKeys | kContainer, 2, 2, 1, XInfo, "stream",
     "Returns information about a stream (STREAM, GROUPS, CONSUMERS)."},
};

}  // namespace

bool ExportStream(CommandContext& c, const Collection& s, RdbStream* out) {
  *out = RdbStream();
  out->last_id = {s.meta.last_ms, s.meta.last_seq};
  out->max_deleted = {s.meta.max_deleted_ms, s.meta.max_deleted_seq};
  out->entries_added = s.meta.entries_added;
  // Members come in byte order: consumers ('c'), entries ('e'), groups ('g'), pending
  // entries ('p'); consumers and pending entries are matched to their groups after.
  std::map<std::string, std::vector<RdbStream::Consumer>> consumers;
  std::map<std::string, std::vector<RdbStream::Pending>> pending;
  bool bad = false;
  // A 'c' or 'p' member: fixed32 BE length | group | rest.
  auto scoped = [&](std::string_view m, std::string* group, std::string_view* rest) {
    if (m.size() < 5) return false;
    uint32_t n = 0;
    for (int i = 1; i <= 4; i++) n = (n << 8) | static_cast<uint8_t>(m[i]);
    if (m.size() < 5 + static_cast<size_t>(n)) return false;
    group->assign(m.substr(5, n));
    *rest = m.substr(5 + n);
    return true;
  };
  if (!ScanMembers(c, s, "", "", false, [&](std::string_view m, std::string_view v) {
        std::string group;
        std::string_view rest;
        if (IsEntry(m)) {
          std::vector<std::string_view> fields;
          if (!DecodeFields(v, &fields)) return !(bad = true);
          const Id id = EntryId(m);
          out->entries.push_back({{id.ms, id.seq}, {fields.begin(), fields.end()}});
        } else if (!m.empty() && m[0] == 'g') {
          Group g;
          if (!DecodeGroup(v, &g)) return !(bad = true);
          out->groups.push_back(
              {std::string(m.substr(1)), {g.last.ms, g.last.seq}, g.entries_read, {}, {}});
        } else if (!m.empty() && m[0] == 'p') {
          Pending p;
          if (!scoped(m, &group, &rest) || rest.size() != 16 || !DecodePending(v, &p))
            return !(bad = true);
          pending[group].push_back({{GetBE64(rest.data()), GetBE64(rest.data() + 8)},
                                    p.delivery_ms,
                                    static_cast<uint64_t>(p.deliveries),
                                    p.consumer});
        } else if (!m.empty() && m[0] == 'c') {
          if (!scoped(m, &group, &rest) || v.size() < 8) return !(bad = true);
          consumers[group].push_back(
              {std::string(rest), static_cast<int64_t>(DecodeFixed64(v.data()))});
        }
        return true;
      })) {
    return false;
  }
  if (bad) {
    ReplyStatusError(c.out, CorruptionError("bad stream member"));
    return false;
  }
  for (RdbStream::Group& g : out->groups) {
    g.pending = std::move(pending[g.name]);
    g.consumers = std::move(consumers[g.name]);
    // A pending entry whose consumer is gone (a cluster merge can leave one: a
    // DELCONSUMER on one side of a partition, a read on the other) is written with that
    // consumer, seen when it was last delivered: Redis loads no unowned entry.
    std::set<std::string, std::less<>> known;
    for (const RdbStream::Consumer& k : g.consumers) known.insert(k.name);
    std::map<std::string, int64_t, std::less<>> orphans;  // consumer -> latest delivery
    for (const RdbStream::Pending& p : g.pending) {
      if (known.contains(p.consumer)) continue;
      auto [it, added] = orphans.emplace(p.consumer, p.delivery_ms);
      if (!added) it->second = std::max(it->second, p.delivery_ms);
    }
    for (const auto& [name, seen] : orphans) g.consumers.push_back({name, seen});
    std::sort(g.consumers.begin(), g.consumers.end(),
              [](const RdbStream::Consumer& a, const RdbStream::Consumer& b) { return a.name < b.name; });
  }
  return true;
}

void ImportStream(CollectionBatch& batch, Collection* s, const RdbStream& in) {
  for (const RdbStream::Entry& e : in.entries) {
    std::vector<std::string_view> fields(e.fields.begin(), e.fields.end());
    batch.PutMember(*s, EntryMember({e.id.ms, e.id.seq}), EncodeFields(fields, 0));
  }
  for (const RdbStream::Group& g : in.groups) {
    Group group;
    group.last = {g.last.ms, g.last.seq};
    group.entries_read = g.entries_read;
    batch.PutMember(*s, GroupMember(g.name), EncodeGroup(group));
    for (const RdbStream::Pending& p : g.pending) {
      Pending pending;
      pending.delivery_ms = p.delivery_ms;
      pending.deliveries = static_cast<int64_t>(p.deliveries);
      pending.consumer = p.consumer;
      batch.PutMember(*s, PendingMember(g.name, {p.id.ms, p.id.seq}), EncodePending(pending));
    }
    for (const RdbStream::Consumer& consumer : g.consumers) {
      TouchConsumer(batch, *s, g.name, consumer.name, consumer.seen_ms);
    }
  }
  s->meta.size = in.entries.size();
  s->meta.last_ms = in.last_id.ms;
  s->meta.last_seq = in.last_id.seq;
  s->meta.max_deleted_ms = in.max_deleted.ms;
  s->meta.max_deleted_seq = in.max_deleted.seq;
  s->meta.entries_added = in.entries_added;
}

void RegisterStreamCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kCommands) table->push_back(&spec);
}

}  // namespace cairn::server
