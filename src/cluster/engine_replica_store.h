// EngineReplicaStore: a node's replicas on its engine (docs/cluster.md, "Replicas").
//
// Engine key:   'R' | db (1 byte) | user key      (the cluster's own namespace, apart from
//                                                   the single-node records, 'M' and 'S')
// Engine value: format byte 0x01, then a serialized pb::Versions (the key's versions,
//               canonical order). A value without the format byte is a single pb::Record
//               from before vector clocks, read as the one version.
// Engine key:   'G' | db | user key  ->  serialized pb::Record: a tombstone every replica
//               acknowledged, waiting for its grace period (CollectTombstones).
//
// Registers (cluster/registers.h): database d + kRegisterSpace is kept under 'Y' | d |
// register key, its tombstone marks under 'g'. With each register's write, in the same
// engine batch, the store keeps what the single-node commands read of a collection
// without visiting every member, derived from the registers it holds:
//   'Z' | d | register prefix  ->  fixed64 live members | fixed64 digest
//       (digest: XOR of XXH3(register key | stored versions) over the collection's
//       registers, so two replicas holding the same registers have the same digest)
//   'X' | d | fixed32 BE len(key) | key | score (8 bytes, store::EncodeScore) | member -> ""
//       (sorted sets: live members by score)
//
// Apply reads the stored versions and writes the merge only if it changed, under a lock
// stripe of the key, so two replicated writes of one key cannot lose each other. An
// expired version is kept (readers treat it as absent): were it dropped, an older value on
// another replica could come back.
#ifndef CAIRN_CLUSTER_ENGINE_REPLICA_STORE_H_
#define CAIRN_CLUSTER_ENGINE_REPLICA_STORE_H_

#include <array>
#include <atomic>
#include <functional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "cairn/engine/db.h"
#include "cluster/replica_store.h"

namespace cairn::cluster {

class EngineReplicaStore final : public ReplicaStore {
 public:
  // db must outlive this object. sync: every Apply is synced (wal-sync always).
  EngineReplicaStore(engine::DB* db, bool sync) : db_(db), sync_(sync) {}

  // Every write of the batch in one engine write, under the stripes of all its keys.
  absl::Status ApplyBatch(const pb::ReplicaWriteBatch& batch, std::vector<bool>* changed) override;
  absl::Status Update(int db, std::string_view key,
                      absl::FunctionRef<absl::StatusOr<pb::Record>(const VersionList&)> make) override;
  absl::Status Apply(int db, std::string_view key, const VersionList& versions,
                     bool* changed) override;
  absl::StatusOr<VersionList> Read(int db, std::string_view key) override;
  absl::Status Scan(int db, std::string_view start, size_t limit,
                    std::vector<std::pair<std::string, VersionList>>* out, bool* more) override;
  absl::Status MarkTombstoneSeen(int db, std::string_view key,
                                 const pb::Record& tombstone) override;
  absl::StatusOr<size_t> CollectTombstones(uint64_t now_hlc, uint64_t grace_ms) override;
  uint64_t siblings_dropped() const override { return dropped_.load(); }
  absl::Status Clear(int db) override;
  absl::StatusOr<bool> Drop(int db, std::string_view key, const VersionList& expected) override;
  absl::Status Sync() override { return db_->SyncWal(); }

  // What the store derived of a collection's registers (above).
  struct CollectionSummary {
    uint64_t members = 0;  // live (not tombstones)
    uint64_t digest = 0;
  };
  // db: the collection's database (0..255); type: 'h', 't' or 'z'.
  absl::StatusOr<CollectionSummary> Summary(int db, char type, std::string_view key);
  // Visits the collection's live registers with members in [start, end) (end empty: to
  // the last), in member order or reversed, with each one's merged value, until fn
  // returns false.
  absl::Status ScanRegisters(
      int db, char type, std::string_view key, std::string_view start, std::string_view end,
      bool reverse, absl::FunctionRef<bool(std::string_view member, const pb::Record& merged)> fn);
  // Visits a sorted set's live members by score: each as score (8 bytes) | member, in
  // [start, end) of that form, forward or reversed.
  absl::Status ScanScores(int db, std::string_view key, std::string_view start,
                          std::string_view end, bool reverse,
                          absl::FunctionRef<bool(std::string_view score_and_member)> fn);

  // Lets writes made on a thread with an event loop leave their WAL records buffered until
  // the loop's turn ends: defer(fn) runs fn after the turn and returns true if this thread
  // has such a loop (Transport::Defer), else returns false. Call before any write.
  void set_defer(std::function<bool(std::function<void()>)> defer) { defer_ = std::move(defer); }

  static std::string EngineKey(int db, std::string_view key, char space = 'R');
  static constexpr char kFormatVersion = 0x01;

 private:
  size_t StripeIndex(const std::string& engine_key) const;
  absl::Mutex& StripeOf(const std::string& engine_key) { return stripes_[StripeIndex(engine_key)]; }
  absl::Status ClearLocked(int db);  // Clear, with every stripe held
  absl::Status Write(const engine::WriteBatch& batch);  // every engine write of records
  // Apply's merge and write, with the key's stripe held.
  absl::Status MergeAndWrite(const std::string& engine_key, VersionList stored,
                             const VersionList& versions, bool* changed);
  // Apply of a register (db >= kRegisterSpace): the versions and the collection's derived
  // state in one engine write, under the collection's stripe.
  absl::Status ApplyRegister(int db, std::string_view key, const VersionList& versions,
                             bool* changed);
  // A register's new versions (after; null: none, the register is dropped) and its
  // collection's derived state, in one engine write; the stripe is held.
  absl::Status WriteRegisterLocked(int db, std::string_view key, const VersionList& before,
                                   const VersionList* after, size_t dropped, bool* changed);
  static absl::StatusOr<VersionList> Decode(std::string_view value);

  static constexpr size_t kStripes = 64;
  engine::DB* const db_;
  const bool sync_;
  std::array<absl::Mutex, kStripes> stripes_;
  std::atomic<uint64_t> dropped_{0};
  std::function<bool(std::function<void()>)> defer_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_ENGINE_REPLICA_STORE_H_
