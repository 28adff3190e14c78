// SORT and SORT_RO (Redis 7.0 semantics) over lists, sets and sorted sets: numeric or
// ALPHA order, ASC/DESC, LIMIT, BY pattern (a string key or a hash field per element, or a
// pattern without '*' to keep the native order), GET patterns, and STORE into a list.
//
// In cluster mode a BY or GET pattern that names keys is refused unless those keys must
// share the sorted key's hash tag, so that the command runs whole on one replica (Redis
// 7.4's rule; Redis 7.0 Cluster refuses every such pattern).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "cluster/ring.h"
#include "server/zset.h"

namespace cairn::server {
namespace {

using store::ValueType;

struct Element {
  std::string value;
  double score = 0;
  std::optional<std::string> by;  // ALPHA BY: the value sorted by (none: the key is absent)
};

// The hash tag every key a pattern can form has, as Redis's patternHashSlot finds it;
// nullopt when the substitution may form keys of any tag.
std::optional<std::string_view> PatternTag(std::string_view pattern) {
  size_t open = std::string_view::npos;
  for (size_t i = 0; i < pattern.size(); i++) {
    const char ch = pattern[i];
    if (ch == '*' || ch == '?' || ch == '[' || ch == '\\') return std::nullopt;
    if (open == std::string_view::npos && ch == '{') {
      open = i;
    } else if (open != std::string_view::npos && ch == '}') {
      if (i == open + 1) return std::nullopt;  // an empty tag is no tag
      return pattern.substr(open + 1, i - open - 1);
    }
  }
  return cluster::HashTag(pattern);
}

bool SameTag(std::string_view pattern, std::string_view key) {
  const auto tag = PatternTag(pattern);
  return tag.has_value() && *tag == cluster::HashTag(key);
}

// The value a pattern names for an element (lookupKeyByPattern): "#" is the element; the
// first '*' is replaced by it, and "->field" after the '*' reads a hash field. nullopt
// when there is none (no '*', an absent key, a key of another type, an absent field).
// False after replying with a storage error.
bool LookupPattern(CommandContext& c, std::string_view pattern, std::string_view element,
                   std::optional<std::string>* out) {
  out->reset();
  if (pattern == "#") {
    *out = std::string(element);
    return true;
  }
  const size_t star = pattern.find('*');
  if (star == std::string_view::npos) return true;
  std::string_view field;
  const size_t arrow = pattern.find("->", star + 1);
  if (arrow != std::string_view::npos && arrow + 2 < pattern.size())
    field = pattern.substr(arrow + 2);
  const size_t postfix_end = field.empty() ? pattern.size() : arrow;
  std::string key(pattern.substr(0, star));
  key.append(element.data(), element.size());
  key.append(pattern.substr(star + 1, postfix_end - star - 1));

  const int db = c.client.db.load(std::memory_order_relaxed);
  if (field.empty()) {  // a string: one read (a key of another type reads as nil)
    store::Record r;
    absl::Status s = c.server.backend->Get(db, key, &r);
    if (absl::IsNotFound(s)) return true;
    if (!s.ok()) {
      ReplyStatusError(c.out, s);
      return false;
    }
    if (r.type == ValueType::kString) *out = std::move(r.value);
    return true;
  }
  Collection coll;
  if (!LoadAnyType(c, db, key, &coll)) return false;
  if (!coll.exists || coll.type != ValueType::kHash) return true;
  std::string v;
  absl::Status s = GetMember(c, coll, field, &v);
  if (absl::IsNotFound(s)) return true;
  if (!s.ok()) {
    ReplyStatusError(c.out, s);
    return false;
  }
  *out = std::move(v);
  return true;
}

struct SortOptions {
  bool desc = false, alpha = false, dontsort = false;
  int64_t limit_start = 0, limit_count = -1;
  std::optional<std::string_view> by, store;
  std::vector<std::string_view> gets;
};

constexpr std::string_view kErrByCluster =
    "ERR BY option of SORT denied in Cluster mode when keys formed by the pattern may be in "
    "different slots.";
constexpr std::string_view kErrGetCluster =
    "ERR GET option of SORT denied in Cluster mode when keys formed by the pattern may be in "
    "different slots.";

bool ParseSortOptions(CommandContext& c, bool readonly, SortOptions* o) {
  const bool cluster = c.server.cluster_mode || c.server.cluster != nullptr;
  for (size_t j = 2; j < c.args.size(); j++) {
    const std::string opt = Lower(c.args[j]);
    const size_t left = c.args.size() - j - 1;
    if (opt == "asc") {
      o->desc = false;
    } else if (opt == "desc") {
      o->desc = true;
    } else if (opt == "alpha") {
      o->alpha = true;
    } else if (opt == "limit" && left >= 2) {
      if (!ParseIntArg(c, c.args[j + 1], &o->limit_start) ||
          !ParseIntArg(c, c.args[j + 2], &o->limit_count)) {
        return false;
      }
      j += 2;
    } else if (!readonly && opt == "store" && left >= 1) {
      o->store = c.args[++j];
    } else if (opt == "by" && left >= 1) {
      o->by = c.args[++j];
      // A pattern without '*' names no key: the elements keep their order.
      if (o->by->find('*') == std::string_view::npos) {
        o->dontsort = true;
      } else if (cluster && !SameTag(*o->by, c.args[1])) {
        c.out.Error(kErrByCluster);
        return false;
      }
    } else if (opt == "get" && left >= 1) {
      const std::string_view pattern = c.args[++j];
      // (A pattern without '*' names one fixed key, as Redis 7.4 allows it.)
      if (cluster && pattern != "#" && pattern.find('*') != std::string_view::npos && !SameTag(pattern, c.args[1])) {
        c.out.Error(kErrGetCluster);
        return false;
      }
      o->gets.push_back(pattern);
    } else {
      c.out.Error(kErrSyntax);
      return false;
    }
  }
  return true;
}

// The elements of the key to sort, in its native order. False after replying.
bool LoadElements(CommandContext& c, const Collection& coll, std::vector<Element>* out) {
  if (!coll.exists) return true;
  if (coll.type == ValueType::kZSet) {
    return ForEachByScore(c, coll, false, [&](std::string_view m, double) {
      out->push_back(Element{std::string(m), 0, std::nullopt});
      return true;
    });
  }
  const bool list = coll.type == ValueType::kList;
  return ScanMembers(c, coll, "", "", false, [&](std::string_view m, std::string_view v) {
    out->push_back(Element{std::string(list ? v : m), 0, std::nullopt});
    return true;
  });
}

// Fills the keys to sort by; false after replying (a storage error, or a value that is
// not a number when sorting numerically).
bool LoadSortKeys(CommandContext& c, const SortOptions& o, std::vector<Element>* els) {
  bool not_a_number = false;
  for (Element& e : *els) {
    std::optional<std::string> by;
    if (o.by) {
      if (!LookupPattern(c, *o.by, e.value, &by)) return false;
      if (!by) continue;  // an absent key sorts as 0 (or first, ALPHA)
    }
    const std::string& text = o.by ? *by : e.value;
    if (o.alpha) {
      if (o.by) e.by = std::move(by);
      continue;
    }
    // strtod as Redis: leading spaces are skipped, "" is 0; trailing bytes, overflow
    // and NaN are not numbers.
    char* end = nullptr;
    errno = 0;
    e.score = std::strtod(text.c_str(), &end);
    if (*end != '\0' || errno == ERANGE || std::isnan(e.score)) not_a_number = true;
  }
  if (not_a_number) {
    c.out.Error("ERR One or more scores can't be converted into double");
    return false;
  }
  return true;
}

int Compare(const SortOptions& o, const Element& a, const Element& b) {
  int cmp;
  if (!o.alpha) {
    // Equal scores order by the elements' bytes, so the result is deterministic.
    cmp = a.score > b.score ? 1 : a.score < b.score ? -1 : a.value.compare(b.value);
  } else if (o.by) {
    if (!a.by || !b.by) {
      cmp = a.by.has_value() == b.by.has_value() ? 0 : !a.by ? -1 : 1;
    } else {
      cmp = a.by->compare(*b.by);
    }
  } else {
    cmp = a.value.compare(b.value);
  }
  cmp = cmp < 0 ? -1 : cmp > 0 ? 1 : 0;
  return o.desc ? -cmp : cmp;
}

// Writes the result as a list at dst (none: deletes dst) and replies its length.
void StoreList(CommandContext& c, std::string_view dst, const std::vector<std::string>& items) {
  bool exists = true;
  if (items.empty() && !KeyExists(c, dst, &exists)) return;
  if (!exists) return c.out.Integer(0);
  CollectionBatch batch(c);
  batch.DeleteKey(dst);
  if (!items.empty()) {
    Collection l;
    l.key = std::string(dst);
    l.type = ValueType::kList;
    batch.Create(&l);
    for (size_t i = 0; i < items.size(); i++) {
      batch.PutMember(l, store::ListIndexMember(l.meta.head + i), items[i]);
    }
    l.meta.size = items.size();
    batch.SaveMeta(l);
  }
  if (batch.Commit()) c.out.Integer(static_cast<int64_t>(items.size()));
}

void SortGeneric(CommandContext& c, bool readonly) {
  SortOptions o;
  if (!ParseSortOptions(c, readonly, &o)) return;
  Collection coll;
  if (!LoadAnyType(c, c.client.db.load(std::memory_order_relaxed), c.args[1], &coll)) return;
  if (coll.exists && coll.type != ValueType::kList && coll.type != ValueType::kSet &&
      coll.type != ValueType::kZSet) {
    return c.out.Error(kErrWrongType);
  }
  // An unsorted set would come out in storage order: sorted ALPHA when stored or run by
  // a script, so replicas and replays agree (as Redis).
  if (o.dontsort && coll.exists && coll.type == ValueType::kSet && (o.store || c.client.script)) {
    o.dontsort = false;
    o.alpha = true;
    o.by.reset();
  }
  std::vector<Element> els;
  if (!LoadElements(c, coll, &els)) return;
  const int64_t size = static_cast<int64_t>(els.size());
  // Clamped before adding (Redis's fix of CVE-2022-35977): LIMIT near 2^63 must not overflow.
  int64_t start = std::min<int64_t>(std::max<int64_t>(o.limit_start, 0), size);
  int64_t end = o.limit_count < 0 || o.limit_count > size ? size - 1 : start + o.limit_count - 1;
  if (start >= size) {
    start = size - 1;
    end = size - 2;
  }
  if (end >= size) end = size - 1;
  if (o.dontsort) {
    // Native order, reversed by DESC for lists and sorted sets.
    if (o.desc && coll.type != ValueType::kSet) std::reverse(els.begin(), els.end());
  } else {
    if (!LoadSortKeys(c, o, &els)) return;
    std::stable_sort(els.begin(), els.end(),
                     [&](const Element& a, const Element& b) { return Compare(o, a, b) < 0; });
  }
  std::vector<std::string> items;
  std::vector<bool> present;
  for (int64_t j = start; j <= end; j++) {
    if (o.gets.empty()) {
      items.push_back(std::move(els[j].value));
      present.push_back(true);
    }
    for (std::string_view pattern : o.gets) {
      std::optional<std::string> v;
      if (!LookupPattern(c, pattern, els[j].value, &v)) return;
      present.push_back(v.has_value());
      items.push_back(v ? std::move(*v) : std::string());
    }
  }
  if (o.store) return StoreList(c, *o.store, items);
  c.out.ArrayHeader(items.size());
  for (size_t i = 0; i < items.size(); i++) present[i] ? c.out.Bulk(items[i]) : c.out.Null();
}

void Sort(CommandContext& c) { SortGeneric(c, false); }
void SortRo(CommandContext& c) { SortGeneric(c, true); }

// SORT's STORE key, found as Redis's sortGetKeys does: skipping the arguments of LIMIT,
// BY and GET (a GET pattern may well read "store"); the last STORE counts.
void SortStoreKey(const std::vector<std::string_view>& args, std::vector<std::string_view>* keys) {
  size_t at = 0;
  for (size_t i = 2; i < args.size(); i++) {
    const std::string a = Lower(args[i]);
    if (a == "limit") {
      i += 2;
    } else if (a == "get" || a == "by") {
      i += 1;
    } else if (a == "store" && i + 1 < args.size()) {
      at = ++i;
    }
  }
  if (at != 0) keys->push_back(args[at]);
}

const CommandSpec kCommands[] = {
    {"sort", -2, kWrite | kDenyOom, 1, 1, 1, Sort, "generic",
     "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", 0, 0,
     nullptr, SortStoreKey},
    {"sort_ro", -2, kReadOnly | kLockKeys, 1, 1, 1, SortRo, "generic",
     "Returns the sorted elements of a list, a set, or a sorted set."},
};

}  // namespace

void RegisterSortCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kCommands) table->push_back(&spec);
}

}  // namespace cairn::server
