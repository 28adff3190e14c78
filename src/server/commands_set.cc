// Set commands (Redis 7 semantics): SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
// SRANDMEMBER SMOVE SINTER SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SINTERCARD
// SSCAN. Each member is a member of the set's collection with an empty value.
#include <algorithm>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/collections.h"

namespace cairn::server {
namespace {

using store::ValueType;

bool LoadSet(CommandContext& c, std::string_view key, Collection* s) {
  return LoadCollection(c, key, ValueType::kSet, s);
}

// Whether member is in s; false after replying with a storage error.
bool Contains(CommandContext& c, const Collection& s, std::string_view member, bool* found) {
  std::string unused;
  absl::Status st = GetMember(c, s, member, &unused);
  if (!st.ok() && !absl::IsNotFound(st)) {
    ReplyStatusError(c.out, st);
    return false;
  }
  *found = st.ok();
  return true;
}

void SAdd(CommandContext& c) {
  Collection s;
  if (!LoadSet(c, c.args[1], &s)) return;
  CollectionBatch batch(c);
  batch.Create(&s);
  absl::flat_hash_set<std::string_view> seen;
  int64_t added = 0;
  for (size_t i = 2; i < c.args.size(); i++) {
    if (!seen.insert(c.args[i]).second) continue;
    bool found;
    if (!Contains(c, s, c.args[i], &found)) return;
    if (found) continue;
    batch.PutMember(s, c.args[i], "");
    added++;
  }
  if (added == 0) return c.out.Integer(0);
  s.meta.size += added;
  batch.SaveMeta(s);
  if (batch.Commit()) c.out.Integer(added);
}

void SRem(CommandContext& c) {
  Collection s;
  if (!LoadSet(c, c.args[1], &s)) return;
  if (!s.exists) return c.out.Integer(0);
  CollectionBatch batch(c);
  absl::flat_hash_set<std::string_view> seen;
  int64_t removed = 0;
  for (size_t i = 2; i < c.args.size(); i++) {
    if (!seen.insert(c.args[i]).second) continue;
    bool found;
    if (!Contains(c, s, c.args[i], &found)) return;
    if (!found) continue;
    batch.DeleteMember(s, c.args[i]);
    removed++;
  }
  if (removed == 0) return c.out.Integer(0);
  s.meta.size -= removed;
  batch.SaveMeta(s);
  if (batch.Commit()) c.out.Integer(removed);
}

// Every member of s, in order; false after replying with an error.
bool AllMembers(CommandContext& c, const Collection& s, std::vector<std::string>* out) {
  return ScanMembers(c, s, "", "", false, [&](std::string_view m, std::string_view) {
    out->emplace_back(m);
    return true;
  });
}

void ReplySet(CommandContext& c, const std::vector<std::string>& members) {
  c.out.SetHeader(members.size());
  for (const auto& m : members) c.out.Bulk(m);
}

void SMembers(CommandContext& c) {
  Collection s;
  if (!LoadSet(c, c.args[1], &s)) return;
  std::vector<std::string> members;
  if (AllMembers(c, s, &members)) ReplySet(c, members);
}

void SIsMember(CommandContext& c) {
  Collection s;
  if (!LoadSet(c, c.args[1], &s)) return;
  bool found;
  if (Contains(c, s, c.args[2], &found)) c.out.Integer(found ? 1 : 0);
}

void SMIsMember(CommandContext& c) {
  Collection s;
  if (!LoadSet(c, c.args[1], &s)) return;
  std::vector<int> found(c.args.size() - 2);
  for (size_t i = 2; i < c.args.size(); i++) {
    bool f;
    if (!Contains(c, s, c.args[i], &f)) return;
    found[i - 2] = f ? 1 : 0;
  }
  c.out.ArrayHeader(found.size());
  for (int f : found) c.out.Integer(f);
}

void SCard(CommandContext& c) {
  Collection s;
  if (!LoadSet(c, c.args[1], &s)) return;
  c.out.Integer(s.exists ? static_cast<int64_t>(s.meta.size) : 0);
}

// SPOP key [count], SRANDMEMBER key [count].
void RandomMembers(CommandContext& c, bool pop) {
  if (c.args.size() > 3) return c.out.Error(kErrSyntax);
  const bool has_count = c.args.size() == 3;
  int64_t count = 1;
  if (has_count) {
    if (pop && (!ParseInt64(c.args[2], &count) || count < 0)) {
      return c.out.Error("ERR value is out of range, must be positive");
    }
    if (!pop && !ParseRandomCount(c, c.args[2], &count)) return;
    // A huge positive count means "all of them"; a huge negative one (which would make
    // Redis hang) is refused.
    if (count < -INT64_MAX / 2) return c.out.Error("ERR value is out of range");
  }
  Collection s;
  if (!LoadSet(c, c.args[1], &s)) return;
  std::vector<std::pair<std::string, std::string>> picked;
  const uint64_t n = static_cast<uint64_t>(count < 0 ? -count : count);
  if (!SampleMembers(c, s, "", n, count >= 0, &picked)) return;
  if (pop && !picked.empty()) {
    CollectionBatch batch(c);
    for (const auto& [m, v] : picked) batch.DeleteMember(s, m);
    s.meta.size -= picked.size();
    batch.SaveMeta(s);
    if (!batch.Commit()) return;
  }
  if (!has_count) {
    if (picked.empty()) return c.out.Null();
    return c.out.Bulk(picked[0].first);
  }
  if (pop) {
    c.out.SetHeader(picked.size());
  } else {
    c.out.ArrayHeader(picked.size());
  }
  for (const auto& [m, v] : picked) c.out.Bulk(m);
}

void SPop(CommandContext& c) { RandomMembers(c, true); }
void SRandMember(CommandContext& c) { RandomMembers(c, false); }

void SMove(CommandContext& c) {
  Collection src, dst;
  if (!LoadSet(c, c.args[1], &src)) return;
  // A missing source answers 0 before the destination's type is checked, as in Redis.
  if (!src.exists) return c.out.Integer(0);
  if (!LoadSet(c, c.args[2], &dst)) return;
  bool found;
  if (!Contains(c, src, c.args[3], &found)) return;
  if (!found) return c.out.Integer(0);
  if (c.args[1] == c.args[2]) return c.out.Integer(1);
  bool in_dst;
  if (!Contains(c, dst, c.args[3], &in_dst)) return;
  CollectionBatch batch(c);
  batch.DeleteMember(src, c.args[3]);
  src.meta.size--;
  batch.SaveMeta(src);
  if (!in_dst) {
    batch.Create(&dst);
    batch.PutMember(dst, c.args[3], "");
    dst.meta.size++;
    batch.SaveMeta(dst);
  }
  if (batch.Commit()) c.out.Integer(1);
}

enum class Op { kInter, kUnion, kDiff };

// The result of op over the sets named by args[first..last); false after replying.
bool Combine(CommandContext& c, Op op, size_t first, size_t last, std::set<std::string>* out,
             uint64_t limit = 0) {
  std::vector<Collection> sets(last - first);
  for (size_t i = first; i < last; i++) {
    if (!LoadSet(c, c.args[i], &sets[i - first])) return false;
  }
  out->clear();
  if (op == Op::kInter) {
    // Walk the smallest set and probe the others.
    for (const auto& s : sets) {
      if (!s.exists) return true;
    }
    size_t smallest = 0;
    for (size_t i = 1; i < sets.size(); i++) {
      if (sets[i].meta.size < sets[smallest].meta.size) smallest = i;
    }
    bool ok = true;
    if (!ScanMembers(c, sets[smallest], "", "", false, [&](std::string_view m, std::string_view) {
          for (size_t i = 0; i < sets.size(); i++) {
            if (i == smallest) continue;
            bool found;
            if (!Contains(c, sets[i], m, &found)) {
              ok = false;
              return false;
            }
            if (!found) return true;
          }
          out->emplace(m);
          return limit == 0 || out->size() < limit;
        })) {
      return false;
    }
    return ok;
  }
  for (size_t i = 0; i < sets.size(); i++) {
    if (op == Op::kDiff && i > 0) {
      if (out->empty()) break;
      bool ok = ScanMembers(c, sets[i], "", "", false, [&](std::string_view m, std::string_view) {
        out->erase(std::string(m));
        return true;
      });
      if (!ok) return false;
      continue;
    }
    if (!ScanMembers(c, sets[i], "", "", false, [&](std::string_view m, std::string_view) {
          out->emplace(m);
          return true;
        })) {
      return false;
    }
  }
  return true;
}

void ReplyCombined(CommandContext& c, Op op) {
  std::set<std::string> result;
  if (!Combine(c, op, 1, c.args.size(), &result)) return;
  c.out.SetHeader(result.size());
  for (const auto& m : result) c.out.Bulk(m);
}

void SInter(CommandContext& c) { ReplyCombined(c, Op::kInter); }
void SUnion(CommandContext& c) { ReplyCombined(c, Op::kUnion); }
void SDiff(CommandContext& c) { ReplyCombined(c, Op::kDiff); }

// SINTERSTORE / SUNIONSTORE / SDIFFSTORE destination key [key ...]: replaces
// destination (whatever its type) with the result, or deletes it if the result is empty.
void StoreCombined(CommandContext& c, Op op) {
  std::set<std::string> result;
  if (!Combine(c, op, 2, c.args.size(), &result)) return;
  CollectionBatch batch(c);
  batch.DeleteKey(c.args[1]);
  if (!result.empty()) {
    Collection dst;
    dst.key = std::string(c.args[1]);
    dst.type = ValueType::kSet;
    batch.Create(&dst);
    for (const auto& m : result) batch.PutMember(dst, m, "");
    dst.meta.size = result.size();
    batch.SaveMeta(dst);
  }
  if (batch.Commit()) c.out.Integer(static_cast<int64_t>(result.size()));
}

void SInterStore(CommandContext& c) { StoreCombined(c, Op::kInter); }
void SUnionStore(CommandContext& c) { StoreCombined(c, Op::kUnion); }
void SDiffStore(CommandContext& c) { StoreCombined(c, Op::kDiff); }

// SINTERCARD numkeys key [key ...] [LIMIT limit]
void SInterCard(CommandContext& c) {
  int64_t numkeys;
  if (!ParseInt64(c.args[1], &numkeys) || numkeys <= 0) {
    return c.out.Error("ERR numkeys should be greater than 0");
  }
  if (numkeys > static_cast<int64_t>(c.args.size()) - 2) {
    return c.out.Error("ERR Number of keys can't be greater than number of args");
  }
  int64_t limit = 0;
  for (size_t i = 2 + numkeys; i < c.args.size(); i++) {
    if (Lower(c.args[i]) == "limit" && i + 1 < c.args.size()) {
      if (!ParseInt64(c.args[++i], &limit) || limit < 0) {
        return c.out.Error("ERR LIMIT can't be negative");
      }
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  std::set<std::string> result;
  if (!Combine(c, Op::kInter, 2, 2 + numkeys, &result, static_cast<uint64_t>(limit))) return;
  c.out.Integer(static_cast<int64_t>(result.size()));
}

void SScan(CommandContext& c) {
  Collection s;
  if (!LoadSet(c, c.args[1], &s)) return;
  ReplyMemberScan(c, s, "", [](std::string_view m, std::string_view, std::vector<std::string>* items) {
    items->emplace_back(m);
  });
}

constexpr uint32_t kRead = kReadOnly | kLockKeys;

const CommandSpec kCommands[] = {
    {"sadd", -3, kWrite | kDenyOom | kFast, 1, 1, 1, SAdd, "set",
     "Adds one or more members to a set."},
    {"srem", -3, kWrite | kFast, 1, 1, 1, SRem, "set", "Removes one or more members from a set."},
    {"smembers", 2, kRead, 1, 1, 1, SMembers, "set", "Returns all members of a set."},
    {"sismember", 3, kRead | kFast, 1, 1, 1, SIsMember, "set",
     "Determines whether a member belongs to a set."},
    {"smismember", -3, kRead | kFast, 1, 1, 1, SMIsMember, "set",
     "Determines whether multiple members belong to a set."},
    {"scard", 2, kRead | kFast, 1, 1, 1, SCard, "set", "Returns the number of members in a set."},
    {"spop", -2, kWrite | kFast, 1, 1, 1, SPop, "set",
     "Returns one or more random members from a set after removing them."},
    {"srandmember", -2, kRead, 1, 1, 1, SRandMember, "set",
     "Get one or multiple random members from a set."},
    {"smove", 4, kWrite | kFast, 1, 2, 1, SMove, "set", "Moves a member from one set to another."},
    {"sinter", -2, kRead, 1, -1, 1, SInter, "set", "Returns the intersect of multiple sets."},
    {"sunion", -2, kRead, 1, -1, 1, SUnion, "set", "Returns the union of multiple sets."},
    {"sdiff", -2, kRead, 1, -1, 1, SDiff, "set", "Returns the difference of multiple sets."},
    {"sinterstore", -3, kWrite | kDenyOom, 1, -1, 1, SInterStore, "set",
     "Stores the intersect of multiple sets in a key."},
    {"sunionstore", -3, kWrite | kDenyOom, 1, -1, 1, SUnionStore, "set",
     "Stores the union of multiple sets in a key."},
    {"sdiffstore", -3, kWrite | kDenyOom, 1, -1, 1, SDiffStore, "set",
     "Stores the difference of multiple sets in a key."},
    {"sintercard", -3, kRead, 0, 0, 0, SInterCard, "set",
     "Returns the number of members of the intersect of multiple sets.", 1},
    {"sscan", -3, kRead, 1, 1, 1, SScan, "set", "Iterates over members of a set."},
};

}  // namespace

void RegisterSetCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kCommands) table->push_back(&spec);
}

}  // namespace cairn::server
