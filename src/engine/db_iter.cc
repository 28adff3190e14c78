#include "engine/db_iter.h"

#include "base/status.h"
#include "engine/blob_store.h"

namespace cairn::engine {
namespace {

// Forward direction: iter_ is at the entry that supplies key() and value().
// Reverse direction: iter_ is just before all entries of key(); the current key and
// value are copied into saved_key_ / saved_value_.
class DBIter final : public Iterator {
 public:
  DBIter(std::unique_ptr<Iterator> iter, SequenceNumber seq, uint64_t now,
         std::optional<std::string> upper, const BlobStore* blobs)
      : iter_(std::move(iter)),
        sequence_(seq),
        now_(now),
        upper_bound_(std::move(upper)),
        blobs_(blobs) {}

  bool Valid() const override { return valid_; }
  std::string_view key() const override {
    return direction_ == kForward ? ExtractUserKey(iter_->key()) : std::string_view(saved_key_);
  }
  std::string_view value() const override {
    const bool forward = direction_ == kForward;
    const std::string_view raw = forward ? value_ : std::string_view(saved_value_);
    if (!(forward ? value_blob_ : saved_blob_)) return raw;
    // A blob reference: read the value once per position (a scan of keys only never
    // pays for it).
    if (!blob_loaded_ || loaded_ref_ != raw) {
      blob_loaded_ = true;
      loaded_ref_.assign(raw.data(), raw.size());
      BlobRef ref;
      absl::Status s = DecodeBlobRef(raw, &ref);
      if (s.ok()) {
        s = blobs_ != nullptr ? blobs_->Read(key(), ref, &blob_value_)
                              : CorruptionError("blob reference without a blob store");
      }
      if (!s.ok()) {
        blob_value_.clear();
        if (status_.ok()) status_ = s;
      }
    }
    return blob_value_;
  }
  absl::Status status() const override {
    if (!status_.ok()) return status_;
    return iter_->status();
  }

  // Moves never throw: an exception (out of memory) ends the iteration with its status.
  void Next() override {
    Guard([&] { NextImpl(); });
  }
  void Prev() override {
    Guard([&] { PrevImpl(); });
  }
  void Seek(std::string_view target) override {
    Guard([&] { SeekImpl(target); });
  }
  void SeekToFirst() override {
    Guard([&] { SeekToFirstImpl(); });
  }
  void SeekToLast() override {
    Guard([&] { SeekToLastImpl(); });
  }

 private:
  template <typename Fn>
  void Guard(Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      status_ = ExceptionToStatus(e);
      Invalidate();
    }
  }

  void NextImpl() {
    if (direction_ == kReverse) {
      direction_ = kForward;
      // iter_ is before the entries of saved_key_: step into them, then skip them.
      if (!iter_->Valid()) {
        iter_->SeekToFirst();
      } else {
        iter_->Next();
      }
      if (!iter_->Valid()) {
        Invalidate();
        return;
      }
    } else {
      std::string_view k = ExtractUserKey(iter_->key());
      saved_key_.assign(k.data(), k.size());
      iter_->Next();
      if (!iter_->Valid()) {
        Invalidate();
        return;
      }
    }
    FindNextUserEntry(true);
  }

  void PrevImpl() {
    if (direction_ == kForward) {
      // Back up to before all entries of the current key.
      std::string_view k = ExtractUserKey(iter_->key());
      saved_key_.assign(k.data(), k.size());
      while (true) {
        iter_->Prev();
        if (!iter_->Valid()) {
          Invalidate();
          return;
        }
        ParsedInternalKey ikey;
        if (!Parse(&ikey)) return;
        if (ikey.user_key.compare(saved_key_) < 0) break;
      }
      direction_ = kReverse;
    }
    FindPrevUserEntry();
  }

  void SeekImpl(std::string_view target) {
    direction_ = kForward;
    saved_value_.clear();
    saved_key_.clear();
    AppendInternalKey(&saved_key_, target, sequence_, kValueTypeForSeek);
    iter_->Seek(saved_key_);
    if (iter_->Valid()) {
      FindNextUserEntry(false);
    } else {
      Invalidate();
    }
  }

  void SeekToFirstImpl() {
    direction_ = kForward;
    saved_value_.clear();
    iter_->SeekToFirst();
    if (iter_->Valid()) {
      FindNextUserEntry(false);
    } else {
      Invalidate();
    }
  }

  void SeekToLastImpl() {
    direction_ = kReverse;
    saved_value_.clear();
    if (upper_bound_) {
      iter_->Seek(MakeInternalKey(*upper_bound_, kMaxSequenceNumber, kValueTypeForSeek));
      if (iter_->Valid()) {
        iter_->Prev();
      } else if (iter_->status().ok()) {
        iter_->SeekToLast();
      }
    } else {
      iter_->SeekToLast();
    }
    FindPrevUserEntry();
  }

 private:
  enum Direction { kForward, kReverse };

  void Invalidate() {
    valid_ = false;
    saved_key_.clear();
    saved_value_.clear();
  }

  // What iter_'s entry of the given type means now; on damage records Corruption and
  // stops the iterator.
  EntryState Resolve(ValueType type, std::string_view* value, bool* blob) {
    EntryState state = ResolveEntry(type, iter_->value(), now_, value);
    *blob = state == EntryState::kBlob;
    if (*blob) state = EntryState::kValue;
    if (state == EntryState::kCorrupt) {
      status_ = CorruptionError("bad value with expiry in iterator");
      Invalidate();
    }
    return state;
  }

  // Parses iter_'s key; on damage records Corruption and stops the iterator.
  bool Parse(ParsedInternalKey* ikey) {
    if (ParseInternalKey(iter_->key(), ikey)) return true;
    status_ = CorruptionError("bad internal key in iterator");
    Invalidate();
    return false;
  }

  // Moves forward from iter_ to the first visible, live entry. When skipping, entries
  // of user keys <= saved_key_ are hidden (they are older versions or deleted).
  void FindNextUserEntry(bool skipping) {
    do {
      ParsedInternalKey ikey;
      if (!Parse(&ikey)) return;
      if (ikey.sequence <= sequence_) {
        const EntryState state = Resolve(ikey.type, &value_, &value_blob_);
        if (state == EntryState::kCorrupt) return;
        if (state == EntryState::kAbsent) {  // a deletion, or an expired value
          saved_key_.assign(ikey.user_key.data(), ikey.user_key.size());
          skipping = true;
        } else if (!skipping || ikey.user_key.compare(saved_key_) > 0) {
          if (upper_bound_ && ikey.user_key.compare(*upper_bound_) >= 0) break;
          valid_ = true;
          saved_key_.clear();
          return;
        }
      }
      iter_->Next();
    } while (iter_->Valid());
    Invalidate();
  }

  // Moves backward from iter_, leaving the newest visible live entry of the previous
  // user key in saved_key_/saved_value_ and iter_ before all of that key's entries.
  void FindPrevUserEntry() {
    bool live = false;  // whether saved_key_/saved_value_ hold a live entry
    if (iter_->Valid()) {
      do {
        ParsedInternalKey ikey;
        if (!Parse(&ikey)) return;
        if (ikey.sequence <= sequence_) {
          if (live && ikey.user_key.compare(saved_key_) < 0) {
            break;  // reached the key before the one we hold
          }
          std::string_view v;
          bool blob = false;
          const EntryState state = Resolve(ikey.type, &v, &blob);
          if (state == EntryState::kCorrupt) return;
          live = state == EntryState::kValue;
          if (!live) {
            saved_key_.clear();
            saved_value_.clear();
          } else {
            saved_key_.assign(ikey.user_key.data(), ikey.user_key.size());
            saved_value_.assign(v.data(), v.size());
            saved_blob_ = blob;
          }
        }
        iter_->Prev();
      } while (iter_->Valid());
    }
    if (!live || !iter_->status().ok()) {
      Invalidate();
      direction_ = kForward;
    } else {
      valid_ = true;
    }
  }

  std::unique_ptr<Iterator> iter_;
  const SequenceNumber sequence_;
  const uint64_t now_;  // Unix microseconds: values expiring at or before it are absent
  const std::optional<std::string> upper_bound_;
  std::string_view value_;  // forward direction: the current entry's user value
  Direction direction_ = kForward;
  bool valid_ = false;
  std::string saved_key_;
  std::string saved_value_;
  bool value_blob_ = false;  // value_ is a blob reference
  bool saved_blob_ = false;  // saved_value_ is a blob reference
  const BlobStore* const blobs_;
  // The value of the blob reference loaded_ref_, read by value().
  mutable bool blob_loaded_ = false;
  mutable std::string loaded_ref_;
  mutable std::string blob_value_;
  mutable absl::Status status_;
};

}  // namespace

std::unique_ptr<Iterator> NewDBIterator(std::unique_ptr<Iterator> internal_iter,
                                        SequenceNumber sequence, uint64_t now,
                                        std::optional<std::string> upper_bound,
                                        const BlobStore* blobs) {
  return std::make_unique<DBIter>(std::move(internal_iter), sequence, now, std::move(upper_bound),
                                  blobs);
}

}  // namespace cairn::engine
