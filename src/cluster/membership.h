// Membership: who is in the cluster, who is alive, and the ring they form
// (docs/cluster.md, "Membership" and "Topology changes").
//
// Every node keeps a NodeState per member it has heard of. Once per interval it bumps its
// own heartbeat and exchanges its whole view with one live member picked at random (and,
// now and then, with a seed or a member it believes down, so partitions heal and restarts
// are noticed); each side keeps, per member, the newer state: higher generation, then a
// more final status (REMOVING, then LEFT/REMOVED: another node may set those), then higher
// (incarnation, heartbeat). A member's heartbeat going up feeds its phi-accrual detector;
// a member is down once phi passes the threshold, up again at its next new heartbeat.
//
// Two rings come from the members' statuses. The current ring holds the members that own
// data now (NORMAL, LEAVING: stopped but coming back, DEPARTING, REMOVING): reads go to
// it. The pending ring is what it becomes once the change under way is done (NORMAL,
// LEAVING, JOINING; a reweight's target weight): writes go to both, so a member receiving
// ranges misses nothing while it copies them (transfers.h). Each member says, in `ready`,
// the change (the two rings' fingerprint) it holds every new range of; once every member
// of the pending ring says so, each member completes its own part (JOINING -> NORMAL,
// DEPARTING -> LEFT, the target weight becomes its weight) and any member marks the
// removed ones REMOVED. A node no one else holds data with (the first of a cluster) is
// NORMAL from the start.
//
// Thread-safe. Talks to other nodes only through Transport.
#ifndef CAIRN_CLUSTER_MEMBERSHIP_H_
#define CAIRN_CLUSTER_MEMBERSHIP_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cluster/failure_detector.h"
#include "cluster/ring.h"
#include "cluster/transport.h"

namespace cairn::cluster {

// "normal", "joining", "leaving", ... (INFO, /v1/cluster).
const char* MemberStatusName(pb::NodeState::Status s);

class Membership {
 public:
  // NodeState::features bits.
  static constexpr uint32_t kFeaturePlacedAs = 1;  // rings place members by placed_as

  struct Options {
    std::string cluster_name = "cairn";
    std::vector<std::string> seeds;  // cluster addresses ("host:port")
    absl::Duration interval = absl::Seconds(1);
    absl::Duration rpc_timeout = absl::Seconds(1);
    double phi_threshold = 8.0;
    // Heartbeats arrive by gossip, relayed through random peers, so a member's intervals
    // vary by whole rounds: Akka's cluster defaults, a pause of 3 s tolerated and a
    // deviation of at least 500 ms, put suspicion at about 6 s of silence with 1 s rounds.
    PhiAccrualDetector::Options detector = {1000, 500, 3000, 1000};
    int vnodes = 256;
    // Monotonic milliseconds; null: the steady clock. Tests inject one.
    std::function<int64_t()> now_ms;
    // Seeds the choice of gossip partners (0: from std::random_device): the simulator's
    // runs replay.
    uint64_t seed = 0;
    // The members this node knew when it last ran (what `save` was last given): its ring
    // starts with them, so a restarted node never places keys on a ring of the few
    // members it has heard from since (two restarted nodes would otherwise make a ring of
    // two, and a quorum of it). They count as down until heard from.
    pb::Gossip known;
    // A new node owns its ranges at once instead of joining (receiving them first): for
    // tests and the simulator, which run no transfers (transfers.h). Servers set false.
    bool instant_join = true;
    // A new node that is to replace this dead member (cairn-server --cluster-replace):
    // it joins no ring until it hears of that member and sees it down, then does as
    // Replace (so it never starts an ordinary join). "": none.
    std::string replace;
    // Called with the view whenever the ring's members change; keep it durably.
    std::function<void(const pb::Gossip&)> save;
    // At most member_log_burst "member X is up/down" lines per member within any
    // member_log_interval: a flapping member would flood the log. A change beyond that is
    // held back and counted by the member's next line, which also tells the state it
    // settled in once the interval allows.
    int member_log_burst = 3;
    absl::Duration member_log_interval = absl::Minutes(1);
  };

  // Where keys live now and, during a topology change, where they will.
  struct Placement {
    std::shared_ptr<const Ring> current;  // owners: reads and writes
    std::shared_ptr<const Ring> pending;  // null unless a change is under way: writes too
    uint64_t fingerprint = 0;             // of the two (0 when nothing is pending)
    uint64_t ring = 0;                    // of the current ring
    bool HasPending() const { return pending != nullptr; }
  };

  struct MemberInfo {
    pb::NodeState state;
    bool alive = false;  // this node itself is always alive
    double phi = 0;
  };

  // self: this node's state (id, addresses, rack, weight, generation, incarnation).
  Membership(Options options, pb::NodeState self, Transport* transport);
  ~Membership();

  // Starts the gossip thread (one round per interval).
  void Start();
  // Stops it, after telling the peers it can reach that this node is LEAVING.
  void Stop();

  // One round now (the thread calls this; tests may call it directly).
  void GossipRound();
  // The transport handler's part: merges a peer's view, returns this node's.
  pb::Gossip HandleGossip(const pb::Gossip& in);

  const std::string& self_id() const { return self_id_; }
  std::vector<MemberInfo> Members();
  bool IsAlive(const std::string& id);
  // The cluster address of a member, or "" if unknown.
  std::string AddressOf(const std::string& id);
  // The current ring (never null after construction) and how many times it was rebuilt.
  std::shared_ptr<const Ring> ring();
  uint64_t ring_version();
  Placement placement();
  // Whether every live member serves from this node's current ring and no change is
  // pending: what old owners wait for before dropping ranges they gave away.
  bool Settled();
  // Whether every live member knows of the change `fingerprint` (so writes of its keys
  // reach the pending replicas too, whoever coordinates them).
  bool EveryoneSees(uint64_t fingerprint);
  // This node holds every range it is to receive for the change `fingerprint`.
  void SetReady(uint64_t fingerprint);
  // A sentence naming the change under way ("" if none).
  std::string PendingChange();
  // Why this node cannot take part ("" if it can): its id belongs to a member with older
  // data that was not removed.
  std::string Problem();

  // Topology changes (docs/cluster.md, "Topology changes"). Each refuses with
  // FailedPrecondition while another change is under way, or when it makes no sense
  // (naming the reason), and otherwise starts the change at once.
  // This node leaves for good: its ranges move to the members that take them.
  absl::Status Decommission();
  // This node's share of the data becomes weight (> 0).
  absl::Status Reweight(double weight);
  // The member id, down and not coming back, is removed: the other replicas rebuild its
  // ranges on the members that take them.
  absl::Status Remove(const std::string& id);
  // This node, new and joining, takes the place of member `dead` (down, not coming back):
  // the same tokens, so it receives exactly the dead member's ranges from the other
  // replicas and nothing else moves; the dead member is removed once it has them. Its
  // own join is replaced by this change; refused while any other change is under way.
  absl::Status Replace(const std::string& dead);
  // The ring Replace(dead) would move to (cairn cluster plan replace), or why it cannot.
  absl::StatusOr<std::shared_ptr<const Ring>> ReplacementRing(const std::string& dead);
  // Stops this node's own change (a decommission or a reweight) before it completes.
  absl::Status Cancel();
  // The ring the cluster would move to if member `id` had `status` (and, if weight > 0,
  // that weight): what a change would do, before it is made (cairn cluster plan).
  absl::StatusOr<std::shared_ptr<const Ring>> RingWith(const std::string& id,
                                                       pb::NodeState::Status status,
                                                       double weight);

 private:
  struct Entry {
    explicit Entry(const PhiAccrualDetector::Options& o) : detector(o) {}
    pb::NodeState state;
    PhiAccrualDetector detector;
    // The last verdict and when (ms): asked on every request, recomputed at most every
    // kAliveCacheMs or after news of the member (MergeLocked).
    int64_t alive_at_ms = -1;
    bool alive = false;
    bool heard = true;  // false for a member known only from Options::known, until gossip
    int logged_alive = -1;  // the verdict last logged: -1 none yet, 0 down, 1 up
    // Up/down lines are rate-limited per member (Options::member_log_burst).
    int seen_alive = -1;               // the verdict of the last gossip round
    uint64_t unlogged_changes = 0;     // up/down changes since the last line
    std::deque<int64_t> logged_at_ms;  // the last member_log_burst lines' times
  };
  static constexpr int64_t kAliveCacheMs = 10;
  // Completes this node's part of a change every member is ready for; true if this
  // node's state changed (then it tells the others at once).
  bool CompleteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Logs member id's up/down verdict of this round if it changed, within
  // Options::member_log_burst and member_log_interval (e is its entry, under mu_).
  void LogLivenessLocked(const std::string& id, Entry& e, bool alive, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a change of this node's own state: every live member hears of it now.
  void Announce();
  absl::Status NoChangePendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // No change under way, and this node a normal member (Decommission, Reweight).
  absl::Status MayChangeSelfLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string PendingChangeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string ProblemLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Options::replace, once its dead member is known and down; and, if another new node
  // replaced the same member first, this node's join as itself instead.
  void ReplaceWhenDueLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string replace_problem_ ABSL_GUARDED_BY(mu_);
  // The states of this node and of `dead` once this node replaces it, or why it cannot.
  absl::Status ReplacementLocked(const std::string& dead, pb::NodeState* self_after,
                                 pb::NodeState* dead_after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool announce_ ABSL_GUARDED_BY(mu_) = false;  // CompleteLocked changed this node's state
  int64_t Now() const;
  pb::Gossip ViewLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MergeLocked(const pb::Gossip& in) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RebuildRingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AliveLocked(const std::string& id, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends our view to address and merges its answer when it comes (then answered(), if
  // set); never waits.
  void Exchange(const std::string& address, std::function<void()> answered = nullptr);
  // Exchanges with each at once; waits for the answers where the thread may wait.
  void ExchangeAll(const std::vector<std::string>& addresses);

  const Options options_;
  const std::string self_id_;
  Transport* const transport_;

  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);  // including self
  std::shared_ptr<const Ring> ring_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Ring> pending_ ABSL_GUARDED_BY(mu_);  // null: nothing pending
  uint64_t fingerprint_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t current_fp_ ABSL_GUARDED_BY(mu_) = 0;
  std::string view_key_ ABSL_GUARDED_BY(mu_);  // statuses, weights, readiness
  bool heard_ ABSL_GUARDED_BY(mu_) = false;     // some member answered
  bool founder_ = false;                        // no seed but itself
  bool conflict_ ABSL_GUARDED_BY(mu_) = false;  // this id is an older member's: see Problem
  std::string ring_key_ ABSL_GUARDED_BY(mu_);  // what the rings were built from
  uint64_t ring_version_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rounds_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_MEMBERSHIP_H_
