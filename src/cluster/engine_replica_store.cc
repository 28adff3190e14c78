#include "cluster/engine_replica_store.h"

#include <xxhash.h>

#include "base/status.h"
#include "cairn/engine/write_batch.h"

namespace cairn::cluster {

std::string EngineReplicaStore::EngineKey(int db, std::string_view key, char space) {
  std::string k;
  k.reserve(2 + key.size());
  k.push_back(space);
  k.push_back(static_cast<char>(db));
  k.append(key);
  return k;
}

absl::Mutex& EngineReplicaStore::StripeOf(const std::string& engine_key) {
  // The 'G' marker of a key shares the stripe of its 'R' record: hash past the space byte.
  return stripes_[XXH3_64bits(engine_key.data() + 1, engine_key.size() - 1) % kStripes];
}

absl::StatusOr<VersionList> EngineReplicaStore::Decode(std::string_view value) {
  VersionList out;
  if (!value.empty() && value[0] == kFormatVersion) {
    pb::Versions v;
    if (!v.ParseFromArray(value.data() + 1, static_cast<int>(value.size() - 1))) {
      return CorruptionError("replica versions do not parse");
    }
    for (pb::Record& r : *v.mutable_versions()) out.push_back(std::move(r));
    return out;
  }
  pb::Record legacy;  // written before vector clocks: one record
  if (!legacy.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return CorruptionError("replica record does not parse");
  }
  out.push_back(std::move(legacy));
  return out;
}

absl::StatusOr<VersionList> EngineReplicaStore::Read(int db, std::string_view key) {
  std::string value;
  absl::Status s = db_->Get({}, EngineKey(db, key), &value);
  if (absl::IsNotFound(s)) return VersionList();
  CAIRN_RETURN_IF_ERROR(s);
  return Decode(value);
}

absl::Status EngineReplicaStore::Scan(int db, std::string_view start, size_t limit,
                                      std::vector<std::pair<std::string, VersionList>>* out,
                                      bool* more) {
  *more = false;
  const std::string prefix = EngineKey(db, "");
  auto it = db_->NewIterator({});
  for (it->Seek(EngineKey(db, start)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (out->size() == limit) {
      *more = true;
      break;
    }
    auto versions = Decode(it->value());
    if (!versions.ok()) return versions.status();
    out->emplace_back(std::string(it->key().substr(prefix.size())), std::move(*versions));
  }
  return it->status();
}

absl::Status EngineReplicaStore::Apply(int db, std::string_view key, const VersionList& versions,
                                       bool* changed) {
  *changed = false;
  const std::string engine_key = EngineKey(db, key);
  absl::MutexLock l(&StripeOf(engine_key));
  auto stored = Read(db, key);
  if (!stored.ok()) return stored.status();
  size_t dropped = 0;
  for (const pb::Record& r : versions) *changed |= MergeVersion(&*stored, r, &dropped);
  if (!*changed) return absl::OkStatus();
  dropped_ += dropped;
  pb::Versions out;
  for (pb::Record& r : *stored) *out.add_versions() = std::move(r);
  std::string bytes(1, kFormatVersion);
  out.AppendToString(&bytes);
  // No engine expiry: an expired version must stay, or an older value still on another
  // replica (or arriving late) would come back once the engine dropped it. Readers treat
  // an expired version as absent.
  engine::WriteBatch batch;
  batch.Put(engine_key, bytes);
  engine::WriteOptions options;
  options.sync = sync_;
  absl::Status s = db_->Write(options, batch);
  if (!s.ok()) *changed = false;
  return s;
}

absl::Status EngineReplicaStore::MarkTombstoneSeen(int db, std::string_view key,
                                                   const pb::Record& tombstone) {
  engine::WriteBatch batch;
  batch.Put(EngineKey(db, key, 'G'), tombstone.SerializeAsString());
  engine::WriteOptions options;
  options.sync = sync_;
  return db_->Write(options, batch);
}

absl::StatusOr<size_t> EngineReplicaStore::CollectTombstones(uint64_t now_hlc, uint64_t grace_ms) {
  size_t collected = 0;
  std::vector<std::pair<std::string, pb::Record>> marks;
  {
    auto it = db_->NewIterator({});
    for (it->Seek("G"); it->Valid() && it->key().starts_with("G"); it->Next()) {
      pb::Record r;
      if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return CorruptionError("tombstone mark does not parse");
      }
      marks.emplace_back(std::string(it->key()), std::move(r));
    }
    CAIRN_RETURN_IF_ERROR(it->status());
  }
  engine::WriteOptions options;
  options.sync = sync_;
  for (auto& [mark_key, seen] : marks) {
    std::string record_key = mark_key;
    record_key[0] = 'R';
    absl::MutexLock l(&StripeOf(record_key));
    std::string value;
    absl::Status s = db_->Get({}, record_key, &value);
    if (!s.ok() && !absl::IsNotFound(s)) return s;
    VersionList versions;
    if (s.ok()) {
      auto decoded = Decode(value);
      if (!decoded.ok()) return decoded.status();
      versions = std::move(*decoded);
    }
    const bool collect = TombstoneCollectable(versions, seen, now_hlc, grace_ms);
    const bool stale = versions.size() != 1 || !versions[0].tombstone() ||
                       versions[0].version() != seen.version();
    if (!collect && !stale) continue;  // still within the grace period
    engine::WriteBatch batch;
    batch.Delete(mark_key);
    if (collect) batch.Delete(record_key);
    CAIRN_RETURN_IF_ERROR(db_->Write(options, batch));
    collected += collect;
  }
  return collected;
}

absl::Status EngineReplicaStore::Clear(int db) {
  // In batches; a write that arrives meanwhile may land before or after, as with Redis's
  // FLUSHDB ASYNC.
  for (char space : {'R', 'G'}) {
    const std::string prefix = db < 0 ? std::string(1, space) : EngineKey(db, "", space);
    auto it = db_->NewIterator({});
    engine::WriteBatch batch;
    engine::WriteOptions options;
    options.sync = sync_;
    int n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      batch.Delete(it->key());
      if (++n % 1000 == 0) {
        CAIRN_RETURN_IF_ERROR(db_->Write(options, batch));
        batch.Clear();
      }
    }
    CAIRN_RETURN_IF_ERROR(it->status());
    CAIRN_RETURN_IF_ERROR(db_->Write(options, batch));
  }
  return absl::OkStatus();
}

}  // namespace cairn::cluster
