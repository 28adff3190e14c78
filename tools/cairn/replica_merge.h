// Merging cluster nodes' replicas offline, for `cairn cluster restore` (docs/backup.md).
#ifndef CAIRN_TOOLS_CAIRN_REPLICA_MERGE_H_
#define CAIRN_TOOLS_CAIRN_REPLICA_MERGE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace cairn::tools {

// Applies every replicated key and collection register of the data directory `from` (a
// cluster node's, closed) to the one at `into`, as a replica applies a write it receives
// (cluster::EngineReplicaStore::Apply: versions merged by their causal history, so the
// newer copy wins and concurrent ones stay siblings). Returns the keys applied.
absl::StatusOr<uint64_t> MergeReplicas(const std::string& from, const std::string& into);

}  // namespace cairn::tools

#endif  // CAIRN_TOOLS_CAIRN_REPLICA_MERGE_H_
