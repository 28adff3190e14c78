#include "cluster/counter.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>

#include "base/numbers.h"
#include "cluster/vector_clock.h"

namespace cairn::cluster {
namespace {

// Redis's string2ll: an optional '-', digits, no leading zero (but "0"), no "-0".
bool ParseStrictInt(std::string_view s, int64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  const std::string_view digits = s[0] == '-' ? s.substr(1) : s;
  if (digits.empty() || (digits[0] == '0' && (digits.size() > 1 || s[0] == '-'))) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

long double FloatOf(const std::string& text) {
  long double v = 0;
  if (!text.empty()) (void)ParseLongDouble(text, &v);
  return v;
}

std::string Int128Text(__int128 v) {
  if (v == 0) return "0";
  const bool negative = v < 0;
  std::string out;
  while (v != 0) {
    const int digit = static_cast<int>(v % 10);
    out.push_back(static_cast<char>('0' + (negative ? -digit : digit)));
    v /= 10;
  }
  if (negative) out.push_back('-');
  std::reverse(out.begin(), out.end());
  return out;
}

bool FitsInt64(__int128 v) {
  return v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max();
}

// Turns an integer counter into a float one (an INCRBYFLOAT, or a merge with one).
void MakeFloat(pb::Counter* c) {
  if (c->is_float()) return;
  c->set_is_float(true);
  c->set_float_offset(std::to_string(c->offset()));
  c->set_offset(0);
  for (pb::CounterEntry& e : *c->mutable_entries()) {
    e.set_float_sum(std::to_string(e.sum()));
    e.set_sum(0);
  }
}

pb::CounterEntry* EntryOf(pb::Counter* c, std::string_view node) {
  auto* entries = c->mutable_entries();
  auto it = std::lower_bound(entries->begin(), entries->end(), node,
                             [](const pb::CounterEntry& e, std::string_view n) { return e.node() < n; });
  if (it != entries->end() && it->node() == node) return &*it;
  const int at = static_cast<int>(it - entries->begin());
  pb::CounterEntry* e = entries->Add();
  e->set_node(std::string(node));
  for (int i = entries->size() - 1; i > at; i--) entries->SwapElements(i, i - 1);
  return &entries->at(at);
}

__int128 IntSum(const pb::Counter& c) {
  __int128 sum = 0;
  for (const pb::CounterEntry& e : c.entries()) sum += e.sum();
  return sum;
}

long double FloatSum(const pb::Counter& c) {
  long double sum = 0;
  for (const pb::CounterEntry& e : c.entries()) sum += FloatOf(e.float_sum());
  return sum;
}

}  // namespace

std::string CounterValue(const pb::Counter& c) {
  if (c.is_float()) return FormatLongDouble(FloatOf(c.float_offset()) + FloatSum(c));
  return Int128Text(__int128{c.offset()} + IntSum(c));
}

std::optional<pb::Counter> CounterFromValue(std::string_view value, uint64_t version) {
  pb::Counter c;
  c.set_offset_version(version);
  int64_t i;
  long double f;
  if (ParseStrictInt(value, &i)) {
    c.set_offset(i);
  } else if (ParseLongDouble(value, &f)) {
    c.set_is_float(true);
    c.set_float_offset(std::string(value));
  } else {
    return std::nullopt;
  }
  return c;
}

absl::Status AddIncrement(pb::Counter* c, std::string_view node, std::string_view before,
                          std::string_view after, uint64_t min_count) {
  // Entries from a peer may come unsorted or repeated: one per node, in order.
  if (!std::is_sorted(c->entries().begin(), c->entries().end(),
                      [](const auto& x, const auto& y) { return x.node() < y.node(); }) ||
      std::adjacent_find(c->entries().begin(), c->entries().end(), [](const auto& x, const auto& y) {
        return x.node() == y.node();
      }) != c->entries().end()) {
    *c = MergeCounters({c});
  }
  int64_t b, a;
  if (!c->is_float() && ParseStrictInt(before, &b) && ParseStrictInt(after, &a)) {
    pb::CounterEntry* e = EntryOf(c, node);
    const __int128 sum = __int128{e->sum()} + (__int128{a} - b);
    if (!FitsInt64(sum)) return absl::InvalidArgumentError("increment or decrement would overflow");
    e->set_sum(static_cast<int64_t>(sum));
    e->set_count(std::max(e->count() + 1, min_count));
    return absl::OkStatus();
  }
  long double fb, fa;
  if (!ParseLongDouble(before, &fb) || !ParseLongDouble(after, &fa)) {
    return absl::InvalidArgumentError("value is not a number");
  }
  MakeFloat(c);
  pb::CounterEntry* e = EntryOf(c, node);
  e->set_float_sum(FormatLongDouble(FloatOf(e->float_sum()) + (fa - fb)));
  e->set_count(std::max(e->count() + 1, min_count));
  return absl::OkStatus();
}

pb::Counter MergeCounters(const std::vector<const pb::Counter*>& counters) {
  size_t reset = 0;
  bool any_float = false;
  for (size_t i = 0; i < counters.size(); i++) {
    if (counters[i]->offset_version() > counters[reset]->offset_version()) reset = i;
    any_float |= counters[i]->is_float();
  }
  // Entries are compared within one representation: converted copies.
  std::vector<pb::Counter> copies;
  copies.reserve(counters.size());
  for (const pb::Counter* c : counters) {
    copies.push_back(*c);
    if (any_float) MakeFloat(&copies.back());
  }
  std::map<std::string, const pb::CounterEntry*> newest;
  for (const pb::Counter& c : copies) {
    for (const pb::CounterEntry& e : c.entries()) {
      auto [it, inserted] = newest.emplace(e.node(), &e);
      if (!inserted && e.count() > it->second->count()) it->second = &e;
    }
  }
  pb::Counter out = copies[reset];
  out.clear_entries();
  for (const auto& [node, e] : newest) *out.add_entries() = *e;
  return out;
}

bool CounterLive(const pb::Counter& merged, const pb::Counter& reset) {
  if (!reset.deleted()) return true;
  std::map<std::string_view, uint64_t> seen;
  for (const pb::CounterEntry& e : reset.entries()) seen[e.node()] = e.count();
  for (const pb::CounterEntry& e : merged.entries()) {
    auto it = seen.find(e.node());
    if (e.count() > (it == seen.end() ? 0 : it->second)) return true;
  }
  return false;
}

std::optional<pb::Counter> ResetCounter(const pb::Counter& seen,
                                        std::optional<std::string_view> value,
                                        uint64_t version) {
  pb::Counter out = seen;
  out.set_offset_version(version);
  out.set_deleted(!value.has_value());
  int64_t i;
  long double f;
  if (!value.has_value()) {
    if (out.is_float()) {
      out.set_float_offset(FormatLongDouble(-FloatSum(out)));
    } else {
      const __int128 offset = -IntSum(out);
      if (!FitsInt64(offset)) return std::nullopt;
      out.set_offset(static_cast<int64_t>(offset));
    }
    return out;
  }
  if (!out.is_float() && ParseStrictInt(*value, &i)) {
    const __int128 offset = __int128{i} - IntSum(out);
    if (!FitsInt64(offset)) return std::nullopt;
    out.set_offset(static_cast<int64_t>(offset));
    return out;
  }
  if (!ParseLongDouble(*value, &f)) return std::nullopt;
  MakeFloat(&out);
  out.set_float_offset(FormatLongDouble(f - FloatSum(out)));
  return out;
}

void AbsorbCounters(const std::vector<pb::Record>& local, const Clock& context, uint64_t now,
                    pb::Record* record) {
  if (record->has_counter() || (!record->tombstone() && record->type() != 0 &&
                                record->type() != static_cast<uint32_t>('s'))) {
    return;
  }
  std::vector<const pb::Counter*> seen;
  for (const pb::Record& v : local) {
    if (v.has_counter() && CounterOf(context, v.dot().node()) >= v.dot().counter()) {
      seen.push_back(&v.counter());
    }
  }
  if (seen.empty()) return;
  std::optional<pb::Counter> reset =
      ResetCounter(MergeCounters(seen),
                   record->tombstone() ? std::nullopt : std::optional<std::string_view>(record->value()),
                   now);
  if (reset) *record->mutable_counter() = std::move(*reset);
}

}  // namespace cairn::cluster
