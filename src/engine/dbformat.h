// Internal keys: how a user key, its sequence number and its kind are packed for
// memtables and tables. See docs/formats/sstable.md.
//
//   internal key := user_key | fixed64((sequence << 8) | type)
//
// Ordering: user key ascending (bytewise), then sequence descending, then type
// descending — so the newest version of a key comes first.
#ifndef CAIRN_ENGINE_DBFORMAT_H_
#define CAIRN_ENGINE_DBFORMAT_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "base/coding.h"

namespace cairn::engine {

using SequenceNumber = uint64_t;
// Sequence numbers use 56 bits; the low byte of the packed tag is the type.
constexpr SequenceNumber kMaxSequenceNumber = (uint64_t{1} << 56) - 1;

enum ValueType : uint8_t {
  kTypeDeletion = 0,
  kTypeValue = 1,
  // A value with a time to live: stored value = fixed64 expire-at (Unix microseconds) |
  // the user's value. From the expire-at time on, it reads as a deletion.
  kTypeValueWithExpiry = 2,
  // A value kept in a blob file (key-value separation, blob_store.h): stored value =
  // fixed64 expire-at (Unix microseconds, 0: never) | blob reference (blob_format.h).
  kTypeBlobIndex = 3,
};
// The highest type: a seek key with it sorts before every entry of the same sequence.
constexpr ValueType kValueTypeForSeek = kTypeBlobIndex;

inline bool IsValidValueType(uint8_t t) { return t <= kTypeBlobIndex; }

// What an entry means to a reader at time now (Unix microseconds). kBlob: the value is
// in a blob file and *value is the reference to it.
enum class EntryState { kValue, kAbsent, kCorrupt, kBlob };

// For kValue, *value is the user's value (the stored bytes without any expiry header).
inline EntryState ResolveEntry(ValueType type, std::string_view stored, uint64_t now,
                               std::string_view* value) {
  switch (type) {
    case kTypeValue:
      *value = stored;
      return EntryState::kValue;
    case kTypeValueWithExpiry:
      if (stored.size() < 8) return EntryState::kCorrupt;
      if (now >= DecodeFixed64(stored.data())) return EntryState::kAbsent;
      *value = stored.substr(8);
      return EntryState::kValue;
    case kTypeBlobIndex: {
      if (stored.size() < 8) return EntryState::kCorrupt;
      const uint64_t expire_at = DecodeFixed64(stored.data());
      if (expire_at != 0 && now >= expire_at) return EntryState::kAbsent;
      *value = stored.substr(8);
      return EntryState::kBlob;
    }
    case kTypeDeletion:
      return EntryState::kAbsent;
  }
  return EntryState::kCorrupt;
}

inline uint64_t PackSequenceAndType(SequenceNumber seq, ValueType t) { return (seq << 8) | t; }

struct ParsedInternalKey {
  std::string_view user_key;
  SequenceNumber sequence = 0;
  ValueType type = kTypeValue;
};

inline void AppendInternalKey(std::string* dst, std::string_view user_key, SequenceNumber seq,
                              ValueType t) {
  dst->append(user_key.data(), user_key.size());
  PutFixed64(dst, PackSequenceAndType(seq, t));
}

inline std::string MakeInternalKey(std::string_view user_key, SequenceNumber seq, ValueType t) {
  std::string k;
  AppendInternalKey(&k, user_key, seq, t);
  return k;
}

// False if the key is too short or its type byte is unknown (corruption).
inline bool ParseInternalKey(std::string_view ikey, ParsedInternalKey* out) {
  if (ikey.size() < 8) return false;
  uint64_t tag = DecodeFixed64(ikey.data() + ikey.size() - 8);
  uint8_t t = static_cast<uint8_t>(tag & 0xff);
  if (!IsValidValueType(t)) return false;
  out->user_key = ikey.substr(0, ikey.size() - 8);
  out->sequence = tag >> 8;
  out->type = static_cast<ValueType>(t);
  return true;
}

// REQUIRES: ikey.size() >= 8.
inline std::string_view ExtractUserKey(std::string_view ikey) {
  return ikey.substr(0, ikey.size() - 8);
}

// Total order on internal keys. Keys shorter than 8 bytes (only possible in corrupted
// input) order by their raw bytes, so comparisons never read out of bounds.
struct InternalKeyComparator {
  int Compare(std::string_view a, std::string_view b) const {
    if (a.size() < 8 || b.size() < 8) return a.compare(b);
    int r = ExtractUserKey(a).compare(ExtractUserKey(b));
    if (r != 0) return r;
    uint64_t at = DecodeFixed64(a.data() + a.size() - 8);
    uint64_t bt = DecodeFixed64(b.data() + b.size() - 8);
    return at > bt ? -1 : (at < bt ? 1 : 0);
  }
};

// The key a point lookup searches for: the newest entry of user_key at or below the
// snapshot sequence. Holds the memtable encoding (varint length prefix) and exposes
// both views. Keys up to ~200 bytes need no heap allocation.
class LookupKey {
 public:
  LookupKey(std::string_view user_key, SequenceNumber seq) {
    const size_t needed = user_key.size() + 8 + kMaxVarint32Bytes;
    char* dst = space_;
    if (needed > sizeof(space_)) {
      heap_.reset(new char[needed]);
      dst = heap_.get();
    }
    start_ = dst;
    dst = EncodeVarint32(dst, static_cast<uint32_t>(user_key.size() + 8));
    kstart_ = dst;
    if (!user_key.empty()) std::memcpy(dst, user_key.data(), user_key.size());
    dst += user_key.size();
    EncodeFixed64(dst, PackSequenceAndType(seq, kValueTypeForSeek));
    end_ = dst + 8;
  }
  LookupKey(const LookupKey&) = delete;
  LookupKey& operator=(const LookupKey&) = delete;

  // varint length | internal key (the memtable's entry prefix).
  std::string_view memtable_key() const { return std::string_view(start_, end_ - start_); }
  std::string_view internal_key() const { return std::string_view(kstart_, end_ - kstart_); }
  std::string_view user_key() const { return std::string_view(kstart_, end_ - kstart_ - 8); }

 private:
  const char* start_;
  const char* kstart_;
  const char* end_;
  char space_[200];
  std::unique_ptr<char[]> heap_;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_DBFORMAT_H_
