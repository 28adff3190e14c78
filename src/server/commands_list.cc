// List commands (Redis 7 semantics): LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LINDEX LSET
// LRANGE LTRIM LREM LINSERT LPOS LMOVE RPOPLPUSH, and the blocking BLPOP BRPOP BLMOVE.
//
// Element i of a list is the member named by index head + i (store/collection.h), so
// pushes and pops at either end, LINDEX, LSET and LRANGE touch only the elements they
// name; LINSERT and LREM shift the elements after the change.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/blocking.h"
#include "server/collections.h"

namespace cairn::server {
namespace {

using store::ListIndexMember;
using store::ValueType;

bool LoadList(CommandContext& c, std::string_view key, Collection* l) {
  return LoadCollection(c, key, ValueType::kList, l);
}

std::string At(const Collection& l, int64_t i) {
  return ListIndexMember(l.meta.head + static_cast<uint64_t>(i));
}

// Elements [from, to] (0-based, clamped by the caller), in order.
bool Elements(CommandContext& c, const Collection& l, int64_t from, int64_t to,
              std::vector<std::string>* out) {
  out->clear();
  if (!l.exists || from > to) return true;
  return ScanMembers(c, l, At(l, from), At(l, to + 1), false,
                     [&](std::string_view, std::string_view v) {
                       out->emplace_back(v);
                       return true;
                     });
}

// Pops n elements (n <= size) from the left or right end into *out, in pop order.
bool PopN(CommandContext& c, CollectionBatch& batch, Collection* l, bool left, int64_t n,
          std::vector<std::string>* out) {
  const int64_t size = static_cast<int64_t>(l->meta.size);
  if (!Elements(c, *l, left ? 0 : size - n, left ? n - 1 : size - 1, out)) return false;
  if (!left) std::reverse(out->begin(), out->end());
  for (int64_t i = 0; i < n; i++) batch.DeleteMember(*l, At(*l, left ? i : size - 1 - i));
  if (left) l->meta.head += static_cast<uint64_t>(n);
  l->meta.size -= static_cast<uint64_t>(n);
  batch.SaveMeta(*l);
  return true;
}

void Push(CollectionBatch& batch, Collection* l, bool left, std::string_view value) {
  if (left) {
    l->meta.head--;
    batch.PutMember(*l, At(*l, 0), value);
  } else {
    batch.PutMember(*l, At(*l, static_cast<int64_t>(l->meta.size)), value);
  }
  l->meta.size++;
}

// LPUSH, RPUSH, LPUSHX, RPUSHX key element [element ...]
void PushCommand(CommandContext& c, bool left, bool only_existing) {
  Collection l;
  if (!LoadList(c, c.args[1], &l)) return;
  if (only_existing && !l.exists) return c.out.Integer(0);
  CollectionBatch batch(c);
  batch.Create(&l);
  for (size_t i = 2; i < c.args.size(); i++) Push(batch, &l, left, c.args[i]);
  batch.SaveMeta(l);
  if (batch.Commit()) c.out.Integer(static_cast<int64_t>(l.meta.size));
}

void LPush(CommandContext& c) { PushCommand(c, true, false); }
void RPush(CommandContext& c) { PushCommand(c, false, false); }
void LPushX(CommandContext& c) { PushCommand(c, true, true); }
void RPushX(CommandContext& c) { PushCommand(c, false, true); }

// LPOP, RPOP key [count]
void PopCommand(CommandContext& c, bool left) {
  if (c.args.size() > 3) {
    return c.out.Error(
        absl::StrCat("ERR wrong number of arguments for '", Lower(c.args[0]), "' command"));
  }
  const bool has_count = c.args.size() == 3;
  int64_t count = 1;
  if (has_count && (!ParseInt64(c.args[2], &count) || count < 0)) {
    return c.out.Error("ERR value is out of range, must be positive");
  }
  Collection l;
  if (!LoadList(c, c.args[1], &l)) return;
  if (!l.exists) return has_count ? c.out.NullArray() : c.out.Null();
  count = std::min<int64_t>(count, static_cast<int64_t>(l.meta.size));
  CollectionBatch batch(c);
  std::vector<std::string> popped;
  if (count > 0 && !PopN(c, batch, &l, left, count, &popped)) return;
  if (!batch.Commit()) return;
  if (!has_count) return c.out.Bulk(popped[0]);
  c.out.BulkArray(popped);
}

void LPop(CommandContext& c) { PopCommand(c, true); }
void RPop(CommandContext& c) { PopCommand(c, false); }

void LLen(CommandContext& c) {
  Collection l;
  if (!LoadList(c, c.args[1], &l)) return;
  c.out.Integer(l.exists ? static_cast<int64_t>(l.meta.size) : 0);
}

void LIndex(CommandContext& c) {
  int64_t i;
  if (!ParseIntArg(c, c.args[2], &i)) return;
  Collection l;
  if (!LoadList(c, c.args[1], &l)) return;
  const int64_t size = l.exists ? static_cast<int64_t>(l.meta.size) : 0;
  if (i < 0) i += size;
  if (i < 0 || i >= size) return c.out.Null();
  std::string v;
  absl::Status s = GetMember(c, l, At(l, i), &v);
  if (!s.ok()) return ReplyStatusError(c.out, s);
  c.out.Bulk(v);
}

void LSet(CommandContext& c) {
  int64_t i;
  if (!ParseIntArg(c, c.args[2], &i)) return;
  Collection l;
  if (!LoadList(c, c.args[1], &l)) return;
  if (!l.exists) return c.out.Error("ERR no such key");
  const int64_t size = static_cast<int64_t>(l.meta.size);
  if (i < 0) i += size;
  if (i < 0 || i >= size) return c.out.Error("ERR index out of range");
  CollectionBatch batch(c);
  batch.PutMember(l, At(l, i), c.args[3]);
  if (batch.Commit()) c.out.SimpleString("OK");
}

// Clamps Redis's start/stop (negative from the end) to [0, size); false if empty.
bool Clamp(int64_t size, int64_t* start, int64_t* stop) {
  if (*start < 0) *start += size;
  if (*stop < 0) *stop += size;
  if (*start < 0) *start = 0;
  if (*stop >= size) *stop = size - 1;
  return *start <= *stop && *start < size;
}

void LRange(CommandContext& c) {
  int64_t start, stop;
  if (!ParseIntArg(c, c.args[2], &start) || !ParseIntArg(c, c.args[3], &stop)) return;
  Collection l;
  if (!LoadList(c, c.args[1], &l)) return;
  std::vector<std::string> items;
  if (l.exists && Clamp(static_cast<int64_t>(l.meta.size), &start, &stop) &&
      !Elements(c, l, start, stop, &items)) {
    return;
  }
  c.out.BulkArray(items);
}

void LTrim(CommandContext& c) {
  int64_t start, stop;
  if (!ParseIntArg(c, c.args[2], &start) || !ParseIntArg(c, c.args[3], &stop)) return;
  Collection l;
  if (!LoadList(c, c.args[1], &l)) return;
  if (!l.exists) return c.out.SimpleString("OK");
  const int64_t size = static_cast<int64_t>(l.meta.size);
  CollectionBatch batch(c);
  if (!Clamp(size, &start, &stop)) {
    batch.DeleteKey(l.key);
  } else {
    for (int64_t i = 0; i < start; i++) batch.DeleteMember(l, At(l, i));
    for (int64_t i = stop + 1; i < size; i++) batch.DeleteMember(l, At(l, i));
    l.meta.head += static_cast<uint64_t>(start);
    l.meta.size = static_cast<uint64_t>(stop - start + 1);
    batch.SaveMeta(l);
  }
  if (batch.Commit()) c.out.SimpleString("OK");
}

// Rewrites elements [from, size) of l as `tail` (the new elements from `from` on).
void RewriteTail(CollectionBatch& batch, Collection* l, int64_t from,
                 const std::vector<std::string>& tail) {
  const int64_t old_size = static_cast<int64_t>(l->meta.size);
  for (size_t k = 0; k < tail.size(); k++) {
    batch.PutMember(*l, At(*l, from + static_cast<int64_t>(k)), tail[k]);
  }
  for (int64_t i = from + static_cast<int64_t>(tail.size()); i < old_size; i++) {
    batch.DeleteMember(*l, At(*l, i));
  }
  l->meta.size = static_cast<uint64_t>(from) + tail.size();
  batch.SaveMeta(*l);
}

// LREM key count element
void LRem(CommandContext& c) {
  int64_t count;
  if (!ParseIntArg(c, c.args[2], &count)) return;
  Collection l;
  if (!LoadList(c, c.args[1], &l)) return;
  if (!l.exists) return c.out.Integer(0);
  const int64_t size = static_cast<int64_t>(l.meta.size);
  std::vector<std::string> all;
  if (!Elements(c, l, 0, size - 1, &all)) return;
  std::vector<bool> remove(all.size(), false);
  int64_t removed = 0;
  const std::string_view target = c.args[3];
  if (count >= 0) {
    for (int64_t i = 0; i < size && (count == 0 || removed < count); i++) {
      if (all[i] == target) remove[i] = true, removed++;
    }
  } else {
    for (int64_t i = size - 1; i >= 0 && removed < -count; i--) {
      if (all[i] == target) remove[i] = true, removed++;
    }
  }
  if (removed == 0) return c.out.Integer(0);
  int64_t first = 0;
  while (!remove[first]) first++;
  std::vector<std::string> tail;
  for (int64_t i = first; i < size; i++) {
    if (!remove[i]) tail.push_back(std::move(all[i]));
  }
  CollectionBatch batch(c);
  RewriteTail(batch, &l, first, tail);
  if (batch.Commit()) c.out.Integer(removed);
}

// LINSERT key BEFORE | AFTER pivot element
void LInsert(CommandContext& c) {
  const std::string where = Lower(c.args[2]);
  if (where != "before" && where != "after") return c.out.Error(kErrSyntax);
  Collection l;
  if (!LoadList(c, c.args[1], &l)) return;
  if (!l.exists) return c.out.Integer(0);
  const int64_t size = static_cast<int64_t>(l.meta.size);
  std::vector<std::string> all;
  if (!Elements(c, l, 0, size - 1, &all)) return;
  int64_t pivot = -1;
  for (int64_t i = 0; i < size; i++) {
    if (all[i] == c.args[3]) {
      pivot = i;
      break;
    }
  }
  if (pivot < 0) return c.out.Integer(-1);
  const int64_t pos = where == "before" ? pivot : pivot + 1;
  std::vector<std::string> tail;
  tail.emplace_back(c.args[4]);
  for (int64_t i = pos; i < size; i++) tail.push_back(std::move(all[i]));
  CollectionBatch batch(c);
  RewriteTail(batch, &l, pos, tail);
  if (batch.Commit()) c.out.Integer(static_cast<int64_t>(l.meta.size));
}

// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
void LPos(CommandContext& c) {
  int64_t rank = 1, count = -1, maxlen = 0;
  for (size_t i = 3; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (i + 1 >= c.args.size()) return c.out.Error(kErrSyntax);
    int64_t v;
    const std::string_view arg = c.args[++i];
    if (opt == "rank") {
      if (!ParseIntArg(c, arg, &v)) return;
      if (v == 0) {
        return c.out.Error(
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second "
            "... or use negative to start from the end of the list");
      }
      if (v == INT64_MIN) return c.out.Error("ERR value is out of range");
      rank = v;
    } else if (opt == "count") {  // Redis: this error for a non-number too
      if (!ParseInt64(arg, &v) || v < 0) return c.out.Error("ERR COUNT can't be negative");
      count = v;
    } else if (opt == "maxlen") {
      if (!ParseInt64(arg, &v) || v < 0) return c.out.Error("ERR MAXLEN can't be negative");
      maxlen = v;
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  Collection l;
  if (!LoadList(c, c.args[1], &l)) return;
  std::vector<int64_t> matches;
  if (l.exists) {
    const int64_t size = static_cast<int64_t>(l.meta.size);
    const bool reverse = rank < 0;
    int64_t skip = (reverse ? -rank : rank) - 1, compared = 0;
    const uint64_t want = count == 0 ? UINT64_MAX : count < 0 ? 1 : static_cast<uint64_t>(count);
    int64_t index = reverse ? size - 1 : 0;
    if (!ScanMembers(c, l, At(l, 0), At(l, size), reverse,
                     [&](std::string_view, std::string_view v) {
                       if (maxlen > 0 && compared++ >= maxlen) return false;
                       const int64_t here = index;
                       index += reverse ? -1 : 1;
                       if (v != c.args[2]) return true;
                       if (skip > 0) {
                         skip--;
                         return true;
                       }
                       matches.push_back(here);
                       return matches.size() < want;
                     })) {
      return;
    }
  }
  if (count < 0) {
    if (matches.empty()) return c.out.Null();
    return c.out.Integer(matches[0]);
  }
  c.out.ArrayHeader(matches.size());
  for (int64_t m : matches) c.out.Integer(m);
}

bool ParseSide(std::string_view s, bool* left) {
  const std::string side = Lower(s);
  if (side != "left" && side != "right") return false;
  *left = side == "left";
  return true;
}

// Pops one element from src's `from_left` end and pushes it on dst's `to_left` end.
// *moved is false when src is empty. Replies only on errors.
bool MoveOne(CommandContext& c, std::string_view src_key, std::string_view dst_key,
             bool from_left, bool to_left, std::string* moved_value, bool* moved) {
  *moved = false;
  Collection src, dst;
  if (!LoadList(c, src_key, &src)) return false;
  if (!src.exists) return true;
  if (!LoadList(c, dst_key, &dst)) return false;
  CollectionBatch batch(c);
  std::vector<std::string> popped;
  if (!PopN(c, batch, &src, from_left, 1, &popped)) return false;
  if (src_key == dst_key) {
    // Rotation: the popped state of src is dst. The batch already holds src's popped
    // metadata, so dst's must be written after it even if it ends up as stored.
    dst = src;
    dst.stored_version = 0;
  } else {
    batch.Create(&dst);
  }
  Push(batch, &dst, to_left, popped[0]);
  batch.SaveMeta(dst);
  if (!batch.Commit()) return false;
  *moved_value = std::move(popped[0]);
  *moved = true;
  return true;
}

// LMOVE source destination LEFT | RIGHT LEFT | RIGHT
void LMove(CommandContext& c) {
  bool from_left, to_left;
  if (!ParseSide(c.args[3], &from_left) || !ParseSide(c.args[4], &to_left)) {
    return c.out.Error(kErrSyntax);
  }
  std::string v;
  bool moved;
  if (!MoveOne(c, c.args[1], c.args[2], from_left, to_left, &v, &moved)) return;
  if (!moved) return c.out.Null();
  c.out.Bulk(v);
}

void RPopLPush(CommandContext& c) {
  std::string v;
  bool moved;
  if (!MoveOne(c, c.args[1], c.args[2], false, true, &v, &moved)) return;
  if (!moved) return c.out.Null();
  c.out.Bulk(v);
}

// BLPOP / BRPOP key [key ...] timeout
void BlockingPop(CommandContext& c, bool left) {
  int64_t deadline_ms;
  if (!ParseBlockTimeout(c, c.args.back(), &deadline_ms)) return;
  for (size_t i = 1; i + 1 < c.args.size(); i++) {
    Collection l;
    if (!LoadList(c, c.args[i], &l)) return;
    if (!l.exists) continue;
    CollectionBatch batch(c);
    std::vector<std::string> popped;
    if (!PopN(c, batch, &l, left, 1, &popped) || !batch.Commit()) return;
    c.out.ArrayHeader(2);
    c.out.Bulk(c.args[i]);
    c.out.Bulk(popped[0]);
    return;
  }
  std::vector<std::string_view> keys(c.args.begin() + 1, c.args.end() - 1);
  Block(c, keys, deadline_ms, BlockedReply::kNullArray);
}

void BLPop(CommandContext& c) { BlockingPop(c, true); }
void BRPop(CommandContext& c) { BlockingPop(c, false); }

// LMPOP numkeys key... LEFT|RIGHT [COUNT n] (first = 1), BLMPOP timeout numkeys ... (2).
void MultiPop(CommandContext& c, size_t first, bool blocking) {
  int64_t deadline_ms = 0;
  if (blocking && !ParseBlockTimeout(c, c.args[1], &deadline_ms)) return;
  std::vector<std::string_view> keys;
  bool left;
  int64_t count;
  if (!ParseMultiPop(c, first, "left", "right", &keys, &left, &count)) return;
  for (std::string_view key : keys) {
    Collection l;
    if (!LoadList(c, key, &l)) return;
    if (!l.exists) continue;
    CollectionBatch batch(c);
    std::vector<std::string> popped;
    const int64_t n = std::min<int64_t>(count, static_cast<int64_t>(l.meta.size));
    if (!PopN(c, batch, &l, left, n, &popped) || !batch.Commit()) return;
    c.out.ArrayHeader(2);
    c.out.Bulk(key);
    c.out.BulkArray(popped);
    return;
  }
  if (!blocking) return c.out.NullArray();
  Block(c, keys, deadline_ms, BlockedReply::kNullArray);
}

void LMPop(CommandContext& c) { MultiPop(c, 1, false); }
void BLMPop(CommandContext& c) { MultiPop(c, 2, true); }

// BRPOPLPUSH source destination timeout: BLMOVE source destination RIGHT LEFT timeout.
void BRPopLPush(CommandContext& c) {
  int64_t deadline_ms;
  if (!ParseBlockTimeout(c, c.args[3], &deadline_ms)) return;
  std::string v;
  bool moved;
  if (!MoveOne(c, c.args[1], c.args[2], false, true, &v, &moved)) return;
  if (moved) return c.out.Bulk(v);
  Block(c, {c.args[1]}, deadline_ms, BlockedReply::kNull);
}

// BLMOVE source destination LEFT | RIGHT LEFT | RIGHT timeout
void BLMove(CommandContext& c) {
  bool from_left, to_left;
  if (!ParseSide(c.args[3], &from_left) || !ParseSide(c.args[4], &to_left)) {
    return c.out.Error(kErrSyntax);
  }
  int64_t deadline_ms;
  if (!ParseBlockTimeout(c, c.args[5], &deadline_ms)) return;
  std::string v;
  bool moved;
  if (!MoveOne(c, c.args[1], c.args[2], from_left, to_left, &v, &moved)) return;
  if (moved) return c.out.Bulk(v);
  Block(c, {c.args[1]}, deadline_ms, BlockedReply::kNull);
}

constexpr uint32_t kRead = kReadOnly | kLockKeys;

const CommandSpec kCommands[] = {
    {"lpush", -3, kWrite | kDenyOom | kFast, 1, 1, 1, LPush, "list",
     "Prepends one or more elements to a list."},
    {"rpush", -3, kWrite | kDenyOom | kFast, 1, 1, 1, RPush, "list",
     "Appends one or more elements to a list."},
    {"lpushx", -3, kWrite | kDenyOom | kFast, 1, 1, 1, LPushX, "list",
     "Prepends one or more elements to a list only when the list exists."},
    {"rpushx", -3, kWrite | kDenyOom | kFast, 1, 1, 1, RPushX, "list",
     "Appends an element to a list only when the list exists."},
    {"lpop", -2, kWrite | kFast, 1, 1, 1, LPop, "list",
     "Returns the first elements in a list after removing it."},
    {"rpop", -2, kWrite | kFast, 1, 1, 1, RPop, "list",
     "Returns and removes the last elements of a list."},
    {"llen", 2, kRead | kFast, 1, 1, 1, LLen, "list", "Returns the length of a list."},
    {"lindex", 3, kRead, 1, 1, 1, LIndex, "list", "Returns an element from a list by its index."},
    {"lset", 4, kWrite | kDenyOom, 1, 1, 1, LSet, "list",
     "Sets the value of an element in a list by its index."},
    {"lrange", 4, kRead, 1, 1, 1, LRange, "list", "Returns a range of elements from a list."},
    {"ltrim", 4, kWrite, 1, 1, 1, LTrim, "list",
     "Removes elements from both ends a list."},
    {"lrem", 4, kWrite, 1, 1, 1, LRem, "list", "Removes elements from a list."},
    {"linsert", 5, kWrite | kDenyOom, 1, 1, 1, LInsert, "list",
     "Inserts an element before or after another element in a list."},
    {"lpos", -3, kRead, 1, 1, 1, LPos, "list",
     "Returns the index of matching elements in a list."},
    {"lmove", 5, kWrite | kDenyOom, 1, 2, 1, LMove, "list",
     "Returns an element after popping it from one list and pushing it to another."},
    {"rpoplpush", 3, kWrite | kDenyOom, 1, 2, 1, RPopLPush, "list",
     "Returns the last element of a list after removing and pushing it to another list."},
    {"lmpop", -4, kWrite, 0, 0, 0, LMPop, "list",
     "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", 1},
    {"blmpop", -5, kWrite | kBlocking, 0, 0, 0, BLMPop, "list",
     "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", 2},
    {"brpoplpush", 4, kWrite | kDenyOom | kBlocking, 1, 2, 1, BRPopLPush, "list",
     "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped."},
    {"blpop", -3, kWrite | kBlocking, 1, -2, 1, BLPop, "list",
     "Removes and returns the first element in a list. Blocks until an element is available "
     "otherwise."},
    {"brpop", -3, kWrite | kBlocking, 1, -2, 1, BRPop, "list",
     "Removes and returns the last element in a list. Blocks until an element is available "
     "otherwise."},
    {"blmove", 6, kWrite | kDenyOom | kBlocking, 1, 2, 1, BLMove, "list",
     "Pops an element from a list, pushes it to another list and returns it. Blocks until an "
     "element is available otherwise."},
};

}  // namespace

void RegisterListCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kCommands) table->push_back(&spec);
}

}  // namespace cairn::server
