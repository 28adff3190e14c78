// HintStore: writes kept for replicas that were down (hinted handoff, docs/cluster.md,
// "Hinted handoff"). A node keeps a hint when a write's replica could not be reached; the
// node's Maintenance delivers it once the replica is back, then deletes it. Hints are in
// the engine, so they survive a restart of the node holding them.
//
// Engine key:   'H' | target node id | 0x00 | fixed64 BE hybrid clock | fixed64 BE nonce
// Engine value: a serialized pb::Hint
//
// Keys sort by target, then by age, so one target's hints are delivered oldest first.
#ifndef CAIRN_CLUSTER_HINT_STORE_H_
#define CAIRN_CLUSTER_HINT_STORE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cairn/engine/db.h"
#include "cluster/cluster.pb.h"
#include "cluster/hlc.h"

namespace cairn::cluster {

class HintStore {
 public:
  // db and clock must outlive this object. sync: every change is synced.
  HintStore(engine::DB* db, bool sync, HybridClock* clock) : db_(db), sync_(sync), clock_(clock) {}

  // Counts the hints already stored (after a restart).
  absl::Status Open();
  // Stores a hint for hint.target(). A target id must not contain NUL (config refuses).
  absl::Status Add(const pb::Hint& hint);
  // Up to limit of target's hints, oldest first, each with its engine key for Remove.
  absl::Status Pending(const std::string& target, size_t limit,
                       std::vector<std::pair<std::string, pb::Hint>>* out);
  absl::Status Remove(const std::string& target, const std::string& hint_key);
  // FLUSHDB: drops every hint of db (-1: of every db), so none brings a key back.
  absl::Status RemoveDb(int db);

  // Hints waiting, per target node.
  std::map<std::string, uint64_t> Backlog() const;
  uint64_t backlog() const;
  uint64_t stored_total() const { return stored_.load(); }

 private:
  static std::string Prefix(const std::string& target);

  engine::DB* const db_;
  const bool sync_;
  HybridClock* const clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t> backlog_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> stored_{0};
  std::atomic<uint64_t> nonce_{absl::Uniform<uint64_t>(absl::BitGen())};
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_HINT_STORE_H_
