#include "cluster/membership.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <random>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "absl/strings/str_join.h"
#include "xxhash.h"

namespace cairn::cluster {
namespace {

using Status = pb::NodeState::Status;

// Owns data now: reads go to it.
bool InCurrent(Status s) {
  return s == pb::NodeState::NORMAL || s == pb::NodeState::LEAVING ||
         s == pb::NodeState::DEPARTING || s == pb::NodeState::REMOVING;
}
// Owns data once the change under way is done.
bool InPending(Status s) {
  return s == pb::NodeState::NORMAL || s == pb::NodeState::LEAVING || s == pb::NodeState::JOINING;
}
// Statuses other nodes may give a member: they win over what it says of itself.
int Finality(Status s) {
  if (s == pb::NodeState::LEFT || s == pb::NodeState::REMOVED) return 2;
  if (s == pb::NodeState::REMOVING) return 1;
  return 0;
}

bool Newer(const pb::NodeState& a, const pb::NodeState& b) {
  if (a.generation() != b.generation()) return a.generation() > b.generation();
  if (Finality(a.status()) != Finality(b.status())) {
    return Finality(a.status()) > Finality(b.status());
  }
  if (a.incarnation() != b.incarnation()) return a.incarnation() > b.incarnation();
  if (a.heartbeat() != b.heartbeat()) return a.heartbeat() > b.heartbeat();
  // Two nodes that removed the same member at once gave it different change numbers:
  // the higher wins everywhere, so every node computes the same pending ring.
  return a.change() > b.change();
}

// The ring member a state places; in the pending ring, with the weight it is moving to.
Member RingMember(const pb::NodeState& s, bool pending) {
  Member m;
  m.id = s.id();
  m.rack = s.rack();
  m.weight = s.weight() > 0 ? s.weight() : 1.0;
  if (pending && s.target_weight() > 0) m.weight = s.target_weight();
  m.generation = s.placed_as().empty() ? s.generation() : s.placed_generation();
  m.placed_as = s.placed_as();
  return m;
}

// A new node started to replace a member it has not taken the place of yet: in no ring.
bool AwaitingReplace(const pb::NodeState& s) {
  return !s.placed_as().empty() && s.placed_generation() == 0;
}

// What a ring is built from, member by member: equal keys, equal rings.
std::string RingKey(const Member& m) {
  std::string key = absl::StrCat(m.id, "\n", m.rack, "\n", m.weight, "\n", m.generation, "\n");
  if (!m.placed_as.empty()) absl::StrAppend(&key, "as ", m.placed_as, "\n");
  return key;
}

const char* StatusName(Status s) {
  switch (s) {
    case pb::NodeState::NORMAL: return "normal";
    case pb::NodeState::LEAVING: return "stopped";
    case pb::NodeState::JOINING: return "joining";
    case pb::NodeState::DEPARTING: return "leaving";
    case pb::NodeState::LEFT: return "left";
    case pb::NodeState::REMOVING: return "being removed";
    case pb::NodeState::REMOVED: return "removed";
    default: return "unknown";
  }
}

}  // namespace

const char* MemberStatusName(pb::NodeState::Status s) { return StatusName(s); }

Membership::Membership(Options options, pb::NodeState self, Transport* transport)
    : options_(std::move(options)),
      self_id_(self.id()),
      transport_(transport),
      rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {
  absl::MutexLock l(&mu_);
  // The first node of a cluster: no seed but itself, and no member known from a past run
  // (a seed restarted on an empty directory must join the others again, not own all).
  founder_ = std::all_of(options_.seeds.begin(), options_.seeds.end(),
                         [&](const std::string& seed) { return seed == self.cluster_address(); }) &&
             std::none_of(options_.known.nodes().begin(), options_.known.nodes().end(),
                          [&](const pb::NodeState& s) { return s.id() != self.id(); });
  // What this node was when it last ran: a change it was part of goes on. A node new to
  // the cluster joins it (receives its ranges first), unless it is the first one.
  self.set_status(founder_ || options_.instant_join ? pb::NodeState::NORMAL : pb::NodeState::JOINING);
  self.set_change(self.generation());
  for (const pb::NodeState& s : options_.known.nodes()) {
    if (s.id() != self.id() || s.generation() != self.generation()) continue;
    switch (s.status()) {
      case pb::NodeState::NORMAL:
      case pb::NodeState::LEAVING:
        self.set_status(pb::NodeState::NORMAL);
        break;
      case pb::NodeState::UNKNOWN:
        break;
      default:
        self.set_status(s.status());
    }
    self.set_target_weight(s.target_weight());
    self.set_ready(s.ready());
    self.set_placed_as(s.placed_as());
    self.set_placed_generation(s.placed_generation());
    if (!s.placed_as().empty()) self.set_weight(s.weight());  // the replaced member's
    if (s.change() != 0) self.set_change(s.change());
    if (s.status() == pb::NodeState::NORMAL || s.status() == pb::NodeState::LEAVING ||
        s.status() == pb::NodeState::DEPARTING) {
      self.set_weight(s.weight());  // a weight given by reweight stays
    }
  }
  self.set_features(kFeaturePlacedAs);
  const bool known_before = std::any_of(options_.known.nodes().begin(), options_.known.nodes().end(),
                                       [&](const pb::NodeState& s) { return s.id() == self.id(); });
  if (!options_.replace.empty() && !known_before && self.status() == pb::NodeState::JOINING &&
      self.placed_as().empty()) {
    // Waits outside every ring until it can take the dead member's place.
    self.set_placed_as(options_.replace);
    self.set_placed_generation(0);
  }
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
    // A stopped member keeps its ranges; one joining or leaving keeps its status (its
    // change goes on when it is back).
    if (self.status() == pb::NodeState::NORMAL) self.set_status(pb::NodeState::LEAVING);
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
      pb::NodeState& self = entries_.at(self_id_).state;
      if (s.generation() < self.generation()) {
        // The cluster knows this id as a member with older data (this node's directory
        // was wiped or replaced). Until that member is removed (or has left) this node
        // owns nothing: it waits as a joining node, and says why (Problem).
        conflict_ = Finality(s.status()) < 2;
        if (conflict_ && self.status() == pb::NodeState::NORMAL) {
          self.set_status(pb::NodeState::JOINING);
          self.set_heartbeat(self.heartbeat() + 1);
        }
        continue;
      }
      if (s.generation() == self.generation() && Finality(s.status()) > Finality(self.status())) {
        // The cluster removed this node (or finished its decommission): it owns nothing.
        self.set_status(s.status());
        self.set_heartbeat(std::max(self.heartbeat(), s.heartbeat()) + 1);
        continue;
      }
      // Someone remembers this node with a newer incarnation (it restarted and lost
      // count): move past it so this node's own state wins again.
      if (s.generation() == self.generation() && s.incarnation() >= self.incarnation() &&
          Newer(s, self)) {
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
      spdlog::info("cluster: member {} joined the view (cluster address {}, {})", s.id(),
                   s.cluster_address(), MemberStatusName(s.status()));
      continue;
    }
    if (!Newer(s, it->second.state)) continue;
    if (s.generation() > it->second.state.generation() &&
        Finality(it->second.state.status()) < 2) {
      // A new generation of a member that still owns data (its directory was wiped): it
      // may join only once the old one is removed, or its ranges would be lost.
      continue;
    }
    if (s.status() != it->second.state.status()) {
      spdlog::info("cluster: member {} is now {} (was {})", s.id(), MemberStatusName(s.status()),
                   MemberStatusName(it->second.state.status()));
    }
    if (s.cluster_address() != it->second.state.cluster_address()) {
      spdlog::info("cluster: member {} moved to cluster address {} (was {})", s.id(),
                   s.cluster_address(), it->second.state.cluster_address());
    }
    it->second.state = s;
    it->second.detector.Heartbeat(now);
    it->second.heard = true;
  }
  ReplaceWhenDueLocked();
  RebuildRingLocked();
  CompleteLocked();
}

void Membership::ReplaceWhenDueLocked() {
  pb::NodeState& self = entries_.at(self_id_).state;
  if (self.status() != pb::NodeState::JOINING || self.placed_as().empty()) return;
  auto join_as_itself = [&](std::string why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    replace_problem_ = std::move(why);
    self.clear_placed_as();
    self.set_placed_generation(0);
    self.set_change(std::max<uint64_t>(self.change() + 1, static_cast<uint64_t>(Now())));
    self.set_heartbeat(self.heartbeat() + 1);
    announce_ = true;
  };
  if (AwaitingReplace(self)) {
    auto it = entries_.find(self.placed_as());
    // Known only from this node's last run (MEMBERS): once a peer answered, a member no
    // one has news of counts as down (a live one would have a newer heartbeat).
    if (it == entries_.end() || (!it->second.heard && !heard_)) return;
    for (const auto& [id, e] : entries_) {
      if (id != self_id_ && e.state.placed_as() == self.placed_as() && e.state.placed_generation() != 0) {
        return join_as_itself(absl::StrCat(id, " replaced ", self.placed_as(),
                                           " first: this node joins with tokens of its own"));
      }
    }
    if (Finality(it->second.state.status()) != 0) {
      return join_as_itself(absl::StrCat(self.placed_as(), " is ", StatusName(it->second.state.status()),
                                         ": this node joins with tokens of its own"));
    }
    if (AliveLocked(self.placed_as(), Now())) return;
    pb::NodeState self_after, dead_after;
    const std::string dead = self.placed_as();
    self.clear_placed_as();  // ReplacementLocked asks for a node that replaces no one yet
    const absl::Status s = ReplacementLocked(dead, &self_after, &dead_after);
    if (!s.ok()) {
      self.set_placed_as(dead);  // still waiting
      replace_problem_ = absl::StrCat("cannot replace ", dead, " yet: ", s.message());
      return;
    }
    replace_problem_.clear();
    self = std::move(self_after);
    it->second.state = std::move(dead_after);
    announce_ = true;
    return;
  }
  // Two new nodes that replaced the same member without hearing of each other: the one
  // that did first (then the smaller id) keeps the place; the other joins as itself.
  for (const auto& [id, e] : entries_) {
    if (id == self_id_ || e.state.placed_as() != self.placed_as() ||
        e.state.placed_generation() != self.placed_generation() || Finality(e.state.status()) != 0) {
      continue;
    }
    const bool first = e.state.status() == pb::NodeState::NORMAL || e.state.change() < self.change() ||
                       (e.state.change() == self.change() && id < self_id_);
    if (!first) continue;
    return join_as_itself(absl::StrCat(id, " replaced ", self.placed_as(),
                                       " first: this node joins with tokens of its own"));
  }
}

void Membership::RebuildRingLocked() {
  std::vector<Member> current, pending;
  std::string current_key, pending_key;
  for (const auto& [id, e] : entries_) {
    const Status status = e.state.status();
    if (AwaitingReplace(e.state)) continue;
    if (InCurrent(status)) {
      current.push_back(RingMember(e.state, false));
      current_key += RingKey(current.back());
    }
    // A change's own number: the same change made again after a cancel is another one
    // (members' readiness for the first one does not count for it).
    if (status == pb::NodeState::JOINING || status == pb::NodeState::DEPARTING ||
        status == pb::NodeState::REMOVING || (InPending(status) && e.state.target_weight() > 0)) {
      absl::StrAppend(&pending_key, "change ", id, " ", e.state.change(), "\n");
    }
    if (InPending(status)) {
      pending.push_back(RingMember(e.state, true));
      pending_key += RingKey(pending.back());
    }
  }
  // No member owns data yet (a new cluster's first ones): they own it at once.
  if (current.empty()) {
    current = pending;
    current_key = pending_key;
  }
  const std::string key = absl::StrCat(current_key, "|", pending_key);
  if (ring_ != nullptr && key == ring_key_) return;
  if (current.empty() && ring_ == nullptr) {
    // Nothing owns data that this node knows of, and it is in no ring itself (it waits to
    // replace a member): a ring of itself alone until it hears of the others, so there
    // always is one (it cannot reach a quorum of more than one).
    const pb::NodeState& self = entries_.at(self_id_).state;
    Member m = RingMember(self, false);
    m.placed_as.clear();
    m.generation = self.generation();
    current.push_back(m);
  }
  if (current.empty()) return;  // only while this node itself is leaving
  auto ring = Ring::Build(std::move(current), options_.vnodes);
  if (!ring.ok()) return;  // a bad weight from a peer: keep the last good ring
  std::shared_ptr<const Ring> next;
  if (pending_key != current_key && !pending.empty()) {
    auto built = Ring::Build(std::move(pending), options_.vnodes);
    if (!built.ok()) return;
    next = std::make_shared<const Ring>(std::move(*built));
  }
  ring_ = std::make_shared<const Ring>(std::move(*ring));
  pending_ = std::move(next);
  current_fp_ = XXH3_64bits(current_key.data(), current_key.size()) | 1;
  fingerprint_ = pending_ != nullptr ? (XXH3_64bits(key.data(), key.size()) | 1) : 0;
  ring_key_ = key;
  ring_version_++;
  spdlog::info("cluster: ring version {}: {} members{}", ring_version_, ring_->members().size(),
               pending_ != nullptr ? absl::StrCat(", changing to ", pending_->members().size(),
                                                  " (ranges move)")
                                   : std::string());
  pb::NodeState& self = entries_.at(self_id_).state;
  if (self.ring() != current_fp_ || self.pending() != fingerprint_) {
    self.set_ring(current_fp_);
    self.set_pending(fingerprint_);
    self.set_heartbeat(self.heartbeat() + 1);
    announce_ = announce_ || fingerprint_ != 0;  // transfers wait for every member to know
  }
  if (options_.save) options_.save(ViewLocked());
}

bool Membership::CompleteLocked() {
  pb::NodeState& self = entries_.at(self_id_).state;
  bool changed = false;
  const bool anyone_owns = std::any_of(entries_.begin(), entries_.end(), [](const auto& e) {
    return InCurrent(e.second.state.status());
  });
  if (!anyone_owns) {
    // A new cluster: no member holds data to receive. Joining is owning, once this node
    // has heard from the cluster (else it would found a cluster of its own).
    if (self.status() == pb::NodeState::JOINING && !AwaitingReplace(self) && (founder_ || heard_)) {
      self.set_status(pb::NodeState::NORMAL);
      changed = true;
    }
  } else if (pending_ != nullptr) {
    for (const auto& [id, e] : entries_) {
      if (InPending(e.state.status()) && !AwaitingReplace(e.state) && e.state.ready() != fingerprint_) {
        return false;
      }
    }
    // Every member of the pending ring holds what it was to receive: the change is done.
    // This node completes its own part; any node completes those of members leaving for
    // good (final statuses win over what the member says of itself), so a leaving or
    // removed member that is down does not hold the change up.
    if (self.status() == pb::NodeState::JOINING && !AwaitingReplace(self)) {
      self.set_status(pb::NodeState::NORMAL);
      replace_problem_.clear();
      changed = true;
    }
    if (self.target_weight() > 0) {
      self.set_weight(self.target_weight());
      self.set_target_weight(0);
      changed = true;
    }
    for (auto& [id, e] : entries_) {
      if (e.state.status() == pb::NodeState::REMOVING) {
        e.state.set_status(pb::NodeState::REMOVED);
        changed = true;
      } else if (e.state.status() == pb::NodeState::DEPARTING) {
        e.state.set_status(pb::NodeState::LEFT);
        changed = true;
      }
    }
  }
  if (!changed) return false;
  self.set_heartbeat(self.heartbeat() + 1);
  for (auto& [id, e] : entries_) e.alive_at_ms = -1;
  RebuildRingLocked();
  announce_ = true;
  return true;
}

void Membership::Announce() {
  std::vector<std::string> peers;
  {
    absl::MutexLock l(&mu_);
    announce_ = false;
    for (const auto& [id, e] : entries_) {
      if (id == self_id_ || e.state.cluster_address().empty() || Finality(e.state.status()) == 2) {
        continue;
      }
      peers.push_back(e.state.cluster_address());
    }
  }
  for (const std::string& address : peers) Exchange(address);
}

Membership::Placement Membership::placement() {
  absl::MutexLock l(&mu_);
  Placement p;
  p.current = ring_;
  p.pending = pending_;
  p.fingerprint = fingerprint_;
  p.ring = current_fp_;
  return p;
}

bool Membership::Settled() {
  absl::MutexLock l(&mu_);
  if (pending_ != nullptr) return false;
  const int64_t now = Now();
  for (const auto& [id, e] : entries_) {
    if (id == self_id_ || !InCurrent(e.state.status())) continue;
    // A member that is down learns the ring when it is back (what it holds is handed to
    // it by whoever drops it only once it is up: Transfers::Cleanup).
    if (!AliveLocked(id, now)) continue;
    if (e.state.ring() != current_fp_) return false;
  }
  return true;
}

bool Membership::EveryoneSees(uint64_t fingerprint) {
  absl::MutexLock l(&mu_);
  const int64_t now = Now();
  for (const auto& [id, e] : entries_) {
    if (id == self_id_ || Finality(e.state.status()) != 0 || !AliveLocked(id, now)) continue;
    if (e.state.pending() != fingerprint) return false;
  }
  return fingerprint_ == fingerprint;
}

void Membership::SetReady(uint64_t fingerprint) {
  bool announce;
  {
    absl::MutexLock l(&mu_);
    pb::NodeState& self = entries_.at(self_id_).state;
    if (self.ready() == fingerprint) return;
    self.set_ready(fingerprint);
    self.set_heartbeat(self.heartbeat() + 1);
    CompleteLocked();
    announce_ = true;
    announce = announce_;
  }
  if (announce) Announce();
}

std::string Membership::PendingChangeLocked() {
  std::vector<std::string> parts;
  for (const auto& [id, e] : entries_) {
    const Status status = e.state.status();
    if (status == pb::NodeState::JOINING || status == pb::NodeState::DEPARTING ||
        status == pb::NodeState::REMOVING) {
      parts.push_back(absl::StrCat(id, " ", StatusName(status)));
    }
    if (e.state.target_weight() > 0 && InPending(status)) {
      parts.push_back(absl::StrCat(id, " reweighting to ", e.state.target_weight()));
    }
  }
  return absl::StrJoin(parts, ", ");
}

std::string Membership::Problem() {
  absl::MutexLock l(&mu_);
  return ProblemLocked();
}

std::string Membership::ProblemLocked() {
  if (!conflict_) return replace_problem_;
  return absl::StrCat("node id ", self_id_, " belongs to a member with older data: remove it ",
                      "first (cairn cluster remove ", self_id_, "), or start with another id");
}

std::string Membership::PendingChange() {
  absl::MutexLock l(&mu_);
  return pending_ != nullptr ? PendingChangeLocked() : "";
}

absl::Status Membership::NoChangePendingLocked() {
  if (pending_ == nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "a topology change is under way (", PendingChangeLocked(),
      "): wait for its transfers to finish (cairn cluster transfers), or cancel it"));
}

absl::Status Membership::MayChangeSelfLocked() {
  CAIRN_RETURN_IF_ERROR(NoChangePendingLocked());
  const Status status = entries_.at(self_id_).state.status();
  if (status == pb::NodeState::NORMAL) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("this node is ", StatusName(status), ", not a normal member"));
}

absl::Status Membership::Decommission() {
  {
    absl::MutexLock l(&mu_);
    CAIRN_RETURN_IF_ERROR(MayChangeSelfLocked());
    pb::NodeState& self = entries_.at(self_id_).state;
    const bool others = std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) {
      return e.first != self_id_ && InPending(e.second.state.status()) && !AwaitingReplace(e.second.state);
    });
    if (!others) return absl::FailedPreconditionError("the last member of a cluster cannot leave it");
    self.set_status(pb::NodeState::DEPARTING);
    self.set_change(std::max<uint64_t>(self.change() + 1, static_cast<uint64_t>(Now())));
    self.set_heartbeat(self.heartbeat() + 1);
    RebuildRingLocked();
  }
  Announce();
  return absl::OkStatus();
}

absl::Status Membership::Reweight(double weight) {
  if (!(weight > 0) || !std::isfinite(weight) || weight > 1e6) {
    return absl::InvalidArgumentError("weight must be a number above 0");
  }
  {
    absl::MutexLock l(&mu_);
    CAIRN_RETURN_IF_ERROR(MayChangeSelfLocked());
    pb::NodeState& self = entries_.at(self_id_).state;
    if (weight == (self.weight() > 0 ? self.weight() : 1.0)) {
      return absl::FailedPreconditionError(absl::StrCat("this node's weight is already ", weight));
    }
    self.set_target_weight(weight);
    self.set_change(std::max<uint64_t>(self.change() + 1, static_cast<uint64_t>(Now())));
    self.set_heartbeat(self.heartbeat() + 1);
    RebuildRingLocked();
  }
  Announce();
  return absl::OkStatus();
}

absl::Status Membership::Remove(const std::string& id) {
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return absl::NotFoundError(absl::StrCat("no member ", id));
    if (id == self_id_) {
      return absl::InvalidArgumentError("a node cannot remove itself: use leave (decommission)");
    }
    pb::NodeState& state = it->second.state;
    if (AliveLocked(id, Now())) {
      return absl::FailedPreconditionError(absl::StrCat(
          id, " is alive: stop it first, or make it leave (decommission) to move its data"));
    }
    // Allowed while a change is under way: a dead member would hold it up for ever (it
    // must be ready, or leave). The change then includes the removal.
    const Status status = state.status();
    if (status != pb::NodeState::JOINING && status != pb::NodeState::NORMAL &&
        status != pb::NodeState::LEAVING && status != pb::NodeState::DEPARTING) {
      return absl::FailedPreconditionError(
          absl::StrCat(id, " is ", StatusName(status), ": nothing to remove"));
    }
    if (status != pb::NodeState::JOINING) {
      const bool others = std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) {
        return e.first != id && InPending(e.second.state.status()) && !AwaitingReplace(e.second.state);
      });
      if (!others) return absl::FailedPreconditionError("no member would be left");
    }
    state.set_change(std::max<uint64_t>(state.change() + 1, static_cast<uint64_t>(Now())));
    state.set_target_weight(0);
    // It owns nothing yet if it was joining: removing it cancels its join.
    state.set_status(status == pb::NodeState::JOINING ? pb::NodeState::REMOVED
                                                      : pb::NodeState::REMOVING);
    for (auto& [_, e] : entries_) e.alive_at_ms = -1;
    RebuildRingLocked();
  }
  Announce();
  return absl::OkStatus();
}

absl::Status Membership::ReplacementLocked(const std::string& dead, pb::NodeState* self_after,
                                          pb::NodeState* dead_after) {
  const pb::NodeState& self = entries_.at(self_id_).state;
  if (self.status() != pb::NodeState::JOINING || !self.placed_as().empty() || conflict_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "only a node that is joining (new, started on an empty directory) can replace a "
        "member; this node is ", conflict_ ? "kept out: " + ProblemLocked()
                                           : std::string(StatusName(self.status())),
        self.placed_as().empty() ? "" : absl::StrCat(", replacing ", self.placed_as())));
  }
  for (const auto& [id, e] : entries_) {
    const Status status = e.state.status();
    if (AwaitingReplace(e.state)) continue;  // in no ring yet
    if (id != self_id_ && (status == pb::NodeState::JOINING || status == pb::NodeState::DEPARTING ||
                           status == pb::NodeState::REMOVING ||
                           (InPending(status) && e.state.target_weight() > 0))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "another topology change is under way (", PendingChangeLocked(),
          "): wait for it to finish (cairn cluster transfers), or cancel it"));
    }
  }
  auto it = entries_.find(dead);
  if (it == entries_.end()) return absl::NotFoundError(absl::StrCat("no member ", dead));
  if (dead == self_id_) return absl::InvalidArgumentError("a node cannot replace itself");
  for (const auto& [id, e] : entries_) {
    if (id == dead || Finality(e.state.status()) != 0 || (e.state.features() & kFeaturePlacedAs) != 0) {
      continue;
    }
    return absl::FailedPreconditionError(absl::StrCat(
        id, " runs a version that cannot place a replacement: upgrade it first, or remove ",
        dead, " and let this node join as itself"));
  }
  if (AliveLocked(dead, Now())) {
    return absl::FailedPreconditionError(absl::StrCat(
        dead, " is alive: stop it first, or make it leave (decommission) to move its data"));
  }
  const pb::NodeState& d = it->second.state;
  if (d.status() != pb::NodeState::NORMAL && d.status() != pb::NodeState::LEAVING) {
    return absl::FailedPreconditionError(
        absl::StrCat(dead, " is ", StatusName(d.status()), ": nothing to replace"));
  }
  if (d.rack() != self.rack()) {
    return absl::InvalidArgumentError(absl::StrCat(
        dead, " is in rack '", d.rack(), "' and this node in '", self.rack(),
        "': a replacement takes the member's place, rack included"));
  }
  *self_after = self;
  self_after->set_placed_as(d.placed_as().empty() ? d.id() : d.placed_as());
  self_after->set_placed_generation(d.placed_as().empty() ? d.generation() : d.placed_generation());
  self_after->set_weight(d.weight());
  self_after->set_target_weight(0);
  self_after->set_change(std::max<uint64_t>(self.change() + 1, static_cast<uint64_t>(Now())));
  self_after->set_heartbeat(self.heartbeat() + 1);
  *dead_after = d;
  dead_after->set_status(pb::NodeState::REMOVING);
  dead_after->set_target_weight(0);
  dead_after->set_change(std::max<uint64_t>(d.change() + 1, static_cast<uint64_t>(Now())));
  return absl::OkStatus();
}

absl::Status Membership::Replace(const std::string& dead) {
  {
    absl::MutexLock l(&mu_);
    pb::NodeState self_after, dead_after;
    CAIRN_RETURN_IF_ERROR(ReplacementLocked(dead, &self_after, &dead_after));
    entries_.at(self_id_).state = std::move(self_after);
    entries_.at(dead).state = std::move(dead_after);
    for (auto& [_, e] : entries_) e.alive_at_ms = -1;
    RebuildRingLocked();
  }
  Announce();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Ring>> Membership::ReplacementRing(const std::string& dead) {
  absl::MutexLock l(&mu_);
  pb::NodeState self_after, dead_after;
  CAIRN_RETURN_IF_ERROR(ReplacementLocked(dead, &self_after, &dead_after));
  std::vector<Member> members;
  for (const auto& [id, e] : entries_) {
    const pb::NodeState& state = id == self_id_ ? self_after : id == dead ? dead_after : e.state;
    if (InPending(state.status()) && !AwaitingReplace(state)) members.push_back(RingMember(state, true));
  }
  auto ring = Ring::Build(std::move(members), options_.vnodes);
  if (!ring.ok()) return ring.status();
  return std::make_shared<const Ring>(std::move(*ring));
}

absl::Status Membership::Cancel() {
  {
    absl::MutexLock l(&mu_);
    pb::NodeState& self = entries_.at(self_id_).state;
    if (self.status() == pb::NodeState::DEPARTING) {
      self.set_status(pb::NodeState::NORMAL);
    } else if (self.target_weight() > 0) {
      self.set_target_weight(0);
    } else {
      return absl::FailedPreconditionError(
          "this node has no change under way to cancel (a join is cancelled by stopping the "
          "node and removing it)");
    }
    self.set_heartbeat(self.heartbeat() + 1);
    RebuildRingLocked();
  }
  Announce();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Ring>> Membership::RingWith(const std::string& id,
                                                                 pb::NodeState::Status status,
                                                                 double weight) {
  absl::MutexLock l(&mu_);
  if (!entries_.contains(id)) return absl::NotFoundError(absl::StrCat("no member ", id));
  std::vector<Member> members;
  for (const auto& [member_id, e] : entries_) {
    pb::NodeState state = e.state;
    if (member_id == id) {
      state.set_status(status);
      if (weight > 0) state.set_target_weight(weight);
    }
    if (InPending(state.status()) && !AwaitingReplace(state)) members.push_back(RingMember(state, true));
  }
  if (members.empty()) return absl::FailedPreconditionError("no member would be left");
  auto ring = Ring::Build(std::move(members), options_.vnodes);
  if (!ring.ok()) return ring.status();
  return std::make_shared<const Ring>(std::move(*ring));
}

bool Membership::AliveLocked(const std::string& id, int64_t now) {
  if (id == self_id_) return true;
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  Entry& e = it->second;
  if (!e.heard) return false;
  if (e.alive_at_ms >= 0 && now >= e.alive_at_ms && now - e.alive_at_ms < kAliveCacheMs) return e.alive;
  const Status status = e.state.status();
  e.alive = status != pb::NodeState::LEAVING && Finality(status) == 0 &&
            e.detector.Phi(now) < options_.phi_threshold;
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
                     bool announce = false;
                     if (reply.ok() && reply->has_gossip() &&
                         reply->gossip().cluster_name() == options_.cluster_name) {
                       absl::MutexLock l(&mu_);
                       heard_ = true;
                       MergeLocked(reply->gossip());
                       announce = std::exchange(announce_, false);
                     }
                     if (announce) Announce();
                     if (answered) answered();
                   });
}

void Membership::LogLivenessLocked(const std::string& id, Entry& e, bool alive, int64_t now) {
  const int verdict = alive ? 1 : 0;
  // Up when first heard, then every change (a member never heard is not "down").
  if (e.seen_alive != verdict && (alive || e.seen_alive == 1)) e.unlogged_changes++;
  e.seen_alive = verdict;
  const bool changed = e.logged_alive != verdict && (alive || e.logged_alive == 1);
  const bool flapped = !changed && e.logged_alive != -1 && e.unlogged_changes > 0;
  if (!changed && !flapped) return;
  const int64_t window = absl::ToInt64Milliseconds(options_.member_log_interval);
  while (!e.logged_at_ms.empty() && now - e.logged_at_ms.front() >= window) {
    e.logged_at_ms.pop_front();
  }
  if (static_cast<int>(e.logged_at_ms.size()) >= options_.member_log_burst) {
    return;  // counted; told by the next line
  }
  const uint64_t held = e.unlogged_changes - (changed ? 1 : 0);
  if (held == 0) {
    spdlog::info("cluster: member {} is {} (phi {:.1f})", id, alive ? "up" : "down",
                 e.detector.Phi(now));
  } else {
    spdlog::info("cluster: member {} is {} (phi {:.1f}); {} up/down changes before it not logged",
                 id, alive ? "up" : "down", e.detector.Phi(now), held);
  }
  e.logged_alive = verdict;
  e.unlogged_changes = 0;
  e.logged_at_ms.push_back(now);
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
    for (auto& [id, e] : entries_) {
      if (id == self_id_ || e.state.cluster_address().empty()) continue;
      if (Finality(e.state.status()) == 2) continue;  // gone for good
      const bool alive = AliveLocked(id, now);
      (alive ? live : down).push_back(e.state.cluster_address());
      LogLivenessLocked(id, e, alive, now);
    }
    ReplaceWhenDueLocked();  // the dead member may have gone quiet since
    RebuildRingLocked();
    CompleteLocked();
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
  bool announce;
  {
    absl::MutexLock l(&mu_);
    announce = std::exchange(announce_, false);
  }
  if (announce) Announce();
}

pb::Gossip Membership::HandleGossip(const pb::Gossip& in) {
  pb::Gossip out;
  bool announce = false;
  {
    absl::MutexLock l(&mu_);
    if (in.cluster_name() == options_.cluster_name) {
      if (in.from() != self_id_) heard_ = true;
      MergeLocked(in);
    }
    announce = std::exchange(announce_, false);
    out = ViewLocked();
  }
  if (announce) Announce();
  return out;
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
