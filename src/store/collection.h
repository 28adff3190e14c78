// Collections on the engine: hashes, lists, sets, sorted sets and streams (Kvrocks's layout).
//
// A collection is a record (store/record.h) whose payload is its metadata, plus one
// engine key per member:
//
//   metadata:  'M' | db | user key  ->  type | [expire-at] | fixed64 version | fixed64 size
//                                                           | [fixed64 head]   (lists)
//                  | [fixed64 last ms, last seq, max-deleted ms, max-deleted seq,
//                     entries added]                                          (streams)
//   member:    'S' | db | fixed32 BE len(user key) | user key | fixed64 BE version | member
//
// The version is fresh for every collection created, so deleting or overwriting one is
// a single write of its metadata key: the members of older versions are unreachable at
// once and compaction drops them (MemberReclaimFilter). Formats and versions are in
// docs/formats/data-types.md.
#ifndef CAIRN_STORE_COLLECTION_H_
#define CAIRN_STORE_COLLECTION_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "store/record.h"

namespace cairn::store {

// First byte of every member's engine key.
inline constexpr char kMemberNamespace = 'S';

// Lists: element i (0-based) is the member named fixed64 BE (head + i). A new list
// starts in the middle of the index space so it can grow either way.
inline constexpr uint64_t kListMiddle = uint64_t{1} << 63;

struct CollectionMeta {
  uint64_t version = 0;
  uint64_t size = 0;             // members (fields, elements); streams: entries
  uint64_t head = kListMiddle;   // lists: index of the first element
  // Streams: the last ID added, the largest ID XDEL removed, entries ever added.
  uint64_t last_ms = 0, last_seq = 0;
  uint64_t max_deleted_ms = 0, max_deleted_seq = 0;
  uint64_t entries_added = 0;
};

// The payload of a collection's record.
std::string EncodeCollectionMeta(ValueType type, const CollectionMeta& meta);
// Corruption if payload is not a metadata payload of type.
absl::Status DecodeCollectionMeta(ValueType type, std::string_view payload, CollectionMeta* meta);

// The engine-key prefix of (physical db, user key, version)'s members; a member's key is
// the prefix followed by the member.
std::string MemberPrefix(int physical_db, std::string_view user_key, uint64_t version);
// Splits a member engine key; false if it is not one.
bool ParseMemberKey(std::string_view engine_key, int* physical_db, std::string_view* user_key,
                    uint64_t* version, std::string_view* member);

// Member names of list elements: the index, big-endian (so members sort by index).
std::string ListIndexMember(uint64_t index);
uint64_t DecodeListIndexMember(std::string_view member);

// Sorted sets keep two members per element: kZSetByMember | member -> score, and
// kZSetByScore | score (order-preserving 8 bytes) | member -> "", so ranges by score
// and by member are both scans.
inline constexpr char kZSetByMember = 'm';
inline constexpr char kZSetByScore = 's';
std::string EncodeScore(double score);  // 8 bytes that sort as the doubles do
double DecodeScore(std::string_view eight_bytes);
std::string ZSetMemberKey(std::string_view member);
std::string ZSetScoreKey(double score, std::string_view member);

}  // namespace cairn::store

#endif  // CAIRN_STORE_COLLECTION_H_
