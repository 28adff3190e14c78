// Backend: what every command of the server talks to. The local backend runs on this
// node's engine; the cluster coordinator (src/cluster) implements the same interface by
// fanning out to replicas, so commands are written once.
//
// Keys are (logical database, user key). All methods are thread-safe. Atomicity across
// several calls (read-modify-write commands) is the caller's job: the server holds its
// striped key locks around them.
#ifndef CAIRN_STORE_BACKEND_H_
#define CAIRN_STORE_BACKEND_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "cairn/engine/db.h"
#include "store/record.h"

namespace cairn::store {

struct Mutation {
  enum class Kind { kPut, kDelete, kPutMember, kDeleteMember };
  Kind kind = Kind::kPut;
  int db = 0;
  std::string key;
  Record record;  // kPut
  // kPutMember, kDeleteMember: member `member` of version `version` of collection key.
  uint64_t version = 0;
  std::string member;
  std::string value;  // kPutMember

  static Mutation Put(int db, std::string key, Record record) {
    Mutation m;
    m.db = db;
    m.key = std::move(key);
    m.record = std::move(record);
    return m;
  }
  static Mutation Delete(int db, std::string key) {
    Mutation m = Put(db, std::move(key), {});
    m.kind = Kind::kDelete;
    return m;
  }
  static Mutation PutMember(int db, std::string key, uint64_t version, std::string member,
                            std::string value) {
    Mutation m = Put(db, std::move(key), {});
    m.kind = Kind::kPutMember;
    m.version = version;
    m.member = std::move(member);
    m.value = std::move(value);
    return m;
  }
  static Mutation DeleteMember(int db, std::string key, uint64_t version, std::string member) {
    Mutation m = PutMember(db, std::move(key), version, std::move(member), {});
    m.kind = Kind::kDeleteMember;
    return m;
  }
};

// A key whose expiry passed, as a backend's expiry index names it (Backend::ScanExpired).
struct ExpiredKey {
  int db = 0;  // the logical database when scanned
  std::string key;
  int64_t expire_at_ms = 0;
  std::string index_key;  // the backend's own name of the entry
};

// A logical database's key counts (INFO keyspace, DBSIZE).
struct KeyCounts {
  // Records stored: as in Redis, a key whose expiry passed counts until it is deleted
  // (by the active expiry, or by a command that writes it).
  int64_t keys = 0;
  int64_t expires = 0;          // of which carry an expiry
  int64_t expire_at_sum_s = 0;  // the sum of those expiries, Unix seconds (avg_ttl)
};

struct WriteOptions {
  bool sync = false;  // make this write durable before returning (besides the WAL policy)
};

class Backend {
 public:
  virtual ~Backend() = default;

  // NotFound if the key is absent or expired.
  virtual absl::Status Get(int db, std::string_view key, Record* record) = 0;
  virtual absl::Status Put(int db, std::string_view key, const Record& record,
                           const WriteOptions& options = {}) = 0;
  // Large values (docs/large-values.md). PutPayload is Put of a record whose payload is a
  // view, so the caller's bytes are stored without being copied into a Record first.
  virtual absl::Status PutPayload(int db, std::string_view key, ValueType type,
                                  int64_t expire_at_ms, std::string_view payload,
                                  const WriteOptions& options = {}) {
    return Put(db, key, Record{type, expire_at_ms, std::string(payload)}, options);
  }
  // Get of a record whose payload is read through *payload, piece by piece where the
  // backend can (a blob file): header gets its type and expiry (header->value empty).
  // NotFound if absent or expired.
  virtual absl::Status GetPayload(int db, std::string_view key, RecordView* header,
                                  std::unique_ptr<engine::ValueReader>* payload);
  // Deleting an absent key is not an error.
  virtual absl::Status Delete(int db, std::string_view key, const WriteOptions& options = {}) = 0;
  // All mutations or none.
  virtual absl::Status Apply(const std::vector<Mutation>& batch,
                             const WriteOptions& options = {}) = 0;
  // Visits db's live keys in order from `start` (inclusive) to `end` (exclusive; empty:
  // to the end of db) until fn returns false. fn's views are valid during the call.
  virtual absl::Status Scan(
      int db, std::string_view start, std::string_view end,
      absl::FunctionRef<bool(std::string_view key, const RecordView& record)> fn) = 0;
  // Deletes every key of db. The caller excludes every other write meanwhile (the
  // keyspace lock held exclusively).
  virtual absl::Status Clear(int db) = 0;

  // Collections (store/collection.h): the members of version `version` of key, written
  // with kPutMember / kDeleteMember mutations. Members of a version no record names any
  // more are garbage the backend reclaims; nothing reads them.
  // NotFound if the member is absent.
  virtual absl::Status GetMember(int db, std::string_view key, uint64_t version,
                                 std::string_view member, std::string* value) = 0;
  // Visits the members from `start` (inclusive) to `end` (exclusive; empty: to the last)
  // in byte order, or from the last down if reverse, until fn returns false.
  virtual absl::Status ScanMembers(
      int db, std::string_view key, uint64_t version, std::string_view start,
      std::string_view end, bool reverse,
      absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn) = 0;
  // A collection version never handed out before by this backend (durably: it survives
  // restarts). Throws std::runtime_error if that cannot be made durable.
  virtual uint64_t NewVersion() = 0;
  // Exchanges the contents of two databases, atomically and durably (SWAPDB).
  virtual absl::Status SwapDb(int a, int b) = 0;
  // Makes every acknowledged write durable (WAL sync).
  virtual absl::Status Sync() = 0;
  // Hands the writes made so far to the OS, so they survive a process crash. A backend
  // may defer that (LocalBackend::set_defer_wal_writes) so that a server acknowledging
  // many requests at once pays one system call for all of them; such a server calls
  // this before it sends any reply.
  virtual absl::Status FlushWrites() = 0;
  // How many writes the calling thread has made that FlushWrites has yet to hand to the
  // OS, counted since the thread started (it never goes down). A server compares it
  // before and after serving a client to know whether that client's replies acknowledge
  // deferred writes: if FlushWrites then fails, only those replies must be withheld.
  virtual uint64_t DeferredWritesOnThisThread() const { return 0; }
  // OK while writes are accepted; otherwise why the store is read-only (a failed disk
  // write; it may clear by itself: engine::DB::BackgroundError). Cheap.
  virtual absl::Status BackgroundError() = 0;
  // Active expiry (Redis's expire cycle). Up to `limit` keys whose expiry passed by
  // now_ms, oldest expiry first, starting after the entry whose index_key is `after`
  // (empty: from the first), so that a caller working through many resumes where it
  // stopped. An entry may be stale (the key was deleted, rewritten or given another
  // expiry since): DeleteExpired tells. A backend that keeps no expiry index (whose
  // expired keys are only hidden) returns none.
  virtual absl::StatusOr<std::vector<ExpiredKey>> ScanExpired(int64_t now_ms, size_t limit,
                                                              std::string_view after = {}) {
    (void)now_ms;
    (void)limit;
    (void)after;
    return std::vector<ExpiredKey>{};
  }
  // Deletes e.key if its record still expires at e.expire_at_ms, which passed, and drops
  // the index entry either way (unless SWAPDB moved the database since the scan: then
  // nothing, and the entry comes back in a later scan). True if it deleted the key. The
  // caller holds the key's lock: no write to the key may run meanwhile.
  virtual absl::StatusOr<bool> DeleteExpired(const ExpiredKey& e, const WriteOptions& options) {
    (void)e;
    (void)options;
    return false;
  }

  // db's key counts, maintained with every write: O(1), exact. nullopt if this backend
  // keeps none (the caller then counts by scanning).
  virtual std::optional<KeyCounts> Counts(int db) {
    (void)db;
    return std::nullopt;
  }

  // Engine statistics by name (the engine's GetProperty names).
  virtual std::optional<std::string> Property(std::string_view name) = 0;
};

}  // namespace cairn::store

#endif  // CAIRN_STORE_BACKEND_H_
