// EngineReplicaStore: a node's replicas on its engine (docs/cluster.md, "Replicas").
//
// Engine key:   'R' | db (1 byte) | user key      (the cluster's own namespace, apart from
//                                                   the single-node records, 'M' and 'S')
// Engine value: a serialized pb::Record (type, value, expiry, tombstone, version)
//
// Apply reads the stored record and writes the new one only if it supersedes it, under a
// lock stripe of the key, so two replicated writes of one key cannot both win. An expired
// record is kept with its version (readers treat it as absent): were it dropped, an older
// value on another replica could come back.
#ifndef CAIRN_CLUSTER_ENGINE_REPLICA_STORE_H_
#define CAIRN_CLUSTER_ENGINE_REPLICA_STORE_H_

#include <array>
#include <string>

#include "absl/synchronization/mutex.h"
#include "cairn/engine/db.h"
#include "cluster/replica_store.h"

namespace cairn::cluster {

class EngineReplicaStore final : public ReplicaStore {
 public:
  // db must outlive this object. sync: every Apply is synced (wal-sync always).
  EngineReplicaStore(engine::DB* db, bool sync) : db_(db), sync_(sync) {}

  absl::Status Apply(int db, std::string_view key, const pb::Record& record,
                     bool* applied) override;
  absl::StatusOr<pb::Record> Read(int db, std::string_view key) override;
  absl::Status Scan(int db, std::string_view start, size_t limit,
                    std::vector<std::pair<std::string, pb::Record>>* out, bool* more) override;

  static std::string EngineKey(int db, std::string_view key);

 private:
  static constexpr size_t kStripes = 64;
  engine::DB* const db_;
  const bool sync_;
  std::array<absl::Mutex, kStripes> stripes_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_ENGINE_REPLICA_STORE_H_
