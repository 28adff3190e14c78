// ReplicaStore: what one node keeps for the cluster (docs/cluster.md, "Replicas"). Every
// record carries its write's version (a hybrid-clock timestamp, hlc.h); a replica keeps a
// record only if it is newer than the one it has, so replicas that see the same writes in
// any order end up equal (last writer wins). A delete is a record too, a tombstone, so an
// older value arriving later cannot bring the key back.
#ifndef CAIRN_CLUSTER_REPLICA_STORE_H_
#define CAIRN_CLUSTER_REPLICA_STORE_H_

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cluster/cluster.pb.h"

namespace cairn::cluster {

// Whether a replaces b: the newer version, and for equal versions (two coordinators in
// one millisecond) a tombstone over a value, then the larger value, so every replica
// picks the same winner whatever order the writes arrive in.
inline bool Supersedes(const pb::Record& a, const pb::Record& b) {
  if (a.version() != b.version()) return a.version() > b.version();
  if (a.tombstone() != b.tombstone()) return a.tombstone();
  return a.value() > b.value();
}

class ReplicaStore {
 public:
  virtual ~ReplicaStore() = default;
  // Stores record under (db, key) unless the stored one supersedes it or is the same;
  // *applied says which.
  virtual absl::Status Apply(int db, std::string_view key, const pb::Record& record,
                             bool* applied) = 0;
  // The stored record, tombstones included; NotFound if there is none.
  virtual absl::StatusOr<pb::Record> Read(int db, std::string_view key) = 0;
  // Up to limit records of db with keys >= start, in key order (tombstones included);
  // *more: records follow the last one returned.
  virtual absl::Status Scan(int db, std::string_view start, size_t limit,
                            std::vector<std::pair<std::string, pb::Record>>* out,
                            bool* more) = 0;
};

// In memory, for tests of the coordinator and of repair.
class MemoryReplicaStore final : public ReplicaStore {
 public:
  absl::Status Apply(int db, std::string_view key, const pb::Record& record,
                     bool* applied) override;
  absl::StatusOr<pb::Record> Read(int db, std::string_view key) override;
  absl::Status Scan(int db, std::string_view start, size_t limit,
                    std::vector<std::pair<std::string, pb::Record>>* out, bool* more) override;
  size_t size();

 private:
  absl::Mutex mu_;
  std::map<std::pair<int, std::string>, pb::Record> records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_REPLICA_STORE_H_
