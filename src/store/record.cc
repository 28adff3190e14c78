#include "store/record.h"

#include "base/coding.h"
#include "base/status.h"

namespace cairn::store {
namespace {
constexpr uint8_t kHasExpiry = 0x80;
}  // namespace

std::string_view TypeName(ValueType t) {
  switch (t) {
    case ValueType::kString:
      return "string";
    case ValueType::kHash:
      return "hash";
    case ValueType::kList:
      return "list";
    case ValueType::kSet:
      return "set";
    case ValueType::kZSet:
      return "zset";
    case ValueType::kStream:
      return "stream";
  }
  return "none";
}

std::string EncodeKey(int db, std::string_view user_key) {
  std::string k;
  k.reserve(2 + user_key.size());
  k.push_back(kMetaNamespace);
  k.push_back(static_cast<char>(db));
  k.append(user_key.data(), user_key.size());
  return k;
}

std::string ExpiryIndexKey(int64_t expire_at_ms, int physical_db, std::string_view user_key) {
  std::string k;
  k.reserve(10 + user_key.size());
  k.push_back(kExpiryNamespace);
  for (int shift = 56; shift >= 0; shift -= 8) {
    k.push_back(static_cast<char>(static_cast<uint64_t>(expire_at_ms) >> shift));
  }
  k.push_back(static_cast<char>(physical_db));
  k.append(user_key.data(), user_key.size());
  return k;
}

bool ParseExpiryIndexKey(std::string_view key, int64_t* expire_at_ms, int* physical_db,
                         std::string_view* user_key) {
  if (key.size() < 10 || key[0] != kExpiryNamespace) return false;
  uint64_t at = 0;
  for (int i = 1; i <= 8; i++) at = (at << 8) | static_cast<uint8_t>(key[i]);
  *expire_at_ms = static_cast<int64_t>(at);
  *physical_db = static_cast<uint8_t>(key[9]);
  *user_key = key.substr(10);
  return true;
}

std::string DbPrefix(int db) { return EncodeKey(db, ""); }

std::string DbEnd(int db) {
  std::string k = DbPrefix(db);
  k[1] = static_cast<char>(db + 1);
  if (db + 1 >= kMaxDatabases) k = std::string(1, kMetaNamespace + 1);
  return k;
}

void EncodeRecord(const Record& r, std::string* out) {
  out->clear();
  out->reserve(9 + r.value.size());
  const uint8_t type = static_cast<uint8_t>(r.type);
  if (r.expire_at_ms > 0) {
    out->push_back(static_cast<char>(type | kHasExpiry));
    PutFixed64(out, static_cast<uint64_t>(r.expire_at_ms));
  } else {
    out->push_back(static_cast<char>(type));
  }
  out->append(r.value);
}

absl::Status DecodeRecordView(std::string_view bytes, RecordView* out) {
  if (bytes.empty()) return CorruptionError("empty record");
  const uint8_t first = static_cast<uint8_t>(bytes[0]);
  size_t header = 1;
  out->expire_at_ms = 0;
  if (first & kHasExpiry) {
    if (bytes.size() < 9) return CorruptionError("record expiry truncated");
    out->expire_at_ms = static_cast<int64_t>(DecodeFixed64(bytes.data() + 1));
    header = 9;
  }
  const uint8_t type = first & ~kHasExpiry;
  switch (static_cast<ValueType>(type)) {
    case ValueType::kString:
    case ValueType::kHash:
    case ValueType::kList:
    case ValueType::kSet:
    case ValueType::kZSet:
    case ValueType::kStream:
      break;
    default:
      return CorruptionError("unknown record type");
  }
  out->type = static_cast<ValueType>(type);
  out->value = bytes.substr(header);
  return absl::OkStatus();
}

absl::Status DecodeRecord(std::string bytes, Record* out) {
  RecordView view;
  if (absl::Status s = DecodeRecordView(bytes, &view); !s.ok()) return s;
  const size_t header = bytes.size() - view.value.size();
  out->type = view.type;
  out->expire_at_ms = view.expire_at_ms;
  bytes.erase(0, header);
  out->value = std::move(bytes);
  return absl::OkStatus();
}

}  // namespace cairn::store
