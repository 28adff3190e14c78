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

absl::Status MemoryReplicaStore::Scan(int db, std::string_view start, size_t limit,
                                      std::vector<std::pair<std::string, pb::Record>>* out,
                                      bool* more) {
  absl::MutexLock l(&mu_);
  *more = false;
  for (auto it = records_.lower_bound({db, std::string(start)});
       it != records_.end() && it->first.first == db; ++it) {
    if (out->size() == limit) {
      *more = true;
      break;
    }
    out->emplace_back(it->first.second, it->second);
  }
  return absl::OkStatus();
}

size_t MemoryReplicaStore::size() {
  absl::MutexLock l(&mu_);
  return records_.size();
}

}  // namespace cairn::cluster
