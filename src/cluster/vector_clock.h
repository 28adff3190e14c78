// Vector clocks (Lamport 1978; Dynamo, Riak): a version's causal history as one counter
// per node that coordinated a write of the key. Version a descends b when every counter
// of b is at most a's: a was written by someone who had seen b, so a supersedes it.
// Neither descending the other means concurrent writes: replicas keep both (siblings,
// versions.h) until a write that saw both supersedes them.
//
// A clock is the repeated pb::ClockEntry of a record, kept sorted by node id with no
// duplicate node. Clocks are pruned past a bound (least recently incremented entries
// first, as Riak does): a pruned clock can only look concurrent with versions it in fact
// descends, which keeps a sibling too many, never loses one.
#ifndef CAIRN_CLUSTER_VECTOR_CLOCK_H_
#define CAIRN_CLUSTER_VECTOR_CLOCK_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "cluster/cluster.pb.h"

namespace cairn::cluster {

using Clock = google::protobuf::RepeatedPtrField<pb::ClockEntry>;

enum class ClockOrder { kEqual, kBefore, kAfter, kConcurrent };

// How a relates to b: kBefore if b descends a and they differ, kAfter the reverse.
ClockOrder Compare(const Clock& a, const Clock& b);

// Whether a descends b (a's history includes b's; equal clocks descend each other).
inline bool Descends(const Clock& a, const Clock& b) {
  const ClockOrder o = Compare(a, b);
  return o == ClockOrder::kEqual || o == ClockOrder::kAfter;
}

// into := the pointwise maximum of into and other (each entry's newer timestamp).
void Merge(Clock* into, const Clock& other);

// The counter of node in clock (0: absent).
uint64_t CounterOf(const Clock& clock, std::string_view node);

// Sets node's counter to `counter` (which must exceed its current one) and its timestamp
// to `timestamp`, inserting the entry in order.
void Advance(Clock* clock, std::string_view node, uint64_t counter, uint64_t timestamp);

// Drops the entries least recently advanced until at most max_entries remain. The entry
// of `keep` (the node writing now) is never dropped.
void Prune(Clock* clock, size_t max_entries, std::string_view keep);

// "node:counter,node:counter" in node order, for INFO-style output and tests.
std::string ClockString(const Clock& clock);

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_VECTOR_CLOCK_H_
