#include "server/cluster_mode.h"

#include "server/announce.h"

#include <chrono>
#include <filesystem>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <openssl/rand.h>
#include <xxhash.h>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/glob.h"
#include "base/host_port.h"
#include "base/status.h"
#include "cairn/env.h"
#include "cluster/asio_transport.h"
#include "cluster/coordinator.h"
#include "cluster/counter.h"
#include "cluster/engine_replica_store.h"
#include "cluster/hint_store.h"
#include "cluster/hlc.h"
#include "cluster/maintenance.h"
#include "cluster/transfers.h"
#include "server/prometheus.h"
#include "cluster/anti_entropy.h"
#include "cluster/membership.h"
#include "cluster/partition_transport.h"
#include "cluster/peer_auth.h"
#include "cluster/registers.h"
#include "cluster/ring.h"
#include "cluster/type_merge.h"
#include "cluster/vector_clock.h"
#include "server/cluster_routing.h"
#include "server/key_snapshot.h"
#include "server/migration.h"
#include "store/local_backend.h"
#include "store/record.h"

namespace cairn::server {

namespace pb = cluster::pb;

namespace {

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// <dir>/CLUSTER: "generation incarnation\n". The generation is kept from the first start
// (it orders token placement); the incarnation counts starts (a restart supersedes the
// heartbeats the others remember).
absl::Status LoadIdentity(const std::string& dir, uint64_t* generation, uint64_t* incarnation) {
  Env* env = Env::Default();
  const std::string path = dir + "/CLUSTER";
  std::string text;
  *generation = static_cast<uint64_t>(UnixMs());
  *incarnation = 1;
  if (env->FileExists(path)) {
    CAIRN_RETURN_IF_ERROR(ReadFileToString(env, path, &text));
    std::vector<std::string> parts = absl::StrSplit(absl::StripAsciiWhitespace(text), ' ');
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], generation) ||
        !absl::SimpleAtoi(parts[1], incarnation)) {
      return CorruptionError(absl::StrCat(path, " is not \"generation incarnation\""));
    }
    ++*incarnation;
  }
  return WriteStringToFileSync(env, absl::StrCat(*generation, " ", *incarnation, "\n"), path);
}

}  // namespace

// A few threads for work that waits for the network, which must never run on the I/O
// threads (they run the transport: docs/cluster.md, "Threads"). Post refuses
// (returns false) once Stop began; Stop waits for what was posted.
class ExecutorPool {
 public:
  explicit ExecutorPool(int threads) : pool_(threads) {}
  ~ExecutorPool() { Stop(); }
  bool Post(std::function<void()> fn) {
    absl::MutexLock l(&mu_);
    if (stopped_) return false;
    boost::asio::post(pool_, std::move(fn));
    return true;
  }
  void Stop() {
    {
      absl::MutexLock l(&mu_);
      stopped_ = true;
    }
    pool_.join();
  }

 private:
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  boost::asio::thread_pool pool_;
};

absl::StatusOr<std::unique_ptr<ClusterNode>> ClusterNode::Start(
    const ServerConfig& cfg, engine::DB* db, int resp_port, int http_port, ServerContext* server,
    std::vector<boost::asio::io_context*> io, std::function<bool()> io_running) {
  if (cfg.write_quorum > cfg.replicas || cfg.read_quorum > cfg.replicas) {
    return absl::InvalidArgumentError("write-quorum and read-quorum cannot exceed replicas");
  }
  if (cfg.tombstone_grace <= cfg.hint_window + 2 * cfg.max_clock_drift) {
    // A hint of an older value delivered after its key's tombstone was collected would
    // bring the key back. Clocks may lead by max-clock-drift: a version's timestamp (so a
    // hint looks younger) and the collecting node's clock (so a tombstone looks older).
    return absl::InvalidArgumentError(
        "tombstone-grace must be longer than hint-window + 2 x max-clock-drift");
  }
  // What the others are told to reach this node at: never 0.0.0.0 (announce.h).
  auto host = AnnouncedHost(cfg.bind, cfg.announce_address, cfg.seeds);
  if (!host.ok()) return host.status();
  if (*host != cfg.bind) {
    spdlog::info("cluster: announcing address {} to the other nodes (bound to {})", *host, cfg.bind);
  }
  std::unique_ptr<ClusterNode> node(new ClusterNode());
  ClusterNode* raw = node.get();
  node->server_ = server;
  node->executors_ = std::make_unique<ExecutorPool>(8);
  node->fallback_ = std::make_unique<ExecutorPool>(2);
  node->background_ = std::make_unique<ExecutorPool>(2);
  node->walkers_ = std::make_unique<ExecutorPool>(1);
  node->w_ = cfg.write_quorum;
  node->r_ = cfg.read_quorum;
  uint64_t generation, incarnation;
  CAIRN_RETURN_IF_ERROR(LoadIdentity(cfg.dir, &generation, &incarnation));

  cluster::AsioTransport::Options t;
  t.bind = cfg.bind;
  t.port = cfg.cluster_port;
  t.contexts = std::move(io);
  t.loops_running = std::move(io_running);
  t.before_reply = [db] { return db->FlushWal(); };
  t.node_id = cfg.node_id;
  Config* config = server->config;
  t.secrets = [config] {
    auto secrets = cluster::ParseClusterSecrets(config->Get().cluster_secret);  // checked when set
    if (secrets.ok()) return *std::move(secrets);
    // Never reached (every setter checks it); if it were, no peer could prove this random
    // secret: closed, not open.
    std::string unusable(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(unusable.data()), 32) != 1) std::abort();
    return std::vector<std::string>{unusable};
  };
  t.refuse_remote = [config] {
    const ServerConfig c = config->Get();
    return c.protected_mode && c.cluster_secret.empty() && !c.tls_cluster;
  };
  if (cfg.tls_cluster) {
    node->tls_ = true;
    CAIRN_RETURN_IF_ERROR(node->ReloadTls(cfg));
    t.tls = [raw](bool accepting) {
      return accepting ? raw->tls_server_.Get() : raw->tls_client_.Get();
    };
  }
  auto transport = cluster::AsioTransport::Start(
      t, [raw](pb::Envelope request, cluster::Transport::Respond respond) {
        if (!raw->ready_.load(std::memory_order_acquire)) {
          pb::Envelope reply;
          reply.mutable_error()->set_code(pb::Error::UNAVAILABLE);
          reply.mutable_error()->set_message("node not serving (starting or stopping)");
          return respond(std::move(reply));
        }
        if (request.has_gossip()) {
          pb::Envelope reply;
          *reply.mutable_gossip() = raw->membership_->HandleGossip(request.gossip());
          return respond(std::move(reply));
        }
        // Requests run here, on the I/O thread that read them, and must not wait; the one
        // that still does (FLUSHDB on every node) runs on the executors.
        const auto unavailable = [](std::string_view why) {
          pb::Envelope reply;
          reply.mutable_error()->set_code(pb::Error::UNAVAILABLE);
          reply.mutable_error()->set_message(std::string(why));
          return reply;
        };
        const auto on_pool = [&respond, &unavailable](ExecutorPool* pool,
                                                      std::function<pb::Envelope()> work) {
          if (pool->Post([work = std::move(work), respond] { respond(work()); })) return;
          respond(unavailable("node stopping"));
        };
        const auto on_executor = [raw, &on_pool](std::function<pb::Envelope()> work) {
          on_pool(raw->executors_.get(), std::move(work));
        };
        if (request.has_execute()) {
          return raw->ExecuteAsync(std::move(*request.mutable_execute()),
                                   [respond](pb::ExecuteResult result) {
                                     pb::Envelope reply;
                                     *reply.mutable_execute_result() = std::move(result);
                                     respond(std::move(reply));
                                   });
        }
        if (request.has_register_summary()) {
          const pb::RegisterSummary& q = request.register_summary();
          pb::Envelope reply;
          auto summary = q.db() < 0 || q.db() >= store::kMaxDatabases
                             ? absl::InvalidArgumentError("bad database")
                             : raw->store_->Summary(q.db(), static_cast<char>(q.type()), q.key());
          if (!summary.ok()) {
            reply.mutable_error()->set_code(pb::Error::UNAVAILABLE);
            reply.mutable_error()->set_message(std::string(summary.status().message()));
          } else {
            reply.mutable_register_summary_result()->set_members(summary->members);
            reply.mutable_register_summary_result()->set_digest(summary->digest);
          }
          return respond(std::move(reply));
        }
        // Transfer pages and anti-entropy steps walk many keys: on a pool of their own, so
        // they neither hold up the I/O thread nor the commands waiting in executors_.
        if (request.has_transfer_pull()) {
          return on_pool(raw->walkers_.get(), [raw, unavailable,
                                               q = std::move(*request.mutable_transfer_pull())] {
            auto page = raw->transfers_->Serve(q);
            if (!page.ok()) return unavailable(std::string(page.status().message()));
            pb::Envelope reply;
            *reply.mutable_transfer_page() = std::move(*page);
            return reply;
          });
        }
        if (request.has_aae()) {
          return on_pool(raw->walkers_.get(), [raw, unavailable, q = std::move(*request.mutable_aae())] {
            auto step = raw->anti_entropy_->Serve(q);
            if (!step.ok()) return unavailable(std::string(step.status().message()));
            pb::Envelope reply;
            *reply.mutable_aae_result() = std::move(*step);
            return reply;
          });
        }
        if (request.has_publish()) {
          const pb::Publish& p = request.publish();
          pb::Envelope reply;
          reply.mutable_publish_result()->set_receivers(
              raw->server_->pubsub->Publish(p.channel(), p.message(), p.sharded(), /*forward=*/false));
          return respond(std::move(reply));
        }
        if (request.has_flush()) {
          const int db = request.flush().db();
          return on_executor([raw, db] {
            pb::Envelope reply;
            if (absl::Status s = raw->FlushHere(db); !s.ok()) {
              reply.mutable_error()->set_code(pb::Error::UNAVAILABLE);
              reply.mutable_error()->set_message(std::string(s.message()));
            } else {
              reply.mutable_flush_result();
            }
            return reply;
          });
        }
        if (raw->coordinator_->Handle(request, respond)) return;
        pb::Envelope reply;
        reply.mutable_error()->set_code(pb::Error::INVALID);
        reply.mutable_error()->set_message("unknown request");
        respond(std::move(reply));
      });
  if (!transport.ok()) return transport.status();
  // Owned by the node from here: whatever fails below destroys it in the node's order.
  node->transport_ = std::move(*transport);
  const std::string address =
      JoinHostPort(*host, cfg.announce_port != 0 ? cfg.announce_port : node->transport_->port());
  node->id_ = cfg.node_id.empty() ? address : cfg.node_id;

  pb::NodeState self;
  self.set_id(node->id_);
  self.set_cluster_address(address);
  self.set_resp_address(JoinHostPort(*host, resp_port));
  self.set_http_address(JoinHostPort(*host, http_port));
  self.set_rack(cfg.rack);
  double weight = 1;
  (void)absl::SimpleAtod(cfg.weight, &weight);
  self.set_weight(weight);
  self.set_generation(generation);
  self.set_incarnation(incarnation);
  cluster::Membership::Options m;
  m.cluster_name = cfg.cluster_name;
  m.instant_join = false;  // a new node receives its ranges before it owns them
  m.replace = cfg.cluster_replace;
  // The members this node knew (docs/cluster.md, "Membership"): kept in <dir>/MEMBERS.
  {
    const std::string path = cfg.dir + "/MEMBERS";
    Env* env = Env::Default();
    if (env->FileExists(path)) {
      std::string bytes;
      CAIRN_RETURN_IF_ERROR(ReadFileToString(env, path, &bytes));
      if (!m.known.ParseFromString(bytes)) {
        return absl::DataLossError(absl::StrCat(path, " does not parse (a cluster member list)"));
      }
    }
    m.save = [path](const pb::Gossip& view) {
      pb::Gossip members;
      for (const pb::NodeState& s : view.nodes()) *members.add_nodes() = s;
      // A new file renamed over the old one: a crash leaves one or the other, whole.
      Env* env = Env::Default();
      const std::string tmp = path + ".tmp";
      absl::Status s = WriteStringToFileSync(env, members.SerializeAsString(), tmp);
      if (s.ok()) s = env->RenameFile(tmp, path);
      if (s.ok()) s = env->SyncDir(std::filesystem::path(path).parent_path().string());
      if (!s.ok()) spdlog::warn("could not keep the cluster's members in {}: {}", path, s.ToString());
    };
  }
  for (absl::string_view seed : absl::StrSplit(cfg.seeds, ',', absl::SkipWhitespace())) {
    m.seeds.emplace_back(absl::StripAsciiWhitespace(seed));
  }
  const bool sync = cfg.wal_sync == "always";
  node->clock_ = std::make_unique<cluster::HybridClock>(nullptr, int64_t{cfg.max_clock_drift} * 1000);
  node->store_ = std::make_unique<cluster::EngineReplicaStore>(db, sync);
  cluster::AsioTransport* asio = node->transport_.get();
  node->store_->set_defer([asio](std::function<void()> fn) { return asio->Defer(std::move(fn)); });
  if (cfg.hinted_handoff) {
    node->hints_ = std::make_unique<cluster::HintStore>(db, sync, node->clock_.get());
    CAIRN_RETURN_IF_ERROR(node->hints_->Open());
  }
  node->partition_ = std::make_unique<cluster::PartitionTransport>(node->transport_.get());
  node->membership_ = std::make_unique<cluster::Membership>(m, self, node->partition_.get());
  cluster::Coordinator::Options c;
  c.replicas = cfg.replicas;
  c.run_later = [raw](std::function<void()> fn) {
    if (!raw->background_->Post(fn)) fn();  // stopping: do it here
  };
  node->coordinator_ = std::make_unique<cluster::Coordinator>(
      c, node->membership_.get(), node->partition_.get(), node->store_.get(), node->clock_.get(),
      node->hints_.get());
  cluster::Maintenance::Options mo;
  mo.hint_window = absl::Seconds(cfg.hint_window);
  mo.replicas = cfg.replicas;
  mo.tombstone_grace = absl::Seconds(cfg.tombstone_grace);
  node->maintenance_ = std::make_unique<cluster::Maintenance>(
      mo, node->membership_.get(), node->partition_.get(), node->hints_.get(), node->store_.get(),
      node->clock_.get());
  cluster::Transfers::Options to;
  to.replicas = cfg.replicas;
  to.progress_path = cfg.dir + "/TRANSFERS";
  to.write_quorum = cfg.write_quorum;
  to.clock = node->clock_.get();
  to.hand_off_window = std::max(absl::Seconds(cfg.hint_window),
                                absl::Seconds(cfg.tombstone_grace - 2 * cfg.max_clock_drift) - to.timeout);
  to.rate = [server]() -> int64_t {
    return static_cast<int64_t>(server->config->Get().transfer_rate);
  };
  node->transfers_ = std::make_unique<cluster::Transfers>(
      to, node->membership_.get(), node->partition_.get(), node->store_.get());
  cluster::AntiEntropy::Options ao;
  ao.replicas = cfg.replicas;
  ao.interval = absl::Seconds(cfg.anti_entropy_interval);
  ao.clock = node->clock_.get();
  ao.tombstone_grace = absl::Seconds(cfg.tombstone_grace);
  node->anti_entropy_ = std::make_unique<cluster::AntiEntropy>(
      ao, node->membership_.get(), node->partition_.get(), node->store_.get());
  // Keys a single-node server wrote in this directory become this node's replicas
  // (migration.h), written while the ring holds only this node: before gossip starts. Only
  // as the first node of a cluster: a node joining others would hold keys the ring gives
  // to other nodes, where reads never look (transfers on join are issue 17's).
  auto single_keys = HasSingleNodeKeys(*server->backend);
  if (!single_keys.ok()) return single_keys.status();
  if (*single_keys && std::any_of(m.seeds.begin(), m.seeds.end(),
                                  [&](const std::string& seed) { return seed != address; })) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this directory holds keys written by a single-node server: start it as the first node "
        "of a cluster (--seeds empty or its own address ", address,
        ") so they move into the cluster, then add the other nodes"));
  }
  auto migrated = MigrateSingleToCluster(
      *server->backend, store::SystemNowMs(),
      [raw](int db, const std::string& key) -> absl::StatusOr<bool> {
        auto versions = raw->store_->Read(db, key);
        if (!versions.ok()) return versions.status();
        return !versions->empty();
      },
      [raw](int db, const std::string& key, pb::Record r) {
        return raw->coordinator_->Write(db, key, std::move(r), /*w=*/1).status();
      });
  if (!migrated.ok()) {
    return absl::Status(migrated.status().code(),
                        absl::StrCat("moving single-node keys into the cluster's replicas: ",
                                     migrated.status().message()));
  }
  if (migrated->keys > 0 || migrated->superseded > 0) {
    spdlog::info("moved {} keys ({} collection members) written by a single-node server into "
                 "this node's replicas; dropped {} single-node copies of keys the replicas hold",
                 migrated->keys, migrated->members, migrated->superseded);
  }
  node->ready_.store(true, std::memory_order_release);
  server->pubsub->set_forward([raw](std::string channel, std::string message, bool sharded) {
    raw->ForwardPublish(std::move(channel), std::move(message), sharded);
  });
  node->membership_->Start();
  node->maintenance_->Start();
  node->transfers_->Start();
  node->anti_entropy_->Start();
  return node;
}

void ClusterNode::Shutdown() {
  ready_.store(false, std::memory_order_release);  // requests from now on: "starting"
  if (server_ != nullptr) server_->pubsub->set_forward(nullptr);
  if (executors_ != nullptr) executors_->Stop();   // commands waiting on the transport,
  if (fallback_ != nullptr) fallback_->Stop();
  if (background_ != nullptr) background_->Stop(); // and work of its callbacks
  if (anti_entropy_ != nullptr) anti_entropy_->Halt();  // walks in walkers_ end early
  if (walkers_ != nullptr) walkers_->Stop();
  maintenance_.reset();  // and its thread
  if (transfers_ != nullptr) transfers_->Halt();  // joined below, once its call failed
  if (anti_entropy_ != nullptr) anti_entropy_->Halt();
  if (membership_ != nullptr) membership_->Stop();  // the goodbye
  if (transport_ != nullptr) transport_->Shutdown();
  if (transfers_ != nullptr) transfers_->Stop();
  if (anti_entropy_ != nullptr) anti_entropy_->Stop();
}

void ClusterNode::ForwardPublish(std::string channel, std::string message, bool sharded) {
  auto ring = membership_->ring();
  for (const auto& m : ring->members()) {
    if (m.id == id_ || !membership_->IsAlive(m.id)) continue;
    pb::Envelope request;
    pb::Publish* p = request.mutable_publish();
    p->set_channel(channel);
    p->set_message(message);
    p->set_sharded(sharded);
    // At most once: a node that misses it (down, or the call fails) misses the message,
    // as a subscriber whose connection drops does in Redis.
    partition_->Call(membership_->AddressOf(m.id), std::move(request), coordinator_->options().timeout,
                     [](absl::StatusOr<pb::Envelope>) {});
  }
}

ClusterNode::~ClusterNode() {
  Shutdown();
  transport_.reset();  // before what its handler uses
}

int ClusterNode::port() const { return transport_->port(); }

namespace {
// How often a client blocked in cluster mode (BLPOP) asks the keys' replica again.
constexpr int64_t kBlockPollMs = 50;
std::optional<std::string> TransactionTag(const ClientState& client);


}  // namespace

absl::Status ClusterNode::FlushHere(int db) {
  if (db < -1 || db >= store::kMaxDatabases) return absl::InvalidArgumentError("bad database");
  if (hints_ != nullptr) {
    CAIRN_RETURN_IF_ERROR(hints_->RemoveDb(db));
    if (db >= 0) CAIRN_RETURN_IF_ERROR(hints_->RemoveDb(db + cluster::kRegisterSpace));
  }
  return store_->Clear(db);
}

bool ClusterNode::RunBlocking(std::function<void()> fn) { return executors_->Post(std::move(fn)); }

bool ClusterNode::RunFallback(std::function<void()> fn) { return fallback_->Post(std::move(fn)); }

namespace {

pb::ExecuteResult FailedExecute(const pb::ExecuteCommand& q, std::string_view why) {
  pb::ExecuteResult failed;
  protocol::ReplyWriter(failed.mutable_reply(), q.protocol() == 3 ? 3 : 2)
      .Error(absl::StrCat("NOQUORUM command could not run on a replica of the key: ", ToAbsl(why)));
  return failed;
}

// A command on its way to the first live replica of its key that takes it.
struct ExecuteState {
  ClusterNode* node = nullptr;
  pb::ExecuteCommand q;
  std::shared_ptr<const cluster::Ring> ring;
  std::vector<int> replicas;
  size_t next = 0;
  std::string why = "no replica of the key is up";
  std::function<void(pb::ExecuteResult)> done;
};

void ExecuteNext(std::shared_ptr<ExecuteState> s) {
  ClusterNode& node = *s->node;
  while (s->next < s->replicas.size()) {
    const std::string target = s->ring->members()[s->replicas[s->next++]].id;
    if (target == node.id()) return node.ExecuteAsync(std::move(s->q), std::move(s->done));
    if (!node.membership().IsAlive(target)) continue;
    pb::Envelope request;
    *request.mutable_execute() = s->q;
    // The replica's read and write take up to a timeout each, after commands of the key
    // ahead of this one.
    const absl::Duration timeout = 4 * node.coordinator().options().timeout;
    node.partition().Call(node.membership().AddressOf(target), std::move(request), timeout,
                          [s, target](absl::StatusOr<pb::Envelope> reply) {
                            if (reply.ok() && reply->has_execute_result()) {
                              return s->done(std::move(*reply->mutable_execute_result()));
                            }
                            s->why = absl::StrCat(target, ": ",
                                                  reply.ok() ? reply->error().message()
                                                             : std::string(reply.status().message()));
                            // Never sent (the replica is down and membership has not
                            // noticed yet): the next replica runs it. Anything else may
                            // have run it: not again elsewhere.
                            if (reply.ok() || !cluster::WasNotSent(reply.status())) {
                              return s->done(FailedExecute(s->q, s->why));
                            }
                            ExecuteNext(s);
                          });
    return;
  }
  s->done(FailedExecute(s->q, s->why));
}

}  // namespace

void ExecuteOnReplicaAsync(ClusterNode& node, std::string key, pb::ExecuteCommand q,
                           std::function<void(pb::ExecuteResult)> done) {
  auto s = std::make_shared<ExecuteState>();
  s->node = &node;
  s->q = std::move(q);
  s->ring = node.membership().ring();
  s->replicas = s->ring->PreferenceList(key, node.coordinator().options().replicas);
  s->done = std::move(done);
  ExecuteNext(std::move(s));
}

pb::ExecuteResult ExecuteOnReplica(ClusterNode& node, std::string_view key,
                                   const pb::ExecuteCommand& q) {
  if (!node.partition().MayWaitHere()) return FailedExecute(q, std::string(cluster::WaitOnTransportThread().message()));
  struct Latch {
    absl::Mutex mu;
    std::optional<pb::ExecuteResult> result ABSL_GUARDED_BY(mu);
  };
  auto latch = std::make_shared<Latch>();
  ExecuteOnReplicaAsync(node, std::string(key), q, [latch](pb::ExecuteResult r) {
    absl::MutexLock l(&latch->mu);
    latch->result = std::move(r);
  });
  absl::MutexLock l(&latch->mu);
  auto done = [&latch]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return latch->result.has_value(); };
  // The transport's deadline (4 x timeout) answers well before.
  if (!latch->mu.AwaitWithTimeout(absl::Condition(&done),
                                  8 * node.coordinator().options().timeout + absl::Seconds(5))) {
    return FailedExecute(q, "no answer in time");
  }
  return std::move(*latch->result);
}

std::string ClusterKeyspace(ClusterNode& node, int databases, int64_t now_ms) {
  std::string out;
  for (int db = 0; db < databases && db < store::kMaxDatabases; db++) {
    uint64_t keys = 0, expires = 0;
    std::string start;
    bool more = true;
    while (more) {
      std::vector<std::pair<std::string, cluster::VersionList>> page;
      if (!node.store().Scan(db, start, 10000, &page, &more).ok()) break;
      for (const auto& [key, versions] : page) {
        const pb::Record* winner = cluster::Resolve(versions);
        if (winner == nullptr || winner->tombstone()) continue;
        if (winner->expire_at_ms() != 0 && winner->expire_at_ms() <= now_ms) continue;
        keys++;
        expires += winner->expire_at_ms() != 0;
      }
      if (!page.empty()) start = page.back().first + std::string(1, '\0');
    }
    if (keys > 0) absl::StrAppend(&out, "db", db, ":keys=", keys, ",expires=", expires, ",avg_ttl=0\r\n");
  }
  return out;
}

std::string ClusterInfo(ClusterNode& node) {
  auto ring = node.membership().ring();
  const auto members = node.membership().Members();
  const std::vector<double> share = ring->Ownership(node.coordinator().options().replicas);
  // Members that own data and are up (a joining member counts once it owns its ranges).
  int alive = 0, joining = 0, known = 0;
  for (const auto& m : members) {
    const auto status = m.state.status();
    if (status == pb::NodeState::LEFT || status == pb::NodeState::REMOVED) continue;
    known++;
    joining += status == pb::NodeState::JOINING;
    alive += m.alive && ring->IndexOf(m.state.id()) >= 0;
  }
  const auto progress = node.transfers().progress();
  std::string out = absl::StrCat(
      "cluster_enabled:1\r\n", "cluster_node_id:", node.id(), "\r\n",
      "cluster_members:", known, "\r\n", "cluster_members_alive:", alive, "\r\n",
      "cluster_members_joining:", joining, "\r\n",
      "cluster_pending_change:", node.membership().PendingChange(), "\r\n",
      "cluster_problem:", node.membership().Problem(), "\r\n",
      "cluster_transfer_keys_received:", progress.keys_received, "\r\n",
      "cluster_transfer_bytes_received:", progress.bytes_received, "\r\n",
      "cluster_transfer_rate_bytes:", static_cast<uint64_t>(progress.rate_bytes), "\r\n",
      "cluster_cleanup_keys_dropped:", progress.keys_dropped, "\r\n",
      "cluster_aae_rounds:", node.anti_entropy().stats().rounds.load(), "\r\n",
      "cluster_aae_keys_repaired:", node.anti_entropy().stats().keys_repaired.load(), "\r\n",
      "cluster_aae_tombstones_marked:", node.anti_entropy().stats().tombstones_marked.load(), "\r\n",
      "cluster_aae_bytes_exchanged:",
      node.anti_entropy().stats().bytes_sent.load() + node.anti_entropy().stats().bytes_received.load(),
      "\r\n",
      "cluster_ring_members:", ring->members().size(), "\r\n",
      "cluster_ring_version:", node.membership().ring_version(), "\r\n",
      "cluster_replicas:", node.coordinator().options().replicas, "\r\n",
      "cluster_write_quorum:", node.default_w(), "\r\n", "cluster_read_quorum:", node.default_r(),
      "\r\n", "cluster_quorum_failures:", node.coordinator().stats().quorum_failures.load(), "\r\n");
  auto& st = node.coordinator().stats();
  absl::StrAppendFormat(&out, "cluster_writes:%d\r\ncluster_write_fanout_avg_us:%.1f\r\n",
                        st.writes.load(),
                        st.writes.load() ? double(st.write_micros.load()) / st.writes.load() : 0.0);
  absl::StrAppendFormat(&out, "cluster_reads:%d\r\ncluster_read_fanout_avg_us:%.1f\r\n",
                        st.reads.load(),
                        st.reads.load() ? double(st.read_micros.load()) / st.reads.load() : 0.0);
  const auto& ms = node.maintenance().stats();
  const cluster::HintStore* hints = node.hints();
  absl::StrAppend(
      &out, "cluster_forwarded_writes:", st.forwarded.load(), "\r\n",
      "cluster_read_repairs:", st.read_repairs.load(), "\r\n",
      "cluster_sibling_reads:", st.sibling_reads.load(), "\r\n",
      "cluster_siblings_dropped:", node.store().siblings_dropped(), "\r\n",
      "cluster_hinted_handoff:", hints != nullptr ? "on" : "off", "\r\n",
      "cluster_hints_pending:", hints != nullptr ? hints->backlog() : 0, "\r\n",
      "cluster_hints_stored:", hints != nullptr ? hints->stored_total() : 0, "\r\n",
      "cluster_hints_sent:", st.hints_sent.load(), "\r\n",
      "cluster_hints_delivered:", ms.hints_delivered.load(), "\r\n",
      "cluster_hints_expired:", ms.hints_expired.load(), "\r\n",
      "cluster_hints_not_replica:", ms.hints_not_replica.load(), "\r\n",
      "cluster_hint_delivery_failures:", ms.hint_delivery_failures.load(), "\r\n",
      "cluster_hint_failures:", st.hint_failures.load(), "\r\n",
      "cluster_tombstones_seen_by_all:", st.tombstones_seen.load(), "\r\n",
      "cluster_tombstones_collected:", ms.tombstones_collected.load(), "\r\n",
      "cluster_auth_failures:", node.transport().auth_failures(), "\r\n");
  int peer = 0;
  for (const auto& [address, p] : node.transport().Stats()) {
    const uint64_t answered = p.calls - p.errors;
    absl::StrAppendFormat(
        &out, "peer%d:address=%s,connected=%d,calls=%d,errors=%d,timeouts=%d,avg_latency_us=%.1f\r\n",
        peer++, address, p.connected ? 1 : 0, p.calls, p.errors, p.timeouts,
        answered ? double(p.latency_micros_total) / answered : 0.0);
  }
  for (size_t i = 0; i < members.size(); i++) {
    const auto& m = members[i];
    const int index = ring->IndexOf(m.state.id());
    absl::StrAppendFormat(&out, "member%d:id=%s,state=%s,cluster=%s,resp=%s,http=%s,rack=%s,owns=%.4f\r\n",
                          i, m.state.id(), m.alive ? "up" : "down", m.state.cluster_address(),
                          m.state.resp_address(), m.state.http_address(), m.state.rack(),
                          index >= 0 ? share[index] : 0.0);
  }
  return out;
}

absl::Status ClusterNode::ReloadTls(const ServerConfig& cfg) {
  if (!tls_) return absl::OkStatus();
  // Both sides present the node's certificate and require the peer's to chain to the
  // cluster CA (mutual TLS).
  // The server's tls-* settings (key password, protocols, ciphers, CA directory), with the
  // cluster's own files where given, as Redis uses tls-cert-file for its cluster bus.
  net::TlsSettings s = ServerTlsSettings(cfg);
  if (!cfg.tls_cluster_cert_file.empty()) s.cert_file = cfg.tls_cluster_cert_file;
  if (!cfg.tls_cluster_key_file.empty()) s.key_file = cfg.tls_cluster_key_file;
  if (!cfg.tls_cluster_ca_cert_file.empty()) {
    // The cluster's own CA only: not the clients' CA directory too (often the system's
    // public CAs), which would make any certificate they issue a member.
    s.ca_cert_file = cfg.tls_cluster_ca_cert_file;
    s.ca_cert_dir.clear();
  }
  s.verify = net::PeerVerify::kRequired;
  s.role = net::TlsRole::kServer;
  auto server = net::BuildTlsContext(s);
  if (!server.ok()) return absl::InvalidArgumentError(absl::StrCat("tls-cluster: ", server.status().message()));
  s.role = net::TlsRole::kClient;
  auto client = net::BuildTlsContext(s);
  if (!client.ok()) return absl::InvalidArgumentError(absl::StrCat("tls-cluster: ", client.status().message()));
  tls_server_.Set(*std::move(server));
  tls_client_.Set(*std::move(client));
  return absl::OkStatus();
}

void ClusterMetrics(ClusterNode& node, PrometheusText* p) {
  using T = PrometheusText::Type;
  auto& st = node.coordinator().stats();
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    p->Family(name, T::kCounter, help);
    p->Sample(name, "", v);
  };
  counter("cairn_cluster_quorum_failures_total",
          "Coordinated reads and writes that did not reach their quorum.",
          st.quorum_failures.load());
  p->Family("cairn_cluster_request_duration_seconds", T::kHistogram,
            "Time for this node to coordinate a read or write across its replicas "
            "(until the quorum answered).");
  p->HistogramSeconds("cairn_cluster_request_duration_seconds", PrometheusText::Label("op", "write"),
                      st.write_latency);
  p->HistogramSeconds("cairn_cluster_request_duration_seconds", PrometheusText::Label("op", "read"),
                      st.read_latency);
  p->Family("cairn_cluster_peer_call_duration_seconds", T::kHistogram,
            "Round trip of the replica RPCs this node sent and got answered, every peer.");
  p->HistogramSeconds("cairn_cluster_peer_call_duration_seconds", "",
                      node.transport().call_latency());
  p->Family("cairn_cluster_transfer_page_duration_seconds", T::kHistogram,
            "Time to pull one page of a range transfer and make it durable here.");
  p->HistogramSeconds("cairn_cluster_transfer_page_duration_seconds", "",
                      node.transfers().page_latency());
  const cluster::Transfers::Progress progress = node.transfers().progress();
  counter("cairn_cluster_transfer_keys_received_total", "Keys received by range transfers.",
          progress.keys_received);
  counter("cairn_cluster_transfer_bytes_received_total", "Bytes received by range transfers.",
          progress.bytes_received);
  counter("cairn_cluster_transfer_keys_handed_off_total",
          "Keys handed to their new owners by cleanup after a ring change.",
          progress.keys_handed_off);
  counter("cairn_cluster_forwarded_writes_total", "Writes sent to a replica to coordinate.",
          st.forwarded.load());
  counter("cairn_cluster_read_repairs_total", "Replicas sent the merged value by a read.",
          st.read_repairs.load());
  counter("cairn_cluster_sibling_reads_total", "Reads that found concurrent versions.",
          st.sibling_reads.load());
  p->Family("cairn_cluster_hints_pending", T::kGauge, "Hinted writes waiting for their replica.");
  p->Sample("cairn_cluster_hints_pending", "",
            static_cast<uint64_t>(node.hints() != nullptr ? node.hints()->backlog() : 0));
  counter("cairn_cluster_hints_stored_total", "Hinted writes stored for an unreachable replica.",
          node.hints() != nullptr ? node.hints()->stored_total() : 0);
  counter("cairn_cluster_hints_delivered_total", "Hinted writes delivered to their replica.",
          node.maintenance().stats().hints_delivered.load());
  counter("cairn_cluster_hints_expired_total", "Hinted writes dropped after the hint window.",
          node.maintenance().stats().hints_expired.load());
  counter("cairn_cluster_tombstones_collected_total", "Tombstones collected after the grace period.",
          node.maintenance().stats().tombstones_collected.load());
  counter("cairn_cluster_auth_failures_total",
          "Cluster connections refused or failed in the handshake (cluster-secret, protected "
          "mode).",
          node.transport().auth_failures());
  const auto peers = node.transport().Stats();
  auto per_peer = [&](const char* name, T type, const char* help, auto get) {
    p->Family(name, type, help);
    for (const auto& [peer, ps] : peers) p->Sample(name, PrometheusText::Label("peer", peer), get(ps));
  };
  using PS = cluster::AsioTransport::PeerStats;
  per_peer("cairn_cluster_peer_calls_total", T::kCounter, "Replica RPCs sent, per peer.",
           [](const PS& ps) { return ps.calls; });
  per_peer("cairn_cluster_peer_errors_total", T::kCounter, "Replica RPCs that failed, per peer.",
           [](const PS& ps) { return ps.errors; });
  per_peer("cairn_cluster_peer_timeouts_total", T::kCounter, "Replica RPCs that timed out, per peer.",
           [](const PS& ps) { return ps.timeouts; });
  per_peer("cairn_cluster_peer_latency_seconds_total", T::kCounter,
           "Summed round trip of the answered replica RPCs, per peer.",
           [](const PS& ps) { return ps.latency_micros_total / 1e6; });
  per_peer("cairn_cluster_peer_connected", T::kGauge, "1 while a connection to the peer is up.",
           [](const PS& ps) { return uint64_t{ps.connected ? 1u : 0u}; });
}

std::string ClusterStatusJson(ClusterNode& node, const std::string* key) {
  auto ring = node.membership().ring();
  const int n = node.coordinator().options().replicas;
  const std::vector<double> stored = ring->Ownership(n);
  const std::vector<double> primary = ring->Ownership(1);
  nlohmann::json members = nlohmann::json::array();
  for (const auto& m : node.membership().Members()) {
    const int index = ring->IndexOf(m.state.id());
    members.push_back({{"id", m.state.id()},
                       {"state", m.alive ? "up" : "down"},
                       {"status", cluster::MemberStatusName(m.state.status())},
                       {"target_weight", m.state.target_weight()},
                       {"cluster_address", m.state.cluster_address()},
                       {"resp_address", m.state.resp_address()},
                       {"http_address", m.state.http_address()},
                       {"rack", m.state.rack()},
                       {"weight", m.state.weight()},
                       {"placed_as", m.state.placed_as()},
                       {"phi", m.phi},
                       {"owns_primary", index >= 0 ? primary[index] : 0.0},
                       {"owns_with_replicas", index >= 0 ? stored[index] : 0.0}});
  }
  nlohmann::json out = {{"node", node.id()},
                        {"replicas", n},
                        {"write_quorum", node.default_w()},
                        {"read_quorum", node.default_r()},
                        {"ring_version", node.membership().ring_version()},
                        {"quorum_failures", node.coordinator().stats().quorum_failures.load()},
                        {"pending_change", node.membership().PendingChange()},
                        {"problem", node.membership().Problem()},
                        {"members", members}};
  if (key != nullptr) {
    nlohmann::json list = nlohmann::json::array();
    for (int m : ring->PreferenceList(*key, n)) list.push_back(ring->members()[m].id);
    out["key"] = *key;
    out["preference_list"] = list;
  }
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// --- commands ---------------------------------------------------------------------------

namespace {

// Where a reply given later waits for a client that cannot take one later (ClientState::
// defer is null: HTTP requests and in-process callers, on threads that may wait).
struct ReplyLatch {
  absl::Mutex mu;
  bool set ABSL_GUARDED_BY(mu) = false;
  std::string reply ABSL_GUARDED_BY(mu);
  std::function<void(ClientState&)> apply ABSL_GUARDED_BY(mu);
};

struct ClusterContext {
  ClusterNode& node;
  CommandContext& c;
  int db;
  int w, r;
  cluster::Coordinator::Repair repair;
  std::shared_ptr<ReplyLatch> latch = nullptr;  // see Reserve

  // Reserves this command's reply, to be given later (ReplyLater); overlap_key as
  // ClientState::defer's. A client that cannot take a reply later gets it when
  // DispatchInCluster returns, which waits for it.
  ReplyLater Reserve(std::string overlap_key) {
    if (c.client.defer) return c.client.defer(std::move(overlap_key));
    latch = std::make_shared<ReplyLatch>();
    return [l = latch](std::string reply, std::function<void(ClientState&)> apply) {
      absl::MutexLock lock(&l->mu);
      l->reply = std::move(reply);
      l->apply = std::move(apply);
      l->set = true;
    };
  }
};

// The overlap key (ClientState::defer) of a command of key in db: its hash tag's.
std::string OverlapOf(int db, std::string_view key) {
  return absl::StrCat(db, ":", ToAbsl(cluster::HashTag(key)));
}

void ReplyError(CommandContext& c, const absl::Status& s) { ReplyStatusError(c.out, s); }

// The key's live value: nullopt if absent, deleted or expired.
absl::StatusOr<std::optional<pb::Record>> ReadKey(ClusterContext& x, std::string_view key) {
  auto r = x.node.coordinator().Read(x.db, key, x.r, x.repair);
  if (absl::IsNotFound(r.status())) return std::nullopt;
  if (!r.ok()) return r.status();
  if (r->expire_at_ms() > 0 && r->expire_at_ms() <= x.c.now_ms) return std::nullopt;
  return std::optional<pb::Record>(std::move(*r));
}

absl::Status DeleteKey(ClusterContext& x, std::string_view key) {
  pb::Record rec;
  rec.set_tombstone(true);
  return x.node.coordinator().Write(x.db, key, std::move(rec), x.w).status();
}

// Reads the key or replies with the error; false after replying.
bool Load(ClusterContext& x, std::string_view key, std::optional<pb::Record>* out) {
  auto r = ReadKey(x, key);
  if (!r.ok()) {
    ReplyError(x.c, r.status());
    return false;
  }
  *out = std::move(*r);
  return true;
}

bool IsString(const pb::Record& rec) { return ReplicatedTypeName(rec) == "string"; }

// The request that runs commands on a tag's replica, with the client's quorums.
pb::ExecuteCommand NewExecute(ClusterContext& x) {
  pb::ExecuteCommand q;
  q.set_db(x.db);
  q.set_w(x.w);
  q.set_r(x.r);
  q.set_sync_repair(x.repair == cluster::Coordinator::Repair::kSync);
  q.set_protocol(x.c.out.protocol());
  q.set_now_ms(x.c.now_ms);
  return q;
}

// Runs q (a command, or a transaction, of one hash tag) on the tag's first live replica:
// here if that is this node, else by forwarding it there (ExecuteCommand). The replica
// reads each key it touches from R replicas, runs the single-node implementations on them
// (KeySnapshot) and writes each changed key back to W replicas as a version that
// supersedes what it read, all under its lock of the tag, so commands of one tag run one
// at a time, whichever node they arrive at.
void Send(ClusterContext& x, std::string_view key, const pb::ExecuteCommand& q) {
  const pb::ExecuteResult result = ExecuteOnReplica(x.node, key, q);
  x.c.out.buffer()->append(result.reply());
  x.c.server.stats.keyspace_hits.fetch_add(result.keyspace_hits(), std::memory_order_relaxed);
  x.c.server.stats.keyspace_misses.fetch_add(result.keyspace_misses(), std::memory_order_relaxed);
}

// A read of a key for INFO's keyspace_hits / keyspace_misses.
void CountRead(ClusterContext& x, bool hit) {
  (hit ? x.c.server.stats.keyspace_hits : x.c.server.stats.keyspace_misses)
      .fetch_add(1, std::memory_order_relaxed);
}

// FLUSHDB / FLUSHALL [ASYNC|SYNC]: on every node of the ring, refused unless all are up
// (a node that missed it would bring the keys back, as Cassandra refuses TRUNCATE).
void FlushOn(ClusterContext& x, int db) {
  auto& c = x.c;
  if (c.args.size() > 2 || (c.args.size() == 2 && Lower(c.args[1]) != "async" &&
                            Lower(c.args[1]) != "sync")) {
    return c.out.Error(kErrSyntax);
  }
  auto ring = x.node.membership().ring();
  for (const auto& m : ring->members()) {
    if (m.id != x.node.id() && !x.node.membership().IsAlive(m.id)) {
      return c.out.Error(absl::StrCat("NOQUORUM ", absl::AsciiStrToUpper(ToAbsl(c.args[0])),
                                      " needs every node of the cluster up: ", m.id, " is down"));
    }
  }
  for (const auto& m : ring->members()) {
    absl::Status s;
    if (m.id == x.node.id()) {
      s = x.node.FlushHere(db);
    } else {
      pb::Envelope request;
      request.mutable_flush()->set_db(db);
      auto reply = x.node.partition().CallAndWait(x.node.membership().AddressOf(m.id),
                                                  std::move(request),
                                                  4 * x.node.coordinator().options().timeout);
      if (!reply.ok()) {
        s = reply.status();
      } else if (!reply->has_flush_result()) {
        s = absl::UnavailableError(reply->error().message());
      }
    }
    if (!s.ok()) {
      return c.out.Error(absl::StrCat("NOQUORUM ", absl::AsciiStrToUpper(ToAbsl(c.args[0])),
                                      " failed on ", m.id, ": ", s.message()));
    }
  }
  c.out.SimpleString("OK");
}

void FlushDb(ClusterContext& x) { FlushOn(x, x.db); }
void FlushAll(ClusterContext& x) { FlushOn(x, -1); }

// Runs the command on the replica of key (Send), giving its reply later.
void Route(ClusterContext& x, std::string_view key) {
  pb::ExecuteCommand q = NewExecute(x);
  for (std::string_view a : x.c.args) q.add_args(std::string(a));
  ReplyLater later = x.Reserve(OverlapOf(x.db, key));
  ServerStats* stats = &x.c.server.stats;
  ExecuteOnReplicaAsync(x.node, std::string(key), std::move(q), [later, stats](pb::ExecuteResult result) {
    stats->keyspace_hits.fetch_add(result.keyspace_hits(), std::memory_order_relaxed);
    stats->keyspace_misses.fetch_add(result.keyspace_misses(), std::memory_order_relaxed);
    later(std::move(*result.mutable_reply()), nullptr);
  });
}

// A script command's line (name: its command, lower case) made runnable on a replica
// that may lack this node's scripts and libraries: EVALSHA becomes EVAL with the body
// from this node's cache, FCALL becomes CAIRN.FCALL carrying its library; EVAL's body is
// cached here too, for a later EVALSHA. Returns Redis's error for an EVALSHA of a script,
// or an FCALL of a function, unknown here (the line is then left as it was); empty if
// the line is ready. Other lines are left as they are.
std::string ScriptLineForReplica(ScriptEngine& scripts, std::string_view name, std::vector<std::string>* line) {
  std::vector<std::string>& args = *line;
  if (args.size() < 2) return "";
  if (name == "evalsha" || name == "evalsha_ro") {
    std::optional<std::string> body = args[1].size() == 40 ? scripts.Body(args[1]) : std::nullopt;
    if (!body) return "NOSCRIPT No matching script. Please use EVAL.";
    args[0] = name == "evalsha" ? "eval" : "eval_ro";
    args[1] = std::move(*body);
  } else if (name == "eval" || name == "eval_ro") {
    scripts.Remember(args[1]);
  } else if (name == "fcall" || name == "fcall_ro") {
    std::optional<std::string> code = scripts.LibraryCodeOf(args[1]);
    if (!code) return "ERR Function not found";
    const bool rw = name == "fcall";
    args.erase(args.begin());
    args.insert(args.begin(), {"cairn.fcall", std::move(*code), rw ? "rw" : "ro"});
  }
  return "";
}

// EVAL, EVALSHA, FCALL and their _RO forms: run on the replica of the declared keys' hash
// tag (no keys: of the empty tag, where the script can reach no key). The replica may not
// have this node's scripts: EVALSHA goes as EVAL with the body from this node's cache.
void ScriptRoute(ClusterContext& x, const CommandSpec& spec, const std::vector<std::string_view>& keys) {
  auto& c = x.c;
  const std::string_view name = spec.name;
  const bool fcall = name == "fcall" || name == "fcall_ro";
  const size_t numkeys_at = name == "cairn.fcall" ? 4 : 2;
  if (fcall && !c.server.scripts->LibraryCodeOf(c.args[1])) {  // Redis looks it up first
    return c.out.Error("ERR Function not found");
  }
  int64_t numkeys = 0;
  if (!ParseInt64(c.args[numkeys_at], &numkeys)) {
    return c.out.Error(name == "eval" || name == "evalsha" || name == "eval_ro" || name == "evalsha_ro"
                           ? std::string(kErrNotInteger)
                           : std::string("ERR Bad number of keys provided"));
  }
  if (numkeys < 0) return c.out.Error("ERR Number of keys can't be negative");
  if (numkeys > static_cast<int64_t>(c.args.size() - numkeys_at - 1)) {
    return c.out.Error("ERR Number of keys can't be greater than number of args");
  }
  if (std::string error = RoutableError(spec, keys, c.client.in_exec); !error.empty()) {
    return c.out.Error(error);
  }
  std::vector<std::string> args(c.args.begin(), c.args.end());
  if (std::string error = ScriptLineForReplica(*c.server.scripts, name, &args); !error.empty()) {
    return c.out.Error(error);
  }
  const std::string key = keys.empty() ? std::string() : std::string(keys[0]);
  pb::ExecuteCommand q = NewExecute(x);
  for (const std::string& a : args) q.add_args(a);
  ReplyLater later = x.Reserve(OverlapOf(x.db, key));
  ServerStats* stats = &c.server.stats;
  ExecuteOnReplicaAsync(x.node, key, std::move(q), [later, stats](pb::ExecuteResult result) {
    stats->keyspace_hits.fetch_add(result.keyspace_hits(), std::memory_order_relaxed);
    stats->keyspace_misses.fetch_add(result.keyspace_misses(), std::memory_order_relaxed);
    later(std::move(*result.mutable_reply()), nullptr);
  });
}

// WATCH key...: remembers each key's context (the merged clock of its versions); EXEC's
// replica runs nothing if one changed. Keys of one hash tag, the transaction's.
void Watch(ClusterContext& x) {
  auto& c = x.c;
  if (c.client.in_multi) return c.out.Error("ERR WATCH inside MULTI is not allowed");
  std::optional<std::string> tag = TransactionTag(c.client);
  for (size_t i = 1; i < c.args.size(); i++) {
    if (!tag) tag = std::string(cluster::HashTag(c.args[i]));
    if (cluster::HashTag(c.args[i]) != *tag) return c.out.Error(kErrCrossSlot);
  }
  for (size_t i = 1; i < c.args.size(); i++) {
    auto read = x.node.coordinator().ReadVersions(x.db, c.args[i], x.r, x.repair);
    if (!read.ok()) return ReplyError(c, read.status());
    auto merged = cluster::MergeForRead(read->versions);
    if (!merged.ok()) return ReplyError(c, merged.status());
    pb::Context context;
    *context.mutable_clock() = read->context;
    // An expiry already past reads as absent: Redis ignores it (it does not abort EXEC).
    const int64_t expire_at = merged->has_value() ? (*merged)->expire_at_ms() : 0;
    c.client.watched.push_back({x.db, std::string(c.args[i]), expire_at > c.now_ms ? expire_at : 0});
    c.client.watched_contexts.push_back(context.SerializeAsString());
  }
  c.out.SimpleString("OK");
}

// EXEC: the queued commands (all of one hash tag, checked as they were queued) and the
// watched keys go to the tag's replica, which runs them as one.
void Exec(ClusterContext& x) {
  auto& c = x.c;
  if (!c.client.in_multi) {
    if (c.server.monitors->any()) FeedMonitors(c.server, c.client, *CommandTable::Get().Find("exec"), c.args);
    return c.out.Error("ERR EXEC without MULTI");
  }
  std::vector<std::vector<std::string>> queued = std::move(c.client.queued);
  std::vector<ClientState::Watched> watched = std::move(c.client.watched);
  std::vector<std::string> contexts = std::move(c.client.watched_contexts);
  const bool doomed = c.client.multi_error;
  c.client.in_multi = false;
  c.client.multi_error = false;
  c.client.queued.clear();
  c.client.watched.clear();
  c.client.watched_contexts.clear();
  c.server.watches.UnwatchAll(&c.client);
  if (c.server.monitors->any()) {
    // The queued commands run on the tag's replica: MONITOR here shows them, then EXEC
    // (ExecuteCommand leaves EXEC to this, as it runs on a pool thread).
    for (const auto& line : doomed ? std::vector<std::vector<std::string>>() : queued) {
      std::vector<std::string_view> args(line.begin(), line.end());
      if (const CommandSpec* spec = CommandTable::Get().Find(Lower(args[0])); spec && !(spec->flags & kAdmin)) {
        FeedMonitors(c.server, c.client, *spec, args);
      }
    }
    FeedMonitors(c.server, c.client, *CommandTable::Get().Find("exec"), c.args);
  }
  if (doomed) return c.out.Error("EXECABORT Transaction discarded because of previous errors.");
  pb::ExecuteCommand q = NewExecute(x);
  q.set_exec(true);
  std::string first_key;
  for (auto& line : queued) {
    // A queued EVALSHA (FCALL) of a script (function) unknown here answers NOSCRIPT
    // ("Function not found") in EXEC's reply, as Redis's EXEC does, even if the replica
    // knows it: a script that replies that error, with the same keys.
    if (std::string error = ScriptLineForReplica(*c.server.scripts, Lower(line[0]), &line); !error.empty()) {
      line[0] = "eval";
      line[1] = absl::StrCat("return redis.error_reply('", error, "')");
    }
    pb::CommandLine* l = q.add_transaction();
    for (const std::string& a : line) l->add_args(a);
    if (first_key.empty()) {
      std::vector<std::string_view> args(line.begin(), line.end());
      const CommandSpec* spec = CommandTable::Get().Find(Lower(args[0]));
      const auto keys = spec != nullptr ? CommandTable::Keys(*spec, args)
                                        : std::vector<std::string_view>();
      if (!keys.empty()) first_key = std::string(keys[0]);
    }
  }
  for (size_t i = 0; i < watched.size() && i < contexts.size(); i++) {
    pb::WatchedKey* w = q.add_watched();
    w->set_key(watched[i].key);
    w->set_db(watched[i].db);
    pb::Context context;
    (void)context.ParseFromString(contexts[i]);
    *w->mutable_context() = context.clock();
    w->set_expire_at_ms(watched[i].expire_at_ms);
    if (first_key.empty()) first_key = watched[i].key;
  }
  if (q.transaction_size() == 0 && q.watched_size() == 0) return c.out.ArrayHeader(0);
  Send(x, first_key, q);
}

void Get(ClusterContext& x) {
  ReplyLater later = x.Reserve(OverlapOf(x.db, x.c.args[1]));
  const int protocol = x.c.out.protocol();
  const int64_t now_ms = x.c.now_ms;
  ServerStats* stats = &x.c.server.stats;
  // A chunked string is assembled on its replica, from its chunk registers synced at R.
  auto routed = std::make_shared<pb::ExecuteCommand>(NewExecute(x));
  routed->add_args("GET");
  routed->add_args(std::string(x.c.args[1]));
  ClusterNode* node = &x.node;
  x.node.coordinator().ReadAsync(
      x.db, std::string(x.c.args[1]), x.r, x.repair,
      [later, protocol, now_ms, stats, routed, node](absl::StatusOr<pb::Record> rec) {
        std::string reply;
        protocol::ReplyWriter out(&reply, protocol);
        const bool absent = absl::IsNotFound(rec.status()) ||
                            (rec.ok() && rec->expire_at_ms() > 0 && rec->expire_at_ms() <= now_ms);
        if (!absent && rec.ok() && rec->chunked()) {
          const std::string key = routed->args(1);
          return ExecuteOnReplicaAsync(*node, key, std::move(*routed), [later, stats](pb::ExecuteResult result) {
            stats->keyspace_hits.fetch_add(result.keyspace_hits(), std::memory_order_relaxed);
            stats->keyspace_misses.fetch_add(result.keyspace_misses(), std::memory_order_relaxed);
            later(std::move(*result.mutable_reply()), nullptr);
          });
        }
        if (!absent && !rec.ok()) {
          ReplyStatusError(out, rec.status());
        } else {
          (absent ? stats->keyspace_misses : stats->keyspace_hits).fetch_add(1, std::memory_order_relaxed);
          if (absent) {
            out.Null();
          } else if (!IsString(*rec)) {
            out.Error(kErrWrongType);
          } else {
            out.Bulk(rec->value());
          }
        }
        later(std::move(reply), nullptr);
      });
}

// SET key value: a blind write, coordinated by a replica. With options (NX, XX, GET,
// KEEPTTL, expiry) it reads the key first, so it runs on the key's replica (Route).
void Set(ClusterContext& x) {
  if (x.c.args.size() > 3) return Route(x, x.c.args[1]);
  pb::Record rec;
  rec.set_type(static_cast<uint32_t>(store::ValueType::kString));
  rec.set_value(std::string(x.c.args[2]));
  ReplyLater later = x.Reserve(OverlapOf(x.db, x.c.args[1]));
  const int protocol = x.c.out.protocol();
  x.node.coordinator().WriteAsync(x.db, std::string(x.c.args[1]), std::move(rec), x.w, std::nullopt,
                                  [later, protocol](absl::StatusOr<pb::Record> written) {
                                    std::string reply;
                                    protocol::ReplyWriter out(&reply, protocol);
                                    if (written.ok()) {
                                      out.SimpleString("OK");
                                    } else {
                                      ReplyStatusError(out, written.status());
                                    }
                                    later(std::move(reply), nullptr);
                                  });
}

void MGet(ClusterContext& x) {
  std::vector<std::optional<pb::Record>> values;
  for (size_t i = 1; i < x.c.args.size(); i++) {
    std::optional<pb::Record> rec;
    if (!Load(x, x.c.args[i], &rec)) return;
    values.push_back(std::move(rec));
  }
  // Chunked strings, each assembled on its replica (GET there); its reply goes in as is.
  std::vector<std::optional<std::string>> routed(values.size());
  for (size_t i = 0; i < values.size(); i++) {
    if (!values[i] || !values[i]->chunked()) continue;
    pb::ExecuteCommand q = NewExecute(x);
    q.add_args("GET");
    q.add_args(std::string(x.c.args[i + 1]));
    std::string reply = std::move(*ExecuteOnReplica(x.node, x.c.args[i + 1], q).mutable_reply());
    if (reply.empty()) return x.c.out.Error("ERR no reply from the key's replica");
    if (reply.starts_with("-WRONGTYPE")) {  // no longer a string: nil, as MGET answers
      values[i].reset();
      continue;
    }
    if (reply[0] == '-') {  // an error (a quorum failure): MGET's reply
      x.c.out.buffer()->append(reply);
      return;
    }
    routed[i] = std::move(reply);
  }
  for (const auto& v : values) {
    if (!v || IsString(*v)) CountRead(x, v.has_value());  // a wrong type counts as neither
  }
  x.c.out.ArrayHeader(values.size());
  for (size_t i = 0; i < values.size(); i++) {
    const auto& v = values[i];
    if (routed[i]) {
      x.c.out.buffer()->append(*routed[i]);
    } else {
      v && IsString(*v) ? x.c.out.Bulk(v->value()) : x.c.out.Null();
    }
  }
}

void MSet(ClusterContext& x) {
  if (x.c.args.size() % 2 != 1) {
    return x.c.out.Error("ERR wrong number of arguments for 'mset' command");
  }
  for (size_t i = 1; i < x.c.args.size(); i += 2) {
    pb::Record rec;
    rec.set_type(static_cast<uint32_t>(store::ValueType::kString));
    rec.set_value(std::string(x.c.args[i + 1]));
    absl::Status s = x.node.coordinator().Write(x.db, x.c.args[i], std::move(rec), x.w).status();
    if (!s.ok()) return ReplyError(x.c, s);
  }
  x.c.out.SimpleString("OK");
}

void Del(ClusterContext& x) {
  int64_t n = 0;
  absl::flat_hash_set<std::string_view> seen;
  for (size_t i = 1; i < x.c.args.size(); i++) {
    if (!seen.insert(x.c.args[i]).second) continue;
    std::optional<pb::Record> rec;
    if (!Load(x, x.c.args[i], &rec)) return;
    if (!rec) continue;
    if (RegisterTypeOf(*rec) != 0) {
      // A collection kept as registers, or a chunked string: deleted on its replica, which
      // removes the members or chunks it holds (after syncing them at R), as Redis's DEL
      // of a collection visits them.
      pb::ExecuteCommand q = NewExecute(x);
      q.add_args("DEL");
      q.add_args(std::string(x.c.args[i]));
      const pb::ExecuteResult result = ExecuteOnReplica(x.node, x.c.args[i], q);
      int64_t deleted = 0;
      const std::string& reply = result.reply();
      if (reply.size() < 3 || reply[0] != ':' ||
          !absl::SimpleAtoi(absl::string_view(reply).substr(1, reply.size() - 3), &deleted)) {
        x.c.out.buffer()->append(reply);  // an error
        return;
      }
      n += deleted;
      continue;
    }
    if (absl::Status s = DeleteKey(x, x.c.args[i]); !s.ok()) return ReplyError(x.c, s);
    n++;
  }
  x.c.out.Integer(n);
}

void Exists(ClusterContext& x) {
  int64_t n = 0;
  for (size_t i = 1; i < x.c.args.size(); i++) {
    std::optional<pb::Record> rec;
    if (!Load(x, x.c.args[i], &rec)) return;
    n += rec.has_value();
  }
  x.c.out.Integer(n);
}

// Calls fn(key, record) for every live key of the client's database, across all nodes, in key
// order, page by page (Coordinator::Scan), until fn returns false (then *resume is that
// key, which fn did not take) or the keys end (*resume empty).
// Replies with the error and returns false on failure.
template <typename Fn>
bool ForEachKey(ClusterContext& x, std::string start, Fn&& fn, std::string* resume = nullptr) {
  std::vector<std::pair<std::string, pb::Record>> page;
  std::string next;
  while (true) {
    if (absl::Status s = x.node.coordinator().Scan(x.db, start, 1000, &page, &next); !s.ok()) {
      ReplyError(x.c, s);
      return false;
    }
    for (auto& [key, rec] : page) {
      if (rec.tombstone() || (rec.expire_at_ms() > 0 && rec.expire_at_ms() <= x.c.now_ms)) continue;
      if (!fn(key, rec)) {
        if (resume != nullptr) *resume = key;  // this key was not taken: start there
        return true;
      }
    }
    if (next.empty()) {
      if (resume != nullptr) resume->clear();
      return true;
    }
    start = std::move(next);
  }
}

void Keys(ClusterContext& x) {
  std::vector<std::string> keys;
  const std::string_view pattern = x.c.args[1];
  if (!ForEachKey(x, "", [&](const std::string& k, const pb::Record&) {
        if (GlobMatch(pattern, k)) keys.push_back(k);
        return true;
      })) {
    return;
  }
  x.c.out.ArrayHeader(keys.size());
  for (const auto& k : keys) x.c.out.Bulk(k);
}

void DbSize(ClusterContext& x) {
  int64_t n = 0;
  if (ForEachKey(x, "", [&](const std::string&, const pb::Record&) {
        n++;
        return true;
      })) {
    x.c.out.Integer(n);
  }
}

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE string]: cursors name the key to resume at
// (the server's CursorTable), so keys added or removed meanwhile never make a key that
// stayed be missed.
void Scan(ClusterContext& x) {
  auto& c = x.c;
  uint64_t cursor;
  if (!absl::SimpleAtoi(ToAbsl(c.args[1]), &cursor)) return c.out.Error("ERR invalid cursor");
  ScanOptions o;
  if (!ParseScanOptions(c, 2, /*allow_type=*/true, &o)) return;
  std::string start;
  if (cursor != 0 && !c.server.cursors.Lookup(cursor, &start)) {
    // As Redis does for a cursor it never issued: start over.
    start.clear();
  }
  std::vector<std::string> keys;
  int64_t examined = 0;
  std::string resume;
  if (!ForEachKey(x, start, [&](const std::string& k, const pb::Record& rec) {
        if (examined++ >= o.count) return false;
        if ((!o.has_pattern || GlobMatch(o.pattern, k)) && (!o.has_type || o.type == ReplicatedTypeName(rec))) {
          keys.push_back(k);
        }
        return true;
      }, &resume)) {
    return;
  }
  c.out.ArrayHeader(2);
  c.out.Bulk(resume.empty() ? std::string("0") : absl::StrCat(c.server.cursors.Save(resume)));
  c.out.ArrayHeader(keys.size());
  for (const auto& k : keys) c.out.Bulk(k);
}

// CAIRN.CONSISTENCY [W R [REPAIR SYNC|ASYNC]]: this connection's quorums (0 0: the
// server's defaults) and whether a read repairs stale replicas before answering.
void Consistency(ClusterContext& x) {
  auto& c = x.c;
  if (c.args.size() == 1) {
    c.out.ArrayHeader(3);
    c.out.Integer(x.w);
    c.out.Integer(x.r);
    c.out.Bulk(c.client.cluster_sync_repair ? "sync" : "async");
    return;
  }
  bool sync_repair = false;
  if (c.args.size() == 5 && Lower(c.args[3]) == "repair" &&
      (Lower(c.args[4]) == "sync" || Lower(c.args[4]) == "async")) {
    sync_repair = Lower(c.args[4]) == "sync";
  } else if (c.args.size() != 3) {
    return c.out.Error(c.args.size() == 5 ? std::string(kErrSyntax)
                                          : "ERR wrong number of arguments for 'cairn.consistency' command");
  }
  int64_t w, r;
  const int n = x.node.coordinator().options().replicas;
  if (!ParseInt64(c.args[1], &w) || !ParseInt64(c.args[2], &r) || w < 0 || r < 0 || w > n ||
      r > n) {
    return c.out.Error(absl::StrCat("ERR W and R must be integers between 1 and N (", n,
                                    "), or 0 for the server's defaults"));
  }
  c.client.cluster_w = static_cast<int>(w);
  c.client.cluster_r = static_cast<int>(r);
  c.client.cluster_sync_repair = sync_repair;
  c.out.SimpleString("OK");
}

// CAIRN.REPLICA GET key | DIGESTS cursor [COUNT n] | HINTS: this node's own replica data,
// read directly, not through the coordinator: for checks that replicas converged
// (tests/cluster/cluster_util.py) and for operators.
//   GET: each stored version as [value or nil (tombstone), hybrid timestamp, clock with
//        the version's dot, expire_at_ms]
//   DIGESTS: [next cursor ("" at the end), [key, digest of its versions, ...]]
//   HINTS: [target node, hints waiting, ...]
void Replica(ClusterContext& x) {
  auto& c = x.c;
  const std::string sub = Lower(c.args[1]);
  if (sub == "get" && c.args.size() == 3) {
    auto versions = x.node.store().Read(x.db, c.args[2]);
    if (!versions.ok()) return ReplyError(c, versions.status());
    c.out.ArrayHeader(versions->size());
    for (const pb::Record& r : *versions) {
      c.out.ArrayHeader(4);
      r.tombstone() ? c.out.Null() : c.out.Bulk(r.value());
      c.out.Integer(static_cast<int64_t>(r.version()));
      c.out.Bulk(cluster::ClockString(cluster::FullClock(r)));
      c.out.Integer(r.expire_at_ms());
    }
    return;
  }
  if (sub == "digests" && (c.args.size() == 3 || c.args.size() == 5)) {
    int64_t count = 100;
    if (c.args.size() == 5 && (Lower(c.args[3]) != "count" || !ParseInt64(c.args[4], &count) ||
                               count < 1 || count > 100000)) {
      return c.out.Error(kErrSyntax);
    }
    std::vector<std::pair<std::string, cluster::VersionList>> entries;
    bool more = false;
    if (absl::Status s = x.node.store().Scan(x.db, c.args[2], static_cast<size_t>(count), &entries, &more);
        !s.ok()) {
      return ReplyError(c, s);
    }
    c.out.ArrayHeader(2);
    c.out.Bulk(more && !entries.empty() ? entries.back().first + std::string(1, '\0') : "");
    c.out.ArrayHeader(entries.size() * 2);
    for (const auto& [key, versions] : entries) {
      c.out.Bulk(key);
      c.out.Bulk(absl::StrFormat("%016x", cluster::VersionsDigest(versions)));
    }
    return;
  }
  if (sub == "hints" && c.args.size() == 2) {
    std::map<std::string, uint64_t> backlog;
    if (x.node.hints() != nullptr) backlog = x.node.hints()->Backlog();
    c.out.ArrayHeader(backlog.size() * 2);
    for (const auto& [target, n] : backlog) {
      c.out.Bulk(target);
      c.out.Integer(static_cast<int64_t>(n));
    }
    return;
  }
  c.out.Error("ERR unknown subcommand or wrong number of arguments for 'cairn.replica' command");
}

// DEBUG CLUSTER-PARTITION node [node ...] | DEBUG CLUSTER-HEAL: cuts this node's gossip
// and replica traffic to the named nodes (or restores it). Run on both sides to partition
// two nodes. For tests; allowed only with enable-debug-command.
void DebugCluster(ClusterContext& x) {
  auto& c = x.c;
  if (!DebugCommandAllowed(c)) return;
  const std::string sub = Lower(c.args[1]);
  std::set<std::string> blocked;
  if (sub == "cluster-partition") {
    if (c.args.size() < 3) {
      return c.out.Error("ERR wrong number of arguments for 'debug|cluster-partition' command");
    }
    for (size_t i = 2; i < c.args.size(); i++) {
      const std::string address = x.node.membership().AddressOf(std::string(c.args[i]));
      if (address.empty()) {
        return c.out.Error(absl::StrCat("ERR unknown node '", std::string(c.args[i]).substr(0, 128), "'"));
      }
      blocked.insert(address);
    }
  } else if (c.args.size() != 2) {
    return c.out.Error("ERR wrong number of arguments for 'debug|cluster-heal' command");
  }
  x.node.partition().Block(std::move(blocked));
  c.out.SimpleString("OK");
}

using Handler = void (*)(ClusterContext&);
// How a cluster command runs on the client's thread, which never waits for the network.
enum class Runs {
  kAsync,   // starts its replicas' calls and gives its reply later (Reserve)
  kInline,  // answers at once from this node's own state
  kOnPool,  // still waits for replicas: runs on a thread that may (RunBlocking)
};
struct ClusterCommand {
  const char* name;
  Handler handler;
  Runs runs;
};

// Commands with a cluster form of their own: reads and blind writes through the quorum
// coordinator, and commands of many keys or of the whole keyspace. Every other command of
// one key runs on the key's replica (Route).
const ClusterCommand kClusterCommands[] = {
    {"get", Get, Runs::kAsync},
    {"set", Set, Runs::kAsync},
    {"mget", MGet, Runs::kOnPool},
    {"mset", MSet, Runs::kOnPool},
    {"del", Del, Runs::kOnPool},
    {"unlink", Del, Runs::kOnPool},
    {"exists", Exists, Runs::kOnPool},
    {"keys", Keys, Runs::kOnPool},
    {"dbsize", DbSize, Runs::kOnPool},
    {"scan", Scan, Runs::kOnPool},
    {"watch", Watch, Runs::kOnPool},
    {"flushdb", FlushDb, Runs::kOnPool},
    {"flushall", FlushAll, Runs::kOnPool},
    {"exec", Exec, Runs::kOnPool},
    {"cairn.consistency", Consistency, Runs::kInline},
    {"cairn.replica", Replica, Runs::kInline},
};

// Runs handler on a pool thread that may wait for replicas, giving the reply later. The
// client's other commands wait for it (its overlap key is empty), so its state is the
// handler's alone meanwhile; the reservation keeps the client alive until the reply.
void OnPool(ClusterContext& x, Handler handler) {
  if (!x.c.client.defer) return handler(x);  // such a caller is on a thread that may wait
  ReplyLater later = x.Reserve("");
  auto args = std::make_shared<std::vector<std::string>>(x.c.args.begin(), x.c.args.end());
  ClusterNode* node = &x.node;
  ServerContext* server = &x.c.server;
  ClientState* client = &x.c.client;
  const int protocol = x.c.out.protocol();
  const int64_t now_ms = x.c.now_ms;
  const int db = x.db, w = x.w, r = x.r;
  const auto repair = x.repair;
  const bool posted = node->RunBlocking([=] {
    std::vector<std::string_view> views(args->begin(), args->end());
    std::string reply;
    protocol::ReplyWriter out(&reply, protocol);
    CommandContext ctx{*server, *client, views, out, now_ms, {}};
    ClusterContext y{*node, ctx, db, w, r, repair};
    try {
      handler(y);
    } catch (const std::exception& e) {
      reply.clear();
      out.Error(absl::StrCat("ERR internal error: ", e.what()));
    }
    later(std::move(reply), nullptr);
  });
  if (!posted) {
    std::string reply;
    protocol::ReplyWriter(&reply, protocol).Error("ERR server is shutting down");
    later(std::move(reply), nullptr);
  }
}

// Data commands: of keys, or of a whole keyspace.
bool ActsOnData(const CommandSpec& spec) {
  return spec.first_key > 0 || spec.numkeys_at > 0 || spec.keys_after != nullptr || (spec.flags & kKeyspace);
}

// The hash tag a client's transaction is bound to: its watched keys' and queued
// commands' (empty: none yet).
std::optional<std::string> TransactionTag(const ClientState& client) {
  if (!client.watched.empty()) return std::string(cluster::HashTag(client.watched[0].key));
  for (const auto& line : client.queued) {
    std::vector<std::string_view> args(line.begin(), line.end());
    const CommandSpec* spec = CommandTable::Get().Find(Lower(args[0]));
    if (spec == nullptr) continue;
    const auto keys = CommandTable::Keys(*spec, args);
    if (!keys.empty()) return std::string(cluster::HashTag(keys[0]));
  }
  return std::nullopt;
}

}  // namespace

std::string ClusterQueueError(const ClientState& client, const CommandSpec& spec,
                              const std::vector<std::string_view>& args) {
  const std::vector<std::string_view> keys = CommandTable::Keys(spec, args);
  if (keys.empty() && (spec.flags & kPure)) return "";
  if (keys.empty()) {
    return absl::StrCat("ERR '", spec.name,
                        "' cannot be queued in a transaction in cluster mode (only commands of "
                        "keys of one hash tag can)");
  }
  if (std::string error = RoutableError(spec, keys, /*in_exec=*/true); !error.empty()) return error;
  const std::optional<std::string> tag = TransactionTag(client);
  if (tag && cluster::HashTag(keys[0]) != *tag) return kErrCrossSlot;
  return "";
}

namespace {

// A blocking command (BLPOP and its kin): the replica never waits (it answers nil at
// once); the client waits here, polling the replica until its timeout, and is woken
// sooner by a push through this node.
// A blocking command (BLPOP and kin, XREAD/XREADGROUP BLOCK) runs on its keys' replica;
// finding nothing, the client waits until deadline (0: none), asking the replica again
// every kBlockPollMs and whenever this node sees one of the keys written. A replica's
// retry_args (XREAD's "$" as resolved) are the line asked with from then on.
void BlockOnReplica(ClusterContext& x, const std::vector<std::string_view>& keys, int64_t deadline) {
  CommandContext& c = x.c;
  pb::ExecuteCommand q = NewExecute(x);
  for (std::string_view a : c.args) q.add_args(std::string(a));
  ReplyLater later = x.Reserve("");
  ServerStats* stats = &c.server.stats;
  BlockingKeys* blocking = &c.server.blocking;
  const bool can_wait = c.client.wake != nullptr;
  std::vector<std::string> watched(keys.begin(), keys.end());
  const int db = x.db;
  ExecuteOnReplicaAsync(
      x.node, std::string(keys[0]), std::move(q),
      [later, stats, blocking, can_wait, watched, db, deadline](pb::ExecuteResult result) {
        stats->keyspace_hits.fetch_add(result.keyspace_hits(), std::memory_order_relaxed);
        stats->keyspace_misses.fetch_add(result.keyspace_misses(), std::memory_order_relaxed);
        const std::string& reply = result.reply();
        const bool null_array = reply == "*-1\r\n", null = reply == "$-1\r\n" || reply == "_\r\n";
        if (!(null_array || null) || !can_wait) return later(std::move(*result.mutable_reply()), nullptr);
        std::vector<std::string> retry(result.retry_args().begin(), result.retry_args().end());
        later("", [blocking, watched, db, deadline, null, retry](ClientState& client) {
          std::vector<std::string_view> keys(watched.begin(), watched.end());
          client.block.active = true;
          client.block.deadline_ms = deadline;
          client.block.reply = null ? BlockedReply::kNull : BlockedReply::kNullArray;
          client.block.poll_ms = kBlockPollMs;
          client.block.retry_args = retry;
          client.block.ticket = blocking->Add(db, keys, client.wake);
        });
      });
}

// BLPOP and kin: the timeout (seconds) is the last argument, BZMPOP's and BLMPOP's the first.
void Blocking(ClusterContext& x, const std::vector<std::string_view>& keys) {
  CommandContext& c = x.c;
  int64_t deadline;
  const std::string name = Lower(c.args[0]);
  if (!ParseBlockTimeout(c, name == "bzmpop" || name == "blmpop" ? c.args[1] : c.args.back(), &deadline)) return;
  BlockOnReplica(x, keys, deadline);
}

// XREAD/XREADGROUP's BLOCK milliseconds before STREAMS (-1: none, or not a number: the
// replica's parsing answers the error).
int64_t StreamBlockMs(const std::vector<std::string_view>& args) {
  for (size_t i = 1; i + 1 < args.size(); i++) {
    const std::string opt = Lower(args[i]);
    if (opt == "streams") break;
    int64_t ms = 0;
    if (opt == "block") return ParseInt64(args[i + 1], &ms) && ms >= 0 ? ms : -1;
  }
  return -1;
}

// HSCAN, SSCAN, ZSCAN: the cursor is this node's: it names the member to resume at, which
// the replica running the command (whichever is up now) is sent instead
// (pb::ExecuteCommand).
void MemberScan(ClusterContext& x, std::string_view key) {
  CommandContext& c = x.c;
  pb::ExecuteCommand q = NewExecute(x);
  for (std::string_view a : c.args) q.add_args(std::string(a));
  q.set_member_scan(true);
  uint64_t cursor = 0;
  if (!absl::SimpleAtoi(ToAbsl(c.args[2]), &cursor)) return c.out.Error("ERR invalid cursor");
  if (cursor != 0) (void)c.server.cursors.Lookup(cursor, q.mutable_scan_resume());
  ReplyLater later = x.Reserve(OverlapOf(x.db, key));
  ServerContext* server = &c.server;
  const int protocol = c.out.protocol();
  ExecuteOnReplicaAsync(x.node, std::string(key), std::move(q),
                        [later, server, protocol](pb::ExecuteResult result) {
    server->stats.keyspace_hits.fetch_add(result.keyspace_hits(), std::memory_order_relaxed);
    server->stats.keyspace_misses.fetch_add(result.keyspace_misses(), std::memory_order_relaxed);
    size_t items = 0;
    std::string_view replica_cursor;
    if (!ReplyCursor(result.reply(), &items, &replica_cursor)) {
      return later(std::move(*result.mutable_reply()), nullptr);  // an error
    }
    const uint64_t next = result.scan_resume().empty()
                              ? 0
                              : server->cursors.Save(std::move(*result.mutable_scan_resume()));
    std::string reply;
    protocol::ReplyWriter out(&reply, protocol);
    out.ArrayHeader(2);
    out.Bulk(absl::StrCat(next));
    reply.append(std::string_view(result.reply()).substr(items));
    later(std::move(reply), nullptr);
  });
}

bool Dispatch(ClusterContext& x, const CommandSpec& spec) {
  CommandContext& c = x.c;
  for (const ClusterCommand& cmd : kClusterCommands) {
    if (std::string_view(spec.name) == cmd.name) {
      if (cmd.runs == Runs::kOnPool) {
        OnPool(x, cmd.handler);
      } else {
        cmd.handler(x);
      }
      return true;
    }
  }
  if (std::string_view(spec.name) == "debug" && c.args.size() >= 2 &&
      absl::StartsWith(Lower(c.args[1]), "cluster-")) {
    DebugCluster(x);
    return true;
  }
  if (!ActsOnData(spec)) return false;
  const std::string_view name = spec.name;
  const std::vector<std::string_view> keys = CommandTable::Keys(spec, c.args);
  if (spec.flags & kScript) {
    ScriptRoute(x, spec, keys);
    return true;
  }
  // A numkeys that counts no keys: the command's own parsing answers Redis's error, and
  // touches no data.
  if (keys.empty() && spec.first_key <= 0 && (spec.numkeys_at > 0 || spec.keys_after != nullptr)) return false;
  if (std::string error = RoutableError(spec, keys, c.client.in_exec); !error.empty()) {
    c.out.Error(error);
    return true;
  }
  if ((spec.flags & kBlocking) && !c.client.in_exec) {
    Blocking(x, keys);
  } else if ((name == "xread" || name == "xreadgroup") && !c.client.in_exec && StreamBlockMs(c.args) >= 0) {
    const int64_t ms = StreamBlockMs(c.args);
    BlockOnReplica(x, keys, ms == 0 ? 0 : c.now_ms + ms);
  } else if (name == "hscan" || name == "sscan" || name == "zscan") {
    MemberScan(x, keys[0]);
  } else {
    Route(x, keys[0]);
  }
  return true;
}

}  // namespace

bool DispatchInCluster(ClusterNode& node, CommandContext& c, const CommandSpec& spec) {
  ClusterContext x{node, c, c.client.db.load(std::memory_order_relaxed),
                   c.client.cluster_w > 0 ? c.client.cluster_w : node.default_w(),
                   c.client.cluster_r > 0 ? c.client.cluster_r : node.default_r(),
                   c.client.cluster_sync_repair ? cluster::Coordinator::Repair::kSync
                                                : cluster::Coordinator::Repair::kAsync};
  if (!Dispatch(x, spec)) return false;
  if (x.latch != nullptr) {
    // A caller that cannot take the reply later: it comes from a transport or pool
    // thread, within the calls' deadlines.
    ReplyLatch& l = *x.latch;
    absl::MutexLock lock(&l.mu);
    l.mu.AwaitWithTimeout(absl::Condition(&l.set),
                          8 * node.coordinator().options().timeout + absl::Seconds(5));
    if (!l.set) {
      c.out.Error("NOQUORUM the cluster did not answer in time");
    } else {
      if (l.apply) l.apply(c.client);
      c.out.buffer()->append(l.reply);
    }
  }
  return true;
}

std::string ClusterOverlapKey(const ServerContext& server, const ClientState& client,
                              const std::vector<std::string_view>& args) {
  if (args.empty() || client.in_multi || NeedsAuth(server, client)) return "";
  const CommandSpec* spec = CommandTable::Get().Find(args[0]);
  if (spec == nullptr) return "";
  const int argc = static_cast<int>(args.size());
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) return "";
  const int db = client.db.load(std::memory_order_relaxed);
  const std::string_view name = spec->name;
  if (name == "get" || (name == "set" && argc == 3)) return OverlapOf(db, args[1]);
  for (const ClusterCommand& cmd : kClusterCommands) {
    if (name == cmd.name) return "";
  }
  if (!ActsOnData(*spec) || (spec->flags & kBlocking) || spec->db_at > 0 || name == "hscan" ||
      name == "sscan" || name == "zscan" || name == "debug") {
    return "";
  }
  const std::vector<std::string_view> keys = CommandTable::Keys(*spec, args);
  if (keys.empty() || !RoutableError(*spec, keys, false).empty()) return "";
  return OverlapOf(db, keys[0]);
}

// CAIRN.CONSISTENCY and CAIRN.REPLICA in single-node mode: there are no replicas.
void NeedsCluster(CommandContext& c) {
  c.out.Error(absl::StrCat("ERR ", absl::AsciiStrToUpper(ToAbsl(c.args[0])),
                           " needs cluster mode (cairn-server --cluster)"));
}

namespace {
const CommandSpec kCommands[] = {
    {"cairn.consistency", -1, kFast, 0, 0, 0, NeedsCluster, "cluster",
     "Sets (W R [REPAIR SYNC|ASYNC]) or shows this connection's quorums (cluster mode)."},
    {"cairn.replica", -2, 0, 0, 0, 0, NeedsCluster, "cluster",
     "GET key, DIGESTS cursor [COUNT n], HINTS: this node's replica data (cluster mode)."},
};
}  // namespace

void RegisterClusterCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& c : kCommands) table->push_back(&c);
}

std::string RoutableError(const CommandSpec& spec, const std::vector<std::string_view>& keys,
                          bool in_exec) {
  if (spec.flags & kScript) {  // keys or none: see Dispatch
    for (std::string_view k : keys) {
      if (cluster::HashTag(k) != cluster::HashTag(keys[0])) return kErrCrossSlot;
    }
    return "";
  }
  if (keys.empty() || ((spec.flags & kNoLock) && spec.db_at == 0)) {
    return absl::StrCat("ERR '", spec.name,
                        "' is not supported in cluster mode (docs/cluster.md lists what is)");
  }
  for (std::string_view k : keys) {
    if (cluster::HashTag(k) != cluster::HashTag(keys[0])) return kErrCrossSlot;
  }
  return "";
}


bool ReplyCursor(std::string_view reply, size_t* end, std::string_view* cursor) {
  constexpr std::string_view kHead = "*2\r\n$";
  if (!reply.starts_with(kHead)) return false;
  const size_t crlf = reply.find("\r\n", kHead.size());
  size_t n = 0;
  if (crlf == std::string_view::npos ||
      !absl::SimpleAtoi(absl::string_view(reply.data() + kHead.size(), crlf - kHead.size()), &n) ||
      crlf + 2 + n + 2 > reply.size()) {
    return false;
  }
  *cursor = reply.substr(crlf + 2, n);
  *end = crlf + 2 + n + 2;
  return true;
}


}  // namespace cairn::server
