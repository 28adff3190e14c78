#include "store/local_backend.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "base/checksum.h"
#include "base/coding.h"
#include "base/status.h"
#include "cairn/engine/write_batch.h"
#include "store/collection.h"

namespace cairn::store {
namespace {

// A record's put, with its expiry index entry (record.h) if it expires.
void AddPut(engine::WriteBatch* b, int physical_db, std::string_view user_key, const Record& r,
            std::string* scratch) {
  EncodeRecord(r, scratch);
  const std::string engine_key = EncodeKey(physical_db, user_key);
  if (r.expire_at_ms > 0) {
    b->PutWithExpiry(engine_key, *scratch, static_cast<uint64_t>(r.expire_at_ms) * 1000);
    b->Put(ExpiryIndexKey(r.expire_at_ms, physical_db, user_key), "");
  } else {
    b->Put(engine_key, *scratch);
  }
}

// The record stored under a key, expired or not (ReadOptions::include_expired): what the
// active expiry and the compaction filter judge. NotFound if there is none; Corruption
// if it does not decode. *r points into *raw.
absl::Status ReadStoredRecord(engine::DB* db, int physical, std::string_view user_key,
                              std::string* raw, RecordView* r) {
  engine::ReadOptions ro;
  ro.include_expired = true;
  if (absl::Status s = db->Get(ro, EncodeKey(physical, user_key), raw); !s.ok()) return s;
  return DecodeRecordView(*raw, r);
}

}  // namespace

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {
const char kDbMapKey[] = "Cdbmap";
const char kVersionLeaseKey[] = "Cversion";
// Present once every record with an expiry has its expiry index entry (data written
// before the index existed gets them at its first open by this code).
const char kExpiryIndexKey[] = "Cexpiry-index";
// Present once the key counts are stored (a data directory written before they existed
// is counted once at its first open by this code).
const char kKeyCountsMarker[] = "Ckey-counts";
// Key counts: "Cc" | physical db | slot -> fixed64 keys | fixed64 expires |
// fixed64 sum of expiries in Unix seconds, each the sum of the changes written through
// that slot (two's complement; only the sum over the slots is a count).
const char kCountPrefix[] = "Cc";
std::string CountKey(int physical, int slot) {
  std::string k(kCountPrefix);
  k.push_back(static_cast<char>(physical));
  k.push_back(static_cast<char>(slot));
  return k;
}
std::string EncodeCounts(int64_t keys, int64_t expires, int64_t expire_sum_s) {
  std::string v;
  PutFixed64(&v, static_cast<uint64_t>(keys));
  PutFixed64(&v, static_cast<uint64_t>(expires));
  PutFixed64(&v, static_cast<uint64_t>(expire_sum_s));
  return v;
}
// Versions taken per lease write.
constexpr uint64_t kVersionLeaseStep = 1 << 16;
}  // namespace

LocalBackend::LocalBackend(engine::DB* db, int64_t (*now_ms)())
    : db_(db),
      now_ms_(now_ms != nullptr ? now_ms : &SystemNowMs),
      counts_(new CountSlot[kCountSlots]) {
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
  std::string lease;
  s = db->Get({}, kVersionLeaseKey, &lease);
  if (s.ok()) {
    if (lease.size() != 8) return absl::DataLossError("corruption: bad version lease");
    backend->next_version_.store(DecodeFixed64(lease.data()));
    backend->version_lease_.store(DecodeFixed64(lease.data()));
  } else if (!absl::IsNotFound(s)) {
    return s;
  }
  if (absl::Status x = backend->BuildExpiryIndex(); !x.ok()) return x;
  if (absl::Status x = backend->LoadCounts(); !x.ok()) return x;
  return backend;
}

absl::Status LocalBackend::LoadCounts() {
  std::string marker;
  absl::Status s = db_->Get({}, kKeyCountsMarker, &marker);
  if (s.ok()) {
    engine::ReadOptions ro;
    ro.iterate_upper_bound = std::string("Cd");
    auto it = db_->NewIterator(ro);
    for (it->Seek(kCountPrefix); it->Valid(); it->Next()) {
      const std::string_view k = it->key(), v = it->value();
      if (k.size() != 4 || v.size() != 24 || static_cast<uint8_t>(k[3]) >= kCountSlots) {
        return absl::DataLossError("corruption: bad key count entry");
      }
      CountSlot& c = counts_[static_cast<uint8_t>(k[3])];
      const uint8_t physical = static_cast<uint8_t>(k[2]);
      c.keys[physical].store(static_cast<int64_t>(DecodeFixed64(v.data())));
      c.expires[physical].store(static_cast<int64_t>(DecodeFixed64(v.data() + 8)));
      c.expire_sum_s[physical].store(static_cast<int64_t>(DecodeFixed64(v.data() + 16)));
    }
    return it->status();
  }
  if (!absl::IsNotFound(s)) return s;
  // Nothing stored yet: count every record, expired or not, once.
  engine::ReadOptions ro;
  ro.include_expired = true;
  ro.iterate_upper_bound = std::string(1, kMetaNamespace + 1);
  auto it = db_->NewIterator(ro);
  for (it->Seek(std::string(1, kMetaNamespace)); it->Valid(); it->Next()) {
    const std::string_view k = it->key();
    if (k.size() < 2) continue;
    RecordView r;
    const int64_t expire = DecodeRecordView(it->value(), &r).ok() ? r.expire_at_ms : 0;
    CountSlot& c = counts_[0];  // any slot: only their sum is a count
    const uint8_t physical = static_cast<uint8_t>(k[1]);
    c.keys[physical].fetch_add(1, std::memory_order_relaxed);
    if (expire > 0) {
      c.expires[physical].fetch_add(1, std::memory_order_relaxed);
      c.expire_sum_s[physical].fetch_add(expire / 1000, std::memory_order_relaxed);
    }
  }
  if (absl::Status i = it->status(); !i.ok()) return i;
  // The count entries stored before (stale, or the recount would not run): every one is
  // deleted, so that a database the recount finds empty is not loaded again from them.
  engine::WriteBatch b;
  engine::ReadOptions stored;
  stored.iterate_upper_bound = std::string("Cd");
  auto old = db_->NewIterator(stored);
  for (old->Seek(kCountPrefix); old->Valid(); old->Next()) b.Delete(old->key());
  if (absl::Status i = old->status(); !i.ok()) return i;
  for (int physical = 0; physical < kMaxDatabases; physical++) {
    const CountSlot& c = counts_[0];
    if (c.keys[physical].load() == 0) continue;
    b.Put(CountKey(physical, 0), EncodeCounts(c.keys[physical].load(), c.expires[physical].load(),
                                              c.expire_sum_s[physical].load()));
  }
  b.Put(kKeyCountsMarker, "1");
  engine::WriteOptions sync;
  sync.sync = true;
  return db_->Write(sync, b);
}

absl::StatusOr<LocalBackend::KeyState> LocalBackend::StoredState(int physical,
                                                                 std::string_view user_key) {
  engine::ReadOptions ro;
  ro.include_expired = true;
  std::string raw;
  const absl::Status s = db_->Get(ro, InlineKey(physical, user_key).view(), &raw);
  if (absl::IsNotFound(s)) return KeyState{};
  if (!s.ok()) return s;
  RecordView r;
  // A damaged record is still a key (reads of it answer corruption).
  if (!DecodeRecordView(raw, &r).ok()) return KeyState{true, 0};
  return KeyState{true, r.expire_at_ms};
}

void LocalBackend::AddTransition(std::vector<CountChange>* changes, int physical,
                                 KeyState before, KeyState after) {
  auto expiring = [](KeyState k) { return k.exists && k.expire_at_ms > 0; };
  KeyCounts d;
  d.keys = int64_t{after.exists} - int64_t{before.exists};
  d.expires = int64_t{expiring(after)} - int64_t{expiring(before)};
  d.expire_at_sum_s = (expiring(after) ? after.expire_at_ms / 1000 : 0) -
                      (expiring(before) ? before.expire_at_ms / 1000 : 0);
  if (d.keys == 0 && d.expires == 0 && d.expire_at_sum_s == 0) return;
  for (CountChange& c : *changes) {
    if (c.physical == physical) {
      c.delta.keys += d.keys;
      c.delta.expires += d.expires;
      c.delta.expire_at_sum_s += d.expire_at_sum_s;
      return;
    }
  }
  changes->push_back({physical, d});
}

absl::Status LocalBackend::WriteCounted(const engine::WriteOptions& w, engine::WriteBatch* b,
                                        std::vector<CountChange>* changes, uint64_t entries) {
  return WriteCountedWith(changes, entries, [&](const engine::WriteBatch& counts) {
    b->Append(counts);
    return db_->Write(w, *b);
  });
}

namespace {
// Each thread's own count slot, spread round-robin (LockCountSlot).
std::atomic<uint32_t> next_count_slot{0};
thread_local const uint32_t own_count_slot = next_count_slot.fetch_add(1);
}  // namespace

LocalBackend::CountSlot& LocalBackend::LockCountSlot(int* slot)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {  // returns with the slot's mu held
  const int own = static_cast<int>(own_count_slot % kCountSlots);
  for (int i = 0; i < kCountSlots; i++) {
    *slot = (own + i) % kCountSlots;
    if (counts_[*slot].mu.TryLock()) return counts_[*slot];
  }
  *slot = own;
  counts_[own].mu.Lock();
  return counts_[own];
}

absl::Status LocalBackend::WriteCountedWith(
    std::vector<CountChange>* changes, uint64_t entries,
    absl::FunctionRef<absl::Status(const engine::WriteBatch& counts)> write)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {  // the slot's mu, taken by LockCountSlot
  // Changes of a batch that cancel out (a key written, then deleted) change nothing.
  changes->erase(std::remove_if(changes->begin(), changes->end(),
                                [](const CountChange& c) {
                                  return c.delta.keys == 0 && c.delta.expires == 0 &&
                                         c.delta.expire_at_sum_s == 0;
                                }),
                 changes->end());
  if (changes->empty()) return Changed(entries, write(engine::WriteBatch()));
  // Exactness: the caller holds the key locks, so the changes are those of this write;
  // the slot's values are the sum of the changes written through it, and while mu is
  // held nobody else writes its count entries, so they reach the WAL in the order they
  // were computed. Other writers take other slots meanwhile.
  int slot = 0;
  CountSlot& st = LockCountSlot(&slot);
  struct Values {
    int64_t keys, expires, expire_sum_s;
  };
  std::vector<Values> after;
  after.reserve(changes->size());
  engine::WriteBatch counts;
  for (const CountChange& c : *changes) {
    after.push_back({st.keys[c.physical].load(std::memory_order_relaxed) + c.delta.keys,
                     st.expires[c.physical].load(std::memory_order_relaxed) + c.delta.expires,
                     st.expire_sum_s[c.physical].load(std::memory_order_relaxed) +
                         c.delta.expire_at_sum_s});
    counts.Put(CountKey(c.physical, slot),
               EncodeCounts(after.back().keys, after.back().expires, after.back().expire_sum_s));
  }
  absl::Status s = write(counts);
  bool applied = s.ok();
  if (!s.ok()) {
    // An error does not say the write is absent: a group commit whose memtable insert
    // failed part-way fails every write of the group, some of them applied (and kept by
    // DB::Resume). The count entries come last in the batch and nobody else writes this
    // slot's: if they read back as written, the whole write was applied.
    applied = true;
    for (size_t i = 0; i < changes->size() && applied; i++) {
      std::string v;
      applied = db_->Get({}, CountKey((*changes)[i].physical, slot), &v).ok() &&
                v == EncodeCounts(after[i].keys, after[i].expires, after[i].expire_sum_s);
    }
  }
  if (applied) {
    for (size_t i = 0; i < changes->size(); i++) {
      const int physical = (*changes)[i].physical;
      st.keys[physical].store(after[i].keys, std::memory_order_relaxed);
      st.expires[physical].store(after[i].expires, std::memory_order_relaxed);
      st.expire_sum_s[physical].store(after[i].expire_sum_s, std::memory_order_relaxed);
    }
    if (!s.ok()) changes_.fetch_add(entries, std::memory_order_relaxed);
  }
  st.mu.Unlock();
  return Changed(entries, s);
}

std::optional<KeyCounts> LocalBackend::Counts(int db) {
  const int physical = Physical(db);
  KeyCounts out;
  for (int i = 0; i < kCountSlots; i++) {
    out.keys += counts_[i].keys[physical].load(std::memory_order_relaxed);
    out.expires += counts_[i].expires[physical].load(std::memory_order_relaxed);
    out.expire_at_sum_s += counts_[i].expire_sum_s[physical].load(std::memory_order_relaxed);
  }
  return out;
}

absl::Status LocalBackend::BuildExpiryIndex() {
  std::string marker;
  absl::Status s = db_->Get({}, kExpiryIndexKey, &marker);
  if (!absl::IsNotFound(s)) return s;
  engine::ReadOptions ro;
  // Expired records too: compaction keeps them (KeepExpired) until the active expiry,
  // which finds them through this index, deletes and uncounts them.
  ro.include_expired = true;
  ro.iterate_upper_bound = std::string(1, kMetaNamespace + 1);
  auto it = db_->NewIterator(ro);
  engine::WriteBatch b;
  size_t n = 0;
  for (it->Seek(std::string(1, kMetaNamespace)); it->Valid(); it->Next()) {
    RecordView r;
    // A damaged record stays as it is (reads of it answer corruption); it gets no entry.
    if (!DecodeRecordView(it->value(), &r).ok() || r.expire_at_ms <= 0) continue;
    b.Put(ExpiryIndexKey(r.expire_at_ms, static_cast<uint8_t>(it->key()[1]),
                         DecodeUserKey(it->key())),
          "");
    if (++n % 1000 == 0) {
      if (absl::Status w = db_->Write({}, b); !w.ok()) return w;
      b.Clear();
    }
  }
  if (absl::Status i = it->status(); !i.ok()) return i;
  b.Put(kExpiryIndexKey, "1");
  engine::WriteOptions sync;
  sync.sync = true;
  return db_->Write(sync, b);
}

uint64_t LocalBackend::NewVersion() {
  const uint64_t v = next_version_.fetch_add(1, std::memory_order_relaxed);
  if (v >= version_lease_.load(std::memory_order_acquire)) {
    absl::MutexLock l(&lease_mu_);
    while (v >= version_lease_.load(std::memory_order_relaxed)) {
      // Written before any member with version v: a crash that loses the lease loses
      // those members too (the WAL is ordered). A failed write leaves the engine in
      // error, so no member written with v can be acknowledged either.
      const uint64_t lease = v + kVersionLeaseStep;
      std::string encoded;
      PutFixed64(&encoded, lease);
      if (absl::Status s = db_->Put({}, kVersionLeaseKey, encoded); !s.ok()) {
        // Handing out v without a durable lease could reuse it after a restart, next
        // to garbage members of its first use. The command fails instead (the server
        // turns the exception into an error reply).
        throw std::runtime_error("cannot record the collection version lease: " +
                                 std::string(s.message()));
      }
      version_lease_.store(lease, std::memory_order_release);
    }
  }
  return v;
}

absl::Status LocalBackend::GetMember(int db, std::string_view key, uint64_t version,
                                     std::string_view member, std::string* value) {
  std::string k = MemberPrefix(Physical(db), key, version);
  k.append(member.data(), member.size());
  return db_->Get({}, k, value);
}

absl::Status LocalBackend::ScanMembers(
    int db, std::string_view key, uint64_t version, std::string_view start,
    std::string_view end, bool reverse,
    absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn) {
  const std::string prefix = MemberPrefix(Physical(db), key, version);
  std::string first = prefix + std::string(start);
  std::string limit = prefix;
  if (end.empty()) {
    // The first key after every key with this prefix: the prefix ends in the version,
    // and version + 1 never overflows into the user key (versions stay far below 2^64).
    for (size_t i = limit.size(); i-- > 0;) {
      if (static_cast<uint8_t>(limit[i]) != 0xff) {
        limit[i] = static_cast<char>(static_cast<uint8_t>(limit[i]) + 1);
        limit.resize(i + 1);
        break;
      }
    }
  } else {
    limit.append(end.data(), end.size());
  }
  engine::ReadOptions ro;
  ro.iterate_upper_bound = limit;
  auto it = db_->NewIterator(ro);
  if (reverse) {
    for (it->SeekToLast(); it->Valid() && it->key().compare(first) >= 0; it->Prev()) {
      if (!fn(it->key().substr(prefix.size()), it->value())) break;
    }
  } else {
    for (it->Seek(first); it->Valid(); it->Next()) {
      if (!fn(it->key().substr(prefix.size()), it->value())) break;
    }
  }
  return it->status();
}

namespace {

// One compaction's view of which collections are live.
class ReclaimFilter final : public engine::CompactionFilter {
 public:
  explicit ReclaimFilter(engine::DB* db) : db_(db) {}
  bool Drop(std::string_view key, std::string_view value) override {
    (void)value;
    if (!key.empty() && key[0] == kExpiryNamespace) return StaleExpiryEntry(key);
    int physical = 0;
    std::string_view user_key, member;
    uint64_t version = 0;
    if (db_ == nullptr || !ParseMemberKey(key, &physical, &user_key, &version, &member)) {
      return false;
    }
    // Members of one collection are adjacent: one metadata read serves them all.
    if (physical != cached_db_ || user_key != cached_key_) {
      cached_db_ = physical;
      cached_key_.assign(user_key.data(), user_key.size());
      cached_live_version_ = LiveVersion(physical, user_key);
    }
    return cached_live_version_ != kUnknown && cached_live_version_ != version;
  }
  // A record is a counted key until a counted write deletes it (the active expiry's
  // DeleteExpired, or a command that writes it): compaction never drops an expired one,
  // however long ago it expired (docs/keyspace-counts.md).
  bool KeepExpired(std::string_view key) override {
    return key.size() >= 2 && key[0] == kMetaNamespace;
  }

 private:
  static constexpr uint64_t kUnknown = ~uint64_t{0};  // keep everything
  static constexpr uint64_t kNone = 0;                 // versions start at 1

  // A collection expired this long ago is gone for good; one that expired more recently
  // keeps its members, so a PERSIST or EXPIRE that read it just before it expired and
  // rewrites it just after does not find it emptied.
  static constexpr int64_t kExpiryGraceMs = 60 * 1000;

  // An expiry index entry whose record is gone or carries another expiry: nothing will
  // need it (DeleteExpired would only drop it). Keeps it on any doubt.
  bool StaleExpiryEntry(std::string_view key) {
    int64_t expire_at_ms = 0;
    int physical = 0;
    std::string_view user_key;
    if (db_ == nullptr || !ParseExpiryIndexKey(key, &expire_at_ms, &physical, &user_key)) {
      return false;
    }
    std::string raw;
    RecordView r;
    const absl::Status s = ReadStoredRecord(db_, physical, user_key, &raw, &r);
    if (absl::IsNotFound(s)) return true;
    return s.ok() && r.expire_at_ms != expire_at_ms;
  }

  // The version the collection's record names now; kNone if there is no collection.
  uint64_t LiveVersion(int physical, std::string_view user_key) {
    std::string raw;
    RecordView r;
    const absl::Status s = ReadStoredRecord(db_, physical, user_key, &raw, &r);
    if (absl::IsNotFound(s)) return kNone;
    if (!s.ok()) return kUnknown;  // never guess
    if (!IsCollection(r.type)) return kNone;
    if (r.expire_at_ms > 0 && r.expire_at_ms + kExpiryGraceMs <= SystemNowMs()) return kNone;
    CollectionMeta meta;
    if (!DecodeCollectionMeta(r.type, r.value, &meta).ok()) return kUnknown;
    return meta.version;
  }

  engine::DB* const db_;
  int cached_db_ = -1;
  std::string cached_key_;
  uint64_t cached_live_version_ = kUnknown;
};

}  // namespace

std::unique_ptr<engine::CompactionFilter> MemberReclaimFilter::NewFilter() {
  return std::make_unique<ReclaimFilter>(db_.load(std::memory_order_acquire));
}

std::shared_ptr<MemberReclaimFilter> ConfigureEngineForLocalBackend(engine::Options* options) {
  // Expired values stay readable (ReadOptions::include_expired) this long even if a
  // compaction reaches them first; LocalBackend's stay until the active expiry deletes them.
  options->expired_retention_micros = uint64_t{600} * 1'000'000;
  auto reclaim = std::make_shared<MemberReclaimFilter>();
  options->compaction_filter_factory = reclaim;
  return reclaim;
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
  const engine::WriteOptions w = EngineWriteOptions(options);
  const int physical = Physical(db);
  absl::StatusOr<KeyState> before = StoredState(physical, key);
  if (!before.ok()) return before.status();
  std::vector<CountChange> changes;
  AddTransition(&changes, physical, *before, KeyState{true, record.expire_at_ms});
  if (record.expire_at_ms > 0 || !changes.empty()) {
    engine::WriteBatch b;
    AddPut(&b, physical, key, record, &encoded);
    return Counted(w, WriteCounted(w, &b, &changes, 1));
  }
  // An overwrite that changes no count: the plain put.
  EncodeRecord(record, &encoded);
  return Counted(w, Changed(1, db_->Put(w, InlineKey(physical, key).view(), encoded)));
}

namespace {

// The payload of a record: the engine's value from its header on.
class PayloadReader final : public engine::ValueReader {
 public:
  PayloadReader(std::unique_ptr<engine::ValueReader> value, uint64_t header)
      : value_(std::move(value)), header_(header) {}
  uint64_t size() const override { return value_->size() - header_; }
  absl::Status Read(uint64_t offset, size_t n, char* dst) override {
    if (offset > size() || n > size() - offset) {
      return absl::InvalidArgumentError("read past the end of the value");
    }
    return value_->Read(header_ + offset, n, dst);
  }

 private:
  const std::unique_ptr<engine::ValueReader> value_;
  const uint64_t header_;
};

}  // namespace

absl::Status LocalBackend::PutPayload(int db, std::string_view key, ValueType type,
                                      int64_t expire_at_ms, std::string_view payload,
                                      const WriteOptions& options) {
  if (expire_at_ms < 0 || expire_at_ms > kMaxExpireAtMs) {
    return absl::InvalidArgumentError("expire time out of range");
  }
  // The record's header, then the payload as it is: the engine writes a large value
  // straight from the caller's buffer to a blob file.
  std::string header;
  EncodeRecord(Record{type, expire_at_ms, {}}, &header);
  const std::string_view parts[] = {header, payload};
  const engine::WriteOptions w = EngineWriteOptions(options);
  const int physical = Physical(db);
  if (expire_at_ms > 0) {
    // The expiry index entry first: one whose record was not written is harmless (its
    // readers check the record), while a record without one would never expire actively.
    CAIRN_RETURN_IF_ERROR(
        Counted(w, db_->Put(w, ExpiryIndexKey(expire_at_ms, physical, key), "")));
  }
  absl::StatusOr<KeyState> before = StoredState(physical, key);
  if (!before.ok()) return before.status();
  std::vector<CountChange> changes;
  AddTransition(&changes, physical, *before, KeyState{true, expire_at_ms});
  return Counted(w, WriteCountedWith(&changes, 1, [&](const engine::WriteBatch& counts) {
                   return db_->PutParts(w, InlineKey(physical, key).view(), parts,
                                        static_cast<uint64_t>(expire_at_ms) * 1000,
                                        counts.Count() > 0 ? &counts : nullptr);
                 }));
}

absl::Status LocalBackend::GetPayload(int db, std::string_view key, RecordView* header,
                                      std::unique_ptr<engine::ValueReader>* payload) {
  auto value = db_->GetReader({}, InlineKey(Physical(db), key).view());
  if (!value.ok()) return value.status();
  // The header is at most 9 bytes: type, then the expiry if the type's high bit says so.
  char head[9];
  const size_t n = static_cast<size_t>(std::min<uint64_t>((*value)->size(), sizeof(head)));
  CAIRN_RETURN_IF_ERROR((*value)->Read(0, n, head));
  RecordView view;
  CAIRN_RETURN_IF_ERROR(DecodeRecordView(std::string_view(head, n), &view));
  if (Expired(view.expire_at_ms)) return absl::NotFoundError("");
  header->type = view.type;
  header->expire_at_ms = view.expire_at_ms;
  header->value = {};
  const uint64_t header_size = n - view.value.size();
  *payload = std::make_unique<PayloadReader>(std::move(*value), header_size);
  return absl::OkStatus();
}

absl::Status LocalBackend::Delete(int db, std::string_view key, const WriteOptions& options) {
  const engine::WriteOptions w = EngineWriteOptions(options);
  const int physical = Physical(db);
  absl::StatusOr<KeyState> before = StoredState(physical, key);
  if (!before.ok()) return before.status();
  if (!before->exists) return absl::OkStatus();  // nothing stored, expired or not
  std::vector<CountChange> changes;
  AddTransition(&changes, physical, *before, KeyState{});
  engine::WriteBatch b;
  b.Delete(InlineKey(physical, key).view());
  return Counted(w, WriteCounted(w, &b, &changes, 1));
}

absl::Status LocalBackend::Apply(const std::vector<Mutation>& batch, const WriteOptions& options) {
  engine::WriteBatch b;
  std::string scratch;
  std::vector<CountChange> changes;
  // The state of each record the batch writes, as of the mutations applied so far. Keyed
  // by views of the mutations' own keys: no copy per key.
  absl::flat_hash_map<std::pair<int, absl::string_view>, KeyState> states;
  states.reserve(batch.size());
  auto transition = [&](int physical, std::string_view user_key, KeyState after) -> absl::Status {
    const std::pair<int, absl::string_view> id(physical, ToAbsl(user_key));
    auto it = states.find(id);
    KeyState before;
    if (it != states.end()) {
      before = it->second;
    } else {
      absl::StatusOr<KeyState> stored = StoredState(physical, user_key);
      if (!stored.ok()) return stored.status();
      before = *stored;
    }
    AddTransition(&changes, physical, before, after);
    states[id] = after;
    return absl::OkStatus();
  };
  if (batch.size() > 1) {
    // Each key's count read (StoredState) starts with a cache miss in the memtable's
    // index: the batch's are fetched together first.
    size_t bytes = 0;
    for (const Mutation& m : batch) bytes += 2 + m.key.size();
    std::string buf;
    buf.reserve(bytes);  // never reallocated below: the views stay valid
    std::vector<std::string_view> keys;
    keys.reserve(batch.size());
    for (const Mutation& m : batch) {
      if (m.kind != Mutation::Kind::kPut && m.kind != Mutation::Kind::kDelete) continue;
      const InlineKey k(Physical(m.db), m.key);
      const size_t at = buf.size();
      buf.append(k.view());
      keys.emplace_back(buf.data() + at, k.view().size());
    }
    db_->PrefetchForGets(keys);
  }
  for (const Mutation& m : batch) {
    if (m.kind == Mutation::Kind::kPut || m.kind == Mutation::Kind::kDelete) {
      const KeyState after = m.kind == Mutation::Kind::kPut ? KeyState{true, m.record.expire_at_ms}
                                                             : KeyState{};
      if (absl::Status s = transition(Physical(m.db), m.key, after); !s.ok()) return s;
    }
    if (m.kind == Mutation::Kind::kPut &&
        (m.record.expire_at_ms < 0 || m.record.expire_at_ms > kMaxExpireAtMs)) {
      return absl::InvalidArgumentError("expire time out of range");
    }
    switch (m.kind) {
      case Mutation::Kind::kPut:
        AddPut(&b, Physical(m.db), m.key, m.record, &scratch);
        break;
      case Mutation::Kind::kDelete:
        b.Delete(Key(m.db, m.key));
        break;
      case Mutation::Kind::kPutMember:
      case Mutation::Kind::kDeleteMember: {
        std::string k = MemberPrefix(Physical(m.db), m.key, m.version);
        k += m.member;
        if (m.kind == Mutation::Kind::kPutMember) {
          b.Put(k, m.value);
        } else {
          b.Delete(k);
        }
        break;
      }
    }
  }
  const engine::WriteOptions w = EngineWriteOptions(options);
  return Counted(w, WriteCounted(w, &b, &changes, batch.size()));
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
  // Deletes in batches of 1000 keys. The caller holds the whole keyspace exclusively
  // (FLUSHDB, FLUSHALL): the counts stay exact only if no write runs meanwhile, since a
  // key this iterator still sees and another writer deleted would be uncounted twice.
  // Expired records too: each is a key until deleted (Counts).
  engine::ReadOptions ro;
  ro.include_expired = true;
  const int physical = Physical(db);
  ro.iterate_upper_bound = DbEnd(physical);
  auto it = db_->NewIterator(ro);
  engine::WriteBatch b;
  std::vector<CountChange> changes;
  int n = 0;
  for (it->Seek(DbPrefix(physical)); it->Valid(); it->Next()) {
    RecordView r;
    const int64_t expire = DecodeRecordView(it->value(), &r).ok() ? r.expire_at_ms : 0;
    AddTransition(&changes, physical, KeyState{true, expire},
                  KeyState{});
    b.Delete(it->key());
    if (++n % 1000 == 0) {
      if (absl::Status s = WriteCounted({}, &b, &changes, b.Count()); !s.ok()) return s;
      b.Clear();
      changes.clear();
    }
  }
  if (absl::Status s = it->status(); !s.ok()) return s;
  return WriteCounted({}, &b, &changes, b.Count());
}

absl::Status LocalBackend::Sync() { return db_->SyncWal(); }

absl::Status LocalBackend::BackgroundError() { return db_->BackgroundError(); }

namespace {
thread_local uint64_t deferred_writes = 0;
}  // namespace

absl::Status LocalBackend::Counted(const engine::WriteOptions& w, absl::Status s) {
  if (s.ok() && w.defer_wal_write) deferred_writes++;
  return s;
}

uint64_t LocalBackend::DeferredWritesOnThisThread() const { return deferred_writes; }

absl::Status LocalBackend::FlushWrites() { return db_->FlushWal(); }

std::optional<std::string> LocalBackend::Property(std::string_view name) {
  if (name == "cairn.changes") return std::to_string(changes_.load(std::memory_order_relaxed));
  return db_->GetProperty(name);
}

absl::StatusOr<std::vector<ExpiredKey>> LocalBackend::ScanExpired(int64_t now_ms, size_t limit,
                                                                std::string_view after) {
  // Physical databases back to logical ones, as the map stands now (DeleteExpired
  // re-checks it under the key's lock). A SWAPDB updates its two entries one after the
  // other: a physical database it leaves unnamed meanwhile is skipped this time.
  int logical[kMaxDatabases];
  std::fill(std::begin(logical), std::end(logical), -1);
  for (int i = 0; i < kMaxDatabases; i++) logical[Physical(i)] = i;
  std::vector<ExpiredKey> out;
  engine::ReadOptions ro;
  // Every entry whose time is <= now_ms sorts below the entries of now_ms + 1.
  ro.iterate_upper_bound = ExpiryIndexKey(now_ms + 1, 0, "");
  auto it = db_->NewIterator(ro);
  std::string start(1, kExpiryNamespace);
  if (!after.empty()) {
    start.assign(after.data(), after.size());
    start.push_back('\0');  // the first key after `after`
  }
  for (it->Seek(start); it->Valid() && out.size() < limit; it->Next()) {
    ExpiredKey e;
    int physical = 0;
    std::string_view user_key;
    if (!ParseExpiryIndexKey(it->key(), &e.expire_at_ms, &physical, &user_key)) {
      return absl::DataLossError("corruption: bad expiry index key");
    }
    if (logical[physical] < 0) continue;
    e.db = logical[physical];
    e.key.assign(user_key.data(), user_key.size());
    e.index_key.assign(it->key().data(), it->key().size());
    out.push_back(std::move(e));
  }
  if (absl::Status s = it->status(); !s.ok()) return s;
  return out;
}

absl::StatusOr<bool> LocalBackend::DeleteExpired(const ExpiredKey& e, const WriteOptions& options) {
  int64_t expire_at_ms = 0;
  int physical = 0;
  std::string_view user_key;
  if (!ParseExpiryIndexKey(e.index_key, &expire_at_ms, &physical, &user_key)) {
    return absl::InvalidArgumentError("not an expiry index entry");
  }
  if (Physical(e.db) != physical) return false;  // a SWAPDB since the scan
  // The record as stored, expired or not: compaction keeps an expired record until this
  // deletes it (MemberReclaimFilter's KeepExpired), so that this finds and uncounts it.
  std::string bytes;
  RecordView r;
  const absl::Status s = ReadStoredRecord(db_, physical, user_key, &bytes, &r);
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  const bool expired = s.ok() && r.expire_at_ms == expire_at_ms && Expired(expire_at_ms);
  engine::WriteBatch b;
  std::vector<CountChange> changes;
  if (expired) {
    b.Delete(EncodeKey(physical, user_key));
    AddTransition(&changes, physical, KeyState{true, expire_at_ms}, KeyState{});
  }
  b.Delete(e.index_key);
  const engine::WriteOptions w = EngineWriteOptions(options);
  // Not a change for rdb_changes_since_last_save: Redis 7.0 counts no expiry, active or
  // lazy, in its dirty counter (test_info_fields.py compares).
  if (absl::Status ws = Counted(w, WriteCounted(w, &b, &changes, /*entries=*/0)); !ws.ok()) {
    return ws;
  }
  return expired;
}

}  // namespace cairn::store
