// What the commands of hashes, lists, sets and sorted sets share: loading a key's
// collection with its type checked, reading members, and writing one command's changes
// (members and metadata of one or more collections) as a single atomic batch.
// Layout on the engine: store/collection.h.
#ifndef CAIRN_SERVER_COLLECTIONS_H_
#define CAIRN_SERVER_COLLECTIONS_H_

#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "server/command.h"
#include "store/collection.h"

namespace cairn::server {

// A key as a collection command sees it.
struct Collection {
  std::string key;
  bool exists = false;
  store::ValueType type = store::ValueType::kHash;
  int64_t expire_at_ms = 0;  // kept across changes, as Redis keeps a key's TTL
  store::CollectionMeta meta;
  // The metadata as stored when loaded (stored_version 0: nothing stored): SaveMeta
  // writes only what changed, so overwriting a field or a score writes one entry, not two.
  uint64_t stored_version = 0, stored_size = 0, stored_head = 0;
  int64_t stored_expire_at_ms = 0;
};

// Loads key (in the client's database) expecting type t. Returns false after replying
// with the error (WRONGTYPE, storage error); an absent key loads with exists = false.
bool LoadCollection(CommandContext& c, std::string_view key, store::ValueType t, Collection* coll);
// The same in database db, for any collection type or none: *coll->type says which
// (exists false: absent; a string loads as exists with type kString).
bool LoadAnyType(CommandContext& c, int db, std::string_view key, Collection* coll);

// One member's value, or NotFound.
absl::Status GetMember(CommandContext& c, const Collection& coll, std::string_view member,
                       std::string* value);

// Visits coll's members in [start, end) (empty end: to the last), in byte order or
// reversed, until fn returns false. Returns false after replying with a storage error.
bool ScanMembers(CommandContext& c, const Collection& coll, std::string_view start,
                 std::string_view end, bool reverse,
                 absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn);

// Whether key exists in the client's database (any type), without counting a keyspace
// hit or miss: for a *STORE command whose empty result deletes its destination, which
// touches nothing (WATCH, blocked clients) when there was nothing to delete. False after
// replying with a storage error.
bool KeyExists(CommandContext& c, std::string_view key, bool* exists);

// One command's writes. Nothing is visible until Commit, which applies all at once.
class CollectionBatch {
 public:
  explicit CollectionBatch(CommandContext& c) : c_(c) {}

  // Makes coll an empty collection of its type with a fresh version, if it is absent.
  void Create(Collection* coll);
  void PutMember(const Collection& coll, std::string_view member, std::string_view value);
  void DeleteMember(const Collection& coll, std::string_view member);
  // Writes coll's metadata (with its TTL) or, once it has no members, deletes the key:
  // an empty collection does not exist, as in Redis.
  void SaveMeta(const Collection& coll);
  // Replaces whatever key holds with nothing (its members become garbage).
  void DeleteKey(std::string_view key);
  bool empty() const { return batch_.empty(); }
  // Applies the batch. Returns false after replying with the error.
  bool Commit();

 private:
  int Db() const { return c_.client.db.load(std::memory_order_relaxed); }
  CommandContext& c_;
  std::vector<store::Mutation> batch_;
};

// HSCAN, SSCAN, ZSCAN: parses "key cursor [MATCH pattern] [COUNT n]" (args[2] on),
// visits the members that start with tag ("" for hashes and sets, the by-member tag for
// sorted sets) and replies [next cursor, items]; emit appends one member's items (field
// and value, member, member and score), given the member without the tag.
void ReplyMemberScan(
    CommandContext& c, const Collection& coll, std::string_view tag,
    absl::FunctionRef<void(std::string_view member, std::string_view value,
                           std::vector<std::string>* items)>
        emit);

// Random members (HRANDFIELD, SRANDMEMBER, SPOP, ZRANDMEMBER) among those starting
// with tag: n distinct ones in random order (all of them if n >= size), or n drawn with
// repetition. One pass over the members. Returns false after replying with an error.
bool SampleMembers(CommandContext& c, const Collection& coll, std::string_view tag, uint64_t n,
                   bool distinct, std::vector<std::pair<std::string, std::string>>* out);

// RENAME and MOVE of a collection whose record is r: writes it under (dst_db, dst_key)
// with a fresh version and a copy of every member, and deletes (src_db, src_key), in one
// batch. O(members), where Redis renames in O(1): members are keyed by their
// collection's name. Returns false after replying with an error.
// LMPOP, ZMPOP, BLMPOP, BZMPOP: "numkeys key... <a|b> [COUNT n]" from args[first]; *first_word
// says whether the direction was a (LEFT, MIN) or b. False after replying Redis's error.
bool ParseMultiPop(CommandContext& c, size_t first, const char* a, const char* b,
                   std::vector<std::string_view>* keys, bool* first_word, int64_t* count);

// keep_source: a copy (COPY), the source stays.
bool MoveCollection(CommandContext& c, int src_db, std::string_view src_key,
                    const store::Record& r, int dst_db, std::string_view dst_key, bool keep_source = false);

// Parses a Redis count/index argument; replies kErrNotInteger on failure.
bool ParseIntArg(CommandContext& c, std::string_view arg, int64_t* v);
// The count of SRANDMEMBER, HRANDFIELD and ZRANDMEMBER: an integer in
// [-INT64_MAX, INT64_MAX], with Redis 7's errors.
bool ParseRandomCount(CommandContext& c, std::string_view arg, int64_t* v);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_COLLECTIONS_H_
