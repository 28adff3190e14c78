// Sorted-set access shared by the commands built on sorted sets (commands_zset.cc, the
// GEO commands, SORT): loading, scores, ordered iteration and writing a whole set.
// Layout: each element is two members, by member ('m' | member -> score) and by score
// ('s' | score | member -> ""); see commands_zset.cc.
#ifndef CAIRN_SERVER_ZSET_H_
#define CAIRN_SERVER_ZSET_H_

#include <string_view>

#include "absl/functional/function_ref.h"
#include "server/collections.h"

namespace cairn::server {

// Loads key as a sorted set; false after replying with the error (WRONGTYPE...).
bool LoadZSet(CommandContext& c, std::string_view key, Collection* z);
// A member's score; false after replying with a storage error; *found false if absent.
bool ZSetScore(CommandContext& c, const Collection& z, std::string_view member, double* score,
               bool* found);
// Adds an element (both of its members) to z in batch; the caller counts z.meta.size.
void PutZSetElement(CollectionBatch& batch, const Collection& z, std::string_view member,
                    double score);
// Visits elements in score order (reverse: from the highest), until fn returns false;
// false after replying with a storage error.
bool ForEachByScore(CommandContext& c, const Collection& z, bool reverse,
                    absl::FunctionRef<bool(std::string_view member, double score)> fn);
// Visits the elements whose score is in [min, max), in score order, until fn returns
// false; false after replying with a storage error.
bool ForEachInScoreRange(CommandContext& c, const Collection& z, double min, double max,
                         absl::FunctionRef<bool(std::string_view member, double score)> fn);

// Replaces dst by a sorted set of these (member, score) elements (none: deletes it) and
// replies their count, as the *STORE commands do. Members must be distinct.
template <typename Elements>
void StoreZSet(CommandContext& c, std::string_view dst, const Elements& elements) {
  bool exists = true;
  if (elements.empty() && !KeyExists(c, dst, &exists)) return;
  if (!exists) return c.out.Integer(0);
  CollectionBatch batch(c);
  batch.DeleteKey(dst);
  if (!elements.empty()) {
    Collection z;
    z.key = std::string(dst);
    z.type = store::ValueType::kZSet;
    batch.Create(&z);
    for (const auto& [m, sc] : elements) PutZSetElement(batch, z, m, sc);
    z.meta.size = elements.size();
    batch.SaveMeta(z);
  }
  if (batch.Commit()) c.out.Integer(static_cast<int64_t>(elements.size()));
}

}  // namespace cairn::server

#endif  // CAIRN_SERVER_ZSET_H_
