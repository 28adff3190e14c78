// ReplicaStore: what one node keeps for the cluster (docs/cluster.md, "Replicas"). For
// each key, its versions (versions.h): usually one, several when writes were concurrent.
// Applying versions merges them by vector clock, so replicas that see the same writes in
// any order end up equal. A delete is a version too, a tombstone, so an older value
// arriving later cannot bring the key back; tombstones every replica acknowledged are
// collected after a grace period (versions.h, TombstoneCollectable).
#ifndef CAIRN_CLUSTER_REPLICA_STORE_H_
#define CAIRN_CLUSTER_REPLICA_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cluster/cluster.pb.h"
#include "cluster/versions.h"

namespace cairn::cluster {

using VersionList = std::vector<pb::Record>;

class ReplicaStore {
 public:
  virtual ~ReplicaStore() = default;
  // Merges versions into the key's (MergeVersion); *changed says whether they changed.
  virtual absl::Status Apply(int db, std::string_view key, const VersionList& versions,
                             bool* changed) = 0;
  // The writes of a batch, each as Apply, at once (EngineReplicaStore: one engine write);
  // (*changed)[i] for the i-th. On an error none may have been applied.
  virtual absl::Status ApplyBatch(const pb::ReplicaWriteBatch& batch, std::vector<bool>* changed);
  // Reads the key's versions, makes a version from them (make) and merges it in, with no
  // other write of the key between (EngineReplicaStore; others may let one through).
  // make's error is returned as is, and nothing is written then.
  virtual absl::Status Update(int db, std::string_view key,
                              absl::FunctionRef<absl::StatusOr<pb::Record>(const VersionList&)> make);
  // The key's versions in canonical order, tombstones included; empty if none.
  virtual absl::StatusOr<VersionList> Read(int db, std::string_view key) = 0;
  // Up to limit keys of db >= start with their versions, in key order; *more: keys
  // follow the last one returned.
  virtual absl::Status Scan(int db, std::string_view start, size_t limit,
                            std::vector<std::pair<std::string, VersionList>>* out,
                            bool* more) = 0;
  // Every replica of the key stored `tombstone`: remember it for CollectTombstones.
  virtual absl::Status MarkTombstoneSeen(int db, std::string_view key,
                                         const pb::Record& tombstone) = 0;
  // Drops every remembered key whose versions are TombstoneCollectable now; returns how
  // many were dropped. Remembered keys written since are forgotten.
  virtual absl::StatusOr<size_t> CollectTombstones(uint64_t now_hlc, uint64_t grace_ms) = 0;
  // Siblings dropped over kMaxSiblings so far.
  virtual uint64_t siblings_dropped() const = 0;
  // FLUSHDB: forgets every key of db (-1: of every db) and its tombstone marks, outright
  // (no tombstones: the cluster runs it on every replica).
  virtual absl::Status Clear(int db) = 0;
  // Forgets the key outright (no tombstone: a node that no longer owns it, once its
  // owners have it), if its versions are still `expected`; true if it was dropped.
  virtual absl::StatusOr<bool> Drop(int db, std::string_view key, const VersionList& expected) = 0;
  // Makes every write so far durable (before a transfer cursor moves past it).
  virtual absl::Status Sync() { return absl::OkStatus(); }
};

// In memory, for tests of the coordinator and of repair.
class MemoryReplicaStore final : public ReplicaStore {
 public:
  absl::Status Apply(int db, std::string_view key, const VersionList& versions,
                     bool* changed) override;
  absl::StatusOr<VersionList> Read(int db, std::string_view key) override;
  absl::Status Scan(int db, std::string_view start, size_t limit,
                    std::vector<std::pair<std::string, VersionList>>* out, bool* more) override;
  absl::Status MarkTombstoneSeen(int db, std::string_view key,
                                 const pb::Record& tombstone) override;
  absl::StatusOr<size_t> CollectTombstones(uint64_t now_hlc, uint64_t grace_ms) override;
  uint64_t siblings_dropped() const override;
  absl::Status Clear(int db) override;
  absl::StatusOr<bool> Drop(int db, std::string_view key, const VersionList& expected) override;
  size_t size();
  // Drops the key as if this replica had lost it (tests of repair).
  void Forget(int db, std::string_view key);

 private:
  using Key = std::pair<int, std::string>;
  mutable absl::Mutex mu_;
  std::map<Key, VersionList> records_ ABSL_GUARDED_BY(mu_);
  std::map<Key, pb::Record> seen_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_REPLICA_STORE_H_
