// EngineReplicaStore: a node's replicas on its engine (docs/cluster.md, "Replicas").
//
// Engine key:   'R' | db (1 byte) | user key      (the cluster's own namespace, apart from
//                                                   the single-node records, 'M' and 'S')
// Engine value: format byte 0x01, then a serialized pb::Versions (the key's versions,
//               canonical order). A value without the format byte is a single pb::Record
//               from before vector clocks, read as the one version.
// Engine key:   'G' | db | user key  ->  serialized pb::Record: a tombstone every replica
//               acknowledged, waiting for its grace period (CollectTombstones).
//
// Apply reads the stored versions and writes the merge only if it changed, under a lock
// stripe of the key, so two replicated writes of one key cannot lose each other. An
// expired version is kept (readers treat it as absent): were it dropped, an older value on
// another replica could come back.
#ifndef CAIRN_CLUSTER_ENGINE_REPLICA_STORE_H_
#define CAIRN_CLUSTER_ENGINE_REPLICA_STORE_H_

#include <array>
#include <atomic>
#include <string>

#include "absl/synchronization/mutex.h"
#include "cairn/engine/db.h"
#include "cluster/replica_store.h"

namespace cairn::cluster {

class EngineReplicaStore final : public ReplicaStore {
 public:
  // db must outlive this object. sync: every Apply is synced (wal-sync always).
  EngineReplicaStore(engine::DB* db, bool sync) : db_(db), sync_(sync) {}

  absl::Status Apply(int db, std::string_view key, const VersionList& versions,
                     bool* changed) override;
  absl::StatusOr<VersionList> Read(int db, std::string_view key) override;
  absl::Status Scan(int db, std::string_view start, size_t limit,
                    std::vector<std::pair<std::string, VersionList>>* out, bool* more) override;
  absl::Status MarkTombstoneSeen(int db, std::string_view key,
                                 const pb::Record& tombstone) override;
  absl::StatusOr<size_t> CollectTombstones(uint64_t now_hlc, uint64_t grace_ms) override;
  uint64_t siblings_dropped() const override { return dropped_.load(); }
  absl::Status Clear(int db) override;

  static std::string EngineKey(int db, std::string_view key, char space = 'R');
  static constexpr char kFormatVersion = 0x01;

 private:
  absl::Mutex& StripeOf(const std::string& engine_key);
  static absl::StatusOr<VersionList> Decode(std::string_view value);

  static constexpr size_t kStripes = 64;
  engine::DB* const db_;
  const bool sync_;
  std::array<absl::Mutex, kStripes> stripes_;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_ENGINE_REPLICA_STORE_H_
