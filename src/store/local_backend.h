// The Backend on this node's engine.
#ifndef CAIRN_STORE_LOCAL_BACKEND_H_
#define CAIRN_STORE_LOCAL_BACKEND_H_

#include <atomic>
#include <cstring>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "cairn/engine/db.h"
#include "cairn/engine/write_batch.h"
#include "store/backend.h"

namespace cairn::store {

// Key counts (Counts): every write that creates or deletes a record, or changes whether
// it expires, reads the stored record first (expired or not) and carries the new counts
// of a count slot in the same engine write batch, so they survive a crash
// exactly (docs/keyspace-counts.md). REQUIRES of callers that write: no other
// write to the same key runs meanwhile (the server's key locks).
class LocalBackend final : public Backend {
 public:
  // db must outlive this object. now_ms: the wall clock in Unix milliseconds (injectable
  // for tests); nullptr means the system clock.
  // Loads the database map (see SwapDb) from the engine.
  static absl::StatusOr<std::unique_ptr<LocalBackend>> Open(engine::DB* db,
                                                            int64_t (*now_ms)() = nullptr);
  LocalBackend(engine::DB* db, int64_t (*now_ms)());

  absl::Status Get(int db, std::string_view key, Record* record) override;
  absl::Status Put(int db, std::string_view key, const Record& record,
                   const WriteOptions& options) override;
  absl::Status PutPayload(int db, std::string_view key, ValueType type, int64_t expire_at_ms,
                          std::string_view payload, const WriteOptions& options = {}) override;
  absl::Status GetPayload(int db, std::string_view key, RecordView* header,
                          std::unique_ptr<engine::ValueReader>* payload) override;
  absl::Status Delete(int db, std::string_view key, const WriteOptions& options) override;
  absl::Status Apply(const std::vector<Mutation>& batch, const WriteOptions& options) override;
  absl::Status Scan(
      int db, std::string_view start, std::string_view end,
      absl::FunctionRef<bool(std::string_view key, const RecordView& record)> fn) override;
  absl::Status Clear(int db) override;
  absl::Status GetMember(int db, std::string_view key, uint64_t version, std::string_view member,
                         std::string* value) override;
  absl::Status ScanMembers(
      int db, std::string_view key, uint64_t version, std::string_view start,
      std::string_view end, bool reverse,
      absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn) override;
  uint64_t NewVersion() override;
  absl::Status SwapDb(int a, int b) override;
  absl::Status Sync() override;
  absl::Status FlushWrites() override;
  absl::Status BackgroundError() override;
  uint64_t DeferredWritesOnThisThread() const override;
  // Leave the WAL records of non-sync writes in the engine's buffer until FlushWrites
  // (engine::WriteOptions::defer_wal_write). Off by default: every write reaches the OS
  // before it returns.
  void set_defer_wal_writes(bool defer) { defer_ = defer; }
  std::optional<std::string> Property(std::string_view name) override;
  absl::StatusOr<std::vector<ExpiredKey>> ScanExpired(int64_t now_ms, size_t limit,
                                                      std::string_view after = {}) override;
  absl::StatusOr<bool> DeleteExpired(const ExpiredKey& e, const WriteOptions& options) override;
  std::optional<KeyCounts> Counts(int db) override;

 private:
  // Whether a record is stored under a key (expired or not) and its expiry.
  struct KeyState {
    bool exists = false;
    int64_t expire_at_ms = 0;
  };
  // A change of the counts of one physical database.
  struct CountChange {
    int physical = 0;
    KeyCounts delta;
  };
  // The counts are kept in slots: each holds, per physical database, the sum of the
  // changes written through it (a slot's keys may be negative; only the sum over the
  // slots is a count). A writer takes a free slot (its thread's own first) and holds
  // its mu from computing the slot's new values until the engine write carrying them
  // returns, so each slot's stored values follow the WAL's order: the newest one a
  // recovery keeps is the sum of that slot's changes it keeps. Writers of other slots
  // never wait for it (a slow write, a large value, a sync). Read without mu.
  static constexpr int kCountSlots = 32;
  struct CountSlot {
    absl::Mutex mu;
    std::atomic<int64_t> keys[kMaxDatabases] = {};
    std::atomic<int64_t> expires[kMaxDatabases] = {};
    std::atomic<int64_t> expire_sum_s[kMaxDatabases] = {};
  };
  absl::StatusOr<KeyState> StoredState(int physical, std::string_view user_key);
  static void AddTransition(std::vector<CountChange>* changes, int physical, KeyState before,
                            KeyState after);
  // Writes b with the changes of the counts (in the same engine write). entries: what
  // the write adds to Property("cairn.changes").
  absl::Status WriteCounted(const engine::WriteOptions& w, engine::WriteBatch* b,
                            std::vector<CountChange>* changes, uint64_t entries);
  // Runs write, which makes the change of `entries` entries together with counts (the new
  // values of a count slot) in one atomic engine write. The counts in memory change only
  // if the engine applied the write (its counts read back, when it reports an error).
  absl::Status WriteCountedWith(
      std::vector<CountChange>* changes, uint64_t entries,
      absl::FunctionRef<absl::Status(const engine::WriteBatch& counts)> write);
  // Locks and returns a count slot: the first free one from this thread's own, or waits
  // for its own when all are busy.
  CountSlot& LockCountSlot(int* slot);
  // Loads the stored counts, or counts every record once if none are stored yet.
  absl::Status LoadCounts();

  bool Expired(int64_t expire_at_ms) const;
  // Writes the expiry index entries of records written before the index existed, once.
  absl::Status BuildExpiryIndex();
  // The engine-key prefix byte of logical database db: SWAPDB exchanges two entries of
  // this map (stored under the engine key "C" "dbmap") instead of rewriting every key.
  int Physical(int db) const { return physical_[db].load(std::memory_order_acquire); }
  std::string Key(int db, std::string_view user_key) const {
    return EncodeKey(Physical(db), user_key);
  }
  // The same engine key without a heap allocation for keys up to ~60 bytes (the point
  // reads and writes of every command).
  class InlineKey {
   public:
    InlineKey(int physical_db, std::string_view user_key) {
      const size_t n = 2 + user_key.size();
      char* p = inline_;
      if (n > sizeof(inline_)) {
        heap_.resize(n);
        p = heap_.data();
      }
      p[0] = kMetaNamespace;
      p[1] = static_cast<char>(physical_db);
      if (!user_key.empty()) std::memcpy(p + 2, user_key.data(), user_key.size());
      view_ = std::string_view(p, n);
    }
    InlineKey(const InlineKey&) = delete;
    InlineKey& operator=(const InlineKey&) = delete;
    std::string_view view() const { return view_; }

   private:
    char inline_[64];
    std::string heap_;
    std::string_view view_;
  };

  engine::WriteOptions EngineWriteOptions(const WriteOptions& o) const {
    engine::WriteOptions w;
    w.sync = o.sync;
    w.defer_wal_write = defer_ && !o.sync;
    return w;
  }
  // s, counting a successful deferred write (DeferredWritesOnThisThread).
  static absl::Status Counted(const engine::WriteOptions& w, absl::Status s);

  engine::DB* const db_;
  int64_t (*const now_ms_)();
  bool defer_ = false;
  absl::Mutex swap_mu_;  // one SWAPDB at a time
  std::atomic<uint8_t> physical_[kMaxDatabases];
  // Collection versions: next_version_ counts up; every version below the lease stored
  // under "Cversion" may have been handed out, so a restart continues from the lease.
  std::atomic<uint64_t> next_version_{1};
  absl::Mutex lease_mu_;
  std::atomic<uint64_t> version_lease_{0};
  std::unique_ptr<CountSlot[]> counts_;
  // Records and members written for commands (not index entries, counts, or the active
  // expiry's deletions): Property("cairn.changes"), as Redis's dirty counter.
  std::atomic<uint64_t> changes_{0};
  absl::Status Changed(uint64_t entries, absl::Status s) {
    if (s.ok()) changes_.fetch_add(entries, std::memory_order_relaxed);
    return s;
  }
};

// The engine's compaction filter for a LocalBackend's data: drops members whose
// collection is gone (deleted, expired, overwritten, or a newer version), and expiry
// index entries whose record no longer carries their expiry (record.h); keeps every
// expired record, however old, until LocalBackend deletes (and uncounts) it. Set it in
// the engine's Options before DB::Open, then Attach the opened DB; until then it keeps
// all.
class MemberReclaimFilter final : public engine::CompactionFilterFactory {
 public:
  void Attach(engine::DB* db) { db_.store(db, std::memory_order_release); }
  std::unique_ptr<engine::CompactionFilter> NewFilter() override;

 private:
  std::atomic<engine::DB*> db_{nullptr};
};

// What every opener of a server's data directory sets (the server, `cairn db`): expired
// entries kept for 10 minutes after their expiry, LocalBackend's expired records until the
// active expiry deletes and uncounts them, and deleted collections' members reclaimed. A
// compaction run without these would drop expired records the key counts still count.
// The returned filter is attached to the DB once it is open.
std::shared_ptr<MemberReclaimFilter> ConfigureEngineForLocalBackend(engine::Options* options);

// Unix milliseconds from the system clock.
int64_t SystemNowMs();

}  // namespace cairn::store

#endif  // CAIRN_STORE_LOCAL_BACKEND_H_
