#include "cluster/replica_store.h"

namespace cairn::cluster {

absl::Status MemoryReplicaStore::Apply(int db, std::string_view key, const pb::Record& record,
                                       bool* applied) {
  absl::MutexLock l(&mu_);
  auto [it, inserted] = records_.try_emplace({db, std::string(key)}, record);
  *applied = inserted || Supersedes(record, it->second);
  if (!inserted && *applied) it->second = record;
  return absl::OkStatus();
}

absl::StatusOr<pb::Record> MemoryReplicaStore::Read(int db, std::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = records_.find({db, std::string(key)});
  if (it == records_.end()) return absl::NotFoundError("no such key");
  return it->second;
}

size_t MemoryReplicaStore::size() {
  absl::MutexLock l(&mu_);
  return records_.size();
}

}  // namespace cairn::cluster
