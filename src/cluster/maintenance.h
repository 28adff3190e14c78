// Maintenance: a node's background duties for the cluster (docs/cluster.md).
//  - Hinted handoff: hints kept for a replica that was down (HintStore) are sent to it,
//    oldest first, once membership sees it alive; each is deleted when the replica stored
//    it. Hints older than the hint window are dropped (anti-entropy's job then).
//  - Tombstone collection: tombstones every replica acknowledged are dropped once older
//    than the grace period (ReplicaStore::CollectTombstones).
// One thread runs both every `interval`; RunOnce does one round (tests).
#ifndef CAIRN_CLUSTER_MAINTENANCE_H_
#define CAIRN_CLUSTER_MAINTENANCE_H_

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/hint_store.h"
#include "cluster/hlc.h"
#include "cluster/membership.h"
#include "cluster/replica_store.h"
#include "cluster/transport.h"

namespace cairn::cluster {

class Maintenance {
 public:
  struct Options {
    absl::Duration interval = absl::Seconds(1);
    absl::Duration hint_window = absl::Hours(3);       // hints older are dropped
    absl::Duration tombstone_grace = absl::Hours(24);  // > hint_window (config checks)
    absl::Duration timeout = absl::Seconds(2);         // per delivered hint
    int replicas = 3;  // N: a hint whose target is no longer among the key's N is dropped
  };
  struct Stats {
    std::atomic<uint64_t> hints_delivered{0}, hints_expired{0}, hint_delivery_failures{0};
    std::atomic<uint64_t> hints_not_replica{0};  // dropped: the target no longer holds the key
    std::atomic<uint64_t> tombstones_collected{0};
  };

  // hints may be null (hinted handoff off).
  Maintenance(Options options, Membership* membership, Transport* transport, HintStore* hints,
              ReplicaStore* store, HybridClock* clock);
  ~Maintenance();  // stops the thread

  void Start();
  void RunOnce();
  Stats& stats() { return stats_; }

 private:
  // Starts delivering each target's hints (DeliverTo), without waiting unless this
  // thread may (Transport::MayWaitHere).
  void DeliverHints();
  // Delivers target's hints a batch at a time, each batch's hints at once, the next batch
  // once all of one were stored; ends at the first failure or when none is left.
  void DeliverTo(const std::string& target);
  void EndDelivery(const std::string& target) ABSL_LOCKS_EXCLUDED(mu_);
  void EndDeliveryLocked(const std::string& target) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    delivering_.erase(target);
  }

  const Options options_;
  Membership* const membership_;
  Transport* const transport_;
  HintStore* const hints_;
  ReplicaStore* const store_;
  HybridClock* const clock_;
  Stats stats_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::set<std::string> delivering_ ABSL_GUARDED_BY(mu_);  // targets with a chain running
  std::thread thread_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_MAINTENANCE_H_
