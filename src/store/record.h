// A stored value as the data model sees it: a type, an optional expiry and a payload,
// under an engine key that names the logical database and the user key.
//
// Engine key:   'M' | db (1 byte) | user key        ("metadata" namespace; members of
//                                                      collections are 'S' keys, see
//                                                      store/collection.h)
// Engine value: type (1 byte, high bit set when an expiry follows)
//               | [fixed64 expire-at, Unix milliseconds] | payload
//
// Expiring records are also written with the engine's own expiry (PutWithExpiry), so an
// expired key reads as absent everywhere and compaction removes it; the copy of the
// expiry in the value lets TTL and PERSIST read it back. Documented with versions in
// docs/formats/data-types.md.
#ifndef CAIRN_STORE_RECORD_H_
#define CAIRN_STORE_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cairn::store {

// The type byte of a record (never renumber: it is on disk).
enum class ValueType : uint8_t {
  kString = 's',
  kHash = 'h',
  kList = 'l',
  kSet = 't',
  kZSet = 'z',
  kStream = 'x',
};

// Hashes, lists, sets and sorted sets: the record holds the collection's metadata
// (store/collection.h) and each member is an engine key of its own.
inline bool IsCollection(ValueType t) { return t != ValueType::kString; }

// Redis's TYPE name for t.
std::string_view TypeName(ValueType t);

// The latest expiry a record can carry (the engine keeps expiries in microseconds):
// about the year 294 000.
inline constexpr int64_t kMaxExpireAtMs = INT64_MAX / 1000;

struct Record {
  ValueType type = ValueType::kString;
  int64_t expire_at_ms = 0;  // Unix milliseconds; 0: never expires
  std::string value;
};

// A record decoded in place: value points into the encoded bytes.
struct RecordView {
  ValueType type = ValueType::kString;
  int64_t expire_at_ms = 0;
  std::string_view value;
};

// First byte of every record's engine key.
inline constexpr char kMetaNamespace = 'M';

// The expiry index: every record written with an expiry also writes the empty value
// under 'E' | big-endian fixed64 expire_at_ms | byte physical db | user key, so the
// keys whose time passed are one range scan, oldest first (the server's active expiry).
// An entry outlives what it indexed when the key is deleted, rewritten or given another
// expiry: the reader checks the record before acting on it.
inline constexpr char kExpiryNamespace = 'E';
std::string ExpiryIndexKey(int64_t expire_at_ms, int physical_db, std::string_view user_key);
// false if key is not an expiry index key.
bool ParseExpiryIndexKey(std::string_view key, int64_t* expire_at_ms, int* physical_db,
                         std::string_view* user_key);

// Number of logical databases a key prefix can name.
inline constexpr int kMaxDatabases = 256;

std::string EncodeKey(int db, std::string_view user_key);
// The first engine key of db and the first key after it.
std::string DbPrefix(int db);
std::string DbEnd(int db);
// The user key of an engine key made by EncodeKey.
inline std::string_view DecodeUserKey(std::string_view engine_key) { return engine_key.substr(2); }

void EncodeRecord(const Record& r, std::string* out);
// Corruption if the bytes are not a record. Takes the encoded bytes by value: the
// payload is moved into the record, not copied.
absl::Status DecodeRecord(std::string bytes, Record* out);
absl::Status DecodeRecordView(std::string_view bytes, RecordView* out);

}  // namespace cairn::store

#endif  // CAIRN_STORE_RECORD_H_
