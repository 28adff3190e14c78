// Transfers: ranges move to the members that are to own them while the cluster serves
// (docs/cluster.md, "Topology changes").
//
// During a change (Membership::Placement has a pending ring) every node works out the
// arcs of the ring it is a replica of in the pending ring but not in the current one, and
// pulls the keys of those arcs, a page at a time, from one live current replica of each
// arc and the digests of those keys from the others (ReceivePlan: so a write acknowledged
// by any W of them is among what it receives), merging them
// into its replicas as any replica write merges. Writes made meanwhile reach it directly
// (the coordinator writes to pending replicas too). Pages are throttled to `rate`; the
// cursor of each source is kept in <dir>/TRANSFERS after every page, so a receiver that
// restarts resumes there, and a source that restarts is asked again from there. Once every
// source is done the node says so (Membership::SetReady); when every member of the
// pending ring has, the change completes (membership.h).
//
// Once no change is pending and every live member serves from the same ring
// (Membership::Settled), a node walks its keys and hands each one it no longer owns to
// the key's owners (a replica write each must acknowledge), then drops it.
//
// One thread, which waits for each page (Transport::CallAndWait); the source side (Serve)
// runs on the caller's thread and reads at most one page.
#ifndef CAIRN_CLUSTER_TRANSFERS_H_
#define CAIRN_CLUSTER_TRANSFERS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/histogram.h"
#include "cluster/cluster.pb.h"
#include "cluster/hlc.h"
#include "cluster/membership.h"
#include "cluster/replica_store.h"
#include "cluster/ring.h"
#include "cluster/transport.h"

namespace cairn::cluster {

// Sorted, disjoint arcs of ring positions: (start, end], wrapping when start >= end.
class ArcSet {
 public:
  ArcSet() = default;
  explicit ArcSet(const google::protobuf::RepeatedPtrField<pb::Arc>& arcs);
  void Add(uint64_t start, uint64_t end);  // call Normalize after the last one
  void Normalize();
  bool Contains(uint64_t position) const;
  bool empty() const { return arcs_.empty(); }
  void AppendTo(google::protobuf::RepeatedPtrField<pb::Arc>* out) const;
  // The share of all positions the arcs cover, in [0, 1].
  double Fraction() const;
  // Inclusive [lo, hi] pieces, sorted.
  const std::vector<std::pair<uint64_t, uint64_t>>& pieces() const { return arcs_; }

 private:
  std::vector<std::pair<uint64_t, uint64_t>> arcs_;  // (start, end], start < end, sorted by end
};

// For the change from `current` to `pending` (replicas per key n): the arcs `self` is to
// receive, by the current replicas to pull them from (self excluded).
std::map<std::string, ArcSet> ArcsToReceive(const Ring& current, const Ring& pending,
                                           const std::string& self, int n);

// What a node pulls during a change: each arc in full from one live current replica (the
// first in the arc's preference list that is up), and from the others only its keys'
// digests, fetching the keys whose digest differs from what it then holds. So about one
// copy of the data crosses the network, and a write that reached only some replicas
// still arrives.
struct ReceivePlan {
  std::map<std::string, ArcSet> full, digests;  // by source member id
};
ReceivePlan PlanToReceive(const Ring& current, const Ring& pending, const std::string& self,
                          int n, const std::function<bool(const std::string&)>& alive);

class Transfers {
 public:
  struct Options {
    int replicas = 3;
    // W (the default write quorum): a source that is down is skipped only while fewer
    // than W of an arc's current replicas are down.
    int write_quorum = 2;
    // Bytes per second this node receives at (0: no limit), asked before every wait.
    std::function<int64_t()> rate;
    std::string progress_path;  // "": progress is not kept
    absl::Duration interval = absl::Milliseconds(200);
    // After every live member knows of a change, how long before pulling starts: writes
    // coordinated just before a member learned of it are stored by then (they are in
    // flight for a network round trip; one slower than this reaches the new owner later,
    // by the old owner's hand-off or anti-entropy).
    absl::Duration propagation_delay = absl::Milliseconds(250);
    absl::Duration timeout = absl::Seconds(30);  // per page
    uint32_t page_bytes = 1 << 20;
    // How long every live member must have served from the same ring before old owners
    // drop what they gave away.
    absl::Duration cleanup_after = absl::Seconds(5);
    // Monotonic milliseconds; null: the steady clock (the simulator's is simulated).
    std::function<int64_t()> now_ms;
    // Cleanup hands off only keys written within hand_off_window (by the newest
    // version's timestamp, on `clock`): a tombstone that shadows such a key cannot have
    // been collected yet anywhere, so the hand-off cannot bring the key back. The server
    // sets tombstone-grace minus twice max-clock-drift minus a page timeout (never less
    // than hint-window). Older keys are dropped: their owners received them by transfer,
    // and a tombstone may have removed them there since. Null clock: every key is handed off.
    HybridClock* clock = nullptr;
    absl::Duration hand_off_window = absl::Hours(3);
  };
  struct Source {
    std::string id;
    uint64_t keys = 0, bytes = 0;
    bool done = false;
    std::string error;  // the last failure, "" if none
  };
  struct Progress {
    uint64_t fingerprint = 0;  // the change being received; 0: none
    double fraction = 0;       // of the ring being received
    std::vector<Source> sources;
    double rate_bytes = 0;     // received per second, lately
    uint64_t keys_received = 0, bytes_received = 0;  // since start, all changes
    uint64_t keys_handed_off = 0, keys_dropped = 0;  // cleanup, since start
    uint64_t changes_received = 0;
    bool cleaning = false;
    bool cleaned = false;  // no change pending, and the ring served now was cleaned up after
    uint64_t cleaned_ring_version = 0;  // Membership::ring_version() of the last cleanup
  };

  Transfers(Options options, Membership* membership, Transport* transport, ReplicaStore* store);
  ~Transfers();  // stops the thread

  // Starts the thread: a Step every interval.
  void Start();
  // One round: pulls what the change under way gives this node, or hands off and drops
  // what it no longer owns (the thread runs this; the simulator runs it on a thread of
  // its own that takes turns with the event loop).
  void Step();
  // Asks the thread to stop (it ends once its call in flight, if any, ends).
  void Halt();
  void Stop();  // Halt, then waits for the thread
  // The source side of a pull: the next page of keys in the request's arcs.
  absl::StatusOr<pb::TransferPage> Serve(const pb::TransferPull& request);
  Progress progress();
  // Time from a transfer pull's request to its page applied and synced here
  // (microseconds, from Options::now_ms).
  const Histogram& page_latency() const { return page_latency_; }

 private:
  void Loop();
  int64_t Now() const;
  // Pulls everything of the change from every source; true once all are done.
  bool Receive(const Membership::Placement& placement);
  // Before the first page of a change (and as soon as this node sees it): the arcs it is
  // to receive are cleared of copies it kept from when it last owned them; true once done.
  bool ClearArcsToReceive(const Membership::Placement& placement);
  // Hands off and drops the keys this node does not own in ring (only those placed in
  // `only`, if not null); true when done.
  bool Cleanup(const Ring& ring, const ArcSet* only = nullptr);
  void SaveProgress();
  void Throttle(size_t bytes);

  const Options options_;
  Histogram page_latency_;
  Membership* const membership_;
  Transport* const transport_;
  ReplicaStore* const store_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  pb::TransferProgress saved_ ABSL_GUARDED_BY(mu_);
  Progress progress_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> errors_ ABSL_GUARDED_BY(mu_);  // by source
  uint64_t cleaned_ring_ = 0;  // loop thread only: the ring last cleaned up after
  int64_t settled_since_ms_ = -1;
  int64_t next_cleanup_ms_ = 0;
  int64_t next_problem_log_ms_ = 0;
  int64_t next_clear_ms_ = 0;  // ClearArcsToReceive's next try after an incomplete one
  uint64_t seen_change_ = 0;       // loop thread only: the change every member knows of,
  int64_t seen_change_ms_ = 0;     // since when
  int64_t window_start_ms_ = 0;  // Throttle's
  uint64_t window_bytes_ = 0;
  std::thread thread_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_TRANSFERS_H_
