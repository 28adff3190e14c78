// Cluster mode of cairn-server (docs/cluster.md): this process as a node (transport,
// gossip membership, quorum coordinator, replicas on the engine) and the commands that
// run through the cluster. Every node accepts every request.
#ifndef CAIRN_SERVER_CLUSTER_MODE_H_
#define CAIRN_SERVER_CLUSTER_MODE_H_

#include <array>
#include <atomic>
#include <memory>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cairn/engine/db.h"
#include "cluster/cluster.pb.h"
#include "server/command.h"
#include "server/config.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace cairn::cluster {
class AsioTransport;
class Coordinator;
class EngineReplicaStore;
class HintStore;
class HybridClock;
class Maintenance;
class Membership;
class PartitionTransport;
}  // namespace cairn::cluster

namespace cairn::server {

class ClusterNode {
 public:
  // Joins (or forms) the cluster described by cfg: listens on cfg.cluster_port, gossips
  // with cfg.seeds. The node's generation (first start) and incarnation (starts so far)
  // are kept in <dir>/CLUSTER. resp_port and http_port are announced to the others.
  // server: whose configuration and clock commands run with (ExecuteHere). io: the
  // server's I/O threads, which run the node's connections (AsioTransport::Options::
  // contexts) and must keep running until the node is destroyed (or be stopped).
  static absl::StatusOr<std::unique_ptr<ClusterNode>> Start(
      const ServerConfig& cfg, engine::DB* db, int resp_port, int http_port,
      ServerContext* server, std::vector<boost::asio::io_context*> io);
  // Tells the others this node is leaving, then stops the transport.
  ~ClusterNode();

  cluster::Coordinator& coordinator() { return *coordinator_; }
  cluster::Membership& membership() { return *membership_; }
  int port() const;
  cluster::AsioTransport& transport() { return *transport_; }
  cluster::PartitionTransport& partition() { return *partition_; }
  cluster::EngineReplicaStore& store() { return *store_; }
  cluster::HintStore* hints() { return hints_.get(); }  // null: hinted handoff off
  cluster::Maintenance& maintenance() { return *maintenance_; }
  const std::string& id() const { return id_; }
  int default_w() const { return w_; }
  int default_r() const { return r_; }

  // Runs a command of one key as the key's replica (cluster_mode.cc, Route): reads the
  // key from R replicas, runs the command on it, writes a changed key to W replicas.
  // Returns the RESP reply and the commands' keyspace hits and misses.
  cluster::pb::ExecuteResult ExecuteHere(const cluster::pb::ExecuteCommand& command);

  // Brings this node's registers of a collection (cluster/registers.h) up to date with
  // r-1 other live replicas': compares their digests, and where one differs takes its
  // registers and gives it ours. NOQUORUM if fewer than r replicas answer.
  absl::Status SyncRegisters(int db, char type, std::string_view key, int r);

  // FLUSHDB (db) or FLUSHALL (-1) of this node's replicas and hints.
  absl::Status FlushHere(int db);

  // Runs fn on a thread that may wait for the network (never an I/O thread, where the
  // cluster's replies arrive): the commands and requests that still wait for their
  // replicas (docs/cluster.md, "Threads"). False, without running it, once the node stops.
  bool RunBlocking(std::function<void()> fn);

 private:
  ClusterNode() = default;
  // ExecuteHere's work: returns the reply; *hits and *misses count the commands' reads;
  // *scan_resume is where a member scan's next call resumes (empty: done).
  std::string RunHere(const cluster::pb::ExecuteCommand& command, uint64_t* hits,
                      uint64_t* misses, std::string* scan_resume);
  std::string id_;
  int w_ = 2, r_ = 2;
  // Set once membership and the coordinator exist: the transport listens (and may get
  // requests) before that, and answers them "unavailable" meanwhile.
  std::atomic<bool> ready_{false};
  ServerContext* server_ = nullptr;
  // Commands of one key run one at a time on its replica: a stripe per key hash.
  std::array<absl::Mutex, 256> exec_locks_;
  // Runs commands forwarded by other nodes (they wait on quorums: not on the transport's
  // workers, which must stay free to answer replica requests).
  std::unique_ptr<class ExecutorPool> executors_;
  std::unique_ptr<class ExecutorPool> background_;  // Coordinator::Options::run_later
  std::unique_ptr<cluster::HybridClock> clock_;
  std::unique_ptr<cluster::EngineReplicaStore> store_;
  std::unique_ptr<cluster::HintStore> hints_;
  std::unique_ptr<cluster::PartitionTransport> partition_;  // wraps transport_
  std::unique_ptr<cluster::Membership> membership_;
  std::unique_ptr<cluster::Coordinator> coordinator_;
  std::unique_ptr<cluster::Maintenance> maintenance_;  // stopped first (destructor)
  std::unique_ptr<cluster::AsioTransport> transport_;  // last: destroyed first
};

// INFO's "# Keyspace" lines in cluster mode: for each of the first `databases` databases,
// the live keys this node holds replicas of (the last writer's version of each: not a
// tombstone, not expired at now_ms) and how many of them expire. Scans this node's
// replicas.
std::string ClusterKeyspace(ClusterNode& node, int databases, int64_t now_ms);

// INFO's "# Cluster" section: this node, the members it knows (id, state, addresses,
// rack, ownership share) and the quorums.
std::string ClusterInfo(ClusterNode& node);

// The cluster's metrics in Prometheus text format (for GET /metrics): per-peer RPC calls,
// errors, timeouts and latency; quorum failures; coordinator fan-out latency.
std::string ClusterMetrics(ClusterNode& node);

// GET /v1/cluster: this node, N/W/R, every member (id, state, addresses, rack, weight,
// share of the data it holds with N replicas) and, for a key, its preference list. JSON.
std::string ClusterStatusJson(ClusterNode& node, const std::string* key);

// Runs q (a command or a transaction of the hash tag of key) on the tag's first live
// replica, here or forwarded, and calls done once with its RESP reply (an error reply if
// no replica could run it) and the commands' keyspace hits and misses: on a transport or
// pool thread, or on this one before returning.
void ExecuteOnReplicaAsync(ClusterNode& node, std::string key, cluster::pb::ExecuteCommand q,
                           std::function<void(cluster::pb::ExecuteResult)> done);
// ExecuteOnReplicaAsync, waiting for it (on a thread that may: ClusterNode::RunBlocking).
cluster::pb::ExecuteResult ExecuteOnReplica(ClusterNode& node, std::string_view key,
                                            const cluster::pb::ExecuteCommand& q);

// The overlap key (ClientState::defer) of a command this client sends: the database and
// hash tag of a command whose cluster form touches keys of that tag only and nothing of
// the connection's state (GET, SET, and the commands run on a key's replica), which may
// therefore run while earlier commands of the pipeline wait for their replicas; empty for
// any other command, which waits for them.
std::string ClusterOverlapKey(const ServerContext& server, const ClientState& client,
                              const std::vector<std::string_view>& args);

// ExecuteCommand's hook in cluster mode. Runs a command that has a cluster form through
// the coordinator, refuses a data command that has none (naming it), and returns false
// for the rest (connection and server commands), which run on this node as usual.
bool DispatchInCluster(ClusterNode& node, CommandContext& c, const CommandSpec& spec);

// Why a command cannot be queued in the client's MULTI in cluster mode (empty: it can): a
// transaction runs on one hash tag's replica, so its commands (and watched keys) must all
// name keys of one tag. ExecuteCommand then refuses it and EXEC aborts, as Redis does.
std::string ClusterQueueError(const ClientState& client, const CommandSpec& spec,
                              const std::vector<std::string_view>& args);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_CLUSTER_MODE_H_
