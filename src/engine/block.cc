#include "engine/block.h"

#include "absl/container/inlined_vector.h"

#include "base/coding.h"
#include "base/status.h"

namespace cairn::engine {

Block::Block(BlockContents contents) : contents_(std::move(contents)), data_(contents_.data) {
  if (data_.size() < 4) {
    malformed_ = true;
    return;
  }
  num_restarts_ = DecodeFixed32(data_.data() + data_.size() - 4);
  const uint64_t max_restarts = (data_.size() - 4) / 4;
  if (num_restarts_ == 0 || num_restarts_ > max_restarts) {
    malformed_ = true;
    return;
  }
  restart_offset_ = static_cast<uint32_t>(data_.size() - 4 - 4 * uint64_t{num_restarts_});
}

class Block::Iter final : public Iterator {
 public:
  // owner keeps the block alive; it may be null when the caller guarantees that.
  Iter(const Block* block, std::shared_ptr<const Block> owner, KeyCompare cmp)
      : owner_(std::move(owner)),
        cmp_(cmp),
        data_(block->data_.data()),
        restarts_(block->restart_offset_),
        num_restarts_(block->num_restarts_),
        current_(restarts_),
        restart_index_(num_restarts_) {}

  bool Valid() const override { return current_ < restarts_ && status_.ok(); }
  absl::Status status() const override { return status_; }
  std::string_view key() const override { return std::string_view(key_.data(), key_.size()); }
  std::string_view value() const override { return value_; }

  void Next() override { ParseNextKey(); }

  void Prev() override {
    const uint32_t original = current_;
    while (RestartPoint(restart_index_) >= original) {
      if (restart_index_ == 0) {
        current_ = restarts_;  // no entry before the first one
        restart_index_ = num_restarts_;
        return;
      }
      restart_index_--;
    }
    SeekToRestartPoint(restart_index_);
    while (ParseNextKey() && NextEntryOffset() < original) {
    }
  }

  void Seek(std::string_view target) override {
    // Binary search for the last restart point whose key is < target.
    uint32_t left = 0, right = num_restarts_ - 1;
    while (left < right) {
      uint32_t mid = (left + right + 1) / 2;
      std::string_view mid_key;
      if (!DecodeRestartKey(mid, &mid_key)) return;
      if (cmp_(mid_key, target) < 0) {
        left = mid;
      } else {
        right = mid - 1;
      }
    }
    SeekToRestartPoint(left);
    while (ParseNextKey()) {
      if (cmp_(key(), target) >= 0) return;
    }
  }

  void SeekToFirst() override {
    SeekToRestartPoint(0);
    ParseNextKey();
  }

  void SeekToLast() override {
    SeekToRestartPoint(num_restarts_ - 1);
    while (ParseNextKey() && NextEntryOffset() < restarts_) {
    }
  }

 private:
  uint32_t NextEntryOffset() const {
    return static_cast<uint32_t>(value_.data() + value_.size() - data_);
  }
  uint32_t RestartPoint(uint32_t index) const {
    return DecodeFixed32(data_ + restarts_ + index * 4);
  }
  void SeekToRestartPoint(uint32_t index) {
    key_.clear();
    restart_index_ = index;
    uint32_t offset = RestartPoint(index);
    if (offset > restarts_) {
      MarkCorrupted();
      return;
    }
    value_ = std::string_view(data_ + offset, 0);  // NextEntryOffset() == offset
  }

  void MarkCorrupted() {
    current_ = restarts_;
    restart_index_ = num_restarts_;
    status_ = CorruptionError("bad entry in block");
    key_.clear();
    value_ = {};
  }

  // Decodes the entry header at p: returns the start of the key delta or nullptr.
  const char* DecodeEntry(const char* p, const char* limit, uint32_t* shared, uint32_t* non_shared,
                          uint32_t* value_len) const {
    if ((p = GetVarint32Ptr(p, limit, shared)) == nullptr) return nullptr;
    if ((p = GetVarint32Ptr(p, limit, non_shared)) == nullptr) return nullptr;
    if ((p = GetVarint32Ptr(p, limit, value_len)) == nullptr) return nullptr;
    if (static_cast<uint64_t>(limit - p) < uint64_t{*non_shared} + *value_len) return nullptr;
    return p;
  }

  bool DecodeRestartKey(uint32_t index, std::string_view* key) {
    uint32_t offset = RestartPoint(index);
    uint32_t shared, non_shared, value_len;
    const char* p = offset < restarts_ ? DecodeEntry(data_ + offset, data_ + restarts_, &shared,
                                                     &non_shared, &value_len)
                                       : nullptr;
    if (p == nullptr || shared != 0) {
      MarkCorrupted();
      return false;
    }
    *key = std::string_view(p, non_shared);
    return true;
  }

  bool ParseNextKey() {
    if (!status_.ok()) return false;
    current_ = NextEntryOffset();
    if (current_ >= restarts_) {
      current_ = restarts_;
      restart_index_ = num_restarts_;
      return false;
    }
    uint32_t shared, non_shared, value_len;
    const char* p =
        DecodeEntry(data_ + current_, data_ + restarts_, &shared, &non_shared, &value_len);
    if (p == nullptr || key_.size() < shared) {
      MarkCorrupted();
      return false;
    }
    key_.resize(shared);
    key_.insert(key_.end(), p, p + non_shared);
    value_ = std::string_view(p + non_shared, value_len);
    while (restart_index_ + 1 < num_restarts_ && RestartPoint(restart_index_ + 1) <= current_) {
      restart_index_++;
    }
    return true;
  }

  std::shared_ptr<const Block> owner_;
  const KeyCompare cmp_;
  const char* const data_;
  const uint32_t restarts_;  // offset of the restart array: entries end here
  const uint32_t num_restarts_;

  uint32_t current_;        // offset of the current entry; >= restarts_ when invalid
  uint32_t restart_index_;  // restart block holding current_
  // Keys are rebuilt here from their shared prefix; most fit without a heap allocation.
  absl::InlinedVector<char, 48> key_;
  std::string_view value_;
  absl::Status status_;
};

std::unique_ptr<Iterator> Block::NewIterator(std::shared_ptr<const Block> block, KeyCompare cmp) {
  if (block->malformed_) return NewErrorIterator(CorruptionError("bad block contents"));
  const Block* raw = block.get();
  return std::make_unique<Iter>(raw, std::move(block), cmp);
}

absl::Status Block::SeekOnce(
    std::string_view target, KeyCompare cmp,
    absl::FunctionRef<void(std::string_view, std::string_view)> found) const {
  if (malformed_) return CorruptionError("bad block contents");
  Iter it(this, nullptr, cmp);
  it.Seek(target);
  if (it.Valid()) found(it.key(), it.value());
  return it.status();
}

}  // namespace cairn::engine
