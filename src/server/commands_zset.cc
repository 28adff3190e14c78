// Sorted-set commands (Redis 7 semantics): ZADD ZREM ZSCORE ZMSCORE ZINCRBY ZCARD ZCOUNT
// ZLEXCOUNT ZRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZREVRANGE
// ZRANK ZREVRANK ZREMRANGEBYSCORE ZREMRANGEBYRANK ZREMRANGEBYLEX ZPOPMIN ZPOPMAX
// ZRANDMEMBER ZUNIONSTORE ZINTERSTORE ZSCAN.
//
// Each element is two members of the collection (store/collection.h): by member
// ('m' | member -> score) for lookups, and by score ('s' | score | member -> "") for
// ordered ranges. Equal scores order by member bytes, as in Redis.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/zset.h"

namespace cairn::server {

using store::ValueType;

constexpr std::string_view kByMember = "m";
constexpr std::string_view kByScore = "s";

bool LoadZSet(CommandContext& c, std::string_view key, Collection* z) {
  return LoadCollection(c, key, ValueType::kZSet, z);
}

bool ZSetScore(CommandContext& c, const Collection& z, std::string_view member, double* score,
               bool* found) {
  std::string v;
  absl::Status s = GetMember(c, z, store::ZSetMemberKey(member), &v);
  if (absl::IsNotFound(s)) {
    *found = false;
    return true;
  }
  if (!s.ok() || v.size() != 8) {
    ReplyStatusError(c.out, s.ok() ? absl::DataLossError("corruption: bad score") : s);
    return false;
  }
  *found = true;
  *score = store::DecodeScore(v);
  return true;
}

void PutZSetElement(CollectionBatch& batch, const Collection& z, std::string_view member,
                    double score) {
  batch.PutMember(z, store::ZSetMemberKey(member), store::EncodeScore(score));
  batch.PutMember(z, store::ZSetScoreKey(score, member), "");
}

bool ForEachByScore(CommandContext& c, const Collection& z, bool reverse,
                    absl::FunctionRef<bool(std::string_view member, double score)> fn) {
  return ScanMembers(c, z, kByScore, "t", reverse, [&](std::string_view m, std::string_view) {
    if (m.size() < 9) return true;  // not an element: ignore rather than misread
    return fn(m.substr(9), store::DecodeScore(m.substr(1, 8)));
  });
}

bool ForEachInScoreRange(CommandContext& c, const Collection& z, double min, double max,
                         absl::FunctionRef<bool(std::string_view member, double score)> fn) {
  const std::string from = store::ZSetScoreKey(min, "");
  return ScanMembers(c, z, from, "t", false, [&](std::string_view m, std::string_view) {
    if (m.size() < 9) return true;  // not an element: ignore rather than misread
    const double score = store::DecodeScore(m.substr(1, 8));
    if (score >= max) return false;
    return score < min || fn(m.substr(9), score);
  });
}

namespace {

void DeleteElement(CollectionBatch& batch, const Collection& z, std::string_view member,
                   double score) {
  batch.DeleteMember(z, store::ZSetMemberKey(member));
  batch.DeleteMember(z, store::ZSetScoreKey(score, member));
}

void ReplyScore(CommandContext& c, double score) { c.out.Double(score); }

// --- ranges -------------------------------------------------------------------------

struct ScoreRange {
  double min = 0, max = 0;
  bool minex = false, maxex = false;
  bool Contains(double v) const {
    return (minex ? v > min : v >= min) && (maxex ? v < max : v <= max);
  }
  bool AboveMax(double v) const { return maxex ? v >= max : v > max; }
  bool BelowMin(double v) const { return minex ? v <= min : v < min; }
};

// As Redis's zslParseRange: plain strtod over what follows an optional '(', so leading
// spaces are skipped, "" is 0 and out-of-range values are infinities; only trailing
// characters and NaN are refused.
bool ParseScoreBound(std::string_view s, double* v, bool* exclusive) {
  *exclusive = !s.empty() && s[0] == '(';
  if (*exclusive) s.remove_prefix(1);
  const std::string z(s);
  char* end = nullptr;
  *v = std::strtod(z.c_str(), &end);
  return *end == '\0' && !std::isnan(*v);
}

bool ParseScoreRange(CommandContext& c, std::string_view min, std::string_view max,
                     ScoreRange* r) {
  if (!ParseScoreBound(min, &r->min, &r->minex) || !ParseScoreBound(max, &r->max, &r->maxex)) {
    c.out.Error("ERR min or max is not a float");
    return false;
  }
  return true;
}

struct LexRange {
  std::string min, max;
  bool minex = false, maxex = false;
  bool min_neg_inf = false, max_pos_inf = false, min_pos_inf = false, max_neg_inf = false;
  bool BelowMin(std::string_view m) const {
    if (min_neg_inf) return false;
    if (min_pos_inf) return true;
    return minex ? m <= min : m < min;
  }
  bool AboveMax(std::string_view m) const {
    if (max_pos_inf) return false;
    if (max_neg_inf) return true;
    return maxex ? m >= max : m > max;
  }
};

bool ParseLexBound(std::string_view s, std::string* v, bool* exclusive, bool* neg_inf,
                   bool* pos_inf) {
  if (s == "-") {
    *neg_inf = true;
    return true;
  }
  if (s == "+") {
    *pos_inf = true;
    return true;
  }
  if (s.empty() || (s[0] != '(' && s[0] != '[')) return false;
  *exclusive = s[0] == '(';
  v->assign(s.data() + 1, s.size() - 1);
  return true;
}

bool ParseLexRange(CommandContext& c, std::string_view min, std::string_view max, LexRange* r) {
  if (!ParseLexBound(min, &r->min, &r->minex, &r->min_neg_inf, &r->min_pos_inf) ||
      !ParseLexBound(max, &r->max, &r->maxex, &r->max_neg_inf, &r->max_pos_inf)) {
    c.out.Error("ERR min or max not valid string range item");
    return false;
  }
  return true;
}

struct Element {
  std::string member;
  double score;
};

enum class RangeKind { kRank, kScore, kLex };

// The elements of a range query, in reply order. For kRank, start/stop are ranks (after
// REV); offset/count the LIMIT (count < 0: all).
struct RangeQuery {
  RangeKind kind = RangeKind::kRank;
  bool rev = false;
  int64_t start = 0, stop = -1;
  ScoreRange score;
  LexRange lex;
  int64_t offset = 0, count = -1;
};

bool CollectRange(CommandContext& c, const Collection& z, const RangeQuery& q,
                  std::vector<Element>* out) {
  out->clear();
  if (!z.exists) return true;
  int64_t start = q.start, stop = q.stop;
  const int64_t size = static_cast<int64_t>(z.meta.size);
  if (q.kind == RangeKind::kRank) {
    if (start < 0) start += size;
    if (stop < 0) stop += size;
    if (start < 0) start = 0;
    if (start > stop || start >= size) return true;
    if (stop >= size) stop = size - 1;
  }
  if (q.kind != RangeKind::kRank && (q.offset < 0)) return true;
  int64_t rank = 0, skipped = 0;
  return ForEachByScore(c, z, q.rev, [&](std::string_view m, double score) {
    switch (q.kind) {
      case RangeKind::kRank:
        if (rank++ < start) return true;
        out->push_back({std::string(m), score});
        return rank <= stop;
      case RangeKind::kScore:
        if (q.rev ? q.score.AboveMax(score) : q.score.BelowMin(score)) return true;
        if (q.rev ? q.score.BelowMin(score) : q.score.AboveMax(score)) return false;
        break;
      case RangeKind::kLex:
        if (q.rev ? q.lex.AboveMax(m) : q.lex.BelowMin(m)) return true;
        if (q.rev ? q.lex.BelowMin(m) : q.lex.AboveMax(m)) return false;
        break;
    }
    if (skipped < q.offset) {
      skipped++;
      return true;
    }
    if (q.count >= 0 && static_cast<int64_t>(out->size()) >= q.count) return false;
    out->push_back({std::string(m), score});
    return q.count < 0 || static_cast<int64_t>(out->size()) < q.count;
  });
}

// [[member, score], ...]: RESP3's form of WITHSCORES, and ZMPOP's in both protocols.
void ReplyPairs(CommandContext& c, const std::vector<Element>& els) {
  c.out.ArrayHeader(els.size());
  for (const auto& e : els) {
    c.out.ArrayHeader(2);
    c.out.Bulk(e.member);
    ReplyScore(c, e.score);
  }
}

void ReplyElements(CommandContext& c, const std::vector<Element>& els, bool with_scores) {
  if (with_scores && c.client.protocol.load(std::memory_order_relaxed) == 3) return ReplyPairs(c, els);
  c.out.ArrayHeader(els.size() * (with_scores ? 2 : 1));
  for (const auto& e : els) {
    c.out.Bulk(e.member);
    if (with_scores) ReplyScore(c, e.score);
  }
}

// Parses the options after a range (from args[i]): WITHSCORES, LIMIT, and for ZRANGE
// BYSCORE, BYLEX and REV. Returns false after replying.
bool ParseRangeOptions(CommandContext& c, size_t i, bool zrange, RangeQuery* q,
                       bool* with_scores) {
  bool has_limit = false;
  for (; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "withscores") {  // refused below for BYLEX, with Redis's message
      *with_scores = true;
    } else if (opt == "limit" && i + 2 < c.args.size()) {
      if (!ParseIntArg(c, c.args[i + 1], &q->offset) || !ParseIntArg(c, c.args[i + 2], &q->count)) {
        return false;
      }
      has_limit = true;
      i += 2;
    } else if (zrange && opt == "byscore" && q->kind == RangeKind::kRank) {  // once, not both
      q->kind = RangeKind::kScore;
    } else if (zrange && opt == "bylex" && q->kind == RangeKind::kRank) {
      q->kind = RangeKind::kLex;
    } else if (zrange && opt == "rev" && !q->rev) {
      q->rev = true;
    } else {
      c.out.Error(kErrSyntax);
      return false;
    }
  }
  if (has_limit && q->kind == RangeKind::kRank) {
    c.out.Error(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    return false;
  }
  if (*with_scores && q->kind == RangeKind::kLex) {
    c.out.Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    return false;
  }
  return true;
}

// Fills q's bounds from two arguments (in the order the command takes them).
bool ParseBounds(CommandContext& c, std::string_view a, std::string_view b, RangeQuery* q) {
  switch (q->kind) {
    case RangeKind::kRank:
      return ParseIntArg(c, a, &q->start) && ParseIntArg(c, b, &q->stop);
    case RangeKind::kScore:
      return q->rev ? ParseScoreRange(c, b, a, &q->score) : ParseScoreRange(c, a, b, &q->score);
    case RangeKind::kLex:
      return q->rev ? ParseLexRange(c, b, a, &q->lex) : ParseLexRange(c, a, b, &q->lex);
  }
  return false;
}

void RunRange(CommandContext& c, RangeQuery q, bool with_scores, std::string_view a,
              std::string_view b) {
  if (!ParseBounds(c, a, b, &q)) return;
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  std::vector<Element> els;
  if (CollectRange(c, z, q, &els)) ReplyElements(c, els, with_scores);
}

// ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
void ZRange(CommandContext& c) {
  RangeQuery q;
  bool with_scores = false;
  if (!ParseRangeOptions(c, 4, true, &q, &with_scores)) return;
  RunRange(c, q, with_scores, c.args[2], c.args[3]);
}

// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
void ZRangeStore(CommandContext& c) {
  RangeQuery q;
  bool with_scores = false;
  if (!ParseRangeOptions(c, 5, true, &q, &with_scores)) return;
  if (with_scores) return c.out.Error(kErrSyntax);
  if (!ParseBounds(c, c.args[3], c.args[4], &q)) return;
  Collection z;
  if (!LoadZSet(c, c.args[2], &z)) return;
  std::vector<Element> els;
  if (!CollectRange(c, z, q, &els)) return;
  std::vector<std::pair<std::string, double>> result;
  for (auto& e : els) result.emplace_back(std::move(e.member), e.score);
  StoreZSet(c, c.args[1], result);
}

void ZRevRange(CommandContext& c) {
  RangeQuery q;
  q.rev = true;
  bool with_scores = false;
  if (c.args.size() > 5 || (c.args.size() == 5 && Lower(c.args[4]) != "withscores")) {
    return c.out.Error(kErrSyntax);
  }
  with_scores = c.args.size() == 5;
  RunRange(c, q, with_scores, c.args[2], c.args[3]);
}

void ByScoreOrLex(CommandContext& c, RangeKind kind, bool rev) {
  RangeQuery q;
  q.kind = kind;
  q.rev = rev;
  bool with_scores = false;
  if (!ParseRangeOptions(c, 4, false, &q, &with_scores)) return;
  // These commands take (max, min) when reversed, which ParseBounds expects for REV.
  RunRange(c, q, with_scores, c.args[2], c.args[3]);
}

void ZRangeByScore(CommandContext& c) { ByScoreOrLex(c, RangeKind::kScore, false); }
void ZRevRangeByScore(CommandContext& c) { ByScoreOrLex(c, RangeKind::kScore, true); }
void ZRangeByLex(CommandContext& c) { ByScoreOrLex(c, RangeKind::kLex, false); }
void ZRevRangeByLex(CommandContext& c) { ByScoreOrLex(c, RangeKind::kLex, true); }

// --- single elements ----------------------------------------------------------------

// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
void ZAdd(CommandContext& c) {
  bool nx = false, xx = false, gt = false, lt = false, ch = false, incr = false;
  size_t i = 2;
  for (; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "nx") {
      nx = true;
    } else if (opt == "xx") {
      xx = true;
    } else if (opt == "gt") {
      gt = true;
    } else if (opt == "lt") {
      lt = true;
    } else if (opt == "ch") {
      ch = true;
    } else if (opt == "incr") {
      incr = true;
    } else {
      break;
    }
  }
  const size_t pairs_args = c.args.size() - i;
  if (pairs_args == 0 || pairs_args % 2 != 0) return c.out.Error(kErrSyntax);
  if (nx && xx) return c.out.Error("ERR XX and NX options at the same time are not compatible");
  if ((gt && nx) || (lt && nx) || (gt && lt)) {
    return c.out.Error("ERR GT, LT, and/or NX options at the same time are not compatible");
  }
  if (incr && pairs_args > 2) {
    return c.out.Error("ERR INCR option supports a single increment-element pair");
  }
  std::vector<double> scores;
  for (size_t j = i; j < c.args.size(); j += 2) {
    double s;
    if (!ParseDouble(c.args[j], &s) || std::isnan(s)) return c.out.Error(kErrNotFloat);
    scores.push_back(s);
  }
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  CollectionBatch batch(c);
  const bool existed = z.exists;
  batch.Create(&z);
  int64_t added = 0, changed = 0;
  bool incr_aborted = false;
  double incr_result = 0;
  // The score each member has in this command so far (members may repeat).
  std::map<std::string, std::optional<double>, std::less<>> current;
  for (size_t j = i, k = 0; j < c.args.size(); j += 2, k++) {
    const std::string_view member = c.args[j + 1];
    auto it = current.find(member);
    std::optional<double> old;
    if (it != current.end()) {
      old = it->second;
    } else if (existed) {
      double s;
      bool found;
      if (!ZSetScore(c, z, member, &s, &found)) return;
      if (found) old = s;
    }
    double score = scores[k];
    if (old.has_value()) {
      if (nx) {
        incr_aborted = incr;
        current[std::string(member)] = old;
        continue;
      }
      if (incr) {
        score = *old + score;
        if (std::isnan(score)) return c.out.Error("ERR resulting score is not a number (NaN)");
      }
      if ((gt && score <= *old) || (lt && score >= *old)) {
        incr_aborted = incr;
        current[std::string(member)] = old;
        continue;
      }
      if (score != *old) {
        batch.DeleteMember(z, store::ZSetScoreKey(*old, member));
        PutZSetElement(batch, z, member, score);
        changed++;
      }
    } else {
      if (xx) {
        incr_aborted = incr;
        current[std::string(member)] = old;
        continue;
      }
      PutZSetElement(batch, z, member, score);
      added++;
    }
    current[std::string(member)] = score;
    incr_result = score;
  }
  z.meta.size += added;
  if (added > 0 || changed > 0) {
    batch.SaveMeta(z);
    if (!batch.Commit()) return;
  }
  if (incr) {
    if (incr_aborted) return c.out.Null();
    return ReplyScore(c, incr_result);
  }
  c.out.Integer(ch ? added + changed : added);
}

void ZIncrBy(CommandContext& c) {
  double by;
  if (!ParseDouble(c.args[2], &by) || std::isnan(by)) return c.out.Error(kErrNotFloat);
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  double old = 0;
  bool found = false;
  if (z.exists && !ZSetScore(c, z, c.args[3], &old, &found)) return;
  const double score = found ? old + by : by;
  if (std::isnan(score)) return c.out.Error("ERR resulting score is not a number (NaN)");
  CollectionBatch batch(c);
  batch.Create(&z);
  if (found) {
    batch.DeleteMember(z, store::ZSetScoreKey(old, c.args[3]));
  } else {
    z.meta.size++;
  }
  PutZSetElement(batch, z, c.args[3], score);
  batch.SaveMeta(z);
  if (batch.Commit()) ReplyScore(c, score);
}

void ZRem(CommandContext& c) {
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  if (!z.exists) return c.out.Integer(0);
  CollectionBatch batch(c);
  absl::flat_hash_set<std::string_view> seen;
  int64_t removed = 0;
  for (size_t i = 2; i < c.args.size(); i++) {
    if (!seen.insert(c.args[i]).second) continue;
    double s;
    bool found;
    if (!ZSetScore(c, z, c.args[i], &s, &found)) return;
    if (!found) continue;
    DeleteElement(batch, z, c.args[i], s);
    removed++;
  }
  if (removed == 0) return c.out.Integer(0);
  z.meta.size -= removed;
  batch.SaveMeta(z);
  if (batch.Commit()) c.out.Integer(removed);
}

void ZScore(CommandContext& c) {
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  double s;
  bool found = false;
  if (z.exists && !ZSetScore(c, z, c.args[2], &s, &found)) return;
  if (!found) return c.out.Null();
  ReplyScore(c, s);
}

void ZMScore(CommandContext& c) {
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  std::vector<std::optional<double>> scores;
  for (size_t i = 2; i < c.args.size(); i++) {
    double s;
    bool found = false;
    if (z.exists && !ZSetScore(c, z, c.args[i], &s, &found)) return;
    scores.push_back(found ? std::optional<double>(s) : std::nullopt);
  }
  c.out.ArrayHeader(scores.size());
  for (const auto& s : scores) {
    if (s.has_value()) {
      ReplyScore(c, *s);
    } else {
      c.out.Null();
    }
  }
}

void ZCard(CommandContext& c) {
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  c.out.Integer(z.exists ? static_cast<int64_t>(z.meta.size) : 0);
}

void ZCount(CommandContext& c) {
  RangeQuery q;
  q.kind = RangeKind::kScore;
  if (!ParseBounds(c, c.args[2], c.args[3], &q)) return;
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  std::vector<Element> els;
  if (CollectRange(c, z, q, &els)) c.out.Integer(static_cast<int64_t>(els.size()));
}

void ZLexCount(CommandContext& c) {
  RangeQuery q;
  q.kind = RangeKind::kLex;
  if (!ParseBounds(c, c.args[2], c.args[3], &q)) return;
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  std::vector<Element> els;
  if (CollectRange(c, z, q, &els)) c.out.Integer(static_cast<int64_t>(els.size()));
}

// ZRANK / ZREVRANK key member
void Rank(CommandContext& c, bool rev) {
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  double score;
  bool found = false;
  if (z.exists && !ZSetScore(c, z, c.args[2], &score, &found)) return;
  if (!found) return c.out.Null();
  int64_t rank = 0;
  bool hit = false;
  if (!ForEachByScore(c, z, rev, [&](std::string_view m, double) {
        if (m == c.args[2]) {
          hit = true;
          return false;
        }
        rank++;
        return true;
      })) {
    return;
  }
  if (!hit) return c.out.Null();
  c.out.Integer(rank);
}

void ZRank(CommandContext& c) { Rank(c, false); }
void ZRevRank(CommandContext& c) { Rank(c, true); }

void RemoveRange(CommandContext& c, RangeKind kind) {
  RangeQuery q;
  q.kind = kind;
  if (!ParseBounds(c, c.args[2], c.args[3], &q)) return;
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  std::vector<Element> els;
  if (!CollectRange(c, z, q, &els)) return;
  if (els.empty()) return c.out.Integer(0);
  CollectionBatch batch(c);
  for (const auto& e : els) DeleteElement(batch, z, e.member, e.score);
  z.meta.size -= els.size();
  batch.SaveMeta(z);
  if (batch.Commit()) c.out.Integer(static_cast<int64_t>(els.size()));
}

void ZRemRangeByScore(CommandContext& c) { RemoveRange(c, RangeKind::kScore); }
void ZRemRangeByRank(CommandContext& c) { RemoveRange(c, RangeKind::kRank); }
void ZRemRangeByLex(CommandContext& c) { RemoveRange(c, RangeKind::kLex); }

// ZPOPMIN / ZPOPMAX key [count]
void Pop(CommandContext& c, bool max) {
  if (c.args.size() > 3) return c.out.Error(kErrSyntax);
  int64_t count = 1;
  if (c.args.size() == 3 && (!ParseInt64(c.args[2], &count) || count < 0)) {
    return c.out.Error("ERR value is out of range, must be positive");
  }
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  RangeQuery q;
  q.rev = max;
  q.start = 0;
  q.stop = count - 1;
  std::vector<Element> els;
  if (count > 0 && !CollectRange(c, z, q, &els)) return;
  if (!els.empty()) {
    CollectionBatch batch(c);
    for (const auto& e : els) DeleteElement(batch, z, e.member, e.score);
    z.meta.size -= els.size();
    batch.SaveMeta(z);
    if (!batch.Commit()) return;
  }
  // RESP3: one pair without a count, an array of pairs with one.
  if (c.client.protocol.load(std::memory_order_relaxed) == 3 && c.args.size() == 3) {
    return ReplyElements(c, els, true);
  }
  c.out.ArrayHeader(els.size() * 2);
  for (const auto& e : els) {
    c.out.Bulk(e.member);
    ReplyScore(c, e.score);
  }
}

void ZPopMin(CommandContext& c) { Pop(c, false); }
void ZPopMax(CommandContext& c) { Pop(c, true); }

// Pops up to count of key's lowest (or highest) elements (none: an absent key). False
// after replying with an error.
bool PopElements(CommandContext& c, std::string_view key, bool max, int64_t count, std::vector<Element>* els) {
  Collection z;
  if (!LoadZSet(c, key, &z)) return false;
  els->clear();
  if (!z.exists) return true;
  RangeQuery q;
  q.rev = max;
  q.start = 0;
  q.stop = count - 1;
  if (!CollectRange(c, z, q, els)) return false;
  if (els->empty()) return true;
  CollectionBatch batch(c);
  for (const auto& e : *els) DeleteElement(batch, z, e.member, e.score);
  z.meta.size -= els->size();
  batch.SaveMeta(z);
  return batch.Commit();
}

// BZPOPMIN / BZPOPMAX key [key ...] timeout: [key, member, score] of the first non-empty.
void BlockingPop(CommandContext& c, bool max) {
  int64_t deadline_ms;
  if (!ParseBlockTimeout(c, c.args.back(), &deadline_ms)) return;
  for (size_t i = 1; i + 1 < c.args.size(); i++) {
    std::vector<Element> els;
    if (!PopElements(c, c.args[i], max, 1, &els)) return;
    if (els.empty()) continue;
    c.out.ArrayHeader(3);
    c.out.Bulk(c.args[i]);
    c.out.Bulk(els[0].member);
    return ReplyScore(c, els[0].score);
  }
  std::vector<std::string_view> keys(c.args.begin() + 1, c.args.end() - 1);
  Block(c, keys, deadline_ms, BlockedReply::kNullArray);
}

void BZPopMin(CommandContext& c) { BlockingPop(c, false); }
void BZPopMax(CommandContext& c) { BlockingPop(c, true); }

// ZMPOP numkeys key... MIN|MAX [COUNT n] (first = 1), BZMPOP timeout numkeys ... (2).
void MultiPop(CommandContext& c, size_t first, bool blocking) {
  int64_t deadline_ms = 0;
  if (blocking && !ParseBlockTimeout(c, c.args[1], &deadline_ms)) return;
  std::vector<std::string_view> keys;
  bool min;
  int64_t count;
  if (!ParseMultiPop(c, first, "min", "max", &keys, &min, &count)) return;
  for (std::string_view key : keys) {
    std::vector<Element> els;
    if (!PopElements(c, key, !min, count, &els)) return;
    if (els.empty()) continue;
    c.out.ArrayHeader(2);
    c.out.Bulk(key);
    ReplyPairs(c, els);
    return;
  }
  if (!blocking) return c.out.NullArray();
  Block(c, keys, deadline_ms, BlockedReply::kNullArray);
}

void ZMPop(CommandContext& c) { MultiPop(c, 1, false); }
void BZMPop(CommandContext& c) { MultiPop(c, 2, true); }

// ZRANDMEMBER key [count [WITHSCORES]]
void ZRandMember(CommandContext& c) {
  if (c.args.size() > 4 || (c.args.size() == 4 && Lower(c.args[3]) != "withscores")) {
    return c.out.Error(kErrSyntax);
  }
  const bool has_count = c.args.size() >= 3;
  int64_t count = 1;
  if (has_count && !ParseRandomCount(c, c.args[2], &count)) return;
  // As HRANDFIELD: a huge positive count without WITHSCORES means "all of them".
  if (has_count &&
      (count < -INT64_MAX / 2 || (c.args.size() == 4 && count > INT64_MAX / 2))) {
    return c.out.Error("ERR value is out of range");
  }
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  std::vector<std::pair<std::string, std::string>> picked;
  const uint64_t n = static_cast<uint64_t>(count < 0 ? -count : count);
  if (!SampleMembers(c, z, kByMember, has_count ? n : 1, !has_count || count >= 0, &picked)) {
    return;
  }
  if (!has_count) {
    if (picked.empty()) return c.out.Null();
    return c.out.Bulk(picked[0].first);
  }
  std::vector<Element> els;
  for (const auto& [m, v] : picked) {
    els.push_back({m, v.size() == 8 ? store::DecodeScore(v) : 0});
  }
  ReplyElements(c, els, c.args.size() == 4);
}

// ZUNION / ZINTER / ZDIFF numkeys key [key ...] ..., their *STORE forms (destination
// first) and ZINTERCARD numkeys key [key ...] [LIMIT n]. Options: WEIGHTS w ... and
// AGGREGATE SUM|MIN|MAX (union and intersection), WITHSCORES (the forms that reply with
// members). Sets count as sorted sets with every score 1. As in Redis.
enum class SetOp { kUnion, kInter, kDiff };

void Combine(CommandContext& c, SetOp op, bool store, bool card_only) {
  const size_t nk = store ? 2 : 1;  // where numkeys is
  int64_t numkeys;
  if (!ParseIntArg(c, c.args[nk], &numkeys)) return;
  if (numkeys <= 0) {
    return c.out.Error(absl::StrCat("ERR at least 1 input key is needed for '", Lower(c.args[0]),
                                    "' command"));
  }
  if (numkeys > static_cast<int64_t>(c.args.size() - nk - 1)) return c.out.Error(kErrSyntax);
  // Redis reads the keys before the options: a key of another type is the error first.
  struct Input {
    std::map<std::string, double> members;
    double weight = 1.0;
  };
  std::vector<Input> inputs(numkeys);
  const int db = c.client.db.load(std::memory_order_relaxed);
  for (int64_t k = 0; k < numkeys; k++) {
    Collection in;
    if (!LoadAnyType(c, db, c.args[nk + 1 + k], &in)) return;
    if (in.exists && in.type != ValueType::kZSet && in.type != ValueType::kSet) {
      return c.out.Error(kErrWrongType);
    }
    auto& these = inputs[k].members;
    if (!in.exists) continue;
    bool ok;
    if (in.type == ValueType::kSet) {
      ok = ScanMembers(c, in, "", "", false, [&](std::string_view m, std::string_view) {
        these.emplace(std::string(m), 1.0);
        return true;
      });
    } else {
      ok = ForEachByScore(c, in, false, [&](std::string_view m, double s) {
        these.emplace(std::string(m), s);
        return true;
      });
    }
    if (!ok) return;
  }
  enum { kSum, kMin, kMax } aggregate = kSum;
  bool withscores = false;
  int64_t limit = 0;
  for (size_t i = nk + 1 + numkeys; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    const size_t remaining = c.args.size() - i;
    if (op != SetOp::kDiff && !card_only && opt == "weights" &&
        remaining >= static_cast<size_t>(numkeys) + 1) {
      for (int64_t k = 0; k < numkeys; k++) {
        if (!ParseDouble(c.args[i + 1 + k], &inputs[k].weight) || std::isnan(inputs[k].weight)) {
          return c.out.Error("ERR weight value is not a float");
        }
      }
      i += numkeys;
    } else if (op != SetOp::kDiff && !card_only && opt == "aggregate" && remaining >= 2) {
      const std::string a = Lower(c.args[++i]);
      if (a == "sum") {
        aggregate = kSum;
      } else if (a == "min") {
        aggregate = kMin;
      } else if (a == "max") {
        aggregate = kMax;
      } else {
        return c.out.Error(kErrSyntax);
      }
    } else if (!store && !card_only && opt == "withscores") {
      withscores = true;
    } else if (card_only && opt == "limit" && remaining >= 2) {
      if (!ParseInt64(c.args[++i], &limit) || limit < 0) return c.out.Error("ERR LIMIT can't be negative");
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  // A NaN score (a weight of 0 times an infinite score) is kept as it is: SUM turns it
  // into 0, MIN and MAX keep the other side (Redis's zunionInterAggregate).
  auto combine = [&](double a, double b) {
    switch (aggregate) {
      case kSum: {
        const double s = a + b;
        return std::isnan(s) ? 0.0 : s;  // inf + -inf is 0, as in Redis
      }
      case kMin:
        return std::min(a, b);
      case kMax:
        return std::max(a, b);
    }
    return a;
  };
  // Union and intersection take the inputs smallest first, as Redis does (a sum of
  // floating-point scores depends on the order); a difference keeps the first as base.
  if (op != SetOp::kDiff) {
    std::stable_sort(inputs.begin(), inputs.end(), [](const Input& a, const Input& b) {
      return a.members.size() < b.members.size();
    });
  }
  auto weighted = [](double score, double weight) { return score * weight; };
  std::map<std::string, double> result;
  for (size_t k = 0; k < inputs.size(); k++) {
    const Input& in = inputs[k];
    if (k == 0) {
      for (const auto& [m, sc] : in.members) {
        double w = weighted(sc, in.weight);
        if (std::isnan(w)) w = 0;  // 0 * inf
        result.emplace(m, w);
      }
    } else if (op == SetOp::kInter) {
      for (auto it = result.begin(); it != result.end();) {
        auto other = in.members.find(it->first);
        if (other == in.members.end()) {
          it = result.erase(it);
        } else {
          it->second = combine(it->second, weighted(other->second, in.weight));
          ++it;
        }
      }
    } else if (op == SetOp::kDiff) {
      for (const auto& [m, sc] : in.members) result.erase(m);
    } else {
      for (const auto& [m, sc] : in.members) {
        double w = weighted(sc, in.weight);
        if (std::isnan(w)) w = 0;  // 0 * inf
        auto [it, inserted] = result.emplace(m, w);
        if (!inserted) it->second = combine(it->second, w);
      }
    }
  }
  if (card_only) {
    const uint64_t n = result.size();
    return c.out.Integer(static_cast<int64_t>(limit > 0 ? std::min<uint64_t>(n, limit) : n));
  }
  if (!store) {
    std::vector<Element> els;
    for (const auto& [m, sc] : result) els.push_back({m, sc});
    std::sort(els.begin(), els.end(), [](const Element& a, const Element& b) {
      return a.score != b.score ? a.score < b.score : a.member < b.member;
    });
    return ReplyElements(c, els, withscores);
  }
  StoreZSet(c, c.args[1], result);
}

void ZUnionStore(CommandContext& c) { Combine(c, SetOp::kUnion, true, false); }
void ZInterStore(CommandContext& c) { Combine(c, SetOp::kInter, true, false); }
void ZDiffStore(CommandContext& c) { Combine(c, SetOp::kDiff, true, false); }
void ZUnion(CommandContext& c) { Combine(c, SetOp::kUnion, false, false); }
void ZInter(CommandContext& c) { Combine(c, SetOp::kInter, false, false); }
void ZDiff(CommandContext& c) { Combine(c, SetOp::kDiff, false, false); }
void ZInterCard(CommandContext& c) { Combine(c, SetOp::kInter, false, true); }

void ZScan(CommandContext& c) {
  Collection z;
  if (!LoadZSet(c, c.args[1], &z)) return;
  ReplyMemberScan(c, z, kByMember,
                  [](std::string_view m, std::string_view v, std::vector<std::string>* items) {
                    items->emplace_back(m);
                    items->push_back(protocol::FormatDouble(v.size() == 8 ? store::DecodeScore(v) : 0));
                  });
}

constexpr uint32_t kRead = kReadOnly | kLockKeys;

const CommandSpec kCommands[] = {
    {"zadd", -4, kWrite | kDenyOom | kFast, 1, 1, 1, ZAdd, "sorted_set",
     "Adds one or more members to a sorted set, or updates their scores."},
    {"zincrby", 4, kWrite | kDenyOom | kFast | kCounter, 1, 1, 1, ZIncrBy, "sorted_set",
     "Increments the score of a member in a sorted set."},
    {"zrem", -3, kWrite | kFast, 1, 1, 1, ZRem, "sorted_set",
     "Removes one or more members from a sorted set."},
    {"zscore", 3, kRead | kFast, 1, 1, 1, ZScore, "sorted_set",
     "Returns the score of a member in a sorted set."},
    {"zmscore", -3, kRead | kFast, 1, 1, 1, ZMScore, "sorted_set",
     "Returns the score of one or more members in a sorted set."},
    {"zcard", 2, kRead | kFast, 1, 1, 1, ZCard, "sorted_set",
     "Returns the number of members in a sorted set."},
    {"zcount", 4, kRead, 1, 1, 1, ZCount, "sorted_set",
     "Returns the count of members in a sorted set that have scores within a range."},
    {"zlexcount", 4, kRead, 1, 1, 1, ZLexCount, "sorted_set",
     "Returns the number of members in a sorted set within a lexicographical range."},
    {"zrangestore", -5, kWrite | kDenyOom, 1, 2, 1, ZRangeStore, "sorted_set",
     "Stores a range of members from sorted set in a key."},
    {"zrange", -4, kRead, 1, 1, 1, ZRange, "sorted_set",
     "Returns members in a sorted set within a range of indexes, scores or lexicographical "
     "order."},
    {"zrevrange", -4, kRead, 1, 1, 1, ZRevRange, "sorted_set",
     "Returns members in a sorted set within a range of indexes, highest score first."},
    {"zrangebyscore", -4, kRead, 1, 1, 1, ZRangeByScore, "sorted_set",
     "Returns members in a sorted set within a range of scores."},
    {"zrevrangebyscore", -4, kRead, 1, 1, 1, ZRevRangeByScore, "sorted_set",
     "Returns members in a sorted set within a range of scores in reverse order."},
    {"zrangebylex", -4, kRead, 1, 1, 1, ZRangeByLex, "sorted_set",
     "Returns members in a sorted set within a lexicographical range."},
    {"zrevrangebylex", -4, kRead, 1, 1, 1, ZRevRangeByLex, "sorted_set",
     "Returns members in a sorted set within a lexicographical range in reverse order."},
    {"zrank", 3, kRead | kFast, 1, 1, 1, ZRank, "sorted_set",
     "Returns the index of a member in a sorted set ordered by ascending scores."},
    {"zrevrank", 3, kRead | kFast, 1, 1, 1, ZRevRank, "sorted_set",
     "Returns the index of a member in a sorted set ordered by descending scores."},
    {"zremrangebyscore", 4, kWrite, 1, 1, 1, ZRemRangeByScore, "sorted_set",
     "Removes members in a sorted set within a range of scores."},
    {"zremrangebyrank", 4, kWrite, 1, 1, 1, ZRemRangeByRank, "sorted_set",
     "Removes members in a sorted set within a range of indexes."},
    {"zremrangebylex", 4, kWrite, 1, 1, 1, ZRemRangeByLex, "sorted_set",
     "Removes members in a sorted set within a lexicographical range."},
    {"bzpopmin", -3, kWrite | kFast | kBlocking, 1, -2, 1, BZPopMin, "sorted_set",
     "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise."},
    {"bzpopmax", -3, kWrite | kFast | kBlocking, 1, -2, 1, BZPopMax, "sorted_set",
     "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise."},
    {"zmpop", -4, kWrite, 0, 0, 0, ZMPop, "sorted_set",
     "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them.", 1},
    {"bzmpop", -5, kWrite | kBlocking, 0, 0, 0, BZMPop, "sorted_set",
     "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise.", 2},
    {"zpopmin", -2, kWrite | kFast, 1, 1, 1, ZPopMin, "sorted_set",
     "Returns the lowest-scoring members from a sorted set after removing them."},
    {"zpopmax", -2, kWrite | kFast, 1, 1, 1, ZPopMax, "sorted_set",
     "Returns the highest-scoring members from a sorted set after removing them."},
    {"zrandmember", -2, kRead, 1, 1, 1, ZRandMember, "sorted_set",
     "Returns one or more random members from a sorted set."},
    {"zunionstore", -4, kWrite | kDenyOom, 1, 1, 1, ZUnionStore, "sorted_set",
     "Stores the union of multiple sorted sets in a key.", 2},
    {"zinterstore", -4, kWrite | kDenyOom, 1, 1, 1, ZInterStore, "sorted_set",
     "Stores the intersect of multiple sorted sets in a key.", 2},
    {"zdiffstore", -4, kWrite | kDenyOom, 1, 1, 1, ZDiffStore, "sorted_set",
     "Stores the difference of multiple sorted sets in a key.", 2},
    {"zunion", -3, kRead, 0, 0, 0, ZUnion, "sorted_set", "Returns the union of multiple sorted sets.", 1},
    {"zinter", -3, kRead, 0, 0, 0, ZInter, "sorted_set", "Returns the intersect of multiple sorted sets.", 1},
    {"zdiff", -3, kRead, 0, 0, 0, ZDiff, "sorted_set", "Returns the difference between multiple sorted sets.", 1},
    {"zintercard", -3, kRead, 0, 0, 0, ZInterCard, "sorted_set",
     "Returns the number of members of the intersect of multiple sorted sets.", 1},
    {"zscan", -3, kRead, 1, 1, 1, ZScan, "sorted_set",
     "Iterates over members and scores of a sorted set."},
};

}  // namespace

void RegisterZSetCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kCommands) table->push_back(&spec);
}

}  // namespace cairn::server
