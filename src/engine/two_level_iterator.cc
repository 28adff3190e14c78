#include "engine/two_level_iterator.h"

#include <string>

namespace cairn::engine {
namespace {

class TwoLevelIterator final : public Iterator {
 public:
  TwoLevelIterator(std::unique_ptr<Iterator> index_iter, InnerIteratorFactory open_inner)
      : index_(std::move(index_iter)), open_inner_(std::move(open_inner)) {}

  bool Valid() const override { return inner_ != nullptr && inner_->Valid(); }
  std::string_view key() const override { return inner_->key(); }
  std::string_view value() const override { return inner_->value(); }
  absl::Status status() const override {
    if (!index_->status().ok()) return index_->status();
    if (inner_ != nullptr && !inner_->status().ok()) return inner_->status();
    return status_;
  }

  void Seek(std::string_view target) override {
    index_->Seek(target);
    InitInner();
    if (inner_ != nullptr) inner_->Seek(target);
    SkipEmptyForward();
  }
  void SeekToFirst() override {
    index_->SeekToFirst();
    InitInner();
    if (inner_ != nullptr) inner_->SeekToFirst();
    SkipEmptyForward();
  }
  void SeekToLast() override {
    index_->SeekToLast();
    InitInner();
    if (inner_ != nullptr) inner_->SeekToLast();
    SkipEmptyBackward();
  }
  void Next() override {
    inner_->Next();
    SkipEmptyForward();
  }
  void Prev() override {
    inner_->Prev();
    SkipEmptyBackward();
  }

 private:
  // Stops at an inner error so it is reported instead of skipped.
  bool InnerExhausted() const {
    return inner_ == nullptr || (!inner_->Valid() && inner_->status().ok());
  }
  void SkipEmptyForward() {
    while (InnerExhausted()) {
      if (!index_->Valid()) {
        SetInner(nullptr);
        return;
      }
      index_->Next();
      InitInner();
      if (inner_ != nullptr) inner_->SeekToFirst();
    }
  }
  void SkipEmptyBackward() {
    while (InnerExhausted()) {
      if (!index_->Valid()) {
        SetInner(nullptr);
        return;
      }
      index_->Prev();
      InitInner();
      if (inner_ != nullptr) inner_->SeekToLast();
    }
  }
  void SetInner(std::unique_ptr<Iterator> it) {
    if (inner_ != nullptr && !inner_->status().ok() && status_.ok()) status_ = inner_->status();
    inner_ = std::move(it);
  }
  void InitInner() {
    if (!index_->Valid()) {
      SetInner(nullptr);
      return;
    }
    std::string_view handle = index_->value();
    if (inner_ != nullptr && handle == inner_handle_) return;
    inner_handle_.assign(handle.data(), handle.size());
    SetInner(open_inner_(handle));
  }

  std::unique_ptr<Iterator> index_;
  InnerIteratorFactory open_inner_;
  std::unique_ptr<Iterator> inner_;
  std::string inner_handle_;
  absl::Status status_;  // first error seen in a discarded inner iterator
};

}  // namespace

std::unique_ptr<Iterator> NewTwoLevelIterator(std::unique_ptr<Iterator> index_iter,
                                              InnerIteratorFactory open_inner) {
  return std::make_unique<TwoLevelIterator>(std::move(index_iter), std::move(open_inner));
}

}  // namespace cairn::engine
