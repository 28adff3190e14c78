// Anti-entropy: replicas that missed writes (beyond the hint window, restored from an old
// disk, wiped) converge without any read (docs/cluster.md, "Anti-entropy").
//
// Every `interval`, and when asked (cairn cluster repair), a node that sees no change
// under way and the same ring as every live member (Membership::Settled) walks its keys
// once and builds, for each other member, a hash tree of the keys the two share (both
// are among the key's N replicas): three levels of 64 (64 branches, 4096 twigs, 262144
// leaves), a key's leaf picked by its hash, a leaf's hash the XOR of its keys' hashes
// mixed with their versions' digest (so it does not depend on key order). With each peer
// it compares the branch hashes, then the twigs of the branches that differ, then the
// leaves of the twigs that differ, then the keys (with digests) of the leaves that
// differ; each key that differs is read from the peer, merged here, and the merge written
// back to the peer. What travels grows with the divergence, not with the data: 512 bytes
// of branch hashes when nothing differs, about 1 KB more per differing key.
//
// A round also lets tombstones be collected: one whose every other replica held the same
// lone tombstone (or had collected it) is marked seen by all (Options::clock).
//
// The peer answers each step from a tree it builds on the first step (one walk of its
// keys) and keeps for two minutes. Serve runs on the caller's thread (an executor: it may
// walk every key).
#ifndef CAIRN_CLUSTER_ANTI_ENTROPY_H_
#define CAIRN_CLUSTER_ANTI_ENTROPY_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/cluster.pb.h"
#include "cluster/hlc.h"
#include "cluster/membership.h"
#include "cluster/replica_store.h"
#include "cluster/transport.h"

namespace cairn::cluster {

class AntiEntropy {
 public:
  struct Options {
    int replicas = 3;
    absl::Duration interval = absl::Minutes(10);  // between rounds; 0: only when asked
    absl::Duration timeout = absl::Seconds(30);   // per step
    // Tombstones: a round that finds every other replica of a key holding the same lone
    // tombstone as this node (or, once it is older than tombstone_grace, nothing: they
    // collected it) marks it seen by all here (ReplicaStore::MarkTombstoneSeen), so it is
    // collected once older than the grace period; a lone tombstone older than the grace
    // period is not copied to a replica that lacks it. Null clock: neither.
    HybridClock* clock = nullptr;
    absl::Duration tombstone_grace = absl::Hours(24);
  };
  struct Stats {
    std::atomic<uint64_t> rounds{0}, exchanges{0}, failed_exchanges{0};
    std::atomic<uint64_t> leaves_differing{0}, keys_compared{0};
    std::atomic<uint64_t> keys_repaired{0}, bytes_sent{0}, bytes_received{0};
    std::atomic<uint64_t> tombstones_marked{0};  // seen by every replica, found by a round
    std::atomic<int64_t> last_round_ms{0};  // duration of the last round
    std::atomic<bool> running{false};
  };
  static constexpr uint32_t kFanout = 64;
  static constexpr uint32_t kLeaves = kFanout * kFanout * kFanout;

  AntiEntropy(Options options, Membership* membership, Transport* transport, ReplicaStore* store);
  ~AntiEntropy();

  void Start();
  void Halt();  // asks the thread to stop; Stop also waits for it
  void Stop();
  // Runs a round soon (cairn cluster repair).
  void RequestRound();
  // The peer's side of a step (AaeRequest).
  absl::StatusOr<pb::AaeReply> Serve(const pb::AaeRequest& request);
  Stats& stats() { return stats_; }

 private:
  using Leaves = std::vector<uint64_t>;  // kLeaves hashes
  using KeyId = std::pair<int, std::string>;  // database, key
  void Loop();
  void Round();
  bool Stopping() {
    absl::MutexLock l(&mu_);
    return stopping_;
  }
  // This node's trees of the keys it shares with each of peers, in one walk.
  // Lone tombstones (up to a bound) go to *tombstones when it is not null.
  absl::Status BuildTrees(const Ring& ring, const std::vector<std::string>& peers,
                          std::map<std::string, Leaves>* trees,
                          std::map<KeyId, pb::Record>* tombstones = nullptr);
  // The keys this node shares with peer whose leaf is in leaves, with their digests.
  absl::Status KeysIn(const Ring& ring, const std::string& peer, const std::set<uint32_t>& leaves,
                      std::map<std::pair<int, std::string>, uint64_t>* out);
  // Compares with peer and repairs what differs; false on a failure. differ: the keys
  // whose versions differed (true: the peer held none).
  bool Exchange(const std::string& peer, const Leaves& mine, const Membership::Placement& p,
                std::map<KeyId, bool>* differ);
  // A lone tombstone old enough that its other replicas may have collected it.
  bool PastGrace(const pb::Record& tombstone) const;
  absl::StatusOr<pb::Envelope> Call(const std::string& peer, pb::Envelope request);
  // The hashes of the nodes `depth` levels below the root (0: branches, 1: twigs, 2:
  // leaves) under each of parents (for depth 0: none).
  static std::vector<uint64_t> Level(const Leaves& leaves, uint32_t depth,
                                     const std::vector<uint32_t>& parents);

  const Options options_;
  Membership* const membership_;
  Transport* const transport_;
  ReplicaStore* const store_;
  Stats stats_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool asked_ ABSL_GUARDED_BY(mu_) = false;
  struct Served {
    uint64_t ring = 0;
    int64_t built_ms = 0;
    Leaves leaves;
  };
  std::map<std::string, Served> served_ ABSL_GUARDED_BY(mu_);  // trees built for peers
  // Tombstones this process marked (key, version): a round neither marks them again nor
  // lets them take the place of newer ones under its bound. Round's thread only.
  std::set<std::pair<KeyId, uint64_t>> marked_;
  std::thread thread_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_ANTI_ENTROPY_H_
