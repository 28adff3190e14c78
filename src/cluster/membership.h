// Membership: who is in the cluster, who is alive, and the ring they form
// (docs/cluster.md, "Membership").
//
// Every node keeps a NodeState per member it has heard of. Once per interval it bumps its
// own heartbeat and exchanges its whole view with one live member picked at random (and,
// now and then, with a seed or a member it believes down, so partitions heal and restarts
// are noticed); each side keeps, per member, the state with the higher (incarnation,
// heartbeat). A member's heartbeat going up feeds its phi-accrual detector; a member is
// down once phi passes the threshold, up again at its next new heartbeat. Coordinators
// avoid down members.
//
// The ring is built from every member, up or down, NORMAL or LEAVING (a member that is
// down or restarting still owns its ranges; writes for it go to the other replicas, or,
// with hinted handoff, elsewhere), and rebuilt whenever that set changes. Removing a
// member for good (decommission) is not built yet.
//
// Thread-safe. Talks to other nodes only through Transport.
#ifndef CAIRN_CLUSTER_MEMBERSHIP_H_
#define CAIRN_CLUSTER_MEMBERSHIP_H_

#include <cstdint>
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

class Membership {
 public:
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
    // Called with the view whenever the ring's members change; keep it durably.
    std::function<void(const pb::Gossip&)> save;
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
  };
  static constexpr int64_t kAliveCacheMs = 10;
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
  std::string ring_key_ ABSL_GUARDED_BY(mu_);  // what the ring was built from
  uint64_t ring_version_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rounds_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_MEMBERSHIP_H_
