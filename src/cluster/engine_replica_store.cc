#include "cluster/engine_replica_store.h"

#include <xxhash.h>

#include "base/status.h"
#include "cairn/engine/write_batch.h"

namespace cairn::cluster {

std::string EngineReplicaStore::EngineKey(int db, std::string_view key) {
  std::string k;
  k.reserve(2 + key.size());
  k.push_back('R');
  k.push_back(static_cast<char>(db));
  k.append(key);
  return k;
}

absl::StatusOr<pb::Record> EngineReplicaStore::Read(int db, std::string_view key) {
  std::string value;
  CAIRN_RETURN_IF_ERROR(db_->Get({}, EngineKey(db, key), &value));
  pb::Record r;
  if (!r.ParseFromString(value)) {
    return CorruptionError("replica record does not parse");
  }
  return r;
}

absl::Status EngineReplicaStore::Scan(int db, std::string_view start, size_t limit,
                                      std::vector<std::pair<std::string, pb::Record>>* out,
                                      bool* more) {
  *more = false;
  const std::string prefix = EngineKey(db, "");
  auto it = db_->NewIterator({});
  for (it->Seek(EngineKey(db, start)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (out->size() == limit) {
      *more = true;
      break;
    }
    pb::Record r;
    if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return CorruptionError("replica record does not parse");
    }
    out->emplace_back(std::string(it->key().substr(prefix.size())), std::move(r));
  }
  return it->status();
}

absl::Status EngineReplicaStore::Apply(int db, std::string_view key, const pb::Record& record,
                                       bool* applied) {
  *applied = false;
  const std::string engine_key = EngineKey(db, key);
  absl::MutexLock l(&stripes_[XXH3_64bits(engine_key.data(), engine_key.size()) % kStripes]);
  auto current = Read(db, key);
  if (current.ok()) {
    if (!Supersedes(record, *current)) return absl::OkStatus();
  } else if (!absl::IsNotFound(current.status())) {
    return current.status();
  }
  engine::WriteBatch batch;
  const std::string bytes = record.SerializeAsString();
  // No engine expiry: an expired record must keep its version, or an older value still
  // on another replica (or arriving late) would come back once the engine dropped it.
  // Readers treat an expired record as absent; collecting them (like tombstones) waits
  // for issue 8.
  batch.Put(engine_key, bytes);
  engine::WriteOptions options;
  options.sync = sync_;
  CAIRN_RETURN_IF_ERROR(db_->Write(options, batch));
  *applied = true;
  return absl::OkStatus();
}

}  // namespace cairn::cluster
