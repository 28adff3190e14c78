#include "engine/merging_iterator.h"

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

// Linear scan over children to find the smallest/largest: the number of sources (memtables
// plus L0 files plus one per level) is small, and a scan beats a heap's bookkeeping there.
class MergingIterator final : public Iterator {
 public:
  MergingIterator(KeyCompare cmp, std::vector<std::unique_ptr<Iterator>> children) : cmp_(cmp) {
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
    }
    current_->Next();
    FindSmallest();
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
    for (auto& c : children_) {
      if (c.Valid()) {
        if (current_ == nullptr || cmp_(c.key(), current_->key()) < 0) current_ = &c;
      } else if (!c.status().ok()) {
        current_ = nullptr;
        return;
      }
    }
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

  const KeyCompare cmp_;
  std::vector<Child> children_;
  Child* current_ = nullptr;
  bool forward_ = true;
};

}  // namespace

std::unique_ptr<Iterator> NewMergingIterator(KeyCompare cmp,
                                             std::vector<std::unique_ptr<Iterator>> children) {
  return std::make_unique<MergingIterator>(cmp, std::move(children));
}

}  // namespace cairn::engine
