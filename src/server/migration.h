// Moving a data directory's keys between the single-node format and the cluster's
// replicas, when a server opens the directory in the other mode (docs/cluster.md,
// "Migration"). Until the one storage format of docs/one-data-path.md lands, the two modes
// keep keys in different namespaces of the same engine: the single node in records ('M')
// and members ('S', docs/formats/data-types.md), a cluster node in replicated versions
// ('R', docs/formats/cluster.md). Opening a directory in one mode moves every live key of
// the other mode's namespaces into its own, so no key is ever hidden.
//
// Both directions copy a key, then delete its old form: a crash in between leaves both,
// and the next open copies it again (the copy supersedes the first one). Expired keys are
// not copied. Counters keep their value, not their per-node history: the single node has
// none, and a single-node INCR of a migrated counter starts a new history when it returns
// to a cluster. Blocking: runs on the caller's thread before the server serves anything.
#ifndef CAIRN_SERVER_MIGRATION_H_
#define CAIRN_SERVER_MIGRATION_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "cluster/cluster.pb.h"
#include "cluster/engine_replica_store.h"
#include "cluster/replica_store.h"
#include "server/key_snapshot.h"
#include "store/backend.h"

namespace cairn::server {

struct MigrationStats {
  uint64_t keys = 0;        // keys copied
  uint64_t members = 0;     // members of the collections among them
  uint64_t superseded = 0;  // single-node copies dropped: the replicas held the key
};

// Whether this node's replicas hold any version of the key (a tombstone too).
using HasReplica = std::function<absl::StatusOr<bool>(int db, const std::string& key)>;

// A key in the replicated form, to be written as its newest version (the caller gives it
// its version and clock: Coordinator::Write).
using WriteReplicated =
    std::function<absl::Status(int db, const std::string& key, cluster::pb::Record record)>;

// Every live key of local's single-node namespaces, in every database, handed to write in
// the replicated form (server/key_snapshot.h) and then deleted from local. A key the
// replicas already hold is only deleted: its single-node copy is what an interrupted move
// left (or, in a directory used in both modes before moves existed, the older of two
// unrelated copies). A key whose replicated form would not load back or is too large to
// replicate whole stops the move with an error naming it, before it is deleted. now_ms:
// the clock expiries are checked against.
absl::StatusOr<MigrationStats> MigrateSingleToCluster(store::Backend& local, int64_t now_ms,
                                                      const HasReplica& has_replica,
                                                      const WriteReplicated& write);

// Whether local holds any live single-node key.
absl::StatusOr<bool> HasSingleNodeKeys(store::Backend& local);

// Every live key of replicas, as reads serve it (the merge of its versions,
// cluster/type_merge.h), written to local in the single-node format; then replicas are
// cleared (tombstones included) once local has made the copies durable.
// registers: where collections kept as registers (cluster/registers.h) read their
// members (null: none are expected).
absl::StatusOr<MigrationStats> MigrateClusterToSingle(cluster::ReplicaStore& replicas,
                                                      store::Backend& local, int64_t now_ms,
                                                      RegisterSource* registers = nullptr);

// The registers this node's engine holds, read locally. Sync asks no other replica here;
// the cluster's executing replica overrides it to sync at R first (cluster_mode.cc).
class LocalRegisters : public RegisterSource {
 public:
  explicit LocalRegisters(cluster::EngineReplicaStore* store) : store_(store) {}
  absl::Status Sync(int, char, std::string_view) override { return absl::OkStatus(); }
  absl::StatusOr<Read> ReadRegister(int db, std::string_view register_key) override;
  absl::StatusOr<uint64_t> LocalCount(int db, char type, std::string_view key) override;
  absl::Status ScanLocal(int db, char type, std::string_view key, std::string_view start,
                         std::string_view end, bool reverse,
                         absl::FunctionRef<bool(std::string_view, std::string_view)> fn) override;
  absl::Status ScanLocalScores(int db, std::string_view key, std::string_view start,
                               std::string_view end, bool reverse,
                               absl::FunctionRef<bool(std::string_view)> fn) override;

 private:
  cluster::EngineReplicaStore* store_;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_MIGRATION_H_
