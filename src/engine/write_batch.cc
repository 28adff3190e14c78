#include "cairn/engine/write_batch.h"

#include "base/coding.h"
#include "base/status.h"
#include "engine/memtable.h"
#include "engine/write_batch_internal.h"

namespace cairn::engine {

WriteBatch::WriteBatch() { Clear(); }

void WriteBatch::Clear() {
  has_blob_index_ = false;
  rep_.clear();
  rep_.resize(WriteBatchInternal::kHeaderSize);
}

uint32_t WriteBatch::Count() const { return DecodeFixed32(rep_.data() + 8); }

void WriteBatch::Put(std::string_view key, std::string_view value) {
  WriteBatchInternal::SetCount(this, Count() + 1);
  rep_.push_back(static_cast<char>(kTypeValue));
  PutLengthPrefixed(&rep_, key);
  PutLengthPrefixed(&rep_, value);
}

void WriteBatch::PutWithExpiry(std::string_view key, std::string_view value,
                               uint64_t expire_at_unix_micros) {
  WriteBatchInternal::SetCount(this, Count() + 1);
  rep_.push_back(static_cast<char>(kTypeValueWithExpiry));
  PutLengthPrefixed(&rep_, key);
  PutVarint64(&rep_, value.size() + 8);
  PutFixed64(&rep_, expire_at_unix_micros);
  rep_.append(value.data(), value.size());
}

void WriteBatch::Delete(std::string_view key) {
  WriteBatchInternal::SetCount(this, Count() + 1);
  rep_.push_back(static_cast<char>(kTypeDeletion));
  PutLengthPrefixed(&rep_, key);
}

void WriteBatch::Append(const WriteBatch& other) {
  WriteBatchInternal::SetCount(this, Count() + other.Count());
  rep_.append(other.rep_, WriteBatchInternal::kHeaderSize);
  has_blob_index_ = has_blob_index_ || other.has_blob_index_;
}

absl::Status WriteBatch::Iterate(Handler* handler) const {
  std::string_view input(rep_);
  if (input.size() < WriteBatchInternal::kHeaderSize) {
    return CorruptionError("write batch too small");
  }
  input.remove_prefix(WriteBatchInternal::kHeaderSize);
  uint32_t found = 0;
  while (!input.empty()) {
    uint8_t tag = static_cast<uint8_t>(input[0]);
    input.remove_prefix(1);
    std::string_view key, value;
    switch (tag) {
      case kTypeValue:
        if (!GetLengthPrefixed(&input, &key) || !GetLengthPrefixed(&input, &value)) {
          return CorruptionError("bad write batch put");
        }
        handler->Put(key, value);
        break;
      case kTypeDeletion:
        if (!GetLengthPrefixed(&input, &key)) return CorruptionError("bad write batch delete");
        handler->Delete(key);
        break;
      case kTypeValueWithExpiry:
        if (!GetLengthPrefixed(&input, &key) || !GetLengthPrefixed(&input, &value) ||
            value.size() < 8) {
          return CorruptionError("bad write batch put with expiry");
        }
        handler->PutWithExpiry(key, value.substr(8), DecodeFixed64(value.data()));
        break;
      case kTypeBlobIndex:
        if (!GetLengthPrefixed(&input, &key) || !GetLengthPrefixed(&input, &value) ||
            value.size() < 8) {
          return CorruptionError("bad write batch blob index");
        }
        handler->PutBlobIndex(key, value);
        break;
      default:
        return CorruptionError("unknown write batch record tag");
    }
    found++;
  }
  if (found != Count()) return CorruptionError("write batch has wrong count");
  return absl::OkStatus();
}

SequenceNumber WriteBatchInternal::Sequence(const WriteBatch& b) {
  return DecodeFixed64(b.rep_.data());
}

void WriteBatchInternal::SetSequence(WriteBatch* b, SequenceNumber seq) {
  EncodeFixed64(b->rep_.data(), seq);
}

void WriteBatchInternal::SetCount(WriteBatch* b, uint32_t n) {
  EncodeFixed32(b->rep_.data() + 8, n);
}

void WriteBatchInternal::PutBlobIndex(WriteBatch* b, std::string_view key,
                                      std::string_view stored) {
  SetCount(b, b->Count() + 1);
  b->has_blob_index_ = true;
  b->rep_.push_back(static_cast<char>(kTypeBlobIndex));
  PutLengthPrefixed(&b->rep_, key);
  PutLengthPrefixed(&b->rep_, stored);
}

absl::Status WriteBatchInternal::SetContents(WriteBatch* b, std::string_view contents) {
  if (contents.size() < kHeaderSize) return CorruptionError("write batch too small");
  b->rep_.assign(contents.data(), contents.size());
  b->has_blob_index_ = true;  // unknown without parsing: assume it
  return absl::OkStatus();
}

namespace {
// Stages every entry, then adds them together (MemTable::AddStaged).
class MemTableInserter final : public WriteBatch::Handler {
 public:
  MemTableInserter(SequenceNumber seq, MemTable* mem) : seq_(seq), mem_(mem) {}
  void Put(std::string_view key, std::string_view value) override {
    Stage(kTypeValue, key, value);
  }
  void Delete(std::string_view key) override { Stage(kTypeDeletion, key, {}); }
  void PutWithExpiry(std::string_view key, std::string_view value, uint64_t expire) override {
    std::string stored;
    stored.reserve(8 + value.size());
    PutFixed64(&stored, expire);
    stored.append(value.data(), value.size());
    Stage(kTypeValueWithExpiry, key, stored);
  }
  void PutBlobIndex(std::string_view key, std::string_view stored) override {
    Stage(kTypeBlobIndex, key, stored);
  }
  void Finish() { mem_->AddStaged(staged_); }

 private:
  void Stage(ValueType type, std::string_view key, std::string_view value) {
    staged_.push_back(mem_->Stage(seq_++, type, key, value));
  }

  SequenceNumber seq_;
  MemTable* mem_;
  std::vector<MemTable::Staged> staged_;
};
}  // namespace

absl::Status WriteBatchInternal::InsertInto(const WriteBatch& b, MemTable* mem) {
  MemTableInserter inserter(Sequence(b), mem);
  absl::Status s = b.Iterate(&inserter);
  // What Iterate read before a damaged entry is added, as Add one by one would have.
  inserter.Finish();
  return s;
}

}  // namespace cairn::engine
