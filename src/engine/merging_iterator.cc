#include "engine/merging_iterator.h"

namespace cairn::engine {
namespace {

// Linear scan over children to find the smallest/largest: the number of sources (memtables
// plus L0 files plus one per level) is small, and a scan beats a heap's bookkeeping there.
class MergingIterator final : public Iterator {
 public:
  MergingIterator(KeyCompare cmp, std::vector<std::unique_ptr<Iterator>> children)
      : cmp_(cmp), children_(std::move(children)) {}

  bool Valid() const override { return current_ != nullptr; }
  std::string_view key() const override { return current_->key(); }
  std::string_view value() const override { return current_->value(); }
  absl::Status status() const override {
    for (const auto& c : children_) {
      if (!c->status().ok()) return c->status();
    }
    return absl::OkStatus();
  }

  void SeekToFirst() override {
    for (auto& c : children_) c->SeekToFirst();
    forward_ = true;
    FindSmallest();
  }
  void SeekToLast() override {
    for (auto& c : children_) c->SeekToLast();
    forward_ = false;
    FindLargest();
  }
  void Seek(std::string_view target) override {
    for (auto& c : children_) c->Seek(target);
    forward_ = true;
    FindSmallest();
  }

  void Next() override {
    if (!forward_) {
      // Move every other child to the first entry after key().
      std::string k(key());
      for (auto& c : children_) {
        if (c.get() == current_) continue;
        c->Seek(k);
        if (c->Valid() && cmp_(k, c->key()) == 0) c->Next();
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
        if (c.get() == current_) continue;
        c->Seek(k);
        if (c->Valid()) {
          c->Prev();
        } else {
          c->SeekToLast();
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
      if (c->Valid()) {
        if (current_ == nullptr || cmp_(c->key(), current_->key()) < 0) current_ = c.get();
      } else if (!c->status().ok()) {
        current_ = nullptr;
        return;
      }
    }
  }
  void FindLargest() {
    current_ = nullptr;
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
      auto& c = *it;
      if (c->Valid()) {
        if (current_ == nullptr || cmp_(c->key(), current_->key()) > 0) current_ = c.get();
      } else if (!c->status().ok()) {
        current_ = nullptr;
        return;
      }
    }
  }

  const KeyCompare cmp_;
  std::vector<std::unique_ptr<Iterator>> children_;
  Iterator* current_ = nullptr;
  bool forward_ = true;
};

}  // namespace

std::unique_ptr<Iterator> NewMergingIterator(KeyCompare cmp,
                                             std::vector<std::unique_ptr<Iterator>> children) {
  return std::make_unique<MergingIterator>(cmp, std::move(children));
}

}  // namespace cairn::engine
