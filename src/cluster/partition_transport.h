// PartitionTransport: a Transport that can be cut off from chosen nodes, for tests of
// network partitions between real processes (DEBUG CLUSTER-PARTITION, docs/cluster.md).
// Calls to a blocked address fail at once with Unavailable, as a refused connection
// would; gossip and replica traffic both go through here, so a node blocked on both sides
// is partitioned. Everything else passes to the wrapped transport.
#ifndef CAIRN_CLUSTER_PARTITION_TRANSPORT_H_
#define CAIRN_CLUSTER_PARTITION_TRANSPORT_H_

#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cluster/transport.h"

namespace cairn::cluster {

class PartitionTransport final : public Transport {
 public:
  explicit PartitionTransport(Transport* inner) : inner_(inner) {}

  void Call(const std::string& address, pb::Envelope request, absl::Duration timeout,
            Done done) override {
    {
      absl::MutexLock l(&mu_);
      if (blocked_.contains(address)) {
        return done(NotSent(absl::UnavailableError(absl::StrCat(address, " is partitioned away"))));
      }
    }
    inner_->Call(address, std::move(request), timeout, std::move(done));
  }

  bool MayWaitHere() const override { return inner_->MayWaitHere(); }
  bool Defer(std::function<void()> fn) override { return inner_->Defer(std::move(fn)); }

  // Replaces the set of blocked addresses (empty: heal).
  void Block(std::set<std::string> addresses) {
    absl::MutexLock l(&mu_);
    blocked_ = std::move(addresses);
  }
  std::set<std::string> blocked() {
    absl::MutexLock l(&mu_);
    return blocked_;
  }

 private:
  Transport* const inner_;
  absl::Mutex mu_;
  std::set<std::string> blocked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_PARTITION_TRANSPORT_H_
