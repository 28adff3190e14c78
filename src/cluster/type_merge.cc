#include "cluster/type_merge.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "base/numbers.h"
#include "base/status.h"
#include "cluster/counter.h"
#include "cluster/vector_clock.h"
#include "cluster/versions.h"
#include "store/collection.h"
#include "store/record.h"

namespace cairn::cluster {
namespace {

using store::ValueType;

ValueType TypeOf(const pb::Record& r) {
  return static_cast<ValueType>(r.type() == 0 ? 's' : r.type());
}

bool Covers(const Clock& clock, const pb::ClockEntry& dot) {
  return !dot.node().empty() && CounterOf(clock, dot.node()) >= dot.counter();
}

bool SameDot(const pb::ClockEntry& a, const pb::ClockEntry& b) {
  return a.node() == b.node() && a.counter() == b.counter();
}

bool SameCounter(const pb::Counter& a, const pb::Counter& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

// Of two writes of one member, the later: hybrid timestamp, then node and counter, so
// every replica picks the same.
bool Later(const pb::ClockEntry& a, const pb::ClockEntry& b) {
  return std::forward_as_tuple(a.timestamp(), a.node(), a.counter()) >
         std::forward_as_tuple(b.timestamp(), b.node(), b.counter());
}

absl::StatusOr<std::optional<pb::Record>> MergeCountersOf(const std::vector<pb::Record>& versions,
                                                          const pb::Record& winner,
                                                          const pb::Record& live) {
  // A newer plain value that is not a number (or a chunked string's header) replaces the
  // counter: last writer wins.
  if (!winner.tombstone() && !winner.has_counter() &&
      (winner.chunked() || !CounterFromValue(winner.value(), winner.version()))) {
    return std::optional<pb::Record>(winner);
  }
  std::vector<pb::Counter> views;
  for (const pb::Record& v : versions) {
    if (v.has_counter()) {
      views.push_back(v.counter());
    } else if (v.tombstone()) {
      pb::Counter deleted;  // a DEL that saw no counter: resets to nothing
      deleted.set_deleted(true);
      deleted.set_offset_version(v.version());
      views.push_back(std::move(deleted));
    } else if (TypeOf(v) == ValueType::kString && !v.chunked()) {
      if (auto c = CounterFromValue(v.value(), v.version())) views.push_back(std::move(*c));
    }
  }
  std::vector<const pb::Counter*> ptrs;
  size_t reset = 0;
  for (size_t i = 0; i < views.size(); i++) {
    ptrs.push_back(&views[i]);
    if (views[i].offset_version() > views[reset].offset_version()) reset = i;
  }
  pb::Counter merged = MergeCounters(ptrs);
  if (!CounterLive(merged, views[reset])) return std::optional<pb::Record>();
  merged.set_deleted(false);
  pb::Record out = live;
  out.clear_chunked();  // the counter's value, whole
  out.set_value(CounterValue(merged));
  *out.mutable_counter() = std::move(merged);
  return std::optional<pb::Record>(std::move(out));
}

struct Element {
  std::string value;
  pb::ClockEntry dot;
  std::optional<pb::Counter> counter;  // HINCRBY / ZINCRBY contributions
};

// A member's value as a number's text: a hash field's value, a sorted set's score.
std::string NumberText(ValueType type, const std::string& value) {
  if (type != ValueType::kZSet) return value;
  return value.size() == 8 ? ScoreText(store::DecodeScore(value)) : std::string();
}

// The value a merged counter gives a member: the text, or a sorted set's 8-byte score.
std::optional<std::string> NumberValue(ValueType type, const pb::Counter& c) {
  const std::string text = CounterValue(c);
  if (type != ValueType::kZSet) return text;
  long double v;
  if (!ParseLongDouble(text, &v)) return std::nullopt;
  return store::EncodeScore(static_cast<double>(v));
}

// Of the concurrent writes of one member that all survived, the value: the later's; but
// when increments are among them (HINCRBY, ZINCRBY), their counters merge (counter.h),
// plain numbers taking part as resets, unless the later write is not a number. A value
// merged from several counters is no write's: it has no dot (the next write of the key
// gives it that write's), so two merges never store different values under one dot.
Element ResolveMember(ValueType type, std::vector<Element> candidates, bool copies_differ) {
  size_t latest = 0;
  bool any_counter = false;
  for (size_t i = 0; i < candidates.size(); i++) {
    if (Later(candidates[i].dot, candidates[latest].dot)) latest = i;
    any_counter |= candidates[i].counter.has_value();
  }
  Element out = candidates[latest];
  if (!any_counter || (candidates.size() == 1 && !copies_differ)) return out;
  std::vector<pb::Counter> views;
  for (const Element& e : candidates) {
    if (e.counter) {
      views.push_back(*e.counter);
    } else if (auto c = CounterFromValue(NumberText(type, e.value), e.dot.timestamp())) {
      views.push_back(std::move(*c));
    } else if (&e == &candidates[latest]) {
      return out;  // a later value that is not a number: last writer wins
    }
  }
  std::vector<const pb::Counter*> ptrs;
  for (const pb::Counter& c : views) ptrs.push_back(&c);
  pb::Counter merged = MergeCounters(ptrs);
  std::optional<std::string> value = NumberValue(type, merged);
  if (!value) return out;
  out.value = std::move(*value);
  out.counter = std::move(merged);
  out.dot = pb::ClockEntry();
  return out;
}
using Elements = std::map<std::string, Element>;

// A collection version's members by name (a sorted set's by-member entries only), each
// with the dot of the write that set it.
absl::Status ElementsOf(const pb::Record& v, ValueType type, Elements* out) {
  pb::CollectionState state;
  if (!state.ParseFromString(v.value()) || state.members_size() != state.values_size()) {
    return CorruptionError("replicated collection does not parse");
  }
  for (int i = 0; i < state.members_size(); i++) {
    const std::string& m = state.members(i);
    if (type == ValueType::kZSet && (m.empty() || m[0] != store::kZSetByMember)) continue;
    const bool own = i < state.dots_size() && !state.dots(i).node().empty();
    (*out)[m] = Element{state.values(i), own ? state.dots(i) : v.dot(), std::nullopt};
  }
  for (const pb::MemberCounter& mc : state.counters()) {
    auto it = out->find(mc.member());
    if (it == out->end()) continue;
    it->second.counter = mc.counter();
    if (mc.counter().offset_version() == kOffsetOfThisWrite) {
      it->second.counter->set_offset_version(it->second.dot.timestamp());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<pb::Record>> MergeMembers(const std::vector<pb::Record>& versions,
                                                       const pb::Record& live, ValueType type) {
  std::vector<Elements> elements(versions.size());
  std::vector<Clock> clocks;
  for (size_t i = 0; i < versions.size(); i++) {
    const pb::Record& v = versions[i];
    clocks.push_back(FullClock(v));
    if (!v.tombstone() && TypeOf(v) == type) CAIRN_RETURN_IF_ERROR(ElementsOf(v, type, &elements[i]));
  }
  std::map<std::string, std::vector<Element>> survivors;
  std::set<std::string> copies_differ;  // one write seen with different counters
  for (size_t i = 0; i < versions.size(); i++) {
    for (const auto& [member, element] : elements[i]) {
      const Element& e = element;  // (a lambda below cannot capture a structured binding)
      bool removed = false;
      for (size_t j = 0; j < versions.size() && !removed; j++) {
        if (j == i) continue;
        auto it = elements[j].find(member);
        if (it != elements[j].end() && SameDot(it->second.dot, e.dot)) continue;
        removed = Covers(clocks[j], e.dot);  // j saw this write and no longer has it
      }
      if (removed) continue;
      std::vector<Element>& list = survivors[member];
      // One write seen by several siblings is one candidate; its counters merge (a copy
      // may have been merged with others' increments before).
      auto same = std::find_if(list.begin(), list.end(), [&](const Element& x) { return SameDot(x.dot, e.dot); });
      if (same == list.end()) {
        list.push_back(e);
      } else if (e.counter && (!same->counter || !SameCounter(*same->counter, *e.counter))) {
        same->counter = same->counter ? MergeCounters({&*same->counter, &*e.counter}) : *e.counter;
        copies_differ.insert(member);
      }
    }
  }
  Elements merged;
  bool undotted = false;
  for (auto& [member, list] : survivors) {
    Element e = ResolveMember(type, std::move(list), copies_differ.contains(member));
    undotted |= e.dot.node().empty();
    merged.emplace(member, std::move(e));
  }
  if (merged.empty()) return std::optional<pb::Record>();
  pb::CollectionState live_state;
  if (!live_state.ParseFromString(live.value())) return CorruptionError("replicated collection does not parse");
  store::CollectionMeta meta;
  CAIRN_RETURN_IF_ERROR(store::DecodeCollectionMeta(type, live_state.meta(), &meta));
  meta.size = merged.size();
  // Every member key in order; a sorted set's by-score keys (nullptr) come from its
  // by-member ones.
  std::map<std::string, const Element*> all;
  for (const auto& [member, e] : merged) all.emplace(member, &e);
  if (type == ValueType::kZSet) {
    for (const auto& [member, e] : merged) {
      if (e.value.size() != 8) return CorruptionError("replicated sorted set has a bad score");
      all.emplace(store::ZSetScoreKey(store::DecodeScore(e.value), std::string_view(member).substr(1)), nullptr);
    }
  }
  pb::CollectionState state;
  state.set_meta(store::EncodeCollectionMeta(type, meta));
  for (const auto& [member, e] : all) {
    state.add_members(member);
    state.add_values(e != nullptr ? e->value : std::string());
    *state.add_dots() = e != nullptr ? e->dot : pb::ClockEntry();
    if (e != nullptr && e->counter) {
      pb::MemberCounter* mc = state.add_counters();
      mc->set_member(member);
      *mc->mutable_counter() = *e->counter;
    }
  }
  pb::Record out = live;
  out.set_value(state.SerializeAsString());
  if (undotted) out.clear_dot();  // members without a dot must not take this one
  return std::optional<pb::Record>(std::move(out));
}

// The newest version that is not a tombstone (versions in canonical order); null if none.
const pb::Record* NewestLive(const std::vector<pb::Record>& versions) {
  for (const pb::Record& v : versions) {
    if (!v.tombstone()) return &v;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::optional<pb::Record>> MergeForRead(const std::vector<pb::Record>& versions) {
  if (versions.empty()) return std::optional<pb::Record>();
  const pb::Record& winner = versions.front();
  const pb::Record* live = NewestLive(versions);
  if (live == nullptr) return std::optional<pb::Record>();
  if (versions.size() == 1) return std::optional<pb::Record>(*live);
  const ValueType type = TypeOf(*live);
  switch (type) {
    case ValueType::kString:
      for (const pb::Record& v : versions) {
        if (v.has_counter()) return MergeCountersOf(versions, winner, *live);
      }
      break;
    case ValueType::kHash:
    case ValueType::kSet:
    case ValueType::kZSet:
    case ValueType::kStream: {
      // A header of a collection kept as registers (registers.h): its members merge in
      // their own registers, so the newest live header stands (a concurrent DEL removed
      // the members it saw, not the collection another side kept writing).
      pb::CollectionState state;
      if (state.ParseFromString(live->value()) && state.registers()) {
        return std::optional<pb::Record>(*live);
      }
      if (type == ValueType::kStream) break;  // written whole (an older node): the newest
      return MergeMembers(versions, *live, type);
    }
    case ValueType::kList:  // the newest version, whole
      break;
  }
  if (winner.tombstone()) return std::optional<pb::Record>();
  return std::optional<pb::Record>(winner);
}

absl::StatusOr<std::optional<pb::Record>> MergeRegister(const std::vector<pb::Record>& versions) {
  const pb::Record* live = NewestLive(versions);
  if (live == nullptr) return std::optional<pb::Record>();
  if (versions.size() == 1) return std::optional<pb::Record>(*live);
  if (std::none_of(versions.begin(), versions.end(), [](const pb::Record& v) { return v.has_counter(); })) {
    return std::optional<pb::Record>(*live);
  }
  // Counters: a concurrent removal contributes the entries it saw but never the reset,
  // so the write it did not see keeps the member (add wins).
  std::vector<pb::Record> views;
  for (const pb::Record& v : versions) {
    if (!v.tombstone()) {
      views.push_back(v);
    } else if (v.has_counter()) {
      views.push_back(v);
      views.back().mutable_counter()->set_offset_version(0);
      views.back().mutable_counter()->set_deleted(false);
    }
  }
  return MergeCountersOf(views, *live, *live);
}

}  // namespace cairn::cluster
