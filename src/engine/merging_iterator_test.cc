#include "engine/merging_iterator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/random.h"
#include "base/status.h"
#include "engine/iterator_util.h"

namespace cairn::engine {
namespace {

using KV = std::pair<std::string, std::string>;

// An iterator over a sorted vector, for feeding the merge.
class VectorIterator final : public Iterator {
 public:
  explicit VectorIterator(std::vector<KV> data) : data_(std::move(data)), pos_(data_.size()) {}
  bool Valid() const override { return pos_ < data_.size(); }
  void SeekToFirst() override { pos_ = 0; }
  void SeekToLast() override { pos_ = data_.empty() ? 0 : data_.size() - 1; }
  void Seek(std::string_view target) override {
    pos_ = std::lower_bound(data_.begin(), data_.end(), target,
                            [](const KV& kv, std::string_view t) { return kv.first < t; }) -
           data_.begin();
  }
  void Next() override {
    EXPECT_TRUE(Valid());
    pos_++;
  }
  void Prev() override {
    EXPECT_TRUE(Valid());
    pos_ = pos_ == 0 ? data_.size() : pos_ - 1;
  }
  std::string_view key() const override {
    EXPECT_TRUE(Valid());
    return data_[pos_].first;
  }
  std::string_view value() const override {
    EXPECT_TRUE(Valid());
    return data_[pos_].second;
  }
  absl::Status status() const override { return absl::OkStatus(); }

 private:
  std::vector<KV> data_;
  size_t pos_;
};

std::string Key(uint64_t i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%05llu", static_cast<unsigned long long>(i));
  return buf;
}

std::unique_ptr<Iterator> Merge(const std::vector<std::vector<KV>>& lists) {
  std::vector<std::unique_ptr<Iterator>> children;
  for (const auto& l : lists) children.push_back(std::make_unique<VectorIterator>(l));
  return NewMergingIterator(CompareBytewise, std::move(children));
}

TEST(MergingIteratorTest, NoChildrenIsEmpty) {
  auto it = Merge({});
  it->SeekToFirst();
  EXPECT_FALSE(it->Valid());
  it->SeekToLast();
  EXPECT_FALSE(it->Valid());
  it->Seek("a");
  EXPECT_FALSE(it->Valid());
  EXPECT_TRUE(it->status().ok());
}

TEST(MergingIteratorTest, EmptyChildrenAreIgnored) {
  auto it = Merge({{}, {{"b", "2"}}, {}, {{"a", "1"}, {"c", "3"}}, {}});
  std::vector<std::string> keys;
  for (it->SeekToFirst(); it->Valid(); it->Next()) keys.emplace_back(it->key());
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c"}));
  keys.clear();
  for (it->SeekToLast(); it->Valid(); it->Prev()) keys.emplace_back(it->key());
  EXPECT_EQ(keys, (std::vector<std::string>{"c", "b", "a"}));
}

// k random sorted lists with keys distinct across all lists, against std::map, with
// random walks of every move and direction change.
TEST(MergingIteratorTest, RandomWalksMatchModel) {
  Random rnd(1234);
  for (int round = 0; round < 300; round++) {
    const size_t k = rnd.Uniform(7);
    std::vector<std::vector<KV>> lists(k);
    std::map<std::string, std::string> model;
    const uint64_t range = 1 + rnd.Uniform(200);
    if (k > 0) {
      for (uint64_t i = 0; i < range; i++) {
        if (rnd.OneIn(3)) continue;
        size_t child = rnd.Uniform(k);
        std::string v = "v" + std::to_string(i) + "@" + std::to_string(child);
        lists[child].emplace_back(Key(i * 2), v);  // even keys: odd ones are gaps
        model[Key(i * 2)] = v;
      }
    }
    auto it = Merge(lists);
    auto cur = model.end();
    for (int step = 0; step < 300; step++) {
      const bool valid = cur != model.end();
      const uint64_t op = rnd.Uniform(10);
      if (op == 0) {
        it->SeekToFirst();
        cur = model.begin();
      } else if (op == 1) {
        it->SeekToLast();
        cur = model.empty() ? model.end() : std::prev(model.end());
      } else if (op == 2) {
        std::string t = Key(rnd.Uniform(2 * range + 4));  // existing, gap, or past the end
        if (rnd.OneIn(5)) t = rnd.OneIn(2) ? "" : "z";
        it->Seek(t);
        cur = model.lower_bound(t);
      } else if (op < 6) {
        if (!valid) continue;
        it->Next();
        ++cur;
      } else {
        if (!valid) continue;
        it->Prev();
        cur = cur == model.begin() ? model.end() : std::prev(cur);
      }
      ASSERT_EQ(it->Valid(), cur != model.end()) << "round " << round << " step " << step;
      if (cur != model.end()) {
        ASSERT_EQ(it->key(), cur->first) << "round " << round << " step " << step;
        ASSERT_EQ(it->value(), cur->second);
      }
      ASSERT_TRUE(it->status().ok());
    }
  }
}

// Duplicate keys across children are all yielded, in child order (newest source first).
TEST(MergingIteratorTest, DuplicatesAcrossChildrenComeInChildOrder) {
  auto it = Merge({{{"a", "0"}, {"b", "0"}},  //
                   {{"b", "1"}, {"c", "1"}},
                   {{"a", "2"}, {"b", "2"}}});
  std::vector<std::string> got;
  for (it->SeekToFirst(); it->Valid(); it->Next())
    got.push_back(std::string(it->key()) + "@" + std::string(it->value()));
  EXPECT_EQ(got, (std::vector<std::string>{"a@0", "a@2", "b@0", "b@1", "b@2", "c@1"}));
  got.clear();
  for (it->SeekToLast(); it->Valid(); it->Prev())
    got.push_back(std::string(it->key()) + "@" + std::string(it->value()));
  EXPECT_EQ(got, (std::vector<std::string>{"c@1", "b@2", "b@1", "b@0", "a@2", "a@0"}));
  it->Seek("b");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->value(), "0");
}

TEST(MergingIteratorTest, ErrorChildMakesMergeInvalidWithItsStatus) {
  for (size_t pos : {0, 1, 2}) {
    SCOPED_TRACE(pos);
    std::vector<std::unique_ptr<Iterator>> children;
    children.push_back(std::make_unique<VectorIterator>(std::vector<KV>{{"a", "1"}, {"c", "3"}}));
    children.push_back(std::make_unique<VectorIterator>(std::vector<KV>{{"b", "2"}}));
    children.insert(children.begin() + pos, NewErrorIterator(CorruptionError("bad block")));
    auto it = NewMergingIterator(CompareBytewise, std::move(children));
    it->SeekToFirst();
    EXPECT_FALSE(it->Valid());
    EXPECT_TRUE(IsCorruption(it->status())) << it->status();
    it->SeekToLast();
    EXPECT_FALSE(it->Valid());
    it->Seek("b");
    EXPECT_FALSE(it->Valid());
    EXPECT_TRUE(IsCorruption(it->status()));
  }
}

// A child that fails part way through (after some good entries) stops the merge there.
class FailingAfterIterator final : public Iterator {
 public:
  FailingAfterIterator(std::vector<KV> data, size_t fail_at)
      : inner_(std::move(data)), fail_at_(fail_at) {}
  bool Valid() const override { return !failed() && inner_.Valid(); }
  void SeekToFirst() override { moves_ = 0, inner_.SeekToFirst(); }
  void SeekToLast() override { moves_ = 0, inner_.SeekToLast(); }
  void Seek(std::string_view t) override { moves_ = 0, inner_.Seek(t); }
  void Next() override { moves_++, inner_.Next(); }
  void Prev() override { moves_++, inner_.Prev(); }
  std::string_view key() const override { return inner_.key(); }
  std::string_view value() const override { return inner_.value(); }
  absl::Status status() const override {
    return failed() ? CorruptionError("late failure") : absl::OkStatus();
  }

 private:
  bool failed() const { return moves_ >= fail_at_; }
  VectorIterator inner_;
  size_t fail_at_;
  size_t moves_ = 0;
};

TEST(MergingIteratorTest, ChildFailingMidwayStopsTheMerge) {
  std::vector<std::unique_ptr<Iterator>> children;
  children.push_back(std::make_unique<VectorIterator>(
      std::vector<KV>{{"a", ""}, {"c", ""}, {"e", ""}, {"g", ""}}));
  children.push_back(
      std::make_unique<FailingAfterIterator>(std::vector<KV>{{"b", ""}, {"d", ""}, {"f", ""}}, 2));
  auto it = NewMergingIterator(CompareBytewise, std::move(children));
  std::vector<std::string> keys;
  for (it->SeekToFirst(); it->Valid(); it->Next()) keys.emplace_back(it->key());
  // b and d come from the failing child's first two positions; then it fails.
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_TRUE(IsCorruption(it->status())) << it->status();
}

}  // namespace
}  // namespace cairn::engine
