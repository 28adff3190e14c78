// Hash commands (Redis 7 semantics): HSET HSETNX HGET HMGET HMSET HDEL HLEN HSTRLEN
// HEXISTS HKEYS HVALS HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN. A field is a member
// of the hash's collection (store/collection.h), its value the member's value.
#include <cmath>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/collections.h"

namespace cairn::server {
namespace {

using store::ValueType;

bool LoadHash(CommandContext& c, Collection* h) {
  return LoadCollection(c, c.args[1], ValueType::kHash, h);
}

// Sets fields args[first], args[first+1], ... (pairs). Replies nothing.
bool SetFields(CommandContext& c, size_t first, int64_t* added) {
  if ((c.args.size() - first) % 2 != 0 || c.args.size() == first) {
    c.out.Error(absl::StrCat("ERR wrong number of arguments for '", Lower(c.args[0]),
                             "' command"));
    return false;
  }
  Collection h;
  if (!LoadHash(c, &h)) return false;
  CollectionBatch batch(c);
  batch.Create(&h);
  absl::flat_hash_set<std::string_view> seen;
  *added = 0;
  for (size_t i = first; i < c.args.size(); i += 2) {
    std::string unused;
    if (seen.insert(c.args[i]).second) {
      absl::Status s = GetMember(c, h, c.args[i], &unused);
      if (absl::IsNotFound(s)) {
        ++*added;
      } else if (!s.ok()) {
        ReplyStatusError(c.out, s);
        return false;
      }
    }
    batch.PutMember(h, c.args[i], c.args[i + 1]);
  }
  h.meta.size += *added;
  batch.SaveMeta(h);
  return batch.Commit();
}

void HSet(CommandContext& c) {
  int64_t added;
  if (SetFields(c, 2, &added)) c.out.Integer(added);
}

void HMSet(CommandContext& c) {
  int64_t added;
  if (SetFields(c, 2, &added)) c.out.SimpleString("OK");
}

void HSetNx(CommandContext& c) {
  Collection h;
  if (!LoadHash(c, &h)) return;
  std::string unused;
  absl::Status s = GetMember(c, h, c.args[2], &unused);
  if (s.ok()) return c.out.Integer(0);
  if (!absl::IsNotFound(s)) return ReplyStatusError(c.out, s);
  CollectionBatch batch(c);
  batch.Create(&h);
  batch.PutMember(h, c.args[2], c.args[3]);
  h.meta.size++;
  batch.SaveMeta(h);
  if (batch.Commit()) c.out.Integer(1);
}

void HGet(CommandContext& c) {
  Collection h;
  if (!LoadHash(c, &h)) return;
  std::string v;
  absl::Status s = GetMember(c, h, c.args[2], &v);
  if (absl::IsNotFound(s)) return c.out.Null();
  if (!s.ok()) return ReplyStatusError(c.out, s);
  c.out.Bulk(v);
}

void HMGet(CommandContext& c) {
  Collection h;
  if (!LoadHash(c, &h)) return;
  std::vector<std::optional<std::string>> values;
  for (size_t i = 2; i < c.args.size(); i++) {
    std::string v;
    absl::Status s = GetMember(c, h, c.args[i], &v);
    if (absl::IsNotFound(s)) {
      values.emplace_back();
    } else if (!s.ok()) {
      return ReplyStatusError(c.out, s);
    } else {
      values.emplace_back(std::move(v));
    }
  }
  c.out.ArrayHeader(values.size());
  for (const auto& v : values) {
    if (v.has_value()) {
      c.out.Bulk(*v);
    } else {
      c.out.Null();
    }
  }
}

void HDel(CommandContext& c) {
  Collection h;
  if (!LoadHash(c, &h)) return;
  if (!h.exists) return c.out.Integer(0);
  CollectionBatch batch(c);
  absl::flat_hash_set<std::string_view> seen;
  int64_t removed = 0;
  for (size_t i = 2; i < c.args.size(); i++) {
    if (!seen.insert(c.args[i]).second) continue;
    std::string unused;
    absl::Status s = GetMember(c, h, c.args[i], &unused);
    if (absl::IsNotFound(s)) continue;
    if (!s.ok()) return ReplyStatusError(c.out, s);
    batch.DeleteMember(h, c.args[i]);
    removed++;
  }
  if (removed == 0) return c.out.Integer(0);
  h.meta.size -= removed;
  batch.SaveMeta(h);
  if (batch.Commit()) c.out.Integer(removed);
}

void HLen(CommandContext& c) {
  Collection h;
  if (!LoadHash(c, &h)) return;
  c.out.Integer(h.exists ? static_cast<int64_t>(h.meta.size) : 0);
}

void HStrLen(CommandContext& c) {
  Collection h;
  if (!LoadHash(c, &h)) return;
  std::string v;
  absl::Status s = GetMember(c, h, c.args[2], &v);
  if (!s.ok() && !absl::IsNotFound(s)) return ReplyStatusError(c.out, s);
  c.out.Integer(s.ok() ? static_cast<int64_t>(v.size()) : 0);
}

void HExists(CommandContext& c) {
  Collection h;
  if (!LoadHash(c, &h)) return;
  std::string v;
  absl::Status s = GetMember(c, h, c.args[2], &v);
  if (!s.ok() && !absl::IsNotFound(s)) return ReplyStatusError(c.out, s);
  c.out.Integer(s.ok() ? 1 : 0);
}

// HKEYS, HVALS, HGETALL.
void ReplyAll(CommandContext& c, bool keys, bool values) {
  Collection h;
  if (!LoadHash(c, &h)) return;
  std::vector<std::string> items;
  if (!ScanMembers(c, h, "", "", false, [&](std::string_view f, std::string_view v) {
        if (keys) items.emplace_back(f);
        if (values) items.emplace_back(v);
        return true;
      })) {
    return;
  }
  if (keys && values) {
    c.out.MapHeader(items.size() / 2);
    for (const auto& s : items) c.out.Bulk(s);
  } else {
    c.out.BulkArray(items);
  }
}

void HKeys(CommandContext& c) { ReplyAll(c, true, false); }
void HVals(CommandContext& c) { ReplyAll(c, false, true); }
void HGetAll(CommandContext& c) { ReplyAll(c, true, true); }

void HIncrBy(CommandContext& c) {
  int64_t by;
  if (!ParseIntArg(c, c.args[3], &by)) return;
  Collection h;
  if (!LoadHash(c, &h)) return;
  std::string v;
  absl::Status s = GetMember(c, h, c.args[2], &v);
  int64_t cur = 0;
  const bool exists = s.ok();
  if (exists) {
    if (!ParseInt64(v, &cur)) return c.out.Error("ERR hash value is not an integer");
  } else if (!absl::IsNotFound(s)) {
    return ReplyStatusError(c.out, s);
  }
  if ((by > 0 && cur > INT64_MAX - by) || (by < 0 && cur < INT64_MIN - by)) {
    return c.out.Error("ERR increment or decrement would overflow");
  }
  cur += by;
  CollectionBatch batch(c);
  batch.Create(&h);
  batch.PutMember(h, c.args[2], absl::StrCat(cur));
  if (!exists) h.meta.size++;
  batch.SaveMeta(h);
  if (batch.Commit()) c.out.Integer(cur);
}

void HIncrByFloat(CommandContext& c) {
  long double by;
  if (!ParseLongDouble(c.args[3], &by)) return c.out.Error(kErrNotFloat);
  if (std::isnan(by) || std::isinf(by)) return c.out.Error("ERR value is NaN or Infinity");
  Collection h;
  if (!LoadHash(c, &h)) return;
  std::string v;
  absl::Status s = GetMember(c, h, c.args[2], &v);
  long double cur = 0;
  const bool exists = s.ok();
  if (exists) {
    if (!ParseLongDouble(v, &cur)) return c.out.Error("ERR hash value is not a float");
  } else if (!absl::IsNotFound(s)) {
    return ReplyStatusError(c.out, s);
  }
  const long double next = cur + by;
  if (std::isnan(next) || std::isinf(next)) {
    return c.out.Error("ERR increment would produce NaN or Infinity");
  }
  const std::string text = FormatLongDouble(next);
  CollectionBatch batch(c);
  batch.Create(&h);
  batch.PutMember(h, c.args[2], text);
  if (!exists) h.meta.size++;
  batch.SaveMeta(h);
  if (batch.Commit()) c.out.Bulk(text);
}

// HRANDFIELD key [count [WITHVALUES]]
void HRandField(CommandContext& c) {
  if (c.args.size() > 4 || (c.args.size() == 4 && Lower(c.args[3]) != "withvalues")) {
    return c.out.Error(kErrSyntax);
  }
  int64_t count = 1;
  const bool has_count = c.args.size() >= 3;
  if (has_count && !ParseRandomCount(c, c.args[2], &count)) return;
  const bool with_values = c.args.size() == 4;
  // Redis refuses a WITHVALUES count past LONG_MAX/2 either way; a plain positive count
  // that large just means "all of them" (a huge negative one would make Redis hang).
  if (has_count && (count < -INT64_MAX / 2 || (with_values && count > INT64_MAX / 2))) {
    return c.out.Error("ERR value is out of range");
  }
  Collection h;
  if (!LoadHash(c, &h)) return;
  std::vector<std::pair<std::string, std::string>> picked;
  const uint64_t n = static_cast<uint64_t>(count < 0 ? -count : count);
  if (!SampleMembers(c, h, "", has_count ? n : 1, !has_count || count >= 0, &picked)) return;
  if (!has_count) {
    if (picked.empty()) return c.out.Null();
    return c.out.Bulk(picked[0].first);
  }
  if (with_values && c.client.protocol.load(std::memory_order_relaxed) == 3) {
    c.out.ArrayHeader(picked.size());
    for (const auto& [f, v] : picked) {
      c.out.ArrayHeader(2);
      c.out.Bulk(f);
      c.out.Bulk(v);
    }
    return;
  }
  c.out.ArrayHeader(picked.size() * (with_values ? 2 : 1));
  for (const auto& [f, v] : picked) {
    c.out.Bulk(f);
    if (with_values) c.out.Bulk(v);
  }
}

void HScan(CommandContext& c) {
  Collection h;
  if (!LoadHash(c, &h)) return;
  ReplyMemberScan(c, h, "",
                  [](std::string_view f, std::string_view v, std::vector<std::string>* items) {
                    items->emplace_back(f);
                    items->emplace_back(v);
                  });
}

constexpr uint32_t kRead = kReadOnly | kLockKeys;

const CommandSpec kCommands[] = {
    {"hset", -4, kWrite | kDenyOom | kFast, 1, 1, 1, HSet, "hash",
     "Creates or modifies the value of a field in a hash."},
    {"hmset", -4, kWrite | kDenyOom | kFast, 1, 1, 1, HMSet, "hash",
     "Sets the values of multiple fields."},
    {"hsetnx", 4, kWrite | kDenyOom | kFast, 1, 1, 1, HSetNx, "hash",
     "Sets the value of a field in a hash only when the field doesn't exist."},
    {"hget", 3, kRead | kFast, 1, 1, 1, HGet, "hash", "Returns the value of a field in a hash."},
    {"hmget", -3, kRead | kFast, 1, 1, 1, HMGet, "hash",
     "Returns the values of all fields in a hash."},
    {"hdel", -3, kWrite | kFast, 1, 1, 1, HDel, "hash",
     "Deletes one or more fields and their values from a hash."},
    {"hlen", 2, kRead | kFast, 1, 1, 1, HLen, "hash", "Returns the number of fields in a hash."},
    {"hstrlen", 3, kRead | kFast, 1, 1, 1, HStrLen, "hash",
     "Returns the length of the value of a field."},
    {"hexists", 3, kRead | kFast, 1, 1, 1, HExists, "hash",
     "Determines whether a field exists in a hash."},
    {"hkeys", 2, kRead, 1, 1, 1, HKeys, "hash", "Returns all fields in a hash."},
    {"hvals", 2, kRead, 1, 1, 1, HVals, "hash", "Returns all values in a hash."},
    {"hgetall", 2, kRead, 1, 1, 1, HGetAll, "hash", "Returns all fields and values in a hash."},
    {"hincrby", 4, kWrite | kDenyOom | kFast | kCounter, 1, 1, 1, HIncrBy, "hash",
     "Increments the integer value of a field in a hash by a number."},
    {"hincrbyfloat", 4, kWrite | kDenyOom | kFast | kCounter, 1, 1, 1, HIncrByFloat, "hash",
     "Increments the floating point value of a field by a number."},
    {"hrandfield", -2, kRead, 1, 1, 1, HRandField, "hash",
     "Returns one or more random fields from a hash."},
    {"hscan", -3, kRead, 1, 1, 1, HScan, "hash", "Iterates over fields and values of a hash."},
};

}  // namespace

void RegisterHashCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kCommands) table->push_back(&spec);
}

}  // namespace cairn::server
