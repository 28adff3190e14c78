#include "engine/merging_iterator.h"

#include <algorithm>

#include "engine/dbformat.h"

namespace cairn::engine {
namespace {

// Caches a child's Valid() and key() so the merge's comparisons do not make two virtual
// calls (through two-level and block iterators) per child per step, as LevelDB's
// IteratorWrapper does.
class Child {
 public:
  explicit Child(std::unique_ptr<Iterator> iter) : iter_(std::move(iter)) {}
  bool Valid() const { return valid_; }
  std::string_view key() const { return key_; }
  std::string_view value() const { return iter_->value(); }
  absl::Status status() const { return iter_->status(); }
  void Next() { iter_->Next(), Update(); }
  void Prev() { iter_->Prev(), Update(); }
  void Seek(std::string_view k) { iter_->Seek(k), Update(); }
  void SeekToFirst() { iter_->SeekToFirst(), Update(); }
  void SeekToLast() { iter_->SeekToLast(), Update(); }

 private:
  void Update() {
    valid_ = iter_->Valid();
    if (valid_) key_ = iter_->key();
  }
  std::unique_ptr<Iterator> iter_;
  bool valid_ = false;
  std::string_view key_;
};

// Forward: a binary min-heap of the valid children, so a step costs a sift-down (often
// one or two comparisons) instead of a comparison with every child. Backward (rare): a
// linear scan for the largest. Cmp is a functor; internal keys get an inlined comparator.
template <typename Cmp>
class MergingIterator final : public Iterator {
 public:
  MergingIterator(Cmp cmp, std::vector<std::unique_ptr<Iterator>> children) : cmp_(cmp) {
    children_.reserve(children.size());
    for (auto& c : children) children_.emplace_back(std::move(c));
  }

  bool Valid() const override { return current_ != nullptr; }
  std::string_view key() const override { return current_->key(); }
  std::string_view value() const override { return current_->value(); }
  absl::Status status() const override {
    for (const auto& c : children_) {
      if (absl::Status s = c.status(); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  void SeekToFirst() override {
    for (auto& c : children_) c.SeekToFirst();
    forward_ = true;
    FindSmallest();
  }
  void SeekToLast() override {
    for (auto& c : children_) c.SeekToLast();
    forward_ = false;
    FindLargest();
  }
  void Seek(std::string_view target) override {
    for (auto& c : children_) c.Seek(target);
    forward_ = true;
    FindSmallest();
  }

  void Next() override {
    if (!forward_) {
      // Move every other child to the first entry after key().
      std::string k(key());
      for (auto& c : children_) {
        if (&c == current_) continue;
        c.Seek(k);
        if (c.Valid() && cmp_(k, c.key()) == 0) c.Next();
      }
      forward_ = true;
      current_->Next();
      FindSmallest();  // the heap is rebuilt after a change of direction
      return;
    }
    current_->Next();
    if (current_->Valid()) {
      SiftDown(0);
    } else if (!current_->status().ok()) {
      current_ = nullptr;  // stop at the error
      return;
    } else {
      heap_.front() = heap_.back();
      heap_.pop_back();
      if (!heap_.empty()) SiftDown(0);
    }
    current_ = heap_.empty() ? nullptr : heap_.front();
  }

  void Prev() override {
    if (forward_) {
      // Move every other child to the last entry before key().
      std::string k(key());
      for (auto& c : children_) {
        if (&c == current_) continue;
        c.Seek(k);
        if (c.Valid()) {
          c.Prev();
        } else {
          c.SeekToLast();
        }
      }
      forward_ = false;
    }
    current_->Prev();
    FindLargest();
  }

 private:
  // A child with an error (it is then invalid) stops the merge, so the error is seen
  // rather than skipped.
  void FindSmallest() {
    current_ = nullptr;
    heap_.clear();
    for (auto& c : children_) {
      if (c.Valid()) {
        heap_.push_back(&c);
      } else if (!c.status().ok()) {
        heap_.clear();
        return;
      }
    }
    for (size_t i = heap_.size() / 2; i-- > 0;) SiftDown(i);
    if (!heap_.empty()) current_ = heap_.front();
  }

  // Heap order: by key, then by child position (equal keys come in child order).
  bool Before(const Child* a, const Child* b) const {
    const int r = cmp_(a->key(), b->key());
    return r < 0 || (r == 0 && a < b);
  }

  // Restores the heap below position i (its children are heaps).
  void SiftDown(size_t i) {
    Child* const item = heap_[i];
    const size_t n = heap_.size();
    while (true) {
      size_t smallest = 2 * i + 1;
      if (smallest >= n) break;
      if (smallest + 1 < n && Before(heap_[smallest + 1], heap_[smallest])) smallest++;
      if (!Before(heap_[smallest], item)) break;
      heap_[i] = heap_[smallest];
      i = smallest;
    }
    heap_[i] = item;
  }
  void FindLargest() {
    current_ = nullptr;
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
      Child& c = *it;
      if (c.Valid()) {
        if (current_ == nullptr || cmp_(c.key(), current_->key()) > 0) current_ = &c;
      } else if (!c.status().ok()) {
        current_ = nullptr;
        return;
      }
    }
  }

  const Cmp cmp_;
  std::vector<Child> children_;
  std::vector<Child*> heap_;  // forward direction: the valid children, smallest first
  Child* current_ = nullptr;
  bool forward_ = true;
};

struct InlineInternalKeyCompare {
  int operator()(std::string_view a, std::string_view b) const {
    return InternalKeyComparator().Compare(a, b);
  }
};
struct FunctionCompare {
  KeyCompare fn;
  int operator()(std::string_view a, std::string_view b) const { return fn(a, b); }
};

}  // namespace

std::unique_ptr<Iterator> NewMergingIterator(KeyCompare cmp,
                                             std::vector<std::unique_ptr<Iterator>> children) {
  if (cmp == CompareInternalKeys) {
    return std::make_unique<MergingIterator<InlineInternalKeyCompare>>(InlineInternalKeyCompare{},
                                                                       std::move(children));
  }
  return std::make_unique<MergingIterator<FunctionCompare>>(FunctionCompare{cmp},
                                                            std::move(children));
}

}  // namespace cairn::engine
