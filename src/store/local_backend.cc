#include "store/local_backend.h"

#include <chrono>

#include "cairn/engine/write_batch.h"

namespace cairn::store {
namespace {

void AddPut(engine::WriteBatch* b, const std::string& engine_key, const Record& r,
            std::string* scratch) {
  EncodeRecord(r, scratch);
  if (r.expire_at_ms > 0) {
    b->PutWithExpiry(engine_key, *scratch, static_cast<uint64_t>(r.expire_at_ms) * 1000);
  } else {
    b->Put(engine_key, *scratch);
  }
}

engine::WriteOptions EngineWriteOptions(const WriteOptions& o) {
  engine::WriteOptions w;
  w.sync = o.sync;
  return w;
}

}  // namespace

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {
const char kDbMapKey[] = "Cdbmap";
}  // namespace

LocalBackend::LocalBackend(engine::DB* db, int64_t (*now_ms)())
    : db_(db), now_ms_(now_ms != nullptr ? now_ms : &SystemNowMs) {
  for (int i = 0; i < kMaxDatabases; i++) physical_[i].store(static_cast<uint8_t>(i));
}

absl::StatusOr<std::unique_ptr<LocalBackend>> LocalBackend::Open(engine::DB* db,
                                                                 int64_t (*now_ms)()) {
  auto backend = std::make_unique<LocalBackend>(db, now_ms);
  std::string map;
  absl::Status s = db->Get({}, kDbMapKey, &map);
  if (s.ok()) {
    if (map.size() != kMaxDatabases) return absl::DataLossError("corruption: bad database map");
    for (int i = 0; i < kMaxDatabases; i++) {
      backend->physical_[i].store(static_cast<uint8_t>(map[i]));
    }
  } else if (!absl::IsNotFound(s)) {
    return s;
  }
  return backend;
}

absl::Status LocalBackend::SwapDb(int a, int b) {
  absl::MutexLock l(&swap_mu_);
  std::string map(kMaxDatabases, '\0');
  for (int i = 0; i < kMaxDatabases; i++) map[i] = static_cast<char>(Physical(i));
  std::swap(map[a], map[b]);
  engine::WriteOptions sync;
  sync.sync = true;
  if (absl::Status s = db_->Put(sync, kDbMapKey, map); !s.ok()) return s;
  physical_[a].store(static_cast<uint8_t>(map[a]), std::memory_order_release);
  physical_[b].store(static_cast<uint8_t>(map[b]), std::memory_order_release);
  return absl::OkStatus();
}

bool LocalBackend::Expired(int64_t expire_at_ms) const {
  // The engine hides expired entries by its own (microsecond) clock; this check makes
  // the millisecond boundary exact and covers an injected clock.
  return expire_at_ms > 0 && expire_at_ms <= now_ms_();
}

absl::Status LocalBackend::Get(int db, std::string_view key, Record* record) {
  std::string raw;
  absl::Status s = db_->Get({}, InlineKey(Physical(db), key).view(), &raw);
  if (!s.ok()) return s;
  s = DecodeRecord(std::move(raw), record);
  if (!s.ok()) return s;
  if (Expired(record->expire_at_ms)) return absl::NotFoundError("");
  return absl::OkStatus();
}

absl::Status LocalBackend::Put(int db, std::string_view key, const Record& record,
                               const WriteOptions& options) {
  if (record.expire_at_ms < 0 || record.expire_at_ms > kMaxExpireAtMs) {
    return absl::InvalidArgumentError("expire time out of range");
  }
  std::string encoded;
  EncodeRecord(record, &encoded);
  if (record.expire_at_ms > 0) {
    engine::WriteBatch b;
    b.PutWithExpiry(Key(db, key), encoded, static_cast<uint64_t>(record.expire_at_ms) * 1000);
    return db_->Write(EngineWriteOptions(options), b);
  }
  return db_->Put(EngineWriteOptions(options), InlineKey(Physical(db), key).view(), encoded);
}

absl::Status LocalBackend::Delete(int db, std::string_view key, const WriteOptions& options) {
  return db_->Delete(EngineWriteOptions(options), InlineKey(Physical(db), key).view());
}

absl::Status LocalBackend::Apply(const std::vector<Mutation>& batch, const WriteOptions& options) {
  engine::WriteBatch b;
  std::string scratch;
  for (const Mutation& m : batch) {
    if (m.kind == Mutation::Kind::kPut &&
        (m.record.expire_at_ms < 0 || m.record.expire_at_ms > kMaxExpireAtMs)) {
      return absl::InvalidArgumentError("expire time out of range");
    }
    const std::string k = Key(m.db, m.key);
    if (m.kind == Mutation::Kind::kPut) {
      AddPut(&b, k, m.record, &scratch);
    } else {
      b.Delete(k);
    }
  }
  return db_->Write(EngineWriteOptions(options), b);
}

absl::Status LocalBackend::Scan(
    int db, std::string_view start, std::string_view end,
    absl::FunctionRef<bool(std::string_view key, const RecordView& record)> fn) {
  const int physical = Physical(db);  // once: a SWAPDB may change it meanwhile
  const std::string first = EncodeKey(physical, start);
  const std::string limit = end.empty() ? DbEnd(physical) : EncodeKey(physical, end);
  engine::ReadOptions ro;
  ro.iterate_upper_bound = limit;
  auto it = db_->NewIterator(ro);
  const int64_t now = now_ms_();
  for (it->Seek(first); it->Valid(); it->Next()) {
    RecordView view;
    absl::Status s = DecodeRecordView(it->value(), &view);
    if (!s.ok()) return s;
    if (view.expire_at_ms > 0 && view.expire_at_ms <= now) continue;
    if (!fn(DecodeUserKey(it->key()), view)) break;
  }
  return it->status();
}

absl::Status LocalBackend::Clear(int db) {
  // Deletes in batches of 1000 keys; a concurrent writer may add keys behind us, as
  // with Redis's FLUSHDB ASYNC.
  engine::ReadOptions ro;
  const int physical = Physical(db);
  ro.iterate_upper_bound = DbEnd(physical);
  auto it = db_->NewIterator(ro);
  engine::WriteBatch b;
  int n = 0;
  for (it->Seek(DbPrefix(physical)); it->Valid(); it->Next()) {
    b.Delete(it->key());
    if (++n % 1000 == 0) {
      if (absl::Status s = db_->Write({}, b); !s.ok()) return s;
      b.Clear();
    }
  }
  if (absl::Status s = it->status(); !s.ok()) return s;
  return db_->Write({}, b);
}

absl::Status LocalBackend::Sync() { return db_->SyncWal(); }

std::optional<std::string> LocalBackend::Property(std::string_view name) {
  return db_->GetProperty(name);
}

}  // namespace cairn::store
