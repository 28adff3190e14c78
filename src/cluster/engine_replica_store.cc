#include "cluster/engine_replica_store.h"

#include <xxhash.h>

#include <algorithm>
#include <functional>
#include <map>

#include "base/coding.h"
#include "base/numbers.h"
#include "base/status.h"
#include "cluster/registers.h"
#include "cluster/type_merge.h"
#include "store/collection.h"
#include "cairn/engine/write_batch.h"

namespace cairn::cluster {

std::string EngineReplicaStore::EngineKey(int db, std::string_view key, char space) {
  if (IsRegisterDb(db)) {
    db -= kRegisterSpace;
    space = space == 'G' ? 'g' : 'Y';
  }
  std::string k;
  k.reserve(2 + key.size());
  k.push_back(space);
  k.push_back(static_cast<char>(db));
  k.append(key);
  return k;
}

size_t EngineReplicaStore::StripeIndex(const std::string& engine_key) const {
  // The 'G' marker of a key shares the stripe of its 'R' record: hash past the space byte.
  // Every register of a collection shares one (its derived state is written with each).
  size_t n = engine_key.size() - 1;
  if (engine_key.size() >= 2 && (engine_key[0] == 'Y' || engine_key[0] == 'g')) {
    char type;
    std::string_view key, member;
    if (ParseRegisterKey(std::string_view(engine_key).substr(2), &type, &key, &member)) {
      n = 1 + 5 + key.size();
    }
  }
  return XXH3_64bits(engine_key.data() + 1, n) % kStripes;
}

namespace {

std::string EncodeVersions(const VersionList& versions) {
  pb::Versions out;
  for (const pb::Record& r : versions) *out.add_versions() = r;
  std::string bytes(1, EngineReplicaStore::kFormatVersion);
  out.AppendToString(&bytes);
  return bytes;
}

// A register's merged value if it is live (not deleted): MergeRegister.
absl::StatusOr<std::optional<pb::Record>> LiveRegister(const VersionList& versions) {
  if (versions.empty()) return std::optional<pb::Record>();
  auto merged = MergeRegister(versions);
  if (!merged.ok()) return merged.status();
  if (!merged->has_value()) return std::optional<pb::Record>();
  // A sorted set's member whose score does not parse is not one (not counted, indexed or
  // served), so the count agrees with what scans show.
  return merged;
}

std::string SummaryKey(int db, char type, std::string_view key) {
  std::string k(1, 'Z');
  k.push_back(static_cast<char>(db));
  k += RegisterPrefix(type, key);
  return k;
}

std::string ScoreIndexPrefix(int db, std::string_view key) {
  std::string k(1, 'X');
  k.push_back(static_cast<char>(db));
  k += RegisterPrefix('z', key);
  return k;
}

// A sorted-set register's score as 8 order-preserving bytes; empty if its value is not a
// number (a register written by a newer node, or damaged): then it is not indexed.
std::string ScoreBytes(const pb::Record& merged) {
  long double score;
  if (!ParseLongDouble(merged.value(), &score)) return "";
  return store::EncodeScore(static_cast<double>(score));
}

uint64_t RegisterHash(std::string_view key, std::string_view bytes) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, key.data(), key.size());
  XXH3_64bits_update(st, bytes.data(), bytes.size());
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

// Visits engine keys with prefix, from prefix+start to prefix+end (end empty: all), in
// order or reversed; fn gets the key past the prefix and the value.
absl::Status ScanRange(engine::DB* db, const std::string& prefix, std::string_view start,
                       std::string_view end, bool reverse,
                       absl::FunctionRef<bool(std::string_view suffix, std::string_view value)> fn) {
  auto it = db->NewIterator({});
  const std::string lo = prefix + std::string(start);
  if (!reverse) {
    const std::string hi = end.empty() ? "" : prefix + std::string(end);
    for (it->Seek(lo); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (!hi.empty() && it->key() >= hi) break;
      if (!fn(it->key().substr(prefix.size()), it->value())) break;
    }
    return it->status();
  }
  if (!end.empty()) {
    it->Seek(prefix + std::string(end));
  } else {
    // Past the last key with the prefix: the prefix's successor.
    std::string next = prefix;
    while (!next.empty() && static_cast<uint8_t>(next.back()) == 0xff) next.pop_back();
    if (next.empty()) {
      it->SeekToLast();
    } else {
      next.back() = static_cast<char>(static_cast<uint8_t>(next.back()) + 1);
      it->Seek(next);
    }
  }
  if (it->Valid()) {
    it->Prev();
  } else if (it->status().ok()) {
    it->SeekToLast();
  }
  for (; it->Valid() && it->key().starts_with(prefix); it->Prev()) {
    if (it->key() < lo) break;
    if (!fn(it->key().substr(prefix.size()), it->value())) break;
  }
  return it->status();
}

}  // namespace

absl::StatusOr<EngineReplicaStore::CollectionSummary> EngineReplicaStore::Summary(
    int db, char type, std::string_view key) {
  CollectionSummary out;
  std::string value;
  absl::Status s = db_->Get({}, SummaryKey(db, type, key), &value);
  if (absl::IsNotFound(s)) return out;
  CAIRN_RETURN_IF_ERROR(s);
  if (value.size() != 16) return CorruptionError("collection summary is not 16 bytes");
  out.members = DecodeFixed64(value.data());
  out.digest = DecodeFixed64(value.data() + 8);
  return out;
}

absl::Status EngineReplicaStore::ScanRegisters(
    int db, char type, std::string_view key, std::string_view start, std::string_view end,
    bool reverse, absl::FunctionRef<bool(std::string_view member, const pb::Record& merged)> fn) {
  absl::Status error;
  CAIRN_RETURN_IF_ERROR(ScanRange(
      db_, EngineKey(db + kRegisterSpace, RegisterPrefix(type, key)), start, end, reverse,
      [&](std::string_view member, std::string_view value) {
        auto versions = Decode(value);
        if (!versions.ok()) {
          error = versions.status();
          return false;
        }
        auto live = LiveRegister(*versions);
        if (!live.ok()) {
          error = live.status();
          return false;
        }
        if (!live->has_value() || (type == 'z' && ScoreBytes(**live).empty())) return true;
        return fn(member, **live);
      }));
  return error;
}

absl::Status EngineReplicaStore::ScanScores(
    int db, std::string_view key, std::string_view start, std::string_view end, bool reverse,
    absl::FunctionRef<bool(std::string_view score_and_member)> fn) {
  return ScanRange(db_, ScoreIndexPrefix(db, key), start, end, reverse,
                   [&](std::string_view suffix, std::string_view) { return fn(suffix); });
}

absl::Status EngineReplicaStore::ApplyRegister(int db, std::string_view key,
                                               const VersionList& versions, bool* changed) {
  *changed = false;
  char type;
  std::string_view collection, member;
  if (!ParseRegisterKey(key, &type, &collection, &member) || !HasRegisters(type)) {
    return absl::InvalidArgumentError("malformed register key");
  }
  const std::string engine_key = EngineKey(db, key);
  absl::MutexLock l(&StripeOf(engine_key));
  auto stored = Read(db, key);
  if (!stored.ok()) return stored.status();
  const VersionList before = *stored;
  size_t dropped = 0;
  for (const pb::Record& r : versions) *changed |= MergeVersion(&*stored, r, &dropped);
  if (!*changed) return absl::OkStatus();
  return WriteRegisterLocked(db, key, before, &*stored, dropped, changed);
}

absl::Status EngineReplicaStore::WriteRegisterLocked(int db, std::string_view key,
                                                     const VersionList& before,
                                                     const VersionList* after, size_t dropped,
                                                     bool* changed) {
  char type;
  std::string_view collection, member;
  if (!ParseRegisterKey(key, &type, &collection, &member) || !HasRegisters(type)) {
    return absl::InvalidArgumentError("malformed register key");
  }
  const int user_db = db - kRegisterSpace;
  const std::string engine_key = EngineKey(db, key);
  const std::string bytes = after != nullptr ? EncodeVersions(*after) : "";
  auto live_before = LiveRegister(before);
  if (!live_before.ok()) return live_before.status();
  absl::StatusOr<std::optional<pb::Record>> live_after = std::optional<pb::Record>();
  if (after != nullptr) live_after = LiveRegister(*after);
  if (!live_after.ok()) return live_after.status();
  auto summary = Summary(user_db, type, collection);
  if (!summary.ok()) return summary.status();
  engine::WriteBatch batch;
  if (after != nullptr) {
    batch.Put(engine_key, bytes);
  } else {
    batch.Delete(engine_key);
  }
  if (type == 'z') {  // a score that does not parse: not a member (see LiveRegister)
    if (live_before->has_value() && ScoreBytes(**live_before).empty()) live_before->reset();
    if (live_after->has_value() && ScoreBytes(**live_after).empty()) live_after->reset();
  }
  const bool counted = IsCountedMember(type, member);
  if (live_before->has_value()) {
    if (counted && summary->members > 0) summary->members--;  // 0: a FLUSHDB ran meanwhile
    summary->digest ^= RegisterHash(key, EncodeVersions(before));
    if (type == 'z') {
      if (std::string score = ScoreBytes(**live_before); !score.empty()) {
        batch.Delete(ScoreIndexPrefix(user_db, collection) + score + std::string(member));
      }
    }
  }
  if (live_after->has_value()) {
    if (counted) summary->members++;
    summary->digest ^= RegisterHash(key, bytes);
    if (type == 'z') {
      if (std::string score = ScoreBytes(**live_after); !score.empty()) {
        batch.Put(ScoreIndexPrefix(user_db, collection) + score + std::string(member), "");
      }
    }
  }
  std::string encoded;
  PutFixed64(&encoded, summary->members);
  PutFixed64(&encoded, summary->digest);
  const std::string summary_key = SummaryKey(user_db, type, collection);
  if (summary->members == 0 && summary->digest == 0) {
    batch.Delete(summary_key);
  } else {
    batch.Put(summary_key, encoded);
  }
  absl::Status s = Write(batch);
  if (!s.ok()) {
    *changed = false;
  } else {
    dropped_ += dropped;
  }
  return s;
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
  if (IsRegisterDb(db)) return ApplyRegister(db, key, versions, changed);
  const std::string engine_key = EngineKey(db, key);
  absl::MutexLock l(&StripeOf(engine_key));
  auto stored = Read(db, key);
  if (!stored.ok()) return stored.status();
  return MergeAndWrite(engine_key, std::move(*stored), versions, changed);
}

absl::Status EngineReplicaStore::Update(
    int db, std::string_view key,
    absl::FunctionRef<absl::StatusOr<pb::Record>(const VersionList&)> make) {
  if (IsRegisterDb(db)) return ReplicaStore::Update(db, key, make);  // ApplyRegister locks
  const std::string engine_key = EngineKey(db, key);
  absl::MutexLock l(&StripeOf(engine_key));
  auto stored = Read(db, key);
  if (!stored.ok()) return stored.status();
  auto made = make(*stored);
  if (!made.ok()) return made.status();
  bool changed = false;
  return MergeAndWrite(engine_key, std::move(*stored), {std::move(*made)}, &changed);
}

absl::Status EngineReplicaStore::MergeAndWrite(const std::string& engine_key, VersionList stored,
                                               const VersionList& versions, bool* changed) {
  *changed = false;
  size_t dropped = 0;
  for (const pb::Record& r : versions) *changed |= MergeVersion(&stored, r, &dropped);
  if (!*changed) return absl::OkStatus();
  dropped_ += dropped;
  pb::Versions out;
  for (pb::Record& r : stored) *out.add_versions() = std::move(r);
  std::string bytes(1, kFormatVersion);
  out.AppendToString(&bytes);
  // No engine expiry: an expired version must stay, or an older value still on another
  // replica (or arriving late) would come back once the engine dropped it. Readers treat
  // an expired version as absent.
  engine::WriteBatch batch;
  batch.Put(engine_key, bytes);
  absl::Status s = Write(batch);
  if (!s.ok()) *changed = false;
  return s;
}

absl::Status EngineReplicaStore::Write(const engine::WriteBatch& batch) {
  engine::WriteOptions options;
  options.sync = sync_;
  // A write on a thread with an event loop leaves its WAL record in the buffer: one
  // system call hands every record of the turn to the OS after it, before what the turn
  // queued to send (so before any acknowledgement counting on them) leaves.
  thread_local std::vector<const EngineReplicaStore*> scheduled;  // flushes due on this thread
  if (!sync_ && defer_) {
    bool deferred = std::find(scheduled.begin(), scheduled.end(), this) != scheduled.end();
    if (!deferred && defer_([this] {
          scheduled.erase(std::remove(scheduled.begin(), scheduled.end(), this), scheduled.end());
          // A failure leaves the engine read-only (its background error): later writes
          // fail, as after any failed WAL write.
          (void)db_->FlushWal();
        })) {
      scheduled.push_back(this);
      deferred = true;
    }
    options.defer_wal_write = deferred;
  }
  return db_->Write(options, batch);
}

absl::Status EngineReplicaStore::ApplyBatch(const pb::ReplicaWriteBatch& batch,
                                            std::vector<bool>* changed) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  changed->assign(batch.writes_size(), false);
  // Registers keep derived state per collection: each as its own Apply.
  std::vector<int> plain;
  for (int i = 0; i < batch.writes_size(); i++) {
    const pb::ReplicaWrite& w = batch.writes(i);
    if (w.db() < 0 || (w.db() >= store::kMaxDatabases && !IsRegisterDb(w.db()))) {
      return absl::InvalidArgumentError("database index out of range");
    }
    if (!IsRegisterDb(w.db())) {
      plain.push_back(i);
      continue;
    }
    bool c = false;
    CAIRN_RETURN_IF_ERROR(Apply(w.db(), w.key(), VersionList(w.versions().begin(), w.versions().end()), &c));
    (*changed)[i] = c;
  }
  if (plain.empty()) return absl::OkStatus();
  // Every stripe the keys fall in, taken in index order (no two batches deadlock).
  std::vector<std::string> engine_keys;
  std::vector<size_t> stripes;
  for (int i : plain) {
    engine_keys.push_back(EngineKey(batch.writes(i).db(), batch.writes(i).key()));
    stripes.push_back(StripeIndex(engine_keys.back()));
  }
  std::sort(stripes.begin(), stripes.end());
  stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
  for (size_t s : stripes) stripes_[s].Lock();
  // A key written twice in the batch merges both.
  std::map<std::string, VersionList> merged;
  size_t dropped = 0;
  absl::Status status;
  for (size_t j = 0; j < plain.size() && status.ok(); j++) {
    const pb::ReplicaWrite& w = batch.writes(plain[j]);
    auto it = merged.find(engine_keys[j]);
    if (it == merged.end()) {
      auto stored = Read(w.db(), w.key());
      if (!stored.ok()) {
        status = stored.status();
        break;
      }
      it = merged.emplace(engine_keys[j], std::move(*stored)).first;
    }
    bool c = false;
    for (const pb::Record& r : w.versions()) c |= MergeVersion(&it->second, r, &dropped);
    (*changed)[plain[j]] = c;
  }
  if (status.ok()) {
    engine::WriteBatch write;
    size_t puts = 0;
    for (size_t j = 0; j < plain.size(); j++) {
      if (!(*changed)[plain[j]]) continue;
      auto it = merged.find(engine_keys[j]);
      if (it == merged.end()) continue;  // written already (a key twice in the batch)
      pb::Versions out;
      for (const pb::Record& r : it->second) *out.add_versions() = r;
      std::string bytes(1, kFormatVersion);
      out.AppendToString(&bytes);
      write.Put(engine_keys[j], bytes);
      merged.erase(it);
      puts++;
    }
    if (puts > 0) status = Write(write);
    if (status.ok()) dropped_ += dropped;
  }
  for (auto s = stripes.rbegin(); s != stripes.rend(); ++s) stripes_[*s].Unlock();
  if (!status.ok()) {
    for (int i : plain) (*changed)[i] = false;
  }
  return status;
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
    for (const char* space : {"G", "g"}) {
      for (it->Seek(space); it->Valid() && it->key().starts_with(space); it->Next()) {
        pb::Record r;
        if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
          return CorruptionError("tombstone mark does not parse");
        }
        marks.emplace_back(std::string(it->key()), std::move(r));
      }
      CAIRN_RETURN_IF_ERROR(it->status());
    }
  }
  engine::WriteOptions options;
  options.sync = sync_;
  for (auto& [mark_key, seen] : marks) {
    std::string record_key = mark_key;
    record_key[0] = mark_key[0] == 'g' ? 'Y' : 'R';  // a register's tombstone is not live:
                                                     // its collection's summary stays
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

absl::StatusOr<bool> EngineReplicaStore::Drop(int db, std::string_view key,
                                              const VersionList& expected) {
  const std::string engine_key = EngineKey(db, key);
  absl::MutexLock l(&StripeOf(engine_key));
  auto stored = Read(db, key);
  if (!stored.ok()) return stored.status();
  if (stored->empty()) return false;
  if (EncodeVersions(*stored) != EncodeVersions(expected)) return false;  // written since
  if (IsRegisterDb(db)) {
    bool changed = false;
    CAIRN_RETURN_IF_ERROR(WriteRegisterLocked(db, key, *stored, nullptr, 0, &changed));
    return true;
  }
  engine::WriteBatch batch;
  batch.Delete(engine_key);
  CAIRN_RETURN_IF_ERROR(Write(batch));
  return true;
}

absl::Status EngineReplicaStore::Clear(int db) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // Every stripe, so no register write lands between its register's deletion and its
  // collection's summary's (which would leave a live register uncounted).
  for (absl::Mutex& m : stripes_) m.Lock();
  absl::Status s = ClearLocked(db);
  for (auto it = stripes_.rbegin(); it != stripes_.rend(); ++it) it->Unlock();
  return s;
}

absl::Status EngineReplicaStore::ClearLocked(int db) {
  // In batches; a write that arrives meanwhile may land before or after, as with Redis's
  // FLUSHDB ASYNC.
  for (char space : {'R', 'G', 'Y', 'g', 'Z', 'X'}) {
    std::string prefix(1, space);
    if (db >= 0) prefix.push_back(static_cast<char>(db));
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
