// KeySnapshot: one key of the cluster (any type) held in memory as a store::Backend, so
// the single-node command implementations run on it unchanged (docs/cluster.md, "Data
// types"). The key's replica that executes a command loads the key's resolved version
// into a snapshot, runs the command, and, if the command changed it, replicates the
// snapshot's new contents as the key's next version.
//
// Replicated form (pb::Record of the key):
//   string:      type 's', value = the string
//   collection:  type 'h'|'l'|'t'|'z', value = a serialized pb::CollectionState: the
//                collection's metadata (store/collection.h) and its members in order.
// Hashes, sets and sorted sets carry each member's dot (pb::CollectionState.dots), so
// concurrent versions merge member by member (cluster/type_merge.h). The whole key still
// travels with every change, so a change costs O(size of the collection).
#ifndef CAIRN_SERVER_KEY_SNAPSHOT_H_
#define CAIRN_SERVER_KEY_SNAPSHOT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

#include "cluster/cluster.pb.h"
#include "store/backend.h"

namespace cairn::server {

// The type of a replicated version: "string", "hash", "list", "set", "zset" ("none" for
// a type this server does not know).
std::string_view ReplicatedTypeName(const cluster::pb::Record& record);

class KeySnapshot final : public store::Backend {
 public:
  // now_ms: the command's clock (expiry). counter_node: when not empty, the command adds
  // to a number (kCounter) and its change is exported as that node's contribution to a
  // counter (cluster/counter.h).
  KeySnapshot(int db, std::string key, int64_t now_ms, std::string counter_node = {})
      : db_(db), key_(std::move(key)), now_ms_(now_ms), counter_node_(std::move(counter_node)) {}

  // Loads the key's version (a live one: not a tombstone, not expired; the merge of its
  // siblings, cluster/type_merge.h).
  absl::Status Load(const cluster::pb::Record& record);
  // The key as a record to replicate; nullopt if the command deleted it (or it expired).
  // Members keep the dot they were loaded with; members the command wrote have none
  // (they take the new version's dot). A counter command's string carries the counter.
  absl::StatusOr<std::optional<cluster::pb::Record>> Export() const;
  // Whether a command wrote anything.
  bool changed() const { return changed_; }

  absl::Status Get(int db, std::string_view key, store::Record* record) override;
  absl::Status Put(int db, std::string_view key, const store::Record& record,
                   const store::WriteOptions& options) override;
  absl::Status Delete(int db, std::string_view key, const store::WriteOptions& options) override;
  absl::Status Apply(const std::vector<store::Mutation>& batch,
                     const store::WriteOptions& options) override;
  absl::Status Scan(int db, std::string_view start, std::string_view end,
                    absl::FunctionRef<bool(std::string_view key, const store::RecordView& record)> fn) override;
  absl::Status Clear(int db) override;
  absl::Status GetMember(int db, std::string_view key, uint64_t version, std::string_view member,
                         std::string* value) override;
  absl::Status ScanMembers(int db, std::string_view key, uint64_t version, std::string_view start,
                           std::string_view end, bool reverse,
                           absl::FunctionRef<bool(std::string_view member, std::string_view value)> fn) override;
  uint64_t NewVersion() override { return ++last_version_; }
  absl::Status SwapDb(int a, int b) override;
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status FlushWrites() override { return absl::OkStatus(); }
  absl::Status BackgroundError() override { return absl::OkStatus(); }
  std::optional<std::string> Property(std::string_view name) override { return std::nullopt; }

 private:
  // Commands of one key touch only it; any other key is refused, not silently dropped.
  absl::Status Check(int db, std::string_view key) const;
  void Bump(uint64_t version) { last_version_ = std::max(last_version_, version); }

  const int db_;
  const std::string key_;
  const int64_t now_ms_;
  const std::string counter_node_;
  std::optional<cluster::pb::Record> loaded_;  // as Load got it
  std::optional<store::Record> record_;
  std::map<std::pair<uint64_t, std::string>, std::string> members_;  // (version, member)
  // The dot of each loaded member the command has not written since.
  std::map<std::pair<uint64_t, std::string>, cluster::pb::ClockEntry> dots_;
  uint64_t last_version_ = 0;
  bool changed_ = false;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_KEY_SNAPSHOT_H_
