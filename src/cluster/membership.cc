#include "cluster/membership.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <random>

#include "absl/strings/str_cat.h"

namespace cairn::cluster {
namespace {

bool Newer(const pb::NodeState& a, const pb::NodeState& b) {
  if (a.incarnation() != b.incarnation()) return a.incarnation() > b.incarnation();
  return a.heartbeat() > b.heartbeat();
}

}  // namespace

Membership::Membership(Options options, pb::NodeState self, Transport* transport)
    : options_(std::move(options)),
      self_id_(self.id()),
      transport_(transport),
      rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {
  absl::MutexLock l(&mu_);
  self.set_status(pb::NodeState::NORMAL);
  entries_.emplace(self_id_, Entry(options_.detector)).first->second.state = std::move(self);
  for (const pb::NodeState& s : options_.known.nodes()) {
    if (s.id().empty() || s.id() == self_id_ || entries_.contains(s.id())) continue;
    Entry& e = entries_.emplace(s.id(), Entry(options_.detector)).first->second;
    e.state = s;
    e.heard = false;
  }
  RebuildRingLocked();
}

Membership::~Membership() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

int64_t Membership::Now() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Membership::Start() {
  thread_ = std::thread([this] {
    absl::MutexLock l(&mu_);
    while (!stopping_) {
      mu_.Unlock();
      GossipRound();
      mu_.Lock();
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.interval);
    }
  });
}

void Membership::Stop() {
  std::vector<std::string> peers;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    stopping_ = true;
    pb::NodeState& self = entries_.at(self_id_).state;
    self.set_status(pb::NodeState::LEAVING);
    self.set_heartbeat(self.heartbeat() + 1);
    const int64_t now = Now();
    for (auto& [id, e] : entries_) {
      if (id != self_id_ && AliveLocked(id, now)) peers.push_back(e.state.cluster_address());
    }
  }
  if (thread_.joinable()) thread_.join();
  ExchangeAll(peers);  // the goodbye: best effort, bounded
}

void Membership::ExchangeAll(const std::vector<std::string>& addresses) {
  if (addresses.empty()) return;
  struct Latch {
    absl::Mutex mu;
    size_t left ABSL_GUARDED_BY(mu) = 0;
  };
  auto latch = std::make_shared<Latch>();
  {
    absl::MutexLock l(&latch->mu);
    latch->left = addresses.size();
  }
  for (const std::string& address : addresses) {
    Exchange(address, [latch] {
      absl::MutexLock l(&latch->mu);
      latch->left--;
    });
  }
  // The answers are waited for (each within the RPC timeout) unless this thread is one
  // where they would arrive (an event loop: the simulator's).
  if (!transport_->MayWaitHere()) return;
  absl::MutexLock l(&latch->mu);
  auto done = [&latch]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return latch->left == 0; };
  latch->mu.AwaitWithTimeout(absl::Condition(&done), options_.rpc_timeout + absl::Milliseconds(100));
}

pb::Gossip Membership::ViewLocked() {
  pb::Gossip g;
  g.set_from(self_id_);
  g.set_cluster_name(options_.cluster_name);
  for (const auto& [id, e] : entries_) *g.add_nodes() = e.state;
  return g;
}

void Membership::MergeLocked(const pb::Gossip& in) {
  for (auto& [id, e] : entries_) e.alive_at_ms = -1;  // news: verdicts are asked again
  const int64_t now = Now();
  for (const pb::NodeState& s : in.nodes()) {
    if (s.id().empty()) continue;
    if (s.id() == self_id_) {
      // Someone remembers this node with a newer incarnation (it restarted and lost
      // count): move past it so this node's own state wins again.
      pb::NodeState& self = entries_.at(self_id_).state;
      if (s.incarnation() >= self.incarnation() && Newer(s, self)) {
        self.set_incarnation(s.incarnation() + 1);
        self.set_heartbeat(0);
      }
      continue;
    }
    auto it = entries_.find(s.id());
    if (it == entries_.end()) {
      Entry& e = entries_.emplace(s.id(), Entry(options_.detector)).first->second;
      e.state = s;
      e.detector.Heartbeat(now);
      continue;
    }
    if (!Newer(s, it->second.state)) continue;
    it->second.state = s;
    it->second.detector.Heartbeat(now);
    it->second.heard = true;
  }
  RebuildRingLocked();
}

void Membership::RebuildRingLocked() {
  std::vector<Member> members;
  std::string key;
  for (const auto& [id, e] : entries_) {
    // A LEAVING member (stopped cleanly, perhaps to restart) keeps its ranges like a
    // crashed one: dropping it would move them to nodes that do not hold the data.
    if (e.state.status() != pb::NodeState::NORMAL && e.state.status() != pb::NodeState::LEAVING) {
      continue;
    }
    Member m;
    m.id = id;
    m.rack = e.state.rack();
    m.weight = e.state.weight() > 0 ? e.state.weight() : 1.0;
    m.generation = e.state.generation();
    absl::StrAppend(&key, m.id, "\n", m.rack, "\n", m.weight, "\n", m.generation, "\n");
    members.push_back(std::move(m));
  }
  if (ring_ != nullptr && key == ring_key_) return;
  if (members.empty()) return;  // only while this node itself is leaving
  auto ring = Ring::Build(std::move(members), options_.vnodes);
  if (!ring.ok()) return;  // a bad weight from a peer: keep the last good ring
  ring_ = std::make_shared<const Ring>(std::move(*ring));
  ring_key_ = std::move(key);
  ring_version_++;
  if (options_.save) options_.save(ViewLocked());
}

bool Membership::AliveLocked(const std::string& id, int64_t now) {
  if (id == self_id_) return true;
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  Entry& e = it->second;
  if (!e.heard) return false;
  if (e.alive_at_ms >= 0 && now >= e.alive_at_ms && now - e.alive_at_ms < kAliveCacheMs) return e.alive;
  e.alive = e.state.status() != pb::NodeState::LEAVING && e.detector.Phi(now) < options_.phi_threshold;
  e.alive_at_ms = now;
  return e.alive;
}

void Membership::Exchange(const std::string& address, std::function<void()> answered) {
  pb::Envelope request;
  {
    absl::MutexLock l(&mu_);
    *request.mutable_gossip() = ViewLocked();
  }
  // The answer merges whenever it comes (the transport always answers, at the latest at
  // the timeout); the round does not wait for it.
  transport_->Call(address, std::move(request), options_.rpc_timeout,
                   [this, answered = std::move(answered)](absl::StatusOr<pb::Envelope> reply) {
                     if (reply.ok() && reply->has_gossip() &&
                         reply->gossip().cluster_name() == options_.cluster_name) {
                       absl::MutexLock l(&mu_);
                       MergeLocked(reply->gossip());
                     }
                     if (answered) answered();
                   });
}

void Membership::GossipRound() {
  std::vector<std::string> live, down;
  std::vector<std::string> seeds = options_.seeds;
  uint64_t round;
  {
    absl::MutexLock l(&mu_);
    pb::NodeState& self = entries_.at(self_id_).state;
    self.set_heartbeat(self.heartbeat() + 1);
    const int64_t now = Now();
    for (const auto& [id, e] : entries_) {
      if (id == self_id_ || e.state.cluster_address().empty()) continue;
      (AliveLocked(id, now) ? live : down).push_back(e.state.cluster_address());
    }
    round = ++rounds_;
    // A seed is contacted while this node knows no live member, and every 10th round.
    const std::string& own = self.cluster_address();
    seeds.erase(std::remove(seeds.begin(), seeds.end(), own), seeds.end());
  }
  std::vector<std::string> targets;
  {
    absl::MutexLock l(&mu_);
    if (!live.empty()) targets.push_back(live[rng_() % live.size()]);
    if (!seeds.empty() && (live.empty() || round % 10 == 0)) {
      const std::string& seed = seeds[rng_() % seeds.size()];
      if (std::find(targets.begin(), targets.end(), seed) == targets.end()) targets.push_back(seed);
    }
    // A member believed down is tried now and then, so it is noticed when it is back.
    if (!down.empty() && round % 3 == 0) targets.push_back(down[rng_() % down.size()]);
  }
  ExchangeAll(targets);
}

pb::Gossip Membership::HandleGossip(const pb::Gossip& in) {
  absl::MutexLock l(&mu_);
  if (in.cluster_name() == options_.cluster_name) MergeLocked(in);
  return ViewLocked();
}

std::vector<Membership::MemberInfo> Membership::Members() {
  absl::MutexLock l(&mu_);
  const int64_t now = Now();
  std::vector<MemberInfo> out;
  for (const auto& [id, e] : entries_) {
    MemberInfo m;
    m.state = e.state;
    m.alive = AliveLocked(id, now);
    m.phi = id == self_id_ ? 0 : e.detector.Phi(now);
    out.push_back(std::move(m));
  }
  return out;
}

bool Membership::IsAlive(const std::string& id) {
  absl::MutexLock l(&mu_);
  return AliveLocked(id, Now());
}

std::string Membership::AddressOf(const std::string& id) {
  absl::MutexLock l(&mu_);
  auto it = entries_.find(id);
  return it == entries_.end() ? "" : it->second.state.cluster_address();
}

std::shared_ptr<const Ring> Membership::ring() {
  absl::MutexLock l(&mu_);
  return ring_;
}

uint64_t Membership::ring_version() {
  absl::MutexLock l(&mu_);
  return ring_version_;
}

}  // namespace cairn::cluster
