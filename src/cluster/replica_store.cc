#include "cluster/replica_store.h"

#include "base/status.h"

namespace cairn::cluster {

absl::Status ReplicaStore::Update(
    int db, std::string_view key,
    absl::FunctionRef<absl::StatusOr<pb::Record>(const VersionList&)> make) {
  auto stored = Read(db, key);
  if (!stored.ok()) return stored.status();
  auto made = make(*stored);
  if (!made.ok()) return made.status();
  bool changed = false;
  return Apply(db, key, {std::move(*made)}, &changed);
}

absl::Status ReplicaStore::ApplyBatch(const pb::ReplicaWriteBatch& batch, std::vector<bool>* changed) {
  changed->assign(batch.writes_size(), false);
  for (int i = 0; i < batch.writes_size(); i++) {
    const pb::ReplicaWrite& w = batch.writes(i);
    bool c = false;
    CAIRN_RETURN_IF_ERROR(Apply(w.db(), w.key(), VersionList(w.versions().begin(), w.versions().end()), &c));
    (*changed)[i] = c;
  }
  return absl::OkStatus();
}

absl::Status MemoryReplicaStore::Apply(int db, std::string_view key, const VersionList& versions,
                                       bool* changed) {
  absl::MutexLock l(&mu_);
  VersionList& stored = records_[{db, std::string(key)}];
  *changed = false;
  size_t dropped = 0;
  for (const pb::Record& r : versions) *changed |= MergeVersion(&stored, r, &dropped);
  dropped_ += dropped;
  if (stored.empty()) records_.erase({db, std::string(key)});
  return absl::OkStatus();
}

absl::StatusOr<VersionList> MemoryReplicaStore::Read(int db, std::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = records_.find({db, std::string(key)});
  if (it == records_.end()) return VersionList();
  return it->second;
}

absl::Status MemoryReplicaStore::Scan(int db, std::string_view start, size_t limit,
                                      std::vector<std::pair<std::string, VersionList>>* out,
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

absl::Status MemoryReplicaStore::MarkTombstoneSeen(int db, std::string_view key,
                                                   const pb::Record& tombstone) {
  absl::MutexLock l(&mu_);
  seen_[{db, std::string(key)}] = tombstone;
  return absl::OkStatus();
}

absl::StatusOr<size_t> MemoryReplicaStore::CollectTombstones(uint64_t now_hlc, uint64_t grace_ms) {
  absl::MutexLock l(&mu_);
  size_t collected = 0;
  for (auto it = seen_.begin(); it != seen_.end();) {
    auto rec = records_.find(it->first);
    if (rec == records_.end()) {
      it = seen_.erase(it);
      continue;
    }
    if (TombstoneCollectable(rec->second, it->second, now_hlc, grace_ms)) {
      records_.erase(rec);
      collected++;
      it = seen_.erase(it);
    } else if (rec->second.size() != 1 || !rec->second[0].tombstone() ||
               rec->second[0].version() != it->second.version()) {
      it = seen_.erase(it);  // written since: not this tombstone any more
    } else {
      ++it;  // still within the grace period
    }
  }
  return collected;
}

uint64_t MemoryReplicaStore::siblings_dropped() const {
  absl::MutexLock l(&mu_);
  return dropped_;
}

void MemoryReplicaStore::Forget(int db, std::string_view key) {
  absl::MutexLock l(&mu_);
  records_.erase({db, std::string(key)});
}

size_t MemoryReplicaStore::size() {
  absl::MutexLock l(&mu_);
  return records_.size();
}

absl::Status MemoryReplicaStore::Clear(int db) {
  absl::MutexLock l(&mu_);
  std::erase_if(records_, [db](const auto& r) { return db < 0 || r.first.first == db; });
  std::erase_if(seen_, [db](const auto& r) { return db < 0 || r.first.first == db; });
  return absl::OkStatus();
}

absl::StatusOr<bool> MemoryReplicaStore::Drop(int db, std::string_view key,
                                              const VersionList& expected) {
  absl::MutexLock l(&mu_);
  auto it = records_.find({db, std::string(key)});
  if (it == records_.end() || it->second.size() != expected.size()) return false;
  for (size_t i = 0; i < expected.size(); i++) {
    if (it->second[i].SerializeAsString() != expected[i].SerializeAsString()) return false;
  }
  records_.erase(it);
  return true;
}

}  // namespace cairn::cluster
