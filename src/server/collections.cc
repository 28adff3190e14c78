#include "server/collections.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/glob.h"
#include "base/random.h"

namespace cairn::server {

using store::CollectionMeta;
using store::Record;
using store::ValueType;

bool KeyExists(CommandContext& c, std::string_view key, bool* exists) {
  Record r;
  absl::Status s = c.server.backend->Get(c.client.db.load(std::memory_order_relaxed), key, &r);
  *exists = s.ok();
  if (!s.ok() && !absl::IsNotFound(s)) {
    ReplyStatusError(c.out, s);
    return false;
  }
  return true;
}

bool LoadAnyType(CommandContext& c, int db, std::string_view key, Collection* coll) {
  coll->key.assign(key.data(), key.size());
  Record r;
  absl::Status s = c.server.backend->Get(db, key, &r);
  if (absl::IsNotFound(s)) {
    coll->exists = false;
    c.server.stats.keyspace_misses.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  if (!s.ok()) {
    ReplyStatusError(c.out, s);
    return false;
  }
  c.server.stats.keyspace_hits.fetch_add(1, std::memory_order_relaxed);
  coll->exists = true;
  coll->type = r.type;
  coll->expire_at_ms = r.expire_at_ms;
  if (store::IsCollection(r.type)) {
    s = store::DecodeCollectionMeta(r.type, r.value, &coll->meta);
    if (!s.ok()) {
      ReplyStatusError(c.out, s);
      return false;
    }
    coll->stored_version = coll->meta.version;
    coll->stored_size = coll->meta.size;
    coll->stored_head = coll->meta.head;
    coll->stored_expire_at_ms = coll->expire_at_ms;
  }
  return true;
}

bool LoadCollection(CommandContext& c, std::string_view key, ValueType t, Collection* coll) {
  if (!LoadAnyType(c, c.client.db.load(std::memory_order_relaxed), key, coll)) return false;
  if (!coll->exists) {
    coll->type = t;
    coll->expire_at_ms = 0;
    coll->meta = CollectionMeta();
    return true;
  }
  if (coll->type != t) {
    c.out.Error(kErrWrongType);
    return false;
  }
  return true;
}

absl::Status GetMember(CommandContext& c, const Collection& coll, std::string_view member,
                       std::string* value) {
  if (!coll.exists) return absl::NotFoundError("");
  return c.server.backend->GetMember(c.client.db.load(std::memory_order_relaxed), coll.key,
                                     coll.meta.version, member, value);
}

bool ScanMembers(CommandContext& c, const Collection& coll, std::string_view start,
                 std::string_view end, bool reverse,
                 absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn) {
  if (!coll.exists) return true;
  absl::Status s = c.server.backend->ScanMembers(c.client.db.load(std::memory_order_relaxed),
                                                 coll.key, coll.meta.version, start, end,
                                                 reverse, fn);
  if (!s.ok()) {
    ReplyStatusError(c.out, s);
    return false;
  }
  return true;
}

void CollectionBatch::Create(Collection* coll) {
  if (coll->exists) return;
  coll->exists = true;
  coll->expire_at_ms = 0;
  coll->meta = CollectionMeta();
  coll->meta.version = c_.server.backend->NewVersion();
}

void CollectionBatch::PutMember(const Collection& coll, std::string_view member,
                                std::string_view value) {
  batch_.push_back(store::Mutation::PutMember(Db(), coll.key, coll.meta.version,
                                              std::string(member), std::string(value)));
}

void CollectionBatch::DeleteMember(const Collection& coll, std::string_view member) {
  batch_.push_back(
      store::Mutation::DeleteMember(Db(), coll.key, coll.meta.version, std::string(member)));
}

void CollectionBatch::SaveMeta(const Collection& coll) {
  if (coll.type == store::ValueType::kStream) {
    // A stream exists empty (its last ID and groups stay), until DEL.
    batch_.push_back(store::Mutation::Put(
        Db(), coll.key,
        Record{coll.type, coll.expire_at_ms, store::EncodeCollectionMeta(coll.type, coll.meta)}));
    return;
  }
  if (coll.meta.size == 0) {
    // Its remaining member deletions are moot: the version is garbage from here on.
    DeleteKey(coll.key);
    return;
  }
  if (coll.stored_version != 0 && coll.meta.version == coll.stored_version &&
      coll.meta.size == coll.stored_size && coll.meta.head == coll.stored_head &&
      coll.expire_at_ms == coll.stored_expire_at_ms) {
    return;  // the stored metadata already says this
  }
  batch_.push_back(store::Mutation::Put(
      Db(), coll.key,
      Record{coll.type, coll.expire_at_ms, store::EncodeCollectionMeta(coll.type, coll.meta)}));
}

void CollectionBatch::DeleteKey(std::string_view key) {
  batch_.push_back(store::Mutation::Delete(Db(), std::string(key)));
}

bool CollectionBatch::Commit() {
  if (batch_.empty()) return true;
  absl::Status s = c_.server.backend->Apply(batch_);
  if (s.ok()) {
    // What ExecuteCommand tells WATCH and blocked clients about.
    for (const store::Mutation& m : batch_) {
      if (std::find(c_.written.begin(), c_.written.end(), m.key) == c_.written.end()) {
        c_.written.push_back(m.key);
      }
    }
  }
  batch_.clear();
  if (!s.ok()) {
    ReplyStatusError(c_.out, s);
    return false;
  }
  return true;
}

void ReplyMemberScan(
    CommandContext& c, const Collection& coll, std::string_view tag,
    absl::FunctionRef<void(std::string_view member, std::string_view value,
                           std::vector<std::string>* items)>
        emit) {
  uint64_t cursor;
  if (!absl::SimpleAtoi(absl::string_view(c.args[2].data(), c.args[2].size()), &cursor)) {
    return c.out.Error("ERR invalid cursor");
  }
  ScanOptions opts;
  if (!ParseScanOptions(c, 3, false, &opts)) return;
  const std::string_view pattern = opts.pattern;
  const bool has_pattern = opts.has_pattern;
  const int64_t count = opts.count;
  // The cursor names the member (with its tag) to resume at.
  std::string start;
  if (cursor == 0 || !c.server.cursors.Lookup(cursor, &start) || !start.starts_with(tag)) {
    start = std::string(tag);
  }
  const std::string prefix = std::string(tag) + (has_pattern ? GlobLiteralPrefix(pattern) : "");
  if (start < prefix) start = prefix;
  std::vector<std::string> items;
  std::string resume;
  int64_t visited = 0;
  if (!ScanMembers(c, coll, start, "", false, [&](std::string_view m, std::string_view v) {
        if (!m.starts_with(prefix)) return false;
        if (visited++ == count) {
          resume.assign(m.data(), m.size());
          return false;
        }
        m.remove_prefix(tag.size());
        if (!has_pattern || GlobMatch(pattern, m)) emit(m, v, &items);
        return true;
      })) {
    return;
  }
  const uint64_t next = resume.empty() ? 0 : c.server.cursors.Save(std::move(resume));
  c.out.ArrayHeader(2);
  c.out.Bulk(absl::StrCat(next));
  c.out.BulkArray(items);
}

bool SampleMembers(CommandContext& c, const Collection& coll, std::string_view tag, uint64_t n,
                   bool distinct, std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  const uint64_t size = coll.exists ? coll.meta.size : 0;
  if (size == 0 || n == 0) return true;
  static thread_local Random rnd(static_cast<uint64_t>(c.now_ms) * 0x9e3779b97f4a7c15ull + 1);
  // The ranks to take, sorted, so one ordered pass collects them.
  std::vector<uint64_t> ranks;
  if (distinct) {
    if (n >= size) {
      for (uint64_t i = 0; i < size; i++) ranks.push_back(i);
    } else {
      // Floyd's algorithm: n distinct ranks, each set equally likely.
      absl::flat_hash_set<uint64_t> chosen;
      for (uint64_t j = size - n; j < size; j++) {
        const uint64_t t = rnd.Uniform(j + 1);
        if (!chosen.insert(t).second) chosen.insert(j);
      }
      ranks.assign(chosen.begin(), chosen.end());
    }
  } else {
    for (uint64_t i = 0; i < n; i++) ranks.push_back(rnd.Uniform(size));
  }
  std::sort(ranks.begin(), ranks.end());
  size_t next = 0;
  uint64_t rank = 0;
  if (!ScanMembers(c, coll, tag, "", false, [&](std::string_view m, std::string_view v) {
        if (!m.starts_with(tag)) return false;
        m.remove_prefix(tag.size());
        while (next < ranks.size() && ranks[next] == rank) {
          out->emplace_back(std::string(m), std::string(v));
          next++;
        }
        rank++;
        return next < ranks.size();
      })) {
    return false;
  }
  // Ranks came out sorted; the caller wants random order.
  for (size_t i = out->size(); i > 1; i--) std::swap((*out)[i - 1], (*out)[rnd.Uniform(i)]);
  return true;
}

bool MoveCollection(CommandContext& c, int src_db, std::string_view src_key,
                    const store::Record& r, int dst_db, std::string_view dst_key, bool keep_source) {
  CollectionMeta meta;
  absl::Status s = store::DecodeCollectionMeta(r.type, r.value, &meta);
  if (!s.ok()) {
    ReplyStatusError(c.out, s);
    return false;
  }
  const uint64_t version = c.server.backend->NewVersion();
  std::vector<store::Mutation> batch;
  batch.reserve(meta.size + 2);
  s = c.server.backend->ScanMembers(
      src_db, src_key, meta.version, "", "", false, [&](std::string_view m, std::string_view v) {
        batch.push_back(store::Mutation::PutMember(dst_db, std::string(dst_key), version,
                                                   std::string(m), std::string(v)));
        return true;
      });
  if (!s.ok()) {
    ReplyStatusError(c.out, s);
    return false;
  }
  if (!keep_source) batch.push_back(store::Mutation::Delete(src_db, std::string(src_key)));
  CollectionMeta moved = meta;
  moved.version = version;
  batch.push_back(store::Mutation::Put(
      dst_db, std::string(dst_key),
      Record{r.type, r.expire_at_ms, store::EncodeCollectionMeta(r.type, moved)}));
  s = c.server.backend->Apply(batch);
  if (!s.ok()) {
    ReplyStatusError(c.out, s);
    return false;
  }
  return true;
}

bool ParseMultiPop(CommandContext& c, size_t first, const char* a, const char* b,
                   std::vector<std::string_view>* keys, bool* first_word, int64_t* count) {
  int64_t numkeys = 0;
  if (!ParseInt64(c.args[first], &numkeys) || numkeys <= 0) {
    c.out.Error("ERR numkeys should be greater than 0");
    return false;
  }
  size_t i = first + 1 + static_cast<size_t>(numkeys);
  if (numkeys > static_cast<int64_t>(c.args.size()) || i >= c.args.size()) {
    c.out.Error(kErrSyntax);
    return false;
  }
  keys->assign(c.args.begin() + static_cast<long>(first) + 1, c.args.begin() + static_cast<long>(i));
  const std::string where = Lower(c.args[i]);
  if (where != a && where != b) {
    c.out.Error(kErrSyntax);
    return false;
  }
  *first_word = where == a;
  *count = 1;
  bool count_given = false;
  for (i++; i < c.args.size(); i++) {
    if (Lower(c.args[i]) == "count" && i + 1 < c.args.size() && !count_given) {
      if (!ParseInt64(c.args[++i], count) || *count <= 0) {
        c.out.Error("ERR count should be greater than 0");
        return false;
      }
      count_given = true;
    } else {
      c.out.Error(kErrSyntax);
      return false;
    }
  }
  return true;
}

bool ParseIntArg(CommandContext& c, std::string_view arg, int64_t* v) {
  if (ParseInt64(arg, v)) return true;
  c.out.Error(kErrNotInteger);
  return false;
}

bool ParseRandomCount(CommandContext& c, std::string_view arg, int64_t* v) {
  if (!ParseIntArg(c, arg, v)) return false;
  if (*v != INT64_MIN) return true;
  c.out.Error(
      "ERR value is out of range, value must between -9223372036854775807 and "
      "9223372036854775807");
  return false;
}

}  // namespace cairn::server
