#include "cluster/maintenance.h"

#include <algorithm>
#include <memory>

#include "cluster/registers.h"

namespace cairn::cluster {

Maintenance::Maintenance(Options options, Membership* membership, Transport* transport,
                         HintStore* hints, ReplicaStore* store, HybridClock* clock)
    : options_(options),
      membership_(membership),
      transport_(transport),
      hints_(hints),
      store_(store),
      clock_(clock) {}

Maintenance::~Maintenance() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // Deliveries in flight end at their next step (stop_) or their calls' timeouts (not
  // on a thread where their answers would arrive: the simulator's, which drops them).
  if (!transport_->MayWaitHere()) return;
  absl::MutexLock l(&mu_);
  auto idle = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return delivering_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&idle), 2 * options_.timeout + absl::Seconds(1));
}

void Maintenance::Start() {
  thread_ = std::thread([this] {
    absl::MutexLock l(&mu_);
    while (!stop_) {
      mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.interval);
      if (stop_) break;
      mu_.Unlock();
      RunOnce();
      mu_.Lock();
    }
  });
}

void Maintenance::RunOnce() {
  DeliverHints();
  auto collected = store_->CollectTombstones(
      clock_->Now(), static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.tombstone_grace)));
  if (collected.ok()) stats_.tombstones_collected += *collected;
}

void Maintenance::DeliverHints() {
  if (hints_ == nullptr) return;
  // One chain per target with hints, unless one still runs from an earlier round.
  std::vector<std::string> targets;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [target, count] : hints_->Backlog()) {
      if (delivering_.insert(target).second) targets.push_back(target);
    }
  }
  for (const std::string& target : targets) DeliverTo(target);
  // A thread that may wait (this class's own; tests) sees the round through.
  if (!transport_->MayWaitHere()) return;
  absl::MutexLock l(&mu_);
  auto done = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return delivering_.empty() || stop_; };
  mu_.AwaitWithTimeout(absl::Condition(&done), 4 * options_.timeout + absl::Seconds(1));
}

namespace {
// Whether id is among the key's replicas in the current ring or in the pending one.
bool IsReplica(const Membership::Placement& p, const std::string& id, int db, const std::string& key,
               int replicas) {
  for (const Ring* ring : {p.current.get(), p.pending.get()}) {
    if (ring == nullptr) continue;
    for (int m : ring->PreferenceList(PlacementKey(db, key), replicas)) {
      if (ring->members()[m].id == id) return true;
    }
  }
  return false;
}
}  // namespace

void Maintenance::EndDelivery(const std::string& target) {
  absl::MutexLock l(&mu_);
  delivering_.erase(target);
}

void Maintenance::DeliverTo(const std::string& target) {
  {
    absl::MutexLock l(&mu_);
    if (stop_) return EndDeliveryLocked(target);
  }
  const int64_t now_ms = static_cast<int64_t>(HybridClock::Physical(clock_->Now()));
  const int64_t window_ms = absl::ToInt64Milliseconds(options_.hint_window);
  const Membership::Placement placement = membership_->placement();
  const bool alive = membership_->IsAlive(target);
  // Batches of expired hints are dropped here, one after another (a loop: millions of
  // them after a long outage); the first batch with live hints goes to the target.
  std::vector<std::pair<std::string, pb::Hint>> live;
  while (live.empty()) {
    std::vector<std::pair<std::string, pb::Hint>> batch;
    if (!hints_->Pending(target, 64, &batch).ok() || batch.empty()) return EndDelivery(target);
    // Expired hints go whether or not the target is up; live ones only to a live target.
    for (auto& [hint_key, hint] : batch) {
      // A hint's age is that of the newest version it carries (not of the hint, which
      // may be made a timeout later): tombstone-grace > hint-window then guarantees no
      // hint older than a collected tombstone is still delivered.
      int64_t written_ms = 0;
      for (const pb::Record& r : hint.versions()) {
        written_ms = std::max(written_ms, static_cast<int64_t>(HybridClock::Physical(r.version())));
      }
      if (now_ms - written_ms > window_ms || written_ms > now_ms + clock_->max_drift_ms()) {
        if (!hints_->Remove(target, hint_key).ok()) return EndDelivery(target);
        stats_.hints_expired++;
        continue;
      }
      // The ring changed since the write and the target no longer holds the key: the
      // hint would leave a copy where nothing reads it (the write is on W of the key's
      // replicas, hints do not count towards W, and the transfers moved it on).
      if (!IsReplica(placement, target, hint.db(), hint.key(), options_.replicas)) {
        if (!hints_->Remove(target, hint_key).ok()) return EndDelivery(target);
        stats_.hints_not_replica++;
        continue;
      }
      live.emplace_back(std::move(hint_key), std::move(hint));
    }
    if (!live.empty()) break;
  }
  if (!alive) return EndDelivery(target);
  // The batch's hints go at once; each is removed once its replica stored it. All
  // stored: the next batch; any failure: the next round tries again.
  struct Batch {
    absl::Mutex mu;
    size_t left ABSL_GUARDED_BY(mu) = 0;
    bool failed ABSL_GUARDED_BY(mu) = false;
  };
  auto state = std::make_shared<Batch>();
  {
    absl::MutexLock l(&state->mu);
    state->left = live.size();
  }
  const std::string address = membership_->AddressOf(target);
  for (auto& [hint_key, hint] : live) {
    pb::Envelope request;
    pb::ReplicaWrite* w = request.mutable_write();
    w->set_db(hint.db());
    w->set_key(hint.key());
    *w->mutable_versions() = hint.versions();
    transport_->Call(address, std::move(request), options_.timeout,
                     [this, state, target, key = hint_key](absl::StatusOr<pb::Envelope> reply) {
                       bool ok = reply.ok() && reply->has_write_result();
                       if (ok && !hints_->Remove(target, key).ok()) ok = false;
                       if (ok) {
                         stats_.hints_delivered++;
                       } else {
                         stats_.hint_delivery_failures++;
                       }
                       bool last, failed;
                       {
                         absl::MutexLock l(&state->mu);
                         state->failed |= !ok;
                         last = --state->left == 0;
                         failed = state->failed;
                       }
                       if (!last) return;
                       if (failed) return EndDelivery(target);
                       DeliverTo(target);
                     });
  }
}

}  // namespace cairn::cluster
