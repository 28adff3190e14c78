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
  kRdbStreamListpacks2 = 19,  // *
};

// Redis's crc64 of data, continuing from crc (0 to start).
uint64_t RdbCrc64(uint64_t crc, std::string_view data);

// A stream as STREAM_LISTPACKS_2 carries it (Redis 7.0's stream: entries, IDs, groups).
struct RdbStreamId {
  uint64_t ms = 0, seq = 0;
  bool operator==(const RdbStreamId&) const = default;
  bool operator<(const RdbStreamId& o) const { return ms < o.ms || (ms == o.ms && seq < o.seq); }
};
struct RdbStream {
  struct Entry {
    RdbStreamId id;
    std::vector<std::string> fields;  // field, value, field, value...
    bool operator==(const Entry&) const = default;
  };
  struct Pending {
    RdbStreamId id;
    int64_t delivery_ms = 0;
    uint64_t deliveries = 0;
    std::string consumer;
    bool operator==(const Pending&) const = default;
  };
  struct Consumer {
    std::string name;
    int64_t seen_ms = 0;
    bool operator==(const Consumer&) const = default;
  };
  struct Group {
    std::string name;
    RdbStreamId last;
    int64_t entries_read = -1;     // -1: unknown
    std::vector<Pending> pending;  // in ID order, each owned by one of consumers
    std::vector<Consumer> consumers;
    bool operator==(const Group&) const = default;
  };
  std::vector<Entry> entries;  // in ID order
  RdbStreamId last_id, max_deleted;
  uint64_t entries_added = 0;
  std::vector<Group> groups;
  bool operator==(const RdbStream&) const = default;
};

// A value as a payload carries it, decoded. Which members are used depends on type.
struct RdbValue {
  store::ValueType type = store::ValueType::kString;
  std::string string;                                       // kString
  std::vector<std::string> elements;                        // kList (in order), kSet
  std::vector<std::pair<std::string, std::string>> fields;  // kHash: field, value
  std::vector<std::pair<std::string, double>> scores;       // kZSet: member, score
  RdbStream stream;                                         // kStream
};

// Whether payload ends in a footer of a version cairn reads (<= kRdbVersion) and a CRC
// that matches: RESTORE's "DUMP payload version or checksum are wrong" otherwise.
bool VerifyRdbPayload(std::string_view payload);

// Decodes a verified payload into *out. Every length is checked against the bytes that
// remain, so a forged payload costs memory in proportion to its size (LZF strings: at
// most the 88-fold expansion LZF can encode; a stream's entries that share their node's
// master fields: copies of at most 64 MB plus 64 times the payload) and never reads out
// of bounds.
// Returns InvalidArgument for bytes that do not parse as one value of a type and
// encoding Redis 7.0 writes (RESTORE's "Bad data format"; empty collections other than
// streams, duplicate set members, hash fields, sorted-set members, stream groups or
// pending IDs, stream entries out of ID order, a pending entry no consumer owns, NaN
// scores included). Module values are InvalidArgument too: cairn has no modules.
// max_string: the longest string it may hold (proto-max-bulk-len). Decoding is bounded:
// at most 128 x the payload's size (64 MB to 2 GB) of strings plus 64 bytes per
// element, else InvalidArgument, as for any payload that does not parse.
absl::Status ParseRdbPayload(std::string_view payload, RdbValue* out,
                             uint64_t max_string = uint64_t{512} << 20);

// Builds a payload: the type byte, then the object's parts in order, then Finish adds
// the footer. Callers write the parts their type needs (Redis's rdbSaveObject):
//   kRdbString: String(value)
//   kRdbList, kRdbSet: Length(n), then n × String
//   kRdbHash: Length(n), then n × (String field, String value)
//   kRdbZSet2: Length(n), then n × (String member, BinaryDouble score)
//   kRdbStreamListpacks2: Stream(s) alone
class RdbPayloadWriter {
 public:
  explicit RdbPayloadWriter(RdbType type) { out_.push_back(static_cast<char>(type)); }
  void Length(uint64_t n);
  void String(std::string_view s);  // length-prefixed, uncompressed
  void BinaryDouble(double d);      // 8 bytes little-endian IEEE 754
  // A whole stream as Redis 7.0 writes one: listpack nodes of at most 100 entries.
  // REQUIRES: s.entries and each group's pending entries in ID order; each pending
  // entry's consumer among its group's consumers (Redis loads nothing else).
  void Stream(const RdbStream& s);
  // The payload with its version and CRC; the writer is left empty.
  std::string Finish();

 private:
  std::string out_;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_RDB_PAYLOAD_H_
