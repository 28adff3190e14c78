// One value from a key's concurrent versions (siblings), by the key's data type
// (docs/cluster.md, "Data types under concurrency"):
//
// - strings: the last writer's (versions.h, Resolve); but when a counter is among them
//   (counter.h) the counters merge, so increments on every side count;
// - hashes, sets and sorted sets: member by member (an observed-remove merge, as Riak's
//   ORSWOT and maps): each member carries the dot of the write that set it
//   (pb::CollectionState.dots); a member survives unless a sibling's history includes
//   its dot and that sibling no longer has it (it removed or overwrote it). Concurrent
//   writes of one member keep the newer by hybrid timestamp. A DEL, or a write of another
//   type, removes only the members it saw;
// - lists: the last writer's (a list's elements have no identity across writers).
//
// Tombstones and versions of other types take part as empty values with their history.
// Pure functions; thread-compatible.
#ifndef CAIRN_CLUSTER_TYPE_MERGE_H_
#define CAIRN_CLUSTER_TYPE_MERGE_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "cluster/cluster.pb.h"

namespace cairn::cluster {

// The value reads serve for versions (in canonical order, versions.h): nullopt if the key
// is absent (no versions, a tombstone won, or nothing survived the merge). The result
// has the type, expiry, version, clock and dot of the newest version it merged, and for
// collections an explicit dot on every member. Expiry is not checked here.
// Corruption if a version's payload does not parse.
absl::StatusOr<std::optional<pb::Record>> MergeForRead(const std::vector<pb::Record>& versions);

// The value of a member's register (registers.h) from its versions: a removal (tombstone)
// concurrent with a write of the member loses to it (add wins, as members of collections
// merge); among live versions the later wins, or their counters merge. nullopt: removed.
absl::StatusOr<std::optional<pb::Record>> MergeRegister(const std::vector<pb::Record>& versions);

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_TYPE_MERGE_H_
