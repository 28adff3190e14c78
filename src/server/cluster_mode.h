// Cluster mode of cairn-server (docs/cluster.md): this process as a node (transport,
// gossip membership, quorum coordinator, replicas on the engine) and the commands that
// run through the cluster. Every node accepts every request.
#ifndef CAIRN_SERVER_CLUSTER_MODE_H_
#define CAIRN_SERVER_CLUSTER_MODE_H_

#include <deque>
#include <atomic>
#include <memory>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cairn/engine/db.h"
#include "cluster/cluster.pb.h"
#include "server/command.h"
#include "net/tls_context.h"
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
class Transfers;
class AntiEntropy;
class Membership;
class PartitionTransport;
}  // namespace cairn::cluster

namespace cairn::server {

class PrometheusText;

class ClusterNode {
 public:
  // Joins (or forms) the cluster described by cfg: listens on cfg.cluster_port, gossips
  // with cfg.seeds. The node's generation (first start) and incarnation (starts so far)
  // are kept in <dir>/CLUSTER. resp_port and http_port are announced to the others.
  // server: whose configuration and clock commands run with (ExecuteAsync). io: the
  // server's I/O threads, which run the node's connections (AsioTransport::Options::
  // contexts) and must keep running until the node is destroyed (or be stopped).
  static absl::StatusOr<std::unique_ptr<ClusterNode>> Start(
      const ServerConfig& cfg, engine::DB* db, int resp_port, int http_port,
      ServerContext* server, std::vector<boost::asio::io_context*> io,
      std::function<bool()> io_running = nullptr);
  // Tells the others this node is leaving and closes its connections, while the I/O
  // threads still run; from then on every cluster call fails at once and the node takes
  // no request. Idempotent. The object stays valid until destroyed (after the I/O
  // threads stopped: requests they still run may use it).
  void Shutdown();
  ~ClusterNode();

  cluster::Coordinator& coordinator() { return *coordinator_; }
  cluster::Membership& membership() { return *membership_; }
  int port() const;
  cluster::AsioTransport& transport() { return *transport_; }
  cluster::PartitionTransport& partition() { return *partition_; }
  cluster::EngineReplicaStore& store() { return *store_; }
  cluster::HintStore* hints() { return hints_.get(); }  // null: hinted handoff off
  cluster::Maintenance& maintenance() { return *maintenance_; }
  cluster::Transfers& transfers() { return *transfers_; }
  cluster::AntiEntropy& anti_entropy() { return *anti_entropy_; }
  const std::string& id() const { return id_; }
  int default_w() const { return w_; }
  int default_r() const { return r_; }

  // Runs a command (or a transaction) of one hash tag as the tag's replica
  // (cluster_execute.cc): reads each key it touches from R replicas, runs the command on
  // them, writes each changed key to W replicas, and calls done once with the RESP reply,
  // the commands' keyspace hits and misses and a member scan's resume point. Commands of
  // one tag run one after another, in the order they arrived (a queue per tag). Never
  // waits: done runs on the thread that finished the work, or on this one.
  void ExecuteAsync(cluster::pb::ExecuteCommand command,
                    std::function<void(cluster::pb::ExecuteResult)> done);

  // Brings this node's registers of a collection (cluster/registers.h) up to date with
  // r-1 other live replicas': compares their digests, and where one differs takes its
  // registers and gives it ours. NOQUORUM if fewer than r replicas answer.
  absl::Status SyncRegisters(int db, char type, std::string_view key, int r);

  // FLUSHDB (db) or FLUSHALL (-1) of this node's replicas and hints.
  absl::Status FlushHere(int db);
  // Sends a pub/sub message published here to every other live member (PubSub's
  // forward hook); they deliver it to their subscribers. Does not wait.
  void ForwardPublish(std::string channel, std::string message, bool sharded);

  // Runs fn on a thread that may wait for the network (never an I/O thread, where the
  // cluster's replies arrive): the commands and requests that still wait for their
  // replicas (docs/cluster.md, "Threads"). False, without running it, once the node stops.
  bool RunBlocking(std::function<void()> fn);

  // With tls-cluster: builds the cluster's TLS contexts again from cfg's files (a CA
  // bundle or certificate replaced on disk, or tls-cluster-* changed) for the
  // connections made from now on; connections already open keep theirs. On failure the
  // old contexts stay and the error is returned. OK (nothing done) without tls-cluster.
  absl::Status ReloadTls(const ServerConfig& cfg);

 private:
  ClusterNode() = default;
  bool RunFallback(std::function<void()> fn);  // on fallback_
  // ExecuteAsync's steps (cluster_execute.cc).
  struct Execution;
  std::string Prepare(Execution& e);  // an error reply, or empty
  void Prefetch(std::shared_ptr<Execution> e);
  void CheckRegisters(std::shared_ptr<Execution> e, std::tuple<int, char, std::string> collection);
  void Arrived(std::shared_ptr<Execution> e);
  void Run(std::shared_ptr<Execution> e);
  absl::Status RunCommands(Execution& e, bool may_wait);
  void WriteChanges(std::shared_ptr<Execution> e);
  void WriteChangesAtOnce(std::shared_ptr<Execution> e);  // WriteChanges of small changes
  void Finish(std::shared_ptr<Execution> e);
  // Whether r-1 other live replicas hold the same registers of the collection as this
  // one (their digests), without waiting: done(false) means SyncRegisters must repair.
  void CompareRegisters(int db, char type, const std::string& key, int r,
                        std::function<void(bool)> done);

  std::string id_;
  int w_ = 2, r_ = 2;
  // Set once membership and the coordinator exist: the transport listens (and may get
  // requests) before that, and answers them "unavailable" meanwhile.
  std::atomic<bool> ready_{false};
  ServerContext* server_ = nullptr;
  // The commands of each hash tag waiting to run here, the running one first.
  absl::Mutex queues_mu_;
  absl::flat_hash_map<std::string, std::deque<std::shared_ptr<Execution>>> queues_
      ABSL_GUARDED_BY(queues_mu_);
  // Work that still waits for replicas (RunBlocking): never on the I/O threads.
  std::unique_ptr<class ExecutorPool> executors_;
  // A replica's run of a command that found keys its prefetch missed (cluster_execute.cc):
  // a pool of its own, so callers waiting in executors_ cannot starve it.
  std::unique_ptr<class ExecutorPool> fallback_;
  std::unique_ptr<class ExecutorPool> background_;  // Coordinator::Options::run_later
  std::unique_ptr<class ExecutorPool> walkers_;     // transfer pages, anti-entropy steps
  std::unique_ptr<cluster::HybridClock> clock_;
  std::unique_ptr<cluster::EngineReplicaStore> store_;
  std::unique_ptr<cluster::HintStore> hints_;
  std::unique_ptr<cluster::PartitionTransport> partition_;  // wraps transport_
  std::unique_ptr<cluster::Membership> membership_;
  std::unique_ptr<cluster::Coordinator> coordinator_;
  std::unique_ptr<cluster::Maintenance> maintenance_;  // stopped first (destructor)
  std::unique_ptr<cluster::Transfers> transfers_;
  std::unique_ptr<cluster::AntiEntropy> anti_entropy_;
  bool tls_ = false;  // tls-cluster, constant after Start
  net::TlsContextSlot tls_server_, tls_client_;  // as listener, as dialer
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

// The cluster's metrics (for GET /metrics): coordinated request, replica RPC and transfer
// page latency histograms; per-peer RPC calls, errors, timeouts; quorum failures, hints.
void ClusterMetrics(ClusterNode& node, PrometheusText* out);

// GET /v1/cluster: this node, N/W/R, every member (id, state, addresses, rack, weight,
// share of the data it holds with N replicas) and, for a key, its preference list. JSON.
std::string ClusterStatusJson(ClusterNode& node, const std::string* key);
// /v1/cluster/<action> (docs/http-api.md): transfers and plan (GET); leave, remove,
// reweight and cancel (POST). param(name): a query parameter or null. Returns the HTTP
// status and the JSON body.
std::pair<int, std::string> ClusterTopologyRequest(
    ClusterNode& node, std::string_view method, std::string_view action,
    const std::function<const std::string*(std::string_view)>& param);

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
