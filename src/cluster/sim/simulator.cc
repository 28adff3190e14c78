#include "cluster/sim/simulator.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/fault_injection_env.h"
#include "cairn/engine/db.h"
#include "cluster/coordinator.h"
#include "cluster/counter.h"
#include "cluster/engine_replica_store.h"
#include "cluster/hint_store.h"
#include "cluster/hlc.h"
#include "cluster/maintenance.h"
#include "cluster/membership.h"
#include "cluster/registers.h"
#include "cluster/sim/fiber.h"
#include "cluster/transfers.h"
#include "cluster/transport.h"
#include "cluster/type_merge.h"
#include "cluster/versions.h"
#include "spdlog/spdlog.h"

namespace cairn::cluster::sim {
namespace {

// Simulated time starts here (Unix ms): timestamps look like real ones.
constexpr int64_t kEpochMs = 1767225600000;  // 2026-01-01
constexpr int64_t kMs = 1000;                // in microseconds
constexpr int64_t kSecond = 1000 * kMs;

// Events in (time, order of scheduling) order, on one thread.
class EventLoop {
 public:
  int64_t now() const { return now_; }
  void At(int64_t t, std::function<void()> fn) { queue_.push(Event{std::max(t, now_), seq_++, std::move(fn)}); }
  void After(int64_t delay, std::function<void()> fn) { At(now_ + delay, std::move(fn)); }
  // Runs events up to time `until` (then the clock reads `until`).
  void RunUntil(int64_t until) {
    while (!queue_.empty() && queue_.top().time <= until) {
      Event e = queue_.top();
      queue_.pop();
      now_ = e.time;
      e.fn();
    }
    now_ = std::max(now_, until);
  }

 private:
  struct Event {
    int64_t time;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Event& o) const { return time != o.time ? time > o.time : seq > o.seq; }
  };
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
};

// The seeded source of every choice.
class Dice {
 public:
  explicit Dice(uint64_t seed) : rng_(seed) {}
  uint64_t Next() { return rng_(); }
  int64_t Uniform(int64_t lo, int64_t hi) {  // [lo, hi]
    return lo + static_cast<int64_t>(rng_() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool Chance(double p) { return static_cast<double>(rng_() % 1000000) < p * 1e6; }

 private:
  std::mt19937_64 rng_;
};

// Which messages arrive, when, and how often.
class Network {
 public:
  Network(EventLoop* loop, Dice* dice, const Options& o, Report* report)
      : loop_(loop), dice_(dice), o_(o), report_(report) {}

  void Attach(const std::string& address, Transport::Handler handler) { handlers_[address] = std::move(handler); }
  void Detach(const std::string& address) { handlers_.erase(address); }
  void Cut(const std::string& from, const std::string& to) { cuts_.insert({from, to}); }
  void HealAll() { cuts_.clear(); }
  // From now on no message is lost or duplicated (the end of a run: healed).
  void Quiet() { quiet_ = true; }

  // Delivers request to `to` (maybe twice, maybe never); each answer goes back the same
  // way to on_reply.
  void Send(const std::string& from, const std::string& to, const pb::Envelope& request,
            std::function<void(pb::Envelope)> on_reply) {
    report_->messages++;
    if (!Passes(from, to)) return;
    const int copies = !quiet_ && dice_->Chance(o_.duplication) ? 2 : 1;
    if (copies == 2) report_->duplicated++;
    for (int i = 0; i < copies; i++) {
      loop_->After(Delay(), [this, from, to, request, on_reply] {
        auto it = handlers_.find(to);
        if (it == handlers_.end()) return;  // down
        it->second(request, [this, from, to, on_reply](pb::Envelope reply) {
          report_->messages++;
          if (!Passes(to, from)) return;
          loop_->After(Delay(), [on_reply, reply = std::move(reply)] { on_reply(reply); });
        });
      });
    }
  }

 private:
  bool Passes(const std::string& from, const std::string& to) {
    if (!handlers_.contains(from) || cuts_.contains({from, to}) || (!quiet_ && dice_->Chance(o_.loss))) {
      report_->dropped++;
      return false;
    }
    return true;
  }
  int64_t Delay() { return dice_->Uniform(o_.min_delay_us, o_.max_delay_us); }

  EventLoop* const loop_;
  Dice* const dice_;
  const Options& o_;
  Report* const report_;
  std::map<std::string, Transport::Handler> handlers_;  // the nodes that are up
  std::set<std::pair<std::string, std::string>> cuts_;
  bool quiet_ = false;
};

// One node incarnation's transport. Once the node crashes (alive false) nothing of it
// runs again: its pending calls, timers and deferred work are dropped.
class SimTransport final : public Transport {
 public:
  SimTransport(Network* net, EventLoop* loop, std::string self, std::shared_ptr<bool> alive)
      : net_(net), loop_(loop), self_(std::move(self)), alive_(std::move(alive)) {}

  void Call(const std::string& address, pb::Envelope request, absl::Duration timeout, Done done) override {
    Send(address, std::move(request), timeout, std::move(done));
  }
  bool Defer(std::function<void()> fn) override {
    loop_->After(0, [alive = alive_, fn = std::move(fn)] {
      if (*alive) fn();
    });
    return true;
  }
  // Only a fiber may wait: its wait hands the turn back to the loop.
  bool MayWaitHere() const override { return Fiber::Current() != nullptr; }
  absl::StatusOr<pb::Envelope> CallAndWait(const std::string& address, pb::Envelope request,
                                           absl::Duration timeout) override {
    Fiber* fiber = Fiber::Current();
    if (fiber == nullptr) return Transport::CallAndWait(address, std::move(request), timeout);
    if (!*alive_) return absl::CancelledError("the node crashed");
    auto outcome = std::make_shared<std::optional<absl::StatusOr<pb::Envelope>>>();
    const uint64_t id = Send(address, std::move(request), timeout,
                             [fiber, outcome](absl::StatusOr<pb::Envelope> reply) {
                               *outcome = std::move(reply);
                               fiber->Resume();
                             });
    fiber_calls_.insert(id);
    while (!outcome->has_value()) fiber->WaitForTurn();
    return std::move(**outcome);
  }
  // The node crashed: the calls a fiber waits for fail now, so it can end (other calls'
  // callbacks never run, as in a dead process).
  void CancelFiberCalls() {
    std::set<uint64_t> ids;
    ids.swap(fiber_calls_);
    for (uint64_t id : ids) Finish(id, absl::CancelledError("the node crashed"));
  }

 private:
  // Call's work; the call's id (0: the node crashed, nothing was sent).
  uint64_t Send(const std::string& address, pb::Envelope request, absl::Duration timeout, Done done) {
    if (!*alive_) return 0;
    const uint64_t id = next_id_++;
    pending_[id] = std::move(done);
    loop_->After(absl::ToInt64Microseconds(timeout), [this, alive = alive_, id] {
      if (*alive) Finish(id, absl::DeadlineExceededError("no answer in time"));
    });
    net_->Send(self_, address, request, [this, alive = alive_, id](pb::Envelope reply) {
      if (*alive) Finish(id, std::move(reply));
    });
    return id;
  }

  void Finish(uint64_t id, absl::StatusOr<pb::Envelope> reply) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;  // answered already (a duplicate), or timed out
    Done done = std::move(it->second);
    pending_.erase(it);
    fiber_calls_.erase(id);
    done(std::move(reply));
  }

  Network* const net_;
  EventLoop* const loop_;
  const std::string self_;
  const std::shared_ptr<bool> alive_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Done> pending_;
  std::set<uint64_t> fiber_calls_;  // CallAndWait's, among pending_
};

struct Node {
  int index = 0;
  std::string id, address, dir;
  uint64_t incarnation = 0;
  int64_t skew_ms = 0;
  std::shared_ptr<bool> alive = std::make_shared<bool>(false);
  pb::Gossip members;  // Membership::Options::save's (a synced file)
  std::unique_ptr<FaultInjectionEnv> env;
  std::unique_ptr<engine::DB> db;
  std::unique_ptr<HybridClock> clock;
  std::unique_ptr<EngineReplicaStore> store;
  std::unique_ptr<HintStore> hints;
  std::unique_ptr<SimTransport> transport;
  std::unique_ptr<Membership> membership;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<Maintenance> maintenance;
  std::unique_ptr<Transfers> transfers;  // with topology changes only
  std::unique_ptr<Fiber> fiber;          // runs transfers->Step() every 100 ms
  bool spare = false;    // joins during the workload (topology changes)
  bool started = false;  // has run once
  bool retired = false;  // left, or died for good: never restarted
  // Increments of one counter run one at a time here (the server's queue per hash tag).
  std::map<std::string, std::deque<std::function<void()>>> incr_queues;
};

// What a client did to a key it alone writes, in order.
struct KeyOp {
  std::optional<std::string> value;  // nullopt: a delete
  enum State { kPending, kAcked, kFailed, kUnknown } state = kPending;
};
struct KeyHistory {
  int db = 0;
  std::string key;  // in db (a register key in the register space)
  std::vector<KeyOp> ops;
  int last_acked = -1;  // index in ops
};
struct CounterHistory {
  std::string key;
  uint64_t acked = 0, attempted = 0;
};

class Simulation {
 public:
  explicit Simulation(const Options& o)
      : o_(o), dice_(o.seed), net_(&loop_, &dice_, o_, &report_) {
    report_.seed = o.seed;
    // The nodes' warnings (a page that timed out, a source down) are the faults the run
    // makes: the trace says what happened.
    log_level_ = spdlog::get_level();
    spdlog::set_level(spdlog::level::off);
    root_ = absl::StrCat(o.dir, "/cairn-sim-", getpid(), "-", o.seed);
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~Simulation() {
    for (auto& n : nodes_) Stop(*n);
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
    spdlog::set_level(log_level_);
  }

  Report Run() {
    const int spares = o_.topology_changes ? 2 : 0;
    for (int i = 0; i < o_.nodes + spares; i++) {
      auto n = std::make_unique<Node>();
      n->spare = i >= o_.nodes;
      n->index = i;
      n->id = absl::StrCat("n", i);
      n->address = absl::StrCat("10.0.0.", i + 1, ":7381");
      n->dir = absl::StrCat(root_, "/", n->id);
      n->skew_ms = dice_.Uniform(-o_.max_skew_ms, o_.max_skew_ms);
      nodes_.push_back(std::move(n));
    }
    for (auto& n : nodes_) {
      if (!n->spare && !Start(*n)) return report_;
    }
    // Gossip until every node's ring holds every node (joins while serving are issue 17's).
    for (int i = 0; i < 120 && !RingsComplete(); i++) loop_.RunUntil(loop_.now() + 500 * kMs);
    if (!RingsComplete()) {
      Violation("the cluster did not form");
      return report_;
    }
    MakeHistories();
    const int64_t end = loop_.now() + o_.workload_ms * kMs;
    for (int c = 0; c < o_.clients; c++) ScheduleClient(c, end);
    ScheduleFaults(end);
    if (o_.topology_changes) ScheduleTopology();
    if (trace_ && !watch_.empty()) Watch();
    loop_.RunUntil(end + 6 * kSecond);  // the last operations finish or time out
    // Heal: every link, every node, no more loss; then quiet for hints and gossip.
    net_.HealAll();
    net_.Quiet();
    for (auto& n : nodes_) {
      if (n->started && !n->retired && !*n->alive && !Start(*n)) return report_;
    }
    loop_.RunUntil(loop_.now() + 15 * kSecond);
    if (o_.topology_changes && !TopologyDone()) return report_;
    // Healed and quiet: every hint was delivered (or outlived the hint window).
    for (auto& n : nodes_) {
      if (n->hints == nullptr) continue;
      for (const auto& [target, count] : n->hints->Backlog()) {
        if (count > 0) Violation(absl::StrCat(n->id, " still keeps ", count, " hints for ", target, " after healing"));
      }
    }
    FinalReads();
    loop_.RunUntil(loop_.now() + 5 * kSecond);
    CheckReplicas();
    if (o_.topology_changes) CheckOwnership();
    report_.simulated_ms = loop_.now() / kMs;
    return report_;
  }

 private:
  // CAIRN_SIM_TRACE=1: every event of note on stderr, with its simulated time.
  template <typename... A>
  void Trace(const A&... a) {
    if (trace_) std::fprintf(stderr, "%10.3f %s\n", static_cast<double>(loop_.now()) / 1000.0, absl::StrCat(a...).c_str());
  }

  // Folds one client-visible outcome into Report::outcomes_digest (with its time).
  template <typename... A>
  void Outcome(const A&... a) {
    const std::string text = absl::StrCat(loop_.now(), " ", a...);
    uint64_t h = report_.outcomes_digest ^ 0x9e3779b97f4a7c15ull;
    for (unsigned char ch : text) h = (h ^ ch) * 0x100000001b3ull;  // FNV-1a
    report_.outcomes_digest = h;
  }

  void Violation(std::string what) {
    Trace("VIOLATION ", what);
    if (report_.violations.size() < 20) report_.violations.push_back(std::move(what));
  }

  // --- nodes -------------------------------------------------------------------------

  bool Start(Node& n) {
    n.incarnation++;
    Trace("start ", n.id, " incarnation ", n.incarnation);
    n.alive = std::make_shared<bool>(true);
    if (n.env == nullptr) n.env = std::make_unique<FaultInjectionEnv>(Env::Default());
    engine::Options eo;
    eo.env = n.env.get();
    eo.create_if_missing = true;
    eo.wal_sync = engine::WalSyncMode::kAlways;
    eo.write_buffer_size = 4 << 20;
    eo.block_cache_size = 1 << 20;
    auto db = engine::DB::Open(eo, n.dir);
    if (!db.ok()) {
      Violation(absl::StrCat(n.id, " did not open: ", db.status().ToString()));
      return false;
    }
    n.db = std::move(*db);
    const int64_t skew = n.skew_ms;
    EventLoop* loop = &loop_;
    n.clock = std::make_unique<HybridClock>([loop, skew] { return kEpochMs + loop->now() / kMs + skew; },
                                            /*max_drift_ms=*/200);
    n.store = std::make_unique<EngineReplicaStore>(n.db.get(), /*sync=*/true);
    if (o_.hinted_handoff) {
      n.hints = std::make_unique<HintStore>(n.db.get(), /*sync=*/true, n.clock.get());
      if (absl::Status s = n.hints->Open(); !s.ok()) {
        Violation(absl::StrCat(n.id, " hints did not open: ", s.ToString()));
        return false;
      }
    }
    n.transport = std::make_unique<SimTransport>(&net_, &loop_, n.address, n.alive);
    pb::NodeState self;
    self.set_id(n.id);
    self.set_cluster_address(n.address);
    self.set_weight(1);
    self.set_generation(static_cast<uint64_t>(n.index) + 1);
    self.set_incarnation(n.incarnation);
    Membership::Options mo;
    mo.cluster_name = "sim";
    for (const auto& other : nodes_) mo.seeds.push_back(other->address);
    mo.rpc_timeout = absl::Milliseconds(500);
    mo.now_ms = [loop] { return loop->now() / kMs; };
    mo.seed = dice_.Next() | 1;
    mo.known = n.members;
    mo.instant_join = !n.spare;  // the first members form the cluster; spares join it
    mo.save = [raw = &n](const pb::Gossip& view) { raw->members = view; };
    n.membership = std::make_unique<Membership>(mo, self, n.transport.get());
    Coordinator::Options co;
    co.replicas = o_.replicas;
    co.timeout = absl::Milliseconds(500);
    co.run_later = [loop, alive = n.alive](std::function<void()> fn) {
      loop->After(0, [alive, fn = std::move(fn)] {
        if (*alive) fn();
      });
    };
    co.read_repair = o_.read_repair;
    n.coordinator = std::make_unique<Coordinator>(co, n.membership.get(), n.transport.get(), n.store.get(),
                                                  n.clock.get(), n.hints.get());
    Maintenance::Options mt;
    mt.hint_window = absl::Seconds(8);
    mt.tombstone_grace = absl::Seconds(20);  // > hint window + 2 x drift
    mt.timeout = absl::Milliseconds(500);
    mt.replicas = o_.replicas;
    n.maintenance = std::make_unique<Maintenance>(mt, n.membership.get(), n.transport.get(), n.hints.get(),
                                                  n.store.get(), n.clock.get());
    if (o_.topology_changes) {
      Transfers::Options to;
      to.replicas = o_.replicas;
      to.write_quorum = o_.write_quorum;
      to.timeout = absl::Milliseconds(500);
      to.page_bytes = 64 << 10;
      to.cleanup_after = absl::Seconds(2);
      to.now_ms = [loop] { return loop->now() / kMs; };
      to.clock = o_.hand_off_window ? n.clock.get() : nullptr;
      to.hand_off_window = absl::Milliseconds(20000 - 2 * 200) - to.timeout;  // grace - 2 drift - timeout
      n.transfers = std::make_unique<Transfers>(to, n.membership.get(), n.transport.get(), n.store.get());
    }
    n.started = true;
    Node* raw = &n;
    net_.Attach(n.address, [raw](pb::Envelope request, Transport::Respond respond) {
      if (request.has_gossip()) {
        pb::Envelope reply;
        *reply.mutable_gossip() = raw->membership->HandleGossip(request.gossip());
        return respond(std::move(reply));
      }
      if (request.has_transfer_pull() && raw->transfers != nullptr) {
        pb::Envelope reply;
        auto page = raw->transfers->Serve(request.transfer_pull());
        if (page.ok()) {
          *reply.mutable_transfer_page() = std::move(*page);
        } else {
          reply.mutable_error()->set_code(pb::Error::UNAVAILABLE);
          reply.mutable_error()->set_message(std::string(page.status().message()));
        }
        return respond(std::move(reply));
      }
      if (raw->coordinator->Handle(request, respond)) return;
      pb::Envelope reply;
      reply.mutable_error()->set_code(pb::Error::INVALID);
      respond(std::move(reply));
    });
    // Gossip and maintenance every simulated second, at a phase of their own.
    Every(n, dice_.Uniform(0, kSecond), kSecond, [raw] { raw->membership->GossipRound(); });
    Every(n, dice_.Uniform(0, kSecond), kSecond, [raw] { raw->maintenance->RunOnce(); });
    if (raw->transfers != nullptr) {
      // Transfers waits for each page as a node's transfer thread does: on a fiber, which
      // takes turns with the loop (fiber.h).
      Every(n, dice_.Uniform(0, 100 * kMs), 100 * kMs, [raw] {
        if (raw->fiber == nullptr) {
          Transfers* t = raw->transfers.get();
          raw->fiber = std::make_unique<Fiber>([t] {
            while (!Fiber::Current()->quitting()) {
              t->Step();
              Fiber::Current()->Park();
            }
          });
        }
        if (raw->fiber->idle()) raw->fiber->Resume();
      });
    }
    return true;
  }

  void Every(Node& n, int64_t first, int64_t period, std::function<void()> fn) {
    loop_.After(first, [this, &n, alive = n.alive, period, fn] {
      if (!*alive) return;
      fn();
      Every(n, period, period, fn);
    });
  }

  // The process dies: nothing of it runs again; what its Env had not synced is lost.
  void Stop(Node& n) {
    if (!*n.alive) return;
    *n.alive = false;
    net_.Detach(n.address);
    if (n.fiber != nullptr) {
      // Its thread ends first: the page it waits for fails, and the step returns.
      n.transfers->Halt();
      n.transport->CancelFiberCalls();
      n.fiber.reset();
    }
    n.transfers.reset();
    n.maintenance.reset();
    n.coordinator.reset();
    n.membership.reset();
    n.transport.reset();
    n.hints.reset();
    n.store.reset();
    n.env->SetFilesystemActive(false);
    n.db.reset();
    if (absl::Status s = n.env->DropUnsyncedData(); !s.ok()) {
      Violation(absl::StrCat(n.id, " crash: ", s.ToString()));
    }
    n.env->SetFilesystemActive(true);
    n.incr_queues.clear();
  }

  bool RingsComplete() {
    for (auto& n : nodes_) {
      if (*n->alive && n->membership->ring()->members().size() != static_cast<size_t>(o_.nodes)) return false;
    }
    return true;
  }

  Node* RandomLiveNode() {
    std::vector<Node*> live;
    for (auto& n : nodes_) {
      if (*n->alive) live.push_back(n.get());
    }
    if (live.empty()) return nullptr;
    return live[dice_.Uniform(0, static_cast<int64_t>(live.size()) - 1)];
  }

  // --- faults ------------------------------------------------------------------------

  void ScheduleFaults(int64_t end) {
    for (int64_t t = loop_.now(); t < end; t += 100 * kMs) {
      if (dice_.Chance(o_.partitions_per_s / 10)) {
        const int64_t length = dice_.Uniform(500 * kMs, 6 * kSecond);
        loop_.At(t, [this, length] { Partition(length); });
      }
      if (dice_.Chance(o_.crashes_per_s / 10)) {
        const int64_t down = dice_.Uniform(200 * kMs, 5 * kSecond);
        const int which = static_cast<int>(dice_.Uniform(0, static_cast<int64_t>(nodes_.size()) - 1));
        loop_.At(t, [this, which, down] { Crash(which, down); });
      }
    }
  }

  void Partition(int64_t length) {
    report_.partitions++;
    Trace("partition for ", length / kMs, " ms");
    const int count = static_cast<int>(nodes_.size());
    if (dice_.Chance(0.3)) {
      // A one-way cut between two nodes.
      const int a = static_cast<int>(dice_.Uniform(0, count - 1));
      const int b = (a + static_cast<int>(dice_.Uniform(1, count - 1))) % count;
      net_.Cut(nodes_[a]->address, nodes_[b]->address);
      Trace("  cut ", nodes_[a]->id, " -> ", nodes_[b]->id);
    } else {
      // Two sides, each cut from the other both ways.
      std::vector<bool> side(count);
      for (int i = 0; i < count; i++) side[i] = dice_.Chance(0.5);
      for (int i = 0; i < count; i++) Trace("  ", nodes_[i]->id, " on side ", side[i] ? "B" : "A");
      for (int i = 0; i < count; i++) {
        for (int j = 0; j < count; j++) {
          if (side[i] != side[j]) net_.Cut(nodes_[i]->address, nodes_[j]->address);
        }
      }
    }
    loop_.After(length, [this] {
      Trace("heal");
      net_.HealAll();
    });
  }

  void Crash(int which, int64_t down) {
    Node& n = *nodes_[which];
    if (!*n.alive) return;
    report_.crashes++;
    Trace("crash ", n.id, " for ", down / kMs, " ms");
    Stop(n);
    loop_.After(down, [this, which] {
      Node& m = *nodes_[which];
      if (!*m.alive && !m.retired) Start(m);
    });
  }

  // --- topology changes --------------------------------------------------------------

  // A node joins, one leaves, one dies for good and is removed, another joins: one at a
  // time, each 1-4 s after the one before completed, checked every 500 ms until done.
  void ScheduleTopology() {
    plan_ = {Change::kJoin, Change::kLeave, Change::kRemove, Change::kJoin};
    next_change_ms_ = loop_.now() / kMs + dice_.Uniform(1000, 4000);
    loop_.After(500 * kMs, [this] { TopologyTick(); });
  }

  std::string StatusOf(Node& asker, const std::string& id) {
    for (const auto& m : asker.membership->Members()) {
      if (m.state.id() == id) return MemberStatusName(m.state.status());
    }
    return "";
  }

  // A live member of the current ring that is not changing, if there are more than N.
  Node* ANormalMember(Node& asker) {
    std::vector<Node*> normal;
    for (auto& n : nodes_) {
      if (*n->alive && StatusOf(asker, n->id) == "normal") normal.push_back(n.get());
    }
    if (static_cast<int>(normal.size()) <= o_.replicas) return nullptr;
    return normal[dice_.Uniform(0, static_cast<int64_t>(normal.size()) - 1)];
  }

  // CAIRN_SIM_WATCH=value (with the trace): every change of what each node holds of the
  // keys that ever held that value, every 100 ms.
  void Watch() {
    loop_.After(100 * kMs, [this] { Watch(); });
    for (const KeyHistory& h : keys_) {
      bool watched = false;
      for (const KeyOp& op : h.ops) watched = watched || (op.value && *op.value == watch_);
      if (!watched) continue;
      for (auto& n : nodes_) {
        std::string now = "(down)";
        if (*n->alive) {
          auto versions = n->store->Read(h.db, h.key);
          now = versions.ok() ? "" : versions.status().ToString();
          if (versions.ok()) {
            for (const pb::Record& r : *versions) {
              absl::StrAppend(&now, r.tombstone() ? "(tombstone)" : r.value(), "@", r.version(), " ");
            }
          }
        }
        std::string& last = watched_[{h.key, n->id}];
        if (now != last) Trace("watch ", n->id, ": ", now);
        last = now;
      }
    }
  }

  void TopologyTick() {
    loop_.After(500 * kMs, [this] { TopologyTick(); });
    // A node whose decommission completed is done: it stops for good.
    for (auto& n : nodes_) {
      if (*n->alive && StatusOf(*n, n->id) == "left") {
        Trace("topology: ", n->id, " has left; it stops");
        Stop(*n);
        n->retired = true;
      }
    }
    if (step_ >= plan_.size()) return;
    Node* asker = RandomLiveNode();
    if (asker == nullptr) return;
    // A member that died for good is removed even during a change (which it would
    // otherwise hold up); every other change waits for the one before.
    const bool removing = plan_[step_] == Change::kRemove && !victim_.empty();
    if (!removing && (asker->membership->placement().HasPending() || loop_.now() / kMs < next_change_ms_)) {
      return;
    }
    bool made = false;
    switch (plan_[step_]) {
      case Change::kJoin:
        for (auto& n : nodes_) {
          if (n->spare && !n->started) {
            Trace("topology: ", n->id, " joins");
            if (!Start(*n)) return;
            report_.joins++;
            made = true;
            break;
          }
        }
        break;
      case Change::kLeave:
        if (Node* leaver = ANormalMember(*asker)) {
          const absl::Status s = leaver->membership->Decommission();
          Trace("topology: ", leaver->id, " leaves: ", s.ToString());
          if (s.ok()) report_.leaves++;
          made = s.ok();
        }
        break;
      case Change::kRemove:
        if (victim_.empty()) {
          Node* victim = ANormalMember(*asker);
          if (victim == nullptr) return;
          Trace("topology: ", victim->id, " dies for good (its disk is lost)");
          victim_ = victim->id;
          Stop(*victim);
          victim->retired = true;
          return;  // removed once the others see it down
        } else {
          const absl::Status s = asker->membership->Remove(victim_);
          Trace("topology: ", asker->id, " removes ", victim_, ": ", s.ToString());
          if (s.ok()) report_.removals++;
          made = s.ok();
        }
        break;
    }
    if (!made) return;
    step_++;
    next_change_ms_ = loop_.now() / kMs + dice_.Uniform(1000, 4000);
  }

  // After healing: every planned change is made and completed, on every live node, and
  // every node cleaned up after it (within 2 minutes). A violation (and false) otherwise.
  bool TopologyDone() {
    auto done = [this] {
      if (step_ < plan_.size()) return false;
      for (auto& n : nodes_) {
        // Every member in every ring (a join just made may not have reached all yet),
        // and cleaned up after the ring it serves now (the flag alone may be a step old).
        if (*n->alive && (n->membership->placement().HasPending() || !n->membership->Settled() ||
                          n->membership->ring()->members().size() != static_cast<size_t>(o_.nodes) ||
                          n->transfers->progress().cleaned_ring_version != n->membership->ring_version())) {
          return false;
        }
      }
      return true;
    };
    for (int i = 0; i < 240 && !done(); i++) loop_.RunUntil(loop_.now() + 500 * kMs);
    if (!done()) {
      std::string views;
      for (auto& n : nodes_) {
        if (!*n->alive) continue;
        absl::StrAppend(&views, " ", n->id, ": ", n->membership->PendingChange(),
                        n->membership->Settled() ? "" : " (not settled)",
                        n->transfers->progress().cleaned ? "" : " (not cleaned up)", ";");
      }
      Violation(absl::StrCat("topology changes did not complete: ", step_, " of ", plan_.size(),
                             " made; under way:", views));
      return false;
    }
    return true;
  }

  // No node keeps a key it does not own (old owners handed theirs off and dropped them).
  void CheckOwnership() {
    for (auto& n : nodes_) {
      if (!*n->alive) continue;
      auto ring = n->membership->ring();
      for (int db = 0; db < 2 * kRegisterSpace; db++) {
        std::string start;
        while (true) {
          std::vector<std::pair<std::string, VersionList>> chunk;
          bool more = false;
          if (!n->store->Scan(db, start, 256, &chunk, &more).ok()) break;
          for (const auto& [key, versions] : chunk) {
            bool owner = false;
            for (int m : ring->PreferenceList(PlacementKey(db, key), o_.replicas)) {
              owner = owner || ring->members()[m].id == n->id;
            }
            if (!owner) {
              std::string held;
              for (const pb::Record& r : versions) {
                absl::StrAppend(&held, r.tombstone() ? "(tombstone)" : r.value(), " written at ",
                                static_cast<int64_t>(HybridClock::Physical(r.version())) - kEpochMs, " ms; ");
              }
              Violation(absl::StrCat(n->id, " keeps ", db < kRegisterSpace ? key : "a set member",
                                     " (db ", db, "), which it does not own: ", held));
            }
          }
          if (!more || chunk.empty()) break;
          start = chunk.back().first + std::string(1, '\0');
        }
      }
    }
  }

  // --- the workload ------------------------------------------------------------------

  void MakeHistories() {
    for (int c = 0; c < o_.clients; c++) {
      std::vector<size_t> mine;
      for (int k = 0; k < o_.keys_per_client; k++) {
        mine.push_back(keys_.size());
        keys_.push_back(KeyHistory{0, absl::StrCat("c", c, "k", k), {}, -1});
      }
      for (int m = 0; m < o_.members_per_client; m++) {
        // A member of the set "{set}" (a register), written by this client alone.
        mine.push_back(keys_.size());
        keys_.push_back(KeyHistory{kRegisterSpace, RegisterKey('t', "{set}", absl::StrCat("c", c, "m", m)), {}, -1});
      }
      owned_.push_back(std::move(mine));
    }
    for (int i = 0; i < o_.counters; i++) counters_.push_back(CounterHistory{absl::StrCat("n", i), 0, 0});
  }

  void ScheduleClient(int c, int64_t end) {
    // Think time above twice the clocks' skew: a client's writes of a key are ordered by
    // their timestamps as they are in time (last writer wins, docs/cluster.md).
    loop_.After(dice_.Uniform(60 * kMs, 200 * kMs), [this, c, end] {
      if (loop_.now() >= end) return;
      ClientStep(c, [this, c, end] { ScheduleClient(c, end); });
    });
  }

  // One operation of client c; next() when it finished, or was given up on.
  void ClientStep(int c, std::function<void()> next) {
    Node* node = RandomLiveNode();
    if (node == nullptr) return next();
    report_.operations++;
    // Gives up on an operation whose node died under it (its callback never comes).
    auto finished = std::make_shared<bool>(false);
    auto once = [finished, next](std::function<void()> record) {
      if (*finished) return;
      *finished = true;
      if (record) record();
      next();
    };
    const int roll = static_cast<int>(dice_.Uniform(0, 99));
    if (roll < 15 && !counters_.empty()) {
      const size_t i = static_cast<size_t>(dice_.Uniform(0, static_cast<int64_t>(counters_.size()) - 1));
      counters_[i].attempted++;
      Increment(*node, counters_[i].key, [this, i, once](absl::Status s) {
        once([this, i, s] {
          Outcome("incr ", counters_[i].key, " ", s.ToString());
          if (s.ok()) {
            counters_[i].acked++;
            report_.acknowledged++;
          }
        });
      });
    } else {
      const std::vector<size_t>& mine = owned_[c];
      const size_t k = mine[dice_.Uniform(0, static_cast<int64_t>(mine.size()) - 1)];
      KeyHistory& h = keys_[k];
      if (roll < 45) {
        Trace("client ", c, " via ", node->id, ": read of ", h.key.size() > 8 ? "member" : h.key);
        Read(*node, h, [once](std::function<void()> check) { once(std::move(check)); });
      } else {
        KeyOp op;
        if (roll >= 85) {
          op.value = std::nullopt;  // a delete
        } else {
          op.value = absl::StrCat(h.key.size() > 8 ? "m" : "v", h.ops.size(), ".", dice_.Next() % 1000);
        }
        h.ops.push_back(op);
        const int index = static_cast<int>(h.ops.size()) - 1;
        Trace("client ", c, " via ", node->id, ": write #", index, " of ", h.key.size() > 8 ? "member" : h.key, " = ",
              op.value ? *op.value : "(delete)");
        pb::Record rec;
        if (op.value) {
          rec.set_type('s');
          rec.set_value(*op.value);
        } else {
          rec.set_tombstone(true);
        }
        node->coordinator->WriteAsync(h.db, h.key, std::move(rec), o_.write_quorum, std::nullopt,
                                      [this, k, index, once](absl::StatusOr<pb::Record> w) {
                                        once([this, k, index, ok = w.ok(), why = w.status().ToString()] {
                                          KeyHistory& h = keys_[k];
                                          Trace("  write #", index, " of ", h.key.size() > 8 ? "member" : h.key, ": ", why);
                                          Outcome("write ", h.key, " #", index, " ", why);
                                          h.ops[index].state = ok ? KeyOp::kAcked : KeyOp::kFailed;
                                          if (ok) {
                                            h.last_acked = std::max(h.last_acked, index);
                                            report_.acknowledged++;
                                          }
                                        });
                                      });
      }
    }
    loop_.After(6 * kSecond, [this, once, c] {
      once([this, c] {
        // Whatever was pending stays possible: the node may have stored it.
        for (size_t k : owned_[c]) {
          for (KeyOp& op : keys_[k].ops) {
            if (op.state == KeyOp::kPending) op.state = KeyOp::kUnknown;
          }
        }
      });
    });
  }

  // A read at R must see the last acknowledged write before it started, or a later one.
  void Read(Node& node, KeyHistory& h, std::function<void(std::function<void()>)> done) {
    const int floor = h.last_acked;
    const size_t k = static_cast<size_t>(&h - keys_.data());
    node.coordinator->ReadAsync(h.db, h.key, o_.read_quorum, Coordinator::Repair::kAsync,
                                [this, k, floor, done](absl::StatusOr<pb::Record> r) {
                                  std::optional<std::string> got;
                                  if (r.ok()) got = r->value();
                                  const bool answered = r.ok() || absl::IsNotFound(r.status());
                                  done([this, k, floor, got, answered, why = r.status().ToString()] {
                                    Trace("  read of ", keys_[k].key.size() > 8 ? "member" : keys_[k].key, ": ",
                                          got ? *got : why);
                                    Outcome("read ", keys_[k].key, " ", got ? *got : why);
                                    if (answered) CheckRead(keys_[k], floor, got, "read");
                                  });
                                });
  }

  // got must be the value of an operation at or after `floor` (the last acknowledged
  // one when the read began); absent needs a delete there (or no acknowledgement yet).
  void CheckRead(const KeyHistory& h, int floor, const std::optional<std::string>& got, const char* what) {
    // Nothing acknowledged yet: absent, or what some write wrote (never made up).
    for (size_t i = static_cast<size_t>(std::max(floor, 0)); i < h.ops.size(); i++) {
      if (h.ops[i].value == got) return;
    }
    if (floor < 0 && !got) return;
    if (trace_) {
      for (auto& n : nodes_) {
        if (!*n->alive) continue;
        auto ring = n->membership->ring();
        std::string list;
        for (int m : ring->PreferenceList(PlacementKey(h.db, h.key), o_.replicas)) {
          absl::StrAppend(&list, ring->members()[m].id, n->membership->IsAlive(ring->members()[m].id) ? "+" : "-", " ");
        }
        auto versions = n->store->Read(h.db, h.key);
        std::string held;
        if (versions.ok()) {
          for (const auto& v : *versions) absl::StrAppend(&held, v.tombstone() ? "(tombstone)" : v.value(), " ");
        }
        Trace("  ", n->id, " ring members ", ring->members().size(), " preference ", list, " holds ", held);
      }
    }
    if (floor < 0) {
      return Violation(absl::StrCat(what, " of ", h.db == 0 ? h.key : "a set member", " returned ",
                                    got ? *got : "nothing", ", which no write wrote"));
    }
    Violation(absl::StrCat(what, " of ", h.db == 0 ? h.key : "a set member", " returned ",
                           got ? *got : "nothing", " after write #", floor, " (",
                           h.ops[floor].value ? *h.ops[floor].value : "a delete", ") was acknowledged"));
  }

  // INCR as the server runs it on the key's replica: read at R, add this node's
  // increment to its counter entry, write with the read's context; one at a time per key
  // on this node.
  void Increment(Node& node, const std::string& key, std::function<void(absl::Status)> done) {
    auto& queue = node.incr_queues[key];
    Node* n = &node;
    queue.push_back([this, n, key, done] {
      n->coordinator->ReadVersionsAsync(0, key, o_.read_quorum, Coordinator::Repair::kAsync,
                                        [this, n, key, done](absl::StatusOr<Coordinator::ReadResult> read) {
        auto finish = [this, n, key, done](absl::Status s) {
          done(s);
          auto& q = n->incr_queues[key];
          if (!q.empty()) q.pop_front();
          if (!q.empty()) loop_.After(0, q.front());
        };
        if (!read.ok()) return finish(read.status());
        auto merged = MergeForRead(read->versions);
        if (!merged.ok()) return finish(merged.status());
        pb::Counter counter;
        std::string before = "0";
        if (merged->has_value() && (*merged)->has_counter()) {
          counter = (*merged)->counter();
          before = CounterValue(counter);
        }
        int64_t value = 0;
        if (!absl::SimpleAtoi(before, &value)) return finish(absl::InternalError("counter is not an integer"));
        const std::string after = absl::StrCat(value + 1);
        if (absl::Status s = AddIncrement(&counter, n->id, before, after, n->clock->Now()); !s.ok()) {
          return finish(s);
        }
        pb::Record rec;
        rec.set_type('s');
        rec.set_value(after);
        *rec.mutable_counter() = std::move(counter);
        pb::Context context;
        *context.mutable_clock() = read->context;
        n->coordinator->WriteAsync(0, key, std::move(rec), o_.write_quorum, std::move(context),
                                   [finish](absl::StatusOr<pb::Record> w) { finish(w.status()); });
      });
    });
    if (queue.size() == 1) loop_.After(0, queue.front());
  }

  // --- the checks --------------------------------------------------------------------

  // Every key read once at R=N with repair, through a random node (again, a little
  // later, if a message of it was lost).
  void FinalReads() {
    final_.assign(keys_.size(), std::nullopt);
    final_counters_.assign(counters_.size(), std::nullopt);
    for (size_t k = 0; k < keys_.size(); k++) FinalRead(keys_[k].db, keys_[k].key, 5, [this, k](auto v) { final_[k] = v; });
    for (size_t i = 0; i < counters_.size(); i++) {
      FinalRead(0, counters_[i].key, 5, [this, i](std::optional<std::string> v) {
        int64_t n = 0;
        if (!v) {
          final_counters_[i] = 0;
        } else if (absl::SimpleAtoi(*v, &n)) {
          final_counters_[i] = n;
        }
      });
    }
  }

  void FinalRead(int db, const std::string& key, int tries,
                 std::function<void(std::optional<std::string>)> found) {
    Node* node = RandomLiveNode();
    node->coordinator->ReadAsync(db, key, o_.replicas, Coordinator::Repair::kSync,
                                 [this, db, key, tries, found](absl::StatusOr<pb::Record> r) {
                                   Outcome("final ", key, " ", r.ok() ? r->value() : r.status().ToString());
                                   if (r.ok()) return found(r->value());
                                   if (absl::IsNotFound(r.status())) return found(std::nullopt);
                                   if (tries > 1) {
                                     return loop_.After(200 * kMs, [this, db, key, tries, found] {
                                       FinalRead(db, key, tries - 1, found);
                                     });
                                   }
                                   Violation(absl::StrCat("final read of ", key, ": ", r.status().ToString()));
                                 });
  }

  void CheckReplicas() {
    for (size_t k = 0; k < keys_.size(); k++) {
      const KeyHistory& h = keys_[k];
      if (!final_[k]) continue;  // reported
      CheckRead(h, h.last_acked, *final_[k], "final read");
      CompareReplicas(h.db, h.key);
    }
    for (size_t i = 0; i < counters_.size(); i++) {
      const CounterHistory& c = counters_[i];
      if (!final_counters_[i]) {
        Violation(absl::StrCat("final read of counter ", c.key, " failed"));
        continue;
      }
      const int64_t v = *final_counters_[i];
      if (v < static_cast<int64_t>(c.acked) || v > static_cast<int64_t>(c.attempted)) {
        Violation(absl::StrCat("counter ", c.key, " reads ", v, " after ", c.acked,
                               " acknowledged increments of ", c.attempted));
      }
      CompareReplicas(0, c.key);
    }
  }

  // The key's replicas hold the same live value, and merging their versions is
  // idempotent and independent of order.
  void CompareReplicas(int db, const std::string& key) {
    Node* any = RandomLiveNode();
    auto ring = any->membership->ring();
    std::vector<VersionList> held;
    std::optional<std::optional<std::string>> agreed;
    for (int m : ring->PreferenceList(PlacementKey(db, key), o_.replicas)) {
      Node& n = *nodes_[std::stoi(ring->members()[m].id.substr(1))];
      auto versions = n.store->Read(db, key);
      if (!versions.ok()) {
        Violation(absl::StrCat(n.id, " cannot read ", key, ": ", versions.status().ToString()));
        return;
      }
      auto merged = MergeForRead(*versions);
      std::optional<std::string> live;
      if (merged.ok() && merged->has_value()) live = (*merged)->value();
      if (agreed && *agreed != live) {
        Violation(absl::StrCat("replicas of ", db == 0 ? key : "a set member", " disagree: ",
                               agreed->value_or("nothing"), " vs ", live.value_or("nothing"), " on ", n.id));
      }
      agreed = live;
      held.push_back(std::move(*versions));
    }
    VersionList forward, backward, twice;
    for (const VersionList& v : held) {
      for (const pb::Record& r : v) MergeVersion(&forward, r);
    }
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      for (auto r = it->rbegin(); r != it->rend(); ++r) MergeVersion(&backward, *r);
    }
    twice = forward;
    for (const VersionList& v : held) {
      for (const pb::Record& r : v) MergeVersion(&twice, r);
    }
    Canonicalize(&forward);
    Canonicalize(&backward);
    Canonicalize(&twice);
    if (!SameVersions(forward, backward) || !SameVersions(forward, twice)) {
      Violation(absl::StrCat("merging the versions of ", key, " depends on order or repetition"));
    }
  }

  const Options o_;
  EventLoop loop_;
  Dice dice_;
  Report report_;
  Network net_;
  std::string root_;
  spdlog::level::level_enum log_level_;
  const bool trace_ = std::getenv("CAIRN_SIM_TRACE") != nullptr;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<KeyHistory> keys_;
  std::vector<std::vector<size_t>> owned_;  // by client: indexes in keys_
  std::vector<CounterHistory> counters_;
  std::vector<std::optional<std::optional<std::string>>> final_;
  std::vector<std::optional<int64_t>> final_counters_;
  enum class Change { kJoin, kLeave, kRemove };
  std::vector<Change> plan_;  // topology changes, in order
  size_t step_ = 0;           // the next one
  int64_t next_change_ms_ = 0;
  std::string victim_;        // the member that died for good, to remove
  const std::string watch_ = std::getenv("CAIRN_SIM_WATCH") ? std::getenv("CAIRN_SIM_WATCH") : "";
  std::map<std::pair<std::string, std::string>, std::string> watched_;  // (key, node) -> held
};

}  // namespace

std::string Report::Summary() const {
  std::string s = absl::StrCat("seed ", seed, " (outcomes ", absl::Hex(outcomes_digest), "): ", simulated_ms,
                               " simulated ms, ", operations,
                               " operations (", acknowledged, " acknowledged), ", messages, " messages (",
                               dropped, " dropped, ", duplicated, " duplicated), ", partitions,
                               " partitions, ", crashes, " crashes",
                               joins + leaves + removals == 0
                                   ? std::string()
                                   : absl::StrCat(", ", joins, " joins, ", leaves, " leaves, ",
                                                  removals, " removals"),
                               ": ");
  if (violations.empty()) return s + "ok";
  return s + absl::StrCat(violations.size(), " violations: ", absl::StrJoin(violations, "; "));
}

Report Run(const Options& options) {
  Simulation sim(options);
  return sim.Run();
}

}  // namespace cairn::cluster::sim
