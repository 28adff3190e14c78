// The serialized values of DUMP and RESTORE, in Redis 7.0's format (one RDB object plus a
// footer), so values move both ways between cairn and Redis. Layout, accepted encodings
// and versions: docs/formats/dump.md.
//
//   payload = RDB type (1 byte) | RDB object | RDB version (2 bytes LE) | CRC-64 (8 bytes LE)
//
// The CRC-64 is Redis's (Jones polynomial, reflected, initial value 0) over every byte
// before it. Nothing here touches the keyspace: the commands are in commands_dump.cc.
#ifndef CAIRN_SERVER_RDB_PAYLOAD_H_
#define CAIRN_SERVER_RDB_PAYLOAD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "store/record.h"

namespace cairn::server {

// The RDB version cairn writes, and the newest it reads: Redis 7.0's.
inline constexpr uint16_t kRdbVersion = 10;

// RDB object types (Redis's rdb.h; never renumber). Those cairn writes are marked *.
enum RdbType : uint8_t {
  kRdbString = 0,  // *
  kRdbList = 1,    // * (plain list of strings; Redis 7.0 still loads it)
  kRdbSet = 2,     // *
  kRdbZSet = 3,
  kRdbHash = 4,   // *
  kRdbZSet2 = 5,  // * (binary double scores)
  kRdbModule = 6,
  kRdbModule2 = 7,
  kRdbHashZipmap = 9,
  kRdbListZiplist = 10,
  kRdbSetIntset = 11,
  kRdbZSetZiplist = 12,
  kRdbHashZiplist = 13,
  kRdbListQuicklist = 14,
  kRdbStreamListpacks = 15,
  kRdbHashListpack = 16,
  kRdbZSetListpack = 17,
  kRdbListQuicklist2 = 18,
  kRdbStreamListpacks2 = 19,
};

// Redis's crc64 of data, continuing from crc (0 to start).
uint64_t RdbCrc64(uint64_t crc, std::string_view data);

// A value as a payload carries it, decoded. Which members are used depends on type.
struct RdbValue {
  store::ValueType type = store::ValueType::kString;
  std::string string;                                       // kString
  std::vector<std::string> elements;                        // kList (in order), kSet
  std::vector<std::pair<std::string, std::string>> fields;  // kHash: field, value
  std::vector<std::pair<std::string, double>> scores;       // kZSet: member, score
};

// Whether payload ends in a footer of a version cairn reads (<= kRdbVersion) and a CRC
// that matches: RESTORE's "DUMP payload version or checksum are wrong" otherwise.
bool VerifyRdbPayload(std::string_view payload);

// Decodes a verified payload into *out. Every length is checked against the bytes that
// remain, so a forged payload costs no more memory than its own size (LZF strings: at
// most the 88-fold expansion LZF can encode) and never reads out of bounds.
// Returns InvalidArgument for bytes that do not parse as one non-empty value of a type
// and encoding Redis 7.0 writes (RESTORE's "Bad data format"; duplicate set members,
// hash fields or sorted-set members and NaN scores included), Unimplemented for a
// stream or module value, which cairn cannot restore.
absl::Status ParseRdbPayload(std::string_view payload, RdbValue* out);

// Builds a payload: the type byte, then the object's parts in order, then Finish adds
// the footer. Callers write the parts their type needs (Redis's rdbSaveObject):
//   kRdbString: String(value)
//   kRdbList, kRdbSet: Length(n), then n × String
//   kRdbHash: Length(n), then n × (String field, String value)
//   kRdbZSet2: Length(n), then n × (String member, BinaryDouble score)
class RdbPayloadWriter {
 public:
  explicit RdbPayloadWriter(RdbType type) { out_.push_back(static_cast<char>(type)); }
  void Length(uint64_t n);
  void String(std::string_view s);  // length-prefixed, uncompressed
  void BinaryDouble(double d);      // 8 bytes little-endian IEEE 754
  // The payload with its version and CRC; the writer is left empty.
  std::string Finish();

 private:
  std::string out_;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_RDB_PAYLOAD_H_
