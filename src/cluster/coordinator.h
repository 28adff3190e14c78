// Coordinator: any node serves any key by asking the key's replicas (docs/cluster.md,
// "Quorums"), as in Dynamo.
//
// A write gets a version from the hybrid clock and goes to every replica in the key's
// preference list of N that membership believes alive (this node applies its own copy
// directly); it succeeds once W replicas have stored it. A read asks every live replica
// and returns the newest version among the first R answers. Fewer than W (R) replicas
// alive is refused before anything is sent; fewer than W (R) answering within the timeout
// fails (the replicas that stored the write keep it, as in Dynamo). Both are Unavailable
// with a message starting "NOQUORUM", which the server passes on as the error
// `-NOQUORUM ...` (HTTP 503). Calls still running when the coordinator has its answer
// finish in the background.
#ifndef CAIRN_CLUSTER_COORDINATOR_H_
#define CAIRN_CLUSTER_COORDINATOR_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cluster/hlc.h"
#include "cluster/membership.h"
#include "cluster/replica_store.h"
#include "cluster/transport.h"

namespace cairn::cluster {

class Coordinator {
 public:
  struct Options {
    int replicas = 3;  // N
    absl::Duration timeout = absl::Seconds(2);
  };
  struct Stats {
    std::atomic<uint64_t> writes{0}, reads{0}, quorum_failures{0};
    std::atomic<uint64_t> write_micros{0}, read_micros{0};  // total fan-out latency
  };

  Coordinator(Options options, Membership* membership, Transport* transport,
              ReplicaStore* local, HybridClock* clock);

  // The transport handler's part for replica requests (ReplicaWrite, ReplicaRead).
  // Returns false if the request is not one of those.
  bool Handle(const pb::Envelope& request, Transport::Respond& respond);

  // Stores record (its version is set here) on the key's replicas; OK after w of them.
  absl::Status Write(int db, std::string_view key, pb::Record record, int w);
  // The newest version among r replicas' answers; NotFound if none has the key or the
  // newest is a tombstone.
  absl::StatusOr<pb::Record> Read(int db, std::string_view key, int r);

  // One page of db's keys from every live node, merged: for each key the superseding
  // record among the replicas that answered (tombstones and expired ones included; the
  // caller filters). Keys are >= start and in order; *next is where the next page starts
  // (empty: done). A page holds what every node returned up to the smallest last key of a
  // node that had more, so no key is skipped. Fails if a live node does not answer.
  absl::Status Scan(int db, const std::string& start, size_t limit,
                    std::vector<std::pair<std::string, pb::Record>>* page, std::string* next);

  const Options& options() const { return options_; }
  Stats& stats() { return stats_; }

 private:
  int LiveReplicas(const Ring& ring, const std::vector<int>& replicas);

  Options options_;
  Membership* const membership_;
  Transport* const transport_;
  ReplicaStore* const local_;
  HybridClock* const clock_;
  Stats stats_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_COORDINATOR_H_
