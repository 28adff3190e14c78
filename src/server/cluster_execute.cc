// The replica's side of a command of one hash tag (ClusterNode::ExecuteAsync): a queue
// per tag, reads prefetched from R replicas without waiting, the single-node command
// implementations run on a KeySnapshot, and the changed keys written to W replicas.
#include "server/cluster_mode.h"

#include <xxhash.h>

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "cluster/coordinator.h"
#include "cluster/counter.h"
#include "cluster/engine_replica_store.h"
#include "cluster/membership.h"
#include "cluster/partition_transport.h"
#include "cluster/registers.h"
#include "cluster/ring.h"
#include "cluster/type_merge.h"
#include "cluster/vector_clock.h"
#include "server/cluster_routing.h"
#include "server/key_snapshot.h"
#include "server/migration.h"
#include "store/collection.h"

namespace cairn::server {

namespace pb = cluster::pb;

namespace {

// What a run on the I/O thread returns when a command touched a key, or a collection's
// registers, that the prefetch did not read: the run is dropped (it wrote nothing yet)
// and made again on a thread that may wait for replicas.
constexpr char kNeedsWaitPayload[] = "cairn.server/needs-wait";
absl::Status NeedsWait() {
  absl::Status s = absl::UnavailableError("a read that was not prefetched");
  s.SetPayload(kNeedsWaitPayload, absl::Cord("1"));
  return s;
}
bool IsNeedsWait(const absl::Status& s) { return s.GetPayload(kNeedsWaitPayload).has_value(); }

KeySnapshot::Loaded LoadedOf(cluster::Coordinator::ReadResult read, absl::Status* error) {
  auto merged = cluster::MergeForRead(read.versions);
  if (!merged.ok()) {
    *error = merged.status();
    return {};
  }
  KeySnapshot::Loaded loaded{std::move(*merged), std::move(read.context), {}};
  std::vector<const pb::Counter*> counters;
  for (const pb::Record& v : read.versions) {
    if (v.has_counter()) counters.push_back(&v.counter());
  }
  if (!counters.empty()) loaded.counter_history = cluster::MergeCounters(counters);
  return loaded;
}

// The register type of a collection a command of this group makes ('\0': none).
char RegisterTypeOfGroup(std::string_view group) {
  if (group == "hash") return 'h';
  if (group == "set") return 't';
  if (group == "sorted_set" || group == "geo") return 'z';  // geo sets are sorted sets
  if (group == "stream") return 'x';
  return '\0';
}


// Starts executions one after another on this thread (a trampoline): a queue of one tag
// whose commands all finish at once (W=R=1, every replica here) does not nest a call per
// command on the stack.
thread_local std::vector<std::function<void()>>* starting = nullptr;
void StartSoon(std::function<void()> start) {
  if (starting != nullptr) return starting->push_back(std::move(start));
  std::vector<std::function<void()>> list;
  list.push_back(std::move(start));
  starting = &list;
  for (size_t i = 0; i < list.size(); i++) {
    auto fn = std::move(list[i]);
    fn();
  }
  starting = nullptr;
}

}  // namespace

struct ClusterNode::Execution {
  using DbKey = std::pair<int, std::string>;
  using Collection = std::tuple<int, char, std::string>;
  // A key the commands changed, as its writes: its registers (a thousand at a time),
  // then its header or value (nullopt: nothing to write) with the context it was read in.
  struct Change {
    int db = 0;
    std::string key;
    std::vector<cluster::Coordinator::WriteOp> registers;
    size_t next_register = 0;
    std::optional<pb::Record> version;
    pb::Context context;
  };

  pb::ExecuteCommand q;
  std::function<void(pb::ExecuteResult)> done;
  // From Prepare.
  std::vector<std::vector<std::string_view>> lines;  // into q
  std::vector<const CommandSpec*> specs;
  std::string tag;
  std::vector<DbKey> reads;          // every key the commands name (and watched ones)
  std::set<Collection> summaries;    // collections they may touch as registers
  // The prefetch: answers arrive on any thread.
  absl::Mutex mu;
  int pending ABSL_GUARDED_BY(mu) = 0;
  std::map<DbKey, absl::StatusOr<KeySnapshot::Loaded>> loaded ABSL_GUARDED_BY(mu);
  std::set<Collection> checked ABSL_GUARDED_BY(mu);  // summaries asked
  std::set<Collection> synced ABSL_GUARDED_BY(mu);   // ... that R replicas agree on
  // The run and its writes: one step after another, each started by the previous.
  pb::ExecuteResult result;
  std::vector<Change> changes;
  size_t next_change = 0;
  absl::Status first_failure;  // a register chunk short of its quorum

  void Fail(const absl::Status& s) {
    result.clear_reply();
    protocol::ReplyWriter out(result.mutable_reply(), q.protocol() == 3 ? 3 : 2);
    ReplyStatusError(out, s);
    changes.clear();
  }
};

std::string ClusterNode::Prepare(Execution& e) {
  const pb::ExecuteCommand& q = e.q;
  std::string out;
  protocol::ReplyWriter writer(&out, q.protocol() == 3 ? 3 : 2);
  const int n = coordinator_->options().replicas;
  // The command lines: one command, or a transaction's.
  if (q.exec()) {
    for (const pb::CommandLine& l : q.transaction()) e.lines.emplace_back(l.args().begin(), l.args().end());
  } else {
    e.lines.emplace_back(q.args().begin(), q.args().end());
  }
  std::vector<std::string_view> keys;
  bool malformed = q.db() < 0 || q.db() >= store::kMaxDatabases || q.w() < 1 || q.w() > n ||
                   q.r() < 1 || q.r() > n;
  for (const auto& args : e.lines) {
    const CommandSpec* spec = args.empty() ? nullptr : CommandTable::Get().Find(Lower(args[0]));
    const int argc = static_cast<int>(args.size());
    if (spec == nullptr || (spec->arity > 0 && argc != spec->arity) ||
        (spec->arity < 0 && argc < -spec->arity)) {
      malformed = true;
      break;
    }
    e.specs.push_back(spec);
    // The sender checked this too; a node of another version may not have.
    const std::vector<std::string_view> line_keys = CommandTable::Keys(*spec, args);
    if (q.exec() && line_keys.empty() && (spec->flags & kPure)) continue;  // PING in MULTI
    if (std::string error = RoutableError(*spec, line_keys, q.exec()); !error.empty()) {
      writer.Error(error);
      return out;
    }
    keys.insert(keys.end(), line_keys.begin(), line_keys.end());
    // A command naming a second database (MOVE key db) uses its keys there too.
    int other = -1;
    if (spec->db_at > 0 && static_cast<size_t>(spec->db_at) < args.size() &&
        absl::SimpleAtoi(ToAbsl(args[spec->db_at]), &other) && other >= 0 &&
        other < store::kMaxDatabases && other != q.db()) {
      for (std::string_view k : line_keys) e.reads.emplace_back(other, std::string(k));
    }
    for (std::string_view k : line_keys) {
      e.reads.emplace_back(q.db(), std::string(k));
      if (const char type = RegisterTypeOfGroup(spec->group)) e.summaries.emplace(q.db(), type, std::string(k));
      // A string changed in place may be or become chunked; bit commands read chunks.
      if ((spec->flags & kInPlace) || std::string_view(spec->group) == "bitmap") {
        e.summaries.emplace(q.db(), 'b', std::string(k));
      }
      // RESTORE makes the collection its payload's type byte names (rdb_payload.h): its
      // registers are compared now, not after a first run that would have to wait.
      if (std::string_view(spec->name) == "restore" && args.size() > 3 && !args[3].empty()) {
        const uint8_t rdb = static_cast<uint8_t>(args[3][0]);
        const char type = rdb == 4 || rdb == 9 || rdb == 13 || rdb == 16             ? 'h'
                          : rdb == 2 || rdb == 11                                    ? 't'
                          : rdb == 3 || rdb == 5 || rdb == 12 || rdb == 17           ? 'z'
                          : rdb == 15 || rdb == 19                                   ? 'x'
                                                                                     : '\0';
        if (type != '\0') e.summaries.emplace(q.db(), type, std::string(k));
      }
    }
  }
  for (const pb::WatchedKey& w : q.watched()) {
    keys.push_back(w.key());
    if (w.db() >= 0 && w.db() < store::kMaxDatabases) e.reads.emplace_back(w.db(), w.key());
  }
  // A transaction of PING and the like only runs wherever it was sent.
  // A script of no keys runs on the replica of the empty tag (and can reach no key).
  if (keys.empty() && !malformed && e.specs.size() == e.lines.size() &&
      (q.exec() || (e.specs.size() == 1 && (e.specs[0]->flags & kScript)))) {
    keys.push_back("");
  }
  if (malformed || keys.empty()) {
    writer.Error("ERR malformed forwarded command");
    return out;
  }
  for (std::string_view k : keys) {
    if (cluster::HashTag(k) != cluster::HashTag(keys[0])) {
      writer.Error(kErrCrossSlot);
      return out;
    }
  }
  e.tag = std::string(cluster::HashTag(keys[0]));
  auto ring = membership_->ring();
  const std::vector<int> replicas = ring->PreferenceList(e.tag, n);
  if (std::none_of(replicas.begin(), replicas.end(),
                   [&](int m) { return ring->members()[m].id == id_; })) {
    writer.Error("NOQUORUM this node is not a replica of the key (the ring is changing)");
    return out;
  }
  std::sort(e.reads.begin(), e.reads.end());
  e.reads.erase(std::unique(e.reads.begin(), e.reads.end()), e.reads.end());
  return "";
}

void ClusterNode::ExecuteAsync(pb::ExecuteCommand q, std::function<void(pb::ExecuteResult)> done) {
  auto e = std::make_shared<Execution>();
  e->q = std::move(q);
  e->done = std::move(done);
  if (std::string error = Prepare(*e); !error.empty()) {
    pb::ExecuteResult result;
    result.set_reply(std::move(error));
    return e->done(std::move(result));
  }
  // Commands of one tag run one at a time here (and everywhere: they all run here), in
  // every database (MOVE uses two), in the order they arrived.
  bool first;
  {
    absl::MutexLock l(&queues_mu_);
    auto& queue = queues_[e->tag];
    queue.push_back(e);
    first = queue.size() == 1;
  }
  if (first) StartSoon([this, e] { Prefetch(e); });
}

void ClusterNode::Finish(std::shared_ptr<Execution> e) {
  e->done(std::move(e->result));
  std::shared_ptr<Execution> next;
  {
    absl::MutexLock l(&queues_mu_);
    auto it = queues_.find(e->tag);
    it->second.pop_front();
    if (it->second.empty()) {
      queues_.erase(it);
    } else {
      next = it->second.front();
    }
  }
  if (next != nullptr) StartSoon([this, next] { Prefetch(next); });
}

void ClusterNode::Prefetch(std::shared_ptr<Execution> e) {
  const int r = e->q.r();
  const auto repair = e->q.sync_repair() ? cluster::Coordinator::Repair::kSync
                                         : cluster::Coordinator::Repair::kAsync;
  {
    absl::MutexLock l(&e->mu);
    e->pending = static_cast<int>(e->reads.size() + e->summaries.size()) + 1;  // + this loop
    for (const auto& c : e->summaries) e->checked.insert(c);
  }
  for (const auto& key : e->reads) {
    coordinator_->ReadVersionsAsync(
        key.first, key.second, r, repair,
        [this, e, key](absl::StatusOr<cluster::Coordinator::ReadResult> read) {
          absl::Status error = read.status();
          KeySnapshot::Loaded l;
          if (read.ok()) l = LoadedOf(std::move(*read), &error);
          absl::StatusOr<KeySnapshot::Loaded> loaded =
              error.ok() ? absl::StatusOr<KeySnapshot::Loaded>(std::move(l)) : error;
          {
            absl::MutexLock l(&e->mu);
            e->loaded.insert_or_assign(key, std::move(loaded));
          }
          Arrived(e);
        });
  }
  for (const auto& c : e->summaries) CheckRegisters(e, c);
  Arrived(e);
}

void ClusterNode::CheckRegisters(std::shared_ptr<Execution> e, Execution::Collection c) {
  const auto& [db, type, key] = c;
  CompareRegisters(db, type, key, e->q.r(), [this, e, c](bool agree) {
    if (agree) {
      absl::MutexLock l(&e->mu);
      e->synced.insert(c);
    }
    Arrived(e);
  });
}

void ClusterNode::Arrived(std::shared_ptr<Execution> e) {
  std::vector<Execution::Collection> more;
  {
    absl::MutexLock l(&e->mu);
    if (--e->pending > 0) return;
    // Collections kept as registers that the reads found and no summary was asked of
    // (a command of another group: DEL, EXPIRE, TYPE): asked now.
    for (const auto& [key, loaded] : e->loaded) {
      const char type = loaded.ok() && loaded->record ? RegisterTypeOf(*loaded->record) : 0;
      if (type == 0) continue;
      Execution::Collection c(key.first, type, key.second);
      if (e->checked.insert(c).second) more.push_back(c);
    }
    e->pending = static_cast<int>(more.size());
  }
  if (more.empty()) return Run(e);
  for (const auto& c : more) CheckRegisters(e, c);
}

void ClusterNode::CompareRegisters(int db, char type, const std::string& key, int r,
                                   std::function<void(bool)> done) {
  if (r <= 1) return done(true);
  auto local = store_->Summary(db, type, key);
  if (!local.ok()) return done(false);
  struct Gather {
    absl::Mutex mu;
    int pending ABSL_GUARDED_BY(mu) = 0;
    int agree ABSL_GUARDED_BY(mu) = 0;
    bool decided ABSL_GUARDED_BY(mu) = false;
    std::function<void(bool)> done;
  };
  auto gather = std::make_shared<Gather>();
  gather->done = std::move(done);
  std::vector<std::string> addresses;
  {
    auto ring = membership_->ring();
    for (int m : ring->PreferenceList(key, coordinator_->options().replicas)) {
      const std::string& id = ring->members()[m].id;
      if (id != id_ && membership_->IsAlive(id)) addresses.push_back(membership_->AddressOf(id));
    }
  }
  if (static_cast<int>(addresses.size()) < r - 1) return gather->done(false);
  {
    absl::MutexLock l(&gather->mu);
    gather->pending = static_cast<int>(addresses.size());
  }
  for (const std::string& address : addresses) {
    pb::Envelope request;
    request.mutable_register_summary()->set_db(db);
    request.mutable_register_summary()->set_type(static_cast<uint8_t>(type));
    request.mutable_register_summary()->set_key(key);
    partition_->Call(address, std::move(request), coordinator_->options().timeout,
                     [gather, r, mine = local->digest](absl::StatusOr<pb::Envelope> reply) {
                       std::optional<bool> outcome;
                       {
                         absl::MutexLock l(&gather->mu);
                         gather->pending--;
                         if (reply.ok() && reply->has_register_summary_result() &&
                             reply->register_summary_result().digest() == mine) {
                           gather->agree++;
                         }
                         // Enough once R-1 agree: a slow replica does not hold up every
                         // command. All answered and fewer: the waiting form repairs.
                         if (!gather->decided && (gather->agree >= r - 1 || gather->pending == 0)) {
                           gather->decided = true;
                           outcome = gather->agree >= r - 1;
                         }
                       }
                       if (outcome) gather->done(*outcome);
                     });
  }
}

void ClusterNode::Run(std::shared_ptr<Execution> e) {
  if (absl::Status s = RunCommands(*e, /*may_wait=*/false); !IsNeedsWait(s)) return WriteChanges(e);
  // A key or collection the prefetch did not cover: again, on a thread that may wait.
  const bool posted = RunFallback([this, e] {
    e->result.Clear();
    e->changes.clear();
    (void)RunCommands(*e, /*may_wait=*/true);
    WriteChanges(e);
  });
  if (!posted) {
    e->Fail(absl::UnavailableError("node stopping"));
    Finish(e);
  }
}

absl::Status ClusterNode::RunCommands(Execution& e, bool may_wait) {
  const pb::ExecuteCommand& q = e.q;
  std::string& out = *e.result.mutable_reply();
  out.clear();
  protocol::ReplyWriter writer(&out, q.protocol() == 3 ? 3 : 2);
  const auto repair = q.sync_repair() ? cluster::Coordinator::Repair::kSync
                                      : cluster::Coordinator::Repair::kAsync;
  // A key as R replicas hold it: prefetched, or (may_wait) read now.
  auto read = [&](int db, std::string_view key) -> absl::StatusOr<KeySnapshot::Loaded> {
    if (may_wait) {
      auto versions = coordinator_->ReadVersions(db, key, q.r(), repair);
      if (!versions.ok()) return versions.status();
      absl::Status error;
      KeySnapshot::Loaded loaded = LoadedOf(std::move(*versions), &error);
      if (!error.ok()) return error;
      return loaded;
    }
    absl::MutexLock l(&e.mu);
    auto it = e.loaded.find(Execution::DbKey(db, std::string(key)));
    if (it == e.loaded.end()) return NeedsWait();
    return it->second;
  };
  // Members of collections kept as registers are read here, after the collection is
  // synced with R replicas when its header loads: this replica then holds at least what a
  // read at R would merge.
  class Registers final : public LocalRegisters {
   public:
    Registers(ClusterNode* node, Execution* e, bool may_wait)
        : LocalRegisters(node->store_.get()), node_(node), e_(e), may_wait_(may_wait) {}
    absl::Status Sync(int db, char type, std::string_view key) override {
      if (may_wait_) return node_->SyncRegisters(db, type, key, e_->q.r());
      absl::MutexLock l(&e_->mu);
      return e_->synced.contains(Execution::Collection(db, type, std::string(key))) ? absl::OkStatus()
                                                                                    : NeedsWait();
    }

   private:
    ClusterNode* node_;
    Execution* e_;
    bool may_wait_;
  };
  Registers registers(this, &e, may_wait);
  KeySnapshot snapshot(q.db(), e.tag, q.now_ms(), read);
  // Messages the commands publish: delivered when this run stands (not when it is made
  // again on a thread that may wait, which would deliver them twice).
  struct Publishes {
    std::shared_ptr<PubSub> pubsub;
    std::vector<std::tuple<std::string, std::string, bool>> messages;
    bool dropped = false;
    ~Publishes() {
      if (dropped) return;
      for (auto& [channel, message, sharded] : messages) pubsub->Publish(channel, message, sharded);
    }
  } publishes{server_->pubsub, {}, false};
  const auto fail = [&](const absl::Status& s) {
    publishes.dropped = true;  // the run is dropped or fails: it publishes nothing
    if (IsNeedsWait(s)) return s;
    e.Fail(s);
    return absl::OkStatus();
  };
  snapshot.set_register_source(&registers);
  for (const auto& [db, key] : e.reads) {
    if (db != q.db()) snapshot.AllowDb(db);
  }
  for (const pb::WatchedKey& w : q.watched()) {
    // A key watched in another database (SELECT after WATCH) is read on its own.
    absl::StatusOr<cluster::Clock> context = absl::InternalError("");
    if (w.db() == q.db()) {
      context = snapshot.ContextOf(w.key());
    } else if (w.db() < 0 || w.db() >= store::kMaxDatabases) {
      context = absl::InvalidArgumentError("bad database of a watched key");
    } else {
      auto loaded = read(w.db(), w.key());
      context = loaded.ok() ? absl::StatusOr<cluster::Clock>(std::move(loaded->context)) : loaded.status();
    }
    if (!context.ok()) return fail(context.status());
    const cluster::Clock watched(w.context().begin(), w.context().end());
    if (cluster::Compare(*context, watched) != cluster::ClockOrder::kEqual ||
        (w.expire_at_ms() > 0 && w.expire_at_ms() <= q.now_ms())) {
      writer.NullArray();  // EXEC of a transaction whose watched key changed
      return absl::OkStatus();
    }
  }
  // A server context of this thread whose backend is the snapshot: the commands'
  // implementations are the single-node ones, unchanged.
  thread_local std::unique_ptr<ServerContext> scratch;
  if (scratch == nullptr) scratch = std::make_unique<ServerContext>();
  scratch->backend = &snapshot;
  scratch->cluster_mode = true;
  scratch->config = server_->config;
  scratch->scripts = server_->scripts;
  scratch->pubsub = server_->pubsub;  // PUBLISH from a script
  scratch->monitors = server_->monitors;  // a script's commands, shown as "lua"
  scratch->publish_sink = [&](std::string_view channel, std::string_view message, bool sharded) {
    publishes.messages.emplace_back(std::string(channel), std::string(message), sharded);
    return server_->pubsub->Receivers(channel, sharded);
  };
  // A script's commands: keys of its tag only, each command flagged as it would be alone.
  scratch->script_command_check = [&](const CommandSpec& spec, const std::vector<std::string_view>& args) {
    const std::vector<std::string_view> keys = CommandTable::Keys(spec, args);
    if (keys.empty()) {
      if (spec.flags & kKeyspace) {  // KEYS, DBSIZE, FLUSHDB: every node's data
        return absl::StrCat("ERR '", spec.name, "' is not supported in cluster mode scripts");
      }
    } else {
      if (std::string error = RoutableError(spec, keys, true); !error.empty()) return error;
      for (std::string_view k : keys) {
        if (cluster::HashTag(k) != e.tag) {
          return std::string("ERR Script attempted to access a non local key in a cluster node script");
        }
      }
    }
    snapshot.set_counter_node((spec.flags & kCounter) ? id_ : std::string());
    snapshot.set_expiry_only(spec.flags & kExpiryOnly);
    snapshot.set_in_place(spec.flags & kInPlace);
    return std::string();
  };
  ClientState client;
  client.db.store(q.db());
  client.protocol.store(writer.protocol());
  client.authenticated = true;
  client.in_exec = q.exec();
  if (q.exec()) writer.ArrayHeader(e.lines.size());
  std::vector<std::vector<std::string_view>> lines = e.lines;
  std::string scan_cursor;  // HSCAN/SSCAN/ZSCAN resume in this node's cursor table
  if (q.member_scan() && !q.exec()) {
    if (lines[0].size() < 3) return fail(absl::InvalidArgumentError("malformed forwarded scan"));
    scan_cursor = q.scan_resume().empty() ? "0" : absl::StrCat(scratch->cursors.Save(q.scan_resume()));
    lines[0][2] = scan_cursor;
  }
  const uint64_t hits_before = scratch->stats.keyspace_hits.load(std::memory_order_relaxed);
  const uint64_t misses_before = scratch->stats.keyspace_misses.load(std::memory_order_relaxed);
  try {
    for (size_t i = 0; i < lines.size(); i++) {
      // Increments are replicated as this node's contribution to a counter (counter.h).
      snapshot.set_counter_node((e.specs[i]->flags & kCounter) ? id_ : std::string());
      snapshot.set_expiry_only(e.specs[i]->flags & kExpiryOnly);
      snapshot.set_in_place(e.specs[i]->flags & kInPlace);
      CommandContext ctx{*scratch, client, lines[i], writer, q.now_ms(), {}};
      e.specs[i]->handler(ctx);
    }
  } catch (const std::exception& ex) {
    scratch->backend = nullptr;
    scratch->script_command_check = nullptr;
    scratch->publish_sink = nullptr;
    return fail(absl::InternalError(ex.what()));
  }
  scratch->backend = nullptr;
  scratch->script_command_check = nullptr;
  scratch->publish_sink = nullptr;
  if (!snapshot.load_error().ok()) return fail(snapshot.load_error());
  for (const std::string& a : client.block.retry_args) e.result.add_retry_args(a);
  e.result.set_keyspace_hits(scratch->stats.keyspace_hits.load(std::memory_order_relaxed) - hits_before);
  e.result.set_keyspace_misses(scratch->stats.keyspace_misses.load(std::memory_order_relaxed) -
                               misses_before);
  if (q.member_scan()) {
    // The reply starts with the cursor, issued from this node's table: name its member.
    size_t pos = 0;
    std::string_view cursor;
    if (ReplyCursor(out, &pos, &cursor)) {
      uint64_t id = 0;
      if (absl::SimpleAtoi(ToAbsl(cursor), &id) && id != 0) {
        (void)scratch->cursors.Lookup(id, e.result.mutable_scan_resume());
      }
    }
  }
  for (const auto& [db, key] : snapshot.ChangedKeys()) {
    Execution::Change change;
    change.db = db;
    change.key = key;
    // A hash, set or sorted set: the members it changed, each its own register
    // (cluster/registers.h), before the header that names them.
    auto exported_registers = snapshot.ExportRegisters(db, key);
    if (!exported_registers.ok()) return fail(exported_registers.status());
    for (KeySnapshot::RegisterWrite& w : *exported_registers) {
      cluster::Coordinator::WriteOp op{std::move(w.register_key), std::move(w.record), std::nullopt};
      if (w.context) {
        op.context.emplace();
        *op.context->mutable_clock() = std::move(*w.context);
      }
      change.registers.push_back(std::move(op));
    }
    auto exported = snapshot.Export(db, key);
    if (!exported.ok()) return fail(exported.status());
    auto was_live = snapshot.WasLive(db, key);
    auto context = snapshot.ContextOf(db, key);
    if (!was_live.ok() || !context.ok()) return fail(was_live.ok() ? context.status() : was_live.status());
    if (*exported) {
      change.version = std::move(**exported);
    } else if (*was_live) {
      change.version.emplace();
      change.version->set_tombstone(true);
      if (auto counter = snapshot.DeletionCounter(db, key)) *change.version->mutable_counter() = std::move(*counter);
    }
    // The write supersedes every version read, siblings included.
    *change.context.mutable_clock() = std::move(*context);
    if (change.registers.empty() && !change.version) continue;  // nothing before or after
    e.changes.push_back(std::move(change));
  }
  return absl::OkStatus();
}

void ClusterNode::WriteChangesAtOnce(std::shared_ptr<Execution> e) {
  // The key's member writes and its header or value at once, one round trip in all. A
  // reader meanwhile may see the header before the new members, as it may see any write
  // in flight; the command is answered once all reached W. If the members' write fails
  // the header may still land: it names no members (their count is the registers'), so
  // the collection reads as it was, or as absent if it was new.
  struct Gather {
    absl::Mutex mu;
    size_t pending ABSL_GUARDED_BY(mu) = 1;  // one for the loop below
    absl::Status fatal ABSL_GUARDED_BY(mu);     // not even stored here
    absl::Status short_of_quorum ABSL_GUARDED_BY(mu);
  };
  auto gather = std::make_shared<Gather>();
  auto settle = [this, e, gather](const absl::Status& s) {
    absl::Status failure;
    {
      absl::MutexLock l(&gather->mu);
      if (!s.ok()) {
        absl::Status& slot = KindOf(s) == ErrorKind::kNoQuorum ? gather->short_of_quorum : gather->fatal;
        if (slot.ok()) slot = s;
      }
      if (--gather->pending > 0) return;
      failure = !gather->fatal.ok() ? gather->fatal : gather->short_of_quorum;
    }
    if (!failure.ok()) e->Fail(failure);
    Finish(e);
  };
  const int w = e->q.w();
  for (Execution::Change& c : e->changes) {
    {
      absl::MutexLock l(&gather->mu);
      gather->pending += (c.registers.empty() ? 0 : 1) + (c.version ? 1 : 0);
    }
    if (!c.registers.empty()) {
      coordinator_->WriteManyAsync(c.db + cluster::kRegisterSpace, std::move(c.registers), w, settle);
    }
    if (c.version) {
      coordinator_->WriteAsync(c.db, c.key, std::move(*c.version), w, std::move(c.context),
                               [settle](absl::StatusOr<pb::Record> written) { settle(written.status()); });
    }
  }
  settle(absl::OkStatus());
}

void ClusterNode::WriteChanges(std::shared_ptr<Execution> e) {
  const int w = e->q.w();
  constexpr size_t kChunk = 1000;
  // One key changed, its members only added or rewritten (no tombstones, which a
  // re-created collection writes before its new header): its registers and header can go
  // at once. Otherwise in order, registers before the header that names them, key after
  // key, stopping at the first failure.
  // A header naming a new generation of chunks (a string that became chunked, or a new
  // one) goes after them too: if it went alone, its string would read empty.
  const auto new_chunks = [&](const Execution::Change& c) {
    if (!c.version || !c.version->chunked()) return false;
    absl::MutexLock l(&e->mu);
    auto it = e->loaded.find(Execution::DbKey(c.db, c.key));
    return it == e->loaded.end() || !it->second.ok() || !it->second->record ||
           !it->second->record->chunked() || it->second->record->value() != c.version->value();
  };
  if (e->next_change == 0 && e->changes.size() == 1 && e->changes[0].next_register == 0 &&
      e->changes[0].registers.size() <= kChunk && !new_chunks(e->changes[0]) &&
      std::none_of(e->changes[0].registers.begin(), e->changes[0].registers.end(),
                   [](const cluster::Coordinator::WriteOp& op) { return op.record.tombstone(); })) {
    return WriteChangesAtOnce(std::move(e));
  }
  while (e->next_change < e->changes.size()) {
    Execution::Change& c = e->changes[e->next_change];
    if (c.next_register < c.registers.size()) {
      // A thousand at a time, all of a thousand at once: this node is a replica of the
      // tag, so of its registers. (Re-creating a collection of a million members writes
      // a million tombstones: in pieces, each with its own deadline.) A chunk that misses
      // its quorum does not stop the rest: every change is stored here (the next sync
      // gives it to the other replicas), and the command fails at the end.
      const size_t end = std::min(c.registers.size(), c.next_register + kChunk);
      std::vector<cluster::Coordinator::WriteOp> chunk(
          std::make_move_iterator(c.registers.begin() + c.next_register),
          std::make_move_iterator(c.registers.begin() + end));
      c.next_register = end;
      coordinator_->WriteManyAsync(c.db + cluster::kRegisterSpace, std::move(chunk), w,
                                   [this, e](absl::Status s) {
                                     if (!s.ok()) {
                                       if (KindOf(s) != ErrorKind::kNoQuorum) {  // not even stored here
                                         e->Fail(s);
                                         return Finish(e);
                                       }
                                       if (e->first_failure.ok()) e->first_failure = s;
                                     }
                                     WriteChanges(e);
                                   });
      return;
    }
    if (!e->first_failure.ok()) {
      e->Fail(e->first_failure);
      return Finish(e);
    }
    e->next_change++;
    if (!c.version) continue;
    pb::Record version = std::move(*c.version);
    coordinator_->WriteAsync(c.db, c.key, std::move(version), w, std::move(c.context),
                             [this, e](absl::StatusOr<pb::Record> written) {
                               if (!written.ok()) {
                                 e->Fail(written.status());
                                 return Finish(e);
                               }
                               WriteChanges(e);
                             });
    return;
  }
  Finish(e);
}

absl::Status ClusterNode::SyncRegisters(int db, char type, std::string_view key, int r) {
  if (r <= 1) return absl::OkStatus();
  auto local = store_->Summary(db, type, key);
  if (!local.ok()) return local.status();
  const std::string prefix = cluster::RegisterPrefix(type, key);
  const int space = db + cluster::kRegisterSpace;
  const absl::Duration timeout = coordinator_->options().timeout;
  // Every other live replica's summary, asked at once.
  struct Answer {
    std::string id, address;
    bool answered = false;
    uint64_t digest = 0;
    std::string error;
  };
  std::vector<Answer> answers;
  {
    auto ring = membership_->ring();
    for (int m : ring->PreferenceList(key, coordinator_->options().replicas)) {
      const std::string& id = ring->members()[m].id;
      if (id == id_ || !membership_->IsAlive(id)) continue;
      Answer a;
      a.id = id;
      a.address = membership_->AddressOf(id);
      answers.push_back(std::move(a));
    }
  }
  struct Gather {
    absl::Mutex mu;
    size_t pending ABSL_GUARDED_BY(mu) = 0;
    int agree ABSL_GUARDED_BY(mu) = 0;  // answers equal to this replica's digest
  };
  auto gather = std::make_shared<Gather>();
  auto results = std::make_shared<std::vector<Answer>>(answers);
  {
    absl::MutexLock l(&gather->mu);
    gather->pending = answers.size();
  }
  for (size_t i = 0; i < answers.size(); i++) {
    pb::Envelope request;
    request.mutable_register_summary()->set_db(db);
    request.mutable_register_summary()->set_type(static_cast<uint8_t>(type));
    request.mutable_register_summary()->set_key(std::string(key));
    partition_->Call(answers[i].address, std::move(request), timeout,
                     [gather, results, i, mine = local->digest](absl::StatusOr<pb::Envelope> reply) {
                       absl::MutexLock l(&gather->mu);
                       Answer& a = (*results)[i];
                       if (reply.ok() && reply->has_register_summary_result()) {
                         a.answered = true;
                         a.digest = reply->register_summary_result().digest();
                         gather->agree += a.digest == mine;
                       } else {
                         a.error = reply.ok() ? reply->error().message()
                                              : std::string(reply.status().message());
                       }
                       gather->pending--;
                     });
  }
  {
    absl::MutexLock l(&gather->mu);
    // Enough once R-1 agree: a slow replica does not hold up every command.
    auto done = [g = gather.get(), r]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return g->pending == 0 || g->agree >= r - 1;
    };
    gather->mu.AwaitWithTimeout(absl::Condition(&done), timeout + absl::Milliseconds(200));
    answers = *results;  // copied under the lock: late callbacks only touch *results
  }
  int agreed = 1;  // this replica
  std::string why = "no other replica of the key is up";
  std::vector<bool> counted(answers.size(), false);
  for (size_t i = 0; i < answers.size(); i++) {
    const Answer& a = answers[i];
    if (a.answered && a.digest == local->digest) {
      agreed++;
      counted[i] = true;
    }
    if (!a.answered) why = absl::StrCat(a.id, ": ", a.error.empty() ? "no answer" : a.error);
  }
  // Fewer than R agree (a replica missed writes, or this one did): take a differing
  // replica's registers (merging them into ours) and give it those of ours it lacks or
  // holds older, as a read repair of the whole collection, until R agree.
  for (size_t i = 0; i < answers.size(); i++) {
    const Answer& a = answers[i];
    if (agreed >= r) break;
    if (!a.answered || counted[i]) continue;
    std::map<std::string, std::string> theirs;  // register key -> serialized versions
    std::string start = prefix;
    while (true) {
      pb::Envelope scan;
      pb::ReplicaScan* q = scan.mutable_scan();
      q->set_db(space);
      q->set_start(start);
      q->set_limit(1000);
      q->set_all_versions(true);
      q->set_prefix(prefix);
      auto page = partition_->CallAndWait(a.address, std::move(scan), timeout);
      if (!page.ok() || !page->has_scan_result()) {
        why = absl::StrCat(a.id, ": ", page.ok() ? page->error().message() : page.status().message());
        break;
      }
      const pb::ReplicaScanResult& res = page->scan_result();
      for (int i = 0; i < res.keys_size() && i < res.all_size(); i++) {
        cluster::VersionList versions(res.all(i).versions().begin(), res.all(i).versions().end());
        bool changed = false;
        CAIRN_RETURN_IF_ERROR(store_->Apply(space, res.keys(i), versions, &changed));
        theirs[res.keys(i)] = res.all(i).SerializeAsString();
      }
      if (res.next().empty()) {
        agreed++;  // we now hold all it had; what it lacks goes to it below
        break;
      }
      start = res.next() + std::string(1, '\0');
    }
    std::string from = prefix;
    bool more = true;
    while (more) {
      std::vector<std::pair<std::string, cluster::VersionList>> mine;
      CAIRN_RETURN_IF_ERROR(store_->Scan(space, from, 1000, &mine, &more));
      for (auto& [rk, versions] : mine) {
        if (!std::string_view(rk).starts_with(prefix)) {
          more = false;
          break;
        }
        pb::Versions encoded;
        for (const pb::Record& v : versions) *encoded.add_versions() = v;
        auto it = theirs.find(rk);
        if (it != theirs.end() && it->second == encoded.SerializeAsString()) continue;
        pb::Envelope write;
        write.mutable_write()->set_db(space);
        write.mutable_write()->set_key(rk);
        *write.mutable_write()->mutable_versions() = encoded.versions();
        partition_->Call(a.address, std::move(write), timeout, [](absl::StatusOr<pb::Envelope>) {});
      }
      if (!mine.empty()) from = mine.back().first + std::string(1, '\0');
    }
    auto now = store_->Summary(db, type, key);
    if (!now.ok()) return now.status();
    *local = *now;
  }
  if (agreed < r) {
    return WithKind(absl::UnavailableError(absl::StrCat(
                        "NOQUORUM collection read reached ", agreed, " of ", r,
                        " required replicas: ", why)),
                    ErrorKind::kNoQuorum);
  }
  return absl::OkStatus();
}

}  // namespace cairn::server
