// Counters under replication (docs/cluster.md, "Counters"): a string that INCR, INCRBY,
// DECR, DECRBY or INCRBYFLOAT wrote keeps, beside its value, each node's contribution
// (pb::Counter, a PN-counter as Riak's and Cassandra's) on top of an offset:
//
//   value = offset + sum of every node's entry
//
// A node that coordinates an increment adds it to its own entry and counts it (`count`),
// so of two copies of an entry the one with the larger count is the newer; concurrent
// versions (both sides of a partition) merge entry by entry, and every acknowledged
// increment counts once. A SET or DEL over a counter is a reset with normal causality: it
// keeps the entries it saw and moves the offset so that the value is what it wrote; an
// increment it did not see (a concurrent one) still adds on top. Of concurrent resets the
// newest (hybrid timestamp) wins.
//
// Pure functions on messages; no I/O, thread-compatible.
#ifndef CAIRN_CLUSTER_COUNTER_H_
#define CAIRN_CLUSTER_COUNTER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "cluster/cluster.pb.h"
#include "cluster/vector_clock.h"

namespace cairn::cluster {

// An offset_version that stands for the hybrid timestamp of the write that set the
// offset (a reset built before that timestamp exists): the coordinating replica replaces
// it in a string's counter before storing; in a member's counter it stays and means the
// member's own dot's timestamp (resolved when the member is read).
inline constexpr uint64_t kOffsetOfThisWrite = UINT64_MAX;

// The counter's value as Redis prints it: an integer, or INCRBYFLOAT's text.
std::string CounterValue(const pb::Counter& c);

// A counter that reads as `value` (a plain string's text), its offset set at `version`
// with no entries; nullopt if value is not a number.
std::optional<pb::Counter> CounterFromValue(std::string_view value, uint64_t version);

// Records that node changed the counter's value from `before` to `after` (the texts an
// increment command read and wrote; "0" for an absent key): adds the difference to
// node's entry and sets its count to at least min_count (a clock reading: so an entry
// started again, after a DEL or HDEL, is newer than an old copy of it elsewhere), and
// above its previous count. Integer counters stay integers while both texts are
// integers. InvalidArgument if a text is not a number or an integer entry would overflow.
absl::Status AddIncrement(pb::Counter* c, std::string_view node, std::string_view before,
                          std::string_view after, uint64_t min_count = 0);

// The merge of concurrent counters: each node's entry with the larger count, the offset
// (and `deleted`) of the newest offset_version (ties: the first given).
// REQUIRES: !counters.empty().
pb::Counter MergeCounters(const std::vector<const pb::Counter*>& counters);

// Whether a merged counter exists: its offset is not a DEL's, or some entry moved past
// what that DEL saw. `reset` is the counter whose offset the merge took.
bool CounterLive(const pb::Counter& merged, const pb::Counter& reset);

// A write over a counter it saw (`seen`, merged): a SET of `value` (nullopt: a DEL) at
// `version` keeps seen's entries and moves the offset so the write reads as written.
// nullopt if value is not a number (the write stays a plain string: last writer wins).
std::optional<pb::Counter> ResetCounter(const pb::Counter& seen,
                                        std::optional<std::string_view> value,
                                        uint64_t version);

// A coordinating replica's new version over what it holds (`local`): a plain SET or a DEL
// over a counter among the versions `context` covers becomes a reset of that counter
// (ResetCounter at `now`), so that increments it did not see still count when the versions
// meet. Other records are left as they are.
void AbsorbCounters(const std::vector<pb::Record>& local, const Clock& context, uint64_t now,
                    pb::Record* record);

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_COUNTER_H_
