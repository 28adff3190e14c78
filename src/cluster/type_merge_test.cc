// Data types under concurrency: counters (counter.h) and collections merged member by
// member (type_merge.h), driven as replicas drive them: each side of a partition writes
// versions that descend what it holds, then the sides' versions meet (MergeVersion).
#include "cluster/type_merge.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "base/numbers.h"
#include "cluster/counter.h"
#include "cluster/versions.h"
#include "store/collection.h"
#include "store/record.h"

namespace cairn::cluster {
namespace {

using store::ValueType;

// One replica's versions of one key, written as a coordinating replica writes them.
struct Replica {
  std::vector<pb::Record> versions;
  uint64_t* clock;  // shared hybrid time, so later writes have later timestamps

  void Write(const std::string& node, pb::Record record) {
    Clock context = MergedClock(versions);
    const uint64_t now = ++*clock;
    uint64_t counter = CounterOf(context, node) + 1;
    AbsorbCounters(versions, context, now, &record);
    record.set_version(now);
    *record.mutable_clock() = context;
    record.mutable_dot()->set_node(node);
    record.mutable_dot()->set_counter(counter);
    record.mutable_dot()->set_timestamp(now);
    MergeVersion(&versions, record);
    Canonicalize(&versions);
  }
  void Receive(const Replica& other) {
    for (const pb::Record& v : other.versions) MergeVersion(&versions, v);
    Canonicalize(&versions);
  }
  std::optional<pb::Record> Read() const {
    auto merged = MergeForRead(versions);
    EXPECT_TRUE(merged.ok()) << merged.status();
    return merged.ok() ? *merged : std::nullopt;
  }
};

pb::Record Str(const std::string& value) {
  pb::Record r;
  r.set_type(static_cast<uint32_t>(ValueType::kString));
  r.set_value(value);
  return r;
}

pb::Record Tombstone() {
  pb::Record r;
  r.set_tombstone(true);
  return r;
}

// INCRBY by as `node` runs it: on the merged value, adding to node's entry.
void IncrBy(Replica* r, const std::string& node, const std::string& by_text) {
  std::optional<pb::Record> cur = r->Read();
  const std::string before = cur ? cur->value() : "0";
  long double b = std::stold(before), by = std::stold(by_text);
  const bool integer = before.find_first_of(".e") == std::string::npos &&
                       by_text.find_first_of(".e") == std::string::npos;
  const std::string after = integer ? std::to_string(std::stoll(before) + std::stoll(by_text))
                                    : FormatLongDouble(b + by);
  pb::Counter c;
  if (cur && cur->has_counter()) {
    c = cur->counter();
  } else if (cur) {
    c = *CounterFromValue(cur->value(), cur->version());
  }
  ASSERT_TRUE(AddIncrement(&c, node, before, after).ok());
  pb::Record rec = Str(after);
  *rec.mutable_counter() = c;
  r->Write(node, rec);
}

std::string ValueOf(const Replica& r) {
  auto v = r.Read();
  return v ? v->value() : "(nil)";
}

TEST(CounterTest, IncrementsOnBothSidesOfAPartitionAllCount) {
  uint64_t clock = 100;
  Replica a{{}, &clock};
  IncrBy(&a, "n1", "5");
  Replica b = a;  // partition: b holds what a held
  for (int i = 0; i < 3; i++) IncrBy(&a, "n1", "1");
  for (int i = 0; i < 4; i++) IncrBy(&b, "n2", "2");
  IncrBy(&b, "n2", "-1");
  EXPECT_EQ(ValueOf(a), "8");
  EXPECT_EQ(ValueOf(b), "12");
  Replica healed = a;
  healed.Receive(b);
  EXPECT_EQ(healed.versions.size(), 2u);  // siblings
  EXPECT_EQ(ValueOf(healed), "15");       // 5 + 3 + 8 - 1
  Replica other = b;
  other.Receive(a);
  EXPECT_EQ(ValueOf(other), "15");  // either order
  other.Receive(a);
  EXPECT_EQ(ValueOf(other), "15");  // idempotent
  // An increment on the merged value supersedes both siblings and keeps every count.
  IncrBy(&healed, "n3", "10");
  EXPECT_EQ(healed.versions.size(), 1u);
  EXPECT_EQ(ValueOf(healed), "25");
}

TEST(CounterTest, SetResetsWithCausalityAndKeepsUnseenIncrements) {
  uint64_t clock = 0;
  Replica a{{}, &clock};
  IncrBy(&a, "n1", "7");
  Replica b = a;
  a.Write("n1", Str("100"));  // SET over the counter it saw
  EXPECT_EQ(ValueOf(a), "100");
  IncrBy(&b, "n2", "3");  // concurrent increment the SET did not see
  a.Receive(b);
  EXPECT_EQ(ValueOf(a), "103");
  IncrBy(&a, "n1", "1");
  EXPECT_EQ(ValueOf(a), "104");
}

TEST(CounterTest, ConcurrentSetsTheNewestWinsAndIncrementsStillAdd) {
  uint64_t clock = 0;
  Replica a{{}, &clock};
  IncrBy(&a, "n1", "1");
  Replica b = a, c = a;
  a.Write("n1", Str("50"));
  b.Write("n2", Str("70"));  // later
  IncrBy(&c, "n3", "5");
  a.Receive(b);
  a.Receive(c);
  EXPECT_EQ(ValueOf(a), "75");
}

TEST(CounterTest, DeleteRemovesOnlyWhatItSaw) {
  uint64_t clock = 0;
  Replica a{{}, &clock};
  IncrBy(&a, "n1", "4");
  Replica b = a;
  a.Write("n1", Tombstone());
  EXPECT_EQ(ValueOf(a), "(nil)");
  Replica quiet = b;  // nothing happened there: the delete stands after the merge
  quiet.Receive(a);
  EXPECT_EQ(ValueOf(quiet), "(nil)");
  IncrBy(&b, "n2", "2");
  a.Receive(b);
  EXPECT_EQ(ValueOf(a), "2");  // the increment the DEL did not see survives it
}

TEST(CounterTest, FloatAndIntegerIncrementsMerge) {
  uint64_t clock = 0;
  Replica a{{}, &clock};
  IncrBy(&a, "n1", "10");
  Replica b = a;
  IncrBy(&a, "n1", "0.5");
  IncrBy(&b, "n2", "2");
  a.Receive(b);
  EXPECT_EQ(ValueOf(a), "12.5");
}

TEST(CounterTest, APlainNumberWrittenConcurrentlyIsAReset) {
  uint64_t clock = 0;
  Replica a{{}, &clock};
  a.Write("n1", Str("1"));
  Replica b = a;
  IncrBy(&a, "n1", "1");  // a counter now: offset 1, n1 +1
  b.Write("n2", Str("40"));  // a plain SET elsewhere that never saw a counter
  a.Receive(b);
  EXPECT_EQ(ValueOf(a), "41");
}

TEST(CounterTest, ANewerValueThatIsNotANumberWins) {
  uint64_t clock = 0;
  Replica a{{}, &clock};
  IncrBy(&a, "n1", "1");
  Replica b = a;
  IncrBy(&a, "n1", "1");
  b.Write("n2", Str("hello"));
  a.Receive(b);
  EXPECT_EQ(ValueOf(a), "hello");
}

TEST(CounterTest, OverflowOfAnEntryIsRefused) {
  pb::Counter c;
  EXPECT_TRUE(AddIncrement(&c, "n", "0", "9223372036854775807").ok());
  EXPECT_EQ(CounterValue(c), "9223372036854775807");
  EXPECT_TRUE(AddIncrement(&c, "n", "0", "-9223372036854775808").ok());  // another history
  EXPECT_FALSE(AddIncrement(&c, "n", "0", "9223372036854775807").ok() &&
               AddIncrement(&c, "n", "0", "9223372036854775807").ok() &&
               AddIncrement(&c, "n", "0", "9223372036854775807").ok());
  EXPECT_FALSE(AddIncrement(&c, "n", "x", "1").ok());
  EXPECT_TRUE(CounterFromValue("007", 1)->is_float());  // INCRBYFLOAT reads it; INCR does not
  EXPECT_TRUE(CounterFromValue("-0", 1)->is_float());
  EXPECT_FALSE(CounterFromValue(" 1", 1).has_value());
  EXPECT_FALSE(CounterFromValue("1 ", 1).has_value());
  EXPECT_FALSE(CounterFromValue("abc", 1).has_value());
  EXPECT_TRUE(CounterFromValue("-12", 1).has_value());
}

// --- collections ----------------------------------------------------------------------

pb::Record Collection(ValueType type, const std::map<std::string, std::string>& members,
                      const std::map<std::string, pb::ClockEntry>& dots = {}) {
  store::CollectionMeta meta;
  meta.version = 7;
  meta.size = members.size();
  pb::CollectionState state;
  state.set_meta(store::EncodeCollectionMeta(type, meta));
  std::map<std::string, std::pair<std::string, pb::ClockEntry>> all;
  for (const auto& [m, v] : members) {
    auto dot = dots.find(m);
    const pb::ClockEntry d = dot != dots.end() ? dot->second : pb::ClockEntry();
    if (type == ValueType::kZSet) {
      double score = std::stod(v);
      all[store::ZSetMemberKey(m)] = {store::EncodeScore(score), d};
      all[store::ZSetScoreKey(score, m)] = {"", pb::ClockEntry()};
    } else {
      all[m] = {v, d};
    }
  }
  for (const auto& [m, vd] : all) {
    state.add_members(m);
    state.add_values(vd.first);
    *state.add_dots() = vd.second;
  }
  pb::Record r;
  r.set_type(static_cast<uint32_t>(type));
  r.set_value(state.SerializeAsString());
  return r;
}

// The members of a read as name -> value (a sorted set's scores as numbers).
std::map<std::string, std::string> Members(const Replica& r, ValueType type) {
  std::map<std::string, std::string> out;
  auto v = r.Read();
  if (!v) return out;
  pb::CollectionState state;
  EXPECT_TRUE(state.ParseFromString(v->value()));
  store::CollectionMeta meta;
  EXPECT_TRUE(store::DecodeCollectionMeta(type, state.meta(), &meta).ok());
  size_t by_score = 0;
  for (int i = 0; i < state.members_size(); i++) {
    const std::string& m = state.members(i);
    if (type != ValueType::kZSet) {
      out[m] = state.values(i);
    } else if (m[0] == store::kZSetByMember) {
      out[m.substr(1)] = std::to_string(static_cast<int>(store::DecodeScore(state.values(i))));
    } else {
      by_score++;
    }
  }
  EXPECT_EQ(meta.size, out.size());
  if (type == ValueType::kZSet) {
    EXPECT_EQ(by_score, out.size());
  }
  return out;
}

// A command on a collection as KeySnapshot exports it: members it wrote lose their dot
// (they take the new version's); the others keep theirs.
void Change(Replica* r, const std::string& node, ValueType type,
            const std::map<std::string, std::string>& set, const std::vector<std::string>& remove = {},
            const pb::Counter* counter_of_set = nullptr) {
  std::map<std::string, std::string> members = Members(*r, type);
  std::map<std::string, pb::ClockEntry> dots;
  std::map<std::string, pb::Counter> counters;  // hash fields' (kept unless written)
  if (auto v = r->Read()) {
    pb::CollectionState state;
    state.ParseFromString(v->value());
    for (const auto& mc : state.counters()) counters[mc.member()] = mc.counter();
    for (int i = 0; i < state.members_size(); i++) {
      std::string m = state.members(i);
      if (type == ValueType::kZSet) {
        if (m[0] != store::kZSetByMember) continue;
        m = m.substr(1);
      }
      // A member without a dot of its own was set by the version itself.
      dots[m] = state.dots(i).node().empty() ? v->dot() : state.dots(i);
    }
  }
  for (const auto& [m, v] : set) {
    members[m] = v;
    dots.erase(m);
    counters.erase(m);
    if (counter_of_set != nullptr) counters[m] = *counter_of_set;
  }
  for (const std::string& m : remove) {
    members.erase(m);
    dots.erase(m);
    counters.erase(m);
  }
  pb::Record rec = members.empty() ? Tombstone() : Collection(type, members, dots);
  if (!members.empty() && type == ValueType::kHash && !counters.empty()) {
    pb::CollectionState state;
    state.ParseFromString(rec.value());
    for (const auto& [m, c] : counters) {
      pb::MemberCounter* mc = state.add_counters();
      mc->set_member(m);
      *mc->mutable_counter() = c;
    }
    rec.set_value(state.SerializeAsString());
  }
  r->Write(node, rec);
}

// HINCRBY field by, as KeySnapshot exports it: node's increment added to the field's
// counter (one made from its plain value if it has none); other members kept as they are.
void HIncrBy(Replica* r, const std::string& node, const std::string& field, int64_t by) {
  std::optional<pb::Counter> counter;
  std::string before = "0";
  if (auto v = r->Read()) {
    pb::CollectionState state;
    ASSERT_TRUE(state.ParseFromString(v->value()));
    for (const auto& mc : state.counters()) {
      if (mc.member() == field) counter = mc.counter();
    }
    auto members = Members(*r, ValueType::kHash);
    if (members.count(field)) before = members[field];
  }
  if (!counter) counter = CounterFromValue(before, 0);
  ASSERT_TRUE(counter.has_value());
  const std::string after = std::to_string(std::stoll(before) + by);
  ASSERT_TRUE(AddIncrement(&*counter, node, before, after).ok());
  Change(r, node, ValueType::kHash, {{field, after}}, {}, &*counter);
}

class CollectionMergeTest : public ::testing::TestWithParam<ValueType> {};

TEST_P(CollectionMergeTest, ConcurrentChangesOfDifferentMembersBothSurvive) {
  const ValueType t = GetParam();
  uint64_t clock = 0;
  Replica a{{}, &clock};
  Change(&a, "n1", t, {{"x", "1"}, {"y", "2"}});
  Replica b = a;
  Change(&a, "n1", t, {{"p", "3"}});
  Change(&b, "n2", t, {{"q", "4"}});
  a.Receive(b);
  EXPECT_EQ(a.versions.size(), 2u);
  EXPECT_EQ(Members(a, t), (std::map<std::string, std::string>{{"p", "3"}, {"q", "4"}, {"x", "1"}, {"y", "2"}}));
  // A write on the merge keeps all and supersedes both siblings.
  Change(&a, "n3", t, {{"z", "5"}});
  EXPECT_EQ(a.versions.size(), 1u);
  EXPECT_EQ(Members(a, t).size(), 5u);
}

TEST_P(CollectionMergeTest, ARemovalRemovesOnlyWhatTheRemoverSaw) {
  const ValueType t = GetParam();
  uint64_t clock = 0;
  Replica a{{}, &clock};
  Change(&a, "n1", t, {{"x", "1"}, {"y", "2"}});
  Replica b = a;
  Change(&a, "n1", t, {}, {"x"});  // removes x, which it saw
  Change(&b, "n2", t, {{"q", "4"}});
  a.Receive(b);
  EXPECT_EQ(Members(a, t), (std::map<std::string, std::string>{{"q", "4"}, {"y", "2"}}));
  // A member re-added concurrently with its removal survives it (add wins).
  Replica c{{}, &clock};
  Change(&c, "n1", t, {{"x", "1"}});
  Replica d = c;
  Change(&c, "n1", t, {}, {"x"});  // c now empty: a tombstone
  Change(&d, "n2", t, {{"x", "9"}});
  c.Receive(d);
  EXPECT_EQ(Members(c, t), (std::map<std::string, std::string>{{"x", "9"}}));
}

TEST_P(CollectionMergeTest, ADeleteOfTheKeyKeepsMembersItDidNotSee) {
  const ValueType t = GetParam();
  uint64_t clock = 0;
  Replica a{{}, &clock};
  Change(&a, "n1", t, {{"x", "1"}});
  Replica b = a;
  a.Write("n1", Tombstone());  // DEL
  Change(&b, "n2", t, {{"y", "2"}});
  Replica c = a;
  a.Receive(b);
  EXPECT_EQ(Members(a, t), (std::map<std::string, std::string>{{"y", "2"}}));
  b.Receive(c);
  EXPECT_EQ(Members(b, t), (std::map<std::string, std::string>{{"y", "2"}}));
}

// (For a set: the member added on both sides is there once.)
TEST_P(CollectionMergeTest, ConcurrentWritesOfOneMemberKeepTheLater) {
  const ValueType t = GetParam();
  uint64_t clock = 0;
  Replica a{{}, &clock};
  Change(&a, "n1", t, {{"x", "1"}});
  Replica b = a;
  Change(&a, "n1", t, {{"x", "5"}});
  Change(&b, "n2", t, {{"x", "8"}});  // later
  a.Receive(b);
  EXPECT_EQ(Members(a, t), (std::map<std::string, std::string>{{"x", "8"}}));
}

TEST_P(CollectionMergeTest, AnyArrivalOrderGivesTheSameMembers) {
  const ValueType t = GetParam();
  std::mt19937 rng(1234);
  for (int round = 0; round < 30; round++) {
    uint64_t clock = 0;
    Replica base{{}, &clock};
    Change(&base, "n0", t, {{"a", "1"}, {"b", "2"}, {"c", "3"}});
    std::vector<Replica> sides(3, base);
    for (int step = 0; step < 12; step++) {
      const int s = static_cast<int>(rng() % 3);
      const std::string node = "n" + std::to_string(s + 1);
      const std::string m(1, static_cast<char>('a' + rng() % 6));
      if (rng() % 3 == 0) {
        if (!Members(sides[s], t).count(m)) continue;
        Change(&sides[s], node, t, {}, {m});
      } else {
        Change(&sides[s], node, t, {{m, std::to_string(rng() % 100)}});
      }
    }
    std::vector<int> order = {0, 1, 2};
    std::map<std::string, std::string> first;
    for (int perm = 0; perm < 6; perm++) {
      Replica r{{}, &clock};
      for (int i : order) r.Receive(sides[i]);
      auto members = Members(r, t);
      if (perm == 0) first = members;
      EXPECT_EQ(members, first) << "round " << round;
      std::next_permutation(order.begin(), order.end());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CollectionMergeTest,
                         ::testing::Values(ValueType::kHash, ValueType::kSet, ValueType::kZSet),
                         [](const auto& info) { return std::string(store::TypeName(info.param)); });

// HINCRBY on one field on both sides of a partition: the field's counters merge.
TEST(TypeMergeTest, ConcurrentIncrementsOfOneHashFieldAllCount) {
  uint64_t clock = 0;
  Replica a{{}, &clock};
  Change(&a, "n0", ValueType::kHash, {{"x", "10"}, {"y", "v"}});
  Replica b = a;
  HIncrBy(&a, "n1", "x", 3);
  HIncrBy(&b, "n2", "x", 4);
  HIncrBy(&b, "n2", "x", 1);
  a.Receive(b);
  EXPECT_EQ(Members(a, ValueType::kHash), (std::map<std::string, std::string>{{"x", "18"}, {"y", "v"}}));
  Replica c = b;
  c.Receive(a);
  EXPECT_EQ(Members(c, ValueType::kHash)["x"], "18");  // either order
}

// Found in review: a merge of two increments written back by a third node, then merged
// with a fourth node's copy of one of them, lost the other increment (both copies had
// the same dot with different counters).
TEST(TypeMergeTest, AMergedCounterWrittenBackIsANewWriteOfTheMember) {
  uint64_t clock = 0;
  Replica base{{}, &clock};
  Change(&base, "n0", ValueType::kHash, {{"f", "0"}});
  Replica a = base, b = base;
  HIncrBy(&a, "nA", "f", 1);
  HIncrBy(&b, "nB", "f", 1);
  Replica c = a;
  c.Receive(b);
  EXPECT_EQ(Members(c, ValueType::kHash)["f"], "2");
  Change(&c, "nC", ValueType::kHash, {{"g", "x"}});  // writes the merge back
  Replica d = b;
  Change(&d, "nD", ValueType::kHash, {{"k", "y"}});  // saw only b's increment
  Replica cd = c, dc = d;
  cd.Receive(d);
  dc.Receive(c);
  EXPECT_EQ(Members(cd, ValueType::kHash)["f"], "2");
  EXPECT_EQ(Members(dc, ValueType::kHash)["f"], "2");
  EXPECT_EQ(Members(cd, ValueType::kHash).size(), 3u);
}

TEST(TypeMergeTest, ListsAndPlainStringsKeepTheLastWriter) {
  uint64_t clock = 0;
  Replica a{{}, &clock};
  a.Write("n1", Str("one"));
  Replica b = a;
  a.Write("n1", Str("two"));
  b.Write("n2", Str("three"));
  a.Receive(b);
  EXPECT_EQ(ValueOf(a), "three");
  Replica t{{}, &clock};
  t.Write("n1", Str("x"));
  Replica u = t;
  u.Write("n2", Str("y"));
  t.Write("n1", Tombstone());
  u.Receive(t);
  EXPECT_EQ(ValueOf(u), "(nil)");  // the DEL is the newer: last writer wins for strings
}

}  // namespace
}  // namespace cairn::cluster

namespace cairn::cluster {
namespace {

// Collections kept as registers (registers.h): headers merge to the newest live one,
// whatever a concurrent DEL did (members merge in their registers), and a member's
// register keeps a concurrent write over a concurrent removal (add wins).
TEST(RegisterMergeTest, HeadersAndMemberRegistersMergeAddWins) {
  uint64_t clock = 0;
  pb::Record header;
  header.set_type(static_cast<uint32_t>(store::ValueType::kHash));
  pb::CollectionState state;
  state.set_meta(store::EncodeCollectionMeta(store::ValueType::kHash, store::CollectionMeta{7, 0}));
  state.set_registers(true);
  header.set_value(state.SerializeAsString());
  Replica a{{}, &clock};
  a.Write("n1", header);
  Replica b = a;
  b.Write("n2", Tombstone());   // a DEL on one side
  a.Write("n1", header);        // a write of a member on the other rewrites the header
  a.Receive(b);
  b.Receive(a);
  ASSERT_EQ(a.versions.size(), 2u);
  auto merged = a.Read();
  ASSERT_TRUE(merged.has_value());  // not an empty collection read as absent
  EXPECT_EQ(merged->value(), header.value());
  EXPECT_EQ(b.Read()->value(), header.value());

  Replica m{{}, &clock};
  m.Write("n1", Str("v1"));
  Replica n = m;
  n.Write("n2", Tombstone());    // HDEL on one side
  m.Write("n1", Str("v2"));      // HSET of the same field on the other
  m.Receive(n);
  auto reg = MergeRegister(m.versions);
  ASSERT_TRUE(reg.ok());
  ASSERT_TRUE(reg->has_value());
  EXPECT_EQ((*reg)->value(), "v2");
  // A member with a counter (HINCRBY): a removal concurrent with an increment loses to
  // it, even when the removal is newer.
  Replica c1{{}, &clock};
  pb::Record counted = Str("5");
  pb::Counter* counter = counted.mutable_counter();
  counter->set_offset_version(1);
  pb::CounterEntry* entry = counter->add_entries();
  entry->set_node("n1");
  entry->set_count(1);
  entry->set_sum(5);
  c1.Write("n1", counted);
  Replica c2 = c1;
  pb::Record bumped = counted;
  bumped.set_value("6");
  bumped.mutable_counter()->mutable_entries(0)->set_count(2);
  bumped.mutable_counter()->mutable_entries(0)->set_sum(6);
  c1.Write("n1", bumped);  // an increment on one side
  pb::Record removal = Tombstone();
  *removal.mutable_counter() = *ResetCounter(counted.counter(), std::nullopt, clock + 10);
  c2.Write("n2", removal);  // a later HDEL on the other, which saw only the first value
  c1.Receive(c2);
  auto kept = MergeRegister(c1.versions);
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_TRUE(kept->has_value());
  EXPECT_EQ((*kept)->value(), "6");

  // A removal that saw the write removes it.
  m.Write("n1", Tombstone());
  reg = MergeRegister(m.versions);
  ASSERT_TRUE(reg.ok());
  EXPECT_FALSE(reg->has_value());
}

}  // namespace
}  // namespace cairn::cluster
