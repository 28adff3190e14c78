// A key's versions at a replica (docs/cluster.md, "Versions"): the set of writes none of
// which descends another by vector clock (vector_clock.h). Usually one; several when
// writes were concurrent (siblings, as in Dynamo and Riak). Merging is commutative,
// associative and idempotent, so replicas that receive the same versions in any order,
// any number of times, hold the same set.
#ifndef CAIRN_CLUSTER_VERSIONS_H_
#define CAIRN_CLUSTER_VERSIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/cluster.pb.h"
#include "cluster/vector_clock.h"

namespace cairn::cluster {

// A replica keeps at most this many siblings of a key; past it the oldest by hybrid
// clock are dropped (a bound on sibling explosion, as Riak warns of; counted in metrics).
inline constexpr size_t kMaxSiblings = 16;
// Clocks are pruned past this many entries (vector_clock.h, Prune).
inline constexpr size_t kMaxClockEntries = 12;

// Last writer wins for records without a clock (or with equal clocks): the newer hybrid
// timestamp; for equal ones a tombstone over a value, then the larger value, so every
// replica picks the same winner whatever order the writes arrive in.
inline bool Supersedes(const pb::Record& a, const pb::Record& b) {
  if (a.version() != b.version()) return a.version() > b.version();
  if (a.tombstone() != b.tombstone()) return a.tombstone();
  return a.value() > b.value();
}

// Orders any two versions, total and the same on every node: Supersedes, then type,
// expiry, dot and clock. Canonical order (and the RESP winner) follows it.
bool CanonicalBefore(const pb::Record& a, const pb::Record& b);

// A version's causal history: its clock (the context it was written in) and its dot. A
// write with this as its context supersedes the version.
Clock FullClock(const pb::Record& r);

// How version a relates to version b: kAfter if a supersedes b, kBefore if b supersedes
// a, kEqual for the same write, kConcurrent for siblings. With dots on both (every write
// since dotted version vectors): a supersedes b when a's clock covers b's dot and not
// the reverse. Otherwise their full clocks are compared; equal clocks of different
// records fall back to CanonicalBefore.
ClockOrder Relate(const pb::Record& a, const pb::Record& b);

// A clock from outside (a client's context, a peer): sorted by node, one entry per node.
Clock NormalizeClock(const Clock& clock);

// Merges incoming into *versions: drops the versions incoming descends, drops incoming if
// one of them descends it, keeps both when concurrent. Returns whether *versions changed.
// *dropped counts siblings dropped over kMaxSiblings (may be null).
bool MergeVersion(std::vector<pb::Record>* versions, const pb::Record& incoming,
                  size_t* dropped = nullptr);

// Puts versions in canonical order (newest first by Supersedes), so equal sets are equal
// vectors and digest alike.
void Canonicalize(std::vector<pb::Record>* versions);

// Whether two canonical sets hold the same versions.
bool SameVersions(const std::vector<pb::Record>& a, const std::vector<pb::Record>& b);

// A 64-bit digest of a canonical set (replica comparison, CAIRN.REPLICA).
uint64_t VersionsDigest(const std::vector<pb::Record>& versions);

// The version RESP reads return: the last writer's (first in canonical order); null if
// empty.
const pb::Record* Resolve(const std::vector<pb::Record>& versions);

// The merge of every version's full clock: a write carrying it supersedes them all.
Clock MergedClock(const std::vector<pb::Record>& versions);

// The tombstone collection rule: a replica may drop a key's versions when they are
// exactly `seen`, a tombstone every replica of the key acknowledged, and that tombstone
// was written at least grace_ms before now_hlc. The grace is at least the hint window,
// so no hint of an older value can still be delivered and bring the key back.
bool TombstoneCollectable(const std::vector<pb::Record>& versions, const pb::Record& seen,
                          uint64_t now_hlc, uint64_t grace_ms);

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_VERSIONS_H_
